# Where a lab lives and what it is: the settings Up uses and the description it writes
# (.blockstore/lab.json), read by build.ps1, the tests and the benchmarks alike.

# The lab's fixed settings (Up writes them into lab.json, where everything else reads them).
$script:LabSettings = [ordered]@{
    PgBinDir                 = '/usr/lib/postgresql/15/bin'
    User                     = 'blockstore'
    Database                 = 'blockstore'
    Zone                     = 'nova'
    # Login roles of the lab's cmdlets and scheduler (members of the groups that migration 0003 creates).
    OperatorRole             = 'lab_operator'
    ReaderRole               = 'lab_reader'
    SchedulerRole            = 'lab_scheduler'
    SchedulerName            = 'scheduler1'
    # Two schedulers, each with its own login (both members of bs_scheduler): they share the queue
    # (FOR UPDATE SKIP LOCKED) and either one covers for the other when it is disabled or dies.
    Schedulers               = @(@{ Name = 'scheduler1'; Role = 'lab_scheduler' }, @{ Name = 'scheduler2'; Role = 'lab_scheduler2' })
    ReportIntervalSeconds    = 2
    ServiceDownSeconds       = 10
    # The agents' LV reconcile pass (Agent:Reconcile:IntervalSeconds; the product default is 300).
    ReconcileIntervalSeconds = 10
    # Sparse: only LVM metadata is written with activation off, and a lab of 2 nodes must hold the
    # 200-volume burst of the lifecycle tests (200 x 1-3 GiB) with room to spare.
    DiskSize                 = '256G'
}

function Get-LabRepoRoot {
    <# The repository root: $env:BLOCKSTORE_REPO, else the folder two levels above this module. #>
    [CmdletBinding()]
    param()
    if ($env:BLOCKSTORE_REPO) { return [System.IO.Path]::GetFullPath($env:BLOCKSTORE_REPO) }
    return [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
}

function Get-LabStateDir {
    [CmdletBinding()]
    param([string] $Repo = (Get-LabRepoRoot))
    return (Join-Path $Repo '.blockstore')
}

function Get-LabSecondRepo {
    <#
    Where a lab beside this one lives (Invoke-LabSecondUp): <state>/labs/<name>, a folder that links
    to the checkout's files (out/, tests/, ...) and holds a .blockstore of its own. Every lab function
    and test given it as the repository (-Repo, BLOCKSTORE_REPO) finds that lab's own PostgreSQL,
    hosts and VGs (their names come from the folder's path, Get-LabTag). `build.ps1 Test` runs the
    files that stop PostgreSQL, the schedulers or every host against 'lab2', beside the guest's
    files; ChaosHa.Tests.ps1 runs its Patroni lab as 'chaos-ha'.
    #>
    [CmdletBinding()]
    param([string] $Repo = (Get-LabRepoRoot), [string] $Name = 'lab2')
    if ($Name -notmatch '^[a-z0-9-]+$') { throw "A lab's name is lower-case letters, digits and dashes, not '$Name'" }
    return (Join-Path (Get-LabStateDir -Repo $Repo) "labs/$Name")
}

function Get-LabTag {
    <# Six hex digits of the checkout's path: stable for one folder, different between clones (VG names). #>
    param([string] $Repo = (Get-LabRepoRoot))
    $sha = [System.Security.Cryptography.SHA1]::HashData([System.Text.Encoding]::UTF8.GetBytes($Repo))
    return [System.Convert]::ToHexString($sha).Substring(0, 6).ToLowerInvariant()
}

$script:LabInfoCache = @{ Key = $null; Json = $null }

function Get-LabInfo {
    <#
    The lab description written by `build.ps1 Up` (.blockstore/lab.json), as an object. The file is
    read once and again only when it changes (the guest adds itself to it); each call returns a
    fresh object, so a caller that changes one does not change the next caller's.
    #>
    [CmdletBinding()]
    param([string] $Repo = (Get-LabRepoRoot))
    $path = Join-Path (Get-LabStateDir -Repo $Repo) 'lab.json'
    $file = [System.IO.FileInfo]::new($path)
    if (-not $file.Exists) {
        throw "No lab at '$Repo': $path is missing. Run 'dotnet pwsh ./build.ps1 Up' first."
    }
    $key = "$path|$($file.LastWriteTimeUtc.Ticks)|$($file.Length)"
    if ($script:LabInfoCache.Key -ne $key) {
        $script:LabInfoCache.Json = [System.IO.File]::ReadAllText($path)
        $script:LabInfoCache.Key = $key
    }
    return ($script:LabInfoCache.Json | ConvertFrom-Json)
}

function Get-LabSchedulerNames {
    <# The lab's schedulers (scheduler1, scheduler2; only scheduler1 in a lab written before there were two). #>
    [CmdletBinding()]
    param([object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    if ($Lab.PSObject.Properties['schedulers']) { return @($Lab.schedulers | ForEach-Object name) }
    return @($Lab.scheduler.name)
}

function Get-LabHostNames([object] $Lab) {
    <# The lab's hosts on this machine: the schedulers, then node1..nodeN (not the guest). #>
    return @(Get-LabSchedulerNames -Lab $Lab) + @($Lab.nodes | ForEach-Object name)
}

function Get-LabSettings { <# The lab's fixed settings (read-only by convention). #> return $script:LabSettings }
