#!/usr/bin/env bash
# packaging/repo/make-repo, and apt's verdict on what it builds:
#   - from a directory and a file of small .debs (dpkg-deb --build) it
#     builds a flat repository (the .debs, Packages{,.gz}, Release,
#     InRelease, Release.gpg, key.asc, fingerprint) signed with a new
#     Ed25519 key made in a 0700 key dir; the last line it prints is an
#     apt_source line that geostage-bootstrap accepts (token create
#     --output cloud-init writes it as "Suites: ./" with no Components,
#     and the enroll answer an agent gets has it with components []);
#     no secret key material is printed or published;
#   - an apt of its own (APT_CONFIG: its own sources, keyrings, lists,
#     cache and status; nothing of the host's), fetching over HTTP from a
#     busybox httpd on loopback (file: when there is none), with
#     Signed-By the repository's key.asc: apt-get update succeeds with no
#     signature warning, apt-cache policy has the packages as candidates
#     and apt-get install --download-only fetches one;
#   - apt refuses (update fails, no candidate) when Packages is tampered
#     with, when Release (signed text in InRelease) is tampered with, and
#     when the repository is signed by another key than Signed-By names;
#   - make-repo refuses a package given twice (same package, version,
#     architecture), a file that is no .deb, a key dir that is not 0700,
#     a key dir with two signing keys and no --key-id, and an output
#     directory that is something else; it signs with the --key-id named
#     and keeps its key across runs (same fingerprint).
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

need_cmds dpkg-deb dpkg apt-ftparchive gpg gpgv gpgconf apt-get apt-cache jq
need_agent
MR=$top_srcdir/packaging/repo/make-repo
[ -x "$MR" ] || fail "no executable $MR"
ARCH=$(dpkg --print-architecture)

# mkdeb DIR NAME VERSION ARCH: a tiny package holding /usr/share/NAME/v.
mkdeb() {
	local dir=$1 name=$2 ver=$3 arch=$4 b
	b=$(mktemp -d "$T/pkg.XXXXXX")
	mkdir -p "$b/DEBIAN" "$b/usr/share/$name" "$dir"
	cat >"$b/DEBIAN/control" <<-EOF
		Package: $name
		Version: $ver
		Architecture: $arch
		Maintainer: geostage tests <test@geostage.invalid>
		Section: misc
		Priority: optional
		Description: geostage make-repo test package
		 Built by tests/integration/make-repo.sh.
	EOF
	echo "$name $ver" >"$b/usr/share/$name/v"
	dpkg-deb --root-owner-group -Zgzip --build "$b" "$dir/${name}_${ver#*:}_$arch.deb" \
		>/dev/null || fail "dpkg-deb --build $name"
	rm -rf "$b"
}

# The gpg-agents of our GnuPG homes are ours to stop, whatever happens;
# then lib.sh's cleanup, with the test's exit status.
KEYDIRS=("$T/gpg-show")
mkdir -m 700 "$T/gpg-show"
# shellcheck disable=SC2317 # run from the trap
stop_agents() {
	local d
	for d in "${KEYDIRS[@]}"; do
		gpgconf --homedir "$d" --kill gpg-agent >/dev/null 2>&1 || :
	done
}
trap 'rc=$?; stop_agents; (exit $rc); _cleanup' EXIT

mkdeb "$T/debs" geostage-mr-hello 1.0 all
mkdeb "$T/debs" geostage-mr-tool 2:1.2-3 "$ARCH"
mkdeb "$T/extra" geostage-mr-extra 0.1 all

# The server that will name the repository: its URL must be known before
# make-repo prints the line.
WWW=$T/www
mkdir -p "$WWW"
if command -v busybox >/dev/null && busybox --list 2>/dev/null | grep -qx httpd; then
	free_port
	URL=http://127.0.0.1:$FREE_PORT/site
	bg_start "$T/httpd.log" busybox httpd -f -p "127.0.0.1:$FREE_PORT" -h "$WWW"
	HTTPD_PID=$BG_PID
	how="busybox httpd on 127.0.0.1:$FREE_PORT"
else
	URL=http://127.0.0.1/site # what the apt_source line says
	how="file: (no busybox httpd)"
fi
REPO=$WWW/site

# make_repo ARGS...: stdout in $T/out, stderr in $T/err; prints the exit code.
make_repo() {
	local rc=0
	"$MR" "$@" >"$T/out" 2>"$T/err" || rc=$?
	echo "$rc"
}

# --- a repository, a new key ---------------------------------------------------
KEYS=$T/keys
KEYDIRS+=("$KEYS")
rc=$(make_repo --output "$REPO" --key-dir "$KEYS" --url "$URL" "$T/debs" \
	"$T/extra/geostage-mr-extra_0.1_all.deb")
