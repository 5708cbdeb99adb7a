# shellcheck shell=bash
# Booted containers for the lab: real systemd as PID 1 under
# systemd-nspawn, on a throwaway overlayfs over the cached base rootfs,
# attached to one of the lab's network namespaces.
#
#   container_prepare NAME NETNS [ROOTFS]   overlay mounted, nothing running:
#                                           copy files in before the boot
#   container_boot NAME [NSPAWN_ARG...]     start it (in the background)
#   container_wait_running NAME [TIMEOUT]   until systemctl is-system-running
#                                           says running or degraded; prints it
#   container_exec NAME CMD...              run CMD inside (all namespaces)
#   container_sh NAME 'SCRIPT'              sh -c SCRIPT inside
#   container_copy_in NAME SRC DEST [MODE]  copy a host file in (before or
#                                           after boot; symlinks inside the
#                                           container can never point the
#                                           write at the host)
#   container_leader NAME                   the host PID of its PID 1
#   container_stop NAME [TIMEOUT]           poweroff; KILL after TIMEOUT (20 s);
#                                           unmount, remove its cgroups
#
# Facts this relies on (all seen on Debian 12 hosts whose PID 1 is not
# systemd, cgroup v1 hybrid with name=systemd + unified):
# - systemd-nspawn needs --register=no --keep-unit (there is no machined
#   and no systemd to create a scope). Each container gets its own cgroup:
#   the launching subshell moves itself into /sys/fs/cgroup/systemd/<cg> and
#   /sys/fs/cgroup/unified/<cg> and then execs nspawn, which makes
#   <cg>/payload (the container) and <cg>/supervisor (itself).
# - --network-namespace-path=/run/netns/X attaches the container to a lab
#   namespace; nspawn is never started under `ip netns exec` (that
#   remounts /sys and breaks the container's view of it).
# - /dev/net/tun: `--bind=/dev/net/tun` is all it takes. Without systemd
#   on the host nobody installs a devices-cgroup policy for the container
#   (it sits in the root of the devices hierarchy, which allows every
#   device), so `--property=DeviceAllow=...` is neither needed nor
#   possible (nspawn applies --property only to a scope it registers).
#   Inside, systemd cannot write the (read-only) devices controller, so
#   openvpn-client@'s own DeviceAllow= lines are harmless.
# - OpenVPN inside needs CAP_NET_ADMIN: --capability=CAP_NET_ADMIN.
# - With --network-namespace-path, nspawn mounts all of /proc/sys read-only:
#   `sysctl -w net.ipv4.ip_forward=1` (a site gateway) fails. The
#   environment variable SYSTEMD_NSPAWN_API_VFS_WRITABLE=network makes
#   /proc/sys/net writable - per network namespace, so only the
#   container's own - and leaves the rest read-only (vm.*, kernel.*).
#   Containers cannot load modules either (no /lib/modules, no
#   CAP_SYS_MODULE), nor swapoff the host's swap.
# - Commands run with `nsenter -t <leader> -a`, under a clean environment
#   (env -i): they are not in the container's cgroup (systemd does not
#   see them as units); use systemctl/systemd-run inside for services.
# - poweroff = SIGRTMIN+4 to the container's PID 1: a booted minbase
#   container stops in well under a second.
#
# State per container: $LAB_TMP/c/NAME/{upper,work,merged,console.log,
# nspawn.pid,leader.pid,netns,rootfs}.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONTAINER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

_c_dir() { echo "${LAB_TMP:?lab_init first}/c/$1"; }
_c_machine() { echo "${LAB_RUN:?}-$1"; }
_c_cgroup() { echo "geostage-lab-${LAB_RUN:?}-$1"; }
# The cgroup hierarchies a container needs its own directory in: the
# name=systemd and unified ones on a hybrid (v1) host; the root on a
# pure cgroup v2 host (untested here: this machine kind is hybrid).
_c_hierarchies() {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		echo /sys/fs/cgroup
	else
		local h
		for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
			[ -d "$h" ] && echo "$h"
		done
	fi
}

