#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Module start-up and per-call cost (docs/benchmarks.md, section "Module start-up and per-call cost").

.DESCRIPTION
    Not run by build.ps1 Test. Needs the built module and a lab (dotnet pwsh ./build.ps1 Build; ... Up).
    1. Cold: a fresh `pwsh -NoProfile -c exit` vs `pwsh -NoProfile -c 'Import-Module ...'` vs
       `pwsh -NoProfile -c 'Import-Module ...; Get-BlockVolume'`, interleaved run by run so machine noise
       hits all three alike; median and p95 of wall time over -Runs runs.
    2. Warm, in one session: Get-BlockVolume -Name x, New-BlockVolume, and the same parametrised SELECT
       issued directly through Npgsql (the module's own copy, from its load context, on its own data
       source), interleaved; median and p95 per call.
    3. Tab completion: first and warm TabExpansion2 of -Name in a fresh session.
    Prints a markdown table to paste into docs/benchmarks.md.

.EXAMPLE
    dotnet pwsh tests/bench/ModuleStartup.ps1 -Runs 15 -Calls 40
#>
[CmdletBinding()]
param([int] $Runs = 15, [int] $Calls = 40)

$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot '../pester/TestHelpers.psm1') -Force -DisableNameChecking
$repo = Get-LabRepoRoot
$lab = Get-LabInfo
$module = Join-Path $repo 'out/BlockStore/BlockStore.psd1'
$env:BLOCKSTORE_CONNECTION = $lab.connectionString

function Get-Stats([double[]] $Values) {
    $sorted = @($Values | Sort-Object)
    $median = if ($sorted.Count % 2) { $sorted[[int][math]::Floor($sorted.Count / 2)] } else { ($sorted[$sorted.Count / 2 - 1] + $sorted[$sorted.Count / 2]) / 2 }
    $p95 = $sorted[[int][math]::Ceiling(0.95 * $sorted.Count) - 1]
    [pscustomobject]@{ Median = $median; P95 = $p95; N = $sorted.Count }
}

function Invoke-Pwsh([string] $Command) {
    $exe = (Get-Process -Id $PID).Path
    $psi = [System.Diagnostics.ProcessStartInfo]::new($exe)
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $Command) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $p = [System.Diagnostics.Process]::Start($psi)
    $out = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    $sw.Stop()
    if ($p.ExitCode -ne 0) { throw "pwsh -c '$Command' exited $($p.ExitCode): $out" }
    return [pscustomobject]@{ Ms = $sw.Elapsed.TotalMilliseconds; Out = $out }
}

# --- 1. cold start --------------------------------------------------------------------------------
$cold = [ordered]@{
    'pwsh -NoProfile -c exit'                          = 'exit'
    'pwsh -NoProfile -c "Import-Module BlockStore"'    = "Import-Module '$module'"
    'pwsh -NoProfile -c "Import-Module …; Get-BlockVolume"' = "Import-Module '$module'; Get-BlockVolume | Out-Null"
}
$coldTimes = @{}
foreach ($k in $cold.Keys) { $coldTimes[$k] = [System.Collections.Generic.List[double]]::new(); $null = Invoke-Pwsh $cold[$k] }  # warm the OS file cache
for ($i = 0; $i -lt $Runs; $i++) {
    foreach ($k in $cold.Keys) { $coldTimes[$k].Add((Invoke-Pwsh $cold[$k]).Ms) }
}

