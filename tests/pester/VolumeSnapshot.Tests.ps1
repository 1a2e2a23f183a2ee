# Snapshots (issue 12): New-/Get-/Remove-BlockVolumeSnapshot and Remove-BlockVolume's VolumeHasSnapshots
# and -Cascade.
# - On the host lab's loop-file nodes LVM runs with activation off and cannot snapshot (lvcreate -s itself
#   says "Can't create snapshot without using device-mapper kernel driver"): the agent says so in its
#   service row and a request is refused at once with SnapshotUnsupported, nothing written. For the rules
#   that need an accepted snapshot there, the volume's agent is stopped and its row made to say it can
#   snapshot (as WaitStoreUnavailable does for iSCSI); the request path is the real one, and when the agent
#   starts it runs the real lvcreate -s, which fails: the snapshot ends in error with LVM's message.
# - In the lab's guest (device-mapper, a thin pool; build.ps1 Test boots it) snapshots are made for real:
#   the data written before the snapshot is still in the snapshot after the origin is overwritten.
#   Checked twice: inside the guest (dd of the LVs), and as an initiator sees it: bytes written and
#   read through the exported LUN from this host (qemu-io with libiscsi, CHAP), for the snapshot, a
#   volume made from it, a clone and a revert.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeDiscovery {
    # Whether the guest Describe runs is decided at discovery (a -Skip: reads it then).
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path $PSScriptRoot 'IscsiInitiator.psm1') -Force
    $script:lab = Initialize-LabTest -Guest
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

