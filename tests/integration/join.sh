#!/usr/bin/env bash
# POST /v1/join against the Kubernetes API stand-in (tests/standins): the
# server mints a bootstrap token only when an enrolled node asks, and the
# API server accepts it.
#   - without a kubeconfig: 503 unavailable;
#   - without a client certificate: 401; a revoked node: 403;
#   - the answer: api_endpoint, token [a-z0-9]{6}.[a-z0-9]{16}, expires
#     ~15 min from now, ca_cert_hashes = sha256 of the stand-in CA's SPKI,
#     kubernetes_version from the API (/version), node_name, node_ip (the
#     VPN address), labels with geostage.io/site;
#   - the stand-in holds a bootstrap-token Secret for that token and lets
#     the token register the Node (what kubeadm join does next);
#   - the token is in no log and in nothing the server stores;
#   - node revoke deletes the Node.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent
API_BIN=$top_builddir/tests/standins/kube-apiserver-standin
[ -x "$API_BIN" ] || skip "the API stand-in is not built ($API_BIN)"
cp "$API_BIN" "$T/api-standin"

# The Kubernetes API (a STAND-IN: tests/standins/README.md).
K=$T/kube
bg_start "$K.log" "$T/api-standin" --state-dir "$K" --listen 127.0.0.1:0 \
	--san 127.0.0.1 --port-file "$K.port" --version v1.31.2
KUBE_PID=$BG_PID
for ((i = 0; i < 300; i++)); do
	[ -s "$K.port" ] && break
	sleep 0.1
done
[ -s "$K.port" ] || { cat "$K.log"; fail "the API stand-in wrote no port file"; }
API_PORT=$(cat "$K.port")
kc() { # FIELD: a base64 field of the stand-in's kubeconfig, decoded
	awk -v f="$1:" '$1 == f { print $2; exit }' "$K/kubeconfig" | base64 -d
}
kc certificate-authority-data >"$T/kube-ca.crt"
kc client-certificate-data >"$T/kube-admin.crt"
kc client-key-data >"$T/kube-admin.key"
kube() { # METHOD PATH: status of a request to the stand-in as its admin
	curl -sS -o "$T/kbody" -w '%{http_code}' --max-time 10 \
		--cacert "$T/kube-ca.crt" --cert "$T/kube-admin.crt" \
		--key "$T/kube-admin.key" -X "$1" "https://127.0.0.1:$API_PORT$2"
}

S=$T/srv
server_init "$S"
server_start_ok "$S"
token=$(token_create "$S" --label tier=edge)
write_token "$T/token" "$token"
rc=$(run_agent node "$T/token")
[ "$rc" = 0 ] || { cat "$T/agent-node.log"; fail "enrollment: exit $rc"; }
A=$T/agent-node
name=$("$ENROLLD" status --json --state-dir "$A" | jq -r .node)
addr=$("$BOOTSTRAP" node show --json --state-dir "$S" "$name" | jq -r .vpn_address)
cert=(--cert "$A/node.crt" --key "$A/node.key")
json=(-H 'Content-Type: application/json' --data '{}')

st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 503 unavailable "$st" "join without a kubeconfig"
server_stop

server_conf "$S" kubeconfig "$K/kubeconfig"
server_conf "$S" kubernetes_backoff 3
server_start_ok "$S"
st=$(http "$S" POST /v1/join "${json[@]}")
assert_http 401 client_certificate_required "$st" "join without a client certificate"

before=$(date +%s)
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 200 - "$st" "join with the node's certificate"
cp "$T/body" "$T/join.json"
jt=$(jq -r .token "$T/join.json")
assert_match '^[a-z0-9]{6}\.[a-z0-9]{16}$' "$jt" "the bootstrap token's format"
assert_eq "127.0.0.1:$API_PORT" "$(jq -r .api_endpoint "$T/join.json")" "api_endpoint"
assert_eq v1.31.2 "$(jq -r .kubernetes_version "$T/join.json")" "kubernetes_version (from /version)"
assert_eq "$name" "$(jq -r .node_name "$T/join.json")" "node_name"
assert_eq "$addr" "$(jq -r .node_ip "$T/join.json")" "node_ip (the VPN address)"
assert_eq tokyo "$(jq -r '.labels["geostage.io/site"]' "$T/join.json")" "the site label"
assert_eq edge "$(jq -r .labels.tier "$T/join.json")" "the token's label"
exp=$(jq -r .expires "$T/join.json")
[ "$exp" -ge $((before + 14 * 60)) ] && [ "$exp" -le $(($(date +%s) + 15 * 60)) ] ||
	fail "the token expires at $exp, not ~15 min after $before"
