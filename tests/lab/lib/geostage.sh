# shellcheck shell=bash
# geostage itself on the lab: the multi-site scenario of issue 3, shared by
# tests/lab/scenario.sh (the test) and tools/demo (the narrated demo).
#
# What runs where (all inside this run's namespaces, see net.sh):
#   <run>-srv 192.168.10.5    geostage-bootstrap serve (the in-tree build;
#                             r-master forwards tcp/8443 from 203.0.113.10),
#                             the signed apt repository (busybox httpd :80;
#                             r-master forwards tcp/80 from 203.0.113.10)
#   <run>-srv 192.168.10.253  the Kubernetes API STAND-IN (tests/standins),
#                             the load-balancer address, :6443
#   <run>-r-master            OpenVPN 2.6 started from
#                             `geostage-bootstrap vpn server-config`: its
#                             ccd/, revoked/ and management socket are the
#                             bootstrap server's own
#   containers (systemd-nspawn, real systemd) with the agent:
#     tk-gw 192.168.20.10  gateway of site tokyo (routed, --gateway .10)
#     tk-n1 192.168.20.11  node behind it (routed: routes via tk-gw)
#     fr-gw 192.168.30.10  gateway of site frankfurt
#     fr-n1 192.168.30.11  node behind it
#     solo  203.0.113.40   the standalone host (site solo, direct mode)
#     cr1   203.0.113.41   a fresh direct-mode node for the crash test
#
# The agent in the containers: not from a .deb (the Debian packaging is
# issue 4's, and its own tests install it): a NON-sanitized build of the
# working tree's geostage-enrolld (ASan binaries do not run in a minimal
# container) is copied to /usr/bin/geostage-enrolld, where the package
# puts it, with the packaged unit units/geostage-enrolld.service when the
# tree has it (else the lab's minimal tests/lab/geostage-enrolld.service),
# its one library that minbase lacks (libjansson4, what the package's
# Depends: pulls) installed with dpkg before the boot, the token in
# /etc/geostage/token (0600). The unit is not enabled: the lab starts it,
# to time "agent start -> done".
#
# Packages: everything the agent installs comes from the lab's signed
# repository: the kubeadm/kubelet/kubectl STAND-IN .debs at 1.31.2
# (tests/standins/make-debs.sh) and Debian's containerd, openvpn and what
# they need beyond the base rootfs, fetched on the host with apt-get. The
# containers have no Debian source and no route to any mirror. The
# repository is named in bootstrap.conf (apt_source) at the master
# router's public address: the agent's packages step runs before its
# network step, so a node cannot reach 192.168.10.5 yet.
#
# Cached under $GEOSTAGE_TEST_CACHE (default /var/cache/geostage-test),
# each keyed by what it is built from, built under an flock into a temp
# dir and renamed into place: agent-<hash>/ (the non-sanitized agent),
# standin-debs-<hash>/, debian-debs-<hash>/ (keyed by the package list
# and the base rootfs).

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=rootfs.sh
. "$LAB_LIB_DIR/rootfs.sh"
# shellcheck source=net.sh
. "$LAB_LIB_DIR/net.sh"
# shellcheck source=container.sh
. "$LAB_LIB_DIR/container.sh"
# shellcheck source=apt-repo.sh
. "$LAB_LIB_DIR/apt-repo.sh"
# shellcheck source=ovpn.sh
. "$LAB_LIB_DIR/ovpn.sh"

GS_TOP=$(cd "$LAB_LIB_DIR/../../.." && pwd)
# Where the in-tree binaries are (automake's top_builddir under make check).
: "${GS_BUILDDIR:=${top_builddir:-$GS_TOP}}"
GS_K8S_VERSION=1.31.2
GS_MASTER_WAN=${NET_SITE_WAN[master]}
GS_SRV=$NET_SRV_ADDR
GS_API_ADDR=192.168.10.253
GS_API=$GS_API_ADDR:6443
GS_BOOT_PORT=8443
GS_URL=https://$GS_MASTER_WAN:$GS_BOOT_PORT
# The master site's repository: the lab's own (apt-repo.sh, a "dists"
# layout), or with GS_REPO_MODE=make-repo the product's flat repository of
# packaging/repo/make-repo (the system tests: what an operator serves).
GS_REPO_MODE=${GS_REPO_MODE:-lab}
if [ "$GS_REPO_MODE" = make-repo ]; then
	GS_REPO_URL=http://$GS_MASTER_WAN/flat
	GS_APT_SUITE=./
	GS_APT_COMPONENT=-
else
	GS_REPO_URL=http://$GS_MASTER_WAN/debian
	GS_APT_SUITE=$APT_REPO_SUITE
	GS_APT_COMPONENT=$APT_REPO_COMPONENT
fi
GS_VPN_NET=10.99.0.0/16
GS_MASTER_PREFIX=192.168.10.0/24
GS_SOLO_PREFIX=203.0.113.40/29
GS_DEBIAN_PKGS=(containerd openvpn libjansson4)
GS_AGENT_RECIPE=1
# Where the package (issue 4) installs the agent, and its unit: the
# packaged one from units/ when the tree has it, else the lab's minimal one.
GS_AGENT_PATH=/usr/bin/geostage-enrolld
GS_UNIT_FILE=$GS_TOP/units/geostage-enrolld.service
[ -f "$GS_UNIT_FILE" ] || GS_UNIT_FILE=$LAB_LIB_DIR/../geostage-enrolld.service
GS_STEPS=(preflight enroll packages host network gate join "done")

# The scenario's nodes: NAME LOCATION ADDRESS ROLE. LOCATION is a lab site
# (tokyo, frankfurt), "standalone" (the pre-made host namespace) or "inet"
# (a new host on the internet segment). The bootstrap site is the
# location for tokyo and frankfurt, "solo" otherwise.
GS_SPEC=(
	"tk-gw tokyo 192.168.20.10 gateway"
	"fr-gw frankfurt 192.168.30.10 gateway"
	"tk-n1 tokyo 192.168.20.11 node"
	"fr-n1 frankfurt 192.168.30.11 node"
	"solo standalone 203.0.113.40 node"
)
GS_CRASH_SPEC="cr1 inet 203.0.113.41 node"

declare -A GS_SITE=() GS_ADDR=() GS_ROLE=() GS_T0=() GS_T1=() GS_NODEIP=()
declare -A GS_REACH=() GS_TOKEN_ID=()
GS_NODES=()

# ---------------------------------------------------------------------------
# Cached artefacts

# _gs_hash ITEM...: 16 hex digits over the items, files by content.
_gs_hash() {
	local f
	for f in "$@"; do
		if [ -f "$f" ]; then
			printf 'file %s\n' "${f#"$GS_TOP"/}"
			sha256sum <"$f"
		else
			printf 'item %s\n' "$f"
		fi
	done | sha256sum | cut -c1-16
}

# _gs_cache_prune TARGET: remove the other entries of TARGET's kind
# (KIND-<16 hex>) that no run has used for GS_CACHE_KEEP_DAYS (2) days and
# nobody builds now: every change to the agent makes a new .deb, image and
# binary, and the images are hundreds of MB each.
_gs_cache_prune() {
	local target=$1 kind old stamp fd
	kind=${target%-*}
	for old in "$kind"-????????????????; do
		[ "$old" != "$target" ] && [ -d "$old" ] || continue
		stamp=$old/.used
		[ -f "$stamp" ] || stamp=$old/.complete
		[ -f "$stamp" ] || continue
		[ -n "$(find "$stamp" -mmin +$((${GS_CACHE_KEEP_DAYS:-2} * 1440)))" ] || continue
		exec {fd}>"$old.lock"
		if flock -n "$fd"; then
			lab_log "cache: removing $old (unused for ${GS_CACHE_KEEP_DAYS:-2} days)"
			rm -rf --one-file-system "$old"
			rm -f "$old.lock" "$old.log"
		fi
		exec {fd}>&-
	done
}

# _gs_cached TARGET BUILDER [ARG...]: TARGET when complete, else built by
# "BUILDER ARG... TMPDIR" under an flock (other runs wait, up to 900 s)
# and renamed into place. Prints TARGET. Each use is stamped (.used), and
# stale entries of the same kind go (_gs_cache_prune).
_gs_cached() {
	local target=$1 fd tmp old
	shift
	if [ -f "$target/.complete" ]; then
		touch "$target/.used" 2>/dev/null
		_gs_cache_prune "$target"
		echo "$target"
		return 0
	fi
	mkdir -p "$GEOSTAGE_TEST_CACHE"
	exec {fd}>"$target.lock"
	flock -w 900 "$fd" || {
		exec {fd}>&-
		lab_fail "timed out waiting for $target.lock"
	}
	if [ ! -f "$target/.complete" ]; then
		for old in "$target".tmp.*; do
			[ -d "$old" ] && rm -rf --one-file-system "$old"
		done
		tmp=$(mktemp -d "$target.tmp.XXXXXX")
		if ! "$@" "$tmp"; then
			rm -rf --one-file-system "$tmp"
			exec {fd}>&-
			lab_fail "building $target failed (see above)"
		fi
		date -u +%FT%TZ >"$tmp/.complete"
		chmod 755 "$tmp"
		[ -e "$target" ] && rm -rf --one-file-system "$target"
		mv -T "$tmp" "$target"
	fi
	exec {fd}>&-
	touch "$target/.used" 2>/dev/null
	_gs_cache_prune "$target"
	echo "$target"
}

