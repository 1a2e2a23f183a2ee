# The lab's LVM: one sparse file per node on a loop device, one VG each (activation off when the
# kernel has no device-mapper), and the LVM report commands the tests read.

function Test-LabDeviceMapper {
    <# True when the kernel has device-mapper (LVM can activate volumes). #>
    # Ask the kernel, not /dev: a /dev/mapper/control node can exist without the driver (libdevmapper
    # creates the node itself), and then every lvcreate with activation fails.
    if (Test-Path -LiteralPath '/sys/class/misc/device-mapper') { return $true }
    $misc = Get-Content -LiteralPath '/proc/misc' -ErrorAction Ignore
    return [bool](@($misc) -match '\sdevice-mapper$')
}

function Get-LabLvmConfig {
    <# The --config string every LVM command of the lab uses (activation off without device-mapper). #>
    [CmdletBinding()]
    param([Nullable[bool]] $Activation)
    if ($null -eq $Activation) { $Activation = Test-LabDeviceMapper }
    if ($Activation) { return 'devices { use_devicesfile = 0 }' }
    return 'global { activation = 0 } devices { use_devicesfile = 0 }'
}

function New-LabLvmSystemDir {
    <#
    The lab's LVM configuration directory, <stateDir>/lvm, passed to its agents (and its own LVM
    commands) as LVM_SYSTEM_DIR: the machine's lvm.conf, lvmlocal.conf and profiles as they are,
    plus `global { use_aio = 0 }` in lvmlocal.conf, the storage-host setting docs/operations.md
    advises. Why: with LVM's default async I/O every LVM command ends with io_destroy(2), which
    waits for an RCU grace period, about 30 ms of a 70 ms lvcreate on this machine's kernel
    (docs/benchmarks.md, issue 11). The setting cannot go into --config: LVM 2.03 has opened its
    I/O context before it reads --config, so it must be in a file. A directory of the lab's own,
    not the machine's /etc/lvm, because the machine is shared; LVM's metadata archives and backups
    of the lab's commands go there too and leave with the lab.
    Returns the directory.
    #>
    param([Parameter(Mandatory)][string] $StateDir, [string] $MachineDir = '/etc/lvm')
    $dir = Join-Path $StateDir 'lvm'
    New-Item -ItemType Directory -Path $dir -Force | Out-Null
    $conf = Join-Path $MachineDir 'lvm.conf'
    if (Test-Path -LiteralPath $conf) { Copy-Item -LiteralPath $conf -Destination $dir -Force }
    $profiles = Join-Path $MachineDir 'profile'
    if (Test-Path -LiteralPath $profiles) { Copy-Item -LiteralPath $profiles -Destination $dir -Recurse -Force }
    $local = Join-Path $MachineDir 'lvmlocal.conf'
    $text = if (Test-Path -LiteralPath $local) { Get-Content -LiteralPath $local -Raw } else { '' }
    # A second global section merges with any the machine's file has (LVM merges sections by name).
    $text += "`n# BlockStore lab (tests/lab/Lvm.ps1): no async I/O, so no io_destroy wait at each command's end.`nglobal {`n`tuse_aio = 0`n}`n"
    Set-Content -LiteralPath (Join-Path $dir 'lvmlocal.conf') -Value $text -NoNewline
    return $dir
}

function Get-LabLvmSystemDir {
    <# The lab's LVM_SYSTEM_DIR (lab.json lvmSystemDir), or $null for a lab written before it (LVM uses /etc/lvm). #>
    param([Parameter(Mandatory)][object] $Lab)
    if ($Lab.PSObject.Properties['lvmSystemDir'] -and $Lab.lvmSystemDir) { return $Lab.lvmSystemDir }
    return $null
}

function Use-LabLvmSystemDir {
    <#
    Runs -Script with LVM_SYSTEM_DIR set to the lab's LVM directory (Get-LabLvmSystemDir; none:
    the machine's), as its agents see LVM, and puts the variable back afterwards. Returns the
    script's output.
    #>
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory, Position = 0)][scriptblock] $Script)
    $systemDir = Get-LabLvmSystemDir -Lab $Lab
    $saved = $env:LVM_SYSTEM_DIR
    if ($systemDir) { $env:LVM_SYSTEM_DIR = $systemDir }
    try { & $Script }
    finally { $env:LVM_SYSTEM_DIR = $saved }
}

