using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using GridAutomation.Core.Model;
using System.Data.Common;

namespace GridAutomation.Core.State
{
    /// <summary>
    /// The operation journal (tables <c>operations</c> and <c>operation_checkpoints</c>). Begin writes the intent and
    /// takes a lease for this process (pid, machine, process start time, heartbeat). Reading never writes: whether a
    /// Running operation is really Interrupted is decided when it is read —
    /// same machine: its process is gone (pid not alive, or alive with another start time, i.e. a reused pid);
    /// another machine: its heartbeat is older than the lease timeout.
    /// </summary>
    public sealed class OperationJournal : IOperationJournal
    {
        private const string Columns = "id, kind, datacenter, target, state, started, finished, error, error_id, idempotency_key, batch_id, request, result, lease_pid, lease_machine, lease_process_start, heartbeat, target_name, lock_key, fencing_token, parent_id, destination_datacenter, coordinator, lease_client";

        private readonly IStateStore _store;
        private readonly LeaseHolder _self;
        /// <summary>
        /// The fencing token this journal got for each operation it began or took over and has not finished: its own
        /// checkpoints and result are written only while the lock still carries that token. (The operation's row holds
        /// the token of its latest holder, so it cannot tell a stale writer of the same operation from the resumer.)
        /// </summary>
        private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, long> _held = new System.Collections.Concurrent.ConcurrentDictionary<Guid, long>();

        public OperationJournal(IStateStore store, TimeSpan leaseTimeout) : this(store, leaseTimeout, null) { }

        /// <param name="clientId">The lease holder's client id (configuration ClientId, GRIDAUTOMATION_CLIENT_ID); null or empty for none.</param>
        public OperationJournal(IStateStore store, TimeSpan leaseTimeout, string? clientId)
        {
            _store = store ?? throw new ArgumentNullException(nameof(store));
            if (leaseTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(leaseTimeout));
            LeaseTimeout = leaseTimeout;
            _self = LeaseHolder.Current;
            ClientId = string.IsNullOrEmpty(clientId) ? null : clientId;
        }

        public TimeSpan LeaseTimeout { get; }

        /// <summary>The client id this journal's leases carry (null: none).</summary>
        public string? ClientId { get; }

        /// <summary>The lease identity of this process.</summary>
        public static int CurrentProcessId => LeaseHolder.Current.ProcessId;
        public static string CurrentMachine => LeaseHolder.Current.Machine;

        public GridOperation Begin(string kind, string datacenter, string target, string? idempotencyKey, string? requestJson, Guid? batchId, string? targetName = null)
        {
            var outcome = TryBegin(new OperationIntent
            {
                Kind = kind, Datacenter = datacenter ?? "", Target = target ?? "", IdempotencyKey = idempotencyKey, RequestJson = requestJson,
                BatchId = batchId, TargetName = targetName,
            });
            return outcome.Operation!; // no lock asked: always begins
        }

        public BeginOutcome TryBegin(OperationIntent intent)
        {
            if (intent == null) throw new ArgumentNullException(nameof(intent));
            if (string.IsNullOrEmpty(intent.Kind)) throw new ArgumentException("kind is empty", nameof(intent));
            return _store.Write(c =>
            {
                var now = DateTimeOffset.UtcNow;
                if (intent.RefuseCreatesSucceededAfter.HasValue)
                {
                    var newer = Query(c, "WHERE kind = 'Create' AND target = @t COLLATE NOCASE AND state = 'Succeeded' AND finished >= @after ORDER BY seq DESC LIMIT 1",
                        p => { p.Bind("@t", intent.Target); p.Bind("@after", StateStore.FormatTime(intent.RefuseCreatesSucceededAfter.Value)); }, null).FirstOrDefault();
                    if (newer != null) return new BeginOutcome { NewerCreate = newer };
                }
                long? token = null;
                if (!string.IsNullOrEmpty(intent.LockKey))
                {
                    var (holder, last) = ReadLock(c, intent.LockKey!);
                    if (holder != null) return new BeginOutcome { LockHolder = holder };
                    token = last + 1;
                }
                var op = NewOperation(intent, token, now);
                Insert(c, op);
                if (token.HasValue) TakeLock(c, op.LockKey!, op.Id, token.Value, now);
                if (token.HasValue) _held[op.Id] = token.Value;
                return new BeginOutcome { Operation = op };
            });
        }

