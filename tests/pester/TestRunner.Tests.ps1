# The test run itself (tests/pester/PesterRunner.psm1, TestRun.psm1): its closing line must count what
# did not run, and what silently runs nothing must fail. Runs the real runner (a child pwsh with
# Pester, as build.ps1 Test does) on scratch test files in TestDrive; needs no lab.

BeforeAll {
    $repo = Resolve-Path (Join-Path $PSScriptRoot '../..')
    Import-Module (Join-Path $repo 'tests/pester/PesterRunner.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path $repo 'tests/pester/TestRun.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path $repo 'tests/lab/Lab.psm1') -DisableNameChecking

    $scratch = Join-Path $TestDrive 'scratch'
    New-Item -ItemType Directory -Force -Path $scratch | Out-Null
    $files = [ordered]@{
        # one test of each outcome
        'Mixed.Tests.ps1'     = "Describe 'mixed' { It 'passes' { 1 | Should -Be 1 }; It 'fails' { 1 | Should -Be 2 }; It 'is skipped' -Skip { 1 | Should -Be 1 } }"
        # a data-driven list that came out empty: Pester makes no test of it and says nothing
        'EmptyList.Tests.ps1' = "BeforeDiscovery { `$cases = @(Get-ChildItem -Path '/nonexistent-blockstore-dir' -ErrorAction Ignore) }`n" +
            "Describe 'data-driven' { It 'case <_>' -ForEach `$cases { `$_ | Should -Not -BeNullOrEmpty } }`n" +
            "Describe 'other' { It 'runs' { 1 | Should -Be 1 } }"
        # a file without a single test
        'Zero.Tests.ps1'      = "`$x = 1"
        # data-driven with its list: must not be flagged
        'Fine.Tests.ps1'      = "Describe 'fine' { It 'case <_>' -ForEach @(1, 2) { `$_ | Should -BeGreaterThan 0 } }"
    }
    foreach ($name in $files.Keys) { Set-Content -LiteralPath (Join-Path $scratch $name) -Value $files[$name] }

    $manifest = Join-Path (Get-Module Pester).ModuleBase 'Pester.psd1'
    $results = Join-Path $TestDrive 'results'
    $script:run = Invoke-PesterFiles -Files @($files.Keys | ForEach-Object { Get-Item -LiteralPath (Join-Path $scratch $_) }) `
        -PwshCommand @(Get-LabPwshCommand) -PesterManifest $manifest -ResultsDir $results -Limits @{ DefaultSeconds = 300; Files = @{} }
    function Get-RunLine([string] $File) { @($run.Lines | Where-Object { $_ -like "$File`:*" })[0] }
}

Describe 'the Pester runner counts what did not run' {
    It 'reports passed, failed and skipped of a file' {
        Get-RunLine 'Mixed.Tests.ps1' | Should -Match '^Mixed\.Tests\.ps1: 1 passed, 1 failed, 1 skipped '
    }

    It 'fails a block that an empty data-driven list left without tests, naming it' {
        Get-RunLine 'EmptyList.Tests.ps1' | Should -Match '^EmptyList\.Tests\.ps1: 1 passed, 1 failed, 0 skipped .*no test 1\)$'
        $xml = [xml](Get-Content -LiteralPath (Join-Path $results 'pester.xml') -Raw)
        ($xml.SelectNodes('//test-case') | Where-Object { $_.name -like 'EmptyList.Tests.ps1 (whole file)' }).description |
            Should -Match "'data-driven' has no test"
    }

    It 'fails a file that runs no test at all' {
        Get-RunLine 'Zero.Tests.ps1' | Should -Match '^Zero\.Tests\.ps1: 0 passed, 1 failed, 0 skipped '
    }

    It 'does not flag a data-driven list that has its cases' {
        Get-RunLine 'Fine.Tests.ps1' | Should -Match '^Fine\.Tests\.ps1: 2 passed, 0 failed, 0 skipped .*no test 0\)$'
    }

    It 'adds them up: 4 passed, 3 failed, 1 skipped' {
        $run.Passed | Should -Be 4
        $run.Failed | Should -Be 3
        $run.Skipped | Should -Be 1
    }
}

