using System;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// Maps what comes back from a Hyper-V host to GridExceptions. Pure (strings only), so it is unit-tested without
    /// a runspace: RemoteHost hands over the remote ErrorRecord's FullyQualifiedErrorId, category name and message.
    /// </summary>
    internal static class HyperVErrors
    {
        /// <summary>Error ids our remote scripts raise themselves ("Grid.&lt;ErrorId&gt;") keep that id.</summary>
        public const string OwnPrefix = "Grid.";

        public static GridException FromRemote(string? fullyQualifiedErrorId, string? category, string message, object? target)
        {
            string fqeid = fullyQualifiedErrorId ?? "";
            string head = fqeid.Split(',')[0];
            GridErrorKind kind = KindOf(category);
            string errorId;
            if (head.StartsWith(OwnPrefix, StringComparison.Ordinal))
            {
                errorId = head.Substring(OwnPrefix.Length);
            }
            else
            {
                errorId = kind switch
                {
                    GridErrorKind.NotFound => "HyperVObjectNotFound",
                    GridErrorKind.PermissionDenied => "HyperVAccessDenied",
                    GridErrorKind.Unauthorized => "HyperVAuthenticationFailed",
                    GridErrorKind.ResourceUnavailable => "HyperVResourceUnavailable",
                    GridErrorKind.InvalidRequest => "HyperVInvalidArgument",
                    GridErrorKind.Unavailable => "HyperVHostUnavailable",
                    _ => "HyperVCommandFailed",
                };
                // A module that is not there at all: the host is not a Hyper-V host (or the module is not installed).
                if (head == "CommandNotFoundException" || head == "Modules_ModuleNotFound")
                {
                    kind = GridErrorKind.Unavailable;
                    errorId = "HyperVModuleMissing";
                    message = "The Hyper-V PowerShell module is not available on the host: " + message;
                }
            }
            return new GridException(kind, message, errorId)
            {
                NativeCode = fqeid.Length > 0 ? fqeid : null,
                Target = target,
                IsTransient = kind == GridErrorKind.Unavailable && errorId == "HyperVHostUnavailable",
            };
        }

        /// <summary>ErrorCategory name → kind.</summary>
        public static GridErrorKind KindOf(string? category) => category switch
        {
            "ObjectNotFound" => GridErrorKind.NotFound,
            "PermissionDenied" => GridErrorKind.PermissionDenied,
            "SecurityError" => GridErrorKind.PermissionDenied,
            "AuthenticationError" => GridErrorKind.Unauthorized,
            "InvalidArgument" => GridErrorKind.InvalidRequest,
            "InvalidData" => GridErrorKind.InvalidRequest,
            "InvalidType" => GridErrorKind.InvalidRequest,
            "ResourceUnavailable" => GridErrorKind.ResourceUnavailable,
            "QuotaExceeded" => GridErrorKind.ResourceUnavailable,
            "LimitsExceeded" => GridErrorKind.Throttled,
            "ConnectionError" => GridErrorKind.Unavailable,
            "NotImplemented" => GridErrorKind.Unsupported,
            "NotInstalled" => GridErrorKind.Unavailable,
            "OperationStopped" => GridErrorKind.Cancelled,
            _ => GridErrorKind.Conflict, // InvalidOperation, ResourceBusy, ResourceExists, NotSpecified, ...
        };

        /// <summary>A transport failure (ssh/WinRM): authentication problems are Unauthorized, the rest Unavailable.</summary>
        public static GridException FromTransport(string address, string message, Exception? inner)
        {
            string m = message ?? "";
            if (m.IndexOf("Permission denied", StringComparison.OrdinalIgnoreCase) >= 0
                || m.IndexOf("Access is denied", StringComparison.OrdinalIgnoreCase) >= 0
                || m.IndexOf("authentication", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unauthorized, $"Hyper-V host '{address}' refused the login: {m}", "HyperVAuthenticationFailed", inner) { Target = address, IsTransient = false };
            if (m.IndexOf("Host key verification failed", StringComparison.OrdinalIgnoreCase) >= 0
                || m.IndexOf("REMOTE HOST IDENTIFICATION HAS CHANGED", StringComparison.OrdinalIgnoreCase) >= 0)
                return new GridException(GridErrorKind.Unauthorized, $"The SSH host key of '{address}' is not trusted (add it to the known-hosts file): {m}", "HyperVHostKeyNotTrusted", inner) { Target = address, IsTransient = false };
            return new GridException(GridErrorKind.Unavailable, $"Cannot reach Hyper-V host '{address}' over PowerShell remoting: {m}", "HyperVHostUnreachable", inner) { Target = address };
        }
    }
}
