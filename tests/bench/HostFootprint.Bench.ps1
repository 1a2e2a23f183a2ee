#Requires -Version 7.4
<#
.SYNOPSIS
    Issue 11: memory (RSS, PSS) and CPU of the lab's real scheduler and agent processes under .NET
    runtime settings, each against the baseline, side by side in one run.

.DESCRIPTION
    Not run by build.ps1 Test (figures are measured, never asserted). Needs a lab:
        dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up
        dotnet pwsh ./tests/bench/HostFootprint.Bench.ps1 [-Pairs 40] [-Bulk 60] [-Rounds 2] [-Variant base,wx0]

    Another build's hosts side by side with this one's (issue 11: a change to the scheduler or the
    agent): copy that build's out/hosts to out/bench/footprint/before/out/hosts, then -Variant base,before.

    The lab starts its hosts with DOTNET_GCgen0size=0x200000 (tests/lab/Hosts.ps1, as the packaged
    units do): 'base' is that, 'defaults' the runtime's own; a variant's variable wins over the lab's.
    Both hosts are NativeAOT executables now (build.ps1), so the JIT settings (tiering, PGO, W^X)
    apply only to a variant with Root = '<name>', which runs a tree prepared under
    out/bench/footprint/: agent_r2r and sched_r2r are the ReadyToRun publishes they replaced. The
    2026-12-04 figures in docs/benchmarks.md (issue 11) were taken before any of this.

    For each variant, in -Rounds rounds (the order reversed every other round, so drift in the
    machine's load falls on every variant alike): the lab's four hosts (scheduler1, scheduler2,
    node1, node2) are restarted with the variant's environment variables (and, for a runtimeconfig
    property, from a copy of out/hosts with that property in its runtimeconfig.json), then
      - -Bulk volumes in one pipeline with -Wait, then removed in one pipeline (batches for the
        schedulers; also warms the hosts up);
      - -Pairs sequential New-BlockVolume -Wait + Remove-BlockVolume -Wait (the Scale bench's CPU
        rounds): CPU of PostgreSQL (postmaster and backends), the schedulers and the agents with
        their lvm children, from /proc, per create+delete;
      - the median of those -Pairs New-BlockVolume -Wait (CreateWaitMs) and, as its bare baseline in
        the same round, the median of -Pairs bare lvcreate of a 1 GiB LV on the same VG (LvcreateMs,
        each followed by an lvremove that is not timed);
      - then VmRSS (as Scale.Bench.ps1 reads it: /proc/<pid>/status) and, from
        /proc/<pid>/smaps_rollup, PSS, anonymous memory and shared memory (the runtime's W^X
        double mapping of JIT code is shared memory) of each host.
    Each variant's hosts are stopped and the lab's own hosts are started again at the end.
    Prints one table per round and the medians per variant.
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 500)][int] $Pairs = 40,
    [ValidateRange(0, 500)][int] $Bulk = 60,
    [ValidateRange(1, 10)][int] $Rounds = 2,
    [string[]] $Variant
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
$repo = $bench.Repo; $lab = $bench.Lab
# Start-/Stop-LabHost, Get-LabHostNames, Wait-LabHosts: the lab's own functions.
Import-Module (Join-Path $repo 'tests/lab/Lab.psm1') -DisableNameChecking
$tag = 'fp' + [guid]::NewGuid().ToString('N').Substring(0, 4)

