#Requires -Version 7.4
<#
.SYNOPSIS
    Two schedulers with and without their own tie-break among equally free hosts (issue 11), side by
    side in one run: placements/s of one scheduler alone and of both, per setting, interleaved.

.DESCRIPTION
    Against a running lab (dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up), then
    dotnet pwsh tests/bench/SchedulerSpread.Bench.ps1 [-Hosts 1000] [-Volumes 100000] [-Requests 20000] [-Rounds 2]

    The simulated hosts of tests/bench/SimulatedHosts (seed) are made up and reporting in SQL (a
    heartbeat an hour ahead, 1,000 GiB VGs with nothing foreign), so that only the schedulers run:
    the harness's `place` mode times -Requests pending creates from the enable to the last
    'scheduled' event (database clock). Per round and setting (ties by name, the default:
    --Scheduler:SpreadTies=false; the spread of exact ties; the spread with a band of -BandPercent)
    both lab schedulers are restarted with it and warmed up (-WarmUp placements by both, not
    measured); then scheduler1 places alone, then both do. The order of the settings is reversed
    every other round. After each measurement, hosts over their capacity and
    bs.capacity_ledger_drift must both be 0. Also the CPU of both scheduler processes (/proc) per
    1,000 placements. Placed volumes stay (1 GiB each): a second run needs a fresh lab (Down, Up)
    or the hosts fill up. The simulated hosts stay up for an hour with no agent behind them, so a
    request without a zone may land there: take the lab Down (or Up afresh) before running tests.
