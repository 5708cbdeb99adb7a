# shellcheck shell=bash
# Shared helpers for the lab (tests/lab): logging, timing, bounded waits,
# a cleanup stack run from one EXIT trap, skip/fail with the automake exit
# codes (0 pass, 1 fail, 77 skip).
#
# A test sources this first, then the pieces it needs (rootfs.sh, net.sh,
# container.sh, apt-repo.sh); each of those sources this file itself, so a
# piece can also be sourced alone by hand:
#   . tests/lab/lib/common.sh; lab_init; ...; lab_cleanup
#
# Everything a run creates is named after LAB_RUN (default: "gl" + 6 random
# hex digits): network namespaces, cgroups, container machine names, the
# run's temp dir LAB_TMP. Nothing is found by a broad name: cleanups work
# from what this run recorded (and gc.sh, for a run that died without its
# cleanup, from that one run's own prefix).

[ -n "${_LAB_COMMON_SOURCED:-}" ] && return 0
_LAB_COMMON_SOURCED=1

set -u
set -o pipefail

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

: "${LAB_TEST_NAME:=$(basename "${0:-lab}" .sh)}"
# Where cached, reusable artefacts live (the base rootfs); outside the
# checkout so that every checkout and CI run on this machine shares them.
: "${GEOSTAGE_TEST_CACHE:=/var/cache/geostage-test}"
export DEBIAN_FRONTEND=noninteractive

_LAB_T0=$(date +%s.%N)
_LAB_CLEANUPS=()

lab_now() { date +%s.%N; }
# lab_elapsed T0: seconds since T0 with one decimal.
lab_elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

lab_log() { printf '# [%6ss] %s\n' "$(lab_elapsed "$_LAB_T0")" "$*" >&2; }

# Timings: lab_time_start KEY; ...; lab_time_end KEY "what" prints and
# records "what: N.N s"; lab_timings prints them all at the end.
declare -A _LAB_TSTART=()
_LAB_TIMINGS=()
lab_time_start() { _LAB_TSTART[$1]=$(lab_now); }
lab_time_end() {
	local s
	s=$(lab_elapsed "${_LAB_TSTART[$1]}")
	_LAB_TIMINGS+=("$(printf '%-56s %7s s' "$2" "$s")")
	lab_log "timing: $2: $s s"
}
lab_timings() {
	local l
	echo "# --- timings ($LAB_TEST_NAME, run $LAB_RUN)"
	for l in "${_LAB_TIMINGS[@]}"; do echo "#   $l"; done
	printf '#   %-56s %7s s\n' "total" "$(lab_elapsed "$_LAB_T0")"
}

lab_skip() {
	printf 'SKIP: %s: %s\n' "$LAB_TEST_NAME" "$*" >&2
	[ "$BASHPID" = "$$" ] || kill -USR1 "$$"
	exit 77
}

lab_fail() {
	printf 'FAIL: %s: %s\n' "$LAB_TEST_NAME" "$*" >&2
	[ "$BASHPID" = "$$" ] || kill -TERM "$$"
	exit 1
}

# lab_ok "what": one line per passed assertion.
lab_ok() { printf 'ok: %s\n' "$*" >&2; }

# lab_on_exit CMD...: push a cleanup step (run in reverse order, each one
# whatever the others did).
lab_on_exit() {
	_LAB_CLEANUPS+=("$*")
}

