# The lab's storage host in a qemu guest: a stock Debian kernel with LIO (configfs target),
# device-mapper (thick and thin LVM) and targetcli-fb, which the machines we develop on lack.
# Used by build.ps1 (Up -WithGuest / Down / Test) and by the Pester tests (Invoke-LabGuest).
#
# Deployment, as on a real storage server: the BlockStore agent runs INSIDE the guest, next to
# LVM and LIO, and talks to PostgreSQL over the network (here the user-net gateway 10.0.2.2,
# which qemu maps to the host's 127.0.0.1). The agent's files and the .NET runtime are shared
# into the guest read-only (9p), its settings come from agent.args (one argument per line).
# The host reaches the guest's iSCSI portal and sshd through qemu host forwards on 127.0.0.1.

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false
# Free ports, shell quoting, SQL and native commands under a deadline: the lab's, not copies.
Import-Module (Join-Path $PSScriptRoot '../Lab.psm1') -DisableNameChecking

$script:GuestDir = $PSScriptRoot
$script:ImageCache = if ($env:BLOCKSTORE_GUEST_CACHE) { $env:BLOCKSTORE_GUEST_CACHE } else { '/var/cache/blockstore-guest' }

function Get-LabGuestImage {
    <#
    The cached guest image (kernel + initramfs), built by build-image.sh when missing. The cache
    key is a hash of the scripts that make the image, so a change to them builds a new one.
    #>
    [CmdletBinding()]
    param()
    $files = 'build-image.sh', 'init', 'bs-agent' | ForEach-Object { Join-Path $script:GuestDir $_ }
    $bytes = [System.Collections.Generic.List[byte]]::new()
    foreach ($f in $files) { $bytes.AddRange([System.IO.File]::ReadAllBytes($f)) }
    $hash = [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($bytes.ToArray())).Substring(0, 16).ToLowerInvariant()
    $dir = Join-Path $script:ImageCache "bookworm-$hash"
    if (-not (Test-Path -LiteralPath (Join-Path $dir 'initrd.cpio.zst'))) {
        Write-Host "==> building the guest image (debootstrap, about 1-3 min) -> $dir" -ForegroundColor Cyan
        New-Item -ItemType Directory -Force -Path $script:ImageCache | Out-Null
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        & (Join-Path $script:GuestDir 'build-image.sh') $dir | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "build-image.sh failed (exit $LASTEXITCODE)" }
        Write-Host ("guest image built in {0:0} s" -f $clock.Elapsed.TotalSeconds)
    }
    return $dir
}