Describe 'the closing line' {
    It 'is "N passed, N failed, N skipped" and fails the run when anything failed' {
        $code = Write-TestSummary @{ Passed = 4; Failed = 3; Skipped = 1; Crashed = $false } 6>&1 | Tee-Object -Variable printed | Select-Object -Last 1
        ($printed | Where-Object { $_ -is [System.Management.Automation.InformationRecord] } | Select-Object -Last 1).ToString() | Should -Be '4 passed, 3 failed, 1 skipped'
        $code | Should -Be 1
        (Write-TestSummary @{ Passed = 4; Failed = 0; Skipped = 1; Crashed = $false } 6>$null) | Should -Be 0
    }

    It 'counts an xunit project''s not-executed tests as skipped' {
        $trx = Join-Path $TestDrive 'x.trx'
        Set-Content -LiteralPath $trx -Value ('<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><ResultSummary outcome="Completed">' +
            '<Counters total="6" executed="4" passed="3" failed="1" error="0" timeout="0" aborted="0" inconclusive="0" notRunnable="0" notExecuted="2" /></ResultSummary></TestRun>')
        $c = Read-TrxCounts $trx
        "$($c.Passed) $($c.Failed) $($c.Skipped) $($c.Total)" | Should -Be '3 1 2 6'
    }
}

Describe 'the storage-host guest' {
    It 'an expected guest that did not boot is a failure with its reason' {
        $o = Get-GuestOutcome -Expected $true -Up $false -ErrorText 'qemu exited 1 before the guest answered on ssh'
        $o.Failed | Should -Be 1
        $o.Line | Should -Match '^FAILED: the storage-host guest was expected .* did not come up: qemu exited 1'
    }

    It 'a guest left out on purpose is said so and is not a failure (its suites count as skipped)' {
        $o = Get-GuestOutcome -Expected $false -Up $false -NoGuest
        $o.Failed | Should -Be 0
        $o.Line | Should -Match '-NoGuest'
    }

    It 'is expected when qemu is installed and -NoGuest is not given' {
        Test-GuestExpected -NoGuest | Should -BeFalse
        Test-GuestExpected | Should -Be ([bool](Get-Command qemu-system-x86_64 -CommandType Application -ErrorAction Ignore))
    }
}