# The working tree's agent, built again without sanitizers in a copy of
# the tree (the tree itself is never touched): out of tree, "make
# distclean" in the copy, configure with no options, make geostage-enrolld.
_gs_build_agent() { # OUT
	local out=$1 src=$1/src
	mkdir "$src"
	lab_log "building a non-sanitized geostage-enrolld for the containers in $out"
	tar -C "$GS_TOP" --exclude=./.git --exclude=./autom4te.cache \
		--exclude='*.o' --exclude='*.a' --exclude='*.log' --exclude='*.trs' \
		-cf - . | tar -C "$src" -xf - || return 1
	(
		cd "$src" || exit 1
		[ -f Makefile ] && make distclean
		[ -x configure ] || ./autogen.sh
		./configure --disable-dependency-tracking &&
			make -j"$(nproc)" geostage-enrolld
	) >"$out/build.log" 2>&1 || {
		tail -n 30 "$out/build.log" >&2
		return 1
	}
	install -m 0755 "$src/geostage-enrolld" "$out/geostage-enrolld"
	rm -rf --one-file-system "$src"
	if objdump -p "$out/geostage-enrolld" | grep -E 'NEEDED +lib(a|ub|t|l)san' >&2; then
		echo "the container agent is sanitized" >&2
		return 1
	fi
	"$out/geostage-enrolld" --version >"$out/version" || return 1
}

