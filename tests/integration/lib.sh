# shellcheck shell=bash
# Shared helpers for the integration tests (tests/integration/*.sh).
#
# Sourcing this file gives the test:
#   - its own temp dir $T, removed on exit (kept when KEEP=1), with its own
#     copy of the binaries;
#   - a trap that kills every process the test started (bg_start,
#     server_start, run_parallel) by PID, on success, failure and
#     interrupt;
#   - server helpers: init a state dir, start `serve` on 127.0.0.1 with a
#     port file (no sleeps), on port 0 or on a port from free_port, stop
#     it (exit 0 and no sanitizer report required);
#   - HTTP helpers over curl with the server's own certificate as the
#     only trust anchor, and raw requests over `openssl s_client`;
#   - token helpers (decode, sign with openssl), agent helpers (config,
#     one run, many runs with bounded parallelism);
#   - assertions that say what was expected and what was seen.
#
# Every loop is bounded in count and time; `fail` and `skip` work from
# $(...) and background subshells too.
#
# Exit codes: 0 pass, 1 fail, 77 skip (with the reason printed).
# make check exports top_srcdir and top_builddir (where the binaries are);
# run by hand: top_builddir=$PWD top_srcdir=$PWD bash tests/integration/X.sh

set -u
set -o pipefail

: "${top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
BOOTSTRAP=$top_builddir/geostage-bootstrap
ENROLLD=$top_builddir/geostage-enrolld
TEST_NAME=$(basename "$0" .sh)

# make check sets these; the same when a test is run by hand.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Keep the tests independent of the caller's environment.
unset GEOSTAGE_STATE_DIR GEOSTAGE_LOG_LEVEL CREDENTIALS_DIRECTORY \
	JOURNAL_STREAM NOTIFY_SOCKET LISTEN_FDS LISTEN_PID 2>/dev/null || true

PIDS=()       # every background process this test started
PORT_LOCKS=() # fixed ports this test claimed (see free_port)
SERVER_LOGS=() # shown when the test fails
_TEST_START=$SECONDS

log() { printf '# %s\n' "$*"; }

# skip and fail also work inside $(...) and background subshells: they
# signal the test's main shell, whose trap ends the test.
skip() {
	printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*" >&2
	[ "$BASHPID" = "$$" ] || kill -USR1 "$$"
	exit 77
}

fail() {
	printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
	[ "$BASHPID" = "$$" ] || kill -TERM "$$"
	exit 1
}

# pass: stops the current server (it must exit 0), checks every server log
# for sanitizer reports, and ends the test.
pass() {
	local l
	if [ -n "${SERVER_PID:-}" ] && [[ " ${PIDS[*]} " == *" $SERVER_PID "* ]]; then
		server_stop
	fi
	for l in "${SERVER_LOGS[@]}"; do
		sanitizer_check "$l"
	done
	printf 'PASS: %s (%ds)\n' "$TEST_NAME" $((SECONDS - _TEST_START))
	exit 0
}

_cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM HUP USR1
	trap '' PIPE # a closed stdout must not stop the cleanup
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true # if a test stopped it
	done
	# Bounded: 50 x 0.1 s, then SIGKILL what is left.
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for i in "${PORT_LOCKS[@]}"; do
		rm -rf "$i"
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${T:-}" ] &&
		[ -d "$T" ]; then
		# Server logs help more than anything else in a failure.
		for i in "${SERVER_LOGS[@]}"; do
			[ -f "$i" ] || continue
			echo "--- $i (last 40 lines)"
			tail -n 40 "$i"
		done
	fi
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if [ "${KEEP:-0}" = 1 ]; then
			echo "# kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE
trap 'exit 77' USR1

T=$(mktemp -d "${TMPDIR:-/tmp}/geostage-$TEST_NAME.XXXXXX") ||
	fail "cannot create a temp dir"
chmod 700 "$T"

# --- prerequisites ----------------------------------------------------------

need_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "needs '$c' (not installed)"
	done
}

