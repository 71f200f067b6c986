# Set-GridConfiguration: writes the per-user JSON file; validation; -Reset; the environment still wins.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name setconf
}

AfterAll {
    Remove-Item Env:GRIDAUTOMATION_RETRY_COUNT -ErrorAction SilentlyContinue
    Remove-GridTestDirectory $script:dir
}

Describe 'Set-GridConfiguration' {
    It 'writes the setting to the per-user file, where Get-GridConfiguration finds it' {
        Set-GridConfiguration -Name PageSize -Value 123 -Confirm:$false | Should -BeNullOrEmpty
        Test-Path $env:GRIDAUTOMATION_CONFIG | Should -BeTrue
        (Get-Content $env:GRIDAUTOMATION_CONFIG -Raw | ConvertFrom-Json).PageSize | Should -Be '123'
        $p = Get-GridConfiguration -Name PageSize
        $p.Value | Should -Be '123'
        $p.Source | Should -Be 'File'
    }
    It 'writes the result with -PassThru; takes Name/Value from the pipeline' {
        $r = [pscustomobject]@{ Name = 'RetryMaxDelaySeconds'; Value = '30' } | Set-GridConfiguration -PassThru -Confirm:$false
        $r.Name | Should -Be 'RetryMaxDelaySeconds'
        $r.Value | Should -Be '30'
    }
    It 'refuses an invalid value (InvalidConfiguration) and an unknown name (UnknownConfigurationKey), leaving the file as it was' {
        $before = Get-Content $env:GRIDAUTOMATION_CONFIG -Raw
        { Set-GridConfiguration -Name PageSize -Value -5 -Confirm:$false } | Should -Throw -ErrorId 'InvalidConfiguration,*'
        $ev = $null
        Set-GridConfiguration -Name NoSuchKey -Value 1 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'UnknownConfigurationKey,*'
        Get-Content $env:GRIDAUTOMATION_CONFIG -Raw | Should -Be $before
    }
    It 'removes a setting with -Reset' {
        Set-GridConfiguration -Name PageSize -Reset -Confirm:$false
        (Get-GridConfiguration -Name PageSize).Source | Should -Be 'Default'
    }
    It 'warns that an environment variable still wins' {
        $env:GRIDAUTOMATION_RETRY_COUNT = '2'
        $w = $null
        Set-GridConfiguration -Name RetryCount -Value 3 -Confirm:$false -WarningVariable w -WarningAction SilentlyContinue
        "$w" | Should -Match 'GRIDAUTOMATION_RETRY_COUNT'
        (Get-GridConfiguration -Name RetryCount).Value | Should -Be '2'
        Remove-Item Env:GRIDAUTOMATION_RETRY_COUNT
        (Get-GridConfiguration -Name RetryCount).Value | Should -Be '3'
    }
    It 'does nothing under -WhatIf' {
        $before = Get-Content $env:GRIDAUTOMATION_CONFIG -Raw
        Set-GridConfiguration -Name PageSize -Value 77 -WhatIf
        Get-Content $env:GRIDAUTOMATION_CONFIG -Raw | Should -Be $before
    }
}
