using System;
using System.Globalization;
using System.Text.Json;
using System.Threading;
using Azure;
using Azure.Identity;
using GridAutomation.Core.Model;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// Turns Azure SDK exceptions into GridExceptions. CloudError bodies ({"error":{"code","message"}}) give
    /// NativeCode and the message. Error ids (stable): AzureNotFound, AzureConflict, AzureInvalidRequest,
    /// AzureUnauthorized, AzurePermissionDenied, AzureThrottled, AzureUnavailable, AzureCapacity,
    /// AzureAuthenticationFailed, AzureCredentialUnavailable, AzureCancelled, AzureError.
    /// </summary>
    internal static class AzureErrors
    {
        public static GridException Map(Exception ex, object? target, CancellationToken ct)
        {
            switch (ex)
            {
                case GridException g:
                    return g;
                case AggregateException ae when ae.InnerExceptions.Count > 0:
                    // Azure.Core's retry policy throws AggregateException ("Retry failed after 4 tries") when every
                    // attempt failed in transport: the last attempt's error says what is wrong.
                    var inner = ae.Flatten().InnerExceptions;
                    var last = Map(inner[inner.Count - 1], target, ct);
                    return new GridException(last.Kind, last.Message + (inner.Count > 1 ? $" ({inner.Count} attempts)" : ""), last.ErrorId, ae)
                    { NativeCode = last.NativeCode, Target = last.Target ?? target, RetryAfter = last.RetryAfter, IsTransient = last.IsTransient };
                case OperationCanceledException oce when ct.IsCancellationRequested:
                    return new GridException(GridErrorKind.Cancelled, "The Azure call was cancelled.", "AzureCancelled", oce) { Target = target };
                case CredentialUnavailableException cu:
                    return new GridException(GridErrorKind.Unauthorized, "No Azure credential is available: " + FirstLine(cu.Message), "AzureCredentialUnavailable", cu) { Target = target };
                case AuthenticationFailedException af:
                    return new GridException(GridErrorKind.Unauthorized, "Azure authentication failed: " + FirstLine(af.Message), "AzureAuthenticationFailed", af) { Target = target };
                case RequestFailedException rf:
                    return FromRequestFailed(rf, target);
                case OperationCanceledException oce2:
                    return GridException.Unavailable("The Azure call timed out.", oce2, "AzureUnavailable");
                case InvalidOperationException _:
                case FormatException _:
                case JsonException _:
                case System.Collections.Generic.KeyNotFoundException _:
                    // The SDK could not read what the endpoint returned (e.g. "False" where ARM sends a boolean).
                    return new GridException(GridErrorKind.Unavailable, "Azure returned a response the Azure SDK could not read: " + FirstLine(ex.Message), "AzureInvalidResponse", ex) { Target = target };
                case System.Net.Http.HttpRequestException he:
                    return GridException.Unavailable("Azure Resource Manager is unreachable: " + FirstLine(he.Message), he, "AzureUnavailable");
                default:
                    return new GridException(GridErrorKind.Unavailable, "Unexpected Azure error: " + ex.GetType().Name + ": " + FirstLine(ex.Message), "AzureError", ex) { Target = target };
            }
        }

        public static GridException FromRequestFailed(RequestFailedException ex, object? target)
        {
            var response = ex.GetRawResponse();
            string? code = ex.ErrorCode;
            string? message = null;
            if (response != null)
            {
                try
                {
                    var content = response.Content;
                    if (content != null && content.ToMemory().Length > 0)
                    {
                        using var doc = JsonDocument.Parse(content.ToMemory());
                        var root = doc.RootElement;
                        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.Object)
                        {
                            if (err.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String) code = c.GetString();
                            if (err.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) message = m.GetString();
                        }
                    }
                }
                catch (Exception) { /* not JSON: fall back to the SDK's text */ }
            }
            if (string.IsNullOrEmpty(message)) message = FirstLine(ex.Message);
            int status = ex.Status;
            string text = string.IsNullOrEmpty(code) ? $"Azure returned {status}: {message}" : $"Azure {code}: {message}";

            GridErrorKind kind;
            string id;
            if (status == 429) { kind = GridErrorKind.Throttled; id = "AzureThrottled"; }
            else if (IsCapacity(code)) { kind = GridErrorKind.ResourceUnavailable; id = "AzureCapacity"; }
            else if (status == 404) { kind = GridErrorKind.NotFound; id = "AzureNotFound"; }
            else if (status == 409 || string.Equals(code, "OperationNotAllowed", StringComparison.OrdinalIgnoreCase) || string.Equals(code, "Conflict", StringComparison.OrdinalIgnoreCase)) { kind = GridErrorKind.Conflict; id = "AzureConflict"; }
            else if (status == 401) { kind = GridErrorKind.Unauthorized; id = "AzureUnauthorized"; }
            else if (status == 403) { kind = GridErrorKind.PermissionDenied; id = "AzurePermissionDenied"; }
            else if (status == 400 || status == 422) { kind = GridErrorKind.InvalidRequest; id = "AzureInvalidRequest"; }
            else if (status == 0 || status == 408 || status >= 500) { kind = GridErrorKind.Unavailable; id = "AzureUnavailable"; }
            else if (status == 200 || status == 201 || status == 202) { kind = GridErrorKind.Conflict; id = "AzureOperationFailed"; } // a long-running operation that ended Failed
            else { kind = GridErrorKind.InvalidRequest; id = "AzureError"; }

            var g = new GridException(kind, text, id, ex) { NativeCode = code, Target = target };
            if (kind == GridErrorKind.Throttled) g.RetryAfter = RetryAfter(response);
            return g;
        }

        private static bool IsCapacity(string? code)
        {
            if (string.IsNullOrEmpty(code)) return false;
            switch (code!.ToLowerInvariant())
            {
                case "quotaexceeded":
                case "operationnotallowedquota":
                case "skunotavailable":
                case "allocationfailed":
                case "zonalallocationfailed":
                case "overconstrainedallocationrequest":
                case "overconstrainedzonalallocationrequest":
                    return true;
                default:
                    return false;
            }
        }

        internal static TimeSpan? RetryAfter(Response? response)
        {
            if (response == null) return null;
            if (response.Headers.TryGetValue("retry-after-ms", out var ms) || response.Headers.TryGetValue("x-ms-retry-after-ms", out ms))
                if (double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out double m)) return TimeSpan.FromMilliseconds(m);
            if (response.Headers.TryGetValue("Retry-After", out var ra) && ra != null)
            {
                if (int.TryParse(ra, NumberStyles.Integer, CultureInfo.InvariantCulture, out int secs)) return TimeSpan.FromSeconds(Math.Max(0, secs));
                if (DateTimeOffset.TryParse(ra, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
                {
                    var d = when - DateTimeOffset.UtcNow;
                    return d < TimeSpan.Zero ? TimeSpan.Zero : d;
                }
            }
            return null;
        }

        internal static string FirstLine(string? s)
        {
            if (string.IsNullOrEmpty(s)) return "";
            int i = s!.IndexOfAny(new[] { '\r', '\n' });
            string line = i < 0 ? s : s.Substring(0, i);
            return line.Length > 600 ? line.Substring(0, 600) + "..." : line;
        }
    }
}
