# The lab's highly available PostgreSQL (`build.ps1 Up -Ha`): two PostgreSQL 15 servers managed by
# Patroni (Debian's `patroni` package), a primary and a streaming standby in synchronous mode, with a
# one-node etcd (Debian's `etcd-server`, v3 API) as Patroni's configuration store. Everything listens on
# 127.0.0.1 ports and lives in the lab's PostgreSQL home (.blockstore, or its /tmp fallback).
#
# Why these settings (see docs/operations.md for production):
# - synchronous_mode: the primary acknowledges a commit only once the standby has it, and Patroni
#   promotes only a synchronous standby: a failover loses no commit a cmdlet was told about.
# - master_start_timeout 0: when the primary's postmaster dies, fail over at once instead of
#   restarting it in place (the chaos task's "kill -9 of the primary's postmaster" is a failover).
# - use_pg_rewind (with wal_log_hints): the old primary rejoins as a standby by itself.
# - ttl 10 / loop_wait 1: a failover in a few seconds, so the chaos task measures the product, not waits.
# - fsync off, synchronous_commit on: as the single-server lab (the OS does not crash here).

# A part of Lab.psm1 (dot-sourced there): it uses the lab's Get-LabFreePort, ConvertTo-LabShellWord,
# Test-LabPidAlive, Stop-LabProcess and New-LabPassword.

$script:PatroniMemberNames = @('pg1', 'pg2')

function Start-LabPatroniProcess {
    <# Starts a detached process (own session), output appended to $Log; as -AsPostgres it runs as the postgres OS user. Returns its PID. #>
    param([string[]] $Command, [string] $Log, [string] $WorkingDirectory, [switch] $AsPostgres)
    $words = @($Command | ForEach-Object { ConvertTo-LabShellWord $_ })
    # setpriv execs in place (runuser would stay as a parent), so the PID is the program's own.
    if ($AsPostgres) { $words = @('setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups') + $words }
    $script = 'cd ' + (ConvertTo-LabShellWord $WorkingDirectory) + ' && { echo "=== start $(date -Is)" >> ' + (ConvertTo-LabShellWord $Log) +
        '; setsid ' + ($words -join ' ') + ' >> ' + (ConvertTo-LabShellWord $Log) + ' 2>&1 < /dev/null & echo $!; }'
    $out = & bash -c $script
    if ($LASTEXITCODE -ne 0 -or -not ("$out".Trim() -match '^\d+$')) { throw "could not start $($Command[0]): $out" }
    return [int]"$out".Trim()
}

function Get-LabPatroniMembers {
    <# The members of the lab's Patroni cluster from lab.json (ha.members). #>
    param([Parameter(Mandatory)][object] $Lab)
    return @($Lab.ha.members)
}

function Invoke-LabPatroniRest {
    <# GET on a member's Patroni REST API; returns the status code (0 when it does not answer). #>
    param([Parameter(Mandatory)][int] $Port, [string] $Path = '/primary')
    try {
        $r = Invoke-WebRequest -Uri "http://127.0.0.1:$Port$Path" -TimeoutSec 2 -SkipHttpErrorCheck -UseBasicParsing
        return [int]$r.StatusCode
    }
    catch { return 0 }
}

function Get-LabPatroniPrimary {
    <# The member (object from lab.json) that is the primary now, or $null while there is none. #>
    param([Parameter(Mandatory)][object] $Lab)
    foreach ($m in Get-LabPatroniMembers $Lab) {
        if ((Invoke-LabPatroniRest -Port $m.restPort -Path '/primary') -eq 200) { return $m }
    }
    return $null
}

function Test-LabPatroniSyncStandby {
    <# True when some member is the synchronous standby (GET /sync answers 200 there). #>
    param([Parameter(Mandatory)][object] $Lab)
    foreach ($m in Get-LabPatroniMembers $Lab) {
        if ((Invoke-LabPatroniRest -Port $m.restPort -Path '/sync') -eq 200) { return $true }
    }
    return $false
}

