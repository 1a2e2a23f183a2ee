# build.ps1's lab tasks: Up (a handful of named steps), Down (every trace, also without lab.json)
# and the storage-host guest, built from the lab's blocks (Lab.psm1) and the guest (guest/LabGuest.psm1).

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false
Import-Module (Join-Path $PSScriptRoot 'Lab.psm1') -DisableNameChecking
Import-Module (Join-Path $PSScriptRoot 'guest/LabGuest.psm1') -DisableNameChecking
Import-Module (Join-Path $PSScriptRoot 'BlockStoreLab.psm1') -DisableNameChecking

function Invoke-LabUp {
    <# Starts the lab in <repo>/.blockstore (idempotent: an up lab is left as it is, dead hosts restarted). #>
    param([Parameter(Mandatory)][int] $NodeCount, [switch] $WithGuest, [string] $Repo = (Get-LabRepoRoot),
        # PostgreSQL as a Patroni cluster: primary + synchronous standby, etcd (Patroni.ps1).
        [switch] $Ha)
    $stateDir = Get-LabStateDir -Repo $Repo
    if (-not (Resolve-LabLeftovers -Repo $Repo -WithGuest:$WithGuest)) {
        if (-not (Test-LabIsRoot)) { throw 'The lab needs root: it creates loop devices and LVM volume groups (run as root).' }
        Install-LabPackages
        if ($Ha) { Install-LabPackages -Ha }
        $secretsDir = New-LabFolders -StateDir $stateDir
        $cluster = if ($Ha) { New-LabPatroniCluster -StateDir $stateDir -Repo $Repo } else { New-LabPostgresCluster -StateDir $stateDir -Repo $Repo }
        $activation = Test-LabDeviceMapper
        if (-not $activation) { Write-Host 'device-mapper not available: LVM runs with activation off (metadata operations only)' -ForegroundColor Yellow }
        $lvmConfig = Get-LabLvmConfig -Activation $activation
        $nodes = @(New-LabNodeDisks -NodeCount $NodeCount -StateDir $stateDir -LvmConfig $lvmConfig -SecretsDir $secretsDir -Repo $Repo)
        $lvmSystemDir = New-LabLvmSystemDir -StateDir $stateDir
        $lab = Write-LabDescription -Repo $Repo -StateDir $stateDir -SecretsDir $secretsDir -Cluster $cluster -Activation $activation -LvmConfig $lvmConfig -LvmSystemDir $lvmSystemDir -Nodes $nodes
        if (Test-LabHostsBuilt -Repo $Repo) {
            Initialize-LabSchema -Lab $lab
            New-LabRoles -Lab $lab -PgPass (Join-Path $secretsDir 'pgpass')
            Register-LabHosts -Lab $lab
        }
        else { Write-Warning 'out/hosts/scheduler is not built: no migrations ran.' }
        Start-LabHosts $lab
    }
    if ($WithGuest) { Invoke-LabGuestUp -Repo $Repo }
    Write-LabUsage (Get-LabInfo -Repo $Repo)
}

function Resolve-LabLeftovers {
    <#
    What Up finds: a lab that is up ($true: nothing to start; its dead hosts restarted), or the
    leftovers of a broken one, taken down ($false: start afresh).
    #>
    param([Parameter(Mandatory)][string] $Repo, [switch] $WithGuest)
    $stateDir = Get-LabStateDir -Repo $Repo
    if (Test-Path -LiteralPath (Join-Path $stateDir 'lab.json')) {
        $lab = Get-LabInfo -Repo $Repo
        if (Test-LabPostgresRunning -Lab $lab) {
            $dead = @(Get-LabHostNames $lab | Where-Object { -not (Test-LabHost -Name $_ -Lab $lab) })
            if ($dead.Count -eq 0 -or -not (Test-LabHostsBuilt -Repo $Repo)) {
                Write-Host "lab is already up ($(@($lab.nodes).Count) nodes$(if ($lab.PSObject.Properties['ha']) { ', Patroni' }); connection: $($lab.connectionString))"
                if ($dead.Count -gt 0) { Write-Warning "not running (hosts not built): $($dead -join ', ')" }
                return $true
            }
            Write-LabStep "lab is up but not running: $($dead -join ', '); restarting them"
            Start-LabHosts $lab
            return $true
        }
        Write-LabStep 'a previous lab is incomplete (PostgreSQL is not running): taking it down first'
        Invoke-LabDown -Repo $Repo
    }
    elseif ((Test-Path -LiteralPath $stateDir) -or @(Get-LabLoopDevices -Folder (Join-Path $stateDir 'disks')).Count -gt 0) {
        Write-LabStep 'leftovers of a previous lab found: taking them down first'
        Invoke-LabDown -Repo $Repo
    }
    return $false
}

