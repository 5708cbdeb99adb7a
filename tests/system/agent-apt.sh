#!/usr/bin/env bash
# System test: a volunteer's server. A plain Debian container (the cached
# base rootfs: nothing geostage in it) on the lab's internet, real systemd
# as PID 1:
#  1. the site's signed repository added as an apt source, then
#     `apt-get install geostage-enrolld` from it: the package's units are
#     enabled, nothing runs without a token;
#  2. the token written to /etc/geostage/token (install -m 0600, as the
#     docs say): the package's geostage-enrolld.path starts the service
#     (nobody starts it by hand), which enrolls, installs the packages
#     (kubeadm STAND-IN at 1.31.2 from the same repository), brings up its
#     OpenVPN tunnel (site solo, direct mode) and joins (kubeadm STAND-IN);
#  3. while it runs, `systemctl status geostage-enrolld` names the current
#     step (sampled); afterwards journalctl -u geostage-enrolld shows every
#     step, and the whole journal holds no token (nor its signature), no
#     private key material, no kubeadm bootstrap token; the server's node
#     list shows the node done, the token's one use spent; the Node exists
#     at the API STAND-IN.
# What runs where: tests/system/lib/system.sh. Exit 77 (skip) without
# root, /dev/net/tun or the in-tree binaries.
LAB_TEST_NAME=agent-apt
# shellcheck source=lib/system.sh
. "$(dirname "$0")/lib/system.sh"

N=sys-apt

sys_prereqs
lab_init
sys_master_up

lab_time_start boot
sys_node_prepare "$N" "$GS_ROOTFS"
sys_add_repo "$N"
sys_boot "$N"
lab_time_end boot "boot the container to running"
sys_apt_install_agent "$N"

sys_token "$N"
TID=${GS_TOKEN_ID[$N]}
TOKEN=$LAB_TMP/tokens/$N.token
sys_status_sampler_start "$N"
T0=$(lab_now)
sys_write_token "$N" "$TOKEN"
lab_log "$N: token $TID written to /etc/geostage/token; waiting for the agent"
sys_wait_done 240 "$N"
sys_status_sampler_stop
T=$(sys_done_time "$N" "$T0")
lab_log "$N: done $T s after the token was written"

# Started by the .path unit: the test never started it, and it ran once.
[ "$(container_exec "$N" systemctl show -p ActiveState --value "$SYS_AGENT_UNIT")" != failed ] ||
	lab_fail "$N: $SYS_AGENT_UNIT failed"
starts=$(sys_unit_starts "$N" | grep -c .)
[ "$starts" = 1 ] || {
	container_exec "$N" journalctl --no-pager -u "$SYS_AGENT_UNIT" -n 60 >&2
	lab_fail "$N: $SYS_AGENT_UNIT was started $starts times, expected once (by geostage-enrolld.path)"
}
lab_ok "$N: the token started $SYS_AGENT_UNIT once, through the package's geostage-enrolld.path"

sys_assert_status_samples
sys_assert_journal_steps "$N"
sys_journal_dump "$N" "$LAB_TMP/c/$N/journal.export"
sys_assert_no_secrets "$N" "$TOKEN" "the journal (every field of every entry)" "$LAB_TMP/c/$N/journal.export"
sys_assert_server_done "$N" "$TID"
sys_assert_node_api "$N"
[ "$(container_exec "$N" stat -c '%a %U' /etc/geostage/token)" = "600 root" ] ||
	lab_fail "$N: /etc/geostage/token is not 0600 root"

echo "token→done: $T s"
lab_timings
echo "PASS: $LAB_TEST_NAME ($(lab_elapsed "$_LAB_T0") s)"