function Wait-LabPatroniHealthy {
    <# Waits until there is a primary and a synchronous standby; returns the primary or throws. #>
    param([Parameter(Mandatory)][object] $Lab, [int] $TimeoutSeconds = 180)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        $p = Get-LabPatroniPrimary $Lab
        if ($p -and (Test-LabPatroniSyncStandby $Lab)) { return $p }
        Start-Sleep -Milliseconds 500
    }
    $list = Invoke-LabPatroniCtl -Lab $Lab -Arguments @('list') -AllowFailure
    throw "The Patroni cluster has no primary with a synchronous standby after $TimeoutSeconds s:`n$($list -join "`n")`n(see .blockstore/logs/patroni-*.log)"
}

function Invoke-LabPatroniCtl {
    <# patronictl against the lab's cluster (its first member's configuration names the DCS). #>
    param([Parameter(Mandatory)][object] $Lab, [string[]] $Arguments, [switch] $AllowFailure)
    $cfg = (Get-LabPatroniMembers $Lab)[0].configFile
    return (Invoke-LabNative patronictl (@('-c', $cfg) + $Arguments) -TimeoutSeconds 120 -MergeError -AllowFailure:$AllowFailure)
}

function Get-LabPatroniPostmasterPid {
    <# The postmaster PID of a member (first line of postmaster.pid), or $null. #>
    param([Parameter(Mandatory)][object] $Member)
    $f = Join-Path $Member.dataDir 'postmaster.pid'
    $first = Get-Content -LiteralPath $f -TotalCount 1 -ErrorAction Ignore
    if ($first -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$first) -CommandLike 'postgres')) { return [int]$first }
    return $null
}

