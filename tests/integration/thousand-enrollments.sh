#!/usr/bin/env bash
# 1000 agent runs (8 at a time, each its own key and state dir) redeem one
# 1000-use token: all succeed; 1000 nodes with 1000 distinct names, VPN
# addresses and serials; uses = 1000; 1000 ccd files, one per node, each
# with its node's address; one more agent is refused (77, exhausted).
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

N=${GEOSTAGE_TEST_ENROLLMENTS:-1000}
P=8
S=$T/srv
server_init "$S"
server_start_ok "$S"
token=$(token_create "$S" --uses "$N")
jti=$(token_id "$token")
write_token "$T/token" "$token"
agent_conf "$T/agent.conf" retry_attempts=5 connect_timeout=30 \
	request_timeout=60

# shellcheck disable=SC2317 # run by run_parallel
agent() {
	exec timeout 180 "$ENROLLD" --config "$T/agent.conf" \
		--token-file "$T/token" --state-dir "$T/a/$1" --until enroll \
		>/dev/null 2>"$T/a/$1.log"
}
mkdir "$T/a"
start=$SECONDS
run_parallel "$P" "$N" agent
log "$N enrollments, $P at a time: $((SECONDS - start)) s"

ok=$(count_rc 0)
if [ "$ok" != "$N" ]; then
	for ((i = 1; i <= N; i++)); do
		[ "${RC[$i]}" = 0 ] || {
			echo "--- agent $i exited ${RC[$i]}"
			tail -n 3 "$T/a/$i.log"
		}
	done | head -n 40
	fail "$ok of $N agents succeeded"
fi

q() { sql "$S" "$1"; }
assert_eq "$N" "$(q 'SELECT count(*) FROM nodes')" "nodes"
assert_eq "$N" "$(q 'SELECT count(DISTINCT name) FROM nodes')" "distinct node names"
assert_eq "$N" "$(q 'SELECT count(DISTINCT vpn_addr) FROM nodes')" "distinct VPN addresses"
assert_eq "$N" "$(q 'SELECT count(DISTINCT serial) FROM nodes')" "distinct serials"
assert_eq "$N" "$(q 'SELECT count(DISTINCT key_id) FROM nodes')" "distinct node keys"
assert_eq "$N" "$(q "SELECT uses FROM tokens WHERE id = '$jti'")" "the token's uses"
assert_eq "$N" "$(q "SELECT count(*) FROM nodes WHERE token_id = '$jti'")" "nodes of the token"
# Addresses: inside 10.99.0.0/16, never the network, the server's .1 or
# the broadcast address.
lo=$(((10 << 24) | (99 << 16)))
assert_eq 0 "$(q "SELECT count(*) FROM nodes WHERE vpn_addr < $((lo + 2)) OR vpn_addr > $((lo + 65534))")" \
	"nodes with an address outside 10.99.0.2-10.99.255.254"

# ccd/: exactly the nodes' names, each pushing its node's address.
q 'SELECT name FROM nodes ORDER BY name' >"$T/names"
(cd "$S/ccd" && find . -type f -printf '%f\n' | LC_ALL=C sort) >"$T/ccd"
LC_ALL=C sort -o "$T/names" "$T/names"
diff -q "$T/names" "$T/ccd" >/dev/null ||
	fail "ccd/ is not exactly the nodes: $(diff "$T/names" "$T/ccd" | head -n 5)"
q "SELECT name, (vpn_addr >> 24) || '.' || ((vpn_addr >> 16) & 255) || '.' ||
	((vpn_addr >> 8) & 255) || '.' || (vpn_addr & 255) FROM nodes" |
	while IFS='|' read -r name addr; do
		grep -qx "ifconfig-push $addr 255.255.0.0" "$S/ccd/$name" ||
			{ echo "$name $addr"; break; }
	done >"$T/badccd"
[ ! -s "$T/badccd" ] || fail "ccd file without its node's address: $(cat "$T/badccd")"

# Each agent holds the node the database has for its key: spot checks.
for i in 1 $((N / 2)) "$N"; do
	name=$("$ENROLLD" status --json --state-dir "$T/a/$i" | jq -r .node)
	serial=$(openssl x509 -in "$T/a/$i/node.crt" -noout -serial | cut -d= -f2)
	assert_eq "$serial" "$(q "SELECT serial FROM nodes WHERE name = '$name'")" \
		"agent $i's certificate serial"
done

# The token is spent.
rc=$(run_agent extra "$T/token")
assert_eq 77 "$rc" "agent $((N + 1)) on the spent token (exit)"
grep -q token_exhausted "$T/agent-extra.log" || fail "agent $((N + 1)) was not refused as token_exhausted"
pass
