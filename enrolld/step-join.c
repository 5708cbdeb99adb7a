/* SPDX-License-Identifier: MIT */
/* join: POST /v1/join (mTLS with the node certificate, pinned) mints a
 * bootstrap token just now; the JoinConfiguration goes to
 * /etc/geostage/join.json (0600) and `kubeadm join --config` reads the
 * token from there, never from argv. The file is removed after kubeadm
 * ran, whatever the outcome: the next attempt gets a fresh token.
 *
 * Markers in the state dir tell a half-finished join from a finished one
 * and from a cluster someone else joined this host to:
 *   join-attempt  set before kubeadm runs: with kubelet.conf present, the
 *                 next run resets (kubeadm reset -f) before joining;
 *   joined        set when kubeadm succeeded: kubelet.conf is ours, the
 *                 step is done. */
#include "config.h"

#include "client.h"
#include "agent-enroll.h"
#include "hostfs.h"
#include "join-config.h"
#include "log.h"
#include "netif.h"
#include "plan.h"
#include "retry.h"
#include "steps.h"

#include <limits.h>

#define MARK_ATTEMPT "join-attempt"
#define MARK_JOINED "joined"

static void
wipe_response(struct client_response *resp)
{
	if (resp->body)
		explicit_bzero(resp->body, resp->body_len);
	client_response_done(resp);
}

/* 1 with *ret, 0 to retry (why says why), < 0 when the step failed. */
static int
try_join(struct step_ctx *ctx, const struct client_request *req, char *why,
	 size_t whysz, int64_t *retry_after, json_t **ret)
{
	_cleanup_(wipe_response) struct client_response resp = {0};
	const char *url = req->base_url;
	char code[64], msg[256];
	int r;

	r = client_post_json(req, &resp);
	if (r == -EKEYREJECTED)
		return step_fail(ctx, AGENT_FAIL_PIN, r,
				 "%s: the server's TLS key does not match the "
				 "pin %s",
				 url, req->pin);
	if (r < 0 && client_error_is_retryable(r)) {
		snprintf(why, whysz, "%s: %s", url, resp.error);
		return 0;
	}
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r, "%s: %s", url,
				 resp.error);
	client_error_body(&resp, code, sizeof(code), msg, sizeof(msg));
	switch (retry_classify_status(resp.status)) {
	case HTTP_VERDICT_OK:
		*ret = json_loadb(resp.body, resp.body_len,
				  JSON_REJECT_DUPLICATES, NULL);
		if (*ret)
			return 1;
		return step_fail(ctx, AGENT_FAIL_OTHER, -EBADMSG,
				 "%s: the join answer is not JSON", url);
	case HTTP_VERDICT_RETRY:
		snprintf(why, whysz, "%s: HTTP %ld %s: %s", url, resp.status,
			 code, msg);
		*retry_after = MAX(*retry_after, resp.retry_after_s);
		return 0;
	case HTTP_VERDICT_REFUSED:
		return step_fail(ctx, AGENT_FAIL_REFUSED, -EACCES,
				 "%s refused the join: HTTP %ld %s: %s", url,
				 resp.status, code, msg);
	default:
		return step_fail(ctx, AGENT_FAIL_OTHER, -EPROTO,
				 "%s: unexpected HTTP status %ld", url,
				 resp.status);
	}
}

static int
request_join(struct step_ctx *ctx, json_t **ret)
{
	const struct agent *a = ctx->agent;
	const struct agent_conf *c = a->conf;
	struct retry_policy p = {c->retry_initial_ms, c->retry_max_ms,
				 c->retry_attempts};
	char cert[PATH_MAX], key[PATH_MAX], why[STATE_MESSAGE_MAX] = "";
	struct client_request req = {.base_url = a->state.server,
				     .path = "/v1/join",
				     .pin = a->state.pin,
				     .cert_file = cert,
				     .key_file = key,
				     .body = "{}",
				     .body_len = 2,
				     .connect_timeout_s = c->connect_timeout_s,
				     .request_timeout_s = c->request_timeout_s};
	unsigned round = 0;
	int r;

	if (agent_path(a, ENROLL_CERT_FILE, cert, sizeof(cert)) < 0 ||
	    agent_path(a, ENROLL_KEY_FILE, key, sizeof(key)) < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, -ENAMETOOLONG,
				 "state dir path too long");
	for (;;) {
		int64_t retry_after = -1;

		r = try_join(ctx, &req, why, sizeof(why), &retry_after, ret);
		if (r != 0)
			return r < 0 ? r : 0;
		log_warning("join: %s", why);
		round++;
		if (!retry_may_continue(&p, round))
			return step_fail(
				ctx, AGENT_FAIL_RETRY, -ETIMEDOUT,
				"giving up after %u attempts; last: %s", round,
				why);
		step_back_off(ctx, round, retry_after,
			      c->connect_timeout_s + c->request_timeout_s, why);
	}
}

static int
kubeadm_reset(struct step_ctx *ctx)
{
	const struct agent_conf *c = ctx->agent->conf;
	const char *argv[] = {agent_prog(c, PROG_KUBEADM), "reset", "-f", NULL};

	step_progress(ctx, "resetting the half-finished join of an earlier "
			   "run (kubeadm reset -f)");
	return step_run(ctx, AGENT_FAIL_JOIN, "kubeadm reset", argv, NULL,
			c->command_timeout_s * 2);
}

