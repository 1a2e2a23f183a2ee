#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds BlockStore.Ps, runs a local lab (PostgreSQL + LVM on loop devices + scheduler + agents),
    runs the tests and the demo.

.DESCRIPTION
    dotnet pwsh ./build.ps1 Build          build the solution, publish the hosts, lay out the module in out/
    dotnet pwsh ./build.ps1 Up [-Hosts N]  start the lab in .blockstore/ (idempotent; default 2 nodes)
    dotnet pwsh ./build.ps1 Down           stop the lab and remove every trace of it (idempotent)
    dotnet pwsh ./build.ps1 Test           Build, fresh lab, xunit + Pester, lab down; last line "N passed, N failed"
    dotnet pwsh ./build.ps1 Pester [-PesterPath f]  the Pester files against the running lab, as Test runs them
    dotnet pwsh ./build.ps1 Demo           Build, Up, then a narrated tour of the cmdlets (the lab stays up)
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Up', 'Down', 'Test', 'Pester', 'Demo')]
    [string] $Task = 'Build',

    [ValidateRange(1, 16)]
    [int] $Hosts = 2,

    # Up: also boot the storage-host guest (qemu, LIO + targetcli; see tests/lab/guest/LabGuest.psm1).
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

# The lab's host command lines, PID files and LVM/SQL helpers live in one place, shared with the tests.
Import-Module (Join-Path $Repo 'tests/pester/TestHelpers.psm1') -Force -DisableNameChecking
Import-Module (Join-Path $Repo 'tests/lab/guest/LabGuest.psm1') -Force -DisableNameChecking
Import-Module (Join-Path $Repo 'tests/lab/BlockStoreLab.psm1') -Force -DisableNameChecking

$Out = Join-Path $Repo 'out'
$StateDir = Join-Path $Repo '.blockstore'
$PgBinDir = '/usr/lib/postgresql/15/bin'
$LabUser = 'blockstore'
$LabDatabase = 'blockstore'
$LabZone = 'nova'
# Login roles of the lab's cmdlets and scheduler (members of the groups that migration 0003 creates).
$LabOperatorRole = 'lab_operator'
$LabReaderRole = 'lab_reader'
$LabSchedulerRole = 'lab_scheduler'
$SchedulerName = 'scheduler1'
$ReportIntervalSeconds = 2
$ServiceDownSeconds = 10
# The agents' LV reconcile pass (Agent:Reconcile:IntervalSeconds; the product default is 300).
$ReconcileIntervalSeconds = 10
# Sparse: only LVM metadata is written with activation off, and a lab of 2 nodes must hold the
# 200-volume burst of the lifecycle tests (200 x 1-3 GiB) with room to spare.
$DiskSize = '256G'
# Whole `dotnet test` of one xunit project in Test (measured 6-44 s each under load).
$XunitProjectTimeoutSeconds = 1200
# Lab commands that can block on a lock or a hung server (Register-BlockVolumeHost's pwsh).
$LabCommandTimeoutSeconds = 300

# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

function Get-LabTag {
    # Six hex digits of the checkout's path: stable for one folder, different between clones.
    $sha = [System.Security.Cryptography.SHA1]::HashData([System.Text.Encoding]::UTF8.GetBytes($PSScriptRoot))
    return [System.Convert]::ToHexString($sha).Substring(0, 6).ToLowerInvariant()
}

function Write-Step([string] $Text) { Write-Host "==> $Text" -ForegroundColor Cyan }

function Invoke-Checked {
    <# Runs a native command with its output on the console; throws when it exits non-zero. #>
    param([Parameter(Mandatory)][string] $FilePath, [string[]] $ArgumentList = @())
    & $FilePath @ArgumentList | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE" }
}

function Invoke-Captured {
    <#
    Runs a native command and returns its output (stdout + stderr); throws on failure unless -AllowFailure.
    Under `timeout`: these are the lab's short commands (losetup, LVM, psql, initdb), and an LVM command
    waiting on a lock must not stall Up, Down or Test.
    #>
    param([Parameter(Mandatory)][string] $FilePath, [string[]] $ArgumentList = @(), [switch] $AllowFailure)
    $output = & timeout -k 10 $LabCommandTimeoutSeconds $FilePath @ArgumentList 2>&1 | ForEach-Object { "$_" }
    $code = $LASTEXITCODE
    if ($code -eq 124 -or $code -eq 137) {
        throw "'$FilePath $($ArgumentList -join ' ')' did not finish within $LabCommandTimeoutSeconds s: stopped"
    }
    if ($code -ne 0 -and -not $AllowFailure) {
        throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code ${code}:`n$($output -join "`n")"
    }
    return $output
}

function Test-IsRoot { return (Test-LabIsRoot) }

function Get-LoopDevicesBackedBy([string] $Folder) {
    <# Loop devices whose backing file lies in $Folder (also when the file was deleted). #>
    $json = Invoke-Captured losetup @('-l', '-J') -AllowFailure
    if (-not $json -or $LASTEXITCODE -ne 0) { return @() }
    $prefix = $Folder.TrimEnd('/') + '/'
    $list = ($json -join "`n") | ConvertFrom-Json
    if (-not $list -or -not $list.PSObject.Properties['loopdevices']) { return @() }
    @($list.loopdevices | Where-Object { $_.'back-file' -and ($_.'back-file' -replace ' \(deleted\)$', '').StartsWith($prefix) } |
        ForEach-Object name)
}

function Get-PgHome {
    <#
    Where the lab's PostgreSQL data and sockets live: .blockstore itself when the postgres OS user
    can reach it and the socket path is short enough, else a private folder under /tmp.
    #>
    param([switch] $Fallback)
    if ($Fallback) {
        $hash = [System.Convert]::ToHexString(
            [System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($Repo))).Substring(0, 10).ToLowerInvariant()
        return "/tmp/blockstore-pg-$hash"
    }
    return $StateDir
}

function Invoke-AsPostgres {
    <# Runs a PostgreSQL server tool; as root it runs as the postgres OS user (postgres refuses root). #>
    param([Parameter(Mandatory)][string] $Tool, [string[]] $ArgumentList = @(), [string] $WorkingDirectory = '/', [string] $OutputFile, [switch] $AllowFailure)
    $words = @((Join-Path $PgBinDir $Tool)) + $ArgumentList | ForEach-Object { ConvertTo-LabShellWord $_ }
    $cmd = $words -join ' '
    if (Test-IsRoot) { $cmd = "runuser -u postgres -- $cmd" }
    $redirect = if ($OutputFile) { ' >> ' + (ConvertTo-LabShellWord $OutputFile) + ' 2>&1 < /dev/null' } else { ' 2>&1 < /dev/null' }
    $script = 'cd ' + (ConvertTo-LabShellWord $WorkingDirectory) + ' && ' + $cmd + $redirect
    return (Invoke-Captured bash @('-c', $script) -AllowFailure:$AllowFailure)
}

