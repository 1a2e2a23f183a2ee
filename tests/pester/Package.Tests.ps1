# What build.ps1 Package produces (src/packaging/Packaging.psm1, docs/operations.md "Packages and
# systemd"): the module's .nupkg installed by PSResourceGet into a fresh pwsh and used against the
# lab, the two .debs' control data and contents, their units through systemd-analyze verify, and the
# packaged hosts themselves: they run from the unpacked package, speak systemd's notify protocol
# (READY=1, WATCHDOG=1 only while their database answers, STOPPING=1) to a socket of our own and log
# in journald's format. The agent's unit under a real systemd, with LVM and LIO, runs in the lab's
# guest: PackageGuest.Tests.ps1.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest -NoModule
    $repo = $lab.repo
    Import-Module (Join-Path $repo 'src/packaging/Packaging.psm1') -Force
    $version = Get-BlockStoreVersion -Repo $repo
    $packages = Join-Path $repo 'out/packages'
    $nupkg = Join-Path $packages "BlockStore.$version.nupkg"
    $debs = Initialize-LabPackages -Lab $lab

    $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ('bs-package-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Path $tmp | Out-Null
    $pwsh = @(Get-LabPwshCommand)

    function Invoke-IsolatedPwsh([string] $UserHome, [string] $Script, [string[]] $ArgumentList) {
        # A fresh pwsh whose user folders are all under $UserHome: its PSResource repositories, its
        # CurrentUser module path; PSModulePath unset so it computes its own (not this session's).
        # The folders must exist: .NET's GetFolderPath(LocalApplicationData), where PSResourceGet keeps
        # its repository list, is "" for a missing one, and the list then lands in the working folder.
        foreach ($d in '.local/share', '.config', '.cache') { New-Item -ItemType Directory -Force -Path (Join-Path $UserHome $d) | Out-Null }
        $path = Join-Path $tmp ("script-" + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.ps1')
        Set-Content -LiteralPath $path -Value $Script
        $envArgs = @('-u', 'PSModulePath', "HOME=$UserHome", "XDG_DATA_HOME=$UserHome/.local/share", "XDG_CONFIG_HOME=$UserHome/.config", "XDG_CACHE_HOME=$UserHome/.cache")
        $words = $envArgs + @($pwsh) + @('-NoProfile', '-NonInteractive', '-File', $path) + $ArgumentList
        return @(Invoke-LabNative env $words -TimeoutSeconds 300 -MergeError)
    }

    function Expand-Deb([string] $Name) {
        # The package unpacked as it would be installed, beside the host's own systemd units so
        # that systemd-analyze verify --root finds sysinit.target and the rest.
        $root = Join-Path $tmp "root-$Name"
        if (-not (Test-Path -LiteralPath $root)) {
            New-Item -ItemType Directory -Path $root | Out-Null
            Invoke-LabNative dpkg-deb @('-x', $debs[$Name], $root) | Out-Null
            New-Item -ItemType Directory -Force -Path (Join-Path $root 'usr/lib/systemd') | Out-Null
            Invoke-LabNative cp @('-a', '/usr/lib/systemd/system', (Join-Path $root 'usr/lib/systemd/')) | Out-Null
        }
        return $root
    }

    function Invoke-WithNotifySocket([string] $Executable, [string[]] $ArgumentList, [double] $Seconds, [string] $Until, [switch] $AsSystemdChild) {
        <#
        Runs a packaged host with NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them for a unit
        with WatchdogSec=, on a datagram socket of our own; returns what the host sent there and its
        output, after -Seconds or once it sent -Until. -AsSystemdChild: the host's parent process is
        named systemd (bash run through a symlink of that name), which is how
        Microsoft.Extensions.Hosting.Systemd tells it runs under systemd (READY=1, STOPPING=1, journald's
        log format), and once -Until came the host is sent SIGTERM as systemctl stop does and given
        30 s to stop. Whatever still runs at the end is killed.
        #>
        $socketPath = Join-Path $tmp ('notify-' + [guid]::NewGuid().ToString('N').Substring(0, 6))
        $socket = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::Unix, [System.Net.Sockets.SocketType]::Dgram, [System.Net.Sockets.ProtocolType]::Unspecified)
        $socket.Bind([System.Net.Sockets.UnixDomainSocketEndPoint]::new($socketPath))
        $socket.ReceiveTimeout = 500
        if ($AsSystemdChild) {
            $launcher = Join-Path $tmp 'systemd'
            if (-not (Test-Path -LiteralPath $launcher)) { New-Item -ItemType SymbolicLink -Path $launcher -Target '/bin/bash' | Out-Null }
            # Two commands, so bash waits for the host instead of exec'ing it (it must stay the parent).
            $psi = [System.Diagnostics.ProcessStartInfo]::new($launcher)
            foreach ($a in @('-c', '"$@"; exit $?', 'systemd', $Executable) + $ArgumentList) { $psi.ArgumentList.Add($a) }
        }
        else {
            $psi = [System.Diagnostics.ProcessStartInfo]::new($Executable)
            foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
        }
        $psi.Environment['NOTIFY_SOCKET'] = $socketPath
        $psi.Environment['WATCHDOG_USEC'] = '20000000'
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $process = [System.Diagnostics.Process]::Start($psi)
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        $messages = [System.Collections.Generic.List[string]]::new()
        $buffer = [byte[]]::new(4096)
        $receive = {
            try { $messages.Add([System.Text.Encoding]::UTF8.GetString($buffer, 0, $socket.Receive($buffer)).Trim()) }
            catch [System.Net.Sockets.SocketException] { }   # the receive timeout: nothing yet
        }
        $terminated = $false
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
            while ([DateTime]::UtcNow -lt $deadline -and -not $process.HasExited) {
                . $receive
                if ($Until -and $messages -contains $Until) { break }
            }
            if ($AsSystemdChild -and -not $process.HasExited) {
                $hostPid = @((Get-Content -Raw -LiteralPath "/proc/$($process.Id)/task/$($process.Id)/children").Trim() -split ' ')[0]
                Invoke-LabNative kill @('-TERM', $hostPid) | Out-Null
                $terminated = $true
                $deadline = [DateTime]::UtcNow.AddSeconds(30)
                while ([DateTime]::UtcNow -lt $deadline -and -not $process.HasExited) { . $receive }
                while ($socket.Available -gt 0) { . $receive }
            }
        }
        finally {
            $stoppedByItself = $process.HasExited
            if (-not $process.HasExited) { $process.Kill($true) }
            $process.WaitForExit(10000) | Out-Null
            $socket.Dispose()
            Remove-Item -LiteralPath $socketPath -Force -ErrorAction Ignore
        }
        return [pscustomobject]@{
            Messages = @($messages); Output = $stdout.Result + $stderr.Result; ExitCode = $process.ExitCode
            StoppedOnTerm = $terminated -and $stoppedByItself
        }
    }
}

