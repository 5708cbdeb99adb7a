/* SPDX-License-Identifier: MIT */
/* The step table, in order. Steps without a run function are reported as
 * not_implemented: never as done. */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <time.h>

#include "agent-enroll.h"
#include "crypto.h"
#include "fileio.h"
#include "log.h"
#include "notify.h"
#include "output.h"
#include "plan.h"
#include "progress.h"
#include "retry.h"
#include "steps.h"

#define SEC_USEC UINT64_C(1000000)

static const struct step steps[_STEP_MAX] = {
	[STEP_PREFLIGHT] = {STEP_PREFLIGHT, step_preflight, false, 0,
			    "checking the token and this host"},
	[STEP_ENROLL] = {STEP_ENROLL, step_enroll, true, 300 * SEC_USEC,
			 "redeeming the token with the bootstrap server"},
	[STEP_PACKAGES] = {STEP_PACKAGES, step_packages, true, 1800 * SEC_USEC,
			   "installing the container runtime and kubeadm"},
	[STEP_HOST] = {STEP_HOST, step_host, false, 0, "preparing the host"},
	[STEP_NETWORK] = {STEP_NETWORK, step_network, true, 300 * SEC_USEC,
			  "bringing up the VPN or site routes"},
	[STEP_GATE] = {STEP_GATE, step_gate, true, 300 * SEC_USEC,
		       "checking the API server is reachable"},
	[STEP_JOIN] = {STEP_JOIN, step_join, true, 900 * SEC_USEC,
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

void
step_appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strnlen(buf, size);
	va_list ap;

	if (n + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

void
step_progress(struct step_ctx *ctx, const char *fmt, ...)
{
	struct step_record *rec = &ctx->agent->state.steps[ctx->id];
	char raw[STATE_MESSAGE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	state_set_message(rec, raw);
	log_info("%s: %s", step_name(ctx->id), rec->message);
	notify_step(ctx->id, rec->message);
	progress_running(ctx->agent, ctx->id);
}

int
step_spawn(struct step_ctx *ctx, enum agent_fail fail, const char *const *argv,
	   const char *const *env, unsigned timeout_s, struct spawn_result *ret)
{
	struct spawn_opts o = {
		.argv = argv, .env = env, .timeout_ms = timeout_s * 1000};
	int r;

	/* Room for the program and the kill that may follow. */
	notify_extend_timeout(((uint64_t)timeout_s + 30) * SEC_USEC);
	r = spawn_run(&o, ret);
	if (r < 0)
		return step_fail(ctx, fail, r, "cannot run %s: %s", argv[0],
				 r == -EINVAL ? "not an absolute path"
					      : strerror(-r));
	return 0;
}

int
step_fail_spawn(struct step_ctx *ctx, enum agent_fail fail, const char *what,
		const char *const *argv, const struct spawn_result *res,
		unsigned timeout_s)
{
	char how[96], line[256];

	spawn_describe(res, timeout_s * 1000, how, sizeof(how));
	spawn_reason_line(res->err && res->err[0] ? res->err : res->out, line,
			  sizeof(line));
	return step_fail(ctx, fail, -EIO, "%s: %s %s%s%s", what, argv[0], how,
			 line[0] ? ": " : "", line);
}

int
step_run(struct step_ctx *ctx, enum agent_fail fail, const char *what,
	 const char *const *argv, const char *const *env, unsigned timeout_s)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	int r;

	r = step_spawn(ctx, fail, argv, env, timeout_s, &res);
	if (r < 0)
		return r;
	if (!spawn_succeeded(&res))
		return step_fail_spawn(ctx, fail, what, argv, &res, timeout_s);
	return 0;
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void
step_back_off(struct step_ctx *ctx, unsigned round, int64_t retry_after_s,
	      uint64_t budget_s, const char *why)
{
	const struct agent_conf *conf = ctx->agent->conf;
	struct retry_policy p = {conf->retry_initial_ms, conf->retry_max_ms,
				 conf->retry_attempts};
	uint64_t rnd = 0, delay;
	char when[32];

	(void)crypto_random_u64(&rnd);
	delay = retry_delay_ms(&p, round - 1, retry_after_s, rnd);
	format_duration_ms((long long)delay, when, sizeof(when));
	log_notice("%s: attempt %u failed; retrying in %s", step_name(ctx->id),
		   round, when);
	notify_status("step %d/%d: %s - %s; retrying in %s", (int)ctx->id + 1,
		      (int)_STEP_MAX, step_name(ctx->id), why, when);
	notify_extend_timeout((delay + budget_s * 1000) * 1000);
	sleep_ms(delay);
}

int
step_load_plan(struct step_ctx *ctx)
{
	const char *dir = ctx->agent->conf->state_dir;
	int r;

	if (ctx->plan)
		return 0;
	r = plan_load(dir, &ctx->plan);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r,
				 "cannot read the enrollment %s/%s: %s", dir,
				 ENROLL_ANSWER_FILE,
				 r == -EBADMSG ? "not a JSON object"
					       : agent_file_error(r));
	return 0;
}

/* Reached only when every step before it is done. The runner leaves the
 * done marker once this step's outcome is saved and reported
 * (steps_mark_done). */
int
step_finish(struct step_ctx *ctx)
{
	const struct agent_state *s = &ctx->agent->state;

	step_message(ctx, "node %s of site %s is enrolled and joined", s->node,
		     s->site);
	return 0;
}

/* The marker lets the unit skip later boots (ConditionPathExists=!
 * STATE_DIR/done). Written last, after state.json says every step is done
 * and the server was told, so that a crash before it leaves the unit free
 * to run once more and finish the job (an earlier order, marker first,
 * could leave a node that never reported done and never ran again). */
int
steps_mark_done(struct agent *a)
{
	char path[PATH_MAX], text[160];
	int r;

	r = agent_path(a, STEPS_DONE_FILE, path, sizeof(path));
	if (r < 0)
		return log_error_errno(r, "cannot name the done marker: %s",
				       strerror(-r));
	snprintf(text, sizeof(text), "node %s site %s\n", a->state.node,
		 a->state.site);
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		return log_error_errno(r, "cannot write %s: %s", path,
				       strerror(-r));
	return 0;
}
