#Requires -Version 7.4
<#
.SYNOPSIS
    A profile from PostgreSQL's statement log, for the benchmarks: turn on logging of every statement
    (with the time, the process and the application name of each line) for a few rounds, read back
    what the lab's PostgreSQL wrote meanwhile, and split a request's way into its stages by the
    statements the cmdlet, the scheduler and the agent sent.

.DESCRIPTION
    Logging every statement costs each statement a little (a line or two written to the log), so a
    profile is taken over rounds of its own, after the measured ones: the measured figures stay as
    they are and the profile says where their time goes. The log's clock has millisecond resolution
    (%m); the stages are medians over the rounds. The settings go back to the lab's own at the end
    (ALTER SYSTEM RESET), also when the rounds fail.
#>

# The log line prefix while profiling: time (ms), process id, application name.
$script:Prefix = '%m [%p] %a '
$script:Settings = [ordered]@{ log_min_duration_statement = '0'; log_line_prefix = "'$script:Prefix'"; log_timezone = "'UTC'" }
$script:LineRe = [regex]'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[(\d+)\] (\S*)\s*(LOG|DETAIL|ERROR|WARNING|STATEMENT|HINT|CONTEXT):\s+(.*)$'
$script:DurationRe = [regex]'^duration: ([\d.]+) ms'

function Invoke-WithStatementLog {
    <#
    Runs -Rounds with every statement logged and returns the log entries written meanwhile: objects
    with At (UTC), ProcessId, App, Text (the LOG message), Detail (its parameters) and DurationMs.
    #>
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][scriptblock] $Rounds)
    $log = Join-Path $Lab.stateDir 'logs/postgres.log'
    foreach ($name in $script:Settings.Keys) { Invoke-LabSql "ALTER SYSTEM SET $name = $($script:Settings[$name])" -Lab $Lab | Out-Null }
    Invoke-LabSql 'SELECT pg_reload_conf()' -Lab $Lab | Out-Null
    # Every backend takes the new settings at its next command; give the idle ones a moment.
    Start-Sleep -Milliseconds 300
    $offset = (Get-Item -LiteralPath $log).Length
    try {
        & $Rounds
    }
    finally {
        foreach ($name in $script:Settings.Keys) { Invoke-LabSql "ALTER SYSTEM RESET $name" -Lab $Lab | Out-Null }
        Invoke-LabSql 'SELECT pg_reload_conf()' -Lab $Lab | Out-Null
    }

    $stream = [System.IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
    try {
        [void]$stream.Seek($offset, 'Begin')
        $text = [System.IO.StreamReader]::new($stream).ReadToEnd()
    }
    finally { $stream.Dispose() }
    return ConvertFrom-StatementLog $text
}

function ConvertFrom-StatementLog([string] $Text) {
    $entries = [System.Collections.Generic.List[object]]::new()
    $last = $null
    foreach ($line in $Text -split "`n") {
        $m = $script:LineRe.Match($line)
        if (-not $m.Success) {
            # A statement's text goes on over several lines.
            if ($last) { $last.Text += "`n" + $line }
            continue
        }

        $kind = $m.Groups[4].Value
        if ($kind -eq 'DETAIL' -and $last -and $last.ProcessId -eq [int]$m.Groups[2].Value) {
            $last.Detail += $m.Groups[5].Value
            continue
        }

        if ($kind -ne 'LOG') { continue }
        $message = $m.Groups[5].Value
        $d = $script:DurationRe.Match($message)
        $last = [pscustomobject]@{
            At         = [DateTime]::SpecifyKind([DateTime]::ParseExact($m.Groups[1].Value, 'yyyy-MM-dd HH:mm:ss.fff', [cultureinfo]::InvariantCulture), 'Utc')
            ProcessId  = [int]$m.Groups[2].Value
            App        = $m.Groups[3].Value
            Text       = $message
            Detail     = ''
            DurationMs = if ($d.Success) { [double]::Parse($d.Groups[1].Value, [cultureinfo]::InvariantCulture) } else { [double]::NaN }
        }
        $entries.Add($last)
    }

    return $entries
}