[ "$rc" = 0 ] || fail "make-repo: exit $rc: $(cat "$T/err")"
for f in Packages Packages.gz Release InRelease Release.gpg key.asc fingerprint \
	geostage-mr-hello_1.0_all.deb "geostage-mr-tool_1.2-3_$ARCH.deb" \
	geostage-mr-extra_0.1_all.deb; do
	[ -s "$REPO/$f" ] || fail "the repository has no $f: $(ls "$REPO")"
done
assert_mode 700 "$KEYS"
FPR=$(cat "$REPO/fingerprint")
assert_match '^[0-9A-F]{40}$' "$FPR" "the fingerprint file"
# keyinfo FILE: how many primary keys the armoured FILE holds, and the
# first one's fingerprint.
keyinfo() {
	gpg --homedir "$T/gpg-show" --batch --quiet --with-colons --show-keys "$1" 2>/dev/null |
		awk -F: '$1 == "pub" { n++ } $1 == "fpr" && !f { f = $10 } END { print n + 0, f }'
}
assert_eq "1 $FPR" "$(keyinfo "$REPO/key.asc")" "primary keys in key.asc and its fingerprint"
grep -q '^pub:[^:]*:[^:]*:22:' <(gpg --homedir "$T/gpg-show" --batch --quiet \
	--with-colons --show-keys "$REPO/key.asc" 2>/dev/null) ||
	fail "the new key is not Ed25519 (algorithm 22)"
