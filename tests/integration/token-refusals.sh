#!/usr/bin/env bash
# Every bad token is refused, by the server (status + JSON error code, seen
# with curl) and by the agent (exit code):
#   tampered payload / signature, another key, unknown id, truncated, empty,
#   oversized, NUL, non-ASCII  -> 401 invalid_token, one identical answer;
#   agent: 77 when the token looks well-formed (the server refuses it),
#          78 when it is malformed (the agent refuses to send it);
#   expired / revoked / exhausted -> 403 token_expired / _revoked /
#          _exhausted; agent 77;
# and N failed redemptions from one address make the next one 429 with
# Retry-After (a second server with a small rate_limit_failures).
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

S=$T/srv
server_init "$S"
server_conf "$S" rate_limit_failures 100000
server_start_ok "$S"
agent_conf "$T/agent.conf" retry_attempts=2 retry_max_ms=200

new_csr "$T/csr"
enroll_body "$T/csr/node.csr" refused.example.org >"$T/enroll.json"

# redeem WHAT TOKEN: POST /v1/enroll with TOKEN as the bearer; prints the
# status; body in $T/body.
redeem() {
	http "$S" POST /v1/enroll -H "Authorization: Bearer $2" \
		-H 'Content-Type: application/json' --data-binary @"$T/enroll.json"
}

# The one answer every invalid_token case must give, byte for byte, with
# the same headers (but Date).
ref_body=
ref_headers=
same_401() { # WHAT
	local h
	h=$(grep -vi '^date:' "$T/headers")
	if [ -z "$ref_body" ]; then
		ref_body=$(cat "$T/body")
		ref_headers=$h
		return 0
	fi
	[ "$(cat "$T/body")" = "$ref_body" ] ||
		fail "$1: the 401 body differs from the others: '$(cat "$T/body")' vs '$ref_body'"
	[ "$h" = "$ref_headers" ] ||
		fail "$1: the 401 headers differ from the others: '$h' vs '$ref_headers'"
}

# refused_401 WHAT TOKEN: curl sees 401 invalid_token, the same answer as
# every other case.
refused_401() {
	local st
	st=$(redeem "$1" "$2")
	assert_http 401 invalid_token "$st" "$1"
	same_401 "$1"
}

# agent_exit WHAT EXPECTED TOKEN-FILE-CONTENT(printf format, args...)
agent_exit() {
	local what=$1 want=$2 rc
	shift 2
	# shellcheck disable=SC2059
	(umask 077 && printf "$@" >"$T/tok-$what")
	rc=$(run_agent "$what" "$T/tok-$what")
	if [ "$rc" != "$want" ]; then
		cat "$T/agent-$what.log"
		fail "agent with the $what token: exit $rc, expected $want"
	fi
	[ ! -e "$T/agent-$what/node.crt" ] ||
		fail "agent with the $what token saved a node certificate"
}

good=$(token_create "$S" --uses 5)
hdr=$(jwt_header "$good")
payload=$(jwt_payload "$good")
jti=$(token_id "$good")
IFS=. read -r h64 p64 s64 <<<"$good"

# Control: openssl, given the server's own key, makes exactly the server's
# token (Ed25519 is deterministic), so a forged token below fails for its
# key or its content, never for its encoding.
assert_eq "$good" "$(jws_sign "$hdr" "$payload" "$S/token.key")" \
	"the token re-signed by openssl with token.key"

# --- 401 invalid_token --------------------------------------------------------

# The payload's jti with one character changed (JSON still valid).
c=${jti:0:1}
[ "$c" = a ] && c2=b || c2=a
flipped=$(printf '%s' "$payload" | sed "s/\"$jti\"/\"$c2${jti:1}\"/")
tok_payload="$h64.$(printf '%s' "$flipped" | b64url_encode).$s64"
refused_401 "payload byte flipped" "$tok_payload"
agent_exit payload 77 '%s\n' "$tok_payload"

# More uses asked for, old signature.
more=$(printf '%s' "$payload" | jq -c '.max = 1000')
tok_more="$h64.$(printf '%s' "$more" | b64url_encode).$s64"
refused_401 "payload max raised" "$tok_more"
agent_exit max-raised 77 '%s\n' "$tok_more"

