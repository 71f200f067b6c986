using System;
using System.Collections.Generic;
using System.IO;

namespace GridAutomation.Providers.Aws.Tests.Infrastructure
{
    /// <summary>
    /// Answers the SDK with real EC2 responses from shared/fixtures, routed on the Action form field (optionally
    /// with a predicate on the request). Error fixtures are served with HTTP 400, as EC2 does. An action without a
    /// route answers 400 InvalidAction, so a test sees any call it did not plan for.
    /// </summary>
    public sealed class ReplayEc2 : IDisposable
    {
        private readonly List<(string Action, Func<Ec2Request, bool>? When, string File, int Status)> _routes = new List<(string, Func<Ec2Request, bool>?, string, int)>();
        public LoopbackEc2Server Server { get; }
        public string Url => Server.Url;

        public ReplayEc2() { Server = new LoopbackEc2Server(Handle); }

        public ReplayEc2 Route(string action, string fixture, int status = 200, Func<Ec2Request, bool>? when = null)
        {
            lock (_routes) _routes.Insert(0, (action, when, TestEnvironment.Fixture(fixture), status));
            return this;
        }

        private Ec2Response Handle(Ec2Request r)
        {
            lock (_routes)
                foreach (var (action, when, file, status) in _routes)
                    if (action == r.Action && (when == null || when(r)))
                        return new Ec2Response { Status = status, Body = File.ReadAllText(file) };
            return Ec2Response.Error(400, "InvalidAction", "No replay route for " + r.Action);
        }

        public void Dispose() => Server.Dispose();
    }
}
