#!/usr/bin/env bash
# The command line (DESIGN §6): exit 0 ok, 1 failure, 2 usage, 78 config.
#   - every command and subcommand of both programs answers --help with
#     exit 0 and a usage text; no command, an unknown command, subcommand
#     or option: exit 2;
#   - init again keeps the keys (same pin, token key, CA); --force replaces
#     them, and the old tokens stop working;
#   - site add refuses bad names (../x, DEFAULT, reserved, 64 chars...),
#     bad prefixes (2) and overlaps with the VPN or a site (1);
#   - token create refuses --uses 0, --ttl 1s, a geostage.io/ label ... (2)
#     and records nothing;
#   - every list and show --json is valid JSON of the expected shape;
#   - commands on a state dir that is not there: 78.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

B=$BOOTSTRAP
S=$T/srv

# expect CODE WHAT CMD...: runs CMD, checks its exit code.
expect() {
	local want=$1 what=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] ||
		fail "$what: exit $rc, expected $want; stderr: $(head -c 300 "$T/err")"
}

# --- help and usage -----------------------------------------------------------

help_ok() { # CMD...
	expect 0 "$* --help" "$@" --help
	grep -qi usage "$T/out" || fail "$* --help prints no usage on stdout"
}
help_ok "$B"
for c in init serve site token node; do
	help_ok "$B" "$c"
done
for c in "site add" "site list" "token create" "token list" "token show" \
	"token revoke" "node list" "node show" "node revoke"; do
	# shellcheck disable=SC2086
	help_ok "$B" $c
done
expect 0 "geostage-bootstrap help" "$B" help
expect 0 "geostage-bootstrap -h" "$B" -h
expect 0 "geostage-bootstrap --version" "$B" --version
grep -q '^geostage-bootstrap [0-9]' "$T/out" || fail "--version: $(cat "$T/out")"
expect 0 "geostage-bootstrap version" "$B" version

expect 2 "geostage-bootstrap without a command" "$B"
expect 2 "unknown command" "$B" frobnicate
expect 2 "unknown token subcommand" "$B" token frobnicate
expect 2 "unknown site subcommand" "$B" site frobnicate
expect 2 "unknown node subcommand" "$B" node frobnicate
expect 2 "token without a subcommand" "$B" token
expect 2 "unknown option" "$B" token list --frobnicate
expect 2 "serve with an extra argument" "$B" serve extra
expect 2 "init without --url" "$B" init --state-dir "$T/nourl"
[ ! -e "$T/nourl/token.key" ] || fail "init without --url created keys"
expect 2 "init with an http:// URL" "$B" init --state-dir "$T/http" --url http://127.0.0.1:1
expect 2 "init with a /30 VPN network" "$B" init --state-dir "$T/n30" \
	--url https://127.0.0.1:1 --vpn-network 10.99.0.0/30
expect 2 "init with host bits in the VPN network" "$B" init --state-dir "$T/hb" \
	--url https://127.0.0.1:1 --vpn-network 10.99.0.1/16

if [ -x "$ENROLLD" ]; then
	need_agent
	E=$ENROLLD
	expect 0 "geostage-enrolld --help" "$E" --help
	grep -qi usage "$T/out" || fail "geostage-enrolld --help prints no usage"
	for c in run status leave; do
		expect 0 "geostage-enrolld $c --help" "$E" "$c" --help
		grep -qi usage "$T/out" || fail "geostage-enrolld $c --help prints no usage"
	done
	expect 0 "geostage-enrolld --version" "$E" --version
	expect 2 "geostage-enrolld unknown command" "$E" frobnicate
	expect 2 "geostage-enrolld unknown option" "$E" --frobnicate
	expect 2 "geostage-enrolld --until bogus" "$E" --until bogus --state-dir "$T/x"
	expect 2 "geostage-enrolld extra argument" "$E" run extra
	expect 78 "geostage-enrolld with a missing --config" "$E" \
		--config "$T/missing.conf" --state-dir "$T/x"
	printf 'retry_attempts = lots\n' >"$T/bad.conf"
	expect 78 "geostage-enrolld with a bad config value" "$E" \
		--config "$T/bad.conf" --state-dir "$T/x" --token-file "$T/missing"
	printf 'frobnicate = 1\n' >"$T/bad.conf"
	expect 78 "geostage-enrolld with an unknown config key" "$E" \
		--config "$T/bad.conf" --state-dir "$T/x" --token-file "$T/missing"
	agent_conf "$T/agent.conf"
	expect 78 "geostage-enrolld with a missing token file" "$E" \
		--config "$T/agent.conf" --state-dir "$T/x" --token-file "$T/missing"
