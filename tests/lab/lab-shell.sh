#!/usr/bin/env bash
# An interactive lab: builds the topology (and, with arguments, boots
# containers), then opens a shell with every lab function loaded. Leaving
# the shell removes everything (containers, namespaces, processes, mounts,
# cgroups, the temp dir). Not a test: for trying one piece by hand.
#
#   sudo bash tests/lab/lab-shell.sh [NAME:SITE:ADDR ...]
#   e.g. sudo bash tests/lab/lab-shell.sh tk1:tokyo:192.168.20.10 fr1:frankfurt:192.168.30.10
#
# Inside:  container_exec tk1 ping -c1 203.0.113.40
#          container_sh tk1 'systemctl status --no-pager'
#          net_exec r-master nft list ruleset
#          ip netns exec "$(net_ns srv)" ip addr
#          nsenter -t "$(container_leader tk1)" -a      (a shell inside tk1)
# A container booted inside the shell is stopped when the shell exits.

LAB_TEST_NAME=lab-shell
. "$(dirname "$0")/lib/common.sh"
. "$LAB_LIB_DIR/rootfs.sh"
. "$LAB_LIB_DIR/net.sh"
. "$LAB_LIB_DIR/container.sh"
. "$LAB_LIB_DIR/apt-repo.sh"
. "$LAB_LIB_DIR/ovpn.sh"

lab_require_root_tun
lab_init
lab_need_pkgs debootstrap systemd-container nftables iproute2 iputils-ping \
	openvpn openssl socat busybox apt-utils gnupg curl
net_setup
for spec in "$@"; do
	IFS=: read -r name site addr <<<"$spec"
	[ -n "$addr" ] || lab_fail "want NAME:SITE:ADDR, got '$spec'"
	container_prepare "$name" "$(net_add_host "$name" "$site" "$addr")"
	container_boot "$name"
done
for spec in "$@"; do
	container_wait_running "${spec%%:*}" 90 >/dev/null
done

rc=$LAB_TMP/shellrc
cat >"$rc" <<EOF
. "$LAB_LIB_DIR/common.sh"
. "$LAB_LIB_DIR/rootfs.sh"
. "$LAB_LIB_DIR/net.sh"
. "$LAB_LIB_DIR/container.sh"
. "$LAB_LIB_DIR/apt-repo.sh"
. "$LAB_LIB_DIR/ovpn.sh"
set +u +o pipefail
trap lab_cleanup EXIT
PS1="lab[$LAB_RUN] \\w# "
echo "lab $LAB_RUN: namespaces:"; ip netns list | awk -v p="$LAB_RUN-" 'index(\$1, p) == 1 {print "  " \$1}'
echo "containers: $*"
echo "temp dir: $LAB_TMP (removed when you leave)"
EOF
LAB_RUN=$LAB_RUN LAB_TMP=$LAB_TMP bash --rcfile "$rc" -i || true
