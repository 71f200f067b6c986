# Class-based DSC resources of GridAutomation: thin classes over the module's cmdlets (docs/dsc.md).
#
# Every property but the keys may be left unset, and an unset property means "don't care": Test compares only the
# properties that were given (PSDSC 2.x enforces every value property it is given, so "unset" must stay $null:
# numbers are [Nullable[...]], strings $null). Test says what differs in verbose output; Set makes the smallest change
# through the cmdlets, so every change is journaled like any other (Get-GridOperation). Get returns the current state
# with the same properties.
#
# The cmdlets are called module-qualified (GridAutomation\...): Invoke-DscResource loads this file on its own
# ("using module"), and the module qualifier imports GridAutomation from PSModulePath when it is not loaded yet.

enum Ensure {
    Absent
    Present
}

# Shared helpers (not resources). Kept small; each resource's logic stays in its class.
class GridDscHelper {
    static [void] Fail([string] $message, [string] $errorId, [System.Management.Automation.ErrorCategory] $category, [object] $target) {
        $ex = [System.ArgumentException]::new($message)
        throw [System.Management.Automation.ErrorRecord]::new($ex, $errorId, $category, $target)
    }

    # Splatting table of the common "no prompt" switches: DSC never runs interactively.
    static [hashtable] NoPrompt() {
        return @{ Confirm = $false; ErrorAction = 'Stop' }
    }

    static [string] AsText([object] $value) {
        if ($null -eq $value) { return $null }
        if ($value -is [System.Array]) { return (@($value | ForEach-Object { [string]$_ }) -join "`n") }
        if ($value -is [bool]) { return $value.ToString().ToLowerInvariant() }
        return [System.Convert]::ToString($value, [System.Globalization.CultureInfo]::InvariantCulture)
    }

    # The workload named exactly $name (in $datacenter when given), or $null; a name in several datacenters is an error.
    static [object] FindWorkload([string] $resource, [string] $name, [string] $datacenter, [object] $target) {
        $get = @{ Name = [System.Management.Automation.WildcardPattern]::Escape($name); ErrorAction = 'SilentlyContinue' }
        if ($datacenter) { $get.Datacenter = $datacenter }
        $found = @(GridAutomation\Get-GridWorkload @get | Where-Object { $_.Name -eq $name })
        if ($found.Count -gt 1) {
            [GridDscHelper]::Fail(("{0} '{1}' exists in {2} datacenters ({3}): give Datacenter." -f $resource, $name, $found.Count, (($found.Datacenter | Sort-Object -Unique) -join ', ')), 'DscAmbiguousWorkload', 'InvalidArgument', $target)
        }
        if ($found.Count -eq 1) { return $found[0] }
        return $null
    }

    # Differences of the wanted tags against the current ones (only the keys wanted are compared).
    static [hashtable] TagDelta([hashtable] $wanted, [System.Collections.IDictionary] $current) {
        $delta = @{}
        if ($null -eq $wanted) { return $delta }
        foreach ($key in $wanted.Keys) {
            $want = [GridDscHelper]::AsText($wanted[$key])
            $have = $null
            if ($null -ne $current -and $current.Contains($key)) { $have = [GridDscHelper]::AsText($current[$key]) }
            if ($want -cne $have) { $delta[$key] = $want }
        }
        return $delta
    }
}

[DscResource()]
class GridDatacenter {
    # The registered name of the datacenter (Connect-GridDatacenter -Name).
    [DscProperty(Key)]
    [string] $Name

    [DscProperty()]
    [Ensure] $Ensure = [Ensure]::Present

    # Simulator, VSphere, Libvirt, Aws, Azure, Xen, HyperV. Needed to register a new datacenter.
    [DscProperty()]
    [string] $Provider

    [DscProperty()]
    [string] $Owner

    [DscProperty()]
    [string] $Site

    # The provider's own (non-secret) connection parameters, e.g. @{ Server = 'vc01'; Datacenter = 'DC1' } or
    # @{ Hosts = 4 }. Compared with the stored registration; secrets belong in Credential.
    [DscProperty()]
    [hashtable] $Settings

    # Used to connect; never stored and never compared.
    [DscProperty()]
    [pscredential] $Credential