# Each variant: environment variables for the host processes, runtimeconfig.json properties.
$all = [ordered]@{
    base     = @{ Env = @{}; Config = @{} }
    noconc   = @{ Env = @{ DOTNET_gcConcurrent = '0' }; Config = @{} }
    pgo0     = @{ Env = @{ DOTNET_TieredPGO = '0' }; Config = @{} }
    tc0      = @{ Env = @{ DOTNET_TieredCompilation = '0' }; Config = @{} }
    conserve = @{ Env = @{ DOTNET_GCConserveMemory = '5' }; Config = @{} }
    gen0_2m  = @{ Env = @{ DOTNET_GCgen0size = '0x200000' }; Config = @{} }
    wx0      = @{ Env = @{ DOTNET_EnableWriteXorExecute = '0' }; Config = @{} }
    arena2   = @{ Env = @{ MALLOC_ARENA_MAX = '2' }; Config = @{} }
    syskeys  = @{ Env = @{}; Config = @{ 'System.Resources.UseSystemResourceKeys' = $true } }
    combined = @{ Env = @{ DOTNET_gcConcurrent = '0'; DOTNET_TieredPGO = '0'; DOTNET_GCgen0size = '0x200000'; DOTNET_EnableWriteXorExecute = '0'; MALLOC_ARENA_MAX = '2' }; Config = @{} }
    pgo0_gen0 = @{ Env = @{ DOTNET_TieredPGO = '0'; DOTNET_GCgen0size = '0x200000' }; Config = @{} }
    tc0_gen0 = @{ Env = @{ DOTNET_TieredCompilation = '0'; DOTNET_GCgen0size = '0x200000' }; Config = @{} }
    tc0_gen0_4m = @{ Env = @{ DOTNET_TieredCompilation = '0'; DOTNET_GCgen0size = '0x400000' }; Config = @{} }
    tc0_gen0_noconc = @{ Env = @{ DOTNET_TieredCompilation = '0'; DOTNET_GCgen0size = '0x200000'; DOTNET_gcConcurrent = '0' }; Config = @{} }
    # The runtime's defaults: tiering on, gen0 budget from the L3 cache (the lab sets neither then).
    defaults = @{ Env = @{ DOTNET_TieredCompilation = '1'; DOTNET_GCgen0size = '0' }; Config = @{} }
    # The agent as it was published before it became NativeAOT (build.ps1): ReadyToRun,
    # framework-dependent, started through its apphost with the lab's settings; the scheduler as built.
    agent_r2r = @{ Env = @{}; Config = @{}; Root = 'agent-r2r'; Prepare = {
            param([string] $Root)
            Copy-Item -LiteralPath (Join-Path $repo 'out/hosts/scheduler') -Destination (Join-Path $Root 'out/hosts/scheduler') -Recurse
            & dotnet publish (Join-Path $repo 'src/BlockStore.Agent') -c Release --nologo -v quiet -o (Join-Path $Root 'out/hosts/agent') `
                -r linux-x64 --self-contained false -p:PublishReadyToRun=true | Out-Host
            if ($LASTEXITCODE -ne 0) { throw 'the ReadyToRun publish of the agent failed' }
        }
    }
    # The scheduler as it was published before it became NativeAOT (build.ps1): ReadyToRun,
    # framework-dependent, started through its apphost, without tiered compilation as the lab and
    # its unit ran it then; the agent as built.
    sched_r2r = @{ Env = @{ DOTNET_TieredCompilation = '0' }; Config = @{}; Root = 'sched-r2r'; Prepare = {
            param([string] $Root)
            Copy-Item -LiteralPath (Join-Path $repo 'out/hosts/agent') -Destination (Join-Path $Root 'out/hosts/agent') -Recurse
            & dotnet publish (Join-Path $repo 'src/BlockStore.Scheduler') -c Release --nologo -v quiet -o (Join-Path $Root 'out/hosts/scheduler') `
                -r linux-x64 --self-contained false -p:PublishReadyToRun=true | Out-Host
            if ($LASTEXITCODE -ne 0) { throw 'the ReadyToRun publish of the scheduler failed' }
        }
    }
    # Another build's hosts (both hosts as that build published them), prepared by hand: see the help above.
    before = @{ Env = @{}; Config = @{}; Root = 'before' }
}
$names = if ($Variant) { @($Variant -split ",") } else { @($all.Keys) }
foreach ($n in $names) { if (-not $all.Contains($n)) { throw "unknown variant '$n' (known: $($all.Keys -join ', '))" } }
$hostNames = @(Get-LabHostNames $lab)
$postmaster = [int](Get-Content -LiteralPath (Join-Path $lab.pgDataDir 'postmaster.pid') -TotalCount 1)

function Get-Ticks([int] $ProcessId, [switch] $WithChildren) {
    try { $f = ([System.IO.File]::ReadAllText("/proc/$ProcessId/stat") -split '\) ', 2)[1] -split ' ' } catch { return 0L }
    $t = [long]$f[11] + [long]$f[12]
    if ($WithChildren) { $t += [long]$f[13] + [long]$f[14] }
    return $t
}

