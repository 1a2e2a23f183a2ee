# `build.ps1 Chaos [-Rounds N] [-Ha]`: a bounded stream of volume creates and deletes against the
# running lab while faults are injected at random - SIGKILL of agents and schedulers, a crash of
# PostgreSQL (pg_ctl stop -m immediate, then start) and, on a Patroni lab (-Ha), failovers (SIGKILL
# of the primary's postmaster, and patronictl switchover). Afterwards every host is brought back,
# everything is left to settle, and the invariants are checked against the database AND LVM:
#   - every accepted request has its row and reached its final state (none lost);
#   - no volume or operation is stuck in flight (past its lease: the settle wait is longer);
#   - lvs agrees with the database both ways (no orphan LV, no live volume without its LV);
#   - no LV made twice (an LV in two VGs, a create or delete that succeeded twice).
# Prints a table of the faults injected and the invariants, and returns whether all held.
# With the lab's storage-host guest, volumes are also attached and detached through LIO and the
# guest's agent is killed too, and snapshots are taken and removed in the guest's thin pool
# (ChaosGuest.ps1; the host's loop VGs cannot hold snapshots without device-mapper).

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false
Import-Module (Join-Path $PSScriptRoot 'Lab.psm1') -DisableNameChecking
Import-Module (Join-Path $PSScriptRoot 'LabTasks.psm1') -DisableNameChecking
Import-Module (Join-Path $PSScriptRoot 'guest/LabGuest.psm1') -DisableNameChecking
. (Join-Path $PSScriptRoot 'ChaosGuest.ps1')

# Rounds of the short chaos stream `build.ps1 Test` runs in each mode.
$script:TestChaosRounds = 6
# Names of the switchover probe's creates.
$script:ChaosProbe = 0

function Get-ChaosVolumeLvs([object] $Lab) {
    <# Every volume-* LV of the lab's VGs: @{ Vg; Id; SizeGiB }. #>
    foreach ($vg in $Lab.volumeGroups) {
        Invoke-LabLvm lvs @('-o', 'lv_name,vg_name,lv_size', '--units', 'g', '--nosuffix', $vg) -Lab $Lab |
            Where-Object lv_name -Like 'volume-*' |
            ForEach-Object { [pscustomobject]@{ Vg = $_.vg_name; Id = $_.lv_name.Substring(7); SizeGiB = [double]$_.lv_size } }
    }
}

function Invoke-ChaosSql([object] $Lab, [string] $Sql, [int] $TimeoutSeconds = 120) {
    <# Invoke-LabSql, retried while the database is away (the faults make it so for a few seconds). #>
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        try { return @(Invoke-LabSql -Lab $Lab $Sql) }
        catch {
            if ([DateTime]::UtcNow -gt $deadline) { throw }
            Start-Sleep -Milliseconds 500
        }
    }
}

function Test-ChaosUnavailable([System.Management.Automation.ErrorRecord] $ErrorRecord) {
    # Refused and nothing written: no database primary, or (all schedulers killed) no scheduler up.
    return ($ErrorRecord.FullyQualifiedErrorId -like 'StoreUnavailable,*' -or $ErrorRecord.FullyQualifiedErrorId -like 'SchedulerUnavailable,*')
}

function Get-ChaosMedian([System.Collections.Generic.List[double]] $Values) {
    if (-not $Values -or $Values.Count -eq 0) { return $null }
    $sorted = @($Values | Sort-Object)
    if ($sorted.Count % 2) { return $sorted[[int][Math]::Floor($sorted.Count / 2)] }
    return ($sorted[$sorted.Count / 2 - 1] + $sorted[$sorted.Count / 2]) / 2
}

