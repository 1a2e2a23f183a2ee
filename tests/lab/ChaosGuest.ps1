# The chaos stream's iSCSI part (dot-sourced by Chaos.psm1), used when the lab has its storage-host
# guest (build.ps1 Chaos -WithGuest, or a running lab that was brought up with it): volumes in the
# guest's zone are created, snapshotted in the guest's thin pool (only the guest has device-mapper),
# attached to made-up initiators through LIO, detached and handed to the stream's deletes (with
# -Cascade: a volume's snapshots go with it), while some snapshots are removed on their own and the
# guest's agent is SIGKILLed at random next to the host faults. After the settle, LIO (configfs in
# the guest) and the guest's volume and snapshot LVs must agree with the database in both
# directions. An attach at TCG speed takes about a minute, so the guest sees one request a round.

function New-ChaosGuestState([object] $Lab) {
    <# What the stream tracks for the guest: $null when the lab has no guest. #>
    if (-not $Lab.PSObject.Properties['guest']) { return $null }
    return [pscustomobject]@{
        Guest = $Lab.guest
        Volumes = [System.Collections.Generic.List[guid]]::new()      # guest volumes not yet attached
        Attached = [System.Collections.Generic.List[object]]::new()   # @{ Id; VolumeId; Round } attach accepted, not yet detached
        Snapshots = [System.Collections.Generic.List[object]]::new()  # @{ Id; VolumeId } snapshot accepted, its removal not yet asked
        Snapshotted = [System.Collections.Generic.HashSet[guid]]::new() # guest volumes the stream has taken a snapshot of
        Dead = $null                                                  # round in which its killed agent is started again
        LastKill = -100                                               # round of the last kill of its agent
        N = 0
    }
}

function Test-ChaosGuestKillDue([object] $State, [int] $Round, [System.Random] $Rng) {
    <# The guest's agent takes a minute to start at TCG speed: kill it at most once in twelve rounds. #>
    # Not in the first rounds either: the stream's first guest volume needs its agent to get going.
    return ($State -and -not $State.Dead -and $Round -ge 6 -and $Round - $State.LastKill -ge 12 -and $Rng.Next(0, 3) -eq 0)
}

function Invoke-ChaosGuestAgent([object] $State, [ValidateSet('kill', 'start')][string] $Action) {
    <# SIGKILLs (bs-agent kill: no shutdown) or starts the guest's agent, as its service manager would. #>
    Invoke-LabGuest -Guest $State.Guest -Command "bs-agent $Action" -TimeoutSeconds 120 -AllowFailure | Out-Null
}

