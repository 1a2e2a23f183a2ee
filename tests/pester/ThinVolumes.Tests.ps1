# Thin volumes end to end on the lab's thin host: the guest (build.ps1 Up -WithGuest; build.ps1 Test
# boots it when qemu is installed), whose agent serves zone 'guest' from a thin pool on real
# device-mapper. This machine's kernel has none, so thin pools exist only there. Over-subscription:
# a thin volume larger than its pool is a thin LV in the pool; what exceeds 20 times the pool is
# refused with the thin capacity named. (Was VolumeLifecycle's thin-host part: that file uses no
# guest now, and runs on the second lab.)
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeDiscovery {
    # Whether the guest Describe runs is decided at discovery (a -Skip: reads it then).
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

Describe 'a thin host (the lab guest: real device-mapper, thin pool, the agent inside)' -Skip:(-not $hasGuest) {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
        $lab = Initialize-LabTest -Guest
        $script:prefix = New-LabTestPrefix 'tv'
        $script:guest = $lab.guest

        function Get-GuestLv([guid] $Id) {
            $json = Invoke-LabGuest -Guest $guest -Command ("lvs --reportformat json --units g --nosuffix -o lv_name,lv_size,pool_lv,lv_attr -S " +
                (ConvertTo-LabGuestWord "lv_name=volume-$Id") + ' ' + (ConvertTo-LabGuestWord $guest.vg))
            $rows = @((($json | Where-Object { $_ -notmatch '^\s*(WARNING|File descriptor)' }) -join "`n" | ConvertFrom-Json).report[0].lv)
            if ($rows.Count -eq 0) { return $null }
            return $rows[0]
        }
    }

    It 'creates a thin volume larger than its pool (over-subscription) as a thin LV in the pool, and deletes it' {
        $pool = Invoke-LabGuest -Guest $guest -Command ("lvs --reportformat json --units g --nosuffix -o lv_size " + (ConvertTo-LabGuestWord "$($guest.vg)/$($guest.thinPool)"))
        $poolGiB = [double]((($pool | Where-Object { $_ -notmatch '^\s*(WARNING|File descriptor)' }) -join "`n" | ConvertFrom-Json).report[0].lv[0].lv_size)
        $size = [int][math]::Ceiling($poolGiB) + 2   # more than the pool holds: only thin can take it

        $v = New-BlockVolume -Name "$prefix-thin" -AvailabilityZone $guest.zone -SizeGiB $size -Wait -TimeoutSec 300
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        $v.Host | Should -Be $guest.name
        $lv = Get-GuestLv $v.Id
        $lv | Should -Not -BeNullOrEmpty -Because 'lvs in the guest must show the volume'
        [double]$lv.lv_size | Should -Be $size
        $lv.pool_lv | Should -Be $guest.thinPool
        $lv.lv_attr | Should -BeLike 'V*' -Because 'a thin volume (lv_attr V...)'

        (Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -PassThru -TimeoutSec 300).Status | Should -Be 'deleted'
        Get-GuestLv $v.Id | Should -BeNullOrEmpty
    }

    It 'refuses what exceeds 20 times the pool, naming the thin capacity' {
        $v = New-BlockVolume -Name "$prefix-thin-huge" -AvailabilityZone $guest.zone -SizeGiB 16000 -Wait -TimeoutSec 120
        $v.Status | Should -Be 'error'
        $v.StatusReason | Should -Match ([regex]::Escape("$($guest.name): thin capacity") + '.* × ratio 20 allows')
        Remove-BlockVolume -Id $v.Id -Confirm:$false
    }
}