# lab_cleanup: run the cleanup stack once (the EXIT trap calls it).
lab_cleanup() {
	local i
	for ((i = ${#_LAB_CLEANUPS[@]} - 1; i >= 0; i--)); do
		[ -n "${_LAB_CLEANUPS[i]}" ] || continue
		eval "${_LAB_CLEANUPS[i]}" >&2 || true
		_LAB_CLEANUPS[i]=
	done
}

_lab_exit_trap() {
	local rc=$?
	# Ignored, not reset: a second TERM (lab_fail in a subshell signals
	# this shell) must not kill the cleanup halfway. Every cleanup step
	# is bounded in time.
	trap - EXIT
	trap '' INT TERM HUP USR1 PIPE
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${LAB_TMP:-}" ]; then
		lab_show_logs >&2 || true
	fi
	lab_cleanup
	[ -n "${_LAB_REGISTERED:-}" ] && lab_unregister
	if [ -n "${LAB_TMP:-}" ] && [ -d "$LAB_TMP" ]; then
		if [ "${KEEP:-0}" = 1 ]; then
			echo "# kept $LAB_TMP" >&2
		else
			# Only when nothing is still mounted below it (a failed umount
			# must never make rm walk into a container's rootfs).
			if ! awk -v p="$LAB_TMP/" 'index($2, p) == 1 {found=1} END {exit !found}' /proc/self/mounts; then
				rm -rf --one-file-system "$LAB_TMP"
			else
				echo "# NOT removing $LAB_TMP: mounts remain below it" >&2
			fi
		fi
	fi
	exit "$rc"
}

# Logs worth showing when a test fails: files registered here.
_LAB_LOGS=()
lab_add_log() { _LAB_LOGS+=("$1"); }
lab_show_logs() {
	local l
	for l in "${_LAB_LOGS[@]}"; do
		[ -s "$l" ] || continue
		echo "--- $l (last 40 lines)"
		tail -n 40 "$l"
	done
}

# lab_init: run id, temp dir, traps. Call once, from the test's main shell.
lab_init() {
	[ -n "${LAB_RUN:-}" ] || LAB_RUN=gl$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	# Run ids prefix namespace, cgroup and machine names: keep them short.
	[[ $LAB_RUN =~ ^[a-z][a-z0-9]{1,7}$ ]] ||
		lab_fail "LAB_RUN must be 2-8 chars [a-z0-9], starting with a letter: '$LAB_RUN'"
	export LAB_RUN
	# shellcheck source=gc.sh
	. "$LAB_LIB_DIR/gc.sh"
	lab_gc
	LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/geostage-lab-$LAB_RUN.XXXXXX") ||
		lab_fail "cannot create a temp dir"
	# Traversable (not listable): OpenVPN reads its ccd/ and revoked/ dirs
	# below it after dropping to nobody.
	chmod 711 "$LAB_TMP"
	export LAB_TMP
	trap _lab_exit_trap EXIT
	# An interactive shell (lab-shell.sh, or sourcing by hand) keeps Ctrl-C.
	[[ $- == *i* ]] || trap 'exit 1' INT TERM HUP PIPE
	trap 'exit 77' USR1
	lab_register
	_LAB_REGISTERED=1
	lab_log "run $LAB_RUN, temp dir $LAB_TMP"
}

# lab_require_root_tun: the lab's hard prerequisites; skip (77) otherwise.
lab_require_root_tun() {
	[ "$(id -u)" -eq 0 ] || lab_skip "needs root (network namespaces, containers)"
	[ -c /dev/net/tun ] || lab_skip "needs /dev/net/tun (OpenVPN)"
	[ -d /sys/fs/cgroup ] || lab_skip "needs /sys/fs/cgroup"
	ip netns list >/dev/null 2>&1 || lab_skip "ip netns does not work here"
}

# lab_need_pkgs PKG...: install the Debian packages that are missing
# (root only; dpkg lock waited for up to 900 s).
lab_need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep 'install ok installed' >/dev/null || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || lab_skip "missing packages: ${missing[*]}"
	lab_log "installing: ${missing[*]}"
	apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null 2>&1 || true
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null ||
		lab_skip "cannot install: ${missing[*]}"
}

# _lab_us: wall clock in microseconds (bash 5's EPOCHREALTIME).
_lab_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# lab_try TIMEOUT_S CMD...: run CMD every 0.2 s until it succeeds (0) or
# TIMEOUT_S of wall time have passed (1); also bounded in count, so a CMD
# that hangs cannot stretch it for ever (each try is one CMD run).
lab_try() {
	local timeout=$1 i n end
	shift
	n=$(awk -v t="$timeout" 'BEGIN{printf "%d", t*5+1}')
	end=$(($(_lab_us) + $(awk -v t="$timeout" 'BEGIN{printf "%d", t*1000000}')))
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(_lab_us)" -ge "$end" ] && return 1
		sleep 0.2
	done
	return 1
}

# lab_wait TIMEOUT_S WHAT CMD...: lab_try, failing the test with WHAT.
lab_wait() {
	local timeout=$1 what=$2
	shift 2
	lab_try "$timeout" "$@" || lab_fail "timed out after ${timeout}s waiting for: $what"
}

# lab_kill_pid PID [GRACE_S]: TERM, wait up to GRACE_S (default 5), KILL.
lab_kill_pid() {
	local pid=$1 grace=${2:-5} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
