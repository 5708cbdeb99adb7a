#!/usr/bin/env bash
# The systemd units (units/), checked by systemd's own tools. PID 1 need
# not be systemd: both tools work on files.
#   - systemd-analyze verify accepts all four units without a word:
#     directives, dependencies, ExecStart= binaries, man pages named in
#     Documentation=. It runs in a scratch root ($T/root) holding the
#     host's system units, the units under test and the built binaries at
#     their ExecStart= paths (/usr/bin), so that nothing is installed on
#     the host; the man pages come from man/ through MANPATH;
#   - systemd-analyze security --offline: exposure at most 2.0 for
#     geostage-bootstrap.service, at most 5.0 for geostage-enrolld.service
#     (the numbers are printed);
#   - what the units promise beyond syntax: the agent is never ordered
#     after cloud-init's units (runcmd starts it with --no-block from
#     inside cloud-final.service), gets the token as a credential, is
#     skipped once done; the server runs as the system user geostage
#     (not DynamicUser=), socket-activated on 8443.
# Skips (77) only when systemd-analyze is not installed.
set -u
set -o pipefail

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
TEST_NAME=units
UNITS=(geostage-bootstrap.socket geostage-bootstrap.service
	geostage-enrolld.path geostage-enrolld.service)
# Exposure limits, in tenths (systemd-analyze --threshold=).
declare -A LIMIT=([geostage-bootstrap.service]=20 [geostage-enrolld.service]=50)

log() { printf '# %s\n' "$*"; }
fail() {
	printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "SKIP: $TEST_NAME: needs systemd-analyze (package systemd)" >&2
	exit 77
}

T=$(mktemp -d "${TMPDIR:-/tmp}/geostage-$TEST_NAME.XXXXXX") ||
	fail "cannot create a temp dir"
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

U=$top_srcdir/units
for u in "${UNITS[@]}"; do
	[ -f "$U/$u" ] || fail "missing $U/$u"
done
for b in geostage-bootstrap geostage-enrolld; do
	[ -x "$top_builddir/$b" ] || fail "$top_builddir/$b is not built"
done

# --- the scratch root ---------------------------------------------------------
sysunits=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -f "$d/multi-user.target" ]; then
		sysunits=$d
		break
	fi
done
[ -n "$sysunits" ] || fail "no system units on this host (multi-user.target)"
R=$T/root
mkdir -p "$R/usr/lib/systemd/system" "$R/usr/bin" "$R/etc/systemd/system" ||
	fail "cannot make $R"
cp -R "$sysunits/." "$R/usr/lib/systemd/system/" ||
	fail "cannot copy $sysunits"
for u in "${UNITS[@]}"; do
	cp "$U/$u" "$R/usr/lib/systemd/system/$u" || fail "cannot copy $u"
done
cp "$top_builddir/geostage-bootstrap" "$top_builddir/geostage-enrolld" \
	"$R/usr/bin/" || fail "cannot copy the binaries"

man_opt=--man=yes
if command -v man >/dev/null 2>&1; then
	mkdir -p "$T/man/man8"
	ln -s "$top_srcdir"/man/*.8 "$T/man/man8/" || fail "no man pages"
	export MANPATH=$T/man
else
	man_opt=--man=no
	log "man is not installed: Documentation= is not checked"
fi

# --- verify ---------------------------------------------------------------------
rc=0
(cd "$R/usr/lib/systemd/system" &&
	systemd-analyze verify "$man_opt" --root="$R" "${UNITS[@]}") \
	>"$T/verify.out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || [ -s "$T/verify.out" ]; then
	cat "$T/verify.out"
	fail "systemd-analyze verify: exit $rc, output above (it must be silent)"
fi
log "systemd-analyze verify: ${UNITS[*]}: clean"

# The check must be able to fail: a unit with an unknown directive and a
# missing binary is refused (output, or a non-zero exit).
sed -e 's|^ExecStart=.*|ExecStart=/usr/bin/geostage-missing|' \
	-e '$a Frobnicate=yes' "$U/geostage-enrolld.service" \
	>"$R/usr/lib/systemd/system/geostage-broken.service"
rc=0
systemd-analyze verify --man=no --root="$R" geostage-broken.service \
	>"$T/broken.out" 2>&1 || rc=$?
if ! grep -q Frobnicate "$T/broken.out" ||
	! grep -q geostage-missing "$T/broken.out"; then
	fail "verify did not notice a broken unit (exit $rc): $(cat "$T/broken.out")"
fi
rm -f "$R/usr/lib/systemd/system/geostage-broken.service"

# --- security -----------------------------------------------------------------
for u in "${UNITS[@]}"; do
	[ -n "${LIMIT[$u]:-}" ] || continue
	rc=0
	systemd-analyze security --offline=yes --root="$R" --no-pager \
		--threshold="${LIMIT[$u]}" "$u" >"$T/security.out" 2>&1 || rc=$?
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
		"$T/security.out")
	[ -n "$score" ] || {
		cat "$T/security.out"
		fail "$u: no exposure level in systemd-analyze security's output"
	}
	limit=$((LIMIT[$u] / 10)).$((LIMIT[$u] % 10))
	if [ "$rc" -ne 0 ]; then
		grep '✗' "$T/security.out"
		fail "$u: exposure $score, above $limit (exit $rc)"
	fi
	log "$u: exposure $score (at most $limit)"
done

# ...and it can fail: the same service without its sandbox.
sed -n '1,/^# Sandbox/p' "$U/geostage-bootstrap.service" \
	>"$R/usr/lib/systemd/system/geostage-bare.service"
if systemd-analyze security --offline=yes --root="$R" --no-pager \
	--threshold=20 geostage-bare.service >/dev/null 2>&1; then
	fail "security --threshold=20 passed an unsandboxed service"
fi
rm -f "$R/usr/lib/systemd/system/geostage-bare.service"

# --- what the units promise -----------------------------------------------------
# key FILE KEY: every value of KEY= in FILE, one per line.
key() { sed -n "s/^$2=//p" "$U/$1"; }
has() { # FILE KEY VALUE
	key "$1" "$2" | grep -qxF -- "$3" || fail "$1: no $2=$3"
}

E=geostage-enrolld.service
if grep -Eq '^(After|Before|Requires|Wants|BindsTo|PartOf|Requisite|Upholds)=.*cloud-(init|final|config)' \
	"$U/$E" "$U/geostage-enrolld.path"; then
	fail "$E is ordered against cloud-init's units: deadlock with runcmd's start"
fi
has "$E" Type notify
has "$E" ExecStart "/usr/bin/geostage-enrolld run"
has "$E" LoadCredential geostage-token:/etc/geostage/token
has "$E" ConditionPathExists '!/var/lib/geostage-enrolld/done'
has "$E" ConditionPathExists '|/etc/geostage/token'
has "$E" StateDirectory geostage-enrolld
has "$E" WantedBy multi-user.target
key "$E" User | grep -q . && fail "$E must run as root"
has geostage-enrolld.path PathChanged /etc/geostage/token

S=geostage-bootstrap.service
has "$S" Type notify
has "$S" User geostage
has "$S" StateDirectory geostage-bootstrap
has "$S" StateDirectoryMode 0710
key "$S" WatchdogSec | grep -q . || fail "$S: no WatchdogSec="
key "$S" DynamicUser | grep -qix yes && fail "$S: DynamicUser= (OpenVPN needs a stable group)"
has geostage-bootstrap.socket ListenStream 8443

printf 'PASS: %s\n' "$TEST_NAME"
