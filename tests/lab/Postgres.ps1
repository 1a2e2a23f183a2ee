# The lab's private PostgreSQL: its folder, cluster, login roles, schema and SQL access.

function Get-LabPgHome {
    <#
    Where the lab's PostgreSQL data and sockets live: .blockstore itself when the postgres OS user
    can reach it and the socket path is short enough, else (-Fallback) a private folder under /tmp.
    #>
    param([string] $Repo = (Get-LabRepoRoot), [switch] $Fallback)
    if ($Fallback) {
        $hash = [System.Convert]::ToHexString(
            [System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($Repo))).Substring(0, 10).ToLowerInvariant()
        return "/tmp/blockstore-pg-$hash"
    }
    return (Get-LabStateDir -Repo $Repo)
}

function Invoke-LabPostgresTool {
    <#
    Runs a PostgreSQL server tool (initdb, pg_ctl) from -PgBinDir; as root it runs as the postgres OS
    user (postgres refuses root). Output appended to -OutputFile, else returned.
    #>
    param([Parameter(Mandatory)][string] $Tool, [string[]] $ArgumentList = @(), [string] $PgBinDir = $script:LabSettings.PgBinDir,
        [string] $WorkingDirectory = '/', [string] $OutputFile, [switch] $AllowFailure)
    $words = @((Join-Path $PgBinDir $Tool)) + $ArgumentList | ForEach-Object { ConvertTo-LabShellWord $_ }
    $cmd = $words -join ' '
    if (Test-LabIsRoot) { $cmd = "runuser -u postgres -- $cmd" }
    $redirect = if ($OutputFile) { ' >> ' + (ConvertTo-LabShellWord $OutputFile) + ' 2>&1 < /dev/null' } else { ' 2>&1 < /dev/null' }
    $script = 'cd ' + (ConvertTo-LabShellWord $WorkingDirectory) + ' && ' + $cmd + $redirect
    return (Invoke-LabNative bash @('-c', $script) -AllowFailure:$AllowFailure -What "$Tool $($ArgumentList -join ' ')")
}

function Invoke-LabPgCtl {
    <# Runs pg_ctl on the lab's data directory as the postgres OS user; output appended to the lab's postgres.log. #>
    param([Parameter(Mandatory)][string[]] $Arguments, [object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    $log = Join-Path $Lab.stateDir 'logs/postgres.log'
    $wd = if ($Lab.PSObject.Properties['pgHome']) { $Lab.pgHome } else { '/' }
    Invoke-LabPostgresTool pg_ctl (@('-D', $Lab.pgDataDir) + $Arguments) -PgBinDir $Lab.pgBinDir -WorkingDirectory $wd -OutputFile $log | Out-Null
}

function Test-LabPostgresRunning {
    <# True when the lab's PostgreSQL accepts connections (pg_isready). #>
    [CmdletBinding()]
    param([object] $Lab)
    if (-not $Lab) { $Lab = Get-LabInfo }
    # Up -Ha: running means a primary answers (Patroni's REST API says which member it is).
    if ($Lab.PSObject.Properties['ha']) { return [bool](Get-LabPatroniPrimary -Lab $Lab) }
    Invoke-LabNative (Join-Path $Lab.pgBinDir 'pg_isready') @('-q', '-h', $Lab.host, '-p', "$($Lab.port)", '-t', '2') -AllowFailure | Out-Null
    return ($LASTEXITCODE -eq 0)
}

function Stop-LabPostgres {
    <# Stops the lab's PostgreSQL with pg_ctl stop -m fast (sessions are cut, as in a crash-free restart). #>
    [CmdletBinding()]
    param([object] $Lab)
    Invoke-LabPgCtl -Arguments @('-m', 'fast', '-w', '-t', '30', 'stop') -Lab $Lab
}

function Start-LabPostgres {
    <# Starts the lab's PostgreSQL again and waits until it accepts connections. #>
    [CmdletBinding()]
    param([object] $Lab)
    Invoke-LabPgCtl -Arguments @('-w', '-t', '60', 'start') -Lab $Lab
}

function Invoke-LabSql {
    <#
    Runs SQL (or -File) through psql -At as the lab's superuser (database blockstore unless -Database)
    and returns the output lines. Throws when psql fails (ON_ERROR_STOP).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Position = 0)][string] $Sql,
        [string] $File,
        [string] $Database,
        [object] $Lab
    )
    if (-not $Lab) { $Lab = Get-LabInfo }
    if (-not $Database) { $Database = $Lab.database }
    # The lab's superuser logs in through the unix socket only (see New-LabPostgresCluster).
    $pgHost = if ($Lab.PSObject.Properties['socketDir'] -and $Lab.socketDir) { $Lab.socketDir } else { $Lab.host }
    $what = if ($File) { @('-f', $File) } else { @('-c', $Sql) }
    $target = @('-h', $pgHost, '-p', "$($Lab.port)", '-U', $Lab.user, '-d', $Database)
    if ($Lab.PSObject.Properties['ha']) {
        # Up -Ha: whichever Patroni member is the primary now (libpq tries the sockets in turn).
        $members = @($Lab.ha.members)
        $target = @('-d', "host=$(@($members.socketDir) -join ',') port=$(@($members.port) -join ',') user=$($Lab.user) dbname=$Database target_session_attrs=read-write connect_timeout=5")
    }
    return (Invoke-LabNative (Join-Path $Lab.pgBinDir 'psql') (@('-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1') + $target + $what) -What 'psql')
}

