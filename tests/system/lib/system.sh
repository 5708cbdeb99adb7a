# shellcheck shell=bash
# Shared helpers of the agent's system tests (tests/system/agent-*.sh):
# the geostage-enrolld package installed by apt, run by real systemd as
# PID 1 in a booted container on the lab's network, against the master
# site of tests/lab/lib/geostage.sh.
#
# What runs where (addresses: tests/lab/lib/geostage.sh, net.sh):
#   <run>-srv        geostage-bootstrap serve (the in-tree build), the lab's
#                    signed apt repository (busybox httpd; r-master forwards
#                    tcp/80 and tcp/8443 from 203.0.113.10), the Kubernetes
#                    API STAND-IN at 192.168.10.253:6443
#   <run>-r-master   OpenVPN from `geostage-bootstrap vpn server-config`
#   <run>-standalone the node under test: one container, 203.0.113.40,
#                    site "solo" (direct mode: its own OpenVPN tunnel)
# Only the lab scenario's master site is set up (net_setup, the repository,
# gs_api_up, gs_boot_init, gs_vpn_up, gs_boot_start), none of its nodes.
#
# The repository holds what gs_repo_up puts there (the kubeadm, kubelet,
# kubectl STAND-IN .debs; Debian's containerd, openvpn and their
# dependencies beyond the base rootfs) plus the geostage .debs of `make
# deb` (tests/system/lib/debs.sh) and the Debian packages that
# geostage-enrolld's Depends: name and the base rootfs lacks (kmod).
# Nothing geostage is copied into the containers: the agent, its units
# and its enrolld.conf are the package's, with the package's defaults.
#
#   sys_prereqs                  skip (77) without root, /dev/net/tun or
#                                the in-tree server and API stand-in
#   sys_master_up                the master site above
#   sys_node_prepare NAME ROOTFS [persistent]
#                                a container on the standalone host, not
#                                booted ("persistent": a persistent journal
#                                and a fixed machine id, so that journalctl
#                                reads every boot)
#   sys_boot NAME                boot it, wait until running
#   sys_add_repo NAME            the site's repository as an apt source,
#                                in the agent's own file names
#   sys_token NAME               a one-use token for site solo
#   sys_apt_install_agent NAME   apt-get install geostage-enrolld inside;
#                                checks what the package installed
#   sys_write_token NAME FILE    the token, as the docs say to write it
#   sys_status_sampler_start NAME / sys_status_sampler_stop
#                                `systemctl status` sampled into
#                                $LAB_TMP/status-samples
#   sys_wait_done TIMEOUT NAME   until the agent's done file exists
#   sys_unit_starts NAME [ARG...] one line per start of the agent's unit
#   sys_done_time NAME T0        seconds from T0 to the done file's mtime
#   sys_assert_* ...             the assertions the tests share
#
# GEOSTAGE_SYS_DEBS=DIR uses the geostage .debs in DIR instead of building
# them with `make deb` (sys_debs), e.g. while `make deb` cannot run.

# The master site serves the product's own flat repository
# (packaging/repo/make-repo), as an operator would (geostage.sh).
: "${GS_REPO_MODE:=make-repo}"
# shellcheck source=debs.sh
. "$(dirname "${BASH_SOURCE[0]}")/debs.sh"

SYS_STEPS=("${GS_STEPS[@]}")
SYS_AGENT_UNIT=geostage-enrolld.service
SYS_STATE_DIR=/var/lib/geostage-enrolld

sys_prereqs() {
	gs_prereqs
	[ -d /sys/fs/cgroup ] || lab_skip "needs /sys/fs/cgroup"
}

