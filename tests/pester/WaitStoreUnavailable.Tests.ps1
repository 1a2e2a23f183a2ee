# -Wait keeps the catalogue's ErrorIds: PostgreSQL stopped in the middle of a -Wait (New-BlockVolume,
# Remove-BlockVolume) ends the command with StoreUnavailable (ConnectionError), as Wait-BlockVolume
# did already, instead of an exception without an ErrorId escaping EndProcessing. The waiting cmdlet
# runs in a separate pwsh (as a user's would) while this file stops PostgreSQL under it; the agents
# are stopped first so that the wait cannot end before that.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'ws'

    function Start-WaitingCommand([string] $Command) {
        <# A fresh pwsh that imports the module, runs $Command and prints "ERRORID <FullyQualifiedErrorId> <category>" or "DONE". #>
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$($lab.repo)/out/BlockStore/BlockStore.psd1'; " +
            "try { $Command | Out-Null; 'DONE' } catch { 'ERRORID ' + `$_.FullyQualifiedErrorId + ' ' + `$_.CategoryInfo.Category }"
        $pwsh = @(Get-LabPwshCommand)
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
        foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        return [System.Diagnostics.Process]::Start($psi)
    }

    function Test-Waiting([guid] $VolumeId, [string] $Status) {
        # The waiting pwsh has started and its volume is in flight: the wait is on.
        return (Invoke-LabSql "select status from bs.volumes where id = '$VolumeId'") -eq $Status
    }
}

AfterAll {
    if (-not (Test-LabPostgresRunning)) { Start-LabPostgres }
    foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n }
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe '-Wait while PostgreSQL goes away' {
    It 'Remove-BlockVolume -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        $v = New-BlockVolume -Name "$prefix-rm" -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 300
        $v.Status | Should -Be 'available'
        foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
        $p = Start-WaitingCommand "Remove-BlockVolume -Id '$($v.Id)' -Confirm:`$false -Wait -TimeoutSec 300"
        try {
            Wait-LabCondition { Test-Waiting $v.Id 'deleting' } -TimeoutSeconds 120 | Should -BeTrue -Because 'the waiting pwsh asked for the deletion'
            Start-Sleep -Seconds 2   # inside the wait's polling loop, not before it
            Stop-LabPostgres
            $p.WaitForExit(120000) | Should -BeTrue -Because 'the wait must end once the store is gone, not run into its 300 s timeout'
            $p.StandardOutput.ReadToEnd().Trim() | Should -Be 'ERRORID StoreUnavailable,BlockStore.Commands.RemoveBlockVolumeCommand ConnectionError'
        }
        finally {
            if (-not $p.HasExited) { $p.Kill($true) }
            if (-not (Test-LabPostgresRunning)) { Start-LabPostgres }
            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n }
        }
        # The request itself was kept: the deletion finishes once the agents are back.
        (Wait-BlockVolume -Id $v.Id -TimeoutSec 300).Status | Should -Be 'deleted'
    }

    It 'New-BlockVolume -Wait ends with StoreUnavailable when PostgreSQL stops mid-wait' {
        foreach ($n in $lab.nodeNames) { Stop-LabAgent -Name $n }
        $p = Start-WaitingCommand "New-BlockVolume -Name '$prefix-new' -SizeGiB 1 -Confirm:`$false -Wait -TimeoutSec 300"
        try {
            Wait-LabCondition { (Invoke-LabSql "select count(*) from bs.volumes where name = '$prefix-new' and status = 'creating'") -eq '1' } -TimeoutSeconds 120 |
                Should -BeTrue -Because 'the waiting pwsh made its request'
            Start-Sleep -Seconds 2
            Stop-LabPostgres
            $p.WaitForExit(120000) | Should -BeTrue
            $p.StandardOutput.ReadToEnd().Trim() | Should -Be 'ERRORID StoreUnavailable,BlockStore.Commands.NewBlockVolumeCommand ConnectionError'
        }
        finally {
            if (-not $p.HasExited) { $p.Kill($true) }
            if (-not (Test-LabPostgresRunning)) { Start-LabPostgres }
            foreach ($n in $lab.nodeNames) { Start-LabAgent -Name $n }
        }
        # Accepted before the outage, so never lost: it ends available (or error with a reason), not stuck.
        (Wait-BlockVolume -Name "$prefix-new" -TimeoutSec 300).Status | Should -BeIn @('available', 'error')
    }
}