function Invoke-ChaosFailoverProbe {
    <#
    Right after a Patroni fault: a create every 250 ms (each an accepted request like any other, later
    deleted by the stream) until the window in which creates are refused has closed and, for a
    switchover (-Switchover, running in the background), patronictl has ended; after a kill with no
    refusal for 10 s the probe stops. Returns @{ WindowMs (last create accepted before the refusals
    to the first one after them); RecoveredMs (fault to that first create) } or $null when no create
    was refused. Creates that commit in the instant of a kill still reach the dying primary's
    surviving backends (their commit is acknowledged by the synchronous standby), so "first create
    after the fault" alone would time nothing.
    #>
    param([Parameter(Mandatory)][System.Diagnostics.Stopwatch] $Clock, [object] $Switchover, [Parameter(Mandatory)][string] $Run,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[object]] $Accepted,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[guid]] $Live,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[string]] $OtherErrors)
    $lastOk = 0.0; $refusedSince = $null; $result = $null
    while ($Clock.Elapsed.TotalSeconds -lt 240) {
        $ended = if ($Switchover) { $Switchover.Process.HasExited } else { $null -ne $result -or $Clock.Elapsed.TotalSeconds -ge 10 }
        if ($ended -and $null -eq $refusedSince) { break }
        $script:ChaosProbe++
        $name = "$Run-s$($script:ChaosProbe)"
        try {
            $v = New-BlockVolume -Name $name -SizeGiB 1 -Confirm:$false -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $v.Id; Kind = 'create'; Expect = 'available'; Name = $name })
            $Live.Add($v.Id)
            $now = $Clock.Elapsed.TotalMilliseconds
            if ($null -ne $refusedSince) {
                if ($null -eq $result -or $now - $lastOk -gt $result.WindowMs) { $result = [pscustomobject]@{ WindowMs = $now - $lastOk; RecoveredMs = $now } }
                $refusedSince = $null
            }
            $lastOk = $now
        }
        catch {
            if (-not (Test-ChaosUnavailable $_)) { $OtherErrors.Add("create $name (failover probe): $($_.FullyQualifiedErrorId): $($_.Exception.Message)"); if ($ended) { break } }
            else {
                $script:ChaosProbeRefused++
                if ($null -eq $refusedSince) { $refusedSince = $Clock.Elapsed.TotalMilliseconds }
            }
        }
        Start-Sleep -Milliseconds 250
    }
    return $result
}

