using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Providers
{
    /// <summary>
    /// Optional, on an <see cref="IGridProvider"/>: checks connection settings (ranges, combinations) without
    /// connecting or writing anything. The engine calls it before the registration is journaled, so a refused
    /// parameter leaves no journal row. Throw InvalidRequest "InvalidParameter".
    /// </summary>
    public interface IValidatesSettings
    {
        void ValidateSettings(IReadOnlyDictionary<string, string> settings);
    }

    /// <summary>
    /// Optional, on an <see cref="IGridConnection"/>: refuses a create that the provider's catalog already says
    /// cannot work (unknown size, image or host; a name or tag stricter native rules refuse), without acting.
    /// The engine calls it before the create is journaled. Refusals that depend on the moment (capacity, quota)
    /// stay in CreateWorkloadAsync, where they are journaled as Failed.
    /// </summary>
    public interface IValidatesCreate
    {
        Task ValidateCreateAsync(CreateWorkloadRequest request, CancellationToken cancellationToken);
    }
}
