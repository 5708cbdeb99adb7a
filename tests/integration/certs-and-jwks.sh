#!/usr/bin/env bash
# What the server signs, checked with the OpenSSL CLI as an independent
# implementation:
#   - node certificates (from the agent and from a plain openssl CSR)
#     verify against STATE/ca.crt; subject = CN=<node name> only; EKU
#     clientAuth only; CA:FALSE (critical); no SAN or other extension from
#     the CSR; the key is the node's; the serial is the database's;
#   - CSRs that ask for more (CA:TRUE, a SAN) or use another key type are
#     refused with 422 csr_rejected;
#   - the token's EdDSA signature verifies with `openssl pkeyutl -verify`
#     against the JWKS key (SPKI = 302a300506032b6570032100 || x); one
#     byte changed in the signed input or the signature fails;
#   - the token's pin is the SHA-256 of the TLS key's SPKI.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

S=$T/srv
server_init "$S"
server_start_ok "$S"
token=$(token_create "$S" --uses 3)
write_token "$T/token" "$token"

# --- node certificates ------------------------------------------------------

rc=$(run_agent one "$T/token")
[ "$rc" = 0 ] || { cat "$T/agent-one.log"; fail "agent enrollment: exit $rc"; }
agent_name=$("$ENROLLD" status --json --state-dir "$T/agent-one" | jq -r .node)

new_csr "$T/n2"
st=$(enroll_curl "$S" "$token" "$T/n2/node.csr" Worker-2.Example.ORG)
assert_http 200 - "$st" "enrollment with an openssl CSR"
jq -r .certificate "$T/body" >"$T/n2/node.crt"
curl_name=$(jq -r .node "$T/body")
assert_eq worker-2 "$curl_name" "node name proposed from the hostname"
fp() { openssl x509 -noout -fingerprint -sha256 "$@"; }
assert_eq "$(fp -in "$S/ca.crt")" "$(jq -r .ca "$T/body" | fp)" "the answer's CA vs STATE/ca.crt"

check_cert() { # CERT KEY NAME
	local crt=$1 key=$2 name=$3 out exts
	out=$(openssl verify -CAfile "$S/ca.crt" "$crt" 2>&1) ||
		fail "openssl verify $crt: $out"
	out=$(openssl verify -CAfile "$S/ca.crt" -purpose sslclient "$crt" 2>&1) ||
		fail "$crt is not valid for TLS client auth: $out"
	if openssl verify -CAfile "$S/ca.crt" -purpose sslserver "$crt" >/dev/null 2>&1; then
		fail "$crt is valid for TLS server auth: EKU must be clientAuth only"
	fi
	assert_eq "subject=CN = $name" "$(openssl x509 -in "$crt" -noout -subject)" "$name: subject"
	assert_eq "issuer=CN = geostage node CA" "$(openssl x509 -in "$crt" -noout -issuer)" "$name: issuer"
	openssl x509 -in "$crt" -noout -text >"$T/cert.txt"
	grep -A1 'X509v3 Basic Constraints: critical' "$T/cert.txt" | grep -q 'CA:FALSE' ||
		fail "$name: no critical basicConstraints CA:FALSE"
	assert_eq "TLS Web Client Authentication" \
		"$(grep -A1 'X509v3 Extended Key Usage' "$T/cert.txt" | tail -n 1 | sed 's/^ *//')" \
		"$name: extended key usage"
	exts=$(grep -o 'X509v3 [A-Z][A-Za-z ]*:' "$T/cert.txt" | sed 's/X509v3 //; s/:$//' | LC_ALL=C sort | tr '\n' ',')
	assert_eq "Authority Key Identifier,Basic Constraints,Extended Key Usage,Key Usage,Subject Key Identifier," \
		"$exts" "$name: extensions"
	if grep -q 'Subject Alternative Name' "$T/cert.txt"; then
		fail "$name: the certificate has a SAN"
	fi
	# The certificate is for the node's own key.
	cmp -s <(openssl x509 -in "$crt" -noout -pubkey) \
		<(openssl pkey -in "$key" -pubout) ||
		fail "$name: the certificate's key is not the node's"
	assert_eq "$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)" \
		"$(sql "$S" "SELECT serial FROM nodes WHERE name = '$name'")" "$name: serial"
}
check_cert "$T/agent-one/node.crt" "$T/agent-one/node.key" "$agent_name"
check_cert "$T/n2/node.crt" "$T/n2/node.key" "$curl_name"

# CSRs asking for more than a name get nothing.
csr_refused() { # WHAT CSRFILE
	local st
	st=$(enroll_curl "$S" "$token" "$2" evil.example.org)
	assert_http 422 csr_rejected "$st" "$1"
}
openssl ecparam -name prime256v1 -genkey -noout -out "$T/e.key" 2>/dev/null
openssl req -new -key "$T/e.key" -subj /CN=evil -addext basicConstraints=critical,CA:TRUE \
	-out "$T/ca.csr" 2>/dev/null || fail "cannot make a CA:TRUE CSR"
csr_refused "CSR asking for CA:TRUE" "$T/ca.csr"
openssl req -new -key "$T/e.key" -subj /CN=evil -addext subjectAltName=DNS:boot.example.org \
	-out "$T/san.csr" 2>/dev/null || fail "cannot make a CSR with a SAN"