# The binaries are copied into $T/bin first: a test runs one build from
# start to end even when the tree is rebuilt meanwhile.
need_bootstrap() {
	[ -x "$BOOTSTRAP" ] || skip "$BOOTSTRAP is not built"
	mkdir -p "$T/bin"
	cp "$BOOTSTRAP" "$T/bin/" || fail "cannot copy $BOOTSTRAP"
	BOOTSTRAP=$T/bin/geostage-bootstrap
}

need_agent() {
	[ -x "$ENROLLD" ] || skip "$ENROLLD is not built"
	mkdir -p "$T/bin"
	cp "$ENROLLD" "$T/bin/" || fail "cannot copy $ENROLLD"
	ENROLLD=$T/bin/geostage-enrolld
}

need_cmds curl openssl jq sqlite3 timeout
need_bootstrap

# --- processes ---------------------------------------------------------------

# bg_start LOGFILE CMD...: runs CMD in the background (output appended to
# LOGFILE), remembers its PID in BG_PID and in PIDS for the cleanup trap.
bg_start() {
	local logf=$1
	shift
	"$@" >>"$logf" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# stop_pid PID [SIGNAL]: signals PID and waits for it (bounded: 10 s, then
# SIGKILL). Sets STOP_RC to its exit status.
stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null || true
	kill -CONT "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	STOP_RC=0
	wait "$pid" 2>/dev/null || STOP_RC=$?
	_forget_pid "$pid"
}

_forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# wait_pids SECONDS PID...: waits for every PID, at most SECONDS in all;
# fails the test when one is still running then.
wait_pids() {
	local limit=$1 pid end
	shift
	end=$((SECONDS + limit))
	for pid in "$@"; do
		while kill -0 "$pid" 2>/dev/null; do
			[ "$SECONDS" -lt "$end" ] ||
				fail "process $pid still running after ${limit}s"
			sleep 0.1
		done
	done
}

# --- ports --------------------------------------------------------------------

# free_port: sets FREE_PORT to a TCP port that nothing on 127.0.0.1 uses, from
# 20000-32767 (below the kernel's ephemeral range, so the kernel's own
# bind(0) never hands it out), claimed with an atomic mkdir so that
# parallel tests never pick the same one. The claim ends with the test.
# Not in $(...): the claim must be recorded in the test's own shell.
free_port() {
	local i port lock
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
		lock=${TMPDIR:-/tmp}/geostage-it-port-$port
		mkdir "$lock" 2>/dev/null || continue
		if port_in_use "$port"; then
			rm -rf "$lock"
			continue
		fi
		PORT_LOCKS+=("$lock")
		FREE_PORT=$port
		return 0
	done
	fail "no free port found in 200 tries"
}

# port_in_use PORT: true when a socket is bound to PORT (any state but
# TIME_WAIT and CLOSE).
port_in_use() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p &&
		$4 != "06" && $4 != "07" { found = 1 } END { exit !found }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# --- the server -----------------------------------------------------------

# server_init DIR [init options]: a state dir for 127.0.0.1 with one site
# "tokyo". The URL's port is a placeholder until server_start.
server_init() {
	local dir=$1
	shift
	"$BOOTSTRAP" init --state-dir "$dir" --url https://127.0.0.1:1 \
		--vpn-network 10.99.0.0/16 --vpn-remote 127.0.0.1:1194 "$@" \
		>"$dir.init.out" 2>&1 || {
		cat "$dir.init.out"
		fail "init $dir failed"
	}
	"$BOOTSTRAP" site add tokyo --state-dir "$dir" \
		--prefix 192.168.20.0/24 >/dev/null ||
		fail "site add tokyo in $dir failed"
}

# server_conf DIR KEY VALUE: sets a bootstrap.conf setting (before serve).
server_conf() {
	local dir=$1 key=$2 value=$3
	sed -i "/^$key *=/d" "$dir/bootstrap.conf"
	echo "$key = $value" >>"$dir/bootstrap.conf"
}

