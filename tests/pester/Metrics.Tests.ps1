# Metrics and health against the lab (issue 15): every host serves Prometheus text at the URL the lab
# recorded for it (lab.json metricsUrls, BlockStore:Metrics:Url) and reports it in its service row;
# the text parses as the exposition format; the counters move after a create that succeeds and one
# that fails at placement; /healthz answers 200 with its JSON fields.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'mt'
    if (-not $lab.PSObject.Properties['metricsUrls']) { throw 'lab.json has no metricsUrls: take the lab down and up again with this build.' }
    $script:urls = [ordered]@{}
    foreach ($p in $lab.metricsUrls.PSObject.Properties) { $urls[$p.Name] = [string]$p.Value }
    $script:schedulers = @(Get-LabSchedulerNames)
    $script:agents = @($lab.nodeNames)

    # One sample line of the text exposition format 0.0.4: name, optional {labels}, value, optional timestamp.
    $label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    $script:sampleLine = "^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>(?:$label)(?:,$label)*,?)?\})? (?<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))(?: -?[0-9]+)?$"

    function ConvertFrom-PrometheusText([string] $Text) {
        <# The samples of a scrape as objects (Name, Labels, Value); throws on the first line that is not the format. #>
        $n = 0
        foreach ($line in $Text -split "`n") {
            $n++
            if ($line -eq '' -or $line.StartsWith('#')) {
                if ($line.StartsWith('# ') -and $line -notmatch '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]*( |$)') { throw "line ${n}: a comment that is neither HELP nor TYPE: $line" }
                continue
            }
            $m = [regex]::Match($line, $sampleLine)
            if (-not $m.Success) { throw "line ${n} is not 'name{labels} value': $line" }
            $labels = @{}
            foreach ($l in [regex]::Matches($m.Groups['labels'].Value, '(?<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?<v>(?:[^"\\]|\\.)*)"')) { $labels[$l.Groups['k'].Value] = $l.Groups['v'].Value }
            $value = switch -Regex ($m.Groups['value'].Value) {
                '^\+?Inf$' { [double]::PositiveInfinity }
                '^-Inf$' { [double]::NegativeInfinity }
                '^[-+]?NaN$' { [double]::NaN }
                default { [double]::Parse($_, [cultureinfo]::InvariantCulture) }
            }
            [pscustomobject]@{ Name = $m.Groups['name'].Value; Labels = $labels; Value = $value }
        }
    }

    function Get-Samples([string] $HostName) {
        $response = Invoke-WebRequest -Uri $urls[$HostName] -TimeoutSec 15 -SkipHttpErrorCheck
        if ($response.StatusCode -ne 200) { throw "$($urls[$HostName]) answered $($response.StatusCode)" }
        $text = if ($response.Content -is [byte[]]) { [Text.Encoding]::UTF8.GetString($response.Content) } else { [string]$response.Content }
        @(ConvertFrom-PrometheusText $text)
    }

    function Get-MetricSum([string[]] $Hosts, [string] $Name, [hashtable] $Labels = @{}) {
        <# The sum of one metric's samples over hosts, those with every label in -Labels (0 when there is none yet). #>
        $sum = 0.0
        foreach ($h in $Hosts) {
            foreach ($s in (Get-Samples $h | Where-Object Name -EQ $Name)) {
                $match = $true
                foreach ($k in $Labels.Keys) { if ($s.Labels[$k] -ne $Labels[$k]) { $match = $false } }
                if ($match) { $sum += $s.Value }
            }
        }
        return $sum
    }

    function Get-Health([string] $HostName) {
        $url = $urls[$HostName] -replace 'metrics$', 'healthz'
        $response = Invoke-WebRequest -Uri $url -TimeoutSec 15 -SkipHttpErrorCheck
        $text = if ($response.Content -is [byte[]]) { [Text.Encoding]::UTF8.GetString($response.Content) } else { [string]$response.Content }
        [pscustomobject]@{ Status = [int]$response.StatusCode; Body = ($text | ConvertFrom-Json) }
    }
}

AfterAll {
    $left = @(Get-BlockVolume -Name "$prefix*" -ErrorAction SilentlyContinue)
    if ($left.Count -gt 0) { $left | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 300 -ErrorAction Continue }
}

