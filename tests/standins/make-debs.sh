#!/usr/bin/env bash
# STAND-IN (geostage tests): builds kubeadm, kubelet and kubectl .debs
# whose names and versions are the real ones (kubeadm_1.31.2-1.1_amd64.deb,
# as pkgs.k8s.io numbers them) but whose programs are the stand-ins in
# this directory, so that the agent's `apt-get install kubeadm=1.31.2-1.1`
# and `apt-mark hold` run for real in the system tests.
#
# Usage: tests/standins/make-debs.sh OUTDIR VERSION      (VERSION: 1.31.2)
#
# The programs are compiled here, without sanitizers (an ASan build does
# not run in a minimal Debian 12 container), dynamically linked against
# libc6, libssl3, libjansson4, libcurl4 and libsystemd0, which each
# package's Depends: names. CC, STANDIN_DEB_CFLAGS override the compiler
# and its flags. Needs dpkg-deb, pkg-config and the -dev packages of
# tools/deps.sh. Nothing on the host is installed or changed.
set -euo pipefail

die() {
	echo "make-debs.sh: $*" >&2
	exit 1
}

[ $# -eq 2 ] || die "usage: make-debs.sh OUTDIR VERSION (e.g. 1.31.2)"
out=$1
version=${2#v}
[[ $version =~ ^1\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
	die "VERSION must look like 1.31.2, not '$2'"
for c in dpkg-deb dpkg pkg-config objdump "${CC:-cc}"; do
	command -v "$c" >/dev/null || die "needs $c"
done

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/standins
arch=$(dpkg --print-architecture)
debver=$version-1.1
work=$(mktemp -d "${TMPDIR:-/tmp}/standin-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# --- the programs -------------------------------------------------------

printf '#define _GNU_SOURCE 1\n' >"$work/config.h"
read -ra cflags <<<"${STANDIN_DEB_CFLAGS:--O2 -Wall -Wextra -Wformat=2 -Wshadow -Wvla -Wno-unused-parameter}"
read -ra libs <<<"$(pkg-config --cflags --libs libssl libcrypto jansson libcurl libsystemd)"

compile() {
	local bin=$1
	shift
	"${CC:-cc}" -std=gnu11 "${cflags[@]}" -include "$work/config.h" \
		-I"$work" -I"$top/lib" -I"$here" -DSTANDIN_VERSION="\"$version\"" \
		-o "$work/$bin" "$@" "${libs[@]}" -Wl,--as-needed ||
		die "cannot compile $bin"
}

compile kubeadm "$here"/kubeadm.c "$here"/kubeadm-config.c \
	"$here"/kubeadm-discovery.c "$here"/kubeadm-kubelet.c \
	"$here"/kubeadm-join.c "$here"/common.c "$here"/version.c \
	"$top"/lib/b64.c "$top"/lib/crypto.c "$top"/lib/fileio.c \
	"$top"/lib/log.c "$top"/lib/name.c
compile kubelet "$here"/kubelet.c "$here"/version.c
compile kubectl "$here"/kubectl.c "$here"/version.c

# The newest GLIBC_x.y symbol version the binary uses.
glibc_needed() {
	objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' |
		sort -uV | tail -n 1
}

# Depends: from what the binary really links (DT_NEEDED).
depends() {
	local lib deps=()
	for lib in $(objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }'); do
		case $lib in
		libc.so.6) deps+=("libc6 (>= $(glibc_needed "$1"))") ;;
		libssl.so.3 | libcrypto.so.3) deps+=("libssl3 (>= 3.0.0)") ;;
		libjansson.so.4) deps+=("libjansson4 (>= 2.14)") ;;
		libcurl.so.4) deps+=("libcurl4 (>= 7.85.0)") ;;
		libsystemd.so.0) deps+=("libsystemd0") ;;
		*) die "$1 links $lib, which no Depends: covers" ;;
		esac
	done
	printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

# --- the packages -------------------------------------------------------

# package NAME DESCRIPTION: $work/NAME.root is the tree; builds the .deb.
package() {
	local name=$1 desc=$2 root=$work/$1.root
	mkdir -p "$root/DEBIAN" "$root/usr/bin" \
		"$root/usr/share/geostage-standin/$name" "$root/usr/share/doc/$name"
	install -m 0755 "$work/$name" "$root/usr/bin/$name"
	echo "$version" >"$root/usr/share/geostage-standin/$name/version"
	cat >"$root/usr/share/doc/$name/README.standin" <<-EOT
		This is a STAND-IN for geostage's tests, not the real $name.
		See tests/standins/README.md in the geostage sources.
	EOT
	cat >"$root/DEBIAN/control" <<-EOT
		Package: $name
		Version: $debver
		Architecture: $arch
		Maintainer: geostage tests <geostage-tests@example.invalid>
		Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
		Depends: $(depends "$work/$name")
		Section: admin
		Priority: optional
		Homepage: https://kubernetes.io
		Description: $desc (geostage STAND-IN, not the real $name)
		 STAND-IN for geostage's tests only: not the real $name. It has the
		 real package's name, version and file paths, so that installing,
		 pinning and holding it exercise apt for real.
	EOT
	find "$root" -type d -exec chmod 0755 {} +
	dpkg-deb --root-owner-group -Zxz --build "$root" \
		"$out/${name}_${debver}_${arch}.deb" >/dev/null ||
		die "dpkg-deb failed for $name"
	echo "$out/${name}_${debver}_${arch}.deb"
}

# kubeadm: the real package's kubelet drop-in, so that the kubelet unit
# reads the flags `kubeadm join` writes.
d=$work/kubeadm.root/usr/lib/systemd/system/kubelet.service.d
mkdir -p "$d"
cat >"$d/10-kubeadm.conf" <<'EOT'
# STAND-IN (geostage tests): the drop-in of the real kubeadm package.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
EOT
chmod 0644 "$d/10-kubeadm.conf"
package kubeadm "Command-line utility for administering a Kubernetes cluster"

# kubelet: the real unit (crash-loops until `kubeadm join`, as the real
# one does), enabled and started on install when systemd runs.
r=$work/kubelet.root
mkdir -p "$r/usr/lib/systemd/system" "$r/etc/kubernetes/manifests" "$r/DEBIAN"
cat >"$r/usr/lib/systemd/system/kubelet.service" <<'EOT'
[Unit]
Description=kubelet: The Kubernetes Node Agent (geostage STAND-IN)
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
EOT
cat >"$r/DEBIAN/postinst" <<'EOT'
#!/bin/sh
set -e
if [ "$1" = configure ] && command -v systemctl >/dev/null; then
	systemctl enable kubelet.service >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
		systemctl restart kubelet.service || true
	fi
fi
EOT
cat >"$r/DEBIAN/prerm" <<'EOT'
#!/bin/sh
set -e
if [ "$1" = remove ] && command -v systemctl >/dev/null; then
	[ ! -d /run/systemd/system ] || systemctl stop kubelet.service || true
	systemctl disable kubelet.service >/dev/null 2>&1 || true
fi
EOT
chmod 0644 "$r/usr/lib/systemd/system/kubelet.service"
chmod 0755 "$r/DEBIAN/postinst" "$r/DEBIAN/prerm"
package kubelet "Node agent for Kubernetes clusters"

package kubectl "Command-line utility for interacting with a Kubernetes cluster"
