# How `build.ps1 Test` runs the Pester files. Pester has no per-test timeout, and one hung test used
# to stall the whole run until CI's 90-minute limit. Now each file runs under a time limit
# (Timeouts.psd1): a file still running at its limit is killed with every process it started,
# counted as failed, and named together with the test that was running; the files after it go on
# in a fresh pwsh. The files run one after another as before (they stop agents and PostgreSQL, so
# they cannot overlap), one Invoke-Pester per file, all in one pwsh as long as none hangs: a
# fresh pwsh per file was measured to cost 10-20 s of loading and JIT per file on this machine.

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
        [int] $BudgetMinimumSeconds = 60
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
    foreach ($a in @('-c', 'log=$1; shift; exec "$@" >> "$log" 2>&1', 'bash', $run.Log) + $PwshCommand +
        @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'Invoke-PesterFile.ps1'),
            '-PesterManifest', $PesterManifest, '-ListFile', $run.List, '-PartDir', $partDir) +
        @(if ($Preload.Count -gt 0) { '-Preload'; $Preload -join ',' }) + @(if ($WarmUp) { '-WarmUp'; $WarmUp }) +
        @(if ($Deadline) { '-DeadlineUnix'; "$([DateTimeOffset]::new(([DateTime]$Deadline).ToUniversalTime()).ToUnixTimeSeconds())"; '-MinimumSeconds'; "$BudgetMinimumSeconds" })) {
        $psi.ArgumentList.Add($a)
    }
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

