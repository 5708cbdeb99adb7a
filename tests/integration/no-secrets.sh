#!/usr/bin/env bash
# No token in logs or files, private files private. After enrollments (one
# that runs on until the first unimplemented step, so progress is
# reported; a repeat; a refusal), with both programs logging at debug
# level:
#   - neither the whole token nor its signature part appears in the
#     server's state dir (database and WAL included), the agents' state
#     dirs, the server's log or the agents' logs, or the CLI's output but
#     the token itself;
#   - server state dir 0700, *.key 0600, geostage.db (and -wal, -shm) 0600;
#   - the agent's state dir 0700, node.key 0600.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

export GEOSTAGE_LOG_LEVEL=debug
S=$T/srv
server_init "$S"
SERVER_ENV=GEOSTAGE_LOG_LEVEL=debug server_start_ok "$S"
"$BOOTSTRAP" token create --state-dir "$S" --uses 2 >"$T/token.out" 2>"$T/cli.log" ||
	fail "token create failed"
token=$(cat "$T/token.out")
write_token "$T/token" "$token"
{
	"$BOOTSTRAP" token list --state-dir "$S"
	"$BOOTSTRAP" token list --json --state-dir "$S"
	"$BOOTSTRAP" token show --state-dir "$S" "$(token_id "$token")"
	"$BOOTSTRAP" token show --json --state-dir "$S" "$(token_id "$token")"
} >>"$T/cli.log" 2>&1

agent_conf "$T/agent.conf"
# One enrolls, reporting progress on the way, then runs again (resume:
# nothing left to do up to enroll); one more enrolls; a third is refused
# (the token has 2 uses). No agent goes past enroll here: later steps
# change the machine they run on (they run in tests/lab's containers).
rc=$(run_agent one "$T/token")
assert_eq 0 "$rc" "agent one's exit"
mv "$T/agent-one.log" "$T/agent-one.1.log"
rc=$(run_agent one "$T/token")
assert_eq 0 "$rc" "agent one's exit, resumed"
rc=$(run_agent two "$T/token")
assert_eq 0 "$rc" "agent two's exit"
rc=$(run_agent three "$T/token")
assert_eq 77 "$rc" "agent three's exit (token used up)"
"$ENROLLD" status --state-dir "$T/agent-one" >"$T/status.out" 2>&1
"$ENROLLD" status --json --state-dir "$T/agent-one" >>"$T/status.out" 2>&1
"$BOOTSTRAP" node list --json --state-dir "$S" >>"$T/cli.log" 2>&1
server_stop
# Nothing from the server's shutdown (WAL checkpoint) escapes either.

sig=${token##*.}
assert_eq 86 "${#sig}" "length of the token's signature part"
look() { # NEEDLE WHAT
	local hits
	hits=$(grep -rlaF -- "$1" "$S" "$T"/agent-one "$T"/agent-two \
		"$T"/agent-three "$S.log" "$T"/agent-*.log "$T/status.out" \
		"$T/cli.log" 2>/dev/null)
	[ -z "$hits" ] || fail "$2 found in: $hits"
}
look "$token" "the token"
look "$sig" "the token's signature"
# The CLI printed the token where asked, and only there.
assert_eq "$token" "$(cat "$T/token.out")" "token create's output"
# Sanity: the files searched are the real ones (the jti is public and
# logged, the certificates are there).
grep -qF "$(token_id "$token")" "$S.log" || fail "the server's log does not name the token id (log not captured?)"
[ -s "$T/agent-one/node.crt" ] || fail "agent one has no certificate (nothing searched?)"

# Modes.
assert_mode 700 "$S"
for f in "$S"/*.key; do
	assert_mode 600 "$f"
done
[ "$(find "$S" -maxdepth 1 -name '*.key' | wc -l)" -ge 3 ] || fail "fewer than 3 keys in $S"
for f in "$S"/geostage.db "$S"/geostage.db-wal "$S"/geostage.db-shm; do
	[ -e "$f" ] || continue
	assert_mode 600 "$f"
done
assert_mode 600 "$S/bootstrap.conf"
bad=$(find "$S" -perm /o+w -o -perm /g+w)
[ -z "$bad" ] || fail "group- or world-writable in the state dir: $bad"
for a in one two; do
	assert_mode 700 "$T/agent-$a"
	assert_mode 600 "$T/agent-$a/node.key"
done
pass
