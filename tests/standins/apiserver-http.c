/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests) for the Kubernetes API server: routing,
 * authentication (client certificates signed by the cluster CA; bootstrap
 * tokens only for the stand-in's join endpoint) and metav1.Status
 * answers shaped like the real server's. */
#include "config.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <strings.h>

#include "apiserver.h"
#include "common.h"
#include "httpd.h"
#include "log.h"
#include "name.h"
#include "ossl.h"

#define API_BODY_MAX (1024 * 1024)

static const char *
method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

static void
reply(struct evhttp_request *req, int code, const char *type, const char *body)
{
	struct evbuffer *buf = evbuffer_new();

	log_info("%s %s -> %d", method_name(req), evhttp_request_get_uri(req),
		 code);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", type);
	if (buf)
		evbuffer_add(buf, body, strlen(body));
	evhttp_send_reply(req, code, NULL, buf);
	if (buf)
		evbuffer_free(buf);
}

void
api_reply_json(struct evhttp_request *req, int code, json_t *j)
{
	_cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	reply(req, s ? code : 500, "application/json",
	      s ? s : "{\"kind\":\"Status\",\"code\":500}");
}

static void
reply_status_msg(struct evhttp_request *req, int code, const char *reason,
		 const char *kind, const char *name, const char *msg,
		 json_t *causes)
{
	_cleanup_(json_decrefp) json_t *j = NULL, *details = NULL;

	details = json_object();
	if (details && kind)
		json_object_set_new(details, "kind", json_string(kind));
	if (details && name)
		json_object_set_new(details, "name", json_string(name));
	if (details && causes)
		json_object_set(details, "causes", causes);
	j = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status",
		      "apiVersion", "v1", "metadata", "status", "Failure",
		      "message", msg, "reason", reason, "code", code);
	if (j && (kind || name))
		json_object_set(j, "details", details);
	api_reply_json(req, code, j);
}

void
api_reply_status(struct evhttp_request *req, int code, const char *reason,
		 const char *kind, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_status_msg(req, code, reason, kind, name, msg, NULL);
}

void
api_reply_invalid(struct evhttp_request *req, const char *kind,
		  const char *resource, const char *name, const char *field,
		  const char *message)
{
	_cleanup_(json_decrefp) json_t *causes = NULL;
	char msg[512];

	snprintf(msg, sizeof(msg), "%s \"%s\" is invalid: %s: %s", kind,
		 strempty(name), field, message);
	causes = json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueInvalid",
			   "message", message, "field", field);
	log_notice("refused %s \"%s\": %s: %s", kind, strempty(name), field,
		   message);
	reply_status_msg(req, 422, "Invalid", resource, name, msg, causes);
}

json_t *
api_read_json(struct evhttp_request *req, const char *what)
{
	const char *ct = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in), jn = strlen("application/json");
	json_error_t err;
	json_t *j;

	if (!ct || strncasecmp(ct, "application/json", jn) != 0 ||
	    (ct[jn] != '\0' && ct[jn] != ';')) {
		api_reply_status(req, 415, "UnsupportedMediaType", NULL, NULL,
				 "the body of the request was in an unknown "
				 "format - accepted media types include: "
				 "application/json (this STAND-IN accepts "
				 "JSON only)");
		return NULL;
	}
	if (n == 0 || n > API_BODY_MAX) {
		api_reply_status(req, 400, "BadRequest", NULL, NULL,
				 "the request body is empty or too large");
		return NULL;
	}
	j = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)n), n,
		       JSON_REJECT_DUPLICATES, &err);
	if (!j || !json_is_object(j)) {
		api_reply_status(req, 400, "BadRequest", NULL, NULL,
				 "%s in version \"v1\" cannot be handled as a "
				 "%s: %s",
				 what, what,
				 j ? "not a JSON object" : err.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

const char *
api_bearer(struct evhttp_request *req)
{
	const char *h = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	return h + 7;
}

void
api_uid(char buf[37])
{
	uint8_t b[16] = {0};

	(void)RAND_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

void
api_now(char buf[32])
{
	rfc3339_format(time(NULL), buf, 32);
}

static void
name_entry(X509 *cert, int nid, char *buf, size_t size)
{
	buf[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, buf,
				  (int)size);
}

/* Returns false (and has answered 401) for credentials that are present
 * but not valid, as the real server does even for anonymous paths. */
static bool
identify(struct apiserver *a, struct evhttp_request *req,
	 struct api_identity *id)
{
	X509 *cert = httpd_peer_cert(req);
	const char *bearer = api_bearer(req);
	char org[64];

	*id = (struct api_identity){.who = WHO_ANONYMOUS};
	if (cert) {
		name_entry(cert, NID_commonName, id->user, sizeof(id->user));
		name_entry(cert, NID_organizationName, org, sizeof(org));
		id->who = WHO_ADMIN;
		if (streq(org, "system:nodes") &&
		    strncmp(id->user, "system:node:", 12) == 0) {
			id->who = WHO_NODE;
			snprintf(id->node, sizeof(id->node), "%s",
				 id->user + strlen("system:node:"));
		}
		return true;
	}
	if (!bearer)
		return true;
	if (bootstrap_token_is_valid(bearer) &&
	    secrets_authenticate(a, bearer) == 0) {
		id->who = WHO_BOOTSTRAP;
		snprintf(id->user, sizeof(id->user), "system:bootstrap:%.6s",
			 bearer);
		return true;
	}
	api_reply_status(req, 401, "Unauthorized", NULL, NULL, "Unauthorized");
	return false;
}

/* Anonymous: 401 (no credentials); kubelets and bootstrap tokens: 403. */
static bool
allowed(struct evhttp_request *req, const struct api_identity *id,
	const char *verb, const char *resource, const char *node)
{
	if (id->who == WHO_ADMIN ||
	    (id->who == WHO_NODE && node && streq(verb, "get") &&
	     streq(id->node, node)))
		return true;
	if (id->who == WHO_ANONYMOUS)
		api_reply_status(req, 401, "Unauthorized", NULL, NULL,
				 "Unauthorized");
	else
		api_reply_status(req, 403, "Forbidden", resource, node,
				 "%s is forbidden: User \"%s\" cannot %s "
				 "resource \"%s\"",
				 resource, id->user, verb, resource);
	return false;
}

static void
handle_version(struct apiserver *a, struct evhttp_request *req)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	char major[8], minor[8];

	snprintf(major, sizeof(major), "%u", a->version.major);
	snprintf(minor, sizeof(minor), "%u", a->version.minor);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major",
		      major, "minor", minor, "gitVersion", a->version.text,
		      "gitCommit", "geostage-standin", "gitTreeState", "clean",
		      "buildDate", "2024-10-22T00:00:00Z", "goVersion",
		      "go1.22.8 (STAND-IN)", "compiler", "gc", "platform",
		      "linux/amd64");
	api_reply_json(req, 200, j);
}

/* kube-public/cluster-info, readable anonymously as in a kubeadm cluster:
 * what token discovery checks against the CA pin and the token. */
static void
handle_cluster_info(struct apiserver *a, struct evhttp_request *req)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_free_ char *kc = NULL;
	json_t *data = json_object();

	if (kubeconfig_format(a->server_url, a->ca_pem, NULL, NULL, NULL, &kc) <
		    0 ||
	    !data || json_object_set_new(data, "kubeconfig", json_string(kc)) ||
	    secrets_sign_cluster_info(a, kc, data) < 0) {
		json_decref(data);
		api_reply_status(req, 500, "InternalError", NULL, NULL,
				 "cannot build cluster-info");
		return;
	}
	j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "kind", "ConfigMap",
		      "apiVersion", "v1", "metadata", "name", "cluster-info",
		      "namespace", "kube-public", "data", data);
	api_reply_json(req, 200, j);
}

