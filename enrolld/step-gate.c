/* SPDX-License-Identifier: MIT */
/* gate: before asking for a join token, prove that the join can work: the
 * node-ip (the VPN address in direct mode, the LAN address in the site
 * prefix in routed mode) is on an interface, the Kubernetes API endpoint
 * completes a TLS handshake (through the tunnel or the site routes), and
 * this host's clock is within GATE_SKEW_MAX_S of the bootstrap server's
 * (its Date: on /healthz; certificates and tokens need it). A failure is
 * retried with backoff, retry_attempts rounds (0: for ever); the step then
 * fails with the network class. Changes nothing. */
#include "config.h"

#include <arpa/inet.h>
#include <time.h>

#include "client.h"
#include "log.h"
#include "netif.h"
#include "plan.h"
#include "retry.h"
#include "steps.h"

#define GATE_SKEW_MAX_S 60

struct gate {
	struct step_ctx *ctx;
	struct plan_vpn vpn;
	struct plan_kube kube;
	char why[1024]; /* the last failure */
	char node_ip[INET_ADDRSTRLEN];
	char ifname[IF_NAMESIZE];
	long tls_ms;
	int64_t skew_s;
	bool skew_known;
	bool pin_rejected; /* not worth retrying */
};

static bool
node_ip(struct gate *g)
{
	int r;

	if (g->vpn.direct) {
		snprintf(g->node_ip, sizeof(g->node_ip), "%s", g->vpn.address);
		r = netif_find_address(g->vpn.address, g->ifname);
		if (r < 0)
			snprintf(g->why, sizeof(g->why),
				 "the VPN address %s is on no interface",
				 g->vpn.address);
	} else {
		r = netif_address_in(g->vpn.site_prefix, g->node_ip, g->ifname);
		if (r < 0)
			snprintf(g->why, sizeof(g->why),
				 "no interface has an address in the site "
				 "prefix %s",
				 g->vpn.site_prefix);
	}
	return r >= 0;
}

static bool
api_reachable(struct gate *g)
{
	char err[CLIENT_ERROR_MAX];
	int r;

	r = client_tls_probe(g->kube.api_endpoint,
			     g->ctx->agent->conf->connect_timeout_s, &g->tls_ms,
			     err, sizeof(err));
	if (r < 0)
		snprintf(g->why, sizeof(g->why),
			 "no TLS handshake with the API endpoint %s: %s",
			 g->kube.api_endpoint, err);
	return r >= 0;
}

static bool
clock_ok(struct gate *g)
{
	const struct agent *a = g->ctx->agent;
	_cleanup_(client_response_done) struct client_response resp = {0};
	struct client_request req = {
		.base_url = a->state.server,
		.path = "/healthz",
		.pin = a->state.pin,
		.connect_timeout_s = a->conf->connect_timeout_s,
		.request_timeout_s = a->conf->request_timeout_s,
	};
	int r;

	r = client_get(&req, &resp);
	g->pin_rejected = r == -EKEYREJECTED;
	if (r < 0 || resp.status != 200) {
		snprintf(g->why, sizeof(g->why),
			 "cannot ask %s for its time: %s", a->state.server,
			 r < 0 ? resp.error : "no 200 answer");
		return false;
	}
	g->skew_known = resp.date >= 0;
	if (!g->skew_known) {
		log_warning("%s sent no Date: the clock is not checked",
			    a->state.server);
		return true;
	}
	g->skew_s = (int64_t)time(NULL) - resp.date;
	if (g->skew_s >= GATE_SKEW_MAX_S || g->skew_s <= -GATE_SKEW_MAX_S) {
		snprintf(g->why, sizeof(g->why),
			 "this host's clock is %lld s %s the bootstrap "
			 "server's (at most %d s allowed): is NTP running?",
			 (long long)(g->skew_s < 0 ? -g->skew_s : g->skew_s),
			 g->skew_s < 0 ? "behind" : "ahead of",
			 GATE_SKEW_MAX_S);
		return false;
	}
	return true;
}

static int
load(struct gate *g)
{
	char err[AGENT_ERROR_MAX];
	int r;

	r = step_load_plan(g->ctx);
	if (r < 0)
		return r;
	if ((r = plan_vpn_get(g->ctx->plan, &g->vpn, err, sizeof(err))) < 0 ||
	    (r = plan_kube_get(g->ctx->plan, &g->kube, err, sizeof(err))) < 0)
		return step_fail(g->ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	return 0;
}

int
step_gate(struct step_ctx *ctx)
{
	const struct agent_conf *c = ctx->agent->conf;
	struct retry_policy p = {c->retry_initial_ms, c->retry_max_ms,
				 c->retry_attempts};
	struct gate g = {.ctx = ctx};
	unsigned round = 0;
	int r;

	r = load(&g);
	if (r < 0)
		return r;
	for (;;) {
		if (node_ip(&g) && api_reachable(&g) && clock_ok(&g))
			break;
		if (g.pin_rejected)
			return step_fail(ctx, AGENT_FAIL_PIN, -EKEYREJECTED,
					 "%s: the server's TLS key does not "
					 "match the pin %s",
					 ctx->agent->state.server,
					 ctx->agent->state.pin);
		log_warning("gate: %s", g.why);
		round++;
		if (!retry_may_continue(&p, round))
			return step_fail(ctx, AGENT_FAIL_NETWORK, -ETIMEDOUT,
					 "giving up after %u attempts: %s",
					 round, g.why);
		step_back_off(ctx, round, -1,
			      2 * (uint64_t)c->connect_timeout_s +
				      c->request_timeout_s,
			      g.why);
	}
	step_message(ctx,
		     "node-ip %s on %s; API %s answers TLS (%ld ms); clock "
		     "%s%lld s from %s's",
		     g.node_ip, g.ifname, g.kube.api_endpoint, g.tls_ms,
		     g.skew_known ? "skew " : "not checked, skew ",
		     (long long)(g.skew_known ? g.skew_s : 0),
		     ctx->agent->state.server);
	return 0;
}
