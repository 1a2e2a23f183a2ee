# -Wait keeps the catalogue's ErrorIds (issue 17): PostgreSQL stopped in the middle of the wait of any
# cmdlet that waits (New-/Remove-/Resize-BlockVolume -Wait, Wait-BlockVolume, New-/Remove-BlockVolumeAttachment
# -Wait) ends the command with StoreUnavailable (ConnectionError) instead of an exception without an
# ErrorId escaping EndProcessing. ModuleConventions insists that every waiting cmdlet is covered here.
# The waiting cmdlet runs in a separate pwsh (as a user's would) while this file stops PostgreSQL under
# it; the agents are stopped first so that the wait cannot end before that. Afterwards every request
# the waits were for still ends in a final status: accepted before the outage, never lost.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'ws'
    $script:initiator = "iqn.2024-01.com.example.blockstore:$prefix-w"

    function Start-WaitingCommand([string] $Command) {
        <#
        A fresh pwsh that imports the module and reads the store once, prints READY, and on a line
        from its stdin runs $Command and prints "ERRORID <FullyQualifiedErrorId> <category>" or "DONE".
        #>
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$($lab.repo)/out/BlockStore/BlockStore.psd1'; Get-BlockVolumeService | Out-Null; " +
            "[Console]::Out.WriteLine('READY'); [Console]::Out.Flush(); `$null = [Console]::In.ReadLine(); " +
            "try { $Command | Out-Null; 'DONE' } catch { 'ERRORID ' + `$_.FullyQualifiedErrorId + ' ' + `$_.CategoryInfo.Category }"
        $pwsh = @(Get-LabPwshCommand)
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
        foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardInput = $true
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        return [System.Diagnostics.Process]::Start($psi)
    }

    function Invoke-OutageDuringWait {
        <#
        Starts $Command in its own pwsh, stops the agents once it is ready, lets it run, waits until
        -Waiting says the request is in flight, stops PostgreSQL inside the wait and returns what the command ended with:
        @{ Id = FullyQualifiedErrorId; Category } (or Id 'DONE'). PostgreSQL is started again; the
        agents only with -StartAgents (a later step may still need them stopped). -BeforeRequest runs
        once the agents are stopped and before the command is let go, so that what the request
        checks up front is already in place when it runs (a fresh pwsh is faster than a psql poll).
        #>
        param([string] $Command, [scriptblock] $Waiting, [switch] $StartAgents, [scriptblock] $BeforeRequest)
        $since = Invoke-LabSql 'select now()::text'
        $p = Start-WaitingCommand $Command
        try {
            # The module loaded first (a fresh pwsh took over 120 s to get to its request at load 15, CI
            # run of 2026-12-04), the agents stopped only then: the request follows within the hosts'
            # down threshold (10 s), so it is placed and waits for its agent, as in a real outage.
            $ready = $p.StandardOutput.ReadLineAsync()
            $ready.Wait(300000) | Should -BeTrue -Because "the waiting pwsh loads the module ($Command)"
            $ready.Result | Should -Be 'READY'
            foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
            if ($BeforeRequest) { & $BeforeRequest }
            $p.StandardInput.WriteLine('go')
            $p.StandardInput.Flush()
            Wait-LabCondition $Waiting -TimeoutSeconds 120 | Should -BeTrue -Because "the waiting pwsh made its request ($Command)"
            # Inside the wait's loop, not before it: every -Wait opens its LISTEN connection first, so
            # the outage comes once the new pwsh's session shows LISTEN as its last statement.
            Wait-LabCondition -TimeoutSeconds 120 -Condition {
                (Invoke-LabSql "select count(*) from pg_stat_activity where application_name = 'blockstore-pwsh' and backend_start >= '$since'::timestamptz and query ilike 'LISTEN %'") -ne '0'
            } | Should -BeTrue -Because "the waiting pwsh is in its wait ($Command)"
            Stop-LabPostgres
            $p.WaitForExit(120000) | Should -BeTrue -Because 'the wait must end once the store is gone, not run into its 300 s timeout'
            $words = $p.StandardOutput.ReadToEnd().Trim() -split ' '
            return [pscustomobject]@{ Id = $words[-2]; Category = $words[-1]; Output = $words -join ' ' }
        }
        finally {
            if (-not $p.HasExited) { $p.Kill($true) }
            if (-not (Test-LabPostgresRunning)) { Start-LabPostgres }
            if ($StartAgents) { foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n } }
        }
    }

    function Test-VolumeStatus([guid] $VolumeId, [string] $Status) { (Invoke-LabSql "select status from bs.volumes where id = '$VolumeId'") -eq $Status }
    function Test-AttachmentStatus([string] $Status) { (Invoke-LabSql "select count(*) from bs.attachments where initiator_iqn = '$initiator' and status = '$Status'") -eq '1' }
}

