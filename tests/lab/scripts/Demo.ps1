# A narrated tour of the cmdlets against the running lab (build.ps1 Demo runs it in a fresh pwsh).
# Every step must work: the first one that fails ends the tour with its error and exit code 1.
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $false
$repo = if ($env:BLOCKSTORE_REPO) { $env:BLOCKSTORE_REPO } else { (Resolve-Path (Join-Path $PSScriptRoot '../../..')).Path }
Import-Module (Join-Path $repo 'tests/lab/Lab.psm1') -DisableNameChecking
$lab = Get-LabInfo -Repo $repo
$module = Join-Path $repo 'out/BlockStore/BlockStore.psd1'
if (-not $env:BLOCKSTORE_CONNECTION) { $env:BLOCKSTORE_CONNECTION = $lab.connectionString }

function Say([string] $Text) { Write-Host ''; Write-Host "# $Text" -ForegroundColor Cyan }
function Show([string] $Command) { Write-Host "PS> $Command" -ForegroundColor Yellow }
function Show-Lvs {
    <# What LVM sees in the lab's VGs (the lab's lvm --config; activation may be off). #>
    $vgs = @($lab.nodes | ForEach-Object vg)
    Show "lvs --config '$($lab.lvmConfig)' $($vgs -join ' ')"
    Invoke-LabNative lvs (@('--config', $lab.lvmConfig) + $vgs) | Out-Host
}

try {
    Say 'Load the module and point it at the lab'
    if (-not (Test-Path -LiteralPath $module)) { throw "$module is not built (run build.ps1 Build)" }
    Show 'Import-Module ./out/BlockStore/BlockStore.psd1'
    Import-Module $module
    Show "`$env:BLOCKSTORE_CONNECTION = '$env:BLOCKSTORE_CONNECTION'"
    Show 'Connect-BlockStore -ConnectionString $env:BLOCKSTORE_CONNECTION'
    Connect-BlockStore -ConnectionString $env:BLOCKSTORE_CONNECTION | Out-Host
    Show 'Get-Command -Module BlockStore'
    Get-Command -Module BlockStore | Format-Table -AutoSize | Out-Host

    Say 'The services: one scheduler and one volume agent per node, with their heartbeats and capacity'
    Show 'Get-BlockVolumeService'
    Get-BlockVolumeService | Out-Host

    Say 'Create a 1 GiB volume and wait until an agent has made it'
    Show 'New-BlockVolume -Name demo-1 -SizeGiB 1 -Wait'
    New-BlockVolume -Name demo-1 -SizeGiB 1 -Wait | Out-Host

    Say 'The volumes'
    Show 'Get-BlockVolume'
    Get-BlockVolume | Out-Host

    Say 'What LVM sees: the logical volume the agent created'
    Show-Lvs

    Say 'Delete the volume and wait until it is gone'
    Show 'Remove-BlockVolume -Name demo-1 -Confirm:$false -Wait'
    Remove-BlockVolume -Name demo-1 -Confirm:$false -Wait | Out-Host
    Show-Lvs
}
catch {
    Write-Host "demo step failed: $($_.Exception.Message)" -ForegroundColor Red
    Write-Host $_.ScriptStackTrace -ForegroundColor DarkGray
    exit 1
}
exit 0