function Invoke-LabLvm {
    <#
    Runs an LVM report command (vgs, lvs, pvs) with --reportformat json and the lab's --config,
    and returns the report rows as objects (e.g. vg_name, lv_name, lv_size).
    Example: Invoke-LabLvm lvs -Arguments @('-o', 'lv_name,lv_size', '--units', 'g', 'bs-node1')
    -Lab needs only lvmConfig (or lvmActivation); its lvmSystemDir, when it has one, is LVM_SYSTEM_DIR.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][ValidateSet('vgs', 'lvs', 'pvs')][string] $Command,
        [Parameter(Position = 1)][string[]] $Arguments = @(),
        [object] $Lab
    )
    if (-not $Lab) { $Lab = Get-LabInfo }
    $config = if ($Lab.PSObject.Properties['lvmConfig']) { $Lab.lvmConfig } else { Get-LabLvmConfig -Activation ([bool]$Lab.lvmActivation) }
    $out = Use-LabLvmSystemDir -Lab $Lab {
        Invoke-LabNative (Get-LabLvmExe $Command) (@('--reportformat', 'json', '--config', $config) + $Arguments) -What "$Command $($Arguments -join ' ')"
    }
    $key = @{ vgs = 'vg'; lvs = 'lv'; pvs = 'pv' }[$Command]
    $report = ($out -join "`n") | ConvertFrom-Json
    foreach ($part in $report.report) {
        if ($part.PSObject.Properties[$key]) { $part.$key }
    }
}

function Get-LabLvmExe([string] $Command) {
    $exe = Get-Command $Command -CommandType Application -ErrorAction Ignore | Select-Object -First 1
    if ($exe) { return $exe.Source }
    return "/usr/sbin/$Command"
}

function Get-LabLoopDevices {
    <# Loop devices whose backing file lies in -Folder (also when the file was deleted). #>
    param([Parameter(Mandatory)][string] $Folder)
    $json = Invoke-LabNative losetup @('-l', '-J') -AllowFailure
    if (-not $json -or $LASTEXITCODE -ne 0) { return @() }
    $prefix = $Folder.TrimEnd('/') + '/'
    $list = ($json -join "`n") | ConvertFrom-Json
    if (-not $list -or -not $list.PSObject.Properties['loopdevices']) { return @() }
    @($list.loopdevices | Where-Object { $_.'back-file' -and ($_.'back-file' -replace ' \(deleted\)$', '').StartsWith($prefix) } |
        ForEach-Object name)
}

function New-LabNodeDisks {
    <#
    For node1..nodeN: a sparse file in <stateDir>/disks, a loop device, a PV and a VG named
    bs-<checkout tag>-nodeK. Returns the node descriptions for lab.json.
    #>
    param([Parameter(Mandatory)][int] $NodeCount, [Parameter(Mandatory)][string] $StateDir, [Parameter(Mandatory)][string] $LvmConfig,
        [Parameter(Mandatory)][string] $SecretsDir, [string] $Repo = (Get-LabRepoRoot), [string] $DiskSize = $script:LabSettings.DiskSize)
    $existingVgs = @()
    try { $existingVgs = @(Invoke-LabLvm vgs @('-o', 'vg_name') -Lab ([pscustomobject]@{ lvmConfig = $LvmConfig }) | ForEach-Object vg_name) } catch { }
    foreach ($k in 1..$NodeCount) {
        $name = "node$k"
        # VG names are global on a machine: a per-checkout tag lets labs of several clones coexist.
        $vg = "bs-$(Get-LabTag -Repo $Repo)-$name"
        if ($vg -in $existingVgs) {
            throw "Volume group $vg already exists outside this lab (another lab running from a different folder?). Take that one down first."
        }
        $img = Join-Path $StateDir "disks/$name.img"
        Write-LabStep "$name`: sparse $DiskSize $img, loop device, VG $vg"
        Invoke-LabNative truncate @('-s', $DiskSize, $img) | Out-Null
        $loop = ((Invoke-LabNative losetup @('-f', '--show', $img)) | Select-Object -Last 1).Trim()
        Invoke-LabNative (Get-LabLvmExe pvcreate) @('--config', $LvmConfig, '-y', $loop) | Out-Null
        Invoke-LabNative (Get-LabLvmExe vgcreate) @('--config', $LvmConfig, $vg, $loop) | Out-Null
        [ordered]@{ name = $name; vg = $vg; loopDevice = $loop; disk = $img; configFile = (Join-Path $SecretsDir "$name.json") }
    }
}

