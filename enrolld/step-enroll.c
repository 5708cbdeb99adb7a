/* SPDX-License-Identifier: MIT */
/* enroll: redeem the token. The node key and CSR exist before the first
 * request; POST /v1/enroll goes to each iss URL in turn, pinned, and is
 * retried with backoff when the network or the server is the problem; the
 * answer is checked before it is persisted. */
#include "config.h"

#include "client.h"
#include "crypto.h"
#include "agent-enroll.h"
#include "facts.h"
#include "log.h"
#include "ossl.h"
#include "retry.h"
#include "steps.h"

struct round {
	char last[CLIENT_ERROR_MAX + 128]; /* why the last try failed */
	int64_t retry_after_s;
};

static int
build_body(const struct agent_conf *conf, const char *csr, const char *host,
	   char **ret)
{
	_cleanup_(json_decrefp) json_t *body = NULL, *fj = NULL;
	struct facts f;
	char *s;
	int r;

	facts_collect(&f);
	r = facts_to_json(&f, &fj);
	if (r < 0)
		return r;
	body = json_pack("{s:s, s:s, s:O}", "csr", csr, "hostname", host,
			 "facts", fj);
	if (!body)
		return -ENOMEM;
	if (conf->name &&
	    json_object_set_new(body, "name", json_string(conf->name)) < 0)
		return -ENOMEM;
	s = json_dumps(body, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int
refused(struct step_ctx *ctx, const char *url,
	const struct client_response *resp)
{
	char code[64], msg[256];

	client_error_body(resp, code, sizeof(code), msg, sizeof(msg));
	return step_fail(ctx, AGENT_FAIL_REFUSED, -EACCES,
			 "%s refused the enrollment: HTTP %ld %s: %s", url,
			 resp->status, code, msg);
}

/* One POST to one server: 1 with *ret on a 200 JSON answer, 0 when it is
 * worth trying again (rd->last says why), < 0 when the step fails. */
static int
try_server(struct step_ctx *ctx, const char *url, const char *body,
	   struct round *rd, json_t **ret)
{
	const struct agent *a = ctx->agent;
	const struct token_claims *c = a->token->claims;
	struct client_request req = {
		.base_url = url,
		.path = "/v1/enroll",
		.pin = c->pin,
		.bearer = a->token->jws,
		.body = body,
		.body_len = strlen(body),
		.connect_timeout_s = a->conf->connect_timeout_s,
		.request_timeout_s = a->conf->request_timeout_s,
	};
	_cleanup_(client_response_done) struct client_response resp = {0};
	char code[64], msg[256];
	json_t *j;
	int r;

	r = client_post_json(&req, &resp);
	if (r == -EKEYREJECTED)
		return step_fail(ctx, AGENT_FAIL_PIN, r,
				 "%s: the server's TLS key does not match the "
				 "token's pin %s; not connecting",
				 url, c->pin);
	if (r < 0 && client_error_is_retryable(r)) {
		snprintf(rd->last, sizeof(rd->last), "%s: %s", url, resp.error);
		return 0;
	}
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r, "%s: %s", url,
				 resp.error);
	switch (retry_classify_status(resp.status)) {
	case HTTP_VERDICT_OK:
		j = json_loadb(resp.body, resp.body_len, JSON_REJECT_DUPLICATES,
			       NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			return step_fail(ctx, AGENT_FAIL_OTHER, -EBADMSG,
					 "%s: the answer is not a JSON object",
					 url);
		}
		*ret = j;
		return 1;
	case HTTP_VERDICT_RETRY:
		client_error_body(&resp, code, sizeof(code), msg, sizeof(msg));
		snprintf(rd->last, sizeof(rd->last), "%s: HTTP %ld %s: %s", url,
			 resp.status, code, msg);
		rd->retry_after_s = MAX(rd->retry_after_s, resp.retry_after_s);
		return 0;
	case HTTP_VERDICT_REFUSED:
		return refused(ctx, url, &resp);
	default:
		return step_fail(ctx, AGENT_FAIL_OTHER, -EPROTO,
				 "%s: unexpected HTTP status %ld", url,
				 resp.status);
	}
}

static void
back_off(struct step_ctx *ctx, unsigned round, const struct round *rd)
{
	const struct agent_conf *conf = ctx->agent->conf;
	/* Room for the wait and one more round over every server. */
	uint64_t budget_s = (uint64_t)ctx->agent->token->claims->n_iss *
			    (conf->connect_timeout_s + conf->request_timeout_s);

	step_back_off(ctx, round, rd->retry_after_s, budget_s, rd->last);
}

static int
exchange(struct step_ctx *ctx, const char *body, json_t **ret,
	 const char **ret_url)
{
	const struct agent_conf *conf = ctx->agent->conf;
	const struct token_claims *c = ctx->agent->token->claims;
	struct retry_policy p = {conf->retry_initial_ms, conf->retry_max_ms,
				 conf->retry_attempts};
	unsigned round = 0;
	size_t i;
	int r;

	for (;;) {
		struct round rd = {.retry_after_s = -1};

		for (i = 0; i < c->n_iss; i++) {
			r = try_server(ctx, c->iss[i], body, &rd, ret);
			if (r < 0)
				return r;
			if (r > 0) {
				*ret_url = c->iss[i];
				return 0;
			}
			log_warning("enroll: %s", rd.last);
		}
		round++;
		if (!retry_may_continue(&p, round))
			return step_fail(
				ctx, AGENT_FAIL_RETRY, -ETIMEDOUT,
				"giving up after %u attempts; last: %s", round,
				rd.last);
		back_off(ctx, round, &rd);
	}
}

/* Key, CSR and request body, all before the first byte goes out. */
static int
prepare(struct step_ctx *ctx, EVP_PKEY **ret_key, char **ret_body)
{
	struct agent *a = ctx->agent;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ char *csr = NULL, *body = NULL;
	char host[AGENT_HOSTNAME_MAX + 1], name[NAME_MAX_LEN + 1];
	const char *dir = a->conf->state_dir;
	int r;

	r = agent_hostname(a->conf, host, sizeof(host));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "cannot read the hostname: %s", strerror(-r));
	agent_proposed_name(a->conf, host, name);
	r = agent_key_load_or_create(dir, &key);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r, "node key %s/%s: %s",
				 dir, ENROLL_KEY_FILE,
				 r == -EKEYREJECTED ? "not a P-256 key"
						    : agent_file_error(r));
	r = agent_csr_load_or_create(dir, key, name, &csr);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r, "CSR %s/%s: %s", dir,
				 ENROLL_CSR_FILE, agent_file_error(r));
	r = build_body(a->conf, csr, host, &body);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "cannot build the request: %s", strerror(-r));
	*ret_key = TAKE_PTR(key);
	*ret_body = TAKE_PTR(body);
	return 0;
}