function Get-FreePort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { return ([System.Net.IPEndPoint]$listener.LocalEndpoint).Port } finally { $listener.Stop() }
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
    Write-Step 'dotnet build BlockStore.Ps.sln -c Release'
    Invoke-Checked dotnet @('build', (Join-Path $Repo 'BlockStore.Ps.sln'), '-c', 'Release', '--nologo', '-v', 'minimal')

    foreach ($h in @(@{ Project = 'BlockStore.Scheduler'; Dir = 'scheduler' }, @{ Project = 'BlockStore.Agent'; Dir = 'agent'; ReadyToRun = $true })) {
        $dest = Join-Path $Out "hosts/$($h.Dir)"
        Write-Step "publish $($h.Project) -> out/hosts/$($h.Dir)"
        Remove-Item -LiteralPath $dest -Recurse -Force -ErrorAction Ignore
        $publish = @('publish', (Join-Path $Repo "src/$($h.Project)"), '-c', 'Release', '--nologo', '-v', 'minimal', '-o', $dest)
        if ($h['ReadyToRun']) {
            # The agent is published precompiled (ReadyToRun, linux-x64, framework-dependent): its
            # NuGet dependencies (Npgsql, Quartz, Microsoft.Extensions.*) ship as IL, and on a small
            # storage server - or the lab's emulated guest - JIT dominates the agent's start-up
            # (docs/benchmarks.md: about 2x faster to ready in the guest). This builds once more
            # for the RID, so no --no-build here.
            $publish += @('-r', 'linux-x64', '--self-contained', 'false', '-p:PublishReadyToRun=true')
        }
        else { $publish += '--no-build' }
        Invoke-Checked dotnet $publish
    }

    $psd1 = Join-Path $Repo 'module/BlockStore.psd1'
    if (-not (Test-Path -LiteralPath $psd1)) {
        Write-Warning 'module/BlockStore.psd1 does not exist yet: skipping the module layout (out/BlockStore).'
        return
    }

    Write-Step 'lay out the module -> out/BlockStore'
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
    Invoke-Checked dotnet @('publish', (Join-Path $Repo 'src/BlockStore.Commands'), '-c', 'Release', '--no-build', '--nologo', '-v', 'minimal', '-o', $tmp)
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
    Invoke-Checked dotnet @('publish', (Join-Path $Repo 'src/BlockStore.Data'), '-c', 'Release', '--no-build', '--nologo', '-v', 'minimal', '-o', $deps)
    Get-ChildItem -LiteralPath $deps -Recurse -File |
        Where-Object { $_.Name -like 'BlockStore.Core.*' -or $_.Name -like 'System.Management.Automation*' } |
        Remove-Item -Force

    $helpGen = Join-Path $Repo 'src/BlockStore.HelpGen/BlockStore.HelpGen.csproj'
    if (Test-Path -LiteralPath $helpGen) {
        Write-Step 'generate help (src/BlockStore.HelpGen)'
        # Built with the solution above; fails the build when docs and cmdlets disagree (docs/README.md).
        Invoke-Checked dotnet @('run', '--project', (Join-Path $Repo 'src/BlockStore.HelpGen'), '-c', 'Release', '--no-build', '--', '--docs', (Join-Path $Repo 'docs'), '--module', $mod)
    }
    Write-Host "module: $mod"
}

# ---------------------------------------------------------------------------------------------
# Up
# ---------------------------------------------------------------------------------------------

function Install-MissingPackages {
    $need = [System.Collections.Generic.List[string]]::new()
    if (-not (Test-Path -LiteralPath (Join-Path $PgBinDir 'initdb'))) { $need.Add('postgresql-15') }
    if (-not (Test-Path -LiteralPath '/usr/sbin/lvcreate') -and -not (Get-Command lvcreate -ErrorAction Ignore)) { $need.Add('lvm2') }
    if (-not (Test-Path -LiteralPath '/usr/sbin/thin_check') -and -not (Get-Command thin_check -ErrorAction Ignore)) { $need.Add('thin-provisioning-tools') }
    if (-not (Get-Command losetup -ErrorAction Ignore) -and -not (Test-Path -LiteralPath '/usr/sbin/losetup')) { $need.Add('mount') }
    if ($need.Count -eq 0) { return }
    if (-not (Test-IsRoot)) {
        throw "Missing packages: $($need -join ', '). Install them as root: sudo apt-get install -y $($need -join ' ')"
    }
    Write-Step "apt-get install $($need -join ' ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Checked apt-get @('update', '-q')
    Invoke-Checked apt-get (@('install', '-y', '-q', '--no-install-recommends') + $need)
}

function Test-LabPostgres([object] $Lab) {
    if (-not $Lab) { return $false }
    & (Join-Path $Lab.pgBinDir 'pg_isready') -q -h $Lab.host -p $Lab.port -t 3 2>$null | Out-Null
    return ($LASTEXITCODE -eq 0)
}

function Get-LabHostNames([object] $Lab) { return @($Lab.scheduler.name) + @($Lab.nodes | ForEach-Object name) }

function Test-HostsBuilt {
    return ((Test-Path -LiteralPath (Join-Path $Out 'hosts/scheduler/BlockStore.Scheduler.dll')) -and
        (Test-Path -LiteralPath (Join-Path $Out 'hosts/agent/BlockStore.Agent.dll')))
}