Describe 'the run''s time budget (BLOCKSTORE_TEST_DEADLINE)' {
    BeforeAll {
        $budgetDir = Join-Path $TestDrive 'budget'
        New-Item -ItemType Directory -Force -Path $budgetDir | Out-Null
        Set-Content -LiteralPath (Join-Path $budgetDir 'Slow.Tests.ps1') -Value "Describe 'slow' { It 'sleeps past the budget' { Start-Sleep -Seconds 400; 1 | Should -Be 1 } }"
        Set-Content -LiteralPath (Join-Path $budgetDir 'After.Tests.ps1') -Value "Describe 'after' { It 'runs' { 1 | Should -Be 1 } }"
        $budgetFiles = @('Slow.Tests.ps1', 'After.Tests.ps1' | ForEach-Object { Get-Item -LiteralPath (Join-Path $budgetDir $_) })
        $runArgs = @{ PwshCommand = @(Get-LabPwshCommand); PesterManifest = $manifest; Limits = @{ DefaultSeconds = 300; Files = @{} } }
    }

    It 'does not start a file with too little of it left: skipped, with the reason, nothing failed' {
        $out = Join-Path $TestDrive 'budget-spent'
        $r = Invoke-PesterFiles -Files $budgetFiles -ResultsDir $out -Deadline ([DateTime]::UtcNow.AddSeconds(30)) @runArgs
        "$($r.Passed) $($r.Failed) $($r.Skipped)" | Should -Be '0 0 2'
        $r.Lines | Should -HaveCount 2
        $r.Lines | ForEach-Object { $_ | Should -Match "1 skipped \(not run: the run's time budget" }
        $xml = [xml](Get-Content -LiteralPath (Join-Path $out 'pester.xml') -Raw)
        $cases = @($xml.SelectNodes('//test-case'))
        $cases | Should -HaveCount 2
        $cases | ForEach-Object { $_.result | Should -Be 'Ignored'; $_.reason.message | Should -Match 'time budget' }
    }

    It 'cuts a file still running at the end of it (what did not finish is skipped, naming the budget) and skips the files after it' {
        $out = Join-Path $TestDrive 'budget-cut'
        $r = Invoke-PesterFiles -Files $budgetFiles -ResultsDir $out -Deadline ([DateTime]::UtcNow.AddSeconds(75)) -BudgetMinimumSeconds 2 @runArgs
        $r.Lines[0] | Should -Match "^Slow\.Tests\.ps1: 0 passed, 0 failed, 1 skipped \(not finished: the run's time budget"
        $r.Lines[1] | Should -Match "^After\.Tests\.ps1: 0 passed, 0 failed, 1 skipped \(not run: the run's time budget"
        "$($r.Passed) $($r.Failed) $($r.Skipped)" | Should -Be '0 0 2'
        $xml = [xml](Get-Content -LiteralPath (Join-Path $out 'pester.xml') -Raw)
        ($xml.SelectNodes('//test-case') | Where-Object { $_.name -like 'Slow.Tests.ps1 (whole file)' }).reason.message |
            Should -Match "time budget \(BLOCKSTORE_TEST_DEADLINE\) ended"
    }

    It 'skips the chaos stream with the reason when too little is left, touching no lab' {
        Import-Module (Join-Path $repo 'tests/lab/Chaos.psm1') -Force -DisableNameChecking
        $totals = @{ Passed = 0; Failed = 0; Skipped = 0 }
        $printed = Invoke-TestChaos -Repo $TestDrive -Totals $totals -Deadline ([DateTime]::UtcNow.AddMinutes(2)) 6>&1
        "$($totals.Passed) $($totals.Failed) $($totals.Skipped)" | Should -Be '0 0 1'
        @($printed | ForEach-Object ToString) -join "`n" | Should -Match "chaos \(single\): skipped, not run: less than 5 min of the run's time budget"
    }

    It 'is read from unix seconds, absent means none, anything else is refused' {
        Get-TestDeadline -Value '' | Should -BeNullOrEmpty
        (Get-TestDeadline -Value '1800000000') | Should -Be ([DateTimeOffset]::FromUnixTimeSeconds(1800000000).UtcDateTime)
        { Get-TestDeadline -Value 'soon' } | Should -Throw '*unix seconds*'
    }
}

