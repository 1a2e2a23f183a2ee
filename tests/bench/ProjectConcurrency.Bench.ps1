#Requires -Version 7.4
<#
.SYNOPSIS
    Many clients making New-BlockVolume's request at once in ONE project against one project EACH,
    side by side in one run: what a busy project costs with the quota ledger in slots (0018), in one
    row per (project, type) as 0017 made it, and without it.

.DESCRIPTION
    Run against a running lab (dotnet pwsh ./build.ps1 Build, Up):
        dotnet pwsh tests/bench/ProjectConcurrency.Bench.ps1 [-Clients 8] [-Seconds 10] [-Rounds 2]

    Every request is the statements of New-BlockVolume's request (VolumeRequests.InsertAsync): the
    volume (its BEFORE INSERT quota check and the ledger triggers), its pending create operation, the
    'requested' event and the NOTIFY on the schedulers' channel, sent by pgbench as one compound
    query (one round trip, one implicit transaction, as the product's batch) over the lab's operator
    role. Left out: the zone and running-scheduler checks of the volume's INSERT (reads of other
    tables, the same in every mode) and PowerShell; pgbench is the client, so the clients are cheap
    and what is measured is PostgreSQL's side: how many such requests per second -Clients
    connections get through. -NotifyAfterCommit sends the NOTIFY in a transaction of its own after
    the request's COMMIT instead (a form measured and not taken, docs/benchmarks.md "Quotas").

    Six modes, interleaved -Rounds times, -Seconds each:
      one project                     every client in project 'hotrow-1', the ledger as it is (0018:
                                      each server process writes its own of 16 slots)
      one project, one ledger row     bs.quota_ledger_add writing slot 0 only: 0017's one row per
                                      (project, type) (the function is put back after)
      one project, ledger off         the ledger's triggers on bs.volumes disabled (as before 0017
                                      for a project without a finite limit)
      a project each                  client i in project 'hotrow-i'
      a project each, one ledger row
      a project each, ledger off
    The lab's schedulers are stopped while it runs (nothing places the bench's requests; they are
    deleted after each mode with the hotrow projects' ledger rows, and bs.quota_ledger_drift is
    printed at the end) and started again afterwards. Prints a table; writes nothing into docs.
    Never asserts a timing.
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 64)][int] $Clients = 8,
    [ValidateRange(2, 120)][int] $Seconds = 10,
    [ValidateRange(1, 10)][int] $Rounds = 2,
    [switch] $NotifyAfterCommit
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$lab = $bench.Lab
$pgbench = Join-Path $lab.pgBinDir 'pgbench'
$psql = Join-Path $lab.pgBinDir 'psql'

# The operator's libpq parameters from the lab's Npgsql connection string (Host, Port, Username,
# Database, Passfile).
$cs = @{}
foreach ($part in ([string]$lab.connectionString -split ';')) {
    $k, $v = $part -split '=', 2
    if ($k) { $cs[$k.Trim()] = $v }
}

function Invoke-AdminSql([string] $Sql) {
    # As the lab's superuser over its socket: DISABLE TRIGGER needs the tables' owner.
    $out = & $psql -X -q -t -A -v ON_ERROR_STOP=1 -h $lab.socketDir -p $lab.port -U $lab.user -d $lab.database -c $Sql 2>&1
    if ($LASTEXITCODE -ne 0) { throw "psql failed: $out" }
    return $out
}

# bs.quota_ledger_add as installed, and the same writing slot 0 only (0017's one row).
$ledgerAdd = "'bs.quota_ledger_add(text,text,bigint,bigint,bigint)'::regprocedure"
$slotExpr = '(pg_backend_pid() % 16)::smallint'
$ledgerAddSql = (Invoke-AdminSql "SELECT pg_get_functiondef($ledgerAdd)") -join "`n"
if (-not $ledgerAddSql.Contains($slotExpr)) { throw "bs.quota_ledger_add has no slots (schema before 0018?): $ledgerAddSql" }
function Set-LedgerSlots([bool] $Slots) {
    Invoke-AdminSql $(if ($Slots) { $ledgerAddSql } else { $ledgerAddSql.Replace($slotExpr, '0::smallint') }) | Out-Null
}