function Wait-LabHosts([object] $Lab) {
    <# Waits until the started hosts stay alive and (when the schema has bs.services) report heartbeats. #>
    $names = @(Get-LabHostNames $Lab | Where-Object { Get-LabHostPid -Name $_ -Lab $Lab })
    if ($names.Count -eq 0) { return }
    Start-Sleep -Seconds 2
    $deadline = [DateTime]::UtcNow.AddSeconds(45)
    while ($true) {
        foreach ($n in $names) {
            if (-not (Test-LabHost -Name $n -Lab $Lab)) {
                $log = Join-Path $Lab.stateDir "logs/$n.log"
                $tail = Get-Content -LiteralPath $log -Tail 40 -ErrorAction Ignore
                throw "$n exited after start. Last lines of ${log}:`n$($tail -join "`n")"
            }
        }
        $registered = @()
        try {
            $registered = @(Invoke-LabSql -Lab $Lab -Sql "select host from bs.services where heartbeat_at > now() - interval '$ServiceDownSeconds seconds'")
        }
        catch { $registered = $null }   # no bs.services yet: nothing more to wait for
        if ($null -eq $registered) { return }
        $missing = @($names | Where-Object { $_ -notin $registered })
        if ($missing.Count -eq 0) { Write-Host "hosts registered: $($names -join ', ')"; return }
        if ([DateTime]::UtcNow -gt $deadline) {
            Write-Warning "no heartbeat yet in bs.services from: $($missing -join ', ') (see .blockstore/logs/)"
            return
        }
        Start-Sleep -Milliseconds 500
    }
}

function Start-LabHosts([object] $Lab) {
    if (-not (Test-HostsBuilt)) {
        Write-Warning 'out/hosts is not built: the scheduler and agents are not started (run Build).'
        return
    }
    foreach ($n in Get-LabHostNames $Lab) {
        if (Test-LabHost -Name $n -Lab $Lab) { continue }
        $p = Start-LabHost -Name $n -Lab $Lab -NoWait
        Write-Host "started $n (pid $p, log .blockstore/logs/$n.log)"
    }
    Wait-LabHosts $Lab
}

function Write-LabUsage([object] $Lab) {
    Write-Host ''
    Write-Host 'The lab is up. Use the module:' -ForegroundColor Green
    Write-Host "  Import-Module ./out/BlockStore/BlockStore.psd1; `$env:BLOCKSTORE_CONNECTION = '$($Lab.connectionString)'"
    Write-Host "  (also in .blockstore/lab.env; logs in .blockstore/logs/; LVM: vgs --config '$($Lab.lvmConfig)')"
    Write-Host '  Take it down with: dotnet pwsh ./build.ps1 Down'
}

function Install-GuestPackages {
    <# qemu and the image tools for the guest; libiscsi-bin and qemu-io (with its iSCSI driver) for the tests' initiators. #>
    $need = [System.Collections.Generic.List[string]]::new()
    $checks = [ordered]@{
        'qemu-system-x86' = 'qemu-system-x86_64'; debootstrap = 'debootstrap'; cpio = 'cpio'; zstd = 'zstd'; kmod = 'modprobe'
        'openssh-client' = 'ssh'; 'libiscsi-bin' = 'iscsi-inq'; 'qemu-utils' = 'qemu-io'
    }
    foreach ($p in $checks.Keys) { if (-not (Get-Command $checks[$p] -ErrorAction Ignore) -and -not (Test-Path "/usr/sbin/$($checks[$p])")) { $need.Add($p) } }
    if (-not (Test-Path -LiteralPath '/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so')) { $need.Add('qemu-block-extra') }
    if ($need.Count -eq 0) { return }
    if (-not (Test-IsRoot)) { throw "Missing packages for the guest: $($need -join ', ') (apt-get install -y $($need -join ' '))" }
    Write-Step "apt-get install $($need -join ' ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Checked apt-get @('update', '-q')
    Invoke-Checked apt-get (@('install', '-y', '-q', '--no-install-recommends') + $need)
}

function Invoke-GuestUp {
    <# Boots the storage-host guest (LIO) unless it is already running. See tests/lab/guest/LabGuest.psm1. #>
    $lab = Get-LabInfo -Repo $Repo
    if ($lab.PSObject.Properties['guest'] -and (Test-Path -LiteralPath $lab.guest.pidFile)) {
        $qemuPid = (Get-Content -LiteralPath $lab.guest.pidFile -Raw).Trim()
        if ($qemuPid -match '^\d+$' -and (Test-Path -LiteralPath "/proc/$qemuPid")) {
            Write-Host "guest $($lab.guest.name) is already up (ssh port $($lab.guest.sshPort), portal 127.0.0.1:$($lab.guest.iscsiPort))"
            return
        }
    }
    if (-not (Test-HostsBuilt)) { throw 'out/hosts/agent is not built: the guest runs the published agent (run Build).' }
    Install-GuestPackages
    # The guest's agent is onboarded like any storage host: its own role, its configuration in the
    # guest's read-only share (root-only), the database as the guest sees it (the user-net gateway).
    $share = Join-Path $lab.stateDir 'guest/share'
    New-Item -ItemType Directory -Force -Path $share | Out-Null
    $guestConfig = Join-Path $share 'agent.json'
    Register-LabHosts -Lab $lab -Hosts @(@{ name = 'guest1'; zone = 'guest'; configFile = $guestConfig; databaseHost = '10.0.2.2' })
    Write-Step 'boot the storage-host guest (qemu TCG, LIO + targetcli, agent inside)'
    # 480 s: under TCG on a busy machine the agent's start alone can take minutes.
    Start-LabGuest -Lab $lab -Name 'guest1' -Zone 'guest' -ConfigFile '/mnt/share/agent.json' -TimeoutSeconds 480 | Out-Null
}

function New-LabPassword {
    return [Convert]::ToBase64String([System.Security.Cryptography.RandomNumberGenerator]::GetBytes(24)).Replace('+', '-').Replace('/', '_')
}

function Write-OwnerOnlyFile([string] $Path, [string[]] $Lines) {
    <# Creates the file empty with mode 600 first, so the secret is never readable by others. #>
    Set-Content -LiteralPath $Path -Value $null
    & chmod 600 $Path
    Set-Content -LiteralPath $Path -Value $Lines
}

function New-LabRoles([object] $Lab, [string] $PgPass) {
    <#
    The lab's login roles for the cmdlets (operator, reader) and the scheduler, members of the
    group roles that migration 0003 made. Passwords go to a root-only pgpass file.
    #>
    Write-Step "login roles $LabOperatorRole, $LabReaderRole, $LabSchedulerRole (passwords in .blockstore/secrets/pgpass)"
    $sqlFile = Join-Path $Lab.secretsDir 'roles.sql'
    $pass = [ordered]@{}
    $sql = foreach ($r in @(@($LabOperatorRole, 'bs_operator'), @($LabReaderRole, 'bs_reader'), @($LabSchedulerRole, 'bs_scheduler'))) {
        $pass[$r[0]] = New-LabPassword
        "CREATE ROLE $($r[0]) LOGIN PASSWORD '$($pass[$r[0]])' IN ROLE $($r[1]);"
    }
    Write-OwnerOnlyFile $sqlFile $sql
    Write-OwnerOnlyFile $PgPass @($pass.Keys | ForEach-Object { "*:*:*:${_}:$($pass[$_])" })
    try {
        Invoke-Captured (Join-Path $PgBinDir 'psql') @('-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $Lab.socketDir, '-p', "$($Lab.port)",
            '-U', $LabUser, '-d', $Lab.database, '-f', $sqlFile) | Out-Null
    }
    finally { Remove-Item -LiteralPath $sqlFile -Force -ErrorAction Ignore }
}

function Register-LabHosts([object] $Lab, [object[]] $Hosts) {
    <#
    Onboards storage hosts exactly as an operator would: Register-BlockVolumeHost -OutFile, as the
    lab operator. Default: node1..nodeN. -Hosts: @{ name; zone; configFile; databaseHost } each.
    #>
    if (-not $Hosts) { $Hosts = @($Lab.nodes | ForEach-Object { @{ name = $_.name; zone = $Lab.zone; configFile = $_.configFile } }) }
    $module = Join-Path $Out 'BlockStore/BlockStore.psd1'
    if (-not (Test-Path -LiteralPath $module)) { throw "$module is not built: cannot register the volume hosts (run Build)." }
    Write-Step "Register-BlockVolumeHost $(@($Hosts | ForEach-Object { $_.name }) -join ', ') (agent configurations readable by root only)"
    $script = Join-Path $Lab.secretsDir 'register.ps1'
    $hostsJson = Join-Path $Lab.secretsDir 'register.json'
    $Hosts | ConvertTo-Json -AsArray | Set-Content -LiteralPath $hostsJson
    Set-Content -LiteralPath $script -Value @'
param([string] $Module, [string] $Connection, [string] $HostsJson)
$ErrorActionPreference = 'Stop'
Import-Module $Module
$env:BLOCKSTORE_CONNECTION = $Connection
foreach ($h in @(Get-Content -LiteralPath $HostsJson -Raw | ConvertFrom-Json)) {
    $extra = @{}
    if ($h.PSObject.Properties['databaseHost'] -and $h.databaseHost) { $extra['DatabaseHost'] = $h.databaseHost }
    $r = Register-BlockVolumeHost -HostName $h.name -Zone $h.zone -OutFile $h.configFile -PassThru -Confirm:$false @extra
    Write-Host "registered $($r.HostName): role $($r.Role), configuration $($r.ConfigurationPath)"
}
'@
    $pwsh = @(Get-PwshCommand)
    $pwshArgs = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $script,
        '-Module', $module, '-Connection', $Lab.connectionString, '-HostsJson', $hostsJson)
    & timeout -k 10 $LabCommandTimeoutSeconds $pwsh[0] @pwshArgs | Out-Host
    $code = $LASTEXITCODE
    Remove-Item -LiteralPath $script, $hostsJson -Force -ErrorAction Ignore
    if ($code -eq 124) { throw "Register-BlockVolumeHost did not finish within $LabCommandTimeoutSeconds s" }
    if ($code -ne 0) { throw "Register-BlockVolumeHost failed for $(@($Hosts | ForEach-Object { $_.name }) -join ', ') (exit $code)" }
}

function Invoke-Up([int] $NodeCount) {
    $labJson = Join-Path $StateDir 'lab.json'
    if (Test-Path -LiteralPath $labJson) {
        $lab = Get-LabInfo -Repo $Repo
        if (Test-LabPostgres $lab) {
            $dead = @(Get-LabHostNames $lab | Where-Object { -not (Test-LabHost -Name $_ -Lab $lab) })
            if ($dead.Count -eq 0 -or -not (Test-HostsBuilt)) {
                Write-Host "lab is already up ($(@($lab.nodes).Count) nodes; connection: $($lab.connectionString))"
                if ($dead.Count -gt 0) { Write-Warning "not running (hosts not built): $($dead -join ', ')" }
                if ($WithGuest) { Invoke-GuestUp }
                return
            }
            Write-Step "lab is up but not running: $($dead -join ', '); restarting them"
            Start-LabHosts $lab
            Write-LabUsage $lab
            return
        }
        Write-Step 'a previous lab is incomplete (PostgreSQL is not running): taking it down first'
        Invoke-Down
    }
    elseif ((Test-Path -LiteralPath $StateDir) -or @(Get-LoopDevicesBackedBy (Join-Path $StateDir 'disks')).Count -gt 0) {
        Write-Step 'leftovers of a previous lab found: taking them down first'
        Invoke-Down
    }

    if (-not (Test-IsRoot)) {
        throw 'The lab needs root: it creates loop devices and LVM volume groups (run as root).'
    }
    Install-MissingPackages

    if (-not (Test-HostsBuilt)) {
        Write-Step 'out/hosts is missing: building first'
        try { Invoke-Build }
        catch { Write-Warning "Build failed, the lab starts without hosts: $_" }
    }

    # --- folders ------------------------------------------------------------------------------
    foreach ($d in 'logs', 'pids', 'disks') { New-Item -ItemType Directory -Force -Path (Join-Path $StateDir $d) | Out-Null }
    & chmod 755 $StateDir
    $pgHome = Get-PgHome
    $socketDir = Join-Path $pgHome 'run'
    $reachable = $true
    if (Test-IsRoot) {
        & runuser -u postgres -- test -x $StateDir 2>$null
        $reachable = ($LASTEXITCODE -eq 0)
    }
    if (-not $reachable -or ($socketDir.Length + '/.s.PGSQL.65535'.Length) -gt 100) {
        $pgHome = Get-PgHome -Fallback
        $socketDir = Join-Path $pgHome 'run'
        Write-Host "PostgreSQL data lives in $pgHome (the postgres user cannot use $StateDir)"
        New-Item -ItemType Directory -Force -Path $pgHome | Out-Null
        & chmod 755 $pgHome
    }
    $pgData = Join-Path $pgHome 'pg'
    New-Item -ItemType Directory -Force -Path $pgData, $socketDir | Out-Null
    if (Test-IsRoot) { & chown postgres:postgres $pgData $socketDir }
    & chmod 700 $pgData
    $pgLog = Join-Path $StateDir 'logs/postgres.log'

    # --- PostgreSQL -----------------------------------------------------------------------------
    $port = Get-FreePort
    Write-Step "initdb $pgData (superuser $LabUser on the unix socket only; every other role with a SCRAM password)"
    Invoke-AsPostgres initdb @('-D', $pgData, '-U', $LabUser, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-instructions') -WorkingDirectory $pgHome | Out-Null
    # The superuser (schema owner: migrations and test setup) is reachable only through the
    # socket, which only root and postgres can open; the product's roles log in with passwords.
    $hba = @(
        '# BlockStore lab: superuser via the unix socket only; everyone else with a password',
        "local   all   $LabUser                  trust",
        'local   all   all                  scram-sha-256',
        'host    all   all   127.0.0.1/32   scram-sha-256')
    $conf = @(
        '', '# BlockStore lab',
        "listen_addresses = '127.0.0.1'",
        "port = $port",
        "unix_socket_directories = '$socketDir'",
        'unix_socket_permissions = 0700',
        "password_encryption = 'scram-sha-256'",
        'max_connections = 200',
        # fsync off: the lab's OS does not crash (a PostgreSQL crash is what the tests inject, and the
        # OS page cache keeps what was written). synchronous_commit stays on: with it off a crash of
        # PostgreSQL drops commits the cmdlets already reported, which the product promises never to lose.
        'fsync = off                 # throw-away lab cluster',
        'synchronous_commit = on',
        'full_page_writes = off')
    Set-Content -LiteralPath (Join-Path $pgData 'pg_hba.conf') -Value $hba
    Add-Content -LiteralPath (Join-Path $pgData 'postgresql.conf') -Value $conf
    if (Test-IsRoot) { & chown postgres:postgres (Join-Path $pgData 'pg_hba.conf') (Join-Path $pgData 'postgresql.conf') }

    Write-Step "start PostgreSQL on 127.0.0.1:$port (log .blockstore/logs/postgres.log)"
    $started = Invoke-AsPostgres pg_ctl @('-D', $pgData, '-w', '-t', '60', 'start') -WorkingDirectory $pgHome -OutputFile $pgLog -AllowFailure
    if ($LASTEXITCODE -ne 0) {
        throw "pg_ctl start failed. Last lines of ${pgLog}:`n$((Get-Content -LiteralPath $pgLog -Tail 20) -join "`n")"
    }
    $psql = Join-Path $PgBinDir 'psql'
    Invoke-Captured $psql @('-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $socketDir, '-p', "$port", '-U', $LabUser, '-d', 'postgres', '-c', "CREATE DATABASE $LabDatabase") | Out-Null
    # Runtime roles (created below after the migration): passwords in a root-only pgpass file,
    # so no secret is in lab.json, lab.env or any command line.
    $secretsDir = Join-Path $StateDir 'secrets'
    New-Item -ItemType Directory -Force -Path $secretsDir | Out-Null
    & chmod 700 $secretsDir
    $pgpass = Join-Path $secretsDir 'pgpass'
    $roleCs = { param($role) "Host=127.0.0.1;Port=$port;Username=$role;Database=$LabDatabase;Passfile=$pgpass" }
    $cs = & $roleCs $LabOperatorRole
    $ownerCs = "Host=$socketDir;Port=$port;Username=$LabUser;Database=$LabDatabase"
    $adminCs = "Host=$socketDir;Port=$port;Username=$LabUser;Database=postgres"

    # --- LVM --------------------------------------------------------------------------------------
    $activation = Test-LabDeviceMapper
    if (-not $activation) {
        Write-Host 'device-mapper not available: LVM runs with activation off (metadata operations only)' -ForegroundColor Yellow
    }
    $lvmConfig = Get-LabLvmConfig -Activation $activation
    $existingVgs = @()
    try { $existingVgs = @(Invoke-LabLvm vgs @('-o', 'vg_name') -Lab ([pscustomobject]@{ lvmConfig = $lvmConfig }) | ForEach-Object vg_name) } catch { }
    $nodes = foreach ($k in 1..$NodeCount) {
        $name = "node$k"
        # VG names are global on a machine: a per-checkout tag lets labs of several clones coexist.
        $vg = "bs-$(Get-LabTag)-$name"
        if ($vg -in $existingVgs) {
            throw "Volume group $vg already exists outside this lab (another lab running from a different folder?). Take that one down first."
        }
        $img = Join-Path $StateDir "disks/$name.img"
        Write-Step "$name`: sparse $DiskSize $img, loop device, VG $vg"
        Invoke-Captured truncate @('-s', $DiskSize, $img) | Out-Null
        $loop = ((Invoke-Captured losetup @('-f', '--show', $img)) | Select-Object -Last 1).Trim()
        Invoke-Captured pvcreate @('--config', $lvmConfig, '-y', $loop) | Out-Null
        Invoke-Captured vgcreate @('--config', $lvmConfig, $vg, $loop) | Out-Null
        [ordered]@{ name = $name; vg = $vg; loopDevice = $loop; disk = $img; configFile = (Join-Path $secretsDir "$name.json") }
    }

    # --- lab description (read by the tests and TestHelpers.psm1) -----------------------------
    $lab = [ordered]@{
        repo                  = $Repo
        stateDir              = $StateDir
        host                  = '127.0.0.1'
        port                  = $port
        user                  = $LabUser
        database              = $LabDatabase
        connectionString      = $cs
        readerConnectionString = (& $roleCs $LabReaderRole)
        ownerConnectionString = $ownerCs
        adminConnectionString = $adminCs
        secretsDir            = $secretsDir
        pgBinDir              = $PgBinDir
        pgDataDir             = $pgData
        pgHome                = $pgHome
        socketDir             = $socketDir
        lvmActivation         = $activation
        lvmConfig             = $lvmConfig
        zone                  = $LabZone
        reportIntervalSeconds = $ReportIntervalSeconds
        serviceDownSeconds    = $ServiceDownSeconds
        reconcileIntervalSeconds = $ReconcileIntervalSeconds
        scheduler             = [ordered]@{ name = $SchedulerName; connectionString = (& $roleCs $LabSchedulerRole) }
        nodes                 = @($nodes)
        nodeNames             = @($nodes | ForEach-Object { $_.name })
        volumeGroups          = @($nodes | ForEach-Object { $_.vg })
        loopDevices           = @($nodes | ForEach-Object { $_.loopDevice })
    }
    $lab | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $labJson
    # Quoted (tests/lab/BlockStoreLab.psm1): bash `set -a; . lab.env`, systemd's EnvironmentFile= and
    # Get-BlockStoreLabEnvironment all read the whole connection string, ';' included.
    Set-Content -LiteralPath (Join-Path $StateDir 'lab.env') -Value (ConvertTo-BlockStoreLabEnvLine -Name BLOCKSTORE_CONNECTION -Value $cs)
    $lab = Get-LabInfo -Repo $Repo

    # --- schema -------------------------------------------------------------------------------------
    $schedulerDll = Join-Path $Out 'hosts/scheduler/BlockStore.Scheduler.dll'
    if (Test-Path -LiteralPath $schedulerDll) {
        Write-Step 'migrate the schema (BlockStore.Scheduler migrate)'
        $migrateLog = Join-Path $StateDir 'logs/migrate.log'
        & timeout 180 dotnet $schedulerDll migrate "--BlockStore:ConnectionString=$ownerCs" 2>&1 | Tee-Object -FilePath $migrateLog | Out-Host
        $code = $LASTEXITCODE
        if ($code -eq 124) { throw "'BlockStore.Scheduler migrate' did not finish within 180 s (see $migrateLog)" }
        if ($code -ne 0) { throw "'BlockStore.Scheduler migrate' failed with exit code $code (see $migrateLog)" }
        Invoke-LabSql -Lab $lab -Sql "UPDATE bs.settings SET value='$ServiceDownSeconds' WHERE key='service_down_seconds'" | Out-Null
        Write-Host "service_down_seconds = $ServiceDownSeconds"
        # Volumes that name no zone stay on node1..nodeN; the guest (zone guest) takes only those that ask for it.
        Invoke-LabSql -Lab $lab -Sql "UPDATE bs.settings SET value='$LabZone' WHERE key='default_availability_zone'" | Out-Null
        Write-Host "default_availability_zone = $LabZone"
        New-LabRoles -Lab $lab -PgPass $pgpass
        Register-LabHosts -Lab $lab
    }
    else {
        Write-Warning "$schedulerDll does not exist: no migrations ran."
    }

    # --- hosts --------------------------------------------------------------------------------------
    Start-LabHosts $lab
    if ($WithGuest) { Invoke-GuestUp }
    Write-LabUsage $lab
}

# ---------------------------------------------------------------------------------------------
# Down
# ---------------------------------------------------------------------------------------------

function Invoke-Down {
    $didSomething = $false
    $lab = $null
    if (Test-Path -LiteralPath (Join-Path $StateDir 'lab.json')) {
        try { $lab = Get-LabInfo -Repo $Repo } catch { Write-Warning "lab.json is unreadable: $_" }
    }

    # 0. the storage-host guest (qemu), found from its PID file
    if (Stop-LabGuest -StateDir $StateDir) { $didSomething = $true }

    # 1. hosts (every recorded PID, whether or not lab.json knows the name)
    $pidDir = Join-Path $StateDir 'pids'
    if (Test-Path -LiteralPath $pidDir) {
        foreach ($f in Get-ChildItem -LiteralPath $pidDir -Filter '*.pid' -File) {
            $text = (Get-Content -LiteralPath $f.FullName -Raw -ErrorAction Ignore)
            if ($text -and $text.Trim() -match '^\d+$') {
                $p = [int]$text.Trim()
                if (Test-LabPidAlive -ProcessId $p -CommandLike 'BlockStore.') {
                    Write-Host "stopping $($f.BaseName) (pid $p)"
                    Stop-LabProcess -ProcessId $p -TimeoutSeconds 5 -CommandLike 'BlockStore.'
                    $didSomething = $true
                }
            }
            Remove-Item -LiteralPath $f.FullName -Force -ErrorAction Ignore
        }
    }

    # 2. PostgreSQL
    $pgHomes = @((Get-PgHome), (Get-PgHome -Fallback))
    if ($lab -and $lab.PSObject.Properties['pgHome']) { $pgHomes = @($lab.pgHome) + $pgHomes }
    foreach ($pgHome in ($pgHomes | Select-Object -Unique)) {
        $pgData = Join-Path $pgHome 'pg'
        $pmPid = Join-Path $pgData 'postmaster.pid'
        if (-not (Test-Path -LiteralPath $pmPid)) { continue }
        Write-Host "stopping PostgreSQL ($pgData)"
        $didSomething = $true
        $wd = if (Test-Path -LiteralPath $pgHome) { $pgHome } else { '/' }
        Invoke-AsPostgres pg_ctl @('-D', $pgData, '-m', 'fast', '-w', '-t', '30', 'stop') -WorkingDirectory $wd -AllowFailure | Out-Null
        if ($LASTEXITCODE -ne 0 -and (Test-Path -LiteralPath $pmPid)) {
            $first = (Get-Content -LiteralPath $pmPid -TotalCount 1 -ErrorAction Ignore)
            if ($first -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$first))) {
                Write-Warning "pg_ctl stop failed; killing postmaster $first"
                Stop-LabProcess -ProcessId ([int]$first) -TimeoutSeconds 5 -CommandLike 'postgres'
            }
        }
    }

    # 3. LVM + loop devices (found from the backing files, so this works without lab.json too)
    $loops = @(Get-LoopDevicesBackedBy (Join-Path $StateDir 'disks'))
    if ($loops.Count -gt 0) {
        $didSomething = $true
        $activation = if ($lab) { [bool]$lab.lvmActivation } else { Test-LabDeviceMapper }
        $cfg = Get-LabLvmConfig -Activation $activation
        $pvs = @()
        try { $pvs = @(Invoke-LabLvm pvs @('-o', 'pv_name,vg_name') -Lab ([pscustomobject]@{ lvmConfig = $cfg })) }
        catch { Write-Warning "pvs failed: $_" }
        foreach ($loop in $loops) {
            foreach ($vg in @($pvs | Where-Object { $_.pv_name -eq $loop -and $_.vg_name } | ForEach-Object vg_name | Select-Object -Unique)) {
                Write-Host "removing VG $vg"
                $o = Invoke-Captured vgremove @('--config', $cfg, '-f', '-y', $vg) -AllowFailure
                if ($LASTEXITCODE -ne 0) { Write-Warning "vgremove $vg failed: $($o -join ' ')" }
            }
            if (@($pvs | Where-Object pv_name -EQ $loop).Count -gt 0) {
                $o = Invoke-Captured pvremove @('--config', $cfg, '-ff', '-y', $loop) -AllowFailure
                if ($LASTEXITCODE -ne 0) { Write-Warning "pvremove $loop failed: $($o -join ' ')" }
            }
            Write-Host "detaching $loop"
            $o = Invoke-Captured losetup @('-d', $loop) -AllowFailure
            if ($LASTEXITCODE -ne 0) { Write-Warning "losetup -d $loop failed: $($o -join ' ')" }
        }
    }

    # 4. files
    foreach ($dir in @($StateDir) + $pgHomes | Select-Object -Unique) {
        if (Test-Path -LiteralPath $dir) {
            Remove-Item -LiteralPath $dir -Recurse -Force
            $didSomething = $true
        }
    }
    if ($didSomething) { Write-Host 'lab is down' } else { Write-Host 'no lab to take down' }
}

# ---------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------

function Get-PwshCommand {
    <# How to start a fresh pwsh like this one: the same executable, or dotnet + pwsh.dll for the dotnet tool. #>
    $exe = (Get-Process -Id $PID).Path
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        return @($exe, (Join-Path $PSHOME 'pwsh.dll'))
    }
    return @($exe)
}

