#!/usr/bin/env bash
# token create --output cloud-init (DESIGN §7):
#   - without an apt_source in bootstrap.conf: exit 1, a message naming
#     apt_source on stderr, nothing on stdout, no token recorded; a key
#     file that is not an armored public key, or is missing: exit 1 too;
#   - a flat apt_source with a component (or a component "-" with a
#     suite that is not flat) is refused as an invalid bootstrap.conf;
#   - with three apt_sources, one of them a flat repository (suite "./",
#     component "-", what packaging/repo/make-repo builds): a
#     #cloud-config that writes every key and deb822 source where
#     geostage-enrolld writes them (so the agent never adds a second entry
#     for one repository; the flat one with "Suites: ./" and no
#     Components line), the token in
#     /etc/geostage/token (0600, root:root), installs geostage-enrolld and
#     starts it from runcmd with systemctl start --no-block;
#   - the token appears exactly once (in write_files, never in runcmd), it
#     is the token the database recorded, and the agent's preflight
#     accepts the file cloud-init would write;
#   - cloud-init's own "cloud-init schema --config-file" accepts it (and
#     the hand template packaging/cloud-init/user-data.yaml, whose runcmd
#     and token entry are the same), and a YAML parser sees the same
#     structure as the text checks. cloud-init
#     runs from the host when installed, else (root) in a read-only chroot
#     of the lab's cached rootfs that has it (tests/lab builds it; nothing
#     is installed on the host). Without either, everything else is
#     checked and the test says SKIP with the reason.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

need_agent
S=$T/srv
server_init "$S"

# A throwaway Ed25519 public key (the secret half was never kept): the
# server copies key files as they are and the agent checks fingerprints
# with gpg, so any real key block will do.
KEY_FPR=E2223447623104B66920053C704977743897D3D9
cat >"$T/repo.asc" <<'EOF'
-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEawYvaRYJKwYBBAHaRw8BAQdAPd/rMYolMPpVwPC9IwtOcG7kUGBozDLUqC3r
U4hCPMq0Xmdlb3N0YWdlIGNsb3VkLWluaXQgdGVzdCBrZXkgKHB1YmxpYyBoYWxm
IG9ubHksIG5vdCBhIHJlYWwgcmVwb3NpdG9yeSkgPHRlc3RAZ2Vvc3RhZ2UuaW52
YWxpZD6IkAQTFggAOBYhBOIiNEdiMQS2aSAFPHBJd3Q4l9PZBQJrBi9pAhsDBQsJ
CAcCBhUKCQgLAgQWAgMBAh4BAheAAAoJEHBJd3Q4l9PZJ30BAOceErzNHRjAvQW4
pdaDk3kBElpZxOrkfC/9dYSis7xwAP0fC3TZGfPPf5fQDdMJsl2O4iX5K49UKva6
S40ySWrxBw==
=PR1e
-----END PGP PUBLIC KEY BLOCK-----
EOF

# create_ci: token create --output cloud-init; stdout in $T/out, stderr in
# $T/err; prints the exit code.
create_ci() {
	local rc=0
	"$BOOTSTRAP" token create --state-dir "$S" --output cloud-init "$@" \
		>"$T/out" 2>"$T/err" || rc=$?
	echo "$rc"
}

tokens() { sql "$S" 'SELECT count(*) FROM tokens'; }

# --- refusals: nothing to install from -----------------------------------------
rc=$(create_ci)
assert_eq 1 "$rc" "cloud-init output without an apt_source: exit code"
grep -q 'apt_source' "$T/err" ||
	fail "no apt_source: stderr does not say so: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "no apt_source: something on stdout: $(head -c 200 "$T/out")"
assert_eq 0 "$(tokens)" "tokens recorded by a refused cloud-init output"
log "no apt_source: exit 1, $(head -c 120 "$T/err")..."

cp "$S/bootstrap.conf" "$T/bootstrap.conf.orig"
server_conf "$S" apt_source "lab http://192.0.2.5/debian stable main $T/nokey.asc $KEY_FPR"
rc=$(create_ci)
assert_eq 1 "$rc" "cloud-init output with a missing key file: exit code"
grep -q 'nokey.asc' "$T/err" || fail "missing key: stderr: $(cat "$T/err")"