        private GridOperation NewOperation(OperationIntent intent, long? token, DateTimeOffset now)
            => new GridOperation
            {
                Id = Guid.NewGuid(), Kind = intent.Kind, Datacenter = intent.Datacenter ?? "", Target = intent.Target ?? "", TargetName = intent.TargetName,
                State = OperationState.Running, Started = now, IdempotencyKey = intent.IdempotencyKey, BatchId = intent.BatchId, Request = intent.RequestJson,
                LeaseProcessId = _self.ProcessId, LeaseMachine = _self.Machine, LeaseClientId = ClientId, LeaseHeartbeat = now,
                LockKey = intent.LockKey, FencingToken = token, ParentId = intent.ParentId, DestinationDatacenter = intent.DestinationDatacenter,
                Coordinator = intent.Coordinator,
            };

        private void Insert(IStateSession c, GridOperation op)
        {
            using (var cmd = c.Command(""))
            {
                cmd.CommandText = "INSERT INTO operations(" + Columns + ") VALUES(@id,@kind,@dc,@target,@state,@started,NULL,NULL,NULL,@key,@batch,@req,NULL,@pid,@machine,@pstart,@hb,@tname,@lock,@token,@parent,@dest,@coord,@client)";
                cmd.Bind("@id", op.Id.ToString("D"));
                cmd.Bind("@kind", op.Kind);
                cmd.Bind("@dc", op.Datacenter);
                cmd.Bind("@target", op.Target);
                cmd.Bind("@state", op.State.ToString());
                cmd.Bind("@started", StateStore.FormatTime(op.Started));
                cmd.Bind("@key", (object?)op.IdempotencyKey ?? DBNull.Value);
                cmd.Bind("@batch", op.BatchId.HasValue ? op.BatchId.Value.ToString("D") : (object)DBNull.Value);
                cmd.Bind("@req", (object?)op.Request ?? DBNull.Value);
                cmd.Bind("@pid", _self.ProcessId);
                cmd.Bind("@machine", _self.Machine);
                cmd.Bind("@pstart", _self.StartToken);
                cmd.Bind("@hb", StateStore.FormatTime(op.Started));
                cmd.Bind("@tname", (object?)op.TargetName ?? DBNull.Value);
                cmd.Bind("@lock", (object?)op.LockKey ?? DBNull.Value);
                cmd.Bind("@token", op.FencingToken.HasValue ? op.FencingToken.Value : (object)DBNull.Value);
                cmd.Bind("@parent", op.ParentId.HasValue ? op.ParentId.Value.ToString("D") : (object)DBNull.Value);
                cmd.Bind("@dest", (object?)op.DestinationDatacenter ?? DBNull.Value);
                cmd.Bind("@coord", (object?)op.Coordinator ?? DBNull.Value);
                cmd.Bind("@client", (object?)ClientId ?? DBNull.Value);
                cmd.ExecuteNonQuery();
            }
        }

        /// <summary>The live holder of a lock (null when free, released, or its holder is finished or dead) and the lock's last fencing token (0 if never taken).</summary>
        private (GridOperation? holder, long last) ReadLock(IStateSession c, string lockKey)
        {
            string? holderId = null; long last = 0;
            using (var cmd = c.Command(""))
            {
                cmd.CommandText = "SELECT operation_id, fencing_token FROM workload_locks WHERE lock_key = @k";
                cmd.Bind("@k", lockKey);
                using var r = cmd.ExecuteReader();
                if (r.Read()) { holderId = r.IsDBNull(0) ? null : r.GetString(0); last = r.GetInt64(1); }
            }
            if (holderId == null) return (null, last);
            var holder = Query(c, "WHERE id = @id", p => p.Bind("@id", holderId), null).FirstOrDefault();
            // Running/Pending as read means its lease is alive (a dead one reads Interrupted): only then does it block.
            bool blocks = holder != null && (holder.State == OperationState.Running || holder.State == OperationState.Pending);
            return (blocks ? holder : null, last);
        }

