# What every benchmark under tests/bench needs: the lab and the module loaded, timing, the
# statistics of a sample, and bare LVM commands run as the agent runs them. Benchmarks measure and
# print; they never assert a timing (the machines are shared and noisy).

Set-StrictMode -Version 3.0

function Initialize-BenchLab {
    <#
    Loads the test helpers and the built module (globally: the calling script uses both), points
    the module at the running lab and returns @{ Repo; Lab; VgOf = host name -> its VG }.
    #>
    $repo = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
    if (-not $env:BLOCKSTORE_REPO) { $env:BLOCKSTORE_REPO = $repo }
    $env:LVM_SUPPRESS_FD_WARNINGS = '1'
    $env:LC_ALL = 'C'
    Import-Module (Join-Path $repo 'tests/pester/TestHelpers.psm1') -Force -DisableNameChecking -Global
    Import-Module (Join-Path $repo 'out/BlockStore/BlockStore.psd1') -Force -Global
    $lab = Get-LabInfo
    $env:BLOCKSTORE_CONNECTION = $lab.connectionString
    $vgOf = @{}; foreach ($n in $lab.nodes) { $vgOf[$n.name] = $n.vg }
    return [pscustomobject]@{ Repo = $repo; Lab = $lab; VgOf = $vgOf }
}

function Invoke-Timed {
    <# Runs the block and returns how long it took, in milliseconds (its output is discarded). #>
    param([Parameter(Mandatory)][scriptblock] $Block)
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    & $Block | Out-Null
    $sw.Stop()
    return $sw.Elapsed.TotalMilliseconds
}

function Get-Median {
    param([double[]] $Values)
    $s = @($Values | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    if ($s.Count % 2) { return $s[($s.Count - 1) / 2] }
    return ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2
}

function Get-P95 {
    <# The 95th percentile, nearest rank. #>
    param([double[]] $Values)
    $s = @($Values | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    return $s[[math]::Min($s.Count - 1, [math]::Ceiling(0.95 * $s.Count) - 1)]
}

function Invoke-Lvm {
    <# A bare LVM command (full path or tool name), with the arguments as a list; throws with its output when it fails. #>
    param([Parameter(Mandatory)][string] $Exe, [string[]] $Arguments)
    $path = if ([System.IO.Path]::IsPathRooted($Exe)) { $Exe } else { (Get-Command $Exe -CommandType Application | Select-Object -First 1).Source }
    $out = & $path @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed: $out" }
}

function Get-BenchMachine {
    <# "N cores, <cpu model>, load <1-min load>": what a result line says about where it was measured. #>
    $cpu = (Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', ''
    return "$([Environment]::ProcessorCount) cores, $cpu, load $((Get-Content /proc/loadavg).Split(' ')[0])"
}

function Measure-InGuest {
    <#
    Runs a command in the lab's guest (LabGuest.psm1's Invoke-LabGuest) and returns how long it took
    there, in ms: timed inside the guest (date +%s%N around it), so ssh is not counted against LVM.
    #>
    param([Parameter(Mandatory)][object] $Guest, [Parameter(Mandatory)][string] $Command)
    $out = Invoke-LabGuest -Guest $Guest -Command "s=`$(date +%s%N); $Command >/dev/null 2>&1 || exit 9; e=`$(date +%s%N); echo `$(( (e - s) / 1000 ))"
    return [double]@($out)[-1] / 1000
}

Export-ModuleMember -Function Initialize-BenchLab, Invoke-Timed, Get-Median, Get-P95, Invoke-Lvm, Get-BenchMachine, Measure-InGuest
