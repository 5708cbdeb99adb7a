#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/lab-hub.sh — part 1 of bench/lab: the OpenVPN hub's load (the
# thesis' open question). Run by bench/lab; see docs/BENCHMARKS.md.
#
# On the lab's topology (tests/lab/lib/net.sh), in this run's namespaces:
#   - a throwaway geostage-bootstrap state dir (init), three direct-mode
#     sites (tokyo 192.168.20.0/24, frankfurt 192.168.30.0/24, edge
#     203.0.113.96/27 on the internet segment) and one token per site;
#   - OpenVPN 2.6 on r-master from `geostage-bootstrap vpn server-config`
#     (as is: its ccd/, revoked/ and management socket are the server's);
#   - geostage-bootstrap serve in srv, reached through r-master's DNAT;
#   - N bare OpenVPN clients (plain processes, one namespace each: 40 % on
#     the tokyo LAN, 40 % on the frankfurt LAN, 20 % on the internet
#     segment), each enrolled first with curl: an openssl P-256 key and CSR,
#     POST /v1/enroll with the site's token, the server's TLS key pinned
#     (the token's pin). The profile is built from the answer with the
#     settings geostage-enrolld writes (enrolld/vpn.c): client, dev tun,
#     proto udp, remote, resolv-retry infinite, nobind, persist-key,
#     persist-tun, remote-cert-tls server, verb 3, inline ca/cert/key/
#     tls-crypt; on the command line only --log, --writepid and
#     --machine-readable-output (log timestamps in microseconds).
# Measures, in this order:
#   1. enrollment of the N keys at once (wall time; the server is the
#      in-tree build, sanitized: not a server benchmark, see bench/enroll);
#   2. the connect storm: all N clients started at once, time until each
#      logs "Initialization Sequence Completed" (its tun has the address),
#      checked afterwards on every tun0 and in the server's status;
#   3. the hub's CPU (utime+stime from /proc/PID/stat, and on-CPU time from
#      schedstat) during the storm, idle with N connected, under traffic;
#   4. RTT between two clients in different sites (tokyo A, frankfurt B)
#      through the hub vs directly over the underlay (r-tokyo's NAT ->
#      internet -> DNAT on r-frankfurt -> B): ROUNDS x PINGS pings at 10 ms
#      intervals each way, interleaved; median and p99;
#   5. the same under load: every other client pings a partner in another
#      site through the hub at 100/s;
#   6. iperf3 TCP throughput A -> B, through the hub vs direct;
#   7. (RESTART=1) the hub restarted: time until every client is back.
# Writes KEY=VALUE lines to $OUT (bench/lab reads them).
# Exit 77 without root, /dev/net/tun, or the in-tree geostage-bootstrap.

LAB_TEST_NAME=bench-lab-hub
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=../tests/lab/lib/common.sh
. "$TOP/tests/lab/lib/common.sh"
# shellcheck source=../tests/lab/lib/net.sh
. "$LAB_LIB_DIR/net.sh"
# shellcheck source=../tests/lab/lib/ovpn.sh
. "$LAB_LIB_DIR/ovpn.sh"

: "${OUT:?set OUT to the results file}"
: "${N:=50}"
: "${ROUNDS:=3}"          # latency rounds (each: PINGS through, PINGS direct)
: "${PINGS:=200}"
: "${IDLE_SECONDS:=30}"
: "${LOAD_SECONDS:=15}"
: "${IPERF_SECONDS:=10}"
: "${RESTART:=1}"
: "${STORM_TIMEOUT:=180}"
: "${GS_BUILDDIR:=$TOP}"
BOOT_PORT=8443
MASTER_WAN=${NET_SITE_WAN[master]}

[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 5 ] && [ "$N" -le 200 ] || lab_fail "N must be 5..200"

lab_require_root_tun
[ -x "$GS_BUILDDIR/geostage-bootstrap" ] ||
	lab_skip "$GS_BUILDDIR/geostage-bootstrap is not built (make geostage-bootstrap)"
lab_need_pkgs nftables iproute2 iputils-ping openvpn openssl socat curl jq
# iperf3 is optional: without it, the throughput rows are left out.
if ! command -v iperf3 >/dev/null; then
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends iperf3 \
		>/dev/null 2>&1 || true