        private static void TakeLock(IStateSession c, string lockKey, Guid opId, long token, DateTimeOffset now)
        {
            using var cmd = c.Command("");
            cmd.CommandText = @"INSERT INTO workload_locks(lock_key, operation_id, fencing_token, acquired) VALUES(@k, @op, @tok, @t)
                                ON CONFLICT(lock_key) DO UPDATE SET operation_id = excluded.operation_id, fencing_token = excluded.fencing_token, acquired = excluded.acquired";
            cmd.Bind("@k", lockKey);
            cmd.Bind("@op", opId.ToString("D"));
            cmd.Bind("@tok", token);
            cmd.Bind("@t", StateStore.FormatTime(now));
            cmd.ExecuteNonQuery();
        }

        /// <summary>
        /// Fencing: a writer may record the outcome of its operation only while the lock it took still carries its
        /// token. If the lease expired and another operation took the lock (a higher token), the stale writer is refused.
        /// Releases the lock when <paramref name="release"/>.
        /// </summary>
        private void CheckFence(IStateSession c, Guid id, bool release)
        {
            string? lockKey = null; long? token = null;
            using (var cmd = c.Command(""))
            {
                cmd.CommandText = "SELECT lock_key, fencing_token FROM operations WHERE id = @id";
                cmd.Bind("@id", id.ToString("D"));
                using var r = cmd.ExecuteReader();
                if (!r.Read()) throw NotFound(id);
                if (!r.IsDBNull(0)) lockKey = r.GetString(0);
                if (!r.IsDBNull(1)) token = r.GetInt64(1);
            }
            if (lockKey == null || token == null) return;
            if (_held.TryGetValue(id, out long mine)) token = mine; // this writer's own token, not the latest holder's
            long current;
            using (var cmd = c.Command(""))
            {
                cmd.CommandText = "SELECT fencing_token FROM workload_locks WHERE lock_key = @k";
                cmd.Bind("@k", lockKey);
                var v = cmd.ExecuteScalar();
                current = v == null || v is DBNull ? 0 : Convert.ToInt64(v, CultureInfo.InvariantCulture);
            }
            if (current != token.Value)
            {
                // The stale token stays: every later write of this writer for the operation is refused as well.
                throw GridException.Conflict($"Operation {id} lost its lock on '{lockKey}' (its lease expired and it was taken over, by Resume-GridOperation or another operation: fencing token {current} > {token}); this writer's checkpoint or result was not recorded.", "LeaseLost", id);
            }
            if (release)
            {
                using var cmd = c.Command("");
                cmd.CommandText = "UPDATE workload_locks SET operation_id = NULL WHERE lock_key = @k AND operation_id = @id";
                cmd.Bind("@k", lockKey);
                cmd.Bind("@id", id.ToString("D"));
                cmd.ExecuteNonQuery();
            }
        }

        public void Cancel(Guid id, string message) => Finish(id, OperationState.Cancelled, null, "OperationCancelled", message);

        public void Interrupt(Guid id, string message) => Finish(id, OperationState.Interrupted, null, "OperationInterrupted", message, finished: false);

        public void Pause(Guid id, string message) => Finish(id, OperationState.Waiting, null, null, message, finished: false);

        public void Checkpoint(Guid id, string key, string value)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            _store.Write(c => { WriteCheckpoint(c, id, key, value); return 0; });
        }