fi

# --- init ---------------------------------------------------------------------

pin_of() { sed -n 's/^tls pin: *//p' "$T/out"; }
sum() { sha256sum "$@" | cut -d' ' -f1 | tr '\n' ' '; }
declare -A first=()
expect 0 "init" "$B" init --state-dir "$S" --url https://127.0.0.1:1 --vpn-network 10.99.0.0/16
pin1=$(pin_of)
assert_match '^sha256//[A-Za-z0-9+/]{43}=$' "$pin1" "the pin init prints"
keys1=$(sum "$S/tls.key" "$S/token.key" "$S/ca.key" "$S/ca.crt")
for k in tls.key token.key ca.key; do first[$k]=$(sum "$S/$k"); done
expect 0 "site add tokyo" "$B" site add tokyo --state-dir "$S" --prefix 192.168.20.0/24
server_start_ok "$S"
old_token=$(token_create "$S" --uses 3)
new_csr "$T/n1"
st=$(enroll_curl "$S" "$old_token" "$T/n1/node.csr" n1)
assert_http 200 - "$st" "enrollment before init is run again"
server_stop

expect 0 "init again" "$B" init --state-dir "$S" --url "https://127.0.0.1:$SERVER_PORT"
assert_eq "$pin1" "$(pin_of)" "the pin after init without --force"
assert_eq "$keys1" "$(sum "$S/tls.key" "$S/token.key" "$S/ca.key" "$S/ca.crt")" \
	"the keys after init without --force"
server_start_ok "$S"
new_csr "$T/n2"
st=$(enroll_curl "$S" "$old_token" "$T/n2/node.csr" n2)
assert_http 200 - "$st" "an old token after init without --force"
server_stop

expect 0 "init --force" "$B" init --state-dir "$S" --url "https://127.0.0.1:$SERVER_PORT" --force
pin2=$(pin_of)
assert_ne "$pin1" "$pin2" "the pin after init --force"
for k in tls.key token.key ca.key; do
	assert_ne "${first[$k]}" "$(sum "$S/$k")" "$k after init --force"
done
assert_mode 700 "$S"
server_start_ok "$S"
new_csr "$T/n3"
st=$(enroll_curl "$S" "$old_token" "$T/n3/node.csr" n3)
assert_http 401 invalid_token "$st" "a token from before init --force"
server_stop

# --- site add -------------------------------------------------------------------

long63=$(printf 'a%.0s' $(seq 63))
long64=$(printf 'a%.0s' $(seq 64))
for n in ../x DEFAULT default localhost none all Tokyo -x x- a_b a.b \
	'a b' "$long64" '' x/y "$(printf 'a\tb')"; do
	expect 2 "site add '$n'" "$B" site add "$n" --state-dir "$S" --prefix 10.1.0.0/24
done
for p in 192.168.30.1/24 300.1.1.0/24 10.1.0.0/33 10.1.0.0 abc 10.1.0.0/-1 \
	10.1.0.0/ /24 '' 10.01.0.0/24 10.1.0.0/024 ' 10.1.0.0/24' 10.1.0.0/24x; do
	expect 2 "site add x --prefix '$p'" "$B" site add x --state-dir "$S" --prefix "$p"
done
expect 2 "site add without --prefix" "$B" site add x --state-dir "$S"
expect 2 "site add --mode bogus" "$B" site add x --state-dir "$S" --prefix 10.1.0.0/24 --mode bogus
expect 2 "site add --gateway outside the prefix" "$B" site add x --state-dir "$S" \
	--prefix 10.1.0.0/24 --gateway 10.2.0.1
