# The Scale benchmark's profile (tests/bench/StatementLog.psm1): PostgreSQL's statement log read back
# and a New-BlockVolume -Wait split into its stages by the statements of the cmdlet, the scheduler and
# the agent. The log below is the shape the lab's PostgreSQL 15 writes with the profile's prefix
# ('%m [%p] %a '), cut from a real run and shortened, with two lines added: the other agent's claim
# (not the volume's host) and a checkpointer's line (a process with no client, so no application
# name at all); no lab needed.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../bench/StatementLog.psm1') -Force
    $id = '01a249eb-1deb-7b2e-90eb-9f66577aa548'
    $log = @"
2026-12-06 05:54:35.116 UTC [2028] blockstore-pwsh LOG:  duration: 0.186 ms  statement: SET SESSION AUTHORIZATION DEFAULT;RESET ALL
2026-12-06 05:54:35.117 UTC [2028] blockstore-pwsh LOG:  duration: 0.738 ms  execute _auto1: INSERT INTO bs.volumes (id, name)
	SELECT `$1, `$2
2026-12-06 05:54:35.117 UTC [2028] blockstore-pwsh DETAIL:  parameters: `$1 = '$id', `$2 = 't1'
2026-12-06 05:54:35.118 UTC [2028] blockstore-pwsh LOG:  duration: 0.191 ms  execute _auto2: WITH o AS (INSERT INTO bs.operations
2026-12-06 05:54:35.118 UTC [2028] blockstore-pwsh DETAIL:  parameters: `$1 = '$id', `$2 = 'create of 1 GiB requested'
2026-12-06 05:54:35.119 UTC [1262] blockstore-scheduler-scheduler2-placement LOG:  duration: 0.033 ms  statement: BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED
2026-12-06 05:54:35.120 UTC [1262] blockstore-scheduler-scheduler2-placement LOG:  duration: 0.170 ms  execute _auto2: SELECT count(*)::text
2026-12-06 05:54:35.123 UTC [1262] blockstore-scheduler-scheduler2-placement LOG:  duration: 1.439 ms  execute _auto6: WITH p AS (SELECT * FROM unnest(`$1::bigint[], `$2::uuid[]))
2026-12-06 05:54:35.123 UTC [1262] blockstore-scheduler-scheduler2-placement DETAIL:  parameters: `$1 = '{9}', `$2 = '{$id}'
2026-12-06 05:54:35.124 UTC [1262] blockstore-scheduler-scheduler2-placement LOG:  duration: 0.415 ms  statement: COMMIT
2026-12-06 05:54:35.125 UTC [1290] blockstore-volume-node2-operations LOG:  duration: 0.300 ms  execute _auto0: WITH next AS (SELECT o.id FROM bs.operations o)
2026-12-06 05:54:35.126 UTC [1271] blockstore-volume-node1-operations LOG:  duration: 0.069 ms  bind _auto0: WITH next AS (SELECT o.id FROM bs.operations o)
2026-12-06 05:54:35.127 UTC [1271] blockstore-volume-node1-operations LOG:  duration: 0.703 ms  execute _auto0: WITH next AS (SELECT o.id FROM bs.operations o)
2026-12-06 05:54:35.127 UTC [1271] blockstore-volume-node1-operations DETAIL:  parameters: `$1 = 'node1'
2026-12-06 05:54:35.156 UTC [1271] blockstore-volume-node1-operations LOG:  duration: 0.069 ms  statement: BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED
2026-12-06 05:54:35.157 UTC [1271] blockstore-volume-node1-operations LOG:  duration: 0.376 ms  execute _auto1: UPDATE bs.operations SET stage = `$1
2026-12-06 05:54:35.157 UTC [1271] blockstore-volume-node1-operations DETAIL:  parameters: `$1 = 'succeeded', `$3 = '9'
2026-12-06 05:54:35.157 UTC [1271] blockstore-volume-node1-operations LOG:  duration: 0.051 ms  execute _auto2: SELECT v.id, v.name FROM bs.volumes v
2026-12-06 05:54:35.157 UTC [1271] blockstore-volume-node1-operations DETAIL:  parameters: `$1 = '$id'
2026-12-06 05:54:35.159 UTC [1271] blockstore-volume-node1-operations LOG:  duration: 0.368 ms  statement: COMMIT
2026-12-06 05:54:35.160 UTC [1299]  LOG:  checkpoint starting: time
2026-12-06 05:54:35.161 UTC [2033] blockstore-pwsh LOG:  duration: 0.035 ms  execute _auto0: SELECT v.id, v.name FROM bs.volumes v
2026-12-06 05:54:35.161 UTC [2033] blockstore-pwsh DETAIL:  parameters: `$1 = '{$id}'
"@
    $entries = ConvertFrom-StatementLog $log
    $at = { param($t) [DateTime]::SpecifyKind([DateTime]::Parse("2026-12-06 $t", [cultureinfo]::InvariantCulture), 'Utc') }
}

