# Get-GridConfiguration: every key, its value and where it came from.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:dir = Initialize-GridTest -Name getconf
}

AfterAll {
    Remove-Item Env:GRIDAUTOMATION_PAGE_SIZE -ErrorAction SilentlyContinue
    Remove-GridTestDirectory $script:dir
}

Describe 'Get-GridConfiguration' {
    It 'shows every key of the configuration with its source' {
        $c = @(Get-GridConfiguration)
        $c.Name | Should -Be @([GridAutomation.Core.Engine.GridConfiguration]::Keys.Name)
        ($c | Where-Object Name -eq 'StatePath').Value | Should -Be $env:GRIDAUTOMATION_STATE
        ($c | Where-Object Name -eq 'StatePath').Source | Should -Be 'Environment'
        ($c | Where-Object Name -eq 'RetryCount').Source | Should -Be 'Default'
        ($c | Where-Object Name -eq 'RetryCount').EnvironmentVariable | Should -Be 'GRIDAUTOMATION_RETRY_COUNT'
        $c[0].ConfigFilePath | Should -Be $env:GRIDAUTOMATION_CONFIG
    }
    It 'an environment variable wins over the default' {
        $env:GRIDAUTOMATION_PAGE_SIZE = '250'
        $p = Get-GridConfiguration -Name PageSize
        $p.Value | Should -Be '250'
        $p.Source | Should -Be 'Environment'
        Remove-Item Env:GRIDAUTOMATION_PAGE_SIZE
    }
    It 'filters by name with wildcards; UnknownConfigurationKey for an unknown name' {
        (Get-GridConfiguration -Name Retry*).Name | Should -Be @('RetryCount', 'RetryMaxDelaySeconds')
        $ev = $null
        Get-GridConfiguration -Name NoSuchKey -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'UnknownConfigurationKey,*'
    }
    It 'an invalid value in the environment is a terminating InvalidConfiguration error' {
        $env:GRIDAUTOMATION_PAGE_SIZE = 'lots'
        try { { Get-GridConfiguration } | Should -Throw -ErrorId 'InvalidConfiguration,*' }
        finally { Remove-Item Env:GRIDAUTOMATION_PAGE_SIZE }
    }
}
