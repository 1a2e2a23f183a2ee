# Helpers shared by the Pester tests and by build.ps1 (which imports this module so the lab's
# host command lines live in exactly one place).
#
# Everything is driven by .blockstore/lab.json, which `build.ps1 Up` writes under the repository
# root ($env:BLOCKSTORE_REPO, or two folders above this file when that variable is not set).

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false

# LVM prints "File descriptor N leaked" for every fd it inherits; the lab does not care.
$env:LVM_SUPPRESS_FD_WARNINGS = '1'

# Every external command of these helpers runs under `timeout`: an LVM command waiting on a lock
# or a psql on a hung server must fail the test, not stall the run. Far above what they take
# (well under a second; tens of seconds on a loaded machine). BLOCKSTORE_LAB_COMMAND_TIMEOUT overrides.
$script:LabCommandTimeoutSeconds = if ($env:BLOCKSTORE_LAB_COMMAND_TIMEOUT -match '^\d+$') { [int]$env:BLOCKSTORE_LAB_COMMAND_TIMEOUT } else { 300 }

function Assert-LabCommandInTime([int] $ExitCode, [string] $What) {
    # timeout(1) exits 124 when it had to stop the command (137 when it needed SIGKILL).
    if ($ExitCode -eq 124 -or $ExitCode -eq 137) {
        throw "$What did not finish within $script:LabCommandTimeoutSeconds s (BLOCKSTORE_LAB_COMMAND_TIMEOUT): stopped"
    }
}

function Get-LabRepoRoot {
    <# The repository root: $env:BLOCKSTORE_REPO, else the folder two levels above this module. #>
    [CmdletBinding()]
    param()
    if ($env:BLOCKSTORE_REPO) { return [System.IO.Path]::GetFullPath($env:BLOCKSTORE_REPO) }
    return [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
}

function Get-LabStateDir {
    [CmdletBinding()]
    param([string] $Repo = (Get-LabRepoRoot))
    return (Join-Path $Repo '.blockstore')
}

function Get-LabInfo {
    <# The lab description written by `build.ps1 Up` (.blockstore/lab.json), as an object. #>
    [CmdletBinding()]
    param([string] $Repo = (Get-LabRepoRoot))
    $path = Join-Path (Get-LabStateDir -Repo $Repo) 'lab.json'
    if (-not (Test-Path -LiteralPath $path)) {
        throw "No lab at '$Repo': $path is missing. Run 'dotnet pwsh ./build.ps1 Up' first."
    }
    return (Get-Content -LiteralPath $path -Raw | ConvertFrom-Json)
}

function Test-LabIsRoot {
    return ((& id -u) -eq '0')
}

function Get-LabLvmConfig {
    <# The --config string every LVM command of the lab uses (activation off without device-mapper). #>
    [CmdletBinding()]
    param([Nullable[bool]] $Activation)
    if ($null -eq $Activation) { $Activation = Test-LabDeviceMapper }
    if ($Activation) { return 'devices { use_devicesfile = 0 }' }
    return 'global { activation = 0 } devices { use_devicesfile = 0 }'
}

function Test-LabDeviceMapper {
    <# True when the kernel has device-mapper (LVM can activate volumes). #>
    # Ask the kernel, not /dev: a /dev/mapper/control node can exist without the driver (libdevmapper
    # creates the node itself), and then every lvcreate with activation fails.
    if (Test-Path -LiteralPath '/sys/class/misc/device-mapper') { return $true }
    $misc = Get-Content -LiteralPath '/proc/misc' -ErrorAction Ignore
    return [bool](@($misc) -match '\sdevice-mapper$')
}

function Invoke-LabLvm {
    <#
    Runs an LVM report command (vgs, lvs, pvs) with --reportformat json and the lab's --config,
    and returns the report rows as objects (e.g. vg_name, lv_name, lv_size).
    Example: Invoke-LabLvm lvs -Arguments @('-o', 'lv_name,lv_size', '--units', 'g', 'bs-node1')
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][ValidateSet('vgs', 'lvs', 'pvs')][string] $Command,
        [Parameter(Position = 1)][string[]] $Arguments = @(),
        [object] $Lab
    )
    if (-not $Lab) { $Lab = Get-LabInfo }
    $config = if ($Lab.PSObject.Properties['lvmConfig']) { $Lab.lvmConfig } else { Get-LabLvmConfig -Activation ([bool]$Lab.lvmActivation) }
    $exe = Get-Command $Command -CommandType Application -ErrorAction Ignore | Select-Object -First 1
    $exe = if ($exe) { $exe.Source } else { "/usr/sbin/$Command" }
    $errFile = [System.IO.Path]::GetTempFileName()
    try {
        $out = & timeout -k 5 $script:LabCommandTimeoutSeconds $exe --reportformat json --config $config @Arguments 2>$errFile
        Assert-LabCommandInTime $LASTEXITCODE "$Command $($Arguments -join ' ')"
        if ($LASTEXITCODE -ne 0) {
            throw "$Command $($Arguments -join ' ') failed (exit $LASTEXITCODE): $(Get-Content -LiteralPath $errFile -Raw)"
        }
    }
    finally { Remove-Item -LiteralPath $errFile -ErrorAction Ignore }
    $key = @{ vgs = 'vg'; lvs = 'lv'; pvs = 'pv' }[$Command]
    $report = ($out -join "`n") | ConvertFrom-Json
    foreach ($part in $report.report) {
        if ($part.PSObject.Properties[$key]) { $part.$key }
    }
}

