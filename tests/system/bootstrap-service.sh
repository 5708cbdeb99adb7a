#!/usr/bin/env bash
# The bootstrap server's package under real systemd (issue 4, item 6):
# geostage-bootstrap installed by apt from a signed repository into one
# booted container (systemd as PID 1, the cached base rootfs + overlay, on
# the master site's LAN of the lab at 192.168.10.20), then run the way
# docs/OPERATIONS.md and the unit's comments tell an operator to:
#
#   install    apt-get install geostage-bootstrap (the geostage system user
#              from sysusers.d, the state dir from tmpfiles.d, both units
#              enabled and skipped until init)
#   init       runuser -u geostage -- geostage-bootstrap init, site add;
#              an operator's edit of bootstrap.conf
#   socket     only the socket started: systemd (PID 1) listens on 8443,
#              no process of the service exists, the service is inactive
#   first use  a TLS connection from the master LAN (curl --cacert
#              tls.crt --pinnedpubkey, the pin init printed) starts the
#              service: GET /healthz answers 200; the service runs as the
#              system user geostage, a child of PID 1, on the socket
#              systemd passed (the only listener on 8443)
#   sandbox    seen from inside: systemd-analyze security <= 2.0; in
#              /proc/PID/status CapEff, CapPrm, CapAmb and CapBnd all 0,
#              NoNewPrivs 1, Seccomp 2 with more filters than the
#              container's PID 1 (nspawn gives every process there one);
#              in its own mount namespace "/" is read-only (mountinfo, and
#              root itself gets EROFS writing /etc, /usr, /var/lib), the
#              state dir is writable, /root and /dev/net/tun are not there;
#              the state dir 0710 geostage:geostage, its keys 0600
#   state      tokens (one revoked), a site and a node enrolled through
#              the socket by the in-tree agent (--until enroll, from the
#              master LAN): the same token/node/site lists, key hashes and
#              bootstrap.conf after "systemctl restart" (same listening
#              socket), after an upgrade to a version-bumped package
#              (apt-get upgrade from the republished repository: the
#              service is restarted, the same TLS pin answers, and the
#              listening socket must be the same one, as the socket unit
#              promises), after a reboot (where the lab library has
#              container_reboot), after "apt-get remove" and a reinstall
#   purge      apt-get purge removes the state dir and the unit symlinks;
#              the system user stays (documented in the postrm)
#
# Every check fails when its behaviour breaks. A bug of the package or the
# units is reported as "BUG (package/units)" and the test fails at the end,
# after every other check has run. To check the sandbox checks
# themselves, BS_BREAK_DROPIN='Directive=value;Directive=value' writes
# those lines into a drop-in for geostage-bootstrap.service before the
# first start (e.g. BS_BREAK_DROPIN='ProtectSystem=no' must fail).
#
# Needs root and /dev/net/tun (skips, 77, otherwise), the in-tree agent
# ($top_builddir/geostage-enrolld), and the cached .debs (make deb, see
# lib/debs.sh), base rootfs and Debian .debs (the package's Depends that
# the base rootfs lacks, fetched once with the host's apt).
# Run: top_builddir=$PWD bash tests/system/bootstrap-service.sh
# (KEEP=1 keeps the run's temp dir; BS_DEBS=DIR takes the .debs from DIR,
# e.g. a cached build, instead of "make deb" of this tree.)

set -u
set -o pipefail

LAB_TEST_NAME=bootstrap-service
# shellcheck source=lib/debs.sh
. "$(dirname "$0")/lib/debs.sh"

BS=bs
BS_ADDR=192.168.10.20
BS_PORT=8443
BS_URL=https://$BS_ADDR:$BS_PORT
BS_SD=/var/lib/geostage-bootstrap
BS_SVC=geostage-bootstrap.service
BS_SOCK=geostage-bootstrap.socket
BS_KEYS=(ca.key ca.crt token.key tls.key tls.crt vpn-server.key vpn-server.crt tls-crypt.key)
# An operator's edit of bootstrap.conf (a valid setting, not init's value).
BS_EDIT='cert_days = 200'

lab_require_root_tun
[ -x "$GS_BUILDDIR/geostage-enrolld" ] ||
	lab_skip "$GS_BUILDDIR/geostage-enrolld is not built (make geostage-enrolld)"

# ---------------------------------------------------------------------------
# Helpers

