using System;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.VSphere.Vim25
{
    /// <summary>Maps vim25 fault types (SOAP faults and task errors) to the contract's error kinds and stable ErrorIds.</summary>
    internal static class VimFaults
    {
        /// <summary>The kind and ErrorId for a vim25 fault type name (without "Fault" element suffix).</summary>
        public static (GridErrorKind Kind, string ErrorId) Classify(string faultType)
        {
            string t = faultType ?? "";
            switch (t)
            {
                case "InvalidLogin": return (GridErrorKind.Unauthorized, "InvalidLogin");
                case "NotAuthenticated": return (GridErrorKind.Unauthorized, "NotAuthenticated");
                case "NoPermission": return (GridErrorKind.PermissionDenied, "NoPermission");
                case "ManagedObjectNotFound": return (GridErrorKind.NotFound, "ManagedObjectNotFound");
                case "NotFound":
                case "FileNotFound": return (GridErrorKind.NotFound, t);
                case "InvalidPowerState":
                case "InvalidState":
                case "InvalidHostState":
                case "InvalidDatastoreState":
                case "TaskInProgress":
                case "ToolsUnavailable":
                case "VmConfigFault":
                case "ConcurrentAccess":
                case "DisallowedOperationOnFailoverHost":
                    return (GridErrorKind.Conflict, t);
                case "DuplicateName":
                case "AlreadyExists": return (GridErrorKind.Conflict, t);
                case "InvalidArgument":
                case "InvalidRequest":
                case "InvalidProperty":
                case "InvalidType":
                case "InvalidName":
                case "OutOfBounds":
                case "InvalidCollectorVersion": return (GridErrorKind.InvalidRequest, t);
                case "NotSupported":
                case "NotImplemented":
                case "MethodNotFound":
                case "MethodDisabled": return (GridErrorKind.Unsupported, t);
                case "RequestCanceled": return (GridErrorKind.Cancelled, t);
                case "HostCommunication":
                case "HostNotConnected":
                case "HostNotReachable":
                case "Timedout":
                case "HostConnectFault": return (GridErrorKind.Unavailable, t);
            }
            if (t.StartsWith("Insufficient", StringComparison.Ordinal) || t == "NumVirtualCpusExceedsLimit" || t == "NotEnoughLicenses")
                return (GridErrorKind.ResourceUnavailable, t);
            if (t.EndsWith("Migration", StringComparison.Ordinal) || t.StartsWith("Migration", StringComparison.Ordinal) || t.StartsWith("VMotion", StringComparison.Ordinal))
                return (GridErrorKind.Conflict, t);
            return (GridErrorKind.InvalidRequest, "VSphereFault");
        }

        public static GridException ToException(string faultType, string? message, string context, object? target = null)
        {
            var (kind, id) = Classify(faultType);
            string msg = string.IsNullOrWhiteSpace(message) ? faultType : message!.Trim();
            var ex = new GridException(kind, $"{context}: vSphere fault {faultType}: {msg}", id)
            {
                NativeCode = faultType,
                Target = target,
            };
            return ex;
        }
    }
}