# sys_debian_debs ROOTFS ENROLLD_DEB: prints the cached directory of the
# Debian .debs of the lab scenario (GS_DEBIAN_PKGS) plus the agent's
# Depends: that ROOTFS lacks, with their dependencies.
sys_debian_debs() {
	local rootfs=$1 deb=$2 pkgs
	mapfile -t pkgs < <({
		printf '%s\n' "${GS_DEBIAN_PKGS[@]}"
		gs_missing_depends "$deb" "$rootfs"
	} | sort -u)
	lab_log "Debian packages for the repository: ${pkgs[*]} (and what they need)"
	gs_debian_debs "$rootfs" "${pkgs[@]}"
}

# sys_master_up: the master site: apt repository (with the geostage
# .debs), API stand-in, bootstrap server, OpenVPN.
sys_master_up() {
	lab_need_pkgs debootstrap systemd-container nftables iproute2 iputils-ping \
		openvpn openssl busybox apt-utils gnupg curl jq dpkg-dev
	gs_workdir

	lab_time_start artefacts
	GS_ROOTFS=$(rootfs_ensure) || lab_fail "base rootfs"
	if [ -n "${GEOSTAGE_SYS_DEBS:-}" ]; then
		SYS_DEBS=$GEOSTAGE_SYS_DEBS
		lab_log "geostage .debs from GEOSTAGE_SYS_DEBS=$SYS_DEBS (not built from this tree)"
	else
		SYS_DEBS=$(sys_debs) || lab_fail "the geostage .debs (make deb)"
	fi
	SYS_ENROLLD_DEB=$(compgen -G "$SYS_DEBS/geostage-enrolld_*.deb" | head -n 1)
	if [ -z "$SYS_ENROLLD_DEB" ] || ! compgen -G "$SYS_DEBS/geostage-bootstrap_*.deb" >/dev/null; then
		lab_fail "no geostage-enrolld_*.deb and geostage-bootstrap_*.deb in $SYS_DEBS"
	fi
	SYS_ENROLLD_VERSION=$(dpkg-deb -f "$SYS_ENROLLD_DEB" Version)
	# shellcheck disable=SC2034 # both read by gs_master_up (geostage.sh)
	GS_STANDIN_DEBS=$(gs_standin_debs) || lab_fail "stand-in .debs"
	# shellcheck disable=SC2034
	GS_DEBIAN_DEBS=$(sys_debian_debs "$GS_ROOTFS" "$SYS_ENROLLD_DEB") || lab_fail "Debian .debs"
	lab_time_end artefacts "rootfs, geostage .debs, stand-in and Debian .debs (cached: ~0)"
	lab_log "agent package: $(basename "$SYS_ENROLLD_DEB")"

	# gs_master_up's repository adds the stand-in and Debian .debs.
	cp "$SYS_DEBS"/geostage-bootstrap_*.deb "$SYS_DEBS"/geostage-enrolld_*.deb "$LAB_TMP/debs/" ||
		lab_fail "collecting the geostage .debs"
	gs_master_up
}

# sys_node_prepare NAME ROOTFS [persistent]: the container on the
# standalone host (203.0.113.40, site solo), not booted.
sys_node_prepare() {
	local name=$1 rootfs=$2 m
	container_prepare "$name" "$(net_ns standalone)" "$rootfs"
	m=$LAB_TMP/c/$name/merged
	if [ "${3:-}" = persistent ]; then
		mkdir -p "$m/var/log/journal"
		printf '%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$m/etc/machine-id"
	fi
}

# sys_boot NAME: boot, wait until running (degraded fails).
sys_boot() {
	local st
	container_boot "$1"
	st=$(container_wait_running "$1" 90)
	[ "$st" = running ] || lab_fail "container $1 booted '$st', expected running"
}