fi

: >"$OUT"
res() { printf '%s=%s\n' "$1" "$2" >>"$OUT"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
noise() { # KEY: load average and CPU pressure now
	res "$1.loadavg" "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
	res "$1.cpu_some_avg10" "$(awk '/^some/ { sub("avg10=", "", $2); print $2 }' /proc/pressure/cpu 2>/dev/null)"
	res "$1.mem_full_avg10" "$(awk '/^full/ { sub("avg10=", "", $2); print $2 }' /proc/pressure/memory 2>/dev/null)"
}

lab_init
CLK_TCK=$(getconf CLK_TCK)
D=$LAB_TMP/hub
mkdir -p "$D/bin" "$D/c"
cp "$GS_BUILDDIR/geostage-bootstrap" "$D/bin/" # a rebuild in the tree must not change it
BOOT_BIN=$D/bin/geostage-bootstrap
BOOT=$D/boot
B() { "$BOOT_BIN" "$@" --state-dir "$BOOT"; }

# --- processes: every PID we start, killed by PID in the EXIT trap -------
CLIENT_PIDS=()
# _is_child PID: a process this shell started and has not reaped yet (so
# a PID that was reused by someone else is never signalled).
_is_child() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "$(cut -d' ' -f2 <<<"$s")" = "$$" ]
}
# kill_pids PID...: of those that are still our children, TERM all, wait
# up to 5 s together, KILL the rest, reap them.
kill_pids() {
	local p i left mine=()
	for p in "$@"; do _is_child "$p" && mine+=("$p"); done
	set -- "${mine[@]}"
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		left=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left=1; done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	kill -KILL "$@" 2>/dev/null
	for p in "$@"; do wait "$p" 2>/dev/null; done
	return 0
}
kill_clients() { kill_pids "${CLIENT_PIDS[@]}"; CLIENT_PIDS=(); }
lab_on_exit kill_clients

# --- CPU of a process ------------------------------------------------------
# cpu_ticks PID: utime+stime (all threads) in clock ticks.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat") || return 1
	s=${s##*) }
	awk '{ printf "%.0f\n", $12 + $13 }' <<<"$s"
}
# cpu_ns PID: time on CPU in ns, summed over its threads (schedstat).
# (%.0f: mawk's %d stops at 2^31-1, about 2.1 s of CPU.)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }'; }
# snap PID: "ticks ns wall_us"
snap() { echo "$(cpu_ticks "$1") $(cpu_ns "$1") $(_lab_us)"; }
# cpu_report KEY PID "SNAP_BEFORE": KEY.wall_s, KEY.cpu_ms (utime+stime),
# KEY.oncpu_ms (schedstat), KEY.cores (on-CPU / wall).
cpu_report() {
	local key=$1 pid=$2 t0 n0 w0 t1 n1 w1
	read -r t0 n0 w0 <<<"$3"
	read -r t1 n1 w1 <<<"$(snap "$pid")"
	res "$key.wall_s" "$(calc %.2f "($w1 - $w0) / 1e6")"
	res "$key.cpu_ms" "$(calc %.0f "($t1 - $t0) * 1000 / $CLK_TCK")"
	res "$key.oncpu_ms" "$(calc %.1f "($n1 - $n0) / 1e6")"
	res "$key.cores" "$(calc %.4f "($n1 - $n0) / 1e3 / ($w1 - $w0)")"
}

# --- the topology, the bootstrap server, the hub --------------------------
lab_time_start setup
net_setup
INIT_OUT=$("$BOOT_BIN" init --state-dir "$BOOT" --url "https://$MASTER_WAN:$BOOT_PORT" \
	--vpn-network 10.99.0.0/16 --vpn-remote "$MASTER_WAN:1194" \
	--master-prefix 192.168.10.0/24 --listen "0.0.0.0:$BOOT_PORT" 2>&1) ||
	lab_fail "geostage-bootstrap init: $INIT_OUT"