printf 'not a key\n' >"$T/bad.asc"
server_conf "$S" apt_source "lab http://192.0.2.5/debian stable main $T/bad.asc $KEY_FPR"
rc=$(create_ci)
assert_eq 1 "$rc" "cloud-init output with a key file that is no key: exit code"
grep -q 'ASCII-armored' "$T/err" || fail "bad key: stderr: $(cat "$T/err")"
assert_eq 0 "$(tokens)" "tokens recorded by refused cloud-init outputs"

# A flat repository has no component ("-"); any other suite needs one.
for v in "lab http://192.0.2.5/flat ./ main $T/repo.asc $KEY_FPR" \
	"lab http://192.0.2.5/debian stable - $T/repo.asc $KEY_FPR"; do
	cp "$T/bootstrap.conf.orig" "$S/bootstrap.conf"
	echo "apt_source = $v" >>"$S/bootstrap.conf"
	rc=$(create_ci)
	assert_eq 78 "$rc" "cloud-init output with apt_source = $v: exit code"
	grep -q 'bootstrap.conf:.*invalid value' "$T/err" ||
		fail "apt_source = $v: stderr: $(cat "$T/err")"
done
assert_eq 0 "$(tokens)" "tokens recorded by refused cloud-init outputs"

# --- the user-data ----------------------------------------------------------------
cp "$T/bootstrap.conf.orig" "$S/bootstrap.conf"
{
	echo "apt_source = lab http://192.0.2.5/debian stable main $T/repo.asc $KEY_FPR"
	echo "apt_source = geostage-k8s https://mirror.example.org/k8s bookworm main $T/repo.asc $KEY_FPR"
	echo "apt_source = site http://192.0.2.5/geostage ./ - $T/repo.asc $KEY_FPR"
} >>"$S/bootstrap.conf"
rc=$(create_ci --label tier=edge)
[ "$rc" = 0 ] || fail "token create --output cloud-init: exit $rc: $(cat "$T/err")"
UD=$T/user-data
mv "$T/out" "$UD"
assert_eq 1 "$(tokens)" "tokens recorded"

assert_eq '#cloud-config' "$(head -n 1 "$UD")" "first line"

