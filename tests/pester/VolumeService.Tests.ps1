# Volume services against the lab (two agents node1/node2 and scheduler1): the operator's view of the
# fleet, enable/disable/freeze with their effect on placement and on the agents, up/down from
# heartbeats, the live log level, and that the stored state survives restarts.
# Every test leaves all services enabled, thawed, at Information and running (AfterEach).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest

    # The invalid-input cases name hosts literally (test cases are built before BeforeAll runs).
    $node1, $node2 = $lab.nodes[0].name, $lab.nodes[1].name
    $sched = $lab.scheduler.name
    if ($node1 -ne 'node1' -or $node2 -ne 'node2' -or $sched -ne 'scheduler1') {
        throw "These tests expect the lab's node1, node2 and scheduler1, not $node1, $node2, $sched"
    }
    $allHosts = @($sched, $node1, $node2)
    # These tests are about one scheduler; the lab's others (scheduler2) are stopped and disabled
    # meanwhile (how two cover for each other: Schedulers.Tests.ps1).
    $script:otherSchedulers = @(Get-LabSchedulerNames | Where-Object { $_ -ne $sched })
    foreach ($s in $otherSchedulers) {
        Stop-LabHost -Name $s
        Invoke-LabSql "update bs.services set disabled = true, disabled_reason = 'VolumeService.Tests: one scheduler' where host = '$s' and service = 'scheduler'" | Out-Null
    }
    $prefix = 'svc' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '-'

    function New-TestVolume([string] $Suffix, [switch] $NoWait) {
        if ($NoWait) { return New-BlockVolume -Name "$prefix$Suffix" -SizeGiB 1 -ErrorAction Stop }
        New-BlockVolume -Name "$prefix$Suffix" -SizeGiB 1 -Wait -TimeoutSec 60 -ErrorAction Stop
    }

    function Get-ServiceRows {
        # The columns an operator controls, read from the table itself (not from a cmdlet's echo).
        # modified_at is included: any write, even of the same values, changes it.
        Invoke-LabSql ("select host || '|' || service || '|' || disabled || '|' || coalesce(disabled_reason, '') || '|' || " +
            "frozen || '|' || log_level || '|' || coalesce(modified_at::text, '') from bs.services order by host, service")
    }

    function Get-ServiceRow([string] $HostName, [string] $Service) {
        $line = Invoke-LabSql "select disabled, coalesce(disabled_reason, ''), frozen, log_level from bs.services where host = '$HostName' and service = '$Service'"
        $f = "$line" -split '\|'
        [pscustomobject]@{ Disabled = $f[0] -eq 't'; Reason = $f[1]; Frozen = $f[2] -eq 't'; LogLevel = $f[3] }
    }

    function Get-VolumeCount { Invoke-LabSql 'select count(*) from bs.volumes' }

    function Get-LogLineCount([string] $Path) { @(Get-Content -LiteralPath $Path).Count }

    function Get-LogText([string] $Path, [int] $Skip) { (Get-Content -LiteralPath $Path | Select-Object -Skip $Skip) -join "`n" }

    function Get-LabLvNames([string] $Vg) { @(Invoke-LabLvm lvs @('-o', 'lv_name', $Vg) | ForEach-Object lv_name) }

    function Suspend-LabHost([string] $Name, [string] $Service) {
        # SIGSTOP, but never while the host is inside a transaction: its row locks would block the
        # test's own writes until the host is resumed. Any of its pools: the shared one and the
        # lanes of its work path (blockstore-<service>-<host>-placement / -operations).
        $hostPid = Get-LabHostPid -Name $Name
        for ($i = 0; $i -lt 50; $i++) {
            & kill -STOP $hostPid
            $busy = Invoke-LabSql "select count(*) from pg_stat_activity where (application_name = 'blockstore-$Service-$Name' or application_name like 'blockstore-$Service-$Name-%') and state <> 'idle'"
            if ($busy -eq '0') { return $hostPid }
            & kill -CONT $hostPid
            Start-Sleep -Milliseconds 100
        }
        throw "could not pause $Name outside a transaction"
    }

    function Wait-ServiceState([string] $HostName, [string] $Service, [string] $State, [double] $TimeoutSeconds) {
        Wait-LabCondition { (Get-BlockVolumeService -HostName $HostName -Service $Service).State -eq $State } -TimeoutSeconds $TimeoutSeconds
    }

    function Restore-LabServices {
        foreach ($n in $allHosts) {
            $hostPid = Get-LabHostPid -Name $n
            if ($hostPid) { & kill -CONT $hostPid 2>$null }
            if (-not (Test-LabHost -Name $n)) { Start-LabHost -Name $n | Out-Null }
        }
        $ours = @(Get-BlockVolumeService -HostName $allHosts)
        $ours | Where-Object Status -EQ 'disabled' | Enable-BlockVolumeService -Confirm:$false
        $ours | Where-Object Frozen | Set-BlockVolumeService -Thaw -Confirm:$false
        $ours | Where-Object LogLevel -NE 'Information' | Set-BlockVolumeServiceLogLevel -Level Information -Confirm:$false
        $allUp = Wait-LabCondition { @(Get-BlockVolumeService -HostName $allHosts | Where-Object State -NE 'up').Count -eq 0 } -TimeoutSeconds 40
        if (-not $allUp) { throw 'the lab services did not all come back up' }
    }

    Restore-LabServices
}

