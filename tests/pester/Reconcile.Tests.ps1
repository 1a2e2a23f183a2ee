# The agents' periodic LV reconcile pass (Agent:Reconcile, a Quartz job) against the lab, whose
# agents run it every reconcileIntervalSeconds (10 s) with RemoveOrphans on. LVs are made by hand
# with lvcreate in a node's VG while its agent keeps running: what the agent start pass would find
# must now be found without a restart, and LVs not named volume-<uuid> (or _snapshot-<uuid>, a
# snapshot's LV) are never touched.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'rc'
    $script:lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
    $script:lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
    $script:interval = if ($lab.PSObject.Properties['reconcileIntervalSeconds']) { [int]$lab.reconcileIntervalSeconds } else { 10 }
    # Within the interval, with room for a pass that is slow on a loaded machine.
    $script:within = 2 * $interval + 20
    $script:node = $lab.nodes[0]

    function New-HandLv([string] $Name, [string] $Size = '1g') {
        & $lvcreate --config $lab.lvmConfig -n $Name -L $Size -y $node.vg 2>&1 | Out-Null
        $LASTEXITCODE | Should -Be 0 -Because "lvcreate $Name"
    }
    function Get-NodeLvs { @(Invoke-LabLvm lvs @('-o', 'lv_name,lv_size,lv_uuid', '--units', 'b', '--nosuffix', $node.vg)) }
}