# The token: one JWS in the whole text, once, and the database's.
mapfile -t jws < <(grep -oE 'ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+' "$UD")
assert_eq 1 "${#jws[@]}" "tokens (compact JWS) in the user-data"
TOKEN=${jws[0]}
assert_eq 1 "$(grep -oF -- "$TOKEN" "$UD" | wc -l)" "occurrences of the token"
sig=${TOKEN##*.}
assert_eq 1 "$(grep -oF -- "$sig" "$UD" | wc -l)" "occurrences of the token's signature"
jti=$(token_id "$TOKEN")
assert_eq "$(sql "$S" 'SELECT id FROM tokens')" "$jti" "the token's id"
assert_eq tokyo "$(jwt_payload "$TOKEN" | jq -r .site)" "the token's site"
assert_eq edge "$(jwt_payload "$TOKEN" | jq -r .labels.tier)" "the token's label"
grep -q "$jti" <(head -n 6 "$UD") || fail "the header comment does not name token $jti"

# entry PATH: the write_files entry of PATH, from its "- path:" line to the
# next entry or top-level key.
entry() {
	awk -v p="  - path: $1" '
		$0 == p { on = 1; print; next }
		on && (/^  - / || /^  # / || /^[a-z]/) { exit }
		on { print }' "$UD"
}
# content PATH: that entry's content, indentation removed.
content() {
	entry "$1" | awk 'on { sub(/^      /, ""); print } /^    content: \|$/ { on = 1 }'
}

tf=$(entry /etc/geostage/token)
[ -n "$tf" ] || fail "no write_files entry for /etc/geostage/token"
grep -qxF "    permissions: '0600'" <<<"$tf" || fail "token file mode: $tf"
grep -qxF "    owner: root:root" <<<"$tf" || fail "token file owner: $tf"
assert_eq "$TOKEN" "$(content /etc/geostage/token)" "the token file's content"

# Every apt source, where the agent's packages step writes it.
for base in geostage-lab geostage-k8s geostage-site; do
	diff <(content "/etc/apt/keyrings/$base.asc") "$T/repo.asc" >/dev/null ||
		fail "/etc/apt/keyrings/$base.asc is not the configured key"
	entry "/etc/apt/keyrings/$base.asc" | grep -qxF "    permissions: '0644'" ||
		fail "$base key mode"
	content "/etc/apt/sources.list.d/$base.sources" >"$T/$base.sources"
	grep -qxF "Signed-By: /etc/apt/keyrings/$base.asc" "$T/$base.sources" ||
		fail "$base.sources: $(cat "$T/$base.sources")"
done
for l in 'URIs: http://192.0.2.5/debian' 'Suites: stable' 'Components: main'; do
	grep -qxF "$l" "$T/geostage-lab.sources" ||
		fail "geostage-lab.sources has no '$l': $(cat "$T/geostage-lab.sources")"
done
for l in 'URIs: https://mirror.example.org/k8s' 'Suites: bookworm'; do
	grep -qxF "$l" "$T/geostage-k8s.sources" ||
		fail "geostage-k8s.sources has no '$l': $(cat "$T/geostage-k8s.sources")"
done
# The flat repository: the deb822 file geostage-enrolld writes for it
# (pkg_render_source), no Components line.
for l in 'URIs: http://192.0.2.5/geostage' 'Suites: ./'; do
	grep -qxF "$l" "$T/geostage-site.sources" ||
		fail "geostage-site.sources has no '$l': $(cat "$T/geostage-site.sources")"
done
! grep -q '^Components' "$T/geostage-site.sources" ||
	fail "geostage-site.sources (flat) has a Components line: $(cat "$T/geostage-site.sources")"
grep -q "$KEY_FPR" "$UD" || fail "the keys' fingerprint is not in a comment"

# The package, and the start that does not wait.
sed -n '/^packages:$/,/^[a-z]/p' "$UD" | grep -qxF '  - geostage-enrolld' ||
	fail "packages: does not install geostage-enrolld"
mapfile -t runcmd < <(sed -n '/^runcmd:$/,/^[a-z]/{/^  - /p}' "$UD")
assert_eq 1 "${#runcmd[@]}" "runcmd entries"
assert_eq '  - [systemctl, start, --no-block, geostage-enrolld.service]' \
	"${runcmd[0]}" "runcmd"

# The agent's preflight takes the file cloud-init would write.
content /etc/geostage/token >"$T/token"
chmod 600 "$T/token"
agent_conf "$T/agent.conf"
rc=0
timeout 60 "$ENROLLD" --config "$T/agent.conf" --token-file "$T/token" \
	--state-dir "$T/agent" --until preflight >"$T/agent.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "agent preflight on the written token: exit $rc: $(tail -n 5 "$T/agent.out")"
log "user-data: $(wc -l <"$UD") lines, token $jti once, 3 apt sources (one flat)"

# The hand template says the same where it matters.
TPL=$top_srcdir/packaging/cloud-init/user-data.yaml
cp "$TPL" "$T/template.yaml" || fail "no $TPL"
grep -qxF "${runcmd[0]}" "$T/template.yaml" || fail "$TPL: runcmd differs"
for l in '  - path: /etc/geostage/token' "    permissions: '0600'" \
	'    owner: root:root' '  - geostage-enrolld' '#cloud-config'; do
	grep -qxF -- "$l" "$T/template.yaml" || fail "$TPL: no line '$l'"
done

# --- cloud-init's own check ----------------------------------------------------------
cat >"$T/check.py" <<'EOF'
# The same facts, through a YAML parser (the one cloud-init uses).
import sys
import yaml

ud, token, key = (open(p).read() for p in sys.argv[1:4])
d = yaml.safe_load(ud)
wf = {f["path"]: f for f in d["write_files"]}
t = wf["/etc/geostage/token"]
assert (t["permissions"], t["owner"]) == ("0600", "root:root"), t
assert t["content"] == token.strip() + "\n", "token content"
assert [p for p in wf if token.strip() in wf[p]["content"]] == [t["path"]]
for b in ("geostage-lab", "geostage-k8s", "geostage-site"):
    assert wf["/etc/apt/keyrings/%s.asc" % b]["content"] == key, b
    assert "Signed-By: /etc/apt/keyrings/%s.asc\n" % b in \
        wf["/etc/apt/sources.list.d/%s.sources" % b]["content"], b
flat = wf["/etc/apt/sources.list.d/geostage-site.sources"]["content"]
assert "\nSuites: ./\n" in flat and "Components" not in flat, flat
assert d["packages"] == ["geostage-enrolld"], d["packages"]
assert d["runcmd"] == [["systemctl", "start", "--no-block",
                        "geostage-enrolld.service"]], d["runcmd"]
assert set(d) == {"write_files", "packages", "runcmd"}, set(d)
print("structure: ok")
EOF
printf '%s\n' "$TOKEN" >"$T/token.txt"

# ci_run DIR CMD...: cloud-init schema on DIR's user-data and
# template.yaml, then check.py, each run through CMD.
ci_run() {
	local d=$1
	shift
	"$@" cloud-init schema --config-file "$d/user-data" &&
		"$@" cloud-init schema --config-file "$d/template.yaml" &&
		"$@" python3 "$d/check.py" "$d/user-data" "$d/token.txt" "$d/repo.asc"
}

ci_rootfs() { # the first cached lab rootfs that has cloud-init
	local r
	for r in "${GEOSTAGE_TEST_CACHE:-/var/cache/geostage-test}"/rootfs-*/; do
		[ -x "$r/usr/bin/cloud-init" ] && [ -x "$r/usr/bin/python3" ] &&
			{ echo "${r%/}"; return 0; }
	done
	return 1
}

rc=0
if command -v cloud-init >/dev/null 2>&1; then
	how="cloud-init on the host ($(cloud-init --version 2>&1 | head -n 1))"
	ci_run "$T" env >"$T/schema.out" 2>&1 || rc=$?
elif [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && ROOTFS=$(ci_rootfs); then
	how="$(chroot "$ROOTFS" cloud-init --version 2>&1 | head -n 1) in a read-only chroot of $ROOTFS"
	# A private mount namespace: the rootfs bind-mounted read-only, a tmpfs
	# on its /tmp for our files; all of it goes when unshare exits.
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 120 unshare --mount --propagation private bash -c '
		set -e
		m=$1/root; rootfs=$2
		mkdir -p "$m"
		mount --bind "$rootfs" "$m"
		mount -o remount,bind,ro "$m"
		mount -t tmpfs -o size=8m,mode=0755 tmpfs "$m/tmp"
		cp "$1/user-data" "$1/template.yaml" "$1/check.py" "$1/token.txt" \
			"$1/repo.asc" "$m/tmp/"
		chroot "$m" cloud-init schema --config-file /tmp/user-data
		chroot "$m" cloud-init schema --config-file /tmp/template.yaml
		chroot "$m" python3 /tmp/check.py /tmp/user-data /tmp/token.txt /tmp/repo.asc
	' ci "$T" "$ROOTFS" >"$T/schema.out" 2>&1 || rc=$?
else
	skip "all but the schema check passed; no cloud-init to run 'cloud-init schema': install cloud-init, or (as root) run tests/lab once to build its cached rootfs with cloud-init"
fi
if [ "$rc" -ne 0 ]; then
	cat "$T/schema.out"
	fail "cloud-init schema / structure check ($how): exit $rc"
fi
assert_eq 2 "$(grep -c 'Valid cloud-config' "$T/schema.out")" \
	"'Valid cloud-config' from cloud-init schema (user-data, template)"
grep -q 'structure: ok' "$T/schema.out" || fail "check.py: $(cat "$T/schema.out")"
log "cloud-init schema: valid ($how)"

pass
