# shellcheck shell=bash
# Leftovers of lab runs that died without their cleanup (kill -9, a lost
# machine session): every run registers itself in /run/geostage-lab/runs/
# (lab_init) with its owner's PID and start time and its temp dir; the
# registration goes once its cleanup has run. lab_gc removes what belongs
# to registered runs whose owner is gone:
#   - processes in its containers' cgroups (geostage-lab-<run>-*) and in
#     its network namespaces (<run>-*), by PID;
#   - those cgroups, the overlay mounts under its temp dir, its
#     namespaces, its temp dir.
# A live run is never touched (its owner PID exists with the same start
# time). lab_init runs lab_gc, so leftovers do not pile up on CI machines.
#
# By hand: bash tests/lab/lib/gc.sh        (prints what it removes)

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LAB_REGISTRY=/run/geostage-lab/runs

_lab_starttime() { # PID: field 22 of /proc/PID/stat ("" if gone)
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) } # after the command name, which may hold spaces
	awk '{print $20}' <<<"$s"
}

# lab_register: called by lab_init.
lab_register() {
	local f=$LAB_REGISTRY/$LAB_RUN pid start
	mkdir -p "$LAB_REGISTRY"
	if [ -f "$f" ]; then
		pid=$(sed -n 's/^pid=//p' "$f")
		start=$(sed -n 's/^start=//p' "$f")
		if [ -n "$pid" ] && [ "$(_lab_starttime "$pid")" = "$start" ]; then
			lab_fail "lab run id $LAB_RUN is in use by PID $pid"
		fi
		_lab_gc_run "$LAB_RUN" "$(sed -n 's/^tmp=//p' "$f")"
	fi
	printf 'pid=%s\nstart=%s\ntmp=%s\n' "$$" "$(_lab_starttime $$)" "$LAB_TMP" \
		>"$LAB_REGISTRY/$LAB_RUN"
}

lab_unregister() { rm -f "$LAB_REGISTRY/${LAB_RUN:?}"; }

_lab_gc_run() { # RUN TMP
	local run=$1 tmp=$2 h cg pids ns m i
	echo "# gc: removing leftovers of lab run $run ($tmp)" >&2
	for h in systemd unified ""; do
		for cg in /sys/fs/cgroup/${h:+$h/}geostage-lab-"$run"-*; do
			[ -d "$cg" ] || continue
			for ((i = 0; i < 20; i++)); do
				pids=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
				[ -z "$pids" ] && break
				# shellcheck disable=SC2086
				kill -KILL $pids 2>/dev/null
				sleep 0.1
			done
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
	if [ -n "$tmp" ] && [ "$tmp" != / ]; then
		# Deepest first.
		awk -v p="$tmp/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r |
			while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
	fi
	for ns in $(ip netns list 2>/dev/null | awk -v p="$run-" 'index($1, p) == 1 {print $1}'); do
		for i in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$i" 2>/dev/null; done
	done
	for ns in $(ip netns list 2>/dev/null | awk -v p="$run-" 'index($1, p) == 1 {print $1}'); do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$tmp" ] && [[ $tmp == */geostage-lab-"$run".* ]] && [ -d "$tmp" ] &&
		! awk -v p="$tmp/" 'index($2, p) == 1 {f=1} END {exit !f}' /proc/self/mounts; then
		rm -rf --one-file-system "$tmp"
	fi
	rm -f "$LAB_REGISTRY/$run"
}

lab_gc() {
	local f run pid start tmp
	[ -d "$LAB_REGISTRY" ] || return 0
	for f in "$LAB_REGISTRY"/*; do
		[ -f "$f" ] || continue
		run=$(basename "$f")
		pid=$(sed -n 's/^pid=//p' "$f")
		start=$(sed -n 's/^start=//p' "$f")
		tmp=$(sed -n 's/^tmp=//p' "$f")
		[ "$run" = "${LAB_RUN:-}" ] && continue
		if [ -n "$pid" ] && [ -n "$start" ] && [ "$(_lab_starttime "$pid")" = "$start" ]; then
			continue # alive
		fi
		_lab_gc_run "$run" "$tmp"
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "gc.sh: needs root" >&2; exit 1; }
	lab_gc
fi
