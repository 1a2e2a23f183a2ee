# Snapshots (issue 12) for real in the lab's guest (device-mapper, a thin pool; build.ps1 Test boots it):
# the data written before the snapshot is still in the snapshot after the origin is overwritten.
# Checked twice: inside the guest (dd of the LVs), and as an initiator sees it: bytes written and read
# through the exported LUN from this host (qemu-io with libiscsi, CHAP), for the snapshot, a volume
# made from it, a clone and a revert. Zone 'guest' only, its own volumes. (Was the guest part of
# VolumeSnapshot.Tests.ps1, which uses no guest now and runs on the second lab.)
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeDiscovery {
    # Whether the guest Describes run is decided at discovery (a -Skip: reads it then).
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path $PSScriptRoot 'IscsiInitiator.psm1') -Force
    $script:lab = Initialize-LabTest -Guest
    $script:prefix = New-LabTestPrefix 'sg'
}

AfterAll {
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Cascade -Confirm:$false -Force -Wait -TimeoutSec 600 -ErrorAction Continue | Out-Null
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