AfterAll {
    if ($tmp) { Remove-Item -LiteralPath $tmp -Recurse -Force -ErrorAction Ignore }
}

Describe 'The module package (PSResourceGet)' {
    It 'is named and versioned by module/BlockStore.psd1 and carries the AssemblyLoadContext dependencies' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($nupkg)
        try {
            $names = @($zip.Entries | ForEach-Object FullName)
            $nuspec = [xml]([System.IO.StreamReader]::new(($zip.Entries | Where-Object FullName -EQ 'BlockStore.nuspec').Open()).ReadToEnd())
        }
        finally { $zip.Dispose() }
        $nuspec.package.metadata.id | Should -Be 'BlockStore'
        $nuspec.package.metadata.version | Should -Be $version
        $names | Should -Contain 'BlockStore.psd1'
        $names | Should -Contain 'BlockStore.Commands.dll'
        $names | Should -Contain 'Dependencies/BlockStore.Data.dll'
        $names | Should -Contain 'Dependencies/Npgsql.dll'
        $names | Should -Contain 'en-US/BlockStore.Commands.dll-Help.xml'
    }

    It 'installs from a local repository into a fresh pwsh, which imports it by name and lists the lab''s services' {
        $repoDir = Join-Path $tmp 'psrepo'
        $home1 = Join-Path $tmp 'home'
        New-Item -ItemType Directory -Force -Path $repoDir, $home1 | Out-Null
        Copy-Item -LiteralPath $nupkg -Destination $repoDir

        $install = Invoke-IsolatedPwsh -UserHome $home1 -ArgumentList @($repoDir, $version) -Script @'
param($RepoDir, $Version)
$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name BlockStoreLocal -Uri $RepoDir -Trusted
Install-PSResource -Name BlockStore -Version $Version -Repository BlockStoreLocal -Scope CurrentUser -TrustRepository
$installed = Get-InstalledPSResource -Name BlockStore -Scope CurrentUser
"installed=$($installed.Version) at $($installed.InstalledLocation)"
'@
        $line = @($install | Where-Object { $_ -like 'installed=*' })
        $line.Count | Should -Be 1 -Because ($install -join "`n")
        $line[0] | Should -BeLike "installed=$version at $home1/*"
        # Registered in the isolated pwsh's own list, not this user's.
        Join-Path $home1 '.local/share/PSResourceGet/PSResourceRepository.xml' | Should -Exist

        # A second, separate pwsh: Import-Module by name finds what Install-PSResource put in the
        # CurrentUser path, and a cmdlet reaches the lab through BLOCKSTORE_CONNECTION.
        $use = Invoke-IsolatedPwsh -UserHome $home1 -ArgumentList @() -Script @'
$ErrorActionPreference = 'Stop'
Import-Module BlockStore
$m = Get-Module BlockStore
"module=$($m.Version) at $($m.ModuleBase)"
"alc=" + (Test-Path -LiteralPath (Join-Path $m.ModuleBase 'Dependencies/Npgsql.dll'))
foreach ($s in Get-BlockVolumeService) { "service=$($s.Host)/$($s.Service)" }
'@
        $text = $use -join "`n"
        @($use | Where-Object { $_ -like 'module=*' })[0] | Should -BeLike "module=$version at $home1/*" -Because $text
        $use | Should -Contain 'alc=True' -Because $text
        foreach ($node in $lab.nodes) { $use | Should -Contain "service=$($node.name)/volume" -Because $text }
        $use | Should -Contain "service=$($lab.scheduler.name)/scheduler" -Because $text
    }
}

