# Onboarding a storage host the product's way: Register-BlockVolumeHost writes the agent's
# configuration (its own database role and password, owner-only file); an agent started with
# exactly that file comes up; Unregister-BlockVolumeHost takes the access away again.
# Run by `build.ps1 Test` (Pester 5.7.1) against the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'hr'
    $script:hostName = "$prefix-node"
    $script:dir = Join-Path ([System.IO.Path]::GetTempPath()) $prefix
    New-Item -ItemType Directory -Path $dir | Out-Null
    $script:configFile = Join-Path $dir 'agent.json'
    $script:agentPid = $null

    function Start-TestAgent([string] $ConfigFile, [string] $Log, [switch] $Foreground, [int] $TimeoutSeconds = 60) {
        <#
        The published agent with the written configuration. Its volume group does not exist, so it
        reports itself unhealthy and never receives a volume: the lab's placements are not disturbed.
        #>
        $exe = Join-Path $lab.repo 'out/hosts/agent/BlockStore.Agent'
        $words = @($exe, "--ConfigFile=$ConfigFile",
            "--Agent:VolumeGroup=bs-missing-$prefix", '--Agent:LvmActivation=false',
            "--BlockStore:ReportIntervalSeconds=$($lab.reportIntervalSeconds)", "--contentRoot=$(Split-Path $exe)") |
            ForEach-Object { ConvertTo-LabShellWord $_ }
        if ($Foreground) {
            & bash -c ("timeout $TimeoutSeconds " + ($words -join ' ') + ' > ' + (ConvertTo-LabShellWord $Log) + ' 2>&1 < /dev/null')
            return $LASTEXITCODE
        }
        $out = & bash -c ('cd / && { setsid ' + ($words -join ' ') + ' > ' + (ConvertTo-LabShellWord $Log) + ' 2>&1 < /dev/null & echo $!; }')
        return [int]"$out".Trim()
    }

    function Get-ServiceRow {
        $f = (Invoke-LabSql "select (heartbeat_at >= now() - make_interval(secs => bs.service_down_seconds()))::text || '|' || disabled::text || '|' || coalesce(disabled_reason, '') from bs.services where host = '$hostName' and service = 'volume'") -split '\|', 3
        if (-not $f[0]) { return $null }
        return [pscustomobject]@{ Up = ($f[0] -eq 'true'); Disabled = ($f[1] -eq 'true'); Reason = $f[2] }
    }
}

AfterAll {
    if ($agentPid) { Stop-LabProcess -ProcessId $agentPid -TimeoutSeconds 5 -CommandLike 'hosts/agent/BlockStore.Agent' }
    Unregister-BlockVolumeHost -HostName $hostName -Confirm:$false -ErrorAction SilentlyContinue
    Invoke-LabSql "delete from bs.services where host = '$hostName'" | Out-Null
    Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction Ignore
}

