# The module as PowerShell users meet it, against the lab: pipelines that stream, -WhatIf that
# writes nothing, live tab completion, every ErrorId with its category and target, -Wait with
# progress and Ctrl+C, secrets kept out of every output, and the dependency isolation (ALC).
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $repo = $lab.repo
    $module = Join-Path $repo 'out/BlockStore/BlockStore.psd1'
    $script:prefix = New-LabTestPrefix 'mb'

    function Get-RowCounts {
        Invoke-LabSql 'select (select count(*) from bs.volumes) || '','' || (select count(*) from bs.operations) || '','' || (select count(*) from bs.events)'
    }

    function Get-ClosedPort {
        # A port nothing listens on: bound, read, released.
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start()
        try { return ([System.Net.IPEndPoint]$listener.LocalEndpoint).Port } finally { $listener.Stop() }
    }

    function Invoke-FreshPwsh {
        <#
        Runs a script in a new pwsh process (no state shared with this session: no Connect-BlockStore,
        no loaded assemblies) and returns its stdout. -Environment sets ($null: removes) variables.
        #>
        param([Parameter(Mandatory)][string] $Script, [hashtable] $Environment = @{})
        $exe = (Get-Process -Id $PID).Path
        $psi = [System.Diagnostics.ProcessStartInfo]::new($exe)
        if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $Script) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $psi.Environment['NO_COLOR'] = '1'
        foreach ($k in $Environment.Keys) {
            if ($null -eq $Environment[$k]) { [void]$psi.Environment.Remove($k) } else { $psi.Environment[$k] = $Environment[$k] }
        }
        $p = [System.Diagnostics.Process]::Start($psi)
        $stderr = $p.StandardError.ReadToEndAsync()
        $stdout = $p.StandardOutput.ReadToEnd()
        if (-not $p.WaitForExit(120000)) { $p.Kill($true); throw 'fresh pwsh did not finish in 120 s' }
        if ($p.ExitCode -ne 0) { throw "fresh pwsh exited $($p.ExitCode): $stdout $($stderr.Result)" }
        return $stdout
    }

    function Set-HostFrozen([string] $HostName, [bool] $Frozen) {
        Invoke-LabSql "update bs.services set frozen = $($Frozen.ToString().ToLowerInvariant()) where host = '$HostName' and service = 'volume'" | Out-Null
    }
}

AfterAll {
    Invoke-LabSql "update bs.services set frozen = false, disabled = false, disabled_reason = null where frozen or (service = 'scheduler' and disabled)" | Out-Null
    foreach ($n in $lab.nodes) { & blockdev --setrw $n.loopDevice 2>$null }
    $left = @(Get-BlockVolume -Name "$prefix*" -ErrorAction SilentlyContinue)
    if ($left.Count -gt 0) { $left | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 120 -ErrorAction Continue }
}

Describe 'Pipelines' {
    It 'Get-BlockVolume -Name x* | Remove-BlockVolume -Confirm:$false removes exactly the matches' {
        $made = @("$prefix-rm-1", "$prefix-rm-2", "$prefix-keep") | ForEach-Object { [pscustomobject]@{ Name = $_; SizeGiB = 1 } } |
            New-BlockVolume -Wait -TimeoutSec 120
        $made.Status | Should -Be @('available', 'available', 'available')

        Get-BlockVolume -Name "$prefix-rm*" | Remove-BlockVolume -Confirm:$false

        $removed = @($made | Where-Object Name -Like "$prefix-rm*" | Wait-BlockVolume -Status deleted -TimeoutSec 120)
        $removed.Status | Should -Be @('deleted', 'deleted')
        @(Get-BlockVolume -Name "$prefix-rm*") | Should -BeNullOrEmpty
        (Get-BlockVolume -Name "$prefix-keep").Status | Should -Be 'available'
    }

    It 'Import-Csv | New-BlockVolume creates every good row and writes one non-terminating error for the bad one' {
        $csv = Join-Path $TestDrive 'volumes.csv'
        @(
            'Name,SizeGiB,Zone,Description'
            "$prefix-csv-1,1,$($lab.zone),first"
            'bad name!,1,nova,a name with a blank'
            "$prefix-csv-2,2,$($lab.zone),second"
        ) | Set-Content -LiteralPath $csv
        $before = [int](Invoke-LabSql 'select count(*) from bs.volumes')

        $out = @(Import-Csv -LiteralPath $csv | New-BlockVolume -ErrorVariable errs -ErrorAction SilentlyContinue)

        $out.Name | Should -Be @("$prefix-csv-1", "$prefix-csv-2")
        $out.SizeGiB | Should -Be @(1, 2)
        $out.Zone | Should -Be @($lab.zone, $lab.zone)
        $out.Description | Should -Be @('first', 'second')
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'InvalidVolumeName,BlockStore.Commands.NewBlockVolumeCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $errs[0].TargetObject | Should -Be 'bad name!'
        [int](Invoke-LabSql 'select count(*) from bs.volumes') | Should -Be ($before + 2)
    }

    It 'streams: each volume is written before the next row is read' {
        $log = [System.Collections.Generic.List[string]]::new()
        & { foreach ($i in 1..3) { $log.Add("in $i"); [pscustomobject]@{ Name = "$prefix-s$i"; SizeGiB = 1 } } } |
            New-BlockVolume | ForEach-Object { $log.Add("out $($_.Name)") }
        $log | Should -Be @('in 1', "out $prefix-s1", 'in 2', "out $prefix-s2", 'in 3', "out $prefix-s3")
    }

    It '-WhatIf writes nothing: New-BlockVolume from the pipeline and Get | Remove-BlockVolume' {
        # Let the agents finish the earlier requests first: their events would change the counts.
        Get-BlockVolume -Name "$prefix-*" | Wait-BlockVolume -TimeoutSec 120 | Out-Null
        $before = Get-RowCounts
        1..3 | ForEach-Object { [pscustomobject]@{ Name = "$prefix-whatif-$_"; SizeGiB = 1 } } | New-BlockVolume -WhatIf
        Get-BlockVolume -Name "$prefix-*" | Remove-BlockVolume -WhatIf
        Get-RowCounts | Should -Be $before
        @(Get-BlockVolume -Name "$prefix-whatif-*") | Should -BeNullOrEmpty
        @(Get-BlockVolume -Name "$prefix-keep").Status | Should -Be 'available'
    }
}

