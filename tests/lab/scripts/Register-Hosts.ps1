# Onboards lab storage hosts with the module, as an operator would (run by Register-LabHosts in a
# fresh pwsh): Register-BlockVolumeHost -OutFile writes each agent's root-only configuration.
param(
    [Parameter(Mandatory)][string] $Module,
    [Parameter(Mandatory)][string] $Connection,
    # A JSON array of @{ name; zone; configFile; databaseHost (optional) }.
    [Parameter(Mandatory)][string] $HostsJson
)
$ErrorActionPreference = 'Stop'
Import-Module $Module
$env:BLOCKSTORE_CONNECTION = $Connection
foreach ($h in @(Get-Content -LiteralPath $HostsJson -Raw | ConvertFrom-Json)) {
    $extra = @{}
    if ($h.PSObject.Properties['databaseHost'] -and $h.databaseHost) { $extra['DatabaseHost'] = $h.databaseHost }
    $r = Register-BlockVolumeHost -HostName $h.name -Zone $h.zone -OutFile $h.configFile -PassThru -Confirm:$false @extra
    Write-Host "registered $($r.HostName): role $($r.Role), configuration $($r.ConfigurationPath)"
}