function Wait-PesterFileProcess {
    <#
    Lets a started pwsh run ("go"), copies its output to the console as it comes and to one log per
    file (pester-logs/<file>.log), and kills its process tree when the file it runs is over its
    limit. Returns one record per file it started: @{ File; Name; Log; Xml; Counts; LimitSeconds;
    TimedOut; Crashed; Seconds }. Files it never started are not in the list (they go to a fresh pwsh).
    #>
    param([Parameter(Mandatory)][object] $Run, [Parameter(Mandatory)][hashtable] $Limits, [double] $Scale = 1, [scriptblock] $OnFileDone,
        # Longest time with no file running: loading before the first file, Pester's work between two.
        [int] $IdleSeconds = 600)
    $p = $Run.Process
    $idle = [System.Diagnostics.Stopwatch]::StartNew()
    try { $p.StandardInput.WriteLine('go'); $p.StandardInput.Close() }
    catch { Write-Warning "its pwsh exited before it could start (see $($Run.Log))" }
    $stream = [System.IO.FileStream]::new($Run.Log, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::ReadWrite -bor [System.IO.FileShare]::Delete)
    $reader = [System.IO.StreamReader]::new($stream)
    $done = [System.Collections.Generic.List[object]]::new()
    $current = $null
    $pending = ''
    $handle = {
        param([string] $line)
        $plain = $line -replace "\e\[[0-9;]*[A-Za-z]", ''
        if ($plain -match '^##blockstore-pester budget (.+)$') {
            # Not started: the run's time budget is (nearly) spent. Reported as skipped with the reason.
            $path = $Matches[1]
            $record = [pscustomobject]@{
                File = $path; Name = [System.IO.Path]::GetFileName($path); Log = ''; Xml = ''; Counts = ''; LimitSeconds = 0
                TimedOut = $false; Crashed = $false; Seconds = 0.0; BudgetSkipped = $true; BudgetCapped = $false; Deadline = $Run.Deadline
            }
            $done.Add($record)
            if ($OnFileDone) { & $OnFileDone $record }
            $idle.Restart()
            return
        }
        if ($plain -match '^##blockstore-pester start (.+)$') {
            $path = $Matches[1]
            $name = [System.IO.Path]::GetFileName($path)
            $base = $name -replace '\.Tests\.ps1$', ''
            $limit = Get-PesterFileLimit -FileName $name -Limits $Limits -Scale $Scale
            $capped = $false
            if ($Run.Deadline) {
                # No file runs past the run's time budget: its limit ends there at the latest.
                $left = [int][math]::Max(1, [math]::Floor((([DateTime]$Run.Deadline).ToUniversalTime() - [DateTime]::UtcNow).TotalSeconds))
                if ($left -lt $limit) { $limit = $left; $capped = $true }
            }
            $script:current = [pscustomobject]@{
                File = $path; Name = $name; Log = (Join-Path $Run.LogDir "$base.log"); Xml = (Join-Path $Run.PartDir "$base.xml")
                Counts = (Join-Path $Run.PartDir "$base.json"); LimitSeconds = $limit
                TimedOut = $false; Crashed = $false; Seconds = 0.0; Clock = [System.Diagnostics.Stopwatch]::StartNew()
                BudgetSkipped = $false; BudgetCapped = $capped; Deadline = $Run.Deadline
                Writer = [System.IO.StreamWriter]::new((Join-Path $Run.LogDir "$base.log"), $false)
            }
            $why = if ($capped) { ", cut to the run's time budget" } else { '' }
            Write-Host "==> Pester $name (limit $($script:current.LimitSeconds) s$why, log $($script:current.Log))" -ForegroundColor Cyan
            return
        }
        if ($plain -match '^##blockstore-pester end ' -and $script:current) {
            $script:current.Seconds = [math]::Round($script:current.Clock.Elapsed.TotalSeconds, 1)
            $script:current.Writer.Dispose()
            $done.Add($script:current)
            if ($OnFileDone) { & $OnFileDone $script:current }
            $script:current = $null
            $idle.Restart()
            return
        }
        Write-Host $line
        if ($script:current) { $script:current.Writer.WriteLine($line); $script:current.Writer.Flush() }
    }
    $script:current = $null
    try {
        while ($true) {
            $exited = $p.WaitForExit(500)
            $text = $pending + $reader.ReadToEnd()
            $lines = $text -split "\n"
            $pending = $lines[-1]
            # (Not $lines[0..($lines.Count - 2)]: with one element that range is 0..-1, two items.)
            for ($i = 0; $i -lt $lines.Count - 1; $i++) { & $handle $lines[$i].TrimEnd("`r") }
            if ($exited) { break }
            if (-not $script:current -and $idle.Elapsed.TotalSeconds -ge $IdleSeconds) {
                Write-Host "TIMEOUT: the Pester pwsh ran no file for $IdleSeconds s (loading, or between two files): killed (see $($Run.Log))" -ForegroundColor Red
                try { $p.Kill($true) } catch { Write-Warning "kill of pid $($p.Id) failed: $_" }
                [void]$p.WaitForExit(15000)
                break
            }
            if ($script:current -and $script:current.Clock.Elapsed.TotalSeconds -ge $script:current.LimitSeconds) {
                $script:current.TimedOut = $true
                # The whole tree: the pwsh and whatever it started (psql, lvm, dotnet, qemu-io...).
                # Lab hosts started by a test run in their own session (setsid) and are not in it.
                try { $p.Kill($true) } catch { Write-Warning "kill of pid $($p.Id) failed: $_" }
                if (-not $p.WaitForExit(15000)) { Write-Warning "pid $($p.Id) still exists 15 s after SIGKILL" }
                $text = $pending + $reader.ReadToEnd()
                $pending = ''
                foreach ($line in ($text -split "\n")) { if ($line) { & $handle $line.TrimEnd("`r") } }
                break
            }
        }
        if ($pending) { & $handle $pending }
    }
    finally { $reader.Dispose() }
    if ($script:current) {
        # Started, never ended: killed at its limit, or its pwsh died under it.
        $c = $script:current
        $c.Seconds = [math]::Round($c.Clock.Elapsed.TotalSeconds, 1)
        if (-not $c.TimedOut) { $c.Crashed = $true }
        $c.Writer.Dispose()
        $done.Add($c)
        $script:current = $null
        $c | Add-Member -NotePropertyName ExitCode -NotePropertyValue $(if ($p.HasExited) { $p.ExitCode } else { -1 }) -Force
        if ($OnFileDone) { & $OnFileDone $c }
    }
    $p.Dispose()
    return $done.ToArray()
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

function Invoke-PesterFiles {
    <#
    Runs the files one after another, each under its limit, in one pwsh until a file hangs or its
    pwsh dies; the files after that one go on in a fresh pwsh. After a file was killed, -RepairLab
    brings back what its cleanup could not (a stopped agent or PostgreSQL) for the next files.
    Returns @{ Passed; Failed; Skipped; Lines = per-file lines }.
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
        # A pwsh for these same files, started earlier (Start-PesterFileProcess) so it loads while other work runs.
        [object] $FirstRun,
        # Longest time a pwsh may run no file (loading it, or Pester's work between two files).
        [int] $IdleSeconds = 600,
        # The run's time budget: no file starts with less than -BudgetMinimumSeconds of it left or runs past it.
        [Nullable[DateTime]] $Deadline,
        [int] $BudgetMinimumSeconds = 60
    )
    $total = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0; Lines = [System.Collections.Generic.List[string]]::new() }
    $parts = [System.Collections.Generic.List[object]]::new()
    $remaining = @($Files)
    # Called by Wait-PesterFileProcess, from inside this function: $total, $parts and $RepairLab are in scope.
    $onFileDone = { param($r) Invoke-PesterFileDone -Record $r -Total $total -Parts $parts -RepairLab $RepairLab }
    $run = $null
    if ($FirstRun) {
        if ((@($FirstRun.Files | ForEach-Object FullName) -join '|') -eq (@($Files | ForEach-Object FullName) -join '|')) { $run = $FirstRun }
        else { Stop-PesterFileProcess $FirstRun }
    }
    try {
        while ($remaining.Count -gt 0) {
            if (-not $run) {
                $run = Start-PesterFileProcess -Files $remaining -PwshCommand $PwshCommand -PesterManifest $PesterManifest -ResultsDir $ResultsDir -Preload $Preload -WarmUp $WarmUp -Deadline $Deadline -BudgetMinimumSeconds $BudgetMinimumSeconds
            }
            try { $started = @(Wait-PesterFileProcess -Run $run -Limits $Limits -Scale $Scale -OnFileDone $onFileDone -IdleSeconds $IdleSeconds) }
            catch { Write-Warning "Pester runner: $_"; $started = @() }
            if ($started.Count -eq 0) {
                # The pwsh died before its first file: count that file, go on with the next ones.
                $f = $remaining[0]
                $started = @([pscustomobject]@{ File = $f.FullName; Name = $f.Name; Log = $run.Log; Xml = ''; Counts = ''; LimitSeconds = 0
                        TimedOut = $false; Crashed = $true; Seconds = 0.0; ExitCode = -1 })
                & $onFileDone $started[0]
            }
            $run = $null
            $names = @($started | ForEach-Object File)
            $remaining = @($remaining | Where-Object { $_.FullName -notin $names })
        }
    }
    finally {
        if ($run) { Stop-PesterFileProcess $run }
    }
    Merge-PesterResultXml -Parts $parts -OutFile (Join-Path $ResultsDir 'pester.xml')
    return $total
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
    # A killed file (its limit, or the run's budget) skipped its AfterAll: bring back what it stopped.
    if ($RepairLab -and ($outcome.Failure -or $Record.TimedOut)) {
        try { & $RepairLab } catch { Write-Warning "could not repair the lab after $($Record.Name): $_" }
    }
    Write-Host "pester $($outcome.Line)"
    $Total.Lines.Add($outcome.Line)
    $Total.Passed += $outcome.Passed
    $Total.Failed += $outcome.Failed
    $Total.Skipped += $outcome.Skipped
    $skipReason = if ($outcome.PSObject.Properties['SkipReason']) { $outcome.SkipReason } else { $null }
    $Parts.Add([pscustomobject]@{ File = $Record.File; Name = $Record.Name; Xml = $Record.Xml; Failure = $outcome.Failure; Tail = $outcome.Tail; Seconds = $Record.Seconds
        SkipReason = $skipReason })
}

Export-ModuleMember -Function Get-PesterFileLimit, Start-PesterFileProcess, Stop-PesterFileProcess, Wait-PesterFileProcess, Get-PesterRunningTest,
    Get-PesterFileOutcome, Merge-PesterResultXml, Invoke-PesterFiles
