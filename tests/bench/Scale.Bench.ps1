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
    5. the profile (a second table): where the time or the CPU of each row goes, from the same run: the
       stages of -ProfileRounds more -Wait rounds and the server's part of as many warm creates and bare
       INSERTs, read from PostgreSQL's statement log (tests/bench/StatementLog.psm1; logged for those
       rounds only), the CPU per create+delete by process, and the machine's cores, PostgreSQL and each
       scheduler while one and two schedulers placed.
#>
[CmdletBinding()]
param(
    [ValidateRange(2, 5000)][int] $Hosts = 1000,
    [ValidateRange(0, 1000000)][int] $Volumes = 100000,
    [ValidateRange(100, 200000)][int] $Requests = 20000,
    [ValidateRange(3, 200)][int] $Rounds = 15,
    [ValidateRange(10, 1000)][int] $Calls = 200,
    # Rounds of the profile (every statement logged): -Wait stages, the server's part of a warm create.
    [ValidateRange(0, 100)][int] $ProfileRounds = 10,
    # Print the table only; leave docs/benchmarks.md alone.
    [switch] $NoDocs
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
Import-Module (Join-Path $PSScriptRoot 'StatementLog.psm1') -Force
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
# Per part, for the profile: PostgreSQL, the schedulers, the agents' own, the agents' lvm children.
function Get-ServerTickParts {
    $agentsOwn = Get-Ticks $agentPids
    # Each part in parentheses: PowerShell's comma binds tighter than + and -.
    $postgres = (Get-Ticks (Get-PostgresPids $postmaster)) + (Get-Ticks $postmaster -WithChildren) - (Get-Ticks $postmaster)
    @($postgres, (Get-Ticks $schedulerPids -WithChildren), $agentsOwn, ((Get-Ticks $agentPids -WithChildren) - $agentsOwn))
}
$partTicks = [long[]]::new(4)
$waitMs = [System.Collections.Generic.List[double]]::new()
$lvcreateMs = [System.Collections.Generic.List[double]]::new()
$serverTicks = 0L; $bareTicks = 0L
$self = $PID
foreach ($i in 1..$Rounds) {
    $t0 = Get-ServerTickParts
    $v = $null
    $waitMs.Add((Invoke-Timed { $script:v = New-BlockVolume -Name "$tag-w$i" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait }))
    if ($v.Status -ne 'available') { throw "volume $($v.Name) ended $($v.Status): $($v.StatusReason)" }
    Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait | Out-Null
    $t1 = Get-ServerTickParts
    foreach ($k in 0..3) { $partTicks[$k] += $t1[$k] - $t0[$k] }
    $vg = $vgOf[$v.Host]
    $b0 = Get-Ticks @($self) -WithChildren
    $b1 = Get-Ticks @($self)
    $lvcreateMs.Add((Invoke-Timed { Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-bare$i", '-L', '1g', '-y', $vg) }))
    Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$vg/$tag-bare$i")
    # Children only: the bench process's own CPU is not the bare commands'.
    $bareTicks += ((Get-Ticks @($self) -WithChildren) - $b0) - ((Get-Ticks @($self)) - $b1)
}
$serverTicks = ($partTicks | Measure-Object -Sum).Sum
$cpuPerPair = $serverTicks / 100.0 / $Rounds
$cpuParts = @($partTicks | ForEach-Object { $_ / 100.0 / $Rounds })
$bareCpuPerPair = $bareTicks / 100.0 / $Rounds

# --- 3b. the profile: the same rounds with every statement logged ----------------------------------
# Where a -Wait's time goes (stages from the statements of the cmdlet, the scheduler and the agent)
# and the server's part of a warm create and of the bare INSERT. Rounds of their own, after the
# measured ones: logging every statement slows each a little.
$waitRounds = [System.Collections.Generic.List[object]]::new()
$warmCalls = [System.Collections.Generic.List[object]]::new()
$entries = @()
if ($ProfileRounds -gt 0) {
    Write-Host "==> profile: $ProfileRounds rounds of each with PostgreSQL's statement log"
    $entries = Invoke-WithStatementLog -Lab $lab -Rounds {
        foreach ($i in 1..$ProfileRounds) {
            $started = [DateTime]::UtcNow
            $pv = New-BlockVolume -Name "$tag-p$i" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait
            $returned = [DateTime]::UtcNow
            $waitRounds.Add([pscustomobject]@{ Volume = $pv; Started = $started; Returned = $returned })
            Remove-BlockVolume -Id $pv.Id -Confirm:$false -Wait | Out-Null
            # The bare commands too, so that the requests come at the measured rounds' pace.
            Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-pbare$i", '-L', '1g', '-y', $vgOf[$pv.Host])
            Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$($vgOf[$pv.Host])/$tag-pbare$i")
        }
        foreach ($i in 1..$ProfileRounds) {
            # 5 ms apart, so that the log's millisecond clock puts each statement in its own call.
            $started = [DateTime]::UtcNow
            $created.Add((New-BlockVolume -Name "$tag-np$i" -SizeGiB 1 -AvailabilityZone sim))
            $warmCalls.Add([pscustomobject]@{ Kind = 'cmdlet'; Started = $started; Returned = [DateTime]::UtcNow })
            Start-Sleep -Milliseconds 5
            $started = [DateTime]::UtcNow
            Invoke-BareInsert "$tag-bp$i"
            $warmCalls.Add([pscustomobject]@{ Kind = 'bare'; Started = $started; Returned = [DateTime]::UtcNow })
            Start-Sleep -Milliseconds 5
        }
    }
}
$stageNames = 'request', 'wake', 'placement', 'claim', 'lvm', 'completion', 'return'
$stages = @($waitRounds | ForEach-Object { Get-WaitStages -Entries $entries -VolumeId $_.Volume.Id -VolumeHost $_.Volume.Host -Started $_.Started -Returned $_.Returned } | Where-Object { $_ })
$stageMed = [ordered]@{}
foreach ($name in $stageNames) { $stageMed[$name] = if ($stages.Count) { Get-Median @($stages | ForEach-Object { $_[$name] }) } else { [double]::NaN } }
$profiledWaitMed = if ($waitRounds.Count) { Get-Median @($waitRounds | ForEach-Object { ($_.Returned - $_.Started).TotalMilliseconds }) } else { [double]::NaN }
$serverOf = {
    param($call)
    if ($call.Kind -eq 'bare') { Get-ServerMs -Entries $entries -Started $call.Started.AddMilliseconds(-1) -Returned $call.Returned -ProcessId $bareConn.ProcessID }
    else { Get-ServerMs -Entries $entries -Started $call.Started.AddMilliseconds(-1) -Returned $call.Returned -App 'blockstore-pwsh' -ExceptProcessId $bareConn.ProcessID }
}
$warmProfile = @{}
foreach ($kind in 'cmdlet', 'bare') {
    $kindCalls = @($warmCalls | Where-Object Kind -eq $kind)
    $warmProfile[$kind] = if ($kindCalls.Count) {
        @{ Total = Get-Median @($kindCalls | ForEach-Object { ($_.Returned - $_.Started).TotalMilliseconds }); Server = Get-Median @($kindCalls | ForEach-Object { & $serverOf $_ }) }
    } else { @{ Total = [double]::NaN; Server = [double]::NaN } }
}

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

# The profile: where the time or the CPU of the rows not met goes, from this run.
$pc1 = $r.placement_cpu_1; $pc2 = $r.placement_cpu_2
$cpuLine = { param($c, $n) if (-not $c) { return 'n/a' }
    $parts = @("PostgreSQL $(& $f $c.postgres_pct 0) %", "scheduler1 $(& $f $c.scheduler1_pct 0) %")
    if ($n -gt 1) { $parts += "scheduler2 $(& $f $c.scheduler2_pct 0) %" }
    "machine $(& $f $c.machine_busy_pct 0) % of $($c.cores * 100) % busy: " + ($parts -join ', ') + ", the simulated hosts' heartbeats $(& $f $c.harness_pct 0) %" }
$cpuS = { param($x) ([double]$x).ToString('0.000', [cultureinfo]::InvariantCulture) }
# Per round: the whole -Wait less the agent's LVM command, as the table's row compares the whole with a bare lvcreate.
$overLvm = if ($stages.Count) { Get-Median @($stages | ForEach-Object { $_.total - $_.lvm }) } else { [double]::NaN }
$profileRows = @(
    @('-Wait over lvcreate',
        "$ProfileRounds rounds with every statement logged, medians: the cmdlet's request $(& $f $stageMed.request 1) ms, the scheduler woken $(& $f $stageMed.wake 1), its placement transaction $(& $f $stageMed.placement 1), NOTIFY to the agent's claim returned $(& $f $stageMed.claim 1), the LVM command in the agent $(& $f $stageMed.lvm 1) (process start included; bare lvcreate $(& $f $lvMed 1) in the measured rounds), the completion $(& $f $stageMed.completion 1), NOTIFY to the cmdlet's return $(& $f $stageMed.return 1); in all $(& $f $profiledWaitMed 1) ms ($(& $f $waitMed 1) in the measured rounds), $(& $f $overLvm 1) ms beside the agent's LVM command ($($stages.Count) of $($waitRounds.Count) rounds found in the log)"),
    @('two schedulers', "one scheduler: $(& $cpuLine $pc1 1); two: $(& $cpuLine $pc2 2)"),
    @('warm New-BlockVolume',
        "the cmdlet $(& $f $warmProfile.cmdlet.Total 2) ms, of which PostgreSQL's statements (their logged durations) $(& $f $warmProfile.cmdlet.Server 2) ms; the bare INSERT $(& $f $warmProfile.bare.Total 2) ms, of which $(& $f $warmProfile.bare.Server 2) ms; the rest is PowerShell, Npgsql and the round trip"),
    @('CPU per create+delete',
        "PostgreSQL $(& $cpuS $cpuParts[0]), the schedulers $(& $cpuS $cpuParts[1]), the agents $(& $cpuS $cpuParts[2]), the agents' LVM commands $(& $cpuS $cpuParts[3]) CPU-s (bare lvcreate + lvremove $(& $cpuS $bareCpuPerPair)), over $Rounds rounds"),
    @('NOTIFY -> claim', "bare delivery $(& $f $r.bare_notify_roundtrip.notify_p50_ms 2) ms + the agent's part $(& $f $n2c.notified_to_claim_p50_ms 2) ms (one round trip: bare delivery + one SELECT 1 is $(& $f $r.bare_notify_roundtrip.notify_plus_roundtrip_p50_ms 2) ms)")
)
[void]$table.AppendLine('')
[void]$table.AppendLine('Profile, same run (where the time or the CPU of each row goes):')
[void]$table.AppendLine('')
[void]$table.AppendLine('| row | profile |')
[void]$table.AppendLine('|---|---|')
foreach ($row in $profileRows) { [void]$table.AppendLine("| $($row[0]) | $($row[1]) |") }
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