function Invoke-LabSql {
    <#
    Runs SQL through psql -At against the lab (database blockstore unless -Database) and returns the
    output lines. Throws when psql fails (ON_ERROR_STOP).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][string] $Sql,
        [string] $Database,
        [object] $Lab
    )
    if (-not $Lab) { $Lab = Get-LabInfo }
    if (-not $Database) { $Database = $Lab.database }
    $psql = Join-Path $Lab.pgBinDir 'psql'
    # The lab's superuser logs in through the unix socket only (see build.ps1 Up).
    $pgHost = if ($Lab.PSObject.Properties['socketDir'] -and $Lab.socketDir) { $Lab.socketDir } else { $Lab.host }
    $errFile = [System.IO.Path]::GetTempFileName()
    try {
        $out = & timeout -k 5 $script:LabCommandTimeoutSeconds $psql -X -q -At -v ON_ERROR_STOP=1 -h $pgHost -p $Lab.port -U $Lab.user -d $Database -c $Sql 2>$errFile
        Assert-LabCommandInTime $LASTEXITCODE 'psql'
        if ($LASTEXITCODE -ne 0) {
            throw "psql failed (exit $LASTEXITCODE): $(Get-Content -LiteralPath $errFile -Raw)"
        }
    }
    finally { Remove-Item -LiteralPath $errFile -ErrorAction Ignore }
    return $out
}

# ---------------------------------------------------------------------------------------------
# Host processes (scheduler and agents)
# ---------------------------------------------------------------------------------------------