Describe 'Register-BlockVolumeHost' {
    It 'creates the host''s own role and writes its agent configuration readable only by its owner' {
        $r = Register-BlockVolumeHost -HostName $hostName -Zone $lab.zone -OutFile $configFile -PassThru -Confirm:$false
        $r.Role | Should -Be "bs_agent_$hostName"
        $r.ConfigurationPath | Should -Be $configFile
        $r.Configuration | Should -BeNullOrEmpty -Because 'the password is in the file only'
        [int][System.IO.File]::GetUnixFileMode($configFile) | Should -Be ([Convert]::ToInt32('600', 8))
        $config = Get-Content -LiteralPath $configFile -Raw | ConvertFrom-Json
        $config.Agent.HostName | Should -Be $hostName
        $config.Agent.Zone | Should -Be $lab.zone
        $config.BlockStore.ConnectionString | Should -Match "Username=bs_agent_$hostName"
        $config.BlockStore.ConnectionString | Should -Match 'Password='
        $config.BlockStore.ConnectionString | Should -Not -Match 'Passfile|lab_operator'
        Invoke-LabSql "select pg_has_role('bs_agent_$hostName', 'bs_agent', 'MEMBER')" | Should -Be 't'
        Invoke-LabSql "select actor from bs.events where host = '$hostName' and kind = 'host-registered'" | Should -Be $lab.connectionString.Split(';').Where({ $_ -like 'Username=*' })[0].Substring(9)
    }

    It 'refuses an -OutFile in a folder that does not exist with InvalidOutFile, before registering anything' {
        { Register-BlockVolumeHost -HostName "$prefix-nofile" -OutFile (Join-Path $dir 'missing/agent.json') -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidOutFile,BlockStore.Commands.RegisterBlockVolumeHostCommand'
        Invoke-LabSql "select count(*) from pg_roles where rolname = 'bs_agent_$prefix-nofile'" | Should -Be '0'
    }

    It 'refuses an -OutFile that cannot be written with InvalidOutFile, before registering or rotating anything' {
        # A name longer than the file system allows: the folder exists, the file cannot be made (root bypasses modes).
        $tooLong = Join-Path $dir ('x' * 300)
        $e = $null
        try { Register-BlockVolumeHost -HostName "$prefix-badfile" -OutFile $tooLong -Confirm:$false -ErrorAction Stop } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'InvalidOutFile,BlockStore.Commands.RegisterBlockVolumeHostCommand'
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        Invoke-LabSql "select count(*) from pg_roles where rolname = 'bs_agent_$prefix-badfile'" | Should -Be '0'

        # A registered host: its password is not rotated, so its configuration stays valid.
        $events = Invoke-LabSql "select count(*) from bs.events where host = '$hostName'"
        { Register-BlockVolumeHost -HostName $hostName -OutFile $tooLong -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidOutFile,BlockStore.Commands.RegisterBlockVolumeHostCommand'
        Invoke-LabSql "select count(*) from bs.events where host = '$hostName'" | Should -Be $events
        # File.Exists: Test-Path throws PathTooLongException on a 300-character name instead of answering.
        [System.IO.File]::Exists($tooLong) | Should -BeFalse
    }

    It 'refuses a blank -DatabaseHost or one with white space (it used to be dropped silently), before registering anything' {
        foreach ($bad in ' ', 'db host') {
            { Register-BlockVolumeHost -HostName "$prefix-blankdb" -DatabaseHost $bad -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError,BlockStore.Commands.RegisterBlockVolumeHostCommand'
        }
        Invoke-LabSql "select count(*) from pg_roles where rolname = 'bs_agent_$prefix-blankdb'" | Should -Be '0'
    }

    It 'writes -DatabaseHost into the agent''s connection string instead of the operator''s host' {
        $r = Register-BlockVolumeHost -HostName "$prefix-remote" -DatabaseHost 'db.storage.example' -Confirm:$false
        ($r.Configuration | ConvertFrom-Json).BlockStore.ConnectionString | Should -Match 'Host=db\.storage\.example;'
        Unregister-BlockVolumeHost -HostName "$prefix-remote" -Confirm:$false
    }

    It 'an agent refuses a configuration file that other users can read' {
        $open = Join-Path $dir 'open.json'
        Copy-Item -LiteralPath $configFile -Destination $open
        & chmod 644 $open
        $code = Start-TestAgent -ConfigFile $open -Log (Join-Path $dir 'open.log') -Foreground 2>$null
        $code | Should -Not -Be 0
        Get-Content -LiteralPath (Join-Path $dir 'open.log') -Raw | Should -Match 'chmod 600'
    }

    It 'an agent started with the written configuration brings the host up, as its own role' {
        $script:agentPid = Start-TestAgent -ConfigFile $configFile -Log (Join-Path $dir 'agent.log')
        Wait-LabCondition -TimeoutSeconds 60 -Condition { $s = Get-ServiceRow; $s -and $s.Up } | Should -BeTrue -Because (Get-Content -LiteralPath (Join-Path $dir 'agent.log') -Raw)
        if (Get-Command Get-BlockVolumeService -ErrorAction Ignore) {
            (Get-BlockVolumeService -HostName $hostName -Service volume).State | Should -Be 'up'
        }
        Invoke-LabSql "select actor from bs.events where host = '$hostName' and kind = 'service-started'" | Should -Be "bs_agent_$hostName"
        Test-LabPidAlive -ProcessId $agentPid -CommandLike 'hosts/agent/BlockStore.Agent' | Should -BeTrue
    }

    It 'registering again rotates the password: the old configuration no longer logs in' {
        $old = Get-Content -LiteralPath $configFile -Raw
        $r = Register-BlockVolumeHost -HostName $hostName -Confirm:$false
        $r.Configuration | Should -Match 'Password='
        $r.Configuration | Should -Not -Be $old
        Set-Content -LiteralPath (Join-Path $dir 'old.json') -Value $old
        & chmod 600 (Join-Path $dir 'old.json')
        Start-TestAgent -ConfigFile (Join-Path $dir 'old.json') -Log (Join-Path $dir 'old.log') -Foreground -TimeoutSeconds 10 | Out-Null
        Get-Content -LiteralPath (Join-Path $dir 'old.log') -Raw | Should -Match 'password authentication failed'
    }
}

Describe 'Permissions through the cmdlets' {
    It 'refuses a role it did not create with HostRoleConflict, and leaves that role alone' {
        $squat = "$prefix-squat"
        Invoke-LabSql "CREATE ROLE `"bs_agent_$squat`" NOLOGIN" | Out-Null
        try {
            { Register-BlockVolumeHost -HostName $squat -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'HostRoleConflict,BlockStore.Commands.RegisterBlockVolumeHostCommand'
            Invoke-LabSql "select rolcanlogin from pg_roles where rolname = 'bs_agent_$squat'" | Should -Be 'f'
        }
        finally { Invoke-LabSql "DROP ROLE IF EXISTS `"bs_agent_$squat`"" | Out-Null }
    }

    It 'answers PermissionDenied when the reader role asks for a change, and writes nothing' {
        # A fresh pwsh: the reader's connection must not leak into the other tests' session.
        $pwsh = (Get-Process -Id $PID).Path
        $pre = [System.Collections.Generic.List[string]]::new()
        if ([System.IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { $pre.Add((Join-Path $PSHOME 'pwsh.dll')) }
        $module = Join-Path (Get-LabRepoRoot) 'out/BlockStore/BlockStore.psd1'
        $script = "Import-Module '$module'; `$env:BLOCKSTORE_CONNECTION = '$($lab.readerConnectionString)'; " +
            "try { New-BlockVolume -Name '$prefix-reader' -SizeGiB 1 -Confirm:`$false -ErrorAction Stop | Out-Null; 'written' } catch { `$_.FullyQualifiedErrorId }; " +
            "try { Register-BlockVolumeHost -HostName '$prefix-reader' -Confirm:`$false -ErrorAction Stop | Out-Null; 'registered' } catch { `$_.FullyQualifiedErrorId }"
        $out = @(& $pwsh @pre -NoProfile -NonInteractive -Command $script)
        $out | Should -Be @('PermissionDenied,BlockStore.Commands.NewBlockVolumeCommand', 'PermissionDenied,BlockStore.Commands.RegisterBlockVolumeHostCommand')
        Invoke-LabSql "select count(*) from bs.volumes where name = '$prefix-reader'" | Should -Be '0'
    }
}

Describe 'Unregister-BlockVolumeHost' {
    It 'drops the role, ends its sessions and disables the host with a reason' {
        Unregister-BlockVolumeHost -HostName $hostName -Confirm:$false
        Invoke-LabSql "select count(*) from pg_roles where rolname = 'bs_agent_$hostName'" | Should -Be '0'
        Invoke-LabSql "select count(*) from pg_stat_activity where usename = 'bs_agent_$hostName'" | Should -Be '0'
        $s = Get-ServiceRow
        $s.Disabled | Should -BeTrue
        $s.Reason | Should -Be 'host unregistered'
        Invoke-LabSql "select actor from bs.events where host = '$hostName' and kind = 'host-unregistered'" | Should -Not -BeNullOrEmpty
        { Unregister-BlockVolumeHost -HostName $hostName -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'HostNotRegistered,BlockStore.Commands.UnregisterBlockVolumeHostCommand'
    }

    It 'says HostNotRegistered under -WhatIf too, and with a list still names the registered hosts' {
        # The rows of the two named hosts only: another test file may register a host meanwhile
        # (Timeouts.psd1 Parallel lanes), and a -WhatIf that unregistered would change these.
        $rolesOf = "select count(*) || ' ' || coalesce(string_agg(role || '=' || host, ',' order by role), '') from bs.host_roles where host in ('$hostName', '$($lab.nodes[0].name)')"
        $before = Invoke-LabSql $rolesOf
        $before | Should -Be "1 bs_agent_$($lab.nodes[0].name)=$($lab.nodes[0].name)" -Because 'the node is registered, the unregistered host is not'
        Unregister-BlockVolumeHost -HostName $hostName, $lab.nodes[0].name -WhatIf -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs | Should -HaveCount 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'HostNotRegistered,BlockStore.Commands.UnregisterBlockVolumeHostCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].TargetObject | Should -Be $hostName
        Invoke-LabSql $rolesOf | Should -Be $before
    }
}
