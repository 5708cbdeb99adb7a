# shellcheck shell=bash
# Real OpenVPN 2.6 for the lab: a test PKI made with openssl, the master
# site's server as a plain process in a namespace (normally r-master), and
# inline client profiles for containers (openvpn-client@NAME).
#
#   ovpn_pki DIR                       CA (P-256), server cert, tls-crypt key
#   ovpn_client_cert DIR CN            client key + cert; prints the serial
#                                      in decimal (the crl-verify dir's name)
#   ovpn_ccd DIR CN LINE...            write DIR/ccd/CN (ifconfig-push, iroute)
#   ovpn_server_start DIR NETNS LOCAL_ADDR [CONF_LINE...]
#                                      server.conf + openvpn in NETNS, waits for
#                                      "Initialization Sequence Completed"
#   ovpn_mgmt DIR CMD                  one command on the management socket
#   ovpn_connected DIR CN              is CN in the server's client list?
#   ovpn_revoke DIR CN SERIAL [kill|client-kill]
#                                      serial into the crl-verify dir, ccd
#                                      file removed, live session killed
#   ovpn_client_id DIR CN              the session's CID (for client-kill)
#   ovpn_client_profile DIR CN REMOTE_IP [PORT]   the inline client profile
#
# Layout of DIR: ca.{key,crt} server.{key,crt} tc.key clients/CN.{key,crt}
# ccd/ revoked/ (crl-verify DIR dir) server.conf server.log mgmt.sock
# status. The server drops to nobody:nogroup after start, so DIR, ccd/ and
# revoked/ are world-readable (keys stay 0600: read before the drop) and
# the path to DIR must be traversable (lab_init makes LAB_TMP 0711 for
# this).
#
# Addresses: VPN network 10.99.0.0/16, server 10.99.0.1 (PROTOCOL.md's
# example); the server pushes a route to the master LAN.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OVPN_NET=10.99.0.0
OVPN_MASK=255.255.0.0
# shellcheck disable=SC2034 # (for the tests)
OVPN_SERVER_ADDR=10.99.0.1
OVPN_PORT=1194

_ovpn_openssl() { openssl "$@" 2>/dev/null; }

ovpn_pki() {
	local d=$1
	mkdir -p "$d/clients" "$d/ccd" "$d/revoked"
	chmod 755 "$d" "$d/ccd" "$d/revoked"
	chmod 700 "$d/clients"
	(
		umask 077
		cd "$d" || exit 1
		_ovpn_openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key &&
			_ovpn_openssl req -x509 -new -key ca.key -sha256 -days 2 \
				-subj "/CN=geostage lab VPN CA (test)" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt &&
			_ovpn_openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key &&
			_ovpn_openssl req -new -key server.key -subj "/CN=server" -out server.csr &&
			printf '%s\n' "basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=serverAuth" >server.ext &&
			_ovpn_openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
				-set_serial 1 -days 2 -sha256 -extfile server.ext -out server.crt &&
			openvpn --genkey tls-crypt tc.key >/dev/null
	) || lab_fail "making the test PKI in $d"
	chmod 644 "$d/ca.crt" "$d/server.crt"
}

# ovpn_client_cert DIR CN: prints the decimal serial (a random 48-bit
# number: exact in any shell or awk arithmetic).
ovpn_client_cert() {
	local d=$1 cn=$2 serial
	serial=$(($(od -An -N6 -tu8 /dev/urandom | tr -d ' ') + 2))
	(
		umask 077
		cd "$d" || exit 1
		printf '%s\n' "basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=clientAuth" >client.ext &&
			_ovpn_openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "clients/$cn.key" &&
			_ovpn_openssl req -new -key "clients/$cn.key" -subj "/CN=$cn" -out "clients/$cn.csr" &&
			_ovpn_openssl x509 -req -in "clients/$cn.csr" -CA ca.crt -CAkey ca.key \
				-set_serial "$serial" -days 2 -sha256 -extfile client.ext -out "clients/$cn.crt"
	) || lab_fail "client certificate for $cn"
	# The serial as OpenSSL reads it back, in hex, must be ours.
	local hex
	hex=$(openssl x509 -noout -serial -in "$d/clients/$cn.crt" | sed 's/^serial=//')
	[ "$((16#$hex))" = "$serial" ] || lab_fail "serial mismatch for $cn: $hex vs $serial"
	echo "$serial"
}

ovpn_ccd() {
	local d=$1 cn=$2
	shift 2
	printf '%s\n' "$@" >"$d/ccd/.$cn.tmp"
	chmod 644 "$d/ccd/.$cn.tmp"
	mv -f "$d/ccd/.$cn.tmp" "$d/ccd/$cn"
}

