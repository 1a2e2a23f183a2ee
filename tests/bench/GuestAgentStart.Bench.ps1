#Requires -Version 7.4
<#
.SYNOPSIS
    Issue 16: how long the agent in the lab's guest takes to start, the NativeAOT executable that
    build.ps1 publishes against the ReadyToRun publish it replaced, side by side in one run.

.DESCRIPTION
    Not run by build.ps1 Test (figures are measured, never asserted). Needs a lab with its guest:
        dotnet pwsh ./build.ps1 Build; dotnet pwsh ./build.ps1 Up -WithGuest
        dotnet pwsh ./tests/bench/GuestAgentStart.Bench.ps1 [-Rounds 3]

    The ReadyToRun publish (framework-dependent, linux-x64, as build.ps1 made it before) is made
    under out/bench/agent-r2r and copied into the guest's agent share (.blockstore/guest/agent/r2r),
    so both run from the same 9p mount, with the same arguments (/mnt/share/agent.args) and the
    environment bs-agent gave each. Each round starts each variant once, the order reversed every
    other round (drift in the machine's load falls on both alike): the agent is stopped, its
    capabilities cleared, then started, and the clock runs until it has registered and reported its
    iSCSI capability (what the lab waits for: Wait-LabGuestAgent). Times are taken from the host, so
    each includes one ssh command and the 0.5-s polls (the same for both). At the end the guest's
    own agent (bs-agent, NativeAOT) runs again.
#>
[CmdletBinding()]
param([ValidateRange(1, 20)][int] $Rounds = 3)

$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$bench = Initialize-BenchLab
Import-Module (Join-Path $bench.Repo 'tests/lab/guest/LabGuest.psm1') -Force -DisableNameChecking
$lab = $bench.Lab
if (-not $lab.PSObject.Properties['guest'] -or -not $lab.guest) { throw 'This lab has no guest: dotnet pwsh ./build.ps1 Up -WithGuest' }
$guest = $lab.guest

# The ReadyToRun publish, into the guest's share (Copy-LabGuestAgent's folder, shared as /opt/blockstore/agent).
$r2r = Join-Path $bench.Repo 'out/bench/agent-r2r'
if (-not (Test-Path -LiteralPath (Join-Path $r2r 'BlockStore.Agent.dll'))) {
    & dotnet publish (Join-Path $bench.Repo 'src/BlockStore.Agent') -c Release --nologo -v quiet -o $r2r -r linux-x64 --self-contained false -p:PublishReadyToRun=true | Out-Host
    if ($LASTEXITCODE -ne 0) { throw 'the ReadyToRun publish failed' }
}
$share = Join-Path $lab.stateDir 'guest/agent/r2r'
New-Item -ItemType Directory -Force -Path $share | Out-Null
Copy-Item -Path (Join-Path $r2r '*') -Destination $share -Recurse -Force

# How each variant is started in the guest: bs-agent's start, with the executable and environment it had.
$pidFile = '/run/blockstore-agent.pid'
$log = '/var/log/blockstore-agent.log'
$start = @{
    aot = 'export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 HOME=/root; cd /opt/blockstore/agent; ' +
        "setsid /opt/blockstore/agent/BlockStore.Agent `"`${a[@]}`" >> $log 2>&1 < /dev/null & echo `$! > $pidFile"
    r2r = 'export DOTNET_ROOT=/opt/dotnet DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 HOME=/root ' +
        'DOTNET_TieredPGO=0 DOTNET_TC_QuickJitForLoops=1 DOTNET_ReadyToRun=1; cd /opt/blockstore/agent/r2r; ' +
        "setsid /opt/dotnet/dotnet /opt/blockstore/agent/r2r/BlockStore.Agent.dll `"`${a[@]}`" >> $log 2>&1 < /dev/null & echo `$! > $pidFile"
}

function Measure-GuestAgentStart([string] $Variant) {
    Invoke-LabGuest -Guest $guest -Command 'bs-agent stop' | Out-Null
    Invoke-LabSql -Lab $lab "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$($guest.name)' and service = 'volume'" | Out-Null
    $since = "$(Invoke-LabSql -Lab $lab 'select now()::text')".Trim()
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Invoke-LabGuest -Guest $guest -Command ("mapfile -t a < /mnt/share/agent.args; echo `"=== start $Variant `$(date -Is)`" >> $log; " + $start[$Variant]) | Out-Null
    $registered = $null
    while ($clock.Elapsed.TotalSeconds -lt 300) {
        $row = Invoke-LabSql -Lab $lab ("select (started_at > '$since'::timestamptz)::text || '|' || coalesce(capabilities->>'iscsi', '') " +
            "from bs.services where host = '$($guest.name)' and service = 'volume'")
        $f = "$row".Split('|')
        if (-not $registered -and $f[0] -eq 'true') { $registered = $clock.Elapsed.TotalSeconds }
        if ($f.Count -gt 1 -and $f[1] -eq 'true') { return [pscustomobject]@{ Variant = $Variant; Ready = $clock.Elapsed.TotalSeconds; Registered = $registered } }
        Start-Sleep -Milliseconds 500
    }
    throw "the $Variant agent did not report its iSCSI capability within 300 s"
}

Write-Host "guest agent start, NativeAOT against ReadyToRun: $Rounds round(s) on $(Get-BenchMachine)"
$results = [System.Collections.Generic.List[object]]::new()
try {
    for ($r = 1; $r -le $Rounds; $r++) {
        $order = if ($r % 2) { 'aot', 'r2r' } else { 'r2r', 'aot' }
        foreach ($v in $order) {
            $m = Measure-GuestAgentStart $v
            $m | Add-Member -NotePropertyName Round -NotePropertyValue $r
            $m | Add-Member -NotePropertyName Load -NotePropertyValue (Get-Content /proc/loadavg).Split(' ')[0]
            $results.Add($m)
            Write-Host ("  round {0} {1}: ready after {2:0.0} s (load {3})" -f $r, $v, $m.Ready, $m.Load)
        }
    }
}
finally {
    Invoke-LabGuest -Guest $guest -Command 'bs-agent stop' | Out-Null
    Invoke-LabSql -Lab $lab "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$($guest.name)' and service = 'volume'" | Out-Null
    Invoke-LabGuest -Guest $guest -Command 'bs-agent start' | Out-Null
    Wait-LabGuestAgent -Lab $lab -Guest $guest
}
$aot = Get-Median @($results | Where-Object Variant -EQ 'aot' | ForEach-Object Ready)
$r2rMedian = Get-Median @($results | Where-Object Variant -EQ 'r2r' | ForEach-Object Ready)
$pairs = @(for ($r = 1; $r -le $Rounds; $r++) {
        $a = @($results | Where-Object { $_.Round -eq $r -and $_.Variant -eq 'aot' })[0].Ready
        $b = @($results | Where-Object { $_.Round -eq $r -and $_.Variant -eq 'r2r' })[0].Ready
        '{0:0.00}' -f ($a / $b)
    })
Write-Host ("ready (median): NativeAOT {0:0.0} s, ReadyToRun {1:0.0} s; AOT/R2R per round: {2}" -f $aot, $r2rMedian, ($pairs -join ', '))
