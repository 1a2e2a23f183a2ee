#Requires -Version 7.4
<#
.SYNOPSIS
    Control plane at scale (issue 11): every figure of the issue next to its bare baseline, measured
    side by side in one run, printed as one table and written into docs/benchmarks.md.

.DESCRIPTION
    Run through build.ps1 (dotnet pwsh ./build.ps1 Bench [-Hosts 1000] [-Volumes 100000]) or directly
    against a running lab (Build, Up): dotnet pwsh tests/bench/Scale.Bench.ps1 [-Hosts 1000] [-Volumes 100000]

    1. seed: tests/bench/SimulatedHosts registers -Hosts SIMULATED volume hosts (zone 'sim') and gives them
       -Volumes existing volumes (with their operations and events), so the hot tables hold that many rows.
    2. cmdlets, in this pwsh, against the real lab (real agents, real LVM on loop-file VGs):
       - warm New-BlockVolume (no -Wait) vs a bare INSERT ... RETURNING from the same session (the module's
         own Npgsql), and vs the same work without the cmdlet (the module's data layer sending the
         cmdlet's statements in one batch on the same data source), interleaved;
       - Get-BlockVolume over all volumes: first object, and all, vs the bare SELECT;
       - single New-BlockVolume -Wait vs a bare lvcreate on the same VG, interleaved, medians;
       - server-side CPU per create+delete (PostgreSQL + scheduler + agents + their lvm children, from
         /proc) vs the CPU of the bare lvcreate + lvremove.
    3. run: the simulated hosts heartbeat and report (PostgreSQL CPU with and without them), the lab's
       real scheduler1 places -Requests pending requests alone (scheduler2 disabled), then both of the
       lab's scheduler processes do (placements/s each, and the bare set-based UPDATE of the same
       rows), the simulated agents run
       everything (ledger checked: no host over its capacity, no drift), and requests made one by one
       give NOTIFY -> claim.
    4. RSS of the scheduler and the agents.