function Get-PostgresTicks {
    # The postmaster with its exited children, and every live backend.
    $t = Get-Ticks $postmaster -WithChildren
    foreach ($d in [System.IO.Directory]::EnumerateDirectories('/proc')) {
        $name = [System.IO.Path]::GetFileName($d)
        if ($name -notmatch '^\d+$') { continue }
        try { $f = ([System.IO.File]::ReadAllText("$d/stat") -split '\) ', 2)[1] -split ' ' } catch { continue }
        if ([int]$f[1] -eq $postmaster) { $t += [long]$f[11] + [long]$f[12] }
    }
    return $t
}

function Get-Memory([int] $ProcessId) {
    $m = @{}
    foreach ($line in [System.IO.File]::ReadAllLines("/proc/$ProcessId/smaps_rollup")) {
        if ($line -match '^(\w+):\s+(\d+) kB') { $m[$Matches[1]] = [double]$Matches[2] / 1024 }
    }
    $rss = ([System.IO.File]::ReadAllLines("/proc/$ProcessId/status") | Where-Object { $_ -like 'VmRSS:*' }) -replace '\D', ''
    return [pscustomobject]@{ Rss = [double]$rss / 1024; Pss = $m['Pss']; Anon = $m['Anonymous']; Shmem = $m['Pss_Shmem'] }
}

function Get-VariantLab([string] $Name) {
    # A runtimeconfig property needs its own copy of the hosts; environment variables do not.
    $v = $all[$Name]
    if ($v['Root']) {
        $copy = $lab | ConvertTo-Json -Depth 10 | ConvertFrom-Json
        $copy.repo = Join-Path $repo "out/bench/footprint/$($v.Root)"
        if (-not (Test-Path -LiteralPath (Join-Path $copy.repo 'out/hosts/scheduler')) -and $v['Prepare']) {
            New-Item -ItemType Directory -Force -Path (Join-Path $copy.repo 'out/hosts') | Out-Null
            & $v.Prepare $copy.repo
        }
        if (-not (Test-Path -LiteralPath (Join-Path $copy.repo 'out/hosts/scheduler'))) { throw "variant ${Name}: prepare $($copy.repo)/out/hosts first" }
        return $copy
    }
    if ($v.Config.Count -eq 0) { return $lab }
    $root = Join-Path $repo "out/bench/footprint/$Name"
    Remove-Item -LiteralPath $root -Recurse -Force -ErrorAction Ignore
    New-Item -ItemType Directory -Force -Path (Join-Path $root 'out') | Out-Null
    Copy-Item -LiteralPath (Join-Path $repo 'out/hosts') -Destination (Join-Path $root 'out/hosts') -Recurse
    foreach ($rc in Get-ChildItem -LiteralPath (Join-Path $root 'out/hosts') -Recurse -Filter '*.runtimeconfig.json') {
        $json = Get-Content -LiteralPath $rc.FullName -Raw | ConvertFrom-Json -AsHashtable
        foreach ($k in $v.Config.Keys) { $json.runtimeOptions.configProperties[$k] = $v.Config[$k] }
        $json | ConvertTo-Json -Depth 10 | Set-Content -LiteralPath $rc.FullName
    }
    $copy = $lab | ConvertTo-Json -Depth 10 | ConvertFrom-Json
    $copy.repo = $root
    return $copy
}

function Restart-Hosts([string] $Name) {
    $v = $all[$Name]
    $variantLab = Get-VariantLab $Name
    foreach ($h in $hostNames) { Stop-LabHost -Name $h -Lab $lab }
    $since = Invoke-LabSql "select now()::text"
    foreach ($k in $v.Env.Keys) { Set-Item -Path "env:$k" -Value $v.Env[$k] }
    try { foreach ($h in $hostNames) { Start-LabHost -Name $h -Lab $variantLab -NoWait | Out-Null } }
    finally { foreach ($k in $v.Env.Keys) { Remove-Item -Path "env:$k" -ErrorAction Ignore } }
    $list = ($hostNames | ForEach-Object { "'$_'" }) -join ','
    $ok = Wait-LabCondition -TimeoutSeconds 120 -IntervalMilliseconds 500 -Condition {
        (Invoke-LabSql "select count(*) from bs.services where host in ($list) and heartbeat_at > '$since'::timestamptz") -eq "$($hostNames.Count)"
    }
    if (-not $ok) { throw "variant ${Name}: not every host heartbeated within 120 s (see .blockstore/logs)" }
    # CPU from start to the first heartbeat (JIT, host start-up), before any work.
    $script:startCpu = @{}; foreach ($h in $hostNames) { $script:startCpu[$h] = (Get-Ticks (Get-LabHostPid -Name $h -Lab $lab)) / 100.0 }
    if (-not (Wait-LabCapacityReported -TimeoutSeconds 60 -Lab $lab)) { Write-Warning "variant ${Name}: capacity not reported yet" }
}