Describe 'ConvertFrom-StatementLog' {
    It 'reads each LOG line with its time, process, application and duration, and attaches DETAIL and continued lines to it' {
        $entries.Count | Should -Be 16
        $insert = $entries[1]
        $insert.At | Should -Be (& $at '05:54:35.117')
        $insert.At.Kind | Should -Be 'Utc'
        $insert.ProcessId | Should -Be 2028
        $insert.App | Should -Be 'blockstore-pwsh'
        $insert.DurationMs | Should -Be 0.738
        $insert.Text | Should -Match "`n\tSELECT"
        $insert.Detail | Should -BeLike "*'$id'*"
    }

    It 'reads a line without an application name, and a message without a duration as NaN' {
        $checkpoint = $entries | Where-Object ProcessId -eq 1299
        $checkpoint.App | Should -Be ''
        [double]::IsNaN($checkpoint.DurationMs) | Should -BeTrue
    }
}

Describe 'Get-WaitStages' {
    It 'splits a -Wait into request, wake, placement, claim, LVM command, completion and return' {
        $s = Get-WaitStages -Entries $entries -VolumeId $id -VolumeHost node1 -Started (& $at '05:54:35.114') -Returned (& $at '05:54:35.1625')
        $s.request | Should -Be 4       # 35.114 -> the request's last statement with the id, 35.118
        $s.wake | Should -Be 1          # -> the scheduler's BEGIN, 35.119
        $s.placement | Should -Be 5     # -> its COMMIT, 35.124
        $s.claim | Should -Be 3         # -> node1's claim executed, 35.127 (node2's claim is not the volume's host)
        $s.lvm | Should -Be 29          # -> node1's completion BEGIN, 35.156
        $s.completion | Should -Be 3    # -> its COMMIT, 35.159
        $s.return | Should -Be 3.5      # -> the cmdlet returned, 35.1625
        $s.total | Should -Be 48.5
        ($s.request + $s.wake + $s.placement + $s.claim + $s.lvm + $s.completion + $s.return) | Should -Be $s.total
    }

    It 'finds the claim when its line is written before the scheduler''s COMMIT line (same millisecond or earlier)' {
        # The commit is done and has woken the agent before the scheduler's backend writes its line.
        $early = @($entries | ForEach-Object { $_.PSObject.Copy() })
        $commitLine = $early | Where-Object { $_.Text -match 'statement: COMMIT' -and $_.App -like '*-placement' }
        $claimLine = $early | Where-Object { $_.App -eq 'blockstore-volume-node1-operations' -and $_.Text -match 'execute _auto0' }
        $commitLine.At = & $at '05:54:35.127'
        $claimLine.At = & $at '05:54:35.126'
        $reordered = @($early | Where-Object { $_ -ne $commitLine })
        $reordered = @($reordered[0..([array]::IndexOf($reordered, $claimLine))]) + $commitLine + @($reordered[([array]::IndexOf($reordered, $claimLine) + 1)..($reordered.Count - 1)])
        $s = Get-WaitStages -Entries $reordered -VolumeId $id -VolumeHost node1 -Started (& $at '05:54:35.114') -Returned (& $at '05:54:35.1625')
        $s.placement | Should -Be 8     # 35.119 -> the COMMIT line, 35.127
        $s.claim | Should -Be -1        # the claim's line, 35.126: one tick of the log's clock before it
        $s.lvm | Should -Be 30          # -> the completion's BEGIN, 35.156: the claim is not taken for the completion's first statement
        $s.completion | Should -Be 3
    }

    It 'gives nothing for a volume whose statements are not in the log' {
        Get-WaitStages -Entries $entries -VolumeId ([guid]::NewGuid()) -VolumeHost node1 -Started (& $at '05:54:35.114') -Returned (& $at '05:54:35.1625') |
            Should -BeNullOrEmpty
    }

    It 'gives nothing when the volume''s host sent nothing in the window' {
        Get-WaitStages -Entries $entries -VolumeId $id -VolumeHost node9 -Started (& $at '05:54:35.114') -Returned (& $at '05:54:35.1625') |
            Should -BeNullOrEmpty
    }
}

Describe 'Get-ServerMs' {
    It 'sums one session''s logged durations inside the window' {
        $sum = Get-ServerMs -Entries $entries -Started (& $at '05:54:35.116') -Returned (& $at '05:54:35.118') -ProcessId 2028
        [math]::Round($sum, 3) | Should -Be ([math]::Round(0.186 + 0.738 + 0.191, 3))
    }

    It 'sums an application''s sessions but the one excepted' {
        $sum = Get-ServerMs -Entries $entries -Started (& $at '05:54:35.110') -Returned (& $at '05:54:35.170') -App 'blockstore-pwsh' -ExceptProcessId 2033
        [math]::Round($sum, 3) | Should -Be ([math]::Round(0.186 + 0.738 + 0.191, 3))
    }
}
