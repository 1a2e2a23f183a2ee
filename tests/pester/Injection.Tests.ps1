# Every string parameter of every cmdlet of the module, fed with SQL and shell injection strings:
# each value is stored literally or refused with a BlockStore error, never executed (the tables
# are still there, the shell marker file never appears, no raw SQL error surfaces).
# Run by `build.ps1 Test` (Pester 5.7.1) against the lab.

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path (Get-LabRepoRoot) 'out/BlockStore/BlockStore.psd1') -Force
    $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
    # One case per (cmdlet, string parameter): found by walking the module, so new cmdlets are covered without editing this file.
    $cases = foreach ($cmd in Get-Command -Module BlockStore -CommandType Cmdlet | Sort-Object Name) {
        foreach ($p in $cmd.Parameters.Values | Sort-Object Name) {
            if ($p.Name -in $common) { continue }
            if ($p.ParameterType -notin [string], [string[]]) { continue }
            @{ Command = $cmd.Name; Parameter = $p.Name }
        }
    }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'ij'
    $script:marker = "/tmp/pwned-$prefix"
    $script:injections = @(
        "'; DROP TABLE bs.volumes; --",
        "`$(touch $marker)",
        "``; rm -rf / ; touch $marker",
        "node1' OR '1'='1",
        "x`"; DROP TABLE bs.events; --",
        "`$(touch $marker).txt"
    )
    # A volume service of a host that does not run (never up, so nothing is placed there) for the
    # cmdlets that need an existing service, and a volume of our own for those that need a volume.
    $script:fakeHost = "$prefix-host"
    Invoke-LabSql "insert into bs.services (host, service, zone) values ('$fakeHost', 'volume', 'nova')" | Out-Null
    $script:volume = New-BlockVolume -Name "$prefix-vol" -SizeGiB 1 -Confirm:$false | Wait-BlockVolume -TimeoutSec 60
    $script:workDir = Join-Path ([System.IO.Path]::GetTempPath()) $prefix
    New-Item -ItemType Directory -Path $workDir | Out-Null

    # Known ErrorIds of the module, and PowerShell's own parameter-binding refusals. Not StoreUnavailable:
    # the store is up here, so an injection string that made the store fail would be a failure, not a refusal.
    $script:knownIds = @([BlockStore.Core.ErrorIds].GetFields() | ForEach-Object { $_.GetValue($null) } | Where-Object { $_ -ne 'StoreUnavailable' }) + @(
        'ParameterArgumentValidationError', 'ParameterArgumentTransformationError', 'CannotConvertArgumentNoMessage',
        'ParameterBindingFailed', 'AmbiguousParameterSet', 'NamedParameterNotFound')

    function Get-Filler([System.Management.Automation.ParameterMetadata] $Meta, [string] $Name) {
        <# A harmless valid value for a mandatory parameter that is not under test. #>
        switch ($Name) {
            'Name' { return "$prefix-other" }
            'HostName' { return $fakeHost }
            'Service' { return 'volume' }
            'Level' { return 'Information' }
            'ConnectionString' { return $env:BLOCKSTORE_CONNECTION }
            'InitiatorIqn' { return "iqn.2026-01.test.$prefix:init" }
        }
        $t = $Meta.ParameterType
        if ($t.Name -in 'BlockVolume', 'BlockVolume[]') { return $volume }
        if ($t -eq [int] -or $t -eq [long]) { return 1 }
        if ($t -eq [guid] -or $t -eq [guid[]]) { return $volume.Id }
        if ($t -eq [System.Management.Automation.SwitchParameter]) { return $true }
        if ($t -eq [string] -or $t -eq [string[]]) { return "$prefix-x" }
        return $null
    }

    function Invoke-Injected([string] $Command, [string] $Parameter, [string] $Value) {
        <# Calls the cmdlet with $Value for $Parameter (and fillers) in every parameter set that has it. #>
        $cmd = Get-Command $Command
        $outcomes = @()
        $sets = @($cmd.ParameterSets | Where-Object { $_.Parameters.Name -contains $Parameter })
        foreach ($set in $sets) {
            $splat = @{}
            $missing = @()
            foreach ($p in $set.Parameters | Where-Object { $_.IsMandatory -and $_.Name -ne $Parameter }) {
                $v = Get-Filler $cmd.Parameters[$p.Name] $p.Name
                if ($null -eq $v) { $missing += $p.Name } else { $splat[$p.Name] = $v }
            }
            if ($missing) {
                # Not a silent pass: a parameter set this file cannot call is a failure that names what to add.
                throw "Get-Filler has no value for -$($missing -join ', -') of $Command (parameter set $($set.Name)): add one, so -$Parameter is tried in that set too"
            }
            $splat[$Parameter] = if ($cmd.Parameters[$Parameter].ParameterType -eq [string[]]) { @($Value) } else { $Value }
            if ($cmd.Parameters.ContainsKey('Confirm')) { $splat['Confirm'] = $false }
            if ($cmd.Parameters.ContainsKey('TimeoutSec')) { $splat['TimeoutSec'] = 1 }
            if ($Command -eq 'Register-BlockVolumeHost' -and $Parameter -ne 'HostName') { $splat['HostName'] = "$prefix-reg" }
            try {
                $out = & $Command @splat -ErrorAction Stop
                $outcomes += [pscustomobject]@{ Set = $set.Name; Stored = $true; ErrorId = $null; Output = $out }
            }
            catch {
                $outcomes += [pscustomobject]@{ Set = $set.Name; Stored = $false; ErrorId = ($_.FullyQualifiedErrorId -split ',')[0]; Output = $_.Exception.Message }
            }
        }
        return $outcomes
    }

    function Assert-NothingExecuted {
        Invoke-LabSql "select count(*) from information_schema.tables where table_schema = 'bs' and table_name in ('volumes', 'events', 'operations', 'services', 'host_roles')" |
            Should -Be '5' -Because 'no injected SQL may drop a table'
        Test-Path -LiteralPath $marker | Should -BeFalse -Because 'no injected shell command may run'
    }
}

