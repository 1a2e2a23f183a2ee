# The lab's building blocks, one file per concern: native commands under a deadline (Native.ps1),
# where the lab lives and its description (Info.ps1), PostgreSQL, LVM, host processes, packages.
# Used by build.ps1 (through LabTasks.psm1), the tests (through tests/pester/TestHelpers.psm1),
# the guest module and the benchmarks alike, so every lab command line exists once.

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false
# LVM prints "File descriptor N leaked" for every fd it inherits; the lab does not care.
$env:LVM_SUPPRESS_FD_WARNINGS = '1'

foreach ($part in 'Native', 'Info', 'Postgres', 'Patroni', 'Lvm', 'Hosts', 'Packages') { . (Join-Path $PSScriptRoot "$part.ps1") }

Export-ModuleMember -Function *-Lab*