function New-LabPatroniCluster {
    <#
    Up -Ha: creates and starts the lab's Patroni cluster: etcd, then pg1 (which bootstraps the
    primary), then pg2 (which clones it with pg_basebackup and becomes the synchronous standby), and
    creates the database. Returns what New-LabPostgresCluster returns (the primary's port and socket)
    plus ha (for lab.json) and the member lists for connection strings.
    #>
    param([Parameter(Mandatory)][string] $StateDir, [Parameter(Mandatory)][string] $Repo)
    $settings = $script:LabSettings
    $PgBinDir = $settings.PgBinDir; $Superuser = $settings.User; $Database = $settings.Database
    $Scope = "bs-$(Get-LabTag -Repo $Repo)"
    # As for the single server: the lab's folder when the postgres user can reach it, else /tmp.
    $PgHome = Get-LabPgHome -Repo $Repo
    & runuser -u postgres -- test -x $StateDir 2>$null
    if ($LASTEXITCODE -ne 0 -or ((Join-Path $PgHome 'ha/pg1/run/.s.PGSQL.65535').Length -gt 100)) {
        $PgHome = Get-LabPgHome -Repo $Repo -Fallback
        New-Item -ItemType Directory -Force -Path $PgHome | Out-Null
        & chmod 755 $PgHome
    }
    foreach ($exe in 'patroni', 'patronictl', 'etcd') {
        if (-not (Get-Command $exe -CommandType Application -ErrorAction Ignore)) {
            throw "$exe is not installed: apt-get install -y patroni etcd-server python3-etcd (Up -Ha needs them)"
        }
    }
    $logDir = Join-Path $StateDir 'logs'
    $haDir = Join-Path $PgHome 'ha'
    # PID files of Patroni and etcd in pids/ha: the hosts' pids/*.pid are BlockStore processes only.
    New-Item -ItemType Directory -Force -Path $haDir, $logDir, (Join-Path $StateDir 'pids/ha') | Out-Null
    & chown postgres:postgres $haDir
    & chmod 700 $haDir

    # --- etcd (the DCS): data in the lab, client and peer ports on 127.0.0.1 ---------------------
    $etcdPort = Get-LabFreePort
    $etcdPeer = Get-LabFreePort
    $etcdData = Join-Path $haDir 'etcd'
    $etcdLog = Join-Path $logDir 'etcd.log'
    Write-LabStep "etcd on 127.0.0.1:$etcdPort (log .blockstore/logs/etcd.log)"
    $etcdPid = Start-LabPatroniProcess -Log $etcdLog -WorkingDirectory $haDir -Command @('etcd', '--name', 'etcd1', '--data-dir', $etcdData,
        '--listen-client-urls', "http://127.0.0.1:$etcdPort", '--advertise-client-urls', "http://127.0.0.1:$etcdPort",
        '--listen-peer-urls', "http://127.0.0.1:$etcdPeer", '--initial-advertise-peer-urls', "http://127.0.0.1:$etcdPeer",
        '--initial-cluster', "etcd1=http://127.0.0.1:$etcdPeer", '--initial-cluster-token', $Scope, '--logger', 'zap')
    Set-Content -LiteralPath (Join-Path $StateDir 'pids/ha/etcd.pid') -Value $etcdPid
    $ok = $false
    foreach ($i in 1..60) {
        try { Invoke-RestMethod -Uri "http://127.0.0.1:$etcdPort/health" -TimeoutSec 2 | Out-Null; $ok = $true; break } catch { Start-Sleep -Milliseconds 500 }
    }
    if (-not $ok) { throw "etcd did not answer on 127.0.0.1:$etcdPort within 30 s (see $etcdLog)" }

    # --- Patroni members --------------------------------------------------------------------------
    $superPass = New-LabPassword
    $replPass = New-LabPassword
    $members = foreach ($name in $script:PatroniMemberNames) {
        $dir = Join-Path $haDir $name
        $run = Join-Path $dir 'run'
        New-Item -ItemType Directory -Force -Path $dir, $run | Out-Null
        [ordered]@{
            name = $name; port = (Get-LabFreePort); restPort = (Get-LabFreePort)
            dataDir = (Join-Path $dir 'data'); socketDir = $run; configFile = (Join-Path $dir 'patroni.yml')
            log = (Join-Path $logDir "patroni-$name.log"); pidFile = (Join-Path $StateDir "pids/ha/patroni-$name.pid")
        }
    }
    foreach ($m in $members) {
        $yaml = @"
# Written by build.ps1 Up -Ha (tests/lab/Patroni.psm1); secrets: readable by postgres only.
scope: $Scope
name: $($m.name)
log:
  level: INFO
restapi:
  listen: 127.0.0.1:$($m.restPort)
  connect_address: 127.0.0.1:$($m.restPort)
etcd3:
  hosts: 127.0.0.1:$etcdPort
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    master_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        fsync: 'off'
        full_page_writes: 'on'
        synchronous_commit: 'on'
        wal_log_hints: 'on'
        max_connections: 200
        password_encryption: scram-sha-256
  initdb:
  - encoding: UTF8
  - locale: C
  - auth-local: trust
  - auth-host: scram-sha-256
postgresql:
  listen: 127.0.0.1:$($m.port)
  connect_address: 127.0.0.1:$($m.port)
  data_dir: $($m.dataDir)
  bin_dir: $PgBinDir
  pgpass: $(Join-Path (Split-Path $m.dataDir) 'pgpass')
  use_unix_socket: true
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser: {username: $Superuser, password: '$superPass'}
    replication: {username: replicator, password: '$replPass'}
    rewind: {username: $Superuser, password: '$superPass'}
  pg_hba:
  # The superuser over the unix socket without a password (root and postgres only can open it);
  # replication and pg_rewind between the members, and every product role, with SCRAM passwords.
  - local all $Superuser trust
  - local all all scram-sha-256
  - host replication replicator 127.0.0.1/32 scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
  parameters:
    unix_socket_directories: '$($m.socketDir)'
    unix_socket_permissions: '0700'
"@
        Set-Content -LiteralPath $m.configFile -Value $null
        & chmod 600 $m.configFile
        Set-Content -LiteralPath $m.configFile -Value $yaml
        & chown -R postgres:postgres (Split-Path $m.dataDir)
    }
    $ha = [ordered]@{
        scope = $Scope; etcdPort = $etcdPort; etcdPidFile = (Join-Path $StateDir 'pids/ha/etcd.pid'); etcdDataDir = $etcdData
        members = @($members | ForEach-Object { [pscustomobject]$_ })
    }
    $haLab = [pscustomobject]@{ ha = [pscustomobject]$ha }
    foreach ($m in $members) {
        Write-LabStep "Patroni $($m.name): PostgreSQL on 127.0.0.1:$($m.port), REST on $($m.restPort) (log .blockstore/logs/patroni-$($m.name).log)"
        Start-LabPatroniMember -Member ([pscustomobject]$m) -HaDir $haDir | Out-Null
        if ($m.name -eq $script:PatroniMemberNames[0]) {
            # pg1 bootstraps (initdb) and becomes the primary before pg2 clones it.
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            while (-not (Get-LabPatroniPrimary $haLab)) {
                if ([DateTime]::UtcNow -gt $deadline) { throw "Patroni $($m.name) did not become primary within 120 s (see $($m.log))" }
                Start-Sleep -Milliseconds 500
            }
        }
    }
    $primary = Wait-LabPatroniHealthy -Lab $haLab -TimeoutSeconds 180
    Write-Host "Patroni cluster $Scope`: primary $($primary.name), synchronous standby ready"
    Invoke-LabSql "CREATE DATABASE $Database" -Database 'postgres' -Lab ([pscustomobject]@{ host = '127.0.0.1'; port = $primary.port; socketDir = $primary.socketDir
            user = $Superuser; pgBinDir = $PgBinDir; database = 'postgres' }) | Out-Null
    return [pscustomobject]@{
        pgHome = $PgHome; pgDataDir = $primary.dataDir; socketDir = $primary.socketDir; port = $primary.port; host = '127.0.0.1'
        user = $Superuser; pgBinDir = $PgBinDir
        ha = $haLab.ha
        # Npgsql: every member with its port; Target Session Attributes=primary picks the primary.
        tcpHosts = (@($members | ForEach-Object { "127.0.0.1:$($_.port)" }) -join ',')
        socketHosts = (@($members | ForEach-Object { "$($_.socketDir):$($_.port)" }) -join ',')
    }
}

