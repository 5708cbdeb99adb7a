#!/usr/bin/env bash
# STAND-IN (geostage tests): checks the stand-ins themselves, so that the
# lab and system tests can trust them: the Kubernetes API server stand-in
# refuses what it must (each bad bootstrap-token Secret, each bad
# credential) with the real server's status and reason; its kubeconfig
# works with curl; the kubeadm stand-in refuses each bad JoinConfiguration
# and joins with a good one (v1beta4 at 1.31, v1beta3 at 1.30); reset and
# rejoin work; the .debs carry the real names, versions and files.
# Loopback only; nothing outside the temp dir is written.
#
# Exit: 0 pass, 1 fail, 77 skip. Run by hand:
#   top_builddir=$PWD top_srcdir=$PWD bash tests/standins/standins.sh
# SC2317: cleanup runs from the trap. SC2015: `A && B || fail` means
# "fail unless both hold", which is what every such line wants.
# shellcheck disable=SC2317,SC2015
set -u
set -o pipefail

: "${top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
unset KUBEADM_STANDIN_ROOT GEOSTAGE_LOG_LEVEL JOURNAL_STREAM 2>/dev/null || true
NAME=standins
PIDS=()
CHECKS=0

log() { printf '# %s\n' "$*"; }
skip() {
	printf 'SKIP: %s: %s\n' "$NAME" "$*" >&2
	exit 77
}
fail() {
	printf 'FAIL: %s: %s\n' "$NAME" "$*" >&2
	exit 1
}
ok() { CHECKS=$((CHECKS + 1)); }

cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -d "${T:-}" ]; then
		for i in "$T"/*.log; do
			[ -f "$i" ] && { echo "--- $i (last 30 lines)"; tail -n 30 "$i"; }
		done
	fi
	[ -n "${T:-}" ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for c in curl openssl jq timeout dpkg-deb dpkg pkg-config objdump base64; do
	command -v "$c" >/dev/null 2>&1 || skip "needs '$c' (not installed)"
done
S=$top_builddir/tests/standins
for b in kube-apiserver-standin kubeadm kubelet kubectl; do
	[ -x "$S/$b" ] || skip "$S/$b is not built (make check builds it)"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/geostage-standins.XXXXXX") || fail "no temp dir"
mkdir -p "$T/bin"
cp "$S"/kube-apiserver-standin "$S"/kubeadm "$S"/kubelet "$S"/kubectl "$T/bin/"
API_BIN=$T/bin/kube-apiserver-standin
KUBEADM=$T/bin/kubeadm
log "STAND-IN programs under test: kube-apiserver-standin, kubeadm, kubelet, kubectl"

sanitizer_check() {
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@"; then
		grep -E -A10 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$@" | head -n 30
		fail "sanitizer report in $*"
	fi
}

# --- the API server stand-in ------------------------------------------------

# api_start DIR VERSION: sets API_PID, API_PORT; admin creds in DIR.{ca,crt,key}.
api_start() {
	local dir=$1 i
	"$API_BIN" --state-dir "$dir" --listen 127.0.0.1:0 --san 127.0.0.1 \
		--port-file "$dir.port" --version "$2" >"$dir.log" 2>&1 &
	API_PID=$!
	PIDS+=("$API_PID")
	for ((i = 0; i < 300; i++)); do
		[ -s "$dir.port" ] && break
		kill -0 "$API_PID" 2>/dev/null || fail "the API stand-in exited: $(cat "$dir.log")"
		sleep 0.1
	done
	[ -s "$dir.port" ] || fail "no port file from the API stand-in in 30 s"
	API_PORT=$(cat "$dir.port")
	grep -q 'STAND-IN' "$dir.log" || fail "the API stand-in does not say it is a STAND-IN"
	kc_field "$dir/kubeconfig" certificate-authority-data >"$dir.ca"
	kc_field "$dir/kubeconfig" client-certificate-data >"$dir.crt"
	kc_field "$dir/kubeconfig" client-key-data >"$dir.key"
	chmod 600 "$dir.key"
}

# api_stop PID LOG: SIGTERM; must exit 0 without sanitizer reports.
api_stop() {
	local pid=$1 i rc=0 p keep=()
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" || rc=$?
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	[ "$rc" = 0 ] || fail "the API stand-in exited $rc on SIGTERM"
	sanitizer_check "$2"
	grep -q 0123456789 "$2" && fail "a token secret is in $2"
	ok
}

kc_field() {
	awk -v k="$2:" '$1 == k { print $2; exit }' "$1" | base64 -d ||
		fail "no $2 in $1"
}

# req WHO METHOD PATH [curl args]: WHO is admin, anon or a cert prefix
# P (P.crt, P.key). Prints the status; the body is in $T/body.
req() {
	local who=$1 method=$2 path=$3 auth=()
	shift 3
	case $who in
	anon) ;;
	admin) auth=(--cert "$A.crt" --key "$A.key") ;;
	*) auth=(--cert "$who.crt" --key "$who.key") ;;
	esac
	curl -sS -o "$T/body" -w '%{http_code}' --max-time 20 --noproxy '*' \
		--cacert "$A.ca" "${auth[@]}" -X "$method" "$@" \
		"https://127.0.0.1:$API_PORT$path" 2>"$T/curl.err" || true
}

# expect WANT_CODE WANT_REASON [TEXT] -- STATUS: checks the last answer.
expect() {
	local code=$1 reason=$2 text="" got r m
	[ "$3" = -- ] || {
		text=$3
		shift
	}
	got=$4
	r=$(jq -r '.reason // empty' "$T/body" 2>/dev/null)
	m=$(jq -r '.message // empty' "$T/body" 2>/dev/null)
	[ "$got" = "$code" ] || fail "$CASE: want HTTP $code, got $got: $(cat "$T/body")"
	[ -z "$reason" ] || [ "$r" = "$reason" ] || fail "$CASE: want reason $reason, got '$r'"
	[ -z "$text" ] || [[ $m == *"$text"* ]] || fail "$CASE: the message '$m' does not name '$text'"
	ok
}

EXP=$(date -u -d '+15 min' +%Y-%m-%dT%H:%M:%SZ)
# secret ID SECRET: a good bootstrap token Secret (stringData form).
secret() {
	jq -n --arg id "$1" --arg s "$2" --arg exp "$EXP" '{apiVersion: "v1",
	kind: "Secret", metadata: {name: ("bootstrap-token-" + $id),
	namespace: "kube-system"}, type: "bootstrap.kubernetes.io/token",
	stringData: {"token-id": $id, "token-secret": $s, expiration: $exp,
	"usage-bootstrap-authentication": "true",
	"usage-bootstrap-signing": "true",
	"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"}}'
}
SECRETS=/api/v1/namespaces/kube-system/secrets
post_secret() { req "${2:-admin}" POST "$SECRETS" -H 'Content-Type: application/json' --data-binary "$1"; }

# bad_secret JQ_FILTER CODE REASON FIELD: a variant of the good Secret.
bad_secret() {
	CASE="Secret with $1"
	expect "$2" "$3" "${4:-}" -- "$(post_secret "$(secret qqqqqq 0123456789qqqqqq | jq -c "$1")")"
}

A=$T/api
api_start "$A" v1.31.2
API131_PID=$API_PID
API131_PORT=$API_PORT
log "API stand-in v1.31.2 on 127.0.0.1:$API_PORT"

CASE="GET /version anonymously"
expect 200 "" -- "$(req anon GET /version)"
[ "$(jq -r '[.major, .minor, .gitVersion] | join(" ")' "$T/body")" = "1 31 v1.31.2" ] ||
	fail "/version: $(cat "$T/body")"
CASE="GET /version with the kubeconfig's credentials"
expect 200 "" -- "$(req admin GET /version)"
CASE="bad bearer on /version"
expect 401 Unauthorized -- "$(req anon GET /version -H 'Authorization: Bearer nope')"
CASE="POST /version"
expect 405 MethodNotAllowed -- "$(req admin POST /version)"
CASE="GET /standin/v1/ca anonymously"
expect 200 "" -- "$(req anon GET /standin/v1/ca)"
cmp -s "$T/body" "$A/ca.crt" || fail "/standin/v1/ca is not STATE/ca.crt"
cmp -s "$A.ca" "$A/ca.crt" || fail "the kubeconfig's CA is not STATE/ca.crt"
CASE="unknown path"
expect 404 NotFound -- "$(req admin GET /api/v1/pods)"

log "bootstrap token Secrets: each bad variant refused"
bad_secret '.type = "Opaque"' 422 Invalid type
bad_secret '.metadata.name = "bootstrap-token-zzzzzz"' 422 Invalid metadata.name
bad_secret '.metadata.name = "bootstrap-token-QQQQQQ" | .stringData["token-id"] = "QQQQQQ"' 422 Invalid 'data[token-id]'
bad_secret '.metadata.name = "bootstrap-token-qqqqq" | .stringData["token-id"] = "qqqqq"' 422 Invalid 'data[token-id]'
bad_secret '.stringData["token-secret"] = "0123456789qqqqq"' 422 Invalid 'data[token-secret]'
bad_secret '.stringData["token-secret"] = "0123456789QQQQQQ"' 422 Invalid 'data[token-secret]'
grep -q QQQQQQ "$T/body" && fail "a refused token secret is echoed back"
bad_secret '.stringData.expiration = "2001-01-01T00:00:00Z"' 422 Invalid 'data[expiration]'
bad_secret '.stringData.expiration = "tomorrow"' 422 Invalid 'data[expiration]'
bad_secret 'del(.stringData.expiration)' 422 Invalid 'data[expiration]'
bad_secret '.stringData["usage-bootstrap-authentication"] = "false"' 422 Invalid 'data[usage-bootstrap-authentication]'
bad_secret 'del(.stringData["usage-bootstrap-signing"])' 422 Invalid 'data[usage-bootstrap-signing]'
bad_secret '.stringData["auth-extra-groups"] = "system:masters"' 422 Invalid 'data[auth-extra-groups]'
bad_secret '.stringData["auth-extra-groups"] = "system:bootstrappers:other"' 422 Invalid 'data[auth-extra-groups]'
bad_secret '.stringData.foo = "bar"' 422 Invalid 'data[foo]'
bad_secret 'del(.metadata.name)' 422 Invalid metadata.name
bad_secret '.metadata.namespace = "default"' 400 BadRequest
bad_secret 'del(.kind)' 400 BadRequest
bad_secret '.data = {"token-id": "not base64!"}' 400 BadRequest
CASE="malformed JSON"
expect 400 BadRequest -- "$(post_secret '{"kind": "Secret",')"
CASE="text/plain body"
expect 415 UnsupportedMediaType -- "$(req admin POST "$SECRETS" -H 'Content-Type: text/plain' --data-binary "$(secret qqqqqq 0123456789qqqqqq)")"
CASE="Secret without a client certificate"
expect 401 Unauthorized -- "$(post_secret "$(secret qqqqqq 0123456789qqqqqq)" anon)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=kubernetes-admin/O=system:masters -keyout "$T/other.key" \
	-out "$T/other.crt" 2>/dev/null || fail "openssl cannot make a certificate"
CASE="Secret with a certificate from another CA"
expect 401 Unauthorized -- "$(post_secret "$(secret qqqqqq 0123456789qqqqqq)" "$T/other")"
[ -z "$(ls -A "$A/secrets")" ] || fail "a refused Secret was stored: $(ls "$A/secrets")"

log "bootstrap token Secrets: good ones accepted, duplicates refused"
CASE="good Secret (stringData)"
expect 201 "" -- "$(post_secret "$(secret abcdef 0123456789abcdef)")"
CASE="the same Secret again"
expect 409 AlreadyExists bootstrap-token-abcdef -- "$(post_secret "$(secret abcdef 0123456789abcdef)")"
CASE="good Secret (base64 data)"
expect 201 "" -- "$(post_secret "$(secret ghijkl 0123456789ghijkl | jq -c '.data = (.stringData | map_values(@base64)) | del(.stringData)')")"
f=$A/secrets/bootstrap-token-abcdef.json
[ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
[ "$(jq -r '.data["token-secret"] | @base64d' "$f")" = 0123456789abcdef ] ||
	fail "$f does not hold the token secret"
[ "$(jq -r .type "$f")" = bootstrap.kubernetes.io/token ] || fail "$f: wrong type"
ok

CASE="GET a Node that does not exist"
expect 404 NotFound '"nope" not found' -- "$(req admin GET /api/v1/nodes/nope)"
CASE="DELETE a Node that does not exist"
expect 404 NotFound -- "$(req admin DELETE /api/v1/nodes/nope)"
CASE="the stand-in's join without a token"
expect 401 Unauthorized -- "$(req anon POST /standin/v1/join -H 'Content-Type: application/json' -d '{"nodeName":"x","nodeIP":"127.0.0.1"}')"

# --- the kubeadm stand-in -----------------------------------------------------

HASH=sha256:$(openssl x509 -in "$A/ca.crt" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -r | cut -d' ' -f1)

# mkroot DIR: a host for kubeadm: ip_forward on, a containerd socket.
mkroot() {
	mkdir -p "$1/proc/sys/net/ipv4" "$1/run/containerd"
	echo 1 >"$1/proc/sys/net/ipv4/ip_forward"
	: >"$1/run/containerd/containerd.sock"
}

# joincfg FILE PORT TOKEN [JQ_FILTER]: a v1beta4 JoinConfiguration, 0600.
joincfg() {
	jq -n --arg ep "127.0.0.1:$2" --arg tok "$3" --arg h "$HASH" '{
	apiVersion: "kubeadm.k8s.io/v1beta4", kind: "JoinConfiguration",
	discovery: {bootstrapToken: {apiServerEndpoint: $ep, token: $tok,
	caCertHashes: [$h]}}, nodeRegistration: {name: "worker-1",
	criSocket: "unix:///run/containerd/containerd.sock",
	kubeletExtraArgs: [{name: "node-ip", value: "127.0.0.1"},
	{name: "node-labels", value: "geostage.io/site=tokyo,tier=edge"}]}}' |
		jq "${4:-.}" >"$1" || fail "jq: ${4:-}"
	chmod 600 "$1"
}

# kubeadm ROOT ARGS...: runs the stand-in; output in $T/ka.out, ka.err.
kubeadm() {
	local root=$1 rc=0
	shift
	KUBEADM_STANDIN_ROOT=$root timeout 60 "$KUBEADM" "$@" </dev/null \
		>"$T/ka.out" 2>"$T/ka.err" || rc=$?
	sanitizer_check "$T/ka.err"
	grep -q '^kubeadm STAND-IN (geostage tests): ' "$T/ka.err" ||
		fail "kubeadm $* did not say it is a STAND-IN"
	return "$rc"
}

# refused TEXT ARGS...: kubeadm must exit 1 saying TEXT, leaving no
# kubelet.conf and never printing the token's secret.
refused() {
	local text=$1 rc=0
	shift
	kubeadm "$R" "$@" || rc=$?
	[ "$rc" = 1 ] || fail "kubeadm $* [$CASE]: want exit 1, got $rc: $(cat "$T/ka.err")"
	grep -qF -- "$text" "$T/ka.err" ||
		fail "kubeadm [$CASE]: stderr does not say '$text': $(cat "$T/ka.err")"
	grep -Eq '0123456789(abcdef|zzzzzz|ABCDEF|expire)' "$T/ka.out" "$T/ka.err" &&
		fail "kubeadm [$CASE] printed a token secret"
	[ ! -e "$R/etc/kubernetes/kubelet.conf" ] || fail "kubeadm [$CASE] wrote kubelet.conf"
	ok
}

bad_join() {
	CASE=$1
	joincfg "$T/bad.json" "$API131_PORT" abcdef.0123456789abcdef "$2"
	refused "$3" join --config "$T/bad.json"
}

R=$T/root1
mkroot "$R"
kubeadm "$R" version -o short || fail "kubeadm version failed"
[ "$(cat "$T/ka.out")" = v1.31.2 ] || fail "kubeadm version -o short: $(cat "$T/ka.out")"
ok

log "kubeadm: each bad JoinConfiguration refused"
bad_join "v1beta3 at 1.31" '.apiVersion = "kubeadm.k8s.io/v1beta3"' apiVersion
bad_join "a map of kubelet args in v1beta4" '.nodeRegistration.kubeletExtraArgs = {"node-ip": "127.0.0.1"}' kubeletExtraArgs
bad_join "bad token" '.discovery.bootstrapToken.token = "abcdef.0123456789ABCDEF"' bootstrapToken.token
bad_join "short token" '.discovery.bootstrapToken.token = "abcdef0123456789abcdef"' bootstrapToken.token
bad_join "uppercase hash" '.discovery.bootstrapToken.caCertHashes = [.discovery.bootstrapToken.caCertHashes[0] | ascii_upcase]' caCertHashes
bad_join "short hash" '.discovery.bootstrapToken.caCertHashes = ["sha256:abcd"]' caCertHashes
bad_join "no hash" '.discovery.bootstrapToken.caCertHashes = []' caCertHashes
bad_join "skipping CA verification" '.discovery.bootstrapToken.unsafeSkipCAVerification = true' unsafeSkipCAVerification
bad_join "node-ip not on this host" '.nodeRegistration.kubeletExtraArgs[0].value = "192.0.2.1"' node-ip
bad_join "no node-ip" 'del(.nodeRegistration.kubeletExtraArgs[0])' node-ip
bad_join "a label the kubelet may not set" '.nodeRegistration.kubeletExtraArgs[1].value = "node-role.kubernetes.io/worker="' node-labels
bad_join "unknown kubelet flag" '.nodeRegistration.kubeletExtraArgs += [{name: "--node-ip", value: "x"}]' 'unknown kubelet flag'
bad_join "unknown top-level field" '.foo = 1' 'unknown field "foo"'
bad_join "unknown nested field" '.discovery.bootstrapToken.tokn = "x"' 'unknown field "discovery.bootstrapToken.tokn"'
bad_join "wrong kind" '.kind = "InitConfiguration"' kind
bad_join "bad node name" '.nodeRegistration.name = "Worker_1"' nodeRegistration.name
bad_join "endpoint without port" '.discovery.bootstrapToken.apiServerEndpoint = "127.0.0.1"' apiServerEndpoint
bad_join "a control-plane join" '.controlPlane = {}' controlPlane
CASE="YAML, not JSON"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n' >"$T/bad.json"
refused JSON join --config "$T/bad.json"
CASE="world-readable config"
joincfg "$T/bad.json" "$API131_PORT" abcdef.0123456789abcdef
chmod 644 "$T/bad.json"
refused 0644 join --config "$T/bad.json"
CASE="token on argv"
joincfg "$T/good.json" "$API131_PORT" abcdef.0123456789abcdef
refused "never put a token on argv" join --config "$T/good.json" --token abcdef.0123456789abcdef
refused "never put a token on argv" join --config "$T/good.json" --discovery-token=abcdef.0123456789abcdef
CASE="flags mixed with --config"
refused "can not mix" join --config "$T/good.json" --node-name=x
CASE="no --config"
refused "needs --config" join

log "kubeadm: discovery refuses the wrong cluster or token"
bad_join "a pin of another CA" ".discovery.bootstrapToken.caCertHashes = [\"sha256:$(printf '%064d' 0)\"]" "none of the public keys"
joincfg "$T/bad.json" "$API131_PORT" zzzzzz.0123456789abcdef
CASE="unknown token id"
refused 'could not find a JWS signature in the cluster-info ConfigMap for token ID "zzzzzz"' join --config "$T/bad.json"
joincfg "$T/bad.json" "$API131_PORT" abcdef.0123456789zzzzzz
CASE="wrong token secret"
refused "failed to verify JWS signature" join --config "$T/bad.json"
CASE="missing container runtime"
rm "$R/run/containerd/containerd.sock"
refused "[ERROR CRI]" join --config "$T/good.json"
: >"$R/run/containerd/containerd.sock"
CASE="ip_forward off"
echo 0 >"$R/proc/sys/net/ipv4/ip_forward"
refused "[ERROR FileContent--proc-sys-net-ipv4-ip_forward]" join --config "$T/good.json"
echo 1 >"$R/proc/sys/net/ipv4/ip_forward"

log "kubeadm: a good JoinConfiguration joins"
kubeadm "$R" join --config "$T/good.json" || fail "join failed: $(cat "$T/ka.err")"
grep -q "This node has joined the cluster" "$T/ka.out" || fail "join: $(cat "$T/ka.out")"
KC=$R/etc/kubernetes/kubelet.conf
[ "$(stat -c %a "$KC")" = 600 ] || fail "kubelet.conf is not 0600"
cmp -s "$R/etc/kubernetes/pki/ca.crt" "$A/ca.crt" || fail "pki/ca.crt is not the cluster CA"
grep -q -- '--node-ip=127.0.0.1 --node-labels=geostage.io/site=tokyo,tier=edge' \
	"$R/var/lib/kubelet/kubeadm-flags.env" || fail "kubeadm-flags.env: $(cat "$R/var/lib/kubelet/kubeadm-flags.env")"
[ "$(awk '$1 == "server:" { print $2 }' "$KC")" = "https://127.0.0.1:$API131_PORT" ] || fail "kubelet.conf server"
kc_field "$KC" client-certificate-data >"$T/kubelet.crt"
kc_field "$KC" client-key-data >"$T/kubelet.key"
openssl verify -CAfile "$A/ca.crt" -purpose sslclient "$T/kubelet.crt" >/dev/null ||
	fail "the kubelet certificate does not verify against the cluster CA"
subject=$(openssl x509 -in "$T/kubelet.crt" -noout -subject)
[[ $subject =~ O\ ?=\ ?system:nodes,\ CN\ ?=\ ?system:node:worker-1 ]] ||
	fail "kubelet certificate subject: $subject"
ok
CASE="the Node as the admin sees it"
expect 200 "" -- "$(req admin GET /api/v1/nodes/worker-1)"
[ "$(jq -r '.metadata.labels["geostage.io/site"] + " " + (.status.addresses[] | select(.type == "InternalIP").address)' "$T/body")" = "tokyo 127.0.0.1" ] ||
	fail "Node worker-1: $(cat "$T/body")"
CASE="the Node as its kubelet sees it"
expect 200 "" -- "$(req "$T/kubelet" GET /api/v1/nodes/worker-1)"
CASE="another Node as a kubelet"
expect 403 Forbidden -- "$(req "$T/kubelet" GET /api/v1/nodes/worker-2)"
CASE="a Secret from a kubelet"
expect 403 Forbidden -- "$(post_secret "$(secret qqqqqq 0123456789qqqqqq)" "$T/kubelet")"
CASE="list of Nodes"
expect 200 "" -- "$(req admin GET /standin/v1/nodes)"
[ "$(jq -r '[.items[].metadata.name] | join(" ")' "$T/body")" = worker-1 ] || fail "nodes: $(cat "$T/body")"

log "kubeadm: join again, reset, rejoin"
CASE="join over a joined node"
rc=0
kubeadm "$R" join --config "$T/good.json" || rc=$?
[ "$rc" = 1 ] && grep -q "kubelet.conf already exists" "$T/ka.err" &&
	grep -q "kubeadm reset" "$T/ka.err" || fail "second join: rc $rc: $(cat "$T/ka.err")"
ok
CASE="reset without -f and no answer"
rc=0
kubeadm "$R" reset || rc=$?
[ "$rc" = 1 ] && [ -e "$KC" ] || fail "reset without confirmation: rc $rc"
kubeadm "$R" reset -f || fail "reset -f failed: $(cat "$T/ka.err")"
for f in etc/kubernetes/kubelet.conf etc/kubernetes/pki/ca.crt var/lib/kubelet/kubeadm-flags.env; do
	[ ! -e "$R/$f" ] || fail "reset left $f"
done
echo 0 >"$R/proc/sys/net/ipv4/ip_forward"
kubeadm "$R" join --config "$T/good.json" \
	--ignore-preflight-errors=cri,FileContent--proc-sys-net-ipv4-ip_forward ||
	fail "join after reset failed: $(cat "$T/ka.err")"
[ -s "$KC" ] || fail "no kubelet.conf after the rejoin"
grep -q 'WARNING FileContent--proc-sys-net-ipv4-ip_forward' "$T/ka.out" ||
	fail "an ignored preflight error is not a warning: $(cat "$T/ka.out")"
ok
CASE="DELETE the Node"
expect 200 "" -- "$(req admin DELETE /api/v1/nodes/worker-1)"
CASE="GET the deleted Node"
expect 404 NotFound -- "$(req admin GET /api/v1/nodes/worker-1)"

log "kubelet and kubectl stand-ins"
KUBEADM_STANDIN_ROOT=$R "$T/bin/kubelet" --version >"$T/v.out" 2>"$T/v.err" &&
	[ "$(cat "$T/v.out")" = "Kubernetes v1.31.2" ] && grep -q STAND-IN "$T/v.err" ||
	fail "kubelet --version: $(cat "$T/v.out" "$T/v.err")"
"$T/bin/kubectl" version --client >"$T/v.out" 2>"$T/v.err" &&
	grep -qx "Client Version: v1.31.2" "$T/v.out" && grep -q STAND-IN "$T/v.err" ||
	fail "kubectl version --client: $(cat "$T/v.out" "$T/v.err")"
rc=0
KUBEADM_STANDIN_ROOT=$T/empty timeout 10 "$T/bin/kubelet" >"$T/kubelet.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "kubelet without kubeadm join: want exit 1, got $rc"
KUBEADM_STANDIN_ROOT=$R "$T/bin/kubelet" >"$T/kubelet.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for ((i = 0; i < 100; i++)); do
	grep -q started "$T/kubelet.log" && break
	kill -0 "$KPID" 2>/dev/null || fail "kubelet exited: $(cat "$T/kubelet.log")"
	sleep 0.1
done
kill -TERM "$KPID"
rc=0
wait "$KPID" || rc=$?
[ "$rc" = 0 ] || fail "kubelet exited $rc on SIGTERM"
ok

log "expired tokens neither discover nor join"
EXP=$(date -u -d '+2 sec' +%Y-%m-%dT%H:%M:%SZ)
CASE="short-lived Secret"
expect 201 "" -- "$(post_secret "$(secret expire 0123456789expire)")"
for ((i = 0; i < 50; i++)); do
	[ "$(date -u +%s)" -gt "$(date -u -d "$EXP" +%s)" ] && break
	sleep 0.1
done
R=$T/root-expired
mkroot "$R"
joincfg "$T/exp.json" "$API131_PORT" expire.0123456789expire
CASE="expired token"
refused "could not find a JWS signature" join --config "$T/exp.json"
CASE="the stand-in's join with an expired token"
expect 401 Unauthorized -- "$(req anon POST /standin/v1/join -H 'Authorization: Bearer expire.0123456789expire' -H 'Content-Type: application/json' -d '{"nodeName":"x","nodeIP":"127.0.0.1"}')"

log "kubeadm 1.30: v1beta3 only, and no newer than the control plane"
EXP=$(date -u -d '+15 min' +%Y-%m-%dT%H:%M:%SZ)
A131=$A
A=$T/api130
api_start "$A" v1.30.6
API130_PORT=$API_PORT
CASE="Secret on the 1.30 API"
expect 201 "" -- "$(post_secret "$(secret abcdef 0123456789abcdef)")"
HASH=sha256:$(openssl x509 -in "$A/ca.crt" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -r | cut -d' ' -f1)
R=$T/root130
mkroot "$R"
mkdir -p "$R/usr/share/geostage-standin/kubeadm"
echo 1.30.6 >"$R/usr/share/geostage-standin/kubeadm/version"
kubeadm "$R" version -o short && [ "$(cat "$T/ka.out")" = v1.30.6 ] ||
	fail "kubeadm 1.30 version: $(cat "$T/ka.out")"
V3='.apiVersion = "kubeadm.k8s.io/v1beta3" | .nodeRegistration.kubeletExtraArgs = (.nodeRegistration.kubeletExtraArgs | map({(.name): .value}) | add)'
CASE="v1beta4 at 1.30"
joincfg "$T/bad.json" "$API130_PORT" abcdef.0123456789abcdef
refused apiVersion join --config "$T/bad.json"
CASE="v1beta3 with a list of kubelet args"
joincfg "$T/bad.json" "$API130_PORT" abcdef.0123456789abcdef '.apiVersion = "kubeadm.k8s.io/v1beta3"'
refused kubeletExtraArgs join --config "$T/bad.json"
joincfg "$T/v3.json" "$API130_PORT" abcdef.0123456789abcdef "$V3 | del(.nodeRegistration.kubeletExtraArgs[\"node-labels\"])"
kubeadm "$R" join --config "$T/v3.json" || fail "v1beta3 join at 1.30 failed: $(cat "$T/ka.err")"
CASE="the 1.30 Node"
expect 200 "" -- "$(req admin GET /api/v1/nodes/worker-1)"
[ "$(jq -r .status.nodeInfo.kubeletVersion "$T/body")" = v1.30.6 ] || fail "kubeletVersion: $(cat "$T/body")"
R=$T/root131b
mkroot "$R"
CASE="kubeadm 1.31 against a 1.30 control plane"
joincfg "$T/skew.json" "$API130_PORT" abcdef.0123456789abcdef
refused "[ERROR KubeletVersion]" join --config "$T/skew.json"

api_stop "$API_PID" "$A.log"
api_stop "$API131_PID" "$A131.log"

log "the .debs"
for v in 1.31.2 1.30.6; do
	bash "$top_srcdir/tests/standins/make-debs.sh" "$T/debs" "$v" >"$T/debs.log" 2>&1 ||
		fail "make-debs.sh $v: $(cat "$T/debs.log")"
done
arch=$(dpkg --print-architecture)
for v in 1.31.2 1.30.6; do
	for p in kubeadm kubelet kubectl; do
		deb=$T/debs/${p}_$v-1.1_$arch.deb
		[ -f "$deb" ] || fail "no $deb"
		[ "$(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')" = "Package: $p Version: $v-1.1 Architecture: $arch " ] ||
			fail "$deb: $(dpkg-deb -f "$deb" Package Version Architecture)"
		[[ $(dpkg-deb -f "$deb" Description) == *STAND-IN* ]] || fail "$deb: Description"
		dpkg-deb -c "$deb" >"$T/contents" || fail "dpkg-deb -c $deb"
		grep -q " \./usr/bin/$p\$" "$T/contents" || fail "$deb: no /usr/bin/$p"
		grep -q " \./usr/share/geostage-standin/$p/version\$" "$T/contents" || fail "$deb: no version file"
		rm -rf "$T/x" && dpkg-deb -x "$deb" "$T/x" || fail "cannot extract $deb"
		objdump -p "$T/x/usr/bin/$p" >"$T/needed" || fail "objdump $p"
		grep -q 'NEEDED.*libasan' "$T/needed" && fail "$deb: ASan build"
		[ "$(cat "$T/x/usr/share/geostage-standin/$p/version")" = "$v" ] || fail "$deb: version file"
		ok
	done
	[[ $(dpkg-deb -f "$T/debs/kubeadm_$v-1.1_$arch.deb" Depends) == *libssl3* ]] || fail "kubeadm Depends"
	dpkg-deb -c "$T/debs/kubelet_$v-1.1_$arch.deb" >"$T/contents"
	grep -q ' \./usr/lib/systemd/system/kubelet.service$' "$T/contents" || fail "no kubelet.service"
	dpkg-deb -c "$T/debs/kubeadm_$v-1.1_$arch.deb" >"$T/contents"
	grep -q '10-kubeadm.conf$' "$T/contents" || fail "no 10-kubeadm.conf"
	rm -rf "$T/x" && dpkg-deb -x "$T/debs/kubeadm_$v-1.1_$arch.deb" "$T/x"
	[ "$(KUBEADM_STANDIN_ROOT=$T/x "$T/x/usr/bin/kubeadm" version -o short 2>/dev/null)" = "v$v" ] ||
		fail "the packaged kubeadm $v does not say v$v"
done
dpkg --compare-versions 1.31.2-1.1 gt 1.30.6-1.1 || fail "Debian version order"

printf 'PASS: %s (%d checks, STAND-INs for kube-apiserver, kubeadm, kubelet, kubectl)\n' "$NAME" "$CHECKS"
exit 0