    # Read only: connection status of the registration when Get ran.
    [DscProperty(NotConfigurable)]
    [string] $Status

    [GridDatacenter] Get() {
        $current = [GridDatacenter]::new()
        $current.Name = $this.Name
        $dc = $this.Find()
        if ($null -eq $dc) {
            $current.Ensure = [Ensure]::Absent
            return $current
        }
        $current.Ensure = [Ensure]::Present
        $current.Provider = $dc.Provider
        $current.Owner = $dc.Owner
        $current.Site = $dc.Site
        $current.Status = [string]$dc.Status
        $s = @{}
        foreach ($k in $dc.Settings.Keys) { $s[$k] = $dc.Settings[$k] }
        $current.Settings = $s
        return $current
    }

    [bool] Test() {
        return $this.Differences().Count -eq 0
    }

    [void] Set() {
        $this.Validate()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $this.Find()) {
                Write-Verbose "GridDatacenter '$($this.Name)': unregistering."
                $np = [GridDscHelper]::NoPrompt()
                GridAutomation\Unregister-GridDatacenter -Name $this.Name @np
            }
            return
        }
        $differences = $this.Differences()
        if ($differences.Count -eq 0) { return }
        Write-Verbose ("GridDatacenter '{0}': connecting ({1})." -f $this.Name, ($differences -join '; '))
        $params = @{ Name = $this.Name; Force = $true; ErrorAction = 'Stop' }
        if ($this.Provider) { $params.Provider = $this.Provider }
        if ($null -ne $this.Owner) { $params.Owner = $this.Owner }
        if ($null -ne $this.Site) { $params.Site = $this.Site }
        if ($null -ne $this.Credential) { $params.Credential = $this.Credential }
        if ($null -ne $this.Settings) { foreach ($k in $this.Settings.Keys) { $params[$k] = $this.Settings[$k] } }
        $null = GridAutomation\Connect-GridDatacenter @params
    }

    hidden [object] Find() {
        $this.Validate()
        return GridAutomation\Get-GridDatacenter -ErrorAction Stop | Where-Object { $_.Name -eq $this.Name } | Select-Object -First 1
    }

    hidden [void] Validate() {
        if ([string]::IsNullOrWhiteSpace($this.Name)) {
            [GridDscHelper]::Fail('GridDatacenter: Name is required.', 'DscPropertyMissing', 'InvalidArgument', $this)
        }
        if ($this.Ensure -eq [Ensure]::Absent -and ($this.Provider -or $this.Settings -or $this.Owner -or $this.Site)) {
            [GridDscHelper]::Fail("GridDatacenter '$($this.Name)': Ensure = 'Absent' takes no Provider, Owner, Site or Settings.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
    }

    # What differs from the wanted state, one line each (verbose output of Test).
    hidden [string[]] Differences() {
        $this.Validate()
        $dc = $this.Find()
        $diff = [System.Collections.Generic.List[string]]::new()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $dc) { $diff.Add("registered, should be absent") }
        }
        elseif ($null -eq $dc) {
            if (-not $this.Provider) {
                [GridDscHelper]::Fail("GridDatacenter '$($this.Name)' is not registered: give Provider to register it.", 'DscPropertyMissing', 'InvalidArgument', $this)
            }
            $diff.Add("not registered")
        }
        else {
            if ($this.Provider -and $dc.Provider -ne $this.Provider) { $diff.Add("Provider is '$($dc.Provider)', should be '$($this.Provider)'") }
            if ($null -ne $this.Owner -and $dc.Owner -cne $this.Owner) { $diff.Add("Owner is '$($dc.Owner)', should be '$($this.Owner)'") }
            if ($null -ne $this.Site -and $dc.Site -cne $this.Site) { $diff.Add("Site is '$($dc.Site)', should be '$($this.Site)'") }
            if ($null -ne $this.Settings) {
                foreach ($k in $this.Settings.Keys) {
                    $want = [GridDscHelper]::AsText($this.Settings[$k])
                    $have = if ($dc.Settings.ContainsKey($k)) { $dc.Settings[$k] } else { $null }
                    if ($want -cne $have) { $diff.Add("setting $k is '$have', should be '$want'") }
                }
            }
        }
        foreach ($d in $diff) { Write-Verbose "GridDatacenter '$($this.Name)': $d" }
        return $diff.ToArray()
    }
}