function Invoke-ChaosGuestRequest {
    <#
    One guest request of a round: detach an attachment that is attached; else, on a coin toss, remove
    a snapshot of the stream that is available; else take a snapshot of a guest volume that is
    available and has none from the stream yet, or attach one that has; else create one (at most
    three guest volumes at a time). Accepted requests go to -Accepted (@{ Id; Kind; Expect; Name }),
    detached volumes to -Live (the stream's deletes remove them, with their snapshots).
    #>
    param(
        [Parameter(Mandatory)][object] $State, [Parameter(Mandatory)][int] $Round, [Parameter(Mandatory)][string] $Run,
        [Parameter(Mandatory)][System.Random] $Rng, [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[object]] $Accepted,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[guid]] $Live, [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[string]] $OtherErrors
    )
    $old = @($State.Attached | Where-Object { $a = $_; @(Get-BlockVolumeAttachment -VolumeId $a.VolumeId -ErrorAction Stop | Where-Object { $_.Id -eq $a.Id -and $_.Status -eq 'attached' }).Count -eq 1 })
    try {
        if ($old.Count -gt 0) {
            $a = $old[$Rng.Next(0, $old.Count)]
            Remove-BlockVolumeAttachment -Id $a.Id -Confirm:$false -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $a.Id; Kind = 'detach'; Expect = 'detached'; Name = '' })
            $State.Attached.Remove($a) | Out-Null
            $Live.Add($a.VolumeId)
            return
        }
        $snapshots = @($State.Snapshots | Where-Object { $s = $_; @(Get-BlockVolumeSnapshot -Id $s.Id -ErrorAction Stop | Where-Object Status -EQ 'available').Count -eq 1 })
        if ($snapshots.Count -gt 0 -and $Rng.Next(0, 2) -eq 0) {
            $s = $snapshots[$Rng.Next(0, $snapshots.Count)]
            Remove-BlockVolumeSnapshot -Id $s.Id -Confirm:$false -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $s.Id; Kind = 'snapshot-delete'; Expect = 'deleted'; Name = '' })
            $State.Snapshots.Remove($s) | Out-Null
            return
        }
        $ready = @($State.Volumes | Where-Object { (Get-BlockVolume -Id $_ -ErrorAction Stop).Status -eq 'available' })
        $unsnapped = @($ready | Where-Object { -not $State.Snapshotted.Contains($_) })
        if ($unsnapped.Count -gt 0) {
            $volumeId = $unsnapped[$Rng.Next(0, $unsnapped.Count)]
            $State.N++
            $snap = New-BlockVolumeSnapshot -VolumeId $volumeId -Name "$Run-gs$($State.N)" -Confirm:$false -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $snap.Id; Kind = 'snapshot'; Expect = 'available'; Name = $snap.Name; VolumeId = $volumeId })
            $State.Snapshots.Add([pscustomobject]@{ Id = $snap.Id; VolumeId = $volumeId })
            $State.Snapshotted.Add($volumeId) | Out-Null
            return
        }
        if ($ready.Count -gt 0) {
            $volumeId = $ready[$Rng.Next(0, $ready.Count)]
            $State.N++
            $att = New-BlockVolumeAttachment -VolumeId $volumeId -InitiatorIqn "iqn.2026-12.lab.chaos:$Run-$($State.N)" -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $att.Id; Kind = 'attach'; Expect = 'attached'; Name = '' })
            $State.Attached.Add([pscustomobject]@{ Id = $att.Id; VolumeId = $volumeId; Round = $Round })
            $State.Volumes.Remove($volumeId) | Out-Null
            return
        }
        if ($State.Volumes.Count + $State.Attached.Count -lt 3) {
            $State.N++
            $name = "$Run-g$($State.N)"
            $v = New-BlockVolume -Name $name -SizeGiB 1 -AvailabilityZone $State.Guest.zone -Confirm:$false -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $v.Id; Kind = 'create'; Expect = 'available'; Name = $name })
            $State.Volumes.Add($v.Id)
        }
    }
    catch {
        # Refused with nothing written while no database or scheduler answers; a volume still
        # creating, attaching or detaching (or a snapshot still being made) is asked for again in a later round.
        if (-not (Test-ChaosUnavailable $_) -and $_.FullyQualifiedErrorId -notlike 'InvalidVolumeState,*' -and $_.FullyQualifiedErrorId -notlike 'InvalidSnapshotState,*') {
            $OtherErrors.Add("guest request: $($_.FullyQualifiedErrorId): $($_.Exception.Message)")
        }
    }
}

