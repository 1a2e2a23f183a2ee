# The lab's host processes (scheduler and agents): their command lines (defined only here), PID
# files, start and stop, and their onboarding as an operator would do it.

# The environment of every lab host, as the packaged units set it (src/packaging/debian/*.service):
# DOTNET_GCgen0size, the GC's gen0 budget, 2 MiB instead of one sized from the CPU's L3 cache (32 MiB
# on the lab's EPYC gave about 16 MiB, committed before each gen0 collection), for hosts whose live
# heap is about 4 MiB (docs/benchmarks.md, issue 11). The GC reads it from the environment only.
# Both hosts are NativeAOT executables (build.ps1), here and in the guest: no JIT, so no tiering to set.
$script:LabHostEnvironment = [ordered]@{ DOTNET_GCgen0size = '0x200000' }

function Get-LabHostCommand {
    <#
    The command line of one lab host: returns @{ Name; Program (the file it runs, which must exist);
    Command (the words before the arguments: the host's native executable, build.ps1); WorkingDirectory; Arguments; Environment }.
    -Name is 'scheduler1' (the lab's scheduler) or a node name (node1, node2, ...).
    This is the single place where the lab's host command lines are defined.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $hostsDir = Join-Path $Lab.repo 'out/hosts'
    $interval = "--BlockStore:ReportIntervalSeconds=$($Lab.reportIntervalSeconds)"
    $cs = "--BlockStore:ConnectionString=$($Lab.connectionString)"
    # /metrics and /healthz on the host's own port (lab.json metricsUrls; none in a lab written before them).
    $metrics = @()
    if ($Lab.PSObject.Properties['metricsUrls'] -and $Lab.metricsUrls.PSObject.Properties[$Name]) {
        $metrics = @("--BlockStore:Metrics:Url=$($Lab.metricsUrls.$Name -replace 'metrics$', '')")
    }
    if ($Name -in (Get-LabSchedulerNames -Lab $Lab)) {
        # Each scheduler logs in as its own bs_scheduler member (passwords in the root-only pgpass file).
        $entry = if ($Lab.PSObject.Properties['schedulers']) { @($Lab.schedulers | Where-Object name -EQ $Name)[0] } else { $Lab.scheduler }
        if ($entry.PSObject.Properties['connectionString']) { $cs = "--BlockStore:ConnectionString=$($entry.connectionString)" }
        $dir = Join-Path $hostsDir 'scheduler'
        $exe = Join-Path $dir 'BlockStore.Scheduler'
        return @{
            Name = $Name; WorkingDirectory = $dir; Program = $exe; Command = @($exe)
            Arguments = @($cs, "--Scheduler:HostName=$Name", $interval) + $metrics
            Environment = $script:LabHostEnvironment
        }
    }
    $node = @($Lab.nodes | Where-Object name -EQ $Name)
    if ($node.Count -ne 1) {
        throw "Unknown lab host '$Name'. Known: $((Get-LabHostNames $Lab) -join ', ')"
    }
    $dir = Join-Path $hostsDir 'agent'
    # Each agent logs in as its own host role: the configuration Register-BlockVolumeHost wrote.
    if ($node[0].PSObject.Properties['configFile'] -and $node[0].configFile) { $cs = "--ConfigFile=$($node[0].configFile)" }
    $activation = if ($Lab.lvmActivation) { 'true' } else { 'false' }
    # The LV reconcile pass every few seconds (not 5 minutes) so tests see it; the lab removes the
    # orphan LVs of deleted volumes, as the crash tests expect.
    $reconcile = if ($Lab.PSObject.Properties['reconcileIntervalSeconds']) { $Lab.reconcileIntervalSeconds } else { 10 }
    # The agent's LVM commands read the lab's LVM configuration (Lvm.ps1 New-LabLvmSystemDir: the
    # machine's, without async I/O), as an operator's tuned storage host would have it in /etc/lvm.
    $environment = [ordered]@{} + $script:LabHostEnvironment
    $lvmSystemDir = Get-LabLvmSystemDir -Lab $Lab
    if ($lvmSystemDir) { $environment['LVM_SYSTEM_DIR'] = $lvmSystemDir }
    return @{
        Name = $Name; WorkingDirectory = $dir; Program = (Join-Path $dir 'BlockStore.Agent'); Command = @(Join-Path $dir 'BlockStore.Agent')
        Arguments = @(
            $cs, "--Agent:HostName=$Name", "--Agent:VolumeGroup=$($node[0].vg)", "--Agent:Zone=$($Lab.zone)",
            '--Agent:BackendType=thick', "--Agent:LvmActivation=$activation", $interval,
            "--Agent:Reconcile:IntervalSeconds=$reconcile", '--Agent:Reconcile:RemoveOrphans=true') + $metrics
        Environment = $environment
    }
}

function Get-LabPidFile {
    param([Parameter(Mandatory)][string] $Name, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    return (Join-Path $Lab.stateDir "pids/$Name.pid")
}

function Test-LabPidAlive {
    <# True when the process exists, is not a zombie and (with -CommandLike) its command line contains that text. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][int] $ProcessId, [string] $CommandLike)
    $stat = "/proc/$ProcessId/stat"
    if (-not (Test-Path -LiteralPath $stat)) { return $false }
    try {
        $text = [System.IO.File]::ReadAllText($stat)
        # state is the first field after the parenthesised command name
        $state = $text.Substring($text.LastIndexOf(')') + 2, 1)
        if ($state -eq 'Z' -or $state -eq 'X') { return $false }
        if ($CommandLike) {
            $cmdline = [System.IO.File]::ReadAllText("/proc/$ProcessId/cmdline").Replace([char]0, ' ')
            if (-not $cmdline.Contains($CommandLike)) { return $false }
        }
        return $true
    }
    catch { return $false }
}

function Get-LabHostPid {
    <# The recorded PID of a lab host, or $null. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $file = Get-LabPidFile -Name $Name -Lab $Lab
    if (-not (Test-Path -LiteralPath $file)) { return $null }
    $text = (Get-Content -LiteralPath $file -Raw).Trim()
    if ($text -match '^\d+$') { return [int]$text }
    return $null
}

function Get-LabHostProgramName {
    <# What the command line of a lab host's process contains (its PID file is checked against it: a PID reused by another process is not the host). #>
    param([Parameter(Mandatory)][string] $Name, [Parameter(Mandatory)][object] $Lab)
    # (A lab started before the hosts were native ran .../hosts/scheduler/BlockStore.Scheduler.dll: it matches too.)
    if ($Name -in (Get-LabSchedulerNames -Lab $Lab)) { return 'hosts/scheduler/BlockStore.Scheduler' }
    return 'hosts/agent/BlockStore.Agent'
}

function Test-LabHost {
    <# True when the lab host's recorded process is running. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $hostPid = Get-LabHostPid -Name $Name -Lab $Lab
    if (-not $hostPid) { return $false }
    return (Test-LabPidAlive -ProcessId $hostPid -CommandLike (Get-LabHostProgramName -Name $Name -Lab $Lab))
}

function Start-LabHost {
    <#
    Starts one lab host as a detached background process (own session, survives the caller),
    output appended to .blockstore/logs/<name>.log, PID recorded in .blockstore/pids/<name>.pid.
    Does nothing when it is already running. Returns the PID.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab, [switch] $NoWait,
        # More --Section:Key=value arguments after the lab's own (a later one wins), e.g. a fault a test injects.
        [string[]] $ExtraArguments = @())
    if (-not $Lab) { $Lab = Get-LabInfo }
    if (Test-LabHost -Name $Name -Lab $Lab) {
        Write-Verbose "$Name is already running"
        return (Get-LabHostPid -Name $Name -Lab $Lab)
    }
    $cmd = Get-LabHostCommand -Name $Name -Lab $Lab
    if (-not (Test-Path -LiteralPath $cmd.Program)) {
        throw "Cannot start ${Name}: $($cmd.Program) does not exist (run 'dotnet pwsh ./build.ps1 Build')."
    }
    $logDir = Join-Path $Lab.stateDir 'logs'
    $pidDir = Join-Path $Lab.stateDir 'pids'
    New-Item -ItemType Directory -Force -Path $logDir, $pidDir | Out-Null
    $log = Join-Path $logDir "$Name.log"
    # The working directory is the lab's state folder, not the publish folder: `build.ps1 Build`
    # deletes and re-creates out/hosts, which would leave a running host in a deleted directory
    # (then starting lvm or any process fails). --contentRoot keeps appsettings lookups in place.
    # The host's environment (Get-LabHostCommand) through env(1); a variable the caller has set wins
    # (a benchmark comparing runtime settings, tests/bench/HostFootprint.Bench.ps1).
    $envWords = @(foreach ($k in $cmd.Environment.Keys) {
            if (-not [Environment]::GetEnvironmentVariable($k)) { "$k=$($cmd.Environment[$k])" }
        })
    $words = @(if ($envWords.Count) { @('env') + $envWords }) + $cmd.Command + $cmd.Arguments + $ExtraArguments +
        @("--contentRoot=$($cmd.WorkingDirectory)") | ForEach-Object { ConvertTo-LabShellWord $_ }
    # setsid: own session and process group, so the host outlives this script and its terminal.
    # In a non-interactive bash the background child is no group leader, so setsid execs in place
    # and $! is the dotnet process itself.
    $script = 'export PATH="$PATH:/usr/sbin:/sbin"; cd ' + (ConvertTo-LabShellWord $Lab.stateDir) +
        ' && { echo "=== start $(date -Is)" >> ' + (ConvertTo-LabShellWord $log) + '; ' +
        'setsid ' + ($words -join ' ') + ' >> ' + (ConvertTo-LabShellWord $log) + ' 2>&1 < /dev/null & echo $!; }'
    $out = & bash -c $script
    if ($LASTEXITCODE -ne 0 -or -not ("$out".Trim() -match '^\d+$')) {
        throw "Could not start ${Name}: $out"
    }
    $hostPid = [int]"$out".Trim()
    Set-Content -LiteralPath (Get-LabPidFile -Name $Name -Lab $Lab) -Value $hostPid
    if (-not $NoWait) {
        Start-Sleep -Milliseconds 1500
        if (-not (Test-LabPidAlive -ProcessId $hostPid)) {
            $tail = Get-Content -LiteralPath $log -Tail 30 -ErrorAction Ignore
            throw "$Name (pid $hostPid) exited right after start. Last lines of ${log}:`n$($tail -join "`n")"
        }
    }
    Write-Verbose "$Name started, pid $hostPid, log $log"
    return $hostPid
}

function Stop-LabProcess {
    <# SIGTERM, then SIGKILL after -TimeoutSeconds. Returns nothing; harmless if the process is gone. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][int] $ProcessId, [int] $TimeoutSeconds = 5, [string] $CommandLike)
    if (-not (Test-LabPidAlive -ProcessId $ProcessId -CommandLike $CommandLike)) { return }
    & kill -TERM $ProcessId 2>$null
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if (-not (Test-LabPidAlive -ProcessId $ProcessId)) { return }
        Start-Sleep -Milliseconds 100
    }
    Write-Warning "pid $ProcessId did not stop within $TimeoutSeconds s: SIGKILL"
    & kill -KILL $ProcessId 2>$null
    $deadline = [DateTime]::UtcNow.AddSeconds(5)
    while ([DateTime]::UtcNow -lt $deadline -and (Test-LabPidAlive -ProcessId $ProcessId)) { Start-Sleep -Milliseconds 100 }
}

function Stop-LabHost {
    <# Stops one lab host (TERM, KILL after 5 s) and removes its PID file. Harmless when not running. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab, [int] $TimeoutSeconds = 5)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $hostPid = Get-LabHostPid -Name $Name -Lab $Lab
    if ($hostPid) {
        Stop-LabProcess -ProcessId $hostPid -TimeoutSeconds $TimeoutSeconds -CommandLike (Get-LabHostProgramName -Name $Name -Lab $Lab)
    }
    Remove-Item -LiteralPath (Get-LabPidFile -Name $Name -Lab $Lab) -ErrorAction Ignore
}

function Start-LabAgent {
    <# Starts the volume agent of a lab node (node1, node2, ...). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [switch] $NoWait)
    Start-LabHost -Name $Name -NoWait:$NoWait
}

function Stop-LabAgent {
    <# Stops the volume agent of a lab node (TERM, then KILL after 5 s). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [int] $TimeoutSeconds = 5)
    Stop-LabHost -Name $Name -TimeoutSeconds $TimeoutSeconds
}

function Start-LabScheduler {
    <# Starts the lab's scheduler hosts (every one of them: with one stopped the other places the work). #>
    [CmdletBinding()]
    param([switch] $NoWait)
    $lab = Get-LabInfo
    foreach ($n in Get-LabSchedulerNames -Lab $lab) { Start-LabHost -Name $n -Lab $lab -NoWait:$NoWait }
}

function Stop-LabScheduler {
    <# Stops the lab's scheduler hosts (all of them: "no scheduler running"). #>
    [CmdletBinding()]
    param([int] $TimeoutSeconds = 5)
    $lab = Get-LabInfo
    foreach ($n in Get-LabSchedulerNames -Lab $lab) { Stop-LabHost -Name $n -Lab $lab -TimeoutSeconds $TimeoutSeconds }
}

function Test-LabHostsBuilt {
    <# True when out/hosts holds the published scheduler and agent. #>
    param([string] $Repo = (Get-LabRepoRoot))
    return ((Test-Path -LiteralPath (Join-Path $Repo 'out/hosts/scheduler/BlockStore.Scheduler')) -and
        (Test-Path -LiteralPath (Join-Path $Repo 'out/hosts/agent/BlockStore.Agent')))
}

function Wait-LabHosts {
    <# Waits until the started hosts stay alive and (when the schema has bs.services) report heartbeats. #>
    param([Parameter(Mandatory)][object] $Lab, [int] $TimeoutSeconds = 45)
    $names = @(Get-LabHostNames $Lab | Where-Object { Get-LabHostPid -Name $_ -Lab $Lab })
    if ($names.Count -eq 0) { return }
    Start-Sleep -Seconds 2
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        foreach ($n in $names) {
            if (-not (Test-LabHost -Name $n -Lab $Lab)) {
                $log = Join-Path $Lab.stateDir "logs/$n.log"
                $tail = Get-Content -LiteralPath $log -Tail 40 -ErrorAction Ignore
                throw "$n exited after start. Last lines of ${log}:`n$($tail -join "`n")"
            }
        }
        $registered = @()
        try {
            $registered = @(Invoke-LabSql -Lab $Lab -Sql "select host from bs.services where heartbeat_at > now() - interval '$($Lab.serviceDownSeconds) seconds'")
        }
        catch { $registered = $null }   # no bs.services yet: nothing more to wait for
        if ($null -eq $registered) { return }
        $missing = @($names | Where-Object { $_ -notin $registered })
        if ($missing.Count -eq 0) { Write-Host "hosts registered: $($names -join ', ')"; return }
        if ([DateTime]::UtcNow -gt $deadline) {
            Write-Warning "no heartbeat yet in bs.services from: $($missing -join ', ') (see .blockstore/logs/)"
            return
        }
        Start-Sleep -Milliseconds 500
    }
}

function Start-LabHosts {
    <# Starts every lab host that is not running (scheduler, node agents), then waits for their heartbeats. #>
    param([Parameter(Mandatory)][object] $Lab)
    if (-not (Test-LabHostsBuilt -Repo $Lab.repo)) {
        Write-Warning 'out/hosts is not built: the scheduler and agents are not started (run Build).'
        return
    }
    foreach ($n in Get-LabHostNames $Lab) {
        if (Test-LabHost -Name $n -Lab $Lab) { continue }
        $p = Start-LabHost -Name $n -Lab $Lab -NoWait
        Write-Host "started $n (pid $p, log .blockstore/logs/$n.log)"
    }
    Wait-LabHosts $Lab
}

function Stop-LabHostProcesses {
    <# Stops every host with a PID file in <stateDir>/pids, whether or not lab.json knows its name. Returns whether one ran. #>
    param([Parameter(Mandatory)][string] $StateDir)
    $stopped = $false
    $pidDir = Join-Path $StateDir 'pids'
    if (-not (Test-Path -LiteralPath $pidDir)) { return $false }
    foreach ($f in Get-ChildItem -LiteralPath $pidDir -Filter '*.pid' -File) {
        $text = (Get-Content -LiteralPath $f.FullName -Raw -ErrorAction Ignore)
        if ($text -and $text.Trim() -match '^\d+$') {
            $p = [int]$text.Trim()
            if (Test-LabPidAlive -ProcessId $p -CommandLike 'BlockStore.') {
                Write-Host "stopping $($f.BaseName) (pid $p)"
                Stop-LabProcess -ProcessId $p -TimeoutSeconds 5 -CommandLike 'BlockStore.'
                $stopped = $true
            }
        }
        Remove-Item -LiteralPath $f.FullName -Force -ErrorAction Ignore
    }
    return $stopped
}

function Register-LabHosts {
    <#
    Onboards storage hosts exactly as an operator would: Register-BlockVolumeHost -OutFile, as the
    lab operator, in a fresh pwsh (scripts/Register-Hosts.ps1). Default: node1..nodeN.
    -Hosts: @{ name; zone; configFile; databaseHost } each.
    #>
    param([Parameter(Mandatory)][object] $Lab, [object[]] $Hosts)
    if (-not $Hosts) { $Hosts = @($Lab.nodes | ForEach-Object { @{ name = $_.name; zone = $Lab.zone; configFile = $_.configFile } }) }
    $module = Join-Path $Lab.repo 'out/BlockStore/BlockStore.psd1'
    if (-not (Test-Path -LiteralPath $module)) { throw "$module is not built: cannot register the volume hosts (run Build)." }
    $names = @($Hosts | ForEach-Object { $_.name }) -join ', '
    Write-LabStep "Register-BlockVolumeHost $names (agent configurations readable by root only)"
    $hostsJson = Join-Path $Lab.secretsDir 'register.json'
    $Hosts | ConvertTo-Json -AsArray | Set-Content -LiteralPath $hostsJson
    try {
        Invoke-LabPwshScript -Path (Join-Path $PSScriptRoot 'scripts/Register-Hosts.ps1') -What "Register-BlockVolumeHost $names" `
            -ArgumentList @('-Module', $module, '-Connection', $Lab.connectionString, '-HostsJson', $hostsJson)
    }
    finally { Remove-Item -LiteralPath $hostsJson -Force -ErrorAction Ignore }
}
