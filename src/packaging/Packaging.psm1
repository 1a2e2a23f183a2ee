# build.ps1 Package: the module as a .nupkg for PSResourceGet and the two hosts as Debian packages,
# into out/packages/. Runs after Build (it packs out/BlockStore as Build laid it out, and the agent's
# hosts' native executables from out/hosts/; it never writes into out/hosts/, which a running lab uses).
# What the packages hold and why: docs/operations.md, "Packages and systemd".

Set-StrictMode -Version 3.0
$PSNativeCommandUseErrorActionPreference = $false

$script:Debian = Join-Path $PSScriptRoot 'debian'

# The two hosts: project, package name, and what the package needs besides the C library and
# OpenSSL that .NET's native code itself loads.
$script:PackageHosts = @(
    [ordered]@{
        # Both hosts are the native executables Build published (NativeAOT): what the lab runs, with
        # no .NET runtime to carry (memory and start-up: docs/benchmarks.md, issues 11 and 16).
        Name = 'scheduler'; Project = 'BlockStore.Scheduler'
        Depends = @('adduser')
        Recommends = @()
        Summary = 'BlockStore scheduler: places volume requests on volume hosts'
    }
    [ordered]@{
        Name = 'agent'; Project = 'BlockStore.Agent'
        Depends = @('lvm2')
        # iSCSI export (LIO); without targetcli the agent serves volumes and reports no 'iscsi' capability.
        Recommends = @('targetcli-fb', 'thin-provisioning-tools')
        Summary = 'BlockStore volume agent: LVM volumes and iSCSI exports on a storage host'
    }
)

# Shared libraries a .NET 10 app on Debian 12 may load (the .NET runtime's own list, kept for the
# NativeAOT hosts: OpenSSL for the database's TLS, libicu not at all: InvariantGlobalization).
$script:RuntimeDepends = @('libc6 (>= 2.31)', 'libgcc-s1', 'libstdc++6', 'libssl3', 'zlib1g', 'ca-certificates')

function Get-BlockStoreVersion {
    <# The one version of the module, the assemblies and the packages: module/BlockStore.psd1's ModuleVersion. #>
    param([Parameter(Mandatory)][string] $Repo)
    return [string](Import-PowerShellDataFile -LiteralPath (Join-Path $Repo 'module/BlockStore.psd1')).ModuleVersion
}

function Invoke-PackageNative([string] $FilePath, [string[]] $ArgumentList) {
    # Output to the console (a publish prints for minutes); a failure throws with the command line.
    & $FilePath @ArgumentList | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "$FilePath $($ArgumentList -join ' ') exited $LASTEXITCODE" }
}

function New-BlockStorePackages {
    <#
    Writes out/packages/BlockStore.<ver>.nupkg, blockstore-scheduler_<ver>_amd64.deb and
    blockstore-agent_<ver>_amd64.deb; returns their paths. Needs out/BlockStore (build.ps1 Build).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Repo)
    $version = Get-BlockStoreVersion -Repo $Repo
    $module = Join-Path $Repo 'out/BlockStore'
    $builtManifest = Join-Path $module 'BlockStore.psd1'
    if (-not (Test-Path -LiteralPath $builtManifest)) { throw "out/BlockStore is missing: run build.ps1 Build first." }
    $builtVersion = [string](Import-PowerShellDataFile -LiteralPath $builtManifest).ModuleVersion
    if ($builtVersion -ne $version) { throw "out/BlockStore is version $builtVersion, module/BlockStore.psd1 says ${version}: run build.ps1 Build first." }

    $dest = Join-Path $Repo 'out/packages'
    $work = Join-Path $dest 'tmp'
    Remove-Item -LiteralPath $dest -Recurse -Force -ErrorAction Ignore
    New-Item -ItemType Directory -Force -Path $dest, $work | Out-Null

    Write-Host "==> the module -> out/packages/BlockStore.$version.nupkg" -ForegroundColor Cyan
    # Compress-PSResource (PSResourceGet, in PowerShell 7.6) packs a module folder as Publish-PSResource
    # would, without a repository to register: the psd1's metadata becomes the nuspec.
    Compress-PSResource -Path $module -DestinationPath $dest
    $nupkg = Join-Path $dest "BlockStore.$version.nupkg"
    if (-not (Test-Path -LiteralPath $nupkg)) { throw "Compress-PSResource did not write $nupkg" }
    $packages = @($nupkg)

    foreach ($h in $script:PackageHosts) {
        $packages += New-BlockStoreHostPackage -Repo $Repo -HostSpec $h -Version $version -WorkDir $work -Destination $dest
    }
    Remove-Item -LiteralPath $work -Recurse -Force
    return $packages
}

