# Snapshots (issue 12): New-/Get-/Remove-BlockVolumeSnapshot and Remove-BlockVolume's VolumeHasSnapshots
# and -Cascade.
# - On the host lab's loop-file nodes LVM runs with activation off and cannot snapshot (lvcreate -s itself
#   says "Can't create snapshot without using device-mapper kernel driver"): the agent says so in its
#   service row and a request is refused at once with SnapshotUnsupported, nothing written. For the rules
#   that need an accepted snapshot there, the volume's agent is stopped and its row made to say it can
#   snapshot (as WaitStoreUnavailable does for iSCSI); the request path is the real one, and when the agent
#   starts it runs the real lvcreate -s, which fails: the snapshot ends in error with LVM's message.
# - In the lab's guest (device-mapper, a thin pool) snapshots are made for real:
#   VolumeSnapshotGuest.Tests.ps1. This file uses no guest: `build.ps1 Test` runs it on the second lab.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'sn'

    function Get-Writes([guid] $VolumeId) {
        Invoke-LabSql "select (select count(*) from bs.snapshots where volume_id = '$VolumeId') || ' ops=' || (select count(*) from bs.operations where volume_id = '$VolumeId') || ' events=' || (select count(*) from bs.events where volume_id = '$VolumeId')"
    }

    function Set-SnapshotCapability([string] $HostName, [bool] $Value) {
        Invoke-LabSql "update bs.services set capabilities = capabilities || jsonb_build_object('snapshots', $($Value.ToString().ToLowerInvariant())) where host = '$HostName' and service = 'volume'" | Out-Null
    }

    $script:vol = New-BlockVolume -Name "$prefix-a" -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 300
    $vol.Status | Should -Be 'available'
}