function Get-ChaosGuestFindings([object] $State, [object] $Lab, [System.Collections.Generic.List[object]] $Accepted) {
    <#
    After the settle: every accepted attach/detach has its row in a final state, and LIO and the
    guest's LVs agree with the database both ways. Returns @{ Lost; Stuck; Failed; Disagree; Details }.
    #>
    $details = [System.Collections.Generic.List[string]]::new()
    $lost = 0; $stuck = 0; $failed = 0; $disagree = 0
    $ids = @($Accepted | Where-Object Kind -In 'attach', 'detach' | ForEach-Object { "'$($_.Id)'" })
    $rows = @{}
    if ($ids.Count) {
        foreach ($line in Invoke-ChaosSql $Lab "select id || '|' || status || '|' || coalesce(status_reason, '') from bs.attachments where id in ($($ids -join ','))") {
            $f = $line -split '\|', 3
            $rows[$f[0]] = [pscustomobject]@{ Status = $f[1]; Reason = $f[2] }
        }
    }
    foreach ($a in @($Accepted | Where-Object Kind -In 'attach', 'detach')) {
        $row = $rows["$($a.Id)"]
        if (-not $row) { $lost++; $details.Add("lost: $($a.Kind) of attachment $($a.Id) has no row"); continue }
        if ($row.Status -in 'attaching', 'detaching') { $stuck++; $details.Add("stuck: attachment $($a.Id) is $($row.Status)"); continue }
        # An attach that a later detach ended is detached; anything else is the state asked for or an error with its reason.
        $detachedLater = $a.Kind -eq 'attach' -and @($Accepted | Where-Object { $_.Kind -eq 'detach' -and $_.Id -eq $a.Id }).Count -gt 0
        if ($row.Status -ne $a.Expect -and -not ($detachedLater -and $row.Status -eq 'detached')) { $failed++; $details.Add("$($a.Kind) $($a.Id) ended $($row.Status): $($row.Reason)") }
    }

    # Snapshots: each accepted one has its row in a final state. 'deleted' is what a removal asked
    # for, and right for a snapshot whose volume's delete (-Cascade) was accepted.
    $snapshotAsks = @($Accepted | Where-Object Kind -In 'snapshot', 'snapshot-delete')
    $snapshotRows = @{}
    if ($snapshotAsks.Count) {
        $snapshotIds = @($snapshotAsks | ForEach-Object { "'$($_.Id)'" } | Select-Object -Unique) -join ','
        foreach ($line in Invoke-ChaosSql $Lab "select id || '|' || status || '|' || coalesce(status_reason, '') from bs.snapshots where id in ($snapshotIds)") {
            $f = $line -split '\|', 3
            $snapshotRows[$f[0]] = [pscustomobject]@{ Status = $f[1]; Reason = $f[2] }
        }
    }
    $volumesDeleted = @($Accepted | Where-Object Kind -EQ 'delete' | ForEach-Object { "$($_.Id)" })
    $snapshotsRemoved = @($Accepted | Where-Object Kind -EQ 'snapshot-delete' | ForEach-Object { "$($_.Id)" })
    foreach ($a in $snapshotAsks) {
        $row = $snapshotRows["$($a.Id)"]
        if (-not $row) { $lost++; $details.Add("lost: $($a.Kind) of snapshot $($a.Id) has no row"); continue }
        if ($row.Status -in 'creating', 'deleting') { $stuck++; $details.Add("stuck: snapshot $($a.Id) is $($row.Status)"); continue }
        $removed = "$($a.Id)" -in $snapshotsRemoved -or ($a.Kind -eq 'snapshot' -and "$($a.VolumeId)" -in $volumesDeleted)
        if ($row.Status -ne $a.Expect -and -not ($removed -and $row.Status -eq 'deleted')) { $failed++; $details.Add("$($a.Kind) $($a.Id) ended $($row.Status): $($row.Reason)") }
    }

    $g = $State.Guest
    # LIO as configfs shows it: target IQN -> the initiators with an ACL on its first TPG.
    $lio = @{}
    $listing = Invoke-LabGuest -Guest $g -TimeoutSeconds 300 -Command ('for t in $(ls /sys/kernel/config/target/iscsi 2>/dev/null | grep "^iqn\."); do ' +
        'echo "T $t"; for a in $(ls /sys/kernel/config/target/iscsi/$t/tpgt_1/acls 2>/dev/null); do echo "A $t $a"; done; done')
    foreach ($line in $listing) {
        $f = "$line".Trim() -split ' '
        if ($f[0] -eq 'T') { $lio[$f[1]] = [System.Collections.Generic.List[string]]::new() }
        elseif ($f[0] -eq 'A' -and $f.Count -ge 3) { $lio[$f[1]].Add($f[2].ToLowerInvariant()) }
    }
    $want = @{}
    foreach ($line in Invoke-ChaosSql $Lab ("select a.target_iqn || '|' || lower(a.initiator_iqn) from bs.attachments a " +
            "where a.host = '$($g.name)' and a.status = 'attached'")) {
        $f = $line -split '\|'
        if (-not $want.ContainsKey($f[0])) { $want[$f[0]] = [System.Collections.Generic.List[string]]::new() }
        $want[$f[0]].Add($f[1])
    }
    foreach ($t in $want.Keys) {
        if (-not $lio.ContainsKey($t)) { $disagree++; $details.Add("LIO has no target $t for its attached attachment(s)"); continue }
        foreach ($i in $want[$t]) { if ($i -notin $lio[$t]) { $disagree++; $details.Add("LIO target $t has no ACL for attached initiator $i") } }
        foreach ($i in $lio[$t]) { if ($i -notin $want[$t]) { $disagree++; $details.Add("LIO target $t has an ACL for $i, which is not attached") } }
    }
    foreach ($t in $lio.Keys) { if (-not $want.ContainsKey($t)) { $disagree++; $details.Add("LIO target $t has no attached attachment") } }

    # The guest's LVs against the guest's volumes and snapshots (the thin pool itself is neither).
    $guestLvs = @(Invoke-LabGuest -Guest $g -TimeoutSeconds 300 -Command "lvs --noheadings -o lv_name $($g.vg)" | ForEach-Object { "$_".Trim() })
    $lvs = @($guestLvs | Where-Object { $_ -like 'volume-*' })
    $snapshotLvs = @($guestLvs | Where-Object { $_ -like '_snapshot-*' })
    $liveSnapshots = @(Invoke-ChaosSql $Lab ("select id from bs.snapshots where host = '$($g.name)' and status in ('available', 'deleting', 'error_deleting')") |
        ForEach-Object { "$_".Trim() } | Where-Object { $_ })
    foreach ($lv in $snapshotLvs) { if ($lv.Substring(10) -notin $liveSnapshots) { $disagree++; $details.Add("guest LV $($g.vg)/$lv has no live snapshot") } }
    foreach ($id in $liveSnapshots) { if ("_snapshot-$id" -notin $snapshotLvs) { $disagree++; $details.Add("guest snapshot $id has no LV in $($g.vg)") } }
    $liveOnGuest = @(Invoke-ChaosSql $Lab ("select id from bs.volumes where host = '$($g.name)' and status in " +
            "('available', 'in-use', 'attaching', 'detaching', 'deleting', 'error_deleting')") | ForEach-Object { "$_".Trim() } | Where-Object { $_ })
    foreach ($lv in $lvs) { if ($lv.Substring(7) -notin $liveOnGuest) { $disagree++; $details.Add("guest LV $($g.vg)/$lv has no live volume") } }
    foreach ($id in $liveOnGuest) { if ("volume-$id" -notin $lvs) { $disagree++; $details.Add("guest volume $id has no LV in $($g.vg)") } }
    return [pscustomobject]@{ Lost = $lost; Stuck = $stuck; Failed = $failed; Disagree = $disagree; Targets = $lio.Count; Lvs = $lvs.Count; SnapshotLvs = $snapshotLvs.Count; Details = $details }
}