function Get-PesterManifest {
    $version = '5.7.1'
    $restoreDir = Join-Path $Out 'tools/pester-restore'
    New-Item -ItemType Directory -Force -Path $restoreDir | Out-Null
    Set-Content -LiteralPath (Join-Path $restoreDir 'pester-restore.csproj') -Value @"
<Project Sdk="Microsoft.NET.Sdk">
  <!-- Generated by build.ps1: downloads the Pester module from NuGet into the package cache. -->
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$version]" /></ItemGroup>
</Project>
"@
    Invoke-Checked dotnet @('restore', (Join-Path $restoreDir 'pester-restore.csproj'), '--nologo', '-v', 'quiet')
    $cache = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else {
        $line = (Invoke-Captured dotnet @('nuget', 'locals', 'global-packages', '--list')) | Where-Object { $_ -match 'global-packages:' } | Select-Object -First 1
        ($line -replace '^.*global-packages:\s*', '').Trim()
    }
    $manifest = Join-Path $cache "pester/$version/tools/Pester.psd1"
    if (-not (Test-Path -LiteralPath $manifest)) { throw "Pester $version was restored but $manifest is missing" }
    return $manifest
}

function Read-TrxCounts([string] $Path) {
    [xml] $trx = Get-Content -LiteralPath $Path -Raw
    $ns = @{ t = 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010' }
    $c = (Select-Xml -Xml $trx -XPath '//t:ResultSummary/t:Counters' -Namespace $ns | Select-Object -First 1).Node
    if (-not $c) { throw "no Counters in $Path" }
    $n = { param($name) if ($c.HasAttribute($name)) { [int]$c.GetAttribute($name) } else { 0 } }
    return [pscustomobject]@{
        Passed = (& $n 'passed')
        Failed = (& $n 'failed') + (& $n 'error') + (& $n 'timeout') + (& $n 'aborted')
    }
}

function Invoke-XunitProject([string] $Project, [string] $ResultsDir, [hashtable] $Totals) {
    $name = [System.IO.Path]::GetFileNameWithoutExtension($Project)
    $trxName = "$name.trx"
    $trx = Join-Path $ResultsDir $trxName
    Remove-Item -LiteralPath $trx -ErrorAction Ignore
    Write-Step "dotnet test $name"
    # --no-build: Invoke-Build has just built the solution, tests included. --blame-hang-timeout ends
    # one hung test; `timeout` bounds the whole project (measured 6-44 s per project), test host included.
    & timeout -k 30 $XunitProjectTimeoutSeconds dotnet test $Project -c Release --no-build --nologo --results-directory $ResultsDir `
        --logger "trx;LogFileName=$trxName" --logger 'console;verbosity=normal' --blame-hang-timeout 5m --blame-hang-dump-type none | Out-Host
    $code = $LASTEXITCODE
    if ($code -eq 124 -or $code -eq 137) {
        Write-Host "TIMEOUT: dotnet test $name did not finish within $XunitProjectTimeoutSeconds s: killed, counted as 1 failure" -ForegroundColor Red
        $Totals.Failed += 1
    }
    if (Test-Path -LiteralPath $trx) {
        $counts = Read-TrxCounts $trx
        Write-Host "$name`: $($counts.Passed) passed, $($counts.Failed) failed"
        $Totals.Passed += $counts.Passed
        $Totals.Failed += $counts.Failed
        if ($code -ne 0 -and $counts.Failed -eq 0) {
            Write-Warning "$name`: dotnet test exited $code with no failed test: counted as 1 failure"
            $Totals.Failed += 1; $Totals.Crashed = $true
        }
    }
    elseif ($code -eq 0) {
        Write-Host "$name`: no tests"
    }
    else {
        Write-Warning "$name`: dotnet test exited $code and wrote no results: counted as 1 failure"
        $Totals.Failed += 1; $Totals.Crashed = $true
    }
}