function Start-LabPatroniMember {
    <# Starts one member's Patroni (as postgres); it starts and manages that member's PostgreSQL. #>
    param([Parameter(Mandatory)][object] $Member, [string] $HaDir)
    if (-not $HaDir) { $HaDir = Split-Path (Split-Path $Member.dataDir) }
    $p = Start-LabPatroniProcess -AsPostgres -Log $Member.log -WorkingDirectory $HaDir -Command @('patroni', $Member.configFile)
    Set-Content -LiteralPath $Member.pidFile -Value $p
    return $p
}

function Get-LabPatroniPid {
    param([Parameter(Mandatory)][object] $Member)
    $t = Get-Content -LiteralPath $Member.pidFile -Raw -ErrorAction Ignore
    if ($t -and $t.Trim() -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$t.Trim()) -CommandLike 'patroni')) { return [int]$t.Trim() }
    return $null
}

function Stop-LabPatroniCluster {
    <#
    Stops every Patroni member (each stops its PostgreSQL), any postmaster left in the HA data
    folders, and etcd. Works from the PID files and data folders alone (no lab.json needed).
    Returns whether anything was running.
    #>
    param([Parameter(Mandatory)][string] $StateDir, [string[]] $PgHomes)
    $did = $false
    $pidDir = Join-Path $StateDir 'pids/ha'
    foreach ($f in @(Get-ChildItem -LiteralPath $pidDir -Filter 'patroni-*.pid' -File -ErrorAction Ignore)) {
        $t = (Get-Content -LiteralPath $f.FullName -Raw -ErrorAction Ignore)
        if ($t -and $t.Trim() -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$t.Trim()) -CommandLike 'patroni')) {
            Write-Host "stopping $($f.BaseName) (pid $($t.Trim()))"
            Stop-LabProcess -ProcessId ([int]$t.Trim()) -CommandLike 'patroni' -TimeoutSeconds 40
            $did = $true
        }
        Remove-Item -LiteralPath $f.FullName -Force -ErrorAction Ignore
    }
    foreach ($pgHomeDir in $PgHomes) {
        foreach ($pm in @(Get-ChildItem -Path (Join-Path $pgHomeDir 'ha/*/data/postmaster.pid') -File -ErrorAction Ignore)) {
            $first = Get-Content -LiteralPath $pm.FullName -TotalCount 1 -ErrorAction Ignore
            if ($first -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$first) -CommandLike 'postgres')) {
                Write-Host "stopping the postmaster left in $($pm.DirectoryName) (pid $first)"
                Stop-LabProcess -ProcessId ([int]$first) -CommandLike 'postgres' -TimeoutSeconds 20
                $did = $true
            }
        }
    }
    $etcdPidFile = Join-Path $pidDir 'etcd.pid'
    $t = Get-Content -LiteralPath $etcdPidFile -Raw -ErrorAction Ignore
    if ($t -and $t.Trim() -match '^\d+$' -and (Test-LabPidAlive -ProcessId ([int]$t.Trim()) -CommandLike 'etcd')) {
        Write-Host "stopping etcd (pid $($t.Trim()))"
        Stop-LabProcess -ProcessId ([int]$t.Trim()) -CommandLike 'etcd' -TimeoutSeconds 10
        $did = $true
    }
    Remove-Item -LiteralPath $etcdPidFile -Force -ErrorAction Ignore
    return $did
}