AfterAll {
    Get-BlockVolume -Name "$prefix-*" -ErrorAction SilentlyContinue | Remove-BlockVolume -Confirm:$false -Wait -TimeoutSec 60 -ErrorAction Continue
    foreach ($h in @(Invoke-LabSql "select host from bs.host_roles where host like '$prefix-%'")) {
        if ($h) { Unregister-BlockVolumeHost -HostName $h -Confirm:$false -ErrorAction Continue }
    }
    Invoke-LabSql "delete from bs.services where host like '$prefix-%'" | Out-Null
    # Projects and volume types the injected calls made (a description is stored literally).
    Get-BlockStoreProject -Name "$prefix-*" -ErrorAction Ignore | Remove-BlockStoreProject -Confirm:$false -ErrorAction Continue
    Get-BlockVolumeType -Name "$prefix-*" -ErrorAction Ignore | Remove-BlockVolumeType -Confirm:$false -ErrorAction Continue
    Remove-Item -LiteralPath $workDir -Recurse -Force -ErrorAction Ignore
    Remove-Item -LiteralPath $marker -Force -ErrorAction Ignore
}

Describe 'Injection strings in every string parameter' {
    It '<Command> -<Parameter>: stored literally or refused, never executed' -ForEach $cases {
        Push-Location -LiteralPath $workDir   # -OutFile and friends write here, never elsewhere
        try {
            foreach ($value in $injections) {
                $called = @(Invoke-Injected $Command $Parameter $value)
                $called | Should -Not -BeNullOrEmpty -Because "$Command -$Parameter must be called at least once"
                foreach ($o in $called) {
                    if (-not $o.Stored) {
                        $o.ErrorId | Should -BeIn $knownIds -Because "refusals must be BlockStore/PowerShell errors, not raw SQL or shell errors ($($o.Output))"
                    }
                    Assert-NothingExecuted
                }
            }
        }
        finally { Pop-Location }
    }
}

Describe 'Values that are stored are stored literally' {
    It 'New-BlockVolume -Description keeps every injection string byte for byte' {
        $i = 0
        foreach ($value in $injections) {
            $i++
            $v = New-BlockVolume -Name "$prefix-desc-$i" -SizeGiB 1 -Description $value -Confirm:$false
            (Get-BlockVolume -Id $v.Id).Description | Should -BeExactly $value
            Invoke-LabSql "select description from bs.volumes where id = '$($v.Id)'" | Should -BeExactly $value
        }
        Assert-NothingExecuted
    }

    It 'Register-BlockVolumeHost -OutFile writes a file with exactly that name, owner-only' {
        Push-Location -LiteralPath $workDir
        try {
            $value = "'; DROP TABLE bs.volumes; --"
            $r = Register-BlockVolumeHost -HostName "$prefix-file" -OutFile $value -PassThru -Confirm:$false
            $r.ConfigurationPath | Should -Be (Join-Path $workDir $value)
            Test-Path -LiteralPath (Join-Path $workDir $value) | Should -BeTrue
            [int][System.IO.File]::GetUnixFileMode((Join-Path $workDir $value)) | Should -Be ([Convert]::ToInt32('600', 8))
        }
        finally { Pop-Location }
        Assert-NothingExecuted
    }

    It 'refuses injection strings as names with the stable ErrorIds' {
        foreach ($value in $injections) {
            { New-BlockVolume -Name $value -SizeGiB 1 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidVolumeName,BlockStore.Commands.NewBlockVolumeCommand'
            { Register-BlockVolumeHost -HostName $value -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'InvalidHostName,BlockStore.Commands.RegisterBlockVolumeHostCommand'
        }
        Assert-NothingExecuted
    }
}