want="sha256:$(openssl x509 -in "$T/kube-ca.crt" -noout -pubkey |
	openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
assert_eq "$want" "$(jq -r '.ca_cert_hashes[0]' "$T/join.json")" "caCertHashes (SPKI of the cluster CA)"

# The Secret kubeadm's discovery will look for.
id=${jt%%.*}
sf=$K/secrets/bootstrap-token-$id.json
[ -f "$sf" ] || fail "the stand-in holds no Secret bootstrap-token-$id"
assert_eq bootstrap.kubernetes.io/token "$(jq -r .type "$sf")" "the Secret's type"

# The token is good for what kubeadm does with it: register the Node.
st=$(curl -sS -o "$T/kbody" -w '%{http_code}' --max-time 10 --cacert "$T/kube-ca.crt" \
	-H "Authorization: Bearer $jt" -H 'Content-Type: application/json' \
	-d "{\"nodeName\":\"$name\",\"nodeIP\":\"$addr\",\"labels\":{}}" \
	"https://127.0.0.1:$API_PORT/standin/v1/join")
assert_eq 200 "$st" "the stand-in's join with the minted token"
assert_eq 200 "$(kube GET "/api/v1/nodes/$name")" "the Node after the join"

# A second join mints another token (each is single-purpose and short).
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 200 - "$st" "a second join"
assert_ne "$jt" "$(jq -r .token "$T/body")" "the second token"

# The API down: 503 with Retry-After; for kubernetes_backoff (3) seconds
# after that, joins get 503 at once, without a call to the API (it is
# back but not asked); then they succeed again.
stop_pid "$KUBE_PID" TERM
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 503 unavailable "$st" "join with the API down"
bg_start "$K.log" "$T/api-standin" --state-dir "$K" --listen "127.0.0.1:$API_PORT" \
	--san 127.0.0.1 --version v1.31.2
KUBE_PID=$BG_PID
for ((i = 0; i < 100; i++)); do
	[ "$(kube GET /version)" = 200 ] && break
	sleep 0.05
done
[ "$(kube GET /version)" = 200 ] || fail "the API stand-in did not come back"
minted() { grep -c 'POST /api/v1/namespaces/kube-system/secrets' "$K.log"; }
n0=$(minted)
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 503 unavailable "$st" "join within kubernetes_backoff of the failure"
assert_eq "$n0" "$(minted)" "Secret requests to the API within kubernetes_backoff"
grep -qi '^Retry-After: [1-3]\b' "$T/headers" || fail "no Retry-After of at most 3 s: $(grep -i retry-after "$T/headers")"
sleep 3.2
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 200 - "$st" "join after kubernetes_backoff"
assert_eq "$((n0 + 1))" "$(minted)" "Secret requests to the API after kubernetes_backoff"

# At most 10 bootstrap tokens per node and hour: 7 more pass, then 429
# with Retry-After and no token.
for i in 4 5 6 7 8 9 10; do
	st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
	assert_http 200 - "$st" "join number $i"
done
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 429 rate_limited "$st" "join number 11 within the hour"
grep -qi '^Retry-After: [1-9]' "$T/headers" || fail "429 without a Retry-After"
[ "$(jq -r '.token // empty' "$T/body")" = "" ] || fail "a token in the 429 answer"

# Never logged, never stored.
for f in "$S.log" "$S"/*; do
	[ -f "$f" ] || continue
	if grep -aqF "${jt#*.}" "$f"; then fail "the bootstrap token's secret is in $f"; fi
done

"$BOOTSTRAP" node revoke --state-dir "$S" "$name" >"$T/revoke.out" 2>&1 ||
	{ cat "$T/revoke.out"; fail "node revoke failed"; }
grep -q "deleted its Kubernetes Node" "$T/revoke.out" ||
	{ cat "$T/revoke.out"; fail "node revoke did not delete the Node"; }
assert_eq 404 "$(kube GET "/api/v1/nodes/$name")" "the Node after node revoke"
st=$(http "$S" POST /v1/join "${cert[@]}" "${json[@]}")
assert_http 403 node_revoked "$st" "join of a revoked node"

server_stop
pass
