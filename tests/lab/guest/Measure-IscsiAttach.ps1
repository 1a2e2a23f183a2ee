#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Measures iSCSI attach and detach in the lab guest, side by side with the same targetcli
    sequence run by hand, in one run (docs/benchmarks.md, "iSCSI attach/detach").

.DESCRIPTION
    Needs a lab with the guest (build.ps1 Up -WithGuest). Rounds are interleaved so that load from
    other work on the machine hits every variant alike:
      A  BlockStore: New-BlockVolumeAttachment -Wait / Remove-BlockVolumeAttachment -Wait
         (request -> agent claims -> configfs read -> one targetcli batch -> configfs read -> status)
      B  by hand, the same commands in ONE targetcli process (stdin), timed inside the guest
      C  by hand, one targetcli process PER command (how a shell script calling targetcli does it)
    Prints a markdown table (median and all values, seconds).
#>
param([int] $Rounds = 2)
$ErrorActionPreference = 'Stop'
$env:BLOCKSTORE_REPO = if ($env:BLOCKSTORE_REPO) { $env:BLOCKSTORE_REPO } else { (Resolve-Path "$PSScriptRoot/../../..").Path }
Import-Module (Join-Path $env:BLOCKSTORE_REPO 'tests/pester/TestHelpers.psm1') -DisableNameChecking
Import-Module (Join-Path $PSScriptRoot 'LabGuest.psm1') -DisableNameChecking
Import-Module (Join-Path $env:BLOCKSTORE_REPO 'out/BlockStore/BlockStore.psd1')
$lab = Get-LabInfo
$g = $lab.guest
$env:BLOCKSTORE_CONNECTION = $lab.connectionString

$vol = New-BlockVolume -Name "bench-iscsi-$([guid]::NewGuid().ToString('N').Substring(0, 6))" -SizeGiB 1 -AvailabilityZone $g.zone -Wait -TimeoutSec 600
$initiator = 'iqn.2024-01.com.example.bench:client'

# The by-hand target: its own LV and names outside the agent's naming (the reconcile pass ignores them).
$dev = "/dev/$($g.vg)/bench-hand"
$iqn = 'iqn.2010-10.org.openstack:bench-hand'
Invoke-LabGuest -Guest $g -Command "lvs $($g.vg)/bench-hand >/dev/null 2>&1 || lvcreate -q -y -T $($g.vg)/$($g.thinPool) -V 1g -n bench-hand" | Out-Null
$attach = @(
    "/backstores/block create name=bench-hand dev=$dev", "/iscsi create $iqn",
    "/iscsi/$iqn/tpg1/portals delete 0.0.0.0 3260", "/iscsi/$iqn/tpg1/portals create 10.0.2.15 3260",
    "/iscsi/$iqn/tpg1 set attribute authentication=1 generate_node_acls=0",
    "/iscsi/$iqn/tpg1/luns create /backstores/block/bench-hand lun=0", "/iscsi/$iqn/tpg1/acls create $initiator",
    "/iscsi/$iqn/tpg1/acls/$initiator set auth userid=benchuser00000000000 password=BenchSecret12345", 'saveconfig')
$detach = @("/iscsi delete $iqn", '/backstores/block delete bench-hand', 'saveconfig')
Invoke-LabGuest -Guest $g -Command 'cat > /tmp/bench-attach.txt' -InputText (($attach -join "`n") + "`n") | Out-Null
Invoke-LabGuest -Guest $g -Command 'cat > /tmp/bench-detach.txt' -InputText (($detach -join "`n") + "`n") | Out-Null

function Measure-InGuest([string] $Command) {
    # Wall time inside the guest, in ms (no ssh in the measurement).
    $ms = Invoke-LabGuest -Guest $g -Command ('s=$(date +%s%N); ' + $Command + ' >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))') -TimeoutSeconds 900
    return [double]($ms | Select-Object -Last 1) / 1000
}

$perCommand = { param($file) 'while IFS= read -r line; do targetcli "$line"; done < ' + $file }
$r = @{ AAttach = @(); ADetach = @(); BAttach = @(); BDetach = @(); CAttach = @(); CDetach = @() }
for ($i = 1; $i -le $Rounds; $i++) {
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $a = New-BlockVolumeAttachment -VolumeId $vol.Id -InitiatorIqn $initiator -Wait -TimeoutSec 900
    $r.AAttach += $clock.Elapsed.TotalSeconds
    if ($a.Status -ne 'attached') { throw "attach ended $($a.Status)" }
    $clock.Restart()
    Remove-BlockVolumeAttachment -Id $a.Id -Confirm:$false -Wait -TimeoutSec 900
    $r.ADetach += $clock.Elapsed.TotalSeconds

    $r.BAttach += Measure-InGuest 'targetcli < /tmp/bench-attach.txt'
    $r.BDetach += Measure-InGuest 'targetcli < /tmp/bench-detach.txt'
    $r.CAttach += Measure-InGuest (& $perCommand '/tmp/bench-attach.txt')
    $r.CDetach += Measure-InGuest (& $perCommand '/tmp/bench-detach.txt')
    Write-Host ("round {0}: A {1:0.0}/{2:0.0}  B {3:0.0}/{4:0.0}  C {5:0.0}/{6:0.0} s (attach/detach)" -f $i,
        $r.AAttach[-1], $r.ADetach[-1], $r.BAttach[-1], $r.BDetach[-1], $r.CAttach[-1], $r.CDetach[-1])
}
$agentLog = Invoke-LabGuest -Guest $g -Command "grep -E 'attach .*targetcli run|detach .*targetcli run' /var/log/blockstore-agent.log | tail -$(2 * $Rounds)"
Invoke-LabGuest -Guest $g -Command "lvremove -q -f $($g.vg)/bench-hand" | Out-Null
Remove-BlockVolume -Id $vol.Id -Confirm:$false -Wait -TimeoutSec 600 | Out-Null

function Med([double[]] $v) { $s = @($v | Sort-Object); if ($s.Count % 2) { $s[[int][Math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
function Row([string] $Name, [double[]] $Att, [double[]] $Det) {
    '| {0} | {1:0.0} ({2}) | {3:0.0} ({4}) |' -f $Name, (Med $Att), (($Att | ForEach-Object { $_.ToString('0.0') }) -join ', '),
        (Med $Det), (($Det | ForEach-Object { $_.ToString('0.0') }) -join ', ')
}
''
"Rounds: $Rounds, interleaved, $(Get-Date -Format 'yyyy-MM-dd HH:mm') UTC, guest under qemu TCG (1 vCPU)"
''
'| variant | attach, s: median (all) | detach, s: median (all) |'
'| --- | --- | --- |'
Row 'A: New-/Remove-BlockVolumeAttachment -Wait (end to end)' $r.AAttach $r.ADetach
Row 'B: same targetcli commands by hand, one process (stdin)' $r.BAttach $r.BDetach
Row 'C: same commands by hand, one targetcli process per command' $r.CAttach $r.CDetach
''
'Agent log lines (targetcli processes and time per operation):'
$agentLog | ForEach-Object { "    $_" }