# sys_add_repo NAME: the master site's repository as an apt source, in
# the files the agent itself writes for the apt_source "geostage-lab" of
# bootstrap.conf (and cloud-init's user-data too): its packages step then
# rewrites them instead of adding a second entry for the same repository.
# (Added any other way - say a one-line .list with signed-by=KEY.gpg -
# the agent's own file makes a second entry with another Signed-By, and
# every apt-get update of its packages step fails: "The list of sources
# could not be read".)
sys_add_repo() {
	local name=$1
	{
		echo "# geostage lab: the master site's repository (tests/system/lib/system.sh)"
		echo "Types: deb"
		echo "URIs: $GS_REPO_URL"
		echo "Suites: $GS_APT_SUITE"
		[ "$GS_APT_COMPONENT" = - ] || echo "Components: $GS_APT_COMPONENT"
		echo "Signed-By: /etc/apt/keyrings/geostage-lab.asc"
	} >"$LAB_TMP/geostage-lab.sources"
	container_copy_in "$name" "$GS_REPO/key.asc" /etc/apt/keyrings/geostage-lab.asc 0644
	container_copy_in "$name" "$LAB_TMP/geostage-lab.sources" \
		/etc/apt/sources.list.d/geostage-lab.sources 0644
}

# sys_apt_install_agent NAME: apt-get install geostage-enrolld in the
# booted container, from the repository; then check that the units are
# the package's, enabled, and that nothing started.
sys_apt_install_agent() {
	local name=$1 log=$LAB_TMP/c/$1/apt-install.log u
	lab_time_start apt-install
	container_exec "$name" timeout 300 sh -c '
		apt-get -q -o DPkg::Lock::Timeout=900 update &&
		apt-get -q -y -o DPkg::Lock::Timeout=900 install geostage-enrolld' \
		>"$log" 2>&1 || {
		tail -n 30 "$log" >&2
		lab_fail "$name: apt-get install geostage-enrolld"
	}
	lab_time_end apt-install "apt-get install geostage-enrolld"
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	[ "$(container_exec "$name" dpkg-query -W -f='${Status} ${Version}' geostage-enrolld)" = \
		"install ok installed $SYS_ENROLLD_VERSION" ] ||
		lab_fail "$name: geostage-enrolld $SYS_ENROLLD_VERSION is not installed"
	for u in geostage-enrolld.service geostage-enrolld.path; do
		container_exec "$name" dpkg -S "/lib/systemd/system/$u" >/dev/null 2>&1 ||
			lab_fail "$name: $u is not the package's (dpkg -S)"
		[ "$(container_exec "$name" systemctl is-enabled "$u")" = enabled ] ||
			lab_fail "$name: $u is not enabled by the package"
	done
	[ "$(container_exec "$name" systemctl is-active geostage-enrolld.path)" = active ] ||
		lab_fail "$name: geostage-enrolld.path is not active after the installation"
	[ "$(container_exec "$name" systemctl show -p ActiveState --value "$SYS_AGENT_UNIT")" = inactive ] ||
		lab_fail "$name: the agent runs before any token was written"
	container_exec "$name" test -e "$SYS_STATE_DIR/state.json" &&
		lab_fail "$name: the agent ran before any token was written"
	lab_ok "$name: apt-get install geostage-enrolld $SYS_ENROLLD_VERSION from the site's signed repository; its units are enabled, the .path unit waits, the agent has not run"
}

# sys_token NAME: a one-use token for site solo in $LAB_TMP/tokens/NAME.token.
sys_token() { gs_token "$1" solo node; }

# sys_write_token NAME FILE: as the docs say (units/geostage-enrolld.path,
# packaging/debian/enrolld.conf): install -m 0600 /dev/stdin.
sys_write_token() {
	container_exec "$1" install -m 0600 /dev/stdin /etc/geostage/token <"$2" ||
		lab_fail "$1: writing /etc/geostage/token"
}

# sys_unit_starts NAME [JOURNALCTL_ARG...]: one line per start of the
# agent's unit: "REALTIME_US INVOCATION_ID" of the first journal entry of
# each invocation (systemd's "Starting"/"Started" or the agent's own).
sys_unit_starts() {
	local n=$1
	shift
	container_exec "$n" journalctl --no-pager -o json -u "$SYS_AGENT_UNIT" "$@" |
		jq -r '(.INVOCATION_ID // ._SYSTEMD_INVOCATION_ID // empty) as $i |
			"\(.__REALTIME_TIMESTAMP) \($i)"' | sort -n | awk '!seen[$2]++'
}

