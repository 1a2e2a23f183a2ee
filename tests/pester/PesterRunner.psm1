# How `build.ps1 Test` runs the Pester files. Pester has no per-test timeout, and one hung test used
# to stall the whole run until CI's 90-minute limit. Now each file runs under a time limit
# (Timeouts.psd1): a file still running at its limit is killed with every process it started,
# counted as failed, and named together with the test that was running; the files after it go on
# in a fresh pwsh. One Invoke-Pester per file, the files of a lane all in one pwsh as long as none
# hangs: a fresh pwsh per file was measured to cost 10-20 s of loading and JIT per file on this
# machine. Files that share no state run side by side (Timeouts.psd1 Parallel: stages of lanes, one
# pwsh per lane); the rest, which stop agents, schedulers or PostgreSQL, run alone after them.

Set-StrictMode -Version 3.0

function Get-PesterFileLimit {
    <# The time limit of one file in seconds: its entry in Timeouts.psd1 (or the default) x scale. #>
    param([Parameter(Mandatory)][string] $FileName, [Parameter(Mandatory)][hashtable] $Limits, [double] $Scale = 1)
    $seconds = if ($Limits.Files.ContainsKey($FileName)) { $Limits.Files[$FileName] } else { $Limits.DefaultSeconds }
    return [int][math]::Ceiling($seconds * $Scale)
}

function Start-PesterFileProcess {
    <#
    Starts a pwsh (Invoke-PesterFile.ps1) for these files, in order: it loads Pester and the
    preloads, then waits for "go" on its standard input. Its output (stdout and stderr, in order)
    goes to <results>/pester-logs/run-<n>.log; Wait-PesterFileProcess splits it per file.
    #>
    param(
        [Parameter(Mandatory)][System.IO.FileInfo[]] $Files,
        [Parameter(Mandatory)][string[]] $PwshCommand,
        [Parameter(Mandatory)][string] $PesterManifest,
        [Parameter(Mandatory)][string] $ResultsDir,
        [string[]] $Preload = @(),
        [string] $WarmUp,
        # The run's time budget (see Get-TestDeadline): files not started before it are skipped.
        [Nullable[DateTime]] $Deadline,
        # A file starts only with at least this much of the budget left.
        [int] $BudgetMinimumSeconds = 60,
        # Variables set for this pwsh only (a lane on the second lab: its BLOCKSTORE_REPO and connections).
        [hashtable] $Environment = @{},
        # CPU priority of this pwsh and of everything it starts (nice(1): 0 normal, 19 lowest): a lane
        # off the run's critical path yields the CPU to the one on it (Timeouts.psd1 BackgroundNice).
        [ValidateRange(0, 19)][int] $Nice = 0
    )
    $logDir = Join-Path $ResultsDir 'pester-logs'
    $partDir = Join-Path $ResultsDir 'pester-parts'
    New-Item -ItemType Directory -Force -Path $logDir, $partDir | Out-Null
    $n = @(Get-ChildItem -LiteralPath $logDir -Filter 'run-*.log' -File).Count + 1
    $run = [pscustomobject]@{
        Deadline = $Deadline; Files = $Files; Log = (Join-Path $logDir "run-$n.log"); List = (Join-Path $partDir "run-$n.txt"); LogDir = $logDir; PartDir = $partDir
        Process = $null
    }
    Set-Content -LiteralPath $run.List -Value @($Files | ForEach-Object FullName)
    foreach ($f in $Files) {
        $base = $f.Name -replace '\.Tests\.ps1$', ''
        Remove-Item -LiteralPath (Join-Path $partDir "$base.xml"), (Join-Path $partDir "$base.json"), (Join-Path $logDir "$base.log") -ErrorAction Ignore
    }
    Set-Content -LiteralPath $run.Log -Value $null
    # bash only redirects and then becomes the pwsh (exec): the script is fixed, every value is an argument.
    $psi = [System.Diagnostics.ProcessStartInfo]::new('bash')
    # nice(1) before the pwsh: every thread and child process inherits it (renice(1) on a running
    # process would change only its first thread).
    $command = @(if ($Nice -gt 0) { 'nice'; '-n'; "$Nice" }) + $PwshCommand
    foreach ($a in @('-c', 'log=$1; shift; exec "$@" >> "$log" 2>&1', 'bash', $run.Log) + $command +
        @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'Invoke-PesterFile.ps1'),
            '-PesterManifest', $PesterManifest, '-ListFile', $run.List, '-PartDir', $partDir) +
        @(if ($Preload.Count -gt 0) { '-Preload'; $Preload -join ',' }) + @(if ($WarmUp) { '-WarmUp'; $WarmUp }) +
        @(if ($Deadline) { '-DeadlineUnix'; "$([DateTimeOffset]::new(([DateTime]$Deadline).ToUniversalTime()).ToUnixTimeSeconds())"; '-MinimumSeconds'; "$BudgetMinimumSeconds" })) {
        $psi.ArgumentList.Add($a)
    }
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $run.Process = [System.Diagnostics.Process]::Start($psi)
    return $run
}

function Stop-PesterFileProcess {
    <# Ends a pre-started pwsh that never got "go": end of input makes it exit; killed if it does not. #>
    param([Parameter(Mandatory)][object] $Run)
    if (-not $Run.Process -or $Run.Process.HasExited) { return }
    try { $Run.Process.StandardInput.Close() } catch { }
    if (-not $Run.Process.WaitForExit(10000)) { $Run.Process.Kill($true) }
}

