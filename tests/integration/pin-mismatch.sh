#!/usr/bin/env bash
# The agent trusts only the pin in its token. Server A issues a token, then
# server B (its own keys) takes A's address and port: the agent must stop
# with exit 76 during the TLS handshake, before any HTTP request. B sees no
# request at all: its /metrics counts no enrollment and no response (other
# than the scrape itself), its log mentions no enrollment, its database
# holds no node.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

A=$T/a
B=$T/b
server_init "$A"
server_start_fixed "$A"
port=$SERVER_PORT
token=$(token_create "$A")
write_token "$T/token" "$token"
server_stop

server_init "$B"
pin_a=$(jwt_payload "$token" | jq -r .pin)
pin_b=$(jwt_payload "$(token_create "$B")" | jq -r .pin)
assert_ne "$pin_a" "$pin_b" "B's pin (B must have its own TLS key)"

# Same port as A (claimed by free_port, so no other test takes it).
server_restart "$B" "$port"
assert_eq "$port" "$SERVER_PORT" "B's port"

agent_conf "$T/agent.conf"
rc=0
timeout 60 "$ENROLLD" --config "$T/agent.conf" --token-file "$T/token" \
	--state-dir "$T/node" --until enroll >"$T/agent.out" 2>"$T/agent.log" ||
	rc=$?
if [ "$rc" -ne 76 ]; then
	cat "$T/agent.log"
	fail "agent with A's token against B: exit $rc, expected 76 (pin mismatch)"
fi
grep -qi pin "$T/agent.log" || fail "the agent's error does not mention the pin"
[ ! -e "$T/node/node.crt" ] || fail "the agent saved a certificate from B"

# One scrape; the counters are rendered before this response is counted.
st=$(http "$B" GET /metrics)
assert_eq 200 "$st" "GET /metrics on B"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$T/body"; }
total=0
for r in ok repeat bad_request invalid_token token_expired token_revoked \
	token_exhausted node_revoked name_conflict csr_rejected rate_limited \
	unavailable too_large other; do
	v=$(metric "geostage_enrollments_total{result=\"$r\"}")
	[ -n "$v" ] || fail "B's /metrics has no enrollments_total{result=\"$r\"}"
	total=$((total + v))
done
assert_eq 0 "$total" "enrollment requests B counted"
for c in 1xx 2xx 3xx 4xx 5xx; do
	v=$(metric "geostage_http_responses_total{code=\"$c\"}")
	assert_eq 0 "$v" "B's HTTP responses with status $c before the scrape"
done
assert_eq 0 "$(sql "$B" 'SELECT count(*) FROM nodes')" "nodes in B's database"
assert_eq 0 "$(find "$B/ccd" -type f | wc -l)" "files in B's ccd/"

server_stop
if grep -qi enroll "$B.log"; then
	cat "$B.log"
	fail "B's log mentions an enrollment"
fi
pass