function New-LabFolders {
    <# .blockstore with logs, pids, disks and the root-only secrets folder; returns the secrets folder. #>
    param([Parameter(Mandatory)][string] $StateDir)
    foreach ($d in 'logs', 'pids', 'disks') { New-Item -ItemType Directory -Force -Path (Join-Path $StateDir $d) | Out-Null }
    & chmod 755 $StateDir
    # Runtime roles' passwords go to a root-only pgpass file here, so no secret is in lab.json,
    # lab.env or any command line.
    $secretsDir = Join-Path $StateDir 'secrets'
    New-Item -ItemType Directory -Force -Path $secretsDir | Out-Null
    & chmod 700 $secretsDir
    return $secretsDir
}

function Get-LabFreePort {
    <#
    A TCP port free on 127.0.0.1 now, for a lab host's metrics listener. Below Linux's ephemeral range
    (32768 and up by default), on purpose: a port the kernel hands out for port 0 can later be the
    local port of an outgoing connection (a pooled database connection), and a host restarted by a
    crash test would then find its metrics port taken and stop.
    #>
    for ($try = 0; $try -lt 100; $try++) {
        $port = Get-Random -Minimum 20000 -Maximum 32000
        $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, $port)
        try { $probe.Start(); return $port }
        catch [System.Net.Sockets.SocketException] { continue }
        finally { $probe.Stop() }
    }
    throw 'no free TCP port between 20000 and 32000 on 127.0.0.1 for a metrics listener'
}

function Write-LabDescription {
    <# Writes lab.json (read by the tests, the benchmarks and every lab function) and lab.env; returns the lab. #>
    param([string] $Repo, [string] $StateDir, [string] $SecretsDir, [object] $Cluster, [bool] $Activation, [string] $LvmConfig, [string] $LvmSystemDir, [object[]] $Nodes)
    $s = Get-LabSettings
    $pgpass = Join-Path $SecretsDir 'pgpass'
    $roleCs = { param($role) "Host=127.0.0.1;Port=$($Cluster.port);Username=$role;Database=$($s.Database);Passfile=$pgpass" }
    $ownerCs = "Host=$($Cluster.socketDir);Port=$($Cluster.port);Username=$($s.User);Database=$($s.Database)"
    $adminCs = "Host=$($Cluster.socketDir);Port=$($Cluster.port);Username=$($s.User);Database=postgres"
    $ha = $Cluster.PSObject.Properties['ha']
    if ($ha) {
        # Up -Ha: every component gets the list of servers and asks for the primary, as in production.
        $roleCs = { param($role) "Host=$($Cluster.tcpHosts);Target Session Attributes=primary;Username=$role;Database=$($s.Database);Passfile=$pgpass" }
        $ownerCs = "Host=$($Cluster.socketHosts);Target Session Attributes=primary;Username=$($s.User);Database=$($s.Database)"
        $adminCs = "Host=$($Cluster.socketHosts);Target Session Attributes=primary;Username=$($s.User);Database=postgres"
    }
    $cs = & $roleCs $s.OperatorRole
    $lab = [ordered]@{
        repo                     = $Repo
        stateDir                 = $StateDir
        host                     = '127.0.0.1'
        port                     = $Cluster.port
        user                     = $s.User
        database                 = $s.Database
        connectionString         = $cs
        readerConnectionString   = (& $roleCs $s.ReaderRole)
        ownerConnectionString    = $ownerCs
        adminConnectionString    = $adminCs
        secretsDir               = $SecretsDir
        pgBinDir                 = $s.PgBinDir
    }
    # The cluster's places and the lab's timings go into lab.json under their own names.
    foreach ($key in 'pgDataDir', 'pgHome', 'socketDir') { $lab[$key] = $Cluster.$key }
    $lab['lvmActivation'] = $Activation
    $lab['lvmConfig'] = $LvmConfig
    if ($LvmSystemDir) { $lab['lvmSystemDir'] = $LvmSystemDir }
    foreach ($key in 'Zone', 'ReportIntervalSeconds', 'ServiceDownSeconds', 'ReconcileIntervalSeconds') {
        $lab[$key.Substring(0, 1).ToLowerInvariant() + $key.Substring(1)] = $s.$key
    }
    $lab += [ordered]@{
        scheduler                = [ordered]@{ name = $s.SchedulerName; connectionString = (& $roleCs $s.SchedulerRole) }
        schedulers               = @($s.Schedulers | ForEach-Object { [ordered]@{ name = $_.Name; connectionString = (& $roleCs $_.Role) } })
        nodes                    = @($Nodes)
        nodeNames                = @($Nodes | ForEach-Object { $_.name })
        volumeGroups             = @($Nodes | ForEach-Object { $_.vg })
        loopDevices              = @($Nodes | ForEach-Object { $_.loopDevice })
    }
    if ($ha) { $lab['ha'] = $Cluster.ha }
    # Every host serves /metrics and /healthz on a port of its own (BlockStore:Metrics:Url, passed by
    # Get-LabHostCommand), chosen free now; tests scrape the URLs recorded here (metricsUrls.<host>).
    $metrics = [ordered]@{}
    foreach ($name in @(@($s.Schedulers | ForEach-Object Name) + @($Nodes | ForEach-Object { $_.name }))) {
        $metrics[$name] = "http://127.0.0.1:$(Get-LabFreePort)/metrics"
    }
    $lab['metricsUrls'] = $metrics
    $lab | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath (Join-Path $StateDir 'lab.json')
    # Quoted (BlockStoreLab.psm1): bash `set -a; . lab.env`, systemd's EnvironmentFile= and
    # Get-BlockStoreLabEnvironment all read the whole connection string, ';' included.
    Set-Content -LiteralPath (Join-Path $StateDir 'lab.env') -Value (ConvertTo-BlockStoreLabEnvLine -Name BLOCKSTORE_CONNECTION -Value $cs)
    return (Get-LabInfo -Repo $Repo)
}