function Invoke-LabPatroniKillPrimary {
    <#
    Fault: SIGKILL of the primary's postmaster (its backends die with it). Patroni on that member
    gives up the leader key at once (master_start_timeout 0) and the synchronous standby is promoted;
    the old primary rejoins as a standby. Returns the member that was killed.
    #>
    param([Parameter(Mandatory)][object] $Lab)
    $primary = Get-LabPatroniPrimary $Lab
    if (-not $primary) { throw 'no primary to kill' }
    $pm = Get-LabPatroniPostmasterPid $primary
    if (-not $pm) { throw "no postmaster PID for $($primary.name)" }
    & kill -KILL $pm
    return $primary
}

function Invoke-LabPatroniSwitchover {
    <#
    A planned switchover to the synchronous standby (patronictl switchover --force). -NoWait: started
    in the background (the caller goes on sending requests meanwhile) and the process is returned;
    else returns when it is done. Output appended to the lab's logs/patronictl.log.
    #>
    param([Parameter(Mandatory)][object] $Lab, [switch] $NoWait)
    $primary = Get-LabPatroniPrimary $Lab
    if (-not $primary) { throw 'no primary to switch over from' }
    $candidate = @(Get-LabPatroniMembers $Lab | Where-Object name -NE $primary.name)[0]
    $ctlArgs = @('-c', (Get-LabPatroniMembers $Lab)[0].configFile, 'switchover', '--leader', $primary.name, '--candidate', $candidate.name, '--force')
    if (-not $NoWait) { Invoke-LabNative patronictl $ctlArgs -TimeoutSeconds 120 -MergeError | Out-Null; return $candidate.name }
    $psi = [System.Diagnostics.ProcessStartInfo]::new('timeout')
    foreach ($a in @('-k', '5', '120', 'patronictl') + $ctlArgs) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    return [pscustomobject]@{ Process = $p; Candidate = $candidate.name }
}
