# No operation runs forever (issue 17). One agent's LVM folder is swapped for a faulty one: the real
# lvs, vgs and lvremove (so the host stays live, reports capacity and is given the request) and
#  - no lvcreate at all (a broken LVM install): each attempt fails to start the command, is recorded
#    as a 'retry' event and retried with backoff; after the allowed attempts the volume ends in error
#    with the reason and is never claimed again;
#  - an lvcreate that hangs (a wrapper script that sleeps): each attempt ends at the agent's LVM
#    deadline, the wrapper and its sleep are killed (gone from ps), and the volume ends in error
#    with a reason that names the command and its deadline.
# With the fault removed the next request succeeds; nothing stays 'creating'.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'or'
    $script:broken = $lab.nodeNames[0]
    $script:others = @($lab.nodeNames | Where-Object { $_ -ne $broken })
    (Get-Command lvcreate -CommandType Application) | Should -Not -BeNullOrEmpty

    # Only the faulty agent may take the requests.
    foreach ($o in $others) { Disable-BlockVolumeService -HostName $o -Service volume -Reason "${prefix}: OperationRetries.Tests" -Confirm:$false }

    function script:New-FaultyLvmFolder([string] $Name) {
        # The real reporting and removal commands, no lvcreate.
        $dir = Join-Path $lab.stateDir "$Name-$prefix"
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        foreach ($tool in 'lvs', 'vgs', 'lvremove') {
            New-Item -ItemType SymbolicLink -Path (Join-Path $dir $tool) -Target (Get-Command $tool -CommandType Application)[0].Source | Out-Null
        }
        $dir
    }

    function script:Restart-FaultyAgent([string[]] $Arguments) {
        Stop-LabAgent -Name $broken
        Start-LabHost -Name $broken -ExtraArguments $Arguments | Out-Null
    }

    function script:Get-OperationRow([guid] $VolumeId) {
        Invoke-LabSql "select stage || ' ' || attempts from bs.operations where volume_id = '$VolumeId' and kind = 'create'"
    }
}

AfterAll {
    Stop-LabAgent -Name $broken
    Start-LabAgent -Name $broken
    foreach ($o in $others) { Enable-BlockVolumeService -HostName $o -Service volume -Confirm:$false -ErrorAction Continue }
    Get-ChildItem -LiteralPath $lab.stateDir -Directory -Filter "*-$prefix" | Remove-Item -Recurse -Force -ErrorAction Ignore
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe 'an agent that cannot start lvcreate' {
    BeforeAll {
        $script:noLvcreate = New-FaultyLvmFolder 'no-lvcreate'
        Test-Path (Join-Path $noLvcreate 'lvcreate') | Should -BeFalse
        Restart-FaultyAgent @("--Agent:LvmBinDirectory=$noLvcreate", '--Agent:MaxAttempts=3', '--Agent:RetryBaseSeconds=1')
    }

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
        Get-OperationRow $v.Id | Should -Be 'failed 3'
    }

    It 'is never claimed again: the operation stays failed' {
        $id = (Get-BlockVolume -Name "$prefix-poison").Id
        # A failed operation has no backoff left; the agent's wake-ups (a fallback poll at least) must
        # still not claim it: a window of a fallback poll, measured by the agent's own heartbeats.
        Wait-LabHostPasses -HostName $broken -Service volume -Polls 1 | Should -BeTrue -Because "$broken heartbeats"
        Get-OperationRow $id | Should -Be 'failed 3'
    }
}

Describe 'an agent whose lvcreate hangs' {
    BeforeAll {
        $script:hanging = New-FaultyLvmFolder 'hanging-lvcreate'
        # A number nothing else sleeps for, so ps finds exactly the wrapper's child.
        $script:marker = Get-Random -Minimum 100000 -Maximum 900000
        $wrapper = Join-Path $hanging 'lvcreate'
        Set-Content -LiteralPath $wrapper -Value "#!/bin/sh`nsleep $marker`n" -NoNewline
        & chmod 755 $wrapper
        Restart-FaultyAgent @("--Agent:LvmBinDirectory=$hanging", '--Agent:Deadlines:LvmSeconds=3', '--Agent:MaxAttempts=2', '--Agent:RetryBaseSeconds=1')

        function script:Get-Sleepers { @(& ps -eo args | Where-Object { $_ -eq "sleep $marker" -or $_ -like "*$hanging/lvcreate*" }) }
    }

    It 'runs the wrapper, ends each attempt at the 3 s deadline and ends the request in error naming the command' {
        $v = New-BlockVolume -Name "$prefix-hang" -SizeGiB 1 -Confirm:$false
        # The attempt is really hanging in the wrapper (the sleep is in ps) ...
        Wait-LabCondition { (Get-Sleepers).Count -gt 0 } -TimeoutSeconds 60 | Should -BeTrue
        $v = Wait-BlockVolume -Id $v.Id -TimeoutSec 120
        $v.Status | Should -Be 'error'
        $v.StatusReason | Should -Match '^gave up after 2 attempt\(s\): CommandDeadlineException: lvcreate did not finish within its deadline of 3 s: killed with its process tree after \d+\.\d s$'
        $retries = @(Get-BlockVolumeEvent -VolumeId $v.Id | Where-Object Kind -EQ 'retry')
        $retries.Count | Should -Be 1
        $retries[0].Message | Should -Match '^create: attempt 1 of 2 failed: CommandDeadlineException: lvcreate did not finish within its deadline of 3 s'
        Get-OperationRow $v.Id | Should -Be 'failed 2'
    }

    It 'leaves no process behind: the wrapper and its sleep are gone' {
        Get-Sleepers | Should -BeNullOrEmpty
    }
}

Describe 'after the fault is removed' {
    It 'a new request succeeds on the same host, and nothing is left creating' {
        Stop-LabAgent -Name $broken
        Start-LabAgent -Name $broken
        $ok = New-BlockVolume -Name "$prefix-after" -SizeGiB 1 -Confirm:$false -Wait -TimeoutSec 240
        $ok.Status | Should -Be 'available'
        $ok.Host | Should -Be $broken
        @(Get-BlockVolume -Name "$prefix-*" | Where-Object Status -EQ 'creating') | Should -BeNullOrEmpty
    }
}
