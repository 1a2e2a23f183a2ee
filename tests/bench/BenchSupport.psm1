# What every benchmark under tests/bench needs: the lab and the module loaded, timing, the
# statistics of a sample, and bare LVM commands run as the agent runs them. Benchmarks measure and
# print; they never assert a timing (the machines are shared and noisy).

Set-StrictMode -Version 3.0

function Initialize-BenchLab {
    <#
    Loads the test helpers and the built module (globally: the calling script uses both), points
    the module at the running lab and returns @{ Repo; Lab; VgOf = host name -> its VG }.
    -ModulePath: another build of the module (a before/after comparison), default out/BlockStore.
    #>
    param([string] $ModulePath)
    $repo = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
    if (-not $env:BLOCKSTORE_REPO) { $env:BLOCKSTORE_REPO = $repo }
    $env:LVM_SUPPRESS_FD_WARNINGS = '1'
    $env:LC_ALL = 'C'
    Import-Module (Join-Path $repo 'tests/pester/TestHelpers.psm1') -Force -DisableNameChecking -Global
    Import-Module $(if ($ModulePath) { $ModulePath } else { Join-Path $repo 'out/BlockStore/BlockStore.psd1' }) -Force -Global
    $lab = Get-LabInfo
    $env:BLOCKSTORE_CONNECTION = $lab.connectionString
    # Bare LVM commands read the LVM configuration the lab's agents read (tests/lab/Lvm.ps1
    # New-LabLvmSystemDir), so a bare lvcreate is the agent's own command, side by side.
    if (Get-LabLvmSystemDir -Lab $lab) { $env:LVM_SYSTEM_DIR = $lab.lvmSystemDir }
    $vgOf = @{}; foreach ($n in $lab.nodes) { $vgOf[$n.name] = $n.vg }
    return [pscustomobject]@{ Repo = $repo; Lab = $lab; VgOf = $vgOf }
}

function Invoke-Timed {
    <# Runs the block and returns how long it took, in milliseconds (its output is discarded). #>
    param([Parameter(Mandatory)][scriptblock] $Block)
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    & $Block | Out-Null
    $sw.Stop()
    return $sw.Elapsed.TotalMilliseconds
}

