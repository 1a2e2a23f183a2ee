# Resize-BlockVolume (issue 12, extend) on the host lab (thick LVs, metadata operations): a volume
# grows with lvextend and lvs agrees; the capacity ledger follows; every refusal (size not larger,
# out of range, no room on the host, attached where it cannot be proven, busy, unknown) has its
# ErrorId and writes nothing;
# a volume whose LV cannot grow (an agent without lvextend) is available again at its old size with
# the reason, and the ledger gives the room back.
# Online growth of an exported volume in the lab's guest is VolumeExtendGuest.Tests.ps1: this file
# uses no guest, so `build.ps1 Test` runs it on the second lab.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'ex'

    function Get-VolumeLvSize([guid] $Id, [string] $HostName) {
        $vg = ($lab.nodes | Where-Object name -EQ $HostName).vg
        $row = @(Invoke-LabLvm lvs @('-o', 'lv_name,lv_size', '--units', 'g', '--nosuffix', '-S', "lv_name=volume-$Id", $vg))
        if ($row.Count -eq 0) { return $null }
        return [double]$row[0].lv_size
    }

    function Get-Writes([guid] $Id) {
        Invoke-LabSql "select (select size_gib || ' ' || status from bs.volumes where id = '$Id') || ' ops=' || (select count(*) from bs.operations where volume_id = '$Id') || ' events=' || (select count(*) from bs.events where volume_id = '$Id')"
    }

    function Get-LedgerDrift { Invoke-LabSql 'select count(*) from bs.capacity_ledger_drift' }

    $script:vol = New-BlockVolume -Name "$prefix-a" -SizeGiB 2 -Confirm:$false -Wait -TimeoutSec 120
    $vol.Status | Should -Be 'available'
}