function Invoke-Workload([string] $Name, [int] $Round) {
    $pids = @{}; foreach ($h in $hostNames) { $pids[$h] = Get-LabHostPid -Name $h -Lab $lab }
    $w = New-BlockVolume -Name "$tag-$Name-$Round-warm" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait
    Remove-BlockVolume -Id $w.Id -Confirm:$false -Wait | Out-Null
    if ($Bulk -gt 0) {
        $specs = 1..$Bulk | ForEach-Object { [pscustomobject]@{ Name = "$tag-$Name-$Round-b$_"; SizeGiB = 1; Zone = $lab.zone } }
        $made = @($specs | New-BlockVolume -Wait -TimeoutSec 900)
        $bad = @($made | Where-Object Status -NE 'available')
        if ($bad.Count) { throw "bulk: $($bad.Count) volume(s) not available: $($bad[0].StatusReason)" }
        $made | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 900 | Out-Null
    }
    # The bulk first: the hosts' start-up (JIT, tiering) is then behind them when the CPU is counted.
    Start-Sleep -Seconds 2
    $before = @{ pg = Get-PostgresTicks }; foreach ($h in $hostNames) { $before[$h] = Get-Ticks $pids[$h] -WithChildren }
    $ownBefore = 0L; foreach ($h in $hostNames) { $ownBefore += Get-Ticks $pids[$h] }
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $waits = [System.Collections.Generic.List[double]]::new(); $vgs = @{}
    foreach ($i in 1..$Pairs) {
        $one = [System.Diagnostics.Stopwatch]::StartNew()
        $v = New-BlockVolume -Name "$tag-$Name-$Round-$i" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait
        $waits.Add($one.Elapsed.TotalMilliseconds)
        if ($v.Status -ne 'available') { throw "volume $($v.Name) ended $($v.Status): $($v.StatusReason)" }
        $vgs[$v.Host] = $true
        Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait | Out-Null
    }
    $seconds = $sw.Elapsed.TotalSeconds
    $after = @{ pg = Get-PostgresTicks }; foreach ($h in $hostNames) { $after[$h] = Get-Ticks $pids[$h] -WithChildren }
    # The hosts' own CPU, without their lvm children (LVM's cost moves with its archive directory, not with our code).
    $ownAfter = 0L; foreach ($h in $hostNames) { $ownAfter += Get-Ticks $pids[$h] }
    # The bare baseline of CreateWaitMs in the same round: lvcreate on the VG the volumes went to.
    $vg = $bench.VgOf[@($vgs.Keys)[0]]
    $bare = [System.Collections.Generic.List[double]]::new()
    foreach ($i in 1..$Pairs) {
        $one = [System.Diagnostics.Stopwatch]::StartNew()
        Invoke-Lvm lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-bare$i", '-L', '1g', '-y', $vg)
        $bare.Add($one.Elapsed.TotalMilliseconds)
        Invoke-Lvm lvremove @('--config', $lab.lvmConfig, '-f', "$vg/$tag-bare$i")
    }
    Start-Sleep -Seconds 3
    $row = [ordered]@{ Round = $Round; Variant = $Name; PairS = [math]::Round($seconds / $Pairs, 2) }
    $row['CpuPair'] = [math]::Round(((($after.Values | Measure-Object -Sum).Sum) - (($before.Values | Measure-Object -Sum).Sum)) / 100.0 / $Pairs, 3)
    $row['PgCpu'] = [math]::Round(($after.pg - $before.pg) / 100.0 / $Pairs, 3)
    $row['HostsOwnCpu'] = [math]::Round(($ownAfter - $ownBefore) / 100.0 / $Pairs, 3)
    $row['CreateWaitMs'] = [math]::Round((Get-Median @($waits)), 1)
    $row['LvcreateMs'] = [math]::Round((Get-Median @($bare)), 1)
    $row['OverMs'] = [math]::Round($row['CreateWaitMs'] - $row['LvcreateMs'], 1)
    $row['HostsCpu'] = [math]::Round((($hostNames | ForEach-Object { $after[$_] - $before[$_] } | Measure-Object -Sum).Sum) / 100.0 / $Pairs, 3)
    foreach ($h in $hostNames) {
        $row["${h}_StartCpu"] = $script:startCpu[$h]
        $m = Get-Memory $pids[$h]
        $row["${h}_Rss"] = [math]::Round($m.Rss, 1); $row["${h}_Pss"] = [math]::Round($m.Pss, 1)
        $row["${h}_Anon"] = [math]::Round($m.Anon, 1); $row["${h}_Shmem"] = [math]::Round($m.Shmem, 1)
    }
    return [pscustomobject]$row
}