# The done marker; its mtime is when the agent finished.
sys_done() { container_exec "$1" test -e "$SYS_STATE_DIR/done"; }

# sys_wait_done TIMEOUT NAME: until the done file exists; fails on timeout
# or when the unit failed for good (a refusal, a configuration error).
sys_wait_done() {
	local timeout=$1 n=$2 i end st
	end=$(($(_lab_us) + timeout * 1000000))
	for ((i = 0; i < timeout * 4 + 1; i++)); do
		sys_done "$n" && return 0
		st=$(container_exec "$n" systemctl show -p ActiveState --value "$SYS_AGENT_UNIT" 2>/dev/null)
		if [ "$st" = failed ]; then
			gs_node_diag "$n"
			lab_fail "$n: $SYS_AGENT_UNIT failed"
		fi
		[ "$(_lab_us)" -ge "$end" ] && break
		sleep 0.25
	done
	gs_node_diag "$n"
	lab_fail "$n: the agent was not done after ${timeout}s"
}

# sys_done_time NAME T0: seconds (one decimal) from T0 (lab_now, host
# clock: the container shares it) to the mtime of the done file.
sys_done_time() {
	local t1
	t1=$(container_exec "$1" stat -c %.9Y "$SYS_STATE_DIR/done") || lab_fail "$1: no done file"
	awk -v a="$2" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'
}

# sys_status_sampler_start NAME: `systemctl status` of the agent's unit,
# every ~0.1 s, until the agent is done and its unit has stopped (at most
# 300 s); each sample's Active: and Status: lines ("-" when there is
# none) go to $LAB_TMP/status-samples as "ACTIVE<TAB>STATUS".
sys_status_sampler_start() {
	local n=$1 out=$LAB_TMP/status-samples
	: >"$out"
	(
		end=$(($(_lab_us) + 300 * 1000000))
		for ((i = 0; i < 3000; i++)); do
			[ "$(_lab_us)" -ge "$end" ] && break
			s=$(container_exec "$n" systemctl status --no-pager -n 0 "$SYS_AGENT_UNIT" 2>/dev/null)
			a=$(sed -n 's/^ *Active: \([a-z]* ([a-z-]*)\).*/\1/p' <<<"$s")
			st=$(sed -n 's/^ *Status: "\(.*\)"$/\1/p' <<<"$s")
			printf '%s\t%s\n' "${a:--}" "${st:--}" >>"$out"
			# one full sample per step seen, for the log
			if [ -n "$st" ]; then
				k=$(sed -n 's|^step \([0-9]\)/.*|\1|p' <<<"$st")
				[ -n "$k" ] && [ ! -e "$out.step$k" ] && printf '%s\n' "$s" >"$out.step$k"
			fi
			# until the agent has finished and its unit is no longer active
			sys_done "$n" && [ "$a" != "active (running)" ] && [ "${a%% *}" != activating ] && break
			sleep 0.1
		done
	) &
	SYS_SAMPLER_PID=$!
	lab_on_exit sys_status_sampler_stop 0
}

# sys_status_sampler_stop [WAIT_S]: give the sampler up to WAIT_S (10) to
# end by itself, then stop it.
sys_status_sampler_stop() {
	local i
	[ -n "${SYS_SAMPLER_PID:-}" ] || return 0
	for ((i = 0; i < ${1:-10} * 10; i++)); do
		kill -0 "$SYS_SAMPLER_PID" 2>/dev/null || break
		sleep 0.1
	done
	lab_kill_pid "$SYS_SAMPLER_PID" 2
	SYS_SAMPLER_PID=
}