function Start-LabGuest {
    <#
    Boots the guest storage host for a lab that is up (PostgreSQL running, schema migrated) and
    records it in lab.json as .guest. Returns the guest description. Waits until its agent has
    registered and reported whether it can export over iSCSI.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Lab,
        [string] $Name = 'guest1',
        [string] $Zone = 'guest',
        [int] $MemoryMiB = 1024,
        [string] $DiskSize = '8G',
        [int] $TimeoutSeconds = 300,
        [string] $ConfigFile
    )
    if (-not (Get-Command qemu-system-x86_64 -CommandType Application -ErrorAction Ignore)) {
        throw 'qemu-system-x86_64 is missing: apt-get install qemu-system-x86 debootstrap cpio zstd kmod' }
    $image = Get-LabGuestImage
    $dir = Join-Path $Lab.stateDir 'guest'
    $share = Join-Path $dir 'share'
    New-Item -ItemType Directory -Force -Path $share | Out-Null
    $key = Join-Path $dir 'id_ed25519'
    if (-not (Test-Path -LiteralPath $key)) {
        & ssh-keygen -q -t ed25519 -N '' -C 'blockstore-lab' -f $key | Out-Null
        if ($LASTEXITCODE -ne 0) { throw 'ssh-keygen failed' }
    }
    Copy-Item -LiteralPath "$key.pub" -Destination (Join-Path $share 'authorized_keys') -Force

    $sshPort = Get-LabFreePort
    $iscsiPort = Get-LabFreePort
    # The agent's /metrics and /healthz: it listens on every guest address (port 9464 inside), the
    # host reaches it through a forwarded port, and the agent reports that URL (AdvertisedUrl).
    $metricsPort = Get-LabFreePort
    $vg = "bs-$Name"
    $pool = 'pool'
    Set-Content -LiteralPath (Join-Path $share 'guest.env') -Value @(
        "GUEST_HOST=$Name", "GUEST_VG=$vg", "GUEST_THIN_POOL=$pool", 'GUEST_THIN_POOL_SIZE=6g')
    # The agent's command line, one argument per line (bs-agent reads them into an array).
    # Database access: the agent configuration Register-BlockVolumeHost wrote into the share (the
    # host's own role; -ConfigFile is its path inside the guest), else the lab's connection.
    # Timeout=30: under TCG the first connection (JIT of Npgsql) takes longer than the default 5 s.
    $dbArg = if ($ConfigFile) { "--ConfigFile=$ConfigFile" } else {
        "--BlockStore:ConnectionString=Host=10.0.2.2;Port=$($Lab.port);Username=$($Lab.user);Database=$($Lab.database);Timeout=30" }
    Set-Content -LiteralPath (Join-Path $share 'agent.args') -Value @(
        $dbArg, "--Agent:HostName=$Name", "--Agent:Zone=$Zone",
        "--Agent:VolumeGroup=$vg", '--Agent:BackendType=thin', "--Agent:ThinPool=$pool", '--Agent:LvmActivation=true',
        '--Agent:Iscsi:PortalAddress=10.0.2.15', '--Agent:Iscsi:PortalPort=3260',
        "--Agent:Iscsi:AdvertisedPortal=127.0.0.1:$iscsiPort", '--Agent:Iscsi:ReconcileIntervalSeconds=30',
        # A TCG guest on a shared 2-core machine runs Python and LVM 50-100x slower than a storage
        # server: one `targetcli ls` took 179 s in a CI run (2026-12-04), past the default 120 s.
        '--Agent:Deadlines:TargetcliSeconds=600', '--Agent:Deadlines:LvmSeconds=600',
        "--BlockStore:ReportIntervalSeconds=$($Lab.reportIntervalSeconds)",
        '--BlockStore:Metrics:Url=http://*:9464/', "--BlockStore:Metrics:AdvertisedUrl=http://127.0.0.1:$metricsPort/")

    $disk = Join-Path $dir "$Name.img"
    if (-not (Test-Path -LiteralPath $disk)) { & truncate -s $DiskSize $disk }
    # The agent is deployed into a folder of the lab (not shared straight from out/hosts/agent: a
    # rebuild deletes and recreates that folder, which leaves the guest's 9p mount pointing at
    # nothing). Update-LabGuestAgent copies a new build in and restarts the agent.
    Copy-LabGuestAgent -Lab $Lab -Destination (Join-Path $dir 'agent')
    $guest = [ordered]@{
        name = $Name; zone = $Zone; vg = $vg; thinPool = $pool; sshPort = $sshPort; iscsiPort = $iscsiPort
        metricsPort = $metricsPort; metricsUrl = "http://127.0.0.1:$metricsPort/metrics"
        sshKey = $key; pidFile = (Join-Path $dir 'qemu.pid'); console = (Join-Path $Lab.stateDir "logs/$Name-console.log")
        image = $image; memoryMiB = $MemoryMiB
    }
    $labJson = Join-Path $Lab.stateDir 'lab.json'
    $raw = Get-Content -LiteralPath $labJson -Raw | ConvertFrom-Json -AsHashtable
    $raw['guest'] = $guest
    $raw | ConvertTo-Json -Depth 6 | Set-Content -LiteralPath $labJson
    $guestObj = [pscustomobject]$guest
    Start-LabGuestMachine -Lab $Lab -Guest $guestObj -TimeoutSeconds $TimeoutSeconds
    return $guestObj
}

