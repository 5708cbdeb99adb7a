/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests) for the Kubernetes API server: bootstrap token
 * Secrets in kube-system. A real API server stores any well-formed Secret
 * and a malformed bootstrap token simply never authenticates; this
 * stand-in answers 422 instead, so that a test sees geostage's mistake at
 * once. Token secrets are never logged. */
#include "config.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "apiserver.h"
#include "b64.h"
#include "common.h"
#include "log.h"
#include "ossl.h"

#define TOKEN_TYPE "bootstrap.kubernetes.io/token"
#define NODE_GROUP "system:bootstrappers:kubeadm:default-node-token"

static bool
is_true(const char *v)
{
	return streq(v, "true");
}

static bool
expiration_ok(const char *v)
{
	time_t t;

	return rfc3339_parse(v, &t) == 0 && t > time(NULL);
}

static bool
group_ok(const char *g, size_t n)
{
	size_t p = strlen("system:bootstrappers:"), i;

	if (n <= p || strncmp(g, "system:bootstrappers:", p) != 0)
		return false;
	for (i = p; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789:-", g[i]))
			return false;
	return g[n - 1] != ':';
}

static bool
groups_ok(const char *v)
{
	bool node_group = false;
	const char *p = v;

	for (;;) {
		size_t n = strcspn(p, ",");
		if (!group_ok(p, n))
			return false;
		if (n == strlen(NODE_GROUP) && strncmp(p, NODE_GROUP, n) == 0)
			node_group = true;
		if (!p[n])
			return node_group;
		p += n + 1;
	}
}

struct check {
	const char *key;
	bool (*ok)(const char *v);
	const char *why;
};

static const struct check checks[] = {
	{"token-id", bootstrap_token_id_is_valid,
	 "must be 6 characters of [a-z0-9]"},
	{"token-secret", bootstrap_token_secret_is_valid,
	 "must be 16 characters of [a-z0-9]"},
	{"expiration", expiration_ok, "must be an RFC 3339 time in the future"},
	{"usage-bootstrap-authentication", is_true,
	 "must be \"true\": the kubelet authenticates with the token"},
	{"usage-bootstrap-signing", is_true,
	 "must be \"true\": kubeadm's discovery needs the signed "
	 "cluster-info"},
	{"auth-extra-groups", groups_ok,
	 "must be a comma-separated list of system:bootstrappers:* groups "
	 "that includes " NODE_GROUP},
};

/* On refusal sets field/why (static or in buf). */
static bool
validate_data(json_t *data, char *field, size_t fsize, const char **why)
{
	const char *key, *v;
	json_t *val;
	size_t i;

	for (i = 0; i < ELEMENTSOF(checks); i++) {
		snprintf(field, fsize, "data[%s]", checks[i].key);
		v = json_string_value(json_object_get(data, checks[i].key));
		if (!v)
			*why = "Required value";
		else if (!checks[i].ok(v))
			*why = checks[i].why;
		else
			continue;
		return false;
	}
	json_object_foreach(data, key, val)
	{
		bool known = streq(key, "description");
		for (i = 0; i < ELEMENTSOF(checks); i++)
			known = known || streq(key, checks[i].key);
		if (!known) {
			snprintf(field, fsize, "data[%s]", key);
			*why = "Invalid value: not a key of a bootstrap token";
			return false;
		}
	}
	return true;
}

/* data (base64) and stringData (wins, as in the real server) merged into
 * one object of plain strings. -EBADMSG for bad base64 or types. */
static int
merge_data(json_t *body, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *out = json_object();
	json_t *data = json_object_get(body, "data"), *v;
	json_t *sd = json_object_get(body, "stringData");
	const char *key;

	if (!out || (data && !json_is_object(data)) ||
	    (sd && !json_is_object(sd)))
		return -EBADMSG;
	json_object_foreach(data, key, v)
	{
		_cleanup_erase_ char *plain = NULL;
		size_t n;
		if (!json_is_string(v) ||
		    b64std_decode(json_string_value(v), &plain, &n) < 0 ||
		    strlen(plain) != n)
			return -EBADMSG;
		if (json_object_set_new(out, key, json_string(plain)) < 0)
			return -EBADMSG;
	}
	json_object_foreach(sd, key, v)
	{
		if (!json_is_string(v))
			return -EBADMSG;
		json_object_set(out, key, v);
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static void
warn_unknown_fields(struct evhttp_request *req, json_t *body)
{
	static const char *const known[] = {"apiVersion", "kind", "metadata",
					    "type",	  "data", "stringData",
					    "immutable"};
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(body, key, v)
	{
		bool ok = false;
		char w[160];
		for (i = 0; i < ELEMENTSOF(known); i++)
			ok = ok || streq(key, known[i]);
		if (ok)
			continue;
		snprintf(w, sizeof(w), "299 - \"unknown field \\\"%.64s\\\"\"",
			 key);
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Warning", w);
	}
}

/* TypeMeta and ObjectMeta: 400 for what cannot be decoded, 422 when no
 * name. Returns the name, or NULL after answering. */
static const char *
check_meta(struct evhttp_request *req, json_t *body)
{
	const char *av = json_string_value(json_object_get(body, "apiVersion"));
	const char *kind = json_string_value(json_object_get(body, "kind"));
	json_t *meta = json_object_get(body, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (!kind || !av || !streq(av, "v1") || !streq(kind, "Secret"))
		api_reply_status(req, 400, "BadRequest", NULL, NULL,
				 "Object 'Kind' or 'apiVersion' is missing "
				 "or not v1 Secret");
	else if (!json_is_object(meta))
		api_reply_invalid(req, "Secret", "secrets", "", "metadata",
				  "Required value");
	else if (ns && !streq(ns, "kube-system"))
		api_reply_status(req, 400, "BadRequest", NULL, NULL,
				 "the namespace of the provided object does "
				 "not match the namespace sent on the request");
	else if (!name || !*name)
		api_reply_invalid(req, "Secret", "secrets", "", "metadata.name",
				  "Required value: name or generateName is "
				  "required");
	else
		return name;
	return NULL;
}

static json_t *
stored_secret(struct apiserver *a, const char *name, json_t *plain)
{
	json_t *data = json_object(), *v;
	const char *key;
	char uid[37], now[32], rv[24];

	json_object_foreach(plain, key, v)
	{
		char *b = NULL;
		const char *s = json_string_value(v);
		if (b64_encode(s, strlen(s), &b) < 0)
			break;
		json_object_set_new(data, key, json_string(b));
		erase_and_free(b);
	}
	api_uid(uid);
	api_now(now);
	snprintf(rv, sizeof(rv), "%lu", ++a->resource_version);
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:o}",
			 "kind", "Secret", "apiVersion", "v1", "metadata",
			 "name", name, "namespace", "kube-system", "uid", uid,
			 "resourceVersion", rv, "creationTimestamp", now,
			 "type", TOKEN_TYPE, "data", data);
}

static void
create_valid(struct apiserver *a, struct evhttp_request *req, const char *name,
	     json_t *plain)
{
	_cleanup_(json_decrefp) json_t *obj = NULL;
	int r;

	if (json_object_get(a->secrets, name)) {
		api_reply_status(req, 409, "AlreadyExists", "secrets", name,
				 "secrets \"%s\" already exists", name);
		return;
	}
	obj = stored_secret(a, name, plain);
	r = obj ? store_save(a->secrets_dirfd, name, obj) : -ENOMEM;
	if (r < 0) {
		api_reply_status(req, 500, "InternalError", NULL, NULL,
				 "cannot store the secret: %s", strerror(-r));
		return;
	}
	json_object_set(a->secrets, name, obj);
	log_info("created Secret kube-system/%s (bootstrap token id %.6s)",
		 name, name + strlen("bootstrap-token-"));
	api_reply_json(req, 201, obj);
}

/* metadata.name must be "bootstrap-token-" + data[token-id]. */
static bool
name_matches(const char *name, json_t *plain)
{
	const char *id = json_string_value(json_object_get(plain, "token-id"));
	const char *rest = startswith(name, "bootstrap-token-");

	return id && rest && streq(rest, id);
}

void
secrets_create(struct apiserver *a, struct evhttp_request *req)
{
	_cleanup_(json_decrefp) json_t *body = api_read_json(req, "Secret");
	_cleanup_(json_decrefp) json_t *plain = NULL;
	const char *name, *type, *why = NULL;
	char field[96];

	if (!body || !(name = check_meta(req, body)))
		return;
	if (merge_data(body, &plain) < 0) {
		api_reply_status(req, 400, "BadRequest", NULL, NULL,
				 "Secret in version \"v1\" cannot be handled "
				 "as a Secret: data must be an object of "
				 "base64 strings, stringData of strings");
		return;
	}
	warn_unknown_fields(req, body);
	type = json_string_value(json_object_get(body, "type"));
	if (!type || !streq(type, TOKEN_TYPE))
		api_reply_invalid(req, "Secret", "secrets", name, "type",
				  "Unsupported value: this STAND-IN accepts "
				  "only type " TOKEN_TYPE);
	else if (!validate_data(plain, field, sizeof(field), &why))
		api_reply_invalid(req, "Secret", "secrets", name, field, why);
	else if (!name_matches(name, plain))
		api_reply_invalid(req, "Secret", "secrets", name,
				  "metadata.name",
				  "Invalid value: must be bootstrap-token-"
				  "<data[token-id]>");
	else
		create_valid(a, req, name, plain);
}

/* The decoded value of a stored Secret's data[key]. */
static char *
secret_value(json_t *secret, const char *key)
{
	json_t *data = json_object_get(secret, "data");
	const char *b = json_string_value(json_object_get(data, key));
	char *plain = NULL;
	size_t n;

	if (!b || b64std_decode(b, &plain, &n) < 0)
		return NULL;
	return plain;
}

static bool
usable(json_t *secret, const char *usage)
{
	_cleanup_free_ char *exp = secret_value(secret, "expiration");
	_cleanup_free_ char *use = secret_value(secret, usage);

	return exp && use && expiration_ok(exp) && is_true(use);
}

int
secrets_authenticate(struct apiserver *a, const char *token)
{
	_cleanup_erase_ char *stored = NULL;
	char name[32];
	json_t *s;

	snprintf(name, sizeof(name), "bootstrap-token-%.6s", token);
	s = json_object_get(a->secrets, name);
	if (!s || !usable(s, "usage-bootstrap-authentication"))
		return -EACCES;
	stored = secret_value(s, "token-secret");
	if (!stored || strlen(stored) != 16 ||
	    CRYPTO_memcmp(stored, token + 7, 16) != 0)
		return -EACCES;
	return 0;
}

int
secrets_sign_cluster_info(struct apiserver *a, const char *kubeconfig,
			  json_t *data)
{
	const char *name;
	json_t *s;

	json_object_foreach(a->secrets, name, s)
	{
		_cleanup_free_ char *id = secret_value(s, "token-id");
		_cleanup_erase_ char *sec = secret_value(s, "token-secret");
		_cleanup_free_ char *jws = NULL;
		char token[32], key[48];
		int r;

		if (!id || !sec || !usable(s, "usage-bootstrap-signing"))
			continue;
		snprintf(token, sizeof(token), "%s.%s", id, sec);
		r = detached_jws_sign(kubeconfig, token, &jws);
		OPENSSL_cleanse(token, sizeof(token));
		if (r < 0)
			return r;
		snprintf(key, sizeof(key), "jws-kubeconfig-%s", id);
		json_object_set_new(data, key, json_string(jws));
	}
	return 0;
}