Describe 'files side by side (Timeouts.psd1 Parallel)' {
    BeforeAll {
        # Two lanes of scratch files that can only pass when the lanes run at the same time: Ping
        # (lane a) waits for Pong (lane b) to answer, which waits for Ping. Then lane b's Hang is
        # killed at its limit while lane a's Survives runs, which must see After - the file lane b
        # runs in a fresh pwsh only after the kill - and so outlive it.
        $laneDir = Join-Path $TestDrive 'lanes'
        $signal = Join-Path $TestDrive 'signals'
        New-Item -ItemType Directory -Force -Path $laneDir, $signal | Out-Null
        $wait = { param($name) "& { `$ok = `$false; for (`$i = 0; `$i -lt 480; `$i++) { if (Test-Path -LiteralPath '$(Join-Path $signal $name)') { `$ok = `$true; break }; Start-Sleep -Milliseconds 500 }; `$ok }" }
        $touch = { param($name) "New-Item -ItemType File -Force -Path '$(Join-Path $signal $name)' | Out-Null" }
        $laneFiles = [ordered]@{
            'Ping.Tests.ps1'     = "Describe 'ping' { It 'is answered by the other lane' { $(& $touch 'ping'); `$seen = $(& $wait 'pong'); `$seen | Should -BeTrue } }"
            'Pong.Tests.ps1'     = "Describe 'pong' { It 'answers the other lane' { `$seen = $(& $wait 'ping'); $(& $touch 'pong'); `$seen | Should -BeTrue } }"
            'Fails.Tests.ps1'    = "Describe 'fails' { It 'passes' { 1 | Should -Be 1 }; It 'fails' { 1 | Should -Be 2 } }"
            'Hang.Tests.ps1'     = "Describe 'hang' { It 'hangs until it is killed' { $(& $touch 'hang'); Start-Sleep -Seconds 900 } }"
            'Survives.Tests.ps1' = "Describe 'survives' { It 'runs on while the other lane''s file is killed' { " +
                "Test-Path -LiteralPath '$(Join-Path $signal 'after')' | Should -BeFalse -Because 'it must start before the kill'; `$seen = $(& $wait 'after'); `$seen | Should -BeTrue } }"
            'After.Tests.ps1'    = "Describe 'after' { It 'runs after the kill, in a fresh pwsh' { $(& $touch 'after'); 1 | Should -Be 1 } }"
            'Alone.Tests.ps1'    = "Describe 'alone' { It 'runs after the stage' { 1 | Should -Be 1 } }"
        }
        foreach ($name in $laneFiles.Keys) { Set-Content -LiteralPath (Join-Path $laneDir $name) -Value $laneFiles[$name] }
        $stages = @(@{ a = @('Ping.Tests.ps1', 'Fails.Tests.ps1', 'Survives.Tests.ps1'); b = @('Pong.Tests.ps1', 'Hang.Tests.ps1', 'After.Tests.ps1') })
        $laneResults = Join-Path $TestDrive 'lane-results'
        $printed = Invoke-PesterFiles -Files @($laneFiles.Keys | ForEach-Object { Get-Item -LiteralPath (Join-Path $laneDir $_) }) -Stages $stages `
            -PwshCommand @(Get-LabPwshCommand) -PesterManifest $manifest -ResultsDir $laneResults `
            -Limits @{ DefaultSeconds = 300; Files = @{ 'Hang.Tests.ps1' = 40 } } 6>&1
        $script:laneRun = @($printed | Where-Object { $_ -isnot [System.Management.Automation.InformationRecord] })[-1]
        $script:console = @($printed | Where-Object { $_ -is [System.Management.Automation.InformationRecord] } | ForEach-Object { "$_" })
        function Get-LaneLine([string] $File) { @($laneRun.Lines | Where-Object { $_ -like "$File`:*" })[0] }
    }

    It 'runs both lanes at the same time: each lane''s first file passes only if the other lane''s ran meanwhile' {
        Get-LaneLine 'Ping.Tests.ps1' | Should -Match '^Ping\.Tests\.ps1: 1 passed, 0 failed, 0 skipped '
        Get-LaneLine 'Pong.Tests.ps1' | Should -Match '^Pong\.Tests\.ps1: 1 passed, 0 failed, 0 skipped '
        $laneRun.Stages[0].Lanes | Should -Be @('a', 'b')
    }

    It 'counts a failure in a lane' {
        Get-LaneLine 'Fails.Tests.ps1' | Should -Match '^Fails\.Tests\.ps1: 1 passed, 1 failed, 0 skipped '
    }

    It 'kills only the file over its limit: the other lane''s file runs on, its own lane goes on in a fresh pwsh' {
        Get-LaneLine 'Hang.Tests.ps1' | Should -Match '^Hang\.Tests\.ps1: 0 passed, 1 failed \(killed at its time limit'
        Get-LaneLine 'Survives.Tests.ps1' | Should -Match '^Survives\.Tests\.ps1: 1 passed, 0 failed, 0 skipped '
        Get-LaneLine 'After.Tests.ps1' | Should -Match '^After\.Tests\.ps1: 1 passed, 0 failed, 0 skipped '
    }

    It 'runs the files no stage names alone, after the stage' {
        Get-LaneLine 'Alone.Tests.ps1' | Should -Match '^Alone\.Tests\.ps1: 1 passed, 0 failed, 0 skipped '
        $laneRun.Lines[-1] | Should -BeLike 'Alone.Tests.ps1:*'
        $laneRun.Stages | Should -HaveCount 2
    }

    It 'adds them up: 6 passed, 2 failed (one of them the kill), 0 skipped' {
        "$($laneRun.Passed) $($laneRun.Failed) $($laneRun.Skipped)" | Should -Be '6 2 0'
        $xml = [xml](Get-Content -LiteralPath (Join-Path $laneResults 'pester.xml') -Raw)
        $xml.DocumentElement.GetAttribute('failures') | Should -Be '2'
    }

    It 'prints each lane file''s output as one block when it ends, not interleaved with the other lane' {
        foreach ($name in 'Ping', 'Pong', 'Fails', 'Survives', 'After') {
            $start = [array]::IndexOf($console, @($console | Where-Object { $_ -like "---- $name.Tests.ps1 (lane *" })[0])
            $end = [array]::IndexOf($console, "---- end of $name.Tests.ps1 ----")
            $start | Should -BeGreaterThan -1 -Because "the block of $name"
            $end | Should -BeGreaterThan $start
            $block = @($console[($start + 1)..($end - 1)])
            $block | Should -Be @(Get-Content -LiteralPath (Join-Path $laneResults "pester-logs/$name.log")) -Because "the block of $name is its log, whole"
            $console[$end + 1] | Should -BeLike "pester $name.Tests.ps1: *"
        }
    }
}

