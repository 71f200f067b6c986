<#
.SYNOPSIS
    The core's linear wildcard matcher against PowerShell's own WildcardPattern, over the same names in the same run.
    Prints figures (ratio core / PowerShell; below 1.0 = the core is faster); not a test.

.DESCRIPTION
    For each pattern: 100,000 ordinary names (vm-000001 ...), and one adversarial case (the pattern against one
    10,000-character name, repeated). Each is compiled once and timed 5 times after a warm-up; medians compared.
#>
param([int] $Count = 100000, [int] $Runs = 5)
$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
Import-Module (Join-Path $root 'GridAutomation.psd1')

function Get-Median([double[]] $Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor($s.Count / 2)] }

$names = [string[]]::new($Count)
for ($i = 0; $i -lt $Count; $i++) { $names[$i] = 'vm-{0:D6}' -f ($i + 1) }
$long = [string[]]@(('a' * 10000)) * 200

$cases = @(
    @{ Label = "web* over $Count names"; Pattern = 'web*'; Texts = $names }
    @{ Label = "*-00[0-9]?5 over $Count names"; Pattern = '*-00[0-9]?5'; Texts = $names }
    @{ Label = "*a*a*a*a*[b] x200 on 10,000 chars"; Pattern = '*a*a*a*a*[b]'; Texts = $long }
)
$code = @'
using System;
public static class WildcardBench {
    public static int Core(object compiled, string[] texts) {
        var m = compiled.GetType().GetMethod("IsMatch", new[] { typeof(string) });
        var f = (Func<string, bool>)Delegate.CreateDelegate(typeof(Func<string, bool>), compiled, m);
        int n = 0; foreach (var t in texts) if (f(t)) n++; return n;
    }
    public static int Ps(System.Management.Automation.WildcardPattern p, string[] texts) {
        int n = 0; foreach (var t in texts) if (p.IsMatch(t)) n++; return n;
    }
}
'@
Add-Type -TypeDefinition $code -ReferencedAssemblies ([System.Management.Automation.WildcardPattern].Assembly.Location)

foreach ($c in $cases) {
    $core = [GridAutomation.Core.Engine.Wildcard]::Compile($c.Pattern)
    $ps = [System.Management.Automation.WildcardPattern]::new($c.Pattern, 'IgnoreCase')
    $null = [WildcardBench]::Core($core, $c.Texts); $null = [WildcardBench]::Ps($ps, $c.Texts)
    $a = @(); $b = @()
    for ($i = 0; $i -lt $Runs; $i++) {
        $a += (Measure-Command { $script:n1 = [WildcardBench]::Core($core, $c.Texts) }).TotalMilliseconds
        $b += (Measure-Command { $script:n2 = [WildcardBench]::Ps($ps, $c.Texts) }).TotalMilliseconds
    }
    if ($script:n1 -ne $script:n2) { Write-Warning "$($c.Label): the core matched $script:n1, PowerShell $script:n2." }
    $ma = Get-Median $a; $mb = Get-Median $b
    "{0,-40} core {1,9:n2} ms   PowerShell {2,9:n2} ms   ratio {3:n2}" -f $c.Label, $ma, $mb, ($ma / [math]::Max($mb, 0.001))
}
