# shellcheck shell=bash
# The thesis' topology in network namespaces (iproute2 + veth + bridges,
# NAT with nftables). Nothing is created in the host's own namespace: every
# bridge lives in a "switch" namespace of its own, so no lab address
# (203.0.113.0/24, 192.168.x.0/24) ever exists on the host or has a route
# out of it.
#
#   internet 203.0.113.0/24 (switch namespace <run>-inet)
#     ├── r-master    wan 203.0.113.10   lan 192.168.10.1/24  (switch <run>-sw-master)
#     │     DNAT from wan: tcp 8443 -> 192.168.10.5 (the bootstrap server's
#     │     host); udp 1194 is served on r-master itself (OpenVPN server);
#     │     net_forward_port adds more
#     ├── r-tokyo     wan 203.0.113.20   lan 192.168.20.1/24  (switch <run>-sw-tokyo)
#     ├── r-frankfurt wan 203.0.113.30   lan 192.168.30.1/24  (switch <run>-sw-frankfurt)
#     └── standalone  203.0.113.40 (a host with no site; a container attaches here)
#   master site host "srv" 192.168.10.5 (apt repo, bootstrap server)
#
# Every router masquerades its LAN to the internet and forwards only
# replies and port forwards inward (policy drop), like a home router.
# Routers and the internet have no route to any 192.168.x LAN: before a
# VPN exists, a site reaches only the internet segment, never another LAN.
# The internet has no default route at all.
#
# Names: every namespace is "<LAB_RUN>-<name>" (net_ns NAME); inside a
# namespace, interfaces have short fixed names (routers: wan, lan; hosts:
# eth0). Every namespace this run created is listed in
# $LAB_TMP/netns.created, and net_teardown deletes exactly those (after
# killing, by PID, any process still inside them: they can only be this
# run's, the names being unique to it).
#
#   net_setup                      the whole topology above (refuses to run
#                                  when any of its names already exists)
#   net_add_host NAME SITE ADDR    a host namespace on SITE's LAN (or on
#                                  the internet with SITE=inet), default
#                                  route via the site's router; prints
#                                  the namespace name
#   net_forward_port PROTO PORT DEST_IP [DEST_PORT]   DNAT on r-master
#   net_exec NAME CMD...           run CMD in namespace <run>-NAME
#                                  (plain processes only: never nspawn)
#   net_teardown                   remove everything net_* created
#
# By hand:
#   LAB_RUN=gldemo bash tests/lab/lib/net.sh up     # prints the namespaces
#   ip netns exec gldemo-r-tokyo ping -c1 203.0.113.40
#   LAB_RUN=gldemo bash tests/lab/lib/net.sh down

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

declare -A NET_SITE_LAN=([master]=192.168.10 [tokyo]=192.168.20 [frankfurt]=192.168.30)
declare -A NET_SITE_WAN=([master]=203.0.113.10 [tokyo]=203.0.113.20 [frankfurt]=203.0.113.30)
NET_STANDALONE_ADDR=203.0.113.40
NET_SRV_ADDR=192.168.10.5
NET_SITES=(master tokyo frankfurt)

