#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds BlockStore.Ps, runs a local lab (PostgreSQL + LVM on loop devices + scheduler + agents),
    runs the tests and the demo.

.DESCRIPTION
    dotnet pwsh ./build.ps1 Build          build the solution, publish the hosts, lay out the module in out/
    dotnet pwsh ./build.ps1 Up [-Hosts N]  start the lab in .blockstore/ (idempotent; default 2 nodes)
    dotnet pwsh ./build.ps1 Down           stop the lab and remove every trace of it (idempotent)
    dotnet pwsh ./build.ps1 Test           Build, fresh lab, xunit + Pester, lab down; last line "N passed, N failed, N skipped"
    dotnet pwsh ./build.ps1 Pester [-PesterPath f]  the Pester files against the running lab, as Test runs them
    dotnet pwsh ./build.ps1 Demo           Build, Up, then a narrated tour of the cmdlets (the lab stays up)
    dotnet pwsh ./build.ps1 Bench [-Hosts 1000] [-Volumes 100000]  Build, Up, then the control-plane load benchmark
                                           with that many simulated hosts (tests/bench/Scale.Bench.ps1; writes docs/benchmarks.md)
    dotnet pwsh ./build.ps1 Package        Build, then the module as a .nupkg (PSResourceGet) and the hosts as Debian packages
                                           with systemd units, into out/packages/ (src/packaging/Packaging.psm1)
    dotnet pwsh ./build.ps1 Up -Ha         the lab with PostgreSQL as a Patroni cluster (primary + synchronous standby)
    dotnet pwsh ./build.ps1 Chaos [-Rounds N] [-Ha] [-WithGuest]  requests (with -WithGuest also iSCSI attaches) under
                                           injected faults, then the invariants (tests/lab/Chaos.psm1)

    This file is the entry point only: parameters, Build and the dispatch below. The lab lives in
    tests/lab/ (Lab.psm1: PostgreSQL, LVM, hosts; LabTasks.psm1: Up, Down, guest; guest/), the test
    run in tests/pester/TestRun.psm1. A new task is a ValidateSet entry and one line in the dispatch
    calling into its own file.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Up', 'Down', 'Test', 'Pester', 'Demo', 'Bench', 'Chaos', 'Package')]
    [string] $Task = 'Build',

    # Up, Test: lab nodes (1-16). Bench: simulated volume hosts (default 1000).
    [ValidateRange(1, 5000)]
    [int] $Hosts = 2,

    # Bench: existing volumes the simulated hosts hold.
    [ValidateRange(0, 1000000)]
    [int] $Volumes = 100000,

    # Up, Chaos: PostgreSQL as a Patroni cluster (primary + synchronous standby, etcd; tests/lab/Patroni.ps1).
    [switch] $Ha,

    # Chaos: rounds of requests and faults (tests/lab/Chaos.psm1).
    [ValidateRange(1, 100000)]
    [int] $Rounds = 10,

    # Up, Chaos: also boot the storage-host guest (qemu, LIO + targetcli; see tests/lab/guest/LabGuest.psm1).
    [switch] $WithGuest,

    # Test: skip the guest (and the iSCSI tests that need it); by default Test boots it when qemu is installed.
    [switch] $NoGuest,

    # Test, Pester: multiplies every Pester file's time limit (tests/pester/Timeouts.psd1), e.g. 2 on a
    # slower machine. Default: $env:BLOCKSTORE_PESTER_TIMEOUT_SCALE, else 1.
    [ValidateRange(0.01, 100)]
    [double] $PesterTimeoutScale,

    # Pester: run only these files (default: every tests/pester/*.Tests.ps1).
    [string[]] $PesterPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false
$ProgressPreference = 'SilentlyContinue'
if ($env:CI -or [Console]::IsOutputRedirected) { $PSStyle.OutputRendering = 'PlainText' }

$Repo = $PSScriptRoot
Set-Location -LiteralPath $Repo
$env:BLOCKSTORE_REPO = $Repo
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:LVM_SUPPRESS_FD_WARNINGS = '1'
if (-not ($env:PATH -split ':' -contains '/usr/sbin')) { $env:PATH = "$($env:PATH):/usr/sbin:/sbin" }

Import-Module (Join-Path $Repo 'tests/lab/LabTasks.psm1') -Force -DisableNameChecking
Import-Module (Join-Path $Repo 'tests/lab/Lab.psm1') -DisableNameChecking
$Out = Join-Path $Repo 'out'
$StateDir = Join-Path $Repo '.blockstore'

function Invoke-Dotnet([string[]] $Arguments) {
    <# dotnet with its output on the console, no deadline (a cold build takes minutes); throws when it fails. #>
    Invoke-LabNative dotnet $Arguments -TimeoutSeconds 0 -ToHost
}

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------

