# Two schedulers against the lab (scheduler1 and scheduler2, each with its own bs_scheduler login):
# both place work, a disabled, killed or stopped one is covered by the other, and together they
# place no volume twice and overcommit no host. Run by `build.ps1 Test` (Pester 5.7.1).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path (Get-LabRepoRoot) 'out/BlockStore/BlockStore.psd1') -Force
    $lab = Get-LabInfo
    if (-not $env:BLOCKSTORE_CONNECTION) { $env:BLOCKSTORE_CONNECTION = $lab.connectionString }
    $script:prefix = 'sc' + [guid]::NewGuid().ToString('N').Substring(0, 6)
    $script:one, $script:two = @(Get-LabSchedulerNames)[0, 1]

    function New-Burst([string] $Tag, [int] $Count) {
        $v = @(1..$Count | ForEach-Object { New-BlockVolume -Name "$prefix-$Tag-$_" -AvailabilityZone $lab.zone -SizeGiB 1 -Confirm:$false })
        return @($v | Wait-BlockVolume -TimeoutSec 180)
    }

    function Get-PlacedBy([string] $Tag) {
        <# scheduler name -> how many of the burst's volumes it placed (from the 'scheduled' events). #>
        $map = @{}
        foreach ($line in Invoke-LabSql ("select substring(e.message from 'by (\S+) \(') from bs.events e join bs.volumes v on v.id = e.volume_id " +
                "where v.name like '$prefix-$Tag-%' and e.kind = 'scheduled'")) {
            $map[$line] = 1 + $(if ($map.ContainsKey($line)) { $map[$line] } else { 0 })
        }
        return $map
    }
}

AfterAll {
    foreach ($s in Get-LabSchedulerNames) {
        $p = Get-LabHostPid -Name $s
        if ($p) { & kill -CONT $p 2>$null }
    }
    foreach ($s in Get-LabSchedulerNames) {
        if (-not (Test-LabHost -Name $s)) { Start-LabHost -Name $s | Out-Null }
        Enable-BlockVolumeService -HostName $s -Service scheduler -Confirm:$false -ErrorAction SilentlyContinue
    }
    $left = @(Get-BlockVolume -Name "$prefix-*" -ErrorAction SilentlyContinue)
    if ($left.Count -gt 0) { $left | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 180 -ErrorAction Continue }
}

