# Thick volumes from snapshots and thick clones (issue 12): a new LV and a block copy of the source
# (dd with direct I/O through the LVs' device nodes), which needs device-mapper.
# - The host lab's loop-file nodes have none (LVM runs with activation off): their agents say so in
#   the service row (block_copy false, with the reason) and a clone there is refused at once with
#   CloneUnsupported naming the host and why. VolumeSnapshot.Tests.ps1 checks both: this file uses
#   the guest only, so it can run beside the files that fill, freeze or break the nodes (Timeouts.psd1
#   Parallel: a node volume made here landed on OperationRetries' node while its lvcreate hung).
# - In the lab's guest, a second agent serves a THICK VG on the guest's second virtual disk (/dev/vdb,
#   LabGuest.psm1) under its own host name, zone and database role (Initialize-LabGuestThickHost:
#   Register-BlockVolumeHost, as an operator would; unregistered at the end); guest1 and its thin
#   pool are not touched. Data is written and read inside the guest straight through the LVs' device
#   nodes (dd, direct I/O): pattern A in the first and the last MiB, a COW snapshot, then pattern B;
#   a volume from the snapshot reads A, a clone reads B, a larger clone is the larger size with the
#   source's bytes at the start; the guest's lvs agrees with the database. Then the agent is SIGKILLed
#   in the middle of a clone's copy: after its restart the clone ends available with the source's
#   bytes, and the VG holds exactly the LVs the database says, none twice.
# It adds a volume host (zone guest-thick) to the lab for a while: nothing beside it may count hosts or roles.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest -Guest
    $script:prefix = New-LabTestPrefix 'tc'
}