# server_start DIR [PORT]: serves DIR on 127.0.0.1:PORT (default 0: the
# kernel picks), waits (bounded) for the port file, points the state dir's
# url at that port so that tokens created from now on name it. Sets
# SERVER_PID and SERVER_PORT; the log is DIR.log. Returns 1 (without
# failing the test) when the server exits before it listens.
server_start() {
	local dir=$1 port=${2:-0} i
	rm -f "$dir.port"
	local -a envs=()
	[ -z "${SERVER_ENV:-}" ] || read -ra envs <<<"$SERVER_ENV"
	bg_start "$dir.log" env "${envs[@]}" "$BOOTSTRAP" serve \
		--state-dir "$dir" --listen "127.0.0.1:$port" \
		--port-file "$dir.port"
	SERVER_PID=$BG_PID
	SERVER_LOG=$dir.log
	[[ " ${SERVER_LOGS[*]} " == *" $dir.log "* ]] || SERVER_LOGS+=("$dir.log")
	for ((i = 0; i < 300; i++)); do # 30 s: ASan start-up is slow
		if [ -s "$dir.port" ]; then
			SERVER_PORT=$(cat "$dir.port")
			server_conf "$dir" url "https://127.0.0.1:$SERVER_PORT"
			return 0
		fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			wait "$SERVER_PID" 2>/dev/null
			_forget_pid "$SERVER_PID"
			return 1
		fi
		sleep 0.1
	done
	fail "server on $dir wrote no port file in 30 s"
}

# server_start_ok DIR [PORT]: server_start or fail the test.
server_start_ok() {
	server_start "$@" || {
		cat "$1.log"
		fail "server on $1 exited before listening"
	}
}

# server_stop: SIGTERM; the server must exit 0 and its log must hold no
# sanitizer report (leaks are reported at exit).
server_stop() {
	stop_pid "$SERVER_PID" TERM
	sanitizer_check "$SERVER_LOG"
	[ "$STOP_RC" = 0 ] ||
		fail "the server ($SERVER_LOG) exited $STOP_RC on SIGTERM"
}

# sanitizer_check LOGFILE: fails on an ASan/UBSan/LSan report in LOGFILE.
sanitizer_check() {
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$1"; then
		grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1" | head -n 40
		fail "sanitizer report in $1"
	fi
}

# token_create DIR [options]: prints a new token.
token_create() {
	local dir=$1
	shift
	"$BOOTSTRAP" token create --state-dir "$dir" "$@" ||
		fail "token create $* failed"
}

# token_id TOKEN: the jti, read from the payload (no verification).
token_id() {
	jwt_payload "$1" | jq -r .jti
}

