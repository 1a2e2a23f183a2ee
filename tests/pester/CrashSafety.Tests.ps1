# Crash safety against the lab: agents and the scheduler are killed with SIGKILL in the middle of
# bursts of creates and deletes, restarted, and then every volume must end in a final status and
# LVM (lvs) and the database must agree: no orphan volume-* LV, no available volume without its LV.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Get-LabInfo
    $nodes = @($lab.nodes | ForEach-Object { @{ Node = $_.name; Vg = $_.vg } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'cs'
    $script:lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
    $script:lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source

    function Get-VolumeLvs {
        foreach ($vg in $lab.volumeGroups) {
            Invoke-LabLvm lvs @('-o', 'lv_name,vg_name,lv_size', '--units', 'g', '--nosuffix', $vg) |
                Where-Object lv_name -Like 'volume-*' |
                ForEach-Object { [pscustomobject]@{ Vg = $_.vg_name; Name = $_.lv_name; SizeGiB = [double]$_.lv_size } }
        }
    }

    function Get-Mismatches {
        <#
        Where LVM and the database disagree, as readable lines (empty when they agree): an LV volume-<id>
        whose volume is deleted, missing or on another host; a live volume on a host without its LV of
        its size. Run only when nothing is in flight.
        #>
        $vgOf = @{}; foreach ($n in $lab.nodes) { $vgOf[$n.name] = $n.vg }
        $rows = @{}
        foreach ($line in Invoke-LabSql "select id || '|' || status || '|' || coalesce(host, '') || '|' || size_gib from bs.volumes") {
            $id, $status, $h, $size = $line -split '\|'
            $rows[$id] = [pscustomobject]@{ Status = $status; Host = $h; Size = [int]$size }
        }
        $lvs = @{}
        foreach ($lv in Get-VolumeLvs) {
            $id = $lv.Name.Substring(7)
            $lvs[$id] = $lv
            $row = $rows[$id]
            if (-not $row) { "orphan LV $($lv.Vg)/$($lv.Name): no volume row" }
            elseif ($row.Status -eq 'deleted') { "orphan LV $($lv.Vg)/$($lv.Name): volume is deleted" }
            elseif ($vgOf[$row.Host] -ne $lv.Vg) { "LV $($lv.Vg)/$($lv.Name): volume is on host '$($row.Host)'" }
        }
        foreach ($id in $rows.Keys) {
            $row = $rows[$id]
            if ($row.Status -notin 'available', 'deleting', 'error_deleting') { continue }
            if (-not $vgOf.ContainsKey($row.Host)) { continue }   # another lab host (the iSCSI guest) checks its own
            $lv = $lvs[$id]
            if (-not $lv) { "volume $id is $($row.Status) on $($row.Host) without its LV" }
            elseif ($lv.SizeGiB -ne $row.Size) { "volume $id has $($row.Size) GiB, its LV $($lv.SizeGiB) GiB" }
        }
    }

    function Stop-Hard([string] $Name) {
        <# SIGKILL: no shutdown code runs, exactly like a crash. #>
        $hostPid = Get-LabHostPid -Name $Name
        $hostPid | Should -Not -BeNullOrEmpty
        & kill -KILL $hostPid
        Wait-LabCondition { -not (Test-LabPidAlive -ProcessId $hostPid) } -TimeoutSeconds 10 | Should -BeTrue
    }

    function Get-InFlight([string] $HostName) {
        [int](Invoke-LabSql "select count(*) from bs.operations where host = '$HostName' and stage in ('scheduled', 'running')")
    }

    function Update-Heartbeat([string] $Service) {
        Invoke-LabSql "update bs.services set heartbeat_at = now() where service = '$Service'" | Out-Null
    }
}

AfterAll {
    foreach ($n in @(Get-LabSchedulerNames) + @($lab.nodeNames)) {
        if (-not (Test-LabHost -Name $n)) { Start-LabHost -Name $n | Out-Null }
    }
    $left = @(Get-BlockVolume -Name "$prefix*" -ErrorAction SilentlyContinue)
    if ($left.Count -gt 0) { $left | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 300 -ErrorAction Continue }
}

Describe 'Crash safety' {
    It 'starts from a lab where LVM and the database agree' {
        Get-Mismatches | Should -BeNullOrEmpty
    }

    Context 'agent <Node> killed with SIGKILL during a burst' -ForEach $nodes {
        It 'finishes every create and delete after the restart, and lvs agrees with the database' {
            $tag = "$prefix-$Node"
            # Volumes to delete during the burst.
            $old = @(1..20 | ForEach-Object { [pscustomobject]@{ Name = "$tag-old$_"; SizeGiB = 1; Zone = $lab.zone } } | New-BlockVolume -Wait -TimeoutSec 300)
            @($old | Where-Object Status -NE 'available') | Should -BeNullOrEmpty

            # The burst: creates and deletes interleaved; the agent dies while its queue is full.
            $new = [System.Collections.Generic.List[object]]::new()
            $inFlightAtKill = 0
            foreach ($i in 1..100) {
                $new.Add((New-BlockVolume -Name "$tag-new$i" -AvailabilityZone $lab.zone -SizeGiB (1 + $i % 2)))
                if ($i -le 20) { Remove-BlockVolume -Id $old[$i - 1].Id -Confirm:$false }
                # Kill from the middle of the burst on, as soon as the agent has work in hand.
                if ($i -ge 50 -and $inFlightAtKill -eq 0) {
                    $inFlightAtKill = Get-InFlight $Node
                    if ($inFlightAtKill -gt 0) { Stop-Hard $Node; Write-Host "killed $Node after request $i with $inFlightAtKill operation(s) in hand" }
                }
            }
            $inFlightAtKill | Should -BeGreaterThan 0 -Because 'the agent must die with work in hand'
            Get-InFlight $Node | Should -BeGreaterThan 0 -Because 'its work waits for it'

            # No pause needed before the restart: Stop-Hard waited until the process was gone, and the
            # line above shows its work waiting for it.
            Start-LabAgent -Name $Node | Out-Null

            $all = @($old.Id) + @($new.Id)
            $final = @(Wait-BlockVolume -Id $all -TimeoutSec 300)
            $final.Count | Should -Be 120
            @($final | Where-Object { $_.Name -like "$tag-new*" -and $_.Status -ne 'available' }) | Should -BeNullOrEmpty
            @($final | Where-Object { $_.Name -like "$tag-old*" -and $_.Status -ne 'deleted' }) | Should -BeNullOrEmpty
            Get-Mismatches | Should -BeNullOrEmpty

            # Nothing was run twice by two processes: every operation finished once.
            Invoke-LabSql "select count(*) from bs.operations o join bs.volumes v on v.id = o.volume_id where v.name like '$tag-%' and o.stage <> 'succeeded'" |
                Should -Be '0'

            $new | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 300
            Get-Mismatches | Should -BeNullOrEmpty
        }
    }

    Context 'scheduler killed with SIGKILL during a burst' {
        It 'places every request after the restart, and lvs agrees with the database' {
            $tag = "$prefix-sched"
            $new = [System.Collections.Generic.List[object]]::new()
            $pendingAtKill = 0
            foreach ($i in 1..100) {
                $new.Add((New-BlockVolume -Name "$tag-$i" -AvailabilityZone $lab.zone -SizeGiB 1))
                if ($i -eq 50) {
                    # Every scheduler: with one left, it would place the rest (Schedulers.Tests.ps1).
                    foreach ($s in Get-LabSchedulerNames) { Stop-Hard $s }
                    $pendingAtKill = [int](Invoke-LabSql "select count(*) from bs.operations where stage = 'pending'")
                }
            }
            # The 50 requests after the kill were accepted (the scheduler still counts as up for the
            # down threshold) and wait, unplaced.
            [int](Invoke-LabSql "select count(*) from bs.operations where stage = 'pending'") | Should -BeGreaterOrEqual 50
            Write-Host "pending when the scheduler died: $pendingAtKill"

            Start-LabScheduler | Out-Null
            $final = @(Wait-BlockVolume -Id $new.Id -TimeoutSec 300)
            $final.Count | Should -Be 100
            @($final | Where-Object Status -NE 'available') | Should -BeNullOrEmpty
            [int](Invoke-LabSql "select count(*) from bs.events e join bs.volumes v on v.id = e.volume_id where v.name like '$tag-%' and e.kind = 'scheduled'") |
                Should -Be 100 -Because 'each request is placed exactly once'
            Get-Mismatches | Should -BeNullOrEmpty

            $new | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 300
            Get-Mismatches | Should -BeNullOrEmpty
        }
    }

    Context 'an agent that died between LVM and the database' {
        BeforeAll {
            $script:node = $lab.nodes[0]
            foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
            Update-Heartbeat 'volume'
        }

        AfterAll {
            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n | Out-Null }
        }

        It 'adopts the LV a dead create made, and finishes a delete whose LV is already gone' {
            # Only node1 takes new volumes here.
            $others = @($lab.nodeNames | Where-Object { $_ -ne $node.name } | ForEach-Object { "'$_'" }) -join ', '
            Invoke-LabSql "update bs.services set frozen = true where service = 'volume' and host in ($others)" | Out-Null
            try {
                $made = New-BlockVolume -Name "$prefix-made" -AvailabilityZone $lab.zone -SizeGiB 2
                $gone = New-BlockVolume -Name "$prefix-gone" -AvailabilityZone $lab.zone -SizeGiB 1
                Wait-LabCondition { @(Get-BlockVolume -Id $made.Id, $gone.Id | Where-Object Host).Count -eq 2 } -TimeoutSeconds 30 | Should -BeTrue
            }
            finally {
                Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and host in ($others)" | Out-Null
            }

            # What a crash leaves: the create ran lvcreate, the status was never written...
            & $lvcreate --config $lab.lvmConfig -n "volume-$($made.Id)" -L 2g -y $node.vg 2>&1 | Out-Null
            $LASTEXITCODE | Should -Be 0
            # ...and for the other volume, the create finished, a delete ran lvremove, its status was never written.
            Invoke-LabSql "update bs.operations set stage = 'succeeded', finished_at = now() where volume_id = '$($gone.Id)'; update bs.volumes set status = 'deleting' where id = '$($gone.Id)'; insert into bs.operations (volume_id, kind, stage, host) values ('$($gone.Id)', 'delete', 'scheduled', '$($node.name)')" | Out-Null
            Invoke-LabSql "update bs.operations set stage = 'running', lease_owner = 'dead:1:000000000', lease_expires_at = now() + interval '1 hour', attempts = 1 where volume_id in ('$($made.Id)', '$($gone.Id)') and stage = 'scheduled'" | Out-Null

            Start-LabAgent -Name $node.name | Out-Null
            (Wait-BlockVolume -Id $made.Id -TimeoutSec 60).Status | Should -Be 'available'
            (Wait-BlockVolume -Id $gone.Id -TimeoutSec 60).Status | Should -Be 'deleted'

            $madeEvents = @(Get-BlockVolumeEvent -VolumeId $made.Id)
            $madeEvents.Kind | Should -Contain 'recovered'
            ($madeEvents | Where-Object Kind -EQ 'available').Message | Should -Match 'adopted'
            (Get-BlockVolumeEvent -VolumeId $gone.Id | Where-Object Kind -EQ 'deleted').Message | Should -Match 'already absent'
            Get-Mismatches | Should -BeNullOrEmpty
            Remove-BlockVolume -Id $made.Id -Confirm:$false -Wait -TimeoutSec 60
        }
    }

    Context 'the reconcile pass at agent start' {
        It 'removes at start an orphan LV of a deleted volume, reports an unknown one, and never touches other LVs' {
            $deleted = New-BlockVolume -Name "$prefix-orphan" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 60
            $node = $lab.nodes | Where-Object name -EQ $deleted.Host
            (Remove-BlockVolume -Id $deleted.Id -Confirm:$false -Wait -PassThru -TimeoutSec 60).Status | Should -Be 'deleted'
            $unknown = [guid]::NewGuid()
            $foreign = "$prefix-keep-me"
            foreach ($lv in "volume-$($deleted.Id)", "volume-$unknown", $foreign) {
                & $lvcreate --config $lab.lvmConfig -n $lv -L 1g -y $node.vg 2>&1 | Out-Null
                $LASTEXITCODE | Should -Be 0
            }
            try {
                Stop-LabAgent -Name $node.name
                Start-LabAgent -Name $node.name | Out-Null
                Wait-LabCondition { -not (Get-VolumeLvs | Where-Object Name -EQ "volume-$($deleted.Id)") } -TimeoutSeconds 30 |
                    Should -BeTrue -Because 'the orphan of a deleted volume is removed'

                $names = @(Invoke-LabLvm lvs @('-o', 'lv_name', $node.vg)).lv_name
                $names | Should -Contain "volume-$unknown" -Because 'an LV without a row is reported, not removed'
                $names | Should -Contain $foreign -Because 'LVs not named volume-<uuid> are never touched'
                (Get-BlockVolumeEvent -VolumeId $deleted.Id | Where-Object Kind -EQ 'orphan-removed').Host | Should -Be $node.name
                (Get-BlockVolumeEvent -VolumeId $unknown | Where-Object Kind -EQ 'reconcile-mismatch').Message | Should -Match 'no volume row'
            }
            finally {
                foreach ($lv in "volume-$unknown", $foreign) { & $lvremove --config $lab.lvmConfig -f "$($node.vg)/$lv" 2>&1 | Out-Null }
            }
            Get-Mismatches | Should -BeNullOrEmpty
        }
    }
}
