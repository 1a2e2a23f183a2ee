#Requires -Version 7.4
<#
.SYNOPSIS
    Issue 11: warm New-BlockVolume and New-BlockVolume -Wait of two builds of the module, side by side
    in one run (interleaved rounds), each next to its bare baselines.

.DESCRIPTION
    Against a running lab (Build, Up; the Scale bench or this script's seed gives zone 'sim'):
        dotnet pwsh tests/bench/CreatePath.Bench.ps1 -Before <another build's BlockStore.psd1> [-Also 'label=<psd1>', ...] [-After out/BlockStore/BlockStore.psd1]

    Each round runs one fresh pwsh per build (the order rotated every round); in it, after a
    warm-up that is not counted:
      - -Calls x (warm New-BlockVolume in zone sim, the same work from the module's data layer without
        the cmdlet, the old bare INSERT ... RETURNING), interleaved (BenchSupport's New-CreateBaselines);
      - -Waits x (New-BlockVolume -Wait in the lab's zone, a bare lvcreate on the same VG, then
        Remove-BlockVolume -Wait and lvremove).
    Prints the medians of all rounds per build, and each against before. Measures and prints only.
#>
[CmdletBinding()]
param(
    [string] $Before,
    [string] $After,
    # Builds between before and after, as 'label=path to BlockStore.psd1'.
    [string[]] $Also = @(),
    [ValidateRange(1, 50)][int] $Rounds = 4,
    [ValidateRange(5, 1000)][int] $Calls = 60,
    [ValidateRange(1, 100)][int] $Waits = 6,
    # Internal: one round of one build, samples written as JSON to -Out.
    [switch] $Worker,
    [string] $Out
)

$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1') -Force -DisableNameChecking
$repo = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))

if ($Worker) {
    $bench = Initialize-BenchLab -ModulePath $After
    $lab = $bench.Lab; $vgOf = $bench.VgOf
    $lvcreate = (Get-Command lvcreate -CommandType Application | Select-Object -First 1).Source
    $lvremove = (Get-Command lvremove -CommandType Application | Select-Object -First 1).Source
    $tag = 'cp' + [guid]::NewGuid().ToString('N').Substring(0, 6)
    # Warm-up (not counted): the first calls load and JIT the module, Npgsql and the pools.
    $w = New-BlockVolume -Name "$tag-warm" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait
    Remove-BlockVolume -Id $w.Id -Confirm:$false -Wait | Out-Null
    $baselines = New-CreateBaselines -ConnectionString $lab.connectionString
    foreach ($i in 1..5) {
        New-BlockVolume -Name "$tag-x$i" -SizeGiB 1 -AvailabilityZone sim | Out-Null
        $baselines.Equal("$tag-y$i", 'sim') | Out-Null
        $baselines.Bare("$tag-z$i")
    }
    $s = @{ new = [System.Collections.Generic.List[double]]::new(); equal = [System.Collections.Generic.List[double]]::new()
        bare = [System.Collections.Generic.List[double]]::new(); wait = [System.Collections.Generic.List[double]]::new()
        lvcreate = [System.Collections.Generic.List[double]]::new(); removeWait = [System.Collections.Generic.List[double]]::new() }
    foreach ($i in 1..$Calls) {
        $s.new.Add((Invoke-Timed { New-BlockVolume -Name "$tag-n$i" -SizeGiB 1 -AvailabilityZone sim }))
        $s.equal.Add($baselines.Equal("$tag-e$i", 'sim'))
        $s.bare.Add((Invoke-Timed { $baselines.Bare("$tag-b$i") }))
    }
    $baselines.Dispose()
    foreach ($i in 1..$Waits) {
        $script:v = $null
        $s.wait.Add((Invoke-Timed { $script:v = New-BlockVolume -Name "$tag-w$i" -SizeGiB 1 -AvailabilityZone $lab.zone -Wait }))
        if ($v.Status -ne 'available') { throw "volume $($v.Name) ended $($v.Status): $($v.StatusReason)" }
        $s.removeWait.Add((Invoke-Timed { Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait }))
        $vg = $vgOf[$v.Host]
        $s.lvcreate.Add((Invoke-Timed { Invoke-Lvm $lvcreate @('--config', $lab.lvmConfig, '-n', "$tag-bare$i", '-L', '1g', '-y', $vg) }))
        Invoke-Lvm $lvremove @('--config', $lab.lvmConfig, '-f', "$vg/$tag-bare$i")
    }
    # The zone-sim requests stay for the lab's Down (no agent serves zone sim outside the Scale bench).
    $s | ConvertTo-Json -Compress | Set-Content -LiteralPath $Out
    return
}

