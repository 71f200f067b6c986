namespace GridAutomation.Providers.HyperV
{
    /// <summary>
    /// The host-side scripts of disk moves between datacenters (HyperVDisks.cs). A disk crosses the remoting session in
    /// chunks: one call reads (or writes) one chunk at an offset, so neither side ever holds a whole disk, and each
    /// chunk is one byte[] that PowerShell remoting serializes as base64. (Copy-Item -FromSession/-ToSession needs a
    /// PSSession object, which a runspace opened through the hosting API does not give; it also does this in chunks.)
    /// </summary>
    internal static partial class RemoteScripts
    {
        /// <summary>
        /// The VM's hard drive files (in order, drives without a file skipped), one flat object each with the VM's name
        /// and state (what an export checks first); one object with no Path when it has none.
        /// </summary>
        public const string DiskFiles = "param([string] $Id)\n" + Prologue + FindVm +
            "$files = @(foreach ($d in @($vm.HardDrives)) { if ($d.Path) { Get-Item -LiteralPath $d.Path } })\n" +
            "if ($files.Count -eq 0) { [pscustomobject]@{ Name = $vm.Name; State = $state; Path = $null; Length = [long]0 }; return }\n" +
            "foreach ($f in $files) { [pscustomobject]@{ Name = $vm.Name; State = $state; Path = $f.FullName; Length = [long]$f.Length } }";

        /// <summary>One chunk of a file: up to $Count bytes from $Offset, as ONE byte[] (empty at the end).</summary>
        public const string ReadChunk = "param([string] $Path, [long] $Offset, [int] $Count)\n" + Prologue +
            "$fs = [IO.File]::Open($Path, 'Open', 'Read', 'Read')\n" +
            "try {\n" +
            "  $null = $fs.Seek($Offset, 'Begin')\n" +
            "  $buf = [byte[]]::new($Count); $n = 0\n" +
            "  while ($n -lt $Count) { $r = $fs.Read($buf, $n, $Count - $n); if ($r -le 0) { break }; $n += $r }\n" +
            "  if ($n -lt $Count) { [Array]::Resize([ref] $buf, $n) }\n" +
            "  , $buf\n" +
            "} finally { $fs.Dispose() }";

        /// <summary>The SHA-256 of the VM's disk number $Index (drives with a file, in order).</summary>
        public const string HashVmDisk = "param([string] $Id, [int] $Index)\n" + Prologue + FindVm +
            "$files = @($vm.HardDrives | Where-Object { $_.Path } | ForEach-Object Path)\n" +
            "if ($Index -lt 0 -or $Index -ge $files.Count) { Write-Error -Message \"The VM has $($files.Count) disk(s); there is no disk $Index.\" -ErrorId 'Grid.DiskNotFound' -Category ObjectNotFound }\n" +
            "[pscustomobject]@{ Hash = (Get-FileHash -LiteralPath $files[$Index] -Algorithm SHA256).Hash.ToLowerInvariant() }";

        /// <summary>Where an import of this name goes on this host (its virtual hard disk folder), and whether it is there already (with its hash).</summary>
        public const string ImportTarget = "param([string] $FileName)\n" + Prologue +
            "$dir = (Hyper-V\\Get-VMHost).VirtualHardDiskPath\n" +
            "$null = New-Item -ItemType Directory -Path $dir -Force\n" +
            "$path = Join-Path $dir $FileName\n" +
            "$exists = Test-Path -LiteralPath $path -PathType Leaf\n" +
            "[pscustomobject]@{ Path = $path; Exists = $exists; Hash = $(if ($exists) { (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash.ToLowerInvariant() } else { $null }) }";

        /// <summary>Writes one chunk at $Offset of "$Path.partial" (offset 0 starts the file anew).</summary>
        public const string WriteChunk = "param([string] $Path, [long] $Offset, [byte[]] $Data)\n" + Prologue +
            "$fs = [IO.File]::Open($Path + '.partial', $(if ($Offset -eq 0) { 'Create' } else { 'Open' }), 'Write', 'None')\n" +
            "try { $null = $fs.Seek($Offset, 'Begin'); $fs.Write($Data, 0, $Data.Length) } finally { $fs.Dispose() }";

        /// <summary>The written ".partial" file becomes the disk (a disk file that exists is whole); returns its length and hash.</summary>
        public const string FinishImport = "param([string] $Path)\n" + Prologue +
            "Move-Item -LiteralPath ($Path + '.partial') -Destination $Path -Force\n" +
            "[pscustomobject]@{ Length = [long](Get-Item -LiteralPath $Path).Length; Hash = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant() }";

        /// <summary>
        /// Roll-back of imports: the files of this host's virtual hard disk folder whose name starts with $Prefix (and
        /// their ".partial"), unless a VM of the host uses them (a create took the disk: it goes with that VM).
        /// Returns the paths removed.
        /// </summary>
        public const string DiscardImports = "param([string] $Prefix)\n" + Prologue +
            "$dir = (Hyper-V\\Get-VMHost).VirtualHardDiskPath\n" +
            "if (-not (Test-Path -LiteralPath $dir -PathType Container)) { return }\n" +
            "$used = @(Hyper-V\\Get-VM | ForEach-Object { $_.HardDrives } | Where-Object { $_.Path } | ForEach-Object Path)\n" +
            "foreach ($f in @(Get-ChildItem -LiteralPath $dir -File | Where-Object { $_.Name.StartsWith($Prefix, [StringComparison]::Ordinal) })) {\n" +
            "  if ($used -contains $f.FullName -or $used -contains ($f.FullName -replace '\\.partial$', '')) { continue }\n" +
            "  Remove-Item -LiteralPath $f.FullName -Force\n" +
            "  $f.FullName\n" +
            "}";
    }
}
