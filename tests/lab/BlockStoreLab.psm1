# The lab as a user's own Pester suite (or a runbook's tests) uses it: start it in one line, stop it
# in one line, and read the connection it wrote. It drives `build.ps1 Up` / `Down` in a child pwsh
# (exactly what a developer types), so there is one lab, not a second way to make one.
#
#   Import-Module <repo>/tests/lab/BlockStoreLab.psm1
#   $lab = Start-BlockStoreLab          # Up (idempotent), $env:BLOCKSTORE_CONNECTION set, module imported
#   Stop-BlockStoreLab                  # Down, only when this session started the lab (-Force: always)
#
# docs/testing-with-the-lab.md has an example test. Also the one reader and writer of
# .blockstore/lab.env: one KEY='value' a line, which bash (`set -a; . lab.env`), systemd's
# EnvironmentFile= and PowerShell (Get-BlockStoreLabEnvironment) all read whole.

Set-StrictMode -Version 3.0

$script:StartedHere = @{}

function ConvertTo-BlockStoreLabEnvLine {
    <#
    One KEY='value' line of an environment file. Single quotes keep ';', '$', spaces and backslashes
    literal for sh and for systemd (systemd.exec(5), EnvironmentFile=); a single quote inside the
    value is written as '\'' (close, escaped quote, reopen), which both also read.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][ValidatePattern('^[A-Za-z_][A-Za-z0-9_]*$')][string] $Name, [Parameter(Mandatory)][AllowEmptyString()][string] $Value)
    if ($Value -match "[`r`n]") { throw "The value of $Name has a line break: an environment file holds one line per variable." }
    return "$Name='" + $Value.Replace("'", "'\''") + "'"
}

