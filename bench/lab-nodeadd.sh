#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/lab-nodeadd.sh — part 2 of bench/lab: node add time per node, per
# step, in the lab. Run by bench/lab; see docs/BENCHMARKS.md.
#
# Reuses the lab scenario's own code (tests/lab/lib/geostage.sh) up to the
# enrolled state, and nothing after it: booted containers with the agent
# (real systemd), the real server, OpenVPN from `vpn server-config`, the
# Kubernetes API STAND-IN and the kubeadm/kubelet/kubectl STAND-IN .debs
# in the lab's local apt repository. The gateways of tokyo and frankfurt
# (routed sites) enroll first, in parallel, then a node behind each
# gateway (routed) and the standalone host (direct), in parallel: the
# scenario's order. The scenario's assertions about the enrolled state
# (gs_phase_enrolled) run too, so the timings are those of a correct run.
#
# Writes to $OUT one line per node:
#   node NAME SITE ROLE ADD_S STEP=MS...
# ADD_S is the test host's clock from `systemctl start geostage-enrolld` to
# the agent's done file (polled every 0.25 s); the step durations are the
# agent's own (geostage-enrolld status --json).
# Exit 77 when the lab cannot run here (no root, no /dev/net/tun, binaries
# not built), as the scenario does.

LAB_TEST_NAME=bench-lab-nodeadd
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/.." && pwd)
: "${OUT:?set OUT to the results file}"
[ -f "$TOP/tests/lab/lib/geostage.sh" ] || {
	echo "SKIP: $LAB_TEST_NAME: tests/lab/lib/geostage.sh does not exist (yet)" >&2
	exit 77
}
# shellcheck source=../tests/lab/lib/geostage.sh
. "$TOP/tests/lab/lib/geostage.sh"
for f in gs_prereqs gs_setup gs_phase_before gs_enroll_all gs_phase_enrolled gs_status; do
	declare -F "$f" >/dev/null || {
		echo "SKIP: $LAB_TEST_NAME: tests/lab/lib/geostage.sh has no $f (changed?)" >&2
		exit 77
	}
done

gs_prereqs
lab_init
: >"$OUT"
gs_setup
gs_phase_before
gs_enroll_all
gs_phase_enrolled
for n in "${GS_MAIN[@]}"; do
	steps=$(gs_status "$n" | jq -r '[.steps[] | "\(.name)=\(.duration_ms // "")"] | join(" ")')
	printf 'node %s %s %s %s %s\n' "$n" "${GS_SITE[$n]}" "${GS_ROLE[$n]}" "$(gs_add_time "$n")" "$steps" >>"$OUT"
done
printf 'k8s_version %s\n' "$GS_K8S_VERSION" >>"$OUT"
# What the lab repository held: package, .deb size in bytes.
for f in "$LAB_TMP/debs"/*.deb; do
	printf 'deb %s %s\n' "$(basename "$f" | sed 's/_.*//')" "$(stat -c %s "$f")" >>"$OUT"
done
lab_timings
echo "PASS: $LAB_TEST_NAME ($(lab_elapsed "$_LAB_T0") s)"
