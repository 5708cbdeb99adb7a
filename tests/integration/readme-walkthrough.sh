#!/usr/bin/env bash
# The README's five-minute walkthrough works as written: the shell block
# between <!-- walkthrough:begin --> and <!-- walkthrough:end --> runs from
# the build dir (port 8443 replaced by a free one) and ends with one node
# enrolled: `node list` shows one node, `status` shows enroll done.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
need_agent

readme=$top_srcdir/README.md
[ -f "$readme" ] || fail "no $readme"

# The block: the lines between the markers, without the ``` fences.
awk '/<!-- walkthrough:begin -->/ { on = 1; next }
	/<!-- walkthrough:end -->/ { on = 0 }
	on && !/^```/' "$readme" >"$T/walkthrough.sh"
[ -s "$T/walkthrough.sh" ] || fail "README.md has no walkthrough block"
n=$(grep -c 8443 "$T/walkthrough.sh")
[ "$n" -ge 2 ] || fail "the walkthrough names port 8443 $n times, expected the URL and the listen address"
for cmd in "geostage-bootstrap init" "geostage-bootstrap serve" \
	"token create" "geostage-enrolld" "node list"; do
	grep -q "$cmd" "$T/walkthrough.sh" ||
		fail "the walkthrough no longer runs '$cmd': update this test"
done

free_port
port=$FREE_PORT
# Run as a reader would (cd to the checkout, binaries first on PATH), with
# what a test needs around it: stop at the first failing command, kill its
# background server on any exit, keep mktemp's dir under $T.
{
	echo 'set -e'
	echo 'trap "exit 1" INT TERM'
	# shellcheck disable=SC2016 # expanded by the walkthrough's shell
	echo 'trap '\''for p in $(jobs -p); do kill $p 2>/dev/null; done'\'' EXIT'
	sed "s/8443/$port/g" "$T/walkthrough.sh"
} >"$T/run.sh"

log "running the walkthrough on port $port"
rc=0
(cd "$top_builddir" && PATH=$top_builddir:$PATH TMPDIR=$T \
	exec timeout 120 bash "$T/run.sh") >"$T/out" 2>"$T/walkthrough.log" ||
	rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$T/out"
	fail "the walkthrough exited with $rc"
fi

# status: the enroll step is done.
grep -Eq '^enroll +done ' "$T/out" ||
	{ cat "$T/out"; fail "'geostage-enrolld status' does not show 'enroll done'"; }
grep -Eq '^preflight +done ' "$T/out" ||
	{ cat "$T/out"; fail "'geostage-enrolld status' does not show 'preflight done'"; }

# node list: a header, then exactly one node, in tokyo, with a VPN address
# from --vpn-network 10.99.0.0/16.
awk '/^NAME +SITE +VPN-ADDRESS/ { on = 1; next } on' "$T/out" >"$T/nodes"
grep -q '^NAME ' "$T/out" || { cat "$T/out"; fail "no 'node list' table in the output"; }
assert_eq 1 "$(grep -c . "$T/nodes")" "nodes listed by 'node list'"
read -r name site addr _ <"$T/nodes"
assert_eq tokyo "$site" "the node's site"
assert_match '^10\.99\.[0-9]+\.[0-9]+$' "$addr" "the node's VPN address"
assert_match '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' "$name" "the node's name"
grep -q "^node: *$name\$" "$T/out" ||
	fail "'status' does not name node $name"

# Nothing left behind: the server was killed, the demo dir removed.

leftover=$(find "$T" -mindepth 1 -maxdepth 1 -type d ! -name bin | wc -l)
assert_eq 0 "$leftover" "directories the walkthrough left in \$TMPDIR"
pass