AfterAll {
    foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n }
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Cascade -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe 'Snapshot requests refused at once, nothing written' {
    It 'a host whose LVM has no device-mapper: SnapshotUnsupported with the agent''s reason' {
        Invoke-LabSql "select capabilities->>'snapshots' from bs.services where host = '$($vol.Host)' and service = 'volume'" | Should -Be 'false'
        $before = Get-Writes $vol.Id
        $err = { New-BlockVolumeSnapshot -VolumeId $vol.Id -Name 'before-upgrade' -Confirm:$false } |
            Should -Throw -ErrorId 'SnapshotUnsupported,BlockStore.Commands.NewBlockVolumeSnapshotCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $err.Exception.Message | Should -Match 'device-mapper'
        Get-Writes $vol.Id | Should -Be $before
    }

    It 'each node''s agent reports block_copy false with the reason (no device-mapper)' {
        foreach ($n in $lab.nodeNames) {
            $row = Invoke-LabSql "select (capabilities->>'block_copy') || '|' || coalesce(capabilities->>'block_copy_reason', '') from bs.services where host = '$n' and service = 'volume'"
            $flag, $why = "$row" -split '\|', 2
            $flag | Should -Be 'false' -Because "node $n has no device-mapper"
            $why | Should -Match 'no device-mapper'
        }
    }

    It 'a clone on a thick host: CloneUnsupported (it would need a block copy) naming the host and why, nothing written' {
        $before = Invoke-LabSql "select count(*) from bs.volumes where name like '$prefix-%'"
        $err = { New-BlockVolume -Name "$prefix-clone" -SourceVolumeId $vol.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'CloneUnsupported,BlockStore.Commands.NewBlockVolumeCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $err.Exception.Message | Should -Match 'thick host'
        $err.Exception.Message | Should -Match ("Host {0} .*block copy.*no device-mapper" -f [regex]::Escape($vol.Host))
        Invoke-LabSql "select count(*) from bs.volumes where name like '$prefix-%'" | Should -Be $before
    }

    It 'a bad snapshot name: InvalidSnapshotName before anything is read' {
        { New-BlockVolumeSnapshot -VolumeId $vol.Id -Name 'no spaces please' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidSnapshotName,BlockStore.Commands.NewBlockVolumeSnapshotCommand'
    }

    It 'an unknown volume: VolumeNotFound' {
        { New-BlockVolumeSnapshot -VolumeId ([guid]::NewGuid()) -Name 'x' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.NewBlockVolumeSnapshotCommand'
    }

    It 'an unknown snapshot id: SnapshotNotFound from Get- and Remove-BlockVolumeSnapshot' {
        $id = [guid]::NewGuid()
        { Get-BlockVolumeSnapshot -Id $id -ErrorAction Stop } | Should -Throw -ErrorId 'SnapshotNotFound,BlockStore.Commands.GetBlockVolumeSnapshotCommand'
        { Remove-BlockVolumeSnapshot -Id $id -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'SnapshotNotFound,BlockStore.Commands.RemoveBlockVolumeSnapshotCommand'
    }

    It 'a misspelt status filter: InvalidSnapshotStatus, not an empty answer' {
        { Get-BlockVolumeSnapshot -Status 'availble' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidSnapshotStatus,BlockStore.Commands.GetBlockVolumeSnapshotCommand'
    }
}

Describe 'A snapshot accepted on a host that then cannot make it' {
    BeforeAll {
        # The agent is stopped so the request stays 'creating' while the rules are tried; its row says it can snapshot.
        Stop-LabAgent -Name $vol.Host
        Set-SnapshotCapability $vol.Host $true
        $script:snap = New-BlockVolumeSnapshot -VolumeId $vol.Id -Name 'before-upgrade' -Description 'taken by Pester' -Confirm:$false
    }

    AfterAll { Start-LabAgent -Name $vol.Host }

    It 'is returned at once, creating, with its volume, size and host; Get-BlockVolumeSnapshot finds it by name, volume and status' {
        $snap.Status | Should -Be 'creating'
        $snap.VolumeId | Should -Be $vol.Id
        $snap.VolumeName | Should -Be $vol.Name
        $snap.SizeGiB | Should -Be 1
        $snap.Host | Should -Be $vol.Host
        $snap.BackendType | Should -Be 'thick'
        (Get-BlockVolumeSnapshot -Name 'before-up*' -VolumeId $vol.Id).Id | Should -Be $snap.Id
        (Get-BlockVolumeSnapshot -Id $snap.Id).Name | Should -Be 'before-upgrade'
        @(Get-BlockVolumeSnapshot -VolumeId $vol.Id -Status available).Count | Should -Be 0
        ($vol | Get-BlockVolumeSnapshot).Id | Should -Be $snap.Id
        (Get-BlockVolume -Id $vol.Id).Status | Should -Be 'available' -Because 'a snapshot does not change its volume''s status'
    }

    It 'a thick snapshot holds its size in the host''s capacity ledger, which never drifts' {
        Invoke-LabSql 'select count(*) from bs.capacity_ledger_drift' | Should -Be '0'
        Invoke-LabSql "select provisioned_gib - (select coalesce(sum(size_gib), 0) from bs.volumes where host = '$($vol.Host)' and status not in ('deleted', 'error')) from bs.capacity_ledger where host = '$($vol.Host)'" |
            Should -Be (Invoke-LabSql "select sum(size_gib) from bs.snapshots where host = '$($vol.Host)' and status not in ('deleted', 'error')")
    }

    It 'the same name again on the volume: SnapshotNameInUse, nothing written' {
        $before = Get-Writes $vol.Id
        { New-BlockVolumeSnapshot -VolumeId $vol.Id -Name 'before-upgrade' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNameInUse,BlockStore.Commands.NewBlockVolumeSnapshotCommand'
        Get-Writes $vol.Id | Should -Be $before
    }

    It 'removing it while it is being made: InvalidSnapshotState' {
        { Remove-BlockVolumeSnapshot -Id $snap.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidSnapshotState,BlockStore.Commands.RemoveBlockVolumeSnapshotCommand'
        (Get-BlockVolumeSnapshot -Id $snap.Id).Status | Should -Be 'creating'
    }

    It 'a volume from it while it is being made: InvalidSnapshotState; from an unknown snapshot: SnapshotNotFound' {
        { New-BlockVolume -Name "$prefix-from" -SnapshotId $snap.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidSnapshotState,BlockStore.Commands.NewBlockVolumeCommand'
        { New-BlockVolume -Name "$prefix-from" -SnapshotId ([guid]::NewGuid()) -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotFound,BlockStore.Commands.NewBlockVolumeCommand'
        Invoke-LabSql "select count(*) from bs.volumes where name = '$prefix-from'" | Should -Be '0'
    }

    It 'reverting to it while it is being made: InvalidSnapshotState; to an unknown snapshot: SnapshotNotFound' {
        { Restore-BlockVolume -SnapshotId $snap.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidSnapshotState,BlockStore.Commands.RestoreBlockVolumeCommand'
        { Restore-BlockVolume -SnapshotId ([guid]::NewGuid()) -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotFound,BlockStore.Commands.RestoreBlockVolumeCommand'
        (Get-BlockVolume -Id $vol.Id).Status | Should -Be 'available'
    }

    It 'reverting to an older snapshot: SnapshotNotLatest, naming the latest; nothing written' {
        # A second snapshot makes the first one older (both stay creating: the agent is stopped).
        $newer = New-BlockVolumeSnapshot -VolumeId $vol.Id -Name 'newer' -Confirm:$false
        Invoke-LabSql "update bs.snapshots set status = 'available' where id = '$($snap.Id)'" | Out-Null   # as if made
        $before = Get-Writes $vol.Id
        $err = { Restore-BlockVolume -SnapshotId $snap.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'SnapshotNotLatest,BlockStore.Commands.RestoreBlockVolumeCommand' -PassThru
        $err.Exception.Message | Should -Match "'newer'"
        Get-Writes $vol.Id | Should -Be $before
        Invoke-LabSql "update bs.snapshots set status = 'creating' where id = '$($snap.Id)'" | Out-Null
        $script:newer = $newer
    }

    It 'removing its volume: VolumeHasSnapshots, the volume stays available' {
        $err = { Remove-BlockVolume -Id $vol.Id -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeHasSnapshots,BlockStore.Commands.RemoveBlockVolumeCommand' -PassThru
        $err.Exception.Message | Should -Match '-Cascade'
        (Get-BlockVolume -Id $vol.Id).Status | Should -Be 'available'
    }

    It 'once the agent runs it, the real lvcreate -s fails and the snapshot ends in error with LVM''s message' {
        Start-LabAgent -Name $vol.Host
        Wait-LabCondition { (Get-BlockVolumeSnapshot -Id $snap.Id, $newer.Id).Status -notcontains 'creating' } -TimeoutSeconds 120 | Should -BeTrue
        $s = Get-BlockVolumeSnapshot -Id $snap.Id
        $s.StatusReason | Should -Match 'device-mapper'
        Invoke-LabSql "select capabilities->>'snapshots' from bs.services where host = '$($vol.Host)' and service = 'volume'" | Should -Be 'false' -Because 'the agent says again at start that it cannot'
        (Get-BlockVolumeEvent -VolumeId $vol.Id).Message -join "`n" | Should -Match "snapshot 'before-upgrade' failed"
        Invoke-LabSql 'select count(*) from bs.capacity_ledger_drift' | Should -Be '0'
    }

    It 'Remove-BlockVolume -Cascade removes the snapshot first, then the volume' {
        $v = Remove-BlockVolume -Id $vol.Id -Cascade -Confirm:$false -Wait -PassThru -TimeoutSec 300
        $v.Status | Should -Be 'deleted'
        (Get-BlockVolumeSnapshot -Id $snap.Id).Status | Should -Be 'deleted'
        $kinds = @(Invoke-LabSql "select kind from bs.operations where volume_id = '$($vol.Id)' order by id")
        $kinds[-3..-1] | Should -Be @('snapshot-delete', 'snapshot-delete', 'delete')
        Invoke-LabSql 'select count(*) from bs.capacity_ledger_drift' | Should -Be '0'
    }
}