Describe '-WhatIf looks the target up' {
    BeforeAll {
        # What an operator runs -WhatIf for: to learn what would happen. A target that does not exist must be
        # reported with its NotFound error, not announced with a "What if" line. The "What if" lines go to the
        # host, not to a stream, so the commands run in one fresh pwsh whose stdout shows both.
        $known = New-BlockVolume -Name "$prefix-whatif-target" -SizeGiB 1 -Wait -TimeoutSec 120 -ErrorAction Stop
        $missing = [guid]::NewGuid()
        $node = $lab.nodes[0].name
        $script:whatIfCommands = [ordered]@{
            'Set-BlockVolumeService, unknown host'           = 'Set-BlockVolumeService -HostName no-such-host -Service volume -Freeze -WhatIf'
            'Disable-BlockVolumeService, unknown host'       = 'Disable-BlockVolumeService -HostName no-such-host -Service volume -Reason x -WhatIf'
            'Enable-BlockVolumeService, service not run'     = "Enable-BlockVolumeService -HostName $node -Service scheduler -WhatIf"
            'Set-BlockVolumeServiceLogLevel, unknown host'   = 'Set-BlockVolumeServiceLogLevel -HostName no-such-host -Service volume -Level Debug -WhatIf'
            'Unregister-BlockVolumeHost, unknown host'       = 'Unregister-BlockVolumeHost -HostName no-such-host -WhatIf'
            'Remove-BlockVolume, unknown id'                 = "Remove-BlockVolume -Id $missing -WhatIf"
            'Remove-BlockVolume, unknown name'               = "Remove-BlockVolume -Name $prefix-no-such-volume -WhatIf"
            'New-BlockVolumeAttachment, unknown volume'      = "New-BlockVolumeAttachment -VolumeId $missing -InitiatorIqn iqn.2024-01.com.example:c1 -WhatIf"
            'Remove-BlockVolumeAttachment, unknown volume'   = "Remove-BlockVolumeAttachment -VolumeId $missing -WhatIf"
            'Remove-BlockVolumeAttachment, unattached volume' = "Remove-BlockVolumeAttachment -VolumeId $($known.Id) -WhatIf"
            'Remove-BlockVolumeAttachment, unknown id'       = "Remove-BlockVolumeAttachment -Id $missing -WhatIf"
            # Targets that exist: the "What if" line is there (so its absence above means something).
            'Disable-BlockVolumeService, known host'         = "Disable-BlockVolumeService -HostName $node -Service volume -WhatIf"
            'Unregister-BlockVolumeHost, known host'         = "Unregister-BlockVolumeHost -HostName $node -WhatIf"
            'New-BlockVolumeAttachment, known volume'        = "New-BlockVolumeAttachment -VolumeId $($known.Id) -InitiatorIqn iqn.2024-01.com.example:c1 -WhatIf"
            'Remove-BlockVolume, known volume'               = "Remove-BlockVolume -Id $($known.Id) -WhatIf"
        }
        $count = 'select (select count(*) from bs.volumes) || '','' || (select count(*) from bs.operations) || '','' || (select count(*) from bs.events) || '','' || ' +
            '(select count(*) from bs.attachments) || '','' || (select count(*) from bs.host_roles) || '','' || (select string_agg(host || service || disabled || frozen || log_level, '';'' order by host, service) from bs.services)'
        $script:rowsBefore = Invoke-LabSql $count
        $lines = foreach ($case in $whatIfCommands.Keys) {
            "'=== $case'; `$Error.Clear(); $($whatIfCommands[$case]); foreach (`$e in `$Error) { 'ERROR ' + `$e.FullyQualifiedErrorId + ' ' + `$e.CategoryInfo.Category }"
        }
        $out = Invoke-FreshPwsh -Script ("Import-Module '$module'; `$ErrorActionPreference = 'SilentlyContinue'`n" + ($lines -join "`n"))
        $script:rowsAfter = Invoke-LabSql $count
        $script:whatIfOutput = @{}
        foreach ($block in ($out -split '(?m)^=== ' | Where-Object { $_.Trim() })) {
            $name, $rest = $block -split "`r?`n", 2
            $whatIfOutput[$name.Trim()] = "$rest".Trim()
        }
    }

    It '<Case>: <ErrorId> (ObjectNotFound) and no "What if" line' -ForEach @(
        @{ Case = 'Set-BlockVolumeService, unknown host'; ErrorId = 'ServiceNotFound,BlockStore.Commands.SetBlockVolumeServiceCommand' }
        @{ Case = 'Disable-BlockVolumeService, unknown host'; ErrorId = 'ServiceNotFound,BlockStore.Commands.DisableBlockVolumeServiceCommand' }
        @{ Case = 'Enable-BlockVolumeService, service not run'; ErrorId = 'ServiceNotFound,BlockStore.Commands.EnableBlockVolumeServiceCommand' }
        @{ Case = 'Set-BlockVolumeServiceLogLevel, unknown host'; ErrorId = 'ServiceNotFound,BlockStore.Commands.SetBlockVolumeServiceLogLevelCommand' }
        @{ Case = 'Unregister-BlockVolumeHost, unknown host'; ErrorId = 'HostNotRegistered,BlockStore.Commands.UnregisterBlockVolumeHostCommand' }
        @{ Case = 'Remove-BlockVolume, unknown id'; ErrorId = 'VolumeNotFound,BlockStore.Commands.RemoveBlockVolumeCommand' }
        @{ Case = 'Remove-BlockVolume, unknown name'; ErrorId = 'VolumeNotFound,BlockStore.Commands.RemoveBlockVolumeCommand' }
        @{ Case = 'New-BlockVolumeAttachment, unknown volume'; ErrorId = 'VolumeNotFound,BlockStore.Commands.NewBlockVolumeAttachmentCommand' }
        @{ Case = 'Remove-BlockVolumeAttachment, unknown volume'; ErrorId = 'VolumeNotFound,BlockStore.Commands.RemoveBlockVolumeAttachmentCommand' }
        @{ Case = 'Remove-BlockVolumeAttachment, unattached volume'; ErrorId = 'AttachmentNotFound,BlockStore.Commands.RemoveBlockVolumeAttachmentCommand' }
        @{ Case = 'Remove-BlockVolumeAttachment, unknown id'; ErrorId = 'AttachmentNotFound,BlockStore.Commands.RemoveBlockVolumeAttachmentCommand' }
    ) {
        $whatIfOutput.Keys | Should -Contain $Case
        $whatIfOutput[$Case] | Should -Be "ERROR $ErrorId ObjectNotFound"
    }

    It '<Case>: a "What if" line and no error' -ForEach @(
        @{ Case = 'Disable-BlockVolumeService, known host' }
        @{ Case = 'Unregister-BlockVolumeHost, known host' }
        @{ Case = 'New-BlockVolumeAttachment, known volume' }
        @{ Case = 'Remove-BlockVolume, known volume' }
    ) {
        $whatIfOutput.Keys | Should -Contain $Case
        $whatIfOutput[$Case] | Should -Match '^What if: '
        $whatIfOutput[$Case] | Should -Not -Match 'ERROR'
    }

    It 'writes nothing: volumes, operations, events, attachments, host roles and services are as before' {
        $rowsAfter | Should -Be $rowsBefore
    }
}

