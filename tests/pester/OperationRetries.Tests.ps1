# No operation runs forever (issue 17): an agent whose lvcreate cannot even be started (its LVM
# folder holds the real lvs, vgs and lvremove but no lvcreate, as on a host with a broken LVM
# install) stays live and reports capacity, so it is given the request; each attempt is a
# recorded failure, retried with backoff; after the allowed attempts the volume ends in error with
# the reason, and it is never claimed again. With the fault removed the next request succeeds.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'or'
    $script:broken = $lab.nodeNames[0]
    $script:others = @($lab.nodeNames | Where-Object { $_ -ne $broken })
    # The agent's LVM folder: the real reporting and removal commands, no lvcreate (ENOENT on start).
    $script:noLvm = Join-Path $lab.stateDir "no-lvcreate-$prefix"
    New-Item -ItemType Directory -Force -Path $noLvm | Out-Null
    foreach ($tool in 'lvs', 'vgs', 'lvremove') {
        New-Item -ItemType SymbolicLink -Path (Join-Path $noLvm $tool) -Target (Get-Command $tool -CommandType Application)[0].Source | Out-Null
    }
    (Get-Command lvcreate -CommandType Application) | Should -Not -BeNullOrEmpty
    Test-Path (Join-Path $noLvm 'lvcreate') | Should -BeFalse
    # Only the broken agent may take the request.
    foreach ($o in $others) { Disable-BlockVolumeService -HostName $o -Service volume -Reason "${prefix}: OperationRetries.Tests" -Confirm:$false }
    Stop-LabAgent -Name $broken
    Start-LabHost -Name $broken -ExtraArguments @("--Agent:LvmBinDirectory=$noLvm", '--Agent:MaxAttempts=3', '--Agent:RetryBaseSeconds=1') | Out-Null
}

AfterAll {
    Stop-LabAgent -Name $broken
    Start-LabAgent -Name $broken
    foreach ($o in $others) { Enable-BlockVolumeService -HostName $o -Service volume -Confirm:$false -ErrorAction Continue }
    Remove-Item -LiteralPath $noLvm -Recurse -Force -ErrorAction Ignore
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe 'an agent that cannot start lvcreate' {
    It 'ends the request in error after its 3 allowed attempts, with one event per attempt' {
        $v = New-BlockVolume -Name "$prefix-poison" -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 240
        $v.Host | Should -Be $broken
        $v.Status | Should -Be 'error'
        $v.StatusReason | Should -Match '^gave up after 3 attempt\(s\): Win32Exception: .*lvcreate'
        $events = @(Get-BlockVolumeEvent -VolumeId $v.Id)
        $retries = @($events | Where-Object Kind -EQ 'retry')
        $retries.Count | Should -Be 2
        $retries[0].Message | Should -MatchExactly '^create: attempt 1 of 3 failed: Win32Exception: .*; next attempt in'
        $retries[1].Message | Should -Match '^create: attempt 2 of 3 failed'
        $errors = @($events | Where-Object Kind -EQ 'error')
        $errors.Count | Should -Be 1
        $errors[0].Message | Should -Match '^create failed: gave up after 3 attempt\(s\)'
        Invoke-LabSql "select stage || ' ' || attempts from bs.operations where volume_id = '$($v.Id)'" | Should -Be 'failed 3'
    }

    It 'is never claimed again: the operation stays failed' {
        $id = (Get-BlockVolume -Name "$prefix-poison").Id
        Start-Sleep -Seconds 3   # longer than any backoff left
        Invoke-LabSql "select stage || ' ' || attempts from bs.operations where volume_id = '$id'" | Should -Be 'failed 3'
    }

    It 'after the fault is removed a new request succeeds, and nothing is left creating' {
        Stop-LabAgent -Name $broken
        Start-LabAgent -Name $broken
        $ok = New-BlockVolume -Name "$prefix-after" -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 240
        $ok.Status | Should -Be 'available'
        $ok.Host | Should -Be $broken
        @(Get-BlockVolume -Name "$prefix-*" | Where-Object Status -EQ 'creating') | Should -BeNullOrEmpty
    }
}
