using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Xen.Xapi
{
    /// <summary>An XAPI failure as the server sent it: ErrorDescription = [code, params...]. Never leaves the provider.</summary>
    internal sealed class XapiFailure : Exception
    {
        public XapiFailure(string method, IReadOnlyList<string> description)
            : base(method + ": " + string.Join(" ", description))
        {
            Method = method; Description = description;
        }
        public string Method { get; }
        public IReadOnlyList<string> Description { get; }
        public string Code => Description.Count > 0 ? Description[0] : "UNKNOWN_ERROR";
        public IReadOnlyList<string> Params => Description.Skip(1).ToList();
    }

    /// <summary>
    /// XAPI error codes → the contract's error kinds. The ErrorId of a mapped code is the XAPI code itself (stable,
    /// documented by Citrix/XenServer), unmapped codes become "XenApiError"; NativeCode always keeps the code.
    /// </summary>
    internal static class XapiErrors
    {
        private static readonly Dictionary<string, GridErrorKind> Kinds = new Dictionary<string, GridErrorKind>(StringComparer.Ordinal)
        {
            ["SESSION_AUTHENTICATION_FAILED"] = GridErrorKind.Unauthorized,
            ["SESSION_INVALID"] = GridErrorKind.Unauthorized,
            ["SESSION_NOT_REGISTERED"] = GridErrorKind.Unauthorized,
            ["AUTH_IS_DISABLED"] = GridErrorKind.Unauthorized,
            ["RBAC_PERMISSION_DENIED"] = GridErrorKind.PermissionDenied,
            ["PERMISSION_DENIED"] = GridErrorKind.PermissionDenied,
            ["LICENCE_RESTRICTION"] = GridErrorKind.PermissionDenied,
            ["HANDLE_INVALID"] = GridErrorKind.NotFound,
            ["UUID_INVALID"] = GridErrorKind.NotFound,
            ["VM_BAD_POWER_STATE"] = GridErrorKind.Conflict,
            ["OPERATION_NOT_ALLOWED"] = GridErrorKind.Conflict,
            ["OTHER_OPERATION_IN_PROGRESS"] = GridErrorKind.Conflict,
            ["OPERATION_BLOCKED"] = GridErrorKind.Conflict,
            ["VM_IS_TEMPLATE"] = GridErrorKind.Conflict,
            ["VM_MIGRATE_FAILED"] = GridErrorKind.Conflict,
            ["VM_REQUIRES_SR"] = GridErrorKind.Conflict,
            ["VM_HOST_INCOMPATIBLE_VERSION"] = GridErrorKind.Conflict,
            ["VM_MISSING_PV_DRIVERS"] = GridErrorKind.Conflict,
            ["VM_LACKS_FEATURE_SHUTDOWN"] = GridErrorKind.Conflict,
            ["VM_LACKS_FEATURE_SUSPEND"] = GridErrorKind.Conflict,
            ["HOST_DISABLED"] = GridErrorKind.Conflict,
            ["HOST_IN_USE"] = GridErrorKind.Conflict,
            ["HOST_NOT_LIVE"] = GridErrorKind.Conflict,
            ["HOST_NOT_ENOUGH_FREE_MEMORY"] = GridErrorKind.ResourceUnavailable,
            ["HOST_NOT_ENOUGH_PCPUS"] = GridErrorKind.ResourceUnavailable,
            ["SR_FULL"] = GridErrorKind.ResourceUnavailable,
            ["NO_HOSTS_AVAILABLE"] = GridErrorKind.ResourceUnavailable,
            ["MESSAGE_METHOD_UNKNOWN"] = GridErrorKind.Unsupported,
            ["MESSAGE_REMOVED"] = GridErrorKind.Unsupported,
            ["NOT_IMPLEMENTED"] = GridErrorKind.Unsupported,
            ["MESSAGE_PARAMETER_COUNT_MISMATCH"] = GridErrorKind.InvalidRequest,
            ["INVALID_VALUE"] = GridErrorKind.InvalidRequest,
            ["VALUE_NOT_SUPPORTED"] = GridErrorKind.InvalidRequest,
            ["FIELD_TYPE_ERROR"] = GridErrorKind.InvalidRequest,
            ["MAP_DUPLICATE_KEY"] = GridErrorKind.InvalidRequest,
            ["TOO_BUSY"] = GridErrorKind.Throttled,
            ["HOST_STILL_BOOTING"] = GridErrorKind.Unavailable,
            ["HOST_OFFLINE"] = GridErrorKind.Unavailable,
            ["CANNOT_CONTACT_HOST"] = GridErrorKind.Unavailable,
            ["HOST_IS_SLAVE"] = GridErrorKind.Unavailable,
            ["TASK_CANCELLED"] = GridErrorKind.Cancelled,
        };

        public static (GridErrorKind Kind, string ErrorId) Classify(string code)
            => Kinds.TryGetValue(code ?? "", out var k) ? (k, code!) : (GridErrorKind.InvalidRequest, "XenApiError");

        /// <summary>The GridException for a failure. <paramref name="context"/> says what was being done; the message names the code and its parameters.</summary>
        public static GridException ToException(XapiFailure f, string context, object? target = null)
        {
            var (kind, id) = Classify(f.Code);
            string detail = Explain(f);
            var ex = new GridException(kind, $"{context}: XAPI error {f.Code}{(f.Params.Count > 0 ? " (" + string.Join(", ", f.Params) + ")" : "")}.{detail}", id)
            {
                NativeCode = f.Code,
                Target = target,
            };
            if (kind == GridErrorKind.Throttled) ex.RetryAfter = TimeSpan.FromSeconds(2);
            return ex;
        }

        private static string Explain(XapiFailure f)
        {
            var p = f.Params;
            switch (f.Code)
            {
                case "VM_BAD_POWER_STATE":
                    return p.Count >= 3 ? $" The VM is {p[2]} but the operation needs it {p[1]}." : "";
                case "HOST_NOT_ENOUGH_FREE_MEMORY":
                    return p.Count >= 2 ? $" The VM needs {p[0]} bytes; the host has {p[1]} free." : " The host has not enough free memory.";
                case "SESSION_AUTHENTICATION_FAILED":
                    return " Check the user name and password (-Credential).";
                case "VM_MISSING_PV_DRIVERS":
                case "VM_LACKS_FEATURE_SHUTDOWN":
                case "VM_LACKS_FEATURE_SUSPEND":
                    return " The guest has no PV drivers / guest agent to act on the request: use -TurnOff (VM.hard_shutdown) to power it off.";
                case "SESSION_INVALID":
                    return " The session ended (the server restarted or logged us out) and logging in again failed.";
                default: return "";
            }
        }
    }
}