AfterAll {
    if (-not (Test-LabPostgresRunning)) { Start-LabPostgres }
    foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n }
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe '-Wait while PostgreSQL goes away' {
    It 'Remove-BlockVolume -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        $v = New-BlockVolume -Name "$prefix-rm" -AvailabilityZone $lab.zone -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 300
        $v.Status | Should -Be 'available'
        $r = Invoke-OutageDuringWait "Remove-BlockVolume -Id '$($v.Id)' -Confirm:`$false -Wait -TimeoutSec 300" { Test-VolumeStatus $v.Id 'deleting' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.RemoveBlockVolumeCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        # The request itself was kept: the deletion finishes once the agents are back.
        (Wait-BlockVolume -Id $v.Id -TimeoutSec 300).Status | Should -Be 'deleted'
    }

    It 'New-BlockVolume -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        $r = Invoke-OutageDuringWait "New-BlockVolume -Name '$prefix-new' -AvailabilityZone '$($lab.zone)' -SizeGiB 1 -Confirm:`$false -Wait -TimeoutSec 300" {
            (Invoke-LabSql "select count(*) from bs.volumes where name = '$prefix-new' and status = 'creating'") -eq '1' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.NewBlockVolumeCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        # Accepted before the outage, so never lost: it ends available, not stuck.
        (Wait-BlockVolume -Name "$prefix-new" -TimeoutSec 300).Status | Should -Be 'available'
    }

    It 'Resize-BlockVolume -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        $v = New-BlockVolume -Name "$prefix-grow" -AvailabilityZone $lab.zone -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 300
        $v.Status | Should -Be 'available'
        $r = Invoke-OutageDuringWait "Resize-BlockVolume -Id '$($v.Id)' -SizeGiB 2 -Confirm:`$false -Wait -TimeoutSec 300" { Test-VolumeStatus $v.Id 'extending' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.ResizeBlockVolumeCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        $done = Wait-BlockVolume -Id $v.Id -Status available -TimeoutSec 300
        $done.SizeGiB | Should -Be 2
    }

    It 'Wait-BlockVolume ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
        $v = New-BlockVolume -Name "$prefix-wait" -AvailabilityZone $lab.zone -SizeGiB 1 -Confirm:$false
        $r = Invoke-OutageDuringWait "Wait-BlockVolume -Id '$($v.Id)' -TimeoutSec 300" { Test-VolumeStatus $v.Id 'creating' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.WaitBlockVolumeCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        (Wait-BlockVolume -Id $v.Id -TimeoutSec 300).Status | Should -Be 'available'
    }
}

Describe 'attachment -Wait while PostgreSQL goes away' {
    BeforeAll {
        # In the nodes' zone (as every volume here): a volume with no zone may be placed on the lab
        # guest, whose agent these tests do not stop.
        $script:vol = New-BlockVolume -Name "$prefix-att" -AvailabilityZone $lab.zone -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 300
        $vol.Status | Should -Be 'available'
    }

    It 'New-BlockVolumeAttachment -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        # The lab's loop-file nodes have no LIO, so an attach is refused up front (TargetUnavailable). With
        # the volume's agent stopped, its service row is made to say it can export, so the request is
        # accepted and waits; the agent rewrites the row when it starts again, then fails the attach for
        # want of LIO: the request ends with a reason (checked below). What is under test is the wait.
        # The row is changed before the request is let go: changed from the wait's first poll instead, a
        # fresh pwsh could check it first and be refused at once (three failures in a CI run, 2026-12-04).
        $r = Invoke-OutageDuringWait "New-BlockVolumeAttachment -VolumeId '$($vol.Id)' -InitiatorIqn '$initiator' -Wait -TimeoutSec 300" {
            Test-AttachmentStatus 'attaching' } -BeforeRequest {
            Invoke-LabSql "update bs.services set capabilities = coalesce(capabilities, '{}'::jsonb) || '{""iscsi"": true}'::jsonb where host = '$($vol.Host)' and service = 'volume'" | Out-Null
        }
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.NewBlockVolumeAttachmentCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
    }

    It 'Remove-BlockVolumeAttachment -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        $r = Invoke-OutageDuringWait "Remove-BlockVolumeAttachment -VolumeId '$($vol.Id)' -InitiatorIqn '$initiator' -Confirm:`$false -Wait -TimeoutSec 300" {
            Test-AttachmentStatus 'detaching' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.RemoveBlockVolumeAttachmentCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
    }

    It 'both requests still end: the attachment is detached with its history, the volume is available' {
        Wait-LabCondition { Test-AttachmentStatus 'detached' } -TimeoutSeconds 120 | Should -BeTrue
        @(Invoke-LabSql "select count(*) from bs.attachments where initiator_iqn = '$initiator' and status <> 'detached'") | Should -Be '0'
        Wait-LabCondition { (Get-BlockVolume -Id $vol.Id).Status -eq 'available' } -TimeoutSeconds 60 | Should -BeTrue -Because "$((Get-BlockVolume -Id $vol.Id).Status)"
    }
}