# C CMD...: CMD inside the container, as root, bounded (every command
# here takes seconds; apt-get and the units' start have their own limits).
C() { container_exec "$BS" timeout 300 "$@"; }
# gsb ARGS...: the server's command line as its user, as OPERATIONS.md's
# alias (runuser -u geostage --).
gsb() { C timeout 60 runuser -u geostage -- geostage-bootstrap "$@"; }

# capt FILE CMD...: CMD's stdout into FILE; stderr shown and the test
# failed when CMD fails.
capt() {
	local f=$1
	shift
	"$@" >"$f" 2>"$f.err" || {
		cat "$f.err" >&2
		lab_fail "$* failed"
	}
}

# capt_apt LABEL APT-GET-ARGS...: apt-get inside the container, logged.
capt_apt() {
	local label=$1 log=$LAB_TMP/apt-$1.log
	shift
	C env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q -y \
		-o DPkg::Lock::Timeout=120 "$@" >"$log" 2>&1 || {
		tail -n 30 "$log" >&2
		lab_fail "apt-get $* ($label) failed"
	}
}

active() { C systemctl is-active "$1" 2>/dev/null || true; }
mainpid() { C systemctl show -p MainPID --value "$BS_SVC"; }
# field PID NAME: the value of NAME: in /proc/PID/status (inside the
# container's PID namespace).
field() { C awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
# listeners: who listens on the port (ss -ltnp inside the container).
listeners() { C ss -Hltnp "sport = :$BS_PORT"; }
# sock_ino: the inode of the listening socket (the same socket = the same
# inode: systemd kept it open, connections waited in its backlog).
sock_ino() { C ss -Hltne "sport = :$BS_PORT" | grep -o 'ino:[0-9]*' | head -n 1; }

# bug MSG: a bug of the package or the units, found by this test: said at
# once and at the end, the other checks still run, the test fails.
BS_BUGS=()
bug() {
	BS_BUGS+=("$*")
	echo "BUG (package/units): $*" >&2
}

# hc: GET /healthz from the master site's host (192.168.10.5) over TLS,
# the certificate and the pin from init; prints the HTTP status.
hc() {
	ip netns exec "$(net_ns srv)" curl -sS -o "$LAB_TMP/healthz.body" \
		-w '%{http_code}' --connect-timeout 5 --max-time 20 \
		--cacert "$LAB_TMP/tls.crt" --pinnedpubkey "$BS_PIN" "$BS_URL/healthz" \
		2>"$LAB_TMP/healthz.err" || true
}

hc_ok() { # WHAT
	local code
	code=$(hc)
	[ "$code" = 200 ] && grep -q '"ok"' "$LAB_TMP/healthz.body" ||
		lab_fail "$1: GET $BS_URL/healthz answered '$code' $(cat "$LAB_TMP/healthz.err" "$LAB_TMP/healthz.body" 2>/dev/null)"
}

# snapshot FILE: what must survive restarts and upgrades: the token, node
# and site lists, the keys' and bootstrap.conf's hashes, the OpenVPN
# files, the state dir's mode and owner, the service user.
snapshot() {
	local f=$1
	{
		echo "## token list"
		gsb token list --json
		echo "## node list"
		gsb node list --json
		echo "## site list"
		gsb site list --json
		echo "## files"
		files_snapshot
	} >"$f" 2>"$f.err" || {
		cat "$f.err" >&2
		lab_fail "snapshot of the server's state"
	}
}
files_snapshot() {
	C sh -c 'cd "$1" && shift && sha256sum "$@" bootstrap.conf &&
		ls -l ccd revoked | awk "NF > 2 { print \$1, \$3, \$4, \$NF }" &&
		stat -c "%a %U:%G %n" . && id geostage' sh "$BS_SD" "${BS_KEYS[@]}"
}

same_state() { # REFERENCE NOW WHAT
	cmp -s "$1" "$2" || {
		diff -u "$1" "$2" >&2
		lab_fail "$3: the server's state differs (diff above)"
	}
}

# svc_checks WHAT: the service runs as geostage, a child of PID 1, on the
# socket systemd passed; prints its PID.
svc_checks() {
	local what=$1 pid uid ppid l
	[ "$(active "$BS_SVC")" = active ] || lab_fail "$what: $BS_SVC is '$(active "$BS_SVC")'"
	pid=$(mainpid)
	[ -n "$pid" ] && [ "$pid" != 0 ] || lab_fail "$what: no MainPID"
	uid=$(field "$pid" Uid)
	[ "$uid" = "$BS_UID $BS_UID $BS_UID $BS_UID" ] ||
		lab_fail "$what: the service runs as uid '$uid', expected geostage ($BS_UID) in all four"
	[ "$BS_UID" != 0 ] || lab_fail "geostage is uid 0"
	[ "$(field "$pid" Gid | awk '{print $1}')" = "$BS_GID" ] || lab_fail "$what: not group geostage"
	ppid=$(field "$pid" PPid)
	[ "$ppid" = 1 ] || lab_fail "$what: the service's parent is $ppid, not PID 1"
	[ "$(C cat "/proc/$pid/comm")" = geostage-bootst ] ||
		lab_fail "$what: MainPID $pid is $(C cat "/proc/$pid/comm")"
	# One listening socket on the port, held by PID 1 and the service:
	# the server uses what systemd passed, it binds nothing itself.
	l=$(listeners)
	[ "$(wc -l <<<"$l")" = 1 ] && grep -q '"systemd",pid=1,' <<<"$l" &&
		grep -q "pid=$pid," <<<"$l" ||
		lab_fail "$what: the listeners on $BS_PORT are not one socket shared by systemd and the service: $l"
	echo "$pid"
}

# ---------------------------------------------------------------------------
# The package's Depends that the base rootfs lacks, as Debian .debs

# (gs_missing_depends and gs_debian_debs, tests/lab/lib/geostage.sh)

# ---------------------------------------------------------------------------
lab_init
# On failure, the units' journal is among the logs shown (saved before
# lab's own EXIT trap shows them and stops the container).
_bs_exit() {
	local rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && container_running "$BS" 2>/dev/null; then
		C journalctl --no-pager -o short-monotonic -u "$BS_SOCK" -u "$BS_SVC" \
			>"$LAB_TMP/journal.log" 2>&1
	fi
	(exit "$rc")
	_lab_exit_trap
}
trap _bs_exit EXIT
lab_add_log "$LAB_TMP/journal.log"
lab_need_pkgs systemd-container nftables iproute2 busybox apt-utils gnupg \
	curl jq openssl dpkg-dev

lab_time_start artefacts
if [ -n "${BS_DEBS:-}" ]; then
	GSDEBS=$BS_DEBS
	lab_log "the .debs from BS_DEBS=$BS_DEBS, not from this tree"
else
	GSDEBS=$(sys_debs) || lab_fail "the geostage .debs"
fi
DEB1=$(compgen -G "$GSDEBS/geostage-bootstrap_*.deb" | head -n 1)
[ -n "$DEB1" ] || lab_fail "no geostage-bootstrap .deb in $GSDEBS"
V1=$(dpkg-deb -f "$DEB1" Version)
V2=$V1+lab1
dpkg --compare-versions "$V2" gt "$V1" || lab_fail "$V2 is not newer than $V1"
ROOTFS=$(rootfs_ensure) || lab_fail "base rootfs"
mapfile -t MISSING < <(gs_missing_depends "$DEB1" "$ROOTFS")
DEPDEBS=
if [ ${#MISSING[@]} -gt 0 ]; then
	DEPDEBS=$(gs_debian_debs "$ROOTFS" "${MISSING[@]}") || lab_fail "Debian .debs"
fi
mkdir -p "$LAB_TMP/debs" "$LAB_TMP/agent"
cp "$DEB1" "$LAB_TMP/debs/" || lab_fail "copying $DEB1"
[ -z "$DEPDEBS" ] || cp "$DEPDEBS"/*.deb "$LAB_TMP/debs/" || lab_fail "copying the Debian .debs"
cp "$GS_BUILDDIR/geostage-enrolld" "$LAB_TMP/agent/" || lab_fail "copying the agent"
lab_time_end artefacts "artefacts: .debs, rootfs, Debian .debs (cached: ~0)"
lab_log "geostage-bootstrap $V1 (then $V2); from Debian: ${MISSING[*]:-nothing}"

lab_time_start boot
net_setup
NS=$(net_add_host "$BS" master "$BS_ADDR")
REPO=$LAB_TMP/repo
apt_repo_build "$LAB_TMP/debs" "$REPO"
apt_repo_serve "$REPO"
container_prepare "$BS" "$NS" "$ROOTFS"
container_copy_in "$BS" "$REPO/key.gpg" /etc/apt/keyrings/geostage-lab.gpg 0644
apt_repo_sources_line "$REPO" >"$LAB_TMP/geostage-lab.list"
container_copy_in "$BS" "$LAB_TMP/geostage-lab.list" /etc/apt/sources.list.d/geostage-lab.list 0644
container_boot "$BS"
st=$(container_wait_running "$BS" 60)
[ "$st" = running ] || lab_fail "container $BS booted '$st', expected running"
lab_time_end boot "lab network, apt repository, container boot"

# ---------------------------------------------------------------------------
lab_time_start install
capt_apt update update
capt_apt install install --no-install-recommends geostage-bootstrap
[ "$(C dpkg-query -W -f='${Status} ${Version}' geostage-bootstrap)" = "install ok installed $V1" ] ||
	lab_fail "geostage-bootstrap $V1 is not installed"
lab_ok "apt-get install geostage-bootstrap $V1 from the signed repository"
lab_time_end install "apt-get update + install"

pw=$(C getent passwd geostage) || lab_fail "no user geostage after the installation"
BS_UID=$(cut -d: -f3 <<<"$pw")
BS_GID=$(cut -d: -f4 <<<"$pw")
[ "$BS_UID" -gt 0 ] && [ "$BS_UID" -lt 1000 ] || lab_fail "geostage is not a system user: $pw"
[ "$(C getent group geostage | cut -d: -f3)" = "$BS_GID" ] || lab_fail "geostage's primary group is not the group geostage"
[ "$(cut -d: -f6 <<<"$pw")" = "$BS_SD" ] || lab_fail "geostage's home is not $BS_SD: $pw"
[ "$(C stat -c '%a %U:%G' "$BS_SD")" = "710 geostage:geostage" ] ||
	lab_fail "state dir after install: $(C stat -c '%a %U:%G' "$BS_SD"), expected 710 geostage:geostage (tmpfiles.d)"
lab_ok "system user geostage ($BS_UID:$BS_GID, home $BS_SD); state dir 0710 geostage:geostage"
for u in "$BS_SOCK" "$BS_SVC"; do
	[ "$(C systemctl is-enabled "$u" 2>&1)" = enabled ] || lab_fail "$u is not enabled after install"
	[ "$(active "$u")" = inactive ] || lab_fail "$u is '$(active "$u")' before init"
	[ "$(C systemctl show -p ConditionResult --value "$u")" = no ] ||
		lab_fail "$u was not skipped by its condition before init"
done
[ "$(C systemctl is-system-running 2>&1)" = running ] ||
	lab_fail "system is $(C systemctl is-system-running 2>&1) after install: $(C systemctl --failed --no-legend)"
lab_ok "both units enabled, skipped before init (ConditionPathExists), nothing failed"

# ---------------------------------------------------------------------------
# init, as OPERATIONS.md says: as the service user, in its state dir.
lab_time_start init
capt "$LAB_TMP/init.out" gsb init --url "$BS_URL" --vpn-network 10.99.0.0/16 \
	--master-prefix 192.168.10.0/24
capt "$LAB_TMP/site.out" gsb site add tokyo --prefix 192.168.20.0/24
# The operator's edit (bootstrap.conf is 0600 geostage: edit as geostage).
C timeout 10 runuser -u geostage -- sh -c "echo '$BS_EDIT' >>$BS_SD/bootstrap.conf" ||
	lab_fail "editing bootstrap.conf"
BS_PIN=$(awk '$1 == "tls" && $2 == "pin:" { print $3 }' "$LAB_TMP/init.out")
[[ $BS_PIN == sha256//* ]] || lab_fail "no TLS pin in init's output: $(cat "$LAB_TMP/init.out")"
capt "$LAB_TMP/tls.crt" C cat "$BS_SD/tls.crt"
pin2=sha256//$(openssl x509 -in "$LAB_TMP/tls.crt" -noout -pubkey |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
[ "$pin2" = "$BS_PIN" ] || lab_fail "init printed pin $BS_PIN, tls.crt has $pin2"
owners=$(C sh -c 'cd "$1" && stat -c "%U" * | sort -u' sh "$BS_SD")
[ "$owners" = geostage ] || lab_fail "files init made are not all geostage's: $owners"
# A file only root may see: the sandbox must hide it (ProtectHome=).
C sh -c 'umask 077; echo secret >/root/gs-lab-secret' || lab_fail "writing /root/gs-lab-secret"
lab_ok "init and site add as geostage; every file in the state dir is geostage's; pin $BS_PIN"

if [ -n "${BS_BREAK_DROPIN:-}" ]; then
	tr ';' '\n' <<<"[Service];$BS_BREAK_DROPIN" >"$LAB_TMP/break.conf"
	container_copy_in "$BS" "$LAB_TMP/break.conf" "/etc/systemd/system/$BS_SVC.d/zz-break.conf"
	C timeout 60 systemctl daemon-reload
	lab_log "BS_BREAK_DROPIN: the service runs with $(tr '\n' ' ' <"$LAB_TMP/break.conf") (checks should now fail)"
fi

# Only the socket.
C timeout 90 systemctl start "$BS_SOCK" || lab_fail "systemctl start $BS_SOCK"
[ "$(active "$BS_SOCK")" = active ] || lab_fail "$BS_SOCK is '$(active "$BS_SOCK")' after start"
[ "$(active "$BS_SVC")" = inactive ] || lab_fail "$BS_SVC is '$(active "$BS_SVC")' with only the socket started"
l=$(listeners)
[ "$(wc -l <<<"$l")" = 1 ] && grep -q '"systemd",pid=1,' <<<"$l" && ! grep -q geostage <<<"$l" ||
	lab_fail "before the first connection, port $BS_PORT should be PID 1's alone: '$l'"
C pgrep -u geostage >/dev/null && lab_fail "a process of geostage runs before the first connection: $(C pgrep -a -u geostage)"
lab_ok "socket active: PID 1 listens on $BS_PORT, the service inactive, no process of geostage"
lab_time_end init "init, site add, socket start"

# ---------------------------------------------------------------------------
# The first connection starts the service.
lab_time_start first
hc_ok "first connection"
lab_time_end first "first TLS connection (starts the service)"
PID1=$(svc_checks "after the first connection") || exit 1
lab_ok "the first TLS connection (pinned) started $BS_SVC: /healthz 200, PID $PID1 uid geostage, child of PID 1, on systemd's socket"
[ "$(C stat -c '%a %U:%G' "$BS_SD")" = "710 geostage:geostage" ] ||
	lab_fail "state dir with the service running: $(C stat -c '%a %U:%G' "$BS_SD"), expected 710 geostage:geostage (StateDirectoryMode)"
for f in tls.key token.key ca.key vpn-server.key tls-crypt.key bootstrap.conf geostage.db; do
	[ "$(C stat -c '%a %U:%G' "$BS_SD/$f")" = "600 geostage:geostage" ] ||
		lab_fail "$f is $(C stat -c '%a %U:%G' "$BS_SD/$f"), expected 600 geostage:geostage"
done
lab_ok "state dir 0710 geostage:geostage (init's 0700 widened by the start); keys, bootstrap.conf, database 0600 geostage"

# ---------------------------------------------------------------------------
# The sandbox, from inside.
lab_time_start sandbox
sec=$(C timeout 60 systemd-analyze security --no-pager "$BS_SVC" 2>&1 |
	sed -n "s/.*Overall exposure level for $BS_SVC: \([0-9.]*\).*/\1/p")
[ -n "$sec" ] || lab_fail "no exposure level from systemd-analyze security $BS_SVC"
awk -v e="$sec" 'BEGIN { exit !(e <= 2.0) }' ||
	lab_fail "systemd-analyze security $BS_SVC: exposure $sec, more than 2.0"
lab_ok "systemd-analyze security $BS_SVC inside the container: exposure $sec (<= 2.0)"

for k in CapInh CapPrm CapEff CapBnd CapAmb; do
	v=$(field "$PID1" "$k")
	[ "$v" = 0000000000000000 ] || lab_fail "/proc/$PID1/status: $k $v, expected 0"
done
[ "$(field "$PID1" NoNewPrivs)" = 1 ] || lab_fail "/proc/$PID1/status: NoNewPrivs $(field "$PID1" NoNewPrivs)"
[ "$(field "$PID1" Seccomp)" = 2 ] || lab_fail "/proc/$PID1/status: Seccomp $(field "$PID1" Seccomp)"
# nspawn puts a filter on every process of the container: the service must
# have its own on top (SystemCallFilter=, SystemCallArchitectures=, ...).
nf_svc=$(field "$PID1" Seccomp_filters)
nf_init=$(field 1 Seccomp_filters)
[ -n "$nf_svc" ] && [ -n "$nf_init" ] && [ "$nf_svc" -gt "$nf_init" ] ||
	lab_fail "Seccomp_filters: the service has '$nf_svc', the container's PID 1 '$nf_init': no filter of its own"
lab_ok "/proc/$PID1/status: no capabilities (CapInh/Prm/Eff/Bnd/Amb 0), NoNewPrivs 1, Seccomp 2 with $nf_svc filters (PID 1: $nf_init)"

[ "$(C readlink "/proc/$PID1/ns/mnt")" != "$(C readlink /proc/1/ns/mnt)" ] ||
	lab_fail "the service shares PID 1's mount namespace"
[ "$(C readlink "/proc/$PID1/ns/user")" != "$(C readlink /proc/1/ns/user)" ] ||
	lab_fail "the service shares PID 1's user namespace (PrivateUsers=)"
# mountinfo: the top mount at / is read-only, the one at the state dir not.
topopt() { C awk -v m="$1" '$5 == m { o = $6 } END { print o }' "/proc/$PID1/mountinfo"; }
[[ $(topopt /) == ro* ]] || lab_fail "/ is mounted '$(topopt /)' for the service, expected ro"
[[ $(topopt "$BS_SD") == rw* ]] || lab_fail "$BS_SD is mounted '$(topopt "$BS_SD")' for the service, expected rw"
# In its mount namespace even root cannot write outside the state dir.
IN=(timeout 10 nsenter -t "$PID1" -m --)
for d in /etc /usr/bin /var/lib /var/log /opt; do
	out=$(C "${IN[@]}" sh -c "touch $d/gs-lab-probe" 2>&1) &&
		lab_fail "wrote $d/gs-lab-probe in the service's mount namespace"
	grep -q 'Read-only file system' <<<"$out" || lab_fail "writing $d in the service's mount namespace: '$out', expected EROFS"
done
C "${IN[@]}" sh -c "touch $BS_SD/.gs-lab-probe && rm $BS_SD/.gs-lab-probe" ||
	lab_fail "the state dir is not writable in the service's mount namespace"
C "${IN[@]}" test -e /root/gs-lab-secret && lab_fail "/root is visible to the service (ProtectHome=)"
C test -c /dev/net/tun || lab_fail "the container has no /dev/net/tun to hide"
C "${IN[@]}" test -e /dev/net/tun && lab_fail "/dev/net/tun is visible to the service (PrivateDevices=)"
lab_ok "own mount and user namespaces; / read-only (mountinfo; EROFS in /etc /usr/bin /var/lib /var/log /opt even for root), $BS_SD writable, /root and /dev/net/tun hidden"
lab_time_end sandbox "sandbox checks"

# ---------------------------------------------------------------------------
# State: tokens, a revoked one, a node enrolled through the socket.
lab_time_start state
capt "$LAB_TMP/t1.token" gsb token create --site tokyo --uses 2 --label tier=lab
capt "$LAB_TMP/list1.json" gsb token list --json
T1=$(jq -r '.[0].id' "$LAB_TMP/list1.json")
capt "$LAB_TMP/t2.token" gsb token create --site tokyo
capt "$LAB_TMP/list2.json" gsb token list --json
T2=$(jq -r --arg t "$T1" '.[] | select(.id != $t) | .id' "$LAB_TMP/list2.json")
[ -n "$T1" ] && [ -n "$T2" ] && [ "$T1" != "$T2" ] || lab_fail "two token ids: '$T1' '$T2'"
capt "$LAB_TMP/revoke.out" gsb token revoke "$T2"
chmod 600 "$LAB_TMP"/t?.token
printf '%s\n' 'retry_attempts = 3' 'retry_initial_ms = 200' 'retry_max_ms = 1000' \
	'connect_timeout = 5' 'request_timeout = 20' >"$LAB_TMP/agent.conf"
rc=0
ip netns exec "$(net_ns srv)" timeout 120 "$LAB_TMP/agent/geostage-enrolld" \
	--config "$LAB_TMP/agent.conf" --token-file "$LAB_TMP/t1.token" \
	--state-dir "$LAB_TMP/agent/state" --until enroll \
	>"$LAB_TMP/agent.out" 2>"$LAB_TMP/agent.log" || rc=$?
lab_add_log "$LAB_TMP/agent.log"
[ "$rc" = 0 ] || lab_fail "the agent's enrollment through the socket: exit $rc"
capt "$LAB_TMP/nodes.json" gsb node list --json
[ "$(jq length "$LAB_TMP/nodes.json")" = 1 ] || lab_fail "node list after the enrollment: $(cat "$LAB_TMP/nodes.json")"
capt "$LAB_TMP/tokens.json" gsb token list --json
[ "$(jq -r --arg t "$T1" '.[] | select(.id == $t) | "\(.uses)/\(.max_uses) \(.state)"' "$LAB_TMP/tokens.json")" = "1/2 active" ] ||
	lab_fail "token $T1 after one enrollment: $(jq -c . "$LAB_TMP/tokens.json")"
[ "$(jq -r --arg t "$T2" '.[] | select(.id == $t) | .state' "$LAB_TMP/tokens.json")" = revoked ] ||
	lab_fail "token $T2 is not revoked: $(jq -c . "$LAB_TMP/tokens.json")"
NODE=$(jq -r '.[0].name' "$LAB_TMP/nodes.json")
C test -f "$BS_SD/ccd/$NODE" || lab_fail "no ccd/$NODE for the enrolled node"
snapshot "$LAB_TMP/state.ref"
lab_ok "tokens $T1 (1 of 2 uses) and $T2 (revoked), site tokyo, node $NODE enrolled through the socket by the agent"

INO1=$(sock_ino)
[ -n "$INO1" ] || lab_fail "no inode for the listening socket"
C timeout 90 systemctl restart "$BS_SVC" || lab_fail "systemctl restart $BS_SVC"
[ "$(sock_ino)" = "$INO1" ] || lab_fail "systemctl restart $BS_SVC replaced the listening socket ($INO1 -> $(sock_ino))"
PID2=$(svc_checks "after systemctl restart") || exit 1
[ "$PID2" != "$PID1" ] || lab_fail "systemctl restart did not restart the server (same PID $PID1)"
hc_ok "after systemctl restart"
snapshot "$LAB_TMP/state.restart"
same_state "$LAB_TMP/state.ref" "$LAB_TMP/state.restart" "after systemctl restart"
lab_ok "systemctl restart: new PID $PID2, same tokens, nodes, sites, keys, bootstrap.conf"
lab_time_end state "tokens, enrollment, restart"

# ---------------------------------------------------------------------------
# Upgrade: the same package with a newer version, published in the repo.
lab_time_start upgrade
DEB2=$(sys_deb_rebuild "$DEB1" "$V2" "$LAB_TMP/debs2") || lab_fail "repacking $V2"
cp "$DEB2" "$LAB_TMP/debs/" || lab_fail "copying $DEB2"
apt_repo_build "$LAB_TMP/debs" "$REPO"
capt_apt update2 update
capt_apt upgrade upgrade
[ "$(C dpkg-query -W -f='${Status} ${Version}' geostage-bootstrap)" = "install ok installed $V2" ] ||
	lab_fail "geostage-bootstrap is not at $V2 after apt-get upgrade: $(C dpkg-query -W -f='${Status} ${Version}' geostage-bootstrap)"
[ -z "$(C dpkg-query -W -f='${Conffiles}' geostage-bootstrap)" ] ||
	lab_fail "the package has conffiles now: check they are kept across upgrades"
[ "$(active "$BS_SOCK")" = active ] || lab_fail "$BS_SOCK is '$(active "$BS_SOCK")' after the upgrade"
# The socket unit's comment: "connections wait in the backlog while the
# service restarts (upgrade, watchdog) instead of being refused". Only if
# the upgrade keeps systemd's listening socket open.
INO2=$(sock_ino)
[ "$INO2" = "$INO1" ] ||
	bug "the upgrade closed and reopened the listening socket ($INO1 -> $INO2): connections queued in its backlog are reset and new ones refused meanwhile, not kept waiting as units/geostage-bootstrap.socket says (the postinst from packaging/debian/rules' 'dh_installsystemd -pgeostage-bootstrap' runs 'deb-systemd-invoke restart geostage-bootstrap.service geostage-bootstrap.socket')"
hc_ok "after the upgrade (same pin)"
PID3=$(svc_checks "after the upgrade") || exit 1
[ "$PID3" != "$PID2" ] || lab_fail "the upgrade did not restart the server (same PID $PID2)"
snapshot "$LAB_TMP/state.upgrade"
same_state "$LAB_TMP/state.ref" "$LAB_TMP/state.upgrade" "after the upgrade to $V2"
C grep -qxF "$BS_EDIT" "$BS_SD/bootstrap.conf" || lab_fail "the operator's '$BS_EDIT' is gone from bootstrap.conf"
lab_ok "apt-get upgrade to $V2: socket active, service restarted (PID $PID3), same pin answers, same state and key hashes, bootstrap.conf with the operator's edit untouched (not a conffile: state)"
lab_time_end upgrade "upgrade to $V2"

# ---------------------------------------------------------------------------
# A reboot: the enabled socket listens again, the state is served. (Only
# where the lab has container_reboot, tests/lab/lib/container.sh.)
if declare -F container_reboot >/dev/null; then
	lab_time_start reboot
	container_reboot "$BS" 60
	st=$(container_wait_running "$BS" 60)
	[ "$st" = running ] || lab_fail "container $BS rebooted '$st', expected running"
	[ "$(active "$BS_SOCK")" = active ] || lab_fail "$BS_SOCK is '$(active "$BS_SOCK")' after a reboot"
	hc_ok "after a reboot"
	svc_checks "after a reboot" >/dev/null || exit 1
	snapshot "$LAB_TMP/state.reboot"
	same_state "$LAB_TMP/state.ref" "$LAB_TMP/state.reboot" "after a reboot"
	lab_ok "reboot: $BS_SOCK active at boot, the same pin answers, same state"
	lab_time_end reboot "reboot"
else
	lab_log "no container_reboot in tests/lab/lib/container.sh: reboot not checked"
fi

# ---------------------------------------------------------------------------
# remove keeps the state, a reinstall uses it, purge removes it.
lab_time_start remove
files_snapshot >"$LAB_TMP/files.ref" || lab_fail "files snapshot"
capt_apt remove remove geostage-bootstrap
[ "$(C dpkg-query -W -f='${Status}' geostage-bootstrap 2>&1)" = "deinstall ok config-files" ] ||
	lab_fail "after apt-get remove: $(C dpkg-query -W -f='${Status}' geostage-bootstrap 2>&1)"
for u in "$BS_SOCK" "$BS_SVC"; do
	[ "$(active "$u")" = inactive ] || lab_fail "$u is '$(active "$u")' after apt-get remove"
done
[ -z "$(listeners)" ] || lab_fail "something still listens on $BS_PORT after remove: $(listeners)"
C pgrep -u geostage >/dev/null && lab_fail "processes of geostage after remove: $(C pgrep -a -u geostage)"
[ "$(C systemctl is-system-running 2>&1)" = running ] ||
	lab_fail "system is $(C systemctl is-system-running 2>&1) after remove: $(C systemctl --failed --no-legend)"
files_snapshot >"$LAB_TMP/files.remove" || lab_fail "the state dir is gone after apt-get remove"
same_state "$LAB_TMP/files.ref" "$LAB_TMP/files.remove" "after apt-get remove"
C test -s "$BS_SD/geostage.db" || lab_fail "geostage.db is gone after apt-get remove"
lab_ok "apt-get remove: units stopped, port closed, nothing failed, state dir and keys kept"

capt_apt reinstall install --no-install-recommends geostage-bootstrap
[ "$(active "$BS_SOCK")" = active ] || lab_fail "$BS_SOCK is '$(active "$BS_SOCK")' after the reinstall"
hc_ok "after remove and reinstall"
svc_checks "after remove and reinstall" >/dev/null || exit 1
snapshot "$LAB_TMP/state.reinstall"
same_state "$LAB_TMP/state.ref" "$LAB_TMP/state.reinstall" "after remove and reinstall"
lab_ok "reinstalled: the kept state serves again (same pin, tokens, nodes, keys)"

capt_apt purge purge geostage-bootstrap
[ -z "$(C dpkg-query -W -f='${Status}' geostage-bootstrap 2>/dev/null)" ] ||
	C dpkg-query -W -f='${Status}' geostage-bootstrap 2>/dev/null | grep -q 'not-installed' ||
	lab_fail "after purge: $(C dpkg-query -W -f='${Status}' geostage-bootstrap)"
C test -e "$BS_SD" && lab_fail "$BS_SD is still there after apt-get purge: $(C ls -la "$BS_SD")"
[ -z "$(listeners)" ] || lab_fail "something listens on $BS_PORT after purge: $(listeners)"
left=$(C sh -c 'ls /etc/systemd/system/*.wants/geostage-bootstrap.* 2>/dev/null')
[ -z "$left" ] || lab_fail "unit symlinks left after purge: $left"
C getent passwd geostage >/dev/null || lab_fail "purge removed the system user (the postrm says it stays)"
[ "$(C systemctl is-system-running 2>&1)" = running ] ||
	lab_fail "system is $(C systemctl is-system-running 2>&1) after purge: $(C systemctl --failed --no-legend)"
lab_ok "apt-get purge: state dir and unit symlinks gone, user geostage kept, nothing failed"
lab_time_end remove "remove, reinstall, purge"

lab_timings >&2
if [ ${#BS_BUGS[@]} -gt 0 ]; then
	for b in "${BS_BUGS[@]}"; do echo "BUG (package/units): $b" >&2; done
	lab_fail "${#BS_BUGS[@]} bug(s) of the package or the units (above); every other check passed"
fi
echo "PASS: $LAB_TEST_NAME"