function Invoke-LabChaos {
    <#
    Runs the chaos stream against the running lab and checks the invariants. Returns a result
    object (Faults, Invariants, Passed, FailoverToCreateMs, ...). -Seed makes a run repeatable.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Lab,
        [int] $Rounds = 10,
        [int] $Seed = (Get-Random -Maximum 1000000),
        [int] $SettleSeconds = 240
    )
    $guest = New-ChaosGuestState $Lab
    # An attach or a guest agent's restart takes a minute or more at TCG speed.
    if ($guest -and -not $PSBoundParameters.ContainsKey('SettleSeconds')) { $SettleSeconds = 600 }
    $ha = [bool]$Lab.PSObject.Properties['ha']
    $rng = [System.Random]::new($Seed)
    $run = 'chaos' + [guid]::NewGuid().ToString('N').Substring(0, 6)
    $schedulers = @(Get-LabSchedulerNames -Lab $Lab)
    $agents = @($Lab.nodeNames)
    Write-Host "==> chaos $run`: $Rounds round(s), seed $Seed, $(if ($ha) { 'Patroni (primary + synchronous standby)' } else { 'single PostgreSQL' }); schedulers $($schedulers -join ', '); agents $($agents -join ', ')$(if ($guest) { "; iSCSI guest $($guest.Guest.name)" })" -ForegroundColor Cyan

    $faults = [ordered]@{ 'SIGKILL agent' = 0; 'SIGKILL scheduler' = 0 }
    if ($ha) { $faults['SIGKILL primary postmaster (failover)'] = 0; $faults['patronictl switchover'] = 0 }
    else { $faults['PostgreSQL crash (pg_ctl stop -m immediate)'] = 0 }
    if ($guest) { $faults['SIGKILL guest agent'] = 0 }
    $accepted = [System.Collections.Generic.List[object]]::new()   # @{ Id; Kind; Expect }
    $refused = 0; $script:ChaosProbeRefused = 0; $otherErrors = [System.Collections.Generic.List[string]]::new()
    $live = [System.Collections.Generic.List[guid]]::new()        # created by this run, not yet asked to delete
    $dead = @{}                                                   # host name -> round to restart it
    $failoverMs = [System.Collections.Generic.List[double]]::new()        # SIGKILL of the primary / PostgreSQL crash -> first accepted create
    $switchoverGapMs = [System.Collections.Generic.List[double]]::new()   # longest window a switchover refused creates
    $dbFaultRounds = @()
    # One database fault every few rounds, at least one per run; host kills in most other rounds.
    $every = [Math]::Max(2, [Math]::Min(6, $Rounds))
    for ($r = 1; $r -le $Rounds; $r++) { if ($r % $every -eq [Math]::Min(2, $every - 1) -or ($Rounds -lt 2 -and $r -eq 1)) { $dbFaultRounds += $r } }
    $n = 0
    $clock = [System.Diagnostics.Stopwatch]::StartNew()

    for ($round = 1; $round -le $Rounds; $round++) {
        $failoverStart = $null
        $switchover = $null
        # --- bring back the hosts whose downtime is over ---------------------------------------
        foreach ($h in @($dead.Keys)) {
            if ($dead[$h] -le $round) {
                try { Start-LabHost -Name $h -Lab $Lab -NoWait | Out-Null; $dead.Remove($h) } catch { Write-Host "  restart of $h failed (retried next round): $_" }
            }
        }
        if ($guest -and $guest.Dead -and $guest.Dead -le $round) { Invoke-ChaosGuestAgent $guest start; $guest.Dead = $null }

        # --- requests: two creates and one delete of an earlier volume ----------------------------
        $dbFault = $round -in $dbFaultRounds
        $requests = @('create', 'create')
        if ($live.Count -gt 0) { $requests += 'delete' }
        # The fault lands between two requests; a database fault comes first, so the creates after it
        # measure how long the store takes to accept again.
        $faultAt = if ($dbFault) { 0 } else { $rng.Next(0, $requests.Count + 1) }
        for ($i = 0; $i -le $requests.Count; $i++) {
            if ($i -eq $faultAt) {
                # --- the fault of this round -------------------------------------------------------
                if ($dbFault) {
                    $failoverStart = [System.Diagnostics.Stopwatch]::StartNew()
                    if ($ha) {
                        $kill = $rng.Next(0, 2) -eq 0
                        if ($kill) {
                            $m = Invoke-LabPatroniKillPrimary -Lab $Lab
                            $faults['SIGKILL primary postmaster (failover)']++
                            Write-Host "  round $round`: SIGKILL postmaster of primary $($m.name)"
                        }
                        else {
                            # In the background: the probe's creates go on meanwhile, as users' would.
                            $switchover = Invoke-LabPatroniSwitchover -Lab $Lab -NoWait
                            $faults['patronictl switchover']++
                            Write-Host "  round $round`: switchover to $($switchover.Candidate)"
                        }
                        $p = Invoke-ChaosFailoverProbe -Clock $failoverStart -Switchover $switchover -Run $run -Accepted $accepted -Live $live -OtherErrors $otherErrors
                        $failoverStart = $null
                        $what = if ($kill) { 'the kill' } else { 'the switchover' }
                        if ($p) {
                            if ($kill) { $failoverMs.Add($p.RecoveredMs) } else { $switchoverGapMs.Add($p.WindowMs) }
                            Write-Host ("  round $round`: creates refused for {0:0} ms; the first accepted after {1:0} ms after the start of $what" -f $p.WindowMs, $p.RecoveredMs)
                        }
                        else { Write-Host "  round $round`: no create refused after $what" }
                    }
                    else {
                        Invoke-LabPgCtl -Lab $Lab -Arguments @('-m', 'immediate', 'stop')
                        $faults['PostgreSQL crash (pg_ctl stop -m immediate)']++
                        Write-Host "  round $round`: PostgreSQL crashed (pg_ctl stop -m immediate)"
                        Start-Sleep -Milliseconds ($rng.Next(500, 3000))
                        Invoke-LabPgCtl -Lab $Lab -Arguments @('-w', '-t', '60', 'start')
                    }
                }
                else {
                    $pool = @($agents + $schedulers | Where-Object { -not $dead.ContainsKey($_) })
                    # Keep one scheduler alive at any time only when there are two: that is what the
                    # second one is for; with one, its death is covered by its restart.
                    if (@($schedulers | Where-Object { $dead.ContainsKey($_) }).Count -ge $schedulers.Count - 1 -and $schedulers.Count -gt 1) {
                        $pool = @($pool | Where-Object { $_ -notin $schedulers })
                    }
                    # Likewise one agent at a time, and only while every other one heartbeats: with all
                    # of them down a request ends in error ("no volume host can take it"), by design.
                    $fresh = @(Invoke-ChaosSql $Lab "select host from bs.services where service = 'volume' and heartbeat_at > now() - interval '4 seconds'")
                    $pool = @($pool | Where-Object {
                            $candidate = $_
                            $candidate -in $schedulers -or @($agents | Where-Object { $_ -ne $candidate -and ($dead.ContainsKey($_) -or $_ -notin $fresh) }).Count -eq 0
                        })
                    if (Test-ChaosGuestKillDue $guest $round $rng) {
                        Invoke-ChaosGuestAgent $guest kill
                        $guest.LastKill = $round
                        $faults['SIGKILL guest agent']++
                        $guest.Dead = $round + 1 + $rng.Next(0, 2)
                        Write-Host "  round $round`: SIGKILL the agent in guest $($guest.Guest.name), back in round $($guest.Dead)"
                    }
                    elseif ($pool.Count -gt 0) {
                        $victim = $pool[$rng.Next(0, $pool.Count)]
                        $hostPid = Get-LabHostPid -Name $victim -Lab $Lab
                        if ($hostPid) { & kill -KILL $hostPid 2>$null }
                        $kind = if ($victim -in $schedulers) { 'SIGKILL scheduler' } else { 'SIGKILL agent' }
                        $faults[$kind]++
                        $dead[$victim] = $round + 1 + $rng.Next(0, 2)
                        Write-Host "  round $round`: SIGKILL $victim (pid $hostPid), back in round $($dead[$victim])"
                    }
                }
            }
            if ($i -eq $requests.Count) { break }

            # --- one request -------------------------------------------------------------------
            if ($requests[$i] -eq 'create') {
                $n++
                $name = "$run-$n"
                # After a database fault: keep asking until the store takes it, and time it.
                $deadline = [DateTime]::UtcNow.AddSeconds(120)
                while ($true) {
                    try {
                        $v = New-BlockVolume -Name $name -SizeGiB (1 + $rng.Next(0, 2)) -Confirm:$false -ErrorAction Stop
                        $accepted.Add([pscustomobject]@{ Id = $v.Id; Kind = 'create'; Expect = 'available'; Name = $name })
                        $live.Add($v.Id)
                        if ($failoverStart) {
                            $failoverMs.Add($failoverStart.Elapsed.TotalMilliseconds)
                            Write-Host ("  round $round`: first create accepted {0:0} ms after the database fault" -f $failoverStart.Elapsed.TotalMilliseconds)
                            $failoverStart = $null
                        }
                        break
                    }
                    catch {
                        if (Test-ChaosUnavailable $_) {
                            $refused++
                            if (-not $failoverStart -or [DateTime]::UtcNow -gt $deadline) { break }
                            Start-Sleep -Milliseconds 100
                            continue
                        }
                        if ($_.FullyQualifiedErrorId -like 'VolumeNameInUse,*') {
                            # The first attempt committed but its answer was lost with the server:
                            # the row is there (it is checked below like any accepted request).
                            $id = @(Invoke-ChaosSql $Lab "select id from bs.volumes where name = '$name' and status <> 'deleted'")[0]
                            if ($id) { $accepted.Add([pscustomobject]@{ Id = [guid]$id; Kind = 'create'; Expect = 'available'; Name = $name }); $live.Add([guid]$id) }
                            break
                        }
                        $otherErrors.Add("create $name`: $($_.FullyQualifiedErrorId): $($_.Exception.Message)")
                        break
                    }
                }
            }
            else {
                $k = $rng.Next(0, $live.Count)
                $id = $live[$k]
                try {
                    # -Cascade: a guest volume the stream snapshotted goes with its snapshots.
                    Remove-BlockVolume -Id $id -Cascade -Confirm:$false -ErrorAction Stop
                    $accepted.Add([pscustomobject]@{ Id = $id; Kind = 'delete'; Expect = 'deleted'; Name = '' })
                    $live.RemoveAt($k)
                }
                catch {
                    if (Test-ChaosUnavailable $_) { $refused++ }
                    # A volume still creating, or with a snapshot still being made, cannot be deleted
                    # yet (InvalidVolumeState, InvalidSnapshotState): ask again later.
                    elseif ($_.FullyQualifiedErrorId -notlike 'InvalidVolumeState,*' -and $_.FullyQualifiedErrorId -notlike 'InvalidSnapshotState,*') { $otherErrors.Add("delete $id`: $($_.FullyQualifiedErrorId): $($_.Exception.Message)") }
                }
            }
        }
        if ($guest) {
            Invoke-ChaosGuestRequest -State $guest -Round $round -Run $run -Rng $rng -Accepted $accepted -Live $live -OtherErrors $otherErrors
        }
        if ($switchover) {
            if (-not $switchover.Process.WaitForExit(150000)) { $switchover.Process.Kill($true) }
            if ($switchover.Process.ExitCode -ne 0) { $otherErrors.Add("patronictl switchover exited $($switchover.Process.ExitCode): $($switchover.Process.StandardError.ReadToEnd())") }
            $switchover = $null
        }
        if ($dbFault -and $ha) {
            # The next failover needs a synchronous standby again (the old primary rejoins).
            Wait-LabPatroniHealthy -Lab $Lab -TimeoutSeconds 180 | Out-Null
        }
        Start-Sleep -Milliseconds ($rng.Next(200, 1200))
    }
    $streamSeconds = $clock.Elapsed.TotalSeconds
    $refused += $script:ChaosProbeRefused

    # --- settle: every host back, every request to its end ----------------------------------------
    Write-Host "==> stream done in $([int]$streamSeconds) s: $($accepted.Count) request(s) accepted, $refused refused while no primary/server answered; letting everything settle" -ForegroundColor Cyan
    foreach ($h in @($dead.Keys)) { Start-LabHost -Name $h -Lab $Lab -NoWait | Out-Null }
    foreach ($h in @($agents + $schedulers)) { if (-not (Test-LabHost -Name $h -Lab $Lab)) { Start-LabHost -Name $h -Lab $Lab -NoWait | Out-Null } }
    if ($guest) {
        Invoke-ChaosGuestAgent $guest start; $guest.Dead = $null
        $faults['SIGKILL guest agent'] += Invoke-ChaosGuestTail -State $guest -Rng $rng -Accepted $accepted -Live $live -OtherErrors $otherErrors
    }
    $ids = @($accepted | ForEach-Object { "'$($_.Id)'" } | Select-Object -Unique)
    $idList = if ($ids.Count) { $ids -join ',' } else { "'00000000-0000-0000-0000-000000000000'" }
    $settleClock = [System.Diagnostics.Stopwatch]::StartNew()
    $settled = $false
    $busySql = "select (select count(*) from bs.volumes where name like '$run-%' and status in ('creating', 'deleting', 'attaching', 'detaching')) + " +
        "(select count(*) from bs.attachments a join bs.volumes v on v.id = a.volume_id where v.name like '$run-%' and a.status in ('attaching', 'detaching')) + " +
        "(select count(*) from bs.snapshots s join bs.volumes v on v.id = s.volume_id where v.name like '$run-%' and s.status in ('creating', 'deleting')) + " +
        "(select count(*) from bs.operations o join bs.volumes v on v.id = o.volume_id where v.name like '$run-%' and o.stage in ('pending', 'scheduled', 'running'))"
    while ($settleClock.Elapsed.TotalSeconds -lt $SettleSeconds) {
        $busy = @(Invoke-ChaosSql $Lab $busySql)
        if ($busy.Count -ge 1 -and "$($busy[0])".Trim() -eq '0') { $settled = $true; break }
        Start-Sleep -Seconds 1
    }
    Write-Host ("settled in {0:0} s" -f $settleClock.Elapsed.TotalSeconds)
    # The agents' reconcile pass (every few seconds in the lab) removes orphan LVs of deleted
    # volumes that a kill left behind; give it one interval after the settle.
    Start-Sleep -Seconds ([int]$Lab.reconcileIntervalSeconds + 2)

    # --- invariants ------------------------------------------------------------------------------
    $rows = @{}
    foreach ($line in Invoke-ChaosSql $Lab "select id || '|' || status || '|' || coalesce(host, '') || '|' || size_gib || '|' || coalesce(status_reason, '') from bs.volumes where name like '$run-%'") {
        $f = $line -split '\|', 5
        $rows[$f[0]] = [pscustomobject]@{ Status = $f[1]; Host = $f[2]; Size = [int]$f[3]; Reason = $f[4] }
    }
    $details = [System.Collections.Generic.List[string]]::new()
    $lost = 0; $notFinal = 0; $failed = 0
    foreach ($a in @($accepted | Where-Object Kind -In 'create', 'delete')) {
        $row = $rows["$($a.Id)"]
        if (-not $row) { $lost++; $details.Add("lost: $($a.Kind) of $($a.Id) has no row"); continue }
        if ($row.Status -in 'creating', 'deleting', 'attaching', 'detaching') { $notFinal++; $details.Add("stuck: $($a.Id) is $($row.Status)"); continue }
        if ($a.Kind -eq 'create' -and $row.Status -notin 'available', 'in-use', 'deleted', 'error') { $failed++; $details.Add("create $($a.Id) ended $($row.Status): $($row.Reason)") }
        if ($a.Kind -eq 'create' -and $row.Status -eq 'error') { $failed++; $details.Add("create $($a.Id) ended in error: $($row.Reason)") }
        if ($a.Kind -eq 'delete' -and $row.Status -ne 'deleted') { $failed++; $details.Add("delete $($a.Id) ended $($row.Status): $($row.Reason)") }
    }
    $stuck = @(Invoke-ChaosSql $Lab ("select o.id || ' ' || o.kind || ' ' || o.stage || ' on ' || coalesce(o.host, '-') from bs.operations o join bs.volumes v on v.id = o.volume_id " +
            "where v.name like '$run-%' and o.stage in ('pending', 'scheduled', 'running')") | Where-Object { $_ })
    foreach ($s in $stuck) { $details.Add("operation in flight after the settle: $s") }

    $vgOf = @{}; foreach ($node in $Lab.nodes) { $vgOf[$node.name] = $node.vg }
    $allRows = @{}
    foreach ($line in Invoke-ChaosSql $Lab "select id || '|' || status || '|' || coalesce(host, '') || '|' || size_gib from bs.volumes") {
        $f = $line -split '\|'
        $allRows[$f[0]] = [pscustomobject]@{ Status = $f[1]; Host = $f[2]; Size = [int]$f[3] }
    }
    $lvs = @(Get-ChaosVolumeLvs $Lab)
    $disagree = 0; $lvById = @{}
    foreach ($lv in $lvs) {
        if (-not $lvById.ContainsKey($lv.Id)) { $lvById[$lv.Id] = [System.Collections.Generic.List[object]]::new() }
        $lvById[$lv.Id].Add($lv)
        $row = $allRows[$lv.Id]
        if (-not $row) { $disagree++; $details.Add("LV $($lv.Vg)/volume-$($lv.Id) has no volume row") }
        elseif ($row.Status -eq 'deleted') { $disagree++; $details.Add("LV $($lv.Vg)/volume-$($lv.Id): its volume is deleted") }
        elseif ($vgOf[$row.Host] -ne $lv.Vg) { $disagree++; $details.Add("LV $($lv.Vg)/volume-$($lv.Id): its volume is on '$($row.Host)'") }
        elseif ($lv.SizeGiB -ne $row.Size) { $disagree++; $details.Add("LV $($lv.Vg)/volume-$($lv.Id) is $($lv.SizeGiB) GiB, the volume $($row.Size) GiB") }
    }
    foreach ($id in $allRows.Keys) {
        $row = $allRows[$id]
        if ($row.Status -notin 'available', 'deleting', 'error_deleting') { continue }
        if (-not $vgOf.ContainsKey($row.Host)) { continue }   # the iSCSI guest's volumes are checked in the guest
        if (-not $lvById.ContainsKey($id)) { $disagree++; $details.Add("volume $id is $($row.Status) on $($row.Host) without its LV") }
    }
    $lio = $null
    if ($guest) {
        $gf = Get-ChaosGuestFindings -State $guest -Lab $Lab -Accepted $accepted
        $lost += $gf.Lost; $notFinal += $gf.Stuck; $failed += $gf.Failed
        foreach ($d in $gf.Details) { $details.Add($d) }
        $lio = [pscustomobject]@{ Invariant = 'LIO, guest lvs agree with the database'; Value = "$($gf.Disagree) disagreement(s), $($gf.Targets) target(s), $($gf.Lvs) volume LV(s), $($gf.SnapshotLvs) snapshot LV(s)"; Held = ($gf.Disagree -eq 0) }
        $disagree += $gf.Disagree
    }
    $duplicated = @($lvById.Keys | Where-Object { $lvById[$_].Count -gt 1 }).Count
    foreach ($id in @($lvById.Keys | Where-Object { $lvById[$_].Count -gt 1 })) { $details.Add("LV volume-$id exists in $(@($lvById[$id].Vg) -join ' and ')") }
    # Per volume, and per snapshot for the snapshot operations (a volume may have several).
    $twice = @(Invoke-ChaosSql $Lab ("select o.volume_id || ' ' || o.kind || coalesce(' of snapshot ' || o.snapshot_id, '') from bs.operations o join bs.volumes v on v.id = o.volume_id " +
            "where v.name like '$run-%' and o.stage = 'succeeded' group by o.volume_id, o.kind, o.snapshot_id having count(*) > 1") | Where-Object { $_ })
    $twice += @(Invoke-ChaosSql $Lab ("select e.volume_id || ' ' || e.kind || ' ' || count(*) from bs.events e join bs.volumes v on v.id = e.volume_id where v.name like '$run-%' and e.kind in ('snapshot-available', 'snapshot-deleted') " +
            "group by e.volume_id, e.kind having count(*) > (select count(*) from bs.snapshots s where s.volume_id = e.volume_id)") | Where-Object { $_ })
    $twice += @(Invoke-ChaosSql $Lab ("select e.volume_id || ' ' || e.kind from bs.events e join bs.volumes v on v.id = e.volume_id where v.name like '$run-%' and e.kind in ('available', 'deleted') " +
            "group by e.volume_id, e.kind having count(*) > 1") | Where-Object { $_ })
    foreach ($t in $twice) { $details.Add("done twice: $t") }
    $duplicated += $twice.Count
    $placedTwice = @(Invoke-ChaosSql $Lab ("select o.volume_id from bs.operations o join bs.volumes v on v.id = o.volume_id where v.name like '$run-%' and o.kind = 'create' " +
            "group by o.volume_id having count(distinct o.host) > 1") | Where-Object { $_ })
    foreach ($p in $placedTwice) { $details.Add("placed on two hosts: $p") }
    $duplicated += $placedTwice.Count

    $invariants = @(@(
        [pscustomobject]@{ Invariant = 'accepted requests with a row (0 lost)'; Value = "$($accepted.Count - $lost)/$($accepted.Count)"; Held = ($lost -eq 0) }
        [pscustomobject]@{ Invariant = 'requests in a final state (0 stuck)'; Value = "$notFinal stuck, $($stuck.Count) operation(s) in flight"; Held = ($notFinal -eq 0 -and $stuck.Count -eq 0 -and $settled) }
        # Informational: an 'error' is a final state with its reason (e.g. no host could take it).
        [pscustomobject]@{ Invariant = 'final state is the one asked for (info)'; Value = "$failed other"; Held = $true }
        [pscustomobject]@{ Invariant = 'lvs agrees with the database (both ways)'; Value = "$disagree disagreement(s), $($lvs.Count) LV(s)"; Held = ($disagree -eq 0) }
        [pscustomobject]@{ Invariant = 'no LV made twice, no volume placed twice'; Value = "$duplicated duplicated"; Held = ($duplicated -eq 0) }
        $lio
        [pscustomobject]@{ Invariant = 'no unexpected cmdlet error'; Value = "$($otherErrors.Count) error(s)"; Held = ($otherErrors.Count -eq 0) }
    ) | Where-Object { $_ })
    foreach ($e in $otherErrors) { $details.Add("cmdlet error: $e") }

    Write-Host ''
    Write-Host "Faults injected ($run, seed $Seed, $Rounds rounds, $([int]$streamSeconds) s):"
    ($faults.GetEnumerator() | ForEach-Object { [pscustomobject]@{ Fault = $_.Key; Count = $_.Value } } | Format-Table -AutoSize | Out-String).TrimEnd() | Write-Host
    Write-Host ''
    $byKind = ((@('create', 'delete', 'attach', 'detach', 'snapshot', 'snapshot-delete') | ForEach-Object { "$(@($accepted | Where-Object Kind -EQ $_).Count) $($_ -replace 'h$', 'he')s" }) -join ', ')
    Write-Host "Requests: $($accepted.Count) accepted ($byKind), $refused refused with StoreUnavailable"
    $median = Get-ChaosMedian $failoverMs
    if ($failoverMs.Count) {
        $what = if ($ha) { 'SIGKILL of the primary (failover) -> first create accepted after the refused ones' } else { 'PostgreSQL crash -> first accepted create' }
        Write-Host ("$what`: median {0:0} ms, min {1:0}, max {2:0} (n={3} of {4})" -f $median, ($failoverMs | Measure-Object -Minimum).Minimum, ($failoverMs | Measure-Object -Maximum).Maximum, $failoverMs.Count, $(if ($ha) { $faults['SIGKILL primary postmaster (failover)'] } else { $faults['PostgreSQL crash (pg_ctl stop -m immediate)'] }))
    }
    $switchoverMedian = Get-ChaosMedian $switchoverGapMs
    if ($switchoverGapMs.Count) {
        Write-Host ("patronictl switchover: creates refused for median {0:0} ms, min {1:0}, max {2:0} (n={3} of {4} switchovers refused any)" -f $switchoverMedian, ($switchoverGapMs | Measure-Object -Minimum).Minimum, ($switchoverGapMs | Measure-Object -Maximum).Maximum, $switchoverGapMs.Count, $faults['patronictl switchover'])
    }
    ($invariants | Format-Table -AutoSize -Wrap | Out-String -Width 200).TrimEnd() | Write-Host
    foreach ($d in $details) { Write-Host "  $d" -ForegroundColor Yellow }
    $passed = -not @($invariants | Where-Object { -not $_.Held })
    Write-Host "chaos: $(if ($passed) { 'all invariants held' } else { 'VIOLATED' }): $lost lost, $($notFinal + $stuck.Count) stuck, $duplicated duplicated, $disagree disagreements" -ForegroundColor $(if ($passed) { 'Green' } else { 'Red' })
    return [pscustomobject]@{
        Run = $run; Seed = $Seed; Rounds = $Rounds; Ha = $ha; StreamSeconds = [int]$streamSeconds; Accepted = $accepted.Count; Refused = $refused
        Faults = [pscustomobject]$faults; Lost = $lost; Stuck = $notFinal + $stuck.Count; Duplicated = $duplicated; Disagreements = $disagree
        FailedOther = $failed; CmdletErrors = $otherErrors.Count; FailoverToCreateMs = @($failoverMs); FailoverToCreateMedianMs = $median
        SwitchoverRefusedMs = @($switchoverGapMs); SwitchoverRefusedMedianMs = $switchoverMedian
        Invariants = $invariants; Passed = $passed
    }
}