for p in 10.99.5.0/24 10.0.0.0/8 0.0.0.0/0 192.168.20.128/25 192.168.0.0/16 192.168.20.0/24; do
	expect 1 "site add x --prefix $p (overlap)" "$B" site add x --state-dir "$S" --prefix "$p"
done
expect 1 "site add tokyo again" "$B" site add tokyo --state-dir "$S" --prefix 10.1.0.0/24
expect 0 "site add of a 63-character name" "$B" site add "$long63" --state-dir "$S" --prefix 10.1.0.0/24
expect 0 "site add osaka (routed, gateway)" "$B" site add osaka --state-dir "$S" \
	--prefix 192.168.21.0/24 --mode routed --gateway 192.168.21.1
expect 0 "site list --json" "$B" site list --json --state-dir "$S"
assert_eq "$long63 osaka tokyo" "$(jq -r '[.[].name] | sort | join(" ")' "$T/out")" "the sites"
jq -e '.[] | select(.name == "osaka") | .mode == "routed" and .gateway == "192.168.21.1"
	and .prefix == "192.168.21.0/24"' "$T/out" >/dev/null || fail "site list --json: osaka is $(cat "$T/out")"
extra=$(find "$S" -mindepth 1 -maxdepth 1 ! -name bootstrap.conf ! -name '*.key' \
	! -name '*.crt' ! -name 'geostage.db*' ! -name ccd ! -name revoked)
[ -z "$extra" ] || fail "unexpected files in the state dir: $extra"

# --- token create ---------------------------------------------------------------

before=$("$B" token list --json --state-dir "$S" | jq length)
bad_create() { # WHAT ARGS...
	local what=$1
	shift
	expect 2 "token create $what" "$B" token create --state-dir "$S" --site tokyo "$@"
	[ ! -s "$T/out" ] || fail "token create $what printed: $(cat "$T/out")"
}
bad_create "--uses 0" --uses 0
bad_create "--uses -1" --uses -1
bad_create "--uses 100001" --uses 100001
bad_create "--uses x" --uses x
bad_create "--ttl 1s" --ttl 1s
bad_create "--ttl 59s" --ttl 59s
bad_create "--ttl 367d" --ttl 367d
bad_create "--ttl 1w" --ttl 1w
bad_create "--ttl ''" --ttl ''
bad_create "--label geostage.io/x=y" --label geostage.io/x=y
bad_create "--label sub.geostage.io/x=y" --label sub.geostage.io/x=y
bad_create "--label x (no =)" --label x
bad_create "--label '=y'" --label =y
bad_create "--label 'a b=c'" --label 'a b=c'
bad_create "--label x=-y" --label x=-y
bad_create "--role admin" --role admin
bad_create "--output yaml" --output yaml
bad_create "with an extra argument" extra
expect 1 "token create --site nosuch" "$B" token create --state-dir "$S" --site nosuch
expect 1 "token create without --site (two sites)" "$B" token create --state-dir "$S"
assert_eq "$before" "$("$B" token list --json --state-dir "$S" | jq length)" \
	"tokens after the refused creates"

expect 0 "token create --output json" "$B" token create --state-dir "$S" --site osaka \
	--uses 7 --ttl 90m --label tier=edge --label example.org/rack=r1 --role gateway --output json
tok_json=$(cat "$T/out")
tok=$(jq -r .token <<<"$tok_json")
id=$(jq -r .id <<<"$tok_json")
assert_eq "$id" "$(token_id "$tok")" "token create --output json: id vs the token's jti"
jq -e '.site == "osaka" and .role == "gateway" and .uses == 7
	and .labels == {"tier": "edge", "example.org/rack": "r1"}' <<<"$tok_json" >/dev/null ||
	fail "token create --output json: $tok_json"