function Start-LabGuestMachine {
    <#
    Starts qemu for a guest described in lab.json (its disk, shares and forwarded ports) and waits
    until sshd answers and - unless -NoAgent - its agent has reported its iSCSI capability.
    -NoAgent boots with bs.agent=off: init restores LIO's saved configuration but starts no agent.
    -Systemd boots with bs.init=systemd: init hands PID 1 to systemd after the lab's setup and starts
    no agent itself (a test installs one from its .deb); ready when sshd (systemd's ssh.service) answers.
    #>
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][object] $Guest, [int] $TimeoutSeconds = 300, [switch] $NoAgent, [switch] $Systemd)
    $qemu = (Get-Command qemu-system-x86_64 -CommandType Application -ErrorAction Ignore | Select-Object -First 1)
    if (-not $qemu) { throw 'qemu-system-x86_64 is missing: apt-get install qemu-system-x86 debootstrap cpio zstd kmod' }
    $Name = $Guest.name
    $dir = Join-Path $Lab.stateDir 'guest'
    # LIO's saved configuration (/etc/rtslib-fb-target in the guest): read-write, kept across
    # reboots of the guest like a storage server's root disk (see init).
    $state = Join-Path $dir 'state'
    New-Item -ItemType Directory -Force -Path $state | Out-Null
    $dotnetRoot = Split-Path -Parent ([System.IO.Path]::GetFullPath((Get-Command dotnet -CommandType Application | Select-Object -First 1).Source))
    $resolved = (Get-Item -LiteralPath (Join-Path $dotnetRoot 'dotnet')).ResolvedTarget
    if ($resolved) { $dotnetRoot = Split-Path -Parent $resolved }
    $memory = if ($Guest.PSObject.Properties['memoryMiB']) { $Guest.memoryMiB } else { 1024 }
    # A second virtual disk (/dev/vdb in the guest), left to the tests: a thick VG with device-mapper
    # for a second agent (ThickCopy.Tests.ps1: thick volumes from snapshots and thick clones are
    # block copies through device nodes, which the host lab's loop VGs cannot do). Sparse: it costs
    # the host only what is written; init does not touch it.
    $thickDisk = Join-Path $dir "$Name-thick.img"
    if (-not (Test-Path -LiteralPath $thickDisk)) { & truncate -s 8G $thickDisk }
    $cpus = if ($env:BLOCKSTORE_GUEST_CPUS) { [int]$env:BLOCKSTORE_GUEST_CPUS } else { 1 }
    $append = 'console=ttyS0 panic=-1 quiet' + $(if ($NoAgent) { ' bs.agent=off' } else { '' }) + $(if ($Systemd) { ' bs.init=systemd' } else { '' })
    $arguments = @(
        '-name', "blockstore-$Name", '-accel', 'tcg', '-cpu', 'max', '-smp', "$cpus", '-m', "$memory", '-no-reboot',
        '-kernel', (Join-Path $Guest.image 'vmlinuz'), '-initrd', (Join-Path $Guest.image 'initrd.cpio.zst'),
        '-append', $append,
        '-drive', "file=$(Join-Path $dir "$Name.img"),if=virtio,format=raw,cache=unsafe",
        '-drive', "file=$thickDisk,if=virtio,format=raw,cache=unsafe",
        '-netdev', ("user,id=n0,hostfwd=tcp:127.0.0.1:$($Guest.iscsiPort)-:3260,hostfwd=tcp:127.0.0.1:$($Guest.sshPort)-:22" +
            $(if ($Guest.PSObject.Properties['metricsPort']) { ",hostfwd=tcp:127.0.0.1:$($Guest.metricsPort)-:9464" } else { '' })),
        '-device', 'virtio-net-pci,netdev=n0',
        '-virtfs', "local,path=$(Join-Path $dir 'share'),mount_tag=config,security_model=none,readonly=on",
        '-virtfs', "local,path=$(Join-Path $dir 'agent'),mount_tag=agent,security_model=none,readonly=on",
        '-virtfs', "local,path=$dotnetRoot,mount_tag=dotnet,security_model=none,readonly=on",
        '-virtfs', "local,path=$state,mount_tag=state,security_model=none",
        '-serial', "file:$($Guest.console)", '-monitor', 'none', '-display', 'none',
        '-pidfile', $Guest.pidFile, '-daemonize')
    # A restarted guest's service row still holds the last capability report: clear it, so "ready"
    # below means this boot's agent has probed LIO.
    Invoke-LabSql -Lab $Lab "update bs.services set capabilities = capabilities - 'iscsi' - 'iscsi_reason' where host = '$Name'" | Out-Null
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    & $qemu.Source @arguments
    if ($LASTEXITCODE -ne 0) { throw "qemu failed to start (exit $LASTEXITCODE)" }

    # Ready = sshd answers, then the agent has registered and reported its iSCSI capability.
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    try {
        while ($true) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "guest $Name did not boot within $TimeoutSeconds s (see $($Guest.console))" }
            # 90 s per try (ssh connects within 30): on a loaded 2-core machine one ssh command to a
            # TCG guest was measured at 79 s although the guest had been up for minutes; a 10-s try
            # never got through, and the boot was reported as failed after 480 s (CI, 2026-12-03).
            $out = Invoke-LabGuest -Guest $Guest -Command 'true' -AllowFailure -TimeoutSeconds ([math]::Max(10, [math]::Min(90, ($deadline - [DateTime]::UtcNow).TotalSeconds)))
            if ($LASTEXITCODE -eq 0) { break }
            if (-not (Get-LabGuestQemuPid -StateDir $Lab.stateDir)) { throw "guest ${Name}: qemu exited during the boot (see $($Guest.console))" }
            Start-Sleep -Seconds 2
        }
        if ($NoAgent -and -not $Systemd) {
            # sshd answers before init has activated the VG and restored LIO's saved configuration:
            # a boot without the agent is over when init says it is ready (its console is new per boot).
            while ((Get-Content -LiteralPath $Guest.console -Raw -ErrorAction Ignore) -notmatch 'guest-init: ready') {
                if ([DateTime]::UtcNow -gt $deadline) { throw "guest ${Name}: its init did not report ready in time" }
                if (-not (Get-LabGuestQemuPid -StateDir $Lab.stateDir)) { throw "guest ${Name}: qemu exited during the boot (see $($Guest.console))" }
                Start-Sleep -Milliseconds 500
            }
        }
        $booted = $clock.Elapsed.TotalSeconds
        if ($NoAgent -or $Systemd) {
            Write-Host ("guest {0}: booted in {1:0} s{2} without its agent (portal 127.0.0.1:{3}, ssh port {4})" -f $Name, $booted, $(if ($Systemd) { ' under systemd' } else { '' }), $Guest.iscsiPort, $Guest.sshPort)
            return
        }
        # The agent's own start is timed apart from the boot: under TCG its .NET start and first
        # targetcli run took 9 minutes in a CI run whose guest had booted in time.
        $agentDeadline = [DateTime]::UtcNow.AddSeconds([math]::Max(600, ($deadline - [DateTime]::UtcNow).TotalSeconds))
        Wait-LabGuestAgent -Lab $Lab -Guest $Guest -Deadline $agentDeadline -Clock $clock -Booted $booted
    }
    catch {
        # A guest that did not come up is powered off: left running, its TCG emulation keeps one of
        # the machine's two cores busy for the rest of the run (a CI run was slowed past its limit so).
        # The end of its console says how far the boot got.
        $tail = @(Get-Content -LiteralPath $Guest.console -Tail 25 -ErrorAction Ignore) -join "`n"
        Stop-LabGuest -StateDir $Lab.stateDir | Out-Null
        throw "$($_.Exception.Message)`n---- last lines of $($Guest.console) ----`n$tail`n----"
    }
}

