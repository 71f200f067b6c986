using System;

namespace GridAutomation.Providers.VSphere.Vim25
{
    /// <summary>A vim25 ManagedObjectReference: type ("VirtualMachine") and value ("vm-42").</summary>
    internal readonly struct MoRef : IEquatable<MoRef>
    {
        public MoRef(string type, string value) { Type = type ?? ""; Value = value ?? ""; }
        public string Type { get; }
        public string Value { get; }
        public bool IsEmpty => string.IsNullOrEmpty(Value);
        public bool Equals(MoRef other) => string.Equals(Type, other.Type, StringComparison.Ordinal) && string.Equals(Value, other.Value, StringComparison.Ordinal);
        public override bool Equals(object? obj) => obj is MoRef m && Equals(m);
        public override int GetHashCode() => (Type.GetHashCode() * 397) ^ Value.GetHashCode();
        public override string ToString() => Type + ":" + Value;
    }
}