PIN=$(awk '/^tls pin:/ { print $3 }' <<<"$INIT_OUT")
[[ $PIN == sha256//* ]] || lab_fail "no TLS pin in init's output: $INIT_OUT"
B site add tokyo --prefix 192.168.20.0/24 --mode direct >/dev/null || lab_fail "site add tokyo"
B site add frankfurt --prefix 192.168.30.0/24 --mode direct >/dev/null || lab_fail "site add frankfurt"
# Not 203.0.113.0/24: a direct site's prefix is pushed to the other sites'
# nodes as a route into the tunnel, and the OpenVPN server (203.0.113.10)
# must stay outside it.
B site add edge --prefix 203.0.113.96/27 --mode direct >/dev/null || lab_fail "site add edge"

B vpn server-config >"$D/server.conf" || lab_fail "vpn server-config"
: >"$D/server.log"
hub_start() {
	ip netns exec "$(net_ns r-master)" openvpn --config "$D/server.conf" \
		--log-append "$D/server.log" --writepid "$D/server.pid" >/dev/null 2>&1 &
	HUB_PID=$!
	lab_on_exit "kill_pids $HUB_PID"
	lab_add_log "$D/server.log"
	lab_wait 15 "the hub (OpenVPN on r-master)" \
		eval "[ \$(grep -c 'Initialization Sequence Completed' '$D/server.log') -ge ${1:-1} ]"
	[ "$(cat "$D/server.pid")" = "$HUB_PID" ] || lab_fail "the hub's PID is not the launcher's"
}
hub_start 1
mkdir -p "$D/mgmt"
ln -sf "$BOOT/openvpn.sock" "$D/mgmt/mgmt.sock" # ovpn_mgmt wants DIR/mgmt.sock
res hub.openvpn "$(openvpn --version | head -n 1 | cut -d' ' -f1-2)"
if grep -q 'disabling data channel offload' "$D/server.log"; then
	res hub.dco "off: $(grep -m1 -oE '[^ ]+ missing, disabling data channel offload' "$D/server.log")"
else
	res hub.dco "$(grep -m1 -i 'dco' "$D/server.log" | cut -d' ' -f6- | cut -c1-100)"
fi

ip netns exec "$(net_ns srv)" "$BOOT_BIN" serve --state-dir "$BOOT" >"$D/serve.log" 2>&1 &
SERVE_PID=$!
lab_on_exit "kill_pids $SERVE_PID"
lab_add_log "$D/serve.log"
lab_wait 20 "geostage-bootstrap serve" ip netns exec "$(net_ns srv)" \
	curl -fsSk --max-time 1 -o /dev/null "https://$NET_SRV_ADDR:$BOOT_PORT/healthz"
lab_time_end setup "topology, bootstrap server, hub"

# --- the clients: namespaces, keys, tokens --------------------------------
NAMES=()
declare -A SITE=() LAN=() NS=() VPN=()
n_tk=0 n_fr=0 n_in=0
for ((i = 1; i <= N; i++)); do
	case $((i % 5)) in
	1 | 2) n_tk=$((n_tk + 1)); name=$(printf 'tk%03d' $n_tk); SITE[$name]=tokyo; LAN[$name]=192.168.20.$((100 + n_tk)) ;;
	3 | 4) n_fr=$((n_fr + 1)); name=$(printf 'fr%03d' $n_fr); SITE[$name]=frankfurt; LAN[$name]=192.168.30.$((100 + n_fr)) ;;
	0) n_in=$((n_in + 1)); name=$(printf 'ed%03d' $n_in); SITE[$name]=edge; LAN[$name]=203.0.113.$((100 + n_in)) ;;
	esac
	NAMES+=("$name")
done
[ $n_in -le 27 ] && [ $n_tk -le 150 ] || lab_fail "too many clients for the address plan"
res n "$N"
res n.tokyo "$n_tk"
res n.frankfurt "$n_fr"
res n.edge "$n_in"

lab_time_start clients
declare -A TOKEN=()
for s in tokyo frankfurt edge; do
	case $s in tokyo) u=$n_tk ;; frankfurt) u=$n_fr ;; edge) u=$n_in ;; esac
	[ "$u" -gt 0 ] || continue
	TOKEN[$s]=$(B token create --site "$s" --uses "$u" --ttl 2h) || lab_fail "token create --site $s"
