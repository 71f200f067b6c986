using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using Amazon.Runtime;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// Maps whatever the SDK throws to a <see cref="GridException"/>. The SDK's own retries are switched off
    /// (MaxErrorRetry = 0), so throttling and transient failures come out here as Throttled / Unavailable and the
    /// engine's single retry policy retries them (HandlesOwnRetries = false).
    /// </summary>
    internal static class AwsErrors
    {
        // Stable ErrorIds (documented in docs/providers/aws.md).
        public const string WorkloadNotFound = "WorkloadNotFound";
        public const string ImageNotFound = "ImageNotFound";
        public const string SizeNotFound = "SizeNotFound";
        public const string VolumeNotFound = "AwsVolumeNotFound";
        public const string PermissionDenied = "AwsPermissionDenied";
        public const string Unauthorized = "AwsAuthFailure";
        public const string CredentialsNotFound = "AwsCredentialsNotFound";
        public const string InsufficientCapacity = "InsufficientCapacity";
        public const string QuotaExceeded = "QuotaExceeded";
        public const string InvalidState = "AwsIncorrectState";
        public const string IdempotencyMismatch = "IdempotencyKeyReused";
        public const string Throttled = "AwsThrottled";
        public const string Unavailable = "AwsUnavailable";
        public const string InvalidRequest = "AwsInvalidRequest";
        public const string BadResponse = "AwsBadResponse";
        public const string Cancelled = "Cancelled";

        private static readonly Dictionary<string, (GridErrorKind Kind, string Id)> Codes =
            new Dictionary<string, (GridErrorKind, string)>(StringComparer.Ordinal)
            {
                ["InvalidInstanceID.NotFound"] = (GridErrorKind.NotFound, WorkloadNotFound),
                ["InvalidInstanceID.Malformed"] = (GridErrorKind.NotFound, WorkloadNotFound),
                ["InvalidAMIID.NotFound"] = (GridErrorKind.NotFound, ImageNotFound),
                ["InvalidAMIID.Malformed"] = (GridErrorKind.NotFound, ImageNotFound),
                ["InvalidAMIID.Unavailable"] = (GridErrorKind.NotFound, ImageNotFound),
                ["InvalidVolume.NotFound"] = (GridErrorKind.NotFound, VolumeNotFound),
                ["InvalidInstanceType"] = (GridErrorKind.InvalidRequest, SizeNotFound),
                ["UnauthorizedOperation"] = (GridErrorKind.PermissionDenied, PermissionDenied),
                ["OptInRequired"] = (GridErrorKind.PermissionDenied, PermissionDenied),
                ["Blocked"] = (GridErrorKind.PermissionDenied, PermissionDenied),
                ["AuthFailure"] = (GridErrorKind.Unauthorized, Unauthorized),
                ["InvalidClientTokenId"] = (GridErrorKind.Unauthorized, Unauthorized),
                ["SignatureDoesNotMatch"] = (GridErrorKind.Unauthorized, Unauthorized),
                ["ExpiredToken"] = (GridErrorKind.Unauthorized, Unauthorized),
                ["RequestExpired"] = (GridErrorKind.Unauthorized, Unauthorized),
                ["InsufficientInstanceCapacity"] = (GridErrorKind.ResourceUnavailable, InsufficientCapacity),
                ["InsufficientHostCapacity"] = (GridErrorKind.ResourceUnavailable, InsufficientCapacity),
                ["InsufficientCapacity"] = (GridErrorKind.ResourceUnavailable, InsufficientCapacity),
                ["InstanceLimitExceeded"] = (GridErrorKind.ResourceUnavailable, QuotaExceeded),
                ["VcpuLimitExceeded"] = (GridErrorKind.ResourceUnavailable, QuotaExceeded),
                ["VolumeLimitExceeded"] = (GridErrorKind.ResourceUnavailable, QuotaExceeded),
                ["MaxSpotInstanceCountExceeded"] = (GridErrorKind.ResourceUnavailable, QuotaExceeded),
                ["IncorrectInstanceState"] = (GridErrorKind.Conflict, InvalidState),
                ["IncorrectState"] = (GridErrorKind.Conflict, InvalidState),
                ["VolumeInUse"] = (GridErrorKind.Conflict, InvalidState),
                ["UnsupportedHibernationConfiguration"] = (GridErrorKind.Conflict, "HibernationNotConfigured"),
                ["IdempotentParameterMismatch"] = (GridErrorKind.Conflict, IdempotencyMismatch),
                ["OperationNotPermitted"] = (GridErrorKind.Conflict, InvalidState),
                ["RequestLimitExceeded"] = (GridErrorKind.Throttled, Throttled),
                ["Throttling"] = (GridErrorKind.Throttled, Throttled),
                ["ThrottlingException"] = (GridErrorKind.Throttled, Throttled),
                ["SlowDown"] = (GridErrorKind.Throttled, Throttled),
                ["ServiceUnavailable"] = (GridErrorKind.Unavailable, Unavailable),
                ["Unavailable"] = (GridErrorKind.Unavailable, Unavailable),
                ["InternalError"] = (GridErrorKind.Unavailable, Unavailable),
                ["InternalFailure"] = (GridErrorKind.Unavailable, Unavailable),
            };

        /// <summary>Turns any exception from an SDK call into a GridException. <paramref name="secrets"/> are scrubbed from messages.</summary>
        public static GridException Map(Exception ex, string action, object? target, CancellationToken ct, IReadOnlyList<string>? secrets = null)
        {
            if (ex is GridException ge) return ge;
            if (ex is AggregateException agg && agg.InnerExceptions.Count == 1) return Map(agg.InnerExceptions[0], action, target, ct, secrets);
            if (ex is OperationCanceledException && ct.IsCancellationRequested)
                return new GridException(GridErrorKind.Cancelled, $"EC2 {action} was cancelled.", Cancelled) { Target = target, IsTransient = false };

            if (ex is AmazonUnmarshallingException || (ex is AmazonServiceException && ex.InnerException is System.Xml.XmlException))
                return new GridException(GridErrorKind.Unavailable, $"The EC2 endpoint answered {action} with a response that is not EC2 XML.", BadResponse) { NativeCode = "UnmarshallingError", Target = target };
            if (ex is AmazonServiceException se && !string.IsNullOrEmpty(se.ErrorCode))
            {
                string code = se.ErrorCode;
                string message = Scrub(se.Message, secrets);
                GridErrorKind kind; string id;
                if (Codes.TryGetValue(code, out var m)) { kind = m.Kind; id = m.Id; }
                else if (code.EndsWith(".NotFound", StringComparison.Ordinal)) { kind = GridErrorKind.NotFound; id = "AwsResourceNotFound"; }
                else if (code.EndsWith("LimitExceeded", StringComparison.Ordinal)) { kind = GridErrorKind.ResourceUnavailable; id = QuotaExceeded; }
                else if ((int)se.StatusCode == 503) { kind = GridErrorKind.Throttled; id = Throttled; }
                else if ((int)se.StatusCode >= 500) { kind = GridErrorKind.Unavailable; id = Unavailable; }
                else { kind = GridErrorKind.InvalidRequest; id = InvalidRequest; }
                return new GridException(kind, $"EC2 {action} failed: {code}: {message}", id, null)
                { NativeCode = code, Target = target };
            }
            if (ex is AmazonServiceException sx)
            {
                // A service error without an EC2 error code: judge it by its HTTP status.
                int status = (int)sx.StatusCode;
                string native = "HTTP " + status.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (status == 503 || status == 429)
                    return new GridException(GridErrorKind.Throttled, $"EC2 {action} was throttled ({native}).", Throttled) { NativeCode = native, Target = target };
                if (status >= 500 || status == 0)
                    return new GridException(GridErrorKind.Unavailable, $"EC2 {action} failed: the endpoint answered {native}.", Unavailable) { NativeCode = native, Target = target };
                if (status == 401) return new GridException(GridErrorKind.Unauthorized, $"EC2 {action} was refused: {native}.", Unauthorized) { NativeCode = native, Target = target };
                if (status == 403) return new GridException(GridErrorKind.PermissionDenied, $"EC2 {action} was refused: {native}.", PermissionDenied) { NativeCode = native, Target = target };
                return new GridException(GridErrorKind.InvalidRequest, $"EC2 {action} failed: {native}: {Scrub(sx.Message, secrets)}", InvalidRequest) { NativeCode = native, Target = target };
            }
            if (ex is AmazonClientException ce)
            {
                string msg = Scrub(ce.Message, secrets);
                if (IsCredentialProblem(ce))
                    return new GridException(GridErrorKind.Unauthorized, $"No AWS credentials could be resolved for EC2 {action}: {msg}", CredentialsNotFound) { NativeCode = ce.GetType().Name, Target = target, IsTransient = false };
                var inner = ce.InnerException;
                if (inner != null && (inner is System.Net.Http.HttpRequestException || inner is System.IO.IOException || inner is System.Net.Sockets.SocketException || inner is OperationCanceledException))
                    return new GridException(GridErrorKind.Unavailable, $"The EC2 endpoint could not be reached for {action}: {Scrub(inner.Message, secrets)}", Unavailable) { NativeCode = inner.GetType().Name, Target = target };
                if (inner is System.Xml.XmlException)
                    return new GridException(GridErrorKind.Unavailable, $"The EC2 endpoint answered {action} with a response that is not EC2 XML.", BadResponse) { NativeCode = "XmlException", Target = target };
                return new GridException(GridErrorKind.InvalidRequest, $"EC2 {action} failed: {msg}", InvalidRequest) { NativeCode = ce.GetType().Name, Target = target };
            }
            if (ex is System.Net.Http.HttpRequestException || ex is System.IO.IOException || ex is System.Net.Sockets.SocketException || ex is WebException)
                return new GridException(GridErrorKind.Unavailable, $"The EC2 endpoint could not be reached for {action}: {Scrub(ex.Message, secrets)}", Unavailable) { NativeCode = ex.GetType().Name, Target = target };
            if (ex is OperationCanceledException || ex is TimeoutException)
                return new GridException(GridErrorKind.Unavailable, $"EC2 {action} timed out.", Unavailable) { NativeCode = "Timeout", Target = target };
            if (ex is System.Xml.XmlException)
                return new GridException(GridErrorKind.Unavailable, $"The EC2 endpoint answered {action} with a response that is not EC2 XML.", BadResponse) { NativeCode = "XmlException", Target = target };
            return new GridException(GridErrorKind.Unavailable, $"EC2 {action} failed unexpectedly ({ex.GetType().Name}): {Scrub(ex.Message, secrets)}", Unavailable) { NativeCode = ex.GetType().Name, Target = target, IsTransient = false };
        }

        /// <summary>An EBS direct API error (REST+JSON: HTTP status, x-amzn-ErrorType, a JSON message) as a GridException.</summary>
        public static GridException MapEbs(int status, string? type, string message, TimeSpan? retryAfter, string action, object? target)
        {
            string native = string.IsNullOrEmpty(type) ? "HTTP " + status.ToString(System.Globalization.CultureInfo.InvariantCulture) : type!;
            string text = $"EBS {action} failed: {native}{(message.Length > 0 ? ": " + message : "")}";
            if (type == "ThrottlingException" || type == "RequestThrottledException" || status == 429 || status == 503)
                return new GridException(GridErrorKind.Throttled, $"EBS {action} was throttled ({native}).", Throttled) { NativeCode = native, Target = target, RetryAfter = retryAfter };
            if (type == "ResourceNotFoundException" || status == 404)
                return new GridException(GridErrorKind.NotFound, text, "AwsResourceNotFound") { NativeCode = native, Target = target };
            if (type == "AccessDeniedException" || status == 403)
                return new GridException(GridErrorKind.PermissionDenied, text + " (the credentials need ebs:ListSnapshotBlocks and ebs:GetSnapshotBlock)", PermissionDenied) { NativeCode = native, Target = target };
            if (type == "UnauthorizedException" || status == 401)
                return new GridException(GridErrorKind.Unauthorized, text, Unauthorized) { NativeCode = native, Target = target };
            if (type == "ServiceQuotaExceededException")
                return new GridException(GridErrorKind.ResourceUnavailable, text, QuotaExceeded) { NativeCode = native, Target = target };
            if (type == "InternalServerException" || status >= 500)
                return new GridException(GridErrorKind.Unavailable, text, Unavailable) { NativeCode = native, Target = target };
            return new GridException(GridErrorKind.InvalidRequest, text, InvalidRequest) { NativeCode = native, Target = target };
        }

        private static bool IsCredentialProblem(AmazonClientException ce)
        {
            string m = ce.Message ?? "";
            return m.IndexOf("credential", StringComparison.OrdinalIgnoreCase) >= 0
                || ce.GetType().Name.IndexOf("Credential", StringComparison.Ordinal) >= 0
                || ce.GetType().Name == "ProfileNotFoundException";
        }

        internal static string Scrub(string? message, IReadOnlyList<string>? secrets)
        {
            string m = message ?? "";
            if (secrets == null) return m;
            foreach (var s in secrets)
                if (!string.IsNullOrEmpty(s) && s.Length >= 4) m = m.Replace(s, "***");
            return m;
        }
    }
}
