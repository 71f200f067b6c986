using System;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Aws
{
    /// <summary>
    /// EC2's own tag rules beyond the core's <see cref="NameRules"/>: keys starting with "aws:" are reserved.
    /// Refused with InvalidTag before the engine journals (and again by the calls themselves).
    /// </summary>
    public static class AwsNameRules
    {
        /// <summary>Why EC2 refuses the tag key, or null.</summary>
        public static string? WhyInvalidTagKey(string key)
        {
            if (key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase)) return "EC2 reserves tag keys that start with 'aws:'";
            return null;
        }

        public static void ValidateCreate(CreateWorkloadRequest request)
        {
            NameRules.ValidateWorkloadName(request.Name);
            NameRules.ValidateTags(request.Tags, request.Name);
            foreach (var key in request.Tags.Keys)
            {
                var why = WhyInvalidTagKey(key);
                if (why != null)
                    throw GridException.InvalidRequest($"Invalid tags for EC2: tag key '{NameRules.Show(key)}': {why}.", "InvalidTag", request.Name);
            }
        }
    }

    public sealed partial class AwsConnection : IValidatesCreate
    {
        /// <summary>EC2's tag rules, checked without a call (the engine asks before it journals).</summary>
        public Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            AwsNameRules.ValidateCreate(request);
            return Task.CompletedTask;
        }
    }
}