function Invoke-LabChaosRun {
    <# Runs the chaos stream against the running lab of -Repo; writes out/chaos/<mode>-<run>.json; returns the result. #>
    param([Parameter(Mandatory)][string] $Repo, [int] $Rounds)
    $lab = Get-LabInfo -Repo $Repo
    Import-Module (Join-Path $Repo 'out/BlockStore/BlockStore.psd1') -Force -Global
    $env:BLOCKSTORE_CONNECTION = $lab.connectionString
    $result = Invoke-LabChaos -Lab $lab -Rounds $Rounds
    $dir = Join-Path $Repo 'out/chaos'
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    $mode = if ($result.Ha) { 'ha' } else { 'single' }
    $result | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath (Join-Path $dir "$mode-$($result.Run).json")
    return $result
}

function Invoke-ChaosTask {
    <#
    build.ps1 Chaos [-Rounds N] [-Ha] [-WithGuest]: against the running lab when there is one (of the
    same kind; its guest too when it has one), else in a throw-away lab (built first when needed, with
    the storage-host guest for -WithGuest) taken down afterwards. Returns the exit code: 1 on any
    violated invariant.
    #>
    param([Parameter(Mandatory)][string] $Repo, [int] $Rounds = 10, [switch] $Ha, [switch] $WithGuest, [int] $Hosts = 2, [Parameter(Mandatory)][scriptblock] $Build)
    if ($Ha -and $WithGuest) {
        # The guest's agent reaches PostgreSQL through qemu's user network at one address (10.0.2.2):
        # the Patroni lab's members and their failover are exercised by the host-side processes.
        throw 'Chaos -Ha -WithGuest is not supported: the guest is part of the single-server lab (run Chaos -WithGuest, and Chaos -Ha).'
    }
    $own = -not (Test-Path -LiteralPath (Join-Path (Get-LabStateDir -Repo $Repo) 'lab.json'))
    if (-not $own) {
        $running = [bool](Get-LabInfo -Repo $Repo).PSObject.Properties['ha']
        if ($running -ne [bool]$Ha) {
            throw "The running lab is $(if ($running) { 'a Patroni lab: run Chaos -Ha' } else { 'a single-server lab: run Chaos without -Ha' }), or Down it first."
        }
    }
    $passed = $false
    try {
        if ($own) {
            if (-not (Test-LabHostsBuilt -Repo $Repo) -or -not (Test-Path -LiteralPath (Join-Path $Repo 'out/BlockStore/BlockStore.psd1'))) { & $Build }
            Invoke-LabUp -NodeCount $Hosts -Repo $Repo -Ha:$Ha -WithGuest:$WithGuest
        }
        elseif ($WithGuest -and -not (Get-LabInfo -Repo $Repo).PSObject.Properties['guest']) { Invoke-LabGuestUp -Repo $Repo }
        $passed = (Invoke-LabChaosRun -Repo $Repo -Rounds $Rounds).Passed
    }
    finally {
        if ($own) { Write-LabStep 'Down the chaos lab'; Invoke-LabDown -Repo $Repo }
    }
    if ($passed) { return 0 }
    return 1
}

