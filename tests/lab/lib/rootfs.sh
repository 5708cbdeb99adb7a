# shellcheck shell=bash
# The base root filesystem for lab containers: Debian bookworm, debootstrap
# minbase plus what a booted node needs (systemd as PID 1, dbus, iproute2,
# ping, OpenVPN, curl, gnupg, procps). Built once per package list and kept
# under $GEOSTAGE_TEST_CACHE/rootfs-<hash>, shared by every run and checkout
# on the machine; containers never write to it (each gets an overlayfs).
#
#   rootfs_ensure [EXTRA_PKG...]   prints the cached rootfs directory,
#                                  building it first when missing
#
# The hash covers the suite, the variant, the sorted package list and
# ROOTFS_RECIPE (bump it when the post-processing below changes), so a
# changed list builds a new directory and never reuses a stale one.
# Extra packages make a separate cached rootfs (e.g. cloud-init): a copy of
# the base with the extras installed by apt in a chroot (debootstrap's own
# resolver cannot do virtual packages, which cloud-init's dependencies
# need). The base's downloaded .debs stay in $GEOSTAGE_TEST_CACHE/debs.
#
# Parallel runs: an flock per hash (waited for up to 15 min) makes one run
# build while the others wait; the build happens in a temp dir next to the
# target and is renamed into place only when complete, so a killed build
# leaves no half rootfs behind (its temp dir is removed by the next build).
#
# By hand:  bash tests/lab/lib/rootfs.sh [EXTRA_PKG...]

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROOTFS_SUITE=bookworm
ROOTFS_VARIANT=minbase
ROOTFS_RECIPE=1
ROOTFS_PACKAGES=(systemd systemd-sysv dbus iproute2 iputils-ping openvpn
	ca-certificates apt-transport-https curl gnupg procps)

# rootfs_mirror: the Debian mirror this machine's apt uses (deb822 file
# first, then one-line sources.list entries).
rootfs_mirror() {
	local m=
	local f
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# The first stanza whose Suites has the bare suite name.
		m=$(awk -v s="$ROOTFS_SUITE" '
			BEGIN { RS = ""; FS = "\n" }
			{
				uri = ""; ok = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri = u[1] }
					if ($i ~ /^Suites:/) { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == s) ok = 1 }
				}
				if (ok && uri != "") { print uri; exit }
			}' "$f")
		[ -n "$m" ] && break
	done
	if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
		m=$(awk -v s="$ROOTFS_SUITE" '$1 == "deb" {
				i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i+1) == s) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || m=http://deb.debian.org/debian
	printf '%s\n' "$m"
}

# rootfs_key [EXTRA_PKG...]: the cache key (16 hex digits).
rootfs_key() {
	{
		echo "suite=$ROOTFS_SUITE variant=$ROOTFS_VARIANT recipe=$ROOTFS_RECIPE"
		printf '%s\n' "${ROOTFS_PACKAGES[@]}" "$@" | sort -u
	} | sha256sum | cut -c1-16
}

# rootfs_path [EXTRA_PKG...]: where that rootfs is (or would be) cached.
rootfs_path() { echo "$GEOSTAGE_TEST_CACHE/rootfs-$(rootfs_key "$@")"; }

_rootfs_build() { # DIR PKG...
	local dir=$1 mirror pkgs
	shift
	pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
	mirror=$(rootfs_mirror)
	mkdir -p "$GEOSTAGE_TEST_CACHE/debs"
	lab_log "debootstrap $ROOTFS_SUITE ($ROOTFS_VARIANT +$pkgs) from $mirror into $dir"
	# debootstrap checks the Release signature with the host's keyring.
	if ! debootstrap --variant="$ROOTFS_VARIANT" --include="$pkgs" \
		--cache-dir="$GEOSTAGE_TEST_CACHE/debs" \
		"$ROOTFS_SUITE" "$dir" "$mirror" >"$dir.log" 2>&1; then
		tail -n 30 "$dir.log" >&2
		[ -f "$dir/debootstrap/debootstrap.log" ] && tail -n 30 "$dir/debootstrap/debootstrap.log" >&2
		return 1
	fi
	# Every container gets its own machine id at boot: systemd writes one
	# into an empty /etc/machine-id (nspawn passes container_uuid too).
	: >"$dir/etc/machine-id"
	rm -f "$dir/var/lib/dbus/machine-id"
	ln -s /etc/machine-id "$dir/var/lib/dbus/machine-id"
	# Units that fail or waste boot time in a container without hardware.
	local u
	for u in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
		e2scrub_all.timer fstrim.timer e2scrub_reap.service \
		getty@tty1.service console-getty.service; do
		ln -sf /dev/null "$dir/etc/systemd/system/$u"
	done
	# No OpenVPN instance starts by itself; tests start the ones they want.
	rm -f "$dir/etc/systemd/system/multi-user.target.wants/openvpn.service"
	# apt inside containers: no recommends, keep nothing, wait for the lock.
	cat >"$dir/etc/apt/apt.conf.d/90geostage-lab" <<-'EOF'
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		DPkg::Lock::Timeout "900";
		Acquire::Languages "none";
	EOF
	# The mirror is not reachable from inside the lab: containers use only
	# the lab's own repositories, which tests add themselves.
	rm -f "$dir/etc/apt/sources.list"
	: >"$dir/etc/apt/sources.list"
	rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*.bin
	find "$dir/var/cache/apt/archives" -name '*.deb' -delete 2>/dev/null || true
	echo "lab" >"$dir/etc/hostname"
	{
		echo "suite=$ROOTFS_SUITE variant=$ROOTFS_VARIANT recipe=$ROOTFS_RECIPE"
		echo "mirror=$mirror"
		echo "packages=$pkgs"
		echo "built=$(date -u +%FT%TZ)"
	} >"$dir/etc/geostage-lab-rootfs"
}

