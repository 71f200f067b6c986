# Move-GridWorkload -DestinationDatacenter piping many workloads (issue 13): ONE parent progress bar (activity 1) with
# the overall bytes copied of the total (each disk is exported and imported: twice its size) and a child bar per
# workload (ParentActivityId 1) carrying that workload's bytes; nothing on the progress stream when non-interactive.
# Read from the progress stream of a runspace: GRIDAUTOMATION_PROGRESS=Always writes progress without a console.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name moveprogress
    # 4 GiB/s: a disk pass of a few GiB takes a second or two, so each move reports its bytes several times
    New-SimDatacenter -Name pg-a -Parameters @{ BandwidthMBps = 4096 } | Out-Null
    New-SimDatacenter -Name pg-b -Parameters @{ BandwidthMBps = 4096 } | Out-Null
    function Invoke-Progress([string] $Script) {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript((Get-GridImportScript) + "`n" + $Script)
            $null = $ps.Invoke()
            [pscustomobject]@{ Errors = @($ps.Streams.Error); Progress = @($ps.Streams.Progress) }
        }
        finally { $ps.Dispose() }
    }
}

AfterAll { Remove-GridTestDirectory $script:dir }

Describe 'Move-GridWorkload -DestinationDatacenter: overall byte progress' {
    It 'writes one parent bar with the bytes of all workloads and a child bar per workload' {
        New-GridWorkload -Datacenter pg-a -Name pg1, pg2, pg3 -Image debian-12 -NoStart -Confirm:$false | Out-Null
        $gib = ((Get-GridWorkload -Datacenter pg-a -Name pg*).Disks.SizeGB | Measure-Object -Sum).Sum
        $gib | Should -BeGreaterThan 0
        $env:GRIDAUTOMATION_PROGRESS = 'Always'
        try { $r = Invoke-Progress 'Get-GridWorkload -Datacenter pg-a -Name pg* | Move-GridWorkload -DestinationDatacenter pg-b -Force' }
        finally { Remove-Item Env:GRIDAUTOMATION_PROGRESS }
        $r.Errors | Should -BeNullOrEmpty
        @(Get-GridWorkload -Datacenter pg-b -Name pg*).Count | Should -Be 3
        # the parent: "<done> of <total> GiB copied, k of 3 done"; its total is twice the disks (export + import)
        $parent = @($r.Progress | Where-Object { $_.ActivityId -eq 1 -and $_.StatusDescription -match '([\d.]+) of ([\d.]+) GiB copied' })
        $parent.Count | Should -BeGreaterThan 3
        $pairs = foreach ($p in $parent) {
            $null = $p.StatusDescription -match '([\d.]+) of ([\d.]+) GiB copied'
            [pscustomobject]@{ Done = [double]$Matches[1]; Total = [double]$Matches[2]; Percent = $p.PercentComplete }
        }
        $pairs | ForEach-Object { $_.Total | Should -Be (2 * $gib) }
        # the bytes only grow, and end at the total
        for ($i = 1; $i -lt $pairs.Count; $i++) { $pairs[$i].Done | Should -BeGreaterOrEqual $pairs[$i - 1].Done }
        @($pairs | Where-Object { $_.Done -gt 0 -and $_.Done -lt $_.Total }).Count | Should -BeGreaterThan 0
        $pairs[-1].Done | Should -Be (2 * $gib)
        $pairs[-1].Percent | Should -Be 100
        # one child bar per workload under the parent, each with that workload's bytes
        $children = @($r.Progress | Where-Object ParentActivityId -eq 1)
        @($children.ActivityId | Sort-Object -Unique).Count | Should -Be 3
        foreach ($id in (Get-GridWorkload -Datacenter pg-a -Name pg*).Id) {
            @($children | Where-Object { $_.StatusDescription -like "$id*of*GiB)" }).Count | Should -BeGreaterThan 0
        }
    }

    It 'gives an -AsJob move an overall bar of its own: the job''s Progress carries the bytes of all workloads, rising to 100' {
        New-GridWorkload -Datacenter pg-a -Name pj1, pj2, pj3 -Image debian-12 -NoStart -Confirm:$false | Out-Null
        $gib = ((Get-GridWorkload -Datacenter pg-a -Name pj*).Disks.SizeGB | Measure-Object -Sum).Sum
        $job = Get-GridWorkload -Datacenter pg-a -Name pj* | Move-GridWorkload -DestinationDatacenter pg-b -AsJob -Force
        $null = $job | Wait-Job -Timeout 180
        $job.State | Should -Be 'Completed'
        @(Get-GridWorkload -Datacenter pg-b -Name pj*).Count | Should -Be 3
        # the parent job's own stream: "<done> of <total> GiB copied, k of 3 done", percent by bytes, never going back
        $parent = @($job.Progress | Where-Object { $_.ActivityId -eq 1 -and $_.StatusDescription -match '([\d.]+) of ([\d.]+) GiB copied' })
        $parent.Count | Should -BeGreaterThan 3
        $pairs = foreach ($p in $parent) {
            $null = $p.StatusDescription -match '([\d.]+) of ([\d.]+) GiB copied, (\d) of 3 done'
            [pscustomobject]@{ Done = [double]$Matches[1]; Total = [double]$Matches[2]; Finished = [int]$Matches[3]; Percent = $p.PercentComplete }
        }
        $pairs | ForEach-Object { $_.Total | Should -Be (2 * $gib) }
        for ($i = 1; $i -lt $pairs.Count; $i++) {
            $pairs[$i].Percent | Should -BeGreaterOrEqual $pairs[$i - 1].Percent
            $pairs[$i].Finished | Should -BeGreaterOrEqual $pairs[$i - 1].Finished
        }
        @($pairs | Where-Object { $_.Percent -gt 0 -and $_.Percent -lt 100 }).Count | Should -BeGreaterThan 0
        $pairs[-1].Percent | Should -Be 100
        $pairs[-1].Finished | Should -Be 3
        # each child job's bar sits under it (ParentActivityId 1) and carries that workload's bytes
        foreach ($c in $job.ChildJobs) {
            @($c.Progress | Where-Object { $_.ParentActivityId -eq 1 -and $_.StatusDescription -like '*of*GiB)' }).Count | Should -BeGreaterThan 0
        }
        $job | Remove-Job
    }

    It 'writes no progress when non-interactive' {
        New-GridWorkload -Datacenter pg-a -Name pq1, pq2 -Image debian-12 -NoStart -Confirm:$false | Out-Null
        $ci = $env:CI; $env:CI = '1'
        try { $r = Invoke-Progress 'Get-GridWorkload -Datacenter pg-a -Name pq* | Move-GridWorkload -DestinationDatacenter pg-b -Force' }
        finally { $env:CI = $ci }
        $r.Errors | Should -BeNullOrEmpty
        @(Get-GridWorkload -Datacenter pg-b -Name pq*).Count | Should -Be 2
        $r.Progress.Count | Should -Be 0
    }
}
