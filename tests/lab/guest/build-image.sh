#!/bin/bash
# Builds the lab's storage-host guest: a Debian bookworm minbase with a stock kernel, LVM (thick
# and thin), targetcli-fb (LIO) and D-Bus, packed as kernel + initramfs so qemu boots it without
# a root disk. The whole root file system lives in the initramfs (RAM); the VG lives on a virtual
# disk that build.ps1 creates per lab.
#
# Usage: build-image.sh <output-dir>     (run as root; writes <output-dir>/vmlinuz and initrd.cpio.zst)
# build.ps1 calls it only when <output-dir> (keyed by a hash of this folder) has no image yet.
set -euo pipefail
out=${1:?output directory}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${BLOCKSTORE_GUEST_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d /var/tmp/blockstore-guest.XXXXXX)
trap 'umount -R "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
root=$work/root

# systemd: the guest boots it as its init on request (bs.init=systemd), to run the agent from its
# .deb under systemd exactly as a storage server does (Package.Tests.ps1); by default /init runs alone.
packages=linux-image-amd64,lvm2,thin-provisioning-tools,targetcli-fb,dbus,openssh-server,iproute2,kmod,procps,ca-certificates,libicu72,systemd
echo "debootstrap bookworm minbase + $packages"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 || {
    tail -50 "$work/debootstrap.log"; exit 1; }

kver=$(ls "$root/lib/modules" | sort -V | tail -1)
mkdir -p "$out.tmp"
cp "$root/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"

# Keep only the modules the storage host needs (and what they depend on): the full set is ~400 MB
# of RAM in an initramfs root.
wanted="virtio_pci virtio_blk virtio_net 9pnet_virtio 9p dm_mod dm_thin_pool dm_snapshot target_core_mod
        target_core_iblock target_core_file target_core_user iscsi_target_mod crc32c_generic md5 sha1 sha256_generic af_packet"
keep=$work/keep.txt
: > "$keep"
for m in $wanted; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }' >> "$keep" || true
done
sort -u "$keep" -o "$keep"
find "$root/lib/modules/$kver/kernel" -type f | grep -vxF -f "$keep" | xargs rm -f
find "$root/lib/modules/$kver/kernel" -type d -empty -delete
depmod -b "$root" "$kver"
echo "modules kept: $(wc -l < "$keep")"

# Slim the root: no docs, locales, apt caches, initramfs of the package (we boot our own), firmware.
rm -rf "$root"/boot/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/lib/firmware/* "$root"/var/log/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C*' -exec rm -rf {} + 2>/dev/null || true

# LVM without udev in the guest: LVM creates the device nodes itself. No async I/O, as
# docs/operations.md advises for storage hosts: each LVM command's io_destroy waits for an RCU grace
# period (in this guest lvs took 800 ms with it, 700 without).
cat > "$root/etc/lvm/lvmlocal.conf" <<'LVM'
global {
    use_aio = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
}
devices {
    obtain_device_list_from_udev = 0
    use_devicesfile = 0
}
LVM
# Under systemd (bs.init=systemd): no periodic apt runs on a lab guest, and no login prompt on the
# serial console (it is the lab's boot log).
for unit in apt-daily.timer apt-daily-upgrade.timer serial-getty@ttyS0.service getty@tty1.service e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/bs-agent" "$root/usr/local/sbin/bs-agent"
echo "guest1" > "$root/etc/hostname"
mkdir -p "$root/root/.ssh" "$root/mnt/share" "$root/opt/blockstore/agent" "$root/opt/dotnet"
chmod 700 "$root/root/.ssh"
chroot "$root" ssh-keygen -A > /dev/null

(cd "$root" && find . -xdev -print0 | cpio --null -o -H newc --quiet | zstd -q -T0 -12 -o "$out.tmp/initrd.cpio.zst")
echo "$kver" > "$out.tmp/kernel-version"
rm -rf "$out"
mv "$out.tmp" "$out"
ls -la "$out"