LINE=$(tail -n 1 "$T/out")
assert_eq "apt_source = site $URL ./ - $REPO/key.asc $FPR" "$LINE" "the printed apt_source line"
if grep -qi 'PRIVATE KEY\|SECRET KEY' "$T/out" "$T/err" "$REPO"/*; then
	fail "secret key material in make-repo's output or the repository"
fi
grep -q 'SHA256:' "$REPO/Release" || fail "Release has no SHA256 sums"
log "built: $(find "$REPO" -name '*.deb' | wc -l) packages, key $FPR, $(wc -l <"$T/out") line(s) on stdout"

# geostage-bootstrap takes the line, and writes the flat source for it.
S=$T/srv
server_init "$S"
echo "$LINE" >>"$S/bootstrap.conf"
"$BOOTSTRAP" token create --state-dir "$S" --site tokyo --output cloud-init \
	>"$T/user-data" 2>"$T/ci.err" ||
	fail "token create --output cloud-init with make-repo's line: $(cat "$T/ci.err")"
sed -n '/sources.list.d\/geostage-site.sources/,/Signed-By/p' "$T/user-data" >"$T/ci.sources"
grep -qxF '      Suites: ./' "$T/ci.sources" || fail "user-data source: $(cat "$T/ci.sources")"
grep -qxF "      URIs: $URL" "$T/ci.sources" || fail "user-data source: $(cat "$T/ci.sources")"
! grep -q Components "$T/ci.sources" || fail "user-data flat source has Components: $(cat "$T/ci.sources")"

# ... and names it in the enroll answer (PROTOCOL.md: no components).
server_start "$S" || fail "serve with make-repo's apt_source: $(tail -n 5 "$S.log")"
write_token "$T/token" "$(token_create "$S" --site tokyo)"
rc=$(run_agent one "$T/token")
[ "$rc" = 0 ] || fail "agent --until enroll: exit $rc: $(tail -n 5 "$T/agent-one.log")"
jq -e --arg u "$URL" --arg f "$FPR" --rawfile k "$REPO/key.asc" '
	.packages.apt_sources == [{name: "site", uri: $u, suite: "./",
		components: [], key: $k, fingerprint: $f}]' \
	"$T/agent-one/enroll.json" >/dev/null ||
	fail "the enroll answer's apt_sources: $(jq -c .packages.apt_sources "$T/agent-one/enroll.json")"
server_stop
log "geostage-bootstrap took the line: cloud-init writes 'Suites: ./', the enroll answer has components []"

# --- apt's verdict ---------------------------------------------------------------
# apt_fresh [URI]: a new, empty apt state for one source, signed by
# $REPO/key.asc (copied: the test changes the repository later).
A=$T/apt
apt_fresh() {
	local uri=${1:-$URL}
	rm -rf "$A"
	mkdir -p "$A"/{parts,sources.list.d,trusted.gpg.d,preferences.d,state/lists/partial,cache/archives/partial,log}
	: >"$A/status"
	: >"$A/sources.list"
	cp "$KEYRING" "$A/site.asc"
	cat >"$A/apt.conf" <<-EOF
		Dir::Etc::main "/dev/null";
		Dir::Etc::parts "$A/parts";
		Dir::Etc::sourcelist "$A/sources.list";
		Dir::Etc::sourceparts "$A/sources.list.d";
		Dir::Etc::trusted "$A/trusted.gpg";
		Dir::Etc::trustedparts "$A/trusted.gpg.d";
		Dir::Etc::preferences "$A/preferences";
		Dir::Etc::preferencesparts "$A/preferences.d";
		Dir::State "$A/state";
		Dir::State::status "$A/status";
		Dir::Cache "$A/cache";
		Dir::Log "$A/log";
		APT::Sandbox::User "root";
		Debug::NoLocking "true";
		Acquire::Languages "none";
		Acquire::http::Proxy "DIRECT";
		Acquire::Retries "0";
	EOF
	# What geostage-enrolld writes for a flat source (pkg_render_source).
	cat >"$A/sources.list.d/geostage-site.sources" <<-EOF
		Types: deb
		URIs: $uri
		Suites: ./
		Signed-By: $A/site.asc
	EOF
}
apt_get() { APT_CONFIG=$A/apt.conf apt-get -q "$@"; }
apt_cache() { APT_CONFIG=$A/apt.conf apt-cache "$@"; }
candidate() { # PACKAGE: its candidate version, or "(none)"
	apt_cache policy "$1" 2>/dev/null |
		awk '$1 == "Candidate:" { c = $2 } END { print c == "" ? "(none)" : c }'
}
# apt_update WHAT: apt-get update; prints its exit code, output in $T/update.
apt_update() {
	local rc=0
	apt_get update >"$T/update" 2>&1 || rc=$?
	echo "$rc"
}

KEYRING=$REPO/key.asc
if [ -n "${HTTPD_PID:-}" ]; then
	APT_URI=$URL
else
	APT_URI=file:$REPO
fi
cp "$REPO/key.asc" "$T/site.asc"
KEYRING=$T/site.asc

apt_fresh "$APT_URI"
rc=$(apt_update)
[ "$rc" = 0 ] || fail "apt-get update on the repository: exit $rc: $(cat "$T/update")"
if grep -E '^(W|E):' "$T/update"; then
	fail "apt-get update warned: $(cat "$T/update")"
fi
assert_eq 1.0 "$(candidate geostage-mr-hello)" "candidate of geostage-mr-hello"
assert_eq 2:1.2-3 "$(candidate geostage-mr-tool)" "candidate of geostage-mr-tool"
assert_eq 0.1 "$(candidate geostage-mr-extra)" "candidate of geostage-mr-extra"
apt_get install --download-only -y geostage-mr-tool >"$T/install" 2>&1 ||
	fail "apt-get install --download-only: $(cat "$T/install")"
cmp -s "$A/cache/archives/geostage-mr-tool_2%3a1.2-3_$ARCH.deb" "$REPO/geostage-mr-tool_1.2-3_$ARCH.deb" ||
	fail "apt did not fetch geostage-mr-tool: $(ls "$A/cache/archives"; cat "$T/install")"
log "apt ($how): update clean, 3 candidates, install --download-only fetched geostage-mr-tool"

# refused WHAT: apt-get update must fail on the repository as it is now,
# and apt must see none of its packages.
refused() {
	local rc
	apt_fresh "$APT_URI"
	rc=$(apt_update)
	[ "$rc" != 0 ] || fail "$1: apt-get update succeeded: $(cat "$T/update")"
	assert_eq "(none)" "$(candidate geostage-mr-hello)" "$1: candidate of geostage-mr-hello"
	log "$1: refused, exit $rc: $(grep -E '^(W|E):' "$T/update" | head -n 1 | cut -c1-140)"
}

cp -a "$REPO" "$T/repo.good"
restore() { rm -rf "$REPO" && cp -a "$T/repo.good" "$REPO"; }

# Packages changed after signing: its hash is no longer Release's.
printf 'Package: geostage-mr-evil\nVersion: 6.6\nArchitecture: all\nFilename: ./x.deb\nSize: 1\n\n' >>"$REPO/Packages"
gzip -9nc "$REPO/Packages" >"$REPO/Packages.gz"
refused "tampered Packages"
restore

# Release changed after signing: the signed text of InRelease no longer
# matches its signature (Release.gpg no longer matches Release).
sed -i 's/^Origin: .*/Origin: evil/' "$REPO/InRelease" "$REPO/Release"
refused "tampered Release"
restore

# Another key signed it: not the key Signed-By names.
OTHER=$T/keys-other
KEYDIRS+=("$OTHER")
rc=$(make_repo --output "$REPO" --key-dir "$OTHER" --url "$URL" "$T/debs")
[ "$rc" = 0 ] || fail "make-repo with another key: exit $rc: $(cat "$T/err")"
[ "$(cat "$REPO/fingerprint")" != "$FPR" ] || fail "the other key dir made the same key"
refused "signed by another key"
restore