function Get-Median {
    param([double[]] $Values)
    $s = @($Values | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    if ($s.Count % 2) { return $s[($s.Count - 1) / 2] }
    return ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2
}

function Get-P95 {
    <# The 95th percentile, nearest rank. #>
    param([double[]] $Values)
    $s = @($Values | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    return $s[[math]::Min($s.Count - 1, [math]::Ceiling(0.95 * $s.Count) - 1)]
}

function Invoke-Lvm {
    <# A bare LVM command (full path or tool name), with the arguments as a list; throws with its output when it fails. #>
    param([Parameter(Mandatory)][string] $Exe, [string[]] $Arguments)
    $path = if ([System.IO.Path]::IsPathRooted($Exe)) { $Exe } else { (Get-Command $Exe -CommandType Application | Select-Object -First 1).Source }
    $out = & $path @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed: $out" }
}

function Get-BenchMachine {
    <# "N cores, <cpu model>, load <1-min load>": what a result line says about where it was measured. #>
    $cpu = (Get-Content /proc/cpuinfo | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^model name\s*:\s*', ''
    return "$([Environment]::ProcessorCount) cores, $cpu, load $((Get-Content /proc/loadavg).Split(' ')[0])"
}

function Measure-InGuest {
    <#
    Runs a command in the lab's guest (LabGuest.psm1's Invoke-LabGuest) and returns how long it took
    there, in ms: timed inside the guest (date +%s%N around it), so ssh is not counted against LVM.
    #>
    param([Parameter(Mandatory)][object] $Guest, [Parameter(Mandatory)][string] $Command)
    $out = Invoke-LabGuest -Guest $Guest -Command "s=`$(date +%s%N); $Command >/dev/null 2>&1 || exit 9; e=`$(date +%s%N); echo `$(( (e - s) / 1000 ))"
    return [double]@($out)[-1] / 1000
}

function New-CreateBaselines {
    <#
    The bare baselines of a warm New-BlockVolume, on the connection string the module uses (call
    after Initialize-BenchLab). Returns an object with:
      .Bare(name)             the old baseline: one INSERT ... RETURNING of the volume row alone, as
                              'deleted' (no quota or ledger triggers, no operation, event or NOTIFY),
                              on a connection of its own data source, held open;
      .Equal(name, zone)      the same work as the cmdlet: the module's own data layer
                              (VolumeRequests.CreateAsync: the same statements in one batch, the same
                              pooled data source), without PowerShell: returns its time in ms, taken
                              in C# around the call;
      .Dispose()
    So cmdlet / Equal is what PowerShell and the cmdlet add, and Equal / Bare the server's work.
    #>
    param([Parameter(Mandatory)][string] $ConnectionString)
    $assemblies = [AppDomain]::CurrentDomain.GetAssemblies()
    # The module's engine context holds Npgsql and BlockStore.Data (loaded by the first cmdlet call).
    $npgsql = $assemblies | Where-Object { $_.GetName().Name -eq 'Npgsql' } | Select-Object -First 1
    $data = $assemblies | Where-Object { $_.GetName().Name -eq 'BlockStore.Data' } | Select-Object -First 1
    if (-not $npgsql -or -not $data) { throw 'New-CreateBaselines: run a BlockStore cmdlet first (the engine assemblies are not loaded yet).' }
    $source = $npgsql.GetType('Npgsql.NpgsqlDataSource')::Create($ConnectionString)
    $conn = $source.OpenConnection()
    # The module's StoreConnection for the same string: the same pooled data source as the cmdlets'.
    $store = $data.GetType('BlockStore.Data.StoreConnection')::new($ConnectionString, 'blockstore-pwsh')
    $requests = $data.GetType('BlockStore.Data.VolumeRequests')::new($store)
    $o = [pscustomobject]@{ Source = $source; Connection = $conn; Requests = $requests }
    $o | Add-Member -MemberType ScriptMethod -Name Bare -Value {
        param([string] $Name)
        $cmd = $this.Connection.CreateCommand()
        $cmd.CommandText = "INSERT INTO bs.volumes (id, name, size_gib, status) VALUES (gen_random_uuid(), `$1, 1, 'deleted') RETURNING id, name, size_gib, status, created_at"
        $p = $cmd.CreateParameter(); $p.Value = $Name; [void]$cmd.Parameters.Add($p)
        $r = $cmd.ExecuteReader(); [void]$r.Read(); $r.Dispose(); $cmd.Dispose()
    }
    # Timed in C# around the call alone: PowerShell calling an async .NET method (overload
    # resolution, the Task adapter) costs more than the cmdlet itself, and is not the cmdlet's work.
    # The helper resolves BlockStore.Data through the module's engine context (ModuleInitializer).
    if (-not ('BenchCreateTimer' -as [type])) {
        $refs = @($data.Location, [BlockStore.Core.BlockVolume].Assembly.Location, [System.Threading.Tasks.Task].Assembly.Location,
            [System.Diagnostics.Stopwatch].Assembly.Location, [object].Assembly.Location)
        $netstandard = Join-Path ([System.IO.Path]::GetDirectoryName([object].Assembly.Location)) 'System.Runtime.dll'
        Add-Type -ReferencedAssemblies ($refs + $netstandard | Select-Object -Unique) -TypeDefinition @'
public static class BenchCreateTimer
{
    public static double Create(BlockStore.Data.VolumeRequests requests, string name, string zone)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        requests.CreateAsync(name, 1, zone, null, false, null, null, default).GetAwaiter().GetResult();
        return sw.Elapsed.TotalMilliseconds;
    }
}
'@
    }
    $o | Add-Member -MemberType ScriptMethod -Name Equal -Value {
        param([string] $Name, [string] $Zone)
        [BenchCreateTimer]::Create($this.Requests, $Name, $Zone)
    }
    $o | Add-Member -MemberType ScriptMethod -Name Dispose -Value { $this.Connection.Dispose(); $this.Source.Dispose() }
    return $o
}

Export-ModuleMember -Function Initialize-BenchLab, New-CreateBaselines, Invoke-Timed, Get-Median, Get-P95, Invoke-Lvm, Get-BenchMachine, Measure-InGuest