# One base64url character of the encoded payload changed.
mid=$((${#p64} / 2))
ch=${p64:$mid:1}
[ "$ch" = A ] && ch2=B || ch2=A
refused_401 "encoded payload byte flipped" "$h64.${p64:0:$mid}$ch2${p64:$((mid + 1))}.$s64"

# One byte of the signature flipped.
hex=$(b64url_decode "$s64" | xxd -p -c 256)
assert_eq 128 "${#hex}" "hex digits of the 64-byte signature"
sigflip=$(printf '%s%02x%s' "${hex:0:20}" $((0x${hex:20:2} ^ 1)) "${hex:22}" |
	xxd -r -p | b64url_encode)
assert_ne "$s64" "$sigflip" "the flipped signature"
tok_sig="$h64.$p64.$sigflip"
refused_401 "signature byte flipped" "$tok_sig"
agent_exit signature 77 '%s\n' "$tok_sig"

# Another Ed25519 key: once with this server's kid, once with its own.
openssl genpkey -algorithm ed25519 -out "$T/other.key" 2>/dev/null ||
	fail "openssl cannot make an Ed25519 key"
tok_other=$(jws_sign "$hdr" "$payload" "$T/other.key")
refused_401 "other key, this server's kid" "$tok_other"
agent_exit other-key 77 '%s\n' "$tok_other"
other_kid=$(openssl pkey -in "$T/other.key" -pubout -outform DER |
	openssl dgst -sha256 -binary | head -c 12 | b64url_encode)
tok_other2=$(jws_sign "$(printf '%s' "$hdr" | jq -c --arg k "$other_kid" '.kid = $k')" \
	"$payload" "$T/other.key")
refused_401 "other key, its own kid" "$tok_other2"

# Genuine signature, unknown id: the token's row is gone.
gone=$(token_create "$S")
sql_write "$S" "DELETE FROM tokens WHERE id = '$(token_id "$gone")'"
refused_401 "unknown token id" "$gone"
agent_exit unknown-id 77 '%s\n' "$gone"

# Truncated: in the payload (malformed), in the signature (well-formed).
refused_401 "truncated in the payload" "${good:0:40}"
agent_exit truncated 78 '%s\n' "${good:0:40}"
refused_401 "truncated signature" "${good%????}"
agent_exit truncated-signature 77 '%s\n' "${good%????}"

# Empty, and no Authorization at all.
refused_401 "empty bearer" ""
st=$(http "$S" POST /v1/enroll -H 'Content-Type: application/json' \
	--data-binary @"$T/enroll.json")
assert_http 401 invalid_token "$st" "no Authorization header"
same_401 "no Authorization header"
agent_exit empty 78 ''

# Oversized: 6 KB fits the 8 KiB header limit, not the 4096-byte token
# limit; 10 KB overflows the header limit itself, which evhttp answers
# before the API sees it (docs/PROTOCOL.md: 431 or 400 from the HTTP
# layer; libevent 2.1 sends 400).
big6=$(head -c 6000 /dev/zero | tr '\0' A)
refused_401 "6 KB token" "$big6"
big10=$(head -c 10240 /dev/zero | tr '\0' A)
st=$(redeem "10 KB token" "$big10")
[ "$st" = 400 ] || [ "$st" = 431 ] ||
	fail "10 KB token: expected 400 or 431 (header overflow), got $st"
agent_exit 10k 78 '%s' "$big10"

# Non-ASCII.
refused_401 "non-ASCII token" "${good}é"
refused_401 "non-ASCII inside" "${good:0:30}é${good:30}"
agent_exit non-ascii 78 '%sé\n' "$good"

# NUL inside the token (curl cannot send it: a raw request).
raw_enroll() { # TOKEN-PRINTF-FORMAT ARGS...: the request in $T/raw.req
	local fmt=$1
	shift
	{
		# shellcheck disable=SC2059
		printf "POST /v1/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAuthorization: Bearer $fmt\r\n\r\n" \
			"$(wc -c <"$T/enroll.json")" "$@"
		cat "$T/enroll.json"
	} >"$T/raw.req"
}
raw_enroll '%s\0%s' "${good:0:30}" "${good:30}"
st=$(raw_request "$T/raw.req")
assert_http 401 invalid_token "$st" "token with a NUL inside"
[ "$(cat "$T/body")" = "$ref_body" ] ||
	fail "token with a NUL inside: body differs: $(cat "$T/body")"
agent_exit nul 78 '%s\0%s\n' "${good:0:30}" "${good:30}"

assert_eq 0 "$(sql "$S" 'SELECT count(*) FROM nodes')" "nodes after the invalid tokens"
assert_eq 0 "$(sql "$S" "SELECT uses FROM tokens WHERE id = '$jti'")" "uses of the good token after the invalid ones"

# --- 403: genuine tokens that are spent ---------------------------------------

# Expired: the database says so (time has passed).
exp_tok=$(token_create "$S")
sql_write "$S" "UPDATE tokens SET expires = 1 WHERE id = '$(token_id "$exp_tok")'"
st=$(redeem expired "$exp_tok")
assert_http 403 token_expired "$st" "expired token"
agent_exit expired 77 '%s\n' "$exp_tok"

# Expired: the signed claim says so (signed with the server's own key; the
# row is still valid). The agent sees exp itself and does not send it.
old=$(printf '%s' "$payload" | jq -c '.iat = 999990000 | .exp = 1000000000')
tok_old=$(jws_sign "$hdr" "$old" "$S/token.key")
st=$(redeem "expired claim" "$tok_old")
assert_http 403 token_expired "$st" "token whose exp claim is past"
agent_exit expired-claim 78 '%s\n' "$tok_old"

# Revoked.
rev_tok=$(token_create "$S" --uses 3)
"$BOOTSTRAP" token revoke --state-dir "$S" "$(token_id "$rev_tok")" >/dev/null ||
	fail "token revoke failed"
st=$(redeem revoked "$rev_tok")
assert_http 403 token_revoked "$st" "revoked token"
agent_exit revoked 77 '%s\n' "$rev_tok"

# Exhausted: a single-use token, used once by another key.
one=$(token_create "$S")
write_token "$T/tok-one" "$one"
rc=$(run_agent first "$T/tok-one")
[ "$rc" = 0 ] || { cat "$T/agent-first.log"; fail "first use of a 1-use token: exit $rc"; }
st=$(redeem exhausted "$one")
assert_http 403 token_exhausted "$st" "exhausted token"
agent_exit exhausted 77 '%s\n' "$one"
assert_eq 1 "$(sql "$S" "SELECT uses FROM tokens WHERE id = '$(token_id "$one")'")" \
	"uses of the exhausted token"

# The good token still works after all that, once per key.
st=$(redeem good "$good")
assert_http 200 - "$st" "the good token"
assert_eq 2 "$(sql "$S" 'SELECT count(*) FROM nodes')" "nodes in the end"
assert_eq 1 "$(sql "$S" "SELECT uses FROM tokens WHERE id = '$jti'")" "uses of the good token"
server_stop

# --- rate limit ---------------------------------------------------------------

R=$T/rl
server_init "$R"
server_conf "$R" rate_limit_failures 5
server_conf "$R" rate_limit_window 60
server_start_ok "$R"
rl_good=$(token_create "$R" --uses 5)
for i in 1 2 3 4 5; do
	st=$(http "$R" POST /v1/enroll -H "Authorization: Bearer $tok_other" \
		-H 'Content-Type: application/json' --data-binary @"$T/enroll.json")
	assert_http 401 invalid_token "$st" "bad redemption $i of 5 (limit 5)"
done
st=$(http "$R" POST /v1/enroll -H "Authorization: Bearer $tok_other" \
	-H 'Content-Type: application/json' --data-binary @"$T/enroll.json")
assert_http 429 rate_limited "$st" "bad redemption 6 (limit 5)"
ra=$(header Retry-After)
assert_match '^[0-9]+$' "$ra" "Retry-After"
if [ "$ra" -lt 1 ] || [ "$ra" -gt 60 ]; then
	fail "Retry-After $ra not within the 60 s window"
fi
# The address is limited, whatever it sends now.
st=$(http "$R" POST /v1/enroll -H "Authorization: Bearer $rl_good" \
	-H 'Content-Type: application/json' --data-binary @"$T/enroll.json")
assert_http 429 rate_limited "$st" "a good token from a limited address"
assert_eq 0 "$(sql "$R" 'SELECT count(*) FROM nodes')" "nodes enrolled while limited"
# The agent takes 429 as retryable: it gives up with 75, not 77.
agent_exit rate-limited 75 '%s\n' "$rl_good"
# Other endpoints are not limited.
st=$(http "$R" GET /healthz)
assert_eq 200 "$st" "GET /healthz from a limited address"
server_stop

# --- known gap: reported, not failed ------------------------------------------
# A NUL right after a genuine token: evhttp keeps header values as C
# strings, so the API sees "Bearer <token>" and enrolls. RFC 9110 §5.5 has
# a recipient reject such a field (or replace NUL with SP). The sender
# holds a genuine token anyway, so this is a parser nit, not a bypass; the
# server cannot see the NUL without a patched libevent. Printed as a note
# so that a fix shows up here.
S=$T/srv
server_start_ok "$S"
new_csr "$T/csr2"
enroll_body "$T/csr2/node.csr" nul.example.org >"$T/enroll.json"
raw_enroll '%s\0' "$good"
st=$(raw_request "$T/raw.req")
case $st in
4??) log "a NUL after a genuine token is refused ($st)" ;;
*) log "NOTE: a NUL after a genuine token is ignored by evhttp: HTTP $st" ;;
esac
pass
