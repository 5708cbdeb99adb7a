#!/usr/bin/env bash
# System test: the node image (packaging/image/build-image).
#
# 1. The image, as a directory, built with build-image from the lab's
#    cached cloud-init rootfs (--from-rootfs) and local .debs: the agent
#    from `make deb` (sys_debs), the kubeadm/kubelet/kubectl STAND-IN .debs
#    at 1.31.2 (gs_standin_debs), Debian's containerd and its runc
#    (gs_debian_debs). Cached under $GEOSTAGE_TEST_CACHE/image-<hash>,
#    keyed by build-image itself and every input.
# 2. The master site as the lab runs it (apt repository, Kubernetes API
#    STAND-IN, geostage-bootstrap, OpenVPN), no scenario nodes.
# 3. A container booted from the image (a throwaway overlay over it) on the
#    lab's standalone host, seeded with NoCloud user-data = what
#    `geostage-bootstrap token create --output cloud-init` prints; the agent
#    (started at boot and by runcmd) enrolls, joins; asserted: done, every
#    step done, the packages step installed nothing (dpkg.log, dpkg's
#    database untouched, no apt run in the journal, containerd's config
#    unchanged), the host step rewrote none of its files, a Node at the API
#    stand-in with the VPN address as InternalIP. Prints
#    "boot→done: N.N s" (container start to the agent's done file).
# 4. The other formats written (build-image --from-image) and checked: tar
#    of the container image (lists /usr/bin/geostage-enrolld); raw and
#    qcow2 of a second cached image built with --kernel yes (partition
#    table, GRUB in the MBR and the gap after it, e2fsck -fn of the file
#    system at its offset, the agent in it; qemu-img info and check).
# 5. With IMAGE_TEST_BOOT=1: that qcow2 boots under qemu (software
#    emulation, -snapshot, no network beyond qemu's restricted user net):
#    BIOS, GRUB, Linux, systemd, no failed unit, a login prompt on the
#    serial console. ~1 min on a quiet 2-core machine, but many minutes
#    (and boot timeouts inside the VM) when other tests load it: not by
#    default.
#    IMAGE_TEST_KERNEL=0 leaves out the kernel image (and the boot; the
#    raw and qcow2 checks then use the container image).
#
# Skips (77) without root or /dev/net/tun. KEEP=1 keeps the run's temp dir;
# IMAGE_TEST_GEOSTAGE_DEBS=DIR takes the geostage .debs from DIR instead of
# building them (sys_debs, make deb), e.g. while the tree does not pass
# lintian.
#
# container_prepare wants a lab rootfs (/etc/geostage-lab-rootfs). The
# image is not one and stays as build-image wrote it: the test mounts a
# read-only overlay of a one-file stamp layer over the image and boots the
# container on that view.

# shellcheck source=lib/debs.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/debs.sh"

IMAGE_TEST_RECIPE=1
# IMAGE_TEST_KERNEL=0: no image with a kernel (~80 s and ~900 MB of cache
# less; the raw and qcow2 checks then use the container image).
# IMAGE_TEST_BOOT=1: boot the qcow2 under qemu (implies the kernel).
: "${IMAGE_TEST_KERNEL:=1}" "${IMAGE_TEST_BOOT:=0}"
[ "$IMAGE_TEST_BOOT" = 1 ] && IMAGE_TEST_KERNEL=1
IMG_NAME=img1
IMG_SCRIPT=$GS_TOP/packaging/image/build-image

gs_prereqs
[ -x "$IMG_SCRIPT" ] || lab_fail "no $IMG_SCRIPT"
lab_need_pkgs debootstrap systemd-container nftables iproute2 iputils-ping \
	openvpn openssl socat busybox apt-utils gnupg curl jq binutils pkg-config gcc \
	e2fsprogs qemu-utils
[ "$IMAGE_TEST_BOOT" = 1 ] && lab_need_pkgs qemu-system-x86
lab_init

