# The agent's leaked-target pass with Agent:Iscsi:RemoveLeakedTargets=true, against the real LIO
# target in the lab's guest. Iscsi.Tests.ps1 shows the default (report only); here the operator has
# turned removal on, as one would on a storage server: change the agent's settings and restart it.
# What must hold: exports of our naming that no live attachment explains (a whole target, an extra
# ACL on a live target, a lone backstore) are removed and recorded as events; the live attachment
# keeps working; targets of other names and LVs are never touched.
#
# Cost: two restarts of the guest agent (ReadyToRun under TCG: about 40-90 s each) and one pass.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

Describe 'Leaked targets are removed when the agent is configured to (lab guest)' -Skip:(-not $hasGuest) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
        $lab = Initialize-LabTest -Guest
        $script:g = $lab.guest
        $script:prefix = New-LabTestPrefix 'lk'
        $script:initiator = "iqn.2024-01.com.example.blockstore:$prefix-live"
        $script:strayInitiator = "iqn.2024-01.com.example.blockstore:$prefix-stray"
        $script:strayTargetVolume = [guid]::NewGuid()
        $script:strayBackstoreVolume = [guid]::NewGuid()
        $script:strayTarget = "iqn.2010-10.org.openstack:volume-$strayTargetVolume"
        $script:foreignTarget = "iqn.2003-01.org.example:$prefix-foreign"
        # A foreign LV (not of our naming) gives the stray backstore a real block device.
        $script:foreignLv = "$prefix-foreign"
        $script:argsFile = Join-Path $lab.stateDir 'guest/share/agent.args'
        $script:originalArgs = [System.IO.File]::ReadAllText($argsFile)

        function Restart-GuestAgent {
            <# Restarts the agent in the guest and waits until it has probed LIO again (its capability row is fresh). #>
            Invoke-LabSql "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$($g.name)'" | Out-Null
            Invoke-LabGuest -Guest $g -Command 'bs-agent stop; bs-agent start' -TimeoutSeconds 120 | Out-Null
            Wait-LabGuestAgent -Lab $lab -Guest $g -Deadline ([DateTime]::UtcNow.AddSeconds(600))
        }

        function Get-GuestTargets { @(Invoke-LabGuest -Guest $g -Command 'ls /sys/kernel/config/target/iscsi 2>/dev/null | grep "^iqn\." || true') }
        function Get-GuestAcls([string] $Iqn) { @(Invoke-LabGuest -Guest $g -Command "ls /sys/kernel/config/target/iscsi/$Iqn/tpgt_1/acls 2>/dev/null || true") }
        function Get-GuestBackstores { @(Invoke-LabGuest -Guest $g -Command 'ls -d /sys/kernel/config/target/core/iblock_*/*/ 2>/dev/null | xargs -r -n1 basename') }

        $script:vol = New-BlockVolume -Name "$prefix-v" -SizeGiB 1 -AvailabilityZone $g.zone -Wait -TimeoutSec 600
        $script:liveIqn = "iqn.2010-10.org.openstack:volume-$($vol.Id)"
        $script:att = New-BlockVolumeAttachment -VolumeId $vol.Id -InitiatorIqn $initiator -Wait -TimeoutSec 900

        # The leaks, made by hand the way a crashed tool or a careless operator leaves them. One
        # targetcli process (stdin), as the agent does: each start costs seconds under TCG.
        Invoke-LabGuest -Guest $g -Command "lvcreate -q -y -V 64m -T $($g.vg)/$($g.thinPool) -n $foreignLv" -TimeoutSeconds 300 | Out-Null
        $batch = @(
            "/iscsi create $strayTarget",
            "/iscsi/$liveIqn/tpg1/acls create $strayInitiator",
            "/backstores/block create name=volume-$strayBackstoreVolume dev=/dev/$($g.vg)/$foreignLv",
            "/iscsi create $foreignTarget") -join "`n"
        Invoke-LabGuest -Guest $g -Command 'targetcli' -InputText $batch -TimeoutSeconds 600 | Out-Null

        # The operator turns removal on and restarts the agent.
        [System.IO.File]::WriteAllText($argsFile, $originalArgs.TrimEnd() + "`n--Agent:Iscsi:RemoveLeakedTargets=true`n")
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        Restart-GuestAgent
        # The pass runs right after the probe and then every 30 s (the lab's interval).
        $script:removed = Wait-LabCondition -TimeoutSeconds 300 -IntervalMilliseconds 2000 -Condition {
            [int](Invoke-LabSql "select count(*) from bs.events where kind = 'leaked-target' and message like '%removed' and volume_id in ('$strayTargetVolume', '$strayBackstoreVolume', '$($vol.Id)')") -ge 3
        }
        Write-Host ("    agent restarted with removal on and first pass done in {0:0} s" -f $clock.Elapsed.TotalSeconds)
    }

    AfterAll {
        [System.IO.File]::WriteAllText($argsFile, $originalArgs)
        $cleanup = @("/iscsi delete $foreignTarget", "/iscsi delete $strayTarget", "/backstores/block delete volume-$strayBackstoreVolume") -join "`n"
        Invoke-LabGuest -Guest $g -Command 'targetcli' -InputText $cleanup -TimeoutSeconds 600 -AllowFailure | Out-Null
        Invoke-LabGuest -Guest $g -Command "lvremove -q -f $($g.vg)/$foreignLv" -TimeoutSeconds 300 -AllowFailure | Out-Null
        # Back to the lab's default (report only) for whatever runs next.
        Restart-GuestAgent
        @(Get-BlockVolume -Name "$prefix*" -ErrorAction SilentlyContinue) |
            Remove-BlockVolume -Force -Confirm:$false -Wait -TimeoutSec 900 -ErrorAction Continue
    }

    It 'records every leak as removed' {
        $removed | Should -BeTrue -Because 'the first pass after the restart must find and remove all three leaks'
        $events = @(Invoke-LabSql "select volume_id || '|' || message from bs.events where kind = 'leaked-target' and volume_id in ('$strayTargetVolume', '$strayBackstoreVolume', '$($vol.Id)') order by id")
        ($events -match "^$strayTargetVolume\|target $([regex]::Escape($strayTarget)) has no live attachment; removed$").Count | Should -BeGreaterThan 0
        ($events -match "^$($vol.Id)\|ACL $([regex]::Escape($strayInitiator)) on $([regex]::Escape($liveIqn)) has no live attachment; removed$").Count | Should -BeGreaterThan 0
        ($events -match "^$strayBackstoreVolume\|backstore volume-$strayBackstoreVolume has no live attachment; removed$").Count | Should -BeGreaterThan 0
    }

    It 'removes the stray target and the stray backstore from LIO, and saves that' {
        Get-GuestTargets | Should -Not -Contain $strayTarget
        Get-GuestBackstores | Should -Not -Contain "volume-$strayBackstoreVolume"
        Invoke-LabGuest -Guest $g -Command "grep -c -e $strayTarget -e volume-$strayBackstoreVolume /etc/rtslib-fb-target/saveconfig.json || true" | Should -Be '0'
    }

    It 'removes only the stray ACL from the live target: the live attachment still logs in' {
        $acls = Get-GuestAcls $liveIqn
        $acls | Should -Not -Contain $strayInitiator
        $acls | Should -Contain $initiator
        Get-GuestBackstores | Should -Contain "volume-$($vol.Id)"
        $secret = [System.Net.NetworkCredential]::new('', $att.AuthPassword).Password
        $url = "iscsi://$($att.AuthUsername)%$secret@$($att.TargetPortal)/$($att.TargetIqn)/$($att.TargetLun)"
        $out = & timeout 120 iscsi-inq -i $initiator $url 2>&1
        $LASTEXITCODE | Should -Be 0 -Because "the live attachment must survive the pass: $out"
        (Get-BlockVolumeAttachment -VolumeId $vol.Id).Status | Should -Be 'attached'
    }

    It 'never touches a target of another name, nor the LV under the stray backstore' {
        Get-GuestTargets | Should -Contain $foreignTarget
        (Invoke-LabGuest -Guest $g -Command "lvs --noheadings -o lv_name $($g.vg)") -join ' ' | Should -Match ([regex]::Escape($foreignLv))
        [int](Invoke-LabSql "select count(*) from bs.events where message like '%$prefix-foreign%'") | Should -Be 0
    }
}