Describe 'work beside the first stage (the xunit projects in build.ps1 Test)' {
    BeforeAll {
        # A short process beside a stage of two lanes, then a file no stage names (a second stage).
        # Its OnExit disposes it, as TestRun.psm1's does: a later stage that looked at it again
        # (HasExited on a disposed process throws) ended the whole Pester phase (fixed in 6a5a403).
        $dir = Join-Path $TestDrive 'beside'
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        foreach ($name in 'Left', 'Right', 'Later') {
            Set-Content -LiteralPath (Join-Path $dir "$name.Tests.ps1") -Value "Describe '$name' { It 'runs' { 1 | Should -Be 1 } }"
        }
        $besideProcess = [System.Diagnostics.Process]::Start('sleep', '1')
        # GetNewClosure keeps the locals it sees: the list and the process.
        $exits = [System.Collections.Generic.List[bool]]::new()
        $script:besideExits = $exits
        $onExit = { $exits.Add($besideProcess.HasExited); $besideProcess.Dispose() }.GetNewClosure()
        $script:besideRun = Invoke-PesterFiles -Files @('Left', 'Right', 'Later' | ForEach-Object { Get-Item -LiteralPath (Join-Path $dir "$_.Tests.ps1") }) `
            -Stages @(@{ l = @('Left.Tests.ps1'); r = @('Right.Tests.ps1') }) -Beside @{ Process = $besideProcess; OnExit = $onExit } `
            -PwshCommand @(Get-LabPwshCommand) -PesterManifest $manifest -ResultsDir (Join-Path $TestDrive 'beside-results') `
            -Limits @{ DefaultSeconds = 300; Files = @{} }
    }

    It 'reports it once, after it exited, and the later stage runs without waiting for it again' {
        @($besideExits) | Should -Be @($true) -Because 'OnExit is called once, when the process has exited'
        $besideRun.Stages | Should -HaveCount 2
        @($besideRun.Lines | ForEach-Object { ($_ -split ':')[0] }) | Sort-Object | Should -Be @('Later.Tests.ps1', 'Left.Tests.ps1', 'Right.Tests.ps1')
        "$($besideRun.Passed) $($besideRun.Failed) $($besideRun.Skipped)" | Should -Be '3 0 0'
    }
}

Describe 'a lane with variables and a CPU priority of its own (Timeouts.psd1 SecondLabLane, BackgroundNice)' {
    BeforeAll {
        # Lane 'second' gets BLOCKSTORE_REPO of another folder, as the second lab's lane does, and a
        # nice(1) value, as every lane off the critical path does; lane 'first' and the file run
        # alone after the stage keep the run's own. Each file prints what it saw (its niceness as
        # nice(1) started by it reads it), so a test that compares them cannot pass with both unset.
        $dir = Join-Path $TestDrive 'lane-env'
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        $script:otherRepo = Join-Path $TestDrive 'other-repo'
        foreach ($name in 'First', 'Second', 'Last') {
            Set-Content -LiteralPath (Join-Path $dir "$name.Tests.ps1") -Value (
                "Describe '$name' { It 'sees its BLOCKSTORE_REPO' { Write-Host ""$name repo=[`$env:BLOCKSTORE_REPO] nice=[`$(nice)]""; 1 | Should -Be 1 } }")
        }
        $previous = $env:BLOCKSTORE_REPO
        $env:BLOCKSTORE_REPO = $repo
        try {
            $script:envRun = Invoke-PesterFiles -Files @('First', 'Second', 'Last' | ForEach-Object { Get-Item -LiteralPath (Join-Path $dir "$_.Tests.ps1") }) `
                -Stages @(@{ first = @('First.Tests.ps1'); second = @('Second.Tests.ps1') }) -LaneEnvironment @{ second = @{ BLOCKSTORE_REPO = $otherRepo } } -LaneNice @{ second = 7 } `
                -PwshCommand @(Get-LabPwshCommand) -PesterManifest $manifest -ResultsDir (Join-Path $TestDrive 'lane-env-results') `
                -Limits @{ DefaultSeconds = 300; Files = @{} }
        }
        finally { $env:BLOCKSTORE_REPO = $previous }
        function Get-Seen([string] $Name, [string] $What) {
            $line = @(Get-Content -LiteralPath (Join-Path $TestDrive "lane-env-results/pester-logs/$Name.log") | Where-Object { $_ -like "$Name repo=*" })[0]
            return ($line -replace "^.* $What=\[([^\]]*)\].*$", '$1')
        }
        $script:ownNice = "$(nice)"
    }

    It 'starts that lane''s pwsh with them, and no other' {
        "$($envRun.Passed) $($envRun.Failed) $($envRun.Skipped)" | Should -Be '3 0 0'
        Get-Seen 'Second' 'repo' | Should -Be $otherRepo
        Get-Seen 'First' 'repo' | Should -Be "$repo"
        Get-Seen 'Last' 'repo' | Should -Be "$repo"
    }

    It 'starts that lane''s pwsh at its nice value, and no other' {
        # Seven above this test's own (nice adds to the caller's, up to 19).
        Get-Seen 'Second' 'nice' | Should -Be "$([math]::Min(19, [int]$ownNice + 7))"
        Get-Seen 'First' 'nice' | Should -Be $ownNice
        Get-Seen 'Last' 'nice' | Should -Be $ownNice
    }
}