Describe 'Metrics and health' {
    It 'the lab gives every host a metrics URL of its own, and each host reports it in its service row' {
        @($urls.Keys | Sort-Object) | Should -Be @(@($schedulers) + @($agents) | Sort-Object)
        @($urls.Values | Sort-Object -Unique).Count | Should -Be $urls.Count -Because 'each host listens on its own port'
        foreach ($h in $urls.Keys) {
            $service = @(Get-BlockVolumeService -HostName $h)
            $service.Count | Should -Be 1
            $service[0].MetricsUrl | Should -Be $urls[$h] -Because "$h registered with its BlockStore:Metrics:Url"
        }
    }

    It 'the exposition check rejects what is not Prometheus text' {
        # The check below is only worth something if it can fail.
        { ConvertFrom-PrometheusText "ok_metric 1`nnot a sample line" } | Should -Throw '*line 2*'
        { ConvertFrom-PrometheusText 'm{label=unquoted} 1' } | Should -Throw
        { ConvertFrom-PrometheusText 'm 1,5' } | Should -Throw
        @(ConvertFrom-PrometheusText "# HELP m x`n# TYPE m gauge`nm{a=`"b\`"c`",d=`"`"} -1.5e+3 1700000000000`nm +Inf").Count | Should -Be 2
    }

    It 'every host''s /metrics parses as Prometheus text, with its heartbeat, Npgsql''s metrics and, for agents, capacity' {
        foreach ($h in $urls.Keys) {
            $samples = Get-Samples $h
            $names = @($samples | ForEach-Object Name | Sort-Object -Unique)
            $names | Should -Contain 'blockstore_heartbeat_age_seconds' -Because "$h records its heartbeats"
            $names | Should -Contain 'blockstore_heartbeat_last_success_timestamp_seconds'
            @($names | Where-Object { $_ -like 'npgsql_db_client_*' }).Count | Should -BeGreaterThan 0 -Because "$h publishes Npgsql's own meter"
            $age = ($samples | Where-Object Name -EQ 'blockstore_heartbeat_age_seconds').Value
            $age | Should -BeLessThan (3 * $lab.reportIntervalSeconds + 5) -Because "$h heartbeats every $($lab.reportIntervalSeconds) s"
            ($samples | Where-Object Name -EQ 'blockstore_healthy').Value | Should -Be 1
            if ($h -in $agents) {
                $node = $lab.nodes | Where-Object name -EQ $h
                $free = ($samples | Where-Object Name -EQ 'blockstore_capacity_free_gib').Value
                $total = ($samples | Where-Object Name -EQ 'blockstore_capacity_total_gib').Value
                $total | Should -BeGreaterThan 0 -Because "$h reports the size of $($node.vg)"
                $free | Should -BeLessOrEqual $total
                $names | Should -Contain 'blockstore_command_duration_seconds_count' -Because "$h ran lvs for its capacity report"
            }
            else {
                @($samples | Where-Object Name -EQ 'blockstore_queue_depth' | ForEach-Object { $_.Labels['stage'] } | Sort-Object) |
                    Should -Be @('pending', 'running', 'scheduled') -Because "$h refreshes the queue depth by stage"
            }
        }
    }

    It 'a create that succeeds moves the agents'' operation counters, latency histograms and lvcreate timings, and the schedulers'' placements' {
        $created = @{ kind = 'create'; status = 'succeeded' }
        $before = [pscustomobject]@{
            Ops      = Get-MetricSum $agents 'blockstore_operations_total' $created
            Total    = Get-MetricSum $agents 'blockstore_operation_seconds_count' $created
            Wait     = Get-MetricSum $agents 'blockstore_operation_wait_seconds_count' @{ kind = 'create' }
            Lvcreate = Get-MetricSum $agents 'blockstore_command_duration_seconds_count' @{ program = 'lvcreate' }
            Placed   = Get-MetricSum $schedulers 'blockstore_placements_total' @{ result = 'placed' }
        }
        $v = New-BlockVolume -Name "$prefix-ok" -SizeGiB 1 -Wait -TimeoutSec 120 -ErrorAction Stop
        $v.Status | Should -Be 'available'
        # The agent counts right after it recorded the outcome that -Wait saw: give it that moment.
        Wait-LabCondition { (Get-MetricSum $agents 'blockstore_operations_total' $created) -ge $before.Ops + 1 } -TimeoutSeconds 10 |
            Should -BeTrue -Because 'the agent counted the create as succeeded'
        Get-MetricSum $agents 'blockstore_operations_total' $created | Should -Be ($before.Ops + 1)
        Get-MetricSum $agents 'blockstore_operation_seconds_count' $created | Should -Be ($before.Total + 1)
        Get-MetricSum $agents 'blockstore_operation_wait_seconds_count' @{ kind = 'create' } | Should -Be ($before.Wait + 1)
        Get-MetricSum $agents 'blockstore_command_duration_seconds_count' @{ program = 'lvcreate' } | Should -BeGreaterThan $before.Lvcreate
        Get-MetricSum $schedulers 'blockstore_placements_total' @{ result = 'placed' } | Should -Be ($before.Placed + 1)
        # The latency of this one create lies within what the histograms were given.
        (Get-MetricSum @($v.Host) 'blockstore_operation_seconds_sum' $created) | Should -BeGreaterThan 0
    }

    It 'a create too large for any host moves the schedulers'' failed placements and capacity rejections, not the agents'' counters' {
        $before = [pscustomobject]@{
            Failed   = Get-MetricSum $schedulers 'blockstore_placements_total' @{ result = 'failed' }
            Capacity = Get-MetricSum $schedulers 'blockstore_placement_rejections_total' @{ reason = 'capacity' }
            AgentOps = Get-MetricSum $agents 'blockstore_operations_total' @{ kind = 'create' }
        }
        # 16384 GiB is the largest size a request takes, and more than a lab node's VG.
        $v = New-BlockVolume -Name "$prefix-toolarge" -SizeGiB 16384 -ErrorAction Stop
        Wait-LabCondition { (Get-BlockVolume -Id $v.Id).Status -eq 'error' } -TimeoutSeconds 60 | Should -BeTrue -Because 'placement fails for capacity'
        (Get-BlockVolume -Id $v.Id).StatusReason | Should -BeLike '*No volume host can take 16384 GiB*'
        Get-MetricSum $schedulers 'blockstore_placements_total' @{ result = 'failed' } | Should -Be ($before.Failed + 1)
        Get-MetricSum $schedulers 'blockstore_placement_rejections_total' @{ reason = 'capacity' } | Should -Be ($before.Capacity + 1)
        Get-MetricSum $agents 'blockstore_operations_total' @{ kind = 'create' } | Should -Be $before.AgentOps -Because 'no agent saw that create'
    }

    Context 'an LVM failure on the agent' {
        BeforeAll {
            # As VolumeLifecycle.Tests.ps1 does it: the agents are stopped while the scheduler places the
            # volume, then an LV that is not ours fills that VG, so the agent's lvcreate fails. The
            # restarted agents count from 0 (a new process), and bind their metrics ports again.
            $script:filler = "$prefix-filler"
            $script:lvm = @{
                Create = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
                Remove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
            }
            foreach ($n in $agents) { Stop-LabAgent -Name $n }
            # A host just stopped still counts as up for the lab's down threshold; renewing its heartbeat
            # makes the placement independent of how long the stop took.
            Invoke-LabSql "update bs.services set heartbeat_at = now() where service = 'volume'" | Out-Null
        }

        AfterAll {
            foreach ($n in $agents) { Start-LabAgent -Name $n | Out-Null }
            foreach ($vg in $lab.volumeGroups) { & $lvm.Remove --config $lab.lvmConfig -f "$vg/$filler" 2>&1 | Out-Null }
            Wait-LabCapacityReported -TimeoutSeconds 60 | Should -BeTrue -Because 'every node reports its VG without the filler'
        }

        It 'moves that agent''s failed creates and lvcreate failures, and its capacity gauge sees the VG full' {
            $v = New-BlockVolume -Name "$prefix-nospace" -SizeGiB 1 -ErrorAction Stop
            Wait-LabCondition { (Get-BlockVolume -Id $v.Id).Host } -TimeoutSeconds 30 | Should -BeTrue -Because 'the scheduler places it'
            $placedOn = (Get-BlockVolume -Id $v.Id).Host
            $vg = ($lab.nodes | Where-Object name -EQ $placedOn).vg
            & $lvm.Create --config $lab.lvmConfig -l '100%FREE' -n $filler -y $vg 2>&1 | Out-Null
            $LASTEXITCODE | Should -Be 0
            foreach ($n in $agents) { Start-LabAgent -Name $n | Out-Null }

            (Wait-BlockVolume -Id $v.Id -TimeoutSec 120).Status | Should -Be 'error'
            Wait-LabCondition { (Get-MetricSum @($placedOn) 'blockstore_operations_total' @{ kind = 'create'; status = 'failed' }) -eq 1 } -TimeoutSeconds 10 |
                Should -BeTrue -Because "$placedOn counted the create as failed"
            Get-MetricSum @($placedOn) 'blockstore_operations_total' @{ kind = 'create'; status = 'succeeded' } | Should -Be 0
            Get-MetricSum @($placedOn) 'blockstore_command_failures_total' @{ program = 'lvcreate'; reason = 'exit' } | Should -BeGreaterOrEqual 1
            Wait-LabCondition { (Get-MetricSum @($placedOn) 'blockstore_capacity_free_gib') -lt 1 } -TimeoutSeconds 20 |
                Should -BeTrue -Because "the filler took $vg's free space and the next capacity report says so"
            (Get-Health $placedOn).Status | Should -Be 200 -Because 'a full VG is still a VG: the host stays healthy'
        }
    }

    It '/healthz answers 200 with the database state, and for agents the volume group and iSCSI state' {
        foreach ($h in $urls.Keys) {
            $health = Get-Health $h
            $health.Status | Should -Be 200 -Because "$h is healthy: $($health.Body | ConvertTo-Json -Compress)"
            $health.Body.status | Should -Be 'healthy'
            $health.Body.host | Should -Be $h
            $health.Body.checks.database.ok | Should -BeTrue
            $health.Body.lastHeartbeatAt | Should -Not -BeNullOrEmpty
            if ($h -in $agents) {
                $health.Body.service | Should -Be 'volume'
                $health.Body.checks.volume_group.ok | Should -BeTrue
                $health.Body.checks.iscsi.PSObject.Properties.Name | Should -Contain 'ok'
                $health.Body.checks.iscsi.required | Should -BeFalse -Because 'a host without LIO still serves volumes'
            }
            else {
                $health.Body.service | Should -Be 'scheduler'
                $health.Body.checks.PSObject.Properties.Name | Should -Not -Contain 'volume_group'
            }
        }
    }

    It 'a path other than /metrics and /healthz is 404' {
        $url = $urls[$agents[0]] -replace 'metrics$', 'other'
        (Invoke-WebRequest -Uri $url -TimeoutSec 15 -SkipHttpErrorCheck).StatusCode | Should -Be 404
    }
}

Describe 'Metrics of the agent in the lab guest, through its port forward' -Skip:(-not $hasGuest) {
    # The guest's agent listens inside qemu (http://*:9464/); the host reaches it through a forwarded
    # port, which the agent reports as its BlockStore:Metrics:AdvertisedUrl.
    BeforeAll {
        $script:g = $lab.guest
        $urls[$g.name] = [string]$g.metricsUrl
    }

    It 'reports the forwarded URL in its service row, not the address it listens on' {
        $service = @(Get-BlockVolumeService -HostName $g.name)
        $service.Count | Should -Be 1
        $service[0].MetricsUrl | Should -Be $g.metricsUrl
    }

    It 'serves Prometheus text with its thin pool''s capacity and its LVM and targetcli timings' {
        $samples = Get-Samples $g.name
        $names = @($samples | ForEach-Object Name | Sort-Object -Unique)
        $names | Should -Contain 'blockstore_heartbeat_age_seconds'
        ($samples | Where-Object Name -EQ 'blockstore_healthy').Value | Should -Be 1
        ($samples | Where-Object Name -EQ 'blockstore_capacity_total_gib').Value | Should -BeGreaterThan 0 -Because "$($g.name) reports its thin pool"
        @($samples | Where-Object { $_.Name -eq 'blockstore_command_duration_seconds_count' } | ForEach-Object { $_.Labels['program'] }) |
            Should -Contain 'targetcli' -Because 'the agent probed LIO at its start'
    }

    It '/healthz says the volume group and LIO are there' {
        $health = Get-Health $g.name
        $health.Status | Should -Be 200 -Because ($health.Body | ConvertTo-Json -Compress)
        $health.Body.host | Should -Be $g.name
        $health.Body.checks.volume_group.ok | Should -BeTrue
        $health.Body.checks.iscsi.ok | Should -BeTrue
    }
}
