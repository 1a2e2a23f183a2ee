# Projects, quotas and volume types (issue 13), end to end against the lab: the cmdlets, the
# database's own quota check (refused at once with QuotaExceeded, nothing written), usage released
# on delete, 20 parallel requests against a remaining quota of 10, per-type limits, extra specs
# matched by the real scheduler against what the real agents report, and the error that names each
# host and the spec it failed. Type-driven placement onto the thin guest vs the thick loop-file
# nodes, and the snapshot quota, need the lab's guest (the only host that can snapshot).
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $hasGuest = [bool]((Get-LabInfo).PSObject.Properties['guest'])
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $script:lab = Initialize-LabTest -Guest
    $script:prefix = New-LabTestPrefix 'pq'
    $script:team = "$prefix-team"

    function Get-ProjectWrites([string] $Project) {
        # Volumes, their operations and events, and snapshots of the project: what a refused request must not add to.
        Invoke-LabSql ("select (select count(*) from bs.volumes where project = '$Project') || ' ops=' || " +
            "(select count(*) from bs.operations o join bs.volumes v on v.id = o.volume_id where v.project = '$Project') || ' events=' || " +
            "(select count(*) from bs.events e join bs.volumes v on v.id = e.volume_id where v.project = '$Project') || ' snaps=' || " +
            "(select count(*) from bs.snapshots s join bs.volumes v on v.id = s.volume_id where v.project = '$Project')")
    }
}

AfterAll {
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Where-Object Status -NE 'deleted' |
        Remove-BlockVolume -Cascade -Force -Confirm:$false -Wait -TimeoutSec 600 -ErrorAction Continue | Out-Null
    Get-BlockStoreProject -Name "$prefix-*" -ErrorAction Ignore | Remove-BlockStoreProject -Confirm:$false -ErrorAction Continue
    Get-BlockVolumeType -Name "$prefix-*" -ErrorAction Ignore | Remove-BlockVolumeType -Confirm:$false -ErrorAction Continue
}

