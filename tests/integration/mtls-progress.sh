#!/usr/bin/env bash
# POST /v1/progress is for enrolled nodes only, by their certificate:
#   - no client certificate: 401 client_certificate_required;
#   - the node's certificate (from the agent): 200 {"ok": true}, and
#     `node list --json` shows the step reported; the agent's own reports
#     (preflight, enroll) are there too;
#   - a self-signed certificate, or one from another CA that copies the
#     node's serial and name: 401 client_certificate_required;
#   - malformed reports: 400 bad_request;
#   - after `node revoke NAME`: 403 node_revoked; ccd/NAME is gone;
#     revoked/<decimal serial> exists; the agent cannot enroll again with
#     its key (77).
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

S=$T/srv
server_init "$S"
server_start_ok "$S"
token=$(token_create "$S" --uses 2)
write_token "$T/token" "$token"
rc=$(run_agent node "$T/token")
[ "$rc" = 0 ] || { cat "$T/agent-node.log"; fail "enrollment: exit $rc"; }
A=$T/agent-node
name=$("$ENROLLD" status --json --state-dir "$A" | jq -r .node)
if [ -z "$name" ] || [ "$name" = null ]; then
	fail "the agent's status names no node"
fi
cert=(--cert "$A/node.crt" --key "$A/node.key")
json=(-H 'Content-Type: application/json')

node_json() { "$BOOTSTRAP" node show --json --state-dir "$S" "$name"; }

# What the agent reported itself.
node_json >"$T/node.json" || fail "node show $name failed"
for step in preflight enroll; do
	assert_eq "done" "$(jq -r --arg s "$step" '.steps[] | select(.step == $s) | .state' "$T/node.json")" \
		"state of step $step as the agent reported it"
done
assert_eq enroll "$(jq -r .step "$T/node.json")" "the node's current step"

now=$(date +%s)
report() { # STEP STATE MESSAGE
	jq -nc --arg s "$1" --arg st "$2" --arg m "$3" --argjson t "$now" \
		'{step: $s, state: $st, started: $t, duration_ms: 1234, message: $m}'
}
report packages running "installing kubeadm 1.31.2" >"$T/report.json"

st=$(http "$S" POST /v1/progress "${json[@]}" --data-binary @"$T/report.json")
assert_http 401 client_certificate_required "$st" "progress without a client certificate"

st=$(http "$S" POST /v1/progress "${cert[@]}" "${json[@]}" --data-binary @"$T/report.json")
assert_http 200 - "$st" "progress with the node's certificate"
assert_eq true "$(jq -r .ok "$T/body")" "progress answer's ok"
node_json >"$T/node.json"
assert_eq packages "$(jq -r .step "$T/node.json")" "the node's step after the report"
assert_eq running "$(jq -r .step_state "$T/node.json")" "the node's step state"
assert_eq "installing kubeadm 1.31.2" \
	"$(jq -r '.steps[] | select(.step == "packages") | .message' "$T/node.json")" "the step's message"
assert_eq 1234 "$(jq -r '.steps[] | select(.step == "packages") | .duration_ms' "$T/node.json")" \
	"the step's duration"
"$BOOTSTRAP" node list --json --state-dir "$S" >"$T/list.json" || fail "node list --json failed"
assert_eq packages "$(jq -r --arg n "$name" '.[] | select(.name == $n) | .step' "$T/list.json")" \
	"node list --json: the node's step"

# Malformed reports from a genuine node.
for b in '{}' '{"step":"bogus","state":"running","started":1,"duration_ms":0}' \
	'{"step":"host","state":"sleeping","started":1,"duration_ms":0}' \
	'{"step":"host","state":"done","started":-1,"duration_ms":0}' \
	'{"step":"host","state":"done","started":1,"duration_ms":-5}' \
	'{"step":"host","state":"done","started":1,"duration_ms":0,"message":"a\nb"}' \
	'[]'; do
	st=$(http "$S" POST /v1/progress "${cert[@]}" "${json[@]}" --data-binary "$b")
	assert_http 400 bad_request "$st" "progress report $b"