[DscResource()]
class GridWorkload {
    # The workload's name; with Datacenter when the same name exists in more than one datacenter.
    [DscProperty(Key)]
    [string] $Name

    [DscProperty()]
    [Ensure] $Ensure = [Ensure]::Present

    # Where the workload is (needed to create it, unless Pool is given).
    [DscProperty()]
    [string] $Datacenter

    # Only used to create: the pool whose placement chooses the datacenter (New-GridWorkload -Pool). An existing
    # workload is found by Name in any datacenter and never moved to satisfy it.
    [DscProperty()]
    [string] $Pool

    # The company that owns the workload (New-GridWorkload -Owner / Set-GridWorkload -Owner, under an agreement when
    # the datacenter's owner is another company).
    [DscProperty()]
    [string] $Owner

    [DscProperty()]
    [string] $Size

    [DscProperty()]
    [Nullable[int]] $Cpu

    [DscProperty()]
    [Nullable[double]] $MemoryGB

    # Only used to create; an existing workload is never re-imaged.
    [DscProperty()]
    [string] $Image

    # Running, Stopped or Deallocated.
    [DscProperty()]
    [string] $State

    # The tags named here must have these values; other tags are left alone.
    [DscProperty()]
    [hashtable] $Tags

    # Read only: the workload's id when Get ran.
    [DscProperty(NotConfigurable)]
    [string] $Id

    [GridWorkload] Get() {
        $current = [GridWorkload]::new()
        $current.Name = $this.Name
        $w = $this.Find()
        if ($null -eq $w) {
            $current.Ensure = [Ensure]::Absent
            $current.Datacenter = $this.Datacenter
            $current.Pool = $this.Pool
            return $current
        }
        $current.Ensure = [Ensure]::Present
        $current.Id = $w.Id
        $current.Datacenter = $w.Datacenter
        $current.Size = $w.Size
        $current.Cpu = $w.CpuCount
        if ($null -ne $w.MemoryMB) { $current.MemoryGB = [double]$w.MemoryMB / 1024 }
        $current.Image = $w.Image
        $current.Pool = $this.Pool
        $current.Owner = $w.Owner
        $current.State = [string]$w.State
        $t = @{}
        foreach ($k in $w.Tags.Keys) { $t[$k] = $w.Tags[$k] }
        $current.Tags = $t
        return $current
    }

    [bool] Test() {
        return $this.Differences().Count -eq 0
    }

