#!/usr/bin/env bash
# System test: a fresh VM booted with the user-data of `geostage-bootstrap
# token create --output cloud-init`. A container from the cached
# cloud-init rootfs (base rootfs + Debian's cloud-init; nothing geostage in
# it), seeded with NoCloud (/var/lib/cloud/seed/nocloud) whose user-data is
# exactly what the server printed (its apt source: the site's signed
# repository, named in bootstrap.conf's apt_source), boots with real
# systemd and nobody touches it:
#  - cloud-init writes the source, its key and the token (0600), installs
#    geostage-enrolld from that repository, and its runcmd starts the
#    agent (systemctl start --no-block); the test starts nothing;
#  - the agent completes to done unattended: the server lists the node
#    done, one token use spent; the Node exists at the API STAND-IN;
#  - no token (nor its signature), key material or kubeadm bootstrap token
#    in the journal or in /var/log/cloud-init*.log; /etc/geostage/token
#    is 0600; the user-data passes `cloud-init schema`.
# Prints "boot→done: N.N s": from the container's boot (systemd-nspawn
# started) to the agent's done file (its mtime).
# What runs where: tests/system/lib/system.sh. Exit 77 (skip) without
# root, /dev/net/tun or the in-tree binaries.
LAB_TEST_NAME=agent-cloud-init
# shellcheck source=lib/system.sh
. "$(dirname "$0")/lib/system.sh"

N=sys-ci

sys_prereqs
lab_init
sys_master_up
CI_ROOTFS=$(rootfs_ensure cloud-init) || lab_fail "cloud-init rootfs"

# --- the user-data: the server's own output --------------------------------
(umask 077 && B token create --site solo --output cloud-init >"$LAB_TMP/user-data") ||
	lab_fail "token create --output cloud-init"
TID=$(B token list --json | jq -r '.[0].id')
grep -qF "$TID" "$LAB_TMP/user-data" || lab_fail "the user-data does not name token $TID"
# The token: the content of the write_files entry for /etc/geostage/token.
TOKEN=$LAB_TMP/tokens/$N.token
awk '/^  - path: \/etc\/geostage\/token$/ {f=1} f && /^    content: \|/ {getline; sub(/^ +/, ""); print; exit}' \
	"$LAB_TMP/user-data" >"$TOKEN"
[ "$(tr -cd . <"$TOKEN" | wc -c)" = 2 ] || lab_fail "no compact JWS in the user-data's /etc/geostage/token"
grep -qF "$GS_REPO_URL" "$LAB_TMP/user-data" || lab_fail "the user-data does not name the site's repository $GS_REPO_URL"
lab_log "user-data: $(wc -l <"$LAB_TMP/user-data") lines from token create --output cloud-init (token $TID)"

# --- the container, seeded before its first boot ---------------------------
sys_node_prepare "$N" "$CI_ROOTFS"
# cloud-init on minbase (TESTING.md; as tests/lab/topology.sh): NoCloud,
# and C.UTF-8 (no locales package) so that cc_locale does not fail.
cat >"$LAB_TMP/99-lab.cfg" <<'EOF'
# geostage system test: cloud-init on a minbase container
datasource_list: [ NoCloud, None ]
locale: C.UTF-8
EOF
cat >"$LAB_TMP/meta-data" <<EOF
instance-id: sys-$LAB_RUN-ci
local-hostname: $N
EOF
container_copy_in "$N" "$LAB_TMP/99-lab.cfg" /etc/cloud/cloud.cfg.d/99-lab.cfg
container_copy_in "$N" "$LAB_TMP/meta-data" /var/lib/cloud/seed/nocloud/meta-data
container_copy_in "$N" "$LAB_TMP/user-data" /var/lib/cloud/seed/nocloud/user-data 0600

T0=$(lab_now)
lab_time_start boot
container_boot "$N"
st=$(container_wait_running "$N" 180)
[ "$st" = running ] || lab_fail "$N booted '$st', expected running"
lab_time_end boot "boot with cloud-init (package install, runcmd) to running"
sys_wait_done 240 "$N"
T=$(sys_done_time "$N" "$T0")
lab_log "$N: done $T s after the boot started"

