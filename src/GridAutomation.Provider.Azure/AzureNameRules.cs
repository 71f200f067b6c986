using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using GridAutomation.Core.Model;
using GridAutomation.Core.Providers;

namespace GridAutomation.Providers.Azure
{
    /// <summary>
    /// Azure's own rules, stricter than the core's <see cref="NameRules"/>: refused with the same error ids
    /// (InvalidName, InvalidTag), saying Azure's rule, before the engine journals a create.
    /// </summary>
    public static class AzureNameRules
    {
        public const int MaxVmNameLength = 64;

        /// <summary>Why Azure refuses <paramref name="name"/> as a VM name, or null.</summary>
        public static string? WhyInvalidVmName(string name)
        {
            if (string.IsNullOrEmpty(name)) return "it is empty";
            if (name.Length > MaxVmNameLength) return $"Azure VM names are at most {MaxVmNameLength} characters";
            var bad = name.FirstOrDefault(c => !(c < 128 && (char.IsLetterOrDigit(c) || c == '-' || c == '.')));
            if (bad != default(char)) return $"Azure VM names hold only letters, digits, hyphens and periods (not '{bad}')";
            if (name.EndsWith(".", StringComparison.Ordinal) || name.EndsWith("-", StringComparison.Ordinal)) return "Azure VM names may not end with a period or a hyphen";
            return null;
        }

        public static void ValidateCreate(CreateWorkloadRequest request)
        {
            NameRules.ValidateWorkloadName(request.Name);
            var why = WhyInvalidVmName(request.Name);
            if (why != null)
                throw GridException.InvalidRequest($"'{NameRules.Show(request.Name)}' is not a valid workload name for Azure: {why}. {NameRules.Rules}", "InvalidName", request.Name);
            NameRules.ValidateTags(request.Tags, request.Name);
        }
    }

    public sealed partial class AzureConnection : IValidatesCreate
    {
        /// <summary>Azure's name rules, checked without a call (the engine asks before it journals).</summary>
        public Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            AzureNameRules.ValidateCreate(request);
            return Task.CompletedTask;
        }
    }
}