$ledgerTriggers = 'quota_ledger_insert', 'quota_ledger_update', 'quota_ledger_delete'
function Set-Ledger([bool] $On) {
    $verb = if ($On) { 'ENABLE' } else { 'DISABLE' }
    Invoke-AdminSql (($ledgerTriggers | ForEach-Object { "ALTER TABLE bs.volumes $verb TRIGGER $_;" }) -join ' ') | Out-Null
}

function Remove-BenchRows {
    # session_replication_role = replica skips the foreign keys' checks (each deleted volume would
    # otherwise scan bs.operations for source_volume_id, which has no index: minutes for a few
    # thousand rows) and every other trigger, the ledger's too; so the hotrow projects' ledger rows
    # go with their volumes (the projects hold nothing else).
    Invoke-AdminSql ("BEGIN; SET LOCAL session_replication_role = replica; " +
        "DELETE FROM bs.events WHERE volume_id IN (SELECT id FROM bs.volumes WHERE name LIKE 'hotrow-%'); " +
        "DELETE FROM bs.operations WHERE volume_id IN (SELECT id FROM bs.volumes WHERE name LIKE 'hotrow-%'); " +
        "DELETE FROM bs.volumes WHERE name LIKE 'hotrow-%'; " +
        "DELETE FROM bs.quota_ledger WHERE project LIKE 'hotrow-%'; COMMIT;") | Out-Null
}

# One request: New-BlockVolume's statements as one compound query (VolumeRequests.InsertAsync). The
# id is made from two random 64-bit numbers (the product makes a UUIDv7 in the client).
$id = "(lpad(to_hex(:hi::bigint), 16, '0') || lpad(to_hex(:lo::bigint), 16, '0'))::uuid"
$volume = "INSERT INTO bs.volumes (id, name, description, size_gib, status, zone, multiattach, project, volume_type) SELECT $id, 'hotrow-' || :hi || '-' || :lo, NULL, 1, 'creating', NULL, false, 'hotrow-' || (CASE WHEN :per_client = 1 THEN :client_id + 1 ELSE 1 END), 'default'"
$opAndEvent = "WITH o AS (INSERT INTO bs.operations (volume_id, kind, stage) SELECT v.id, 'create', 'pending' FROM bs.volumes v WHERE v.id = $id RETURNING id, volume_id), " +
    "e AS (INSERT INTO bs.events (volume_id, host, service, kind, message) SELECT o.volume_id, NULL, NULL, 'requested', 'create of 1 GiB requested' FROM o) "
$randoms = "\set hi random(1, 9000000000000000000)`n\set lo random(1, 9000000000000000000)`n"
$scripts = @{
    # As the product sends it: the NOTIFY in the request's transaction.
    request = $randoms + "$volume \;`n$opAndEvent SELECT pg_notify('bs_schedule', o.id::text) FROM o`n"
    # The form measured and not taken: BEGIN, the rows, COMMIT, then the NOTIFY in its own transaction.
    after   = $randoms + "BEGIN \;`n$volume \;`n$opAndEvent SELECT o.id FROM o \;`nCOMMIT \;`nSELECT pg_notify('bs_schedule', v.id::text) FROM bs.volumes v WHERE v.id = $id`n"
}
$scriptFiles = @{}
foreach ($k in $scripts.Keys) {
    $scriptFiles[$k] = Join-Path ([System.IO.Path]::GetTempPath()) "hotrow-$PID-$k.sql"
    Set-Content -LiteralPath $scriptFiles[$k] -Value $scripts[$k]
}

function Invoke-Mode([bool] $PerClient, [string] $Form) {
    $env:PGPASSFILE = $cs['Passfile']
    $out = & $pgbench -n -M simple -c $Clients -j ([math]::Min($Clients, 2)) -T $Seconds -D "per_client=$([int]$PerClient)" `
        -f $scriptFiles[$Form] -h $cs['Host'] -p $cs['Port'] -U $cs['Username'] $cs['Database'] 2>&1
    if ($LASTEXITCODE -ne 0) { throw "pgbench failed: $($out -join "`n")" }
    $tps = ($out | Select-String -Pattern '^tps = ([\d.]+)' | Select-Object -First 1).Matches[0].Groups[1].Value
    $lat = ($out | Select-String -Pattern '^latency average = ([\d.]+) ms' | Select-Object -First 1).Matches[0].Groups[1].Value
    $failed = ($out | Select-String -Pattern '^number of failed transactions: (\d+)' | Select-Object -First 1)
    return [pscustomobject]@{
        Tps = [double]$tps; LatencyMs = [double]$lat
        Failed = if ($failed) { [int]$failed.Matches[0].Groups[1].Value } else { 0 }
    }
}

