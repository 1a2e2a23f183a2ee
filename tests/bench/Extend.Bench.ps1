#Requires -Version 7.4
<#
.SYNOPSIS
    Extend benchmark against the lab (issue 12): Resize-BlockVolume -Wait next to a bare lvextend of
    an LV of the same size on the same VG, interleaved in one run (same machine load on both sides).

.DESCRIPTION
    Not run by build.ps1 Test (timings are measured, never asserted). Needs a lab:
        dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up
        dotnet pwsh ./tests/bench/Extend.Bench.ps1 [-Count 30]
    For i in 1..Count (setup not timed: a 1 GiB volume and a 1 GiB bare LV on that volume's VG):
        Resize-BlockVolume -SizeGiB 2 -Wait     (request -> available at 2 GiB, seen by the cmdlet)
        lvextend -L 2g <VG>/<bare LV>           (same VG, same --config as the agent)
    -Guest: the same on the lab's guest host (dotnet pwsh ./build.ps1 Up -WithGuest; qemu TCG,
    device-mapper, a thin pool): the volumes and the bare LVs are thin LVs of 1 GiB in its pool, and
    the bare lvextend is timed inside the guest (date +%s%N around it), so ssh is not counted
    against LVM; ours is timed from this host (request -> status seen by the cmdlet).
    Prints a markdown table for docs/benchmarks.md.
#>
[CmdletBinding()]
param([ValidateRange(5, 500)][int] $Count = 30, [switch] $Guest)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab; $vgOf = $bench.VgOf
$lvm = @{}; foreach ($tool in 'lvcreate', 'lvextend', 'lvremove') { $lvm[$tool] = (Get-Command $tool -CommandType Application)[0].Source }
$tag = 'xb' + [guid]::NewGuid().ToString('N').Substring(0, 4)
$zone = $lab.zone
if ($Guest) {
    if (-not $lab.PSObject.Properties['guest']) { throw 'the lab has no guest: start it with build.ps1 Up -WithGuest' }
    Import-Module (Join-Path $repo 'tests/lab/guest/LabGuest.psm1') -Force -DisableNameChecking
    $g = $lab.guest
    $zone = $g.zone
}
# Bare LVM as the agent runs it. Host lab: the lab's --config (activation off, no devices file).
function Invoke-LabLvm([string] $Tool, [string[]] $Arguments) { Invoke-Lvm $lvm[$Tool] (@('--config', $lab.lvmConfig) + $Arguments) }
# Guest: thin LVs in its pool, as its agent makes them; create and remove not timed.
function New-BareLv([object] $Volume, [string] $Name) {
    if ($Guest) { Invoke-LabGuest -Guest $g -Command "lvcreate -q -y -T $($g.vg)/$($g.thinPool) -V 1g -n $Name" -TimeoutSeconds 300 | Out-Null }
    else { Invoke-LabLvm lvcreate @('-n', $Name, '-L', '1g', '-y', $vgOf[$Volume.Host]) }
}
function Measure-BareExtend([object] $Volume, [string] $Name) {
    if ($Guest) { return Measure-InGuest $g "lvextend -L 2g $($g.vg)/$Name" }
    Invoke-Timed { Invoke-LabLvm lvextend @('-L', '2g', "$($vgOf[$Volume.Host])/$Name") }
}
function Remove-BareLv([object] $Volume, [string] $Name) {
    if ($Guest) { Invoke-LabGuest -Guest $g -Command "lvremove -q -f $($g.vg)/$Name" -TimeoutSeconds 300 -AllowFailure | Out-Null }
    else { Invoke-LabLvm lvremove @('-f', "$($vgOf[$Volume.Host])/$Name") }
}

Write-Host "setup: $Count volumes and $Count bare LVs of 1 GiB$(if ($Guest) { " in guest $($g.name)'s thin pool" })..."
$volumes = @(1..$Count | ForEach-Object { [pscustomobject]@{ Name = "$tag-$_"; SizeGiB = 1; Zone = $zone } } | New-BlockVolume -Wait -TimeoutSec 600)
if (@($volumes | Where-Object Status -NE 'available').Count) { throw 'setup: not every volume became available' }
foreach ($i in 0..($Count - 1)) { New-BareLv $volumes[$i] "$tag-bare$i" }

Write-Host "warm-up, then $Count x (Resize-BlockVolume -Wait, lvextend), interleaved..."
$warm = New-BlockVolume -Name "$tag-warm" -SizeGiB 1 -AvailabilityZone $zone -Wait -TimeoutSec 600
Resize-BlockVolume -Id $warm.Id -SizeGiB 2 -Confirm:$false -Wait -TimeoutSec 600 | Out-Null
$ours = [System.Collections.Generic.List[double]]::new()
$bare = [System.Collections.Generic.List[double]]::new()
try {
    foreach ($i in 0..($Count - 1)) {
        $v = $volumes[$i]
        $ours.Add((Invoke-Timed { $script:r = Resize-BlockVolume -Id $v.Id -SizeGiB 2 -Confirm:$false -Wait -PassThru -TimeoutSec 600 }))
        if ($r.SizeGiB -ne 2 -or $r.Status -ne 'available') { throw "$($v.Name) ended $($r.Status) at $($r.SizeGiB) GiB: $($r.StatusReason)" }
        $bare.Add((Measure-BareExtend $v "$tag-bare$i"))
    }
}
finally {
    foreach ($i in 0..($Count - 1)) { Remove-BareLv $volumes[$i] "$tag-bare$i" }
    @($volumes) + @($warm) | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 600
}

$mo = Get-Median $ours; $mb = Get-Median $bare
@"
### Extend: Resize-BlockVolume -Wait next to a bare lvextend$(if ($Guest) { ' in the guest (thin pool)' }) ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC, $(Get-BenchMachine)$(if ($Guest) { ', guest under TCG' }))

| $Count rounds, interleaved | median ms | p95 ms |
|---|---|---|
| ``Resize-BlockVolume -SizeGiB 2 -Wait`` (request, ledger check, agent's lvextend, status seen by the cmdlet) | $([math]::Round($mo, 1)) | $([math]::Round((Get-P95 $ours), 1)) |
| bare ``lvextend -L 2g`` on the same VG$(if ($Guest) { ' (thin LV of the same pool, timed in the guest)' }) | $([math]::Round($mb, 1)) | $([math]::Round((Get-P95 $bare), 1)) |
| overhead of the control plane (median difference) | $([math]::Round($mo - $mb, 1)) | |
| ratio (median) | $([math]::Round($mo / $mb, 2))x | |
"@
