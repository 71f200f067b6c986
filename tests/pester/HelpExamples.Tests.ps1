# Every help example (docs/cmdlets/*.md, the source of Get-Help -Examples) runs on the simulator, in order, in one
# non-interactive child session with a sandbox grid. An example that needs another provider says so in a paragraph
# starting "Not run on the simulator:" with the reason; those are only parsed.

BeforeDiscovery {
    $docs = Join-Path $PSScriptRoot '../../docs/cmdlets'
    $script:examples = foreach ($file in Get-ChildItem $docs -Filter '*-Grid*.md' | Sort-Object Name) {
        $text = Get-Content $file.FullName -Raw
        $parts = [regex]::Split($text, '(?m)^### Example ')
        foreach ($part in $parts | Select-Object -Skip 1) {
            $part = ($part -split '(?m)^## ')[0]
            $title = ($part -split "`n")[0].Trim()
            $code = ([regex]::Matches($part, '(?s)```powershell\r?\n(.*?)```') | ForEach-Object { $_.Groups[1].Value.Trim() }) -join "`n"
            $skip = [regex]::Match($part, '(?m)^Not run on the simulator: (.+)$')
            @{ Cmdlet = $file.BaseName; Title = $title; Code = $code; Skip = $skip.Success; Reason = $skip.Groups[1].Value }
        }
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name examples
    $docs = Join-Path $PSScriptRoot '../../docs/cmdlets'
    $list = foreach ($file in Get-ChildItem $docs -Filter '*-Grid*.md' | Sort-Object Name) {
        $text = Get-Content $file.FullName -Raw
        foreach ($part in [regex]::Split($text, '(?m)^### Example ') | Select-Object -Skip 1) {
            $part = ($part -split '(?m)^## ')[0]
            if ($part -match '(?m)^Not run on the simulator: ') { continue }
            $title = ($part -split "`n")[0].Trim()
            $code = ([regex]::Matches($part, '(?s)```powershell\r?\n(.*?)```') | ForEach-Object { $_.Groups[1].Value.Trim() }) -join "`n"
            [pscustomobject]@{ Key = "$($file.BaseName) | $title"; Code = $code }
        }
    }
    $json = ConvertTo-Json @($list) -Depth 3 -Compress
    $jsonFile = Join-Path $script:dir 'examples.json'
    Set-Content -Path $jsonFile -Value $json -Encoding utf8
    # The sandbox: what the examples name (ams-1 with four hosts, web01, db01, scratch01, build01, test-01, old-lab,
    # tagged workloads, a workloads.csv and a settings.csv), re-created before each example when an earlier one removed it.
    $script:run = Invoke-ChildPwsh -TimeoutSeconds 900 -Script @"
`$ErrorActionPreference = 'Stop'
`$ConfirmPreference = 'None'
Set-Location '$($script:dir)'
'Name,Datacenter,Size,Image' , 'csv01,ams-1,sim.small,ubuntu-22.04' | Set-Content ./workloads.csv
'Name,Value', 'RetryCount,3' | Set-Content ./settings.csv
`$null = Connect-GridDatacenter -Provider Simulator -Name ams-1 -Owner Contoso -Site Amsterdam -Hosts 4
function Ensure([string] `$Name, [hashtable] `$More = @{}) {
    if (-not (Get-GridWorkload -Datacenter ams-1 -Name `$Name -ErrorAction SilentlyContinue)) { `$null = New-GridWorkload -Name `$Name -Datacenter ams-1 -Size sim.small @More }
}
function Reset-Sandbox {
    if (-not (Get-GridDatacenter -Name old-lab -ErrorAction SilentlyContinue)) { `$null = Connect-GridDatacenter -Provider Simulator -Name old-lab }
    if (-not (Get-GridDatacenter -Name ams-1 -ErrorAction SilentlyContinue)) { `$null = Connect-GridDatacenter -Provider Simulator -Name ams-1 -Owner Contoso -Site Amsterdam }
    Ensure web01 @{ TargetHost = 'host-01' }; Ensure web02; Ensure db01; Ensure scratch01; Ensure build01; Ensure test-01
    Ensure ci-01 @{ Tag = @{ CostCenter = 'R&D'; project = 'demo' } }; Ensure run-42 @{ Tag = @{ run = '42' } }
    Get-GridWorkload -Datacenter ams-1 -Name web01 | Where-Object Host -ne 'host-01' | Move-GridWorkload -DestinationHost host-01
    Get-GridWorkload -Datacenter ams-1 -Name test-01, build01 -State Stopped, Suspended, Paused | Start-GridWorkload
}
foreach (`$e in (Get-Content '$jsonFile' -Raw | ConvertFrom-Json)) {
    try {
        Reset-Sandbox
        `$out = Invoke-Expression `$e.Code *>&1 | Out-String
        Get-Job | Wait-Job -Timeout 60 | Out-Null
        `$failed = @(Get-Job | Where-Object State -eq 'Failed')
        Get-Job | Remove-Job -Force
        if (`$failed) { throw "a job failed: `$(`$failed[0].ChildJobs[0].JobStateInfo.Reason)" }
        "RESULT|`$(`$e.Key)|OK"
    }
    catch { "RESULT|`$(`$e.Key)|FAIL: `$(`$_.FullyQualifiedErrorId): `$(`$_.Exception.Message -replace '\s+', ' ')" }
}
"@
    $script:results = @{}
    foreach ($line in $script:run.Output -split "`n") {
        if ($line -match '^RESULT\|(.+?)\|(OK|FAIL: .*)$') { $script:results[$Matches[1]] = $Matches[2].Trim() }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Help examples' {
    It '<Cmdlet>: <Title>' -ForEach $script:examples {
        $Code | Should -Not -BeNullOrEmpty
        $errors = $null
        $null = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref] $null, [ref] $errors)
        $errors | Should -BeNullOrEmpty
        if ($Skip) {
            $Reason | Should -Match '\w' -Because 'an example not run on the simulator says why'
            return
        }
        $key = "$Cmdlet | $Title"
        $script:results.ContainsKey($key) | Should -BeTrue -Because "the child ran every example ($($script:run.Error))"
        $script:results[$key] | Should -Be 'OK'
    }
}
