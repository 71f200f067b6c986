using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace GridAutomation.Provider.Xen.Tests.Server
{
    /// <summary>The event system (event.from / event.inject) and Async.* tasks of the fake XAPI.</summary>
    public sealed partial class FakeXapi
    {
        private readonly List<Dictionary<string, object?>> _events = new List<Dictionary<string, object?>>();
        private long _eventId;
        private TaskCompletionSource<bool> _eventSignal = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _disposed;

        /// <summary>Records an event (caller holds the lock). Class names travel in lower case, as XAPI sends them.</summary>
        private long AddEvent(string cls, string reference, string operation)
        {
            long id = ++_eventId;
            Dictionary<string, object?>? snapshot = null;
            if (operation != "del" && Table(cls).TryGetValue(reference, out var row)) snapshot = (Dictionary<string, object?>)Copy(row)!;
            var ev = new Dictionary<string, object?>
            {
                ["id"] = id,
                ["timestamp"] = DateTime.UtcNow.ToString("yyyyMMdd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
                ["class"] = cls.ToLowerInvariant(),
                ["operation"] = operation,
                ["ref"] = reference,
                ["obj_uuid"] = snapshot != null && snapshot.TryGetValue("uuid", out var u) ? u : "",
            };
            if (snapshot != null) ev["snapshot"] = snapshot;
            _events.Add(ev);
            if (_events.Count > 20000) _events.RemoveRange(0, 10000);
            var signal = _eventSignal;
            _eventSignal = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            signal.TrySetResult(true);
            return id;
        }

        internal void Added(string cls, string reference) => AddEvent(cls, reference, "add");
        internal void Changed(string cls, string reference) => AddEvent(cls, reference, "mod");
        internal void Deleted(string cls, string reference) => AddEvent(cls, reference, "del");

        private string Inject(string cls, string reference)
        {
            Row(cls, reference);
            return AddEvent(_model.CanonicalClass(cls) ?? cls, reference, "mod").ToString(CultureInfo.InvariantCulture);
        }

        /// <summary>event.from(session, classes, token, timeout): the events after the token, waiting up to timeout seconds for one.</summary>
        private async Task<object?> EventFromAsync(List<object?> args)
        {
            List<string> classes; long since; double timeout;
            lock (_lock)
            {
                CheckSession(args);
                classes = ((args.Count > 1 ? args[1] as List<object?> : null) ?? new List<object?>()).Select(c => (Convert.ToString(c) ?? "").ToLowerInvariant()).ToList();
                string token = args.Count > 2 ? Convert.ToString(args[2], CultureInfo.InvariantCulture) ?? "" : "";
                since = long.TryParse(token, out var t) ? t : 0;
                timeout = args.Count > 3 ? Convert.ToDouble(args[3], CultureInfo.InvariantCulture) : 30;
            }
            bool all = classes.Contains("*");
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(Math.Min(timeout, 60));
            while (true)
            {
                Task signal;
                lock (_lock)
                {
                    if (_disposed) throw new XapiError("INTERNAL_ERROR", "server stopping");
                    var found = _events.Where(e => (long)e["id"]! > since && (all || classes.Contains((string)e["class"]!))).ToList();
                    if (found.Count > 0 || DateTime.UtcNow >= deadline)
                    {
                        var counts = new Dictionary<string, object?>();
                        foreach (var c in all ? Db.Keys.Select(k => k.ToLowerInvariant()) : classes)
                        {
                            var canon = _model.CanonicalClass(c);
                            if (canon != null && Db.TryGetValue(canon, out var t)) counts[c] = (long)t.Count;
                        }
                        return new Dictionary<string, object?>
                        {
                            ["events"] = Copy(found.Cast<object?>().ToList()),
                            ["valid_ref_counts"] = counts,
                            ["token"] = _eventId.ToString(CultureInfo.InvariantCulture),
                        };
                    }
                    signal = _eventSignal.Task;
                }
                var left = deadline - DateTime.UtcNow;
                if (left > TimeSpan.Zero) await Task.WhenAny(signal, Task.Delay(left));
            }
        }

        /// <summary>Async.&lt;method&gt;: a pending task at once, the call run after <see cref="TaskLatency"/>, the task updated with its result.</summary>
        private string StartTask(string method, List<object?> a)
        {
            int dot = method.IndexOf('.');
            if (dot <= 0 || _model.CanonicalClass(method.Substring(0, dot)) == null) throw new XapiError("MESSAGE_METHOD_UNKNOWN", "Async." + method);
            string task = NewRef();
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var f in _model.Classes["task"].Fields) row[f.Key] = Datamodel.Default(f.Value);
            row["uuid"] = Guid.NewGuid().ToString();
            row["name_label"] = "Async." + method;
            row["status"] = "pending";
            row["progress"] = 0.0;
            row["created"] = DateTime.UtcNow.ToString("yyyyMMdd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            Table("task")[task] = row;
            Added("task", task);
            _ = Task.Run(async () =>
            {
                await Task.Delay(TaskLatency);
                lock (_lock)
                {
                    if (!Table("task").TryGetValue(task, out var t)) return;
                    t["progress"] = 0.5;
                    Changed("task", task);
                }
                await Task.Delay(TaskLatency);
                lock (_lock)
                {
                    if (!Table("task").TryGetValue(task, out var t)) return;
                    if ((string?)t["status"] == "cancelling")
                    {
                        t["status"] = "cancelled";
                        t["error_info"] = new List<object?> { "TASK_CANCELLED", task };
                    }
                    else
                    {
                        try
                        {
                            string cls = _model.CanonicalClass(method.Substring(0, dot))!, name = method.Substring(dot + 1);
                            var special = Special(cls, name, a);
                            object? result = special.Handled ? special.Result : Generic(cls, name, a);
                            t["status"] = "success";
                            t["result"] = result is string r && r.Length > 0 ? "<value>" + System.Security.SecurityElement.Escape(r) + "</value>" : "";
                        }
                        catch (XapiError e)
                        {
                            t["status"] = "failure";
                            t["error_info"] = e.Description.Cast<object?>().ToList();
                        }
                    }
                    t["progress"] = 1.0;
                    t["finished"] = DateTime.UtcNow.ToString("yyyyMMdd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                    Changed("task", task);
                }
            });
            return task;
        }
    }
}
