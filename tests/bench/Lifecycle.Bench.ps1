#Requires -Version 7.4
<#
.SYNOPSIS
    Volume lifecycle benchmark against the lab: New-BlockVolume -> available next to a bare lvcreate
    on the same VG, side by side in one run; a bulk pipeline; and the scheduler's placement rate.

.DESCRIPTION
    Not run by build.ps1 Test (timings are measured, never asserted). Needs a lab:
        dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up
        dotnet pwsh ./tests/bench/Lifecycle.Bench.ps1
    Prints a markdown report (machine, date, numbers) for docs/benchmarks.md.

    1. Sequential, one warm pwsh session: for i in 1..Count, in this order:
         New-BlockVolume -SizeGiB 1 -Wait          (request -> available, seen by the cmdlet)
         lvcreate -n bench-bare-i -L 1g -y <VG>    (same VG as that volume, same --config as the agent)
         Remove-BlockVolume -Wait                  (request -> deleted)
         lvremove -f <VG>/bench-bare-i
       Interleaving puts both sides under the same machine load.
    2. Bulk: BulkCount volumes in one pipeline with -Wait, then removed in one pipeline with -Wait.
    3. Scheduler placement rate: with both agents stopped (so no LVM runs) and the scheduler disabled,
       SchedulerRequests create requests are inserted as pending; the scheduler is enabled and the
       time until every one is placed is taken from the database clock (first enable to last
       'scheduled' event). The stopped agents' capacity rows are raised so every request fits; their
       next heartbeat after the restart restores the real numbers. The bench rows are then marked
       deleted (no LV was ever made for them).