function New-BlockStoreHostPackage {
    param([string] $Repo, [System.Collections.IDictionary] $HostSpec, [string] $Version, [string] $WorkDir, [string] $Destination)
    $name = $HostSpec.Name
    $package = "blockstore-$name"
    $tree = Join-Path $WorkDir $package
    $lib = Join-Path $tree "usr/lib/blockstore/$name"
    $exe = Join-Path $lib $HostSpec.Project
    # Build's NativeAOT executable alone (not its debug symbols); its version is the one of the
    # assembly it was compiled from.
    $built = Join-Path $Repo "out/hosts/$name/$($HostSpec.Project)"
    $assembly = Join-Path $Repo "src/$($HostSpec.Project)/bin/Release/net10.0/linux-x64/$($HostSpec.Project).dll"
    if (-not (Test-Path -LiteralPath $built) -or -not (Test-Path -LiteralPath $assembly)) { throw "$built is missing: run build.ps1 Build first." }
    # A tree from an older Build (ReadyToRun, framework-dependent) has an apphost of that name that
    # is nothing without its .dll beside it: never package that.
    if (Test-Path -LiteralPath (Join-Path $Repo "out/hosts/$name/$($HostSpec.Project).dll")) { throw "out/hosts/$name is not a NativeAOT publish: run build.ps1 Build again." }
    Write-Host "==> out/hosts/$name/$($HostSpec.Project) (NativeAOT, linux-x64) -> /usr/lib/blockstore/$name" -ForegroundColor Cyan
    New-Item -ItemType Directory -Force -Path $lib | Out-Null
    Copy-Item -LiteralPath $built -Destination $exe
    if (-not (Test-Path -LiteralPath $exe)) { throw "the package tree of $($HostSpec.Project) has no $exe" }
    $assemblyVersion = [System.Reflection.AssemblyName]::GetAssemblyName($assembly).Version.ToString(3)
    if ($assemblyVersion -ne $Version) { throw "$($HostSpec.Project).dll is version $assemblyVersion, module/BlockStore.psd1 says $Version" }

    $unitDir = Join-Path $tree 'lib/systemd/system'
    $etc = Join-Path $tree 'etc/blockstore'
    $control = Join-Path $tree 'DEBIAN'
    New-Item -ItemType Directory -Force -Path $unitDir, $etc, $control | Out-Null
    Copy-Item -LiteralPath (Join-Path $script:Debian "$package.service") -Destination $unitDir
    Copy-Item -LiteralPath (Join-Path $script:Debian "$name.json") -Destination $etc

    foreach ($maintainerScript in 'postinst', 'prerm', 'postrm') {
        $source = Join-Path $script:Debian $maintainerScript
        if (-not (Test-Path -LiteralPath $source)) { $source = Join-Path $script:Debian "$maintainerScript.$name" }
        # Unix line ends whatever the checkout did; @UNIT@ in the shared scripts is this package's unit.
        $text = (Get-Content -LiteralPath $source -Raw).Replace("`r`n", "`n").Replace('@UNIT@', "$package.service")
        [System.IO.File]::WriteAllText((Join-Path $control $maintainerScript), $text)
    }
    Set-Content -LiteralPath (Join-Path $control 'conffiles') -Value "/etc/blockstore/$name.json" -NoNewline:$false

    $installedKiB = [long][Math]::Ceiling(((Get-ChildItem -LiteralPath $tree -Recurse -File |
                    Where-Object { -not $_.FullName.StartsWith($control) } | Measure-Object -Property Length -Sum).Sum) / 1024)
    $fields = [ordered]@{
        Package = $package; Version = $Version; Architecture = 'amd64'
        Maintainer = 'BlockStore.Ps team <blockstore@example.invalid>'
        'Installed-Size' = $installedKiB; Section = 'admin'; Priority = 'optional'
        Depends = (@($script:RuntimeDepends) + @($HostSpec.Depends)) -join ', '
    }
    if ($HostSpec.Recommends.Count -gt 0) { $fields.Recommends = $HostSpec.Recommends -join ', ' }
    $fields.Homepage = 'https://example.invalid/blockstore-ps'
    $how = 'A native executable: needs no .NET runtime.'
    $fields.Description = "$($HostSpec.Summary)`n Part of BlockStore.Ps. $how`n Configure /etc/blockstore/$name.json, then: systemctl start $package"
    $lines = foreach ($k in $fields.Keys) { "${k}: $($fields[$k])" }
    [System.IO.File]::WriteAllText((Join-Path $control 'control'), (($lines -join "`n") + "`n"))

    # Modes as installed (dpkg-deb --root-owner-group makes everything root's): directories and
    # files readable by all, the configuration by its owner only (it will hold a password), the
    # maintainer scripts and the host executable runnable.
    Invoke-PackageNative chmod @('-R', 'u=rwX,go=rX', $tree)
    Invoke-PackageNative chmod @('0600', (Join-Path $etc "$name.json"))
    Invoke-PackageNative chmod @('0755', $exe, (Join-Path $control 'postinst'), (Join-Path $control 'prerm'), (Join-Path $control 'postrm'))

    $deb = Join-Path $Destination "${package}_${Version}_amd64.deb"
    Write-Host "==> dpkg-deb --build -> out/packages/$(Split-Path -Leaf $deb)" -ForegroundColor Cyan
    Invoke-PackageNative dpkg-deb @('--root-owner-group', '--build', $tree, $deb)
    return $deb
}

Export-ModuleMember -Function Get-BlockStoreVersion, New-BlockStorePackages