done
report host "done" "$(head -c 600 /dev/zero | tr '\0' m)" >"$T/long.json"
st=$(http "$S" POST /v1/progress "${cert[@]}" "${json[@]}" --data-binary @"$T/long.json")
assert_http 400 bad_request "$st" "progress with a 600-byte message (max 512)"

# Not from the node CA: self-signed, with the node's own name and key.
openssl req -x509 -new -key "$A/node.key" -subj "/CN=$name" -days 1 \
	-out "$T/self.crt" 2>/dev/null || fail "cannot make a self-signed certificate"
st=$(http "$S" POST /v1/progress --cert "$T/self.crt" --key "$A/node.key" \
	"${json[@]}" --data-binary @"$T/report.json")
assert_http 401 client_certificate_required "$st" "progress with a self-signed certificate"

# Another CA that copies the node's serial and name, clientAuth and all.
serial=$(openssl x509 -in "$A/node.crt" -noout -serial | cut -d= -f2)
openssl ecparam -name prime256v1 -genkey -noout -out "$T/evil-ca.key" 2>/dev/null
openssl req -x509 -new -key "$T/evil-ca.key" -subj "/CN=geostage node CA" -days 1 \
	-addext basicConstraints=critical,CA:TRUE -out "$T/evil-ca.crt" 2>/dev/null
openssl req -new -key "$A/node.key" -subj "/CN=$name" -out "$T/evil.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$T/ext"
openssl x509 -req -in "$T/evil.csr" -CA "$T/evil-ca.crt" -CAkey "$T/evil-ca.key" \
	-set_serial "0x$serial" -days 1 -extfile "$T/ext" -out "$T/evil.crt" 2>/dev/null ||
	fail "cannot make the look-alike certificate"
assert_eq "$serial" "$(openssl x509 -in "$T/evil.crt" -noout -serial | cut -d= -f2)" \
	"the look-alike's serial"
st=$(http "$S" POST /v1/progress --cert "$T/evil.crt" --key "$A/node.key" \
	"${json[@]}" --data-binary @"$T/report.json")
assert_http 401 client_certificate_required "$st" "progress with a look-alike from another CA"
assert_eq packages "$(node_json | jq -r .step)" "the node's step after the refused reports"

# Revocation.
[ -f "$S/ccd/$name" ] || fail "no ccd/$name before the revocation"
"$BOOTSTRAP" node revoke --state-dir "$S" "$name" >"$T/revoke.out" ||
	fail "node revoke $name failed"
st=$(http "$S" POST /v1/progress "${cert[@]}" "${json[@]}" --data-binary @"$T/report.json")
assert_http 403 node_revoked "$st" "progress from a revoked node"
[ ! -e "$S/ccd/$name" ] || fail "ccd/$name is still there after the revocation"
dec=$(echo "ibase=16; $serial" | BC_LINE_LENGTH=0 bc)
[ -f "$S/revoked/$dec" ] || fail "no revoked/$dec (the node's serial in decimal) after the revocation: $(ls "$S/revoked")"
assert_eq 1 "$(find "$S/revoked" -type f | wc -l)" "files in revoked/"
[ "$(node_json | jq -r .revoked)" != 0 ] || fail "node show: the node is not marked revoked"
# Revoking again is fine and changes nothing.
"$BOOTSTRAP" node revoke --state-dir "$S" "$name" >/dev/null ||
	fail "a second node revoke $name failed"

# The revoked node's key gets nothing, even with a token that has uses left.
rm -f "$A/state.json" "$A/enroll.json" "$A/node.crt"
rc=$(run_agent node "$T/token")
assert_eq 77 "$rc" "the agent re-enrolling with a revoked key (exit)"
grep -q node_revoked "$T/agent-node.log" || fail "the agent was not refused as node_revoked"
assert_eq 1 "$(sql "$S" "SELECT uses FROM tokens WHERE id = '$(token_id "$token")'")" \
	"the token's uses after the refused re-enrollment"
pass
