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
    Prints a markdown table for docs/benchmarks.md.
#>
[CmdletBinding()]
param([ValidateRange(5, 500)][int] $Count = 30)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab; $vgOf = $bench.VgOf
$lvm = @{}; foreach ($tool in 'lvcreate', 'lvextend', 'lvremove') { $lvm[$tool] = (Get-Command $tool -CommandType Application)[0].Source }
$tag = 'xb' + [guid]::NewGuid().ToString('N').Substring(0, 4)
# Bare LVM as the agent runs it: the lab's --config (activation off, no devices file).
function Invoke-LabLvm([string] $Tool, [string[]] $Arguments) { Invoke-Lvm $lvm[$Tool] (@('--config', $lab.lvmConfig) + $Arguments) }

Write-Host "setup: $Count volumes and $Count bare LVs of 1 GiB..."
$volumes = @(1..$Count | ForEach-Object { [pscustomobject]@{ Name = "$tag-$_"; SizeGiB = 1; Zone = $lab.zone } } | New-BlockVolume -Wait -TimeoutSec 600)
if (@($volumes | Where-Object Status -NE 'available').Count) { throw 'setup: not every volume became available' }
foreach ($i in 0..($Count - 1)) { Invoke-LabLvm lvcreate @('-n', "$tag-bare$i", '-L', '1g', '-y', $vgOf[$volumes[$i].Host]) }

Write-Host "warm-up, then $Count x (Resize-BlockVolume -Wait, lvextend), interleaved..."
$warm = New-BlockVolume -Name "$tag-warm" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait
Resize-BlockVolume -Id $warm.Id -SizeGiB 2 -Confirm:$false -Wait | Out-Null
$ours = [System.Collections.Generic.List[double]]::new()
$bare = [System.Collections.Generic.List[double]]::new()
try {
    foreach ($i in 0..($Count - 1)) {
        $v = $volumes[$i]
        $ours.Add((Invoke-Timed { $script:r = Resize-BlockVolume -Id $v.Id -SizeGiB 2 -Confirm:$false -Wait -PassThru }))
        if ($r.SizeGiB -ne 2 -or $r.Status -ne 'available') { throw "$($v.Name) ended $($r.Status) at $($r.SizeGiB) GiB: $($r.StatusReason)" }
        $bare.Add((Invoke-Timed { Invoke-LabLvm lvextend @('-L', '2g', "$($vgOf[$v.Host])/$tag-bare$i") }))
    }
}
finally {
    foreach ($i in 0..($Count - 1)) { Invoke-LabLvm lvremove @('-f', "$($vgOf[$volumes[$i].Host])/$tag-bare$i") }
    @($volumes) + @($warm) | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 600
}

$mo = Get-Median $ours; $mb = Get-Median $bare
@"
### Extend: Resize-BlockVolume -Wait next to a bare lvextend ($(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC, $(Get-BenchMachine))

| $Count rounds, interleaved | median ms | p95 ms |
|---|---|---|
| ``Resize-BlockVolume -SizeGiB 2 -Wait`` (request, ledger check, agent's lvextend, status seen by the cmdlet) | $([math]::Round($mo, 1)) | $([math]::Round((Get-P95 $ours), 1)) |
| bare ``lvextend -L 2g`` on the same VG | $([math]::Round($mb, 1)) | $([math]::Round((Get-P95 $bare), 1)) |
| overhead of the control plane (median difference) | $([math]::Round($mo - $mb, 1)) | |
| ratio (median) | $([math]::Round($mo / $mb, 2))x | |
"@
