#Requires -Version 7.4
<#
.SYNOPSIS
    Snapshot benchmark against the lab's guest (issue 12): New-BlockVolumeSnapshot -Wait and
    Remove-BlockVolumeSnapshot -Wait next to a bare lvcreate -s / lvremove of the same volume in the
    same VG, interleaved in one run (same load on both sides).

.DESCRIPTION
    Snapshots need device-mapper, so this runs on the lab's guest host (qemu TCG: absolute times are
    far above a real server's; the ratio and the difference are what to read). Not run by
    build.ps1 Test (timings are measured, never asserted). Needs a lab with its guest:
        dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up -WithGuest
        dotnet pwsh ./tests/bench/Snapshot.Bench.ps1 [-Count 10]
    The bare commands are timed inside the guest (date +%s%N around lvcreate), so ssh is not counted
    against LVM; our side is timed from this host (request -> status seen by the cmdlet), so it
    includes the guest network and the wait's polling (snapshots send no notification: the wait polls
    with a pause growing to 500 ms). Prints a markdown table for docs/benchmarks.md.
#>
[CmdletBinding()]
param([ValidateRange(3, 200)][int] $Count = 10)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$lab = $bench.Lab
if (-not $lab.PSObject.Properties['guest']) { throw 'the lab has no guest: start it with build.ps1 Up -WithGuest' }
Import-Module (Join-Path $bench.Repo 'tests/lab/guest/LabGuest.psm1') -Force -DisableNameChecking
$g = $lab.guest
$tag = 'sb' + [guid]::NewGuid().ToString('N').Substring(0, 4)

Write-Host "setup: one 1 GiB volume in the guest..."
$v = New-BlockVolume -Name "$tag-v" -SizeGiB 1 -AvailabilityZone $g.zone -Confirm:$false -Wait -TimeoutSec 600
if ($v.Status -ne 'available') { throw "setup: the volume is $($v.Status): $($v.StatusReason)" }
$origin = "$($g.vg)/volume-$($v.Id)"
$warm = $v | New-BlockVolumeSnapshot -Name 'warm' -Wait -TimeoutSec 600
Remove-BlockVolumeSnapshot -Id $warm.Id -Confirm:$false -Wait -TimeoutSec 600

$create = @{ Ours = [System.Collections.Generic.List[double]]::new(); Bare = [System.Collections.Generic.List[double]]::new() }
$remove = @{ Ours = [System.Collections.Generic.List[double]]::new(); Bare = [System.Collections.Generic.List[double]]::new() }
Write-Host "$Count x (New-BlockVolumeSnapshot -Wait, lvcreate -s, Remove-BlockVolumeSnapshot -Wait, lvremove), interleaved..."
try {
    foreach ($i in 1..$Count) {
        $create.Ours.Add((Invoke-Timed { $script:s = New-BlockVolumeSnapshot -VolumeId $v.Id -Name "b$i" -Confirm:$false -Wait -TimeoutSec 600 }))
        if ($s.Status -ne 'available') { throw "snapshot b$i ended $($s.Status): $($s.StatusReason)" }
        $create.Bare.Add((Measure-InGuest $g "lvcreate -s -n $tag-bare$i --setactivationskip y $origin"))
        $remove.Ours.Add((Invoke-Timed { $script:r = Remove-BlockVolumeSnapshot -Id $s.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600 }))
        if ($r.Status -ne 'deleted') { throw "snapshot b$i ended $($r.Status): $($r.StatusReason)" }
        $remove.Bare.Add((Measure-InGuest $g "lvremove -f $($g.vg)/$tag-bare$i"))
    }
}
finally {
    Invoke-LabGuest -Guest $g -Command "for lv in `$(lvs --noheadings -o lv_name $($g.vg) | grep $tag-bare); do lvremove -f $($g.vg)/`$lv; done" -AllowFailure | Out-Null
    Get-BlockVolumeSnapshot -VolumeId $v.Id | Remove-BlockVolumeSnapshot -Confirm:$false -Wait -TimeoutSec 600
    Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 600
}

function Row([string] $What, $Side) { "| $What | $([math]::Round((Get-Median $Side), 1)) | $([math]::Round((Get-P95 $Side), 1)) |" }
@"
### Snapshots in the guest: our cmdlets next to bare LVM ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC, $(Get-BenchMachine), guest under TCG)

| $Count rounds, interleaved | median ms | p95 ms |
|---|---|---|
$(Row '``New-BlockVolumeSnapshot -Wait`` (request, agent in the guest runs lvcreate -s, status seen by the cmdlet)' $create.Ours)
$(Row 'bare ``lvcreate -s --setactivationskip y`` in the guest' $create.Bare)
$(Row '``Remove-BlockVolumeSnapshot -Wait``' $remove.Ours)
$(Row 'bare ``lvremove -f`` in the guest' $remove.Bare)
| ratio create / remove (median) | $([math]::Round((Get-Median $create.Ours) / (Get-Median $create.Bare), 2))x / $([math]::Round((Get-Median $remove.Ours) / (Get-Median $remove.Bare), 2))x | |
"@
