# Resize-BlockVolume (issue 12, extend) in the lab's guest (a real LIO target; build.ps1 Test boots it):
# an exported volume grows online: a userspace initiator on this host sees the new size in READ
# CAPACITY(16) after the extend, the data written through the LUN before it is still there, and the
# new space takes writes; an attach in flight makes it VolumeInUse. Zone 'guest' only, its own
# volume. (Was the guest part of VolumeExtend.Tests.ps1, which uses no guest now and runs on the
# second lab.)
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
    $script:prefix = New-LabTestPrefix 'eg'

    function Get-Writes([guid] $Id) {
        Invoke-LabSql "select (select size_gib || ' ' || status from bs.volumes where id = '$Id') || ' ops=' || (select count(*) from bs.operations where volume_id = '$Id') || ' events=' || (select count(*) from bs.events where volume_id = '$Id')"
    }
}

AfterAll {
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Cascade -Confirm:$false -Force -Wait -TimeoutSec 600 -ErrorAction Continue | Out-Null
}

Describe 'an attached volume grows online (lab guest: LIO block backstore, thin pool)' -Skip:(-not $hasGuest) {
    BeforeAll {
        $script:g = $lab.guest
        $script:initiator = "iqn.2024-01.com.example.blockstore:$prefix-g"
        $script:gv = New-BlockVolume -Name "$prefix-g" -SizeGiB 1 -AvailabilityZone $g.zone -Confirm:$false -Wait -TimeoutSec 600
        $script:gatt = New-BlockVolumeAttachment -VolumeId $gv.Id -InitiatorIqn $initiator -Wait -TimeoutSec 600
    }

    AfterAll {
        if ($gatt) { Remove-BlockVolumeAttachment -Id $gatt.Id -Confirm:$false -Wait -TimeoutSec 600 -ErrorAction Continue | Out-Null }
    }

    It 'before: in-use, the initiator sees 1 GiB and a pattern written through the LUN' {
        $gatt.Status | Should -Be 'attached' -Because $gatt.StatusReason
        (Get-BlockVolume -Id $gv.Id).Status | Should -Be 'in-use'
        $before = Get-IscsiLunBytes $gatt $initiator
        Write-Host "    READ CAPACITY(16) before the extend: $before bytes"
        $before | Should -Be 1073741824
        $r = Invoke-IscsiQemuIo $gatt $initiator @('write -P 0x3c 0 1048576')
        $r.Code | Should -Be 0 -Because $r.Output
        Test-IscsiPattern $gatt $initiator -Pattern 0x3c -Length 1048576 | Should -BeTrue
    }

    It 'Resize-BlockVolume -Wait grows it to 2 GiB while attached: in-use again, the LV is 2 GiB, the attachment untouched' {
        $v = Resize-BlockVolume -Id $gv.Id -SizeGiB 2 -Confirm:$false -Wait -PassThru -TimeoutSec 600
        $v.Status | Should -Be 'in-use' -Because $v.StatusReason
        $v.SizeGiB | Should -Be 2
        $v.StatusReason | Should -BeNullOrEmpty
        Invoke-LabGuest -Guest $g -Command "lvs --noheadings --units b --nosuffix -o lv_size $($g.vg)/volume-$($gv.Id)" | ForEach-Object Trim | Should -Be '2147483648'
        $a = Get-BlockVolumeAttachment -VolumeId $gv.Id -InitiatorIqn $initiator
        $a.Status | Should -Be 'attached'
        $a.TargetIqn | Should -Be $gatt.TargetIqn
        (Get-BlockVolumeEvent -VolumeId $gv.Id | Where-Object Kind -EQ 'extended').Message | Should -Match 'to 2 GiB$'
        Invoke-LabSql 'select count(*) from bs.capacity_ledger_drift' | Should -Be '0'
    }

    It 'after: the initiator sees 2 GiB in READ CAPACITY(16), the old data is there and the new space takes writes' {
        $after = Get-IscsiLunBytes $gatt $initiator
        Write-Host "    READ CAPACITY(16) after the extend: $after bytes"
        $after | Should -Be 2147483648
        Test-IscsiPattern $gatt $initiator -Pattern 0x3c -Length 1048576 | Should -BeTrue -Because 'what was written before the extend is unchanged'
        $beyond = 1610612736   # 1.5 GiB: past the old end
        $r = Invoke-IscsiQemuIo $gatt $initiator @("write -P 0xa7 $beyond 65536")
        $r.Code | Should -Be 0 -Because $r.Output
        Test-IscsiPattern $gatt $initiator -Pattern 0xa7 -Offset $beyond | Should -BeTrue
        $inLv = Invoke-LabGuest -Guest $g -Command "dd if=/dev/$($g.vg)/volume-$($gv.Id) bs=65536 skip=24576 count=1 2>/dev/null | od -An -v -tx1 | tr -s ' \n' '\n\n' | sort -u | grep ."
        $inLv | Should -Be 'a7' -Because 'the write past the old end is in the LV inside the guest'
    }

    It 'an attach in flight is waited for: VolumeInUse, nothing written' {
        Invoke-LabSql "update bs.volumes set status = 'attaching' where id = '$($gv.Id)'" | Out-Null
        try {
            $w = Get-Writes $gv.Id
            { Resize-BlockVolume -Id $gv.Id -SizeGiB 3 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'VolumeInUse,BlockStore.Commands.ResizeBlockVolumeCommand'
            Get-Writes $gv.Id | Should -Be $w
        }
        finally { Invoke-LabSql "update bs.volumes set status = 'in-use' where id = '$($gv.Id)'" | Out-Null }
    }
}