done
for name in "${NAMES[@]}"; do
	NS[$name]=$(net_add_host "$name" "$([ "${SITE[$name]}" = edge ] && echo inet || echo "${SITE[$name]}")" "${LAN[$name]}")
	(
		umask 077
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/c/$name.key" 2>/dev/null &&
			openssl req -new -key "$D/c/$name.key" -subj "/CN=$name" -out "$D/c/$name.csr" 2>/dev/null &&
			jq -n --rawfile csr "$D/c/$name.csr" --arg n "$name" --arg a "${LAN[$name]}" \
				'{csr: $csr, hostname: $n, name: $n, facts: {addresses: [$a]}}' >"$D/c/$name.req" &&
			printf 'Authorization: Bearer %s\n' "${TOKEN[${SITE[$name]}]}" >"$D/c/$name.hdr"
	) || lab_fail "key and CSR for $name"
done
lab_time_end clients "$N client namespaces, keys and CSRs"

# --- 1. enrollment, all at once ------------------------------------------
noise enroll
t0=$(_lab_us)
pids=()
for name in "${NAMES[@]}"; do
	ip netns exec "${NS[$name]}" curl -sS -k --pinnedpubkey "$PIN" --max-time 60 \
		-H "@$D/c/$name.hdr" -H 'Content-Type: application/json' --data "@$D/c/$name.req" \
		-o "$D/c/$name.json" -w '%{http_code}' "https://$MASTER_WAN:$BOOT_PORT/v1/enroll" \
		>"$D/c/$name.code" 2>"$D/c/$name.curl.err" &
	pids+=($!)
done
wait "${pids[@]}"
res enroll.wall_s "$(calc %.2f "($(_lab_us) - $t0) / 1e6")"
for name in "${NAMES[@]}"; do
	[ "$(cat "$D/c/$name.code")" = 200 ] ||
		lab_fail "enroll $name: HTTP $(cat "$D/c/$name.code"): $(cat "$D/c/$name.json" "$D/c/$name.curl.err" 2>/dev/null | head -c 300)"
	VPN[$name]=$(jq -r '.vpn.address' "$D/c/$name.json")
	[[ ${VPN[$name]} =~ ^10\.99\. ]] || lab_fail "$name: no VPN address in the answer"
	[ "$(jq -r .node "$D/c/$name.json")" = "$name" ] || lab_fail "$name: enrolled under another name"
	grep -qx "ifconfig-push ${VPN[$name]} 255.255.0.0" "$BOOT/ccd/$name" ||
		lab_fail "the server's ccd/$name does not push ${VPN[$name]}"
	# The profile geostage-enrolld writes (enrolld/vpn.c), from the answer.
	(
		umask 077
		{
			echo "client"
			echo "dev tun"
			echo "proto $(jq -r '.vpn.proto' "$D/c/$name.json")"
			jq -r '.vpn.remotes[]' "$D/c/$name.json" | sed 's/^\(.*\):\([0-9]*\)$/remote \1 \2/'
			printf '%s\n' "resolv-retry infinite" nobind persist-key persist-tun \
				"remote-cert-tls server" "verb 3"
			printf '<ca>\n%s\n</ca>\n' "$(jq -r .ca "$D/c/$name.json")"
			printf '<cert>\n%s\n</cert>\n' "$(jq -r .certificate "$D/c/$name.json")"
			printf '<key>\n%s\n</key>\n' "$(cat "$D/c/$name.key")"
			printf '<tls-crypt>\n%s\n</tls-crypt>\n' "$(jq -r .vpn.tls_crypt "$D/c/$name.json")"
		} >"$D/c/$name.conf"
	)
done
[ "$(ls "$BOOT/ccd" | wc -l)" = "$N" ] || lab_fail "the server has $(ls "$BOOT/ccd" | wc -l) client files, expected $N"
res enroll.ok "$N"

