#!/usr/bin/env bash
# Benchmark (not a test): our vSphere listing vs govmomi's view.Manager + property.Collector on a simulated
# vCenter with 10,000 VMs (override: VMS=2000 RUNS=3 ./run.sh). Builds the simulator, the Go peer and the
# .NET console, then runs them; prints RESULT with the ratio ours/peer, round trips and time to first object.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bash "$root/tests/GridAutomation.Provider.VSphere.Tests/setup.sh"
dotnet build "$here/VSphereInventoryBench.csproj" -c Release -v q -nologo
dotnet "$here/bin/Release/net8.0/VSphereInventoryBench.dll" --vms "${VMS:-10000}" --runs "${RUNS:-5}" --root "$root"
