#!/usr/bin/env bash
# kill -9 the server three times during a burst of enrollments, restarting
# it on the same port each time; the agents retry. Afterwards (DESIGN §5):
#   - every token's uses == its number of nodes, and <= max_uses;
#   - VPN addresses, serials, names unique;
#   - ccd/ holds exactly the non-revoked nodes' files, each with its
#     node's address; revoked/ holds the revoked node's serial;
#   - every agent that exited 0 has its node (its certificate's serial) in
#     the database, and nodes == successful agents: no use lost or spent
#     twice; every agent converged (0, or 77 once its token ran out).
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

NA=40 # agents on token A, 50 uses: all must enroll
NB=20 # agents on token B, 10 uses: 10 enroll, 10 are refused
S=$T/srv
server_init "$S"
server_conf "$S" rate_limit_failures 100000
server_start_fixed "$S"
port=$SERVER_PORT
# The node revoked during the burst: enrolled before it, by its own token.
tok_c=$(token_create "$S")
write_token "$T/token-c" "$tok_c"
agent_conf "$T/agent.conf"
rc=$(run_agent victim "$T/token-c")
[ "$rc" = 0 ] || fail "the victim's enrollment: exit $rc"
victim=$("$ENROLLD" status --json --state-dir "$T/agent-victim" | jq -r .node)
tok_a=$(token_create "$S" --uses 50)
tok_b=$(token_create "$S" --uses 10)
write_token "$T/token-a" "$tok_a"
write_token "$T/token-b" "$tok_b"
agent_conf "$T/agent.conf" retry_attempts=30 retry_initial_ms=100 \
	retry_max_ms=1000 connect_timeout=5 request_timeout=10

declare -A AGENT_PID=()
mkdir "$T/a"
for ((i = 1; i <= NA + NB; i++)); do
	tf=$T/token-a
	[ "$i" -le "$NA" ] || tf=$T/token-b
	timeout 240 "$ENROLLD" --config "$T/agent.conf" --token-file "$tf" \
		--state-dir "$T/a/$i" --until enroll >/dev/null 2>"$T/a.$i.log" &
	AGENT_PID[$i]=$!
	PIDS+=("$!")
done

nodes() { sql "$S" 'SELECT count(*) FROM nodes' 2>/dev/null || echo 0; }

# Crash at 5, 20 and 35 nodes from the burst (or after 60 s without
# getting there), restart at once on the same port.
crashes=0
for at in 5 20 35; do
	for ((w = 0; w < 600; w++)); do
		[ "$(nodes)" -ge $((at + 1)) ] && break
		sleep 0.1
	done
	log "kill -9 at $(nodes) nodes"
	stop_pid "$SERVER_PID" KILL
	crashes=$((crashes + 1))
	server_restart "$S" "$port"
	if [ "$at" = 20 ]; then
		# A revocation between crashes, while enrollments go on.
		"$BOOTSTRAP" node revoke --state-dir "$S" "$victim" >/dev/null ||
			fail "node revoke $victim failed"
	fi
done
assert_eq 3 "$crashes" "server crashes"

wait_pids 240 "${AGENT_PID[@]}"
declare -A RCS=()
ok=0
for ((i = 1; i <= NA + NB; i++)); do
	rc=0
	wait "${AGENT_PID[$i]}" || rc=$?
	_forget_pid "${AGENT_PID[$i]}"
	RCS[$i]=$rc
	[ "$rc" = 0 ] && ok=$((ok + 1))
done
server_stop
# One last crash-free start: start-up reconciliation must change nothing
# now (every file was right), and serve must start on this state.
lines=$(wc -l <"$S.log")
server_start_ok "$S"
server_stop
tail -n +$((lines + 1)) "$S.log" >"$T/last.log"
if grep -Eq 'reconciled|stray' "$T/last.log"; then
	cat "$T/last.log"
	fail "a clean restart after the burst still had files to fix"
fi

q() { sql "$S" "$1"; }

