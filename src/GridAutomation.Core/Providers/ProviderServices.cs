using System;
using GridAutomation.Core.State;

namespace GridAutomation.Core.Providers
{
    /// <summary>Shared services handed to providers.</summary>
    public sealed class ProviderServices
    {
        public ProviderServices(IStateStore store, IRetryPolicy retry, Action<string>? verbose = null, Action<string>? warning = null)
        {
            Store = store; Retry = retry; Verbose = verbose ?? (_ => { }); Warning = warning ?? (_ => { });
        }
        /// <summary>Warnings for the user (become Write-Warning). Never pass a secret.</summary>
        public Action<string> Warning { get; }
        /// <summary>The state store (store-backed providers such as the simulator keep their data here).</summary>
        public IStateStore Store { get; }
        /// <summary>The one retry/throttle policy. Providers whose SDK retries itself do not wrap calls in it.</summary>
        public IRetryPolicy Retry { get; }
        /// <summary>Diagnostic messages (become Write-Verbose on the pipeline thread). Never pass a secret.</summary>
        public Action<string> Verbose { get; }
    }
}
