# The Debian packages the lab needs, installed with apt-get when missing (CI's list is .ci/run).

# package -> a file it installs (a command is looked up on PATH and in /usr/sbin).
$script:LabPackages = [ordered]@{
    'postgresql-15' = '/usr/lib/postgresql/15/bin/initdb'; lvm2 = 'lvcreate'; 'thin-provisioning-tools' = 'thin_check'; mount = 'losetup'
}
# The guest: qemu and the image tools; libiscsi-bin and qemu-io (with its iSCSI driver) for the tests' initiators.
$script:LabGuestPackages = [ordered]@{
    'qemu-system-x86' = 'qemu-system-x86_64'; debootstrap = 'debootstrap'; cpio = 'cpio'; zstd = 'zstd'; kmod = 'modprobe'
    'openssh-client' = 'ssh'; 'libiscsi-bin' = 'iscsi-inq'; 'qemu-utils' = 'qemu-io'
    'qemu-block-extra' = '/usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so'
}

# Up -Ha: Patroni, its etcd v3 client and etcd (tests/lab/Patroni.ps1).
$script:LabHaPackages = [ordered]@{ patroni = 'patroni'; 'etcd-server' = 'etcd'; 'python3-etcd' = '/usr/lib/python3/dist-packages/etcd' }

function Install-LabPackages {
    <# Installs the lab's packages (-Guest: the guest's, -Ha: Patroni's) that are missing; without root, says which. #>
    param([switch] $Guest, [switch] $Ha)
    $table = if ($Guest) { $script:LabGuestPackages } elseif ($Ha) { $script:LabHaPackages } else { $script:LabPackages }
    $need = @(foreach ($p in $table.Keys) {
            $file = $table[$p]
            $present = if ($file.StartsWith('/')) { Test-Path -LiteralPath $file }
            else { [bool](Get-Command $file -CommandType Application -ErrorAction Ignore) -or (Test-Path -LiteralPath "/usr/sbin/$file") }
            if (-not $present) { $p }
        })
    if ($need.Count -eq 0) { return }
    $for = if ($Guest) { ' for the guest' } elseif ($Ha) { ' for Up -Ha' } else { '' }
    if (-not (Test-LabIsRoot)) { throw "Missing packages${for}: $($need -join ', '). Install them as root: sudo apt-get install -y $($need -join ' ')" }
    Write-LabStep "apt-get install $($need -join ' ')"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-LabNative apt-get @('update', '-q') -TimeoutSeconds 0 -ToHost
    Invoke-LabNative apt-get (@('install', '-y', '-q', '--no-install-recommends') + $need) -TimeoutSeconds 0 -ToHost
}