csr_refused "CSR asking for a SAN" "$T/san.csr"
openssl req -new -key "$T/e.key" -subj /CN=evil -addext extendedKeyUsage=serverAuth \
	-out "$T/eku.csr" 2>/dev/null || fail "cannot make a CSR with an EKU"
csr_refused "CSR asking for serverAuth" "$T/eku.csr"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
openssl req -new -key "$T/rsa.key" -subj /CN=evil -out "$T/rsa.csr" 2>/dev/null
csr_refused "RSA CSR" "$T/rsa.csr"
openssl ecparam -name secp384r1 -genkey -noout -out "$T/p384.key" 2>/dev/null
openssl req -new -key "$T/p384.key" -subj /CN=evil -out "$T/p384.csr" 2>/dev/null
csr_refused "P-384 CSR" "$T/p384.csr"
# Explicit curve parameters, even for P-256 itself.
openssl ecparam -name prime256v1 -param_enc explicit -genkey -noout \
	-out "$T/explicit.key" 2>/dev/null
openssl req -new -key "$T/explicit.key" -subj /CN=evil -out "$T/explicit.csr" 2>/dev/null ||
	fail "cannot make a CSR with explicit EC parameters"
csr_refused "CSR with explicit EC parameters" "$T/explicit.csr"
# A CSR whose self-signature does not verify: one byte of the signature
# (the last bytes of the DER) changed.
openssl req -in "$T/n2/node.csr" -outform DER -out "$T/csr.der"
size=$(stat -c %s "$T/csr.der")
printf '\x55' | dd of="$T/csr.der" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
openssl req -inform DER -in "$T/csr.der" -out "$T/badsig.csr" 2>/dev/null ||
	fail "cannot re-encode the CSR"
# (openssl 3.0's req -verify exits 0 either way: read what it says.)
openssl req -in "$T/badsig.csr" -noout -verify 2>&1 | grep -q 'verify failure' ||
	fail "the tampered CSR still verifies (test setup)"
csr_refused "CSR with a bad self-signature" "$T/badsig.csr"
assert_eq 2 "$(sql "$S" 'SELECT count(*) FROM nodes')" "nodes after the refused CSRs"

# --- the token's signature against the JWKS -----------------------------------

st=$(http "$S" GET /v1/keys)
assert_eq 200 "$st" "GET /v1/keys"
assert_eq 1 "$(jq '.keys | length' "$T/body")" "keys in the JWKS"
jq -e '.keys[0] | .kty == "OKP" and .crv == "Ed25519" and .alg == "EdDSA" and .use == "sig"' \
	"$T/body" >/dev/null || fail "JWKS key: $(cat "$T/body")"
x=$(jq -r '.keys[0].x' "$T/body")
kid=$(jq -r '.keys[0].kid' "$T/body")
assert_eq "$kid" "$(jwt_header "$token" | jq -r .kid)" "the token header's kid vs the JWKS"
assert_eq EdDSA "$(jwt_header "$token" | jq -r .alg)" "the token header's alg"

# PEM from x: the Ed25519 SPKI DER prefix, then the 32 raw bytes.
b64url_decode "$x" >"$T/x.raw"
assert_eq 32 "$(stat -c %s "$T/x.raw")" "bytes in the JWKS x"
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; cat "$T/x.raw"; } >"$T/pub.der"
openssl pkey -pubin -inform DER -in "$T/pub.der" -out "$T/pub.pem" 2>/dev/null ||
	fail "the JWKS x does not make an Ed25519 public key"
cmp -s "$T/pub.pem" <(openssl pkey -in "$S/token.key" -pubout) ||
	fail "the JWKS key is not token.key's public key"

IFS=. read -r h64 p64 s64 <<<"$token"
printf '%s.%s' "$h64" "$p64" >"$T/input"
b64url_decode "$s64" >"$T/sig"
assert_eq 64 "$(stat -c %s "$T/sig")" "bytes in the token's signature"
verify() { # INPUT SIG
	openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in "$1" \
		-sigfile "$2" >/dev/null 2>&1
}
verify "$T/input" "$T/sig" || fail "openssl does not verify the token's signature"
cp "$T/input" "$T/input.bad"
printf 'X' | dd of="$T/input.bad" bs=1 seek=$(($(stat -c %s "$T/input") / 2)) conv=notrunc 2>/dev/null
cmp -s "$T/input" "$T/input.bad" && fail "test setup: the input did not change"
if verify "$T/input.bad" "$T/sig"; then
	fail "openssl verifies the token with one byte of its payload changed"
fi
cp "$T/sig" "$T/sig.bad"
printf '\x00' | dd of="$T/sig.bad" bs=1 seek=10 conv=notrunc 2>/dev/null
cmp -s "$T/sig" "$T/sig.bad" &&
	printf '\x01' | dd of="$T/sig.bad" bs=1 seek=10 conv=notrunc 2>/dev/null
if verify "$T/input" "$T/sig.bad"; then
	fail "openssl verifies the token with one byte of its signature changed"
fi

# --- the pin --------------------------------------------------------------------

pin=sha256//$(openssl x509 -in "$S/tls.crt" -noout -pubkey | openssl pkey -pubin -outform DER |
	openssl dgst -sha256 -binary | openssl base64 -A)
assert_eq "$pin" "$(jwt_payload "$token" | jq -r .pin)" "the token's pin"
pass