function Get-LabHostCommand {
    <#
    The command line of one lab host: returns @{ Name; Dll; WorkingDirectory; Arguments }.
    -Name is 'scheduler1' (the lab's scheduler) or a node name (node1, node2, ...).
    This is the single place where the lab's host command lines are defined.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $hostsDir = Join-Path $Lab.repo 'out/hosts'
    $interval = "--BlockStore:ReportIntervalSeconds=$($Lab.reportIntervalSeconds)"
    $cs = "--BlockStore:ConnectionString=$($Lab.connectionString)"
    if ($Name -eq $Lab.scheduler.name) {
        # The scheduler logs in as the lab's bs_scheduler member (password in the root-only pgpass file).
        if ($Lab.scheduler.PSObject.Properties['connectionString']) { $cs = "--BlockStore:ConnectionString=$($Lab.scheduler.connectionString)" }
        $dir = Join-Path $hostsDir 'scheduler'
        return @{
            Name = $Name; WorkingDirectory = $dir; Dll = (Join-Path $dir 'BlockStore.Scheduler.dll')
            Arguments = @($cs, "--Scheduler:HostName=$Name", $interval)
        }
    }
    $node = @($Lab.nodes | Where-Object name -EQ $Name)
    if ($node.Count -ne 1) {
        throw "Unknown lab host '$Name'. Known: $((@($Lab.scheduler.name) + @($Lab.nodes.name)) -join ', ')"
    }
    $dir = Join-Path $hostsDir 'agent'
    # Each agent logs in as its own host role: the configuration Register-BlockVolumeHost wrote.
    if ($node[0].PSObject.Properties['configFile'] -and $node[0].configFile) { $cs = "--ConfigFile=$($node[0].configFile)" }
    $activation = if ($Lab.lvmActivation) { 'true' } else { 'false' }
    # The LV reconcile pass every few seconds (not 5 minutes) so tests see it; the lab removes the
    # orphan LVs of deleted volumes, as the crash tests expect.
    $reconcile = if ($Lab.PSObject.Properties['reconcileIntervalSeconds']) { $Lab.reconcileIntervalSeconds } else { 10 }
    return @{
        Name = $Name; WorkingDirectory = $dir; Dll = (Join-Path $dir 'BlockStore.Agent.dll')
        Arguments = @(
            $cs, "--Agent:HostName=$Name", "--Agent:VolumeGroup=$($node[0].vg)", "--Agent:Zone=$($Lab.zone)",
            '--Agent:BackendType=thick', "--Agent:LvmActivation=$activation", $interval,
            "--Agent:Reconcile:IntervalSeconds=$reconcile", '--Agent:Reconcile:RemoveOrphans=true')
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

function Test-LabHost {
    <# True when the lab host's recorded process is running. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $hostPid = Get-LabHostPid -Name $Name -Lab $Lab
    if (-not $hostPid) { return $false }
    $dll = if ($Name -eq $Lab.scheduler.name) { 'BlockStore.Scheduler.dll' } else { 'BlockStore.Agent.dll' }
    return (Test-LabPidAlive -ProcessId $hostPid -CommandLike $dll)
}

function ConvertTo-LabShellWord([string] $Text) {
    return "'" + $Text.Replace("'", "'\''") + "'"
}

function Start-LabHost {
    <#
    Starts one lab host as a detached background process (own session, survives the caller),
    output appended to .blockstore/logs/<name>.log, PID recorded in .blockstore/pids/<name>.pid.
    Does nothing when it is already running. Returns the PID.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Name, [object] $Lab, [switch] $NoWait)
    if (-not $Lab) { $Lab = Get-LabInfo }
    if (Test-LabHost -Name $Name -Lab $Lab) {
        Write-Verbose "$Name is already running"
        return (Get-LabHostPid -Name $Name -Lab $Lab)
    }
    $cmd = Get-LabHostCommand -Name $Name -Lab $Lab
    if (-not (Test-Path -LiteralPath $cmd.Dll)) {
        throw "Cannot start ${Name}: $($cmd.Dll) does not exist (run 'dotnet pwsh ./build.ps1 Build')."
    }
    $logDir = Join-Path $Lab.stateDir 'logs'
    $pidDir = Join-Path $Lab.stateDir 'pids'
    New-Item -ItemType Directory -Force -Path $logDir, $pidDir | Out-Null
    $log = Join-Path $logDir "$Name.log"
    $dotnet = (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source
    # The working directory is the lab's state folder, not the publish folder: `build.ps1 Build`
    # deletes and re-creates out/hosts, which would leave a running host in a deleted directory
    # (then starting lvm or any process fails). --contentRoot keeps appsettings lookups in place.
    $words = @($dotnet, $cmd.Dll) + $cmd.Arguments + @("--contentRoot=$($cmd.WorkingDirectory)") |
        ForEach-Object { ConvertTo-LabShellWord $_ }
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
        $dll = if ($Name -eq $Lab.scheduler.name) { 'BlockStore.Scheduler.dll' } else { 'BlockStore.Agent.dll' }
        Stop-LabProcess -ProcessId $hostPid -TimeoutSeconds $TimeoutSeconds -CommandLike $dll
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
    <# Starts the lab's scheduler host. #>
    [CmdletBinding()]
    param([switch] $NoWait)
    $lab = Get-LabInfo
    Start-LabHost -Name $lab.scheduler.name -Lab $lab -NoWait:$NoWait
}

function Stop-LabScheduler {
    <# Stops the lab's scheduler host. #>
    [CmdletBinding()]
    param([int] $TimeoutSeconds = 5)
    $lab = Get-LabInfo
    Stop-LabHost -Name $lab.scheduler.name -Lab $lab -TimeoutSeconds $TimeoutSeconds
}

function Wait-LabCondition {
    <# Polls -Condition until it returns true or -TimeoutSeconds pass; returns whether it held. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][scriptblock] $Condition, [double] $TimeoutSeconds = 30, [int] $IntervalMilliseconds = 250)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    do {
        if (& $Condition) { return $true }
        Start-Sleep -Milliseconds $IntervalMilliseconds
    } while ([DateTime]::UtcNow -lt $deadline)
    return [bool](& $Condition)
}

function Wait-LabCapacityReported {
    <#
    Waits until every node's service row reports its VG as it is now (free space as vgs sees it,
    within 0.1 GiB). Tests that change a VG behind BlockStore's back (an LV that is not ours) call it
    after undoing that, so the scheduler does not keep off space that is free again. Returns whether
    it held within -TimeoutSeconds.
    #>
    [CmdletBinding()]
    param([double] $TimeoutSeconds = 60, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    return (Wait-LabCondition -TimeoutSeconds $TimeoutSeconds -IntervalMilliseconds 500 -Condition {
        foreach ($node in $Lab.nodes) {
            $actual = [decimal](Invoke-LabLvm vgs @('-o', 'vg_free', '--units', 'g', '--nosuffix', $node.vg) -Lab $Lab)[0].vg_free
            $reported = Invoke-LabSql -Lab $Lab "select free_gib from bs.services where host = '$($node.name)' and service = 'volume'"
            if (-not $reported -or [Math]::Abs([decimal]$reported - $actual) -gt 0.1) { return $false }
        }
        return $true
    })
}

# ---------------------------------------------------------------------------------------------
# The lab's PostgreSQL (for outage tests)
# ---------------------------------------------------------------------------------------------

function Invoke-LabPgCtl {
    <# Runs pg_ctl on the lab's data directory as the postgres OS user; output appended to the lab's postgres.log. #>
    param([Parameter(Mandatory)][string[]] $Arguments, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $words = @('timeout', '-k', '5', "$script:LabCommandTimeoutSeconds", (Join-Path $Lab.pgBinDir 'pg_ctl'), '-D', $Lab.pgDataDir) + $Arguments |
        ForEach-Object { ConvertTo-LabShellWord $_ }
    $cmd = $words -join ' '
    if (Test-LabIsRoot) { $cmd = "runuser -u postgres -- $cmd" }
    $log = Join-Path $Lab.stateDir 'logs/postgres.log'
    $wd = if ($Lab.PSObject.Properties['pgHome']) { $Lab.pgHome } else { '/' }
    & bash -c ('cd ' + (ConvertTo-LabShellWord $wd) + ' && ' + $cmd + ' >> ' + (ConvertTo-LabShellWord $log) + ' 2>&1 < /dev/null')
    Assert-LabCommandInTime $LASTEXITCODE "pg_ctl $($Arguments -join ' ')"
    if ($LASTEXITCODE -ne 0) { throw "pg_ctl $($Arguments -join ' ') failed (exit $LASTEXITCODE); see $log" }
}

function Test-LabPostgresRunning {
    [CmdletBinding()]
    param([object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    & (Join-Path $Lab.pgBinDir 'pg_isready') -q -h $Lab.host -p $Lab.port -t 2 2>$null | Out-Null
    return ($LASTEXITCODE -eq 0)
}

function Stop-LabPostgres {
    <# Stops the lab's PostgreSQL with pg_ctl stop -m fast (sessions are cut, as in a crash-free restart). #>
    [CmdletBinding()]
    param([object] $Lab)
    Invoke-LabPgCtl -Arguments @('-m', 'fast', '-w', '-t', '30', 'stop') -Lab $Lab
}

function Start-LabPostgres {
    <# Starts the lab's PostgreSQL again and waits until it accepts connections. #>
    [CmdletBinding()]
    param([object] $Lab)
    Invoke-LabPgCtl -Arguments @('-w', '-t', '60', 'start') -Lab $Lab
}

Export-ModuleMember -Function @(
    'Wait-LabCapacityReported',
    'Get-LabRepoRoot', 'Get-LabStateDir', 'Get-LabInfo', 'Test-LabIsRoot', 'Test-LabDeviceMapper', 'Get-LabLvmConfig',
    'Invoke-LabLvm', 'Invoke-LabSql',
    'Get-LabHostCommand', 'Get-LabHostPid', 'Test-LabPidAlive', 'Test-LabHost', 'Start-LabHost', 'Stop-LabHost',
    'Stop-LabProcess', 'Start-LabAgent', 'Stop-LabAgent', 'Start-LabScheduler', 'Stop-LabScheduler',
    'Wait-LabCondition', 'ConvertTo-LabShellWord',
    'Invoke-LabPgCtl', 'Test-LabPostgresRunning', 'Stop-LabPostgres', 'Start-LabPostgres'
)
