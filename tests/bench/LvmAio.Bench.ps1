#Requires -Version 7.4
<#
.SYNOPSIS
    The lab's agents with LVM's async I/O off (the lab's LVM directory) against LVM's default (the
    machine's /etc/lvm), side by side in one run: single create and delete with -Wait, each next to
    a bare lvcreate with the same configuration, and a pipeline of creates and deletes.

.DESCRIPTION
    Against a running lab (Build, Up):
        dotnet pwsh tests/bench/LvmAio.Bench.ps1 [-Turns 4] [-Rounds 8] [-Bulk 40]

    Each turn restarts both agents with LVM_SYSTEM_DIR set to one side (the lab's directory, as Up
    starts them, or /etc/lvm), then runs one warm-up round and -Rounds rounds of New-BlockVolume
    -Wait, Remove-BlockVolume -Wait and a bare lvcreate + lvremove on the VG the volume went to (the
    bare commands with the same LVM_SYSTEM_DIR), then -Bulk volumes in one pipeline with -Wait and
    their removal in one pipeline. The two sides alternate turn by turn. Prints medians per side.
    Leaves the agents running with the lab's directory. Measures and prints only
    (docs/benchmarks.md, "LVM without async I/O").
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 20)][int] $Turns = 4,
    [ValidateRange(1, 100)][int] $Rounds = 8,
    [ValidateRange(0, 500)][int] $Bulk = 40
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force
$bench = Initialize-BenchLab
$lab = $bench.Lab; $vgOf = $bench.VgOf
if (-not (Get-LabLvmSystemDir -Lab $lab)) { throw 'This lab has no LVM directory of its own (lab.json lvmSystemDir): take it down and bring it up again.' }
$sides = [ordered]@{ default = '/etc/lvm'; 'use_aio=0' = $lab.lvmSystemDir }
$lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
$lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
$samples = @{}
foreach ($side in $sides.Keys) {
    $samples[$side] = @{ wait = [Collections.Generic.List[double]]::new(); bare = [Collections.Generic.List[double]]::new()
        over = [Collections.Generic.List[double]]::new(); remove = [Collections.Generic.List[double]]::new()
        creates = [Collections.Generic.List[double]]::new(); deletes = [Collections.Generic.List[double]]::new() }
}
$tag = "aio$([DateTime]::UtcNow.ToString('HHmmss'))"
$n = 0
Write-Host "==> $(Get-BenchMachine); $Turns turns per side, $Rounds rounds and $Bulk in a pipeline per turn"
try {
    foreach ($turn in 1..$Turns) {
        foreach ($side in $sides.Keys) {
            # Start-LabAgent keeps a variable the caller has set (tests/lab/Hosts.ps1).
            $env:LVM_SYSTEM_DIR = $sides[$side]
            foreach ($node in $lab.nodes) { Stop-LabAgent -Name $node.name; Start-LabAgent -Name $node.name | Out-Null }
            $s = $samples[$side]
            foreach ($i in 0..$Rounds) {
                $n++
                $v = $null
                $wait = Invoke-Timed { $script:v = New-BlockVolume -Name "$tag-$n" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait }
                if ($v.Status -ne 'available') { throw "volume $($v.Name) ended $($v.Status): $($v.StatusReason)" }
                $remove = Invoke-Timed { Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait | Out-Null }
                $vg = $vgOf[$v.Host]
                $bare = Invoke-Timed { Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-bare$n", '-L', '1g', '-y', $vg) }
                Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$vg/$tag-bare$n")
                if ($i -eq 0) { continue } # warm-up: the agents' first commands after their start
                $s.wait.Add($wait); $s.bare.Add($bare); $s.over.Add($wait - $bare); $s.remove.Add($remove)
            }
            if ($Bulk -gt 0) {
                $vols = $null
                $c = Invoke-Timed { $script:vols = @(1..$Bulk | ForEach-Object { [pscustomobject]@{ Name = "$tag-$turn-$(@($sides.Keys).IndexOf($side))-$_"; SizeGiB = 1 } } | New-BlockVolume -AvailabilityZone $lab.zone -Wait) }
                $bad = @($vols | Where-Object Status -NE 'available')
                if ($bad.Count) { throw "$($bad.Count) of the pipeline's volumes did not become available: $($bad[0].StatusReason)" }
                $d = Invoke-Timed { $vols | Remove-BlockVolume -Confirm:$false -Wait | Out-Null }
                $s.creates.Add($Bulk / $c * 1000); $s.deletes.Add($Bulk / $d * 1000)
            }
            Write-Host ("turn $turn {0,-10} medians so far: New -Wait {1,6:N1} ms, bare lvcreate {2,6:N1} ms, Remove -Wait {3,6:N1} ms{4}" -f $side,
                (Get-Median $s.wait), (Get-Median $s.bare), (Get-Median $s.remove),
                $(if ($Bulk -gt 0) { ", pipeline {0:N1} creates/s, {1:N1} deletes/s" -f $s.creates[-1], $s.deletes[-1] }))
        }
    }
}
finally {
    $env:LVM_SYSTEM_DIR = $lab.lvmSystemDir
    foreach ($node in $lab.nodes) { Stop-LabAgent -Name $node.name; Start-LabAgent -Name $node.name | Out-Null }
}
Write-Host ''
Write-Host "| medians ($($Turns * $Rounds) rounds each) | $(($sides.Keys | ForEach-Object { "LVM $_" }) -join ' | ') |"
Write-Host "| --- |$(' ---: |' * $sides.Count)"
$row = { param($label, $key, $fmt) "| $label | $(($sides.Keys | ForEach-Object { $fmt -f (Get-Median $samples[$_][$key]) }) -join ' | ') |" }
Write-Host (& $row 'bare lvcreate -L 1g' 'bare' '{0:N1} ms')
Write-Host (& $row 'New-BlockVolume -Wait' 'wait' '{0:N1} ms')
Write-Host (& $row 'New-BlockVolume -Wait over its round''s bare lvcreate' 'over' '{0:N1} ms')
Write-Host (& $row 'Remove-BlockVolume -Wait' 'remove' '{0:N1} ms')
if ($Bulk -gt 0) {
    Write-Host (& $row "$Bulk in one pipeline with -Wait, creates/s" 'creates' '{0:N1}')
    Write-Host (& $row "$Bulk removed in one pipeline with -Wait, deletes/s" 'deletes' '{0:N1}')
}
