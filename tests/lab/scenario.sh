#!/usr/bin/env bash
# Lab test: the multi-site scenario of issue 3, real end to end (what runs
# where: lib/geostage.sh).
#  1. sites tokyo and frankfurt (routed, gateways .10), solo (direct) for
#     the standalone host; master prefix 192.168.10.0/24; a one-use token
#     per container; the containers have no route to any Debian mirror.
#  2. before: no site reaches another site's LAN or the API endpoint.
#  3. the gateways enroll (OpenVPN client with the site LAN's iroute,
#     ip_forward), then a node behind each gateway (routed: routes via the
#     gateway) and the standalone host (direct: its own tunnel).
#  4. after: node list shows every node done with per-step timings; every
#     node has kubelet.conf from the kubeadm STAND-IN, whose log shows it
#     validated the JoinConfiguration; the API STAND-IN lists every Node
#     with the right node-ip; every node reaches the API over TLS and
#     pings every other node.
#  5. node revoke of the standalone host: its session drops within 5 s,
#     it cannot reconnect, its Node is deleted, its mTLS gets 403, the
#     others are unaffected.
#  6. crash convergence on a fresh node: kill -9 of the agent inside every
#     step (twice in packages and join), of the server with an enrollment
#     pending; it converges with one token use spent.
# Exit 77 (skip) without root, /dev/net/tun or the in-tree binaries.
LAB_TEST_NAME=scenario
. "$(dirname "$0")/lib/geostage.sh"

# GS_PHASES (for working on one part): a subset of "enroll revoke crash".
: "${GS_PHASES:=enroll revoke crash}"
phase() { [[ " $GS_PHASES " == *" $1 "* ]]; }

gs_prereqs
lab_init
gs_setup
gs_phase_before
gs_matrix_print before "reachability before enrollment (LAN or public addresses):" \
	GS_LANADDR "${GS_MAIN[@]}" >&2
if phase enroll; then
	gs_enroll_all
	gs_phase_enrolled
	gs_matrix_print after "reachability after enrollment (node-ips):" GS_NODEIP "${GS_MAIN[@]}" >&2
	B node list >&2
	echo "per-node add time (agent start -> done) and per-step durations (s):" >&2
	gs_node_table "${GS_MAIN[@]}" >&2
fi
if phase enroll && phase revoke; then
	lab_time_start revoke
	gs_phase_revoke solo
	lab_time_end revoke "revoke solo, with its refused reconnection"
fi
if phase crash; then
	gs_phase_crash
	echo "crash node: where each kill -9 landed:" >&2
	printf '  %s\n' "${GS_KILLS[@]}" >&2
	gs_node_table "${GS_CRASH_SPEC%% *}" >&2
fi
lab_timings
echo "PASS: $LAB_TEST_NAME ($(lab_elapsed "$_LAB_T0") s)"
