using System;
using System.Collections.Generic;
using System.Linq;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Grid
{
    /// <summary>
    /// Agreements and pools of one state store: validated here, journaled, kept in the "grid" component's tables.
    /// <see cref="FindInForce"/> is the look-up other services (the usage ledger) use for prices.
    /// </summary>
    public sealed partial class GridService
    {
        private readonly GridEngine _engine;
        private bool _schemaReady;
        private bool _schemaAbsent;

        internal GridService(GridEngine engine) { _engine = engine; }

        private IStateStore Store => _engine.Store;

        /// <summary>Creates the grid tables on first use; a read-only store (-WhatIf) without them reads as empty.</summary>
        private bool Ready()
        {
            if (_schemaReady) return true;
            try { GridData.EnsureSchema(Store); _schemaReady = true; _schemaAbsent = false; }
            catch (GridException g) when (g.ErrorId == "StateStoreReadOnly" || g.ErrorId == "StateStoreNotWritable") { _schemaAbsent = true; }
            return !_schemaAbsent;
        }

        private void EnsureWritable()
        {
            _engine.EnsureWritable();
            Ready();
        }

        // ---- agreements --------------------------------------------------------------------------------------

        /// <summary>Every agreement, optionally filtered by owner, consumer and datacenter pattern (wildcards) and id.</summary>
        public IReadOnlyList<GridAgreement> GetAgreements(IReadOnlyList<string>? owners = null, IReadOnlyList<string>? consumers = null, IReadOnlyList<string>? ids = null)
        {
            var o = Wildcard.CompileAll(owners);
            var c = Wildcard.CompileAll(consumers);
            if (!Ready()) return Array.Empty<GridAgreement>();
            var all = Store.Read(GridData.ListAgreements);
            return all.Where(a => Wildcard.MatchesAny(a.Owner, o) && Wildcard.MatchesAny(a.Consumer, c)
                && (ids == null || ids.Count == 0 || ids.Any(i => string.Equals(i, a.Id, StringComparison.OrdinalIgnoreCase)))).ToList();
        }

        /// <summary>One agreement by id, or NotFound "AgreementNotFound".</summary>
        public GridAgreement GetAgreement(string id)
            => GetAgreements(ids: new[] { id }).FirstOrDefault()
               ?? throw GridException.NotFound($"No agreement with id '{id}'. List them with Get-GridAgreement.", "AgreementNotFound", id);

        /// <summary>Validates and stores a new agreement (journaled as NewAgreement).</summary>
        public GridAgreement NewAgreement(GridAgreement a)
        {
            Validate(a);
            EnsureWritable();
            a.Id = Guid.NewGuid().ToString("N").Substring(0, 12);
            a.Created = DateTimeOffset.UtcNow;
            Journaled("NewAgreement", a.Id, a, () => Store.Write(s => { GridData.SaveAgreement(s, a, insert: true); return 0; }));
            return a;
        }

        /// <summary>Stores the changed agreement (same id), validated as a new one.</summary>
        public GridAgreement SetAgreement(GridAgreement a)
        {
            Validate(a);
            EnsureWritable();
            GetAgreement(a.Id);
            Journaled("SetAgreement", a.Id, a, () => Store.Write(s => { GridData.SaveAgreement(s, a, insert: false); return 0; }));
            return a;
        }

        public void RemoveAgreement(string id)
        {
            EnsureWritable();
            var a = GetAgreement(id);
            Journaled("RemoveAgreement", a.Id, a, () => Store.Write(s => GridData.DeleteAgreement(s, a.Id)));
        }

        private static void Validate(GridAgreement a)
        {
            if (string.IsNullOrWhiteSpace(a.Owner)) throw GridException.InvalidRequest("-Owner (the company that lends its datacenters) is empty.", "InvalidAgreement", a.Id);
            if (string.IsNullOrWhiteSpace(a.Consumer)) throw GridException.InvalidRequest("-Consumer (the company that uses the capacity) is empty.", "InvalidAgreement", a.Id);
            if (NameRules.WhyInvalidName(a.Owner, datacenter: true) is string wo) throw GridException.InvalidRequest($"-Owner: {wo}", "InvalidAgreement", a.Owner);
            if (NameRules.WhyInvalidName(a.Consumer, datacenter: true) is string wc) throw GridException.InvalidRequest($"-Consumer: {wc}", "InvalidAgreement", a.Consumer);
            if (string.Equals(a.Owner, a.Consumer, StringComparison.OrdinalIgnoreCase))
                throw GridException.InvalidRequest($"'{a.Owner}' is both owner and consumer: a company needs no agreement to use its own datacenters.", "InvalidAgreement", a.Owner);
            if (string.IsNullOrWhiteSpace(a.Datacenter)) throw GridException.InvalidRequest("-Datacenter is empty: name the datacenters (wildcards allowed) the agreement covers.", "InvalidAgreement", a.Id);
            Wildcard.Compile(a.Datacenter);
            if (a.MaxCpu < 0 || a.MaxWorkloads < 0 || a.MaxMemoryGB < 0) throw GridException.InvalidRequest("A quota (-MaxCpu, -MaxMemoryGB, -MaxWorkloads) cannot be negative.", "InvalidAgreement", a.Id);
            if (a.PricePerCpuHour < 0 || a.PricePerGBHour < 0) throw GridException.InvalidRequest("A price cannot be negative.", "InvalidAgreement", a.Id);
            if (a.Start.HasValue && a.End.HasValue && a.End <= a.Start) throw GridException.InvalidRequest($"-End ({a.End:u}) is not after -Start ({a.Start:u}).", "InvalidAgreement", a.Id);
        }

        private void Journaled(string kind, string target, object request, Action act)
        {
            var op = _engine.Journal.Begin(kind, "grid", "agreement:" + target, null, JsonUtil.Serialize(request), null, target);
            try { act(); _engine.Journal.Complete(op.Id, null); }
            catch (Exception ex)
            {
                var g = GridEngine.Normalize(ex, target);
                _engine.Journal.Fail(op.Id, g.ErrorId, g.Message);
                throw g;
            }
        }

        /// <summary>
        /// The agreement in force at <paramref name="at"/> under which <paramref name="consumer"/> uses
        /// <paramref name="owner"/>'s datacenter <paramref name="datacenter"/>, or null. When several match, a literal
        /// datacenter name wins over a wildcard, then the most recently created. Its PricePerCpuHour / PricePerGBHour
        /// (and <see cref="GridAgreement.PricePerHour"/>) are the prices in force.
        /// </summary>
        public GridAgreement? FindInForce(string owner, string consumer, string datacenter, DateTimeOffset at)
            => Choose(GetAgreements(), owner, consumer, datacenter, at);

        internal static GridAgreement? Choose(IEnumerable<GridAgreement> all, string? owner, string? consumer, string datacenter, DateTimeOffset at)
        {
            if (string.IsNullOrEmpty(owner) || string.IsNullOrEmpty(consumer)) return null;
            return all.Where(a => string.Equals(a.Owner, owner, StringComparison.OrdinalIgnoreCase)
                                  && string.Equals(a.Consumer, consumer, StringComparison.OrdinalIgnoreCase)
                                  && a.InForceAt(at) && Wildcard.IsMatch(datacenter, a.Datacenter))
                .OrderBy(a => Wildcard.HasWildcards(a.Datacenter) ? 1 : 0).ThenByDescending(a => a.Created).FirstOrDefault();
        }

        // ---- pools -------------------------------------------------------------------------------------------

        public IReadOnlyList<GridPool> GetPools(IReadOnlyList<string>? names = null)
        {
            var n = Wildcard.CompileAll(names);
            if (!Ready()) return Array.Empty<GridPool>();
            return Store.Read(GridData.ListPools).Where(p => Wildcard.MatchesAny(p.Name, n)).ToList();
        }

        public GridPool GetPool(string name)
            => GetPools().FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
               ?? throw GridException.NotFound($"No pool named '{name}'." + (GetPools().Count > 0 ? " Pools: " + string.Join(", ", GetPools().Select(p => p.Name)) + "." : " Create one with New-GridPool."), "PoolNotFound", name);

        public GridPool NewPool(string name, IReadOnlyList<string> members, PlacementPolicy policy)
        {
            NameRules.ValidateDatacenterName(name);
            ValidateMembers(members);
            EnsureWritable();
            if (GetPools().Any(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)))
                throw GridException.Conflict($"A pool named '{name}' exists. Change it with Set-GridPool.", "PoolExists", name);
            var pool = new GridPool { Name = name, Datacenter = members.ToList(), Policy = policy, Created = DateTimeOffset.UtcNow };
            Journaled("NewPool", name, pool, () => Store.Write(s => { GridData.SavePool(s, pool, insert: true); return 0; }));
            return pool;
        }

        public GridPool SetPool(string name, IReadOnlyList<string>? members, PlacementPolicy? policy)
        {
            if (members != null) ValidateMembers(members);
            EnsureWritable();
            var pool = GetPool(name);
            if (members != null) pool.Datacenter = members.ToList();
            if (policy.HasValue) pool.Policy = policy.Value;
            Journaled("SetPool", pool.Name, pool, () => Store.Write(s => { GridData.SavePool(s, pool, insert: false); return 0; }));
            return pool;
        }

        public void RemovePool(string name)
        {
            EnsureWritable();
            var pool = GetPool(name);
            Journaled("RemovePool", pool.Name, pool, () => Store.Write(s => GridData.DeletePool(s, pool.Name)));
        }

        private static void ValidateMembers(IReadOnlyList<string> members)
        {
            if (members == null || members.Count == 0 || members.Any(string.IsNullOrWhiteSpace))
                throw GridException.InvalidRequest("-Datacenter: name at least one datacenter (wildcards allowed), none empty.", "InvalidPool");
            Wildcard.Validate(members);
        }

        /// <summary>The registered datacenters a pool names now (its wildcards resolved at this moment).</summary>
        public IReadOnlyList<GridDatacenter> ResolvePool(GridPool pool)
        {
            var all = _engine.GetDatacenters(null);
            return all.Where(d => pool.Datacenter.Any(p => Wildcard.IsMatch(d.Name, p))).ToList();
        }
    }
}