exp=$(jq -r .expires <<<"$tok_json")
d=$((exp - $(date +%s)))
if [ "$d" -lt 5300 ] || [ "$d" -gt 5400 ]; then
	fail "--ttl 90m: expires in $d s"
fi
jwt_payload "$tok" | jq -e --arg id "$id" '.jti == $id and .max == 7 and .site == "osaka"
	and .role == "gateway" and .labels.tier == "edge"' >/dev/null ||
	fail "the token's claims: $(jwt_payload "$tok")"

# --- lists and shows ------------------------------------------------------------

expect 0 "token list --json" "$B" token list --json --state-dir "$S"
jq -e 'type == "array" and length == '"$((before + 1))"' and
	all(.[]; (.id | type) == "string" and (.uses | type) == "number"
		and (.max_uses | type) == "number" and (.state | type) == "string")' \
	"$T/out" >/dev/null || fail "token list --json: $(head -c 400 "$T/out")"
jq -e --arg id "$id" '.[] | select(.id == $id) | .state == "active" and .max_uses == 7 and .uses == 0' \
	"$T/out" >/dev/null || fail "token list --json: the new token is missing or wrong"
expect 0 "token show --json" "$B" token show --json --state-dir "$S" "$id"
jq -e --arg id "$id" '.id == $id and .site == "osaka"' "$T/out" >/dev/null ||
	fail "token show --json: $(cat "$T/out")"
expect 0 "token show" "$B" token show --state-dir "$S" "$id"
grep -q "$id" "$T/out" || fail "token show does not name the token"
expect 1 "token show of an unknown id" "$B" token show --state-dir "$S" aaaaaaaaaaaaaaaaaaaaaaaaaa
expect 0 "token revoke" "$B" token revoke --state-dir "$S" "$id"
expect 0 "token revoke again" "$B" token revoke --state-dir "$S" "$id"
"$B" token show --json --state-dir "$S" "$id" | jq -e '.state == "revoked"' >/dev/null ||
	fail "the revoked token's state"
expect 1 "token revoke of an unknown id" "$B" token revoke --state-dir "$S" aaaaaaaaaaaaaaaaaaaaaaaaaa
expect 2 "token revoke of a malformed id" "$B" token revoke --state-dir "$S" "../x"
expect 2 "token revoke without an id" "$B" token revoke --state-dir "$S"

expect 0 "node list --json" "$B" node list --json --state-dir "$S"
jq -e 'type == "array" and length == 2 and all(.[]; (.name | type) == "string"
	and (.vpn_address | test("^10\\.99\\.")) and (.steps | type) == "array")' \
	"$T/out" >/dev/null || fail "node list --json: $(head -c 400 "$T/out")"
expect 0 "node show --json" "$B" node show --json --state-dir "$S" n1
jq -e '.name == "n1" and .site == "tokyo" and .hostname == "n1"' "$T/out" >/dev/null ||
	fail "node show --json n1: $(cat "$T/out")"
expect 0 "node list" "$B" node list --state-dir "$S"
assert_eq 3 "$(grep -c . "$T/out")" "lines of node list (header and two nodes)"
expect 1 "node show of an unknown node" "$B" node show --state-dir "$S" nosuch
expect 2 "node show ../x" "$B" node show --state-dir "$S" ../x
expect 2 "node revoke ../x" "$B" node revoke --state-dir "$S" ../x
expect 1 "node revoke of an unknown node" "$B" node revoke --state-dir "$S" nosuch
expect 0 "site list" "$B" site list --state-dir "$S"
expect 0 "token list" "$B" token list --state-dir "$S"

# --- a state dir that is not there --------------------------------------------

for c in "token list" "token create" "node list" "site list" "serve"; do
	# shellcheck disable=SC2086
	expect 78 "$c on a missing state dir" "$B" $c --state-dir "$T/missing"
done
expect 78 "token list with GEOSTAGE_STATE_DIR missing" env GEOSTAGE_STATE_DIR="$T/missing" "$B" token list
expect 0 "token list with GEOSTAGE_STATE_DIR" env GEOSTAGE_STATE_DIR="$S" "$B" token list --json
pass