    [void] Set() {
        $this.Validate()
        $np = [GridDscHelper]::NoPrompt()
        $w = $this.Find()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $w) {
                Write-Verbose "GridWorkload '$($this.Name)': removing $($w.Id)."
                GridAutomation\Remove-GridWorkload -Id $w.Id @np
            }
            return
        }
        if ($null -eq $w) {
            if (-not $this.Datacenter -and -not $this.Pool) {
                [GridDscHelper]::Fail("GridWorkload '$($this.Name)' does not exist: give Datacenter or Pool to create it.", 'DscPropertyMissing', 'InvalidArgument', $this)
            }
            $new = @{ Name = $this.Name }
            if ($this.Pool) { $new.Pool = $this.Pool } else { $new.Datacenter = $this.Datacenter }
            if ($this.Owner) { $new.Owner = $this.Owner }
            if ($this.Size) { $new.Size = $this.Size }
            if ($null -ne $this.Cpu) { $new.Cpu = $this.Cpu }
            if ($null -ne $this.MemoryGB) { $new.MemoryGB = $this.MemoryGB }
            if ($this.Image) { $new.Image = $this.Image }
            if ($null -ne $this.Tags -and $this.Tags.Count -gt 0) { $new.Tag = $this.Tags }
            # Created stopped when a stopped or deallocated state is wanted, so nothing runs that should not.
            if ($this.State -and $this.State -ne 'Running') { $new.NoStart = $true }
            Write-Verbose ("GridWorkload '{0}': creating in {1}." -f $this.Name, $(if ($this.Pool) { "pool '$($this.Pool)'" } else { "'$($this.Datacenter)'" }))
            $w = GridAutomation\New-GridWorkload @new @np
            if ($this.State -eq 'Deallocated') { $w = GridAutomation\Stop-GridWorkload -Id $w.Id -Deallocate -PassThru @np }
            return
        }
        $change = @{}
        if ($this.Size -and $w.Size -ne $this.Size) { $change.Size = $this.Size }
        if ($null -ne $this.Cpu -and $w.CpuCount -ne $this.Cpu) { $change.Cpu = $this.Cpu }
        if ($null -ne $this.MemoryGB -and ($null -eq $w.MemoryMB -or [math]::Abs([double]$w.MemoryMB / 1024 - $this.MemoryGB) -gt 0.001)) { $change.MemoryGB = $this.MemoryGB }
        $tagDelta = [GridDscHelper]::TagDelta($this.Tags, $w.Tags)
        if ($tagDelta.Count -gt 0) { $change.Tag = $tagDelta }
        if ($this.Owner -and $w.Owner -ne $this.Owner) { $change.Owner = $this.Owner }
        if ($change.Count -gt 0) {
            Write-Verbose ("GridWorkload '{0}': changing {1}." -f $this.Name, (($change.Keys | Sort-Object) -join ', '))
            # A resize of a running workload restarts it only when the wanted state is Running.
            if (($change.ContainsKey('Size') -or $change.ContainsKey('Cpu') -or $change.ContainsKey('MemoryGB')) -and [string]$w.State -eq 'Running' -and $this.State -ne 'Stopped' -and $this.State -ne 'Deallocated') { $change.Restart = $true }
            $w = GridAutomation\Set-GridWorkload -Id $w.Id @change -PassThru @np
        }
        if ($this.State -and [string]$w.State -ne $this.State) {
            Write-Verbose "GridWorkload '$($this.Name)': state $($w.State) -> $($this.State)."
            switch ($this.State) {
                'Running' { $null = GridAutomation\Start-GridWorkload -Id $w.Id @np }
                'Stopped' { $null = GridAutomation\Stop-GridWorkload -Id $w.Id -StayProvisioned @np }
                'Deallocated' { $null = GridAutomation\Stop-GridWorkload -Id $w.Id -Deallocate @np }
            }
        }
    }

    hidden [object] Find() {
        $this.Validate()
        return [GridDscHelper]::FindWorkload('GridWorkload', $this.Name, $this.Datacenter, $this)
    }

    hidden [void] Validate() {
        if ([string]::IsNullOrWhiteSpace($this.Name)) {
            [GridDscHelper]::Fail('GridWorkload: Name is required.', 'DscPropertyMissing', 'InvalidArgument', $this)
        }
        if ($this.State -and $this.State -notin 'Running', 'Stopped', 'Deallocated') {
            [GridDscHelper]::Fail("GridWorkload '$($this.Name)': State '$($this.State)' is not one of Running, Stopped, Deallocated.", 'DscInvalidProperty', 'InvalidArgument', $this)
        }
        if ($this.Datacenter -and $this.Pool) {
            [GridDscHelper]::Fail("GridWorkload '$($this.Name)': give Datacenter or Pool, not both.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
        if ($this.Size -and ($null -ne $this.Cpu -or $null -ne $this.MemoryGB)) {
            [GridDscHelper]::Fail("GridWorkload '$($this.Name)': give Size or Cpu/MemoryGB, not both.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
        if ($this.Ensure -eq [Ensure]::Absent -and ($this.Size -or $null -ne $this.Cpu -or $null -ne $this.MemoryGB -or $this.Image -or $this.State -or $this.Tags -or $this.Pool -or $this.Owner)) {
            [GridDscHelper]::Fail("GridWorkload '$($this.Name)': Ensure = 'Absent' takes only Name and Datacenter.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
    }

    hidden [string[]] Differences() {
        $w = $this.Find()
        $diff = [System.Collections.Generic.List[string]]::new()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $w) { $diff.Add("exists ($($w.Id)), should be absent") }
        }
        elseif ($null -eq $w) {
            $diff.Add("does not exist")
        }
        else {
            if ($this.Size -and $w.Size -ne $this.Size) { $diff.Add("Size is '$($w.Size)', should be '$($this.Size)'") }
            if ($null -ne $this.Cpu -and $w.CpuCount -ne $this.Cpu) { $diff.Add("Cpu is $($w.CpuCount), should be $($this.Cpu)") }
            if ($null -ne $this.MemoryGB -and ($null -eq $w.MemoryMB -or [math]::Abs([double]$w.MemoryMB / 1024 - $this.MemoryGB) -gt 0.001)) { $diff.Add("MemoryGB is $([double]$w.MemoryMB / 1024), should be $($this.MemoryGB)") }
            if ($this.State -and [string]$w.State -ne $this.State) { $diff.Add("State is $($w.State), should be $($this.State)") }
            if ($this.Owner -and $w.Owner -ne $this.Owner) { $diff.Add("Owner is '$($w.Owner)', should be '$($this.Owner)'") }
            $delta = [GridDscHelper]::TagDelta($this.Tags, $w.Tags)
            foreach ($k in $delta.Keys) { $diff.Add("tag $k should be '$($delta[$k])'") }
        }
        foreach ($d in $diff) { Write-Verbose "GridWorkload '$($this.Name)': $d" }
        return $diff.ToArray()
    }
}

[DscResource()]
class GridAgreement {
    # The datacenter owner that lends capacity.
    [DscProperty(Key)]
    [string] $Owner

    # The company that uses it.
    [DscProperty(Key)]
    [string] $Consumer

    # The datacenter name or pattern the agreement covers (as New-GridAgreement -Datacenter).
    [DscProperty(Key)]
    [string] $Datacenter

    [DscProperty()]
    [Ensure] $Ensure = [Ensure]::Present

    [DscProperty()]
    [Nullable[int]] $MaxCpu

    [DscProperty()]
    [Nullable[double]] $MaxMemoryGB

    [DscProperty()]
    [Nullable[int]] $MaxWorkloads

    [DscProperty()]
    [Nullable[decimal]] $PricePerCpuHour

    [DscProperty()]
    [Nullable[decimal]] $PricePerGBHour

    [DscProperty()]
    [Nullable[datetime]] $Start

    [DscProperty()]
    [Nullable[datetime]] $End

    # Read only: the agreement's id when Get ran.
    [DscProperty(NotConfigurable)]
    [string] $Id

    [GridAgreement] Get() {
        $current = [GridAgreement]::new()
        $current.Owner = $this.Owner; $current.Consumer = $this.Consumer; $current.Datacenter = $this.Datacenter
        $a = $this.Find()
        if ($null -eq $a) { $current.Ensure = [Ensure]::Absent; return $current }
        $current.Ensure = [Ensure]::Present
        $current.Id = $a.Id
        $current.MaxCpu = $a.MaxCpu; $current.MaxMemoryGB = $a.MaxMemoryGB; $current.MaxWorkloads = $a.MaxWorkloads
        $current.PricePerCpuHour = $a.PricePerCpuHour; $current.PricePerGBHour = $a.PricePerGBHour
        if ($null -ne $a.Start) { $current.Start = $a.Start.UtcDateTime }
        if ($null -ne $a.End) { $current.End = $a.End.UtcDateTime }
        return $current
    }

    [bool] Test() {
        return $this.Differences().Count -eq 0
    }

    [void] Set() {
        $this.Validate()
        $np = [GridDscHelper]::NoPrompt()
        $a = $this.Find()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $a) {
                Write-Verbose "GridAgreement $($this.Owner) -> $($this.Consumer) on '$($this.Datacenter)': removing $($a.Id)."
                GridAutomation\Remove-GridAgreement -Id $a.Id @np
            }
            return
        }
        $changes = $this.Changes($a)
        if ($null -eq $a) {
            Write-Verbose "GridAgreement $($this.Owner) -> $($this.Consumer) on '$($this.Datacenter)': creating."
            $null = GridAutomation\New-GridAgreement -Owner $this.Owner -Consumer $this.Consumer -Datacenter $this.Datacenter @changes @np
        }
        elseif ($changes.Count -gt 0) {
            Write-Verbose ("GridAgreement {0}: changing {1}." -f $a.Id, (($changes.Keys | Sort-Object) -join ', '))
            GridAutomation\Set-GridAgreement -Id $a.Id @changes @np
        }
    }

    # The cmdlet parameters whose wanted value differs from the agreement (all given ones for a new agreement).
    hidden [hashtable] Changes([object] $a) {
        $c = @{}
        foreach ($p in 'MaxCpu', 'MaxMemoryGB', 'MaxWorkloads', 'PricePerCpuHour', 'PricePerGBHour') {
            $want = $this.$p
            if ($null -eq $want) { continue }
            if ($null -eq $a -or $null -eq $a.$p -or [double]$a.$p -ne [double]$want) { $c[$p] = $want }
        }
        foreach ($p in 'Start', 'End') {
            $want = $this.$p
            if ($null -eq $want) { continue }
            $wantUtc = ([datetimeoffset]$want).UtcDateTime
            if ($null -eq $a -or $null -eq $a.$p -or $a.$p.UtcDateTime -ne $wantUtc) { $c[$p] = [datetimeoffset]$want }
        }
        return $c
    }

    hidden [object] Find() {
        $this.Validate()
        $found = @(GridAutomation\Get-GridAgreement -Owner ([System.Management.Automation.WildcardPattern]::Escape($this.Owner)) -Consumer ([System.Management.Automation.WildcardPattern]::Escape($this.Consumer)) -ErrorAction Stop |
                Where-Object { $_.Owner -eq $this.Owner -and $_.Consumer -eq $this.Consumer -and $_.Datacenter -eq $this.Datacenter })
        if ($found.Count -gt 1) {
            [GridDscHelper]::Fail(("{0} agreements of {1} -> {2} cover '{3}' ({4}): remove all but one with Remove-GridAgreement." -f $found.Count, $this.Owner, $this.Consumer, $this.Datacenter, ($found.Id -join ', ')), 'DscAmbiguousAgreement', 'InvalidArgument', $this)
        }
        if ($found.Count -eq 1) { return $found[0] }
        return $null
    }

    hidden [void] Validate() {
        if ([string]::IsNullOrWhiteSpace($this.Owner) -or [string]::IsNullOrWhiteSpace($this.Consumer) -or [string]::IsNullOrWhiteSpace($this.Datacenter)) {
            [GridDscHelper]::Fail('GridAgreement: Owner, Consumer and Datacenter are required.', 'DscPropertyMissing', 'InvalidArgument', $this)
        }
        if ($this.Ensure -eq [Ensure]::Absent -and ($null -ne $this.MaxCpu -or $null -ne $this.MaxMemoryGB -or $null -ne $this.MaxWorkloads -or $null -ne $this.PricePerCpuHour -or $null -ne $this.PricePerGBHour -or $null -ne $this.Start -or $null -ne $this.End)) {
            [GridDscHelper]::Fail("GridAgreement: Ensure = 'Absent' takes only Owner, Consumer and Datacenter.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
    }

    hidden [string[]] Differences() {
        $a = $this.Find()
        $diff = [System.Collections.Generic.List[string]]::new()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $a) { $diff.Add("exists ($($a.Id)), should be absent") }
        }
        elseif ($null -eq $a) { $diff.Add('does not exist') }
        else {
            $c = $this.Changes($a)
            foreach ($k in ($c.Keys | Sort-Object)) { $diff.Add("$k is '$($a.$k)', should be '$($c[$k])'") }
        }
        foreach ($d in $diff) { Write-Verbose "GridAgreement $($this.Owner) -> $($this.Consumer) on '$($this.Datacenter)': $d" }
        return $diff.ToArray()
    }
}

[DscResource()]
class GridReplication {
    # The protected workload's name.
    [DscProperty(Key)]
    [string] $Name

    [DscProperty()]
    [Ensure] $Ensure = [Ensure]::Present

    # The source: the datacenter the workload is in (needed when the name exists in more than one).
    [DscProperty()]
    [string] $Datacenter

    # Where the replica is kept (needed to protect).
    [DscProperty()]
    [string] $DestinationDatacenter

    [DscProperty()]
    [string] $DestinationHost

    [DscProperty()]
    [string] $Size

    [DscProperty()]
    [Nullable[int]] $RpoMinutes

    [DscProperty()]
    [Nullable[int]] $RecoveryPointCount

    # Read only: the item's state (Protected, FailedOver, ...) and health when Get ran.
    [DscProperty(NotConfigurable)]
    [string] $State

    [DscProperty(NotConfigurable)]
    [string] $Health

    [GridReplication] Get() {
        $current = [GridReplication]::new()
        $current.Name = $this.Name
        $current.Datacenter = $this.Datacenter
        $i = $this.Find()
        if ($null -eq $i) { $current.Ensure = [Ensure]::Absent; return $current }
        $current.Ensure = [Ensure]::Present
        $current.Datacenter = $i.SourceDatacenter
        $current.DestinationDatacenter = $i.DestinationDatacenter; $current.DestinationHost = $i.DestinationHost; $current.Size = $i.Size
        $current.RpoMinutes = $i.RpoMinutes; $current.RecoveryPointCount = $i.RecoveryPointCount
        $current.State = [string]$i.State; $current.Health = [string]$i.Health
        return $current
    }

    [bool] Test() {
        return $this.Differences().Count -eq 0
    }

    # Absent: Disable-GridReplication (the replica's points are removed). Not protected: Enable-GridReplication. Protected
    # with other settings: the core changes none of them in place (Enable refuses AlreadyProtected), so Set re-protects:
    # Disable-GridReplication, then Enable-GridReplication with the wanted settings (unset ones keep the item's), which
    # makes a new full first copy. Only a Protected (or InitialSync) item without a test failover is changed: others are refused.
    [void] Set() {
        $np = [GridDscHelper]::NoPrompt()
        $differences = $this.Differences()
        if ($differences.Count -eq 0) { return }
        $i = $this.Find()
        $label = "GridReplication '$($this.Name)'"
        if ($null -ne $i) {
            if ([string]$i.State -notin 'Protected', 'InitialSync' -or $i.TestWorkloadIds.Count -gt 0) {
                $why = if ($i.TestWorkloadIds.Count -gt 0) { 'runs a test failover (Stop-GridFailover -Test ends it)' } else { "is $($i.State) (Complete-GridFailover, then Enable-GridReplication -Reverse)" }
                [GridDscHelper]::Fail("$label $why`: Set changes or disables only a Protected item.", 'DscReplicationBusy', 'ResourceBusy', $this)
            }
            $sameName = @(GridAutomation\Get-GridReplication -Name ([System.Management.Automation.WildcardPattern]::Escape($this.Name)) -ErrorAction Stop | Where-Object { $_.Name -eq $this.Name -and [string]$_.State -ne 'Disabled' })
            if ($sameName.Count -gt 1) {
                [GridDscHelper]::Fail("$label`: $($sameName.Count) protected workloads share the name, and Disable-GridReplication names items by name only: change them by hand.", 'DscAmbiguousReplication', 'InvalidArgument', $this)
            }
            Write-Verbose ("{0}: disabling {1}." -f $label, $(if ($this.Ensure -eq [Ensure]::Absent) { 'protection' } else { 'to re-protect with the new settings (no in-place change: a new full copy follows)' }))
            GridAutomation\Disable-GridReplication -Name ([System.Management.Automation.WildcardPattern]::Escape($i.Name)) @np
            if ($this.Ensure -eq [Ensure]::Absent) { return }
        }
        $w = $this.FindWorkload()
        $enable = @{ Id = $w.Id; DestinationDatacenter = $this.DestinationDatacenter }
        if ($null -ne $i) {
            # unset properties keep what the item had
            if (-not $this.DestinationDatacenter) { $enable.DestinationDatacenter = $i.DestinationDatacenter }
            if ($i.DestinationHost) { $enable.DestinationHost = $i.DestinationHost }
            if ($i.Size) { $enable.Size = $i.Size }
            $enable.RpoMinutes = $i.RpoMinutes; $enable.RecoveryPointCount = $i.RecoveryPointCount
        }
        foreach ($p in 'DestinationHost', 'Size', 'RpoMinutes', 'RecoveryPointCount') { if ($null -ne $this.$p -and '' -ne $this.$p) { $enable[$p] = $this.$p } }
        Write-Verbose ("{0}: protecting {1} into '{2}'." -f $label, $w.Id, $enable.DestinationDatacenter)
        GridAutomation\Enable-GridReplication @enable @np
    }

    # The item protecting the workload (not Disabled), or $null.
    hidden [object] Find() {
        $this.Validate()
        $found = @(GridAutomation\Get-GridReplication -Name ([System.Management.Automation.WildcardPattern]::Escape($this.Name)) -ErrorAction Stop |
                Where-Object { $_.Name -eq $this.Name -and [string]$_.State -ne 'Disabled' -and (-not $this.Datacenter -or $_.SourceDatacenter -eq $this.Datacenter) })
        if ($found.Count -gt 1) {
            [GridDscHelper]::Fail(("GridReplication '{0}': {1} protected workloads have this name (from {2}): give Datacenter." -f $this.Name, $found.Count, (($found.SourceDatacenter | Sort-Object -Unique) -join ', ')), 'DscAmbiguousReplication', 'InvalidArgument', $this)
        }
        if ($found.Count -eq 1) { return $found[0] }
        return $null
    }

    hidden [object] FindWorkload() {
        $w = [GridDscHelper]::FindWorkload('GridReplication', $this.Name, $this.Datacenter, $this)
        if ($null -eq $w) {
            [GridDscHelper]::Fail(("GridReplication '{0}': no workload named '{0}'{1} to protect." -f $this.Name, $(if ($this.Datacenter) { " in '$($this.Datacenter)'" } else { '' })), 'DscWorkloadNotFound', 'ObjectNotFound', $this)
        }
        return $w
    }

    hidden [void] Validate() {
        $label = "GridReplication '$($this.Name)'"
        if ([string]::IsNullOrWhiteSpace($this.Name)) {
            [GridDscHelper]::Fail('GridReplication: Name is required.', 'DscPropertyMissing', 'InvalidArgument', $this)
        }
        if ($this.Ensure -eq [Ensure]::Absent -and ($this.DestinationDatacenter -or $this.DestinationHost -or $this.Size -or $null -ne $this.RpoMinutes -or $null -ne $this.RecoveryPointCount)) {
            [GridDscHelper]::Fail("$label`: Ensure = 'Absent' takes only Name and Datacenter.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
        if ($this.Datacenter -and $this.DestinationDatacenter -and $this.Datacenter -eq $this.DestinationDatacenter) {
            [GridDscHelper]::Fail("$label`: Datacenter (the source) and DestinationDatacenter are both '$($this.Datacenter)': replicate to another datacenter.", 'DscConflictingProperties', 'InvalidArgument', $this)
        }
        if ($null -ne $this.RpoMinutes -and ($this.RpoMinutes -lt 1 -or $this.RpoMinutes -gt 10080)) {
            [GridDscHelper]::Fail("$label`: RpoMinutes must be 1 to 10080 (a week), not $($this.RpoMinutes).", 'DscInvalidProperty', 'InvalidArgument', $this)
        }
        if ($null -ne $this.RecoveryPointCount -and ($this.RecoveryPointCount -lt 1 -or $this.RecoveryPointCount -gt 1000)) {
            [GridDscHelper]::Fail("$label`: RecoveryPointCount must be 1 to 1000, not $($this.RecoveryPointCount).", 'DscInvalidProperty', 'InvalidArgument', $this)
        }
    }

    hidden [string[]] Differences() {
        $i = $this.Find()
        $diff = [System.Collections.Generic.List[string]]::new()
        if ($this.Ensure -eq [Ensure]::Absent) {
            if ($null -ne $i) { $diff.Add("protected into '$($i.DestinationDatacenter)' ($($i.State)), should not be") }
        }
        elseif ($null -eq $i) {
            if (-not $this.DestinationDatacenter) {
                [GridDscHelper]::Fail("GridReplication '$($this.Name)' is not protected: give DestinationDatacenter to protect it.", 'DscPropertyMissing', 'InvalidArgument', $this)
            }
            $diff.Add('not protected')
        }
        else {
            foreach ($p in 'DestinationDatacenter', 'DestinationHost', 'Size', 'RpoMinutes', 'RecoveryPointCount') {
                $want = [GridDscHelper]::AsText($this.$p)
                if ([string]::IsNullOrEmpty($want)) { continue }
                $have = [GridDscHelper]::AsText($i.$p)
                if ($want -ne $have) { $diff.Add("$p is '$have', should be '$want'") }
            }
        }
        foreach ($d in $diff) { Write-Verbose "GridReplication '$($this.Name)': $d" }
        return $diff.ToArray()
    }
}