#>
[CmdletBinding()]
param(
    [ValidateRange(2, 5000)][int] $Hosts = 1000,
    [ValidateRange(0, 1000000)][int] $Volumes = 100000,
    [ValidateRange(100, 200000)][int] $Requests = 20000,
    [ValidateRange(1, 10)][int] $Rounds = 2,
    # Placements by both schedulers after each restart, not measured.
    [ValidateRange(0, 100000)][int] $WarmUp = 4000,
    # The third setting's band (Scheduler:SpreadBandPercent).
    [ValidateRange(0.1, 50)][double] $BandPercent = 1
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab
$admin = ([string]$lab.adminConnectionString) -replace 'Database=postgres', "Database=$($lab.database)"
$schedulers = @(Get-LabSchedulerNames -Lab $lab)
if ($schedulers.Count -lt 2) { throw "the lab runs $($schedulers.Count) scheduler(s); two are needed" }
$schedulers = $schedulers[0..1]

$harnessDir = Join-Path $repo 'out/bench/SimulatedHosts'
& dotnet build (Join-Path $repo 'tests/bench/SimulatedHosts/SimulatedHosts.csproj') -c Release --nologo -v minimal -o $harnessDir | Out-Host
if ($LASTEXITCODE -ne 0) { throw 'harness build failed' }
$harness = Join-Path $harnessDir 'SimulatedHosts.dll'
& dotnet $harness seed --connection $admin --hosts $Hosts --volumes $Volumes | Out-Host
if ($LASTEXITCODE -ne 0) { throw 'seed failed' }
# Up and reporting without running them: only the schedulers and PostgreSQL work while measured.
Invoke-LabSql ("UPDATE bs.services SET heartbeat_at = now() + interval '1 hour', healthy = true, backend_type = 'thick', " +
    "total_gib = 1000, free_gib = 1000, allocated_gib = 0, reserved_percentage = 0 WHERE host LIKE 'sim-%' AND service = 'volume'") | Out-Null

# The settings compared: ties by host name (the default), the spread of exact ties, and with a band.
$settings = [ordered]@{
    'name order' = @('--Scheduler:SpreadTies=false')
    'spread, exact ties' = @('--Scheduler:SpreadTies=true', '--Scheduler:SpreadBandPercent=0')
    "spread, band $BandPercent %" = @('--Scheduler:SpreadTies=true', "--Scheduler:SpreadBandPercent=$BandPercent")
}

function Set-Spread([string] $Setting) {
    foreach ($s in $schedulers) {
        Stop-LabHost -Name $s -Lab $lab
        Start-LabHost -Name $s -Lab $lab -ExtraArguments $settings[$Setting] | Out-Null
    }
    Start-Sleep -Seconds 3 # both registered and listening
    # Warm both (JIT, pools, the first read of every host) outside the measurement: a fresh process
    # would otherwise make "one", measured first, look slower than it is.
    $out = & dotnet $harness place --connection $admin --requests $WarmUp --schedulers ($schedulers -join ',') --use 2 2>&1
    if ($LASTEXITCODE -ne 0) { throw "warm-up failed: $out" }
}

# CPU of the lab's scheduler processes (user + system clock ticks, /proc): less bent by the
# machine's load than the wall time, and what contention costs them (lock rounds, full reads).
function Get-SchedulerTicks {
    $total = 0L
    foreach ($s in $schedulers) {
        $p = Get-LabHostPid -Name $s -Lab $lab
        try { $f = ([System.IO.File]::ReadAllText("/proc/$p/stat") -split '\) ', 2)[1] -split ' ' } catch { continue }
        $total += [long]$f[11] + [long]$f[12]
    }
    return $total
}

function Measure-Placement([int] $Use) {
    $ticks = Get-SchedulerTicks
    $before = [int](Invoke-LabSql "SELECT count(*) FROM bs.events WHERE kind = 'scheduled' AND message LIKE '% by $($schedulers[1]) %'")
    $out = & dotnet $harness place --connection $admin --requests $Requests --schedulers ($schedulers -join ',') --use $Use 2>&1
    if ($LASTEXITCODE -ne 0) { throw "place failed: $out" }
    $line = @($out | Where-Object { "$_" -match 'placements in' })[-1]
    if ("$line" -notmatch '= (\d+)/s') { throw "no rate in: $out" }
    $rate = $Matches[1]
    $cpuMs = ((Get-SchedulerTicks) - $ticks) * 10.0
    $second = [int](Invoke-LabSql "SELECT count(*) FROM bs.events WHERE kind = 'scheduled' AND message LIKE '% by $($schedulers[1]) %'") - $before
    $over = [int](Invoke-LabSql ("SELECT count(*) FROM bs.capacity_ledger l JOIN bs.services s ON s.host = l.host AND s.service = 'volume' " +
        "WHERE s.backend_type = 'thick' AND l.provisioned_gib > s.total_gib"))
    $drift = [int](Invoke-LabSql 'SELECT count(*) FROM bs.capacity_ledger_drift')
    $failed = @($out | Where-Object { "$_" -match 'failed placement' }).Count
    return [pscustomobject]@{ Rate = [int]$rate; CpuMsPer1000 = [math]::Round($cpuMs * 1000 / $Requests, 0); BySecond = $second; Over = $over; Drift = $drift; Failed = $failed }
}

$loadStart = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
$startUtc = [DateTime]::UtcNow
$rows = [System.Collections.Generic.List[object]]::new()
foreach ($round in 1..$Rounds) {
    $order = @($settings.Keys)
    if ($round % 2 -eq 0) { [array]::Reverse($order) }
    foreach ($on in $order) {
        Set-Spread $on
        $one = Measure-Placement 1
        $two = Measure-Placement 2
        $row = [pscustomobject]@{
            Round = $round; Spread = $on; One = $one.Rate; Two = $two.Rate; Ratio = [math]::Round($two.Rate / [double]$one.Rate, 2)
            CpuOne = $one.CpuMsPer1000; CpuTwo = $two.CpuMsPer1000; SecondPlaced = $two.BySecond; Overcommitted = [math]::Max($one.Over, $two.Over); Drift = [math]::Max($one.Drift, $two.Drift)
            Failed = $one.Failed + $two.Failed; Load = ((Get-Content /proc/loadavg) -split ' ')[0]
        }
        $rows.Add($row)
        Write-Host ("round {0}, {1}: one {2}/s, two {3}/s = {4}x ({5} by {6}); overcommitted {7}, drift {8}, load {9}" -f
            $round, $on, $one.Rate, $two.Rate, $row.Ratio, $two.BySecond, $schedulers[1], $row.Overcommitted, $row.Drift, $row.Load)
    }
}
# The lab's own settings again (the defaults).
foreach ($s in $schedulers) { Stop-LabHost -Name $s -Lab $lab; Start-LabHost -Name $s -Lab $lab | Out-Null }

Write-Host ""
Write-Host "Run $($startUtc.ToString('yyyy-MM-dd HH:mm')) - $([DateTime]::UtcNow.ToString('HH:mm')) UTC, commit $(git -C $repo rev-parse --short HEAD), $Hosts simulated hosts, $Volumes seeded volumes, $Requests placements per measurement; load $loadStart at the start, $(((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' ') at the end"
$rows | Format-Table -AutoSize | Out-Host
foreach ($on in $settings.Keys) {
    $mine = @($rows | Where-Object Spread -EQ $on)
    Write-Host ("{0}: two/one {1} (median {2}); one {3}/s, two {4}/s (medians); scheduler CPU per 1,000 placements one {5} ms, two {6} ms (medians)" -f $on,
        (($mine | ForEach-Object Ratio) -join ', '), (Get-Median ([double[]]($mine | ForEach-Object Ratio))),
        (Get-Median ([double[]]($mine | ForEach-Object One))), (Get-Median ([double[]]($mine | ForEach-Object Two))),
        (Get-Median ([double[]]($mine | ForEach-Object CpuOne))), (Get-Median ([double[]]($mine | ForEach-Object CpuTwo))))
}
if (@($rows | Where-Object { $_.Overcommitted -ne 0 -or $_.Drift -ne 0 }).Count -gt 0) { throw 'overcommitted hosts or ledger drift' }
