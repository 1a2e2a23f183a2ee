# The lab as users' own test suites use it (tests/lab/BlockStoreLab.psm1, docs/testing-with-the-lab.md):
# .blockstore/lab.env read whole by bash and PowerShell, Start-/Stop-BlockStoreLab against the running
# lab, and the documented example test run as written, in a fresh pwsh with Pester.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force -DisableNameChecking
    $lab = Get-LabInfo
    $labModule = Join-Path $lab.repo 'tests/lab/BlockStoreLab.psm1'
    Import-Module $labModule -Force
    $envFile = Join-Path $lab.stateDir 'lab.env'
}

Describe 'lab.env' {
    It 'gives bash the whole connection string with set -a; . lab.env' {
        $fromBash = & bash -c 'set -a; . "$1"; set +a; printf %s "$BLOCKSTORE_CONNECTION"' bash $envFile
        $LASTEXITCODE | Should -Be 0
        $fromBash | Should -Be $lab.connectionString
        $fromBash | Should -Match ';Port=\d+;'
    }

    It 'gives PowerShell the same value (Get-BlockStoreLabEnvironment)' {
        (Get-BlockStoreLabEnvironment -Repo $lab.repo).BLOCKSTORE_CONNECTION | Should -Be $lab.connectionString
    }

    It 'round-trips values with quotes, dollars, backslashes and semicolons through bash and the reader' {
        $value = "a;b c'd`$HOME\e`"f"
        $line = ConvertTo-BlockStoreLabEnvLine -Name X_TEST -Value $value
        (ConvertFrom-BlockStoreLabEnvLine -Line $line).Value | Should -Be $value
        $tmp = New-TemporaryFile
        try {
            Set-Content -LiteralPath $tmp -Value $line
            & bash -c 'set -a; . "$1"; printf %s "$X_TEST"' bash $tmp | Should -Be $value
        }
        finally { Remove-Item -LiteralPath $tmp -Force }
    }

    It 'reads the other forms a shell or systemd accepts: double quotes, export, comments' {
        (ConvertFrom-BlockStoreLabEnvLine -Line 'export A="x;\"y\" \$z"').Value | Should -Be 'x;"y" $z'
        (ConvertFrom-BlockStoreLabEnvLine -Line 'B=plain').Value | Should -Be 'plain'
        ConvertFrom-BlockStoreLabEnvLine -Line '# comment' | Should -BeNullOrEmpty
        { ConvertFrom-BlockStoreLabEnvLine -Line "C='open" } | Should -Throw '*Unterminated*'
    }
}

Describe 'Start-BlockStoreLab / Stop-BlockStoreLab' {
    It 'keeps a lab that is already up, points the session at it and leaves it running on Stop' {
        $saved = $env:BLOCKSTORE_CONNECTION
        try {
            $env:BLOCKSTORE_CONNECTION = 'Host=nowhere.invalid'
            $started = Start-BlockStoreLab -Repo $lab.repo
            $started.StartedHere | Should -BeFalse
            $env:BLOCKSTORE_CONNECTION | Should -Be $lab.connectionString
            @(Get-BlockVolumeService).Count | Should -BeGreaterThan 0
            Stop-BlockStoreLab -Repo $lab.repo
            Test-LabHost -Name $lab.scheduler.name | Should -BeTrue
            Test-Path -LiteralPath (Join-Path $lab.stateDir 'lab.json') | Should -BeTrue
        }
        finally { $env:BLOCKSTORE_CONNECTION = $saved }
    }

    It 'runs the example test of docs/testing-with-the-lab.md as written, and it passes' {
        $doc = Get-Content -LiteralPath (Join-Path $lab.repo 'docs/testing-with-the-lab.md') -Raw
        $m = [regex]::Match($doc, '## An example test.*?```powershell\r?\n(?<code>.*?)```', 'Singleline')
        $m.Success | Should -BeTrue
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) "bs-labmodule-$PID"
        New-Item -ItemType Directory -Force -Path $dir | Out-Null
        try {
            $test = Join-Path $dir 'MyRunbook.Tests.ps1'
            Set-Content -LiteralPath $test -Value $m.Groups['code'].Value
            $pester = (Get-Module Pester).Path
            $script = "Import-Module '$pester'; `$r = Invoke-Pester -Path '$test' -PassThru -Output None; " +
                "'{0} {1}' -f `$r.PassedCount, `$r.FailedCount"
            $exe = (Get-Process -Id $PID).Path
            $pwsh = if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, (Join-Path $PSHOME 'pwsh.dll')) } else { @($exe) }
            $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $script 2>&1 | ForEach-Object { "$_" }
            @($out)[-1] | Should -Be '4 0' -Because ($out -join "`n")
            # The example cleaned up after itself and left the shared lab up.
            Invoke-LabSql -Sql "select count(*) from bs.volumes where name like 'runbook-%' and status <> 'deleted'" | Should -Be '0'
            Test-LabHost -Name $lab.scheduler.name | Should -BeTrue
        }
        finally { Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction Ignore }
    }
}
