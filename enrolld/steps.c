/* SPDX-License-Identifier: MIT */
/* The step table, in order. Steps without a run function are reported as
 * not_implemented: never as done. */
#include "config.h"

#include <stdarg.h>

#include "log.h"
#include "steps.h"

#define SEC_USEC UINT64_C(1000000)

static const struct step steps[_STEP_MAX] = {
	[STEP_PREFLIGHT] = {STEP_PREFLIGHT, step_preflight, false, 0,
			    "checking the token and this host"},
	[STEP_ENROLL] = {STEP_ENROLL, step_enroll, true, 300 * SEC_USEC,
			 "redeeming the token with the bootstrap server"},
	[STEP_PACKAGES] = {STEP_PACKAGES, NULL, true, 1800 * SEC_USEC,
			   "installing the container runtime and kubeadm"},
	[STEP_HOST] = {STEP_HOST, NULL, false, 0, "preparing the host"},
	[STEP_NETWORK] = {STEP_NETWORK, NULL, true, 300 * SEC_USEC,
			  "bringing up the VPN or site routes"},
	[STEP_GATE] = {STEP_GATE, NULL, true, 300 * SEC_USEC,
		       "checking the API server is reachable"},
	[STEP_JOIN] = {STEP_JOIN, NULL, true, 900 * SEC_USEC,
		       "joining the cluster"},
	[STEP_DONE] = {STEP_DONE, step_finish, false, 0, "finishing"},
};

const struct step *
steps_get(enum step_id id)
{
	return (unsigned)id < _STEP_MAX ? &steps[id] : NULL;
}

void
step_message(struct step_ctx *ctx, const char *fmt, ...)
{
	char raw[sizeof(ctx->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	agent_sanitize(ctx->message, sizeof(ctx->message), raw);
}

int
step_fail(struct step_ctx *ctx, enum agent_fail fail, int r, const char *fmt,
	  ...)
{
	char raw[sizeof(ctx->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	agent_sanitize(ctx->message, sizeof(ctx->message), raw);
	ctx->fail = fail;
	return r < 0 ? r : -EIO;
}

/* Reached only when every step before it is done. */
int
step_finish(struct step_ctx *ctx)
{
	const struct agent_state *s = &ctx->agent->state;

	step_message(ctx, "node %s of site %s is enrolled and joined", s->node,
		     s->site);
	return 0;
}