function Write-LabUsage([object] $Lab) {
    Write-Host ''
    Write-Host 'The lab is up. Use the module:' -ForegroundColor Green
    Write-Host "  Import-Module ./out/BlockStore/BlockStore.psd1; `$env:BLOCKSTORE_CONNECTION = '$($Lab.connectionString)'"
    $lvmEnv = if (Get-LabLvmSystemDir -Lab $Lab) { "LVM_SYSTEM_DIR=$($Lab.lvmSystemDir) " } else { '' }
    Write-Host "  (also in .blockstore/lab.env; logs in .blockstore/logs/; LVM: ${lvmEnv}vgs --config '$($Lab.lvmConfig)')"
    Write-Host '  Take it down with: dotnet pwsh ./build.ps1 Down'
}

function Invoke-LabGuestUp {
    <# Boots the storage-host guest (LIO) unless it is already running. See guest/LabGuest.psm1. #>
    param([string] $Repo = (Get-LabRepoRoot))
    $lab = Get-LabInfo -Repo $Repo
    if ($lab.PSObject.Properties['guest'] -and (Test-Path -LiteralPath $lab.guest.pidFile)) {
        $qemuPid = (Get-Content -LiteralPath $lab.guest.pidFile -Raw).Trim()
        if ($qemuPid -match '^\d+$' -and (Test-Path -LiteralPath "/proc/$qemuPid")) {
            Write-Host "guest $($lab.guest.name) is already up (ssh port $($lab.guest.sshPort), portal 127.0.0.1:$($lab.guest.iscsiPort))"
            return
        }
    }
    if (-not (Test-LabHostsBuilt -Repo $Repo)) { throw 'out/hosts/agent is not built: the guest runs the published agent (run Build).' }
    Install-LabPackages -Guest
    # The guest's agent is onboarded like any storage host: its own role, its configuration in the
    # guest's read-only share (root-only), the database as the guest sees it (the user-net gateway).
    $share = Join-Path $lab.stateDir 'guest/share'
    New-Item -ItemType Directory -Force -Path $share | Out-Null
    $guestConfig = Join-Path $share 'agent.json'
    Register-LabHosts -Lab $lab -Hosts @(@{ name = 'guest1'; zone = 'guest'; configFile = $guestConfig; databaseHost = '10.0.2.2' })
    Write-LabStep 'boot the storage-host guest (qemu TCG, LIO + targetcli, agent inside)'
    # 720 s: under TCG on a busy machine the initramfs alone took 150 s to unpack, the agent's start
    # takes minutes and one ssh command 79 s (measured 2026-12-04 at load 10-15).
    try { Start-LabGuest -Lab $lab -Name 'guest1' -Zone 'guest' -ConfigFile '/mnt/share/agent.json' -TimeoutSeconds 720 | Out-Null }
    catch {
        # A guest that did not come up (Start-LabGuest powered it off) is not part of the lab: without
        # .guest in lab.json the guest suites report as skipped instead of failing test by test
        # against a machine that is off (the failed boot itself is counted once, by Test).
        $labJson = Join-Path $lab.stateDir 'lab.json'
        $raw = Get-Content -LiteralPath $labJson -Raw | ConvertFrom-Json -AsHashtable
        if ($raw.ContainsKey('guest')) { $raw.Remove('guest'); $raw | ConvertTo-Json -Depth 6 | Set-Content -LiteralPath $labJson }
        throw
    }
}

