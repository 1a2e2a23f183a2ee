# Smoke tests of the lab that `build.ps1 Up` starts: PostgreSQL, the LVM volume groups and the hosts.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO points at the repository.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Get-LabInfo
    $nodes = @($lab.nodes | ForEach-Object { @{ Name = $_.name; Vg = $_.vg; Loop = $_.loopDevice } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Get-LabInfo
}

Describe 'The lab' {
    Context 'PostgreSQL' {
        It 'answers select 1' {
            Invoke-LabSql -Sql 'select 1' | Should -Be '1'
        }

        It 'has the BlockStore schema migrated' {
            Invoke-LabSql -Sql "select count(*) from information_schema.tables where table_schema = 'bs' and table_name in ('volumes', 'operations', 'services', 'events', 'settings')" |
                Should -Be '5'
        }

        It 'uses the short lab down threshold (service_down_seconds = 10)' {
            Invoke-LabSql -Sql "select value from bs.settings where key = 'service_down_seconds'" | Should -Be '10'
        }
    }

    Context 'LVM on <Name>' -ForEach $nodes {
        It 'has the volume group <Vg> in vgs' {
            $vgs = @(Invoke-LabLvm vgs @('-o', 'vg_name'))
            $vgs.vg_name | Should -Contain $Vg
        }

        It 'backs <Vg> with the loop device <Loop>' {
            $pv = @(Invoke-LabLvm pvs @('-o', 'pv_name,vg_name') | Where-Object vg_name -EQ $Vg)
            $pv.pv_name | Should -Be $Loop
        }
    }

    Context 'Hosts' {
        It 'runs the scheduler' {
            $schedulerPid = Get-LabHostPid -Name $lab.scheduler.name
            $schedulerPid | Should -Not -BeNullOrEmpty
            Test-LabPidAlive -ProcessId $schedulerPid -CommandLike 'hosts/scheduler/BlockStore.Scheduler' | Should -BeTrue
        }

        It 'runs the agent of <Name>' -ForEach $nodes {
            $agentPid = Get-LabHostPid -Name $Name
            $agentPid | Should -Not -BeNullOrEmpty
            Test-LabPidAlive -ProcessId $agentPid -CommandLike 'hosts/agent/BlockStore.Agent' | Should -BeTrue
        }

        It 'runs the agent of <Name> with the lab''s LVM configuration, without async I/O' -ForEach $nodes {
            # tests/lab/Lvm.ps1 New-LabLvmSystemDir: each LVM command's io_destroy waited about 30 ms.
            $lab.lvmSystemDir | Should -Not -BeNullOrEmpty
            $environ = [System.IO.File]::ReadAllText("/proc/$(Get-LabHostPid -Name $Name)/environ") -split "`0"
            $environ | Should -Contain "LVM_SYSTEM_DIR=$($lab.lvmSystemDir)"
            $useAio = (Use-LabLvmSystemDir -Lab $lab { Invoke-LabNative (Get-LabLvmExe lvmconfig) @('--type', 'current', 'global/use_aio') }) -join ''
            $useAio | Should -Be 'use_aio=0'
        }

        It 'restarts an agent with Stop-LabAgent and Start-LabAgent' {
            $name = $lab.nodes[0].name
            $before = Get-LabHostPid -Name $name
            Stop-LabAgent -Name $name
            Test-LabHost -Name $name | Should -BeFalse
            Test-LabPidAlive -ProcessId $before | Should -BeFalse
            $after = Start-LabAgent -Name $name
            $after | Should -Not -Be $before
            Test-LabHost -Name $name | Should -BeTrue
        }
    }
}
