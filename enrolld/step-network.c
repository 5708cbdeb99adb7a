/* SPDX-License-Identifier: MIT */
/* network: in direct mode (and on a site gateway) this host runs the
 * tunnel, openvpn-client@geostage with the profile from the enrollment;
 * the step is done when the VPN address is on an interface (OpenVPN says
 * READY before the tunnel exists: the address is what counts). In routed
 * mode the site gateway runs the tunnel; when it is not this host's
 * default route, the routes to the other sites go through it, kept by
 * geostage-routes.service and applied now. */
#include "config.h"

#include <limits.h>
#include <time.h>

#include "agent-enroll.h"
#include "fileio.h"
#include "hostfs.h"
#include "log.h"
#include "netif.h"
#include "plan.h"
#include "notify.h"
#include "steps.h"
#include "vpn.h"

#define PEM_MAX (64 * 1024)
#define POLL_MS 500
#define OVPN_RESTART "pending-openvpn-restart"
#define ROUTES_RESTART "pending-routes-restart"

static int
read_state_file(struct step_ctx *ctx, const char *name, char **ret)
{
	char path[PATH_MAX];
	int r;

	r = agent_path(ctx->agent, name, path, sizeof(path));
	if (r >= 0)
		r = read_file(path, PEM_MAX, ret, NULL);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r,
				 "cannot read %s: %s", path,
				 agent_file_error(r));
	return 0;
}

static int
write_profile(struct step_ctx *ctx, const struct plan_vpn *vpn)
{
	const struct agent *a = ctx->agent;
	_cleanup_free_ char *ca = NULL, *cert = NULL;
	_cleanup_erase_ char *key = NULL, *text = NULL;
	struct vpn_profile p = {
		.node = a->state.node, .site = a->state.site, .vpn = vpn};
	int r;

	if ((r = read_state_file(ctx, ENROLL_CA_FILE, &ca)) < 0 ||
	    (r = read_state_file(ctx, ENROLL_CERT_FILE, &cert)) < 0 ||
	    (r = read_state_file(ctx, ENROLL_KEY_FILE, &key)) < 0)
		return r;
	p.ca = ca;
	p.cert = cert;
	p.key = key;
	r = vpn_render_profile(&p, &text);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r,
				 "cannot make the OpenVPN profile: a "
				 "certificate, the key or tls_crypt is not "
				 "plain PEM");
	r = hostfs_write(agent_root(a->conf), VPN_PROFILE, text, strlen(text),
			 0600);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_NETWORK, r,
				 "cannot write %s: %s", VPN_PROFILE,
				 strerror(-r));
	if (r > 0) {
		log_info("wrote the OpenVPN profile %s", VPN_PROFILE);
		(void)agent_marker_set(a, OVPN_RESTART);
	}
	return 0;
}

/* enable, then restart when the unit's input changed since it last
 * started (the marker survives a crash in between), else start (which
 * does nothing to a running unit). */
static int
start_unit(struct step_ctx *ctx, const char *unit, const char *marker,
	   bool reload)
{
	const struct agent_conf *c = ctx->agent->conf;
	const char *sc = agent_prog(c, PROG_SYSTEMCTL);
	bool pending = agent_marker_exists(ctx->agent, marker);
	const char *daemon_reload[] = {sc, "daemon-reload", NULL};
	const char *enable[] = {sc, "enable", unit, NULL};
	const char *start[] = {sc, pending ? "restart" : "start", unit, NULL};
	int r;

	if (pending && reload &&
	    (r = step_run(ctx, AGENT_FAIL_NETWORK, "reloading systemd",
			  daemon_reload, NULL, c->command_timeout_s)) < 0)
		return r;
	if ((r = step_run(ctx, AGENT_FAIL_NETWORK, "enabling the unit", enable,
			  NULL, c->command_timeout_s)) < 0 ||
	    (r = step_run(ctx, AGENT_FAIL_NETWORK, "starting the unit", start,
			  NULL, c->command_timeout_s)) < 0)
		return r;
	(void)agent_marker_clear(ctx->agent, marker);
	return 0;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The unit's state, for the message when the address never came. */
static void
unit_state(struct step_ctx *ctx, char *buf, size_t size)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *argv[] = {agent_prog(ctx->agent->conf, PROG_SYSTEMCTL),
			      "is-active", VPN_UNIT, NULL};
	struct spawn_opts o = {.argv = argv, .timeout_ms = 10000};

	snprintf(buf, size, "unknown");
	if (spawn_run(&o, &res) == 0)
		spawn_last_line(res.out, buf, size);
}