function Invoke-ChaosGuestTail {
    <#
    After the stream (an attach at TCG speed outlasts a short stream): when the stream got no attach
    through, attaches one guest volume that is available (so every run drives LIO at least once);
    waits for the attaches in flight, then detaches every attachment the stream made that is attached, and on a coin toss
    SIGKILLs the guest's agent while those detaches run (started again at once: the settle then
    waits for its recovery). Returns the number of agent kills.
    #>
    param(
        [Parameter(Mandatory)][object] $State, [Parameter(Mandatory)][System.Random] $Rng,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[object]] $Accepted,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[guid]] $Live,
        [Parameter(Mandatory)][AllowEmptyCollection()][System.Collections.Generic.List[string]] $OtherErrors,
        [int] $TimeoutSeconds = 420
    )
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    if ($State.Attached.Count -eq 0) {
        $ready = $null
        while (-not $ready -and $State.Volumes.Count -gt 0 -and [DateTime]::UtcNow -lt $deadline) {
            $ready = @($State.Volumes | Where-Object { (Get-BlockVolume -Id $_ -ErrorAction Stop).Status -eq 'available' })[0]
            if (-not $ready) { Start-Sleep -Seconds 2 }
        }
        if (-not $ready) { $OtherErrors.Add('guest: no guest volume became available for an attach'); return 0 }
        $State.N++
        $att = New-BlockVolumeAttachment -VolumeId $ready -InitiatorIqn "iqn.2026-12.lab.chaos:tail-$($State.N)" -ErrorAction Stop
        $Accepted.Add([pscustomobject]@{ Id = $att.Id; Kind = 'attach'; Expect = 'attached'; Name = '' })
        $State.Attached.Add([pscustomobject]@{ Id = $att.Id; VolumeId = $ready; Round = 0 })
        $State.Volumes.Remove($ready) | Out-Null
        Write-Host "  after the stream: attach of guest volume $ready requested"
    }
    $statusOf = { param($a) @(Get-BlockVolumeAttachment -VolumeId $a.VolumeId -IncludeDetached -ErrorAction Stop | Where-Object Id -EQ $a.Id)[0].Status }
    while ([DateTime]::UtcNow -lt $deadline -and @($State.Attached | Where-Object { (& $statusOf $_) -eq 'attaching' }).Count -gt 0) { Start-Sleep -Seconds 2 }
    $detaching = 0
    foreach ($a in @($State.Attached)) {
        if ((& $statusOf $a) -ne 'attached') { continue }
        try {
            Remove-BlockVolumeAttachment -Id $a.Id -Confirm:$false -ErrorAction Stop
            $Accepted.Add([pscustomobject]@{ Id = $a.Id; Kind = 'detach'; Expect = 'detached'; Name = '' })
            $State.Attached.Remove($a) | Out-Null
            $Live.Add($a.VolumeId)
            $detaching++
        }
        catch { $OtherErrors.Add("detach $($a.Id) after the stream: $($_.FullyQualifiedErrorId): $($_.Exception.Message)") }
    }
    Write-Host "  after the stream: $detaching detach(es) requested"
    if ($detaching -gt 0 -and $Rng.Next(0, 2) -eq 0) {
        Start-Sleep -Milliseconds ($Rng.Next(500, 4000))
        Invoke-ChaosGuestAgent $State kill
        Write-Host "  after the stream: SIGKILL the agent in guest $($State.Guest.name) during the detaches; started again"
        Invoke-ChaosGuestAgent $State start
        return 1
    }
    return 0
}