Describe 'Two schedulers' {
    It 'the lab runs two, each with its own login in bs_scheduler, both up' {
        @(Get-LabSchedulerNames) | Should -HaveCount 2
        $roles = @($lab.schedulers | ForEach-Object { ([System.Data.Common.DbConnectionStringBuilder]@{ ConnectionString = $_.connectionString })['Username'] })
        $roles | Select-Object -Unique | Should -HaveCount 2
        foreach ($r in $roles) {
            Invoke-LabSql "select pg_has_role('$r', 'bs_scheduler', 'member')" | Should -Be 't'
        }
        $s = @(Get-BlockVolumeService -Service scheduler | Where-Object Host -In $one, $two)
        $s | Should -HaveCount 2
        $s.State | Should -Be @('up', 'up')
    }

    It 'each places work while the other is disabled' {
        Disable-BlockVolumeService -HostName $one -Service scheduler -Reason 'covered by the other' -Confirm:$false
        $a = New-Burst 'a' 6
        Enable-BlockVolumeService -HostName $one -Service scheduler -Confirm:$false
        Disable-BlockVolumeService -HostName $two -Service scheduler -Reason 'covered by the other' -Confirm:$false
        $b = New-Burst 'b' 6
        Enable-BlockVolumeService -HostName $two -Service scheduler -Confirm:$false

        $a.Status | Select-Object -Unique | Should -Be 'available'
        $b.Status | Select-Object -Unique | Should -Be 'available'
        (Get-PlacedBy 'a')[$two] | Should -Be 6 -Because "$one was disabled"
        (Get-PlacedBy 'b')[$one] | Should -Be 6 -Because "$two was disabled"
    }

    It 'a killed scheduler is covered by the other' {
        $hostPid = Get-LabHostPid -Name $one
        & kill -KILL $hostPid
        Wait-LabCondition { -not (Test-LabPidAlive -ProcessId $hostPid) } -TimeoutSeconds 10 | Should -BeTrue
        try {
            $c = New-Burst 'c' 8
            $c.Status | Select-Object -Unique | Should -Be 'available'
            (Get-PlacedBy 'c')[$two] | Should -Be 8
        }
        finally { Start-LabHost -Name $one | Out-Null }
    }

    It 'together place no volume twice and overcommit no host' {
        # Both enabled and running; a burst larger than one claim batch, so both take part.
        Wait-LabCondition { @(Get-BlockVolumeService -Service scheduler | Where-Object { $_.Host -in $one, $two -and $_.State -eq 'up' }).Count -eq 2 } -TimeoutSeconds 30 |
            Should -BeTrue
        $d = New-Burst 'd' 40
        $d.Status | Select-Object -Unique | Should -Be 'available'
        $placed = Get-PlacedBy 'd'
        Write-Host "placed by: $(($placed.GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join ', ')"
        ($placed.Values | Measure-Object -Sum).Sum | Should -Be 40 -Because 'each volume is placed exactly once'
        Invoke-LabSql ("select count(*) from (select o.volume_id from bs.operations o join bs.volumes v on v.id = o.volume_id " +
            "where v.name like '$prefix-%' and o.kind = 'create' group by o.volume_id having count(*) > 1 or count(distinct o.host) > 1) t") | Should -Be '0'
        # The capacity ledger the two schedulers place against agrees with the volumes, host by host: a
        # placement that skipped the ledger (or counted twice) shows here. (LVM's own VG size is no check:
        # lvcreate can never exceed it, whatever the schedulers did.)
        Invoke-LabSql "select count(*) from bs.capacity_ledger_drift" | Should -Be '0'
        foreach ($node in $lab.nodes) {
            $ledger = Invoke-LabSql "select coalesce((select provisioned_gib from bs.capacity_ledger where host = '$($node.name)'), 0)"
            $held = Invoke-LabSql "select coalesce(sum(size_gib), 0) from bs.volumes where host = '$($node.name)' and status <> 'deleted'"
            [decimal]$ledger | Should -Be ([decimal]$held) -Because "the ledger of $($node.name) must hold what its live volumes hold"
        }
        $lvs = @(foreach ($vg in $lab.volumeGroups) { Invoke-LabLvm lvs @('-o', 'lv_name', $vg) | Where-Object lv_name -Like 'volume-*' | ForEach-Object lv_name })
        foreach ($v in $d) { @($lvs | Where-Object { $_ -eq "volume-$($v.Id)" }) | Should -HaveCount 1 }
    }

    It 'answers each request with one scheduler at once, and with the other after the backup delay when that one has stopped' {
        # Which of the two answers a request at once is Core's FirstResponder (a hash of the
        # operation's id among the schedulers up and enabled, which each reads every 2 s between
        # passes); the other places it if it is still pending Scheduler:BackupDelayMilliseconds
        # later (500 ms in the lab). A stopped scheduler still looks up until its heartbeat is 10 s
        # old, so for those seconds half the requests are its, and the other must step in.
        Add-Type -Path (Join-Path (Get-LabRepoRoot) 'out/BlockStore/BlockStore.Core.dll')
        Wait-LabCondition { @(Get-BlockVolumeService -Service scheduler | Where-Object { $_.Host -in $one, $two -and $_.State -eq 'up' }).Count -eq 2 } -TimeoutSeconds 30 |
            Should -BeTrue
        Start-Sleep -Seconds 7 # both have read the list with both up (the fallback poll wakes each every 5 s)

        # SIGSTOP, but never inside one of its transactions: its locks would hold the other up.
        $hostPid = Get-LabHostPid -Name $one
        $stopped = $false
        for ($i = 0; $i -lt 50 -and -not $stopped; $i++) {
            & kill -STOP $hostPid
            $busy = Invoke-LabSql "select count(*) from pg_stat_activity where (application_name = 'blockstore-scheduler-$one' or application_name like 'blockstore-scheduler-$one-%') and state <> 'idle'"
            if ($busy -eq '0') { $stopped = $true } else { & kill -CONT $hostPid; Start-Sleep -Milliseconds 100 }
        }
        $stopped | Should -BeTrue
        $rows = [System.Collections.Generic.List[object]]::new()
        try {
            # Requests one at a time until two of them were the stopped one's to answer. Its
            # heartbeat is kept fresh by hand, so it looks up all along, as one that has just died
            # does for those 10 s: the test does not race the down threshold on a loaded machine.
            for ($i = 1; $i -le 16 -and @($rows | Where-Object First -EQ $one).Count -lt 2; $i++) {
                Invoke-LabSql "update bs.services set heartbeat_at = now() where host = '$one' and service = 'scheduler'" | Out-Null
                $v = New-BlockVolume -Name "$prefix-e-$i" -AvailabilityZone $lab.zone -SizeGiB 1 -Wait -TimeoutSec 60 -Confirm:$false
                $op = Invoke-LabSql "select id from bs.operations where volume_id = '$($v.Id)' and kind = 'create'"
                $waited = Invoke-LabSql ("select extract(epoch from s.at - r.at) from bs.events r join bs.events s on s.volume_id = r.volume_id and s.kind = 'scheduled' " +
                    "where r.volume_id = '$($v.Id)' and r.kind = 'requested'")
                $rows.Add([pscustomobject]@{
                        Status = $v.Status
                        First  = $(if ([BlockStore.Core.FirstResponder]::IsFirst([string]$op, [string[]]@($one, $two), $one)) { $one } else { $two })
                        Waited = [double]::Parse($waited, [cultureinfo]::InvariantCulture)
                    })
            }
        }
        finally { & kill -CONT $hostPid }

        Write-Host "requests: $(($rows | ForEach-Object { "$($_.First) $([math]::Round($_.Waited, 3)) s" }) -join ', ')"
        $rows.Status | Select-Object -Unique | Should -Be 'available'
        (Get-PlacedBy 'e')[$two] | Should -Be $rows.Count -Because "$one was stopped"
        $theirs = @($rows | Where-Object First -EQ $one)
        $theirs.Count | Should -Be 2 -Because 'a hash of the ids shares the requests between the two'
        # Left to the stopped one for the backup delay, then placed by the other (from the request's
        # start to the placing transaction's start, both the database's clock).
        $theirs | ForEach-Object { $_.Waited | Should -BeGreaterOrEqual 0.45 }
    }
}