AfterAll {
    Restore-LabServices
    foreach ($s in $otherSchedulers) {
        Invoke-LabSql "update bs.services set disabled = false, disabled_reason = null where host = '$s' and service = 'scheduler'" | Out-Null
        Start-LabHost -Name $s | Out-Null
    }
    Get-BlockVolume -Name "$prefix*" | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 120
}

Describe 'Volume services' {
    AfterEach { Restore-LabServices }

    It 'takes volume hosts and the scheduler out of service and back, as an operator would' {
        # 1. the fleet: both agents and the scheduler, up and enabled
        $services = @(Get-BlockVolumeService)
        foreach ($n in $node1, $node2) {
            $s = $services | Where-Object { $_.Host -eq $n -and $_.Service -eq 'volume' }
            $s | Should -HaveCount 1
            $s.Status | Should -Be 'enabled'
            $s.State | Should -Be 'up'
            $s.Frozen | Should -BeFalse
            $s.BackendType | Should -Be 'thick'
            $s.CapacityGiB | Should -BeGreaterThan 0
            $s.FreeGiB | Should -BeGreaterThan 0
        }
        $s = $services | Where-Object { $_.Host -eq $sched -and $_.Service -eq 'scheduler' }
        $s | Should -HaveCount 1
        $s.Status | Should -Be 'enabled'
        $s.State | Should -Be 'up'

        # 2. disable node1 with a reason: stored in the row
        $r = Disable-BlockVolumeService -HostName $node1 -Service volume -Reason 'disk firmware update' -PassThru
        $r.Status | Should -Be 'disabled'
        $row = Get-ServiceRow $node1 volume
        $row.Disabled | Should -BeTrue
        $row.Reason | Should -Be 'disk firmware update'

        # 3. new volumes all land on node2
        $placed = @(1..3 | ForEach-Object { New-TestVolume "a$_" })
        $placed.Status | Should -Be @('available', 'available', 'available')
        $placed.Host | Should -Be @($node2, $node2, $node2)

        # 4. node2 disabled too: a new volume ends in error, with a reason naming both hosts
        Set-BlockVolumeService -HostName $node2 -Service volume -Disable -Reason 'rack move'
        $failed = New-TestVolume 'b1'
        $failed.Status | Should -Be 'error'
        $failed.Host | Should -BeNullOrEmpty
        $failed.StatusReason | Should -Match "$node1`: disabled \(disk firmware update\)"
        $failed.StatusReason | Should -Match "$node2`: disabled \(rack move\)"

        # 5. enable both (from the listing, through the pipeline): volumes are placed again
        Get-BlockVolumeService -HostName $node1, $node2 -Service volume | Enable-BlockVolumeService
        foreach ($n in $node1, $node2) {
            $row = Get-ServiceRow $n volume
            $row.Disabled | Should -BeFalse
            $row.Reason | Should -BeNullOrEmpty
        }
        $again = New-TestVolume 'c1'
        $again.Status | Should -Be 'available'
        $again.Host | Should -BeIn @($node1, $node2)

        # 6. disable the scheduler: New-BlockVolume refuses at once and writes nothing
        Disable-BlockVolumeService -HostName $sched -Service scheduler -Reason 'scheduler upgrade'
        (Get-ServiceRow $sched scheduler).Disabled | Should -BeTrue
        $count = Get-VolumeCount
        { New-BlockVolume -Name "${prefix}d1" -SizeGiB 1 } |
            Should -Throw -ErrorId 'SchedulerUnavailable,BlockStore.Commands.NewBlockVolumeCommand'
        $err = $null
        try { New-BlockVolume -Name "${prefix}d1" -SizeGiB 1 } catch { $err = $_ }
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        Get-VolumeCount | Should -Be $count

        # 7. enable it: creation works
        Enable-BlockVolumeService -HostName $sched -Service scheduler
        (New-TestVolume 'e1').Status | Should -Be 'available'
    }

    It 'turns a stopped agent down within the threshold; it gets no new volumes and is up again after a restart' {
        Stop-LabAgent -Name $node1
        # Down is decided from the last heartbeat by the database clock: at most the threshold
        # after the process stopped (a few seconds of slack for polling on a busy machine).
        Wait-ServiceState $node1 volume 'down' ($lab.serviceDownSeconds + 5) | Should -BeTrue
        $s = Get-BlockVolumeService -HostName $node1 -Service volume
        $s.Status | Should -Be 'enabled' -Because 'down is a fact about heartbeats, not an operator decision'

        $placed = @(1..2 | ForEach-Object { New-TestVolume "down$_" })
        $placed.Status | Should -Be @('available', 'available')
        $placed.Host | Should -Be @($node2, $node2)

        Start-LabAgent -Name $node1 | Out-Null
        Wait-ServiceState $node1 volume 'up' 30 | Should -BeTrue
    }

    It 'reports a host whose volume group is missing as unhealthy, and places nothing there' {
        $vg1 = $lab.nodes[0].vg
        $moved = "$vg1-gone"
        & vgrename --config $lab.lvmConfig $vg1 $moved 2>&1 | Out-Null
        $LASTEXITCODE | Should -Be 0
        try {
            Wait-LabCondition { -not (Get-BlockVolumeService -HostName $node1 -Service volume).Healthy } -TimeoutSeconds 15 | Should -BeTrue
            $s = Get-BlockVolumeService -HostName $node1 -Service volume
            $s.HealthReason | Should -Match "volume group $vg1 not found"
            $s.State | Should -Be 'up' -Because 'it still heartbeats: operators see a live host with a problem, not a dead one'
            (New-TestVolume 'sick1').Host | Should -Be $node2
        }
        finally { & vgrename --config $lab.lvmConfig $moved $vg1 2>&1 | Out-Null }
        Wait-LabCondition { (Get-BlockVolumeService -HostName $node1 -Service volume).Healthy } -TimeoutSeconds 15 | Should -BeTrue
    }

    Context 'invalid input' {
        BeforeAll { $before = Get-ServiceRows }

        It 'refuses <Case> with <ErrorId> and changes no row' -TestCases @(
            @{ Case = 'an empty reason'; ErrorId = 'InvalidReason,BlockStore.Commands.DisableBlockVolumeServiceCommand'
                Command = { Disable-BlockVolumeService -HostName node1 -Service volume -Reason '' } }
            @{ Case = 'a blank reason'; ErrorId = 'InvalidReason,BlockStore.Commands.SetBlockVolumeServiceCommand'
                Command = { Set-BlockVolumeService -HostName node1 -Service volume -Disable -Reason '   ' } }
            @{ Case = 'a 256-character reason'; ErrorId = 'InvalidReason,BlockStore.Commands.DisableBlockVolumeServiceCommand'
                Command = { Disable-BlockVolumeService -HostName node1 -Service volume -Reason ('r' * 256) } }
            @{ Case = 'an unknown service type'; ErrorId = 'ParameterArgumentValidationError,BlockStore.Commands.SetBlockVolumeServiceCommand'
                Command = { Set-BlockVolumeService -HostName node1 -Service backup -Disable } }
            @{ Case = 'an unknown service type (Disable-)'; ErrorId = 'ParameterArgumentValidationError,BlockStore.Commands.DisableBlockVolumeServiceCommand'
                Command = { Disable-BlockVolumeService -HostName node1 -Service backup } }
            @{ Case = 'an unknown host'; ErrorId = 'ServiceNotFound,BlockStore.Commands.DisableBlockVolumeServiceCommand'
                Command = { Disable-BlockVolumeService -HostName no-such-host -Service volume -Reason 'x' -ErrorAction Stop } }
            @{ Case = 'a service the host does not run'; ErrorId = 'ServiceNotFound,BlockStore.Commands.EnableBlockVolumeServiceCommand'
                Command = { Enable-BlockVolumeService -HostName node1 -Service scheduler -ErrorAction Stop } }
            @{ Case = 'both -Enable and -Disable'; ErrorId = 'AmbiguousParameterSet,BlockStore.Commands.SetBlockVolumeServiceCommand'
                Command = { Set-BlockVolumeService -HostName node1 -Service volume -Enable -Disable } }
            @{ Case = '-Reason without -Disable'; ErrorId = 'AmbiguousParameterSet,BlockStore.Commands.SetBlockVolumeServiceCommand'
                Command = { Set-BlockVolumeService -HostName node1 -Service volume -Freeze -Reason 'x' } }
            @{ Case = 'freezing a scheduler'; ErrorId = 'InvalidServiceChange,BlockStore.Commands.SetBlockVolumeServiceCommand'
                Command = { Set-BlockVolumeService -HostName scheduler1 -Service scheduler -Freeze -ErrorAction Stop } }
            @{ Case = 'an unknown log level'; ErrorId = 'InvalidLogLevel,BlockStore.Commands.SetBlockVolumeServiceLogLevelCommand'
                Command = { Set-BlockVolumeServiceLogLevel -HostName node1 -Service volume -Level Verbose } }
            @{ Case = 'a log level for an unknown host'; ErrorId = 'ServiceNotFound,BlockStore.Commands.SetBlockVolumeServiceLogLevelCommand'
                Command = { Set-BlockVolumeServiceLogLevel -HostName no-such-host -Service volume -Level Debug -ErrorAction Stop } }
            # -WhatIf looks the service up: an unknown one is reported, not announced with a "What if" line.
            @{ Case = 'an unknown host under -WhatIf (Set-)'; ErrorId = 'ServiceNotFound,BlockStore.Commands.SetBlockVolumeServiceCommand'
                Command = { Set-BlockVolumeService -HostName no-such-host -Service volume -Freeze -WhatIf -ErrorAction Stop } }
            @{ Case = 'an unknown host under -WhatIf (Disable-)'; ErrorId = 'ServiceNotFound,BlockStore.Commands.DisableBlockVolumeServiceCommand'
                Command = { Disable-BlockVolumeService -HostName no-such-host -Service volume -WhatIf -ErrorAction Stop } }
            @{ Case = 'a service the host does not run under -WhatIf (Enable-)'; ErrorId = 'ServiceNotFound,BlockStore.Commands.EnableBlockVolumeServiceCommand'
                Command = { Enable-BlockVolumeService -HostName node1 -Service scheduler -WhatIf -ErrorAction Stop } }
            @{ Case = 'a log level for an unknown host under -WhatIf'; ErrorId = 'ServiceNotFound,BlockStore.Commands.SetBlockVolumeServiceLogLevelCommand'
                Command = { Set-BlockVolumeServiceLogLevel -HostName no-such-host -Service volume -Level Debug -WhatIf -ErrorAction Stop } }
        ) {
            $Command | Should -Throw -ErrorId $ErrorId
            Get-ServiceRows | Should -Be $before
        }

        It 'reports a bad reason as InvalidArgument and an unknown service as ObjectNotFound' {
            $e = $null
            try { Disable-BlockVolumeService -HostName $node1 -Service volume -Reason '' } catch { $e = $_ }
            $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $e = $null
            try { Disable-BlockVolumeService -HostName no-such-host -Service volume -ErrorAction Stop } catch { $e = $_ }
            $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $e.TargetObject | Should -Be 'no-such-host/volume'
            Get-ServiceRows | Should -Be $before
        }

        It 'writes nothing with -WhatIf' {
            Disable-BlockVolumeService -HostName $node1 -Service volume -Reason 'what if' -WhatIf
            Get-BlockVolumeService -Service volume | Set-BlockVolumeService -Freeze -WhatIf
            Set-BlockVolumeServiceLogLevel -HostName $node1 -Service volume -Level Debug -WhatIf
            Get-ServiceRows | Should -Be $before
        }
    }

    It 'reports an unknown host in a list on its own and changes the others' {
        Disable-BlockVolumeService -HostName 'no-such-host', $node1 -Service volume -Reason 'batch' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs | Should -HaveCount 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'ServiceNotFound,BlockStore.Commands.DisableBlockVolumeServiceCommand'
        (Get-ServiceRow $node1 volume).Disabled | Should -BeTrue

        # The same through the pipeline, binding Host and Service by property name.
        $items = @([pscustomobject]@{ Host = 'no-such-host'; Service = 'volume' }) + @(Get-BlockVolumeService -HostName $node2 -Service volume)
        $items | Set-BlockVolumeService -Freeze -ErrorVariable errs2 -ErrorAction SilentlyContinue
        $errs2 | Should -HaveCount 1
        $errs2[0].FullyQualifiedErrorId | Should -Be 'ServiceNotFound,BlockStore.Commands.SetBlockVolumeServiceCommand'
        (Get-ServiceRow $node2 volume).Frozen | Should -BeTrue
    }

    It 'changes the log level of a running agent without a restart, visible in its log' {
        Disable-BlockVolumeService -HostName $node2 -Service volume -Reason 'log level test: volumes go to node1'
        $log1 = Join-Path $lab.stateDir "logs/$node1.log"
        $log2 = Join-Path $lab.stateDir "logs/$node2.log"
        $agentPid = Get-LabHostPid -Name $node1
        (Get-BlockVolumeServiceLogLevel -HostName $node1 -Service volume).Level | Should -Be 'Information'

        # At Information the agent logs its work but no debug line.
        $mark = Get-LogLineCount $log1
        $v1 = New-TestVolume 'log1'
        $v1.Host | Should -Be $node1
        Wait-LabCondition { (Get-LogText $log1 $mark) -match "info: .*volume-$($v1.Id)" } -TimeoutSeconds 10 | Should -BeTrue
        Get-LogText $log1 $mark | Should -Not -Match ' dbug: '

        # Debug: applied by the running process, and its next volume shows the LVM commands.
        $mark2 = Get-LogLineCount $log2
        Set-BlockVolumeServiceLogLevel -HostName $node1 -Service volume -Level Debug
        Wait-LabCondition { (Get-LogText $log1 $mark) -match 'Log level changed from Information to Debug' } -TimeoutSeconds 10 | Should -BeTrue
        (Get-BlockVolumeServiceLogLevel -HostName $node1 -Service volume).Level | Should -Be 'Debug'
        $v2 = New-TestVolume 'log2'
        Wait-LabCondition { (Get-LogText $log1 $mark) -match "dbug: BlockStore\.Agent\.ProcessCommandRunner\S* lvcreate .*volume-$($v2.Id)" } -TimeoutSeconds 10 |
            Should -BeTrue
        Get-LogText $log2 $mark2 | Should -Not -Match ' dbug: ' -Because 'only node1 was changed'

        # Back to Information: the debug lines stop.
        Set-BlockVolumeServiceLogLevel -HostName $node1 -Service volume -Level Information
        Wait-LabCondition { (Get-LogText $log1 $mark) -match 'Log level changed from Debug to Information' } -TimeoutSeconds 10 | Should -BeTrue
        Start-Sleep -Milliseconds 500   # a debug line already being written when the level changed
        $mark3 = Get-LogLineCount $log1
        $v3 = New-TestVolume 'log3'
        Wait-LabCondition { (Get-LogText $log1 $mark3) -match "info: .*volume-$($v3.Id)" } -TimeoutSeconds 10 | Should -BeTrue
        Get-LogText $log1 $mark3 | Should -Not -Match ' dbug: '

        Get-LabHostPid -Name $node1 | Should -Be $agentPid -Because 'the level changes without a restart'
        Test-LabHost -Name $node1 | Should -BeTrue
    }

    It "holds a frozen host's queued create and delete until it is thawed" {
        Disable-BlockVolumeService -HostName $node2 -Service volume -Reason 'freeze test: volumes go to node1'
        $vg1 = $lab.nodes[0].vg
        $old = New-TestVolume 'frz0'
        $old.Host | Should -Be $node1

        # Pause the agent so that a create is placed on node1 but not yet run (a request that came
        # in just before the operator froze the host), freeze, and ask for a delete as well.
        $agentPid = Suspend-LabHost -Name $node1 -Service volume
        try {
            $queued = New-TestVolume 'frz1' -NoWait
            Wait-LabCondition { (Get-BlockVolume -Id $queued.Id).Host -eq $node1 } -TimeoutSeconds 10 | Should -BeTrue
            Set-BlockVolumeService -HostName $node1 -Service volume -Freeze
            Remove-BlockVolume -Id $old.Id -Confirm:$false
        }
        finally { & kill -CONT $agentPid }

        # The running agent is woken by the notifications and by its fallback poll, and takes nothing:
        # "nothing" needs a window, measured by the agent's own heartbeats (a pass after every wake-up).
        Wait-LabHostPasses -HostName $node1 -Service volume -Polls 1 | Should -BeTrue -Because "$node1 heartbeats after it was resumed"
        $s = Get-BlockVolumeService -HostName $node1 -Service volume
        $s.Frozen | Should -BeTrue
        $s.State | Should -Be 'up'
        (Get-BlockVolume -Id $queued.Id).Status | Should -Be 'creating'
        (Get-BlockVolume -Id $old.Id).Status | Should -Be 'deleting'
        Invoke-LabSql "select stage from bs.operations where volume_id in ('$($queued.Id)', '$($old.Id)') and stage <> 'succeeded'" |
            Should -Be @('scheduled', 'scheduled')
        $lvs = Get-LabLvNames $vg1
        $lvs | Should -Contain "volume-$($old.Id)"
        $lvs | Should -Not -Contain "volume-$($queued.Id)"

        Set-BlockVolumeService -HostName $node1 -Service volume -Thaw
        $done = @(Wait-BlockVolume -Id $queued.Id, $old.Id -TimeoutSec 30)
        ($done | Where-Object Id -EQ $queued.Id).Status | Should -Be 'available'
        ($done | Where-Object Id -EQ $old.Id).Status | Should -Be 'deleted'
        $lvs = Get-LabLvNames $vg1
        $lvs | Should -Contain "volume-$($queued.Id)"
        $lvs | Should -Not -Contain "volume-$($old.Id)"
    }

    It 'places a request queued before the scheduler was disabled as soon as it is enabled again' {
        # Paused, the scheduler still counts as up (recent heartbeat), so the request is accepted and queued.
        $schedLog = Join-Path $lab.stateDir "logs/$sched.log"
        $mark = Get-LogLineCount $schedLog
        $schedPid = Suspend-LabHost -Name $sched -Service scheduler
        try {
            $queued = New-TestVolume 'q1' -NoWait
            Disable-BlockVolumeService -HostName $sched -Service scheduler -Reason 'queued request test'
        }
        finally { & kill -CONT $schedPid }

        # The first pass after the resume (woken by the queued notifications) finds itself disabled and
        # says so; then a fallback poll more, measured by its heartbeats: a disabled scheduler places nothing.
        Wait-LabCondition { (Get-LogText $schedLog $mark) -match 'Scheduler service is disabled' } -TimeoutSeconds 60 |
            Should -BeTrue -Because "$sched's first pass after the resume saw the disabled row"
        Wait-LabHostPasses -HostName $sched -Service scheduler -Polls 1 | Should -BeTrue -Because "$sched heartbeats after it was resumed"
        $v = Get-BlockVolume -Id $queued.Id
        $v.Status | Should -Be 'creating'
        $v.Host | Should -BeNullOrEmpty
        Invoke-LabSql "select stage from bs.operations where volume_id = '$($queued.Id)'" | Should -Be 'pending'

        Enable-BlockVolumeService -HostName $sched -Service scheduler
        (Wait-BlockVolume -Id $queued.Id -TimeoutSec 30).Status | Should -Be 'available'
    }

    It 'keeps disabled, frozen and the log level in the rows across restarts of the agents and the scheduler' {
        Disable-BlockVolumeService -HostName $node1 -Service volume -Reason 'survives restarts'
        Set-BlockVolumeService -HostName $node2 -Service volume -Freeze
        Set-BlockVolumeServiceLogLevel -HostName $node2 -Service volume -Level Warning
        Disable-BlockVolumeService -HostName $sched -Service scheduler -Reason 'scheduler maintenance'
        $before = Get-ServiceRows
        $log2 = Join-Path $lab.stateDir "logs/$node2.log"
        $restartedAt = Invoke-LabSql 'select now()'

        foreach ($n in $allHosts) { Stop-LabHost -Name $n }
        $mark = Get-LogLineCount $log2
        foreach ($n in $allHosts) { Start-LabHost -Name $n | Out-Null }
        Wait-LabCondition {
            (Invoke-LabSql "select count(*) from bs.services where host in ('$($allHosts -join "','")') and started_at > '$restartedAt'") -eq '3'
        } -TimeoutSeconds 40 | Should -BeTrue

        # The rows, not an echo: every operator column as it was, untouched by re-registration.
        Get-ServiceRows | Should -Be $before
        $row = Get-ServiceRow $node1 volume
        $row.Disabled | Should -BeTrue
        $row.Reason | Should -Be 'survives restarts'
        $row = Get-ServiceRow $node2 volume
        $row.Frozen | Should -BeTrue
        $row.LogLevel | Should -Be 'Warning'
        $row = Get-ServiceRow $sched scheduler
        $row.Disabled | Should -BeTrue
        $row.Reason | Should -Be 'scheduler maintenance'

        # ... and the restarted hosts act on them.
        Wait-LabCondition { (Get-LogText $log2 $mark) -match 'Log level changed from Information to Warning' } -TimeoutSeconds 10 | Should -BeTrue
        { New-BlockVolume -Name "${prefix}r1" -SizeGiB 1 } |
            Should -Throw -ErrorId 'SchedulerUnavailable,BlockStore.Commands.NewBlockVolumeCommand'
    }
}