# container_prepare NAME NETNS [ROOTFS]: overlay over ROOTFS (default:
# the cached base rootfs, built when missing), hostname NAME.
container_prepare() {
	local name=$1 netns=$2 rootfs=${3:-} d
	[[ $name =~ ^[a-z][a-z0-9-]{0,30}$ ]] || lab_fail "container name '$name'"
	[ -e "/run/netns/$netns" ] || lab_fail "no network namespace $netns"
	if [ -z "$rootfs" ]; then
		# shellcheck source=rootfs.sh
		. "$LAB_LIB_DIR/rootfs.sh"
		rootfs=$(rootfs_ensure) || lab_fail "no base rootfs"
	fi
	[ -f "$rootfs/etc/geostage-lab-rootfs" ] || lab_fail "$rootfs is not a lab rootfs"
	d=$(_c_dir "$name")
	[ -e "$d" ] && lab_fail "container $name exists already in this run"
	mkdir -p "$d/upper" "$d/work" "$d/merged"
	echo "$netns" >"$d/netns"
	echo "$rootfs" >"$d/rootfs"
	lab_on_exit "container_stop $name 10"
	mount -t overlay "overlay-$(_c_machine "$name")" \
		-o "lowerdir=$rootfs,upperdir=$d/upper,workdir=$d/work" "$d/merged" ||
		lab_fail "overlay mount for $name"
	echo "$name" >"$d/merged/etc/hostname"
	lab_add_log "$d/console.log"
}

# container_boot NAME [NSPAWN_ARG...]: start systemd-nspawn -b in the
# background, in the container's own cgroups; returns once PID 1 exists.
container_boot() {
	local name=$1 d cg machine netns pid h
	shift
	d=$(_c_dir "$name")
	[ -d "$d/merged/etc" ] || lab_fail "container_prepare $name first"
	[ -f "$d/nspawn.pid" ] && lab_fail "container $name already booted"
	command -v systemd-nspawn >/dev/null || lab_need_pkgs systemd-container
	cg=$(_c_cgroup "$name")
	machine=$(_c_machine "$name")
	netns=$(cat "$d/netns")
	for h in $(_c_hierarchies); do
		[ -e "$h/$cg" ] && lab_fail "cgroup $h/$cg exists: refusing to share it"
		mkdir "$h/$cg" || lab_fail "cannot create cgroup $h/$cg"
		echo "$h/$cg" >>"$d/cgroups"
	done
	[ -s "$d/cgroups" ] || lab_skip "no cgroup hierarchy to give container $name its own cgroup"
	(
		# Only this subshell (then nspawn, exec'd) moves into the cgroups.
		while read -r h; do
			echo "$BASHPID" >"$h/cgroup.procs" || exit 97
		done <"$d/cgroups"
		exec env -i PATH="$CONTAINER_PATH" TERM=dumb \
			SYSTEMD_NSPAWN_API_VFS_WRITABLE="${LAB_NSPAWN_API_VFS_WRITABLE:-network}" \
			systemd-nspawn --boot --register=no --keep-unit \
			--network-namespace-path="/run/netns/$netns" \
			--capability=CAP_NET_ADMIN --bind=/dev/net/tun \
			--link-journal=no --resolv-conf=off --timezone=off \
			--console=read-only \
			--machine="$machine" --hostname="$name" -D "$d/merged" "$@"
	) </dev/null >"$d/console.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/nspawn.pid"
	# PID 1 of the container: nspawn's child whose innermost PID is 1.
	local i c leader=
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || {
			tail -n 20 "$d/console.log" >&2
			lab_fail "systemd-nspawn for $name exited"
		}
		for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
			if awk '$1 == "NSpid:" && $NF == 1 { f=1 } END { exit !f }' "/proc/$c/status" 2>/dev/null; then
				leader=$c
			fi
		done
		[ -n "$leader" ] && break
		sleep 0.1
	done
	[ -n "$leader" ] || lab_fail "no PID 1 for container $name after 15 s"
	echo "$leader" >"$d/leader.pid"
}

