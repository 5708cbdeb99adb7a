/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <strings.h>
#include <sys/queue.h> /* before keyvalq_struct.h: TAILQ_* */
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "enroll.h"
#include "join.h"
#include "jws.h"
#include "log.h"
#include "ossl.h"

struct route {
	const char *path;
	enum evhttp_cmd_type method;
	void (*handler)(struct api *api, struct evhttp_request *req);
};

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
reply(struct api *api, struct evhttp_request *req, int status,
      const char *content_type, const char *body, size_t len)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (buf)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, status, NULL, buf);
	if (buf)
		evbuffer_free(buf);
	metrics_request(api->metrics, status);
}

static void
reply_json(struct api *api, struct evhttp_request *req, int status, json_t *j)
{
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);

	if (!s) {
		reply(api, req, 503, "application/json",
		      "{\"error\":\"unavailable\",\"message\":\"out of "
		      "memory\"}",
		      56);
		return;
	}
	reply(api, req, status, "application/json", s, strlen(s));
}

static void
reply_error(struct api *api, struct evhttp_request *req, int status,
	    const char *error, const char *message, unsigned retry_after)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	char ra[16];

	if (retry_after) {
		snprintf(ra, sizeof(ra), "%u", retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Retry-After", ra);
	}
	j = json_pack("{s:s, s:s}", "error", error, "message", message);
	reply_json(api, req, status, j);
}

static void
reply_answer(struct api *api, struct evhttp_request *req,
	     const struct enroll_answer *a)
{
	if (a->error)
		reply_error(api, req, a->status, a->error, a->message,
			    a->retry_after);
	else
		reply_json(api, req, a->status, a->body);
}

/* application/json, optionally with parameters such as charset. */
static bool
is_json(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	size_t n = strlen("application/json");

	return ct && strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Body as one contiguous, bounded buffer (evhttp enforces the limit too).
 * Returns NULL (with *ret_len 0) for an empty body. */
static const char *
body_of(struct evhttp_request *req, size_t *ret_len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);

	*ret_len = n;
	if (n == 0 || n > API_BODY_MAX)
		return NULL;
	return (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
}

static bool
check_post(struct api *api, struct evhttp_request *req, const char **body,
	   size_t *len)
{
	if (!is_json(req)) {
		reply_error(api, req, 415, "unsupported_media_type",
			    "the body must be application/json", 0);
		return false;
	}
	*body = body_of(req, len);
	if (*len > API_BODY_MAX) {
		reply_error(api, req, 413, "too_large", "the body is too large",
			    0);
		return false;
	}
	if (!*body) {
		reply_error(api, req, 400, "bad_request", "empty body", 0);
		return false;
	}
	return true;
}

static const char *
bearer_token(struct evhttp_request *req, size_t *ret_len)
{
	const char *h = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	*ret_len = strlen(h);
	if (*ret_len == 0 || *ret_len > JWS_MAX_LEN)
		return NULL;
	return h;
}

static void
log_enrollment(const struct enroll_answer *a, const char *source)
{
	char tok[80], node[80], src[80], err[48];

	snprintf(tok, sizeof(tok), "TOKEN_ID=%s", a->jti[0] ? a->jti : "-");
	snprintf(node, sizeof(node), "NODE=%s", a->node[0] ? a->node : "-");
	snprintf(src, sizeof(src), "SOURCE=%s", source);
	if (!a->error)
		log_event(LOG_INFO,
			  a->repeat ? "enrollment repeated" : "node enrolled",
			  tok, node, src, NULL);
	else {
		snprintf(err, sizeof(err), "ERROR=%s", a->error);
		log_event(LOG_NOTICE, "enrollment refused", tok, src, err,
			  NULL);
	}
}

static void
handle_enroll(struct api *api, struct evhttp_request *req)
{
	struct enroll_answer a = {0};
	const char *token, *body;
	double start = now_seconds();
	size_t token_len = 0, len;
	char source[64];
	int64_t now = (int64_t)time(NULL);
	unsigned wait;

	httpd_peer_addr(req, source, sizeof(source));
	wait = ratelimit_check(api->ratelimit, source, now);
	if (wait) {
		reply_error(api, req, 429, "rate_limited",
			    "too many failed enrollments from this address",
			    wait);
		metrics_enrollment(api->metrics, "rate_limited",
				   now_seconds() - start);
		return;
	}
	token = bearer_token(req, &token_len);
	if (!token) {
		ratelimit_fail(api->ratelimit, source, now);
		reply_error(api, req, 401, "invalid_token",
			    "the enrollment token is not valid", 0);
		metrics_enrollment(api->metrics, "invalid_token",
				   now_seconds() - start);
		return;
	}
	if (!check_post(api, req, &body, &len))
		return;
	if (enroll_redeem(api->server, token, token_len, body, len, now, &a) <
	    0) {
		a.status = 503;
		a.error = "unavailable";
		snprintf(a.message, sizeof(a.message), "out of memory");
	}
	if (a.status == 401 || a.status == 403)
		ratelimit_fail(api->ratelimit, source, now);
	log_enrollment(&a, source);
	reply_answer(api, req, &a);
	metrics_enrollment(api->metrics,
			   a.error ? a.error : (a.repeat ? "repeat" : "ok"),
			   now_seconds() - start);
	enroll_answer_done(&a);
}

static void
handle_progress(struct api *api, struct evhttp_request *req)
{
	struct enroll_answer a = {0};
	const char *body;
	size_t len;

	if (!check_post(api, req, &body, &len))
		return;
	if (enroll_progress(api->server, httpd_peer_cert(req), body, len,
			    (int64_t)time(NULL), &a) < 0) {
		a.status = 503;
		a.error = "unavailable";
		snprintf(a.message, sizeof(a.message), "out of memory");
	}
	reply_answer(api, req, &a);
	enroll_answer_done(&a);
}

/* The join answer holds a bootstrap token: wiped before it is freed. */
static void
wipe_token(json_t *body)
{
	json_t *t = json_object_get(body, "token");

	if (json_is_string(t))
		explicit_bzero((char *)json_string_value(t),
			       json_string_length(t));
}

static void
handle_join(struct api *api, struct evhttp_request *req)
{
	struct enroll_answer a = {0};
	const char *body;
	size_t len;

	if (!check_post(api, req, &body, &len))
		return;
	if (join_answer(api->server, httpd_peer_cert(req), (int64_t)time(NULL),
			api->join_limit, &a) < 0) {
		a.status = 503;
		a.error = "unavailable";
		snprintf(a.message, sizeof(a.message), "out of memory");
	}
	reply_answer(api, req, &a);
	wipe_token(a.body);
	enroll_answer_done(&a);
}

static void
handle_keys(struct api *api, struct evhttp_request *req)
{
	reply(api, req, 200, "application/jwk-set+json", api->jwks,
	      strlen(api->jwks));
}

static void
handle_healthz(struct api *api, struct evhttp_request *req)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	reply(api, req, 200, "application/json", ok, sizeof(ok) - 1);
}

