# Native commands of the lab, each under a deadline: an LVM command waiting on a lock, a psql on a
# hung server or a stuck registration must fail the step, not stall Up, Down or Test. This is the
# one place that starts them (Invoke-LabNative) and quotes words for a shell (ConvertTo-LabShellWord).

# Far above what the lab's short commands take (well under a second; tens of seconds on a loaded
# machine). BLOCKSTORE_LAB_COMMAND_TIMEOUT overrides.
$script:LabCommandTimeoutSeconds = if ($env:BLOCKSTORE_LAB_COMMAND_TIMEOUT -match '^\d+$') { [int]$env:BLOCKSTORE_LAB_COMMAND_TIMEOUT } else { 300 }

function Invoke-LabNative {
    <#
    Runs a native command under timeout(1) and returns its standard output lines ($LASTEXITCODE is
    the command's). Throws when it runs past -TimeoutSeconds (0: no deadline, for builds) or exits
    non-zero, unless -AllowFailure (then the caller reads $LASTEXITCODE: 124 or 137 for a timeout);
    the error names the command and carries its standard error.
    -ToHost: the output goes to the console (and -LogFile) instead of being returned.
    -MergeError: standard error is returned with the output, in order. -InputText: fed to its input.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)][string] $FilePath,
        [Parameter(Position = 1)][string[]] $ArgumentList = @(),
        [int] $TimeoutSeconds = $script:LabCommandTimeoutSeconds,
        [switch] $AllowFailure,
        [switch] $ToHost,
        [string] $LogFile,
        [switch] $MergeError,
        [string] $InputText,
        # How the command is named in errors (default: the command line); for a secret in the arguments.
        [string] $What
    )
    if (-not $What) { $What = (@($FilePath) + $ArgumentList) -join ' ' }
    $exe = if ($TimeoutSeconds -gt 0) { 'timeout' } else { $FilePath }
    $words = if ($TimeoutSeconds -gt 0) { @('-k', '10', "$TimeoutSeconds", $FilePath) + $ArgumentList } else { $ArgumentList }
    $errFile = [System.IO.Path]::GetTempFileName()
    try {
        $merge = $ToHost -or $MergeError
        # -ToHost streams line by line (a build prints for minutes); the rest is collected.
        $toHostLine = { process { $line = "$_"; if ($LogFile) { Add-Content -LiteralPath $LogFile -Value $line }; $line | Out-Host } }
        $output = if ($ToHost) { & $exe @words 2>&1 | & $toHostLine }
        elseif ($PSBoundParameters.ContainsKey('InputText')) {
            if ($merge) { $InputText | & $exe @words 2>&1 } else { $InputText | & $exe @words 2>$errFile }
        }
        elseif ($merge) { & $exe @words 2>&1 }
        else { & $exe @words 2>$errFile }
        $output = @($output | ForEach-Object { "$_" })
        $code = $global:LASTEXITCODE
        $stderr = if ($merge) { '' } else { [System.IO.File]::ReadAllText($errFile) }
    }
    finally { Remove-Item -LiteralPath $errFile -ErrorAction Ignore }
    if ($TimeoutSeconds -gt 0 -and ($code -eq 124 -or $code -eq 137) -and -not $AllowFailure) {
        throw "'$What' did not finish within $TimeoutSeconds s (BLOCKSTORE_LAB_COMMAND_TIMEOUT): stopped"
    }
    if ($code -ne 0 -and -not $AllowFailure) {
        $detail = if ($ToHost) { '' } else { ":`n" + ((@($stderr.TrimEnd()) + $output | Where-Object { $_ }) -join "`n") }
        throw "'$What' failed with exit code $code$detail"
    }
    $global:LASTEXITCODE = $code
    if (-not $ToHost) { return $output }
}

function ConvertTo-LabShellWord([string] $Text) {
    <# Quotes one word for sh/bash (the lab's runuser and setsid command lines, the guest's ssh). #>
    return "'" + $Text.Replace("'", "'\''") + "'"
}

function Get-LabFreePort {
    <# A TCP port free on 127.0.0.1 now (PostgreSQL, the guest's forwarded ssh and iSCSI ports). #>
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { return ([System.Net.IPEndPoint]$listener.LocalEndpoint).Port } finally { $listener.Stop() }
}

function Test-LabIsRoot { return ((& id -u) -eq '0') }

function Get-LabPwshCommand {
    <# How to start a fresh pwsh like this one: the same executable, or dotnet + pwsh.dll for the dotnet tool. #>
    $exe = (Get-Process -Id $PID).Path
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { return @($exe, (Join-Path $PSHOME 'pwsh.dll')) }
    return @($exe)
}

function Invoke-LabPwshScript {
    <# Runs a script file in a fresh pwsh (output to the console) under a deadline; throws when it fails. #>
    param([Parameter(Mandatory)][string] $Path, [string[]] $ArgumentList = @(), [int] $TimeoutSeconds = $script:LabCommandTimeoutSeconds,
        [string] $What = (Split-Path -Leaf $Path))
    $pwsh = @(Get-LabPwshCommand)
    $words = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $Path) + $ArgumentList
    Invoke-LabNative $pwsh[0] $words -TimeoutSeconds $TimeoutSeconds -ToHost -What $What
}

function Write-LabStep([string] $Text) { Write-Host "==> $Text" -ForegroundColor Cyan }