function Invoke-LabSecondUp {
    <#
    A lab beside this one (idempotent), named -Name, of -NodeCount nodes and no guest (-Ha: on a
    Patroni cluster), in Get-LabSecondRepo: its folder links to every top-level entry of the checkout
    but .git and .blockstore, so its hosts run the same build (out/). Taken down with this lab
    (Invoke-LabDown) or alone (Remove-LabSecondRepo). Returns its lab description.
    #>
    param([int] $NodeCount = 2, [string] $Repo = (Get-LabRepoRoot), [string] $Name = 'lab2', [switch] $Ha)
    $root = Get-LabSecondRepo -Repo $Repo -Name $Name
    New-Item -ItemType Directory -Force -Path $root | Out-Null
    # The postgres OS user passes through every folder down to the lab's PostgreSQL home.
    $stateDir = Get-LabStateDir -Repo $Repo
    & chmod 755 $stateDir (Split-Path -Parent $root) $root
    foreach ($item in @(Get-ChildItem -LiteralPath $Repo -Force | Where-Object Name -NotIn '.git', '.blockstore')) {
        $link = Join-Path $root $item.Name
        if (-not (Get-Item -LiteralPath $link -Force -ErrorAction Ignore)) { New-Item -ItemType SymbolicLink -Path $link -Target $item.FullName | Out-Null }
    }
    Write-LabStep "lab '$Name' beside this one, in $root"
    Invoke-LabUp -NodeCount $NodeCount -Repo $root -Ha:$Ha
    return (Get-LabInfo -Repo $root)
}

function Remove-LabSecondRepo {
    <#
    Takes down the labs beside this one (-Name: that one only), then removes their links (never what
    they point to) and folders. Returns whether there was one.
    #>
    param([string] $Repo = (Get-LabRepoRoot), [string] $Name)
    $labs = Join-Path (Get-LabStateDir -Repo $Repo) 'labs'
    $roots = @(if ($Name) { Get-LabSecondRepo -Repo $Repo -Name $Name } elseif (Test-Path -LiteralPath $labs) { Get-ChildItem -LiteralPath $labs -Directory | ForEach-Object FullName })
    $any = $false
    foreach ($root in @($roots | Where-Object { Test-Path -LiteralPath $_ })) {
        $any = $true
        try { Invoke-LabDown -Repo $root }
        finally {
            # A link is deleted as a link (FileSystemInfo.Delete, not recursive): what it points to stays.
            foreach ($item in @(Get-ChildItem -LiteralPath $root -Force)) { if ($item.LinkTarget) { $item.Delete() } }
            Remove-Item -LiteralPath $root -Recurse -Force
        }
    }
    return $any
}

function Invoke-LabDown {
    <# Stops the lab and removes every trace of it: second lab, guest, hosts, PostgreSQL, VGs, loop devices, files (idempotent). #>
    param([string] $Repo = (Get-LabRepoRoot))
    $stateDir = Get-LabStateDir -Repo $Repo
    $secondDown = Remove-LabSecondRepo -Repo $Repo
    $lab = $null
    if (Test-Path -LiteralPath (Join-Path $stateDir 'lab.json')) {
        try { $lab = Get-LabInfo -Repo $Repo } catch { Write-Warning "lab.json is unreadable: $_" }
    }
    $did = @(
        (Stop-LabGuest -StateDir $stateDir)
        (Stop-LabHostProcesses -StateDir $stateDir)
    )
    $pgHomes = @((Get-LabPgHome -Repo $Repo), (Get-LabPgHome -Repo $Repo -Fallback))
    if ($lab -and $lab.PSObject.Properties['pgHome']) { $pgHomes = @($lab.pgHome) + $pgHomes }
    # Up -Ha: Patroni stops its servers, then etcd; then any single-server cluster.
    $did += Stop-LabPatroniCluster -StateDir $stateDir -PgHomes ($pgHomes | Select-Object -Unique)
    foreach ($pgHome in ($pgHomes | Select-Object -Unique)) { $did += Stop-LabPostgresCluster -PgHome $pgHome }
    $activation = if ($lab) { [bool]$lab.lvmActivation } else { Test-LabDeviceMapper }
    $did += Remove-LabNodeDisks -StateDir $stateDir -Activation $activation
    foreach ($dir in @($stateDir) + $pgHomes | Select-Object -Unique) {
        if (Test-Path -LiteralPath $dir) { Remove-Item -LiteralPath $dir -Recurse -Force; $did += $true }
    }
    if ($secondDown -or $did -contains $true) { Write-Host 'lab is down' } else { Write-Host 'no lab to take down' }
}

Export-ModuleMember -Function Invoke-LabUp, Invoke-LabDown, Invoke-LabGuestUp, Invoke-LabSecondUp, Remove-LabSecondRepo