function Get-PesterRunningTest {
    <#
    What was running when a file was stopped, from Pester's Detailed output: the last Describe and
    Context, and the last test that finished in it (Pester prints a test only when it ends, so the
    one that hung is the next It, or a BeforeAll/AfterAll when none finished yet).
    #>
    param([Parameter(Mandatory)][AllowEmptyString()][AllowEmptyCollection()][string[]] $Lines)
    $describe = $null; $context = $null; $last = $null
    foreach ($line in $Lines) {
        if ($line -match '^\s*Describing (.+)$') { $describe = $Matches[1].Trim(); $context = $null; $last = $null }
        elseif ($line -match '^\s*Context (.+)$') { $context = $Matches[1].Trim(); $last = $null }
        elseif ($line -match '^\s*\[[+\-!?]\] (.+?)(\s+\d[\d.]*\s*(ms|s)\b.*)?$') { $last = $Matches[1].Trim() }
    }
    if (-not $describe) { return 'loading or discovering the file (no Describe started)' }
    $where = "Describe '$describe'" + $(if ($context) { " > Context '$context'" } else { '' })
    if ($last) { return "$where, the test after '$last'" }
    return "$where, its BeforeAll or first test"
}

function New-PesterFileWatch {
    <#
    Lets a started pwsh run ("go") and returns the state Step-PesterFileWatch works on. -Lane: the
    pwsh runs beside others (Invoke-PesterFiles -Stages), so its output is not copied to the console
    as it comes (it would interleave with the other lane's): each file's output is printed as one
    block when the file is over. Without -Lane the output goes to the console line by line, as before.
    #>
    param([Parameter(Mandatory)][object] $Run, [Parameter(Mandatory)][hashtable] $Limits, [double] $Scale = 1, [scriptblock] $OnFileDone,
        [int] $IdleSeconds = 600, [string] $Lane)
    $w = [pscustomobject]@{
        Run = $Run; Process = $Run.Process; Limits = $Limits; Scale = $Scale; OnFileDone = $OnFileDone; IdleSeconds = $IdleSeconds; Lane = $Lane
        Idle = [System.Diagnostics.Stopwatch]::StartNew(); Reader = $null; Pending = ''; Current = $null
        Done = [System.Collections.Generic.List[object]]::new(); Finished = $false
    }
    try { $w.Process.StandardInput.WriteLine('go'); $w.Process.StandardInput.Close() }
    catch { Write-Warning "its pwsh exited before it could start (see $($Run.Log))" }
    $stream = [System.IO.FileStream]::new($Run.Log, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete)
    $w.Reader = [System.IO.StreamReader]::new($stream)
    return $w
}

function Write-PesterLaneText {
    <# One line of a lane's console output (a file's block, or a line its pwsh wrote outside any file). #>
    param([string] $Lane, [string] $Line)
    Write-Host "[$Lane] $Line"
}

function Receive-PesterFileLine {
    <# One line of a watched pwsh's output: a marker (a file starts, ends or is left out by the budget) or a line of the running file. #>
    param([Parameter(Mandatory)][object] $Watch, [AllowEmptyString()][string] $Line)
    $w = $Watch
    $plain = $Line -replace "\e\[[0-9;]*[A-Za-z]", ''
    $laneNote = if ($w.Lane) { " in lane $($w.Lane)" } else { '' }
    if ($plain -match '^##blockstore-pester budget (.+)$') {
        # Not started: the run's time budget is (nearly) spent. Reported as skipped with the reason.
        $path = $Matches[1]
        $record = [pscustomobject]@{
            File = $path; Name = [System.IO.Path]::GetFileName($path); Log = ''; Xml = ''; Counts = ''; LimitSeconds = 0
            TimedOut = $false; Crashed = $false; Seconds = 0.0; BudgetSkipped = $true; BudgetCapped = $false; Deadline = $w.Run.Deadline; Lane = $w.Lane
        }
        $w.Done.Add($record)
        if ($w.OnFileDone) { & $w.OnFileDone $record }
        $w.Idle.Restart()
        return
    }
    if ($plain -match '^##blockstore-pester start (.+)$') {
        $path = $Matches[1]
        $name = [System.IO.Path]::GetFileName($path)
        $base = $name -replace '\.Tests\.ps1$', ''
        $limit = Get-PesterFileLimit -FileName $name -Limits $w.Limits -Scale $w.Scale
        $capped = $false
        if ($w.Run.Deadline) {
            # No file runs past the run's time budget: its limit ends there at the latest.
            $left = [int][math]::Max(1, [math]::Floor((([DateTime]$w.Run.Deadline).ToUniversalTime() - [DateTime]::UtcNow).TotalSeconds))
            if ($left -lt $limit) { $limit = $left; $capped = $true }
        }
        $w.Current = [pscustomobject]@{
            File = $path; Name = $name; Log = (Join-Path $w.Run.LogDir "$base.log"); Xml = (Join-Path $w.Run.PartDir "$base.xml")
            Counts = (Join-Path $w.Run.PartDir "$base.json"); LimitSeconds = $limit
            TimedOut = $false; Crashed = $false; Seconds = 0.0; Clock = [System.Diagnostics.Stopwatch]::StartNew()
            BudgetSkipped = $false; BudgetCapped = $capped; Deadline = $w.Run.Deadline; Lane = $w.Lane
            Writer = [System.IO.StreamWriter]::new((Join-Path $w.Run.LogDir "$base.log"), $false)
        }
        $why = if ($capped) { ", cut to the run's time budget" } else { '' }
        Write-Host "==> Pester $name$laneNote (limit $($w.Current.LimitSeconds) s$why, log $($w.Current.Log))" -ForegroundColor Cyan
        return
    }
    if ($plain -match '^##blockstore-pester end ' -and $w.Current) {
        Complete-PesterFileRecord -Watch $w
        $w.Idle.Restart()
        return
    }
    if (-not $w.Lane) { Write-Host $Line }
    elseif (-not $w.Current) { Write-PesterLaneText -Lane $w.Lane -Line $Line }
    if ($w.Current) { $w.Current.Writer.WriteLine($Line); $w.Current.Writer.Flush() }
}

function Complete-PesterFileRecord {
    <# The running file is over (ended, killed or its pwsh died): its record, its block of output for a lane, its outcome. #>
    param([Parameter(Mandatory)][object] $Watch)
    $c = $Watch.Current
    $c.Seconds = [math]::Round($c.Clock.Elapsed.TotalSeconds, 1)
    $c.Writer.Dispose()
    if ($Watch.Lane) {
        # The file's whole output at once, so that the two lanes' files never interleave on the console.
        Write-Host "---- $($c.Name) (lane $($Watch.Lane), $($c.Seconds) s): its output ----"
        foreach ($l in @(Get-Content -LiteralPath $c.Log -ErrorAction Ignore)) { Write-Host $l }
        Write-Host "---- end of $($c.Name) ----"
    }
    $Watch.Done.Add($c)
    $Watch.Current = $null
    if ($Watch.OnFileDone) { & $Watch.OnFileDone $c }
}

function Step-PesterFileWatch {
    <#
    One look at a watched pwsh (waiting up to -Milliseconds for it to exit): reads what it wrote,
    kills its process tree when its file is over its limit or it ran no file for -IdleSeconds.
    Returns $true once the pwsh is gone; Complete-PesterFileWatch then gives its records.
    #>
    param([Parameter(Mandatory)][object] $Watch, [int] $Milliseconds = 500)
    $w = $Watch
    if ($w.Finished) { return $true }
    $p = $w.Process
    $exited = $p.WaitForExit($Milliseconds)
    $text = $w.Pending + $w.Reader.ReadToEnd()
    $lines = $text -split "\n"
    $w.Pending = $lines[-1]
    # (Not $lines[0..($lines.Count - 2)]: with one element that range is 0..-1, two items.)
    for ($i = 0; $i -lt $lines.Count - 1; $i++) { Receive-PesterFileLine -Watch $w -Line $lines[$i].TrimEnd("`r") }
    if ($exited) { $w.Finished = $true }
    elseif (-not $w.Current -and $w.Idle.Elapsed.TotalSeconds -ge $w.IdleSeconds) {
        Write-Host "TIMEOUT: the Pester pwsh ran no file for $($w.IdleSeconds) s (loading, or between two files): killed (see $($w.Run.Log))" -ForegroundColor Red
        try { $p.Kill($true) } catch { Write-Warning "kill of pid $($p.Id) failed: $_" }
        [void]$p.WaitForExit(15000)
        $w.Finished = $true
    }
    elseif ($w.Current -and $w.Current.Clock.Elapsed.TotalSeconds -ge $w.Current.LimitSeconds) {
        $w.Current.TimedOut = $true
        # The whole tree: the pwsh and whatever it started (psql, lvm, dotnet, qemu-io...), and only
        # this pwsh's: a file running beside it in another lane has its own pwsh and goes on.
        # Lab hosts started by a test run in their own session (setsid) and are not in it.
        try { $p.Kill($true) } catch { Write-Warning "kill of pid $($p.Id) failed: $_" }
        if (-not $p.WaitForExit(15000)) { Write-Warning "pid $($p.Id) still exists 15 s after SIGKILL" }
        $text = $w.Pending + $w.Reader.ReadToEnd()
        $w.Pending = ''
        foreach ($line in ($text -split "\n")) { if ($line) { Receive-PesterFileLine -Watch $w -Line $line.TrimEnd("`r") } }
        $w.Finished = $true
    }
    return $w.Finished
}

function Complete-PesterFileWatch {
    <# After Step-PesterFileWatch returned $true: one record per file the pwsh started (see Wait-PesterFileProcess). #>
    param([Parameter(Mandatory)][object] $Watch)
    $w = $Watch
    $p = $w.Process
    try { if ($w.Pending) { Receive-PesterFileLine -Watch $w -Line $w.Pending; $w.Pending = '' } }
    finally { $w.Reader.Dispose() }
    if ($w.Current) {
        # Started, never ended: killed at its limit, or its pwsh died under it.
        $c = $w.Current
        if (-not $c.TimedOut) { $c.Crashed = $true }
        $c | Add-Member -NotePropertyName ExitCode -NotePropertyValue $(if ($p.HasExited) { $p.ExitCode } else { -1 }) -Force
        Complete-PesterFileRecord -Watch $w
    }
    $p.Dispose()
    return $w.Done.ToArray()
}

function Wait-PesterFileProcess {
    <#
    Lets a started pwsh run ("go"), copies its output to the console as it comes (with -Lane: one
    block per file when it ends) and to one log per file (pester-logs/<file>.log), and kills its
    process tree when the file it runs is over its limit. Returns one record per file it started:
    @{ File; Name; Log; Xml; Counts; LimitSeconds; TimedOut; Crashed; Seconds }. Files it never
    started are not in the list (they go to a fresh pwsh).
    #>
    param([Parameter(Mandatory)][object] $Run, [Parameter(Mandatory)][hashtable] $Limits, [double] $Scale = 1, [scriptblock] $OnFileDone,
        # Longest time with no file running: loading before the first file, Pester's work between two.
        [int] $IdleSeconds = 600, [string] $Lane)
    $w = New-PesterFileWatch -Run $Run -Limits $Limits -Scale $Scale -OnFileDone $OnFileDone -IdleSeconds $IdleSeconds -Lane $Lane
    while (-not (Step-PesterFileWatch -Watch $w -Milliseconds 500)) { }
    return (Complete-PesterFileWatch -Watch $w)
}

function Get-PesterFileOutcome {
    <#
    Passed/failed of one file and the line that says so. A failing BeforeAll already marks its
    tests failed: a failed block counts on its own only when no test failed (an AfterAll failure).
    A file that fails discovery has no tests: the container counts. A file killed at its limit
    counts the tests its log shows as finished, plus one failure for the kill.
    #>
    param([Parameter(Mandatory)][object] $Run)
    $Wait = $Run
    if ($Run.PSObject.Properties['BudgetSkipped'] -and $Run.BudgetSkipped) {
        $reason = "not run: the run's time budget (BLOCKSTORE_TEST_DEADLINE, $(([DateTime]$Run.Deadline).ToUniversalTime().ToString('HH:mm:ss')) UTC) was spent before it could start"
        return [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 1; Failure = $null; Tail = @(); SkipReason = $reason
            Line = "$($Run.Name): 0 passed, 0 failed, 1 skipped ($reason)" }
    }
    # Pester colours its output with ANSI sequences when it runs in a terminal: read the plain text.
    $lines = @(Get-Content -LiteralPath $Run.Log -ErrorAction Ignore | ForEach-Object { $_ -replace "\e\[[0-9;]*[A-Za-z]", '' })
    if ($Wait.TimedOut -and $Run.PSObject.Properties['BudgetCapped'] -and $Run.BudgetCapped) {
        # Cut by the run's time budget before its own limit: not a hang of the file. What finished
        # counts; the rest did not run and is reported skipped with the reason.
        $passed = @($lines -match '^\s*\[\+\] ').Count
        $failed = @($lines -match '^\s*\[-\] ').Count
        $reason = "not finished: the run's time budget (BLOCKSTORE_TEST_DEADLINE) ended after $($Wait.Seconds) s, during $(Get-PesterRunningTest -Lines $lines); the rest of the file did not run"
        return [pscustomobject]@{ Passed = $passed; Failed = $failed; Skipped = 1; Failure = $null; Tail = @(); SkipReason = $reason
            Line = "$($Run.Name): $passed passed, $failed failed, 1 skipped ($reason)" }
    }
    if ($Wait.TimedOut) {
        $passed = @($lines -match '^\s*\[\+\] ').Count
        $failed = @($lines -match '^\s*\[-\] ').Count + 1
        $running = Get-PesterRunningTest -Lines $lines
        $which = if ($Run.PSObject.Properties['BudgetCapped'] -and $Run.BudgetCapped) { "the run's time budget (BLOCKSTORE_TEST_DEADLINE)" } else { 'tests/pester/Timeouts.psd1' }
        $message = "TIMEOUT: $($Run.Name) did not finish within its limit of $($Run.LimitSeconds) s ($which); " +
            "killed it and every process it started. Running: $running. Its output up to then: $($Run.Log)"
        return [pscustomobject]@{ Passed = $passed; Failed = $failed; Skipped = 0; Failure = $message; Tail = @($lines | Select-Object -Last 40)
            Line = "$($Run.Name): $passed passed, $failed failed (killed at its time limit after $($Wait.Seconds) s)" }
    }
    if (-not $Run.Counts -or -not (Test-Path -LiteralPath $Run.Counts)) {
        $passed = @($lines -match '^\s*\[\+\] ').Count
        $failed = @($lines -match '^\s*\[-\] ').Count + 1
        $message = "$($Run.Name): its pwsh exited $($Wait.ExitCode) after $($Wait.Seconds) s in this file without writing its results; " +
            "running: $(Get-PesterRunningTest -Lines $lines) (see $($Run.Log))"
        return [pscustomobject]@{ Passed = $passed; Failed = $failed; Skipped = 0; Failure = $message; Tail = @($lines | Select-Object -Last 40)
            Line = "$($Run.Name): $passed passed, $failed failed (its pwsh died)" }
    }
    $c = Get-Content -LiteralPath $Run.Counts -Raw | ConvertFrom-Json
    $failed = [int]$c.FailedCount + [int]$c.FailedContainersCount
    if ([int]$c.FailedCount -eq 0) { $failed += [int]$c.FailedBlocksCount }
    # What did not run is reported, never passed over: skipped, not run (a skipped block) and inconclusive.
    $skipped = [int]$c.SkippedCount + [int]$c.NotRunCount + [int]$c.InconclusiveCount
    # A file that ran no test at all, and a block an empty data-driven list left without tests, fail.
    $problems = [System.Collections.Generic.List[string]]::new()
    if ([int]$c.TotalCount -eq 0 -and [int]$c.FailedContainersCount -eq 0) { $problems.Add("$($Run.Name): the file ran no test at all") }
    foreach ($b in @($c.EmptyBlocks | Where-Object { $_ })) { $problems.Add("$($Run.Name): '$b' has no test (an empty data-driven -ForEach list?)") }
    $failed += $problems.Count
    $message = if ($problems.Count) { 'FAILED: ' + ($problems -join '; ') } else { $null }
    return [pscustomobject]@{ Passed = [int]$c.PassedCount; Failed = $failed; Skipped = $skipped; Failure = $message; Tail = @()
        Line = "$($Run.Name): $($c.PassedCount) passed, $failed failed, $skipped skipped in $($Wait.Seconds) s (tests $($c.FailedCount), blocks $($c.FailedBlocksCount), files $($c.FailedContainersCount), no test $($problems.Count))" }
}

function Merge-PesterResultXml {
    <#
    One NUnit 2.5 document (what a single Invoke-Pester run wrote before) from the files' own
    results; a file that was killed or crashed appears as a suite with one failed test case.
    #>
    param([Parameter(Mandatory)][object[]] $Parts, [Parameter(Mandatory)][string] $OutFile)
    $counters = 'total', 'errors', 'failures', 'not-run', 'inconclusive', 'ignored', 'skipped', 'invalid'
    $sum = @{}; foreach ($k in $counters) { $sum[$k] = 0 }
    [xml] $doc = $null
    $results = $null
    $seconds = 0.0
    foreach ($part in $Parts) {
        if ($part.PSObject.Properties['SkipReason'] -and $part.SkipReason) {
            if (-not $doc) {
                $doc = [xml]'<?xml version="1.0" encoding="utf-8" standalone="no"?><test-results name="Pester"><test-suite type="TestFixture" name="Pester" executed="True" result="Success" success="True" time="0" asserts="0" description="Pester"><results /></test-suite></test-results>'
                $results = $doc.DocumentElement.SelectSingleNode('test-suite/results')
            }
            $sum['total'] += 1; $sum['skipped'] += 1
            $suite = $doc.CreateElement('test-suite')
            foreach ($a in @(@('type', 'TestFixture'), @('name', $part.File), @('executed', 'False'), @('result', 'Ignored'), @('time', '0'),
                    @('asserts', '0'), @('description', $part.File))) { $suite.SetAttribute($a[0], $a[1]) }
            $case = $doc.CreateElement('test-case')
            foreach ($a in @(@('name', "$($part.Name) (whole file)"), @('description', $part.SkipReason), @('executed', 'False'), @('result', 'Ignored'))) { $case.SetAttribute($a[0], $a[1]) }
            $reason = $doc.CreateElement('reason'); $msg = $doc.CreateElement('message'); $msg.InnerText = $part.SkipReason
            [void]$reason.AppendChild($msg); [void]$case.AppendChild($reason)
            $inner = $doc.CreateElement('results'); [void]$inner.AppendChild($case); [void]$suite.AppendChild($inner)
            [void]$results.AppendChild($suite)
            continue
        }
        if (-not $part.Failure -and $part.Xml -and (Test-Path -LiteralPath $part.Xml)) {
            [xml] $one = Get-Content -LiteralPath $part.Xml -Raw
            foreach ($k in $counters) { $sum[$k] += [int]$one.DocumentElement.GetAttribute($k) }
            $top = $one.DocumentElement.SelectSingleNode('test-suite')
            $seconds += [double]::Parse($top.GetAttribute('time'), [cultureinfo]::InvariantCulture)
            if (-not $doc) {
                $doc = $one
                $results = $top.SelectSingleNode('results')
                continue
            }
            foreach ($suite in @($top.SelectNodes('results/test-suite'))) { [void]$results.AppendChild($doc.ImportNode($suite, $true)) }
            continue
        }
        if (-not $doc) {
            $doc = [xml]'<?xml version="1.0" encoding="utf-8" standalone="no"?><test-results name="Pester"><test-suite type="TestFixture" name="Pester" executed="True" result="Failure" success="False" time="0" asserts="0" description="Pester"><results /></test-suite></test-results>'
            $results = $doc.DocumentElement.SelectSingleNode('test-suite/results')
        }
        $sum['total'] += 1; $sum['failures'] += 1; $seconds += $part.Seconds
        $suite = $doc.CreateElement('test-suite')
        $time = $part.Seconds.ToString([cultureinfo]::InvariantCulture)
        foreach ($a in @(@('type', 'TestFixture'), @('name', $part.File), @('executed', 'True'), @('result', 'Failure'), @('success', 'False'),
                @('time', $time), @('asserts', '0'), @('description', $part.File))) { $suite.SetAttribute($a[0], $a[1]) }
        $case = $doc.CreateElement('test-case')
        foreach ($a in @(@('name', "$($part.Name) (whole file)"), @('description', $part.Failure), @('time', $time), @('asserts', '0'),
                @('success', 'False'), @('result', 'Failure'), @('executed', 'True'))) { $case.SetAttribute($a[0], $a[1]) }
        $failure = $doc.CreateElement('failure')
        $msg = $doc.CreateElement('message'); $msg.InnerText = $part.Failure
        $stack = $doc.CreateElement('stack-trace'); $stack.InnerText = ($part.Tail -join "`n")
        [void]$failure.AppendChild($msg); [void]$failure.AppendChild($stack); [void]$case.AppendChild($failure)
        $inner = $doc.CreateElement('results'); [void]$inner.AppendChild($case); [void]$suite.AppendChild($inner)
        [void]$results.AppendChild($suite)
    }
    if (-not $doc) { return }
    foreach ($k in $counters) { $doc.DocumentElement.SetAttribute($k, "$($sum[$k])") }
    $top = $doc.DocumentElement.SelectSingleNode('test-suite')
    $top.SetAttribute('time', $seconds.ToString('0.####', [cultureinfo]::InvariantCulture))
    if ($sum['failures'] + $sum['errors'] -gt 0) { $top.SetAttribute('result', 'Failure'); $top.SetAttribute('success', 'False') }
    $doc.Save($OutFile)
}

function Get-PesterStagePlan {
    <#
    The order Invoke-PesterFiles runs the files in: the stages of Timeouts.psd1's Parallel list (each
    a hashtable: lane name -> its files in order), keeping only files of this run, then every other
    file alone, in the given order. Returns a list of stages, each an ordered dictionary lane ->
    FileInfo[]; a stage left with one lane, and the closing one, has a single lane named ''
    (its files run one after another, their output on the console as it comes).
    #>
    param([Parameter(Mandatory)][System.IO.FileInfo[]] $Files, [object[]] $Stages = @())
    $byName = [ordered]@{}
    foreach ($f in $Files) { $byName[$f.Name] = $f }
    $placed = @{}
    $plan = [System.Collections.Generic.List[System.Collections.Specialized.OrderedDictionary]]::new()
    foreach ($stage in @($Stages | Where-Object { $_ })) {
        $lanes = [ordered]@{}
        foreach ($lane in @($stage.Keys | Sort-Object)) {
            $laneFiles = @(foreach ($name in @($stage[$lane])) {
                    if ($byName.Contains($name) -and -not $placed.ContainsKey($name)) { $placed[$name] = $true; $byName[$name] }
                })
            if ($laneFiles.Count -gt 0) { $lanes[$lane] = $laneFiles }
        }
        if ($lanes.Count -eq 1) { Add-PesterSerialFiles -Plan $plan -Files @($lanes[0]) }
        elseif ($lanes.Count -gt 1) { $plan.Add($lanes) }
    }
    Add-PesterSerialFiles -Plan $plan -Files @($Files | Where-Object { -not $placed.ContainsKey($_.Name) })
    Write-Output -NoEnumerate $plan.ToArray()
}