/* 1: joined already; 0: go ahead; < 0: the step failed. */
static int
check_before(struct step_ctx *ctx)
{
	const struct agent *a = ctx->agent;
	int r;

	if (!hostfs_exists(agent_root(a->conf), JOIN_KUBELET_CONF)) {
		(void)agent_marker_clear(a, MARK_JOINED);
		return 0;
	}
	if (agent_marker_exists(a, MARK_JOINED)) {
		step_message(ctx, "joined already (%s is there)",
			     JOIN_KUBELET_CONF);
		return 1;
	}
	if (!agent_marker_exists(a, MARK_ATTEMPT))
		return step_fail(ctx, AGENT_FAIL_JOIN, -EEXIST,
				 "%s exists, but not from geostage-enrolld: "
				 "this host belongs to a cluster already; run "
				 "kubeadm reset -f to let it join this one",
				 JOIN_KUBELET_CONF);
	r = kubeadm_reset(ctx);
	return r < 0 ? r : 0;
}

static int
write_config(struct step_ctx *ctx, const struct join_answer *ans,
	     unsigned *ret_dropped)
{
	const struct agent *a = ctx->agent;
	_cleanup_free_ char *labels = NULL;
	_cleanup_erase_ char *text = NULL;
	int r;

	r = join_node_labels(ans->labels, a->state.site, &labels, ret_dropped);
	if (r >= 0)
		r = join_render_config(ans, labels, &text);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "cannot render the JoinConfiguration");
	r = hostfs_write(agent_root(a->conf), JOIN_CONFIG_FILE, text,
			 strlen(text), 0600);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_JOIN, r, "cannot write %s: %s",
				 JOIN_CONFIG_FILE, strerror(-r));
	return 0;
}

static int
kubeadm_join(struct step_ctx *ctx, const struct join_answer *ans)
{
	const struct agent *a = ctx->agent;
	const struct agent_conf *c = a->conf;
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	char file[PATH_MAX];
	const char *argv[] = {agent_prog(c, PROG_KUBEADM), "join", "--config",
			      file, NULL};
	int r;

	r = hostfs_path(agent_root(c), JOIN_CONFIG_FILE, file, sizeof(file));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_CONFIG, r,
				 "root_dir too long");
	r = agent_marker_set(a, MARK_ATTEMPT);
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r,
				 "cannot write a marker in %s", c->state_dir);
	step_progress(ctx, "running kubeadm join (API %s, Kubernetes %s, %s)",
		      ans->api_endpoint, ans->version,
		      join_api_version(ans->version));
	r = step_spawn(ctx, AGENT_FAIL_JOIN, argv, NULL, c->join_timeout_s,
		       &res);
	(void)hostfs_remove(agent_root(c), JOIN_CONFIG_FILE);
	if (r < 0)
		return r;
	join_redact(res.out, ans->token);
	join_redact(res.err, ans->token);
	if (!spawn_succeeded(&res))
		return step_fail_spawn(ctx, AGENT_FAIL_JOIN, "kubeadm join",
				       argv, &res, c->join_timeout_s);
	if (agent_marker_set(a, MARK_JOINED) < 0)
		log_warning("cannot write the marker %s in %s", MARK_JOINED,
			    c->state_dir);
	(void)agent_marker_clear(a, MARK_ATTEMPT);
	return 0;
}

static int
join(struct step_ctx *ctx, json_t *answer)
{
	const struct agent *a = ctx->agent;
	struct plan_kube kube = {0};
	struct join_answer ans;
	char err[AGENT_ERROR_MAX], ifname[IF_NAMESIZE];
	unsigned dropped = 0;
	int r;

	(void)plan_kube_get(ctx->plan, &kube, err, sizeof(err));
	r = join_answer_check(answer, a->state.node, kube.version, &ans, err,
			      sizeof(err));
	if (r < 0)
		return step_fail(ctx, AGENT_FAIL_OTHER, r, "%s", err);
	if (netif_find_address(ans.node_ip, ifname) < 0)
		return step_fail(ctx, AGENT_FAIL_JOIN, -EADDRNOTAVAIL,
				 "the server's node_ip %s is on no interface "
				 "of this host",
				 ans.node_ip);
	if ((r = write_config(ctx, &ans, &dropped)) < 0 ||
	    (r = kubeadm_join(ctx, &ans)) < 0)
		return r;
	step_message(ctx, "joined %s as %s (Kubernetes %s, node-ip %s%s)",
		     ans.api_endpoint, ans.node_name, ans.version, ans.node_ip,
		     dropped ? "; labels kubelet may not set were left out"
			     : "");
	return 0;
}

int
step_join(struct step_ctx *ctx)
{
	_cleanup_(json_decrefp) json_t *answer = NULL;
	int r;

	if ((r = step_load_plan(ctx)) < 0 || (r = check_before(ctx)) != 0)
		return r < 0 ? r : 0;
	r = request_join(ctx, &answer);
	if (r < 0)
		return r;
	r = join(ctx, answer);
	join_wipe_string(json_object_get(answer, "token"));
	return r;
}