Describe 'The periodic LV reconcile pass' {
    It 'reports within the interval an LV of our naming that no volume has, without an agent restart, and never touches foreign LVs' {
        $agentPid = Get-LabHostPid -Name $node.name
        $unknown = [guid]::NewGuid()
        $foreign = @("$prefix-keep", "volume-$($unknown.ToString().ToUpperInvariant())", "volume-$($unknown.ToString('N'))", "volume-$unknown-x")
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        try {
            New-HandLv "volume-$unknown"
            foreach ($f in $foreign) { New-HandLv $f '512m' }
            $before = @(Get-NodeLvs | Where-Object lv_name -CIn $foreign | Sort-Object lv_name -CaseSensitive | ForEach-Object { "$($_.lv_name) $($_.lv_size) $($_.lv_uuid)" })
            $before | Should -HaveCount $foreign.Count

            # -ErrorAction SilentlyContinue: until the first event, the id names nothing (VolumeNotFound).
            Wait-LabCondition { Get-BlockVolumeEvent -VolumeId $unknown -ErrorAction SilentlyContinue | Where-Object Kind -EQ 'reconcile-mismatch' } -TimeoutSeconds $within |
                Should -BeTrue -Because "the pass runs every $interval s"
            $event = @(Get-BlockVolumeEvent -VolumeId $unknown | Where-Object Kind -EQ 'reconcile-mismatch')
            $event | Should -HaveCount 1
            $event[0].Host | Should -Be $node.name
            $event[0].Message | Should -Match "LV $([regex]::Escape("$($node.vg)/volume-$unknown")) has no volume row.*left in place"
            Write-Host "    reported after $([math]::Round($clock.Elapsed.TotalSeconds, 1)) s (interval $interval s)"

            # Two more passes: reported once, the LV without a row is never removed (the database may be
            # the one that is wrong), and the foreign LVs are as they were (name, size, LVM uuid).
            # The passes are seen in the agent's log: one that finds nothing new logs at Debug, so the
            # agent logs at Debug until then (a live change, no restart).
            $log = Join-Path $lab.stateDir "logs/$($node.name).log"
            $mark = @(Get-Content -LiteralPath $log).Count
            $level = (Get-BlockVolumeServiceLogLevel -HostName $node.name -Service volume).Level
            Set-BlockVolumeServiceLogLevel -HostName $node.name -Service volume -Level Debug
            try {
                Wait-LabCondition -TimeoutSeconds (2 * $within) -IntervalMilliseconds 500 -Condition {
                    @(Get-Content -LiteralPath $log | Select-Object -Skip $mark | Where-Object { $_ -match 'Periodic reconcile: .*, 0 new mismatch' }).Count -ge 2
                } | Should -BeTrue -Because "the pass runs every $interval s (log $log)"
            }
            finally { Set-BlockVolumeServiceLogLevel -HostName $node.name -Service volume -Level $level }
            @(Get-BlockVolumeEvent -VolumeId $unknown | Where-Object Kind -EQ 'reconcile-mismatch') | Should -HaveCount 1
            @(Get-NodeLvs).lv_name | Should -Contain "volume-$unknown"
            @(Get-NodeLvs | Where-Object lv_name -CIn $foreign | Sort-Object lv_name -CaseSensitive | ForEach-Object { "$($_.lv_name) $($_.lv_size) $($_.lv_uuid)" }) |
                Should -Be $before
            Get-LabHostPid -Name $node.name | Should -Be $agentPid -Because 'the periodic pass found it, not a start pass'
        }
        finally {
            foreach ($lv in @("volume-$unknown") + $foreign) { & $lvremove --config $lab.lvmConfig -f "$($node.vg)/$lv" 2>&1 | Out-Null }
        }
    }

    It 'removes within the interval the LV of a deleted volume that reappeared (the lab sets RemoveOrphans), with an event' {
        $agentPid = Get-LabHostPid -Name $node.name
        # A volume on this node: the other nodes are frozen while it is placed.
        $others = (@($lab.nodeNames | Where-Object { $_ -ne $node.name }) | ForEach-Object { "'$_'" }) -join ','
        if ($others) { Invoke-LabSql "update bs.services set frozen = true where service = 'volume' and host in ($others)" | Out-Null }
        try { $v = New-BlockVolume -Name "$prefix-orphan" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 60 }
        finally { if ($others) { Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and host in ($others)" | Out-Null } }
        $v.Host | Should -Be $node.name
        (Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -PassThru -TimeoutSec 60).Status | Should -Be 'deleted'
        try {
            New-HandLv "volume-$($v.Id)"
            # The pass removes the LV first and writes its event after: wait for both (under load the
            # gap between them can outlast a look at lvs).
            Wait-LabCondition { -not (@(Get-NodeLvs).lv_name -contains "volume-$($v.Id)") -and
                @(Get-BlockVolumeEvent -VolumeId $v.Id | Where-Object Kind -EQ 'orphan-removed').Count -gt 0 } -TimeoutSeconds $within |
                Should -BeTrue -Because 'the orphan of a deleted volume is removed by the next pass, with an event'
            (Get-BlockVolumeEvent -VolumeId $v.Id | Where-Object Kind -EQ 'orphan-removed').Message |
                Should -Match 'its volume is deleted; removed by the reconcile pass'
            Get-LabHostPid -Name $node.name | Should -Be $agentPid
        }
        finally { & $lvremove --config $lab.lvmConfig -f "$($node.vg)/volume-$($v.Id)" 2>&1 | Out-Null }
    }

    It 'knows snapshot LVs: one no snapshot row explains is reported and left; the LV of a deleted snapshot is removed, with an event on its volume' {
        $agentPid = Get-LabHostPid -Name $node.name
        $others = (@($lab.nodeNames | Where-Object { $_ -ne $node.name }) | ForEach-Object { "'$_'" }) -join ','
        if ($others) { Invoke-LabSql "update bs.services set frozen = true where service = 'volume' and host in ($others)" | Out-Null }
        try { $v = New-BlockVolume -Name "$prefix-snaporphan" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 60 }
        finally { if ($others) { Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and host in ($others)" | Out-Null } }
        $v.Host | Should -Be $node.name
        # These hosts cannot snapshot (no device-mapper): the deleted snapshot's row is written as the
        # agent leaves it after a removal, and its LV made by hand with the snapshot naming (a plain LV).
        $gone = [guid]::NewGuid()
        Invoke-LabSql ("insert into bs.snapshots (id, volume_id, name, size_gib, status, host, backend_type, deleted_at) " +
            "values ('$gone', '$($v.Id)', 'gone', 1, 'deleted', '$($node.name)', 'thick', now())") | Out-Null
        $unknown = [guid]::NewGuid()
        try {
            New-HandLv "_snapshot-$gone" '512m'
            New-HandLv "_snapshot-$unknown" '512m'
            Wait-LabCondition { -not (@(Get-NodeLvs).lv_name -contains "_snapshot-$gone") -and
                @(Get-BlockVolumeEvent -VolumeId $v.Id | Where-Object Kind -EQ 'orphan-removed').Count -gt 0 } -TimeoutSeconds $within |
                Should -BeTrue -Because 'the LV of a deleted snapshot is removed by the next pass (the lab sets RemoveOrphans), with an event'
            (Get-BlockVolumeEvent -VolumeId $v.Id | Where-Object Kind -EQ 'orphan-removed').Message |
                Should -Match "orphan snapshot LV $([regex]::Escape("$($node.vg)/_snapshot-$gone")): its snapshot is deleted; removed by the reconcile pass"
            Wait-LabCondition { Get-BlockVolumeEvent -VolumeId $unknown -ErrorAction SilentlyContinue | Where-Object Kind -EQ 'reconcile-mismatch' } -TimeoutSeconds $within |
                Should -BeTrue
            (Get-BlockVolumeEvent -VolumeId $unknown | Where-Object Kind -EQ 'reconcile-mismatch').Message |
                Should -Match "snapshot LV $([regex]::Escape("$($node.vg)/_snapshot-$unknown")) has no snapshot row.*left in place"
            @(Get-NodeLvs).lv_name | Should -Contain "_snapshot-$unknown"
            @(Get-NodeLvs).lv_name | Should -Contain "volume-$($v.Id)"
            Get-LabHostPid -Name $node.name | Should -Be $agentPid
        }
        finally {
            foreach ($lv in "_snapshot-$gone", "_snapshot-$unknown") { & $lvremove --config $lab.lvmConfig -f "$($node.vg)/$lv" 2>&1 | Out-Null }
            Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 60 -ErrorAction Continue | Out-Null
        }
    }
}