function Repair-LabAfterKill([object] $Lab) {
    <# A file killed at its limit skipped its AfterAll: bring back PostgreSQL and any host it had stopped. #>
    if (-not (Test-LabPostgres $Lab)) { Write-Step 'PostgreSQL was left stopped: starting it'; Start-LabPostgres -Lab $Lab }
    Start-LabHosts $Lab
}

function Get-PesterPlan([object] $Lab) {
    <# Which files, limits and runner settings `Invoke-PesterTests` uses; $null when there is no test file. #>
    $testsDir = Join-Path $Repo 'tests/pester'
    $files = @(if ($PesterPath) { @($PesterPath -split ",") | Where-Object { $_ } | ForEach-Object { Get-Item -LiteralPath $_ } }
        else { Get-ChildItem -LiteralPath $testsDir -Filter '*.Tests.ps1' -File -ErrorAction Ignore | Sort-Object Name })
    if ($files.Count -eq 0) { return $null }
    $scale = if ($PesterTimeoutScale -gt 0) { $PesterTimeoutScale }
        elseif ($env:BLOCKSTORE_PESTER_TIMEOUT_SCALE) { [double]::Parse($env:BLOCKSTORE_PESTER_TIMEOUT_SCALE, [cultureinfo]::InvariantCulture) }
        else { 1.0 }
    Import-Module (Join-Path $testsDir 'PesterRunner.psm1') -Force -DisableNameChecking
    $env:BLOCKSTORE_CONNECTION = $Lab.connectionString
    $env:BLOCKSTORE_REPO = $Repo
    return @{
        Files = $files; Scale = $scale; PesterManifest = (Get-PesterManifest); PwshCommand = @(Get-PwshCommand)
        Limits = (Import-PowerShellDataFile -LiteralPath (Join-Path $testsDir 'Timeouts.psd1'))
        # What every file imports first, and a first call into the module: loaded while the previous file runs.
        Preload = @((Join-Path $testsDir 'TestHelpers.psm1'), (Join-Path $Out 'BlockStore/BlockStore.psd1'))
        WarmUp = 'Get-BlockVolumeService | Out-Null'
    }
}