static int
wait_address(struct step_ctx *ctx, const char *addr, char ifname[IF_NAMESIZE])
{
	unsigned timeout_s = ctx->agent->conf->vpn_timeout_s, waited = 0;
	char state[64];

	notify_extend_timeout(((uint64_t)timeout_s + 30) * 1000000);
	step_progress(ctx, "waiting up to %u s for the VPN address %s",
		      timeout_s, addr);
	for (;;) {
		if (netif_find_address(addr, ifname) == 0)
			return 0;
		if (waited >= timeout_s * 1000)
			break;
		sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
	unit_state(ctx, state, sizeof(state));
	return step_fail(ctx, AGENT_FAIL_NETWORK, -ETIMEDOUT,
			 "the VPN address %s did not appear within %u s (%s "
			 "is %s): see journalctl -u %s",
			 addr, timeout_s, VPN_UNIT, state, VPN_UNIT);
}

static int
direct(struct step_ctx *ctx, const struct plan_vpn *vpn)
{
	char ifname[IF_NAMESIZE];
	int r;

	if ((r = write_profile(ctx, vpn)) < 0 ||
	    (r = start_unit(ctx, VPN_UNIT, OVPN_RESTART, false)) < 0 ||
	    (r = wait_address(ctx, vpn->address, ifname)) < 0)
		return r;
	step_message(ctx, "tunnel up: %s/%u on %s (%s, %zu remote(s))%s%s",
		     vpn->address, vpn->prefix_len, ifname, VPN_UNIT,
		     vpn->n_remotes,
		     vpn->gateway_role ? "; gateway of site " : "",
		     vpn->gateway_role ? ctx->agent->state.site : "");
	return 0;
}

static int
check_routes(struct step_ctx *ctx, const struct plan_vpn *vpn)
{
	const struct agent_conf *c = ctx->agent->conf;
	char via[64];
	size_t i;
	int r;

	snprintf(via, sizeof(via), " via %s ", vpn->gateway);
	for (i = 0; i < vpn->n_routes; i++) {
		_cleanup_(spawn_result_done) struct spawn_result res = {0};
		const char *argv[] = {
			agent_prog(c, PROG_IP), "-4", "route", "show", "exact",
			vpn->routes[i],		NULL};

		r = step_spawn(ctx, AGENT_FAIL_NETWORK, argv, NULL,
			       c->command_timeout_s, &res);
		if (r < 0)
			return r;
		if (!spawn_succeeded(&res) || !strstr(res.out, via))
			return step_fail(ctx, AGENT_FAIL_NETWORK, -ENETUNREACH,
					 "the route to %s via %s is not in "
					 "place after %s started",
					 vpn->routes[i], vpn->gateway,
					 VPN_ROUTES_UNIT);
	}
	return 0;
}

static int
routed(struct step_ctx *ctx, const struct plan_vpn *vpn)
{
	const struct agent *a = ctx->agent;
	_cleanup_free_ char *text = NULL;
	char gw[INET_ADDRSTRLEN] = "";
	int r;

	if (netif_default_gateway(gw) == 0 && streq(gw, vpn->gateway)) {
		step_message(ctx,
			     "routed: the site gateway %s is the default "
			     "route; no routes to add",
			     gw);
		return 0;
	}
	if (vpn->n_routes == 0) {
		step_message(ctx,
			     "routed via %s: the server names no other "
			     "site's network",
			     vpn->gateway);
		return 0;
	}
	r = vpn_render_routes_unit(agent_prog(a->conf, PROG_IP), a->state.site,
				   vpn, &text);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r,
				 "cannot make %s from the routes",
				 VPN_ROUTES_UNIT);
	r = hostfs_write(agent_root(a->conf), VPN_ROUTES_UNIT_FILE, text,
			 strlen(text), 0644);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_NETWORK, r,
				 "cannot write %s: %s", VPN_ROUTES_UNIT_FILE,
				 strerror(-r));
	if (r > 0)
		(void)agent_marker_set(a, ROUTES_RESTART);
	if ((r = start_unit(ctx, VPN_ROUTES_UNIT, ROUTES_RESTART, true)) < 0 ||
	    (r = check_routes(ctx, vpn)) < 0)
		return r;
	step_message(ctx,
		     "routed: %zu route(s) to the other sites via %s "
		     "(%s)",
		     vpn->n_routes, vpn->gateway, VPN_ROUTES_UNIT);
	return 0;
}

int
step_network(struct step_ctx *ctx)
{
	struct plan_vpn vpn;
	char err[AGENT_ERROR_MAX];
	int r;

	r = step_load_plan(ctx);
	if (r < 0)
		return r;
	r = plan_vpn_get(ctx->plan, &vpn, err, sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	return vpn.direct ? direct(ctx, &vpn) : routed(ctx, &vpn);
}