# Agents: every A agent enrolled; B agents: exactly 10, the others were
# refused with token_exhausted; nobody gave up on retries.
for ((i = 1; i <= NA + NB; i++)); do
	rc=${RCS[$i]}
	if [ "$i" -le "$NA" ]; then
		[ "$rc" = 0 ] || { tail -n 5 "$T/a.$i.log"; fail "agent $i (token A) exited $rc, expected 0"; }
	else
		case $rc in
		0) ;;
		77) grep -q token_exhausted "$T/a.$i.log" ||
			fail "agent $i (token B) refused, but not as token_exhausted" ;;
		*) tail -n 5 "$T/a.$i.log"; fail "agent $i (token B) exited $rc, expected 0 or 77" ;;
		esac
	fi
done
b_ok=$((ok - NA))
assert_eq 10 "$b_ok" "agents enrolled with token B (10 uses)"

# Tokens: uses == nodes, <= max.
bad=$(q 'SELECT id || " uses=" || uses || " max=" || max_uses || " nodes=" ||
	(SELECT count(*) FROM nodes n WHERE n.token_id = t.id) FROM tokens t
	WHERE uses != (SELECT count(*) FROM nodes n WHERE n.token_id = t.id)
	OR uses > max_uses')
[ -z "$bad" ] || fail "token invariant broken: $bad"
assert_eq "$NA" "$(q "SELECT uses FROM tokens WHERE id = '$(token_id "$tok_a")'")" "token A's uses"
assert_eq 10 "$(q "SELECT uses FROM tokens WHERE id = '$(token_id "$tok_b")'")" "token B's uses"

# No use lost or spent twice (the victim is the one node from before).
total=$(q 'SELECT count(*) FROM nodes')
assert_eq $((ok + 1)) "$total" "nodes in the database vs agents that succeeded"

# Uniqueness.
for col in name vpn_addr serial key_id; do
	assert_eq "$total" "$(q "SELECT count(DISTINCT $col) FROM nodes")" "distinct $col"
done

# Every successful agent's node, by its certificate's serial.
for ((i = 1; i <= NA + NB; i++)); do
	[ "${RCS[$i]}" = 0 ] || continue
	name=$("$ENROLLD" status --json --state-dir "$T/a/$i" | jq -r .node)
	serial=$(openssl x509 -in "$T/a/$i/node.crt" -noout -serial | cut -d= -f2)
	got=$(q "SELECT name FROM nodes WHERE serial = '$serial'")
	assert_eq "$name" "$got" "agent $i's node (by its certificate serial $serial)"
done

# ccd/ == the non-revoked nodes, with their addresses.
assert_eq 1 "$(q 'SELECT count(*) FROM nodes WHERE revoked IS NOT NULL')" "revoked nodes"
q 'SELECT name FROM nodes WHERE revoked IS NULL' | LC_ALL=C sort >"$T/names"
find "$S/ccd" -mindepth 1 -printf '%f\n' | LC_ALL=C sort >"$T/ccd"
diff -u "$T/names" "$T/ccd" >"$T/ccd.diff" ||
	fail "ccd/ is not exactly the non-revoked nodes: $(head -n 8 "$T/ccd.diff")"
q "SELECT name, (vpn_addr >> 24) || '.' || ((vpn_addr >> 16) & 255) || '.' ||
	((vpn_addr >> 8) & 255) || '.' || (vpn_addr & 255) FROM nodes
	WHERE revoked IS NULL" |
	while IFS='|' read -r name addr; do
		grep -qx "ifconfig-push $addr 255.255.0.0" "$S/ccd/$name" ||
			echo "$name"
	done >"$T/badccd"
[ ! -s "$T/badccd" ] || fail "ccd files without their node's address: $(cat "$T/badccd")"
hex=$(q "SELECT serial FROM nodes WHERE name = '$victim'")
dec=$(echo "ibase=16; $hex" | BC_LINE_LENGTH=0 bc)
[ -e "$S/revoked/$dec" ] || fail "revoked/$dec (serial of $victim) missing"
[ ! -e "$S/ccd/$victim" ] || fail "ccd/$victim still there after node revoke"
pass
