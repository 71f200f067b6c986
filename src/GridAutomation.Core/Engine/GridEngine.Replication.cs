using GridAutomation.Core.Replication;

namespace GridAutomation.Core.Engine
{
    /// <summary>The engine's side of replication and failover (issue 17).</summary>
    public sealed partial class GridEngine
    {
        private ReplicationService? _replication;

        /// <summary>Protected workloads, recovery points, failover over this engine's store.</summary>
        public ReplicationService Replication => _replication ??= new ReplicationService(this);
    }
}
