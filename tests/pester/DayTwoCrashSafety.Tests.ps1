# Crash safety of the day-2 operations (issue 12), in the lab's guest (device-mapper, thin pool): the
# guest's agent is SIGKILLed while it is inside lvcreate -s (a snapshot), lvextend (an extend) and
# lvremove (a snapshot's delete). What must hold after it is started again: every object ends in a
# final state (available, or error with a reason; never stuck in creating/extending/deleting), and
# the guest's own `lvs` agrees with bs.snapshots and bs.volumes both ways, with no LV made twice.
#
# How the kill lands inside the LVM command, deterministically and with the real LVM: the agent is
# started with Agent:LvmBinDirectory pointing at wrappers (in the guest's read-only config share),
# one per LVM command it runs. A wrapper runs the real `lvm <command>` at once, unless the test has
# put a hold file for that command in the guest whose pattern matches the arguments: then it writes
# its pid into <hold>/<command>.inside and waits until the hold file is removed. The test waits for
# that marker, SIGKILLs the agent (bs-agent kill: no shutdown), then removes the hold: the orphaned
# command runs the real LVM to its end while no agent lives, the worst case (LVM did the work, the
# database never heard of it), so the next attempt must adopt what exists. Its output goes to a file
# once its agent is gone (a dead reader's pipe would otherwise end it with SIGPIPE at random).
#
# Cost: two restarts of the guest agent to switch the wrappers on and off, and one start after each
# of the three kills (ReadyToRun under TCG: about 40-90 s each, 110 s at load 13). No lease is waited
# out: the started agent takes up its host's operations left running at once (AgentQueue.RecoverAsync,
# a 'recovered' event), whatever Agent:LeaseSeconds says, so a shorter lease would not make this faster.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