function New-LabPostgresCluster {
    <#
    A new cluster for the lab: initdb in its home (.blockstore, or the /tmp fallback when postgres
    cannot reach it), listening on 127.0.0.1:<free port> and a private socket, started, with the
    database created. Returns @{ pgHome; pgDataDir; socketDir; port }.
    #>
    param([Parameter(Mandatory)][string] $StateDir, [Parameter(Mandatory)][string] $Repo)
    $s = $script:LabSettings
    $pgHome = Get-LabPgHome -Repo $Repo
    $socketDir = Join-Path $pgHome 'run'
    $reachable = $true
    if (Test-LabIsRoot) {
        & runuser -u postgres -- test -x $StateDir 2>$null
        $reachable = ($LASTEXITCODE -eq 0)
    }
    if (-not $reachable -or ($socketDir.Length + '/.s.PGSQL.65535'.Length) -gt 100) {
        $pgHome = Get-LabPgHome -Repo $Repo -Fallback
        $socketDir = Join-Path $pgHome 'run'
        Write-Host "PostgreSQL data lives in $pgHome (the postgres user cannot use $StateDir)"
        New-Item -ItemType Directory -Force -Path $pgHome | Out-Null
        & chmod 755 $pgHome
    }
    $pgData = Join-Path $pgHome 'pg'
    New-Item -ItemType Directory -Force -Path $pgData, $socketDir | Out-Null
    if (Test-LabIsRoot) { & chown postgres:postgres $pgData $socketDir }
    & chmod 700 $pgData
    $pgLog = Join-Path $StateDir 'logs/postgres.log'

    $port = Get-LabFreePort
    Write-LabStep "initdb $pgData (superuser $($s.User) on the unix socket only; every other role with a SCRAM password)"
    Invoke-LabPostgresTool initdb @('-D', $pgData, '-U', $s.User, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-instructions') -WorkingDirectory $pgHome | Out-Null
    # The superuser (schema owner: migrations and test setup) is reachable only through the
    # socket, which only root and postgres can open; the product's roles log in with passwords.
    $hba = @(
        '# BlockStore lab: superuser via the unix socket only; everyone else with a password',
        "local   all   $($s.User)                  trust",
        'local   all   all                  scram-sha-256',
        'host    all   all   127.0.0.1/32   scram-sha-256')
    $conf = @(
        '', '# BlockStore lab',
        "listen_addresses = '127.0.0.1'",
        "port = $port",
        "unix_socket_directories = '$socketDir'",
        'unix_socket_permissions = 0700',
        "password_encryption = 'scram-sha-256'",
        'max_connections = 200',
        # fsync off: the lab's OS does not crash (a PostgreSQL crash is what the tests inject, and the
        # OS page cache keeps what was written). synchronous_commit stays on: with it off a crash of
        # PostgreSQL drops commits the cmdlets already reported, which the product promises never to lose.
        'fsync = off                 # throw-away lab cluster',
        'synchronous_commit = on',
        'full_page_writes = off')
    Set-Content -LiteralPath (Join-Path $pgData 'pg_hba.conf') -Value $hba
    Add-Content -LiteralPath (Join-Path $pgData 'postgresql.conf') -Value $conf
    if (Test-LabIsRoot) { & chown postgres:postgres (Join-Path $pgData 'pg_hba.conf') (Join-Path $pgData 'postgresql.conf') }

    Write-LabStep "start PostgreSQL on 127.0.0.1:$port (log .blockstore/logs/postgres.log)"
    Invoke-LabPostgresTool pg_ctl @('-D', $pgData, '-w', '-t', '60', 'start') -WorkingDirectory $pgHome -OutputFile $pgLog -AllowFailure | Out-Null
    if ($LASTEXITCODE -ne 0) {
        throw "pg_ctl start failed. Last lines of ${pgLog}:`n$((Get-Content -LiteralPath $pgLog -Tail 20) -join "`n")"
    }
    $cluster = [pscustomobject]@{ pgHome = $pgHome; pgDataDir = $pgData; socketDir = $socketDir; port = $port; host = '127.0.0.1'
        user = $s.User; pgBinDir = $s.PgBinDir }
    Invoke-LabSql "CREATE DATABASE $($s.Database)" -Database 'postgres' -Lab $cluster | Out-Null
    return $cluster
}

function Stop-LabPostgresCluster {
    <# Stops the cluster in -PgHome if one runs there (pg_ctl stop, else kills its postmaster). Returns whether one was found. #>
    param([Parameter(Mandatory)][string] $PgHome, [string] $PgBinDir = $script:LabSettings.PgBinDir)
    $pgData = Join-Path $PgHome 'pg'
    $pmPid = Join-Path $pgData 'postmaster.pid'
    if (-not (Test-Path -LiteralPath $pmPid)) { return $false }
    Write-Host "stopping PostgreSQL ($pgData)"
    $wd = if (Test-Path -LiteralPath $PgHome) { $PgHome } else { '/' }
    Invoke-LabPostgresTool pg_ctl @('-D', $pgData, '-m', 'fast', '-w', '-t', '30', 'stop') -PgBinDir $PgBinDir -WorkingDirectory $wd -AllowFailure | Out-Null
    if ($LASTEXITCODE -ne 0 -and (Test-Path -LiteralPath $pmPid)) {
        $first = (Get-Content -LiteralPath $pmPid -TotalCount 1 -ErrorAction Ignore)
        if ($first -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$first))) {
            Write-Warning "pg_ctl stop failed; killing postmaster $first"
            Stop-LabProcess -ProcessId ([int]$first) -TimeoutSeconds 5 -CommandLike 'postgres'
        }
    }
    return $true
}

function New-LabPassword {
    return [Convert]::ToBase64String([System.Security.Cryptography.RandomNumberGenerator]::GetBytes(24)).Replace('+', '-').Replace('/', '_')
}

function Write-LabOwnerOnlyFile([string] $Path, [string[]] $Lines) {
    <# Creates the file empty with mode 600 first, so the secret is never readable by others. #>
    Set-Content -LiteralPath $Path -Value $null
    & chmod 600 $Path
    Set-Content -LiteralPath $Path -Value $Lines
}

function New-LabRoles {
    <#
    The lab's login roles for the cmdlets (operator, reader) and the scheduler, members of the
    group roles that migration 0003 made. Passwords go to the root-only pgpass file.
    #>
    param([Parameter(Mandatory)][object] $Lab, [Parameter(Mandatory)][string] $PgPass)
    $s = $script:LabSettings
    # One login per scheduler, all members of bs_scheduler.
    $logins = @(@($s.OperatorRole, 'bs_operator'), @($s.ReaderRole, 'bs_reader')) + @($s.Schedulers | ForEach-Object { , @($_.Role, 'bs_scheduler') })
    Write-LabStep "login roles $(@($logins | ForEach-Object { $_[0] }) -join ', ') (passwords in .blockstore/secrets/pgpass)"
    $sqlFile = Join-Path $Lab.secretsDir 'roles.sql'
    $pass = [ordered]@{}
    $sql = foreach ($r in $logins) {
        $pass[$r[0]] = New-LabPassword
        "CREATE ROLE $($r[0]) LOGIN PASSWORD '$($pass[$r[0]])' IN ROLE $($r[1]);"
    }
    Write-LabOwnerOnlyFile $sqlFile $sql
    Write-LabOwnerOnlyFile $PgPass @($pass.Keys | ForEach-Object { "*:*:*:${_}:$($pass[$_])" })
    try { Invoke-LabSql -File $sqlFile -Lab $Lab | Out-Null }
    finally { Remove-Item -LiteralPath $sqlFile -Force -ErrorAction Ignore }
}

function Initialize-LabSchema {
    <#
    Migrates the schema as its owner (BlockStore.Scheduler migrate, the product path), then the lab's
    settings: a short service-down threshold, and the default zone (volumes that name no zone stay on
    node1..nodeN; the guest, zone guest, takes only those that ask for it).
    #>
    param([Parameter(Mandatory)][object] $Lab)
    $s = $script:LabSettings
    Write-LabStep 'migrate the schema (BlockStore.Scheduler migrate)'
    $migrateLog = Join-Path $Lab.stateDir 'logs/migrate.log'
    Invoke-LabNative (Join-Path $Lab.repo 'out/hosts/scheduler/BlockStore.Scheduler') @('migrate', "--BlockStore:ConnectionString=$($Lab.ownerConnectionString)") `
        -TimeoutSeconds 180 -ToHost -LogFile $migrateLog -What "BlockStore.Scheduler migrate (see $migrateLog)"
    Invoke-LabSql -Lab $Lab -Sql "UPDATE bs.settings SET value='$($Lab.serviceDownSeconds)' WHERE key='service_down_seconds'" | Out-Null
    Write-Host "service_down_seconds = $($Lab.serviceDownSeconds)"
    Invoke-LabSql -Lab $Lab -Sql "UPDATE bs.settings SET value='$($Lab.zone)' WHERE key='default_availability_zone'" | Out-Null
    Write-Host "default_availability_zone = $($Lab.zone)"
}
