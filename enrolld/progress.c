/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <limits.h>

#include "client.h"
#include "agent-enroll.h"
#include "log.h"
#include "ossl.h"
#include "progress.h"

static bool
have_identity(const struct agent *a, char *cert, char *key, size_t size)
{
	if (!a->state.server[0] || !a->state.pin[0])
		return false;
	if (agent_path(a, ENROLL_CERT_FILE, cert, size) < 0 ||
	    agent_path(a, ENROLL_KEY_FILE, key, size) < 0)
		return false;
	return access(cert, R_OK) == 0 && access(key, R_OK) == 0;
}

static int
send_report(const struct agent *a, enum step_id id,
	    const struct step_record *rec, const char *cert, const char *key)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_free_ char *body = NULL;
	_cleanup_(client_response_done) struct client_response resp = {0};
	struct client_request req = {
		.base_url = a->state.server,
		.path = "/v1/progress",
		.pin = a->state.pin,
		.cert_file = cert,
		.key_file = key,
		.connect_timeout_s = a->conf->connect_timeout_s,
		.request_timeout_s = a->conf->request_timeout_s,
	};
	char code[64], msg[256];
	int r;

	j = json_pack("{s:s, s:s, s:I, s:I, s:s}", "step", step_name(id),
		      "state", step_state_name(rec->state), "started",
		      (json_int_t)rec->started, "duration_ms",
		      (json_int_t)rec->duration_ms, "message", rec->message);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!body)
		return -ENOMEM;
	req.body = body;
	req.body_len = strlen(body);
	r = client_post_json(&req, &resp);
	if (r < 0) {
		log_warning("progress report (%s %s) to %s failed: %s",
			    step_name(id), step_state_name(rec->state),
			    a->state.server, resp.error);
		return r;
	}
	if (resp.status != 200) {
		client_error_body(&resp, code, sizeof(code), msg, sizeof(msg));
		log_warning("progress report (%s %s) refused: HTTP %ld %s: %s",
			    step_name(id), step_state_name(rec->state),
			    resp.status, code, msg);
		return -EPROTO;
	}
	log_debug("progress report (%s %s) delivered", step_name(id),
		  step_state_name(rec->state));
	return 0;
}

static bool
is_final(enum step_state s)
{
	return s == STEP_STATE_DONE || s == STEP_STATE_FAILED ||
	       s == STEP_STATE_NOT_IMPLEMENTED;
}

void
progress_flush(struct agent *a)
{
	char cert[PATH_MAX], key[PATH_MAX];
	bool changed = false;
	int i, r;

	if (!have_identity(a, cert, key, sizeof(cert)))
		return;
	for (i = 0; i < _STEP_MAX; i++) {
		struct step_record *rec = &a->state.steps[i];

		if (!is_final(rec->state) || rec->reported ||
		    rec->report_tries >= STATE_REPORT_TRIES)
			continue;
		r = send_report(a, (enum step_id)i, rec, cert, key);
		rec->report_tries++;
		rec->reported = r >= 0;
		changed = true;
	}
	if (changed) {
		r = state_save(a->conf->state_dir, &a->state);
		if (r < 0)
			log_warning_errno(r, "cannot save %s/%s: %s",
					  a->conf->state_dir, STATE_FILE,
					  strerror(-r));
	}
}

void
progress_running(struct agent *a, enum step_id id)
{
	char cert[PATH_MAX], key[PATH_MAX];
	struct step_record rec = a->state.steps[id];

	rec.state = STEP_STATE_RUNNING;
	if (have_identity(a, cert, key, sizeof(cert)))
		(void)send_report(a, id, &rec, cert, key);
}