function Add-PesterSerialFiles {
    <# Files that run one after another: onto the plan's last stage when that one is serial too (one pwsh for both), else a new stage. #>
    param([System.Collections.Generic.List[System.Collections.Specialized.OrderedDictionary]] $Plan, [System.IO.FileInfo[]] $Files)
    if (@($Files).Count -eq 0) { return }
    if ($Plan.Count -gt 0 -and $Plan[-1].Count -eq 1 -and $Plan[-1].Contains('')) { $Plan[-1][''] = @($Plan[-1]['']) + @($Files); return }
    $alone = [ordered]@{}
    $alone[''] = @($Files)
    $Plan.Add($alone)
}

function Invoke-PesterFiles {
    <#
    Runs the files stage by stage (-Stages, Timeouts.psd1's Parallel list; see Get-PesterStagePlan):
    the lanes of a stage at the same time, one pwsh each, the next stage once all of them are over;
    the files no stage names after them, one after another. Each file runs under its limit; in a
    lane's pwsh until a file hangs or the pwsh dies, and that lane's next files go on in a fresh
    pwsh. After a file was killed, -RepairLab brings back what its cleanup could not (a stopped
    agent or PostgreSQL) for the next files. Returns @{ Passed; Failed; Skipped; Lines = per-file
    lines; Stages = what ran side by side, with each stage's wall time; FileSeconds = the files' own
    times added up }.
    #>
    param(
        [Parameter(Mandatory)][System.IO.FileInfo[]] $Files,
        [Parameter(Mandatory)][string[]] $PwshCommand,
        [Parameter(Mandatory)][string] $PesterManifest,
        [Parameter(Mandatory)][string] $ResultsDir,
        [Parameter(Mandatory)][hashtable] $Limits,
        [double] $Scale = 1,
        [scriptblock] $RepairLab,
        [string[]] $Preload = @(),
        [string] $WarmUp,
        # Stages of lanes: @( @{ laneA = @('A.Tests.ps1', ...); laneB = @(...) }, ... ) by file name.
        [object[]] $Stages = @(),
        # pwsh processes for these files started earlier (Start-PesterFileProcess), so that they load
        # while other work runs: one is used by the lane whose files are exactly its files.
        [object[]] $FirstRun = @(),
        # Work of the caller that runs beside the first stage: @{ Process; OnExit = { ... } }. The
        # second stage waits for its process to exit; OnExit is called once, when it has.
        [object] $Beside,
        # Longest time a pwsh may run no file (loading it, or Pester's work between two files).
        [int] $IdleSeconds = 600,
        # Variables for the pwsh processes of a lane, by lane name (the second lab's lane).
        [hashtable] $LaneEnvironment = @{},
        # CPU priority (nice) of the pwsh processes of a lane, by lane name; 0 for a lane not named.
        [hashtable] $LaneNice = @{},
        # The run's time budget: no file starts with less than -BudgetMinimumSeconds of it left or runs past it.
        [Nullable[DateTime]] $Deadline,
        [int] $BudgetMinimumSeconds = 60
    )
    $total = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0; Lines = [System.Collections.Generic.List[string]]::new()
        Stages = [System.Collections.Generic.List[object]]::new(); FileSeconds = 0.0 }
    $parts = [System.Collections.Generic.List[object]]::new()
    # Called when a file is over, from inside this function: $total, $parts and $RepairLab are in scope.
    $onFileDone = { param($r) Invoke-PesterFileDone -Record $r -Total $total -Parts $parts -RepairLab $RepairLab }
    $startArgs = @{ PwshCommand = $PwshCommand; PesterManifest = $PesterManifest; ResultsDir = $ResultsDir; Preload = $Preload; WarmUp = $WarmUp
        Deadline = $Deadline; BudgetMinimumSeconds = $BudgetMinimumSeconds }
    $ready = [System.Collections.Generic.List[object]]::new()
    foreach ($r in @($FirstRun | Where-Object { $_ })) { $ready.Add($r) }
    $plan = Get-PesterStagePlan -Files $Files -Stages $Stages
    $beside = $Beside
    try {
        for ($i = 0; $i -lt $plan.Count; $i++) {
            # The next stage's pwsh processes load (Pester, the module) while this stage runs.
            if ($i + 1 -lt $plan.Count) {
                foreach ($lane in $plan[$i + 1].Keys) {
                    $laneFiles = $plan[$i + 1][$lane]
                    if (-not (Find-PesterFileProcess -Ready $ready -Files $laneFiles -Peek)) {
                        $ready.Add((Start-PesterFileProcess -Files $laneFiles @startArgs -Environment (Get-PesterLaneEnvironment $LaneEnvironment $lane) `
                                    -Nice (Get-PesterLaneNice $LaneNice $lane)))
                    }
                }
            }
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $lanes = $plan[$i]
            if ($lanes.Count -gt 1) {
                Write-Host ("==> Pester stage $($i + 1) of $($plan.Count): side by side, " +
                    (@($lanes.Keys | ForEach-Object { "lane $_ ($(@($lanes[$_] | ForEach-Object Name) -join ', '))" }) -join '; ')) -ForegroundColor Cyan
            }
            Invoke-PesterStage -Lanes $lanes -Ready $ready -StartArgs $startArgs -Limits $Limits -Scale $Scale -OnFileDone $onFileDone -IdleSeconds $IdleSeconds -Beside $beside `
                -LaneEnvironment $LaneEnvironment -LaneNice $LaneNice
            $seconds = [math]::Round($clock.Elapsed.TotalSeconds, 1)
            $total.Stages.Add([pscustomobject]@{ Lanes = @($lanes.Keys); Files = @($lanes.Values | ForEach-Object { $_ } | ForEach-Object Name); Seconds = $seconds })
            if ($lanes.Count -gt 1) { Write-Host "==> Pester stage $($i + 1) of $($plan.Count) done in $seconds s" -ForegroundColor Cyan }
        }
    }
    finally {
        foreach ($r in $ready) { Stop-PesterFileProcess $r }
        if ($beside -and $beside.Process -and -not $beside.PSObject.Properties['Reported']) {
            # Its stage did not finish (or none ran): still waited for, so the caller's work is counted.
            $beside.Process.WaitForExit()
            $beside | Add-Member -NotePropertyName Reported -NotePropertyValue $true -Force
            & $beside.OnExit
        }
    }
    Merge-PesterResultXml -Parts $parts -OutFile (Join-Path $ResultsDir 'pester.xml')
    return $total
}

function Get-PesterLaneEnvironment {
    <# The variables a lane's pwsh gets (none for a lane not named in -LaneEnvironment). #>
    param([hashtable] $LaneEnvironment, [string] $Lane)
    if ($LaneEnvironment -and $Lane -and $LaneEnvironment.ContainsKey($Lane)) { return $LaneEnvironment[$Lane] }
    return @{}
}

function Get-PesterLaneNice {
    <# The CPU priority (nice) of a lane's pwsh: 0 for a lane not named in -LaneNice. #>
    param([hashtable] $LaneNice, [string] $Lane)
    if ($LaneNice -and $Lane -and $LaneNice.ContainsKey($Lane)) { return [int]$LaneNice[$Lane] }
    return 0
}

function Find-PesterFileProcess {
    <# The pre-started pwsh for exactly these files, taken out of -Ready (-Peek: left in); $null when there is none. #>
    param([System.Collections.Generic.List[object]] $Ready, [System.IO.FileInfo[]] $Files, [switch] $Peek)
    $key = @($Files | ForEach-Object FullName) -join '|'
    foreach ($r in @($Ready)) {
        if ((@($r.Files | ForEach-Object FullName) -join '|') -eq $key) {
            if (-not $Peek) { [void]$Ready.Remove($r) }
            return $r
        }
    }
    return $null
}

function Invoke-PesterStage {
    <#
    Runs the lanes of one stage at the same time, each in its own pwsh (a lane of one name '' runs
    with its output on the console as it comes; lanes side by side print each file's output as a
    block when it ends), and returns when every lane is over, and -Beside's process too.
    #>
    param([System.Collections.Specialized.OrderedDictionary] $Lanes, [System.Collections.Generic.List[object]] $Ready, [hashtable] $StartArgs,
        [hashtable] $Limits, [double] $Scale, [scriptblock] $OnFileDone, [int] $IdleSeconds, [object] $Beside, [hashtable] $LaneEnvironment = @{},
        [hashtable] $LaneNice = @{})
    $side = $Lanes.Count -gt 1
    $states = @(foreach ($name in $Lanes.Keys) { [pscustomobject]@{ Name = $name; Remaining = @($Lanes[$name]); Watch = $null } })
    $besideOpen = [bool]($Beside -and $Beside.Process -and -not $Beside.PSObject.Properties['Reported'])
    while ($true) {
        $busy = $false
        foreach ($l in $states) {
            if (-not $l.Watch -and $l.Remaining.Count -gt 0) {
                $run = Find-PesterFileProcess -Ready $Ready -Files $l.Remaining
                if (-not $run) {
                    $run = Start-PesterFileProcess -Files $l.Remaining @StartArgs -Environment (Get-PesterLaneEnvironment $LaneEnvironment $l.Name) `
                        -Nice (Get-PesterLaneNice $LaneNice $l.Name)
                }
                $l.Watch = New-PesterFileWatch -Run $run -Limits $Limits -Scale $Scale -OnFileDone $OnFileDone -IdleSeconds $IdleSeconds -Lane $(if ($side) { $l.Name } else { '' })
            }
            if (-not $l.Watch) { continue }
            $busy = $true
            try { $over = Step-PesterFileWatch -Watch $l.Watch -Milliseconds $(if ($side) { 100 } else { 500 }) }
            catch {
                Write-Warning "Pester runner: $_"
                try { $l.Watch.Process.Kill($true) } catch { }
                $over = $true
            }
            if (-not $over) { continue }
            try { $started = @(Complete-PesterFileWatch -Watch $l.Watch) }
            catch { Write-Warning "Pester runner: $_"; $started = @($l.Watch.Done) }
            if ($started.Count -eq 0) {
                # The pwsh died before its first file: count that file, go on with the next ones.
                $f = $l.Remaining[0]
                $started = @([pscustomobject]@{ File = $f.FullName; Name = $f.Name; Log = $l.Watch.Run.Log; Xml = ''; Counts = ''; LimitSeconds = 0
                        TimedOut = $false; Crashed = $true; Seconds = 0.0; ExitCode = -1; Lane = $l.Name })
                & $OnFileDone $started[0]
            }
            $names = @($started | ForEach-Object File)
            $l.Remaining = @($l.Remaining | Where-Object { $_.FullName -notin $names })
            $l.Watch = $null
        }
        if ($besideOpen -and $Beside.Process.HasExited) {
            $besideOpen = $false
            $Beside | Add-Member -NotePropertyName Reported -NotePropertyValue $true -Force
            & $Beside.OnExit
        }
        if (-not $busy) {
            if (-not $besideOpen) { return }
            [void]$Beside.Process.WaitForExit(1000)
        }
    }
}

function Invoke-PesterFileDone {
    <# Reads, prints and adds up the outcome of one file as soon as it is over. #>
    param([object] $Record, [object] $Total, [System.Collections.Generic.List[object]] $Parts, [scriptblock] $RepairLab)
    try { $outcome = Get-PesterFileOutcome -Run $Record }
    catch {
        $outcome = [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0; Failure = "$($Record.Name): its results could not be read: $_"; Tail = @()
            Line = "$($Record.Name): 0 passed, 1 failed (results unreadable)" }
    }
    if ($outcome.Failure) {
        Write-Host $outcome.Failure -ForegroundColor Red
        Write-Host "---- last lines of $($Record.Log) ----"
        $outcome.Tail | ForEach-Object { Write-Host $_ }
        Write-Host '----'
    }
    # A killed file (its limit, or the run's budget) skipped its AfterAll: bring back what it stopped
    # (in the lab of its lane: -RepairLab gets the file's record).
    if ($RepairLab -and ($outcome.Failure -or $Record.TimedOut)) {
        try { & $RepairLab $Record } catch { Write-Warning "could not repair the lab after $($Record.Name): $_" }
    }
    Write-Host "pester $($outcome.Line)"
    $Total.Lines.Add($outcome.Line)
    $Total.Passed += $outcome.Passed
    $Total.Failed += $outcome.Failed
    $Total.Skipped += $outcome.Skipped
    if ($Total.PSObject.Properties['FileSeconds']) { $Total.FileSeconds += $Record.Seconds }
    $skipReason = if ($outcome.PSObject.Properties['SkipReason']) { $outcome.SkipReason } else { $null }
    $Parts.Add([pscustomobject]@{ File = $Record.File; Name = $Record.Name; Xml = $Record.Xml; Failure = $outcome.Failure; Tail = $outcome.Tail; Seconds = $Record.Seconds
        SkipReason = $skipReason })
}

Export-ModuleMember -Function Get-PesterFileLimit, Start-PesterFileProcess, Stop-PesterFileProcess, Wait-PesterFileProcess, Get-PesterRunningTest,
    Get-PesterFileOutcome, Merge-PesterResultXml, Invoke-PesterFiles, Get-PesterStagePlan