container_leader() {
	local f
	f=$(_c_dir "$1")/leader.pid
	[ -f "$f" ] || lab_fail "container $1 is not running"
	cat "$f"
}

container_running() { # NAME: PID 1 still alive
	local f
	f=$(_c_dir "$1")/leader.pid
	[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

container_exec() {
	local name=$1 leader
	shift
	leader=$(container_leader "$name")
	nsenter -t "$leader" -a -- env -i PATH="$CONTAINER_PATH" HOME=/root \
		LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

container_sh() { container_exec "$1" sh -c "$2"; }

_c_state() { # NAME: systemctl is-system-running, "" if no answer
	container_exec "$1" timeout 5 systemctl is-system-running 2>/dev/null || true
}

# container_wait_running NAME [TIMEOUT_S]: wait for the boot to finish
# (running or degraded); prints the state. Fails on timeout, or when the
# container died. A degraded state lists the failed units on stderr.
container_wait_running() {
	local name=$1 timeout=${2:-90} i n st='' end
	n=$((timeout * 5))
	end=$(($(_lab_us) + timeout * 1000000))
	for ((i = 0; i < n && $(_lab_us) < end; i++)); do
		container_running "$name" || {
			tail -n 30 "$(_c_dir "$name")/console.log" >&2
			lab_fail "container $name stopped while booting"
		}
		st=$(_c_state "$name")
		case "$st" in
		running) break ;;
		degraded)
			container_exec "$name" systemctl --failed --no-legend --no-pager >&2 || true
			break
			;;
		esac
		sleep 0.2
	done
	case "$st" in
	running | degraded) echo "$st" ;;
	*) lab_fail "container $name not booted after ${timeout}s (state '$st')" ;;
	esac
}

# container_copy_in NAME SRC DEST [MODE]: into a running container through
# its own mount namespace, into a prepared one through chroot; either way
# DEST is resolved inside the container.
container_copy_in() {
	local name=$1 src=$2 dest=$3 mode=${4:-0644} d
	d=$(_c_dir "$name")
	[ -r "$src" ] || lab_fail "cannot read $src"
	local script='mkdir -p "$(dirname "$1")" && cat >"$1.lab-tmp" && chmod "$2" "$1.lab-tmp" && mv -f "$1.lab-tmp" "$1"'
	if container_running "$name"; then
		container_exec "$name" sh -c "$script" sh "$dest" "$mode" <"$src"
	else
		env -i PATH="$CONTAINER_PATH" chroot "$d/merged" sh -c "$script" sh "$dest" "$mode" <"$src"
	fi || lab_fail "copy $src to $name:$dest"
}

