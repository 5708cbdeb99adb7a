/* SPDX-License-Identifier: MIT */
/* preflight: the token is readable, well-formed and not expired; the state
 * dir is usable; the host's facts can be collected. Changes nothing. */
#include "config.h"

#include <sys/statvfs.h>
#include <time.h>

#include "facts.h"
#include "log.h"
#include "output.h"
#include "steps.h"

#define STATE_DIR_MIN_FREE (1024 * 1024)

static int
check_token(struct step_ctx *ctx)
{
	struct agent *a = ctx->agent;
	char err[AGENT_ERROR_MAX], field[96];
	const struct token_claims *c;
	int r;

	/* Always read it afresh: the operator may just have replaced it. */
	agent_token_free(TAKE_PTR(a->token));
	r = agent_need_token(a, err, sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	c = a->token->claims;
	r = agent_token_check_time(c, (int64_t)time(NULL), err, sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	snprintf(a->state.token_id, sizeof(a->state.token_id), "%s", c->jti);
	snprintf(field, sizeof(field), "TOKEN_ID=%s", c->jti);
	log_event(LOG_INFO, "enrollment token accepted", "STEP=preflight",
		  field, NULL);
	return 0;
}

static int
check_state_dir(struct step_ctx *ctx)
{
	const char *dir = ctx->agent->conf->state_dir;
	char err[AGENT_ERROR_MAX];
	struct statvfs sv;
	int r;

	r = agent_state_dir_check(dir, err, sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	if (statvfs(dir, &sv) < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, negative_errno(),
				 "state dir %s: statvfs: %m", dir);
	if ((unsigned long long)sv.f_bavail * sv.f_frsize < STATE_DIR_MIN_FREE)
		return step_fail(ctx, AGENT_FAIL_OTHER, -ENOSPC,
				 "state dir %s: less than 1 MiB free", dir);
	return 0;
}

int
step_preflight(struct step_ctx *ctx)
{
	struct agent *a = ctx->agent;
	char host[AGENT_HOSTNAME_MAX + 1], name[NAME_MAX_LEN + 1], exp[64];
	const struct token_claims *c;
	struct facts f;
	int r;

	if ((r = check_token(ctx)) < 0 || (r = check_state_dir(ctx)) < 0)
		return r;
	r = agent_hostname(a->conf, host, sizeof(host));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "cannot read the hostname: %s", strerror(-r));
	agent_proposed_name(a->conf, host, name);
	facts_collect(&f);
	c = a->token->claims;
	format_time(c->exp, exp, sizeof(exp));
	step_message(ctx,
		     "token %s for site %s (%s) valid until %s; node name %s; "
		     "%s, %s %s, %u CPUs, %lu MB, %zu addresses, gateway %s",
		     c->jti, c->site, c->role, exp, name,
		     f.os[0] ? f.os : "unknown OS", f.arch, f.kernel, f.cpus,
		     f.mem_mb, f.n_addresses,
		     f.default_route[0] ? f.default_route : "none");
	return 0;
}
