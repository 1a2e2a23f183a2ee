# Durability of accepted requests: the lab's PostgreSQL acknowledges a commit only once it is in
# its WAL (synchronous_commit = on), and the hosts say so at start when a server does not.
# Run by `build.ps1 Test` (Pester 5.7.1).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Get-LabInfo
    $script:schedulerName = $lab.scheduler.name
    $script:schedulerRole = ([System.Data.Common.DbConnectionStringBuilder]@{ ConnectionString = $lab.scheduler.connectionString })['Username']
    $script:log = Join-Path $lab.stateDir "logs/$schedulerName.log"

    function Restart-Scheduler {
        <#
        Restarts the lab's scheduler and returns what it logged from its start through its first
        placement pass. The start warnings are written after the registration line and before the
        placement loop begins; restarted disabled, the scheduler's first pass says "Scheduler
        service is disabled", so that line marks the end of the start sequence (the lab's other
        schedulers place meanwhile). It is enabled again before this returns.
        #>
        Stop-LabHost -Name $schedulerName
        Invoke-LabSql "update bs.services set disabled = true, disabled_reason = 'Durability.Tests: restarted' where host = '$schedulerName' and service = 'scheduler'" | Out-Null
        try {
            $from = (Get-Item -LiteralPath $log).Length
            Start-LabHost -Name $schedulerName | Out-Null
            $started = Wait-LabCondition -TimeoutSeconds 60 -IntervalMilliseconds 250 -Condition {
                $stream = [System.IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
                try { $stream.Position = $from; $script:startLog = [System.IO.StreamReader]::new($stream).ReadToEnd() } finally { $stream.Dispose() }
                $script:startLog -match 'Scheduler service is disabled'
            }
            $started | Should -BeTrue -Because "the scheduler registers and makes its first pass within a minute (log $log)"
            return $script:startLog
        }
        finally {
            Invoke-LabSql "update bs.services set disabled = false, disabled_reason = null where host = '$schedulerName' and service = 'scheduler'" | Out-Null
        }
    }
}

AfterAll {
    Invoke-LabSql "ALTER ROLE $schedulerRole RESET synchronous_commit" | Out-Null
    if (-not (Test-LabHost -Name $schedulerName)) { Start-LabHost -Name $schedulerName | Out-Null }
}

Describe 'Commit durability' {
    It 'the lab keeps synchronous_commit on (a PostgreSQL crash loses no acknowledged commit)' {
        Invoke-LabSql 'SHOW synchronous_commit' | Should -Be 'on'
        Invoke-LabSql "SELECT setting FROM pg_settings WHERE name = 'synchronous_commit'" | Should -Be 'on'
    }

    It 'a host started against a server with synchronous_commit = off warns at start, naming the risk' {
        # As an operator's setting would reach it: for the scheduler's role (ALTER ROLE ... SET).
        Invoke-LabSql "ALTER ROLE $schedulerRole SET synchronous_commit = off" | Out-Null
        $text = Restart-Scheduler
        $text | Should -Match 'warn: .*synchronous_commit = off'
        $text | Should -Match 'can lose requests that BlockStore already accepted'
    }

    It 'does not warn when synchronous_commit is on' {
        Invoke-LabSql "ALTER ROLE $schedulerRole RESET synchronous_commit" | Out-Null
        $text = Restart-Scheduler
        $text | Should -Match 'registered'
        $text | Should -Not -Match 'synchronous_commit'
    }
}