static int
accept_answer(struct step_ctx *ctx, json_t *j, EVP_PKEY *key, const char *url)
{
	struct agent *a = ctx->agent;
	const struct token_claims *c = a->token->claims;
	struct agent_answer ans;
	char err[AGENT_ERROR_MAX], f_node[96], f_token[96], f_site[96];
	int r;

	r = agent_answer_check(j, key, c->site, &ans, err, sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "%s answered, but %s: not using it", url, err);
	r = agent_answer_save(a->conf->state_dir, j, &ans);
	if (r < 0) {
		agent_answer_done(&ans);
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "cannot save the enrollment in %s: %s",
				 a->conf->state_dir, strerror(-r));
	}
	snprintf(a->state.node, sizeof(a->state.node), "%s", ans.node);
	snprintf(a->state.site, sizeof(a->state.site), "%s", ans.site);
	snprintf(a->state.server, sizeof(a->state.server), "%s", url);
	snprintf(a->state.pin, sizeof(a->state.pin), "%s", c->pin);
	snprintf(a->state.token_id, sizeof(a->state.token_id), "%s", c->jti);
	snprintf(f_node, sizeof(f_node), "NODE=%s", ans.node);
	snprintf(f_token, sizeof(f_token), "TOKEN_ID=%s", c->jti);
	snprintf(f_site, sizeof(f_site), "SITE=%s", ans.site);
	log_event(LOG_INFO, "node enrolled", "STEP=enroll", f_node, f_token,
		  f_site, NULL);
	step_message(ctx, "enrolled as %s in site %s by %s%s", ans.node,
		     ans.site, url, ans.repeat ? " (already known)" : "");
	agent_answer_done(&ans);
	return 0;
}

int
step_enroll(struct step_ctx *ctx)
{
	struct agent *a = ctx->agent;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(json_decrefp) json_t *answer = NULL;
	_cleanup_free_ char *body = NULL;
	char err[AGENT_ERROR_MAX];
	const char *url = NULL;
	int r;

	r = agent_need_token(a, err, sizeof(err));
	if (r >= 0)
		r = agent_token_check_time(a->token->claims,
					   (int64_t)time(NULL), err,
					   sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	snprintf(a->state.token_id, sizeof(a->state.token_id), "%s",
		 a->token->claims->jti);
	r = prepare(ctx, &key, &body);
	if (r < 0)
		return r;
	r = exchange(ctx, body, &answer, &url);
	if (r < 0)
		return r;
	return accept_answer(ctx, answer, key, url);
}