function ConvertFrom-BlockStoreLabEnvLine {
    <#
    Parses one line as sh and systemd do for the forms these files use: KEY=value, KEY='value',
    KEY="value" (backslash escapes \ " $ `), concatenations of those, an optional 'export '; blank
    lines and # comments give nothing. Returns @{ Name; Value } or $null.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][AllowEmptyString()][string] $Line)
    $text = $Line.Trim()
    if ($text -eq '' -or $text.StartsWith('#')) { return $null }
    if ($text.StartsWith('export ')) { $text = $text.Substring(7).TrimStart() }
    $eq = $text.IndexOf('=')
    if ($eq -lt 1) { throw "Not a KEY=value line: $Line" }
    $name = $text.Substring(0, $eq)
    if ($name -notmatch '^[A-Za-z_][A-Za-z0-9_]*$') { throw "Not a variable name: '$name' in: $Line" }
    $value = [System.Text.StringBuilder]::new()
    $rest = $text.Substring($eq + 1)
    $i = 0
    while ($i -lt $rest.Length) {
        $c = $rest[$i]
        if ($c -eq "'") {
            $end = $rest.IndexOf("'", $i + 1)
            if ($end -lt 0) { throw "Unterminated single quote in: $Line" }
            [void]$value.Append($rest, $i + 1, $end - $i - 1)
            $i = $end + 1
        }
        elseif ($c -eq '"') {
            $i++
            while ($true) {
                if ($i -ge $rest.Length) { throw "Unterminated double quote in: $Line" }
                $d = $rest[$i]
                if ($d -eq '"') { $i++; break }
                if ($d -eq '\' -and $i + 1 -lt $rest.Length -and '\"$`'.Contains($rest[$i + 1])) { [void]$value.Append($rest[$i + 1]); $i += 2; continue }
                [void]$value.Append($d); $i++
            }
        }
        elseif ($c -eq '\' -and $i + 1 -lt $rest.Length) { [void]$value.Append($rest[$i + 1]); $i += 2 }
        elseif ([char]::IsWhiteSpace($c)) { break }   # unquoted: the value ends at white space, as in sh
        else { [void]$value.Append($c); $i++ }
    }
    return @{ Name = $name; Value = $value.ToString() }
}

function Get-BlockStoreLabEnvironment {
    <# The variables of .blockstore/lab.env (or -Path) as an ordered hashtable. #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param([string] $Repo = (Get-BlockStoreLabRepo), [string] $Path)
    if (-not $Path) { $Path = Join-Path $Repo '.blockstore/lab.env' }
    if (-not (Test-Path -LiteralPath $Path)) { throw "No lab environment file: $Path is missing (is the lab up? Start-BlockStoreLab)." }
    $vars = [ordered]@{}
    foreach ($line in Get-Content -LiteralPath $Path) {
        $v = ConvertFrom-BlockStoreLabEnvLine -Line $line
        if ($v) { $vars[$v.Name] = $v.Value }
    }
    return $vars
}

function Get-BlockStoreLabRepo {
    <# The BlockStore.Ps checkout: $env:BLOCKSTORE_REPO, else the folder two levels above this module. #>
    if ($env:BLOCKSTORE_REPO) { return [System.IO.Path]::GetFullPath($env:BLOCKSTORE_REPO) }
    return [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
}

function Invoke-BlockStoreLabBuild {
    <# build.ps1 <Task> in a child pwsh (build.ps1 ends with exit); throws with its last lines when it fails. #>
    param([string] $Repo, [string[]] $Arguments)
    $exe = (Get-Process -Id $PID).Path
    $pwsh = if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, (Join-Path $PSHOME 'pwsh.dll')) } else { @($exe) }
    $pwshArgs = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $Repo 'build.ps1')) + $Arguments
    $output = & $pwsh[0] @pwshArgs 2>&1 | ForEach-Object { "$_" }
    if ($LASTEXITCODE -ne 0) {
        throw "build.ps1 $($Arguments -join ' ') failed (exit $LASTEXITCODE):`n$((@($output) | Select-Object -Last 30) -join "`n")"
    }
    return $output
}

function Start-BlockStoreLab {
    <#
    Starts the lab of the checkout (build.ps1 Up; a lab already up is kept as it is), points this
    session at it ($env:BLOCKSTORE_CONNECTION from lab.env) and imports the built module.
    Returns Repo, ConnectionString, StartedHere (false when the lab was up already) and Module.
    #>
    [CmdletBinding()]
    param([string] $Repo = (Get-BlockStoreLabRepo), [ValidateRange(1, 16)][int] $Hosts = 2, [switch] $WithGuest)
    $Repo = [System.IO.Path]::GetFullPath($Repo)
    $wasUp = Test-Path -LiteralPath (Join-Path $Repo '.blockstore/lab.json')
    $buildArgs = @('Up', '-Hosts', "$Hosts")
    if ($WithGuest) { $buildArgs += '-WithGuest' }
    $output = Invoke-BlockStoreLabBuild -Repo $Repo -Arguments $buildArgs
    $startedHere = -not $wasUp -or -not (@($output) -match 'lab is already up')
    if ($startedHere) { $script:StartedHere[$Repo] = $true }
    $envVars = Get-BlockStoreLabEnvironment -Repo $Repo
    $env:BLOCKSTORE_CONNECTION = $envVars['BLOCKSTORE_CONNECTION']
    $module = Join-Path $Repo 'out/BlockStore/BlockStore.psd1'
    Import-Module $module -Global
    return [pscustomobject]@{
        Repo = $Repo; ConnectionString = $env:BLOCKSTORE_CONNECTION; StartedHere = $startedHere; Module = $module
    }
}

function Stop-BlockStoreLab {
    <#
    Takes the lab down (build.ps1 Down) when this session started it; a lab that was already up
    when Start-BlockStoreLab ran is left running (it is someone else's), unless -Force.
    #>
    [CmdletBinding(SupportsShouldProcess)]
    param([string] $Repo = (Get-BlockStoreLabRepo), [switch] $Force)
    $Repo = [System.IO.Path]::GetFullPath($Repo)
    if (-not $Force -and -not $script:StartedHere.ContainsKey($Repo)) {
        Write-Verbose "The lab of $Repo was up before Start-BlockStoreLab: left running (use -Force to take it down)."
        return
    }
    if ($PSCmdlet.ShouldProcess($Repo, 'build.ps1 Down')) {
        Invoke-BlockStoreLabBuild -Repo $Repo -Arguments @('Down') | Write-Verbose
        $script:StartedHere.Remove($Repo)
    }
}

Export-ModuleMember -Function Start-BlockStoreLab, Stop-BlockStoreLab, Get-BlockStoreLabEnvironment,
    ConvertTo-BlockStoreLabEnvLine, ConvertFrom-BlockStoreLabEnvLine