# --- 2. the connect storm -------------------------------------------------
# client_start NAME: its openvpn in its namespace, held at a barrier: a
# shared flock on $D/go, which this shell holds exclusively until
# storm_release (so that every client of the storm starts at once). The
# wrapper shell execs openvpn: the PID stays the same.
client_start() {
	ip netns exec "${NS[$1]}" bash -c 'exec 9<"$1" && flock -s 9 && exec 9<&- &&
		shift && exec openvpn "$@"' _ "$D/go" --config "$D/c/$1.conf" --log "$D/c/$1.log" \
		--writepid "$D/c/$1.pid" --machine-readable-output >/dev/null 2>&1 &
	CLIENT_PIDS+=($!)
}
: >"$D/go"
exec {GO_FD}>"$D/go"
flock -x "$GO_FD" || lab_fail "flock $D/go"
# storm_hold N: until N wrappers wait at the barrier (/proc/locks lists
# each blocked waiter as "-> FLOCK ... <dev>:<inode>").
storm_hold() {
	local ino n i
	ino=$(stat -c %i "$D/go")
	for ((i = 0; i < 200; i++)); do
		n=$(grep -cE -- "-> FLOCK .*:$ino " /proc/locks)
		[ "$n" -ge "$1" ] && return 0
		sleep 0.05
	done
	lab_fail "only $n of $1 clients reached the start barrier in 10 s"
}
storm_release() { flock -u "$GO_FD"; }
declare -A UP=()
# wait_all_up T0_US TIMEOUT_S PATTERN_COUNT: until every client's log has
# PATTERN_COUNT "Initialization Sequence Completed" lines (one grep over
# every pending log per poll, every 50 ms). Then UP[name] = when that line
# was logged, in us after T0, from the client's own timestamp
# (--machine-readable-output: seconds.microseconds): the poller competes
# with the clients for the CPU and could not time them itself.
wait_all_up() {
	_wait_all_up "$@" || return 1
	local name ts
	for name in "${NAMES[@]}"; do
		ts=$(awk -v w="$3" '/Initialization Sequence Completed/ && ++n == w { print $1; exit }' "$D/c/$name.log")
		[[ $ts =~ ^[0-9]+\.[0-9]{6}$ ]] || lab_fail "$name: no timestamp on its line 'Initialization Sequence Completed'"
		UP[$name]=$((${ts/./} - $1))
	done
}
_wait_all_up() {
	local t0=$1 timeout=$2 want=$3 end i name files f c now
	end=$((t0 + timeout * 1000000))
	for ((i = 0; i < timeout * 20 + 1; i++)); do
		files=()
		for name in "${NAMES[@]}"; do
			[ -n "${UP[$name]:-}" ] || files+=("$D/c/$name.log")
		done
		[ ${#files[@]} = 0 ] && return 0
		now=$(_lab_us)
		while IFS=: read -r f c; do
			[ "${c:-0}" -ge "$want" ] || continue
			name=${f##*/}
			UP[${name%.log}]=$((now - t0))
		done < <(grep -c -H 'Initialization Sequence Completed' "${files[@]}" /dev/null 2>/dev/null)
		[ "$(_lab_us)" -ge "$end" ] && return 1
		sleep 0.05
	done
	return 1
}
# stats KEY FILE: n, median, p90, p99, max of the numbers in FILE.
stats() {
	sort -g "$2" | awk -v k="$1" '{ v[NR] = $1 }
		function q(p,  r) { r = int(p * NR); if (r < p * NR) r++; if (r < 1) r = 1; return v[r] }
		END { if (NR == 0) { print k ".n=0"; exit }
			printf "%s.n=%d\n%s.p50=%s\n%s.p90=%s\n%s.p99=%s\n%s.max=%s\n%s.min=%s\n",
				k, NR, k, q(0.5), k, q(0.9), k, q(0.99), k, v[NR], k, v[1] }' >>"$OUT"
}
check_tunnels() { # every client's tun0 has its address; the hub lists N
	local name out
	for name in "${NAMES[@]}"; do
		ip -n "${NS[$name]}" -4 -o addr show dev tun0 2>/dev/null | grep -qF " ${VPN[$name]}/16 " ||
			lab_fail "$name: tun0 does not have ${VPN[$name]}/16"
	done
	out=$(ovpn_mgmt "$D/mgmt" "status 2")
	[ "$(awk -F, '$1 == "CLIENT_LIST" && $4 != "" { n++ } END { print n + 0 }' <<<"$out")" = "$N" ] ||
		lab_fail "the hub lists $(awk -F, '$1 == "CLIENT_LIST" && $4 != ""' <<<"$out" | wc -l) clients with an address, expected $N"
}

noise storm
for name in "${NAMES[@]}"; do client_start "$name"; done
storm_hold "$N"
S0=$(snap "$HUB_PID")
t0=$(_lab_us)
storm_release
wait_all_up "$t0" "$STORM_TIMEOUT" 1 || lab_fail "not every client was up after ${STORM_TIMEOUT}s"
cpu_report storm "$HUB_PID" "$S0"
for name in "${NAMES[@]}"; do calc %.3f "${UP[$name]} / 1e6"; echo; done >"$D/storm.times"
stats storm.up_s "$D/storm.times"
check_tunnels
res hub.data_channel "$(grep -m1 -oE "Data Channel: cipher '[^']*'" "$D/c/tk001.log" | sed "s/.*cipher //; s/'//g")"
res hub.control_channel "$(grep -m1 -oE 'Control Channel: [^,]*, cipher [^ ]* [^,]*' "$D/c/tk001.log" | sed 's/Control Channel: //')"
lab_ok "connect storm: $N tunnels up in $(sort -g "$D/storm.times" | tail -n 1) s"

# --- 3. idle with N connected ---------------------------------------------
sleep 5
noise idle
S0=$(snap "$HUB_PID")
sleep "$IDLE_SECONDS"
cpu_report idle "$HUB_PID" "$S0"
res hub.vmrss_kb "$(awk '/^VmRSS/ { print $2 }' "/proc/$HUB_PID/status")"

# --- 4. latency: A (tokyo) <-> B (frankfurt), through the hub vs direct --
A=tk001 BB=fr001
res pair.a "$A ${LAN[$A]} ${VPN[$A]}"
res pair.b "$BB ${LAN[$BB]} ${VPN[$BB]}"
FR_WAN=${NET_SITE_WAN[frankfurt]}
# The direct path: A -> r-tokyo (masquerade) -> internet -> r-frankfurt,
# which forwards ICMP echo and tcp/5201 arriving on its wan to B.
ip netns exec "$(net_ns r-frankfurt)" nft add rule ip lab prerouting iifname wan \
	icmp type echo-request dnat to "${LAN[$BB]}" || lab_fail "DNAT icmp on r-frankfurt"
ip netns exec "$(net_ns r-frankfurt)" nft add rule ip lab prerouting iifname wan \
	tcp dport 5201 dnat to "${LAN[$BB]}:5201" || lab_fail "DNAT tcp/5201 on r-frankfurt"
in_echos() { ip netns exec "${NS[$BB]}" awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 } else print $c }' /proc/net/snmp; }
# Before the VPN path is used: B's tunnel address is not reachable from A
# without the tunnel? (It is: A has the tunnel.) Check instead that both
# targets are B: its echo counter grows by what A sends.
e0=$(in_echos)
ip netns exec "${NS[$A]}" ping -n -q -c 5 -i 0.05 -W 1 "${VPN[$BB]}" >/dev/null || lab_fail "A cannot ping B through the hub"
ip netns exec "${NS[$A]}" ping -n -q -c 5 -i 0.05 -W 1 "$FR_WAN" >/dev/null || lab_fail "A cannot ping B directly ($FR_WAN)"
e1=$(in_echos)
[ $((e1 - e0)) -ge 10 ] || lab_fail "B answered $((e1 - e0)) of 10 echos: the direct path does not end at B"
# The hub path really goes through the hub: B's tunnel route.
ip -n "${NS[$A]}" route get "${VPN[$BB]}" | grep -q ' dev tun0 ' || lab_fail "A does not route B's VPN address into tun0"
ip -n "${NS[$A]}" route get "$FR_WAN" | grep -q ' dev eth0 ' || lab_fail "A does not route $FR_WAN over its LAN"

# pingrtt OUTFILE DST COUNT: RTTs in ms, one a line; prints "sent received".
pingrtt() {
	local out=$1 dst=$2 count=$3
	ip netns exec "${NS[$A]}" ping -n -c "$count" -i 0.01 -W 1 -w $((count / 50 + 10)) "$dst" \
		>"$out.raw" 2>&1
	sed -n 's/.* time=\([0-9.]*\) ms$/\1/p' "$out.raw" >>"$out"
	awk '/packets transmitted/ { print $1, $4 }' "$out.raw"
}
latency_rounds() { # TAG
	local tag=$1 r
	: >"$D/$tag.hub" ; : >"$D/$tag.direct"
	local sent_h=0 recv_h=0 sent_d=0 recv_d=0 s rcv
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r s rcv <<<"$(pingrtt "$D/$tag.hub" "${VPN[$BB]}" "$PINGS")"
		sent_h=$((sent_h + s)); recv_h=$((recv_h + rcv))
		read -r s rcv <<<"$(pingrtt "$D/$tag.direct" "$FR_WAN" "$PINGS")"
		sent_d=$((sent_d + s)); recv_d=$((recv_d + rcv))
	done
	stats "$tag.hub_ms" "$D/$tag.hub"
	stats "$tag.direct_ms" "$D/$tag.direct"
	res "$tag.hub_loss" "$((sent_h - recv_h))/$sent_h"
	res "$tag.direct_loss" "$((sent_d - recv_d))/$sent_d"
}
noise lat
S0=$(snap "$HUB_PID")
latency_rounds lat
cpu_report lat.hubcpu "$HUB_PID" "$S0"

# --- 5. the same under load ----------------------------------------------
# Every client but A and B pings a partner at 100/s through the hub: a
# tokyo client a frankfurt one; the internet-segment (edge) clients each
# other (both ends are then still separate hosts, through the hub).
xs=() ys=() eds=()
for name in "${NAMES[@]}"; do
	[ "$name" = "$A" ] || [ "$name" = "$BB" ] && continue
	case ${SITE[$name]} in
	tokyo) xs+=("$name") ;;
	frankfurt) ys+=("$name") ;;
	edge) eds+=("$name") ;;
	esac
