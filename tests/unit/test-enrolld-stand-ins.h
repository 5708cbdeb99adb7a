/* SPDX-License-Identifier: MIT */
/* A throwaway world for the agent's steps: a root_dir, a state dir and
 * STAND-INS (small sh scripts, labelled as such) for apt-get, dpkg-query,
 * systemctl ... that log their arguments and play back canned output.
 * Nothing of the host is changed: every program path and every file the
 * steps write points into the world's temp dir. */
#pragma once

#include <jansson.h>

#include "agent.h"
#include "steps.h"

struct world {
	char dir[64];
	char root[96], state[96], bin[96], log[96];
	struct agent_conf conf;
	struct agent agent;
};

void world_init(struct world *w);
/* Removes the temp dir and everything in it. */
void world_done(struct world *w);
/* bin/NAME: appends "NAME ARGS..." to the log, then runs body (sh, with
 * $W set to the world's dir); the config points prog at it. */
void world_stand_in(struct world *w, enum agent_prog prog, const char *body);
/* Writes text to the world's dir/rel (a plain file, 0644). */
void world_write(struct world *w, const char *rel, const char *text);
/* The contents of dir/rel, or NULL; free it. */
char *world_read(struct world *w, const char *rel);
/* The stand-ins' log; free it. */
char *world_log(struct world *w);
void world_clear_log(struct world *w);
/* How many log lines start with prefix. */
int world_log_count(struct world *w, const char *prefix);
/* enroll.json in the state dir, and the state of an enrolled node. */
void world_enrolled(struct world *w, json_t *answer);
/* Runs one step as the runner would; returns its result, ctx filled. */
int world_step(struct world *w, enum step_id id, int (*fn)(struct step_ctx *),
	       struct step_ctx *ctx);
/* File mode of root/abs, or -1. */
int world_mode(struct world *w, const char *abs);
/* A minimal enroll answer; callers change what they test. */
json_t *world_answer(void);
