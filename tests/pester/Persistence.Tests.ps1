# What one pwsh process does is there for the next: registrations, workloads (with their states and tags) and the
# journal live in the state file, not in the process.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name persist
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Persistence across two pwsh processes' {
    It 'the first process registers, creates, stops and tags' {
        $r = Invoke-ChildPwsh -Script @'
Connect-GridDatacenter -Provider Simulator -Name per-1 -Owner Contoso -Site Amsterdam -Hosts 2 | Out-Null
Connect-GridDatacenter -Provider Simulator -Name per-2 -Owner Fabrikam -Site Dublin | Out-Null
$size = (Get-GridSize -Datacenter per-1 | Select-Object -First 1).Name
New-GridWorkload -Name app01, app02, app03 -Datacenter per-1 -Size $size -Tag @{ tier = 'app' } | Out-Null
New-GridWorkload -Name db01 -Datacenter per-2 -Cpu 2 -MemoryGB 4 | Out-Null
Stop-GridWorkload -Name app02 -Confirm:$false
Set-GridWorkload -Name app03 -Tag @{ tier = 'web'; team = 'blue' } -Confirm:$false
Get-GridWorkload | Sort-Object Id | ForEach-Object { $w = $_; 'W|' + $w.Id + '|' + $w.Name + '|' + $w.State + '|' + (($w.Tags.Keys | Sort-Object | ForEach-Object { "$_=$($w.Tags[$_])" }) -join ',') }
'DONE'
'@
        $r.Error | Should -BeNullOrEmpty
        $r.ExitCode | Should -Be 0
        $script:first = @($r.Output -split "`r?`n" | Where-Object { $_ -like 'W|*' })
        $script:first.Count | Should -Be 4
    }

    It 'the second process sees the same datacenters, workloads, states and tags, and the journal' {
        $r = Invoke-ChildPwsh -Script @'
Get-GridDatacenter | Sort-Object Name | ForEach-Object { 'D|' + $_.Name + '|' + $_.Provider + '|' + $_.Owner + '|' + $_.Site }
Get-GridWorkload | Sort-Object Id | ForEach-Object { $w = $_; 'W|' + $w.Id + '|' + $w.Name + '|' + $w.State + '|' + (($w.Tags.Keys | Sort-Object | ForEach-Object { "$_=$($w.Tags[$_])" }) -join ',') }
Get-GridOperation | ForEach-Object { 'O|' + $_.Kind + '|' + $_.State }
'DONE'
'@
        $r.Error | Should -BeNullOrEmpty
        $lines = $r.Output -split "`r?`n"
        @($lines | Where-Object { $_ -like 'D|*' }) | Should -Be @('D|per-1|Simulator|Contoso|Amsterdam', 'D|per-2|Simulator|Fabrikam|Dublin')
        $second = @($lines | Where-Object { $_ -like 'W|*' })
        $second | Should -Be $script:first
        ($second | Where-Object { $_ -like '*|app02|*' }) | Should -Match '\|Stopped\|'
        ($second | Where-Object { $_ -like '*|app03|*' }) | Should -Match 'team=blue,tier=web'
        $ops = @($lines | Where-Object { $_ -like 'O|*' })
        @($ops | Where-Object { $_ -eq 'O|Create|Succeeded' }).Count | Should -Be 4
        @($ops | Where-Object { $_ -eq 'O|Stop|Succeeded' }).Count | Should -Be 1
        @($ops | Where-Object { $_ -eq 'O|Register|Succeeded' }).Count | Should -Be 2
    }

    It 'and this process too, through the same state file' {
        (Get-GridWorkload -Datacenter per-1).Count | Should -Be 3
        (Get-GridWorkload -Name app02).State | Should -Be 'Stopped'
    }
}