# --- 1. the image -----------------------------------------------------------
_img_build() { # KERNEL CI_ROOTFS DEBDIR... OUT
	local args=() out kernel=$1 rootfs=$2
	out=${*: -1}
	shift 2
	while [ $# -gt 1 ]; do
		args+=(--debs "$1")
		shift
	done
	lab_log "build-image --from-rootfs $rootfs ${args[*]} --kernel $kernel --format dir"
	"$IMG_SCRIPT" --from-rootfs "$rootfs" "${args[@]}" --kernel "$kernel" \
		--kubernetes-version "$GS_K8S_VERSION" --require-kubernetes \
		--format dir --out "$out/image" >"$out/build.log" 2>&1 || {
		tail -n 30 "$out/build.log" >&2
		return 1
	}
	# The lab's stamp, for container_prepare, in a layer of its own.
	mkdir -p "$out/lab/etc"
	{
		echo "build-image output $out/image (see its /etc/geostage-image)"
		cat "$out/image/etc/geostage-image"
	} >"$out/lab/etc/geostage-lab-rootfs"
}

lab_time_start artefacts
GS_ROOTFS=$(rootfs_ensure) || lab_fail "base rootfs"
CI_ROOTFS=$(rootfs_ensure cloud-init) || lab_fail "cloud-init rootfs"
GS_STANDIN_DEBS=$(gs_standin_debs) || lab_fail "stand-in .debs"
GS_DEBIAN_DEBS=$(gs_debian_debs "$GS_ROOTFS") || lab_fail "Debian .debs"
if [ -n "${IMAGE_TEST_GEOSTAGE_DEBS:-}" ]; then
	SYS_DEBS=$IMAGE_TEST_GEOSTAGE_DEBS
	lab_log "the geostage .debs from IMAGE_TEST_GEOSTAGE_DEBS=$SYS_DEBS, not make deb"
else
	SYS_DEBS=$(sys_debs) || lab_fail "geostage .debs (make deb)"
fi
compgen -G "$SYS_DEBS/geostage-enrolld_*.deb" >/dev/null || lab_fail "no geostage-enrolld .deb in $SYS_DEBS"
# image_cached KERNEL: the cached image dir (its parent has the lab layer).
image_cached() {
	local key
	key=$(_gs_hash "recipe=$IMAGE_TEST_RECIPE" "$IMG_SCRIPT" "${IMG_SCRIPT%/*}/disk.sh" "kernel=$1" \
		"rootfs=$(basename "$CI_ROOTFS")" "$CI_ROOTFS/etc/geostage-lab-rootfs" \
		"k8s=$GS_K8S_VERSION" "$SYS_DEBS"/geostage-enrolld_*.deb \
		"$(basename "$GS_STANDIN_DEBS")" "$(basename "$GS_DEBIAN_DEBS")")
	_gs_cached "$GEOSTAGE_TEST_CACHE/image-$key" _img_build "$1" "$CI_ROOTFS" \
		"$SYS_DEBS" "$GS_STANDIN_DEBS" "$GS_DEBIAN_DEBS"
}
lab_time_start image
IMG_CACHE=$(image_cached no) || lab_fail "image build"
lab_time_end image "node image for containers (dir, no kernel; cached: ~0)"
IMG=$IMG_CACHE/image
if [ "$IMAGE_TEST_KERNEL" = 1 ]; then
	lab_time_start vmimage
	VM_IMG=$(image_cached yes)/image || lab_fail "image build (--kernel yes)"
	lab_time_end vmimage "node image for VMs (dir, kernel + GRUB; cached: ~0)"
	lab_log "image with a kernel: $VM_IMG"
fi
lab_time_end artefacts "rootfs, .debs, image (cached: ~0)"
lab_log "image: $IMG ($(tr '\n' ' ' <"$IMG/etc/geostage-image"))"

# What the image must hold before anything boots from it.
img_check() {
	local f
	for f in usr/bin/geostage-enrolld usr/bin/kubeadm usr/bin/kubelet usr/bin/kubectl \
		usr/bin/containerd usr/sbin/openvpn usr/bin/cloud-init \
		etc/modules-load.d/geostage.conf etc/sysctl.d/90-geostage.conf \
		etc/containerd/config.toml etc/cloud/cloud.cfg.d/90-geostage-image.cfg; do
		[ -e "$IMG/$f" ] || lab_fail "the image has no /$f"
	done
	if [ ! -f "$IMG/etc/machine-id" ] || [ -s "$IMG/etc/machine-id" ]; then
		lab_fail "the image's /etc/machine-id is not an empty file"
	fi
	[ ! -e "$IMG/etc/geostage/token" ] || lab_fail "the image has a token"
	[ ! -e "$IMG/var/lib/geostage-enrolld" ] || lab_fail "the image has agent state"
	[ -L "$IMG/etc/systemd/system/multi-user.target.wants/geostage-enrolld.service" ] ||
		lab_fail "geostage-enrolld.service is not enabled in the image"
	[ -L "$IMG/etc/systemd/system/paths.target.wants/geostage-enrolld.path" ] ||
		lab_fail "geostage-enrolld.path is not enabled in the image"
	[ "$(chroot "$IMG" apt-mark showhold | sort | paste -sd' ')" = "kubeadm kubectl kubelet" ] ||
		lab_fail "kubeadm/kubelet/kubectl are not held in the image"
	# shellcheck disable=SC2016 # dpkg-query's own ${Version}
	[ "$(chroot "$IMG" dpkg-query -W -f='${Version}' kubeadm)" = "$GS_K8S_VERSION-1.1" ] ||
		lab_fail "kubeadm in the image is not $GS_K8S_VERSION-1.1"
	if [ -s "$IMG/etc/apt/sources.list" ] || [ -n "$(ls -A "$IMG/etc/apt/sources.list.d")" ]; then
		lab_fail "the image has apt sources (built with --debs only, it should have none)"
	fi
	grep -q 'datasource_list: \[ NoCloud, None \]' "$IMG/etc/cloud/cloud.cfg.d/90-geostage-image.cfg" ||
		lab_fail "no NoCloud datasource_list in the image"
}
img_check
lab_ok "image: agent, containerd, openvpn, cloud-init, kubeadm/kubelet/kubectl $GS_K8S_VERSION-1.1 held; units enabled; no token, no state, empty machine-id, no apt sources"

# --- 2. the master site -------------------------------------------------------
gs_workdir
# The site's repository has the agent too (cloud-init's "packages:" finds
# it installed at the same version).
cp "$SYS_DEBS"/geostage-enrolld_*.deb "$LAB_TMP/debs/"
gs_master_up

# --- 3. a node booted from the image ---------------------------------------------
# The read-only view: the lab stamp over the image.
VIEW=$LAB_TMP/image-view
mkdir -p "$VIEW"
mount -t overlay "overlay-$LAB_RUN-image-view" -o "lowerdir=$IMG_CACHE/lab:$IMG" "$VIEW" ||
	lab_fail "overlay view of the image"
lab_on_exit "umount '$VIEW' 2>/dev/null || umount -l '$VIEW'"

container_prepare "$IMG_NAME" "$(net_ns standalone)" "$VIEW"
C=$LAB_TMP/c/$IMG_NAME
B token create --site solo --role node --output cloud-init >"$LAB_TMP/user-data" ||
	lab_fail "token create --output cloud-init"
[ "$(head -n 1 "$LAB_TMP/user-data")" = '#cloud-config' ] || lab_fail "token create printed no #cloud-config"
cat >"$LAB_TMP/meta-data" <<EOF
instance-id: geostage-image-$LAB_RUN
local-hostname: $IMG_NAME
EOF
container_copy_in "$IMG_NAME" "$LAB_TMP/meta-data" /var/lib/cloud/seed/nocloud/meta-data
container_copy_in "$IMG_NAME" "$LAB_TMP/user-data" /var/lib/cloud/seed/nocloud/user-data 0600
DPKG_LINES=$(wc -l <"$IMG/var/log/dpkg.log")

lab_time_start node
GS_T0["$IMG_NAME"]=$(lab_now)
container_boot "$IMG_NAME"
gs_wait_done 180 "$IMG_NAME"
st=$(container_wait_running "$IMG_NAME" 60)
lab_time_end node "boot from the image to done (and the system up)"
# The clock stops when the agent wrote its done file (its mtime: the
# container shares the host's clock), not when the test looked.
done_at=$(stat -c '%.3Y' "$C/upper/var/lib/geostage-enrolld/done") ||
	lab_fail "no done file in $IMG_NAME's overlay"
echo "boot→done: $(awk -v a="${GS_T0[$IMG_NAME]}" -v b="$done_at" 'BEGIN { printf "%.1f", b - a }') s"

# Every step done; the agent ran once the token was there.
status=$(gs_status "$IMG_NAME") || lab_fail "geostage-enrolld status --json in $IMG_NAME"
echo "$status" >"$LAB_TMP/status.json"
[ "$(jq -r '[.steps[] | select(.state == "done")] | length' <<<"$status")" = ${#GS_STEPS[@]} ] || {
	gs_node_diag "$IMG_NAME"
	lab_fail "not every step is done: $(jq -c '[.steps[] | {(.name): .state}]' <<<"$status")"
}
lab_ok "$IMG_NAME: every step done (${GS_STEPS[*]})"
[ "$st" = running ] || lab_fail "$IMG_NAME booted '$st', expected running"
cis=$(container_exec "$IMG_NAME" timeout 60 cloud-init status --wait 2>&1) || true
[[ $cis == *"status: done"* ]] || lab_fail "cloud-init: $cis"
lab_ok "$IMG_NAME: system running, cloud-init done (NoCloud seed from token create --output cloud-init)"

# The packages step installed nothing.
pk_msg=$(jq -r '.steps[] | select(.name == "packages") | .message' <<<"$status")
lab_log "packages: $pk_msg"
new=$(container_exec "$IMG_NAME" tail -n "+$((DPKG_LINES + 1))" /var/log/dpkg.log)
if grep -E '^[0-9-]+ [0-9:.]+ (install|upgrade|remove|purge|configure) ' <<<"$new" >&2; then
	lab_fail "$IMG_NAME: dpkg installed or changed packages after the boot (above)"
fi
[ ! -e "$C/upper/var/lib/dpkg/status" ] || lab_fail "$IMG_NAME: dpkg's database changed after the boot"
jr=$(container_exec "$IMG_NAME" journalctl -u geostage-enrolld --no-pager -o cat)
# (its progress lines "packages: installing kubeadm ...", "packages:
# updating the package lists"; not the step's title "step 3/8: packages:
# installing the container runtime and kubeadm")
grep -q '^step [0-9]*/[0-9]*: packages:' <<<"$jr" || lab_fail "$IMG_NAME: no packages step in the agent's journal"
if grep -E '^packages: (installing|updating the package lists)' <<<"$jr" >&2; then
	lab_fail "$IMG_NAME: the packages step ran apt (above)"
fi
for p in kubeadm kubelet kubectl; do
	[[ $pk_msg == *"$p $GS_K8S_VERSION-1.1"[,\ ]*"held;"* ]] ||
		lab_fail "$IMG_NAME: packages step says '$pk_msg': no $p $GS_K8S_VERSION-1.1 held"
done
[[ $pk_msg == *"; containerd "*"(config unchanged"* ]] ||
	lab_fail "$IMG_NAME: packages step says '$pk_msg', expected containerd's config unchanged"
[[ $pk_msg == *"; openvpn "[0-9]* ]] || lab_fail "$IMG_NAME: packages step: no installed openvpn in '$pk_msg'"
[ ! -e "$C/upper/etc/containerd/config.toml" ] || lab_fail "$IMG_NAME: containerd's config was rewritten"
lab_ok "$IMG_NAME: the packages step installed nothing (no new dpkg.log lines, dpkg database untouched, no apt run): $pk_msg"

# The host step found its files in place.
host_msg=$(jq -r '.steps[] | select(.name == "host") | .message' <<<"$status")
lab_log "host: $host_msg"
for f in etc/modules-load.d/geostage.conf etc/sysctl.d/90-geostage.conf etc/fstab; do
	[ ! -e "$C/upper/$f" ] || lab_fail "$IMG_NAME: the host step rewrote /$f: $(diff "$IMG/$f" "$C/upper/$f" | head -n 5)"
done
lab_ok "$IMG_NAME: the host step rewrote none of its files (modules-load.d, sysctl.d, fstab)"

# The Node at the API stand-in, with the node's VPN address.
list=$(B node list --json) || lab_fail "node list --json"
node=$(jq -r --arg h "$IMG_NAME" '.[] | select(.hostname == $h) | .name' <<<"$list")
[ -n "$node" ] || lab_fail "no node for $IMG_NAME in node list: $list"
vpn=$(jq -r --arg n "$node" '.[] | select(.name == $n) | .vpn_address' <<<"$list")
[ "$(jq -r --arg n "$node" '.[] | select(.name == $n) | .step + "/" + .step_state' <<<"$list")" = done/done ] ||
	lab_fail "node list: $node is not done/done"
[ "$(gs_kube GET "/api/v1/nodes/$node")" = 200 ] || lab_fail "no Node $node at the Kubernetes API stand-in"
[ "$(jq -r '.status.addresses[] | select(.type == "InternalIP") | .address' "$LAB_TMP/kube.body")" = "$vpn" ] ||
	lab_fail "Node $node: InternalIP is not its VPN address $vpn"
lab_ok "Node $node registered at the API stand-in (STAND-IN) with InternalIP $vpn; node list: done/done"
container_stop "$IMG_NAME" 20

# --- 4. the other formats ----------------------------------------------------------
fmt() { # TREE FORMAT OUT
	local t0
	t0=$(lab_now)
	"$IMG_SCRIPT" --from-image "$1" --format "$2" --out "$3" >"$LAB_TMP/format-$2.log" 2>&1 || {
		cat "$LAB_TMP/format-$2.log" >&2
		lab_fail "build-image --from-image --format $2"
	}
	lab_log "$2: $(du -h --apparent-size "$3" | cut -f1) ($(du -h "$3" | cut -f1) on disk) in $(lab_elapsed "$t0") s"
}
lab_time_start formats
fmt "$IMG" tar "$LAB_TMP/node.tar"
# (grep reads every line: with -q and pipefail, tar's SIGPIPE would fail it)
tar -tf "$LAB_TMP/node.tar" >"$LAB_TMP/node.tar.list" || lab_fail "tar -tf"
grep -qx './usr/bin/geostage-enrolld' "$LAB_TMP/node.tar.list" || lab_fail "the tar has no ./usr/bin/geostage-enrolld"
grep -qx './etc/geostage-lab-rootfs' "$LAB_TMP/node.tar.list" && lab_fail "the tar has the lab's stamp"
lab_ok "tar: lists ./usr/bin/geostage-enrolld"
rm -f "$LAB_TMP/node.tar" "$LAB_TMP/node.tar.list"

# The disks: from the image with a kernel (bootable), else the other one.
DISK_IMG=${VM_IMG:-$IMG}
fmt "$DISK_IMG" raw "$LAB_TMP/node.raw"
mbr() { od -An -tx1 -j "$1" -N "$2" "$LAB_TMP/node.raw" | tr -d ' \n'; }
# One active Linux partition at 1 MiB, the 0x55AA signature.
[ "$(mbr 510 2)" = 55aa ] || lab_fail "raw: no MBR signature"
[ "$(mbr 446 1)" = 80 ] || lab_fail "raw: partition 1 is not active"
[ "$(mbr 450 1)" = 83 ] || lab_fail "raw: partition 1 is not type 83"
[ "$(od -An -tu4 -j 454 -N 4 "$LAB_TMP/node.raw" | tr -d ' ')" = 2048 ] || lab_fail "raw: partition 1 does not start at sector 2048"
e2fsck -fn "$LAB_TMP/node.raw?offset=1048576" >"$LAB_TMP/e2fsck.log" 2>&1 || {
	cat "$LAB_TMP/e2fsck.log" >&2
	lab_fail "raw: e2fsck -fn found errors"
}
debugfs -R 'stat /usr/bin/geostage-enrolld' "$LAB_TMP/node.raw?offset=1048576" >"$LAB_TMP/debugfs.log" 2>&1 || true
grep -q 'Type: regular' "$LAB_TMP/debugfs.log" || lab_fail "raw: no /usr/bin/geostage-enrolld in its file system"
lab_ok "raw: MBR with one active partition at 1 MiB; e2fsck -fn clean; /usr/bin/geostage-enrolld in it ($(tail -n 1 "$LAB_TMP/e2fsck.log"))"
if [ -n "${VM_IMG:-}" ]; then
	# GRUB's boot.img in the MBR (its "GRUB " string), core.img after it.
	dd if="$LAB_TMP/node.raw" bs=440 count=1 status=none | grep -a 'GRUB ' >/dev/null ||
		lab_fail "raw: no GRUB boot code in the MBR"
	cmp -s -n 512 <(dd if="$LAB_TMP/node.raw" bs=512 skip=2 count=1 status=none) \
		<(dd if="$VM_IMG/boot/grub/i386-pc/core.img" bs=512 skip=1 count=1 status=none) ||
		lab_fail "raw: no GRUB core.img after the MBR"
	lab_ok "raw: GRUB boot.img in the MBR, core.img in the gap after it"
fi
rm -f "$LAB_TMP/node.raw"

fmt "$DISK_IMG" qcow2 "$LAB_TMP/node.qcow2"
qemu-img info --output=json "$LAB_TMP/node.qcow2" >"$LAB_TMP/qcow2.json" || lab_fail "qemu-img info"
[ "$(jq -r .format "$LAB_TMP/qcow2.json")" = qcow2 ] || lab_fail "qcow2: qemu-img says $(jq -r .format "$LAB_TMP/qcow2.json")"
qemu-img check -q "$LAB_TMP/node.qcow2" || lab_fail "qcow2: qemu-img check"
lab_ok "qcow2: qemu-img info: qcow2, virtual size $(jq -r '."virtual-size"' "$LAB_TMP/qcow2.json") bytes; qemu-img check clean"
lab_time_end formats "tar, raw, qcow2 written and checked"

# --- 5. the qcow2 boots: BIOS, GRUB, the kernel, systemd, a login prompt ----------
# qemu without KVM (software emulation), the disk read-only (-snapshot),
# its only NIC on qemu's own user network with restrict=on, in a network
# namespace of its own (unshare -n): no packet leaves qemu.
if [ "$IMAGE_TEST_BOOT" = 1 ]; then
	lab_time_start qemu
	serial=$LAB_TMP/qemu-serial.log
	: >"$serial"
	lab_add_log "$serial"
	# (-nographic: SeaBIOS and GRUB's first lines go to the serial log too)
	unshare -n qemu-system-x86_64 -machine pc -m 768 -smp 1 -nographic -display none \
		-monitor none -serial "file:$serial" -snapshot \
		-drive "file=$LAB_TMP/node.qcow2,format=qcow2,if=virtio" \
		-netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
		>"$LAB_TMP/qemu.log" 2>&1 &
	QEMU_PID=$!
	lab_on_exit "lab_kill_pid $QEMU_PID 5"
	lab_add_log "$LAB_TMP/qemu.log"
	t0=$(lab_now)
	lab_wait 600 "a login prompt on the VM's serial console" grep -a -q 'login: ' "$serial"
	lab_log "qemu: power on to the login prompt in $(lab_elapsed "$t0") s (software emulation)"
	# GRUB's menu entry from the image's grub.cfg, on the serial console
	grep -a -q "Booting .Debian GNU/Linux, geostage node" "$serial" ||
		lab_fail "qemu: the VM did not boot the image's GRUB entry"
	if grep -a 'FAILED' "$serial" >&2; then
		lab_fail "qemu: units failed at boot (above)"
	fi
	lab_kill_pid "$QEMU_PID" 5
	lab_ok "qcow2 boots under qemu: GRUB, Linux, systemd, no failed unit, login prompt ($(grep -a -m1 -o '[a-z0-9-]* login: ' "$serial"))"
	lab_time_end qemu "qemu (no KVM): power on to the login prompt"
fi
rm -f "$LAB_TMP/node.qcow2"

lab_timings
echo "PASS: image"