function Invoke-Build {
    if (Test-Path -LiteralPath (Join-Path $StateDir 'pids')) {
        if (@(Get-ChildItem -LiteralPath (Join-Path $StateDir 'pids') -Filter '*.pid' -File).Count -gt 0) {
            Write-Warning 'The lab is up: its hosts keep running the previous build. Restart them (Down, then Up) to run the new one.'
        }
    }
    Write-LabStep 'dotnet build BlockStore.Ps.sln -c Release'
    Invoke-Dotnet @('build', (Join-Path $Repo 'BlockStore.Ps.sln'), '-c', 'Release', '--nologo', '-v', 'minimal')

    foreach ($h in @(@{ Project = 'BlockStore.Scheduler'; Dir = 'scheduler' }, @{ Project = 'BlockStore.Agent'; Dir = 'agent' })) {
        $dest = Join-Path $Out "hosts/$($h.Dir)"
        Write-LabStep "publish $($h.Project) -> out/hosts/$($h.Dir) (NativeAOT)"
        Remove-Item -LiteralPath $dest -Recurse -Force -ErrorAction Ignore
        # Both hosts are compiled ahead of time to one native executable each (NativeAOT, linux-x64):
        # no JIT and no runtime to load, so the agent starts in a fraction of a second on a storage
        # server and in seconds in the lab's emulated guest, where the ReadyToRun build took 30 s and
        # more, and every restart after a crash waits for that; the scheduler holds about half the
        # memory of its ReadyToRun build (docs/benchmarks.md, issues 11 and 16).
        # TrimMode=partial trims only the assemblies that declare themselves trimmable, so the
        # reflection of the hosting stack (configuration binding, Quartz's job factory, DbUp's
        # embedded scripts) keeps what it reads; the store's JSON is source-generated (DataJson).
        Invoke-Dotnet @('publish', (Join-Path $Repo "src/$($h.Project)"), '-c', 'Release', '--nologo', '-v', 'minimal', '-o', $dest,
            '-r', 'linux-x64', '-p:PublishAot=true', '-p:TrimMode=partial')
    }

    $psd1 = Join-Path $Repo 'module/BlockStore.psd1'
    if (-not (Test-Path -LiteralPath $psd1)) {
        Write-Warning 'module/BlockStore.psd1 does not exist yet: skipping the module layout (out/BlockStore).'
        return
    }

    Write-LabStep 'lay out the module -> out/BlockStore'
    $mod = Join-Path $Out 'BlockStore'
    $deps = Join-Path $mod 'Dependencies'
    Remove-Item -LiteralPath $mod -Recurse -Force -ErrorAction Ignore
    New-Item -ItemType Directory -Force -Path $mod, $deps | Out-Null
    Copy-Item -LiteralPath $psd1 -Destination $mod
    $format = Join-Path $Repo 'module/BlockStore.Format.ps1xml'
    if (Test-Path -LiteralPath $format) { Copy-Item -LiteralPath $format -Destination $mod }
    else { Write-Warning 'module/BlockStore.Format.ps1xml does not exist yet: not copied.' }

    # The cmdlet assembly and Core load in PowerShell's default context, at the module root.
    $tmp = Join-Path $Out 'tmp/commands-publish'
    Remove-Item -LiteralPath $tmp -Recurse -Force -ErrorAction Ignore
    Invoke-Dotnet @('publish', (Join-Path $Repo 'src/BlockStore.Commands'), '-c', 'Release', '--no-build', '--nologo', '-v', 'minimal', '-o', $tmp)
    $commandsBin = Join-Path $Repo 'src/BlockStore.Commands/bin/Release/net10.0'
    foreach ($file in 'BlockStore.Commands.dll', 'BlockStore.Commands.pdb', 'BlockStore.Commands.xml', 'BlockStore.Core.dll', 'BlockStore.Core.pdb') {
        $src = Join-Path $tmp $file
        if (-not (Test-Path -LiteralPath $src)) { $src = Join-Path $commandsBin $file }
        if (Test-Path -LiteralPath $src) { Copy-Item -LiteralPath $src -Destination $mod }
        elseif ($file -like '*.dll') { throw "$file was not produced by the publish of BlockStore.Commands" }
        else { Write-Warning "$file was not produced: not copied" }
    }
    Remove-Item -LiteralPath $tmp -Recurse -Force -ErrorAction Ignore
    $tmpRoot = Join-Path $Out 'tmp'
    if ((Test-Path -LiteralPath $tmpRoot) -and -not (Get-ChildItem -LiteralPath $tmpRoot -Force)) { Remove-Item -LiteralPath $tmpRoot -Force }

    # BlockStore.Data and its packages load in the module's private AssemblyLoadContext.
    Invoke-Dotnet @('publish', (Join-Path $Repo 'src/BlockStore.Data'), '-c', 'Release', '--no-build', '--nologo', '-v', 'minimal', '-o', $deps)
    Get-ChildItem -LiteralPath $deps -Recurse -File |
        Where-Object { $_.Name -like 'BlockStore.Core.*' -or $_.Name -like 'System.Management.Automation*' } |
        Remove-Item -Force

    $helpGen = Join-Path $Repo 'src/BlockStore.HelpGen/BlockStore.HelpGen.csproj'
    if (Test-Path -LiteralPath $helpGen) {
        Write-LabStep 'generate help (src/BlockStore.HelpGen)'
        # Built with the solution above; fails the build when docs and cmdlets disagree (docs/README.md).
        Invoke-Dotnet @('run', '--project', (Join-Path $Repo 'src/BlockStore.HelpGen'), '-c', 'Release', '--no-build', '--', '--docs', (Join-Path $Repo 'docs'), '--module', $mod)
    }
    Write-Host "module: $mod"
}