#>
[CmdletBinding()]
param(
    [ValidateRange(2, 5000)][int] $Hosts = 1000,
    [ValidateRange(0, 1000000)][int] $Volumes = 100000,
    [ValidateRange(100, 200000)][int] $Requests = 20000,
    [ValidateRange(3, 200)][int] $Rounds = 15,
    [ValidateRange(10, 1000)][int] $Calls = 200,
    # Print the table only; leave docs/benchmarks.md alone.
    [switch] $NoDocs
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab; $vgOf = $bench.VgOf
$lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
$lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
$tag = 'scale' + [guid]::NewGuid().ToString('N').Substring(0, 4)
$loadStart = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
$admin = ([string]$lab.adminConnectionString) -replace 'Database=postgres', "Database=$($lab.database)"

# Clock ticks (user+system, with waited-for children such as lvm) of processes, from /proc.
function Get-Ticks([int[]] $Pids, [switch] $WithChildren) {
    $total = 0L
    foreach ($p in $Pids) {
        try { $f = ([System.IO.File]::ReadAllText("/proc/$p/stat") -split '\) ', 2)[1] -split ' ' } catch { continue }
        $total += [long]$f[11] + [long]$f[12]
        if ($WithChildren) { $total += [long]$f[13] + [long]$f[14] }
    }
    return $total
}

function Get-PostgresPids([int] $Postmaster) {
    $list = [System.Collections.Generic.List[int]]::new()
    $list.Add($Postmaster)
    foreach ($d in [System.IO.Directory]::EnumerateDirectories('/proc')) {
        $name = [System.IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$') { continue }
        try { $f = ([System.IO.File]::ReadAllText("$d/stat") -split '\) ', 2)[1] -split ' ' } catch { continue }
        if ([int]$f[1] -eq $Postmaster) { $list.Add([int]$name) }
    }
    return $list.ToArray()
}

function Get-RssMb([int] $ProcessId) {
    $line = Get-Content "/proc/$ProcessId/status" -ErrorAction Ignore | Where-Object { $_ -like 'VmRSS:*' }
    if (-not $line) { return 0 }
    return [math]::Round([double](($line -split '\s+')[1]) / 1024, 1)
}

# --- 0. the harness ------------------------------------------------------------------------------
$harnessDir = Join-Path $repo 'out/bench/SimulatedHosts'
Write-Host "==> build the simulated-host harness -> out/bench/SimulatedHosts"
& dotnet build (Join-Path $repo 'tests/bench/SimulatedHosts/SimulatedHosts.csproj') -c Release --nologo -v minimal -o $harnessDir | Out-Host
if ($LASTEXITCODE -ne 0) { throw 'harness build failed' }
$harness = Join-Path $harnessDir 'SimulatedHosts.dll'

Write-Host "==> seed: $Hosts simulated hosts, $Volumes volumes"
& dotnet $harness seed --connection $admin --hosts $Hosts --volumes $Volumes | Out-Host
if ($LASTEXITCODE -ne 0) { throw 'seed failed' }

$postmaster = [int](Get-Content -LiteralPath (Join-Path $lab.pgDataDir 'postmaster.pid') -TotalCount 1)
# The lab's two real scheduler processes (scheduler1 places alone first, then both).
$schedulerNames = @(if ($lab.PSObject.Properties['schedulers']) { $lab.schedulers | ForEach-Object name } else { $lab.scheduler.name })
$schedulerPids = @($schedulerNames | ForEach-Object { Get-LabHostPid -Name $_ -Lab $lab })
$agentPids = @($lab.nodes | ForEach-Object { Get-LabHostPid -Name $_.name -Lab $lab })

# --- 1. warm New-BlockVolume vs bare INSERT ... RETURNING ---------------------------------------
Write-Host "==> warm New-BlockVolume vs bare INSERT ... RETURNING, $Calls calls each, interleaved"
$warm = New-BlockVolume -Name "$tag-warm" -SizeGiB 1 -Wait
Remove-BlockVolume -Id $warm.Id -Confirm:$false -Wait | Out-Null
$npgsql = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Npgsql' } | Select-Object -First 1
$dataSource = $npgsql.GetType('Npgsql.NpgsqlDataSource')::Create($lab.connectionString)
$bareConn = $dataSource.OpenConnection()
function Invoke-BareInsert([string] $Name) {
    # The same row New-BlockVolume writes, alone: no scheduler check, no operation, no event, no notify.
    # Inserted as deleted so that the lab's scheduler and ledger never see it.
    $cmd = $bareConn.CreateCommand()
    $cmd.CommandText = "INSERT INTO bs.volumes (id, name, size_gib, status) VALUES (gen_random_uuid(), `$1, 1, 'deleted') RETURNING id, name, size_gib, status, created_at"
    $p = $cmd.CreateParameter(); $p.Value = $Name; [void]$cmd.Parameters.Add($p)
    $r = $cmd.ExecuteReader(); [void]$r.Read(); $r.Dispose(); $cmd.Dispose()
}
# The same work as the cmdlet (its statements, one batch, the module's own data source), without
# PowerShell's cmdlet call: splits the cmdlet's cost into PowerShell + client and the server's work.
$baselines = New-CreateBaselines -ConnectionString $lab.connectionString
$newMs = [System.Collections.Generic.List[double]]::new()
$bareInsertMs = [System.Collections.Generic.List[double]]::new()
$equalMs = [System.Collections.Generic.List[double]]::new()
$created = [System.Collections.Generic.List[object]]::new()
foreach ($i in 1..$Calls) {
    $newMs.Add((Invoke-Timed { $created.Add((New-BlockVolume -Name "$tag-n$i" -SizeGiB 1 -AvailabilityZone sim)) }))
    $equalMs.Add($baselines.Equal("$tag-ne$i", 'sim'))
    $bareInsertMs.Add((Invoke-Timed { Invoke-BareInsert "$tag-b$i" }))
}
$baselines.Dispose()

# --- 2. Get-BlockVolume over all volumes ---------------------------------------------------------
$total = [int](Invoke-LabSql "select count(*) from bs.volumes where status <> 'deleted'")
Write-Host "==> Get-BlockVolume over $total volumes"
function Invoke-BareSelect([int] $Limit) {
    $cmd = $bareConn.CreateCommand()
    $cmd.CommandText = "SELECT id, name, size_gib, status, host, zone, description, status_reason, created_at, updated_at, multiattach FROM bs.volumes WHERE status <> 'deleted' ORDER BY created_at, id" + $(if ($Limit) { " LIMIT $Limit" })
    $r = $cmd.ExecuteReader(); $n = 0; while ($r.Read()) { $n++ }; $r.Dispose(); $cmd.Dispose(); return $n
}
$firstMs = [System.Collections.Generic.List[double]]::new()
$stopMs = [System.Collections.Generic.List[double]]::new()
$bareFirstMs = [System.Collections.Generic.List[double]]::new()
$allMs = [System.Collections.Generic.List[double]]::new()
$bareAllMs = [System.Collections.Generic.List[double]]::new()
foreach ($i in 1..5) {
    # The first object as the pipeline sees it, and the whole of "| Select-Object -First 1" (which
    # also counts what the cmdlet does when the pipeline stops it).
    $sw = [System.Diagnostics.Stopwatch]::StartNew(); $script:seen = $null
    Get-BlockVolume | ForEach-Object { if ($null -eq $script:seen) { $script:seen = $sw.Elapsed.TotalMilliseconds }; $_ } | Select-Object -First 1 | Out-Null
    $firstMs.Add($script:seen)
    $stopMs.Add((Invoke-Timed { Get-BlockVolume | Select-Object -First 1 | Out-Null }))
    $bareFirstMs.Add((Invoke-Timed { Invoke-BareSelect 1 | Out-Null }))
}
foreach ($i in 1..2) {
    $allMs.Add((Invoke-Timed { $script:count = (Get-BlockVolume | Measure-Object).Count }))
    $bareAllMs.Add((Invoke-Timed { Invoke-BareSelect 0 | Out-Null }))
}
$pagingSupported = (Get-Command Get-BlockVolume).Parameters.ContainsKey('First')

# --- 3. single New-BlockVolume -Wait vs bare lvcreate; CPU per create+delete ----------------------
Write-Host "==> $Rounds x (New-BlockVolume -Wait, lvcreate, Remove-BlockVolume -Wait, lvremove) on the lab's real VGs"
# PostgreSQL's processes are listed afresh at each reading (pooled backends come and go; the
# postmaster's cutime holds the ones that exited).
$hostPids = @($schedulerPids) + $agentPids
function Get-ServerTicks { (Get-Ticks (Get-PostgresPids $postmaster)) + (Get-Ticks $postmaster -WithChildren) - (Get-Ticks $postmaster) + (Get-Ticks $hostPids -WithChildren) }
$waitMs = [System.Collections.Generic.List[double]]::new()
$lvcreateMs = [System.Collections.Generic.List[double]]::new()
$serverTicks = 0L; $bareTicks = 0L
$self = $PID
foreach ($i in 1..$Rounds) {
    $t0 = Get-ServerTicks
    $v = $null
    $waitMs.Add((Invoke-Timed { $script:v = New-BlockVolume -Name "$tag-w$i" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait }))
    if ($v.Status -ne 'available') { throw "volume $($v.Name) ended $($v.Status): $($v.StatusReason)" }
    Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait | Out-Null
    $serverTicks += (Get-ServerTicks) - $t0
    $vg = $vgOf[$v.Host]
    $b0 = Get-Ticks @($self) -WithChildren
    $b1 = Get-Ticks @($self)
    $lvcreateMs.Add((Invoke-Timed { Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-bare$i", '-L', '1g', '-y', $vg) }))
    Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$vg/$tag-bare$i")
    # Children only: the bench process's own CPU is not the bare commands'.
    $bareTicks += ((Get-Ticks @($self) -WithChildren) - $b0) - ((Get-Ticks @($self)) - $b1)
}
$cpuPerPair = $serverTicks / 100.0 / $Rounds
$bareCpuPerPair = $bareTicks / 100.0 / $Rounds

# --- 4. the simulated hosts against the real scheduler ---------------------------------------------
Write-Host "==> run: $Hosts simulated hosts, $Requests placements with one and two schedulers"
$results = Join-Path $lab.stateDir "bench-$tag.json"
& dotnet $harness run --connection $admin --hosts $Hosts --requests $Requests --out $results `
    --schedulers ($schedulerNames -join ',') --scheduler-pids ($schedulerPids -join ',') | Out-Host
if ($LASTEXITCODE -ne 0) { throw 'harness run failed' }
$r = Get-Content -LiteralPath $results -Raw | ConvertFrom-Json
$agentRss = @($agentPids | ForEach-Object { Get-RssMb $_ })
$loadEnd = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '

# Clean up the cmdlet rounds' requests in zone sim (the simulated agents created them).
Get-BlockVolume -Name "$tag-n*" | Remove-BlockVolume -Confirm:$false | Out-Null
$bareConn.Dispose(); $dataSource.Dispose()

# --- report ------------------------------------------------------------------------------------------
$f = { param($x, $d = 1) if ($x -is [double] -and [double]::IsNaN($x)) { 'n/a' } else { [math]::Round([double]$x, $d).ToString('#,0.##', [cultureinfo]::InvariantCulture) } }
$newMed = Get-Median $newMs; $bareInsMed = Get-Median $bareInsertMs; $equalMed = Get-Median $equalMs
$firstMed = Get-Median $firstMs; $bareFirstMed = Get-Median $bareFirstMs
$waitMed = Get-Median $waitMs; $lvMed = Get-Median $lvcreateMs
$n2c = $r.notify_to_claim
$rows = @(
    @("scheduler placements/s, $Hosts live hosts, $total existing volumes, one scheduler", '601/s (2 hosts)', '>= 5,000/s',
        "$(& $f $r.placements_per_s_1 0)/s", "bare set-based UPDATE of the same rows: $(& $f $r.bare_placements_per_s 0)/s", ($r.placements_per_s_1 -ge 5000)),
    @('two schedulers at once', 'data level only', '>= 1.6x one; never overcommit',
        "$(& $f $r.placements_per_s_2 0)/s = $(& $f ($r.placements_per_s_2 / $r.placements_per_s_1) 2)x; overcommitted hosts $($r.overcommitted_hosts), ledger drift $($r.ledger_drift_hosts)",
        "$($schedulerNames[-1]) placed $($r.placements_by_scheduler_2) of $Requests", (($r.placements_per_s_2 / $r.placements_per_s_1) -ge 1.6 -and $r.overcommitted_hosts -eq 0)),
    # NOTIFY -> claim: the NOTIFY is sent at the scheduler's commit; the agent's part (notification
    # received -> claim returned) plus the bare delivery of a NOTIFY measured in the same run. The
    # 'scheduled' event (the scheduler's transaction start) -> claim is shown beside it.
    @('NOTIFY -> claim, p50 (bare NOTIFY delivery + agent: notification received -> claim returned)', 'not measured', '<= 3 ms',
        "$(& $f ($r.bare_notify_roundtrip.notify_p50_ms + $n2c.notified_to_claim_p50_ms) 2) ms = $(& $f $r.bare_notify_roundtrip.notify_p50_ms 2) + $(& $f $n2c.notified_to_claim_p50_ms 2) (agent's part p95 $(& $f $n2c.notified_to_claim_p95_ms 2)); from the 'scheduled' event, the scheduler's transaction start: $(& $f $n2c.notify_to_claim_p50_ms 2) ms (p95 $(& $f $n2c.notify_to_claim_p95_ms 2))",
        "bare NOTIFY -> LISTEN p50 $(& $f $r.bare_notify_roundtrip.notify_p50_ms 2) ms, + one SELECT 1 $(& $f $r.bare_notify_roundtrip.notify_plus_roundtrip_p50_ms 2) ms; request -> placed p50 $(& $f $n2c.request_to_placed_p50_ms 2) ms",
        (($r.bare_notify_roundtrip.notify_p50_ms + $n2c.notified_to_claim_p50_ms) -le 3)),
    @('warm New-BlockVolume vs bare INSERT ... RETURNING, same session', '~4.7x a bare SELECT', '<= 1.5x',
        "$(& $f $newMed 2) ms = $(& $f ($newMed / $bareInsMed) 1)x the bare INSERT, $(& $f ($newMed / $equalMed) 1)x the same work without the cmdlet",
        "bare INSERT ... RETURNING (one row, as deleted: no triggers, operation, event or NOTIFY) $(& $f $bareInsMed 2) ms; the cmdlet's own statements in one batch from the module's data layer $(& $f $equalMed 2) ms = $(& $f ($equalMed / $bareInsMed) 1)x the bare INSERT",
        (($newMed / $bareInsMed) -le 1.5)),
    @('single New-BlockVolume -Wait over bare lvcreate, same VG, median', '22-39 ms', '<= 15 ms',
        "+$(& $f ($waitMed - $lvMed) 0) ms ($(& $f $waitMed 0) ms)", "lvcreate $(& $f $lvMed 0) ms", (($waitMed - $lvMed) -le 15)),
    @("Get-BlockVolume over $total volumes", 'not measured', 'first object <= 50 ms, streams, -First/-Skip in SQL',
        "first $(& $f $firstMed 0) ms, stopped by Select-Object -First 1 $(& $f (Get-Median $stopMs) 0) ms, all $(& $f (Get-Median $allMs) 0) ms; -First/-Skip: $(if ($pagingSupported) { 'yes' } else { 'no' })",
        "bare LIMIT 1 $(& $f $bareFirstMed 1) ms, all $(& $f (Get-Median $bareAllMs) 0) ms", ($firstMed -le 50 -and (Get-Median $stopMs) -le 50 -and $pagingSupported)),
    @("heartbeats + capacity reports of $Hosts hosts (every $($r.heartbeat_interval_s) s)", 'not measured', '<= 10 % of one core in PostgreSQL',
        "$(& $f ($r.pg_core_pct_heartbeats - $r.pg_core_pct_idle) 1) % ($(& $f $r.heartbeats_per_s 0)/s)", "PostgreSQL without them $(& $f $r.pg_core_pct_idle 1) %",
        (($r.pg_core_pct_heartbeats - $r.pg_core_pct_idle) -le 10)),
    @('server-side CPU per create+delete (scheduler + agents + PostgreSQL + LVM)', '0.092 CPU-s', '<= 0.06 CPU-s',
        "$(& $f $cpuPerPair 3) CPU-s", "bare lvcreate + lvremove $(& $f $bareCpuPerPair 3) CPU-s", ($cpuPerPair -le 0.06)),
    @('scheduler / agent RSS', 'not measured', '<= 80 / 60 MB',
        "$(& $f $r.scheduler1_rss_mb 0) / $(& $f (($agentRss | Measure-Object -Maximum).Maximum) 0) MB", "second scheduler $(& $f $r.scheduler2_rss_mb 0) MB",
        ($r.scheduler1_rss_mb -le 80 -and (($agentRss | Measure-Object -Maximum).Maximum) -le 60))
)
$cpu = ((Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^.*:\s*', '')
$mem = [math]::Round(([double]((Get-Content /proc/meminfo | Select-Object -First 1) -replace '\D', '')) / 1MB, 1)
$pg = Invoke-LabSql 'show server_version'
$commit = (& git -C $repo rev-parse --short HEAD 2>$null)
$table = [System.Text.StringBuilder]::new()
[void]$table.AppendLine("Run $(Get-Date -AsUTC -Format 'yyyy-MM-dd HH:mm') UTC, commit $commit, on $([Environment]::ProcessorCount) vCPU ($cpu), $mem GiB, kernel $((uname -r)), PostgreSQL $pg;")
[void]$table.AppendLine("$Hosts simulated hosts + $(@($lab.nodes).Count) real agents, $total volumes, $Requests placements per scheduler run; load average $loadStart at the start, $loadEnd at the end (shared machine).")
[void]$table.AppendLine('')
[void]$table.AppendLine('| measure | before (issue) | goal | measured | bare baseline, same run | met |')
[void]$table.AppendLine('|---|---|---|---|---|---|')
foreach ($row in $rows) { [void]$table.AppendLine("| $($row[0]) | $($row[1]) | $($row[2]) | $($row[3]) | $($row[4]) | $(if ($row[5]) { 'yes' } else { '**no**' }) |") }
$text = $table.ToString()
Write-Host ''
Write-Host $text

if (-not $NoDocs) {
    $doc = Join-Path $repo 'docs/benchmarks.md'
    $content = Get-Content -LiteralPath $doc -Raw
    $begin = '<!-- scale-bench:begin -->'
    $end = '<!-- scale-bench:end -->'
    $block = "$begin`n$text$end"
    if ($content.Contains($begin)) {
        $content = [regex]::Replace($content, [regex]::Escape($begin) + '.*?' + [regex]::Escape($end), { $block }, 'Singleline')
    }
    else {
        $content = $content.TrimEnd() + "`n`n## Control plane at scale (issue 11)`n`nScript: ``tests/bench/Scale.Bench.ps1`` (``dotnet pwsh ./build.ps1 Bench [-Hosts 1000] [-Volumes 100000]``).`n`n$block`n"
    }
    Set-Content -LiteralPath $doc -Value $content -NoNewline
    Write-Host "written to docs/benchmarks.md"
}