# The builds, in order: before, [more,] after.
$builds = [ordered]@{}
if (-not $Before) { throw '-Before: the BlockStore.psd1 of the build to compare with (e.g. a build of main before the change).' }
if (-not $After) { $After = Join-Path $repo 'out/BlockStore/BlockStore.psd1' }
$builds['before'] = $Before
foreach ($m in $Also) { $label, $path = $m -split '=', 2; $builds[$label] = $path }
$builds['after'] = $After
foreach ($k in @($builds.Keys)) {
    if (-not (Test-Path -LiteralPath $builds[$k])) { throw "no module at $($builds[$k])" }
    $builds[$k] = (Resolve-Path -LiteralPath $builds[$k]).Path
}
Import-Module (Join-Path $repo 'tests/pester/TestHelpers.psm1') -Force -DisableNameChecking
$lab = Get-LabInfo
if ([int](Invoke-LabSql "select count(*) from bs.services where service = 'volume' and zone = 'sim'") -eq 0) {
    # Zone 'sim' must be served for the warm requests (none of them is run by an agent).
    $harnessDir = Join-Path $repo 'out/bench/SimulatedHosts'
    & dotnet build (Join-Path $repo 'tests/bench/SimulatedHosts/SimulatedHosts.csproj') -c Release --nologo -v minimal -o $harnessDir | Out-Host
    $admin = ([string]$lab.adminConnectionString) -replace 'Database=postgres', "Database=$($lab.database)"
    & dotnet (Join-Path $harnessDir 'SimulatedHosts.dll') seed --connection $admin --hosts 10 --volumes 0 | Out-Host
    if ($LASTEXITCODE -ne 0) { throw 'seed failed' }
}

$loadStart = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '
$startedAt = Get-Date -AsUTC -Format 'yyyy-MM-dd HH:mm:ss'
$labels = @($builds.Keys)
$samples = @{}; foreach ($label in $labels) { $samples[$label] = @{} }
$perRound = [System.Collections.Generic.List[string]]::new()
foreach ($r in 1..$Rounds) {
    # Each build takes each place in the order equally often: the order rotates every round.
    $order = foreach ($j in 0..($labels.Count - 1)) { $labels[($j + $r - 1) % $labels.Count] }
    foreach ($label in $order) {
        $module = $builds[$label]
        $file = Join-Path ([System.IO.Path]::GetTempPath()) "createpath-$PID-$r-$label.json"
        Push-Location $repo
        try { & dotnet pwsh -NoProfile -NonInteractive -File $PSCommandPath -Worker -After $module -Calls $Calls -Waits $Waits -Out $file | Out-Host }
        finally { Pop-Location }
        if ($LASTEXITCODE -ne 0 -or -not (Test-Path -LiteralPath $file)) { throw "round $r ($label) failed" }
        $got = Get-Content -LiteralPath $file -Raw | ConvertFrom-Json
        Remove-Item -LiteralPath $file
        foreach ($k in $got.PSObject.Properties.Name) {
            if (-not $samples[$label].ContainsKey($k)) { $samples[$label][$k] = [System.Collections.Generic.List[double]]::new() }
            foreach ($x in $got.$k) { $samples[$label][$k].Add([double]$x) }
        }
        $perRound.Add("round $r ${label}: New-BlockVolume $([math]::Round((Get-Median $got.new), 2)) ms, same work $([math]::Round((Get-Median $got.equal), 2)) ms, bare INSERT $([math]::Round((Get-Median $got.bare), 2)) ms; -Wait $([math]::Round((Get-Median $got.wait), 1)) ms, lvcreate $([math]::Round((Get-Median $got.lvcreate), 1)) ms, Remove -Wait $([math]::Round((Get-Median $got.removeWait), 1)) ms")
        Write-Host $perRound[-1]
    }
}
$loadEnd = ((Get-Content /proc/loadavg) -split ' ')[0..2] -join ' '

$f = { param($x, $d = 2) [math]::Round([double]$x, $d).ToString('#,0.##', [cultureinfo]::InvariantCulture) }
$m = @{}
foreach ($label in $labels) { $m[$label] = @{}; foreach ($k in $samples[$label].Keys) { $m[$label][$k] = Get-Median $samples[$label][$k] } }
$b = $m.before
$rows = foreach ($label in $labels) {
    $x = $m[$label]
    "| $label | $(& $f $x.new) ($(& $f ($x.new / $b.new))x) | $(& $f $x.equal) | $(& $f $x.bare) | $(& $f ($x.new / $x.equal)) | $(& $f ($x.equal / $x.bare)) | $(& $f ($x.new / $x.bare)) | $(& $f $x.wait 1) ($(& $f ($x.wait / $b.wait))x) | $(& $f $x.lvcreate 1) | +$(& $f ($x.wait - $x.lvcreate) 1) | $(& $f $x.removeWait 1) |"
}
$text = @"
Run $startedAt UTC, commit $(& git -C $repo rev-parse --short HEAD 2>$null), $(Get-BenchMachine); load $loadStart at the start, $loadEnd at the end.
$Rounds rounds (a fresh pwsh per build per round, the order rotated every round), $Calls warm calls and $Waits waits per round and build; medians of all rounds.

| build | New-BlockVolume ms (/ before) | same work, data layer ms | bare INSERT ms | cmdlet / same work | same work / bare | cmdlet / bare | -Wait ms (/ before) | lvcreate ms | -Wait over lvcreate | Remove -Wait ms (path not changed) |
|---|---|---|---|---|---|---|---|---|---|---|
$($rows -join "`n")
"@
Write-Host ''
Write-Host ($perRound -join "`n")
Write-Host ''
Write-Host $text