$results = [System.Collections.Generic.List[object]]::new()
Write-Host "==> $(Get-BenchMachine); variants $($names -join ', '); $Rounds round(s) of $Pairs pairs + bulk $Bulk"
try {
    foreach ($round in 1..$Rounds) {
        $order = if ($round % 2) { $names } else { $names[($names.Count - 1)..0] }
        foreach ($n in @($order)) {
            Write-Host "--- round $round, $n ($(Get-Date -AsUTC -Format 'HH:mm:ss'), load $((Get-Content /proc/loadavg).Split(' ')[0]))"
            Restart-Hosts $n
            $r = Invoke-Workload $n $round
            $results.Add($r)
            $r | Format-List | Out-String | Write-Host
        }
    }
}
finally {
    Write-Host '==> the lab hosts as the lab starts them'
    foreach ($h in $hostNames) { Stop-LabHost -Name $h -Lab $lab }
    foreach ($h in $hostNames) { Start-LabHost -Name $h -Lab $lab -NoWait | Out-Null }
    Wait-LabHosts $lab
    $out = Join-Path $repo "out/bench/footprint-$tag.json"
    New-Item -ItemType Directory -Force -Path (Split-Path $out) | Out-Null
    $results | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $out
    Write-Host "results: $out"
}

Write-Host "`nmedians per variant (MB; CPU-s per create+delete):"
$results | Group-Object Variant | ForEach-Object {
    $g = $_.Group
    $med = { param($p) Get-Median @($g | ForEach-Object { $_.$p }) }
    $sched = Get-Median @($g | ForEach-Object { $_.scheduler1_Rss; $_.scheduler2_Rss })
    $agent = Get-Median @($g | ForEach-Object { $_.node1_Rss; $_.node2_Rss })
    $schedPss = Get-Median @($g | ForEach-Object { $_.scheduler1_Pss; $_.scheduler2_Pss })
    $agentPss = Get-Median @($g | ForEach-Object { $_.node1_Pss; $_.node2_Pss })
    $schedStart = Get-Median @($g | ForEach-Object { $_.scheduler1_StartCpu; $_.scheduler2_StartCpu })
    $agentStart = Get-Median @($g | ForEach-Object { $_.node1_StartCpu; $_.node2_StartCpu })
    [pscustomobject]@{ Variant = $_.Name; SchedRss = $sched; AgentRss = $agent; SchedPss = $schedPss; AgentPss = $agentPss
        SchedStartCpu = $schedStart; AgentStartCpu = $agentStart
        CpuPair = (& $med 'CpuPair'); HostsCpu = (& $med 'HostsCpu'); HostsOwnCpu = (& $med 'HostsOwnCpu'); PgCpu = (& $med 'PgCpu'); PairS = (& $med 'PairS')
        CreateWaitMs = (& $med 'CreateWaitMs'); LvcreateMs = (& $med 'LvcreateMs'); OverLvcreateMs = (& $med 'OverMs') }
} | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
