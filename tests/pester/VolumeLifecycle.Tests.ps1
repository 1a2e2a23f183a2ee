# Volume lifecycle end to end against the lab (build.ps1 Up: a scheduler and two agents on real LVM):
# every claim about a volume is checked in LVM itself (lvs/vgs), not only in our own tables.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.
# Volumes are requested in the lab's zone: other volume hosts (the iSCSI guest, zone 'guest') may be
# registered too, and these tests check the nodes' VGs. Thin volumes (the guest's thin pool) are
# ThinVolumes.Tests.ps1: this file uses no guest, so `build.ps1 Test` runs it on the second lab.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Get-LabInfo
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'lc'
    $script:vgOf = @{}
    foreach ($n in $lab.nodes) { $script:vgOf[$n.name] = $n.vg }

    function Get-VolumeLv([guid] $Id) {
        <# The LV of a volume in any lab VG, from lvs: @{ Vg; Name; SizeGiB } or $null. #>
        $name = "volume-$Id"
        foreach ($vg in $lab.volumeGroups) {
            $row = @(Invoke-LabLvm lvs @('-o', 'lv_name,vg_name,lv_size', '--units', 'g', '--nosuffix', '-S', "lv_name=$name", $vg))
            if ($row.Count -gt 0) { return [pscustomobject]@{ Vg = $row[0].vg_name; Name = $row[0].lv_name; SizeGiB = [double]$row[0].lv_size } }
        }
        return $null
    }

    function Get-VolumeLvs {
        <# Every volume-* LV of the lab, as objects with Vg, Name, SizeGiB. #>
        foreach ($vg in $lab.volumeGroups) {
            Invoke-LabLvm lvs @('-o', 'lv_name,vg_name,lv_size', '--units', 'g', '--nosuffix', $vg) |
                Where-Object lv_name -Like 'volume-*' |
                ForEach-Object { [pscustomobject]@{ Vg = $_.vg_name; Name = $_.lv_name; SizeGiB = [double]$_.lv_size } }
        }
    }

    function Get-Vg([string] $Vg) {
        $row = Invoke-LabLvm vgs @('-o', 'vg_name,vg_size,vg_free', '--units', 'g', '--nosuffix', $Vg)
        return [pscustomobject]@{ Name = $row.vg_name; SizeGiB = [double]$row.vg_size; FreeGiB = [double]$row.vg_free }
    }

    function Get-WeigherFree {
        # Free space per node as the weigher sees it (Placement.VirtualFreeGiB for thick): the VG's
        # size less what the ledger holds there, less the larger of the reserve and the space of LVs
        # that are not BlockStore's (the agent's last report).
        $free = @{}
        foreach ($node in $lab.nodes) {
            $free[$node.name] = [double](Invoke-LabSql ("select s.total_gib - l.provisioned_gib - greatest(s.total_gib * s.reserved_percentage / 100.0, " +
                "greatest(0, s.total_gib - s.free_gib - s.allocated_gib)) from bs.services s join bs.capacity_ledger l on l.host = s.host " +
                "where s.host = '$($node.name)' and s.service = 'volume'"))
        }
        return $free
    }

    function Get-RowCounts([string[]] $Name) {
        # The volumes of this file (its prefix) and of the -Name given, with their operations and
        # events, as one string, so a before/after comparison shows every table at once. Not the whole
        # tables: another test file may write at the same time (Timeouts.psd1 Parallel lanes).
        $filter = "name like '$prefix-%'"
        if ($Name) { $filter += ' or name in (' + (($Name | ForEach-Object { "'" + $_.Replace("'", "''") + "'" }) -join ', ') + ')' }
        Invoke-LabSql ("with v as (select id from bs.volumes where $filter) " +
            "select (select count(*) from v) || ',' || (select count(*) from bs.operations where volume_id in (select id from v)) || ',' || " +
            "(select count(*) from bs.events where volume_id in (select id from v))")
    }

    function Remove-TestVolumes([string] $Pattern) {
        $left = @(Get-BlockVolume -Name $Pattern -ErrorAction SilentlyContinue)
        if ($left.Count -gt 0) { $left | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 300 -ErrorAction Continue }
    }

    function Update-Heartbeat([string] $Service) {
        # A host that was just stopped still counts as up for the lab's 10 s down threshold; renewing its
        # heartbeat makes the tests that stop hosts independent of how long the stop took.
        # The lab's own hosts only (nodes, schedulers): the guest's hosts are another test file's.
        $names = if ($Service -eq 'volume') { @($lab.nodeNames) } else { @(Get-LabSchedulerNames) }
        $list = ($names | ForEach-Object { "'$_'" }) -join ','
        Invoke-LabSql "update bs.services set heartbeat_at = now() where service = '$Service' and host in ($list)" | Out-Null
    }
}