b64url_decode() {
	local s=$1
	s=$(printf '%s' "$s" | tr '_-' '/+')
	case $((${#s} % 4)) in
	2) s="$s==" ;;
	3) s="$s=" ;;
	esac
	printf '%s' "$s" | openssl base64 -d -A
}

b64url_encode() {
	openssl base64 -A | tr '/+' '_-' | tr -d '='
}

jwt_payload() {
	local p
	p=$(printf '%s' "$1" | cut -d. -f2)
	b64url_decode "$p"
}

# sql DIR QUERY: one sqlite3 query against the state dir's database,
# read-only.
sql() {
	sqlite3 -readonly -batch -noheader "$1/geostage.db" "$2"
}

# --- HTTP ---------------------------------------------------------------------

# http DIR METHOD PATH [curl options]: a request to the server of DIR,
# trusting only its tls.crt. Prints the status code; the body is in
# $T/body, the response headers in $T/headers.
http() {
	local dir=$1 method=$2 path=$3
	shift 3
	curl -sS -o "$T/body" -D "$T/headers" -w '%{http_code}' \
		--max-time 20 --cacert "$dir/tls.crt" -X "$method" "$@" \
		"https://127.0.0.1:$SERVER_PORT$path" 2>"$T/curl.err" ||
		{
			# Transport errors print "000" plus curl's reason.
			true
		}
}

# body_error: the "error" member of the last body.
body_error() {
	jq -r .error "$T/body" 2>/dev/null
}

# header NAME: a header of the last response (case-insensitive).
header() {
	awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" -F': *' '
		{ k = tolower($1) } k == n { sub(/\r$/, ""); sub(/^[^:]*: */, "");
		print; exit }' "$T/headers"
}

# new_csr DIR: a P-256 key and CSR, as the agent makes (openssl as the
# independent implementation): DIR/node.key, DIR/node.csr.
new_csr() {
	mkdir -p "$1"
	if ! openssl ecparam -name prime256v1 -genkey -noout \
		-out "$1/node.key" 2>/dev/null ||
		! openssl req -new -key "$1/node.key" -subj "/CN=ignored" \
			-out "$1/node.csr" 2>/dev/null; then
		fail "openssl cannot make a CSR"
	fi
}

# enroll_body CSRFILE HOSTNAME [NAME]: the JSON body of POST /v1/enroll.
enroll_body() {
	if [ $# -ge 3 ]; then
		jq -n --rawfile csr "$1" --arg h "$2" --arg n "$3" \
			'{csr: $csr, hostname: $h, name: $n}'
	else
		jq -n --rawfile csr "$1" --arg h "$2" '{csr: $csr, hostname: $h}'
	fi
}

# enroll_curl SERVERDIR TOKEN CSRFILE HOSTNAME: POST /v1/enroll; prints the
# status, body in $T/body.
enroll_curl() {
	enroll_body "$3" "$4" >"$T/enroll.json"
	http "$1" POST /v1/enroll -H "Authorization: Bearer $2" \
		-H 'Content-Type: application/json' --data-binary @"$T/enroll.json"
}

# --- the agent ----------------------------------------------------------------

# agent_conf FILE [key=value...]: an agent config with a small retry
# budget, so that a failing test ends quickly.
agent_conf() {
	local f=$1 kv k
	shift
	local -A vals=([retry_attempts]=3 [retry_initial_ms]=100 [retry_max_ms]=500
		[connect_timeout]=5 [request_timeout]=20)
	for kv in "$@"; do
		vals[${kv%%=*}]=${kv#*=}
	done
	for k in "${!vals[@]}"; do
		echo "$k = ${vals[$k]}"
	done >"$f"
}

# write_token FILE TOKEN: the token in a 0600 file, as the docs ask.
write_token() {
	(umask 077 && printf '%s\n' "$2" >"$1")
}

# --- assertions -----------------------------------------------------------

assert_eq() { # EXPECTED ACTUAL WHAT
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_ne() { # UNEXPECTED ACTUAL WHAT
	[ "$1" != "$2" ] || fail "$3: expected anything but '$1'"
}

assert_match() { # REGEX ACTUAL WHAT
	[[ $2 =~ $1 ]] || fail "$3: '$2' does not match /$1/"
}

# assert_http EXPECTED_STATUS EXPECTED_ERROR ACTUAL_STATUS WHAT: status
# and the JSON error code of $T/body ("-" for a body without one).
assert_http() {
	local err
	if [ "$1" != "$3" ]; then
		fail "$4: expected HTTP $1, got $3; body: $(head -c 300 "$T/body" 2>/dev/null) $(cat "$T/curl.err" 2>/dev/null)"
	fi
	err=$(body_error)
	[ -n "$err" ] && [ "$err" != null ] || err=-
	[ "$2" = "$err" ] ||
		fail "$4: HTTP $3 as expected, but error '$err' instead of '$2'; body: $(head -c 300 "$T/body")"
}

# assert_mode MODE FILE: octal permission bits.
assert_mode() {
	local m
	m=$(stat -c %a "$2") || fail "no $2"
	[ "$m" = "$1" ] || fail "$2: mode $m, expected $1"
}

# raw_request FILE: sends FILE's bytes, as they are, over TLS to the
# server (for requests curl will not make: NUL bytes, framing tricks) and
# prints the answer's status code (000 for none). The answer is in
# $T/raw.out, its body in $T/body. FILE should ask for Connection: close.
raw_request() {
	timeout 15 openssl s_client -connect "127.0.0.1:$SERVER_PORT" -quiet \
		-verify_quiet <"$1" >"$T/raw.out" 2>"$T/raw.err" || true
	awk 'BEGIN { RS = "\r\n\r\n" } NR > 1 { printf "%s", $0 }' \
		"$T/raw.out" >"$T/body"
	awk 'NR == 1 && /^HTTP\/1\.[01] [0-9][0-9][0-9] / { print $2; found = 1 }
		END { if (!found) print "000" }' "$T/raw.out"
}

# sql_write DIR STATEMENT: changes the database behind the server's back
# (to simulate time passing, say), waiting for its lock.
sql_write() {
	sqlite3 -batch -cmd ".timeout 10000" "$1/geostage.db" "$2" >/dev/null ||
		fail "sqlite3: $2"
}

# jws_sign HEADER PAYLOAD KEYFILE: a compact JWS over the given JSON texts
# (as they are), signed by openssl with an Ed25519 key: tokens the server
# never issued, made by an independent implementation.
jws_sign() {
	local h p
	h=$(printf '%s' "$1" | b64url_encode)
	p=$(printf '%s' "$2" | b64url_encode)
	printf '%s.%s' "$h" "$p" >"$T/jws-input"
	openssl pkeyutl -sign -inkey "$3" -rawin -in "$T/jws-input" \
		-out "$T/jws-sig" 2>"$T/openssl.err" ||
		fail "openssl cannot sign with $3: $(cat "$T/openssl.err")"
	printf '%s.%s.%s\n' "$h" "$p" "$(b64url_encode <"$T/jws-sig")"
}

# jwt_header TOKEN: the decoded header.
jwt_header() {
	b64url_decode "$(printf '%s' "$1" | cut -d. -f1)"
}

# run_agent NAME TOKENFILE [extra options]: runs the agent with
# $T/agent.conf and state dir $T/agent-NAME, --until enroll, bounded by 120
# s; prints its exit code; its log is $T/agent-NAME.log.
run_agent() {
	local name=$1 tf=$2 rc=0
	shift 2
	[ -f "$T/agent.conf" ] || agent_conf "$T/agent.conf"
	timeout 120 "$ENROLLD" --config "$T/agent.conf" --token-file "$tf" \
		--state-dir "$T/agent-$name" --until enroll "$@" \
		>"$T/agent-$name.out" 2>"$T/agent-$name.log" || rc=$?
	echo "$rc"
}

# run_parallel MAX COUNT FUNC: runs `FUNC I` for I in 1..COUNT in the
# background, at most MAX at a time, and sets RC[I] to each exit status.
# FUNC should `exec` its last command, so that the PID the cleanup trap
# holds is the program's own. PIDs leave PIDS as soon as they are reaped
# (a reaped PID may be reused by another process).
run_parallel() {
	local max=$1 count=$2 func=$3 i=0 pid rc
	local -A idx=()
	RC=()
	while ((i < count || ${#idx[@]} > 0)); do
		while ((i < count && ${#idx[@]} < max)); do
			i=$((i + 1))
			"$func" "$i" &
			PIDS+=("$!")
			idx[$!]=$i
		done
		rc=0
		wait -n -p pid "${!idx[@]}" || rc=$?
		if [ -z "${pid:-}" ] || [ -z "${idx[$pid]:-}" ]; then
			fail "wait -n returned no PID of ours"
		fi
		RC[${idx[$pid]}]=$rc
		unset "idx[$pid]"
		_forget_pid "$pid"
	done
}

# count_rc CODE: how many RC[] entries equal CODE.
count_rc() {
	local n=0 r
	for r in "${RC[@]}"; do
		[ "$r" = "$1" ] && n=$((n + 1))
	done
	echo "$n"
}

# tcp_established PORT: how many connections to 127.0.0.1:PORT are
# established (as the server's side sees them, accepted or not).
tcp_established() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p &&
		$4 == "01" { n++ } END { print n + 0 }' /proc/net/tcp
}

# server_start_fixed DIR: server_start on a port from free_port (tries a
# few), for tests that restart a server on the same port. Sets SERVER_PORT.
server_start_fixed() {
	local i
	for ((i = 0; i < 5; i++)); do
		free_port
		server_start "$1" "$FREE_PORT" && return 0
	done
	cat "$1.log"
	fail "server on $1 could not listen on a free port in 5 tries"
}

# server_restart DIR PORT: server_start on PORT again, retrying (bounded)
# while the port is still busy.
server_restart() {
	local i
	for ((i = 0; i < 20; i++)); do
		server_start "$1" "$2" && return 0
		sleep 0.2
	done
	cat "$1.log"
	fail "server on $1 could not listen on port $2 again"
}