Describe 'Tab completion from live data' {
    BeforeAll {
        $tab = New-BlockVolume -Name "$prefix-tab-1" -SizeGiB 1 -Wait -TimeoutSec 120
        $script:timings = [System.Collections.Generic.List[string]]::new()

        function Complete([string] $Line, [string[]] $Expect) {
            # The completers cache for a few seconds: retry until the new data shows (live, not static).
            $deadline = [DateTime]::UtcNow.AddSeconds(12)
            do {
                $sw = [System.Diagnostics.Stopwatch]::StartNew()
                $found = @((TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText)
                $sw.Stop()
                $script:timings.Add(('{0,-55} {1,7:N1} ms' -f $Line, $sw.Elapsed.TotalMilliseconds))
                if (@($Expect | Where-Object { $_ -notin $found }).Count -eq 0) { return $found }
                Start-Sleep -Milliseconds 500
            } while ([DateTime]::UtcNow -lt $deadline)
            return $found
        }
    }

    AfterAll {
        Write-Host "completion timings (warm session, TabExpansion2 end to end):"
        $script:timings | ForEach-Object { Write-Host "  $_" }
    }

    It 'completes volume names (-Name)' {
        Complete "Get-BlockVolume -Name $prefix-ta" -Expect "$prefix-tab-1" | Should -Contain "$prefix-tab-1"
        Complete "Remove-BlockVolume -Name $prefix-ta" -Expect "$prefix-tab-1" | Should -Contain "$prefix-tab-1"
    }

    It 'completes volume ids (-Id)' {
        Complete 'Wait-BlockVolume -Id ' -Expect "$($tab.Id)" | Should -Contain "$($tab.Id)"
    }

    It 'completes host names (-HostName)' {
        Complete 'Get-BlockVolume -HostName ' -Expect $lab.nodeNames | Should -Contain $lab.nodeNames[0]
    }

    It 'completes availability zones (-AvailabilityZone)' {
        Complete 'New-BlockVolume -AvailabilityZone ' -Expect $lab.zone | Should -Contain $lab.zone
    }

    It 'completes statuses (-Status)' {
        $statuses = Complete 'Get-BlockVolume -Status ' -Expect 'available'
        $statuses | Should -Contain 'available'
        $statuses | Should -Contain 'error_deleting'
        Complete 'Get-BlockVolume -Status err' -Expect 'error' | Should -Not -Contain 'available'
    }
}

Describe 'Errors' {
    It 'NotConnected: no connection configured says how to connect' {
        $json = Invoke-FreshPwsh -Environment @{ BLOCKSTORE_CONNECTION = $null } -Script @"
Import-Module '$module'
try { Get-BlockVolume -ErrorAction Stop } catch { [pscustomobject]@{ Id = `$_.FullyQualifiedErrorId; Category = "`$(`$_.CategoryInfo.Category)"; Message = `$_.Exception.Message } | ConvertTo-Json }
"@
        $r = $json | ConvertFrom-Json
        $r.Id | Should -Be 'NotConnected,BlockStore.Commands.GetBlockVolumeCommand'
        $r.Category | Should -Be 'ConnectionError'
        $r.Message | Should -Match 'Connect-BlockStore'
        $r.Message | Should -Match 'BLOCKSTORE_CONNECTION'
    }

    It 'StoreUnavailable: a closed port gives one clear message, no Npgsql stack trace' {
        $port = Get-ClosedPort
        $json = Invoke-FreshPwsh -Environment @{ BLOCKSTORE_CONNECTION = "Host=127.0.0.1;Port=$port;Username=blockstore;Database=blockstore" } -Script @"
Import-Module '$module'
`$sw = [System.Diagnostics.Stopwatch]::StartNew()
try { Get-BlockVolume -ErrorAction Stop } catch { `$e = `$_ }
`$sw.Stop()
[pscustomobject]@{
    Id = `$e.FullyQualifiedErrorId; Category = "`$(`$e.CategoryInfo.Category)"; Target = "`$(`$e.TargetObject)"
    Message = `$e.Exception.Message; Shown = (`$e | Out-String); ExceptionType = `$e.Exception.GetType().FullName
    Ms = `$sw.ElapsedMilliseconds
} | ConvertTo-Json
"@
        $r = $json | ConvertFrom-Json
        Write-Host "StoreUnavailable after $($r.Ms) ms (closed port $port): $($r.Message)"
        $r.Id | Should -Be 'StoreUnavailable,BlockStore.Commands.GetBlockVolumeCommand'
        $r.Category | Should -Be 'ConnectionError'
        $r.ExceptionType | Should -Be 'BlockStore.Core.BlockStoreException'
        $r.Target | Should -Match "127.0.0.1:$port"
        $r.Message | Should -Match 'Connect-BlockStore'
        $r.Message | Should -Not -Match "`n"
        $r.Shown | Should -Not -Match '(?m)^\s+at '
        $r.Shown | Should -Not -Match 'Npgsql\.\w+Exception'
    }

    It 'InvalidDescription: a description over 1024 characters is refused and nothing is written' {
        $before = Get-RowCounts
        { New-BlockVolume -Name "$prefix-desc" -SizeGiB 1 -Description ('x' * 1025) -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidDescription,BlockStore.Commands.NewBlockVolumeCommand'
        Get-RowCounts | Should -Be $before
    }

    It 'InvalidAvailabilityZone: a malformed zone is refused with category InvalidArgument and the zone as target' {
        $before = Get-RowCounts
        New-BlockVolume -Name "$prefix-zone" -SizeGiB 1 -AvailabilityZone 'Not A Zone' -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs[0].FullyQualifiedErrorId | Should -Be 'InvalidAvailabilityZone,BlockStore.Commands.NewBlockVolumeCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $errs[0].TargetObject | Should -Be 'Not A Zone'
        Get-RowCounts | Should -Be $before
    }

    It 'InvalidVolumeName and InvalidVolumeSize: bad input is refused, also under -WhatIf' {
        { New-BlockVolume -Name '-bad' -SizeGiB 1 -WhatIf -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidVolumeName,BlockStore.Commands.NewBlockVolumeCommand'
        { New-BlockVolume -Name "$prefix-big" -SizeGiB 16385 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidVolumeSize,BlockStore.Commands.NewBlockVolumeCommand'
    }

    It 'InvalidVolumeStatus: a misspelt -Status is refused, not taken as a filter that matches nothing or a wait until the timeout' {
        $v = New-BlockVolume -Name "$prefix-st1" -SizeGiB 1 -Wait -TimeoutSec 120 -ErrorAction Stop
        { Get-BlockVolume -Status 'availble' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidVolumeStatus,BlockStore.Commands.GetBlockVolumeCommand'
        # Refused before waiting: a wait would end in WaitTimeout (the volume never reaches a status nobody has).
        $e = $null
        try { $v | Wait-BlockVolume -Status 'avialable' -TimeoutSec 30 -ErrorAction Stop } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'InvalidVolumeStatus,BlockStore.Commands.WaitBlockVolumeCommand'
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.TargetObject | Should -Be 'avialable'
        # Any casing of a real status is that status.
        (Get-BlockVolume -Name $v.Name -Status 'AVAILABLE').Name | Should -Be $v.Name
        ($v | Wait-BlockVolume -Status 'Available' -TimeoutSec 30).Status | Should -Be 'available'
    }

    It 'VolumeNotFound from Wait-BlockVolume: one error per missing id or name, with it as target; the others are waited for' {
        $missing = [guid]::NewGuid()
        $keep = New-BlockVolume -Name "$prefix-st2" -SizeGiB 1 -Wait -TimeoutSec 120 -ErrorAction Stop
        $got = @(Wait-BlockVolume -Id $keep.Id, $missing -TimeoutSec 30 -ErrorVariable errs -ErrorAction SilentlyContinue)
        $got.Name | Should -Be @($keep.Name)
        $errs | Should -HaveCount 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'VolumeNotFound,BlockStore.Commands.WaitBlockVolumeCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].TargetObject | Should -Be $missing
        $got = @(Wait-BlockVolume -Name $keep.Name, "$prefix-nope", "$prefix-nope-*" -TimeoutSec 30 -ErrorVariable errs -ErrorAction SilentlyContinue)
        $got.Name | Should -Be @($keep.Name)
        @($errs.TargetObject) | Should -Be @("$prefix-nope", "$prefix-nope-*")
        # The same volume piped twice is waited for once.
        @($keep, $keep | Wait-BlockVolume -TimeoutSec 30).Count | Should -Be 1
    }

    It 'VolumeNotFound from Get-BlockVolumeEvent and Get-BlockVolumeAttachment: an id that names no volume is not an empty answer' {
        $missing = [guid]::NewGuid()
        $v = New-BlockVolume -Name "$prefix-ev1" -SizeGiB 1 -Wait -TimeoutSec 120 -ErrorAction Stop
        $e = $null
        try { Get-BlockVolumeEvent -VolumeId $missing -ErrorAction Stop } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'VolumeNotFound,BlockStore.Commands.GetBlockVolumeEventCommand'
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $e.TargetObject | Should -Be $missing
        @(Get-BlockVolumeEvent -VolumeId $v.Id -ErrorAction Stop).Count | Should -BeGreaterThan 0

        # A volume without attachments answers nothing, and no error; the unknown id gets its error.
        $got = @(Get-BlockVolumeAttachment -VolumeId $v.Id, $missing -ErrorVariable errs -ErrorAction SilentlyContinue)
        $got | Should -BeNullOrEmpty
        $errs | Should -HaveCount 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'VolumeNotFound,BlockStore.Commands.GetBlockVolumeAttachmentCommand'
        $errs[0].TargetObject | Should -Be $missing

        # A deleted volume keeps its history: no error.
        Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 120
        @(Get-BlockVolumeEvent -VolumeId $v.Id -ErrorAction Stop).Kind | Should -Contain 'deleted'
        { Get-BlockVolumeAttachment -VolumeId $v.Id -IncludeDetached -ErrorAction Stop } | Should -Not -Throw
    }

    It 'InvalidHostName: Get-BlockVolume -HostName with a malformed name' {
        { Get-BlockVolume -HostName 'Node_1' } | Should -Throw -ErrorId 'InvalidHostName,BlockStore.Commands.GetBlockVolumeCommand'
    }

    It 'VolumeNameInUse: a second volume with a live name' {
        { New-BlockVolume -Name "$prefix-keep" -SizeGiB 1 -ErrorAction Stop } | Should -Throw -ErrorId 'VolumeNameInUse,BlockStore.Commands.NewBlockVolumeCommand'
    }

    It 'VolumeNotFound: non-terminating, with the missing id as target, the other ids still processed' {
        $missing = [guid]::NewGuid()
        $keep = Get-BlockVolume -Name "$prefix-keep"
        $got = @(Get-BlockVolume -Id $missing, $keep.Id -ErrorVariable errs -ErrorAction SilentlyContinue)
        $got.Name | Should -Be "$prefix-keep"
        $errs[0].FullyQualifiedErrorId | Should -Be 'VolumeNotFound,BlockStore.Commands.GetBlockVolumeCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].TargetObject | Should -Be $missing
        { Remove-BlockVolume -Id $missing -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.RemoveBlockVolumeCommand'
        { Wait-BlockVolume -Name "$prefix-nothing-*" -ErrorAction Stop } | Should -Throw -ErrorId 'VolumeNotFound,BlockStore.Commands.WaitBlockVolumeCommand'
    }

    It 'SchedulerUnavailable: no enabled scheduler, nothing is written' {
        Invoke-LabSql "update bs.services set disabled = true where service = 'scheduler'" | Out-Null
        try {
            $before = Get-RowCounts
            { New-BlockVolume -Name "$prefix-nosched" -SizeGiB 1 -ErrorAction Stop } |
                Should -Throw -ErrorId 'SchedulerUnavailable,BlockStore.Commands.NewBlockVolumeCommand'
            Get-RowCounts | Should -Be $before
        }
        finally {
            Invoke-LabSql "update bs.services set disabled = false where service = 'scheduler'" | Out-Null
        }
    }

    It 'InvalidVolumeState: a deletion that fails on the host (read-only disk) ends in error_deleting' {
        $v = New-BlockVolume -Name "$prefix-ro" -SizeGiB 1 -Wait -TimeoutSec 120
        $loop = ($lab.nodes | Where-Object name -EQ $v.Host).loopDevice
        & blockdev --setro $loop
        try {
            Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 120 -ErrorVariable errs -ErrorAction SilentlyContinue
        }
        finally { & blockdev --setrw $loop }
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'InvalidVolumeState,BlockStore.Commands.RemoveBlockVolumeCommand'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $errs[0].TargetObject.Id | Should -Be $v.Id
        (Get-BlockVolume -Id $v.Id).Status | Should -Be 'error_deleting'
        # error_deleting may be retried: with the disk writable again the volume goes away.
        (Remove-BlockVolume -Id $v.Id -Confirm:$false -Wait -TimeoutSec 120 -PassThru).Status | Should -Be 'deleted'
    }
}

Describe 'Waiting' {
    It 'Remove-BlockVolumeAttachment -Wait: WaitTimeout while the host is frozen (the request goes on), then the detach settles' {
        # The attachment is written directly (these hosts have no LIO to attach with); the detach is the
        # agent's real work, so the attachment wait runs end to end on the host-only lab too.
        $v = New-BlockVolume -Name "$prefix-att" -SizeGiB 1 -Wait -TimeoutSec 120 -ErrorAction Stop
        $att = [guid]::NewGuid()
        Invoke-LabSql ("insert into bs.attachments (id, volume_id, host, initiator_iqn, status, auth_username, target_iqn, target_portal, target_lun) " +
            "values ('$att', '$($v.Id)', '$($v.Host)', 'iqn.2024-01.com.example:mb', 'attached', 'u0000000000000000000', 'iqn.2010-10.org.openstack:volume-$($v.Id)', '127.0.0.1:3260', 0); " +
            "insert into bs.attachment_secrets values ('$att', 'ThisIsTheSecret1'); update bs.volumes set status = 'in-use' where id = '$($v.Id)'") | Out-Null
        try {
            Set-HostFrozen $v.Host $true
            $out = @(Remove-BlockVolumeAttachment -Id $att -Wait -TimeoutSec 2 -PassThru -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue)
            $out | Should -BeNullOrEmpty
            $errs | Should -HaveCount 1
            $errs[0].FullyQualifiedErrorId | Should -Be 'WaitTimeout,BlockStore.Commands.RemoveBlockVolumeAttachmentCommand'
            $errs[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
            $errs[0].TargetObject.Status | Should -Be 'detaching'
            Set-HostFrozen $v.Host $false

            # Asking again while it is detaching waits for the same request. These hosts have no LIO, so the
            # agent has nothing to remove and the detach succeeds (VolumeExporter: missing objects are success).
            $done = @(Remove-BlockVolumeAttachment -Id $att -Wait -TimeoutSec 60 -PassThru -Confirm:$false -ErrorVariable errs2 -ErrorAction SilentlyContinue)
            $errs2 | Should -BeNullOrEmpty
            $done.Status | Should -Be 'detached'
            (Get-BlockVolumeAttachment -VolumeId $v.Id -IncludeDetached | Where-Object Id -EQ $att).Status | Should -Be 'detached'
            (Get-BlockVolume -Id $v.Id).Status | Should -Be 'available'
        }
        finally {
            Set-HostFrozen $v.Host $false
            # Whatever the agent made of it, leave a volume the file's AfterAll can remove.
            Invoke-LabSql "update bs.attachments set status = 'detached', detached_at = now() where id = '$att'; update bs.volumes set status = 'available' where id = '$($v.Id)' and status <> 'deleted'" | Out-Null
        }
    }

    It 'Wait-BlockVolume shows progress and stops promptly on Ctrl+C (StopProcessing); the request goes on' {
        $v = New-BlockVolume -Name "$prefix-frozen" -SizeGiB 1 -Wait -TimeoutSec 120
        Set-HostFrozen $v.Host $true
        $ps = [powershell]::Create()
        try {
            # A frozen host's agent claims nothing: the deletion stays 'deleting' for as long as it is frozen.
            Remove-BlockVolume -Id $v.Id -Confirm:$false
            [void]$ps.AddScript("Import-Module '$module'; Wait-BlockVolume -Id '$($v.Id)' -TimeoutSec 600")
            $async = $ps.BeginInvoke()
            Wait-LabCondition -TimeoutSeconds 30 -Condition { $ps.Streams.Progress.Count -gt 0 } | Out-Null
            $ps.Streams.Progress.Count | Should -BeGreaterThan 0 -Because 'waiting shows Write-Progress'
            $ps.Streams.Progress[0].Activity | Should -Be 'Waiting for block volumes'
            $ps.Streams.Progress[0].StatusDescription | Should -Match "$prefix-frozen \(deleting\)"

            # Ctrl+C must not wait for the volume: the stop completes while the volume is still deleting (the
            # wait's own timeout is 600 s and the host stays frozen, so only StopProcessing can end it).
            $stop = $ps.BeginStop($null, $null)
            Wait-LabCondition -TimeoutSeconds 60 -Condition { $stop.IsCompleted } | Should -BeTrue -Because 'Stop() must end the wait, not the volume'
            $ps.EndStop($stop)
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $async.IsCompleted | Should -BeTrue
            (Get-BlockVolume -Id $v.Id).Status | Should -Be 'deleting'
            Invoke-LabSql "select stage from bs.operations where volume_id = '$($v.Id)' and kind = 'delete'" | Should -Be 'scheduled'
        }
        finally {
            $ps.Dispose()
            Set-HostFrozen $v.Host $false
        }
        (Wait-BlockVolume -Id $v.Id -TimeoutSec 120).Status | Should -Be 'deleted'
    }

    It 'Wait-BlockVolume -TimeoutSec writes WaitTimeout and leaves the request running' {
        $v = New-BlockVolume -Name "$prefix-slow" -SizeGiB 1 -Wait -TimeoutSec 120
        Set-HostFrozen $v.Host $true
        try {
            Remove-BlockVolume -Id $v.Id -Confirm:$false
            Wait-BlockVolume -Id $v.Id -TimeoutSec 1 -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $errs[0].FullyQualifiedErrorId | Should -Be 'WaitTimeout,BlockStore.Commands.WaitBlockVolumeCommand'
            $errs[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
            (Get-BlockVolume -Id $v.Id).Status | Should -Be 'deleting'
        }
        finally { Set-HostFrozen $v.Host $false }
        (Wait-BlockVolume -Id $v.Id -TimeoutSec 120).Status | Should -Be 'deleted'
    }
}

Describe 'Connect-BlockStore -Credential' {
    It 'never shows the password: not in Get-BlockStoreConnection, verbose output or errors' {
        $port = Get-ClosedPort
        # A login role of the test's own with a real password (the lab's roles log in with SCRAM passwords).
        $user = 'mb_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $secret = 'Pw-' + [guid]::NewGuid().ToString('N')
        Invoke-LabSql "CREATE ROLE $user LOGIN PASSWORD '$secret' IN ROLE bs_reader" | Out-Null
        try {
        $json = Invoke-FreshPwsh -Environment @{ BLOCKSTORE_CONNECTION = $null } -Script @"
Import-Module '$module'
`$secret = '$secret'
`$credential = [pscredential]::new('$user', (ConvertTo-SecureString `$secret -AsPlainText -Force))
`$texts = [System.Collections.Generic.List[string]]::new()
`$texts.Add((Connect-BlockStore -ConnectionString '$($lab.connectionString)' -Credential `$credential -Verbose 4>&1 | Out-String))
`$info = Get-BlockStoreConnection
`$texts.Add((`$info | Format-List * | Out-String)); `$texts.Add((`$info | ConvertTo-Json))
`$texts.Add((Get-BlockVolume -Verbose 4>&1 | Out-String))
try { Connect-BlockStore -ConnectionString 'Host=127.0.0.1;Port=$port;Database=blockstore;Password=' -Credential `$credential -Verbose -ErrorAction Stop 4>&1 | Out-String | ForEach-Object { `$texts.Add(`$_) } }
catch { `$failed = `$_; `$texts.Add((`$_ | Format-List * -Force | Out-String)); `$texts.Add(`$_.Exception.ToString()); `$texts.Add((`$_ | Out-String)) }
`$texts.Add((`$Error | Out-String))
[pscustomobject]@{ Secret = `$secret; Source = `$info.Source; User = `$info.Username; FailedId = `$failed.FullyQualifiedErrorId; Texts = `$texts.ToArray()
    StillConnected = (Get-BlockStoreConnection).Port } | ConvertTo-Json -Depth 3
"@
        }
        finally { Invoke-LabSql "DROP ROLE IF EXISTS $user" | Out-Null }
        $r = $json | ConvertFrom-Json
        $r.Source | Should -Be 'Connect-BlockStore'
        $r.User | Should -Be $user
        $r.FailedId | Should -Be 'StoreUnavailable,BlockStore.Commands.ConnectBlockStoreCommand'
        $r.StillConnected | Should -Be $lab.port -Because 'a failed Connect-BlockStore keeps the previous connection'
        ($r.Texts -join "`n") | Should -Match 'Connecting to 127\.0\.0\.1' -Because 'the verbose stream was captured'
        foreach ($t in $r.Texts) { $t | Should -Not -Match $r.Secret }
    }

    It 'refuses a malformed connection string with -Credential as NotConnected (not a raw driver exception), without the secret' {
        $secret = 'Pw-' + [guid]::NewGuid().ToString('N')
        $credential = [pscredential]::new('someone', (ConvertTo-SecureString $secret -AsPlainText -Force))
        $e = $null
        try { Connect-BlockStore -ConnectionString 'Host=127.0.0.1;No Such Keyword=1' -Credential $credential -ErrorAction Stop } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'NotConnected,BlockStore.Commands.ConnectBlockStoreCommand'
        $e.CategoryInfo.Category | Should -Be 'ConnectionError'
        ($e | Format-List * -Force | Out-String) + $e.Exception.ToString() | Should -Not -Match $secret
        (Get-BlockStoreConnection).Port | Should -Be $lab.port -Because 'the session still uses its connection'
    }
}

Describe 'Dependency isolation (AssemblyLoadContext)' {
    BeforeAll {
        # An older Microsoft.Extensions.Logging.Abstractions, as another module might have loaded it.
        $restoreDir = Join-Path $repo 'out/tools/mela6'
        New-Item -ItemType Directory -Force -Path $restoreDir | Out-Null
        Set-Content -LiteralPath (Join-Path $restoreDir 'mela6.csproj') -Value @'
<Project Sdk="Microsoft.NET.Sdk">
  <!-- Generated by ModuleBehaviour.Tests.ps1: downloads an old Microsoft.Extensions.Logging.Abstractions. -->
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Microsoft.Extensions.Logging.Abstractions" Version="[6.0.0]" /></ItemGroup>
</Project>
'@
        & dotnet restore (Join-Path $restoreDir 'mela6.csproj') --nologo -v quiet | Out-Null
        $cache = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else {
            ((& dotnet nuget locals global-packages --list) -replace '^.*global-packages:\s*', '').Trim()
        }
        $oldDll = Join-Path $cache 'microsoft.extensions.logging.abstractions/6.0.0/lib/net6.0/Microsoft.Extensions.Logging.Abstractions.dll'
    }

    It 'Import-Module and Get-BlockVolume work after another module loaded Logging.Abstractions 6.0.0' {
        Test-Path -LiteralPath $oldDll | Should -BeTrue
        # A volume the fresh session must read back through Npgsql in the module's load context.
        $known = New-BlockVolume -Name "$prefix-alc" -SizeGiB 1 -Confirm:$false
        $json = Invoke-FreshPwsh -Environment @{ BLOCKSTORE_CONNECTION = $lab.connectionString } -Script @"
Add-Type -LiteralPath '$oldDll'
Import-Module '$module'
`$volumes = @(Get-BlockVolume -ErrorAction Stop)
[pscustomobject]@{
    Names = @(`$volumes | Where-Object Id -EQ '$($known.Id)' | ForEach-Object Name)
    Loaded = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -in 'Microsoft.Extensions.Logging.Abstractions', 'Npgsql' } |
        ForEach-Object { '{0} {1} in {2}' -f `$_.GetName().Name, `$_.GetName().Version, [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$_).Name })
} | ConvertTo-Json
"@
        $r = $json | ConvertFrom-Json
        Write-Host "loaded: $($r.Loaded -join '; ')"
        $r.Names | Should -Be "$prefix-alc" -Because 'Get-BlockVolume in that session must read the volume made here'
        $r.Loaded | Should -Contain 'Microsoft.Extensions.Logging.Abstractions 6.0.0.0 in Default'
        @($r.Loaded | Where-Object { $_ -like 'Microsoft.Extensions.Logging.Abstractions * in BlockStore.Engine' }).Count | Should -Be 1
        @($r.Loaded | Where-Object { $_ -like 'Npgsql * in BlockStore.Engine' }).Count | Should -Be 1
    }
}
