#!/bin/sh
# Regenerates the seed inputs of the token fuzz target (corpus/token/) with
# the openssl CLI, independently of lib/: tokens signed with the key that
# fuzz-token.c verifies with, tokens that must be refused, malformed bytes,
# and bare claims objects. Ed25519 signatures are deterministic, so running
# this again gives the same files.
#
#   tests/fuzz/make-token-corpus.sh [OUTDIR]
#
# Keys: RFC 8032 §7.1 TEST 1 (the verifier's) and TEST 2 ("another
# server"): published test vectors, not secrets.
set -eu

out=${1:-$(dirname "$0")/corpus/token}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$out"

cat >"$tmp/key.pem" <<'EOF'
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
-----END PRIVATE KEY-----
EOF
cat >"$tmp/other.pem" <<'EOF'
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7
-----END PRIVATE KEY-----
EOF

b64url() {
	basenc --base64url -w0 | tr -d '='
}

kid() {
	openssl pkey -in "$1" -pubout -outform DER |
		openssl dgst -sha256 -binary | head -c 12 | b64url
}

# token NAME KEY HEADER PAYLOAD: writes HEADER.PAYLOAD.SIGNATURE to NAME
token() {
	h=$(printf '%s' "$3" | b64url)
	p=$(printf '%s' "$4" | b64url)
	printf '%s.%s' "$h" "$p" >"$tmp/input"
	s=$(openssl pkeyutl -sign -rawin -inkey "$2" -in "$tmp/input" | b64url)
	printf '%s.%s.%s' "$h" "$p" "$s" >"$out/$1"
}

KID=$(kid "$tmp/key.pem")
OTHER_KID=$(kid "$tmp/other.pem")
HDR="{\"alg\":\"EdDSA\",\"kid\":\"$KID\",\"typ\":\"geostage-enroll+jwt\"}"
PIN='sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
JTI=abcdefghijklmnopqrstuvwxyz
BASE="\"jti\":\"$JTI\",\"pin\":\"$PIN\",\"site\":\"tokyo\",\"iat\":1764025291,\"exp\":1764111691"
CLAIMS="{$BASE,\"iss\":[\"https://boot.example.org:8443\"],\"role\":\"node\",\"max\":1,\"labels\":{\"tier\":\"edge\"}}"

# Accepted by jws_verify and token_claims_from_json.
token valid-node "$tmp/key.pem" "$HDR" "$CLAIMS"
token valid-gateway-iss-string "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":\"https://10.0.0.1\",\"role\":\"gateway\",\"max\":100000,\"labels\":{}}"
token valid-four-iss-labels "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"https://a.example\",\"https://[2001:db8::1]:8443\",\"https://192.0.2.1:1\",\"https://b.example/\"],\"role\":\"node\",\"max\":7,\"labels\":{\"tier\":\"edge\",\"example.com/zone\":\"a.b_c-d\",\"empty\":\"\"}}"
token valid-no-labels "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"https://boot.example.org\"],\"role\":\"node\",\"max\":1}"

# Genuinely signed, refused for one reason each.
token other-key "$tmp/other.pem" \
	"{\"alg\":\"EdDSA\",\"kid\":\"$OTHER_KID\",\"typ\":\"geostage-enroll+jwt\"}" "$CLAIMS"
token other-key-our-kid "$tmp/other.pem" "$HDR" "$CLAIMS"
token alg-none "$tmp/key.pem" "{\"alg\":\"none\",\"kid\":\"$KID\"}" "$CLAIMS"
token alg-hs256 "$tmp/key.pem" "{\"alg\":\"HS256\",\"kid\":\"$KID\"}" "$CLAIMS"
token crit "$tmp/key.pem" "{\"alg\":\"EdDSA\",\"kid\":\"$KID\",\"crit\":[\"exp\"]}" "$CLAIMS"
token dup-header "$tmp/key.pem" "{\"alg\":\"none\",\"kid\":\"$KID\",\"alg\":\"EdDSA\"}" "$CLAIMS"
token claims-array "$tmp/key.pem" "$HDR" "[$CLAIMS]"
token claims-dup-key "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"https://a.example\"],\"role\":\"node\",\"max\":1,\"max\":100000}"
token claims-unknown "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"https://a.example\"],\"role\":\"node\",\"max\":1,\"nbf\":1}"
token claims-http-iss "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"http://a.example\"],\"role\":\"node\",\"max\":1}"
token claims-geostage-label "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"https://a.example\"],\"role\":\"node\",\"max\":1,\"labels\":{\"geostage.io/site\":\"osaka\"}}"
token claims-max-0 "$tmp/key.pem" "$HDR" \
	"{$BASE,\"iss\":[\"https://a.example\"],\"role\":\"node\",\"max\":0}"

# Malformed bytes.
valid=$(cat "$out/valid-node")
: >"$out/empty"
printf '%s' "$valid" | head -c $((${#valid} / 2)) >"$out/truncated"
printf '%s' "${valid%.*}" >"$out/two-parts"
printf '%s.AAAA' "$valid" >"$out/four-parts"
printf '%s\n' "$valid" >"$out/trailing-newline"
printf '%s' "$valid" | head -c 40 >"$tmp/a"
printf '%s' "$valid" | tail -c +41 >"$tmp/b"
{ cat "$tmp/a"; printf '\000'; cat "$tmp/b"; } >"$out/nul"
{ cat "$tmp/a"; printf '\303\251'; cat "$tmp/b"; } >"$out/non-ascii"
{ head -c 5000 /dev/zero | tr '\0' 'A'; printf '.'; head -c 5000 /dev/zero |
	tr '\0' 'B'; printf '.'; head -c 240 /dev/zero | tr '\0' 'C'; } >"$out/10k"
printf '%s..' "${valid%%.*}" >"$out/empty-parts"

# Bare claims objects (the target also parses its input as JSON claims).
printf '%s' "$CLAIMS" >"$out/claims-valid.json"
printf '{%s,"iss":"https://[::1]:8443","role":"gateway","max":100000,"labels":{"a":"b"}}' \
	"$BASE" >"$out/claims-gateway.json"