function Invoke-Up {
    # A lab without hosts is no lab: build them first, and a failed build fails Up.
    if (-not (Test-LabHostsBuilt -Repo $Repo)) { Write-LabStep 'out/hosts is missing: building first'; Invoke-Build }
    Invoke-LabUp -NodeCount $Hosts -WithGuest:$WithGuest -Repo $Repo -Ha:$Ha
}

function Invoke-Demo {
    Invoke-Build
    Invoke-LabUp -NodeCount $Hosts -Repo $Repo
    $lab = Get-LabInfo -Repo $Repo
    $env:BLOCKSTORE_CONNECTION = $lab.connectionString
    $failed = $null
    try { Invoke-LabPwshScript -Path (Join-Path $Repo 'tests/lab/scripts/Demo.ps1') -TimeoutSeconds 600 -What 'the demo' }
    catch { $failed = $_ }
    Write-Host ''
    Write-Host 'The lab is still up. Try it yourself:' -ForegroundColor Green
    Write-Host "  Import-Module ./out/BlockStore/BlockStore.psd1; `$env:BLOCKSTORE_CONNECTION = '$($lab.connectionString)'"
    Write-Host '  Take it down with: dotnet pwsh ./build.ps1 Down'
    if ($failed) { throw $failed }
}

# ---------------------------------------------------------------------------------------------
# Dispatch: one line per task, each calling into its own file.
# ---------------------------------------------------------------------------------------------

$testRun = @{ Repo = $Repo; PesterPath = $PesterPath; PesterTimeoutScale = $PesterTimeoutScale }
try {
    if ($Task -ne 'Bench' -and $Hosts -gt 16) { throw "-Hosts is the number of lab nodes (1-16) for $Task; only Bench takes more (simulated hosts)." }
    switch ($Task) {
        'Build' { Invoke-Build }
        'Up' { Invoke-Up }
        'Down' { Invoke-LabDown -Repo $Repo }
        'Test' { Import-Module (Join-Path $Repo 'tests/pester/TestRun.psm1') -Force; exit @(Invoke-TestRun @testRun -Build { Invoke-Build } -Hosts $Hosts -NoGuest:$NoGuest)[-1] }
        'Pester' { Import-Module (Join-Path $Repo 'tests/pester/TestRun.psm1') -Force; exit @(Invoke-PesterTask @testRun)[-1] }
        'Demo' { Invoke-Demo }
        'Bench' { Invoke-Build; Invoke-LabUp -NodeCount 2 -Repo $Repo; & (Join-Path $Repo 'tests/bench/Scale.Bench.ps1') -Hosts $(if ($PSBoundParameters.ContainsKey('Hosts')) { $Hosts } else { 1000 }) -Volumes $Volumes }
        'Package' { Invoke-Build; Import-Module (Join-Path $Repo 'src/packaging/Packaging.psm1') -Force; New-BlockStorePackages -Repo $Repo | ForEach-Object { Write-Host "package: $_ ($([Math]::Round((Get-Item -LiteralPath $_).Length / 1MB, 1)) MiB)" } }
        'Chaos' { Import-Module (Join-Path $Repo 'tests/lab/Chaos.psm1') -Force -DisableNameChecking; exit @(Invoke-ChaosTask -Repo $Repo -Rounds $Rounds -Ha:$Ha -WithGuest:$WithGuest -Hosts $Hosts -Build { Invoke-Build })[-1] }
    }
}
catch {
    # One clear line and a non-zero exit for any failed task (the stack trace for the curious).
    Write-Host "ERROR: $Task failed: $($_.Exception.Message)" -ForegroundColor Red
    Write-Host $_.ScriptStackTrace -ForegroundColor DarkGray
    exit 1
}
exit 0