AfterAll {
    Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and frozen" | Out-Null
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe 'Resize-BlockVolume grows a volume' {
    It 'extends 2 GiB to 5 GiB: available at the new size, lvs agrees, the ledger follows, an event says so' {
        $before = [decimal](Invoke-LabSql "select provisioned_gib from bs.capacity_ledger where host = '$($vol.Host)'")
        $v = Resize-BlockVolume -Id $vol.Id -SizeGiB 5 -Confirm:$false -Wait -PassThru
        $v.Status | Should -Be 'available'
        $v.SizeGiB | Should -Be 5
        Get-VolumeLvSize $vol.Id $vol.Host | Should -Be 5
        [decimal](Invoke-LabSql "select provisioned_gib from bs.capacity_ledger where host = '$($vol.Host)'") | Should -Be ($before + 3)
        Get-LedgerDrift | Should -Be '0'
        $events = @(Get-BlockVolumeEvent -VolumeId $vol.Id)
        ($events | Where-Object Kind -EQ 'requested' | Select-Object -Last 1).Message | Should -Be 'extend requested: 2 GiB -> 5 GiB'
        ($events | Where-Object Kind -EQ 'extended').Message | Should -Match '^extended: lvextend .*/volume-.* to 5 GiB$'
    }

    It 'takes piped volumes by name with -WhatIf and changes nothing' {
        $w = Get-Writes $vol.Id
        Get-BlockVolume -Name "$prefix-a" | Resize-BlockVolume -SizeGiB 9 -WhatIf
        Get-Writes $vol.Id | Should -Be $w
    }
}

Describe 'Resize-BlockVolume refuses, and writes nothing' {
    It 'a size not larger than the volume''s (<size> GiB): InvalidVolumeSize' -ForEach @(@{ size = 5 }, @{ size = 3 }) {
        $w = Get-Writes $vol.Id
        { Resize-BlockVolume -Id $vol.Id -SizeGiB $size -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidVolumeSize,BlockStore.Commands.ResizeBlockVolumeCommand'
        Get-Writes $vol.Id | Should -Be $w
    }

    It 'a size out of range (<size>): InvalidVolumeSize before anything is read' -ForEach @(@{ size = 0 }, @{ size = -1 }, @{ size = 16385 }) {
        $w = Get-Writes $vol.Id
        $e = $null
        try { Resize-BlockVolume -Id ([guid]::NewGuid()) -SizeGiB $size -Confirm:$false -ErrorAction Stop } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'InvalidVolumeSize,BlockStore.Commands.ResizeBlockVolumeCommand' -Because 'the size is refused, not the unknown id'
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        Get-Writes $vol.Id | Should -Be $w
    }

    It 'growth the host has no room for: InsufficientCapacity naming the host' {
        $w = Get-Writes $vol.Id
        $e = $null
        try { Resize-BlockVolume -Id $vol.Id -SizeGiB 16000 -Confirm:$false -ErrorAction Stop } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'InsufficientCapacity,BlockStore.Commands.ResizeBlockVolumeCommand'
        $e.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $e.Exception.Message | Should -Match "^Host $($vol.Host) has no room to grow '$prefix-a' by 15995 GiB to 16000 GiB: capacity .* GiB free for 15995 GiB\. Nothing was requested\.$"
        Get-Writes $vol.Id | Should -Be $w
        Get-LedgerDrift | Should -Be '0'
    }

    It 'an unknown volume: VolumeNotFound' {
        { Resize-BlockVolume -Id ([guid]::NewGuid()) -SizeGiB 9 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.ResizeBlockVolumeCommand'
        { Resize-BlockVolume -Name "$prefix-nosuch" -SizeGiB 9 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.ResizeBlockVolumeCommand'
    }

    It 'an attached volume (<status>) on a host that does not report LIO: VolumeInUse, saying why' -ForEach @(
        @{ status = 'in-use'; attachment = 'attached'; says = 'does not report an LIO iSCSI target' },
        @{ status = 'attaching'; attachment = 'attaching'; says = 'wait until its attach or detach has finished' }
    ) {
        # The attachment is written directly (these hosts have no LIO to attach with): the refusal is the database's.
        $v = New-BlockVolume -Name "$prefix-att-$status" -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 120
        Invoke-LabSql "select coalesce(capabilities->>'iscsi', 'absent') from bs.services where host = '$($v.Host)' and service = 'volume'" | Should -Not -Be 'true'
        $att = [guid]::NewGuid()
        Invoke-LabSql ("insert into bs.attachments (id, volume_id, host, initiator_iqn, status, auth_username, target_iqn, target_portal, target_lun) " +
            "values ('$att', '$($v.Id)', '$($v.Host)', 'iqn.2024-01.com.example:ex', '$attachment', 'u0000000000000000000', 'iqn.2010-10.org.openstack:volume-$($v.Id)', '127.0.0.1:3260', 0); " +
            "insert into bs.attachment_secrets values ('$att', 'ThisIsTheSecret1'); update bs.volumes set status = '$status' where id = '$($v.Id)'") | Out-Null
        try {
            $w = Get-Writes $v.Id
            $e = $null
            try { Resize-BlockVolume -Id $v.Id -SizeGiB 2 -Confirm:$false -ErrorAction Stop } catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -Be 'VolumeInUse,BlockStore.Commands.ResizeBlockVolumeCommand'
            $e.Exception.Message | Should -Match $says
            Get-Writes $v.Id | Should -Be $w
        }
        finally {
            Invoke-LabSql "update bs.attachments set status = 'detached', detached_at = now() where id = '$att'; update bs.volumes set status = 'available' where id = '$($v.Id)'" | Out-Null
        }
    }

    It 'a volume already extending (its host frozen): InvalidVolumeState; the first extend finishes once thawed' {
        Invoke-LabSql "update bs.services set frozen = true where host = '$($vol.Host)' and service = 'volume'" | Out-Null
        try {
            $v = Resize-BlockVolume -Id $vol.Id -SizeGiB 6 -Confirm:$false -PassThru
            $v.Status | Should -Be 'extending'
            $v.SizeGiB | Should -Be 6 -Because 'the request reserves the new size at once'
            $w = Get-Writes $vol.Id
            { Resize-BlockVolume -Id $vol.Id -SizeGiB 7 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidVolumeState,BlockStore.Commands.ResizeBlockVolumeCommand'
            { Remove-BlockVolume -Id $vol.Id -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidVolumeState,BlockStore.Commands.RemoveBlockVolumeCommand'
            Get-Writes $vol.Id | Should -Be $w
        }
        finally {
            Invoke-LabSql "update bs.services set frozen = false where host = '$($vol.Host)' and service = 'volume'" | Out-Null
        }
        $done = Wait-BlockVolume -Id $vol.Id -Status available -TimeoutSec 120
        $done.SizeGiB | Should -Be 6
        Get-VolumeLvSize $vol.Id $vol.Host | Should -Be 6
    }
}

Describe 'an extend whose LV cannot grow' {
    BeforeAll {
        # The volume's agent gets an LVM folder with the real lvs, vgs, lvcreate and lvremove but no lvextend.
        $script:node = $vol.Host
        $script:noExtend = Join-Path $lab.stateDir "no-lvextend-$prefix"
        New-Item -ItemType Directory -Force -Path $noExtend | Out-Null
        foreach ($tool in 'lvs', 'vgs', 'lvcreate', 'lvremove') {
            New-Item -ItemType SymbolicLink -Path (Join-Path $noExtend $tool) -Target (Get-Command $tool -CommandType Application)[0].Source | Out-Null
        }
        Stop-LabAgent -Name $node
        Start-LabHost -Name $node -ExtraArguments @("--Agent:LvmBinDirectory=$noExtend", '--Agent:MaxAttemptsByKind:extend=1') | Out-Null
    }

    AfterAll {
        Stop-LabAgent -Name $node
        Start-LabAgent -Name $node
        Remove-Item -LiteralPath $noExtend -Recurse -Force -ErrorAction Ignore
    }

    It 'ends available at the old size with the reason; -Wait says InvalidVolumeState; the ledger gives the room back' {
        $before = [decimal](Invoke-LabSql "select provisioned_gib from bs.capacity_ledger where host = '$node'")
        $out = @(Resize-BlockVolume -Id $vol.Id -SizeGiB 8 -Confirm:$false -Wait -PassThru -ErrorVariable errs -ErrorAction SilentlyContinue)
        $out | Should -BeNullOrEmpty
        $errs | Should -HaveCount 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'InvalidVolumeState,BlockStore.Commands.ResizeBlockVolumeCommand'
        $errs[0].Exception.Message | Should -Match "^Volume '$prefix-a' was not extended: it is available at 6 GiB \(gave up after 1 attempt\(s\): Win32Exception: .*lvextend"
        $v = Get-BlockVolume -Id $vol.Id
        $v.Status | Should -Be 'available'
        $v.SizeGiB | Should -Be 6
        $v.StatusReason | Should -Match 'lvextend'
        Get-VolumeLvSize $vol.Id $node | Should -Be 6
        [decimal](Invoke-LabSql "select provisioned_gib from bs.capacity_ledger where host = '$node'") | Should -Be $before
        Get-LedgerDrift | Should -Be '0'
        @(Get-BlockVolumeEvent -VolumeId $vol.Id | Where-Object Kind -EQ 'error')[-1].Message | Should -Match '^extend failed: gave up after 1 attempt'
    }
}

Describe 'an agent killed in the middle of an extend' {
    BeforeAll {
        # lvextend is a wrapper that sleeps, so the agent is inside the extend when it is SIGKILLed.
        $script:node = $vol.Host
        $script:hanging = Join-Path $lab.stateDir "slow-lvextend-$prefix"
        New-Item -ItemType Directory -Force -Path $hanging | Out-Null
        foreach ($tool in 'lvs', 'vgs', 'lvcreate', 'lvremove') {
            New-Item -ItemType SymbolicLink -Path (Join-Path $hanging $tool) -Target (Get-Command $tool -CommandType Application)[0].Source | Out-Null
        }
        $script:marker = Get-Random -Minimum 100000 -Maximum 900000
        Set-Content -LiteralPath (Join-Path $hanging 'lvextend') -Value "#!/bin/sh`nsleep $marker`n" -NoNewline
        & chmod 755 (Join-Path $hanging 'lvextend')
        Stop-LabAgent -Name $node
        Start-LabHost -Name $node -ExtraArguments @("--Agent:LvmBinDirectory=$hanging") | Out-Null
    }

    AfterAll {
        & pkill -f "^sleep $marker$" 2>$null
        Stop-LabAgent -Name $node
        Start-LabAgent -Name $node
        Remove-Item -LiteralPath $hanging -Recurse -Force -ErrorAction Ignore
    }

    It 'finishes the extend after the restart: available at the new size, lvs agrees, no drift' {
        $v = Resize-BlockVolume -Id $vol.Id -SizeGiB 9 -Confirm:$false -PassThru
        $v.Status | Should -Be 'extending'
        Wait-LabCondition { @(& ps -eo args | Where-Object { $_ -eq "sleep $marker" }).Count -gt 0 } -TimeoutSeconds 60 |
            Should -BeTrue -Because 'the agent is running lvextend'
        $agentPid = Get-LabHostPid -Name $node
        & kill -KILL $agentPid
        Wait-LabCondition { -not (Test-LabPidAlive -ProcessId $agentPid) } -TimeoutSeconds 10 | Should -BeTrue
        & pkill -f "^sleep $marker$" 2>$null   # the orphaned wrapper, as a reboot would end it
        (Get-BlockVolume -Id $vol.Id).Status | Should -Be 'extending' -Because 'nothing finished it while the agent was dead'

        Start-LabAgent -Name $node   # the real LVM again; the claim is taken over when its lease runs out
        $done = Wait-BlockVolume -Id $vol.Id -Status available -TimeoutSec 180
        $done.SizeGiB | Should -Be 9
        $done.StatusReason | Should -BeNullOrEmpty
        Get-VolumeLvSize $vol.Id $node | Should -Be 9
        Get-LedgerDrift | Should -Be '0'
        Invoke-LabSql "select stage || ' ' || attempts from bs.operations where volume_id = '$($vol.Id)' and kind = 'extend' order by id desc limit 1" | Should -Be 'succeeded 2'
    }
}
