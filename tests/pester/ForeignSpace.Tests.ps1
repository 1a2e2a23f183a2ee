# Thick placement when the VG is not BlockStore's alone: an LV of someone else, made by hand with
# lvcreate, fills most of node1's VG. The agent reports total, free and the space of its own LVs
# with each heartbeat; the scheduler keeps off the rest and says why in the volume's reason.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'fs'
    $script:node = $lab.nodes[0]
    $script:others = (@($lab.nodeNames | Where-Object { $_ -ne $node.name }) | ForEach-Object { "'$_'" }) -join ','
    $script:foreign = "$prefix-not-ours"
    $script:lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
    $script:lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source

    function Get-ReportedFree { [decimal](Invoke-LabSql "select free_gib from bs.services where host = '$($node.name)' and service = 'volume'") }
    function Get-VgFree { [decimal](Invoke-LabLvm vgs @('-o', 'vg_free', '--units', 'g', '--nosuffix', $node.vg))[0].vg_free }
}

AfterAll {
    if ($others) { Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and host in ($others)" | Out-Null }
    & $lvremove --config $lab.lvmConfig -f "$($node.vg)/$foreign" 2>&1 | Out-Null
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 120 -ErrorAction Continue | Out-Null
}

Describe 'A VG that other LVs fill' {
    It 'places nowhere near the foreign LV: the volume goes elsewhere, or fails with a reason that names the foreign space' {
        # Leave 20 GiB of node1's VG free; then ask for 30 GiB. Without the foreign LV it would fit.
        $free = Get-VgFree
        $free | Should -BeGreaterThan 60 -Because 'the lab VG has room for the test'
        $fill = [math]::Floor($free - 20)
        & $lvcreate --config $lab.lvmConfig -n $foreign -L "${fill}g" -y $node.vg 2>&1 | Out-Null
        $LASTEXITCODE | Should -Be 0
        Wait-LabCondition { (Get-ReportedFree) -lt 30 } -TimeoutSeconds 30 | Should -BeTrue -Because 'the next heartbeat reports the VG'

        Invoke-LabSql "update bs.services set frozen = true where service = 'volume' and host in ($others)" | Out-Null
        try { $v = New-BlockVolume -Name "$prefix-big" -AvailabilityZone $lab.zone -SizeGiB 30 -Wait -TimeoutSec 60 }
        finally { Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and host in ($others)" | Out-Null }
        $v.Status | Should -Be 'error'
        $v.StatusReason | Should -Match "$($node.name): capacity \d+(\.\d)? GiB, \d+(\.\d)? GiB used by logical volumes that are not BlockStore's \(agent report\), .*GiB free for 30 GiB"
        Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 60 | Out-Null

        $elsewhere = New-BlockVolume -Name "$prefix-elsewhere" -AvailabilityZone $lab.zone -SizeGiB 30 -Wait -TimeoutSec 60
        $elsewhere.Status | Should -Be 'available'
        $elsewhere.Host | Should -Not -Be $node.name
        @(Invoke-LabLvm lvs @('-o', 'lv_name', $node.vg)).lv_name | Should -Contain $foreign -Because 'the foreign LV is never touched'
        Remove-BlockVolume -Id $elsewhere.Id -Confirm:$false -Wait -TimeoutSec 60 | Out-Null
    }

    It 'places there again once the foreign LV is gone' {
        & $lvremove --config $lab.lvmConfig -f "$($node.vg)/$foreign" 2>&1 | Out-Null
        Wait-LabCondition { (Get-ReportedFree) -gt 60 } -TimeoutSeconds 30 | Should -BeTrue
        Invoke-LabSql "update bs.services set frozen = true where service = 'volume' and host in ($others)" | Out-Null
        try { $v = New-BlockVolume -Name "$prefix-back" -AvailabilityZone $lab.zone -SizeGiB 30 -Wait -TimeoutSec 60 }
        finally { Invoke-LabSql "update bs.services set frozen = false where service = 'volume' and host in ($others)" | Out-Null }
        $v.Status | Should -Be 'available'
        $v.Host | Should -Be $node.name
        Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 60 | Out-Null
    }
}
