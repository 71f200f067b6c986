using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Core.Moves
{
    /// <summary>
    /// Optional interface of a destination connection that can check, by reading only, what an import there needs
    /// beyond disk formats and options: an account-side prerequisite (AWS: the <c>vmimport</c> service role, the
    /// import bucket). Test-GridMove, and so Move-GridWorkload before it journals anything, add its findings to the
    /// report's incompatibilities. A check that cannot be made (no permission to read, endpoint unreachable) is a
    /// Warning saying so, never an Error: the import itself still fails clearly if the prerequisite is missing.
    /// </summary>
    public interface IImportPreflight
    {
        /// <param name="options">The move's destination options (-Option over the destination's MoveDefaults).</param>
        Task<IReadOnlyList<MoveIncompatibility>> CheckImportAsync(IReadOnlyDictionary<string, string> options, CancellationToken cancellationToken);
    }
}