Describe 'the stages of build.ps1 Test (Timeouts.psd1 Parallel)' {
    BeforeAll {
        $limits = Import-PowerShellDataFile -LiteralPath (Join-Path $repo 'tests/pester/Timeouts.psd1')
        $named = @(foreach ($stage in $limits.Parallel) { foreach ($lane in $stage.Keys) { $stage[$lane] } })
    }

    It 'names the second lab''s lane, which runs beside other lanes' {
        $limits.SecondLabLane | Should -Not -BeNullOrEmpty
        @($limits.Parallel | Where-Object { $_.ContainsKey($limits.SecondLabLane) -and $_.Count -gt 1 }) | Should -HaveCount 1
    }

    It 'runs every lane but the guest''s at a lower CPU priority' {
        # The critical lane is a lane of some stage; a BackgroundNice of 0 would run all alike.
        @($limits.Parallel | Where-Object { $_.ContainsKey($limits.CriticalLane) }) | Should -Not -BeNullOrEmpty
        $limits.BackgroundNice | Should -BeGreaterThan 0
        $limits.BackgroundNice | Should -BeLessOrEqual 19
    }

    It 'names only files that exist, each once, each with its own time limit' {
        $named.Count | Should -BeGreaterThan 0
        $named | Group-Object | Where-Object Count -GT 1 | ForEach-Object Name | Should -BeNullOrEmpty
        foreach ($name in $named) {
            Join-Path $repo "tests/pester/$name" | Should -Exist
            $limits.Files.ContainsKey($name) | Should -BeTrue -Because "$name needs its limit"
        }
    }

    It 'runs a stage left with one lane (a run of some files) one after another with the files no stage names' {
        $dir = Join-Path $TestDrive 'plan'
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        $f = @('A.Tests.ps1', 'B.Tests.ps1', 'C.Tests.ps1', 'D.Tests.ps1' | ForEach-Object { New-Item -ItemType File -Force -Path (Join-Path $dir $_) })
        $plan = Get-PesterStagePlan -Files $f -Stages @(@{ x = @('B.Tests.ps1', 'Missing.Tests.ps1'); y = @('A.Tests.ps1') }, @{ x = @('C.Tests.ps1'); y = @('Missing.Tests.ps1') })
        $plan | Should -HaveCount 2
        @($plan[0].Keys) | Should -Be @('x', 'y')
        @($plan[0]['x'].Name) | Should -Be @('B.Tests.ps1')
        @($plan[1].Keys) | Should -Be @('')
        @($plan[1][''].Name) | Should -Be @('C.Tests.ps1', 'D.Tests.ps1')
    }
}