$schedulers = @($lab.schedulers | ForEach-Object { $_.name })
$loadStart = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
$results = [System.Collections.Generic.List[object]]::new()
try {
    foreach ($s in $schedulers) { Stop-LabHost -Name $s -Lab $lab }
    Invoke-AdminSql ("INSERT INTO bs.projects (name, description) SELECT 'hotrow-' || i, 'ProjectConcurrency.Bench' " +
        "FROM generate_series(1, $Clients) i ON CONFLICT (name) DO NOTHING;") | Out-Null
    Remove-BenchRows
    $form = if ($NotifyAfterCommit) { 'after' } else { 'request' }
    $modes = @(
        @{ Name = 'one project'; PerClient = $false; Ledger = $true; Slots = $true; Form = $form },
        @{ Name = 'one project, one ledger row'; PerClient = $false; Ledger = $true; Slots = $false; Form = $form },
        @{ Name = 'one project, ledger off'; PerClient = $false; Ledger = $false; Slots = $true; Form = $form },
        @{ Name = 'a project each'; PerClient = $true; Ledger = $true; Slots = $true; Form = $form },
        @{ Name = 'a project each, one ledger row'; PerClient = $true; Ledger = $true; Slots = $false; Form = $form },
        @{ Name = 'a project each, ledger off'; PerClient = $true; Ledger = $false; Slots = $true; Form = $form })
    for ($round = 1; $round -le $Rounds; $round++) {
        foreach ($m in $modes) {
            Set-Ledger $m.Ledger
            Set-LedgerSlots $m.Slots
            try {
                $r = Invoke-Mode $m.PerClient $m.Form
            } finally {
                Remove-BenchRows
                Set-Ledger $true
                Set-LedgerSlots $true
            }
            $results.Add([pscustomobject]@{ Round = $round; Mode = $m.Name; Tps = $r.Tps; LatencyMs = $r.LatencyMs; Failed = $r.Failed })
            Write-Host ("round {0}  {1,-32} {2,8:N0} requests/s  latency {3,6:N2} ms  failed {4}" -f $round, $m.Name, $r.Tps, $r.LatencyMs, $r.Failed)
        }
    }
} finally {
    Set-Ledger $true
    Set-LedgerSlots $true
    $scriptFiles.Values | Remove-Item -ErrorAction Ignore
    foreach ($s in $schedulers) { Start-LabHost -Name $s -Lab $lab | Out-Null }
}
$drift = Invoke-AdminSql 'SELECT count(*) FROM bs.quota_ledger_drift'
$loadEnd = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '

Write-Host ''
Write-Host "$(Get-Date -AsUTC -Format 'yyyy-MM-dd HH:mm') UTC, $(Get-BenchMachine), $Clients clients, $Seconds s per mode, NOTIFY $(if ($NotifyAfterCommit) { 'after the commit' } else { 'in the request' }); load $loadStart at the start, $loadEnd at the end; quota ledger drift rows after: $drift"
Write-Host ''
Write-Host '| mode | requests/s per round | latency per round, ms | vs a project each |'
Write-Host '|---|---|---|---|'
$baseline = @($results | Where-Object Mode -EQ 'a project each' | ForEach-Object Tps)
$baseMedian = Get-Median $baseline
foreach ($name in ($results | ForEach-Object Mode | Select-Object -Unique)) {
    $rows = @($results | Where-Object Mode -EQ $name)
    $ratio = (Get-Median @($rows | ForEach-Object Tps)) / $baseMedian
    Write-Host ("| {0} | {1} | {2} | {3:N2}x |" -f $name, (($rows | ForEach-Object { '{0:N0}' -f $_.Tps }) -join ' / '),
        (($rows | ForEach-Object { '{0:N2}' -f $_.LatencyMs }) -join ' / '), $ratio)
}