Describe 'The Debian package blockstore-<name>' -ForEach @(
    @{ Name = 'scheduler'; Exe = 'BlockStore.Scheduler'; User = 'blockstore' }
    @{ Name = 'agent'; Exe = 'BlockStore.Agent'; User = 'root' }
) {
    BeforeAll {
        $deb = $debs[$Name]
        $unit = "blockstore-$Name.service"
    }

    It 'says who it is, versioned by module/BlockStore.psd1, and lists its configuration as a conffile' {
        $fields = @(Invoke-LabNative dpkg-deb @('--field', $deb, 'Package', 'Version', 'Architecture', 'Depends'))
        $fields | Should -Contain "Package: blockstore-$Name"
        $fields | Should -Contain "Version: $version"
        $fields | Should -Contain 'Architecture: amd64'
        # Self-contained: no .NET runtime package to depend on.
        ($fields -join "`n") | Should -Not -Match 'dotnet'
        @(Invoke-LabNative dpkg-deb @('--info', $deb, 'conffiles')) | Should -Be @("/etc/blockstore/$Name.json")
        # The maintainer scripts are there and are valid sh.
        foreach ($maintainerScript in 'postinst', 'prerm', 'postrm') {
            $text = @(Invoke-LabNative dpkg-deb @('--info', $deb, $maintainerScript)) -join "`n"
            $text | Should -Match '^#!/bin/sh'
            $text | Should -Match "blockstore-$Name\.service"
            Invoke-LabNative sh @('-n', '-c', $text) | Out-Null
        }
    }

    It 'holds the unit, the 0600 configuration and the native executable host, all root''s' {
        $contents = @(Invoke-LabNative dpkg-deb @('--contents', $deb))
        function Find-Entry([string] $Path) { @($contents | Where-Object { ($_ -split '\s+', 6)[5] -eq $Path }) }
        $entry = @(Find-Entry "./lib/systemd/system/$unit")
        $entry.Count | Should -Be 1
        $entry[0] | Should -Match '^-rw-r--r-- root/root '
        $entry = @(Find-Entry "./etc/blockstore/$Name.json")
        $entry.Count | Should -Be 1
        $entry[0] | Should -Match '^-rw------- root/root '
        $entry = @(Find-Entry "./usr/lib/blockstore/$Name/$Exe")
        $entry.Count | Should -Be 1
        $entry[0] | Should -Match '^-rwxr-xr-x root/root '
        # Each host is one NativeAOT executable: no runtime, no assemblies, no debug symbols beside it.
        (Find-Entry "./usr/lib/blockstore/$Name/libcoreclr.so").Count | Should -Be 0
        (Find-Entry "./usr/lib/blockstore/$Name/$Exe.dll").Count | Should -Be 0
        @($contents | Where-Object { ($_ -split '\s+', 6)[5] -like "./usr/lib/blockstore/$Name/?*" -and $_ -notmatch '^d' }).Count |
            Should -Be 1 -Because 'the native host is the one file of its folder'
    }

    It 'has a unit that is Type=notify with a watchdog, restarts on failure and runs as <User>' {
        $root = Expand-Deb $Name
        $text = Get-Content -Raw -LiteralPath (Join-Path $root "lib/systemd/system/$unit")
        $text | Should -Match '(?m)^Type=notify$'
        $text | Should -Match '(?m)^WatchdogSec=\d+$'
        $text | Should -Match '(?m)^Restart=on-failure$'
        $text | Should -Match "(?m)^User=$User$"
        $text | Should -Match "(?m)^ExecStart=/usr/lib/blockstore/$Name/$Exe --ConfigFile=/etc/blockstore/$Name.json$"
        $text | Should -Match '(?m)^NoNewPrivileges=yes$'
        $text | Should -Match '(?m)^ProtectSystem=strict$'
    }

    It 'passes systemd-analyze verify, unpacked as installed' {
        $root = Expand-Deb $Name
        # Clean means exit 0 and not a word: verify only warns (exit 0) about an unknown key.
        $out = @(Invoke-LabNative systemd-analyze @('verify', "--root=$root", "/lib/systemd/system/$unit") -AllowFailure -MergeError)
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        ($out -join "`n").Trim() | Should -BeNullOrEmpty
    }
}