# container_stop NAME [TIMEOUT_S]: idempotent; also cleans a container
# that was prepared but never booted, or whose boot failed.
container_stop() {
	local name=$1 timeout=${2:-20} d pid leader i cg
	d=$(_c_dir "$name")
	[ -d "$d" ] || return 0
	pid=$(cat "$d/nspawn.pid" 2>/dev/null || true)
	leader=$(cat "$d/leader.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		# poweroff (systemd: SIGRTMIN+4), bounded wait for nspawn to exit.
		# (no PID 1 known yet: nspawn itself turns TERM into a halt)
		if [ -n "$leader" ]; then
			kill -s RTMIN+4 "$leader" 2>/dev/null
		else
			kill -TERM "$pid" 2>/dev/null
		fi
		for ((i = 0; i < timeout * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "# container $name did not power off in ${timeout}s: killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			[ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null || true
	fi
	# Whatever is left in its cgroups is the container's: kill by PID.
	_c_release "$name" cleanup
	if mountpoint -q "$d/merged"; then
		umount "$d/merged" 2>/dev/null || {
			sleep 0.5
			umount "$d/merged" 2>/dev/null || umount -l "$d/merged"
		}
	fi
}

# container_reboot NAME [TIMEOUT_S [NSPAWN_ARG...]]: reboot a booted
# container from inside ("systemctl reboot") and boot it again on the same
# overlay, whose upper dir keeps everything the container wrote:
# container_reboot_halt, then container_boot NAME NSPAWN_ARG... (pass the
# first boot's arguments again). Returns once the new PID 1 exists (then
# container_wait_running).
container_reboot() {
	local name=$1 timeout=${2:-60}
	shift
	[ $# -gt 0 ] && shift
	container_reboot_halt "$name" "$timeout"
	container_boot "$name" "$@"
}

# container_reboot_halt NAME [TIMEOUT_S]: the first half of a reboot, for
# a test that changes something between the two boots. systemd-nspawn does
# not reboot a container by itself: it exits with status 133 when its
# container reboots (on a systemd host, systemd-nspawn@.service starts it
# again: RestartForceExitStatus=133); here nothing does. So: "systemctl
# reboot" inside, wait up to TIMEOUT_S (default 60) for nspawn to exit,
# fail unless it exited with 133, release its cgroups as container_stop
# does, and keep the console log of the boot that ended as console.N.log.
# The overlay stays mounted; container_boot starts the next boot. Call it
# from the shell that ran container_boot: only that shell can read
# nspawn's exit status.
container_reboot_halt() {
	local name=$1 timeout=${2:-60} d pid rc i n
	d=$(_c_dir "$name")
	pid=$(cat "$d/nspawn.pid" 2>/dev/null) || lab_fail "container $name is not booted"
	container_running "$name" || lab_fail "container $name is not running"
	# Its exit status means nothing: the reboot may kill it first.
	container_exec "$name" timeout 10 systemctl reboot >&2 2>&1 || true
	for ((i = 0; i < timeout * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && lab_fail "container $name did not reboot within ${timeout}s"
	wait "$pid"
	rc=$?
	[ "$rc" = 127 ] && lab_fail "container_reboot $name: nspawn (pid $pid) is not a child of this shell"
	[ "$rc" = 133 ] || {
		tail -n 20 "$d/console.log" >&2
		lab_fail "systemd-nspawn for $name exited with status $rc after systemctl reboot, expected 133 (reboot)"
	}
	_c_release "$name"
	for ((n = 1; n < 100; n++)); do [ -e "$d/console.$n.log" ] || break; done
	mv "$d/console.log" "$d/console.$n.log"
	lab_add_log "$d/console.$n.log"
}

# _c_release NAME [cleanup]: after its nspawn exited (container_stop,
# container_reboot_halt): kill what is left in its cgroups (by PID),
# remove them, nspawn's own bookkeeping under /run (left behind when /run
# is no tmpfs), forget its PIDs. The overlay stays mounted. A cgroup that
# cannot be removed fails the test, or only says so with "cleanup".
_c_release() {
	local name=$1 mode=${2:-} d cg i left
	d=$(_c_dir "$name")
	if [ -f "$d/cgroups" ]; then
		for ((i = 0; i < 20; i++)); do
			left=$(while read -r cg; do
				find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
			done <"$d/cgroups" | sort -u)
			[ -z "$left" ] && break
			# shellcheck disable=SC2086
			kill -KILL $left 2>/dev/null || true
			sleep 0.1
		done
		while read -r cg; do
			[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
			if [ -d "$cg" ]; then
				[ "$mode" = cleanup ] || lab_fail "cannot remove cgroup $cg of container $name"
				echo "# cannot remove cgroup $cg" >&2
			fi
		done <"$d/cgroups"
		rm -f "$d/cgroups"
	fi
	rmdir "/run/systemd/nspawn/propagate/$(_c_machine "$name")" 2>/dev/null || true
	rm -f "$d/nspawn.pid" "$d/leader.pid"
}