ovpn_server_start() {
	local d=$1 ns=$2 local_addr=$3 pid
	shift 3
	command -v openvpn >/dev/null || lab_need_pkgs openvpn
	cat >"$d/server.conf" <<-EOF
		# geostage lab: the master site's OpenVPN server (test PKI)
		mode server
		tls-server
		dev tun
		topology subnet
		proto udp
		local $local_addr
		port $OVPN_PORT
		server $OVPN_NET $OVPN_MASK
		ca $d/ca.crt
		cert $d/server.crt
		key $d/server.key
		dh none
		tls-crypt $d/tc.key
		tls-version-min 1.2
		data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305
		client-config-dir $d/ccd
		ccd-exclusive
		crl-verify $d/revoked dir
		management $d/mgmt.sock unix
		status $d/status 1
		status-version 2
		keepalive 1 5
		persist-key
		persist-tun
		user nobody
		group nogroup
		disable-dco
		verb 3
	EOF
	printf '%s\n' "$@" >>"$d/server.conf"
	: >"$d/server.log"
	ip netns exec "$ns" openvpn --config "$d/server.conf" --log "$d/server.log" \
		--writepid "$d/server.pid" >/dev/null 2>&1 &
	pid=$!
	echo "$pid" >"$d/server.launcher.pid"
	lab_on_exit "lab_kill_pid $pid 5"
	lab_add_log "$d/server.log"
	lab_wait 15 "OpenVPN server in $ns" grep -q "Initialization Sequence Completed" "$d/server.log"
	[ -S "$d/mgmt.sock" ] || lab_fail "no management socket $d/mgmt.sock"
}

# ovpn_mgmt DIR CMD: the command's reply, without the greeting and CRs,
# up to its last line (END, SUCCESS: or ERROR:). The reply is read before
# "quit" is sent: OpenVPN drops unsent output of a connection it closes.
ovpn_mgmt() {
	local sock=$1/mgmt.sock line
	command -v socat >/dev/null || lab_need_pkgs socat
	[ -S "$sock" ] || return 1
	coproc _OVPN_MGMT { exec timeout 5 socat -t 0.1 - "UNIX-CONNECT:$sock" 2>/dev/null; }
	printf '%s\n' "$2" >&"${_OVPN_MGMT[1]}"
	while IFS= read -r -t 3 line <&"${_OVPN_MGMT[0]}"; do
		line=${line%$'\r'}
		case $line in '>INFO:'*) continue ;; esac
		printf '%s\n' "$line"
		case $line in END | SUCCESS:* | ERROR:*) break ;; esac
	done
	{ printf 'quit\n' >&"${_OVPN_MGMT[1]}"; } 2>/dev/null
	wait "$_OVPN_MGMT_PID" 2>/dev/null
	return 0
}

# ovpn_connected DIR CN: true when CN has a session with a tunnel address
# (status 2: CLIENT_LIST,<CN>,<real addr>,<virtual addr>,...). A client that
# was refused after its TLS handshake (AUTH_FAILED, e.g. no ccd file under
# ccd-exclusive) stays listed for a few seconds, without an address.
# (Replies are captured before they are searched: with pipefail, a grep -q
# that stops reading early would turn the writer's SIGPIPE into "false".)
ovpn_connected() {
	local out
	out=$(ovpn_mgmt "$1" "status 2")
	awk -F, -v cn="$2" '$1 == "CLIENT_LIST" && $2 == cn && $4 != "" {f=1} END {exit !f}' <<<"$out"
}

# ovpn_client_id DIR CN: the live session's client id (for client-kill).
ovpn_client_id() {
	local out
	out=$(ovpn_mgmt "$1" "status 2")
	awk -F, -v cn="$2" '$1 == "CLIENT_LIST" && $2 == cn {print $11; exit}' <<<"$out"
}

# ovpn_revoke DIR CN SERIAL [kill|client-kill]: refuse the certificate from
# now on (crl-verify dir), drop its ccd file, end its live session.
#   kill (default): management "kill CN" ends the session on the server at
#     once, but tells the client nothing: the client keeps its tunnel
#     address until its ping-restart fires (keepalive), then reconnects and
#     is refused.
#   client-kill: management "client-kill CID" sends the client a RESTART
#     control message: the client drops its tunnel at once and its
#     immediate reconnection is refused.
ovpn_revoke() {
	local d=$1 cn=$2 serial=$3 how=${4:-kill} cid out
	: >"$d/revoked/$serial"
	chmod 644 "$d/revoked/$serial"
	rm -f "$d/ccd/$cn"
	case "$how" in
	kill)
		out=$(ovpn_mgmt "$d" "kill $cn")
		[[ $out == SUCCESS* ]] || lab_fail "management 'kill $cn' failed: $out"
		;;
	client-kill)
		cid=$(ovpn_client_id "$d" "$cn")
		[ -n "$cid" ] || lab_fail "no live session for $cn"
		out=$(ovpn_mgmt "$d" "client-kill $cid")
		[[ $out == SUCCESS* ]] || lab_fail "management 'client-kill $cid' ($cn) failed: $out"
		;;
	*) lab_fail "ovpn_revoke: unknown method '$how'" ;;
	esac
}

ovpn_client_profile() {
	local d=$1 cn=$2 remote=$3 port=${4:-$OVPN_PORT}
	cat <<-EOF
		# geostage lab client profile for $cn (test PKI)
		client
		dev tun
		proto udp
		remote $remote $port
		nobind
		remote-cert-tls server
		verify-x509-name server name
		tls-version-min 1.2
		data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305
		connect-retry 1 2
		server-poll-timeout 5
		disable-dco
		verb 3
		<ca>
		$(cat "$d/ca.crt")
		</ca>
		<cert>
		$(cat "$d/clients/$cn.crt")
		</cert>
		<key>
		$(cat "$d/clients/$cn.key")
		</key>
		<tls-crypt>
		$(cat "$d/tc.key")
		</tls-crypt>
	EOF
}