done
for ((i = 0; i < ${#eds[@]}; i++)); do
	if ((i < ${#eds[@]} / 2)); then xs+=("${eds[i]}"); else ys+=("${eds[i]}"); fi
done
pairs=()
for ((i = 0; i < ${#xs[@]} && i < ${#ys[@]}; i++)); do pairs+=("${xs[i]} ${ys[i]}"); done
noise load
S0=$(snap "$HUB_PID")
lpids=()
for ((i = 0; i < ${#pairs[@]}; i++)); do
	read -r src dst <<<"${pairs[i]}"
	ip netns exec "${NS[$src]}" ping -n -q -c $((LOAD_SECONDS * 100)) -i 0.01 -W 1 \
		-w $((LOAD_SECONDS + 10)) "${VPN[$dst]}" >"$D/load.$i" 2>&1 &
	lpids+=($!)
done
sleep 1
latency_rounds_loaded() {
	: >"$D/load.hub" ; : >"$D/load.direct"
	local s rcv sh=0 rh=0 sd=0 rd=0
	read -r s rcv <<<"$(pingrtt "$D/load.hub" "${VPN[$BB]}" "$PINGS")"
	sh=$((sh + s)); rh=$((rh + rcv))
	read -r s rcv <<<"$(pingrtt "$D/load.direct" "$FR_WAN" "$PINGS")"
	sd=$((sd + s)); rd=$((rd + rcv))
	read -r s rcv <<<"$(pingrtt "$D/load.hub" "${VPN[$BB]}" "$PINGS")"
	sh=$((sh + s)); rh=$((rh + rcv))
	read -r s rcv <<<"$(pingrtt "$D/load.direct" "$FR_WAN" "$PINGS")"
	sd=$((sd + s)); rd=$((rd + rcv))
	stats load.hub_ms "$D/load.hub"
	stats load.direct_ms "$D/load.direct"
	res load.hub_loss "$((sh - rh))/$sh"
	res load.direct_loss "$((sd - rd))/$sd"
}
latency_rounds_loaded
wait "${lpids[@]}"
cpu_report load "$HUB_PID" "$S0"
cat "$D"/load.[0-9]* | awk '/packets transmitted/ { s += $1; r += $4 } END { printf "load.sent=%d\nload.received=%d\n", s, r }' >>"$OUT"
res load.pingers "${#pairs[@]}"

# --- 6. throughput A -> B: through the hub vs direct ----------------------
iperf_run() { # TAG DST
	local tag=$1 dst=$2 spid
	timeout $((IPERF_SECONDS + 30)) ip netns exec "${NS[$BB]}" iperf3 -s -1 -p 5201 \
		>"$D/iperf-$tag.server" 2>&1 &
	spid=$!
	lab_on_exit "kill_pids $spid"
	lab_try 10 eval "ip netns exec '${NS[$BB]}' ss -H -tln | grep -q ':5201 '" ||
		lab_fail "iperf3 server on $BB"
	ip netns exec "${NS[$A]}" timeout $((IPERF_SECONDS + 20)) iperf3 -c "$dst" -p 5201 \
		-t "$IPERF_SECONDS" -J >"$D/iperf-$tag.json" 2>"$D/iperf-$tag.err" ||
		lab_fail "iperf3 $tag: $(head -c 300 "$D/iperf-$tag.err" "$D/iperf-$tag.json")"
	wait "$spid" 2>/dev/null
	res "iperf.$tag.mbit" "$(jq -r '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$D/iperf-$tag.json")"
	res "iperf.$tag.retrans" "$(jq -r '.end.sum_sent.retransmits // 0' "$D/iperf-$tag.json")"
}
if command -v iperf3 >/dev/null; then
noise iperf
A_PID=$(cat "$D/c/$A.pid") B_PID=$(cat "$D/c/$BB.pid")
S0=$(snap "$HUB_PID") SA=$(snap "$A_PID") SB=$(snap "$B_PID")
iperf_run hub "${VPN[$BB]}"
cpu_report iperf.hubcpu "$HUB_PID" "$S0"
cpu_report iperf.acpu "$A_PID" "$SA"
cpu_report iperf.bcpu "$B_PID" "$SB"
iperf_run direct "$FR_WAN"
else
	res iperf.none "iperf3 is not installed and could not be installed"
fi
res tun_mtu "$(ip -n "${NS[$A]}" -o link show dev tun0 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')"

res hub.vmhwm_kb "$(awk '/^VmHWM/ { print $2 }' "/proc/$HUB_PID/status")"

# --- 7. the hub restarted --------------------------------------------------
if [ "$RESTART" = 1 ]; then
	# The hub as server-config prints it is stopped (SIGTERM) and started
	# again. The new instance already has one line added (for 7b below; it
	# plays no part in this reconnection, which the old one's shutdown and
	# the clients' ping-restart decide).
	kill_pids "$HUB_PID"
	noise restart
	UP=()
	t0=$(_lab_us)
	echo "explicit-exit-notify 1" >>"$D/server.conf"
	hub_start 2
	res restart.hub_ready_s "$(calc %.2f "($(_lab_us) - $t0) / 1e6")"
	if wait_all_up "$t0" 150 2; then
		for name in "${NAMES[@]}"; do calc %.3f "${UP[$name]} / 1e6"; echo; done >"$D/restart.times"
		stats restart.up_s "$D/restart.times"
		check_tunnels
	else
		res restart.up_s.n "$(for name in "${NAMES[@]}"; do [ -n "${UP[$name]:-}" ] && echo; done | wc -l)"
		res restart.timeout_s 150
	fi
	res restart.pushed "$(grep -m1 -oE 'ping [0-9]+,ping-restart [0-9]+' "$D/c/$A.log")"
	# 7b. The same with one line added to the hub's configuration (a test
	# of the option, not what server-config prints): on shutdown, a UDP
	# server with explicit-exit-notify tells its clients to reconnect.
	if [ "$(cat "$D/restart.times" 2>/dev/null | wc -l)" = "$N" ]; then
		sleep 2
		noise restart_een
		UP=()
		t0=$(_lab_us)
		kill_pids "$HUB_PID"
		hub_start 3
		res restart_een.hub_ready_s "$(calc %.2f "($(_lab_us) - $t0) / 1e6")"
		if wait_all_up "$t0" 150 3; then
			for name in "${NAMES[@]}"; do calc %.3f "${UP[$name]} / 1e6"; echo; done >"$D/restart-een.times"
			stats restart_een.up_s "$D/restart-een.times"
			check_tunnels
		else
			res restart_een.up_s.n "$(for name in "${NAMES[@]}"; do [ -n "${UP[$name]:-}" ] && echo; done | wc -l)"
			res restart_een.timeout_s 150
		fi
	fi
fi

lab_timings
echo "PASS: $LAB_TEST_NAME ($(lab_elapsed "$_LAB_T0") s)"