function Wait-LabGuestAgent {
    <# Waits until the guest's agent has registered and reported its iSCSI capability (cleared before it started). #>
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][object] $Guest, [DateTime] $Deadline = [DateTime]::UtcNow.AddSeconds(300),
        [System.Diagnostics.Stopwatch] $Clock = [System.Diagnostics.Stopwatch]::StartNew(), [double] $Booted = 0)
    $Name = $Guest.name
    while ($true) {
        $state = try { Invoke-LabSql -Lab $Lab "select capabilities->>'iscsi' from bs.services where host = '$Name' and service = 'volume' and capabilities ? 'iscsi'" }
        catch { $null }   # PostgreSQL restarting: ask again until the deadline
        # 'false' may be a probe that ran out of time on a slow guest: the agent probes again while
        # LIO is unavailable, so wait for 'true' until the deadline and accept 'false' only then.
        if ($state -eq 'true') { break }
        if ($state -and [DateTime]::UtcNow -gt $Deadline) { break }
        if ([DateTime]::UtcNow -gt $Deadline) {
            $log = Invoke-LabGuest -Guest $Guest -Command 'tail -30 /var/log/blockstore-agent.log' -AllowFailure
            throw "the agent in guest $Name did not report in time. Its log:`n$($log -join "`n")"
        }
        Start-Sleep -Seconds 2
    }
    Write-Host ("guest {0}: booted in {1:0} s, agent ready after {2:0} s, iSCSI capability: {3} (portal 127.0.0.1:{4}, ssh port {5})" -f
        $Name, $Booted, $Clock.Elapsed.TotalSeconds, $state, $Guest.iscsiPort, $Guest.sshPort)
    if ($state -ne 'true') {
        $why = Invoke-LabSql -Lab $Lab "select capabilities->>'iscsi_reason' from bs.services where host = '$Name'"
        Write-Warning "guest $Name cannot export over iSCSI: $why"
    }
}

function Restart-LabGuest {
    <#
    Restarts the storage-host guest with the same disk, shares, LIO state folder and forwarded
    ports (lab.json's .guest). -Hard (default) kills qemu with SIGKILL: a crash or power loss, no
    shutdown, nothing flushed by the guest. -NoAgent boots without starting the agent (bs.agent=off),
    so what works after the boot is the distribution-style restore of LIO's saved configuration;
    start the agent later with Invoke-LabGuest 'bs-agent start' and Wait-LabGuestAgent. -Systemd
    boots systemd as the guest's init, without an agent (see Start-LabGuestMachine).
    #>
    [CmdletBinding()]
    param([object] $Lab, [switch] $NoAgent, [switch] $Systemd, [int] $TimeoutSeconds = 480)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $qemuPid = Get-LabGuestQemuPid -StateDir $Lab.stateDir
    if (-not $qemuPid) { throw "the guest of this lab is not running (no qemu for $($Lab.stateDir)/guest/qemu.pid)" }
    Write-Host "power-off of guest $($Lab.guest.name): SIGKILL qemu (pid $qemuPid)"
    & kill -KILL $qemuPid 2>$null
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ((Test-Path -LiteralPath "/proc/$qemuPid") -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
    if (Test-Path -LiteralPath "/proc/$qemuPid") { throw "qemu (pid $qemuPid) did not die" }
    Remove-Item -LiteralPath $Lab.guest.pidFile -Force -ErrorAction Ignore
    Stop-LabGuestSshMux -StateDir $Lab.stateDir
    Start-LabGuestMachine -Lab $Lab -Guest $Lab.guest -TimeoutSeconds $TimeoutSeconds -NoAgent:$NoAgent -Systemd:$Systemd
}

function Get-LabGuestQemuPid([string] $StateDir) {
    <# The pid of this lab's guest qemu (PID file, checked against the process's command line), or $null. #>
    $pidFile = Join-Path $StateDir 'guest/qemu.pid'
    $text = Get-Content -LiteralPath $pidFile -Raw -ErrorAction Ignore
    if (-not $text -or $text.Trim() -notmatch '^\d+$') { return $null }
    $qemuPid = [int]$text.Trim()
    $cmdline = "/proc/$qemuPid/cmdline"
    if ((Test-Path -LiteralPath $cmdline) -and ([System.IO.File]::ReadAllText($cmdline).Contains('blockstore-'))) { return $qemuPid }
    return $null
}

function Copy-LabGuestAgent {
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][string] $Destination)
    $source = Join-Path $Lab.repo 'out/hosts/agent'
    if (-not (Test-Path -LiteralPath (Join-Path $source 'BlockStore.Agent'))) { throw "$source is not built (run build.ps1 Build)" }
    New-Item -ItemType Directory -Force -Path $Destination | Out-Null
    # Into the existing folder (same inode): the guest's mount stays valid. Not the native
    # executable's debug symbols (BlockStore.Agent.dbg, twice its size): nothing in the guest reads them.
    Get-ChildItem -LiteralPath $Destination -Force | Remove-Item -Recurse -Force
    Copy-Item -Path (Join-Path $source '*') -Exclude '*.dbg' -Destination $Destination -Recurse -Force
}

function Update-LabGuestAgent {
    <# Deploys the current build (out/hosts/agent) to the guest and restarts its agent, like an upgrade of a storage server. #>
    [CmdletBinding()]
    param([object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    Invoke-LabGuest -Guest $Lab.guest -Command 'bs-agent stop' | Out-Null
    Copy-LabGuestAgent -Lab $Lab -Destination (Join-Path $Lab.stateDir 'guest/agent')
    Invoke-LabGuest -Guest $Lab.guest -Command 'bs-agent start' | Out-Null
}

function Stop-LabGuest {
    <# Stops the guest's qemu (found from its PID file under <stateDir>/guest). Harmless when none. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $StateDir)
    $pidFile = Join-Path $StateDir 'guest/qemu.pid'
    if (-not (Test-Path -LiteralPath $pidFile)) { return $false }
    $stopped = $false
    $qemuPid = Get-LabGuestQemuPid -StateDir $StateDir
    if ($qemuPid) {
        Write-Host "stopping guest qemu (pid $qemuPid)"
        & kill -TERM $qemuPid 2>$null
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ((Test-Path -LiteralPath "/proc/$qemuPid") -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        if (Test-Path -LiteralPath "/proc/$qemuPid") { & kill -KILL $qemuPid 2>$null }
        $stopped = $true
    }
    Remove-Item -LiteralPath $pidFile -Force -ErrorAction Ignore
    Stop-LabGuestSshMux -StateDir $StateDir
    return $stopped
}

function Get-LabGuestSshMuxPath([object] $Guest) {
    <# The guest's ssh control socket, beside its key in the lab's state folder (one per forwarded ssh port). #>
    return (Join-Path (Split-Path -Parent $Guest.sshKey) "ssh-mux-$($Guest.sshPort)")
}

function Get-LabGuestSshMuxOptions([object] $Guest) {
    <#
    ssh options that share one connection to the guest between its commands (ControlMaster): under
    TCG the guest's side of every new connection (key exchange, authentication, a login) costs 2-10 s
    of emulated CPU, and the tests run hundreds of guest commands; a command on the shared connection
    costs 0.5-2 s. The first command starts the master, which lives on in the background for
    ControlPersist seconds after the last one; it ends when qemu goes (the forwarded port closes),
    and Stop-LabGuestSshMux ends it at once when the lab kills or restarts qemu. The keep-alives end
    a master whose guest stopped answering for a minute (a hung guest), so commands do not wait on a
    dead connection. BLOCKSTORE_GUEST_SSH_MUX=0: one connection per command, as before.
    #>
    $path = Get-LabGuestSshMuxPath -Guest $Guest
    # A unix socket's path holds at most 107 bytes (sun_path): a clone that deep gets one connection per command.
    if ($env:BLOCKSTORE_GUEST_SSH_MUX -eq '0' -or [System.Text.Encoding]::UTF8.GetByteCount($path) -gt 100) { return @() }
    return @('-o', 'ControlMaster=auto', '-o', "ControlPath=$path", '-o', 'ControlPersist=120',
        '-o', 'ServerAliveInterval=10', '-o', 'ServerAliveCountMax=6')
}

function Stop-LabGuestSshMux([string] $StateDir) {
    <# Ends the guest's shared ssh connections (its qemu was killed or stopped): the next command opens a new one. #>
    foreach ($socket in @(Get-ChildItem -LiteralPath (Join-Path $StateDir 'guest') -Filter 'ssh-mux-*' -Force -ErrorAction Ignore)) {
        Invoke-LabNative ssh @('-o', "ControlPath=$($socket.FullName)", '-O', 'exit', 'root@127.0.0.1') -TimeoutSeconds 10 -AllowFailure -MergeError | Out-Null
        Remove-Item -LiteralPath $socket.FullName -Force -ErrorAction Ignore
    }
}

function Invoke-LabGuest {
    <#
    Runs a command in the guest over ssh and returns its output lines ($LASTEXITCODE is ssh's).
    The remote side is a shell: pass fixed command text, and quote any value with
    ConvertTo-LabShellWord. Throws on failure unless -AllowFailure.
    #>
    [CmdletBinding()]
    param(
        [object] $Guest,
        [Parameter(Mandatory, Position = 0)][string] $Command,
        [string] $InputText,
        [switch] $AllowFailure,
        [int] $TimeoutSeconds = 120
    )
    if (-not $Guest) {
        $lab = Get-LabInfo
        $Guest = $lab.guest
    }
    $sshArgs = @('-i', $Guest.sshKey, '-p', "$($Guest.sshPort)", '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes', '-o', "ConnectTimeout=$([Math]::Min(30, $TimeoutSeconds))") +
        @(Get-LabGuestSshMuxOptions -Guest $Guest) + @('root@127.0.0.1', $Command)
    $native = @{ TimeoutSeconds = $TimeoutSeconds; MergeError = $true; AllowFailure = $AllowFailure; What = "guest command '$Command'" }
    if ($PSBoundParameters.ContainsKey('InputText')) { return (Invoke-LabNative ssh $sshArgs -InputText $InputText @native) }
    return (Invoke-LabNative ssh (@('-n') + $sshArgs) @native)
}

function Initialize-LabGuestThickHost {
    <#
    A second storage host in the lab's guest for thick copies through device nodes (a thick volume
    from a snapshot, a thick clone: dd with direct I/O), which the host lab's loop VGs cannot do: a
    THICK VG on the guest's second disk (/dev/vdb, made once), host <guest>-thick in zone guest-thick,
    onboarded as any host (Register-BlockVolumeHost, its own role: the BlockStore module must be
    loaded), its agent's arguments in the guest's share. guest1, its thin pool and LIO are not
    touched: this agent exports nothing (guest1's agent owns LIO). Returns its description for
    Start-/Stop-LabGuestThickAgent and Remove-LabGuestThickHost.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Lab)
    $g = $Lab.guest
    $name = "$($g.name)-thick"
    $share = Join-Path $Lab.stateDir 'guest/share'
    $thick = [pscustomobject]@{
        name = $name; vg = "bs-$name"; zone = 'guest-thick'; guest = $g
        configFile = (Join-Path $share "agent-$name.json"); argsFile = (Join-Path $share "agent-$name.args")
        pidFile = "/run/blockstore-agent-$name.pid"; logFile = "/var/log/blockstore-agent-$name.log"
    }
    Invoke-LabGuest -Guest $g -Command ("test -b /dev/vdb && { vgs $($thick.vg) > /dev/null 2>&1 || " +
        "{ pvcreate -y /dev/vdb > /dev/null && vgcreate $($thick.vg) /dev/vdb > /dev/null; }; }") | Out-Null
    Register-BlockVolumeHost -HostName $name -Zone $thick.zone -OutFile $thick.configFile -DatabaseHost '10.0.2.2' -Confirm:$false | Out-Null
    Set-Content -LiteralPath $thick.argsFile -Value @(
        "--ConfigFile=/mnt/share/agent-$name.json", "--Agent:HostName=$name", "--Agent:Zone=$($thick.zone)",
        "--Agent:VolumeGroup=$($thick.vg)", '--Agent:BackendType=thick', '--Agent:LvmActivation=true',
        '--Agent:Iscsi:Enabled=false',
        # Under TCG a 1 GiB dd with direct I/O took 18-23 s (2026-12-04); LVM as slow as for guest1.
        '--Agent:Deadlines:LvmSeconds=600', '--Agent:Deadlines:OtherSeconds=1200',
        "--BlockStore:ReportIntervalSeconds=$($Lab.reportIntervalSeconds)")
    return $thick
}

function Start-LabGuestThickAgent {
    <#
    Starts the thick host's agent in the guest (as bs-agent starts guest1's: its arguments one per
    line, setsid, its own pid file and log) and waits until it is up, has reported this start's
    capabilities (cleared before it starts) and its VG's capacity (the scheduler places nothing on a
    host that has not: a first benchmark run asked too early and was refused with "capacity 0 GiB").
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][object] $Thick, [int] $TimeoutSeconds = 900)
    Invoke-LabSql -Lab $Lab "update bs.services set capabilities = capabilities - 'block_copy' - 'block_copy_reason', total_gib = null where host = '$($Thick.name)'" | Out-Null
    Invoke-LabGuest -Guest $Thick.guest -Command ("mapfile -t a < /mnt/share/agent-$($Thick.name).args; " +
        'export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 HOME=/root; ' +
        "cd /opt/blockstore/agent && echo `"=== start `$(date -Is)`" >> $($Thick.logFile) && " +
        "{ setsid /opt/blockstore/agent/BlockStore.Agent `"`${a[@]}`" >> $($Thick.logFile) 2>&1 < /dev/null & echo `$! > $($Thick.pidFile); }") | Out-Null
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ((Invoke-LabSql -Lab $Lab ("select count(*) from bs.services where host = '$($Thick.name)' and service = 'volume' and capabilities ? 'block_copy' " +
                "and coalesce(total_gib, 0) > 0 and heartbeat_at >= now() - make_interval(secs => bs.service_down_seconds())")) -ne '1') {
        if ([DateTime]::UtcNow -gt $deadline) {
            $log = Invoke-LabGuest -Guest $Thick.guest -AllowFailure -Command "tail -30 $($Thick.logFile)"
            throw "the agent of $($Thick.name) in the guest did not report within $TimeoutSeconds s. Its log:`n$($log -join "`n")"
        }
        Start-Sleep -Seconds 2
    }
}

function Stop-LabGuestThickAgent {
    <# Stops the thick host's agent (SIGTERM, then SIGKILL after 10 s; -Kill: SIGKILL at once, a crash). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Thick, [switch] $Kill)
    $signal = if ($Kill) { 'KILL' } else { 'TERM' }
    Invoke-LabGuest -Guest $Thick.guest -AllowFailure -Command ("test -f $($Thick.pidFile) && { p=`$(cat $($Thick.pidFile)); kill -$signal `$p; " +
        "for i in `$(seq 50); do kill -0 `$p 2>/dev/null || break; sleep 0.2; done; kill -KILL `$p 2>/dev/null; rm -f $($Thick.pidFile); }") | Out-Null
}

function Remove-LabGuestThickHost {
    <# Stops the thick host's agent and takes the host out of the lab: its role, its service row, its files (its VG stays for the next run). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][object] $Thick)
    Stop-LabGuestThickAgent -Thick $Thick
    Unregister-BlockVolumeHost -HostName $Thick.name -Confirm:$false -ErrorAction SilentlyContinue
    Invoke-LabSql -Lab $Lab "delete from bs.services where host = '$($Thick.name)'" | Out-Null
    Remove-Item -LiteralPath $Thick.configFile, $Thick.argsFile -Force -ErrorAction Ignore
}

# Quoting a word for the guest's shell (ssh passes the command through /bin/sh -c) is the lab's one shell quoting.
Set-Alias -Name ConvertTo-LabGuestWord -Value ConvertTo-LabShellWord

Export-ModuleMember -Function Get-LabGuestImage, Start-LabGuest, Restart-LabGuest, Wait-LabGuestAgent, Stop-LabGuest, Update-LabGuestAgent, Invoke-LabGuest,
    Initialize-LabGuestThickHost, Start-LabGuestThickAgent, Stop-LabGuestThickAgent, Remove-LabGuestThickHost -Alias ConvertTo-LabGuestWord
