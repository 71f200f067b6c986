using System;

namespace GridAutomation.Core.Model
{
    /// <summary>The small set of error kinds every provider maps its errors to. The cmdlets turn each into an ErrorCategory.</summary>
    public enum GridErrorKind
    {
        /// <summary>The thing named does not exist (ObjectNotFound).</summary>
        NotFound,
        /// <summary>The thing is in a state that does not allow it (InvalidOperation / ResourceExists).</summary>
        Conflict,
        /// <summary>Bad or missing credentials (AuthenticationError).</summary>
        Unauthorized,
        /// <summary>Authenticated, but not allowed (PermissionDenied).</summary>
        PermissionDenied,
        /// <summary>Throttled; RetryAfter says when to try again (LimitsExceeded).</summary>
        Throttled,
        /// <summary>Endpoint unreachable, timed out, 5xx (ConnectionError).</summary>
        Unavailable,
        /// <summary>The request is malformed or names something invalid (InvalidArgument).</summary>
        InvalidRequest,
        /// <summary>The provider cannot do this at all (NotImplemented).</summary>
        Unsupported,
        /// <summary>Not enough capacity/quota to do it (QuotaExceeded / ResourceUnavailable).</summary>
        ResourceUnavailable,
        /// <summary>The local state store is corrupt, locked, or of a newer schema (ReadError / ResourceBusy).</summary>
        StateStore,
        /// <summary>The operation was cancelled (OperationStopped).</summary>
        Cancelled,
    }

    /// <summary>
    /// Every error that crosses the provider contract or the engine is a GridException. ErrorId is stable and
    /// documented (e.g. "DatacenterNotFound", "SizeNotFound", "InsufficientCapacity", "StateStoreCorrupt");
    /// it defaults to the kind's name. Messages never contain a secret.
    /// </summary>
    public class GridException : Exception
    {
        public GridErrorKind Kind { get; }
        public string ErrorId { get; }
        /// <summary>For Throttled: how long the server asked us to wait.</summary>
        public TimeSpan? RetryAfter { get; set; }
        /// <summary>The provider's own error code (SOAP fault type, EC2 error code, Azure error code, libvirt error number).</summary>
        public string? NativeCode { get; set; }
        /// <summary>What the error is about (datacenter name, workload id...), for ErrorRecord.TargetObject.</summary>
        public object? Target { get; set; }
        /// <summary>True when retrying the same call may succeed (Throttled, Unavailable by default).</summary>
        public bool IsTransient { get; set; }

        public GridException(GridErrorKind kind, string message, string? errorId = null, Exception? inner = null)
            : base(message, inner)
        {
            Kind = kind;
            ErrorId = string.IsNullOrEmpty(errorId) ? kind.ToString() : errorId!;
            IsTransient = kind == GridErrorKind.Throttled || kind == GridErrorKind.Unavailable;
        }

        public static GridException NotFound(string message, string? errorId = null, object? target = null)
            => new GridException(GridErrorKind.NotFound, message, errorId) { Target = target };
        public static GridException Conflict(string message, string? errorId = null, object? target = null)
            => new GridException(GridErrorKind.Conflict, message, errorId) { Target = target };
        public static GridException InvalidRequest(string message, string? errorId = null, object? target = null)
            => new GridException(GridErrorKind.InvalidRequest, message, errorId) { Target = target };
        public static GridException Unsupported(string message, string? errorId = null, object? target = null)
            => new GridException(GridErrorKind.Unsupported, message, errorId) { Target = target };
        public static GridException ResourceUnavailable(string message, string? errorId = null, object? target = null)
            => new GridException(GridErrorKind.ResourceUnavailable, message, errorId) { Target = target };
        public static GridException Throttled(string message, TimeSpan? retryAfter, string? errorId = null)
            => new GridException(GridErrorKind.Throttled, message, errorId) { RetryAfter = retryAfter };
        public static GridException Unavailable(string message, Exception? inner = null, string? errorId = null)
            => new GridException(GridErrorKind.Unavailable, message, errorId, inner);
    }
}