# --- make-repo's refusals --------------------------------------------------------
before=$(cd "$REPO" && sha256sum ./* | sha256sum)
# expect_refusal WHAT PATTERN ARGS...: exit 1, stderr matching PATTERN,
# and the repository as it was.
expect_refusal() {
	local what=$1 pat=$2 rc
	shift 2
	rc=$(make_repo "$@")
	assert_eq 1 "$rc" "make-repo, $what: exit code ($(cat "$T/err"))"
	grep -q -- "$pat" "$T/err" || fail "make-repo, $what: stderr: $(cat "$T/err")"
	[ ! -s "$T/out" ] || fail "make-repo, $what: something on stdout: $(cat "$T/out")"
	assert_eq "$before" "$(cd "$REPO" && sha256sum ./* | sha256sum)" "the repository after make-repo, $what"
	log "refused, $what: $(head -n 1 "$T/err")"
}
mkdir -p "$T/dup"
cp "$T/debs/geostage-mr-hello_1.0_all.deb" "$T/dup/hello-copy.deb"
expect_refusal "a package given twice" 'given twice' \
	--output "$REPO" --key-dir "$KEYS" --url "$URL" "$T/debs" "$T/dup/hello-copy.deb"
printf 'not a package\n' >"$T/dup/bogus.deb"
expect_refusal "a file that is no .deb" 'not a valid .deb' \
	--output "$REPO" --key-dir "$KEYS" --url "$URL" "$T/debs" "$T/dup/bogus.deb"
chmod 755 "$KEYS"
expect_refusal "a key dir of mode 0755" 'not 0700' \
	--output "$REPO" --key-dir "$KEYS" --url "$URL" "$T/debs"
chmod 700 "$KEYS"
mkdir -p "$T/not-a-repo" && echo precious >"$T/not-a-repo/file"
rc=$(make_repo --output "$T/not-a-repo" --key-dir "$KEYS" "$T/debs")
assert_eq 1 "$rc" "make-repo over a directory that is no repository: exit code"
assert_eq precious "$(cat "$T/not-a-repo/file")" "the directory make-repo refused to replace"

# A second signing key in the key dir: make-repo must be told which.
gpg --homedir "$KEYS" --batch --quiet --pinentry-mode loopback --passphrase '' \
	--quick-gen-key "second <second@geostage.invalid>" ed25519 sign never 2>/dev/null ||
	fail "gpg: a second key"
SECOND=$(gpg --homedir "$KEYS" --batch --with-colons --list-secret-keys second@geostage.invalid 2>/dev/null |
	awk -F: '$1 == "fpr" { print $10; exit }')
expect_refusal "two signing keys, no --key-id" 'choose one with --key-id' \
	--output "$REPO" --key-dir "$KEYS" --url "$URL" "$T/debs"

# --key-id: that key signs; the first key is kept across runs.
rc=$(make_repo --output "$REPO" --key-dir "$KEYS" --key-id "$FPR" --url "$URL" --name mirror "$T/debs")
[ "$rc" = 0 ] || fail "make-repo --key-id $FPR: exit $rc: $(cat "$T/err")"
assert_eq "$FPR" "$(cat "$REPO/fingerprint")" "the fingerprint after a rebuild with --key-id"
assert_eq "apt_source = mirror $URL ./ - $REPO/key.asc $FPR" "$(tail -n 1 "$T/out")" "the line of the rebuild"
[ ! -e "$REPO/geostage-mr-extra_0.1_all.deb" ] || fail "a rebuild kept a package it was not given"
rc=$(make_repo --output "$REPO" --key-dir "$KEYS" --key-id "$SECOND" --url "$URL" "$T/debs")
[ "$rc" = 0 ] || fail "make-repo --key-id $SECOND: exit $rc: $(cat "$T/err")"
assert_eq "$SECOND" "$(cat "$REPO/fingerprint")" "the fingerprint with --key-id of the second key"
assert_eq "1 $SECOND" "$(keyinfo "$REPO/key.asc")" "key.asc with --key-id of the second key"
refused "signed by the second key of the key dir"
# ... and its own key.asc is the one that works.
cp "$REPO/key.asc" "$T/site.asc"
apt_fresh "$APT_URI"
rc=$(apt_update)
[ "$rc" = 0 ] || fail "apt-get update with the second key's key.asc: exit $rc: $(cat "$T/update")"
assert_eq 1.0 "$(candidate geostage-mr-hello)" "candidate with the second key"
log "--key-id $SECOND: key.asc holds that key alone, apt takes it"

pass
