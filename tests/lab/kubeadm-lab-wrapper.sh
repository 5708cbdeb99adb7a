#!/bin/sh
# Lab wrapper around the kubeadm STAND-IN inside a lab container (the
# agent's enrolld.conf points `kubeadm =` here; see lib/geostage.sh).
#
# 1. Keeps kubeadm's own output in /var/log/geostage-lab/kubeadm.log
#    (0600): the agent keeps only a failure's last line, and the lab wants
#    to see that the stand-in validated the JoinConfiguration and wrote
#    kubelet.conf. The stand-in never echoes a token.
# 2. Keeps a copy of the JoinConfiguration of each `kubeadm join --config
#    FILE` in /var/log/geostage-lab/join-config.json (0600), with every
#    string shaped like a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16])
#    replaced by "<redacted>": the lab checks its fields itself.
# 3. For the crash test only: when /run/geostage-lab/hold-after-join
#    exists, a successful `kubeadm join` is followed by a long sleep
#    (announced by /run/geostage-lab/held-after-join), so that the test
#    can kill -9 the agent after kubeadm finished but before the agent
#    recorded it: a half-finished join, which the next run must undo with
#    kubeadm reset -f before it joins again.
# Output and exit status are kubeadm's.
set -u
log_dir=/var/log/geostage-lab
log=$log_dir/kubeadm.log
hold=/run/geostage-lab/hold-after-join
held=/run/geostage-lab/held-after-join
real=/usr/bin/kubeadm

umask 077
mkdir -p "$log_dir"
tmp=$(mktemp -d /run/geostage-kubeadm.XXXXXX) || exec "$real" "$@"
if [ "${1:-}" = join ] && [ "${2:-}" = --config ] && [ -f "${3:-}" ]; then
	sed -E 's/[a-z0-9]{6}\.[a-z0-9]{16}/<redacted>/g' "$3" >"$log_dir/join-config.json"
fi
"$real" "$@" >"$tmp/out" 2>"$tmp/err"
rc=$?
{
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%S.%NZ) kubeadm $1: exit $rc"
	cat "$tmp/out" "$tmp/err"
} >>"$log"
cat "$tmp/out"
cat "$tmp/err" >&2
rm -rf "$tmp"
if [ "$rc" -eq 0 ] && [ "${1:-}" = join ] && [ -e "$hold" ]; then
	rm -f "$hold"
	: >"$held"
	sleep 300
fi
exit "$rc"