static void
route_node(struct apiserver *a, struct evhttp_request *req,
	   const struct api_identity *id, const char *name)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	if (!name_is_dns_label(name)) {
		api_reply_status(req, 404, "NotFound", "nodes", name,
				 "nodes \"%s\" not found", name);
		return;
	}
	if (m == EVHTTP_REQ_GET && allowed(req, id, "get", "nodes", name))
		nodes_get(a, req, name);
	else if (m == EVHTTP_REQ_DELETE &&
		 allowed(req, id, "delete", "nodes", name))
		nodes_delete(a, req, name);
	else if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_DELETE)
		api_reply_status(req, 405, "MethodNotAllowed", NULL, NULL,
				 "the server does not allow this method on "
				 "the requested resource");
}

static bool
is(struct evhttp_request *req, const char *path, const char *want_path,
   enum evhttp_cmd_type want)
{
	if (!streq(path, want_path))
		return false;
	if (evhttp_request_get_command(req) != want)
		api_reply_status(req, 405, "MethodNotAllowed", NULL, NULL,
				 "the server does not allow this method on "
				 "the requested resource");
	return true;
}

static void
route(struct apiserver *a, struct evhttp_request *req, const char *path,
      const struct api_identity *id)
{
	bool get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	const char *node = startswith(path, "/api/v1/nodes/");

	if (is(req, path, "/version", EVHTTP_REQ_GET)) {
		if (get)
			handle_version(a, req);
	} else if (streq(path, "/healthz") || streq(path, "/readyz") ||
		   streq(path, "/livez"))
		reply(req, 200, "text/plain", "ok");
	else if (is(req, path,
		    "/api/v1/namespaces/kube-public/configmaps/cluster-info",
		    EVHTTP_REQ_GET)) {
		if (get)
			handle_cluster_info(a, req);
	} else if (is(req, path, "/standin/v1/ca", EVHTTP_REQ_GET)) {
		if (get)
			reply(req, 200, "application/x-pem-file", a->ca_pem);
	} else if (is(req, path, "/api/v1/namespaces/kube-system/secrets",
		      EVHTTP_REQ_POST)) {
		if (!get && allowed(req, id, "create", "secrets", NULL))
			secrets_create(a, req);
	} else if (is(req, path, "/standin/v1/join", EVHTTP_REQ_POST)) {
		if (!get)
			nodes_join(a, req);
	} else if (is(req, path, "/api/v1/nodes", EVHTTP_REQ_GET) ||
		   is(req, path, "/standin/v1/nodes", EVHTTP_REQ_GET)) {
		if (get && allowed(req, id, "list", "nodes", NULL))
			nodes_list(a, req);
	} else if (node)
		route_node(a, req, id, node);
	else
		api_reply_status(req, 404, "NotFound", NULL, NULL,
				 "the server could not find the requested "
				 "resource");
}

void
api_handle(struct evhttp_request *req, void *userdata)
{
	struct apiserver *a = userdata;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct api_identity id;

	if (!path || !*path) {
		api_reply_status(req, 400, "BadRequest", NULL, NULL,
				 "bad request URI");
		return;
	}
	if (!identify(a, req, &id))
		return;
	route(a, req, path, &id);
}
