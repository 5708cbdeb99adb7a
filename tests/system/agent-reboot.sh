#!/usr/bin/env bash
# System test: a node rebooted in the middle of its enrollment. As in
# agent-apt.sh, a plain Debian container (persistent journal) gets
# geostage-enrolld with apt-get from the site's repository and the token
# in /etc/geostage/token; the package's units do the rest. Then:
#  1. the repository is made unreachable (r-master drops what it forwards
#     to its tcp/80), so the agent's packages step, once it runs, waits
#     in `apt-get update`: a point inside that step the test hits every
#     time (state.json says packages running, apt-get runs, the journal
#     shows the step started);
#  2. `systemctl reboot` inside the container; systemd-nspawn exits with
#     133 (reboot), the repository is reachable again, and the container
#     boots again on the same overlay (container_reboot_halt +
#     container_boot, tests/lab/lib/container.sh);
#  3. nobody starts anything: the unit, enabled by the package, starts at
#     boot, resumes at the packages step and completes;
#  4. the server: exactly one node for this host, done, and the token's
#     one use spent (token list --json); the Node exists at the API
#     STAND-IN; journalctl shows both boots: the agent stopped inside
#     packages, then resuming there; no token or key material in them.
# Prints "boot→done: N.N s": from the second boot (systemd-nspawn started
# again) to the agent's done file (its mtime).
# What runs where: tests/system/lib/system.sh. Exit 77 (skip) without
# root, /dev/net/tun or the in-tree binaries.
LAB_TEST_NAME=agent-reboot
# shellcheck source=lib/system.sh
. "$(dirname "$0")/lib/system.sh"

N=sys-rb

sys_prereqs
lab_init
sys_master_up

sys_node_prepare "$N" "$GS_ROOTFS" persistent
sys_add_repo "$N"
sys_boot "$N"
sys_apt_install_agent "$N"
sys_token "$N"
TID=${GS_TOKEN_ID[$N]}
TOKEN=$LAB_TMP/tokens/$N.token

# --- 1. the agent held inside its packages step ----------------------------
# (an nft table of its own on r-master, deleted in the cleanup as well)
repo_block() {
	ip netns exec "$(net_ns r-master)" nft -f - <<-EOF || lab_fail "blocking the repository"
		table ip sysblock {
			chain forward {
				type filter hook forward priority filter - 10; policy accept;
				ip daddr $GS_SRV tcp dport 80 drop
			}
		}
	EOF
}
repo_unblock() { ip netns exec "$(net_ns r-master)" nft delete table ip sysblock 2>/dev/null; }
lab_on_exit repo_unblock
repo_block
lab_ok "the site's repository is unreachable from the node (r-master drops tcp/80)"

_in_packages() {
	[ "$(gs_step_state "$N" packages)" = running ] &&
		container_exec "$N" pgrep -x apt-get >/dev/null &&
		container_exec "$N" journalctl --no-pager -o cat -u "$SYS_AGENT_UNIT" | grep -q 'step 3/8: packages: '
}
T0=$(lab_now)
sys_write_token "$N" "$TOKEN"
lab_wait 60 "$N's agent to wait inside its packages step" _in_packages
sleep 1
_in_packages || lab_fail "$N: the agent left the packages step while the repository was unreachable"
st=$(container_exec "$N" systemctl status --no-pager -n 0 "$SYS_AGENT_UNIT" | sed -n 's/^ *Status: //p')
[[ $st == *"step 3/8: packages"* ]] || lab_fail "$N: systemctl status says $st, expected the packages step"
enroll_uses=$(B token list --json | jq -r --arg t "$TID" '.[] | select(.id == $t) | .uses')
[ "$enroll_uses" = 1 ] || lab_fail "token $TID: $enroll_uses uses after the enroll step, expected 1"
lab_ok "$N: inside the packages step (state.json: packages running; apt-get update waits; Status: $st)"
lab_log "$N: $(lab_elapsed "$T0") s after the token was written; rebooting"

# --- 2. the reboot -----------------------------------------------------------
lab_time_start halt
container_reboot_halt "$N" 120
lab_time_end halt "systemctl reboot until systemd-nspawn exited (133)"
repo_unblock || lab_fail "unblocking the repository"
lab_ok "$N: systemctl reboot: systemd-nspawn exited with 133 (reboot); the repository is reachable again"
T1=$(lab_now)
container_boot "$N"
st=$(container_wait_running "$N" 90)
[ "$st" = running ] || lab_fail "$N booted '$st' after the reboot, expected running"

# --- 3. resumed by itself ----------------------------------------------------
# The boot is over (running): the unit must have started by then.
_started() { [ -n "$(sys_unit_starts "$N" -b 0)" ]; }
lab_try 10 _started || {
	container_exec "$N" systemctl status --no-pager "$SYS_AGENT_UNIT" >&2
	lab_fail "$N: after the reboot $SYS_AGENT_UNIT did not start by itself"
}
sys_wait_done 240 "$N"
T=$(sys_done_time "$N" "$T1")
lab_log "$N: done $T s after the second boot started"

boots=$(container_exec "$N" journalctl --list-boots --no-pager)
[ "$(grep -cE '^ *-?[0-9]+ ' <<<"$boots")" = 2 ] || lab_fail "$N: journalctl --list-boots, expected 2 boots: $boots"
j1=$LAB_TMP/c/$N/journal-boot1.txt
j2=$LAB_TMP/c/$N/journal-boot2.txt
container_exec "$N" journalctl --no-pager -o short-precise -b -1 -u "$SYS_AGENT_UNIT" >"$j1"
container_exec "$N" journalctl --no-pager -o short-precise -b 0 -u "$SYS_AGENT_UNIT" >"$j2"
grep -q 'step 3/8: packages: ' "$j1" || lab_fail "$N: boot 1's journal does not show the packages step starting"
grep -q 'step 4/8: host: ' "$j1" && lab_fail "$N: boot 1's journal shows the host step: the reboot was not inside packages"
grep -q 'Stopping geostage-enrolld' "$j1" || lab_fail "$N: boot 1's journal does not show the agent stopped by the reboot"
grep -q 'resuming at step packages' "$j2" || {
	cat "$j2" >&2
	lab_fail "$N: after the reboot the agent did not resume at the packages step"
}
starts=$(sys_unit_starts "$N" -b 0 | grep -c .)
[ "$starts" = 1 ] || lab_fail "$N: boot 2: $SYS_AGENT_UNIT started $starts times, expected once (at boot)"
lab_ok "$N: after the reboot $SYS_AGENT_UNIT started by itself (enabled by the package), resumed at step packages and completed"
sys_assert_journal_steps "$N"
[ "$(container_exec "$N" systemctl show -p ActiveState --value "$SYS_AGENT_UNIT")" != failed ] ||
	lab_fail "$N: $SYS_AGENT_UNIT failed"

# --- 4. one node, one use ------------------------------------------------------
sys_assert_server_done "$N" "$TID"
sys_assert_node_api "$N"
sys_journal_dump "$N" "$LAB_TMP/c/$N/journal.export"
sys_assert_no_secrets "$N" "$TOKEN" "the journal of both boots" "$LAB_TMP/c/$N/journal.export"

echo "boot→done: $T s"
lab_timings
echo "PASS: $LAB_TEST_NAME ($(lab_elapsed "$_LAB_T0") s)"
