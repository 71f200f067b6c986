using System;
using System.Management.Automation;
using GridAutomation.Core.Model;

namespace GridAutomation.Internal
{
    /// <summary>
    /// Turns engine/provider exceptions into ErrorRecords. The GridException's ErrorId becomes the FullyQualifiedErrorId
    /// prefix (PowerShell appends ",&lt;cmdlet type&gt;"), so scripts can match on it. Messages only, never a stack trace.
    /// </summary>
    internal static class ErrorMapping
    {
        /// <summary>Error ids raised by the cmdlets themselves (not by the engine or a provider).</summary>
        internal const string UnexpectedError = "UnexpectedError";
        internal const string OperationCancelled = "OperationCancelled";

        internal static Exception Unwrap(Exception ex)
        {
            while (true)
            {
                if (ex is AggregateException agg && agg.InnerExceptions.Count == 1) { ex = agg.InnerExceptions[0]; continue; }
                if (ex is System.Reflection.TargetInvocationException tie && tie.InnerException != null) { ex = tie.InnerException; continue; }
                return ex;
            }
        }

        internal static ErrorCategory CategoryOf(GridException ex)
        {
            switch (ex.Kind)
            {
                case GridErrorKind.NotFound: return ErrorCategory.ObjectNotFound;
                case GridErrorKind.Conflict:
                    if (ex.ErrorId == "WorkloadLocked") return ErrorCategory.ResourceBusy;
                    return ex.ErrorId.IndexOf("Exist", StringComparison.OrdinalIgnoreCase) >= 0
                        || ex.ErrorId.IndexOf("Duplicate", StringComparison.OrdinalIgnoreCase) >= 0
                        ? ErrorCategory.ResourceExists : ErrorCategory.InvalidOperation;
                case GridErrorKind.Unauthorized: return ErrorCategory.AuthenticationError;
                case GridErrorKind.PermissionDenied: return ErrorCategory.PermissionDenied;
                case GridErrorKind.Throttled: return ErrorCategory.LimitsExceeded;
                case GridErrorKind.Unavailable: return ErrorCategory.ConnectionError;
                case GridErrorKind.InvalidRequest: return ErrorCategory.InvalidArgument;
                case GridErrorKind.Unsupported: return ErrorCategory.NotImplemented;
                case GridErrorKind.ResourceUnavailable: return ErrorCategory.QuotaExceeded;
                case GridErrorKind.StateStore:
                    if (ex.ErrorId == "StateStoreNotWritable") return ErrorCategory.WriteError;
                    return ex.ErrorId.IndexOf("Corrupt", StringComparison.OrdinalIgnoreCase) >= 0
                        || ex.ErrorId.IndexOf("Schema", StringComparison.OrdinalIgnoreCase) >= 0
                        ? ErrorCategory.ReadError : ErrorCategory.ResourceUnavailable;
                case GridErrorKind.Cancelled: return ErrorCategory.OperationStopped;
                default: return ErrorCategory.NotSpecified;
            }
        }

        /// <summary>True for errors that make the whole call meaningless (the state store is unusable).</summary>
        internal static bool IsFatal(Exception ex)
        {
            ex = Unwrap(ex);
            return ex is GridException g && g.Kind == GridErrorKind.StateStore;
        }

        internal static ErrorRecord ToErrorRecord(Exception ex, object? target)
        {
            ex = Unwrap(ex);
            if (ex is GridException g)
            {
                var rec = new ErrorRecord(g, g.ErrorId, CategoryOf(g), g.Target ?? target);
                if (g.Kind == GridErrorKind.Throttled && g.RetryAfter.HasValue)
                    rec.ErrorDetails = new ErrorDetails(g.Message) { RecommendedAction = "Retry after " + g.RetryAfter.Value.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " s." };
                return rec;
            }
            if (ex is OperationCanceledException)
                return new ErrorRecord(new GridException(GridErrorKind.Cancelled, "The operation was cancelled.", OperationCancelled, ex),
                    OperationCancelled, ErrorCategory.OperationStopped, target);
            if (ex is PSArgumentException || ex is ArgumentException)
                return new ErrorRecord(ex, "InvalidArgument", ErrorCategory.InvalidArgument, target);
            // Anything else is a bug somewhere below us: keep the message, wrap it so no raw stack trace is the face of the error.
            var wrapped = new GridException(GridErrorKind.InvalidRequest, ex.GetType().Name + ": " + ex.Message, UnexpectedError, ex);
            return new ErrorRecord(wrapped, UnexpectedError, ErrorCategory.NotSpecified, target);
        }

        internal static ErrorRecord Create(string errorId, ErrorCategory category, string message, object? target, GridErrorKind kind = GridErrorKind.InvalidRequest)
            => new ErrorRecord(new GridException(kind, message, errorId) { Target = target }, errorId, category, target);
    }
}
