#!/usr/bin/env bash
# 100 agents (100 keys) redeem one single-use token at the same moment:
# exactly one enrolls (exit 0), 99 are refused (exit 77, token_exhausted),
# the database holds exactly one node and the token's uses is 1.
#
# "At the same moment": the server is stopped (SIGSTOP) while the agents
# start, so that all 100 connections wait in its listen queue, then it is
# continued and meets them all at once.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

N=100
S=$T/srv
server_init "$S"
# 99 refusals from 127.0.0.1 must not trip the per-source rate limit.
server_conf "$S" rate_limit_failures 100000
server_start_ok "$S"
token=$(token_create "$S" --uses 1)
jti=$(token_id "$token")
write_token "$T/token" "$token"
# Generous timeouts: the agents connect to a stopped server.
agent_conf "$T/agent.conf" retry_attempts=3 connect_timeout=60 \
	request_timeout=120

# shellcheck disable=SC2317 # run by run_parallel
agent() {
	exec timeout 180 "$ENROLLD" --config "$T/agent.conf" \
		--token-file "$T/token" --state-dir "$T/agent-$1" --until enroll \
		>"$T/agent-$1.out" 2>"$T/agent-$1.log"
}

kill -STOP "$SERVER_PID"
# Continues the server once every agent's connection waits in its queue
# (bounded: 60 s; then it continues anyway and the test goes on).
(
	for ((i = 0; i < 600; i++)); do
		[ "$(tcp_established "$SERVER_PORT")" -ge "$N" ] && break
		sleep 0.1
	done
	tcp_established "$SERVER_PORT" >"$T/queued"
	kill -CONT "$SERVER_PID"
) &
releaser=$!
PIDS+=("$releaser")
run_parallel "$N" "$N" agent
wait_pids 10 "$releaser"
_forget_pid "$releaser"
log "$(cat "$T/queued") connections were queued at the stopped server"

ok=$(count_rc 0)
refused=$(count_rc 77)
if [ "$ok" != 1 ] || [ "$refused" != $((N - 1)) ]; then
	for ((i = 1; i <= N; i++)); do
		case ${RC[$i]} in 0 | 77) ;; *)
			echo "--- agent $i exited ${RC[$i]}"
			tail -n 5 "$T/agent-$i.log"
			;;
		esac
	done
	fail "exits: $ok x 0 and $refused x 77 (expected 1 and $((N - 1))); all: ${RC[*]}"
fi
# Every refusal was for the exhausted token, nothing else.
for ((i = 1; i <= N; i++)); do
	if [ "${RC[$i]}" = 0 ]; then
		winner=$i
		continue
	fi
	grep -q token_exhausted "$T/agent-$i.log" ||
		fail "agent $i was refused, but not with token_exhausted: $(tail -n 1 "$T/agent-$i.log")"
done

assert_eq 1 "$(sql "$S" 'SELECT count(*) FROM nodes')" "nodes in the database"
assert_eq 1 "$(sql "$S" "SELECT uses FROM tokens WHERE id = '$jti'")" "the token's uses"
assert_eq 1 "$(find "$S/ccd" -type f | wc -l)" "files in ccd/"
name=$("$ENROLLD" status --json --state-dir "$T/agent-$winner" | jq -r .node)
assert_eq "$name" "$(sql "$S" 'SELECT name FROM nodes')" "the enrolled node is the winner's"
[ -f "$S/ccd/$name" ] || fail "no ccd/$name"
pass