Describe 'Projects' {
    It 'New-BlockStoreProject makes a project that Get-BlockStoreProject lists, empty' {
        $p = New-BlockStoreProject -Name $team -Description 'runbook team' -Confirm:$false
        $p.Name | Should -Be $team
        $got = Get-BlockStoreProject -Name "$prefix-*"
        $got.Name | Should -Be $team
        ($got.Volumes, $got.Gigabytes) | Should -Be @(0, 0)
        (Get-BlockStoreProject -Name 'default').Name | Should -Be 'default'
    }

    It 'refuses a bad name, a name in use and an unknown project, each with its ErrorId' {
        $err = { New-BlockStoreProject -Name 'Team A' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidProjectName,BlockStore.Commands.NewBlockStoreProjectCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        { New-BlockStoreProject -Name $team -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNameInUse,BlockStore.Commands.NewBlockStoreProjectCommand'
        { Get-BlockStoreProject -Name "$prefix-nobody" -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNotFound,BlockStore.Commands.GetBlockStoreProjectCommand'
        $before = Invoke-LabSql 'select count(*) from bs.volumes'
        { New-BlockVolume -Name "$prefix-lost" -SizeGiB 1 -Project "$prefix-nobody" -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNotFound,BlockStore.Commands.NewBlockVolumeCommand'
        Invoke-LabSql 'select count(*) from bs.volumes' | Should -Be $before
    }

    It 'a volume lands in the project asked for, else in default, and Get-BlockVolume -Project filters' {
        # Made to the end, so the next test's count of writes is not raced by their own events.
        $v = New-BlockVolume -Name "$prefix-in-team" -SizeGiB 1 -Project $team -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120
        $d = New-BlockVolume -Name "$prefix-in-default" -SizeGiB 1 -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120
        ($v.Project, $d.Project, $d.VolumeType) | Should -Be @($team, 'default', 'default')
        (Get-BlockVolume -Project $team).Name | Should -Be "$prefix-in-team"
        (Get-BlockStoreProject -Name $team).Volumes | Should -Be 1
    }

    It 'Remove-BlockStoreProject refuses a project that owns volumes (ProjectNotEmpty), then removes it once empty' {
        $before = Get-ProjectWrites $team
        { Remove-BlockStoreProject -Name $team -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNotEmpty,BlockStore.Commands.RemoveBlockStoreProjectCommand'
        Get-ProjectWrites $team | Should -Be $before
        $other = "$prefix-gone"
        New-BlockStoreProject -Name $other -Confirm:$false | Out-Null
        (Remove-BlockStoreProject -Name $other -Confirm:$false -PassThru).Name | Should -Be $other
        { Get-BlockStoreProject -Name $other -ErrorAction Stop } | Should -Throw -ErrorId 'ProjectNotFound,BlockStore.Commands.GetBlockStoreProjectCommand'
        { New-BlockStoreProject -Name $other -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNameInUse,BlockStore.Commands.NewBlockStoreProjectCommand'
    }
}

Describe 'Quotas' {
    BeforeAll {
        $script:q = "$prefix-quota"
        New-BlockStoreProject -Name $q -Confirm:$false | Out-Null
    }

    It 'a new project has the default limits (no limit out of the box), and Set-BlockStoreQuota sets its own' {
        $lines = Get-BlockStoreQuota -Project $q -Usage | Where-Object { $null -eq $_.VolumeType }
        ($lines | Sort-Object Resource).Resource | Should -Be @('gigabytes', 'snapshots', 'volumes')
        $lines | ForEach-Object { $_.Source | Should -Be 'default' }
        $set = Set-BlockStoreQuota -Project $q -Volumes 2 -Gigabytes 5 -Confirm:$false -PassThru
        ($set | Sort-Object Resource | ForEach-Object { "$($_.Resource)=$($_.Limit)/$($_.Source)" }) | Should -Be @('gigabytes=5/project', 'volumes=2/project')
    }

    It 'refuses bad limits with InvalidQuotaLimit and an unknown project with ProjectNotFound, writing nothing' {
        $before = Invoke-LabSql "select string_agg(resource || hard_limit, ',' order by resource) from bs.quotas where project = '$q'"
        $err = { Set-BlockStoreQuota -Project $q -Volumes -5 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidQuotaLimit,BlockStore.Commands.SetBlockStoreQuotaCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        { Set-BlockStoreQuota -Project $q -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidQuotaLimit,BlockStore.Commands.SetBlockStoreQuotaCommand'
        { Set-BlockStoreQuota -Project "$prefix-nobody" -Volumes 1 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNotFound,BlockStore.Commands.SetBlockStoreQuotaCommand'
        { Get-BlockStoreQuota -Project "$prefix-nobody" -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNotFound,BlockStore.Commands.GetBlockStoreQuotaCommand'
        Invoke-LabSql "select string_agg(resource || hard_limit, ',' order by resource) from bs.quotas where project = '$q'" | Should -Be $before
    }

    It 'a request over the volumes limit is refused at once with QuotaExceeded, naming limit, use and request; nothing written' {
        # Made to the end first, so that their own events are all written before the count.
        New-BlockVolume -Name "$prefix-q1" -SizeGiB 2 -Project $q -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120 | Out-Null
        New-BlockVolume -Name "$prefix-q2" -SizeGiB 1 -Project $q -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120 | Out-Null
        $before = Get-ProjectWrites $q
        $err = { New-BlockVolume -Name "$prefix-q3" -SizeGiB 1 -Project $q -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'QuotaExceeded,BlockStore.Commands.NewBlockVolumeCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'QuotaExceeded'
        $err.Exception.Message | Should -BeLike "*volumes in project ${q}: limit 2, in use 2, requested 1*"
        Get-ProjectWrites $q | Should -Be $before
        Get-BlockVolume -Name "$prefix-q3" -ErrorAction Ignore | Should -BeNullOrEmpty
    }

    It 'gigabytes count growth too: Resize-BlockVolume over the limit is refused, the size unchanged' {
        Set-BlockStoreQuota -Project $q -Volumes 10 -Confirm:$false
        $v = Get-BlockVolume -Name "$prefix-q1" | Wait-BlockVolume -TimeoutSec 120
        $err = { New-BlockVolume -Name "$prefix-q-big" -SizeGiB 3 -Project $q -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'QuotaExceeded,BlockStore.Commands.NewBlockVolumeCommand' -PassThru
        $err.Exception.Message | Should -BeLike "*gigabytes in project ${q}: limit 5, in use 3, requested 3*"
        $err = { Resize-BlockVolume -VolumeId $v.Id -SizeGiB 5 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'QuotaExceeded,BlockStore.Commands.ResizeBlockVolumeCommand' -PassThru
        $err.Exception.Message | Should -BeLike '*limit 5, in use 3, requested 3*'
        (Get-BlockVolume -Id $v.Id).SizeGiB | Should -Be 2
    }

    It 'usage is released when a volume is deleted' {
        Set-BlockStoreQuota -Project $q -Volumes 2 -Confirm:$false
        Get-BlockVolume -Name "$prefix-q2" | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 120
        ((Get-BlockStoreQuota -Project $q -Usage) | Where-Object { $null -eq $_.VolumeType -and $_.Resource -eq 'volumes' }).InUse | Should -Be 1
        (New-BlockVolume -Name "$prefix-q4" -SizeGiB 1 -Project $q -Confirm:$false).Project | Should -Be $q
    }

    It '20 parallel requests against a remaining quota of 10 accept exactly 10' {
        $par = "$prefix-par"
        New-BlockStoreProject -Name $par -Confirm:$false | Out-Null
        Set-BlockStoreQuota -Project $par -Volumes 12 -Confirm:$false
        New-BlockVolume -Name "$prefix-par-pre1" -SizeGiB 1 -Project $par -Confirm:$false | Out-Null
        New-BlockVolume -Name "$prefix-par-pre2" -SizeGiB 1 -Project $par -Confirm:$false | Out-Null
        $module = Join-Path $lab.repo 'out/BlockStore/BlockStore.psd1'
        $results = 1..20 | ForEach-Object -ThrottleLimit 20 -Parallel {
            Import-Module $using:module
            try {
                New-BlockVolume -Name "$($using:prefix)-par-$_" -SizeGiB 1 -Project $using:par -Confirm:$false -ErrorAction Stop | Out-Null
                'ok'
            } catch { $_.FullyQualifiedErrorId }
        }
        @($results | Where-Object { $_ -eq 'ok' }).Count | Should -Be 10 -Because ($results -join '; ')
        @($results | Where-Object { $_ -eq 'QuotaExceeded,BlockStore.Commands.NewBlockVolumeCommand' }).Count | Should -Be 10
        @(Get-BlockVolume -Project $par).Count | Should -Be 12
    }
}

Describe 'Volume types' {
    BeforeAll {
        $script:nvme = "$prefix-nvme"
    }

    It 'New-/Get-/Set-BlockVolumeType keep a type with its extra specs' {
        $t = New-BlockVolumeType -Name $nvme -Description 'fast disks' -ExtraSpec @{ disk = 'nvme'; 'capabilities:iscsi' = $true } -Confirm:$false
        $t.ExtraSpecs['disk'] | Should -Be 'nvme'
        $t.ExtraSpecs['capabilities:iscsi'] | Should -Be 'True'
        $t.IsDefault | Should -BeFalse
        $changed = Set-BlockVolumeType -Name $nvme -ExtraSpec @{ 'capabilities:iscsi' = $null; tier = 'gold' } -Confirm:$false -PassThru
        ($changed.ExtraSpecs.Keys | Sort-Object) | Should -Be @('disk', 'tier')
        (Get-BlockVolumeType -Name 'default').IsDefault | Should -BeTrue
    }

    It 'refuses bad names and specs, names in use, unknown types and removing a type in use, each with its ErrorId' {
        { New-BlockVolumeType -Name '-bad' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidVolumeTypeName,BlockStore.Commands.NewBlockVolumeTypeCommand'
        $err = { New-BlockVolumeType -Name "$prefix-x" -ExtraSpec @{ backend_type = 'fast' } -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidExtraSpec,BlockStore.Commands.NewBlockVolumeTypeCommand' -PassThru
        $err.Exception.Message | Should -Match "'thin' or 'thick'"
        Get-BlockVolumeType -Name "$prefix-x" -ErrorAction Ignore | Should -BeNullOrEmpty
        { New-BlockVolumeType -Name $nvme -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeNameInUse,BlockStore.Commands.NewBlockVolumeTypeCommand'
        { Get-BlockVolumeType -Name "$prefix-none" -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeNotFound,BlockStore.Commands.GetBlockVolumeTypeCommand'
        { Set-BlockVolumeType -Name "$prefix-none" -Description 'x' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeNotFound,BlockStore.Commands.SetBlockVolumeTypeCommand'
        { New-BlockVolume -Name "$prefix-untyped" -SizeGiB 1 -VolumeType "$prefix-none" -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeNotFound,BlockStore.Commands.NewBlockVolumeCommand'
        { Remove-BlockVolumeType -Name 'default' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeInUse,BlockStore.Commands.RemoveBlockVolumeTypeCommand'
        { Remove-BlockVolumeType -Name "$prefix-none" -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeNotFound,BlockStore.Commands.RemoveBlockVolumeTypeCommand'
    }

    It 'a type no host matches: the volume ends error with a reason naming each host and the spec it failed' {
        $v = New-BlockVolume -Name "$prefix-nvme-1" -SizeGiB 1 -VolumeType $nvme -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120
        $v.Status | Should -Be 'error'
        $v.VolumeType | Should -Be $nvme
        $v.StatusReason | Should -BeLike "No volume host can take 1 GiB in zone $($lab.zone) of volume type ${nvme}:*"
        foreach ($node in $lab.nodeNames) {
            $v.StatusReason | Should -Match "$([regex]::Escape($node)): volume type wants disk=nvme \(host: not reported\)"
        }
        { Remove-BlockVolumeType -Name $nvme -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'VolumeTypeInUse,BlockStore.Commands.RemoveBlockVolumeTypeCommand'
    }

    It 'a type that asks for what an agent reports (its volume_backend_name) is placed there' {
        $t = New-BlockVolumeType -Name "$prefix-lvm" -ExtraSpec @{ volume_backend_name = 'LVM'; backend_type = 'thick' } -Confirm:$false
        $v = New-BlockVolume -Name "$prefix-lvm-1" -SizeGiB 1 -VolumeType $t.Name -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        $v.Host | Should -BeIn $lab.nodeNames
    }

    It 'per-type quotas count only that type' {
        $p = "$prefix-typed"
        New-BlockStoreProject -Name $p -Confirm:$false | Out-Null
        Set-BlockStoreQuota -Project $p -VolumeType "$prefix-lvm" -Volumes 1 -Confirm:$false
        New-BlockVolume -Name "$prefix-t1" -SizeGiB 1 -Project $p -VolumeType "$prefix-lvm" -AvailabilityZone $lab.zone -Confirm:$false | Out-Null
        $err = { New-BlockVolume -Name "$prefix-t2" -SizeGiB 1 -Project $p -VolumeType "$prefix-lvm" -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'QuotaExceeded,BlockStore.Commands.NewBlockVolumeCommand' -PassThru
        $err.Exception.Message | Should -BeLike "*volumes of volume type $prefix-lvm in project ${p}: limit 1, in use 1, requested 1*"
        (New-BlockVolume -Name "$prefix-t3" -SizeGiB 1 -Project $p -AvailabilityZone $lab.zone -Confirm:$false).VolumeType | Should -Be 'default'
        $line = Get-BlockStoreQuota -Project $p -Usage | Where-Object { $_.VolumeType -eq "$prefix-lvm" -and $_.Resource -eq 'volumes' }
        ($line.Limit, $line.InUse, $line.Free) | Should -Be @(1, 1, 0)
    }
}

Describe 'Availability zones' {
    It 'a zone no volume host serves is refused at once with InvalidAvailabilityZone, nothing written' {
        $before = Invoke-LabSql 'select count(*) from bs.volumes'
        $err = { New-BlockVolume -Name "$prefix-nowhere" -SizeGiB 1 -AvailabilityZone 'nowhere' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidAvailabilityZone,BlockStore.Commands.NewBlockVolumeCommand' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -BeLike "No volume host serves availability zone nowhere (zones served: *$($lab.zone)*"
        Invoke-LabSql 'select count(*) from bs.volumes' | Should -Be $before
    }
}

Describe 'Tenant logins' {
    BeforeAll {
        $script:tp = "$prefix-tenant"
        New-BlockStoreProject -Name $tp -Confirm:$false | Out-Null
        $script:connFile = Join-Path $TestDrive "$tp.conn"
        $script:operatorConnection = $env:BLOCKSTORE_CONNECTION
        # An operator's volume in the default project that the tenant must not see or touch.
        $script:foreign = New-BlockVolume -Name "$prefix-not-yours" -SizeGiB 1 -AvailabilityZone $lab.zone -Confirm:$false

        function Invoke-AsTenant([scriptblock] $Script) {
            # The module reads $env:BLOCKSTORE_CONNECTION at every call when Connect-BlockStore was not used.
            $env:BLOCKSTORE_CONNECTION = (Get-Content -Raw -LiteralPath $connFile).Trim()
            try { & $Script } finally { $env:BLOCKSTORE_CONNECTION = $operatorConnection }
        }
    }

    AfterAll {
        $env:BLOCKSTORE_CONNECTION = $operatorConnection
        Unregister-BlockStoreTenant -Project $tp -Confirm:$false -ErrorAction Ignore
    }

    It 'Register-BlockStoreTenant writes the project''s own connection to an owner-only file' {
        Register-BlockStoreTenant -Project $tp -OutFile $connFile -Confirm:$false | Should -BeNullOrEmpty
        [int][System.IO.File]::GetUnixFileMode($connFile) | Should -Be ([Convert]::ToInt32('600', 8))
        $text = Get-Content -Raw -LiteralPath $connFile
        $text | Should -Match "Username=bs_tenant_$([regex]::Escape($tp))"
        $text | Should -Match 'Password='
        Invoke-LabSql "select project from bs.tenant_roles where role = 'bs_tenant_$tp'" | Should -Be $tp
    }

    It 'as the tenant: a volume lands in its project and it sees only its own volumes and quota' {
        $mine = Invoke-AsTenant { New-BlockVolume -Name "$prefix-tenant-vol" -SizeGiB 1 -AvailabilityZone $lab.zone -Confirm:$false -Wait -TimeoutSec 120 }
        $mine.Project | Should -Be $tp
        $mine.Status | Should -Be 'available' -Because $mine.StatusReason
        $seen = Invoke-AsTenant { Get-BlockVolume }
        @($seen).Name | Should -Be @("$prefix-tenant-vol")
        (Invoke-AsTenant { Get-BlockStoreQuota -Usage }).Project | Sort-Object -Unique | Should -Be $tp
        (Invoke-AsTenant { Get-BlockStoreProject }).Name | Should -Be $tp
        Invoke-AsTenant {
            { Get-BlockVolumeEvent -VolumeId $foreign.Id -ErrorAction Stop } |
                Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.GetBlockVolumeEventCommand'
        }
        # The operator still sees both.
        (Get-BlockVolume -Id $mine.Id, $foreign.Id).Count | Should -Be 2
    }

    It 'as the tenant: the other project''s volume is not found, its quota cannot be raised, another project is refused' {
        Invoke-AsTenant {
            { Remove-BlockVolume -Id $foreign.Id -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.RemoveBlockVolumeCommand'
            $err = { Set-BlockStoreQuota -Project $tp -Volumes 1000 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'PermissionDenied,BlockStore.Commands.SetBlockStoreQuotaCommand' -PassThru
            $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
            { New-BlockVolume -Name "$prefix-sneak" -SizeGiB 1 -Project 'default' -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'PermissionDenied,BlockStore.Commands.NewBlockVolumeCommand'
        }
        (Get-BlockVolume -Id $foreign.Id).Status | Should -Not -BeIn @('deleting', 'deleted')
        Invoke-LabSql "select count(*) from bs.quotas where project = '$tp'" | Should -Be '0'
        Invoke-LabSql "select count(*) from bs.volumes where name = '$prefix-sneak'" | Should -Be '0'
    }

    It 'registering again rotates the password: the old connection stops working at once' {
        $old = (Get-Content -Raw -LiteralPath $connFile).Trim()
        $r = Register-BlockStoreTenant -Project $tp -Confirm:$false
        $r.Role | Should -Be "bs_tenant_$tp"
        $r.ConnectionString | Should -Not -Be $old
        # Another pool than the tenant's earlier calls (Timeout differs): an open session would outlive
        # the rotation, as PostgreSQL's sessions do; a new login with the old password must fail.
        $env:BLOCKSTORE_CONNECTION = "$old;Timeout=7"
        try { { Get-BlockVolume -ErrorAction Stop } | Should -Throw -ErrorId 'StoreUnavailable,BlockStore.Commands.GetBlockVolumeCommand' }
        finally { $env:BLOCKSTORE_CONNECTION = $operatorConnection }
        Set-Content -LiteralPath $connFile -Value $r.ConnectionString
        @(Invoke-AsTenant { Get-BlockVolume }).Count | Should -Be 1
    }

    It 'refuses an unknown project, a role that is not the tenant''s, and unregistering twice, each with its ErrorId' {
        { Register-BlockStoreTenant -Project "$prefix-nobody" -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProjectNotFound,BlockStore.Commands.RegisterBlockStoreTenantCommand'
        $squat = "$prefix-squat"
        New-BlockStoreProject -Name $squat -Confirm:$false | Out-Null
        Invoke-LabSql "create role `"bs_tenant_$squat`" nologin" | Out-Null
        try {
            { Register-BlockStoreTenant -Project $squat -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'TenantRoleConflict,BlockStore.Commands.RegisterBlockStoreTenantCommand'
        }
        finally { Invoke-LabSql "drop role `"bs_tenant_$squat`"" | Out-Null }
        (Unregister-BlockStoreTenant -Project $tp -Confirm:$false -PassThru).Role | Should -Be "bs_tenant_$tp"
        Invoke-LabSql "select count(*) from pg_roles where rolname = 'bs_tenant_$tp'" | Should -Be '0'
        { Unregister-BlockStoreTenant -Project $tp -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'TenantNotRegistered,BlockStore.Commands.UnregisterBlockStoreTenantCommand'
    }
}

Describe 'Types and quotas with the thin guest host' -Skip:(-not $hasGuest) {
    BeforeAll {
        $script:g = $lab.guest
        # The lab sends volumes without a zone to its nodes' zone (default_availability_zone), which
        # keeps them off the guest; here no zone is asked for and the type alone must decide.
        $script:defaultZone = Invoke-LabSql "select value from bs.settings where key = 'default_availability_zone'"
        Invoke-LabSql "update bs.settings set value = '' where key = 'default_availability_zone'" | Out-Null
        $script:thin = New-BlockVolumeType -Name "$prefix-thin" -ExtraSpec @{ backend_type = 'thin' } -Confirm:$false
        $script:thick = New-BlockVolumeType -Name "$prefix-thick" -ExtraSpec @{ backend_type = 'thick' } -Confirm:$false
    }

    AfterAll {
        Invoke-LabSql "update bs.settings set value = '$defaultZone' where key = 'default_availability_zone'" | Out-Null
    }

    It 'a thin type goes to the thin guest and a thick type to a loop-file node, with no zone asked for' {
        $a = New-BlockVolume -Name "$prefix-thin-1" -SizeGiB 1 -VolumeType $thin.Name -Confirm:$false -Wait -TimeoutSec 600
        $b = New-BlockVolume -Name "$prefix-thick-1" -SizeGiB 1 -VolumeType $thick.Name -Confirm:$false -Wait -TimeoutSec 600
        $a.Status | Should -Be 'available' -Because $a.StatusReason
        $b.Status | Should -Be 'available' -Because $b.StatusReason
        $a.Host | Should -Be $g.name
        $b.Host | Should -BeIn $lab.nodeNames
    }

    It 'snapshots count against the snapshots and gigabytes limits' {
        $p = "$prefix-snaps"
        New-BlockStoreProject -Name $p -Confirm:$false | Out-Null
        $v = New-BlockVolume -Name "$prefix-snap-src" -SizeGiB 1 -Project $p -VolumeType $thin.Name -Confirm:$false -Wait -TimeoutSec 600
        $v.Status | Should -Be 'available' -Because $v.StatusReason
        Set-BlockStoreQuota -Project $p -Snapshots 1 -Gigabytes 3 -Confirm:$false
        $s = New-BlockVolumeSnapshot -VolumeId $v.Id -Name 'one' -Confirm:$false -Wait -TimeoutSec 600
        $s.Status | Should -Be 'available' -Because $s.StatusReason
        (Get-BlockVolumeSnapshot -Project $p).Id | Should -Be $s.Id
        Get-BlockVolumeSnapshot -Project $team | Should -BeNullOrEmpty
        $before = Get-ProjectWrites $p
        $err = { New-BlockVolumeSnapshot -VolumeId $v.Id -Name 'two' -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'QuotaExceeded,BlockStore.Commands.NewBlockVolumeSnapshotCommand' -PassThru
        $err.Exception.Message | Should -BeLike "*snapshots in project ${p}: limit 1, in use 1, requested 1*"
        Get-ProjectWrites $p | Should -Be $before
        # The volume's 1 GiB and the snapshot's 1 GiB are in use: 2 more would make 4 > 3.
        $err = { New-BlockVolume -Name "$prefix-snap-more" -SizeGiB 2 -Project $p -VolumeType $thin.Name -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'QuotaExceeded,BlockStore.Commands.NewBlockVolumeCommand' -PassThru
        $err.Exception.Message | Should -BeLike "*gigabytes in project ${p}: limit 3, in use 2, requested 2*"
    }
}