function Start-PesterEarly([hashtable] $Plan, [string] $ResultsDir) {
    <# Starts the Pester pwsh early: it loads Pester and the module, then waits for "go". #>
    return (Start-PesterFileProcess -Files $Plan.Files -PwshCommand $Plan.PwshCommand -PesterManifest $Plan.PesterManifest -ResultsDir $ResultsDir `
            -Preload $Plan.Preload -WarmUp $Plan.WarmUp)
}

function Invoke-PesterTests([object] $Lab, [string] $ResultsDir, [hashtable] $Totals, [hashtable] $Plan, [object] $FirstRun) {
    if (-not $Plan) { $Plan = Get-PesterPlan $Lab }
    if (-not $Plan) {
        Write-Host 'pester: no *.Tests.ps1 files'
        return
    }
    Write-Step "Pester 5.7.1: $($Plan.Files.Count) file(s), each under its time limit (tests/pester/Timeouts.psd1, scale $($Plan.Scale))"
    $result = Invoke-PesterFiles -Files $Plan.Files -PwshCommand $Plan.PwshCommand -PesterManifest $Plan.PesterManifest -ResultsDir $ResultsDir `
        -Limits $Plan.Limits -Scale $Plan.Scale -Preload $Plan.Preload -WarmUp $Plan.WarmUp -FirstRun $FirstRun `
        -RepairLab { Repair-LabAfterKill $Lab }.GetNewClosure()
    Write-Host "pester: $($result.Passed) passed, $($result.Failed) failed"
    $Totals.Passed += $result.Passed
    $Totals.Failed += $result.Failed
}

function Invoke-PesterTask {
    <# Pester only, against the running lab (Up first): the same runner and limits as Test. #>
    $resultsDir = Join-Path $Out 'test-results'
    New-Item -ItemType Directory -Force -Path $resultsDir | Out-Null
    $totals = @{ Passed = 0; Failed = 0; Crashed = $false }
    Invoke-PesterTests (Get-LabInfo -Repo $Repo) $resultsDir $totals
    Write-Host "$($totals.Passed) passed, $($totals.Failed) failed"
    if ($totals.Failed -gt 0) { exit 1 }
    exit 0
}

function Invoke-Test {
    $totals = @{ Passed = 0; Failed = 0; Crashed = $false }
    $resultsDir = Join-Path $Out 'test-results'
    try {
        Invoke-Build
        Remove-Item -LiteralPath $resultsDir -Recurse -Force -ErrorAction Ignore
        New-Item -ItemType Directory -Force -Path $resultsDir | Out-Null
        Write-Step 'Down any old lab'
        Invoke-Down
        Write-Step 'Up a throw-away lab'
        Invoke-Up -NodeCount $Hosts
        if (-not $NoGuest) {
            # The iSCSI tests need a real LIO target: the guest. Its failure to boot is a test failure,
            # the other suites still run (Iscsi.Tests.ps1 then reports its guest part as failed).
            $guestClock = [System.Diagnostics.Stopwatch]::StartNew()
            try { Invoke-GuestUp; Write-Host ("guest up in {0:0} s" -f $guestClock.Elapsed.TotalSeconds) }
            catch { Write-Host "ERROR: guest did not come up: $_" -ForegroundColor Red; $totals.Failed += 1 }
        }
        $lab = Get-LabInfo -Repo $Repo

        $env:BLOCKSTORE_TEST_ADMIN_CONNECTION = $lab.adminConnectionString
        $env:BLOCKSTORE_CONNECTION = $lab.connectionString
        # The Pester pwsh loads Pester and the module while the xunit projects run.
        $plan = Get-PesterPlan $lab
        $firstRun = if ($plan) { Start-PesterEarly $plan $resultsDir } else { $null }
        $projects = @(Get-ChildItem -Path (Join-Path $Repo 'tests/*/*.Tests.csproj') -File | Sort-Object { $_.Name -notlike '*Core*' }, Name)
        foreach ($p in $projects) { Invoke-XunitProject $p.FullName $resultsDir $totals }

        Invoke-PesterTests $lab $resultsDir $totals $plan $firstRun
    }
    catch {
        Write-Host "ERROR: $_" -ForegroundColor Red
        Write-Host ($_.ScriptStackTrace) -ForegroundColor DarkGray
        $totals.Failed += 1
        $totals.Crashed = $true
    }
    finally {
        Write-Step 'Down the test lab'
        try { Invoke-Down } catch { Write-Warning "Down failed: $_"; $totals.Crashed = $true }
    }
    Write-Host "$($totals.Passed) passed, $($totals.Failed) failed"
    if ($totals.Failed -gt 0 -or $totals.Crashed) { exit 1 }
    exit 0
}

# ---------------------------------------------------------------------------------------------
# Demo
# ---------------------------------------------------------------------------------------------

$DemoScript = @'
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$env:LVM_SUPPRESS_FD_WARNINGS = '1'
Import-Module (Join-Path $env:BLOCKSTORE_REPO 'tests/pester/TestHelpers.psm1') -DisableNameChecking
$lab = Get-LabInfo
function Say([string] $Text) { Write-Host ''; Write-Host "# $Text" -ForegroundColor Cyan }
function Show([string] $Command) { Write-Host "PS> $Command" -ForegroundColor Yellow }
function Has([string] $Name) {
    if (Get-Command $Name -ErrorAction Ignore) { return $true }
    Write-Host "($Name is not in the module yet: step skipped)" -ForegroundColor DarkGray
    return $false
}
function Try-Step([scriptblock] $Block) {
    try { & $Block | Out-Host } catch { Write-Host "error: $($_.Exception.Message)" -ForegroundColor Red }
}

$module = Join-Path $env:BLOCKSTORE_REPO 'out/BlockStore/BlockStore.psd1'
Say 'Load the module and point it at the lab'
if (-not (Test-Path -LiteralPath $module)) { Write-Host 'out/BlockStore is not built yet (module/BlockStore.psd1 missing): nothing to show.'; exit 0 }
Show 'Import-Module ./out/BlockStore/BlockStore.psd1'
Import-Module $module
Show "`$env:BLOCKSTORE_CONNECTION = '$env:BLOCKSTORE_CONNECTION'"
if (Get-Command Connect-BlockStore -ErrorAction Ignore) {
    Show 'Connect-BlockStore -ConnectionString $env:BLOCKSTORE_CONNECTION'
    Try-Step { Connect-BlockStore -ConnectionString $env:BLOCKSTORE_CONNECTION }
}
Show 'Get-Command -Module BlockStore'
Get-Command -Module BlockStore | Format-Table -AutoSize | Out-Host

Say 'The services: one scheduler and one volume agent per node, with their heartbeats and capacity'
if (Has Get-BlockVolumeService) { Show 'Get-BlockVolumeService'; Try-Step { Get-BlockVolumeService } }

Say 'Create a 1 GiB volume and wait until an agent has made it'
if (Has New-BlockVolume) { Show 'New-BlockVolume -Name demo-1 -SizeGiB 1 -Wait'; Try-Step { New-BlockVolume -Name demo-1 -SizeGiB 1 -Wait } }

Say 'The volumes'
if (Has Get-BlockVolume) { Show 'Get-BlockVolume'; Try-Step { Get-BlockVolume } }

Say 'What LVM sees: the logical volume the agent created'
$vgs = @($lab.nodes | ForEach-Object vg)
Show "lvs --config '$($lab.lvmConfig)' $($vgs -join ' ')"
& lvs --config $lab.lvmConfig @vgs 2>&1 | ForEach-Object { "$_" } | Where-Object { $_ -notmatch 'Activation disabled' } | Out-Host

Say 'Delete the volume and wait until it is gone'
if (Has Remove-BlockVolume) { Show 'Remove-BlockVolume -Name demo-1 -Confirm:$false -Wait'; Try-Step { Remove-BlockVolume -Name demo-1 -Confirm:$false -Wait } }
Show "lvs --config '$($lab.lvmConfig)' $($vgs -join ' ')"
& lvs --config $lab.lvmConfig @vgs 2>&1 | ForEach-Object { "$_" } | Where-Object { $_ -notmatch 'Activation disabled' } | Out-Host
'@

function Invoke-Demo {
    Invoke-Build
    Invoke-Up -NodeCount $Hosts
    $lab = Get-LabInfo -Repo $Repo
    $demoDir = Join-Path $Out 'demo'
    New-Item -ItemType Directory -Force -Path $demoDir | Out-Null
    $demo = Join-Path $demoDir 'demo.ps1'
    Set-Content -LiteralPath $demo -Value $DemoScript
    $env:BLOCKSTORE_CONNECTION = $lab.connectionString
    $pwsh = @(Get-PwshCommand)
    $pwshArgs = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $demo)
    & $pwsh[0] @pwshArgs
    $code = $LASTEXITCODE
    Write-Host ''
    Write-Host 'The lab is still up. Try it yourself:' -ForegroundColor Green
    Write-Host "  Import-Module ./out/BlockStore/BlockStore.psd1; `$env:BLOCKSTORE_CONNECTION = '$($lab.connectionString)'"
    Write-Host '  Take it down with: dotnet pwsh ./build.ps1 Down'
    if ($code -ne 0) { exit $code }
}

# ---------------------------------------------------------------------------------------------

switch ($Task) {
    'Build' { Invoke-Build }
    'Up' { Invoke-Up -NodeCount $Hosts }
    'Down' { Invoke-Down }
    'Test' { Invoke-Test }
    'Pester' { Invoke-PesterTask }
    'Demo' { Invoke-Demo }
}
exit 0