# gs_agent_binary: prints the cached non-sanitized agent.
gs_agent_binary() {
	local key files
	mapfile -t files < <(cd "$GS_TOP" && ls configure.ac Makefile.am lib/*.[ch] enrolld/*.[ch] |
		sed "s|^|$GS_TOP/|")
	key=$(_gs_hash "recipe=$GS_AGENT_RECIPE" "${files[@]}")
	echo "$(_gs_cached "$GEOSTAGE_TEST_CACHE/agent-$key" _gs_build_agent)/geostage-enrolld"
}

_gs_build_standin_debs() { # OUT
	bash "$GS_TOP/tests/standins/make-debs.sh" "$1" "$GS_K8S_VERSION" >"$1/build.log" 2>&1 || {
		tail -n 30 "$1/build.log" >&2
		return 1
	}
}

# gs_standin_debs: prints the directory with the kubeadm, kubelet and
# kubectl STAND-IN .debs at GS_K8S_VERSION.
gs_standin_debs() {
	local key files
	mapfile -t files < <(cd "$GS_TOP" && ls tests/standins/*.[ch] tests/standins/make-debs.sh lib/*.[ch] |
		sed "s|^|$GS_TOP/|")
	key=$(_gs_hash "version=$GS_K8S_VERSION" "${files[@]}")
	_gs_cached "$GEOSTAGE_TEST_CACHE/standin-debs-$key" _gs_build_standin_debs
}

# Debian's packages for the lab repository: GS_DEBIAN_PKGS and whatever
# they need that the base rootfs lacks (apt resolves against the rootfs's
# own dpkg status), downloaded with the host's apt; the named packages
# that the rootfs has already are fetched alone with apt-get download.
_gs_fetch_debian_debs() { # ROOTFS PKG... OUT
	local rootfs=$1 out=${!#} pkgs=("${@:2:$#-2}") p
	local apt=(apt-get -q -o DPkg::Lock::Timeout=900 -o APT::Sandbox::User=root)
	mkdir -p "$out/partial"
	lab_log "fetching ${pkgs[*]} and their dependencies beyond the base rootfs"
	_gs_fetch_try() {
		"${apt[@]}" install --download-only -y --no-install-recommends \
			-o Dir::State::status="$rootfs/var/lib/dpkg/status" \
			-o Dir::Cache::archives="$out" -o Debug::NoLocking=1 \
			"${pkgs[@]}"
	}
	if ! _gs_fetch_try >"$out/fetch.log" 2>&1; then
		"${apt[@]}" update >>"$out/fetch.log" 2>&1
		_gs_fetch_try >>"$out/fetch.log" 2>&1 || {
			tail -n 20 "$out/fetch.log" >&2
			return 1
		}
	fi
	for p in "${pkgs[@]}"; do
		compgen -G "$out/${p}_*.deb" >/dev/null && continue
		(cd "$out" && "${apt[@]}" download "$p") >>"$out/fetch.log" 2>&1 || {
			tail -n 20 "$out/fetch.log" >&2
			return 1
		}
	done
	rm -rf "$out/partial" "$out/lock"
	ls "$out"/*.deb >/dev/null || return 1
}

# gs_debian_debs ROOTFS [PKG...]: prints the cached directory of those
# .debs (default: GS_DEBIAN_PKGS, what the lab's repository serves).
gs_debian_debs() {
	local rootfs=$1 key pkgs
	shift
	pkgs=("$@")
	[ ${#pkgs[@]} -gt 0 ] || pkgs=("${GS_DEBIAN_PKGS[@]}")
	key=$(_gs_hash "pkgs=$(printf '%s\n' "${pkgs[@]}" | sort -u | paste -sd,)" \
		"rootfs=$(basename "$rootfs")" "$rootfs/etc/geostage-lab-rootfs")
	_gs_cached "$GEOSTAGE_TEST_CACHE/debian-debs-$key" _gs_fetch_debian_debs "$rootfs" "${pkgs[@]}"
}

# gs_missing_depends DEB ROOTFS: what DEB's Depends: need that ROOTFS
# lacks: per Depends group, the first alternative when none is installed.
gs_missing_depends() {
	local grp alt ok first
	while IFS= read -r grp; do
		ok=0 first=
		while IFS= read -r alt; do
			alt=$(sed -E 's/\(.*\)//; s/:any//; s/[[:space:]]//g' <<<"$alt")
			[ -n "$alt" ] || continue
			[ -n "$first" ] || first=$alt
			# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
			if dpkg-query --admindir="$2/var/lib/dpkg" -W -f='${Status}' "$alt" 2>/dev/null |
				grep -q 'ok installed$'; then
				ok=1
			fi
		done < <(tr '|' '\n' <<<"$grp")
		[ "$ok" = 1 ] || [ -z "$first" ] || echo "$first"
	done < <(dpkg-deb -f "$1" Depends | tr ',' '\n')
}

# ---------------------------------------------------------------------------
# The master site

# gs_prereqs: skip without root, /dev/net/tun, the in-tree binaries.
gs_prereqs() {
	lab_require_root_tun
	local b
	for b in geostage-bootstrap tests/standins/kube-apiserver-standin; do
		[ -x "$GS_BUILDDIR/$b" ] || lab_skip "$GS_BUILDDIR/$b is not built (make $b)"
	done
}

# gs_setup: everything up to the booted, not yet enrolled containers
# (the crash test's too, unless GS_WITH_CRASH_NODE=0).
gs_setup() {
	lab_need_pkgs debootstrap systemd-container nftables iproute2 iputils-ping \
		openvpn openssl socat busybox apt-utils gnupg curl jq binutils pkg-config gcc
	gs_workdir
	cc -std=gnu11 -O2 -Wall -Wextra -shared -fPIC -o "$LAB_TMP/bin/hold-rename.so" \
		"$LAB_LIB_DIR/../hold-rename.c" -ldl || lab_fail "building hold-rename.so"

	lab_time_start artefacts
	GS_ROOTFS=$(rootfs_ensure) || lab_fail "base rootfs"
	GS_AGENT=$(gs_agent_binary) || lab_fail "agent build"
	GS_STANDIN_DEBS=$(gs_standin_debs) || lab_fail "stand-in .debs"
	GS_DEBIAN_DEBS=$(gs_debian_debs "$GS_ROOTFS") || lab_fail "Debian .debs"
	GS_JANSSON_DEB=$(compgen -G "$GS_DEBIAN_DEBS/libjansson4_*.deb" | head -n 1)
	[ -n "$GS_JANSSON_DEB" ] || lab_fail "no libjansson4 .deb in $GS_DEBIAN_DEBS"
	lab_time_end artefacts "rootfs, agent build, .debs (cached: ~0)"
	lab_log "agent for the containers: $GS_AGENT ($(cat "$(dirname "$GS_AGENT")/version"))"

	gs_master_up

	lab_time_start boot
	local spec specs=("${GS_SPEC[@]}")
	[ "${GS_WITH_CRASH_NODE:-1}" = 1 ] && specs+=("$GS_CRASH_SPEC")
	for spec in "${specs[@]}"; do
		# shellcheck disable=SC2086
		gs_node_prepare $spec
	done
	for spec in "${specs[@]}"; do
		container_boot "${spec%% *}"
	done
	local n st
	for spec in "${specs[@]}"; do
		n=${spec%% *}
		st=$(container_wait_running "$n" 90)
		[ "$st" = running ] || lab_fail "container $n booted '$st', expected running"
	done
	lab_time_end boot "prepare and boot ${#specs[@]} containers"
}

# gs_workdir: the run's copies of the in-tree server and API stand-in (a
# rebuild in the tree during the run must not change them), and where the
# master site keeps its state.
gs_workdir() {
	mkdir -p "$LAB_TMP/bin" "$LAB_TMP/tokens" "$LAB_TMP/debs"
	chmod 700 "$LAB_TMP/tokens"
	cp "$GS_BUILDDIR/geostage-bootstrap" "$LAB_TMP/bin/"
	cp "$GS_BUILDDIR/tests/standins/kube-apiserver-standin" "$LAB_TMP/bin/"
	GS_BOOT_BIN=$LAB_TMP/bin/geostage-bootstrap
	GS_BOOT=$LAB_TMP/boot
	GS_KUBE=$LAB_TMP/kube
	GS_REPO=$LAB_TMP/repo
	GS_MGMT=$LAB_TMP/vpnmgmt
}

# gs_master_up: the master site on the lab's network: the signed apt
# repository (the .debs in $LAB_TMP/debs, plus the stand-in and Debian
# ones), the API stand-in, the bootstrap server, OpenVPN.
gs_master_up() {
	lab_time_start master
	net_setup
	ip -n "$(net_ns srv)" addr add "$GS_API_ADDR/24" dev eth0 ||
		lab_fail "adding $GS_API_ADDR to srv"
	gs_repo_up
	gs_api_up
	gs_boot_init
	gs_vpn_up
	gs_boot_start
	lab_time_end master "master site: apt repo, API stand-in, bootstrap, OpenVPN"
}

gs_repo_up() {
	local d=$LAB_TMP/debs
	mkdir -p "$d"
	cp "$GS_STANDIN_DEBS"/*.deb "$GS_DEBIAN_DEBS"/*.deb "$d/" || lab_fail "collecting the .debs"
	if [ "$GS_REPO_MODE" = make-repo ]; then
		mkdir -p "$GS_REPO"
		mkdir -m 700 "$LAB_TMP/repo-key"
		bash "$GS_TOP/packaging/repo/make-repo" --output "$GS_REPO/flat" \
			--key-dir "$LAB_TMP/repo-key" --name geostage-lab --url "$GS_REPO_URL" \
			"$d" >"$LAB_TMP/make-repo.out" 2>"$LAB_TMP/make-repo.log" || {
			cat "$LAB_TMP/make-repo.log" >&2
			lab_fail "packaging/repo/make-repo"
		}
		lab_log "make-repo: $(cat "$LAB_TMP/make-repo.out")"
		# apt_repo_serve checks the server with /key.asc.
		cp "$GS_REPO/flat/key.asc" "$GS_REPO/flat/fingerprint" "$GS_REPO/"
	else
		apt_repo_build "$d" "$GS_REPO"
	fi
	apt_repo_serve "$GS_REPO"
	# Reachable before any VPN: from the internet at r-master's address.
	net_forward_port tcp 80 "$GS_SRV"
}

# gs_kube METHOD PATH: the API stand-in's answer as its admin; the body in
# $LAB_TMP/kube.body, the status on stdout.
gs_kube() {
	ip netns exec "$(net_ns srv)" curl -sS -o "$LAB_TMP/kube.body" -w '%{http_code}' \
		--max-time 10 --cacert "$LAB_TMP/kube-ca.crt" --cert "$LAB_TMP/kube-admin.crt" \
		--key "$LAB_TMP/kube-admin.key" -X "$1" "https://$GS_API$2"
}

gs_api_up() {
	mkdir -p "$GS_KUBE"
	ip netns exec "$(net_ns srv)" "$LAB_TMP/bin/kube-apiserver-standin" \
		--state-dir "$GS_KUBE" --listen "$GS_API" --san "$GS_API_ADDR" \
		--version "v$GS_K8S_VERSION" >"$LAB_TMP/api-standin.log" 2>&1 &
	GS_API_PID=$!
	lab_on_exit "lab_kill_pid $GS_API_PID 3"
	lab_add_log "$LAB_TMP/api-standin.log"
	lab_wait 20 "the Kubernetes API stand-in at $GS_API" ip netns exec "$(net_ns srv)" \
		curl -fsSk --max-time 1 -o /dev/null "https://$GS_API/version"
	local f
	_gs_kc() { awk -v f="$1:" '$1 == f { print $2; exit }' "$GS_KUBE/kubeconfig" | base64 -d; }
	(
		umask 077
		_gs_kc certificate-authority-data >"$LAB_TMP/kube-ca.crt" &&
			_gs_kc client-certificate-data >"$LAB_TMP/kube-admin.crt" &&
			_gs_kc client-key-data >"$LAB_TMP/kube-admin.key"
	) || lab_fail "reading the stand-in's kubeconfig"
	for f in kube-ca.crt kube-admin.crt kube-admin.key; do
		[ -s "$LAB_TMP/$f" ] || lab_fail "no $f in the stand-in's kubeconfig"
	done
	[ "$(gs_kube GET /api/v1/nodes)" = 200 ] || lab_fail "the API stand-in does not list nodes for its admin"
	lab_log "Kubernetes API STAND-IN at https://$GS_API (pid $GS_API_PID)"
}

# B ARGS...: geostage-bootstrap on this run's state dir, run on the master
# site's host (node revoke talks to the Kubernetes API from there).
B() { ip netns exec "$(net_ns srv)" "$GS_BOOT_BIN" "$@" --state-dir "$GS_BOOT"; }

gs_boot_init() {
	"$GS_BOOT_BIN" init --state-dir "$GS_BOOT" --url "$GS_URL" \
		--vpn-network "$GS_VPN_NET" --vpn-remote "$GS_MASTER_WAN:1194" \
		--api-endpoint "$GS_API" --kubeconfig "$GS_KUBE/kubeconfig" \
		--master-prefix "$GS_MASTER_PREFIX" --listen "0.0.0.0:$GS_BOOT_PORT" \
		>"$LAB_TMP/boot-init.log" 2>&1 || {
		cat "$LAB_TMP/boot-init.log" >&2
		lab_fail "geostage-bootstrap init"
	}
	cat >>"$GS_BOOT/bootstrap.conf" <<-EOF
		# added by tests/lab/lib/geostage.sh
		kubernetes_version = $GS_K8S_VERSION
		apt_source = geostage-lab $GS_REPO_URL $GS_APT_SUITE $GS_APT_COMPONENT $GS_REPO/key.asc $(cat "$GS_REPO/fingerprint")
	EOF
	B site add tokyo --prefix "${NET_SITE_LAN[tokyo]}.0/24" --mode routed \
		--gateway "${NET_SITE_LAN[tokyo]}.10" >/dev/null || lab_fail "site add tokyo"
	B site add frankfurt --prefix "${NET_SITE_LAN[frankfurt]}.0/24" --mode routed \
		--gateway "${NET_SITE_LAN[frankfurt]}.10" >/dev/null || lab_fail "site add frankfurt"
	B site add solo --prefix "$GS_SOLO_PREFIX" --mode direct >/dev/null || lab_fail "site add solo"
}

# The master site's OpenVPN, from the server's own configuration; the
# lab only adds where it logs.
gs_vpn_up() {
	local ns
	ns=$(net_ns r-master)
	B vpn server-config >"$LAB_TMP/openvpn-server.conf" || lab_fail "vpn server-config"
	GS_OVPN_LOG=$LAB_TMP/openvpn-server.log
	: >"$GS_OVPN_LOG"
	ip netns exec "$ns" openvpn --config "$LAB_TMP/openvpn-server.conf" \
		--log "$GS_OVPN_LOG" --writepid "$LAB_TMP/openvpn-server.pid" >/dev/null 2>&1 &
	GS_OVPN_PID=$!
	lab_on_exit "lab_kill_pid $GS_OVPN_PID 5"
	lab_add_log "$GS_OVPN_LOG"
	lab_wait 15 "OpenVPN server in $ns" grep -q "Initialization Sequence Completed" "$GS_OVPN_LOG"
	# ovpn.sh's helpers want DIR/mgmt.sock: point one at the server's socket.
	mkdir -p "$GS_MGMT"
	ln -sf "$GS_BOOT/openvpn.sock" "$GS_MGMT/mgmt.sock"
	[ -S "$GS_BOOT/openvpn.sock" ] || lab_fail "no management socket $GS_BOOT/openvpn.sock"
	lab_log "OpenVPN server in $ns from 'vpn server-config' (pid $GS_OVPN_PID)"
}

gs_boot_healthy() {
	ip netns exec "$(net_ns srv)" curl -fsSk --max-time 1 -o /dev/null \
		"https://$GS_SRV:$GS_BOOT_PORT/healthz"
}

# gs_boot_start: geostage-bootstrap serve in srv (a plain process).
gs_boot_start() {
	ip netns exec "$(net_ns srv)" "$GS_BOOT_BIN" serve --state-dir "$GS_BOOT" \
		>>"$LAB_TMP/bootstrap.log" 2>&1 &
	GS_BOOT_PID=$!
	lab_on_exit "lab_kill_pid $GS_BOOT_PID 5"
	lab_add_log "$LAB_TMP/bootstrap.log"
	lab_wait 20 "geostage-bootstrap serve on $GS_SRV:$GS_BOOT_PORT" gs_boot_healthy
}
gs_boot_pause() { kill -STOP "$GS_BOOT_PID"; }
gs_boot_resume() { kill -CONT "$GS_BOOT_PID"; }
# gs_boot_kill9: kill -9 the server (also when stopped) and reap it.
gs_boot_kill9() {
	kill -KILL "$GS_BOOT_PID" 2>/dev/null
	wait "$GS_BOOT_PID" 2>/dev/null || true
}

# gs_token NAME SITE ROLE: a one-use token in $LAB_TMP/tokens/NAME.token.
gs_token() {
	local name=$1 site=$2 role=$3 j
	j=$(B token create --site "$site" --role "$role" --output json) ||
		lab_fail "token create --site $site --role $role"
	(umask 077 && jq -r .token <<<"$j" >"$LAB_TMP/tokens/$name.token")
	GS_TOKEN_ID[$name]=$(jq -r .id <<<"$j")
}

# ---------------------------------------------------------------------------
# Nodes

_gs_site_of() { # LOCATION
	case $1 in
	tokyo | frankfurt) echo "$1" ;;
	*) echo solo ;;
	esac
}

# gs_node_prepare NAME LOCATION ADDR ROLE: host namespace, token,
# container with the agent, its unit, config and token; not booted.
gs_node_prepare() {
	local name=$1 loc=$2 addr=$3 role=$4 ns site m
	site=$(_gs_site_of "$loc")
	case $loc in
	standalone) ns=$(net_ns standalone) ;;
	*) ns=$(net_add_host "$name" "$loc" "$addr") ;;
	esac
	GS_SITE[$name]=$site
	GS_ADDR[$name]=$addr
	GS_ROLE[$name]=$role
	gs_token "$name" "$site" "$role"
	container_prepare "$name" "$ns" "$GS_ROOTFS"
	m=$LAB_TMP/c/$name/merged
	# The agent's one missing library (its package's Depends: one day).
	cp "$GS_JANSSON_DEB" "$m/root/libjansson4.deb"
	env -i PATH="$CONTAINER_PATH" chroot "$m" dpkg -i /root/libjansson4.deb \
		>"$LAB_TMP/c/$name/dpkg-jansson.log" 2>&1 || {
		cat "$LAB_TMP/c/$name/dpkg-jansson.log" >&2
		lab_fail "dpkg -i libjansson4 in $name"
	}
	rm -f "$m/root/libjansson4.deb"
	container_copy_in "$name" "$GS_AGENT" "$GS_AGENT_PATH" 0755
	container_copy_in "$name" "$GS_UNIT_FILE" /usr/lib/systemd/system/geostage-enrolld.service 0644
	container_copy_in "$name" "$LAB_LIB_DIR/../kubeadm-lab-wrapper.sh" \
		/usr/local/lib/geostage-lab/kubeadm 0755
	cat >"$LAB_TMP/c/$name/enrolld.conf" <<-EOF
		# geostage lab (tests/lab/lib/geostage.sh)
		name = $name
		# the kubeadm STAND-IN, through a wrapper that keeps its output
		kubeadm = /usr/local/lib/geostage-lab/kubeadm
		retry_initial_ms = 500
		retry_max_ms = 4000
		connect_timeout = 5
		request_timeout = 20
		vpn_timeout = 60
	EOF
	if [ "$name" = "${GS_CRASH_SPEC%% *}" ]; then
		# The crash test holds the host step's sysctl to kill the agent there.
		container_copy_in "$name" "$LAB_LIB_DIR/../hold-wrapper.sh" \
			/usr/local/lib/geostage-lab/hold/sysctl 0755
		echo "sysctl = /usr/local/lib/geostage-lab/hold/sysctl" >>"$LAB_TMP/c/$name/enrolld.conf"
		container_copy_in "$name" "$LAB_TMP/bin/hold-rename.so" \
			/usr/local/lib/geostage-lab/hold-rename.so 0644
	fi
	container_copy_in "$name" "$LAB_TMP/c/$name/enrolld.conf" /etc/geostage/enrolld.conf 0644
	container_copy_in "$name" "$LAB_TMP/tokens/$name.token" /etc/geostage/token 0600
	env -i PATH="$CONTAINER_PATH" chroot "$m" ldd "$GS_AGENT_PATH" |
		grep 'not found' >&2 && lab_fail "the agent misses libraries in $name"
	GS_NODES+=("$name")
}

# gs_status NAME: the agent's status --json inside NAME.
gs_status() { container_exec "$1" "$GS_AGENT_PATH" status --json 2>/dev/null; }
# gs_step_state NAME STEP: that step's state; "interrupted" for a step
# recorded as running while no agent runs (as status's table shows it;
# status --json keeps "running" and says agent_running: false).
gs_step_state() {
	gs_status "$1" | jq -r --arg s "$2" '.agent_running as $r | .steps[] |
		select(.name == $s) |
		if .state == "running" and ($r | not) then "interrupted" else .state end'
}

gs_node_diag() { # NAME: what went wrong, on stderr
	{
		echo "--- $1: geostage-enrolld status"
		container_exec "$1" "$GS_AGENT_PATH" status
		echo "--- $1: journal of geostage-enrolld"
		container_exec "$1" journalctl -u geostage-enrolld --no-pager -n 40 -o short-precise
		echo "--- $1: journal of openvpn-client@geostage"
		container_exec "$1" journalctl -u openvpn-client@geostage --no-pager -n 15 -o short-precise
		echo "--- $1: kubeadm log"
		container_exec "$1" tail -n 30 /var/log/geostage-lab/kubeadm.log
	} >&2 2>&1 || true
}

# gs_node_start NAME: start the agent's unit; the clock starts.
gs_node_start() {
	GS_T0[$1]=$(lab_now)
	container_exec "$1" systemctl start --no-block geostage-enrolld.service ||
		lab_fail "cannot start geostage-enrolld in $1"
}

_gs_done() { container_exec "$1" test -e /var/lib/geostage-enrolld/done; }

# gs_wait_done TIMEOUT NAME...: until every NAME's agent is done (each
# one's clock stops when it is first seen done); fails on timeout or when
# a unit failed for good (a refusal, a configuration error).
gs_wait_done() {
	local timeout=$1 n end i pending st
	shift
	end=$(($(_lab_us) + timeout * 1000000))
	for ((i = 0; i < timeout * 4 + 1; i++)); do
		pending=0
		for n in "$@"; do
			[ -n "${GS_T1[$n]:-}" ] && continue
			if _gs_done "$n"; then
				GS_T1[$n]=$(lab_now)
				lab_log "$n: done after $(gs_add_time "$n") s"
				continue
			fi
			pending=$((pending + 1))
			st=$(container_exec "$n" systemctl show -p ActiveState --value geostage-enrolld 2>/dev/null)
			if [ "$st" = failed ]; then
				gs_node_diag "$n"
				lab_fail "geostage-enrolld in $n failed for good"
			fi
		done
		[ "$pending" -eq 0 ] && return 0
		[ "$(_lab_us)" -ge "$end" ] && break
		sleep 0.25
	done
	for n in "$@"; do [ -n "${GS_T1[$n]:-}" ] || gs_node_diag "$n"; done
	lab_fail "not every agent was done after ${timeout}s: $*"
}

gs_add_time() { awk -v a="${GS_T0[$1]}" -v b="${GS_T1[$1]}" 'BEGIN{printf "%.1f", b-a}'; }

# gs_enroll_all: the gateways first, then the nodes behind them and the
# standalone host, all of each group at once.
gs_enroll_all() {
	local n gws=() rest=()
	for n in "${GS_NODES[@]}"; do
		[ "$n" = "${GS_CRASH_SPEC%% *}" ] && continue
		if [ "${GS_ROLE[$n]}" = gateway ]; then gws+=("$n"); else rest+=("$n"); fi
	done
	lab_time_start enroll-gw
	for n in "${gws[@]}"; do gs_node_start "$n"; done
	gs_wait_done 300 "${gws[@]}"
	lab_time_end enroll-gw "enroll the gateways (${gws[*]}) in parallel"
	lab_time_start enroll-nodes
	for n in "${rest[@]}"; do gs_node_start "$n"; done
	gs_wait_done 300 "${rest[@]}"
	lab_time_end enroll-nodes "enroll the nodes (${rest[*]}) in parallel"
}

# gs_node_ips: every enrolled node's node-ip: the VPN address of a node
# that runs the tunnel (gateway, direct site), the LAN address of a node
# behind its site's gateway.
gs_node_ips() {
	local list n
	list=$(B node list --json) || lab_fail "node list --json"
	for n in "$@"; do
		if [ "${GS_ROLE[$n]}" = node ] && [ "${GS_SITE[$n]}" != solo ]; then
			GS_NODEIP[$n]=${GS_ADDR[$n]}
		else
			GS_NODEIP[$n]=$(jq -r --arg n "$n" '.[] | select(.name == $n) | .vpn_address' <<<"$list")
		fi
		[ -n "${GS_NODEIP[$n]}" ] || lab_fail "no node-ip for $n"
	done
}

# ---------------------------------------------------------------------------
# Reachability

# gs_matrix TAG ADDRVAR NAME...: every NAME pings every other NAME's
# address (from the associative array named ADDRVAR), all at once; the
# results go to GS_REACH[TAG,src,dst] (true|false).
gs_matrix() {
	local tag=$1 addrvar=$2 src dst d pids=()
	shift 2
	local -n _addr=$addrvar
	d=$LAB_TMP/matrix-$tag
	mkdir -p "$d"
	for src in "$@"; do
		for dst in "$@"; do
			[ "$src" = "$dst" ] && continue
			(
				if container_exec "$src" ping -n -q -c 3 -i 0.2 -W 1 "${_addr[$dst]}" >/dev/null 2>&1; then
					echo true
				else
					echo false
				fi >"$d/$src,$dst"
			) &
			pids+=($!)
		done
	done
	# (never a bare "wait": it would wait for the servers too)
	[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}" 2>/dev/null
	for src in "$@"; do
		for dst in "$@"; do
			[ "$src" = "$dst" ] && continue
			GS_REACH[$tag,$src,$dst]=$(cat "$d/$src,$dst" 2>/dev/null || echo false)
		done
	done
}

# gs_matrix_print TAG TITLE ADDRVAR NAME...: the table (as in the thesis'
# Table 4.7: who can ping whom).
gs_matrix_print() {
	local tag=$1 title=$2 addrvar=$3 src dst v
	shift 3
	local -n _paddr=$addrvar
	[ -n "$title" ] && printf '%s\n' "$title"
	printf '  %-22s' "from \\ to"
	for dst in "$@"; do printf ' %-7s' "$dst"; done
	printf '\n'
	for src in "$@"; do
		printf '  %-22s' "$src (${_paddr[$src]})"
		for dst in "$@"; do
			if [ "$src" = "$dst" ]; then
				v=-
			elif [ "${GS_REACH[$tag,$src,$dst]}" = true ]; then
				v=yes
			else
				v=no
			fi
			printf ' %-7s' "$v"
		done
		printf '\n'
	done
}

# ---------------------------------------------------------------------------
# Reports

# gs_node_table NAME...: per-node add time and per-step durations (s).
gs_node_table() {
	local n st s line
	printf '  %-7s %-10s %-8s %8s' node site role "add (s)"
	for s in "${GS_STEPS[@]}"; do printf ' %8s' "$s"; done
	printf '\n'
	for n in "$@"; do
		st=$(gs_status "$n")
		printf '  %-7s %-10s %-8s %8s' "$n" "${GS_SITE[$n]}" "${GS_ROLE[$n]}" \
			"$([ -n "${GS_T1[$n]:-}" ] && gs_add_time "$n" || echo -)"
		line=$(jq -r '[.steps[] | ((.duration_ms // 0) / 1000 * 10 | round / 10 | tostring)] | join(" ")' <<<"$st")
		for s in $line; do printf ' %8s' "$s"; done
		printf '\n'
	done
}

# gs_json NAME...: the demo's one JSON line (state after enrollment).
gs_json() {
	local n nodes='[]' reach='{}' list src dst
	list=$(B node list --json)
	for n in "$@"; do
		nodes=$(jq -c --arg n "$n" --arg site "${GS_SITE[$n]}" \
			--argjson secs "$(gs_add_time "$n")" --argjson list "$list" \
			'. + [{name: $n, site: $site,
				step: ($list[] | select(.name == $n) | .step),
				seconds: $secs}]' <<<"$nodes")
	done
	for src in "$@"; do
		for dst in "$@"; do
			[ "$src" = "$dst" ] && continue
			reach=$(jq -c --arg s "$src" --arg d "$dst" \
				--argjson v "${GS_REACH[after,$src,$dst]}" \
				'.[$s][$d] = $v' <<<"$reach")
		done
	done
	jq -cn --argjson nodes "$nodes" --argjson reach "$reach" \
		'{nodes: $nodes, reachability: $reach}'
}

# ---------------------------------------------------------------------------
# The scenario's phases (each assertion fails the run when it breaks)

# gs_phase_before: isolation before any enrollment.
gs_phase_before() {
	local n src dst
	declare -gA GS_LANADDR=()
	GS_MAIN=()
	for n in "${GS_NODES[@]}"; do
		[ "$n" = "${GS_CRASH_SPEC%% *}" ] && continue
		GS_MAIN+=("$n")
		# shellcheck disable=SC2034 # read through a nameref (gs_matrix)
		GS_LANADDR[$n]=${GS_ADDR[$n]}
	done
	# The containers use only the lab's repository: no Debian source, and
	# no route to any mirror.
	for n in "${GS_MAIN[@]}"; do
		[ -s "$LAB_TMP/c/$n/merged/etc/apt/sources.list" ] &&
			lab_fail "$n has a Debian source in /etc/apt/sources.list"
		compgen -G "$LAB_TMP/c/$n/merged/etc/apt/sources.list.d/*" >/dev/null &&
			lab_fail "$n has apt sources before the agent ran"
	done
	local mirror host ip d=$LAB_TMP/before pids=()
	mirror=$(rootfs_mirror)
	host=${mirror#*://}
	host=${host%%/*}
	ip=$(getent ahostsv4 "$host" 2>/dev/null | awk 'NR == 1 {print $1}')
	mkdir -p "$d"
	# All at once: each of these must fail (time out).
	for n in "${GS_MAIN[@]}"; do
		(container_exec "$n" curl -fsS --max-time 3 -o /dev/null "$mirror/dists/bookworm/Release" \
			>/dev/null 2>&1 && echo "$n reaches the Debian mirror $mirror" >>"$d/bad") &
		pids+=($!)
		if [ -n "$ip" ]; then
			(container_exec "$n" curl -fsS --max-time 3 -o /dev/null -H "Host: $host" "http://$ip/" \
				>/dev/null 2>&1 && echo "$n reaches the Debian mirror's address $ip" >>"$d/bad") &
			pids+=($!)
		fi
		(container_exec "$n" curl -sk --max-time 3 -o /dev/null "https://$GS_API/version" \
			>/dev/null 2>&1 && echo "$n reaches the API endpoint $GS_API before enrollment" >>"$d/bad") &
		pids+=($!)
	done
	gs_matrix before GS_LANADDR "${GS_MAIN[@]}"
	[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}" 2>/dev/null
	[ -s "$d/bad" ] && lab_fail "before enrollment: $(paste -sd';' "$d/bad")"
	lab_ok "containers have no Debian source and cannot reach the mirror ($host${ip:+ = $ip}): packages come from the lab repository only"
	lab_ok "before enrollment: no node reaches the API endpoint $GS_API"
	for src in "${GS_MAIN[@]}"; do
		for dst in "${GS_MAIN[@]}"; do
			[ "$src" = "$dst" ] && continue
			case ${GS_SITE[$dst]} in
			solo) continue ;; # a public address: reached through NAT, or not
			esac
			if [ "${GS_SITE[$src]}" = "${GS_SITE[$dst]}" ]; then
				[ "${GS_REACH[before,$src,$dst]}" = true ] ||
					lab_fail "before: $src cannot reach $dst on their own LAN"
			else
				[ "${GS_REACH[before,$src,$dst]}" = false ] ||
					lab_fail "before: $src reaches $dst (${GS_ADDR[$dst]}) in another site"
			fi
		done
	done
	lab_ok "before enrollment: no site reaches another site's LAN (same-site pairs do)"
}

# gs_phase_enrolled: every assertion about the state after enrollment.
gs_phase_enrolled() {
	local n list want ip site j
	list=$(B node list --json) || lab_fail "node list --json"
	for n in "${GS_MAIN[@]}"; do
		j=$(jq -c --arg n "$n" '.[] | select(.name == $n)' <<<"$list")
		[ -n "$j" ] || lab_fail "node list has no $n"
		[ "$(jq -r '.step + "/" + .step_state' <<<"$j")" = done/done ] ||
			lab_fail "node list: $n is at $(jq -r '.step + "/" + .step_state' <<<"$j"), expected done/done"
		[ "$(jq -r '[.steps[] | select(.state == "done" and .duration_ms >= 0)] | length' <<<"$j")" = ${#GS_STEPS[@]} ] ||
			lab_fail "node list: $n does not have all ${#GS_STEPS[@]} steps done with durations: $(jq -c .steps <<<"$j")"
		[ "$(jq -r .site <<<"$j")" = "${GS_SITE[$n]}" ] || lab_fail "node list: $n is in site $(jq -r .site <<<"$j")"
		[ "$(jq -r .role <<<"$j")" = "${GS_ROLE[$n]}" ] || lab_fail "node list: $n has role $(jq -r .role <<<"$j")"
	done
	lab_ok "node list --json: every node at step done with ${#GS_STEPS[@]} timed steps, right site and role"
	gs_node_ips "${GS_MAIN[@]}"
	# The agent's own view.
	for n in "${GS_MAIN[@]}"; do
		[ "$(gs_status "$n" | jq -r '[.steps[] | select(.state == "done")] | length')" = ${#GS_STEPS[@]} ] ||
			lab_fail "$n: geostage-enrolld status does not show every step done"
	done
	lab_ok "geostage-enrolld status: every step done on every node"
	# Kubernetes (STAND-INs): kubelet.conf from kubeadm, the Node in the API.
	for n in "${GS_MAIN[@]}"; do
		container_exec "$n" test -s /etc/kubernetes/kubelet.conf ||
			lab_fail "$n has no /etc/kubernetes/kubelet.conf"
		container_exec "$n" cat /var/log/geostage-lab/kubeadm.log >"$LAB_TMP/c/$n/kubeadm.log" ||
			lab_fail "$n: no kubeadm log"
		for want in "kubeadm join: exit 0" "[preflight] Running pre-flight checks" \
			"[discovery] Cluster info signature and contents are valid" \
			"[kubelet-start] Writing kubelet configuration to file" \
			"This node has joined the cluster"; do
			grep -qF -- "$want" "$LAB_TMP/c/$n/kubeadm.log" ||
				lab_fail "$n: the kubeadm stand-in's log lacks '$want'"
		done
		[ "$(container_exec "$n" kubeadm version -o short 2>/dev/null)" = "v$GS_K8S_VERSION" ] ||
			lab_fail "$n: kubeadm is not at v$GS_K8S_VERSION"
		container_exec "$n" apt-mark showhold | sort | paste -sd, | grep -qx 'kubeadm,kubectl,kubelet' ||
			lab_fail "$n: kubeadm, kubelet, kubectl are not held"
	done
	lab_ok "every node: kubeadm (STAND-IN) v$GS_K8S_VERSION from the lab repo, held; its join validated the JoinConfiguration, ran discovery and wrote kubelet.conf"
	# The JoinConfiguration itself (the wrapper's copy, token redacted),
	# checked against what the lab knows independently.
	local cahash jc
	cahash=$(openssl x509 -pubkey -noout -in "$LAB_TMP/kube-ca.crt" |
		openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
	for n in "${GS_MAIN[@]}"; do
		jc=$(container_exec "$n" cat /var/log/geostage-lab/join-config.json) ||
			lab_fail "$n: no copy of its JoinConfiguration"
		jq -e --arg api "$GS_API" --arg hash "sha256:$cahash" --arg n "$n" \
			--arg ip "${GS_NODEIP[$n]}" --arg site "geostage.io/site=${GS_SITE[$n]}" '
			.apiVersion == "kubeadm.k8s.io/v1beta4" and .kind == "JoinConfiguration" and
			.discovery.bootstrapToken.apiServerEndpoint == $api and
			.discovery.bootstrapToken.token == "<redacted>" and
			.discovery.bootstrapToken.caCertHashes == [$hash] and
			.nodeRegistration.name == $n and
			.nodeRegistration.criSocket == "unix:///run/containerd/containerd.sock" and
			([.nodeRegistration.kubeletExtraArgs[] | select(.name == "node-ip") | .value] == [$ip]) and
			([.nodeRegistration.kubeletExtraArgs[] | select(.name == "node-labels") | .value |
				split(",")[] | select(. == $site)] | length == 1)' <<<"$jc" >/dev/null ||
			lab_fail "$n: JoinConfiguration not as expected (node-ip ${GS_NODEIP[$n]}, API $GS_API, CA sha256:$cahash): $jc"
	done
	lab_ok "every JoinConfiguration: kubeadm.k8s.io/v1beta4, API $GS_API, a bootstrap token, the cluster CA's hash, node-ip and site label as a list of kubeletExtraArgs"
	[ "$(gs_kube GET /api/v1/nodes)" = 200 ] || lab_fail "GET /api/v1/nodes"
	cp "$LAB_TMP/kube.body" "$LAB_TMP/nodes-after.json"
	for n in "${GS_MAIN[@]}"; do
		ip=$(jq -r --arg n "$n" '.items[] | select(.metadata.name == $n) |
			.status.addresses[] | select(.type == "InternalIP") | .address' "$LAB_TMP/nodes-after.json")
		site=$(jq -r --arg n "$n" '.items[] | select(.metadata.name == $n) |
			.metadata.labels["geostage.io/site"]' "$LAB_TMP/nodes-after.json")
		[ "$ip" = "${GS_NODEIP[$n]}" ] ||
			lab_fail "the API stand-in has $n with InternalIP '$ip', expected ${GS_NODEIP[$n]}"
		[ "$site" = "${GS_SITE[$n]}" ] || lab_fail "the API stand-in has $n in site '$site'"
	done
	lab_ok "the API stand-in lists every Node with its node-ip (VPN address when it runs the tunnel, LAN address behind a gateway) and its site label"
	for n in "${GS_MAIN[@]}"; do
		container_exec "$n" curl -sk --max-time 5 -o /dev/null -w '%{http_code}' \
			"https://$GS_API/version" >"$LAB_TMP/c/$n/api.code" 2>/dev/null
		[ "$(cat "$LAB_TMP/c/$n/api.code")" = 200 ] ||
			lab_fail "$n cannot reach the API endpoint https://$GS_API (TLS)"
	done
	lab_ok "every node reaches the API endpoint https://$GS_API over TLS"
	gs_matrix after GS_NODEIP "${GS_MAIN[@]}"
	local src dst
	for src in "${GS_MAIN[@]}"; do
		for dst in "${GS_MAIN[@]}"; do
			[ "$src" = "$dst" ] && continue
			[ "${GS_REACH[after,$src,$dst]}" = true ] ||
				lab_fail "after: $src cannot ping $dst (node-ip ${GS_NODEIP[$dst]})"
		done
	done
	lab_ok "after enrollment: every node pings every other node's node-ip (${#GS_MAIN[@]}x$((${#GS_MAIN[@]} - 1)) pairs)"
	# A direct site's LAN is not behind the VPN (no gateway carries it):
	# nobody routes it into the tunnel, so the standalone host's public
	# address stays where it was, on the internet (reached through NAT).
	local rt
	rt=$(container_exec tk-n1 ip -4 route get "${GS_ADDR[solo]}" 2>/dev/null | head -n 1)
	[[ $rt == *" via ${NET_SITE_LAN[tokyo]}.1 "* ]] ||
		lab_fail "tk-n1 routes solo's public address ${GS_ADDR[solo]} into the VPN: $rt"
	container_exec tk-n1 ping -n -q -c 3 -i 0.2 -W 1 "${GS_ADDR[solo]}" >/dev/null 2>&1 ||
		lab_fail "tk-n1 no longer reaches solo's public address ${GS_ADDR[solo]} through NAT"
	lab_ok "the direct site's prefix $GS_SOLO_PREFIX is routed by nobody: tk-n1 still reaches ${GS_ADDR[solo]} through its NAT"
}

# gs_phase_revoke NAME: node revoke, and what it must do.
gs_phase_revoke() {
	local v=$1 n t0 out t_drop serial dec others=() code
	GS_REVOKED=$v
	for n in "${GS_MAIN[@]}"; do [ "$n" != "$v" ] && others+=("$n"); done
	ovpn_connected "$GS_MGMT" "$v" || lab_fail "the OpenVPN server does not list $v before its revocation"
	ls "$GS_BOOT/revoked" >"$LAB_TMP/revoked.before"
	t0=$(lab_now)
	out=$(B node revoke "$v" 2>&1) || lab_fail "node revoke $v: $out"
	lab_log "node revoke $v: $(tr '\n' ' ' <<<"$out")"
	# The session drops within 5 s: no traffic passes either way. (The
	# server's client-kill tells the node, which reconnects and is refused;
	# with the profile's persist-tun its tun device keeps the address.)
	_gs_no_traffic() { # NODE OTHER OTHER's-target: both probes at once
		local a b
		container_exec "$1" ping -n -q -c 1 -W 1 "$GS_API_ADDR" >/dev/null 2>&1 &
		a=$!
		container_exec "$2" ping -n -q -c 1 -W 1 "$3" >/dev/null 2>&1 &
		b=$!
		! wait "$a" && ! wait "$b"
	}
	lab_try 5 _gs_no_traffic "$v" "${others[0]}" "${GS_NODEIP[$v]}" ||
		lab_fail "traffic still passes to and from $v 5 s after node revoke"
	t_drop=$(lab_elapsed "$t0")
	awk -v t="$t_drop" 'BEGIN { exit !(t <= 5) }' || lab_fail "$v's session took ${t_drop} s to drop (limit 5 s)"
	local keeps=
	container_exec "$v" ip -4 -o addr show | grep -F " ${GS_NODEIP[$v]}/" >/dev/null &&
		keeps="; its tun device keeps ${GS_NODEIP[$v]} (persist-tun)"
	lab_ok "node revoke $v: no traffic passes to or from it at most $t_drop s later (limit 5 s; a probe waits 1 s)$keeps"
	# OpenVPN keeps a killed instance listed for its delayed exit (5 s).
	_gs_not_listed() { ! ovpn_connected "$GS_MGMT" "$1"; }
	lab_try 10 _gs_not_listed "$v" || lab_fail "the OpenVPN server still lists $v 10 s after node revoke"
	lab_ok "the OpenVPN server no longer lists $v, $(lab_elapsed "$t0") s after node revoke (delayed exit)"
	[ -e "$GS_BOOT/ccd/$v" ] && lab_fail "ccd/$v is still there"
	# The new file in revoked/ is the node's certificate serial, in decimal.
	dec=$(ls "$GS_BOOT/revoked" | comm -13 "$LAB_TMP/revoked.before" -)
	[ "$(wc -w <<<"$dec")" = 1 ] || lab_fail "revoked/ gained '$dec', expected one serial"
	serial=$(B node show "$v" --json | jq -r .serial)
	[ "$(openssl x509 -noout -serial -in "$LAB_TMP/c/$v/merged/var/lib/geostage-enrolld/node.crt" |
		sed 's/^serial=//')" = "$(tr a-f A-F <<<"$serial")" ] || lab_fail "$v's certificate serial is not the server's $serial"
	lab_ok "the server removed ccd/$v and wrote revoked/$dec"
	# It cannot reconnect: make its client try now (its own ping-restart
	# would take keepalive's 60 s).
	t0=$(lab_now)
	_gs_crl_refusals() { grep -cF "VERIFY CRL: depth=0, CN=$1, serial=$2 is revoked" "$GS_OVPN_LOG"; }
	local i before
	before=$(_gs_crl_refusals "$v" "$dec")
	container_exec "$v" systemctl restart openvpn-client@geostage ||
		lab_fail "restarting openvpn-client@geostage in $v"
	for ((i = 0; i < 60; i++)); do
		ovpn_connected "$GS_MGMT" "$v" && lab_fail "revoked $v reconnected"
		[ "$(_gs_crl_refusals "$v" "$dec")" -gt "$before" ] && break
		sleep 0.25
	done
	[ "$(_gs_crl_refusals "$v" "$dec")" -gt "$before" ] ||
		lab_fail "OpenVPN did not refuse $v's reconnection (crl-verify) within 15 s"
	sleep 2
	ovpn_connected "$GS_MGMT" "$v" && lab_fail "revoked $v reconnected"
	_gs_no_traffic "$v" "${others[0]}" "${GS_NODEIP[$v]}" || lab_fail "traffic passes to or from $v again"
	lab_ok "$v cannot reconnect: crl-verify refused serial $dec $(lab_elapsed "$t0") s after its client retried"
	code=$(gs_kube GET "/api/v1/nodes/$v")
	[ "$code" = 404 ] || lab_fail "the API stand-in still has Node $v (GET: $code)"
	lab_ok "Node $v is deleted from the API stand-in (GET /api/v1/nodes/$v: 404)"
	for out in progress join; do
		code=$(container_exec "$v" curl -sk --max-time 10 -o /tmp/revoked.body -w '%{http_code}' \
			--cert /var/lib/geostage-enrolld/node.crt --key /var/lib/geostage-enrolld/node.key \
			-H 'Content-Type: application/json' \
			--data "$([ $out = join ] && echo '{}' || echo '{"step":"done","state":"done","started":1,"duration_ms":0}')" \
			"$GS_URL/v1/$out")
		[ "$code" = 403 ] || lab_fail "$v's mTLS POST /v1/$out got $code, expected 403"
		container_exec "$v" grep -q '"node_revoked"' /tmp/revoked.body ||
			lab_fail "$v's POST /v1/$out: not node_revoked: $(container_exec "$v" cat /tmp/revoked.body)"
	done
	lab_ok "$v's node certificate gets 403 node_revoked on POST /v1/progress and /v1/join"
	[ "$(B node list --json | jq -r --arg n "$v" '.[] | select(.name == $n) | .revoked > 0')" = true ] ||
		lab_fail "node list does not show $v revoked"
	# The others are unaffected.
	for n in "${others[@]}"; do
		[ "${GS_ROLE[$n]}" = gateway ] || [ "${GS_SITE[$n]}" = solo ] || continue
		ovpn_connected "$GS_MGMT" "$n" || lab_fail "$n lost its VPN session when $v was revoked"
	done
	gs_matrix revoked GS_NODEIP "${GS_MAIN[@]}"
	local src dst
	for src in "${GS_MAIN[@]}"; do
		for dst in "${GS_MAIN[@]}"; do
			[ "$src" = "$dst" ] && continue
			if [ "$src" = "$v" ] || [ "$dst" = "$v" ]; then
				[ "${GS_REACH[revoked,$src,$dst]}" = false ] ||
					lab_fail "after the revocation: $src still pings $dst"
			else
				[ "${GS_REACH[revoked,$src,$dst]}" = true ] ||
					lab_fail "after the revocation of $v: $src cannot ping $dst any more"
			fi
		done
	done
	lab_ok "the others are unaffected: still connected, every pair among them pings; nobody reaches $v"
}

# ---------------------------------------------------------------------------
# Crash convergence (gs_phase_crash): one fresh node, the agent killed with
# SIGKILL inside every step, the server killed once with an enrollment
# pending; then the lab unit runs it to the end.
#
# Where each kill lands, and how the test makes sure it is inside the step:
#   preflight, done  no program, no network: over in a millisecond. The
#                    agent runs with hold-rename.so preloaded, which pauses
#                    it right after a chosen file write (state.json saying
#                    the step runs; the done file), and is killed there.
#   enroll           the server is stopped (SIGSTOP): the agent waits for
#                    its TLS handshake inside the step.
#   packages, network, gate, join
#                    the server is stopped: the agent waits inside the step
#                    on its "running" progress report (these steps send one
#                    as they start). packages again while dpkg runs (the
#                    unit's processes die with it, as under systemd); join
#                    again after kubeadm join succeeded but before the
#                    agent recorded it (kubeadm-lab-wrapper.sh holds).
#   host             its sysctl is held (hold-wrapper.sh) while the agent
#                    waits for it.
#   done             twice: after state.json says it runs, and after
#                    state.json says it is done but before the server is
#                    told and the done file written (the unit must then
#                    run once more: its ConditionPathExists=!done).
# The agent runs in transient units (systemd-run) with --until, so that
# its children die with it as they do under its real unit.

# gs_agent_unit NAME UNTIL: start the agent for steps up to UNTIL in a
# transient unit; prints the unit's name.
gs_agent_unit() {
	local n=$1 until=$2 unit=gs-agent-${EPOCHREALTIME/[.,]/}
	shift 2
	container_exec "$n" systemd-run --quiet --no-block --unit="$unit" -p Type=exec "$@" \
		"$GS_AGENT_PATH" run --until "$until" >&2 ||
		lab_fail "systemd-run in $1"
	echo "$unit"
}

# gs_agent_until NAME UNTIL [try]: the agent, run to UNTIL in a transient
# unit; fails unless it exits 0 within 180 s (with "try": returns 1).
gs_agent_until() {
	local n=$1 until=$2 try=${3:-} unit st i
	unit=$(gs_agent_unit "$n" "$until")
	for ((i = 0; i < 720; i++)); do
		st=$(container_exec "$n" systemctl show -p ActiveState --value "$unit" 2>/dev/null)
		case $st in active | activating | deactivating | reloading) ;; *) break ;; esac
		sleep 0.25
	done
	case $st in
	inactive) ;; # exit 0: transient units go when they end well
	*)
		[ -n "$try" ] && return 1
		container_exec "$n" journalctl -u "$unit" --no-pager -n 30 >&2
		gs_node_diag "$n"
		lab_fail "$n: geostage-enrolld run --until $until did not end well ($st)"
		;;
	esac
}

_gs_agent_running() { [ "$(gs_status "$1" | jq -r .agent_running)" = true ]; }
_gs_agent_stopped() { ! _gs_agent_running "$1"; }
_gs_step_is() { [ "$(gs_step_state "$1" "$2")" = "$3" ]; }

# gs_kill_unit NAME UNIT: kill -9 the unit's main PID (the agent); wait
# until its lock is free.
gs_kill_unit() {
	local n=$1 unit=$2 pid
	pid=$(container_exec "$n" systemctl show -p MainPID --value "$unit")
	[ -n "$pid" ] && [ "$pid" -gt 0 ] || lab_fail "$n: no main PID for $unit"
	container_exec "$n" kill -KILL "$pid" || lab_fail "$n: kill -9 $pid"
	lab_wait 10 "$n's agent to be gone after kill -9" _gs_agent_stopped "$n"
}

_gs_prev_step() { # STEP: the step before it ("" for preflight)
	local i
	for ((i = 1; i < ${#GS_STEPS[@]}; i++)); do
		[ "${GS_STEPS[i]}" = "$1" ] && { echo "${GS_STEPS[i - 1]}"; return; }
	done
}

# _gs_until_before NAME STEP: every step before STEP done.
_gs_until_before() {
	local prev
	prev=$(_gs_prev_step "$2")
	[ -n "$prev" ] || return 0
	_gs_step_is "$1" "$prev" "done" || gs_agent_until "$1" "$prev"
}

GS_KILLS=()
_gs_killed() { # NAME STEP HOW
	local msg
	msg=$(gs_status "$1" | jq -r --arg s "$2" '.steps[] | select(.name == $s) | .message')
	GS_KILLS+=("$(printf '%-9s %s' "$2" "$3")")
	lab_ok "$1: kill -9 inside $2 ($3); state.json: $2 $(gs_step_state "$1" "$2"): $msg"
}

# gs_kill_paused NAME STEP: the server stopped, the agent killed while it
# waits inside STEP.
gs_kill_paused() {
	local n=$1 step=$2 unit
	_gs_until_before "$n" "$step"
	gs_boot_pause
	unit=$(gs_agent_unit "$n" "$step")
	lab_try 20 _gs_step_is "$n" "$step" running || {
		gs_boot_resume
		lab_fail "$n: step $step never ran (state $(gs_step_state "$n" "$step"))"
	}
	sleep 0.5
	_gs_agent_running "$n" && _gs_step_is "$n" "$step" running || {
		gs_boot_resume
		lab_fail "$n: the agent did not wait inside $step for the stopped server"
	}
	gs_kill_unit "$n" "$unit"
	gs_boot_resume
	_gs_step_is "$n" "$step" interrupted || lab_fail "$n: $step is $(gs_step_state "$n" "$step") after the kill, expected interrupted"
	_gs_killed "$n" "$step" "waiting for the stopped server"
}

# gs_kill_rename NAME STEP FILE N HOW [PAUSED AFTER]: the agent (with
# hold-rename.so preloaded) pauses after its Nth rename onto FILE; kill it
# there. STEP's state while it is paused and after the kill: PAUSED
# (default running) and AFTER (default interrupted).
gs_kill_rename() {
	local n=$1 step=$2 file=$3 nth=$4 how=$5 paused=${6:-running} after=${7:-interrupted} unit
	_gs_until_before "$n" "$step"
	container_exec "$n" sh -c 'mkdir -p /run/geostage-lab && rm -f /run/geostage-lab/held-rename'
	unit=$(gs_agent_unit "$n" "$step" -E "GEOSTAGE_LAB_HOLD=$file:$nth" \
		-E LD_PRELOAD=/usr/local/lib/geostage-lab/hold-rename.so)
	lab_try 20 container_exec "$n" test -e /run/geostage-lab/held-rename || {
		container_exec "$n" journalctl -u "$unit" --no-pager -n 20 >&2
		lab_fail "$n: the agent never paused after renaming onto $file in $step"
	}
	_gs_step_is "$n" "$step" "$paused" || lab_fail "$n: paused in $step, but it is $(gs_step_state "$n" "$step"), expected $paused"
	gs_kill_unit "$n" "$unit"
	_gs_step_is "$n" "$step" "$after" || lab_fail "$n: $step is $(gs_step_state "$n" "$step") after the kill, expected $after"
	_gs_killed "$n" "$step" "$how"
}

# gs_kill_hold NAME STEP PROGRAM: the wrapper holds PROGRAM; kill there.
gs_kill_hold() {
	local n=$1 step=$2 prog=$3 unit
	_gs_until_before "$n" "$step"
	container_exec "$n" sh -c "mkdir -p /run/geostage-lab && : >/run/geostage-lab/hold-before-$prog"
	unit=$(gs_agent_unit "$n" "$step")
	lab_try 30 container_exec "$n" test -e "/run/geostage-lab/held-before-$prog" ||
		lab_fail "$n: the agent never ran $prog in $step"
	_gs_step_is "$n" "$step" running || lab_fail "$n: $prog held, but $step is $(gs_step_state "$n" "$step")"
	gs_kill_unit "$n" "$unit"
	container_exec "$n" rm -f "/run/geostage-lab/held-before-$prog"
	_gs_step_is "$n" "$step" interrupted || lab_fail "$n: $step is $(gs_step_state "$n" "$step") after the kill"
	_gs_killed "$n" "$step" "while its $prog ran (held)"
}

# gs_kill_dpkg NAME: kill the agent while dpkg installs (packages).
gs_kill_dpkg() {
	local n=$1 unit i
	_gs_until_before "$n" packages
	unit=$(gs_agent_unit "$n" packages)
	# apt-get's own dpkg runs (--status-fd), not the agent's short
	# "dpkg --configure -a" before them.
	for ((i = 0; i < 600; i++)); do
		container_exec "$n" pgrep -a -x dpkg 2>/dev/null | grep -e '--status-fd' \
			>"$LAB_TMP/dpkg-killed" && break
		_gs_step_is "$n" packages "done" && lab_fail "$n: packages ended before apt-get ran dpkg"
		sleep 0.05
	done
	[ -s "$LAB_TMP/dpkg-killed" ] || lab_fail "$n: apt-get never ran dpkg in packages"
	gs_kill_unit "$n" "$unit"
	lab_wait 10 "dpkg to die with the agent's unit" eval "! container_exec $n pgrep -x dpkg"
	_gs_killed "$n" packages "while dpkg ran (and died with the unit)"
	# The next run finishes dpkg's interrupted work (dpkg --configure -a)
	# before it installs anything.
	container_exec "$n" dpkg --audit >"$LAB_TMP/dpkg-audit" 2>&1
	[ -s "$LAB_TMP/dpkg-audit" ] ||
		lab_log "$n: dpkg --audit is clean after the kill (it died between packages)"
	gs_agent_until "$n" packages
	container_exec "$n" dpkg --audit >"$LAB_TMP/dpkg-audit" 2>&1
	[ ! -s "$LAB_TMP/dpkg-audit" ] ||
		lab_fail "$n: dpkg --audit after the packages step: $(head -n 3 "$LAB_TMP/dpkg-audit")"
	lab_ok "$n: the packages step recovered from the interrupted dpkg by itself (dpkg --audit clean)"
}

# gs_kill_half_join NAME: kubeadm join succeeded, the agent killed before
# it recorded that.
gs_kill_half_join() {
	local n=$1 unit
	_gs_until_before "$n" join
	container_exec "$n" sh -c 'mkdir -p /run/geostage-lab && : >/run/geostage-lab/hold-after-join'
	unit=$(gs_agent_unit "$n" join)
	lab_try 60 container_exec "$n" test -e /run/geostage-lab/held-after-join ||
		lab_fail "$n: kubeadm join never finished under the wrapper"
	container_exec "$n" test -s /etc/kubernetes/kubelet.conf || lab_fail "$n: held after join, but no kubelet.conf"
	gs_kill_unit "$n" "$unit"
	container_exec "$n" rm -f /run/geostage-lab/held-after-join
	_gs_step_is "$n" join interrupted || lab_fail "$n: join is $(gs_step_state "$n" join) after the kill"
	_gs_killed "$n" join "after kubeadm join succeeded, before the agent recorded it"
}

# gs_kill_server_enroll NAME: kill -9 the server while NAME's enrollment
# waits on it; a new server takes over; the agent converges through enroll.
gs_kill_server_enroll() {
	local n=$1 unit i
	_gs_until_before "$n" enroll
	gs_boot_pause
	unit=$(gs_agent_unit "$n" enroll)
	lab_try 20 _gs_step_is "$n" enroll running || lab_fail "$n: enroll never ran"
	sleep 0.5
	gs_boot_kill9
	lab_log "kill -9 of geostage-bootstrap serve (pid $GS_BOOT_PID) with $n's enrollment pending"
	gs_boot_start
	for ((i = 0; i < 240; i++)); do
		_gs_step_is "$n" enroll "done" && break
		sleep 0.25
	done
	_gs_step_is "$n" enroll "done" || {
		gs_node_diag "$n"
		lab_fail "$n did not converge through enroll after the server's kill -9"
	}
	GS_KILLS+=("$(printf '%-9s %s' enroll "SERVER kill -9 with the enrollment pending; new server; agent retried")")
	lab_ok "geostage-bootstrap killed with $n's enrollment pending: a new server answered its retry"
}

gs_phase_crash() {
	local n=${GS_CRASH_SPEC%% *} j tid list
	tid=${GS_TOKEN_ID[$n]}
	lab_time_start crash
	gs_kill_rename "$n" preflight state.json 1 "after it recorded preflight running (paused)"
	gs_kill_paused "$n" enroll
	[ "$(B token show "$tid" --json | jq -r .uses)" = 0 ] ||
		lab_fail "a use of $n's token was spent by an enrollment that never completed"
	gs_kill_server_enroll "$n"
	gs_kill_paused "$n" packages
	gs_kill_dpkg "$n"
	gs_kill_hold "$n" host sysctl
	gs_kill_paused "$n" network
	gs_kill_paused "$n" gate
	gs_kill_paused "$n" join
	gs_kill_half_join "$n"
	gs_kill_rename "$n" "done" state.json 1 "after it recorded done running, before the done file (paused)"
	gs_kill_rename "$n" "done" state.json 2 "after state.json says done, before the server heard and the done file (paused)" "done" "done"
	! container_exec "$n" test -e /var/lib/geostage-enrolld/done ||
		lab_fail "$n: the done file exists before the agent finished reporting"
	# The rest under the lab unit, as a node would after a reboot.
	gs_node_start "$n"
	gs_wait_done 300 "$n"
	container_exec "$n" test -e /var/lib/geostage-enrolld/done ||
		lab_fail "$n: no done file after the unit's run"
	container_exec "$n" journalctl -u geostage-enrolld --no-pager -o cat |
		grep -q 'every step is done already' ||
		lab_fail "$n: the unit did not run once more to finish what the killed run left (journal)"
	lab_time_end crash "crash node $n: ${#GS_KILLS[@]} kills, then converged"
	unset "GS_T1[$n]" # its add time means nothing after the kills
	[ "$(gs_status "$n" | jq -r '[.steps[] | select(.state == "done")] | length')" = ${#GS_STEPS[@]} ] ||
		lab_fail "$n: not every step done after the crashes"
	j=$(B token show "$tid" --json)
	[ "$(jq -r .uses <<<"$j")" = 1 ] || lab_fail "$n's token: $(jq -r .uses <<<"$j") uses spent, expected 1"
	list=$(B node list --json)
	[ "$(jq -r --arg h "$n" '[.[] | select(.hostname == $h or (.name | startswith($h)))] | length' <<<"$list")" = 1 ] ||
		lab_fail "more than one node for $n: $(jq -c '[.[].name]' <<<"$list")"
	[ "$(jq -r --arg n "$n" '.[] | select(.name == $n) | .step + "/" + .step_state' <<<"$list")" = done/done ] ||
		lab_fail "node list: $n is not done/done after the crashes"
	lab_ok "$n converged: every step done, one node, one token use spent (token show: uses 1 of 1)"
	grep -q 'kubeadm reset: exit 0' "$LAB_TMP/c/$n/merged/var/log/geostage-lab/kubeadm.log" ||
		lab_fail "$n: the half-finished join was not undone with kubeadm reset"
	lab_ok "$n: the half-finished join was undone with kubeadm reset -f before the retry"
	gs_node_ips "$n"
	[ "$(gs_kube GET "/api/v1/nodes/$n")" = 200 ] || lab_fail "no Node $n in the API stand-in"
	[ "$(jq -r '.status.addresses[] | select(.type == "InternalIP") | .address' "$LAB_TMP/kube.body")" = "${GS_NODEIP[$n]}" ] ||
		lab_fail "Node $n has the wrong InternalIP"
	local others=() m
	for m in "${GS_MAIN[@]}"; do
		[ "$m" != "${GS_REVOKED:-}" ] && [ -n "${GS_T1[$m]:-}" ] && others+=("$m")
	done
	gs_matrix crash GS_NODEIP "$n" "${others[@]}"
	for m in "${others[@]}"; do
		[ "${GS_REACH[crash,$n,$m]}" = true ] && [ "${GS_REACH[crash,$m,$n]}" = true ] ||
			lab_fail "$n and $m cannot ping each other after the crashes"
	done
	lab_ok "$n: Node registered with node-ip ${GS_NODEIP[$n]}; pings and is pinged by every live node"
}