Describe 'snapshot -Wait while PostgreSQL goes away' {
    BeforeAll {
        $script:svol = New-BlockVolume -Name "$prefix-snap" -AvailabilityZone $lab.zone -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 300
        $svol.Status | Should -Be 'available'
        function Test-SnapshotStatus([string] $Status) {
            (Invoke-LabSql "select count(*) from bs.snapshots where volume_id = '$($svol.Id)' and name = 'ws' and status = '$Status'") -eq '1'
        }
    }

    It 'New-BlockVolumeSnapshot -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        # The loop-file nodes cannot snapshot (no device-mapper), so a request is refused up front
        # (SnapshotUnsupported). With the agents stopped, the volume's row is made to say it can, as for
        # the attachment above; when the agent starts again it says it cannot and its real lvcreate -s
        # fails: the snapshot ends in error with LVM's message (checked below). Under test is the wait.
        $r = Invoke-OutageDuringWait "New-BlockVolumeSnapshot -VolumeId '$($svol.Id)' -Name ws -Wait -TimeoutSec 300" {
            Test-SnapshotStatus 'creating' } -StartAgents -BeforeRequest {
            Invoke-LabSql "update bs.services set capabilities = capabilities || '{""snapshots"": true}'::jsonb where host = '$($svol.Host)' and service = 'volume'" | Out-Null
        }
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.NewBlockVolumeSnapshotCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        Wait-LabCondition { Test-SnapshotStatus 'error' } -TimeoutSeconds 120 | Should -BeTrue -Because 'the accepted request still ends, with a reason'
    }

    It 'Restore-BlockVolume -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        # The snapshot is in error (its lvcreate -s failed above); a revert needs an available one, so
        # it is made to say so by hand. The agent then finds no snapshot LV to merge and cannot take the
        # snapshot again (no device-mapper): the volume ends available with LVM's reason. Under test is the wait.
        $snapId = Invoke-LabSql "select id from bs.snapshots where volume_id = '$($svol.Id)' and name = 'ws'"
        Invoke-LabSql "update bs.snapshots set status = 'available' where id = '$snapId'" | Out-Null
        $r = Invoke-OutageDuringWait "Restore-BlockVolume -SnapshotId '$snapId' -Confirm:`$false -Wait -TimeoutSec 300" { Test-VolumeStatus $svol.Id 'reverting' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.RestoreBlockVolumeCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        Wait-LabCondition { Test-VolumeStatus $svol.Id 'available' } -TimeoutSeconds 120 | Should -BeTrue -Because 'the accepted revert still ends, with a reason'
        Invoke-LabSql "select status_reason from bs.volumes where id = '$($svol.Id)'" | Should -Match 'device-mapper'
    }

    It 'Remove-BlockVolumeSnapshot -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        $snapId = Invoke-LabSql "select id from bs.snapshots where volume_id = '$($svol.Id)' and name = 'ws'"
        $r = Invoke-OutageDuringWait "Remove-BlockVolumeSnapshot -Id '$snapId' -Confirm:`$false -Wait -TimeoutSec 300" { Test-SnapshotStatus 'deleting' } -StartAgents
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.RemoveBlockVolumeSnapshotCommand' -Because $r.Output
        $r.Category | Should -Be 'ConnectionError'
        Wait-LabCondition { Test-SnapshotStatus 'deleted' } -TimeoutSeconds 120 | Should -BeTrue -Because 'the removal finishes once the agents are back'
        (Remove-BlockVolume -Id $svol.Id -Confirm:$false -Wait -PassThru -TimeoutSec 300).Status | Should -Be 'deleted'
    }
}