# --- 2. warm per-call cost -----------------------------------------------------------------------
Import-Module $module -Force
$prefix = 'bench' + [guid]::NewGuid().ToString('N').Substring(0, 6)
$probe = New-BlockVolume -Name "$prefix-probe" -SizeGiB 1
$null = Get-BlockVolume -Name $probe.Name
$npgsql = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Npgsql' } | Select-Object -First 1
$dataSource = $npgsql.GetType('Npgsql.NpgsqlDataSource')::Create($lab.connectionString)
$sql = 'SELECT v.id, v.name, v.size_gib, v.status, v.host, v.zone, v.description, v.status_reason, v.created_at, v.updated_at FROM bs.volumes v WHERE v.status <> ''deleted'' AND v.name = $1'
function Invoke-Bare {
    $cmd = $dataSource.CreateCommand($sql)
    try {
        $p = $cmd.CreateParameter(); $p.Value = $probe.Name; [void]$cmd.Parameters.Add($p)
        $r = $cmd.ExecuteReader()
        try { while ($r.Read()) { $null = $r.GetGuid(0), $r.GetString(1) } } finally { $r.Dispose() }
    }
    finally { $cmd.Dispose() }
}
Invoke-Bare
$warm = [ordered]@{
    'Get-BlockVolume -Name <one>' = [System.Collections.Generic.List[double]]::new()
    'New-BlockVolume -Name <new> -SizeGiB 1' = [System.Collections.Generic.List[double]]::new()
    'bare Npgsql: same SELECT, parametrised, pooled' = [System.Collections.Generic.List[double]]::new()
}
$sw = [System.Diagnostics.Stopwatch]::new()
for ($i = 0; $i -lt $Calls; $i++) {
    $sw.Restart(); $null = Get-BlockVolume -Name $probe.Name; $sw.Stop(); $warm['Get-BlockVolume -Name <one>'].Add($sw.Elapsed.TotalMilliseconds)
    $sw.Restart(); $null = New-BlockVolume -Name "$prefix-$i" -SizeGiB 1; $sw.Stop(); $warm['New-BlockVolume -Name <new> -SizeGiB 1'].Add($sw.Elapsed.TotalMilliseconds)
    $sw.Restart(); Invoke-Bare; $sw.Stop(); $warm['bare Npgsql: same SELECT, parametrised, pooled'].Add($sw.Elapsed.TotalMilliseconds)
}
$dataSource.Dispose()

# --- 3. completion in a fresh session ------------------------------------------------------------
$tab = Invoke-Pwsh @"
Import-Module '$module'
`$line = 'Get-BlockVolume -Name $prefix-1'
`$t = foreach (`$i in 1..3) { `$sw = [Diagnostics.Stopwatch]::StartNew(); `$n = @((TabExpansion2 -inputScript `$line -cursorColumn `$line.Length).CompletionMatches).Count; `$sw.Stop(); '{0:N0} ms ({1} matches)' -f `$sw.Elapsed.TotalMilliseconds, `$n; Start-Sleep -Milliseconds 1500 }
`$t -join '; '
"@

Get-BlockVolume -Name "$prefix-*" | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 600

# --- report --------------------------------------------------------------------------------------
$bare = (Get-Stats $coldTimes['pwsh -NoProfile -c exit']).Median
"Cold start, $Runs runs each, interleaved (wall time of the whole process):"
''
'| command | median ms | p95 ms | median over bare pwsh |'
'| --- | ---: | ---: | ---: |'
foreach ($k in $cold.Keys) {
    $s = Get-Stats $coldTimes[$k]
    '| `{0}` | {1:N0} | {2:N0} | +{3:N0} ms |' -f $k, $s.Median, $s.P95, ($s.Median - $bare)
}
''
"Warm per-call cost in one session, $Calls calls each, interleaved:"
''
'| call | median ms | p95 ms | median / bare query |'
'| --- | ---: | ---: | ---: |'
$bareWarm = (Get-Stats $warm['bare Npgsql: same SELECT, parametrised, pooled']).Median
foreach ($k in $warm.Keys) {
    $s = Get-Stats $warm[$k]
    '| {0} | {1:N2} | {2:N2} | {3:N1}x |' -f $k, $s.Median, $s.P95, ($s.Median / $bareWarm)
}
''
"Tab completion of -Name in a fresh session (1st, 2nd 1.5 s later, 3rd): $($tab.Out.Trim())"
