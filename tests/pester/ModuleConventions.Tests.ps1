# PowerShell conventions of every exported cmdlet, present and future: the test walks
# Get-Command -Module BlockStore, so a new cmdlet is checked without touching this file.
# Rules and their reasons: docs/README.md. Needs only the built module (no lab).

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    Import-Module (Join-Path (Get-LabRepoRoot) 'out/BlockStore/BlockStore.psd1') -Force
    $cmdlets = @(Get-Command -Module BlockStore -CommandType Cmdlet | Sort-Object Name | ForEach-Object { @{ Name = $_.Name } })
    # The catalogue as written in the source (the guard below must see every constant).
    $errorsCs = Get-Content -Raw (Join-Path (Get-LabRepoRoot) 'src/BlockStore.Core/Errors.cs')
    $errorIds = @([regex]::Matches($errorsCs, 'public const string \w+ = "(?<id>\w+)"') | ForEach-Object { @{ ErrorId = $_.Groups['id'].Value } })
    # Cmdlets that wait on the store: the Wait verb, or a -Wait switch (issue 17: each keeps its ErrorIds while waiting).
    $waiters = @(Get-Command -Module BlockStore -CommandType Cmdlet | Where-Object { $_.Verb -eq 'Wait' -or $_.Parameters.ContainsKey('Wait') } |
        Sort-Object Name | ForEach-Object { @{ Name = $_.Name } })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $repo = Get-LabRepoRoot
    Import-Module (Join-Path $repo 'out/BlockStore/BlockStore.psd1') -Force
    $manifest = Import-PowerShellDataFile (Join-Path $repo 'out/BlockStore/BlockStore.psd1')

    # Verbs that only read, wait or change this PowerShell session: everything else changes state.
    $script:readOnlyVerbs = @('Get', 'Find', 'Search', 'Test', 'Wait', 'Watch', 'Measure', 'Compare', 'Show', 'Format',
        'Out', 'Read', 'Resolve', 'Trace', 'Connect', 'Disconnect')
    $script:commonParameters = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

    function Get-CmdletAttribute([string] $Name) {
        (Get-Command $Name).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $true) | Select-Object -First 1
    }

    function Get-HelpText($Node) {
        # Get-Help hands out maml:para as objects with a Text property (or plain strings).
        (@($Node) | ForEach-Object { if ($_ -is [string]) { $_ } else { $_.Text } }) -join "`n"
    }

    function Get-ErrorIdEvidence {
        <# Where each catalogue id is raised in the shipped source and asserted in a Pester file (read once: the parse is the slow part). #>
        if (Get-Variable -Name errorIdEvidence -Scope Script -ErrorAction Ignore) { return $script:errorIdEvidence }
        $repo = Get-LabRepoRoot
        # Raised: the catalogue constant is passed where an error is made (new BlockStoreException(ErrorIds.X, ...),
        # ServiceRules' target-typed new(ErrorIds.X, ...), ToErrorRecord(ErrorIds.X, ...)), in the code the module
        # ships (Core, Data, Commands), wherever the raise sits: a cmdlet, a data call or a shared Core helper.
        # A reference that only tests an id (catch ... when e.ErrorId == ErrorIds.X) raises nothing and does not count.
        $shipped = foreach ($project in 'BlockStore.Core', 'BlockStore.Data', 'BlockStore.Commands') {
            Get-ChildItem -Path (Join-Path $repo "src/$project") -Filter '*.cs' -Recurse |
                Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' -and $_.Name -ne 'Errors.cs' }
        }
        # Whole files, not lines: a call may put ErrorIds.X on the line after the parenthesis.
        $raised = @(foreach ($file in $shipped) {
                $text = Get-Content -Raw -LiteralPath $file.FullName
                foreach ($m in [regex]::Matches($text, '(\bnew(\s+BlockStoreException)?|\bToErrorRecord)\s*\(\s*ErrorIds\.(?<id>\w+)\b')) {
                    [pscustomobject]@{ Id = $m.Groups['id'].Value; Where = "$($file.Name):$(($text.Substring(0, $m.Index) -split "`n").Count)" }
                }
            })

        # Asserted: a Pester file other than this one holds the fully qualified id ('X,BlockStore.Commands.YCommand',
        # the string -ErrorId and FullyQualifiedErrorId are compared with) as a string in its code. Read with the
        # PowerShell parser, so a comment does not count, nor a string inside an It marked -Skip; Y must be a cmdlet
        # of the module, so a test of a renamed or misspelt cmdlet does not count either.
        $cmdletTypes = @(Get-Command -Module BlockStore -CommandType Cmdlet | ForEach-Object { $_.ImplementingType.FullName })
        $asserted = foreach ($file in Get-ChildItem -LiteralPath $PSScriptRoot -Filter '*.Tests.ps1' | Where-Object Name -NE 'ModuleConventions.Tests.ps1') {
            $ast = [System.Management.Automation.Language.Parser]::ParseFile($file.FullName, [ref] $null, [ref] $null)
            $skipped = @($ast.FindAll({ param($n)
                        $n -is [System.Management.Automation.Language.CommandAst] -and $n.GetCommandName() -eq 'It' -and
                        @($n.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] -and $_.ParameterName -eq 'Skip' }).Count -gt 0
                    }, $true) | ForEach-Object Extent)
            $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.StringConstantExpressionAst] -or
                    $n -is [System.Management.Automation.Language.ExpandableStringExpressionAst] }, $true) |
                Where-Object { $s = $_.Extent; -not @($skipped | Where-Object { $_.StartOffset -le $s.StartOffset -and $s.EndOffset -le $_.EndOffset }) } |
                ForEach-Object {
                    if ($_.Value -match '^(?<id>\w+),(?<type>BlockStore\.Commands\.\w+)$' -and $Matches.type -in $cmdletTypes) {
                        [pscustomobject]@{ Id = $Matches.id; Type = $Matches.type; Where = "$($file.Name):$($_.Extent.StartLineNumber) $($_.Value)" }
                    }
                }
        }
        $script:errorIdEvidence = @{ Raised = $raised; Asserted = @($asserted) }
        return $script:errorIdEvidence
    }
}

Describe 'The module manifest' {
    It 'exports cmdlets by name, never with a wildcard' {
        foreach ($key in 'CmdletsToExport', 'FunctionsToExport', 'AliasesToExport', 'VariablesToExport') {
            $manifest.ContainsKey($key) | Should -BeTrue -Because "$key must be explicit (an absent key exports everything)"
            @($manifest[$key] | Where-Object { [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($_) }) |
                Should -BeNullOrEmpty -Because "$key must list names"
        }
    }

    It 'is for PowerShell Core only (CompatiblePSEditions = Core)' {
        @($manifest.CompatiblePSEditions) | Should -Be @('Core')
    }

    It 'exports exactly the cmdlets it lists' {
        @(Get-Command -Module BlockStore -CommandType Cmdlet).Name | Sort-Object | Should -Be (@($manifest.CmdletsToExport) | Sort-Object)
    }

    It 'has the about topic in en-US' {
        (Get-Help about_BlockStore | Out-String) | Should -Match 'ErrorId'
    }
}

Describe '<Name>' -ForEach $cmdlets {
    BeforeAll {
        $command = Get-Command $Name
        $help = Get-Help $Name -Full
        $attribute = Get-CmdletAttribute $Name
        $isStateChanger = $command.Verb -notin $readOnlyVerbs
    }

    Context 'help' {
        It 'has a synopsis written in the docs (not the generated syntax)' {
            $help.Synopsis | Should -Not -BeNullOrEmpty
            $help.Synopsis | Should -Not -Match ([regex]::Escape($Name) + '\s+\[')
        }

        It 'has a description' {
            (Get-HelpText $help.description) | Should -Not -BeNullOrEmpty
        }

        It 'describes every parameter' {
            $documented = @{}
            foreach ($p in @($help.parameters.parameter | Where-Object { $_ -and $_.name })) { $documented[$p.name] = Get-HelpText $p.description }
            foreach ($p in $command.Parameters.Keys | Where-Object { $_ -notin $commonParameters }) {
                $documented[$p] | Should -Not -BeNullOrEmpty -Because "-$p needs a description in docs/$Name.md"
            }
        }

        It 'has at least two examples, each with code and remarks' {
            $examples = @($help.examples.example)
            $examples.Count | Should -BeGreaterOrEqual 2
            foreach ($e in $examples) {
                $e.code | Should -Not -BeNullOrEmpty
                (Get-HelpText $e.remarks) | Should -Not -BeNullOrEmpty -Because "$($e.title) should say what it does"
            }
        }

        It 'has examples whose code parses' {
            foreach ($e in @($help.examples.example)) {
                $errors = $null
                [System.Management.Automation.Language.Parser]::ParseInput($e.code, [ref] $null, [ref] $errors) | Out-Null
                $errors | Should -BeNullOrEmpty -Because "$($e.title) must parse: $($e.code)"
            }
        }

        It 'lists outputs and related links' {
            @($help.returnValues.returnValue).Count | Should -BeGreaterThan 0
            @($help.relatedLinks.navigationLink).Count | Should -BeGreaterThan 0
        }
    }

    Context 'metadata' {
        It 'declares [OutputType] with real .NET classes' {
            $command.OutputType | Should -Not -BeNullOrEmpty
            foreach ($t in $command.OutputType) {
                $t.Type | Should -Not -BeNullOrEmpty -Because "$($t.Name) must resolve to a type"
                $t.Type | Should -Not -Be ([psobject])
                $t.Type | Should -Not -Be ([object])
            }
        }

        It 'supports -WhatIf/-Confirm when it changes state' {
            if (-not $isStateChanger) { Set-ItResult -Skipped -Because "$($command.Verb) does not change the store"; return }
            $attribute.SupportsShouldProcess | Should -BeTrue
            $command.Parameters.Keys | Should -Contain 'WhatIf'
        }

        It 'asks for confirmation by default when it removes (ConfirmImpact High)' {
            if ($command.Verb -ne 'Remove') { Set-ItResult -Skipped -Because 'not a Remove- cmdlet'; return }
            $attribute.ConfirmImpact | Should -Be ([System.Management.Automation.ConfirmImpact]::High)
        }

        It 'has -PassThru when it changes state and returns nothing by default' {
            if (-not $isStateChanger -or $command.Verb -eq 'New') { Set-ItResult -Skipped -Because 'returns its result by default'; return }
            $command.Parameters.Keys | Should -Contain 'PassThru'
            $command.Parameters['PassThru'].SwitchParameter | Should -BeTrue
        }
    }
}

Describe 'ErrorId <ErrorId>' -ForEach $errorIds {
    BeforeAll {
        $errorIdEvidence = Get-ErrorIdEvidence
        $raises = @($errorIdEvidence.Raised | Where-Object Id -CEQ $ErrorId)
        $asserted = @($errorIdEvidence.Asserted | Where-Object Id -CEQ $ErrorId)

        # No id is skipped: every id in the catalogue is raised and tested. An id added ahead of its code would have
        # to be listed here with the reason, and the guard then insists it is not raised yet (the entry cannot go stale).
        $reserved = @{}
    }

    It 'is raised in the module source (ErrorIds.<ErrorId> where an error is made)' {
        if ($reserved.ContainsKey($ErrorId)) {
            $raises | Should -BeNullOrEmpty -Because "$ErrorId is listed as reserved ($($reserved[$ErrorId])) but is raised: remove it from the list"
            Set-ItResult -Skipped -Because "reserved: $($reserved[$ErrorId])"
            return
        }
        $raises | Should -Not -BeNullOrEmpty -Because "the catalogue has $ErrorId, so some code in Core, Data or Commands must raise it (or it should not be in the catalogue)"
    }

    It 'is produced and asserted by a Pester test (its fully qualified id in test code)' {
        if ($reserved.ContainsKey($ErrorId)) { Set-ItResult -Skipped -Because "reserved: $($reserved[$ErrorId])"; return }
        @($asserted) | Should -Not -BeNullOrEmpty -Because "some test in tests/pester must make a cmdlet raise $ErrorId and assert '$ErrorId,BlockStore.Commands.<Cmdlet>Command'"
    }

    It 'is documented in about_BlockStore' {
        (Get-Help about_BlockStore | Out-String) | Should -Match "``$ErrorId``"
    }
}

Describe 'The wait of <Name>' -ForEach $waiters {
    It 'keeps its ErrorId when the store fails mid-wait: a Pester test asserts StoreUnavailable,<Name>''s type' {
        $type = (Get-Command $Name).ImplementingType.FullName
        @((Get-ErrorIdEvidence).Asserted | Where-Object { $_.Id -ceq 'StoreUnavailable' -and $_.Type -eq $type -and $_.Where -like 'WaitStoreUnavailable.Tests.ps1:*' }) |
            Should -Not -BeNullOrEmpty -Because "a test must stop PostgreSQL while $Name waits and assert 'StoreUnavailable,$type' (tests/pester/WaitStoreUnavailable.Tests.ps1)"
    }
}
