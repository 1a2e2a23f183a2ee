# -Name takes PowerShell's wildcards in full ([SupportsWildcards()]): '*', '?', sets '[12]', ranges
# '[1-3]' and backtick escapes, translated into PostgreSQL (LIKE, or an anchored regular expression
# for sets and escapes; BlockStore.Core WildcardTranslator). A malformed pattern is refused with
# InvalidWildcardPattern before anything is read: it used to match nothing, silently.
# Run by `build.ps1 Test` (Pester 5.7.1); BLOCKSTORE_REPO and BLOCKSTORE_CONNECTION point at the lab.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Initialize-LabTest
    $script:prefix = New-LabTestPrefix 'wc'
    # Requests only (no -Wait): the names are in bs.volumes at once, which is what -Name reads.
    $script:made = @('v1', 'v2', 'v3', 'v12', 'w1') | ForEach-Object { New-BlockVolume -Name "$prefix-$_" -SizeGiB 1 -Confirm:$false }
    function Get-Names([string[]] $Pattern) { @(Get-BlockVolume -Name $Pattern | ForEach-Object Name | Sort-Object) }
}

AfterAll {
    Get-BlockVolume -Name "$prefix-*" -ErrorAction Ignore | Remove-BlockVolume -Confirm:$false -Force -Wait -TimeoutSec 300 -ErrorAction Continue | Out-Null
}

Describe 'Get-BlockVolume -Name with PowerShell wildcards' {
    It 'a set: v[12] returns v1 and v2 (not v12)' {
        Get-Names "$prefix-v[12]" | Should -Be @("$prefix-v1", "$prefix-v2")
    }

    It 'a range: v[1-3]' {
        Get-Names "$prefix-v[1-3]" | Should -Be @("$prefix-v1", "$prefix-v2", "$prefix-v3")
    }

    It 'a set and a star: [vw]1*' {
        Get-Names "$prefix-[vw]1*" | Should -Be @("$prefix-v1", "$prefix-v12", "$prefix-w1")
    }

    It 'case-insensitive like PowerShell: V[12]' {
        Get-Names "$prefix-V[12]" | Should -Be @("$prefix-v1", "$prefix-v2")
    }

    It 'a backtick escape: an escaped character is matched literally' {
        # Single quotes: in a double-quoted string PowerShell itself would eat the backtick.
        Get-Names ("$prefix-" + 'v`1') | Should -Be @("$prefix-v1")
        Get-Names ("$prefix-" + 'v`[1`]*') | Should -BeNullOrEmpty   # no volume name holds a bracket
        # An escaped star is no wildcard: a name, like Get-Item's, that names nothing is VolumeNotFound.
        Get-BlockVolume -Name ("$prefix-v" + '`*') -ErrorAction SilentlyContinue -ErrorVariable notFound | Should -BeNullOrEmpty
        $notFound[0].FullyQualifiedErrorId | Should -Be 'VolumeNotFound,BlockStore.Commands.GetBlockVolumeCommand'
        Get-Names "$prefix-v*" | Should -HaveCount 4
    }

    It 'a LIKE pattern and a set in one call: each volume once' {
        Get-Names "$prefix-w?", "$prefix-v[13]" | Should -Be @("$prefix-v1", "$prefix-v3", "$prefix-w1")
    }

    It 'agrees with PowerShell''s own -like on the same names' {
        foreach ($p in "$prefix-v[12]", "$prefix-[a-v]?", "$prefix-?[0-9]*") {
            $expected = @($made.Name | Where-Object { $_ -like $p } | Sort-Object)
            Get-Names $p | Should -Be $expected -Because "pattern $p"
        }
    }
}

Describe 'a malformed pattern' {
    It 'Get-BlockVolume -Name ''v[12'' is refused with InvalidWildcardPattern (InvalidArgument)' {
        { Get-BlockVolume -Name "$prefix-v[12" -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidWildcardPattern,BlockStore.Commands.GetBlockVolumeCommand'
        try { Get-BlockVolume -Name "$prefix-v[12" -ErrorAction Stop } catch { $_.CategoryInfo.Category | Should -Be 'InvalidArgument'; $_.Exception.Message | Should -Match 'never closed' }
    }

    It 'Remove-BlockVolume -Name ''v[]'' is refused and removes nothing' {
        { Remove-BlockVolume -Name "$prefix-v[]" -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidWildcardPattern,BlockStore.Commands.RemoveBlockVolumeCommand'
        @(Get-BlockVolume -Name "$prefix-*" | Where-Object Status -In 'deleting', 'deleted') | Should -BeNullOrEmpty
    }

    It 'Wait-BlockVolume -Name ''v[3-1]'' is refused' {
        { Wait-BlockVolume -Name "$prefix-v[3-1]" -TimeoutSec 5 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidWildcardPattern,BlockStore.Commands.WaitBlockVolumeCommand'
    }
}
