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
        <# Restarts the lab's scheduler and returns what it logged from its start until it registered. #>
        Stop-LabHost -Name $schedulerName
        $from = (Get-Item -LiteralPath $log).Length
        Start-LabHost -Name $schedulerName | Out-Null
        $text = ''
        $registered = Wait-LabCondition -TimeoutSeconds 60 -IntervalMilliseconds 250 -Condition {
            $stream = [System.IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
            try { $stream.Position = $from; $script:startLog = [System.IO.StreamReader]::new($stream).ReadToEnd() } finally { $stream.Dispose() }
            $script:startLog -match 'service on \S+ registered'
        }
        $registered | Should -BeTrue -Because "the scheduler registers within a minute (log $log)"
        # The warnings come right after the registration line: give them a moment to be written.
        Start-Sleep -Milliseconds 500
        $stream = [System.IO.File]::Open($log, 'Open', 'Read', 'ReadWrite')
        try { $stream.Position = $from; return [System.IO.StreamReader]::new($stream).ReadToEnd() } finally { $stream.Dispose() }
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