Describe 'Thick copies for real in the lab guest (a thick VG with device-mapper, dd with direct I/O)' -Skip:(-not $hasGuest) {
    BeforeAll {
        $script:g = $lab.guest
        # The guest's thick host (LabGuest.psm1): a thick VG on its second disk, its own agent and role.
        $script:thick = Initialize-LabGuestThickHost -Lab $lab
        $script:thickHost = $thick.name
        $script:vg = $thick.vg
        $script:zone = $thick.zone
        $script:pidFile = $thick.pidFile

        function Get-Sums([string] $Device, [int[]] $MiB) {
            # sha256 of the given MiBs of a device, read with direct I/O inside the guest.
            $cmd = ($MiB | ForEach-Object { "dd if=$Device bs=1M count=1 skip=$_ iflag=direct status=none | sha256sum" }) -join ' && '
            return @(Invoke-LabGuest -Guest $g -Command $cmd | ForEach-Object { ($_ -split '\s+')[0] })
        }

        function Get-LvsAndRows {
            # The VG's volume and snapshot LVs as the guest's lvs sees them, and as the database does.
            $lvs = @(Invoke-LabGuest -Guest $g -Command "lvs --noheadings -o lv_name $vg" | ForEach-Object { $_.Trim() } | Where-Object { $_ } | Sort-Object)
            $rows = @(Invoke-LabSql ("select 'volume-' || id from bs.volumes where host = '$thickHost' and status not in ('deleted') " +
                "union all select '_snapshot-' || id from bs.snapshots where host = '$thickHost' and status not in ('deleted')") | Where-Object { $_ } | Sort-Object)
            return [pscustomobject]@{ Lvs = $lvs; Rows = $rows }
        }

        Start-LabGuestThickAgent -Lab $lab -Thick $thick

        $script:lastMiB = 1023
        # Patterns A and B, one random MiB each, kept in the guest.
        $script:sumA, $script:sumB = @(Invoke-LabGuest -Guest $g -Command ('head -c 1048576 /dev/urandom > /root/thick-a.bin && head -c 1048576 /dev/urandom > /root/thick-b.bin && ' +
            'sha256sum < /root/thick-a.bin && sha256sum < /root/thick-b.bin') | ForEach-Object { ($_ -split '\s+')[0] })
    }

    AfterAll {
        Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
            Remove-BlockVolume -Cascade -Confirm:$false -Force -Wait -TimeoutSec 900 -ErrorAction Continue | Out-Null
        if ($thick) { Remove-LabGuestThickHost -Lab $lab -Thick $thick }
    }

    It 'the thick guest host says it can block-copy (device-mapper, activation on)' {
        Invoke-LabSql "select capabilities->>'block_copy' from bs.services where host = '$thickHost' and service = 'volume'" | Should -Be 'true'
        Invoke-LabSql "select backend_type from bs.services where host = '$thickHost' and service = 'volume'" | Should -Be 'thick'
    }

    It 'a thick volume with pattern A, a COW snapshot of it, then pattern B' {
        $script:src = New-BlockVolume -Name "$prefix-src" -SizeGiB 1 -AvailabilityZone $zone -Confirm:$false -Wait -TimeoutSec 900
        $src.Status | Should -Be 'available' -Because $src.StatusReason
        $src.Host | Should -Be $thickHost
        $script:srcDev = "/dev/$vg/volume-$($src.Id)"
        Invoke-LabGuest -Guest $g -Command ("dd if=/root/thick-a.bin of=$srcDev bs=1M count=1 oflag=direct conv=fsync status=none && " +
            "dd if=/root/thick-a.bin of=$srcDev bs=1M count=1 seek=$lastMiB oflag=direct conv=fsync status=none") | Out-Null
        Get-Sums $srcDev 0, $lastMiB | Should -Be @($sumA, $sumA)

        $script:snap = $src | New-BlockVolumeSnapshot -Name 'cow' -Confirm:$false -Wait -TimeoutSec 900
        $snap.Status | Should -Be 'available' -Because $snap.StatusReason
        $snap.BackendType | Should -Be 'thick'

        Invoke-LabGuest -Guest $g -Command ("dd if=/root/thick-b.bin of=$srcDev bs=1M count=1 oflag=direct conv=fsync status=none && " +
            "dd if=/root/thick-b.bin of=$srcDev bs=1M count=1 seek=$lastMiB oflag=direct conv=fsync status=none") | Out-Null
        Get-Sums $srcDev 0, $lastMiB | Should -Be @($sumB, $sumB)
    }

    It 'a thick volume from the snapshot reads pattern A, first MiB to last' {
        $v = New-BlockVolume -Name "$prefix-from-snap" -SnapshotId $snap.Id -Confirm:$false -Wait -TimeoutSec 1200
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        ($v.Host, $v.SizeGiB, $v.SnapshotId) | Should -Be @($thickHost, 1, $snap.Id)
        Get-Sums "/dev/$vg/volume-$($v.Id)" 0, $lastMiB | Should -Be @($sumA, $sumA) -Because 'the volume holds the snapshot''s data, not the overwritten origin'
        (Get-BlockVolumeEvent -VolumeId $v.Id).Message -join "`n" | Should -Match 'block copy'
    }

    It 'a thick clone reads pattern B, first MiB to last' {
        $c = New-BlockVolume -Name "$prefix-clone" -SourceVolumeId $src.Id -Confirm:$false -Wait -TimeoutSec 1200
        $c.Status | Should -Be 'available' -Because $c.StatusReason
        ($c.Host, $c.SizeGiB, $c.SourceVolumeId) | Should -Be @($thickHost, 1, $src.Id)
        Get-Sums "/dev/$vg/volume-$($c.Id)" 0, $lastMiB | Should -Be @($sumB, $sumB) -Because 'a clone holds what its source holds now'
    }

    It 'a larger clone is the larger size and starts with the source''s bytes' {
        $c = New-BlockVolume -Name "$prefix-clone2" -SourceVolumeId $src.Id -SizeGiB 2 -Confirm:$false -Wait -TimeoutSec 1200
        $c.Status | Should -Be 'available' -Because $c.StatusReason
        $c.SizeGiB | Should -Be 2
        $dev = "/dev/$vg/volume-$($c.Id)"
        [long](Invoke-LabGuest -Guest $g -Command "blockdev --getsize64 $dev") | Should -Be 2GB
        Get-Sums $dev 0, $lastMiB | Should -Be @($sumB, $sumB)
    }

    It 'the guest''s lvs agrees with the database' {
        $both = Get-LvsAndRows
        $both.Lvs | Should -Be $both.Rows
        $both.Lvs.Count | Should -Be 5 -Because 'the source, its snapshot, a volume from it and two clones'
    }

    It 'an agent SIGKILLed in the middle of a copy: after its restart the clone is available with the source''s bytes, no LV twice' {
        $c = New-BlockVolume -Name "$prefix-crash" -SourceVolumeId $src.Id -Confirm:$false
        # Inside the guest, as soon as the agent's dd into the clone runs: SIGKILL the agent, then
        # the dd it left behind (a half copy). One guest command, so the copy cannot end meanwhile.
        # ([d]d: the pattern does not match the shell that runs it.)
        $dd = "[d]d if=$srcDev of=/dev/$vg/volume-$($c.Id) "
        $out = Invoke-LabGuest -Guest $g -TimeoutSeconds 900 -Command ("for i in `$(seq 12000); do p=`$(pgrep -f '$dd'); " +
            "if [ -n `"`$p`" ]; then kill -KILL `$(cat $pidFile); kill -KILL `$p; rm -f $pidFile; echo killed; exit 0; fi; sleep 0.05; done; echo missed")
        $out | Should -Be 'killed' -Because 'the agent was caught copying'
        (Get-BlockVolume -Id $c.Id).Status | Should -Be 'creating' -Because 'the operation never completed'
        Start-LabGuestThickAgent -Lab $lab -Thick $thick
        $done = Wait-BlockVolume -Id $c.Id -Status available, error -TimeoutSec 1200
        $done.Status | Should -Be 'available' -Because $done.StatusReason
        Get-Sums "/dev/$vg/volume-$($c.Id)" 0, $lastMiB | Should -Be @($sumB, $sumB)
        (Get-BlockVolumeEvent -VolumeId $c.Id).Message -join "`n" | Should -Match 'adopted existing LV.*block copy'
        $both = Get-LvsAndRows
        $both.Lvs | Should -Be $both.Rows
        @($both.Lvs | Where-Object { $_ -eq "volume-$($c.Id)" }).Count | Should -Be 1
    }

    It 'removing them removes their LVs' {
        Get-BlockVolume -Name "$prefix-*" | Where-Object Status -NE 'deleted' |
            Remove-BlockVolume -Cascade -Confirm:$false -Wait -TimeoutSec 900 | Out-Null
        $both = Get-LvsAndRows
        $both.Lvs | Should -BeNullOrEmpty
        $both.Rows | Should -BeNullOrEmpty
    }
}