Describe 'Get-BlockVolumeService and Get-BlockVolumeServiceLogLevel' {
    It 'filters by host name wildcards and service type' {
        $volumeHosts = @(Get-BlockVolumeService -HostName 'node*' -Service volume)
        $volumeHosts.Host | Should -Contain $node1
        $volumeHosts.Host | Should -Contain $node2
        $volumeHosts.Service | Sort-Object -Unique | Should -Be 'volume'
        @(Get-BlockVolumeService -Service scheduler).Host | Should -Contain $sched
        @(Get-BlockVolumeService -Host $node1).Host | Should -Be @($node1)
        # Without regard to case, as PowerShell names are: NODE1 finds node1, with no error.
        @(Get-BlockVolumeService -Host $node1.ToUpperInvariant() -Service volume -ErrorAction Stop).Host | Should -Be @($node1)
    }

    It 'refuses a malformed host name with InvalidHostName, and still lists the valid names beside it' {
        $e = $null
        $found = @(Get-BlockVolumeService -HostName 'bad_host', $node1 -Service volume -ErrorVariable e -ErrorAction SilentlyContinue)
        $found.Host | Should -Be @($node1)
        @($e).Count | Should -Be 1
        $e[0].FullyQualifiedErrorId | Should -Be 'InvalidHostName,BlockStore.Commands.GetBlockVolumeServiceCommand'
        $e[0].TargetObject | Should -Be 'bad_host'
    }

    It 'reports a host name that matches nothing as ServiceNotFound, but not a pattern' {
        { Get-BlockVolumeService -HostName 'no-such-host' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ServiceNotFound,BlockStore.Commands.GetBlockVolumeServiceCommand'
        @(Get-BlockVolumeService -HostName 'no-such-*' -ErrorAction Stop) | Should -HaveCount 0
    }

    It 'shows the log level of each service' {
        $levels = @(Get-BlockVolumeServiceLogLevel -HostName $allHosts)
        $levels | Should -HaveCount 3
        $levels.Level | Sort-Object -Unique | Should -Be 'Information'
    }

    It 'formats services as a table with the operator columns' {
        $text = Get-BlockVolumeService | Out-String -Width 250
        $text | Should -Match 'Host\s+Service\s+Zone\s+Status\s+State\s+Frozen\s+CapacityGiB\s+FreeGiB\s+ProvisionedGiB\s+BackendType\s+UpdatedAt\s+DisabledReason'
    }

    It 'completes registered host names and log levels' {
        (TabExpansion2 -inputScript 'Get-BlockVolumeService -HostName nod').CompletionMatches.CompletionText | Should -Contain $node1
        (TabExpansion2 -inputScript 'Set-BlockVolumeServiceLogLevel -Level De').CompletionMatches.CompletionText | Should -Be @('Debug')
    }
}
