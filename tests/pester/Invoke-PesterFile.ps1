# Runs Pester files one after another in this pwsh, one Invoke-Pester per file, for build.ps1 Test
# (see PesterRunner.psm1, which watches the time each file takes and kills this process when one
# is over its limit; the files after it then run in a fresh pwsh). Before and after each file it
# prints a marker line so the watcher knows which file runs. It waits for "go" on standard input
# first, so that it can be started (and load Pester and the module) while other work runs; any
# other input (end of input: build.ps1 is gone) ends it before a single test runs.
param(
    [Parameter(Mandatory)][string] $PesterManifest,
    # A text file with the test files to run, one full path a line, in order.
    [Parameter(Mandatory)][string] $ListFile,
    # Where <file base name>.xml (NUnit) and .json (counts) go.
    [Parameter(Mandatory)][string] $PartDir,
    # Modules the test files import anyway, and a command that loads (JITs) what they use first: done
    # before "go", as a single Invoke-Pester run had them loaded after its first file.
    [string] $Preload,
    [string] $WarmUp,
    # The run's time budget (unix seconds, 0: none): a file is not started with less than
    # $MinimumSeconds of it left, so the run ends with its count line before CI's hard limit.
    [long] $DeadlineUnix = 0,
    [int] $MinimumSeconds = 60
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterManifest -Force
foreach ($m in @($Preload -split ',' | Where-Object { $_ })) { if (Test-Path -LiteralPath $m) { Import-Module $m -DisableNameChecking } }
if ($WarmUp) {
    try { & ([scriptblock]::Create($WarmUp)) | Out-Null } catch { Write-Verbose "warm-up failed: $_" }  # e.g. the lab's PostgreSQL stopped by the previous file
}
$go = [Console]::In.ReadLine()
if ($go -ne 'go') { exit 3 }

foreach ($file in @(Get-Content -LiteralPath $ListFile | Where-Object { $_ })) {
    $base = [System.IO.Path]::GetFileName($file) -replace '\.Tests\.ps1$', ''
    if ($DeadlineUnix -gt 0 -and [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() -gt $DeadlineUnix - $MinimumSeconds) {
        [Console]::Out.WriteLine("##blockstore-pester budget $file")
        [Console]::Out.Flush()
        continue
    }
    [Console]::Out.WriteLine("##blockstore-pester start $file")
    [Console]::Out.Flush()
    $config = New-PesterConfiguration
    $config.Run.Path = $file
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Detailed'
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'NUnitXml'
    $config.TestResult.OutputPath = Join-Path $PartDir "$base.xml"
    $result = Invoke-Pester -Configuration $config
    # A Describe/Context that yields no test at all: what an empty data-driven list (-ForEach @())
    # leaves behind. Pester creates no test for it and says nothing; the runner counts it as failed.
    $emptyBlocks = [System.Collections.Generic.List[string]]::new()
    $countTests = $null
    $countTests = {
        param($block)
        $n = @($block.Tests).Count
        foreach ($child in @($block.Blocks)) { $n += & $countTests $child }
        if ($n -eq 0) { $emptyBlocks.Add(($block.ExpandedPath -join ' > ')) }
        return $n
    }
    foreach ($container in @($result.Containers)) { foreach ($block in @($container.Blocks)) { $null = & $countTests $block } }
    [ordered]@{
        PassedCount           = $result.PassedCount
        FailedCount           = $result.FailedCount
        FailedBlocksCount     = $result.FailedBlocksCount
        FailedContainersCount = $result.FailedContainersCount
        SkippedCount          = $result.SkippedCount
        NotRunCount           = $result.NotRunCount
        InconclusiveCount     = $result.InconclusiveCount
        TotalCount            = $result.TotalCount
        EmptyBlocks           = @($emptyBlocks)
        DurationSeconds       = [math]::Round($result.Duration.TotalSeconds, 1)
    } | ConvertTo-Json | Set-Content -LiteralPath (Join-Path $PartDir "$base.json")
    [Console]::Out.WriteLine("##blockstore-pester end $file")
    [Console]::Out.Flush()
}