# _rootfs_add BASE DIR PKG...: DIR = a copy of BASE with PKG... installed
# by apt inside a chroot (apt resolves what debootstrap cannot: virtual
# packages such as python3-cffi-backend-api-min, needed by cloud-init).
_rootfs_add() {
	local base=$1 dir=$2 mirror rc=0
	shift 2
	mirror=$(rootfs_mirror)
	lab_log "copying $base and adding $* from $mirror"
	cp -a "$base/." "$dir/" || return 1
	rm -f "$dir/etc/geostage-lab-rootfs"
	echo "deb $mirror $ROOTFS_SUITE main" >"$dir/etc/apt/sources.list"
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	mount -t proc proc "$dir/proc" || return 1
	{
		chroot "$dir" apt-get -q update &&
			chroot "$dir" apt-get -q -y install --no-install-recommends "$@" &&
			chroot "$dir" apt-get clean
	} >"$dir.log" 2>&1 || rc=1
	umount "$dir/proc" || umount -l "$dir/proc"
	rm -f "$dir/usr/sbin/policy-rc.d"
	: >"$dir/etc/apt/sources.list"
	rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*.bin
	: >"$dir/etc/machine-id"
	if [ "$rc" -ne 0 ]; then
		tail -n 30 "$dir.log" >&2
		return 1
	fi
	{
		echo "suite=$ROOTFS_SUITE variant=$ROOTFS_VARIANT recipe=$ROOTFS_RECIPE"
		echo "base=$base"
		echo "mirror=$mirror"
		echo "packages=$(printf '%s\n' "${ROOTFS_PACKAGES[@]}" "$@" | sort -u | paste -sd, -)"
		echo "built=$(date -u +%FT%TZ)"
	} >"$dir/etc/geostage-lab-rootfs"
}

# rootfs_ensure [EXTRA_PKG...]: print the cached rootfs, building it when
# missing (with extra packages: the base first, then a copy of it with
# the extras added). Needs root; installs debootstrap when it is missing.
rootfs_ensure() {
	local target lock tmp t0 fd base=
	target=$(rootfs_path "$@")
	if [ -f "$target/etc/geostage-lab-rootfs" ]; then
		echo "$target"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || lab_skip "building the base rootfs needs root"
	if [ $# -gt 0 ]; then
		base=$(rootfs_ensure) || return 1
	fi
	lab_need_pkgs debootstrap
	mkdir -p "$GEOSTAGE_TEST_CACHE"
	chmod 755 "$GEOSTAGE_TEST_CACHE"
	lock=$target.lock
	exec {fd}>"$lock"
	lab_log "waiting for the rootfs lock $lock (up to 900 s)"
	flock -w 900 "$fd" || { exec {fd}>&-; lab_fail "timed out waiting for $lock"; }
	if [ ! -f "$target/etc/geostage-lab-rootfs" ]; then
		# Leftovers of killed builds (we hold the lock: nobody else builds).
		local old
		for old in "$target".tmp.*; do
			[ -d "$old" ] || continue
			umount "$old/proc" 2>/dev/null
			rm -rf --one-file-system "$old" "$old.log"
		done
		tmp=$(mktemp -d "$target.tmp.XXXXXX")
		t0=$(lab_now)
		if [ -n "$base" ]; then
			_rootfs_add "$base" "$tmp" "$@"
		else
			_rootfs_build "$tmp" "${ROOTFS_PACKAGES[@]}"
		fi || {
			umount "$tmp/proc" 2>/dev/null
			rm -rf --one-file-system "$tmp" "$tmp.log"
			exec {fd}>&-
			lab_fail "building $target failed (see above)"
		}
		chmod 755 "$tmp"
		mv "$tmp.log" "$tmp/var/log/geostage-lab-rootfs-build.log" 2>/dev/null || true
		# A stale target without the stamp (an older, broken recipe).
		[ -e "$target" ] && rm -rf --one-file-system "$target"
		mv -T "$tmp" "$target"
		sync -f "$target" 2>/dev/null || true
		lab_log "built $target in $(lab_elapsed "$t0") s ($(du -sh --one-file-system "$target" | cut -f1))"
	fi
	exec {fd}>&-
	echo "$target"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	rootfs_ensure "$@"
fi
