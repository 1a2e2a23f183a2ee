# Test-side helpers of the Pester files: the setup every file starts with (Initialize-LabTest) and
# waits on a condition. The lab's own functions (Get-LabInfo, Invoke-LabSql, Invoke-LabLvm,
# Start-/Stop-LabHost, Start-/Stop-LabPostgres, ...) live in tests/lab/Lab.psm1 and are exported
# from here too, so a test file imports this one module.
#
# Everything is driven by .blockstore/lab.json, which `build.ps1 Up` writes under the repository
# root ($env:BLOCKSTORE_REPO, or two folders above this file when that variable is not set).

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false
Import-Module (Join-Path $PSScriptRoot '../lab/Lab.psm1') -DisableNameChecking

function Initialize-LabTest {
    <#
    The setup of a Pester file against the lab: imports the built module (and with -Guest the guest
    module) into the session, points BLOCKSTORE_CONNECTION at the lab unless it is set, and returns
    the lab description. -NoModule: the lab only. Example, first lines of a BeforeAll:
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
        $lab = Initialize-LabTest
        $script:prefix = New-LabTestPrefix 'xy'
    #>
    [CmdletBinding()]
    param([switch] $Guest, [switch] $NoModule)
    $lab = Get-LabInfo
    if (-not $NoModule) { Import-Module (Join-Path $lab.repo 'out/BlockStore/BlockStore.psd1') -Force -Global }
    if ($Guest) { Import-Module (Join-Path $lab.repo 'tests/lab/guest/LabGuest.psm1') -Force -Global -DisableNameChecking }
    if (-not $env:BLOCKSTORE_CONNECTION) { $env:BLOCKSTORE_CONNECTION = $lab.connectionString }
    return $lab
}

function New-LabTestPrefix {
    <# A short unique name prefix for what one test file creates (volumes, hosts, LVs): <two letters><6 hex>. #>
    param([Parameter(Mandatory)][ValidatePattern('^[a-z]{2}$')][string] $Letters)
    return $Letters + [guid]::NewGuid().ToString('N').Substring(0, 6)
}

function Wait-LabCondition {
    <# Polls -Condition until it returns true or -TimeoutSeconds pass; returns whether it held. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][scriptblock] $Condition, [double] $TimeoutSeconds = 30, [int] $IntervalMilliseconds = 250)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    do {
        if (& $Condition) { return $true }
        Start-Sleep -Milliseconds $IntervalMilliseconds
    } while ([DateTime]::UtcNow -lt $deadline)
    return [bool](& $Condition)
}

function Wait-LabCapacityReported {
    <#
    Waits until every node's service row reports its VG as it is now (free space as vgs sees it,
    within 0.1 GiB). Tests that change a VG behind BlockStore's back (an LV that is not ours) call it
    after undoing that, so the scheduler does not keep off space that is free again. Returns whether
    it held within -TimeoutSeconds.
    #>
    [CmdletBinding()]
    param([double] $TimeoutSeconds = 60, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    return (Wait-LabCondition -TimeoutSeconds $TimeoutSeconds -IntervalMilliseconds 500 -Condition {
        foreach ($node in $Lab.nodes) {
            $actual = [decimal](Invoke-LabLvm vgs @('-o', 'vg_free', '--units', 'g', '--nosuffix', $node.vg) -Lab $Lab)[0].vg_free
            $reported = Invoke-LabSql -Lab $Lab "select free_gib from bs.services where host = '$($node.name)' and service = 'volume'"
            if (-not $reported -or [Math]::Abs([decimal]$reported - $actual) -gt 0.1) { return $false }
        }
        return $true
    })
}