Describe 'The packaged hosts' {
    It 'run from the unpacked package: the scheduler''s migrate reaches the lab''s database' {
        $root = Expand-Deb 'scheduler'
        $exe = Join-Path $root 'usr/lib/blockstore/scheduler/BlockStore.Scheduler'
        $out = @(Invoke-LabNative $exe @('migrate', "--BlockStore:ConnectionString=$($lab.ownerConnectionString)") -TimeoutSeconds 120 -MergeError)
        # Up to date after build.ps1 Up with the same build; a lab older than the build gets the new migrations.
        @($out | Where-Object { $_ -match '^(Schema is up to date\.|Applied \d+ migration\(s\)\.)$' }).Count | Should -Be 1 -Because ($out -join "`n")
    }

    It 'the scheduler''s package creates its system user in postinst (adduser, else useradd) and gives it its configuration' {
        $postinst = @(Invoke-LabNative dpkg-deb @('--info', $debs.scheduler, 'postinst')) -join "`n"
        $postinst | Should -Match 'adduser --system --group .* blockstore'
        $postinst | Should -Match 'useradd --system .* blockstore'
        $postinst | Should -Match 'chown blockstore:blockstore /etc/blockstore/scheduler\.json'
    }

    It 'under systemd, say READY=1, feed the watchdog after heartbeats that reached the database, log for journald and stop on SIGTERM with STOPPING=1' {
        $root = Expand-Deb 'scheduler'
        $name = New-LabTestPrefix 'pk'
        try {
            $run = Invoke-WithNotifySocket -AsSystemdChild -Executable (Join-Path $root 'usr/lib/blockstore/scheduler/BlockStore.Scheduler') -Seconds 60 -Until 'WATCHDOG=1' -ArgumentList @(
                "--BlockStore:ConnectionString=$($lab.scheduler.connectionString)", "--Scheduler:HostName=$name",
                '--BlockStore:ReportIntervalSeconds=1', '--BlockStore:MigrateOnStart=false')
            $because = "sent: $($run.Messages -join ', '); output:`n$($run.Output)"
            $run.Messages | Should -Contain 'READY=1' -Because $because
            $run.Messages | Should -Contain 'WATCHDOG=1' -Because $because
            $run.Messages.IndexOf('READY=1') | Should -BeLessThan $run.Messages.IndexOf('WATCHDOG=1') -Because $because
            $run.StoppedOnTerm | Should -BeTrue -Because $because
            $run.Messages | Should -Contain 'STOPPING=1' -Because $because
            $run.ExitCode | Should -Be 0 -Because $because
            # journald's format: every line starts with its syslog priority (<6> information, <4> warning).
            $lines = @($run.Output -split "`n" | Where-Object { $_.Trim() })
            $lines.Count | Should -BeGreaterThan 0
            $lines | Where-Object { $_ -notmatch '^<[0-7]>' } | Should -BeNullOrEmpty -Because $because
            $lines | Where-Object { $_ -match "^<6>.*scheduler service on $name registered" } | Should -Not -BeNullOrEmpty -Because $because
        }
        finally {
            # The row this scheduler registered: not a host the other tests should see.
            Invoke-LabSql "DELETE FROM bs.services WHERE host = '$name'" | Out-Null
        }
    }

    It 'and an agent without its volume group: heartbeats land, READY=1 but no WATCHDOG=1, and it says why' {
        $root = Expand-Deb 'agent'
        $name = New-LabTestPrefix 'pk'
        try {
            # The owner's login: a volume host's row is RLS-bound to its own role, which this made-up host has not.
            $run = Invoke-WithNotifySocket -AsSystemdChild -Executable (Join-Path $root 'usr/lib/blockstore/agent/BlockStore.Agent') -Seconds 12 -ArgumentList @(
                "--BlockStore:ConnectionString=$($lab.ownerConnectionString)", "--Agent:HostName=$name", "--Agent:Zone=$($lab.zone)",
                "--Agent:VolumeGroup=$name-missing", '--Agent:BackendType=thick', '--Agent:LvmActivation=false',
                '--BlockStore:ReportIntervalSeconds=1', '--BlockStore:MigrateOnStart=false')
            $because = "sent: $($run.Messages -join ', '); output:`n$($run.Output)"
            $run.Messages | Should -Contain 'READY=1' -Because $because
            $run.Messages | Should -Not -Contain 'WATCHDOG=1' -Because $because
            $run.Output | Should -Match "Not feeding the systemd watchdog \(volume group $name-missing not found\)"
            # The heartbeats themselves landed: the row says unhealthy, with the reason.
            @(Invoke-LabSql "SELECT healthy, health_reason FROM bs.services WHERE host = '$name' AND service = 'volume'") |
                Should -Be @("f|volume group $name-missing not found")
            $run.StoppedOnTerm | Should -BeTrue -Because $because
        }
        finally {
            Invoke-LabSql "DELETE FROM bs.services WHERE host = '$name'" | Out-Null
        }
    }

    It 'and not while the database cannot be reached (heartbeats failing)' {
        $root = Expand-Deb 'scheduler'
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()   # a port nobody listens on
        $run = Invoke-WithNotifySocket -Executable (Join-Path $root 'usr/lib/blockstore/scheduler/BlockStore.Scheduler') -Seconds 12 -ArgumentList @(
            "--BlockStore:ConnectionString=Host=127.0.0.1;Port=$port;Username=nobody;Password=x;Database=none;Timeout=2",
            "--Scheduler:HostName=$(New-LabTestPrefix 'pk')", '--BlockStore:ReportIntervalSeconds=1')
        # The heartbeats ran and failed (so the silence is theirs, not a host that never got going).
        $run.Output | Should -Match 'Heartbeat failed'
        $run.Messages | Should -Not -Contain 'WATCHDOG=1'
    }
}