Describe 'An agent SIGKILLed inside lvcreate -s, lvextend and lvremove (lab guest, thin pool)' -Skip:(-not $hasGuest) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
        $lab = Initialize-LabTest -Guest
        $script:g = $lab.guest
        $script:prefix = New-LabTestPrefix 'dc'
        $script:hold = "/run/bs-hold-$prefix"
        $script:share = Join-Path $lab.stateDir 'guest/share'
        $script:argsFile = Join-Path $share 'agent.args'
        $script:originalArgs = [System.IO.File]::ReadAllText($argsFile)
        $script:wrappers = Join-Path $share "hold-lvm-$prefix"

        function Restart-GuestAgent {
            <# Restarts the agent in the guest and waits until it has probed LIO again (its capability row is fresh). #>
            Invoke-LabSql "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$($g.name)'" | Out-Null
            Invoke-LabGuest -Guest $g -Command 'bs-agent stop; bs-agent start' -TimeoutSeconds 120 | Out-Null
            Wait-LabGuestAgent -Lab $lab -Guest $g -Deadline ([DateTime]::UtcNow.AddSeconds(600))
        }

        function Wait-Inside([string] $Command) {
            <# Waits until the agent's <Command> is held in its wrapper; returns the command's pid in the guest. #>
            $inside = Wait-LabCondition -TimeoutSeconds 600 -IntervalMilliseconds 2000 -Condition {
                [bool](Invoke-LabGuest -Guest $g -Command "cat $hold/$Command.inside 2>/dev/null || true")
            }
            $inside | Should -BeTrue -Because "the agent must reach $Command (its wrapper writes $hold/$Command.inside)"
            return [int](Invoke-LabGuest -Guest $g -Command "cat $hold/$Command.inside")
        }

        function Invoke-CrashInside([string] $Command, [int] $LvmPid) {
            <#
            SIGKILLs the agent while its <Command> is held, then lets the orphaned command run the real
            LVM to its end and waits for it (a zombie counts as ended: the guest's init reaps late).
            #>
            $agentPid = Invoke-LabGuest -Guest $g -Command 'bs-agent pid'
            Invoke-LabGuest -Guest $g -Command 'bs-agent kill' | Out-Null
            Invoke-LabGuest -Guest $g -Command "kill -0 $agentPid 2>/dev/null && echo alive || echo dead" | Should -Be 'dead'
            $gone = "! [ -e /proc/$LvmPid ] || [ `"`$(cut -d' ' -f3 /proc/$LvmPid/stat 2>/dev/null)`" = Z ]"
            Invoke-LabGuest -Guest $g -Command "rm -f $hold/$Command $hold/$Command.inside; for i in `$(seq 3000); do $gone && break; sleep 0.2; done; $gone && echo ended" -TimeoutSeconds 700 |
                Should -Be 'ended' -Because "the orphaned $Command must finish once released"
            Write-Host "    $Command after the kill: $((Invoke-LabGuest -Guest $g -Command "cat $hold/$Command.out 2>/dev/null || true") -join ' ')"
        }

        function Start-GuestAgentAgain {
            Invoke-LabGuest -Guest $g -Command 'bs-agent start' -TimeoutSeconds 120 | Out-Null
        }

        function Set-Hold([string] $Command, [string] $Pattern) {
            <# Holds the agent's next <Command> whose arguments match the grep pattern <Pattern> (basic regex, no quotes). #>
            Invoke-LabGuest -Guest $g -Command "mkdir -p $hold && rm -f $hold/$Command.inside $hold/$Command.out && printf '%s\n' '$Pattern' > $hold/$Command" | Out-Null
        }

        function Get-GuestLvs {
            <# The VG's LVs as the guest's LVM reports them: name, origin and size in bytes. #>
            $json = (Invoke-LabGuest -Guest $g -Command "lvs --reportformat json --units b --nosuffix -o lv_name,origin,lv_size $($g.vg)") -join "`n"
            @(($json | ConvertFrom-Json).report[0].lv | ForEach-Object {
                    [pscustomobject]@{ Name = $_.lv_name; Origin = $_.origin; Bytes = [long]$_.lv_size } })
        }

        function Assert-SnapshotsAgree([guid] $VolumeId) {
            <# Both ways: every available snapshot of the volume has its LV (a snapshot of the volume's LV), and every snapshot LV of it is an available snapshot. #>
            $rows = @(Invoke-LabSql "select id from bs.snapshots where volume_id = '$VolumeId' and status = 'available' order by id")
            $lvs = @(Get-GuestLvs | Where-Object { $_.Origin -eq "volume-$VolumeId" -and $_.Name -like '_snapshot-*' })
            @($lvs.Name | Sort-Object) | Should -Be @($rows | ForEach-Object { "_snapshot-$_" } | Sort-Object)
            @(Get-GuestLvs | Group-Object Name | Where-Object Count -GT 1) | Should -BeNullOrEmpty -Because 'no LV may exist twice'
        }

        function Get-Final([scriptblock] $Status, [string[]] $Pending) {
            $done = Wait-LabCondition -TimeoutSeconds 900 -IntervalMilliseconds 2000 -Condition { (& $Status) -notin $Pending }
            $done | Should -BeTrue -Because "the object must leave $($Pending -join '/') after the agent is back"
        }

        # The wrappers (sh, in the guest). The real lvm is found in the guest, where the image has it.
        $script:realLvm = Invoke-LabGuest -Guest $g -Command 'command -v lvm'
        New-Item -ItemType Directory -Force -Path $wrappers | Out-Null
        foreach ($tool in 'lvs', 'vgs', 'lvcreate', 'lvremove', 'lvextend', 'lvconvert') {
            $path = Join-Path $wrappers $tool
            [System.IO.File]::WriteAllText($path, @"
#!/bin/sh
# DayTwoCrashSafety.Tests.ps1: the real '$realLvm $tool', held first while $hold/$tool exists and matches the arguments.
agent=`$PPID
if [ -f $hold/$tool ] && printf '%s\n' "`$*" | grep -q -f $hold/$tool; then
    echo `$`$ > $hold/$tool.inside
    while [ -f $hold/$tool ]; do sleep 0.2; done
    if ! kill -0 "`$agent" 2>/dev/null; then
        exec $realLvm $tool "`$@" > $hold/$tool.out 2>&1 < /dev/null
    fi
fi
exec $realLvm $tool "`$@"
"@.Replace("`r`n", "`n"))
            & chmod 755 $path
        }
        [System.IO.File]::WriteAllText($argsFile, $originalArgs.TrimEnd() + "`n--Agent:LvmBinDirectory=/mnt/share/hold-lvm-$prefix`n")
        Restart-GuestAgent

        $script:vol = New-BlockVolume -Name "$prefix-v" -SizeGiB 1 -AvailabilityZone $g.zone -Confirm:$false -Wait -TimeoutSec 900
        $vol.Status | Should -Be 'available' -Because $vol.StatusReason
    }

    AfterAll {
        Invoke-LabGuest -Guest $g -Command "rm -rf $hold" -AllowFailure | Out-Null
        [System.IO.File]::WriteAllText($argsFile, $originalArgs)
        Restart-GuestAgent   # the real LVM through PATH again, for whatever runs next
        Remove-Item -LiteralPath $wrappers -Recurse -Force -ErrorAction Ignore
        @(Get-BlockVolume -Name "$prefix*" -ErrorAction SilentlyContinue) | Where-Object Status -NE 'deleted' |
            Remove-BlockVolume -Cascade -Force -Confirm:$false -Wait -TimeoutSec 900 -ErrorAction Continue | Out-Null
    }

    It 'mid lvcreate -s: the snapshot ends available with the LV the orphaned lvcreate made (adopted, not made twice)' {
        Set-Hold 'lvcreate' "-s -n _snapshot-.* $($g.vg)/volume-$($vol.Id)`$"
        $s = New-BlockVolumeSnapshot -VolumeId $vol.Id -Name "$prefix-s1" -Confirm:$false
        $s.Status | Should -Be 'creating'
        $lvPid = Wait-Inside 'lvcreate'
        Invoke-CrashInside 'lvcreate' $lvPid
        (Get-BlockVolumeSnapshot -Id $s.Id).Status | Should -Be 'creating' -Because 'nothing recorded the outcome while the agent was dead'
        @(Get-GuestLvs).Name | Should -Contain "_snapshot-$($s.Id)" -Because 'the orphaned lvcreate -s ran to its end'

        Start-GuestAgentAgain
        Get-Final { (Get-BlockVolumeSnapshot -Id $s.Id).Status } @('creating')
        $done = Get-BlockVolumeSnapshot -Id $s.Id
        $done.Status | Should -Be 'available' -Because $done.StatusReason
        Assert-SnapshotsAgree $vol.Id
        (Get-GuestLvs | Where-Object Name -EQ "_snapshot-$($s.Id)").Origin | Should -Be "volume-$($vol.Id)"
        (Get-BlockVolume -Id $vol.Id).Status | Should -Be 'available'
        Invoke-LabSql "select stage || ' ' || attempts from bs.operations where snapshot_id = '$($s.Id)' and kind = 'snapshot-create' order by id desc limit 1" |
            Should -Be 'succeeded 2' -Because 'the dead claim counts as one attempt, the adopting one as the second'
        $script:s1 = $done
    }

    It 'mid lvextend: the volume ends available at the new size and the LV is that size' {
        Set-Hold 'lvextend' "$($g.vg)/volume-$($vol.Id)`$"
        $v = Resize-BlockVolume -Id $vol.Id -SizeGiB 2 -Confirm:$false -PassThru
        $v.Status | Should -Be 'extending'
        $lvPid = Wait-Inside 'lvextend'
        Invoke-CrashInside 'lvextend' $lvPid
        (Get-BlockVolume -Id $vol.Id).Status | Should -Be 'extending' -Because 'nothing recorded the outcome while the agent was dead'
        (Get-GuestLvs | Where-Object Name -EQ "volume-$($vol.Id)").Bytes | Should -Be 2GB -Because 'the orphaned lvextend ran to its end'

        Start-GuestAgentAgain
        Get-Final { (Get-BlockVolume -Id $vol.Id).Status } @('extending')
        $done = Get-BlockVolume -Id $vol.Id
        $done.Status | Should -Be 'available' -Because $done.StatusReason
        $done.SizeGiB | Should -Be 2
        $done.StatusReason | Should -BeNullOrEmpty
        (Get-GuestLvs | Where-Object Name -EQ "volume-$($vol.Id)").Bytes | Should -Be 2GB
        Invoke-LabSql "select count(*) from bs.capacity_ledger_drift where host = '$($g.name)'" | Should -Be '0' -Because 'the guest host''s ledger matches its volumes'
        Assert-SnapshotsAgree $vol.Id
    }

    It 'mid lvremove of a snapshot: the snapshot ends deleted and its LV is gone, once' {
        Set-Hold 'lvremove' "$($g.vg)/_snapshot-$($s1.Id)`$"
        Remove-BlockVolumeSnapshot -Id $s1.Id -Confirm:$false
        (Get-BlockVolumeSnapshot -Id $s1.Id).Status | Should -Be 'deleting'
        $lvPid = Wait-Inside 'lvremove'
        Invoke-CrashInside 'lvremove' $lvPid
        (Get-BlockVolumeSnapshot -Id $s1.Id).Status | Should -Be 'deleting' -Because 'nothing recorded the outcome while the agent was dead'
        @(Get-GuestLvs).Name | Should -Not -Contain "_snapshot-$($s1.Id)" -Because 'the orphaned lvremove ran to its end'

        Start-GuestAgentAgain
        Get-Final { (Get-BlockVolumeSnapshot -Id $s1.Id).Status } @('deleting')
        $done = Get-BlockVolumeSnapshot -Id $s1.Id
        $done.Status | Should -Be 'deleted' -Because $done.StatusReason
        Assert-SnapshotsAgree $vol.Id
        @(Get-GuestLvs).Name | Should -Contain "volume-$($vol.Id)" -Because 'only the snapshot was removed'
        Invoke-LabSql "select count(*) from bs.capacity_ledger_drift where host = '$($g.name)'" | Should -Be '0' -Because 'the guest host''s ledger matches its volumes'
    }
}