        public GridOperation CheckpointAndBeginChild(Guid parentId, string key, string value, OperationIntent child)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            if (child == null || !string.IsNullOrEmpty(child.LockKey)) throw new ArgumentException("a child takes no lock of its own", nameof(child));
            child.ParentId = parentId;
            return _store.Write(c =>
            {
                WriteCheckpoint(c, parentId, key, value); // fenced: a parent whose lease was taken over begins no child
                var op = NewOperation(child, null, DateTimeOffset.UtcNow);
                Insert(c, op);
                return op;
            });
        }

        public void CheckpointAndCompleteChild(Guid parentId, string key, string value, Guid childId, string? childResult)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            _store.Write(c =>
            {
                WriteCheckpoint(c, parentId, key, value);
                FinishRow(c, childId, OperationState.Succeeded, childResult, null, null, finished: true);
                return 0;
            });
        }

        private void WriteCheckpoint(IStateSession c, Guid id, string key, string value)
        {
            CheckFence(c, id, release: false);
            using var cmd = c.Command("");
            cmd.CommandText = @"INSERT INTO operation_checkpoints(operation_id, seq, key, value)
                VALUES(@id, (SELECT coalesce(max(seq), 0) + 1 FROM operation_checkpoints WHERE operation_id = @id), @k, @v)
                ON CONFLICT(operation_id, key) DO UPDATE SET value = excluded.value, seq = excluded.seq";
            cmd.Bind("@id", id.ToString("D"));
            cmd.Bind("@k", key);
            cmd.Bind("@v", value ?? "");
            cmd.ExecuteNonQuery();
            Touch(c, id);
        }

        public void Heartbeat(Guid id)
            => _store.Write(c => { Touch(c, id); return 0; });

        public void Complete(Guid id, string? resultJson) => Finish(id, OperationState.Succeeded, resultJson, null, null);

        public void Fail(Guid id, string errorId, string message) => Finish(id, OperationState.Failed, null, errorId, message);

        public void MarkRolledBack(Guid id, string? message) => Finish(id, OperationState.RolledBack, null, null, message);

        private void Finish(Guid id, OperationState state, string? result, string? errorId, string? error, bool finished = true)
        {
            _store.Write(c => { FinishRow(c, id, state, result, errorId, error, finished); return 0; });
        }

        private void FinishRow(IStateSession c, Guid id, OperationState state, string? result, string? errorId, string? error, bool finished)
        {
            CheckFence(c, id, release: true);
            using var cmd = c.Command("");
            cmd.CommandText = @"UPDATE operations SET state = @s, finished = " + (finished ? "@f" : "NULL") + @", result = coalesce(@r, result), error_id = @eid, error = @e, heartbeat = @f
                                WHERE id = @id";
            cmd.Bind("@id", id.ToString("D"));
            cmd.Bind("@s", state.ToString());
            cmd.Bind("@f", StateStore.FormatTime(DateTimeOffset.UtcNow));
            cmd.Bind("@r", (object?)result ?? DBNull.Value);
            cmd.Bind("@eid", (object?)errorId ?? DBNull.Value);
            cmd.Bind("@e", (object?)error ?? DBNull.Value);
            if (cmd.ExecuteNonQuery() == 0) throw NotFound(id);
            if (finished || state == OperationState.Interrupted || state == OperationState.Waiting) _held.TryRemove(id, out _);
        }

        public GridOperation? Get(Guid id)
            => _store.Read(c =>
            {
                var ops = Query(c, "WHERE id = @id", p => p.Bind("@id", id.ToString("D")), null);
                LoadCheckpoints(c, ops);
                return ops.FirstOrDefault();
            });

        public GridOperation? FindByIdempotencyKey(string kind, string idempotencyKey)
            => _store.Read(c =>
            {
                var ops = Query(c, "WHERE kind = @k AND idempotency_key = @key AND state IN ('Pending','Running','Interrupted','Succeeded') ORDER BY seq DESC LIMIT 1",
                    p => { p.Bind("@k", kind); p.Bind("@key", idempotencyKey); }, null);
                LoadCheckpoints(c, ops);
                return ops.FirstOrDefault();
            });

        public IReadOnlyList<GridOperation> List(OperationFilter filter)
        {
            filter ??= new OperationFilter();
            return _store.Read(c =>
            {
                var where = new List<string>();
                var binds = new List<Action<DbCommand>>();
                if (filter.Id.HasValue) { where.Add("id = @id"); binds.Add(p => p.Bind("@id", filter.Id.Value.ToString("D"))); }
                if (filter.ParentId.HasValue) { where.Add("parent_id = @parent"); binds.Add(p => p.Bind("@parent", filter.ParentId.Value.ToString("D"))); }
                else if (!filter.Id.HasValue && !filter.IncludeChildren) where.Add("parent_id IS NULL");
                if (filter.BatchId.HasValue) { where.Add("batch_id = @batch"); binds.Add(p => p.Bind("@batch", filter.BatchId.Value.ToString("D"))); }
                if (!string.IsNullOrEmpty(filter.Kind)) { where.Add("kind = @kind COLLATE NOCASE"); binds.Add(p => p.Bind("@kind", filter.Kind)); }
                if (filter.Kinds != null && filter.Kinds.Count > 0)
                {
                    var kinds = filter.Kinds.ToArray();
                    where.Add("kind COLLATE NOCASE IN (" + string.Join(",", kinds.Select((_, i) => "@kd" + i)) + ")");
                    binds.Add(p => { for (int i = 0; i < kinds.Length; i++) p.Bind("@kd" + i, kinds[i]); });
                }
                if (filter.States != null && filter.States.Count > 0)
                {
                    // Interrupted is decided when read: a stored Running/Pending may read as Interrupted and vice versa.
                    var stored = new HashSet<string>(filter.States.Select(s => s.ToString()));
                    if (filter.States.Contains(OperationState.Interrupted) || filter.States.Contains(OperationState.Running) || filter.States.Contains(OperationState.Pending))
                    { stored.Add("Running"); stored.Add("Pending"); stored.Add("Interrupted"); }
                    var names = stored.ToArray();
                    where.Add("state IN (" + string.Join(",", names.Select((_, i) => "@st" + i)) + ")");
                    binds.Add(p => { for (int i = 0; i < names.Length; i++) p.Bind("@st" + i, names[i]); });
                }
                Func<GridOperation, bool>? post = null;
                var dcPatterns = filter.Datacenters != null && filter.Datacenters.Count > 0 ? filter.Datacenters : null;
                var wantedStates = filter.States != null && filter.States.Count > 0 ? new HashSet<OperationState>(filter.States) : null;
                var targetPatterns = filter.Targets != null && filter.Targets.Count > 0 ? filter.Targets : null;
                post = op => Engine.Wildcard.MatchesAny(op.Datacenter, dcPatterns)
                             && (wantedStates == null || wantedStates.Contains(op.State))
                             && (targetPatterns == null || (op.TargetName != null && Engine.Wildcard.MatchesAny(op.TargetName, targetPatterns))
                                 || Engine.Wildcard.MatchesAny(op.Target, targetPatterns));
                string sql = (where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "") + " ORDER BY seq DESC";
                var ops = Query(c, sql, p => { foreach (var b in binds) b(p); }, post, filter.Last);
                ops.Reverse(); // chronological
                LoadCheckpoints(c, ops);
                return (IReadOnlyList<GridOperation>)ops;
            });
        }

        public bool TryTakeOver(Guid id)
            => _store.Write(c =>
            {
                var op = Query(c, "WHERE id = @id", p => p.Bind("@id", id.ToString("D")), null).FirstOrDefault();
                if (op == null) throw NotFound(id);
                if (op.State != OperationState.Interrupted && op.State != OperationState.Waiting) return false;
                var at = DateTimeOffset.UtcNow;
                var now = StateStore.FormatTime(at);
                long? token = null;
                if (!string.IsNullOrEmpty(op.LockKey))
                {
                    var (holder, last) = ReadLock(c, op.LockKey!);
                    if (holder != null && holder.Id != op.Id)
                        throw GridException.Conflict($"Operation {id} cannot be resumed now: workload '{op.TargetName ?? op.Target}' is locked by operation {holder.Id} ({holder.Kind}, {holder.DescribeLeaseHolder()}). Try again when it has finished.", "WorkloadLocked", id);
                    token = last + 1;
                    TakeLock(c, op.LockKey!, op.Id, token.Value, at);
                }
                using var cmd = c.Command("");
                cmd.CommandText = "UPDATE operations SET state = 'Running', finished = NULL, lease_pid = @pid, lease_machine = @m, lease_process_start = @ps, lease_client = @client, heartbeat = @hb, fencing_token = coalesce(@tok, fencing_token) WHERE id = @id";
                cmd.Bind("@tok", token.HasValue ? token.Value : (object)DBNull.Value);
                cmd.Bind("@id", id.ToString("D"));
                cmd.Bind("@pid", _self.ProcessId);
                cmd.Bind("@m", _self.Machine);
                cmd.Bind("@ps", _self.StartToken);
                cmd.Bind("@client", (object?)ClientId ?? DBNull.Value);
                cmd.Bind("@hb", now);
                bool taken = cmd.ExecuteNonQuery() == 1;
                if (taken && token.HasValue) _held[id] = token.Value;
                return taken;
            });

        /// <summary>
        /// Deletes finished operations (Succeeded, Failed, RolledBack, Cancelled) that finished before <paramref name="finishedBefore"/>,
        /// with their checkpoints. Running and interrupted ones are never deleted. Returns how many were deleted.
        /// </summary>
        public int Prune(DateTimeOffset finishedBefore)
            => _store.Write(c =>
            {
                using var cmd = c.Command("");
                cmd.CommandText = "DELETE FROM operations WHERE state IN ('Succeeded','Failed','RolledBack','Cancelled') AND finished IS NOT NULL AND finished < @t";
                cmd.Bind("@t", StateStore.FormatTime(finishedBefore));
                return cmd.ExecuteNonQuery();
            });

        // ---- internals ---------------------------------------------------------------------------------------------

        private static GridException NotFound(Guid id) => GridException.NotFound($"No operation with id {id} in the journal.", "OperationNotFound", id);

        private static void RequireExists(IStateSession c, Guid id)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "SELECT count(*) FROM operations WHERE id = @id";
            cmd.Bind("@id", id.ToString("D"));
            if (Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) == 0) throw NotFound(id);
        }

        private static void Touch(IStateSession c, Guid id)
        {
            using var cmd = c.Command("");
            // a parent's heartbeat is its running children's too (a move's step children have no heartbeat of their own)
            cmd.CommandText = "UPDATE operations SET heartbeat = @hb WHERE (id = @id OR parent_id = @id) AND state IN ('Running','Pending')";
            cmd.Bind("@id", id.ToString("D"));
            cmd.Bind("@hb", StateStore.FormatTime(DateTimeOffset.UtcNow));
            cmd.ExecuteNonQuery();
        }

        private List<GridOperation> Query(IStateSession c, string tail, Action<DbCommand> bind, Func<GridOperation, bool>? post, int? limit = null)
        {
            using var cmd = c.Command("");
            cmd.CommandText = "SELECT " + Columns + " FROM operations " + tail;
            bind(cmd);
            var list = new List<GridOperation>();
            var liveness = new Dictionary<string, bool>(StringComparer.Ordinal);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                GridOperation op;
                string? startToken;
                try
                {
                op = new GridOperation
                {
                    Id = Guid.Parse(r.GetString(0)),
                    Kind = r.GetString(1),
                    Datacenter = r.GetString(2),
                    Target = r.GetString(3),
                    State = (OperationState)Enum.Parse(typeof(OperationState), r.GetString(4), true),
                    Started = StateStore.ParseTime(r.GetString(5)),
                    Finished = r.IsDBNull(6) ? null : StateStore.ParseTime(r.GetString(6)),
                    Error = r.IsDBNull(7) ? null : r.GetString(7),
                    ErrorId = r.IsDBNull(8) ? null : r.GetString(8),
                    IdempotencyKey = r.IsDBNull(9) ? null : r.GetString(9),
                    BatchId = r.IsDBNull(10) ? null : Guid.Parse(r.GetString(10)),
                    Request = r.IsDBNull(11) ? null : r.GetString(11),
                    Result = r.IsDBNull(12) ? null : r.GetString(12),
                    LeaseProcessId = r.IsDBNull(13) ? null : r.GetInt32(13),
                    LeaseMachine = r.IsDBNull(14) ? null : r.GetString(14),
                    LeaseHeartbeat = r.IsDBNull(16) ? null : StateStore.ParseTime(r.GetString(16)),
                    TargetName = r.IsDBNull(17) ? null : r.GetString(17),
                    LockKey = r.IsDBNull(18) ? null : r.GetString(18),
                    FencingToken = r.IsDBNull(19) ? null : r.GetInt64(19),
                    ParentId = r.IsDBNull(20) ? null : Guid.Parse(r.GetString(20)),
                    DestinationDatacenter = r.IsDBNull(21) ? null : r.GetString(21),
                    Coordinator = r.IsDBNull(22) ? null : r.GetString(22),
                    LeaseClientId = r.IsDBNull(23) ? null : r.GetString(23),
                };
                if (!Enum.IsDefined(typeof(OperationState), op.State)) throw new FormatException("state " + r.GetString(4));
                startToken = r.IsDBNull(15) ? null : r.GetString(15);
                }
                catch (Exception ex) when (ex is FormatException || ex is ArgumentException || ex is InvalidCastException || ex is OverflowException)
                {
                    // A row this module cannot read is damage (a newer module's states are kept out by the schema version).
                    throw Corrupt("operations row " + SafeText(r, 0) + " cannot be read: " + ex.Message, ex);
                }
                if (op.State == OperationState.Running || op.State == OperationState.Pending)
                    if (!IsLeaseAlive(op, startToken, liveness)) op.State = OperationState.Interrupted;
                if (post != null && !post(op)) continue;
                list.Add(op);
                if (limit.HasValue && list.Count >= limit.Value) break;
            }
            return list;
        }

        private GridException Corrupt(string detail, Exception ex)
            => _store is StateStore ss ? ss.CorruptError(detail, ex)
             : new GridException(GridErrorKind.StateStore, $"The state store '{_store.Path}' is corrupt ({detail}).", "StateStoreCorrupt", ex) { Target = _store.Path };

        private static string SafeText(DbDataReader r, int i)
        {
            try { return r.IsDBNull(i) ? "?" : r.GetValue(i)?.ToString() ?? "?"; } catch (Exception) { return "?"; }
        }

        private bool IsLeaseAlive(GridOperation op, string? startToken, Dictionary<string, bool> cache)
        {
            if (op.LeaseProcessId == null || string.IsNullOrEmpty(op.LeaseMachine)) return false;
            // The process is checked only for a holder that is this machine under this client id. A holder with another
            // client id may be another sandbox or container with the same machine name (its pid means nothing here):
            // like another machine, it is alive while its heartbeat is younger than the lease timeout.
            if (string.Equals(op.LeaseMachine, _self.Machine, StringComparison.OrdinalIgnoreCase)
                && string.Equals(op.LeaseClientId, ClientId, StringComparison.Ordinal))
            {
                string k = op.LeaseProcessId.Value.ToString(CultureInfo.InvariantCulture) + "|" + startToken;
                if (!cache.TryGetValue(k, out bool alive))
                    cache[k] = alive = LeaseHolder.IsAlive(op.LeaseProcessId.Value, startToken);
                return alive;
            }
            var hb = op.LeaseHeartbeat ?? op.Started;
            return DateTimeOffset.UtcNow - hb <= LeaseTimeout;
        }

        private static void LoadCheckpoints(IStateSession c, List<GridOperation> ops)
        {
            if (ops.Count == 0) return;
            var byId = ops.ToDictionary(o => o.Id.ToString("D"), StringComparer.OrdinalIgnoreCase);
            var ids = byId.Keys.ToArray();
            for (int start = 0; start < ids.Length; start += 500)
            {
                var chunk = ids.Skip(start).Take(500).ToArray();
                using var cmd = c.Command("");
                cmd.CommandText = "SELECT operation_id, key, value FROM operation_checkpoints WHERE operation_id IN ("
                                  + string.Join(",", chunk.Select((_, i) => "@i" + i)) + ") ORDER BY operation_id, seq";
                for (int i = 0; i < chunk.Length; i++) cmd.Bind("@i" + i, chunk[i]);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                    if (byId.TryGetValue(r.GetString(0), out var o)) o.Checkpoints[r.GetString(1)] = r.IsDBNull(2) ? "" : r.GetString(2);
            }
        }
    }

    /// <summary>Identity of a lease-holding process: pid, machine, and a start-time token that tells a reused pid apart.</summary>
    internal sealed class LeaseHolder
    {
        private static LeaseHolder? _current;

        public int ProcessId { get; }
        public string Machine { get; }
        public string StartToken { get; }

        private LeaseHolder(int pid, string machine, string token) { ProcessId = pid; Machine = machine; StartToken = token; }

        public static LeaseHolder Current
        {
            get
            {
                if (_current != null) return _current;
                int pid;
                using (var p = Process.GetCurrentProcess()) pid = p.Id;
                _current = new LeaseHolder(pid, Environment.MachineName, GetStartToken(pid) ?? "unknown");
                return _current;
            }
        }

        /// <summary>
        /// "proc:&lt;start ticks since boot&gt;" on Linux (exact, from /proc/&lt;pid&gt;/stat), else "utc:&lt;start time ticks&gt;".
        /// Null when the process does not exist (or is a zombie).
        /// </summary>
        public static string? GetStartToken(int pid)
        {
            string stat = "/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat";
            if (Directory.Exists("/proc/self"))
            {
                try
                {
                    if (!File.Exists(stat)) return null;
                    string text = File.ReadAllText(stat);
                    int close = text.LastIndexOf(')');
                    if (close > 0)
                    {
                        var fields = text.Substring(close + 2).Split(' ');
                        // fields[0] = state (field 3), starttime is field 22
                        if (fields.Length > 19)
                        {
                            if (fields[0] == "Z" || fields[0] == "X") return null;
                            return "proc:" + fields[19];
                        }
                    }
                }
                catch (IOException) { return null; }
                catch (UnauthorizedAccessException) { /* fall through to Process */ }
            }
            try
            {
                using var p = Process.GetProcessById(pid);
                if (p.HasExited) return null;
                return "utc:" + p.StartTime.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture);
            }
            catch (ArgumentException) { return null; }           // no such process
            catch (InvalidOperationException) { return null; }   // exited meanwhile
            catch (System.ComponentModel.Win32Exception) { return "unknown"; } // exists, but its start time cannot be read
            catch (NotSupportedException) { return "unknown"; }
        }

        /// <summary>Whether the process holding a lease on this machine is still that process.</summary>
        public static bool IsAlive(int pid, string? recordedToken)
        {
            string? now = GetStartToken(pid);
            if (now == null) return false;
            if (string.IsNullOrEmpty(recordedToken) || recordedToken == "unknown" || now == "unknown") return true; // alive, identity unverifiable
            if (recordedToken!.StartsWith("utc:", StringComparison.Ordinal) && now.StartsWith("utc:", StringComparison.Ordinal))
            {
                // Start times derived from boot time can wobble by a few ms between processes.
                if (long.TryParse(recordedToken.Substring(4), NumberStyles.Integer, CultureInfo.InvariantCulture, out long a)
                    && long.TryParse(now.Substring(4), NumberStyles.Integer, CultureInfo.InvariantCulture, out long b))
                    return Math.Abs(a - b) < TimeSpan.TicksPerSecond;
            }
            return string.Equals(recordedToken, now, StringComparison.Ordinal);
        }
    }
}
