# shellcheck shell=bash disable=SC2154 # build-image's globals
# SPDX-License-Identifier: MIT
#
# The output half of build-image (sourced by it): the tree written as a
# directory, a tar, or a raw or qcow2 disk with an MBR, one ext4
# partition made by mkfs.ext4 -d and GRUB's boot code written straight
# into the file (no loop device, no grub-install). Uses build-image's
# globals (format, out, work, root, t0) and helpers (die, say, in_root).

le() { # VALUE BYTES: little-endian bytes as printf escapes
	local v=$1 n=$2 i s=
	for ((i = 0; i < n; i++)); do
		s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255)))
	done
	printf '%s' "$s"
}
poke() { # FILE OFFSET ESCAPES
	# shellcheck disable=SC2059
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# install_grub DISK TREE: GRUB's boot.img in the MBR, core.img in the gap
# after it (sectors 1..2047), done by hand as grub-bios-setup would for an
# embedded core.img with no Reed-Solomon codes: no device needed.
install_grub() {
	local disk=$1 tree=$2 g=$2/boot/grub/i386-pc core_sectors
	core_sectors=$((($(stat -c %s "$g/core.img") + 511) / 512))
	[ "$core_sectors" -lt 2000 ] || die "core.img is too big for the MBR gap"
	dd if="$g/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
	# diskboot.img's block list (the last 12 bytes of core.img's first
	# sector): the rest of core.img starts at sector 2.
	poke "$disk" $((1024 - 12)) "$(le 2 8)$(le $((core_sectors - 1)) 2)$(le $((0x820)) 2)"
	# boot.img: code up to the disk signature (the partition table stays),
	# then where core.img is (0x5c), the BIOS's boot drive (0x64 = 0xff),
	# and the hard disk workaround (0x66: the drive check's jmp as nops).
	dd if="$g/boot.img" of="$disk" bs=1 count=440 conv=notrunc status=none
	poke "$disk" $((0x5c)) "$(le 1 8)"
	poke "$disk" $((0x64)) '\xff'
	poke "$disk" $((0x66)) '\x90\x90'
}

# write_raw TREE FILE: an MBR disk, one bootable Linux partition from
# 1 MiB to the end holding an ext4 made from TREE by mkfs.ext4 -d.
write_raw() {
	local tree=$1 file=$2 bytes used mib sectors
	if [ "$size" = auto ]; then
		used=$(du -sx --block-size=1M "$tree" | cut -f1)
		mib=$((used * 3 / 2 + 512))
	else
		bytes=$(numfmt --from=iec "${size%B}") || die "--size '$size'"
		mib=$((bytes / 1048576))
	fi
	[ "$mib" -ge 64 ] || die "--size is too small"
	sectors=$(((mib - 1) * 2048))
	mkfs.ext4 -q -F -L "$ROOT_LABEL" -E offset=1048576 -d "$tree" "$file" "$((mib - 1))M" \
		>"$work/mkfs.log" 2>&1 || { cat "$work/mkfs.log" >&2; die "mkfs.ext4 -d"; }
	truncate -s "${mib}M" "$file"
	# The partition table: entry 1 active, type 0x83, LBA 2048, then 0x55AA.
	poke "$file" 446 "\\x80\\xfe\\xff\\xff\\x83\\xfe\\xff\\xff$(le 2048 4)$(le "$sectors" 4)"
	poke "$file" 510 '\x55\xaa'
	if [ "$kernel" = yes ] && [ "$bootloader" = 1 ]; then
		install_grub "$file" "$tree"
		say "bootable: GRUB in the MBR, root=LABEL=$ROOT_LABEL"
	elif [ "$kernel" = yes ]; then
		say "no bootloader (--no-bootloader): boot it with qemu -kernel/-initrd from the image's /boot"
	else
		say "NOT bootable: no kernel (--kernel yes for one)"
	fi
}

write_out() { # TREE
	local tree=$1
	case $format in
	dir) mv -T "$tree" "$out" ;;
	tar)
		tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$tree" -capf "$work/out.tar${out##*.tar}" . ||
			die "tar"
		mv "$work/out.tar${out##*.tar}" "$out"
		;;
	raw)
		write_raw "$tree" "$work/disk.raw"
		mv "$work/disk.raw" "$out"
		;;
	qcow2)
		write_raw "$tree" "$work/disk.raw"
		qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2" || die "qemu-img convert"
		mv "$work/disk.qcow2" "$out"
		;;
	esac
	say "wrote $out ($format, $(du -sh --apparent-size "$out" | cut -f1) apparent, $(du -sh "$out" | cut -f1) on disk) in $(($(date +%s) - t0)) s"
}
