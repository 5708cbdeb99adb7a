/* SPDX-License-Identifier: MIT */
/* The common interface of the agent's steps. A step lives in its own file
 * (step-NAME.c), checks before it acts (it may run again after a crash or a
 * failure), and says what it did or why it failed in ctx->message. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "spawn.h"
#include "state.h"

struct step_ctx {
	struct agent *agent;
	enum step_id id;
	/* What the step did, or why it failed: persisted, reported to the
	 * server and to systemd. */
	char message[STATE_MESSAGE_MAX + 1];
	/* On failure: the class that decides the exit code. */
	enum agent_fail fail;
	/* enroll.json once step_load_plan() read it; the runner frees it.
	 * The plan_* sections point into it. */
	json_t *plan;
};

struct step {
	enum step_id id;
	/* NULL: not implemented yet; the run stops there, honestly. */
	int (*run)(struct step_ctx *ctx);
	/* Long steps report "running" to the server and ask systemd for
	 * timeout_usec more time when they start. */
	bool long_running;
	uint64_t timeout_usec;
	const char *doing; /* "checking the token and this host" */
};

const struct step *steps_get(enum step_id id);

/* Appends to the NUL-terminated text in buf, cutting what does not fit. */
void step_appendf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* Sets ctx->message. */
void step_message(struct step_ctx *ctx, const char *fmt, ...) _printf_(2, 3);
/* Sets ctx->message and ctx->fail and returns r (< 0; -EIO when r is not).
 * The runner logs the message once. */
int step_fail(struct step_ctx *ctx, enum agent_fail fail, int r,
	      const char *fmt, ...) _printf_(4, 5);

/* What a long step is doing now ("installing kubeadm 1.31.2-1.1"): logged,
 * STATUS= to systemd, "running" to the server (best effort). */
void step_progress(struct step_ctx *ctx, const char *fmt, ...) _printf_(2, 3);
/* Runs a program (argv[0] absolute) with env (NULL: the default) for at
 * most timeout_s, asking systemd for that much more time first. 0 when it
 * ran, whatever its status; < 0 (and the step failed with class fail)
 * when it could not be started. */
int step_spawn(struct step_ctx *ctx, enum agent_fail fail,
	       const char *const *argv, const char *const *env,
	       unsigned timeout_s, struct spawn_result *ret);
/* step_spawn that must succeed: otherwise the step fails with class fail
 * and "WHAT: PROGRAM exited with status N: <its last stderr line>". */
int step_run(struct step_ctx *ctx, enum agent_fail fail, const char *what,
	     const char *const *argv, const char *const *env,
	     unsigned timeout_s);
/* The step failed with "WHAT: PROGRAM <how it ended>: <last line>". */
int step_fail_spawn(struct step_ctx *ctx, enum agent_fail fail,
		    const char *what, const char *const *argv,
		    const struct spawn_result *res, unsigned timeout_s);
/* Waits before retry round + 1 (backoff with jitter, or the server's
 * Retry-After when >= 0), telling systemd why and asking for the wait plus
 * budget_s more. */
void step_back_off(struct step_ctx *ctx, unsigned round, int64_t retry_after_s,
		   uint64_t budget_s, const char *why);
/* enroll.json into ctx->plan (once); a failure fails the step
 * (configuration class). */
int step_load_plan(struct step_ctx *ctx);

int step_preflight(struct step_ctx *ctx);
int step_enroll(struct step_ctx *ctx);
int step_packages(struct step_ctx *ctx);
int step_host(struct step_ctx *ctx);
int step_network(struct step_ctx *ctx);
int step_gate(struct step_ctx *ctx);
int step_join(struct step_ctx *ctx);
int step_finish(struct step_ctx *ctx);

/* The marker steps_mark_done leaves in the state dir, for the unit's
 * ConditionPathExists=!, once every step is done, saved and reported. */
#define STEPS_DONE_FILE "done"
int steps_mark_done(struct agent *a);