AfterAll {
    foreach ($n in @(Get-LabSchedulerNames) + @($lab.nodeNames)) {
        if (-not (Test-LabHost -Name $n)) { Start-LabHost -Name $n | Out-Null }
    }
    Remove-TestVolumes "$prefix*"
}

Describe 'Volume lifecycle' {
    Context 'one volume' {
        It 'is created: available, and its LV volume-<id> exists in the VG of its host with the requested size' {
            $v = New-BlockVolume -Name "$prefix-one" -AvailabilityZone $lab.zone -SizeGiB 3 -Wait -TimeoutSec 120
            $v.Status | Should -Be 'available'
            $v.SizeGiB | Should -Be 3
            $v.Host | Should -BeIn $lab.nodeNames
            $v.Zone | Should -Be $lab.zone
            $lv = Get-VolumeLv $v.Id
            $lv | Should -Not -BeNullOrEmpty -Because 'lvs must show the volume, not only our tables'
            $lv.Vg | Should -Be $vgOf[$v.Host]
            $lv.SizeGiB | Should -Be 3
            $script:one = $v
        }

        It 'is listed by Get-BlockVolume by name and by id' {
            (Get-BlockVolume -Name "$prefix-one").Id | Should -Be $one.Id
            (Get-BlockVolume -Id $one.Id).Name | Should -Be "$prefix-one"
            (Get-BlockVolume -HostName $one.Host -Status available).Id | Should -Contain $one.Id
        }

        It 'is not changed by Remove-BlockVolume -WhatIf: no row, no LV change' {
            $before = Get-RowCounts
            Remove-BlockVolume -Id $one.Id -WhatIf
            Get-RowCounts | Should -Be $before
            (Get-BlockVolume -Id $one.Id).Status | Should -Be 'available'
            Get-VolumeLv $one.Id | Should -Not -BeNullOrEmpty
        }

        It 'is deleted: gone from lvs and from Get-BlockVolume' {
            $gone = Remove-BlockVolume -Id $one.Id -Confirm:$false -Wait -PassThru -TimeoutSec 120
            $gone.Status | Should -Be 'deleted'
            Get-VolumeLv $one.Id | Should -BeNullOrEmpty
            @(Get-BlockVolume).Id | Should -Not -Contain $one.Id
            Get-BlockVolume -Name "$prefix-one" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            { Get-BlockVolume -Id $one.Id -ErrorAction Stop } | Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.GetBlockVolumeCommand'
            # The history stays, for who asks for it.
            (Get-BlockVolume -Id $one.Id -Status deleted).Status | Should -Be 'deleted'
        }

        It 'can be removed again without error, and that writes nothing (removal is idempotent)' {
            $counts = "select (select count(*) from bs.operations where volume_id = '$($one.Id)') || ',' || (select count(*) from bs.events where volume_id = '$($one.Id)')"
            $before = Invoke-LabSql $counts
            Remove-BlockVolume -Id $one.Id -Confirm:$false -ErrorAction Stop
            Invoke-LabSql $counts | Should -Be $before -Because 'removing a deleted volume queues no operation and records no event'
            Invoke-LabSql "select status from bs.volumes where id = '$($one.Id)'" | Should -Be 'deleted'
        }

        It 'frees its name for a new volume' {
            $again = New-BlockVolume -Name "$prefix-one" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 120
            $again.Status | Should -Be 'available'
            $again.Id | Should -Not -Be $one.Id
            Remove-BlockVolume -Id $again.Id -Confirm:$false -Wait -TimeoutSec 120
            Get-VolumeLv $again.Id | Should -BeNullOrEmpty
        }
    }

    Context '200 volumes in one pipeline' {
        It 'all end available, spread by free capacity, no host overcommitted (checked against vgs and lvs)' {
            # One scheduler for this burst: the spread is the weigher's promise. With two, a batch
            # placed while the other scheduler holds a host's ledger row goes to the other hosts
            # (SKIP LOCKED: schedulers never wait for each other), so the spread is only as even as
            # the last batches; a CI run ended 7 GiB apart so (2026-12-04). Two schedulers at once
            # are tested in Schedulers.Tests.ps1 (both place, no host overcommitted).
            $others = @($lab.schedulers | Select-Object -Skip 1 | ForEach-Object name)
            foreach ($s in $others) { Disable-BlockVolumeService -HostName $s -Service scheduler -Reason "${prefix}: one scheduler for the spread test" -Confirm:$false }
            try {
                # Start from a quiet lab: no operation of an earlier test in flight (a delete finishing
                # mid-burst frees space the weigher did not see when it placed), and every node's
                # report current (an LV that is not ours, made and removed by an earlier test, counts
                # against a host until its agent reports it gone).
                $nodeList = ($lab.nodes | ForEach-Object { "'$($_.name)'" }) -join ','
                $inFlight = "select count(*) from bs.operations o join bs.volumes v on v.id = o.volume_id " +
                    "where o.stage in ('pending', 'scheduled', 'running') and (v.host is null or v.host in ($nodeList))"
                Wait-LabCondition -TimeoutSeconds 120 -Condition { (Invoke-LabSql $inFlight) -eq '0' } |
                    Should -BeTrue -Because 'no operation of an earlier test is still in flight'
                Wait-LabCapacityReported -Lab $lab -TimeoutSeconds 120 | Should -BeTrue -Because 'every node reports its VG as vgs sees it'

                # Ballast first: one host starts with 40 GiB less free space. The weigher (most free
                # first) must fill that gap, so the two hosts end with free space within one volume size.
                $ballast = New-BlockVolume -Name "$prefix-weight" -AvailabilityZone $lab.zone -SizeGiB 40 -Wait -TimeoutSec 120
                $ballast.Status | Should -Be 'available'

                $specs = 1..200 | ForEach-Object { [pscustomobject]@{ Name = "$prefix-b$_"; SizeGiB = 1 + ($_ % 3); Zone = $lab.zone } }
                $total = ($specs | Measure-Object SizeGiB -Sum).Sum
                $freeBefore = ($lab.volumeGroups | ForEach-Object { (Get-Vg $_).FreeGiB } | Measure-Object -Sum).Sum
                $freeBefore | Should -BeGreaterThan ($total + 10) -Because 'the lab VGs must be able to hold the burst (build.ps1 Up makes 256G disks)'

                $weigherBefore = Get-WeigherFree
                $out = @($specs | New-BlockVolume -Wait -TimeoutSec 900)
                $out.Count | Should -Be 200
                @($out | Where-Object Status -NE 'available') | Should -BeNullOrEmpty
                ($out | Group-Object Host).Count | Should -Be $lab.nodes.Count -Because 'both hosts take volumes'

                # Every volume has its LV, in the VG of its host, with its size.
                $lvs = @{}
                foreach ($lv in Get-VolumeLvs) { $lvs[$lv.Name] = $lv }
                foreach ($v in $out) {
                    $lv = $lvs["volume-$($v.Id)"]
                    $lv | Should -Not -BeNullOrEmpty -Because "volume $($v.Name) is available"
                    $lv.Vg | Should -Be $vgOf[$v.Host]
                    $lv.SizeGiB | Should -Be $v.SizeGiB
                }

                # No host overcommitted: what LVM holds and what our ledger placed fit in each VG.
                $free = @{}
                foreach ($node in $lab.nodes) {
                    $vg = Get-Vg $node.vg
                    $inLvm = (@($lvs.Values | Where-Object Vg -EQ $node.vg) | Measure-Object SizeGiB -Sum).Sum
                    $inLvm | Should -BeLessOrEqual $vg.SizeGiB
                    $ledger = [double](Invoke-LabSql "select coalesce(sum(size_gib), 0) from bs.volumes where host = '$($node.name)' and status not in ('deleted', 'error')")
                    $ledger | Should -BeLessOrEqual $vg.SizeGiB
                    $free[$node.name] = $vg.FreeGiB
                }

                # Spread by free capacity: the 40 GiB gap is closed, to within the largest volume (3 GiB),
                # as the weigher sees free space: the VG's size less what the ledger holds there and less
                # space of LVs that are not BlockStore's (the agent's report). LVM's own free space also
                # carries what earlier test files left behind on one node (two CI runs ended 5 and 7 GiB
                # apart by vgs with all else right, 2026-12-04), so vgs is shown, not asserted, here; the
                # ledger against LVM is the reconcile and drift tests' job.
                $weigher = Get-WeigherFree
                $seen = ($lab.nodes | ForEach-Object {
                        $placedHere = (@($out | Where-Object Host -EQ $_.name) | Measure-Object SizeGiB -Sum).Sum
                        "$($_.name): weigher $($weigherBefore[$_.name]) GiB free before the burst, $placedHere GiB placed, $($weigher[$_.name]) GiB free after, vgs $($free[$_.name]) GiB free"
                    }) -join '; '
                Write-Host "    $seen"
                $values = @($weigher.Values)
                [math]::Abs($values[0] - $values[1]) | Should -BeLessOrEqual 3.01 -Because $seen
            }
            finally {
                foreach ($s in $others) { Enable-BlockVolumeService -HostName $s -Service scheduler -Confirm:$false }
            }
        }

        It 'all are deleted in one pipeline: no LV left' {
            Get-BlockVolume -Name "$prefix-b*", "$prefix-weight" | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 900
            @(Get-BlockVolume -Name "$prefix-b*", "$prefix-weight" -ErrorAction SilentlyContinue) | Should -BeNullOrEmpty
            $ids = @(Get-BlockVolume -Name "$prefix-b*" -Status deleted | ForEach-Object { $_.Id.ToString() })
            $ids.Count | Should -Be 200
            $left = @(Get-VolumeLvs | Where-Object { $_.Name.Substring(7) -in $ids })
            $left | Should -BeNullOrEmpty
        }
    }

    Context 'a volume too large for any host' {
        It 'ends error with a reason naming the capacity of each host, and makes no LV' {
            $v = New-BlockVolume -Name "$prefix-huge" -SizeGiB 16000 -Wait -TimeoutSec 60
            $v.Status | Should -Be 'error'
            $v.Host | Should -BeNullOrEmpty
            foreach ($node in $lab.nodes) {
                $size = [math]::Round((Get-Vg $node.vg).SizeGiB, 1)
                $v.StatusReason | Should -Match ([regex]::Escape("$($node.name): capacity $size GiB"))
            }
            $v.StatusReason | Should -Match '16000 GiB'
            Get-VolumeLv $v.Id | Should -BeNullOrEmpty
            $script:huge = $v
        }

        It 'answers "why is my volume in error" in Get-BlockVolumeEvent' {
            $events = @(Get-BlockVolumeEvent -VolumeId $huge.Id)
            $events.Kind | Should -Be @('requested', 'error')
            $events[-1].Message | Should -Be $huge.StatusReason
        }

        It 'is deleted at once: it never reached a host' {
            $gone = Remove-BlockVolume -Id $huge.Id -Confirm:$false -PassThru
            $gone.Status | Should -Be 'deleted'
        }
    }

    Context 'a failure on the host' {
        BeforeAll {
            # An LV that is not ours fills the VG AFTER the scheduler has placed the volume and before
            # the agent runs lvcreate: what no placement rule can foresee (the scheduler keeps off
            # foreign space it has been told about - ForeignSpace.Tests.ps1 - so filling first would
            # only test that). The agents are stopped while the volume is placed, then started.
            $script:filler = "$prefix-filler"
            $script:lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
            foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
            Update-Heartbeat 'volume'
        }

        AfterAll {
            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n | Out-Null }
            $lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
            foreach ($vg in $lab.volumeGroups) { & $lvremove --config $lab.lvmConfig -f "$vg/$filler" 2>&1 | Out-Null }
            # The agents' last reports still show the filler as foreign space; the tests after this one
            # must not be refused because of it.
            Wait-LabCapacityReported -TimeoutSeconds 60 | Should -BeTrue -Because 'every node reports its VG without the filler'
        }

        It 'ends error with LVM''s own message as the reason, recorded as an event from that host' {
            $v = New-BlockVolume -Name "$prefix-nospace" -AvailabilityZone $lab.zone -SizeGiB 1
            Wait-LabCondition { (Get-BlockVolume -Id $v.Id).Host } -TimeoutSeconds 30 | Should -BeTrue -Because 'the scheduler places it'
            $placedOn = (Get-BlockVolume -Id $v.Id).Host
            $vg = ($lab.nodes | Where-Object name -EQ $placedOn).vg
            & $lvcreate --config $lab.lvmConfig -l '100%FREE' -n $filler -y $vg 2>&1 | Out-Null
            $LASTEXITCODE | Should -Be 0
            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n | Out-Null }

            $v = Wait-BlockVolume -Id $v.Id -TimeoutSec 120
            $v.Status | Should -Be 'error'
            $v.Host | Should -Be $placedOn
            $v.StatusReason | Should -Match 'lvcreate failed .*insufficient free space'
            $last = @(Get-BlockVolumeEvent -VolumeId $v.Id)[-1]
            $last.Kind | Should -Be 'error'
            $last.Host | Should -Be $v.Host
            $last.Message | Should -Match 'insufficient free space'
            Get-VolumeLv $v.Id | Should -BeNullOrEmpty
            Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 60
            (Get-BlockVolume -Id $v.Id -Status deleted).Status | Should -Be 'deleted'
        }
    }

    Context 'invalid requests' {
        It 'refuses size <Size> with InvalidVolumeSize (InvalidArgument) and writes nothing' -ForEach @(
            @{ Size = 0 }, @{ Size = -1 }, @{ Size = 16385 }
        ) {
            $before = Get-RowCounts
            { New-BlockVolume -Name "$prefix-badsize" -AvailabilityZone $lab.zone -SizeGiB $Size -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidVolumeSize,BlockStore.Commands.NewBlockVolumeCommand'
            New-BlockVolume -Name "$prefix-badsize" -AvailabilityZone $lab.zone -SizeGiB $Size -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            Get-RowCounts | Should -Be $before
        }

        It 'refuses name <Name> with InvalidVolumeName (InvalidArgument) and writes nothing' -ForEach @(
            @{ Name = 'has space' }, @{ Name = '-leading-dash' }, @{ Name = ('x' * 64) }, @{ Name = 'semi;colon' }, @{ Name = 'ünicode' }
        ) {
            $before = Get-RowCounts -Name $Name
            { New-BlockVolume -Name $Name -SizeGiB 1 -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidVolumeName,BlockStore.Commands.NewBlockVolumeCommand'
            New-BlockVolume -Name $Name -SizeGiB 1 -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            Get-RowCounts -Name $Name | Should -Be $before
        }

        It 'refuses invalid input under -WhatIf too' {
            { New-BlockVolume -Name 'bad name' -SizeGiB 1 -WhatIf -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidVolumeName,BlockStore.Commands.NewBlockVolumeCommand'
        }

        It 'reports a bad item of a pipeline and still creates the others' {
            $items = @(
                [pscustomobject]@{ Name = "$prefix-p1"; SizeGiB = 1; Zone = $lab.zone }
                [pscustomobject]@{ Name = "$prefix-p2"; SizeGiB = 0; Zone = $lab.zone }
                [pscustomobject]@{ Name = "$prefix-p3"; SizeGiB = 1; Zone = $lab.zone }
            )
            $out = @($items | New-BlockVolume -Wait -TimeoutSec 120 -ErrorAction SilentlyContinue -ErrorVariable err)
            $out.Name | Should -Be @("$prefix-p1", "$prefix-p3")
            $out.Status | Should -Be @('available', 'available')
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'InvalidVolumeSize,BlockStore.Commands.NewBlockVolumeCommand'
            $out | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 120
        }

        It 'refuses a name in use with VolumeNameInUse (ResourceExists) and writes nothing' {
            $first = New-BlockVolume -Name "$prefix-dup" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 120
            $before = Get-RowCounts
            { New-BlockVolume -Name "$prefix-dup" -AvailabilityZone $lab.zone -SizeGiB 2 -ErrorAction Stop } |
                Should -Throw -ErrorId 'VolumeNameInUse,BlockStore.Commands.NewBlockVolumeCommand'
            New-BlockVolume -Name "$prefix-dup" -AvailabilityZone $lab.zone -SizeGiB 2 -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].CategoryInfo.Category | Should -Be 'ResourceExists'
            Get-RowCounts | Should -Be $before
            Remove-BlockVolume -Id $first.Id -Confirm:$false -Wait -TimeoutSec 120
        }
    }

    Context 'while the scheduler is stopped' {
        BeforeEach {
            Stop-LabScheduler
            Update-Heartbeat 'scheduler'
        }

        AfterEach {
            Start-LabScheduler | Out-Null
        }

        It 'New-BlockVolume -Wait times out with WaitTimeout (OperationTimeout) and the volume goes on to available' {
            $v = New-BlockVolume -Name "$prefix-slow" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 2 -ErrorAction SilentlyContinue -ErrorVariable err
            $v | Should -BeNullOrEmpty
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'WaitTimeout,BlockStore.Commands.NewBlockVolumeCommand'
            $err[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
            $err[0].TargetObject.Name | Should -Be "$prefix-slow"
            (Get-BlockVolume -Name "$prefix-slow").Status | Should -Be 'creating'

            Start-LabScheduler | Out-Null
            $done = Wait-BlockVolume -Name "$prefix-slow" -TimeoutSec 120
            $done.Status | Should -Be 'available'
            Get-VolumeLv $done.Id | Should -Not -BeNullOrEmpty
            Remove-BlockVolume -Id $done.Id -Confirm:$false -Wait -TimeoutSec 120
        }

        It 'Remove-BlockVolume on a volume not yet placed deletes it at once and cancels its request' {
            $v = New-BlockVolume -Name "$prefix-unplaced" -AvailabilityZone $lab.zone -SizeGiB 1
            $v.Status | Should -Be 'creating'
            $gone = Remove-BlockVolume -Id $v.Id -Confirm:$false -PassThru
            $gone.Status | Should -Be 'deleted'
            Invoke-LabSql "select string_agg(kind || ':' || stage, ',') from bs.operations where volume_id = '$($v.Id)'" |
                Should -Be 'create:cancelled'

            Start-LabScheduler | Out-Null
            # Give the schedulers the chance to (wrongly) place it: their start pass and a fallback
            # poll, measured by their own heartbeats.
            Wait-LabHostPasses -HostName @(Get-LabSchedulerNames) -Service scheduler -Polls 1 | Should -BeTrue -Because 'the schedulers heartbeat after their start'
            (Get-BlockVolume -Id $v.Id -Status deleted).Host | Should -BeNullOrEmpty
            Get-VolumeLv $v.Id | Should -BeNullOrEmpty
        }
    }

    Context 'while the agents are stopped' {
        BeforeAll {
            foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
            Update-Heartbeat 'volume'
        }

        AfterAll {
            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n | Out-Null }
        }

        It 'Remove-BlockVolume on a volume still creating removes it once creation settles, LV included' {
            $v = New-BlockVolume -Name "$prefix-racing" -AvailabilityZone $lab.zone -SizeGiB 2
            Wait-LabCondition { (Get-BlockVolume -Id $v.Id).Host } -TimeoutSeconds 30 | Should -BeTrue -Because 'the scheduler places it'
            $placed = Get-BlockVolume -Id $v.Id
            $placed.Status | Should -Be 'creating'

            $asked = Remove-BlockVolume -Id $v.Id -Confirm:$false -PassThru
            $asked.Status | Should -Be 'deleting'

            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n | Out-Null }
            $done = Wait-BlockVolume -Id $v.Id -Status deleted -TimeoutSec 120
            $done.Status | Should -Be 'deleted'
            Get-VolumeLv $v.Id | Should -BeNullOrEmpty

            # The create ran first (an LV was made), then the delete removed it: nothing leaked.
            $events = @(Get-BlockVolumeEvent -VolumeId $v.Id)
            $events.Kind | Should -Be @('requested', 'scheduled', 'requested', 'available', 'deleted')
            Invoke-LabSql "select string_agg(kind || ':' || stage, ',' order by id) from bs.operations where volume_id = '$($v.Id)'" |
                Should -Be 'create:succeeded,delete:succeeded'
        }
    }
}