#>
[CmdletBinding()]
param(
    [ValidateRange(5, 1000)][int] $Count = 50,
    [ValidateRange(10, 1000)][int] $BulkCount = 200,
    [ValidateRange(100, 100000)][int] $SchedulerRequests = 2000
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab; $vgOf = $bench.VgOf
$lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
$lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
$tag = 'bench' + [guid]::NewGuid().ToString('N').Substring(0, 4)

function Get-Stats([double[]] $Ms) {
    $s = @($Ms | Sort-Object)
    $p95 = $s[[math]::Min($s.Count - 1, [math]::Ceiling(0.95 * $s.Count) - 1)]   # nearest rank
    $median = if ($s.Count % 2) { $s[($s.Count - 1) / 2] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
    [pscustomobject]@{ N = $s.Count; Median = [math]::Round($median, 1); P95 = [math]::Round($p95, 1); Min = [math]::Round($s[0], 1); Max = [math]::Round($s[-1], 1) }
}

Write-Host "warming up (module load, first connection, JIT)..."
$warm = New-BlockVolume -Name "$tag-warm" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait
Remove-BlockVolume -Id $warm.Id -Confirm:$false -Wait
Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-warm", '-L', '1g', '-y', $lab.nodes[0].vg)
Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$($lab.nodes[0].vg)/$tag-warm")

# --- 1. sequential, side by side ------------------------------------------------------------------
Write-Host "sequential: $Count x (New-BlockVolume -Wait, lvcreate, Remove-BlockVolume -Wait, lvremove)..."
$create = [System.Collections.Generic.List[double]]::new()
$bareCreate = [System.Collections.Generic.List[double]]::new()
$delete = [System.Collections.Generic.List[double]]::new()
$bareDelete = [System.Collections.Generic.List[double]]::new()
foreach ($i in 1..$Count) {
    $v = $null
    $create.Add((Invoke-Timed { $script:v = New-BlockVolume -Name "$tag-s$i" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait }))
    if ($v.Status -ne 'available') { throw "volume $($v.Name) ended $($v.Status): $($v.StatusReason)" }
    $vg = $vgOf[$v.Host]
    $bareCreate.Add((Invoke-Timed { Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-bare$i", '-L', '1g', '-y', $vg) }))
    $delete.Add((Invoke-Timed { Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait }))
    $bareDelete.Add((Invoke-Timed { Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$vg/$tag-bare$i") }))
}

# --- 2. bulk pipeline ------------------------------------------------------------------------------
Write-Host "bulk: $BulkCount volumes in one pipeline..."
$specs = 1..$BulkCount | ForEach-Object { [pscustomobject]@{ Name = "$tag-b$_"; SizeGiB = 1; Zone = $lab.zone } }
$bulk = $null
$bulkCreateMs = Invoke-Timed { $script:bulk = @($specs | New-BlockVolume -Wait -TimeoutSec 900) }
$notAvailable = @($bulk | Where-Object Status -NE 'available').Count
$bulkDeleteMs = Invoke-Timed { $bulk | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 900 }

# --- 3. scheduler placement rate -------------------------------------------------------------------
Write-Host "scheduler: $SchedulerRequests pending requests, agents stopped, scheduler disabled then enabled..."
foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
# Only the lab's nodes (zone $lab.zone) take part: another registered host (the iSCSI guest) is left alone.
$nodeList = @($lab.nodeNames | ForEach-Object { "'$_'" }) -join ', '
$placedPerSecond = $null
try {
    Invoke-LabSql "update bs.services set disabled = true where service = 'scheduler'" | Out-Null
    Start-Sleep -Milliseconds 500
    Invoke-LabSql @"
insert into bs.volumes (id, name, size_gib, status, zone)
  select gen_random_uuid(), '$tag-q' || g, 1, 'creating', '$($lab.zone)' from generate_series(1, $SchedulerRequests) g;
insert into bs.operations (volume_id, kind, stage)
  select id, 'create', 'pending' from bs.volumes where name like '$tag-q%' order by name;
update bs.services set total_gib = 1000000, free_gib = 1000000, heartbeat_at = now() where service = 'volume' and host in ($nodeList);
"@ | Out-Null
    $enabledAt = Invoke-LabSql "update bs.services set disabled = false where service = 'scheduler' returning to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US')"
    Invoke-LabSql "select pg_notify('bs_schedule', '0')" | Out-Null
    $deadline = [DateTime]::UtcNow.AddMinutes(10)
    while ([int](Invoke-LabSql "select count(*) from bs.operations o join bs.volumes v on v.id = o.volume_id where v.name like '$tag-q%' and o.stage = 'pending'") -gt 0) {
        if ([DateTime]::UtcNow -gt $deadline) { throw 'the scheduler did not place the requests within 10 minutes' }
        Invoke-LabSql "update bs.services set heartbeat_at = now() where service = 'volume' and host in ($nodeList)" | Out-Null  # stopped agents stay 'up'
        Start-Sleep -Milliseconds 200
    }
    $row = Invoke-LabSql @"
select count(*) filter (where e.kind = 'scheduled') || '|' || count(*) filter (where e.kind = 'error') || '|' ||
       extract(epoch from max(e.at) - '$enabledAt'::timestamptz)
from bs.events e join bs.volumes v on v.id = e.volume_id where v.name like '$tag-q%'
"@
    $placed, $failed, $seconds = $row -split '\|'
    $placedPerSecond = [math]::Round([int]$placed / [double]$seconds, 0)
}
finally {
    Invoke-LabSql "update bs.services set disabled = false where service = 'scheduler'" | Out-Null
    # No LV was ever made for these rows: mark them deleted so the lab's ledger is clean again.
    Invoke-LabSql @"
update bs.operations set stage = 'cancelled', finished_at = now(), error = 'benchmark row'
  where stage in ('pending', 'scheduled') and volume_id in (select id from bs.volumes where name like '$tag-q%');
update bs.volumes set status = 'deleted', deleted_at = now(), status_reason = 'benchmark row' where name like '$tag-q%';
"@ | Out-Null
    foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n | Out-Null }
}

# --- report ------------------------------------------------------------------------------------------
$cpu = ((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^.*:\s*', '')
$mem = [math]::Round(([double]((Get-Content /proc/meminfo | Select-Object -First 1) -replace '\D', '')) / 1MB, 1)
$lvmVersion = ((& lvm version 2>$null | Select-Object -First 1) -replace '^\s*LVM version:\s*', '').Trim()
$pg = Invoke-LabSql 'show server_version'
$load = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
$c = Get-Stats $create; $bc = Get-Stats $bareCreate; $d = Get-Stats $delete; $bd = Get-Stats $bareDelete

@"
Run $(Get-Date -AsUTC -Format 'yyyy-MM-dd HH:mm') UTC on $([Environment]::ProcessorCount) vCPU ($cpu), $mem GiB, kernel $((uname -r)),
LVM $lvmVersion (activation $(if ($lab.lvmActivation) { 'on' } else { 'off: metadata only' })), PostgreSQL $pg, $(@($lab.nodes).Count) agents, loop-file VGs;
load average at the end of the run: $load (the machine is shared: compare the side-by-side ratios, not absolute times).

| $Count sequential, one warm pwsh session (ms) | median | p95 | min | max |
|---|---|---|---|---|
| New-BlockVolume -SizeGiB 1 -Wait (request -> available) | $($c.Median) | $($c.P95) | $($c.Min) | $($c.Max) |
| bare ``lvcreate -L 1g`` on the same VG | $($bc.Median) | $($bc.P95) | $($bc.Min) | $($bc.Max) |
| Remove-BlockVolume -Wait (request -> deleted) | $($d.Median) | $($d.P95) | $($d.Min) | $($d.Max) |
| bare ``lvremove -f`` on the same VG | $($bd.Median) | $($bd.P95) | $($bd.Min) | $($bd.Max) |

Ratio create/bare lvcreate (medians): $([math]::Round($c.Median / $bc.Median, 1)); delete/bare lvremove: $([math]::Round($d.Median / $bd.Median, 1)).

| bulk, one pipeline | value |
|---|---|
| $BulkCount x New-BlockVolume -Wait, all available | $([math]::Round($bulkCreateMs / 1000, 1)) s = $([math]::Round($BulkCount / ($bulkCreateMs / 1000), 1)) volumes/s ($notAvailable not available) |
| $BulkCount x Remove-BlockVolume -Wait, all deleted | $([math]::Round($bulkDeleteMs / 1000, 1)) s = $([math]::Round($BulkCount / ($bulkDeleteMs / 1000), 1)) volumes/s |
| scheduler: $SchedulerRequests pending requests placed (no LVM) | $placed placed, $failed failed in $([math]::Round([double]$seconds, 2)) s = **$placedPerSecond placements/s** |
"@