function Get-WaitStages {
    <#
    The stages of one New-BlockVolume -Wait from the statement log, in ms from the cmdlet's start
    (Started, client clock) to its return (Returned): null when a stage's statement is not in the log.
      request    cmdlet called -> its request statements done (PowerShell, the cmdlet, one round trip)
      wake       -> the scheduler's placement transaction begins (NOTIFY on bs_schedule, wake-up)
      placement  -> that transaction commits (its statements; the NOTIFY to the agent leaves at commit)
      claim      -> the agent's claim returns (NOTIFY delivered, the agent woken, its claim)
      lvm        -> the agent's completion begins (the LVM command: lvcreate, its process start included)
      completion -> the completion commits (the volume's status, its event, the NOTIFY to the waiter)
      return     -> the cmdlet returns (NOTIFY delivered, the waiter's read, the object written)
    #>
    param([object[]] $Entries, [Guid] $VolumeId, [string] $VolumeHost, [DateTime] $Started, [DateTime] $Returned)
    $id = $VolumeId.ToString()
    # A few milliseconds past the return: the agent's COMMIT wakes the cmdlet, which can read and
    # return before that backend has written its COMMIT line.
    $window = @($Entries | Where-Object { $_.At -ge $Started.AddMilliseconds(-1) -and $_.At -le $Returned.AddMilliseconds(5) })
    # The scheduler's write: the only placement statement that carries the volume's id.
    $assign = $window | Where-Object { $_.App -like '*-placement' -and $_.Detail.Contains($id) } | Select-Object -First 1
    if (-not $assign) { return $null }
    $pass = @($window | Where-Object ProcessId -eq $assign.ProcessId)
    $begin = $pass | Where-Object { $_.At -le $assign.At -and $_.Text -match 'statement: BEGIN' } | Select-Object -Last 1
    $commit = $pass | Where-Object { $_.At -ge $assign.At -and $_.Text -match 'statement: COMMIT' } | Select-Object -First 1
    $request = $window | Where-Object { $_.App -eq 'blockstore-pwsh' -and $_.At -le $assign.At -and $_.Detail.Contains($id) } | Select-Object -Last 1
    if (-not ($begin -and $commit -and $request)) { return $null }
    # The agent's lines after the assignment's, in the log's order: across processes that is the
    # order the lines were written, on a clock of 1 ms steps, so the agent's claim can come before
    # the scheduler's COMMIT line (the commit done, its line not yet written), never before the
    # assignment's. Between the claim and the completion the agent runs only the LVM command.
    $agentApp = "blockstore-volume-$VolumeHost-operations"
    $after = [System.Collections.Generic.List[object]]::new()
    for ($i = [array]::IndexOf($window, $assign) + 1; $i -lt $window.Count; $i++) {
        if ($window[$i].App -eq $agentApp) { $after.Add($window[$i]) }
    }
    # The completion reads the volume (its id) in its first batch, right after its BEGIN.
    $iLocked = -1
    for ($i = 0; $i -lt $after.Count -and $iLocked -lt 0; $i++) { if ($after[$i].Detail.Contains($id)) { $iLocked = $i } }
    if ($iLocked -lt 0) { return $null }
    $lane = $after[$iLocked].ProcessId
    # Back from there: the completion's BEGIN, then the claim (the lane's execute before it).
    $iBegin = -1; $iClaim = -1; $iCommit = -1
    for ($i = $iLocked; $i -ge 0; $i--) {
        if ($after[$i].ProcessId -ne $lane) { continue }
        if ($iBegin -lt 0) { if ($after[$i].Text -match 'statement: BEGIN') { $iBegin = $i } }
        elseif ($after[$i].Text -match '^duration: [\d.]+ ms\s+execute') { $iClaim = $i; break }
    }
    for ($i = $iLocked; $i -lt $after.Count -and $iCommit -lt 0; $i++) {
        if ($after[$i].ProcessId -eq $lane -and $after[$i].Text -match 'statement: COMMIT') { $iCommit = $i }
    }
    if ($iClaim -lt 0 -or $iCommit -lt 0) { return $null }
    $claim = $after[$iClaim]; $finishBegin = $after[$iBegin]; $finishCommit = $after[$iCommit]
    $ms = { param($a, $b) ($b - $a).TotalMilliseconds }
    return [ordered]@{
        request    = & $ms $Started $request.At
        wake       = & $ms $request.At $begin.At
        placement  = & $ms $begin.At $commit.At
        claim      = & $ms $commit.At $claim.At
        lvm        = & $ms $claim.At $finishBegin.At
        completion = & $ms $finishBegin.At $finishCommit.At
        return     = & $ms $finishCommit.At $Returned
        total      = & $ms $Started $Returned
    }
}

function Get-ServerMs {
    <#
    PostgreSQL's own time for a call: the sum of the logged durations (parse, bind, execute,
    simple statements) of one session's statements (-ProcessId) or of an application's sessions
    other than -ExceptProcessId, between the call's start and end (client clock, +1 ms for the log's resolution).
    #>
    param([object[]] $Entries, [DateTime] $Started, [DateTime] $Returned, [int] $ProcessId, [string] $App, [int] $ExceptProcessId)
    $sum = 0.0
    foreach ($e in $Entries) {
        if ($e.At -lt $Started -or $e.At -gt $Returned.AddMilliseconds(1) -or [double]::IsNaN($e.DurationMs)) { continue }
        if ($ProcessId -and $e.ProcessId -ne $ProcessId) { continue }
        if ($App -and ($e.App -ne $App -or $e.ProcessId -eq $ExceptProcessId)) { continue }
        $sum += $e.DurationMs
    }
    return $sum
}

Export-ModuleMember -Function Invoke-WithStatementLog, ConvertFrom-StatementLog, Get-WaitStages, Get-ServerMs
