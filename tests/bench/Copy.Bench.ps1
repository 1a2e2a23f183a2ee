#Requires -Version 7.4
<#
.SYNOPSIS
    Thick copy benchmark in the lab's guest (issue 12): a thick clone (New-BlockVolume -SourceVolumeId
    -Wait) next to a bare lvcreate + dd with direct I/O of the same source on the same VG, interleaved
    in one run (same machine load on both sides).

.DESCRIPTION
    Not run by build.ps1 Test (timings are measured, never asserted). Needs the lab with its guest:
        dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up -WithGuest
        dotnet pwsh ./tests/bench/Copy.Bench.ps1 [-Count 5]
    Starts the guest's thick host for the run (LabGuest.psm1 Initialize-LabGuestThickHost: a thick VG
    on the guest's second disk, its own agent) and takes it out afterwards. Setup, not timed: a 1 GiB
    thick volume with its first MiB written. For i in 1..Count:
        New-BlockVolume -SourceVolumeId <source> -Wait   (request -> available, seen by the cmdlet:
                                                          the agent's lvcreate and dd)
        lvcreate -L 1g + dd bs=4M iflag=direct oflag=direct conv=fsync, same source, same VG,
                                                          timed inside the guest (date +%s%N around it)
    Prints a markdown table for docs/benchmarks.md.
#>
[CmdletBinding()]
param([ValidateRange(3, 100)][int] $Count = 5)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab
if (-not $lab.PSObject.Properties['guest']) { throw 'the lab has no guest: start it with build.ps1 Up -WithGuest' }
Import-Module (Join-Path $repo 'tests/lab/guest/LabGuest.psm1') -Force -DisableNameChecking
$g = $lab.guest
$tag = 'cb' + [guid]::NewGuid().ToString('N').Substring(0, 4)

$thick = Initialize-LabGuestThickHost -Lab $lab
$ours = [System.Collections.Generic.List[double]]::new()
$bare = [System.Collections.Generic.List[double]]::new()
try {
    Start-LabGuestThickAgent -Lab $lab -Thick $thick
    Write-Host "setup: a 1 GiB thick volume on $($thick.name), its first MiB written..."
    $src = New-BlockVolume -Name "$tag-src" -SizeGiB 1 -AvailabilityZone $thick.zone -Confirm:$false -Wait -TimeoutSec 900
    if ($src.Status -ne 'available') { throw "setup: the source ended $($src.Status): $($src.StatusReason)" }
    $srcDev = "/dev/$($thick.vg)/volume-$($src.Id)"
    Invoke-LabGuest -Guest $g -Command "head -c 1048576 /dev/urandom | dd of=$srcDev bs=1M count=1 oflag=direct conv=fsync status=none" | Out-Null

    Write-Host "warm-up, then $Count x (thick clone -Wait, bare lvcreate + dd), interleaved..."
    $warm = New-BlockVolume -Name "$tag-warm" -SourceVolumeId $src.Id -Confirm:$false -Wait -TimeoutSec 1200
    Remove-BlockVolume -Id $warm.Id -Confirm:$false -Wait -TimeoutSec 900 | Out-Null
    foreach ($i in 1..$Count) {
        $ours.Add((Invoke-Timed { $script:c = New-BlockVolume -Name "$tag-$i" -SourceVolumeId $src.Id -Confirm:$false -Wait -TimeoutSec 1200 }))
        if ($c.Status -ne 'available') { throw "$($c.Name) ended $($c.Status): $($c.StatusReason)" }
        # Not timed: the VG (8 GiB) holds the source and two copies at a time, not Count of them.
        Remove-BlockVolume -Id $c.Id -Confirm:$false -Wait -TimeoutSec 900 | Out-Null
        $lv = "$tag-bare$i"
        $bare.Add((Measure-InGuest $g ("lvcreate -q -y -n $lv -L 1g $($thick.vg) && " +
            "dd if=$srcDev of=/dev/$($thick.vg)/$lv bs=4M iflag=direct oflag=direct conv=fsync status=none")))
        Invoke-LabGuest -Guest $g -Command "lvremove -q -f $($thick.vg)/$lv" -TimeoutSeconds 300 -AllowFailure | Out-Null
    }
}
finally {
    Get-BlockVolume -Name "$tag-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 900 -ErrorAction Continue | Out-Null
    Remove-LabGuestThickHost -Lab $lab -Thick $thick
}

$mo = Get-Median $ours; $mb = Get-Median $bare
@"
### Thick clone: New-BlockVolume -SourceVolumeId -Wait next to a bare lvcreate + dd in the guest (thick VG) ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC, $(Get-BenchMachine), guest under TCG)

| $Count rounds of 1 GiB, interleaved | median ms | p95 ms |
|---|---|---|
| ``New-BlockVolume -SourceVolumeId -Wait`` (request, ledger check, agent's lvcreate and dd with direct I/O, status seen by the cmdlet) | $([math]::Round($mo, 1)) | $([math]::Round((Get-P95 $ours), 1)) |
| bare ``lvcreate -L 1g`` + ``dd bs=4M iflag=direct oflag=direct conv=fsync`` of the same source on the same VG (timed in the guest) | $([math]::Round($mb, 1)) | $([math]::Round((Get-P95 $bare), 1)) |
| overhead of the control plane (median difference) | $([math]::Round($mo - $mb, 1)) | |
| ratio (median) | $([math]::Round($mo / $mb, 2))x | |
"@