Describe 'Snapshots for real in the lab guest (device-mapper, thin pool)' -Skip:(-not $hasGuest) {
    BeforeAll {
        $script:g = $lab.guest
        $script:gv = New-BlockVolume -Name "$prefix-g" -SizeGiB 1 -AvailabilityZone $g.zone -Confirm:$false -Wait -TimeoutSec 600
        $script:origin = "/dev/$($g.vg)/volume-$($gv.Id)"
        # A recognisable first MiB, written straight to the LV inside the guest.
        Invoke-LabGuest -Guest $g -Command "head -c 1048576 /dev/urandom > /root/before.bin && dd if=/root/before.bin of=$origin bs=1M count=1 oflag=direct status=none && sha256sum < /root/before.bin" | Out-Null
    }

    It 'the guest host says it can snapshot' {
        Invoke-LabSql "select capabilities->>'snapshots' from bs.services where host = '$($g.name)' and service = 'volume'" | Should -Be 'true'
    }

    It 'New-BlockVolumeSnapshot -Wait makes a thin LVM snapshot of the volume, available' {
        $s = $gv | New-BlockVolumeSnapshot -Name 'golden' -Confirm:$false -Wait -TimeoutSec 600
        $s.Status | Should -Be 'available' -Because $s.StatusReason
        $s.BackendType | Should -Be 'thin'
        $script:gs = $s
        $lv = (Invoke-LabGuest -Guest $g -Command "lvs --noheadings -o lv_name,origin,pool_lv $($g.vg)") -join "`n"
        $lv | Should -Match "_snapshot-$($s.Id)\s+volume-$($gv.Id)\s+$($g.thinPool)"
    }

    It 'keeps the data of the moment it was taken after the origin is overwritten' {
        $snapLv = "$($g.vg)/_snapshot-$($gs.Id)"
        $out = Invoke-LabGuest -Guest $g -Command ("dd if=/dev/zero of=$origin bs=1M count=1 oflag=direct status=none && " +
            "lvchange -ay -K $snapLv && dd if=/dev/$snapLv bs=1M count=1 iflag=direct status=none | sha256sum && sha256sum < /root/before.bin && " +
            "dd if=$origin bs=1M count=1 iflag=direct status=none | sha256sum && lvchange -an $snapLv")
        $sums = @($out | ForEach-Object { ($_ -split '\s+')[0] })
        $sums[0] | Should -Be $sums[1] -Because 'the snapshot holds what was written before it'
        $sums[2] | Should -Not -Be $sums[1] -Because 'the origin was overwritten after the snapshot'
    }

    It 'New-BlockVolume -SourceVolumeId clones the volume with its data as it is now, on the same host' {
        $c = $gv | Select-Object @{ n = 'SourceVolumeId'; e = { $_.Id } } | New-BlockVolume -Name "$prefix-g-clone" -Confirm:$false -Wait -TimeoutSec 600
        $c.Status | Should -Be 'available' -Because $c.StatusReason
        ($c.Host, $c.SizeGiB, $c.SourceVolumeId) | Should -Be @($g.name, $gv.SizeGiB, $gv.Id)
        $out = Invoke-LabGuest -Guest $g -Command ("dd if=/dev/$($g.vg)/volume-$($c.Id) bs=1M count=1 iflag=direct status=none | sha256sum && " +
            "dd if=$origin bs=1M count=1 iflag=direct status=none | sha256sum")
        ($out[0] -split '\s+')[0] | Should -Be ($out[1] -split '\s+')[0] -Because 'a clone holds what its source holds'
        (Remove-BlockVolume -Id $c.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600).Status | Should -Be 'deleted'
    }

    It 'New-BlockVolume -SnapshotId makes a larger volume with the snapshot''s data on the same host' {
        $c = New-BlockVolume -Name "$prefix-g-copy" -SnapshotId $gs.Id -SizeGiB 2 -Confirm:$false -Wait -TimeoutSec 600
        $c.Status | Should -Be 'available' -Because $c.StatusReason
        ($c.Host, $c.SizeGiB, $c.SnapshotId) | Should -Be @($g.name, 2, $gs.Id)
        $copyLv = "/dev/$($g.vg)/volume-$($c.Id)"
        $out = Invoke-LabGuest -Guest $g -Command ("lvs --noheadings --units g --nosuffix -o lv_size $($g.vg)/volume-$($c.Id) && " +
            "dd if=$copyLv bs=1M count=1 iflag=direct status=none | sha256sum && sha256sum < /root/before.bin")
        [double]$out[0].Trim() | Should -Be 2
        ($out[1] -split '\s+')[0] | Should -Be ($out[2] -split '\s+')[0] -Because 'the new volume holds the data of the snapshot, not the overwritten origin'
        (Remove-BlockVolume -Id $c.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600).Status | Should -Be 'deleted'
    }

    It 'Restore-BlockVolume reverts the volume to the snapshot''s data, and the snapshot stays' {
        # The origin was overwritten with zeros after the snapshot (above): back to the random MiB.
        $v = $gs | Restore-BlockVolume -Confirm:$false -Wait -PassThru -TimeoutSec 600
        $v.Status | Should -Be 'available'
        $v.StatusReason | Should -BeNullOrEmpty
        $out = Invoke-LabGuest -Guest $g -Command ("dd if=$origin bs=1M count=1 iflag=direct status=none | sha256sum && sha256sum < /root/before.bin && " +
            "lvs --noheadings -o lv_name,origin $($g.vg)")
        ($out[0] -split '\s+')[0] | Should -Be ($out[1] -split '\s+')[0] -Because 'the volume holds the snapshot''s data again'
        ($out -join ' ') | Should -Match "_snapshot-$($gs.Id)\s+volume-$($gv.Id)" -Because 'the snapshot is taken again after the merge'
        (Get-BlockVolumeSnapshot -Id $gs.Id).Status | Should -Be 'available'
        (Get-BlockVolumeEvent -VolumeId $gv.Id).Message -join "`n" | Should -Match 'lvconvert --merge'
    }

    It 'Remove-BlockVolumeSnapshot -Wait removes the LV; the volume can then be removed' {
        $r = Remove-BlockVolumeSnapshot -Id $gs.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600
        $r.Status | Should -Be 'deleted'
        (Invoke-LabGuest -Guest $g -Command "lvs --noheadings -o lv_name $($g.vg)") -join ' ' | Should -Not -Match "_snapshot-$($gs.Id)"
        (Remove-BlockVolume -Id $gv.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600).Status | Should -Be 'deleted'
    }
}