function Initialize-LabPackages {
    <#
    The packages of this build (build.ps1 Package, src/packaging/Packaging.psm1) for the tests that
    install them: build.ps1 Test builds but does not package, so this packages when out/packages
    lacks this version's packages or they are older than the build or than src/packaging (about a
    minute: two self-contained publishes and dpkg-deb). Returns @{ scheduler; agent } (.deb paths).
    #>
    param([Parameter(Mandatory)][object] $Lab,
        # How long to wait for another process that is packaging (two self-contained publishes: minutes on a loaded machine).
        [int] $TimeoutSeconds = 1200)
    $repo = $Lab.repo
    Import-Module (Join-Path $repo 'src/packaging/Packaging.psm1') -Force -Global
    $version = Get-BlockStoreVersion -Repo $repo
    $packages = Join-Path $repo 'out/packages'
    $nupkg = Join-Path $packages "BlockStore.$version.nupkg"
    $debs = @{
        scheduler = Join-Path $packages "blockstore-scheduler_${version}_amd64.deb"
        agent     = Join-Path $packages "blockstore-agent_${version}_amd64.deb"
    }
    $newest = @(Get-Item -LiteralPath (Join-Path $repo 'out/BlockStore/BlockStore.Commands.dll')) +
        @(Get-ChildItem -LiteralPath (Join-Path $repo 'src/packaging') -Recurse -File) |
        Sort-Object LastWriteTimeUtc | Select-Object -Last 1
    # Package.Tests and PackageGuest.Tests run side by side (Timeouts.psd1 Parallel): one packages
    # while the other waits here for its lock (an exclusive open is a flock on Linux), then finds
    # the packages fresh. The lock goes with this process, also when it is killed. It lives beside
    # out/packages, not in it: New-BlockStorePackages deletes and re-creates that folder, and a lock
    # file deleted under its holder let the other process create a new one, take it at once and copy
    # a .deb still being written (PackageGuest's dpkg -i: "unexpected end of file", 2026-12-05).
    New-Item -ItemType Directory -Force -Path $packages | Out-Null
    $lockPath = Join-Path $repo 'out/.packaging.lock'
    $lock = $null
    $until = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not $lock) {
        try { $lock = [System.IO.File]::Open($lockPath, 'OpenOrCreate', 'ReadWrite', 'None') }
        catch [System.IO.IOException] {
            if ([DateTime]::UtcNow -ge $until) { throw "another test process has been packaging for $TimeoutSeconds s (lock $lockPath)" }
            Start-Sleep -Seconds 1
        }
    }
    try {
        $stale = @(@($nupkg) + $debs.Values | Where-Object { -not (Test-Path -LiteralPath $_) -or (Get-Item -LiteralPath $_).LastWriteTimeUtc -lt $newest.LastWriteTimeUtc })
        if ($stale.Count -gt 0) {
            Write-Host "packaging (missing or older than the build: $($stale -join ', '))"
            New-BlockStorePackages -Repo $repo | Out-Null
        }
    }
    finally { $lock.Dispose() }
    return $debs
}

# BlockStore:PollIntervalSeconds of the lab's hosts: the lab leaves it at its default (BlockStoreOptions).
$script:HostPollIntervalSeconds = 5

function Wait-LabHostPasses {
    <#
    For checks that something does NOT happen: waits until the host's own heartbeat
    (bs.services.heartbeat_at, every reportIntervalSeconds) lands -Polls fallback-poll intervals plus
    a second (for the pass itself) after now, by the database's clock. A host wakes at least once per
    poll interval (notifications wake it sooner), so by then it has had -Polls passes in which to
    (wrongly) act, and its heartbeat shows it was running all along: a fixed sleep on a loaded machine can end
    before a just-resumed or just-started host has run at all. Returns whether that happened within
    -TimeoutSeconds (a host that stops heartbeating never satisfies it); with several hosts, all of them.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string[]] $HostName, [Parameter(Mandatory)][ValidateSet('volume', 'scheduler')][string] $Service,
        [ValidateRange(1, 10)][int] $Polls = 1, [double] $TimeoutSeconds = 60, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $window = $Polls * $script:HostPollIntervalSeconds + 1
    $until = Invoke-LabSql -Lab $Lab "select (now() + interval '$window seconds')::text"
    return (Wait-LabCondition -TimeoutSeconds $TimeoutSeconds -IntervalMilliseconds 250 -Condition {
        $names = ($HostName | ForEach-Object { "'$_'" }) -join ','
        (Invoke-LabSql -Lab $Lab "select count(*) from bs.services where host in ($names) and service = '$Service' and heartbeat_at >= '$until'::timestamptz") -eq "$(@($HostName).Count)"
    })
}


# The lab's functions the tests use, re-exported (defined in tests/lab/*.ps1).
Export-ModuleMember -Function @(
    'Initialize-LabTest', 'Initialize-LabPackages', 'New-LabTestPrefix', 'Wait-LabCondition', 'Wait-LabCapacityReported', 'Wait-LabHostPasses',
    'Get-LabRepoRoot', 'Get-LabStateDir', 'Get-LabSecondRepo', 'Get-LabInfo', 'Test-LabIsRoot', 'Test-LabDeviceMapper', 'Get-LabLvmConfig',
    'Invoke-LabLvm', 'Get-LabLvmSystemDir', 'Use-LabLvmSystemDir', 'Get-LabLvmExe', 'Invoke-LabSql', 'Invoke-LabNative', 'Get-LabFreePort',
    'Get-LabHostCommand', 'Get-LabSchedulerNames', 'Get-LabHostPid', 'Test-LabPidAlive', 'Test-LabHost', 'Start-LabHost', 'Stop-LabHost',
    'Stop-LabProcess', 'Start-LabAgent', 'Stop-LabAgent', 'Start-LabScheduler', 'Stop-LabScheduler',
    'ConvertTo-LabShellWord', 'Get-LabPwshCommand',
    'Invoke-LabPgCtl', 'Test-LabPostgresRunning', 'Stop-LabPostgres', 'Start-LabPostgres'
)