net_ns() { echo "${LAB_RUN:?lab_init first}-$1"; }
net_exec() {
	local ns
	ns=$(net_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

_net_created_file() { echo "${LAB_TMP:?lab_init first}/netns.created"; }

# net_check_free NAME...: fail when any <run>-NAME namespace exists.
net_check_free() {
	local n ns existing
	existing=$(ip netns list 2>/dev/null | awk '{print $1}')
	for n in "$@"; do
		ns=$(net_ns "$n")
		if grep -qxF "$ns" <<<"$existing"; then
			lab_fail "network namespace $ns already exists (another run, or leftovers of one): refusing to touch it"
		fi
	done
}

_net_add_ns() { # NAME
	local ns
	ns=$(net_ns "$1")
	net_check_free "$1"
	ip netns add "$ns" || lab_fail "ip netns add $ns"
	echo "$ns" >>"$(_net_created_file)"
	ip -n "$ns" link set lo up
	# IPv4 only: no IPv6 autoconfiguration noise on the lab links.
	ip netns exec "$ns" sh -c 'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6; do echo 1 >"$f"; done' 2>/dev/null || true
}

# _net_link NS_A IF_A NS_B IF_B: a veth pair between two namespaces,
# created directly inside them (no name ever exists on the host).
_net_link() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" ||
		lab_fail "veth $1/$2 <-> $3/$4"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

_net_switch() { # NAME: a namespace holding bridge br0
	_net_add_ns "$1"
	local ns
	ns=$(net_ns "$1")
	ip -n "$ns" link add br0 type bridge || lab_fail "bridge in $ns"
	ip -n "$ns" link set br0 up
}

_net_port() { # SWITCH_NS PORT_IF: enslave to br0
	ip -n "$1" link set "$2" master br0 || lab_fail "enslave $2 in $1"
}

_net_router() { # SITE
	local site=$1 r sw inet lan wan
	r=$(net_ns "r-$site")
	sw=$(net_ns "sw-$site")
	inet=$(net_ns inet)
	lan=${NET_SITE_LAN[$site]}
	wan=${NET_SITE_WAN[$site]}
	_net_add_ns "r-$site"
	_net_switch "sw-$site"
	_net_link "$r" wan "$inet" "r-$site"
	_net_port "$inet" "r-$site"
	_net_link "$r" lan "$sw" router
	_net_port "$sw" router
	ip -n "$r" addr add "$wan/24" dev wan
	ip -n "$r" addr add "$lan.1/24" dev lan
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
	# Home-router NAT: masquerade LAN -> internet; inward only replies and
	# port forwards; the router itself answers ping and what it serves.
	ip netns exec "$r" nft -f - <<-EOF || lab_fail "nftables on $r"
		table ip lab {
			chain prerouting {
				type nat hook prerouting priority dstnat; policy accept;
			}
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan" ip saddr $lan.0/24 masquerade
			}
			chain forward {
				type filter hook forward priority filter; policy drop;
				ct state established,related accept
				ct state invalid drop
				iifname "lan" oifname "wan" accept
				ct status dnat accept
				iifname "tun*" accept
				oifname "tun*" accept
			}
		}
	EOF
}

# net_setup: the whole topology. Needs lab_init (LAB_RUN, LAB_TMP).
net_setup() {
	local s names=(inet standalone srv)
	[ "$(id -u)" -eq 0 ] || lab_skip "needs root for network namespaces"
	command -v nft >/dev/null || lab_need_pkgs nftables
	for s in "${NET_SITES[@]}"; do names+=("r-$s" "sw-$s"); done
	net_check_free "${names[@]}"
	: >>"$(_net_created_file)"
	lab_on_exit net_teardown
	_net_switch inet
	for s in "${NET_SITES[@]}"; do _net_router "$s"; done
	net_add_host standalone inet "$NET_STANDALONE_ADDR" >/dev/null
	net_add_host srv master "$NET_SRV_ADDR" >/dev/null
	net_forward_port tcp 8443 "$NET_SRV_ADDR"
}

# net_add_host NAME SITE ADDR: a host namespace on a site LAN (SITE =
# master|tokyo|frankfurt, default route via the router's .1) or on the
# internet segment (SITE = inet, no default route). Prints its name.
net_add_host() {
	local name=$1 site=$2 addr=$3 ns sw
	[[ $name =~ ^[a-z][a-z0-9-]{0,11}$ ]] || lab_fail "host name '$name': 1-12 chars [a-z0-9-]"
	ns=$(net_ns "$name")
	if [ "$site" = inet ]; then
		sw=$(net_ns inet)
	else
		[ -n "${NET_SITE_LAN[$site]:-}" ] || lab_fail "unknown site '$site'"
		sw=$(net_ns "sw-$site")
	fi
	_net_add_ns "$name"
	_net_link "$ns" eth0 "$sw" "h-$name"
	_net_port "$sw" "h-$name"
	if [ "$site" = inet ]; then
		ip -n "$ns" addr add "$addr/24" dev eth0
	else
		ip -n "$ns" addr add "$addr/24" dev eth0
		ip -n "$ns" route add default via "${NET_SITE_LAN[$site]}.1"
	fi
	echo "$ns"
}

# net_forward_port PROTO PORT DEST_IP [DEST_PORT]: r-master forwards
# PROTO/PORT arriving on its wan to DEST_IP:DEST_PORT on the master LAN.
net_forward_port() {
	local proto=$1 port=$2 dest=$3 dport=${4:-$2}
	ip netns exec "$(net_ns r-master)" nft add rule ip lab prerouting \
		iifname wan "$proto" dport "$port" dnat to "$dest:$dport" ||
		lab_fail "port forward $proto/$port -> $dest:$dport"
}

# net_teardown: delete every namespace this run created (idempotent).
net_teardown() {
	local f ns pid
	f=$(_net_created_file)
	[ -f "$f" ] || return 0
	# Processes still inside (this run's by construction): TERM then KILL.
	while read -r ns; do
		[ -n "$ns" ] && [ -e "/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			lab_kill_pid "$pid" 3
		done
	done <"$f"
	# Reverse order: hosts and routers before the switches they plug into.
	tac "$f" | while read -r ns; do
		[ -n "$ns" ] && [ -e "/run/netns/$ns" ] || continue
		ip netns del "$ns" 2>/dev/null || echo "# cannot delete netns $ns" >&2
	done
	rm -f "$f"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	up)
		: "${LAB_RUN:?set LAB_RUN (2-8 chars [a-z0-9])}"
		LAB_TMP=/run/geostage-lab/$LAB_RUN
		[ -e "$LAB_TMP" ] && lab_fail "$LAB_TMP exists: run 'down' first"
		mkdir -p "$LAB_TMP"
		net_setup
		_LAB_CLEANUPS=() # keep it up
		ip netns list | awk -v p="$LAB_RUN-" 'index($1, p) == 1 {print $1}'
		;;
	down)
		: "${LAB_RUN:?set LAB_RUN}"
		LAB_TMP=/run/geostage-lab/$LAB_RUN
		net_teardown
		rmdir "$LAB_TMP" 2>/dev/null || true
		;;
	*)
		echo "usage: LAB_RUN=ID $0 up|down" >&2
		exit 2
		;;
	esac
fi