static void
handle_metrics(struct api *api, struct evhttp_request *req)
{
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (metrics_render(api->metrics, api->server->db, (int64_t)time(NULL),
			   httpd_connections(api->httpd), &text, &len) < 0) {
		reply_error(api, req, 503, "unavailable",
			    "metrics are not available right now", 1);
		return;
	}
	reply(api, req, 200, "text/plain; version=0.0.4", text, len);
}

static const struct route routes[] = {
	{"/v1/enroll", EVHTTP_REQ_POST, handle_enroll},
	{"/v1/progress", EVHTTP_REQ_POST, handle_progress},
	{"/v1/join", EVHTTP_REQ_POST, handle_join},
	{"/v1/keys", EVHTTP_REQ_GET, handle_keys},
	{"/healthz", EVHTTP_REQ_GET, handle_healthz},
	{"/metrics", EVHTTP_REQ_GET, handle_metrics},
};

/* RFC 9112 §6.3: a message with more than one Content-Length (evhttp
 * takes the first) is framed ambiguously; a proxy in front that takes
 * another one would see a different body. Refused, and the connection
 * closed, since where the next request starts is unknown. */
static bool
framing_ambiguous(struct evhttp_request *req)
{
	const struct evkeyval *h;
	unsigned n = 0;

	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
	if (strcasecmp(h->key, "Content-Length") == 0)
		n++;
	return n > 1;
}

void
api_handle(struct evhttp_request *req, void *userdata)
{
	struct api *api = userdata;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	size_t i;

	if (framing_ambiguous(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		reply_error(api, req, 400, "bad_request",
			    "more than one Content-Length", 0);
		return;
	}
	if (!path || evhttp_uri_get_query(uri)) {
		reply_error(api, req, 404, "not_found", "no such resource", 0);
		return;
	}
	for (i = 0; i < ELEMENTSOF(routes); i++) {
		if (!streq(path, routes[i].path))
			continue;
		if (method == routes[i].method ||
		    (method == EVHTTP_REQ_HEAD &&
		     routes[i].method == EVHTTP_REQ_GET)) {
			routes[i].handler(api, req);
			return;
		}
		evhttp_add_header(
			evhttp_request_get_output_headers(req), "Allow",
			routes[i].method == EVHTTP_REQ_GET ? "GET, HEAD"
							   : "POST");
		reply_error(api, req, 405, "method_not_allowed",
			    "method not allowed on this resource", 0);
		return;
	}
	reply_error(api, req, 404, "not_found", "no such resource", 0);
}

int
api_init(struct api *api, struct server *s)
{
	_cleanup_(json_decrefp) json_t *jwk = NULL, *jwks = NULL;
	int r;

	memset(api, 0, sizeof(*api));
	api->server = s;
	r = jws_public_jwk(s->token_key, &jwk);
	if (r < 0)
		return r;
	jwks = json_pack("{s:[O]}", "keys", jwk);
	if (!jwks)
		return -ENOMEM;
	api->jwks = json_dumps(jwks, JSON_COMPACT);
	api->metrics = metrics_new();
	api->ratelimit = ratelimit_new(s->cfg.rate_limit_failures,
				       s->cfg.rate_limit_window);
	api->join_limit = ratelimit_new(JOIN_MINTS_MAX, JOIN_WINDOW_S);
	if (!api->jwks || !api->metrics || !api->ratelimit ||
	    !api->join_limit) {
		api_done(api);
		return -ENOMEM;
	}
	return 0;
}

void
api_done(struct api *api)
{
	free(api->jwks);
	metrics_free(api->metrics);
	ratelimit_free(api->ratelimit);
	ratelimit_free(api->join_limit);
	memset(api, 0, sizeof(*api));
}
