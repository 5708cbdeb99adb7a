/* SPDX-License-Identifier: MIT */
/* The agent's persistent state: state.json in the state dir, one record
 * per step. Written atomically after every change, so that a reboot or a
 * kill -9 resumes at the first step that is not done. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "name.h"
#include "token.h"

#define STATE_FILE "state.json"
#define STATE_FILE_MAX (64 * 1024)
#define STATE_VERSION 1
#define STATE_MESSAGE_MAX 512 /* PROTOCOL.md: message <= 512 bytes */
#define STATE_PIN_MAX 64
#define STATE_REPORT_TRIES 2 /* a failed progress report is retried once */

enum step_id {
	STEP_PREFLIGHT,
	STEP_ENROLL,
	STEP_PACKAGES,
	STEP_HOST,
	STEP_NETWORK,
	STEP_GATE,
	STEP_JOIN,
	STEP_DONE,
	_STEP_MAX,
};

enum step_state {
	STEP_STATE_PENDING,
	STEP_STATE_RUNNING,
	STEP_STATE_DONE,
	STEP_STATE_FAILED,
	STEP_STATE_NOT_IMPLEMENTED,
	_STEP_STATE_MAX,
};

struct step_record {
	enum step_state state;
	int64_t started;     /* unix seconds, 0 when never started */
	int64_t duration_ms; /* of the last run */
	char message[STATE_MESSAGE_MAX + 1];
	/* progress: was this record's outcome delivered to the server? */
	bool reported;
	unsigned report_tries;
};

struct agent_state {
	char token_id[64 + 1];
	char node[NAME_MAX_LEN + 1];
	char site[NAME_MAX_LEN + 1];
	char server[TOKEN_URL_MAX + 1]; /* the iss URL that enrolled us */
	char pin[STATE_PIN_MAX + 1];
	struct step_record steps[_STEP_MAX];
};

const char *step_name(enum step_id id);
/* -EINVAL for an unknown name. */
int step_from_name(const char *name);
const char *step_state_name(enum step_state s);
int step_state_from_name(const char *name);

void state_init(struct agent_state *s);
int state_to_json(const struct agent_state *s, json_t **ret);
/* Strict: a field of the wrong type, an unknown step or state, an
 * enrolled state without node, server and pin are -EBADMSG. */
int state_from_json(json_t *j, struct agent_state *ret);
/* -ENOENT when there is no state file yet; -EBADMSG when it is corrupt. */
int state_load(const char *dir, struct agent_state *ret);
int state_save(const char *dir, const struct agent_state *s);
/* The step a run resumes at; _STEP_MAX when every step is done. */
enum step_id state_first_unfinished(const struct agent_state *s);
/* Sets a record's message (sanitized, truncated to STATE_MESSAGE_MAX). */
void state_set_message(struct step_record *r, const char *msg);