Describe 'Snapshots, clones and revert as an initiator sees them (lab guest, bytes through the exported LUN)' -Skip:(-not $hasGuest) {
    BeforeAll {
        $script:g = $lab.guest
        $script:initiator = "iqn.2024-01.com.example.blockstore:$prefix-l"
        $script:lv = New-BlockVolume -Name "$prefix-l" -SizeGiB 1 -AvailabilityZone $g.zone -Confirm:$false -Wait -TimeoutSec 600
        $script:mib = 1048576

        function Connect-Lun([object] $Volume) {
            $a = New-BlockVolumeAttachment -VolumeId $Volume.Id -InitiatorIqn $initiator -Wait -TimeoutSec 600
            $a.Status | Should -Be 'attached' -Because $a.StatusReason
            return $a
        }

        function Disconnect-Lun([object] $Attachment) {
            (Remove-BlockVolumeAttachment -Id $Attachment.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600).Status | Should -Be 'detached'
        }

        function Write-Pattern([object] $Attachment, [string] $Pattern) {
            $r = Invoke-IscsiQemuIo $Attachment $initiator @("write -P $Pattern 0 $mib")
            $r.Code | Should -Be 0 -Because $r.Output
            $r.Output | Should -Match "wrote $mib/$mib bytes"
        }

        # What the first MiB of a LUN holds: 'A' (0x41), 'B' (0x42) or 'other'; both patterns are
        # tried, so a check can fail either way (not just 'not the expected one').
        function Read-Pattern([object] $Attachment) {
            if (Test-IscsiPattern $Attachment $initiator -Pattern 0x41 -Length $mib) { return 'A' }
            if (Test-IscsiPattern $Attachment $initiator -Pattern 0x42 -Length $mib) { return 'B' }
            return 'other'
        }
    }

    It 'pattern A is written through the LUN, snapshotted (-Force: attached), then overwritten with B through the LUN' {
        $script:la = Connect-Lun $lv
        Write-Pattern $la 0x41
        Read-Pattern $la | Should -Be 'A'
        $s = New-BlockVolumeSnapshot -VolumeId $lv.Id -Name 'pattern-a' -Force -Confirm:$false -Wait -TimeoutSec 600
        $s.Status | Should -Be 'available' -Because $s.StatusReason
        $script:ls = $s
        Write-Pattern $la 0x42
        Read-Pattern $la | Should -Be 'B'
        Disconnect-Lun $la
        (Get-BlockVolume -Id $lv.Id).Status | Should -Be 'available'
    }

    It 'a volume made from the snapshot reads A through its own LUN' {
        $c = New-BlockVolume -Name "$prefix-l-from" -SnapshotId $ls.Id -Confirm:$false -Wait -TimeoutSec 600
        $c.Status | Should -Be 'available' -Because $c.StatusReason
        $a = Connect-Lun $c
        Read-Pattern $a | Should -Be 'A'
        Disconnect-Lun $a
        (Remove-BlockVolume -Id $c.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600).Status | Should -Be 'deleted'
    }

    It 'a clone of the volume reads B (its data now) through its own LUN' {
        $c = New-BlockVolume -Name "$prefix-l-clone" -SourceVolumeId $lv.Id -Confirm:$false -Wait -TimeoutSec 600
        $c.Status | Should -Be 'available' -Because $c.StatusReason
        $a = Connect-Lun $c
        Read-Pattern $a | Should -Be 'B'
        Disconnect-Lun $a
        (Remove-BlockVolume -Id $c.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600).Status | Should -Be 'deleted'
    }

    It 'after Restore-BlockVolume the volume reads A again through its LUN' {
        $v = Restore-BlockVolume -SnapshotId $ls.Id -Confirm:$false -Wait -PassThru -TimeoutSec 600
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        $a = Connect-Lun $lv
        Read-Pattern $a | Should -Be 'A'
        Disconnect-Lun $a
    }
}