# sys_assert_status_samples: while the agent ran, systemctl status named
# the current step in Status: (the agent's STATUS=), and the packages step
# (seconds long) was seen; prints the steps seen.
sys_assert_status_samples() {
	local out=$LAB_TMP/status-samples seen bad
	[ -s "$out" ] || lab_fail "no systemctl status sample"
	# STATUS= is "step N/8: NAME <em dash> doing", "step N/8: NAME -
	# message; retrying in T" or "done: ..." (enrolld/notify.c, run.c).
	bad=$(awk -F'\t' '$1 ~ /^active \(running\)/ && $2 != "-" &&
		$2 !~ /^step [1-8]\/8: [a-z]+ / && $2 !~ /^done: /' "$out" | head -n 3)
	[ -z "$bad" ] || lab_fail "systemctl status showed a Status: that names no step while the agent ran: $bad"
	seen=$(sed -n 's|^active (running)\tstep [1-8]/8: \([a-z]*\) .*|\1|p' "$out" | uniq | paste -sd' ')
	[[ " $seen " == *" packages "* ]] || {
		sort "$out" | uniq -c >&2
		lab_fail "systemctl status never showed the packages step while the agent ran (seen: '$seen')"
	}
	[ -f "$out.step3" ] && sed -n '1,/^ *Status:/p' "$out.step3" | sed 's/^/    /' >&2
	lab_ok "systemctl status showed the current step in Status: while the agent ran ($(wc -l <"$out") samples; steps seen in order: $seen)"
}

# sys_assert_journal_steps NAME [JOURNALCTL_ARG...]: the agent's journal
# shows every step starting ("step N/8: NAME: ...") and the end.
sys_assert_journal_steps() {
	local n=$1 j=$LAB_TMP/c/$1/journal-agent.txt i s
	shift
	container_exec "$n" journalctl --no-pager -o short-precise -u "$SYS_AGENT_UNIT" "$@" >"$j" ||
		lab_fail "$n: journalctl -u $SYS_AGENT_UNIT"
	for ((i = 0; i < ${#SYS_STEPS[@]}; i++)); do
		s=${SYS_STEPS[i]}
		grep -qE "step $((i + 1))/${#SYS_STEPS[@]}: $s: " "$j" || {
			tail -n 40 "$j" >&2
			lab_fail "$n: the journal of $SYS_AGENT_UNIT does not show step $s"
		}
	done
	grep -qF "every step is done" "$j" || lab_fail "$n: the journal does not show the end (every step is done)"
	lab_ok "$n: journalctl -u $SYS_AGENT_UNIT shows every step: ${SYS_STEPS[*]}"
}

# sys_assert_no_secrets NAME TOKEN_FILE WHAT FILE...: no token (nor its
# signature), no private key material (PEM private key headers, OpenVPN
# static keys, any line of the node key's base64) and no kubeadm
# bootstrap token in FILEs (dumps on the host), described as WHAT.
sys_assert_no_secrets() {
	local n=$1 tokf=$2 what=$3 tok sig f line keyb64 hit
	shift 3
	tok=$(tr -d '\n' <"$tokf")
	sig=${tok##*.}
	[ ${#sig} -ge 40 ] || lab_fail "the token's signature part is too short to search for"
	keyb64=$LAB_TMP/c/$n/node-key.b64
	container_exec "$n" cat "$SYS_STATE_DIR/node.key" | grep -v -- '-----' >"$keyb64" ||
		lab_fail "$n: cannot read the node key"
	[ -s "$keyb64" ] || lab_fail "$n: empty node key"
	# The bootstrap tokens the server minted, as the API stand-in keeps them.
	local secrets=() s
	for s in "$GS_KUBE"/secrets/bootstrap-token-*.json; do
		[ -f "$s" ] || continue
		secrets+=("$(jq -r '.data["token-secret"]' "$s" | base64 -d)")
	done
	[ ${#secrets[@]} -gt 0 ] || lab_fail "no bootstrap token Secret at the API stand-in"
	for f in "$@"; do
		[ -s "$f" ] || lab_fail "nothing to search in $f"
		grep -qaF -e "$tok" -e "$sig" "$f" && lab_fail "the token (or its signature) appears in $what ($f)"
		hit=$(grep -aE -m 3 'BEGIN .*PRIVATE KEY|BEGIN OpenVPN Static key' "$f") &&
			lab_fail "private key material in $what ($f): $hit"
		while read -r line; do
			[ ${#line} -ge 16 ] || continue
			grep -qaF -- "$line" "$f" && lab_fail "the node key's base64 appears in $what ($f)"
		done <"$keyb64"
		hit=$(grep -aoE -m 3 '[a-z0-9]{6}\.[a-z0-9]{16}' "$f") &&
			lab_fail "a kubeadm bootstrap token (or its shape) appears in $what ($f): $hit"
		for s in "${secrets[@]}"; do
			grep -qaF -- "$s" "$f" && lab_fail "the secret of a minted kubeadm bootstrap token appears in $what ($f)"
		done
	done
	lab_ok "$n: no token, token signature, private key material or kubeadm bootstrap token in $what"
}

# sys_journal_dump NAME OUT [JOURNALCTL_ARG...]: every field of every
# entry of the container's whole journal (export format).
sys_journal_dump() {
	local n=$1 out=$2
	shift 2
	container_exec "$n" journalctl --no-pager -o export "$@" >"$out" ||
		lab_fail "$n: journalctl -o export"
	[ "$(grep -c '^__CURSOR=' "$out")" -gt 100 ] || lab_fail "$n: the journal dump $out is (nearly) empty"
}

# sys_assert_server_done NAME TOKEN_ID: the server's view: one node for
# this host, done; the token's one use spent.
sys_assert_server_done() {
	local n=$1 tid=$2 list tl
	list=$(B node list --json) || lab_fail "node list --json"
	[ "$(jq --arg h "$n" '[.[] | select(.hostname == $h or .name == $h)] | length' <<<"$list")" = 1 ] ||
		lab_fail "node list --json: not exactly one node for $n: $(jq -c '[.[] | {name, hostname}]' <<<"$list")"
	[ "$(jq -r --arg h "$n" '.[] | select(.hostname == $h or .name == $h) | .step + "/" + .step_state' <<<"$list")" = done/done ] ||
		lab_fail "node list --json: $n is not done/done: $(jq -c --arg h "$n" '.[] | select(.hostname == $h or .name == $h)' <<<"$list")"
	SYS_NODE_NAME=$(jq -r --arg h "$n" '.[] | select(.hostname == $h or .name == $h) | .name' <<<"$list")
	tl=$(B token list --json) || lab_fail "token list --json"
	[ "$(jq -r --arg t "$tid" '.[] | select(.id == $t) | "\(.uses)/\(.max_uses)"' <<<"$tl")" = 1/1 ] ||
		lab_fail "token list --json: token $tid has not exactly 1 of 1 use spent: $(jq -c --arg t "$tid" '.[] | select(.id == $t)' <<<"$tl")"
	lab_ok "server: node list --json shows $SYS_NODE_NAME (host $n) done/done, the only node; token list --json: $tid 1 of 1 use spent"
}

# sys_assert_node_api NAME: the Node exists at the API stand-in.
sys_assert_node_api() {
	[ "$(gs_kube GET "/api/v1/nodes/${SYS_NODE_NAME:-$1}")" = 200 ] ||
		lab_fail "no Node ${SYS_NODE_NAME:-$1} at the Kubernetes API STAND-IN"
	lab_ok "Node ${SYS_NODE_NAME:-$1} exists at the Kubernetes API STAND-IN (joined by the kubeadm STAND-IN)"
}