function Get-TestChaosRounds { <# Rounds of the short chaos streams `build.ps1 Test` runs (here and in ChaosHa.Tests.ps1). #> return $script:TestChaosRounds }

function Invoke-TestChaos {
    <#
    build.ps1 Test: a short chaos stream on the test lab (with its guest), one test in -Totals. The
    stream on a Patroni lab is tests/pester/ChaosHa.Tests.ps1, on a lab of its own beside the Pester
    stages.
    #>
    param([Parameter(Mandatory)][string] $Repo, [Parameter(Mandatory)][hashtable] $Totals, [Nullable[DateTime]] $Deadline)
    # Minutes it needs at most on a loaded machine (measured 1-2 min at load 5): not started with
    # less of the run's time budget left, reported as skipped with the reason.
    $need = 5
    if ($Deadline -and ([DateTime]$Deadline).ToUniversalTime().AddMinutes(-$need) -lt [DateTime]::UtcNow) {
        Write-Host ("chaos (single): skipped, not run: less than {0} min of the run's time budget (BLOCKSTORE_TEST_DEADLINE, {1:HH:mm:ss} UTC) was left" -f
            $need, ([DateTime]$Deadline).ToUniversalTime()) -ForegroundColor Yellow
        $Totals.Skipped += 1
        return
    }
    try {
        Write-LabStep "chaos (single, $script:TestChaosRounds rounds)"
        $r = Invoke-LabChaosRun -Repo $Repo -Rounds $script:TestChaosRounds
        if ($r.Passed) { $Totals.Passed += 1; Write-Host 'chaos (single): passed' }
        else { $Totals.Failed += 1; Write-Host 'chaos (single): FAILED' -ForegroundColor Red }
    }
    catch {
        Write-Host "ERROR: chaos (single): $_" -ForegroundColor Red
        $Totals.Failed += 1
    }
}

Export-ModuleMember -Function 'Invoke-LabChaos', 'Invoke-ChaosTask', 'Invoke-TestChaos', 'Get-TestChaosRounds', 'Invoke-LabChaosRun'
