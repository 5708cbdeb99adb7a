/* SPDX-License-Identifier: MIT */
/* The common interface of the agent's steps. A step lives in its own file
 * (step-NAME.c), checks before it acts (it may run again after a crash or a
 * failure), and says what it did or why it failed in ctx->message. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "state.h"

struct step_ctx {
	struct agent *agent;
	enum step_id id;
	/* What the step did, or why it failed: persisted, reported to the
	 * server and to systemd. */
	char message[STATE_MESSAGE_MAX + 1];
	/* On failure: the class that decides the exit code. */
	enum agent_fail fail;
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

/* Sets ctx->message. */
void step_message(struct step_ctx *ctx, const char *fmt, ...) _printf_(2, 3);
/* Sets ctx->message and ctx->fail and returns r (< 0; -EIO when r is not).
 * The runner logs the message once. */
int step_fail(struct step_ctx *ctx, enum agent_fail fail, int r,
	      const char *fmt, ...) _printf_(4, 5);

int step_preflight(struct step_ctx *ctx);
int step_enroll(struct step_ctx *ctx);
int step_finish(struct step_ctx *ctx);