# --- cloud-init did it ------------------------------------------------------
cis=$(container_exec "$N" cloud-init status --long 2>&1) || true
grep -q '^status: done' <<<"$cis" || lab_fail "cloud-init status: $cis"
container_exec "$N" cloud-init schema --system >"$LAB_TMP/ci-schema.log" 2>&1 || {
	cat "$LAB_TMP/ci-schema.log" >&2
	lab_fail "cloud-init schema --system rejects the user-data"
}
container_exec "$N" grep -F "Invalid cloud-config" /var/log/cloud-init.log >&2 &&
	lab_fail "cloud-init found an invalid cloud-config at boot"
lab_ok "$N: cloud-init status done; the user-data (token create --output cloud-init) passes cloud-init schema"
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
[ "$(container_exec "$N" dpkg-query -W -f='${Status} ${Version}' geostage-enrolld)" = \
	"install ok installed $SYS_ENROLLD_VERSION" ] ||
	lab_fail "$N: geostage-enrolld $SYS_ENROLLD_VERSION is not installed"
container_exec "$N" grep -F geostage-enrolld /var/lib/cloud/instance/scripts/runcmd |
	grep -F -- --no-block >/dev/null || lab_fail "$N: no 'systemctl start --no-block geostage-enrolld' in cloud-init's runcmd script"

# The agent was started once, by runcmd: its one start job came after
# cloud-init began running the runcmd script (cloud-init.log), and the
# test started nothing.
starts=$(sys_unit_starts "$N")
[ "$(grep -c . <<<"$starts")" = 1 ] || lab_fail "$N: $SYS_AGENT_UNIT was started $(grep -c . <<<"$starts") times, expected once (by runcmd)"
rc_line=$(container_exec "$N" grep -m 1 -F "Running command ['/var/lib/cloud/instance/scripts/runcmd']" /var/log/cloud-init.log) ||
	lab_fail "$N: cloud-init.log does not show the runcmd script running"
# "2026-11-25 01:55:18,123 - subp.py[DEBUG]: ...": the container's local time.
rc_us=$(container_exec "$N" date -d "$(cut -c1-23 <<<"$rc_line" | tr , .)" +%s%6N) ||
	lab_fail "$N: cannot read the time of: $rc_line"
start_us=${starts%% *}
# cloud-init.log's time is in ms (truncated): allow that millisecond.
[ "$start_us" -ge $((rc_us - 1000)) ] || lab_fail "$N: $SYS_AGENT_UNIT started $(((rc_us - start_us) / 1000)) ms before cloud-init ran its runcmd script: not by runcmd"
lab_ok "$N: $SYS_AGENT_UNIT started once, $(((start_us - rc_us) / 1000)) ms after cloud-init ran its runcmd script (systemctl start --no-block)"

# --- the agent and the server -----------------------------------------------
sys_assert_journal_steps "$N"
sys_assert_server_done "$N" "$TID"
sys_assert_node_api "$N"
container_exec "$N" cat /etc/geostage/token | cmp -s - "$TOKEN" ||
	lab_fail "$N: /etc/geostage/token is not the token of the user-data"
[ "$(container_exec "$N" stat -c '%a %U' /etc/geostage/token)" = "600 root" ] ||
	lab_fail "$N: /etc/geostage/token is $(container_exec "$N" stat -c '%a %U' /etc/geostage/token), expected 600 root"
lab_ok "$N: /etc/geostage/token (written by cloud-init) is 0600 root"

# --- no secrets in the logs -------------------------------------------------
sys_journal_dump "$N" "$LAB_TMP/c/$N/journal.export"
sys_assert_no_secrets "$N" "$TOKEN" "the journal (every field of every entry)" "$LAB_TMP/c/$N/journal.export"
logs=()
for f in $(container_exec "$N" sh -c 'ls /var/log/cloud-init*.log'); do
	container_exec "$N" cat "$f" >"$LAB_TMP/c/$N/$(basename "$f")" || lab_fail "$N: cat $f"
	logs+=("$LAB_TMP/c/$N/$(basename "$f")")
done
[ ${#logs[@]} -ge 2 ] || lab_fail "$N: expected /var/log/cloud-init.log and cloud-init-output.log, found: ${logs[*]}"
sys_assert_no_secrets "$N" "$TOKEN" "cloud-init's logs (/var/log/cloud-init*.log)" "${logs[@]}"

echo "boot→done: $T s"
lab_timings
echo "PASS: $LAB_TEST_NAME ($(lab_elapsed "$_LAB_T0") s)"