function Remove-LabVgMetadataCopies {
    <#
    Removes LVM's metadata archives and backup of a removed lab VG (backup/archive_dir and
    backup/backup_dir, /etc/lvm/archive and /etc/lvm/backup by default). Every lvcreate and lvremove
    archives the VG's metadata there, and LVM keeps archives for 30 days: each lab's VG has a name of
    its own, so nothing ever pruned them, and every LVM command that archives reads the whole archive
    directory. With 35,000 files left by earlier labs, a bare lvcreate + lvremove took 0.135 CPU-s,
    against 0.026 CPU-s with archiving off (docs/benchmarks.md, issue 11). The agents' commands
    archive into the lab's own LVM directory (New-LabLvmSystemDir), which leaves with the lab; this
    is for what the lab's set-up, teardown and the tests' own LVM commands wrote with the machine's.
    #>
    param([Parameter(Mandatory)][string] $VolumeGroup)
    if ($VolumeGroup -notmatch '^[A-Za-z0-9][A-Za-z0-9+_.-]*$') { return }
    foreach ($key in 'archive_dir', 'backup_dir') {
        $dir = if ($key -eq 'archive_dir') { '/etc/lvm/archive' } else { '/etc/lvm/backup' }
        $o = Invoke-LabNative (Get-LabLvmExe lvmconfig) @('--type', 'full', "backup/$key") -AllowFailure -MergeError
        if ($LASTEXITCODE -eq 0 -and "$o" -match '"([^"]+)"') { $dir = $Matches[1] }
        if (-not (Test-Path -LiteralPath $dir)) { continue }
        $files = if ($key -eq 'archive_dir') { @(Get-ChildItem -LiteralPath $dir -File -Filter "$($VolumeGroup)_*.vg") }
        else { @(Get-ChildItem -LiteralPath $dir -File | Where-Object Name -EQ $VolumeGroup) }
        $files | Remove-Item -Force -ErrorAction Ignore
    }
}

function Remove-LabNodeDisks {
    <#
    Removes the VGs and PVs on the loop devices backed by files in <stateDir>/disks and detaches them
    (found from the backing files, so this works without lab.json too). Returns whether there were any.
    #>
    param([Parameter(Mandatory)][string] $StateDir, [Nullable[bool]] $Activation)
    $loops = @(Get-LabLoopDevices -Folder (Join-Path $StateDir 'disks'))
    if ($loops.Count -eq 0) { return $false }
    $cfg = Get-LabLvmConfig -Activation $Activation
    $pvs = @()
    try { $pvs = @(Invoke-LabLvm pvs @('-o', 'pv_name,vg_name') -Lab ([pscustomobject]@{ lvmConfig = $cfg })) }
    catch { Write-Warning "pvs failed: $_" }
    foreach ($loop in $loops) {
        foreach ($vg in @($pvs | Where-Object { $_.pv_name -eq $loop -and $_.vg_name } | ForEach-Object vg_name | Select-Object -Unique)) {
            Write-Host "removing VG $vg"
            $o = Invoke-LabNative (Get-LabLvmExe vgremove) @('--config', $cfg, '-f', '-y', $vg) -AllowFailure -MergeError
            if ($LASTEXITCODE -ne 0) { Write-Warning "vgremove $vg failed: $($o -join ' ')" }
            else { Remove-LabVgMetadataCopies -VolumeGroup $vg }
        }
        if (@($pvs | Where-Object pv_name -EQ $loop).Count -gt 0) {
            $o = Invoke-LabNative (Get-LabLvmExe pvremove) @('--config', $cfg, '-ff', '-y', $loop) -AllowFailure -MergeError
            if ($LASTEXITCODE -ne 0) { Write-Warning "pvremove $loop failed: $($o -join ' ')" }
        }
        Write-Host "detaching $loop"
        $o = Invoke-LabNative losetup @('-d', $loop) -AllowFailure -MergeError
        if ($LASTEXITCODE -ne 0) { Write-Warning "losetup -d $loop failed: $($o -join ' ')" }
    }
    return $true
}
