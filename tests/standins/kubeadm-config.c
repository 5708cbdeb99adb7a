/* SPDX-License-Identifier: MIT */
/* kubeadm STAND-IN (geostage tests): the JoinConfiguration, decoded as
 * strictly as the real kubeadm decodes it (unknown fields are errors) and
 * validated as PROTOCOL.md says geostage writes it. It reads JSON only,
 * which is what geostage writes (the real kubeadm also reads YAML). */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "common.h"
#include "fileio.h"
#include "kubeadm.h"
#include "name.h"

#define CONFIG_MAX (1024 * 1024)
#define V1BETA3 "kubeadm.k8s.io/v1beta3"
#define V1BETA4 "kubeadm.k8s.io/v1beta4"

enum ftype { F_STR, F_OBJ, F_ARR, F_BOOL, F_ARR_OR_NULL, F_ARGS };
enum { B3 = 1, B4 = 2, BOTH = 3 };

struct field {
	const char *name;
	enum ftype type;
	unsigned versions;
};

static const struct field top_fields[] = {{"apiVersion", F_STR, BOTH},
					  {"kind", F_STR, BOTH},
					  {"caCertPath", F_STR, BOTH},
					  {"discovery", F_OBJ, BOTH},
					  {"nodeRegistration", F_OBJ, BOTH},
					  {"controlPlane", F_OBJ, BOTH},
					  {"skipPhases", F_ARR, BOTH},
					  {"patches", F_OBJ, BOTH},
					  {"timeouts", F_OBJ, B4},
					  {"dryRun", F_BOOL, B4},
					  {}};
static const struct field discovery_fields[] = {
	{"bootstrapToken", F_OBJ, BOTH},
	{"file", F_OBJ, BOTH},
	{"tlsBootstrapToken", F_STR, BOTH},
	{"timeout", F_STR, B3},
	{}};
static const struct field token_fields[] = {
	{"token", F_STR, BOTH},
	{"apiServerEndpoint", F_STR, BOTH},
	{"caCertHashes", F_ARR, BOTH},
	{"unsafeSkipCAVerification", F_BOOL, BOTH},
	{}};
static const struct field nodereg_fields[] = {
	{"name", F_STR, BOTH},
	{"criSocket", F_STR, BOTH},
	{"taints", F_ARR_OR_NULL, BOTH},
	{"kubeletExtraArgs", F_ARGS, BOTH},
	{"ignorePreflightErrors", F_ARR, BOTH},
	{"imagePullPolicy", F_STR, BOTH},
	{"imagePullSerial", F_BOOL, B4},
	{}};

static const char *const type_names[] = {
	[F_STR] = "a string",
	[F_OBJ] = "an object",
	[F_ARR] = "a list",
	[F_BOOL] = "a boolean",
	[F_ARR_OR_NULL] = "a list",
	[F_ARGS] = "a list of {name, value} (v1beta4) or a map (v1beta3)"};

static int fail(const char *fmt, ...) _printf_(1, 2);
static int
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("invalid JoinConfiguration: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

static bool
type_ok(json_t *v, enum ftype t, unsigned ver)
{
	switch (t) {
	case F_STR:
		return json_is_string(v);
	case F_OBJ:
		return json_is_object(v);
	case F_ARR:
		return json_is_array(v);
	case F_BOOL:
		return json_is_boolean(v);
	case F_ARR_OR_NULL:
		return json_is_array(v) || json_is_null(v);
	case F_ARGS:
		return ver == B4 ? json_is_array(v) : json_is_object(v);
	}
	return false;
}

static int
check_fields(json_t *obj, const char *path, const struct field *fields,
	     unsigned ver)
{
	const struct field *f;
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		for (f = fields; f->name; f++)
			if (streq(f->name, key) && (f->versions & ver))
				break;
		if (!f->name)
			return fail("strict decoding error: unknown field "
				    "\"%s%s\"",
				    path, key);
		if (!type_ok(v, f->type, ver))
			return fail("%s%s: must be %s%s", path, key,
				    type_names[f->type],
				    f->type == F_ARGS
					    ? (ver == B4 ? "; v1beta4 wants "
							   "the list"
							 : "; v1beta3 wants "
							   "the map")
					    : "");
	}
	return 0;
}

static bool
endpoint_ok(const char *ep)
{
	const char *colon = strrchr(ep, ':');
	char host[256], *end;
	unsigned char b[16];
	size_t n;
	long port;

	if (!colon || colon == ep || (n = (size_t)(colon - ep)) >= sizeof(host))
		return false;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return false;
	memcpy(host, ep, n);
	host[n] = '\0';
	if (host[0] == '[') {
		if (n < 3 || host[n - 1] != ']')
			return false;
		host[n - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, b) == 1;
	}
	return inet_pton(AF_INET, host, b) == 1 ||
	       (strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n &&
		host[0] != '-' && host[0] != '.');
}

static bool
hash_ok(const char *h)
{
	const char *hex = startswith(h, "sha256:");

	return hex && strlen(hex) == 64 &&
	       strspn(hex, "0123456789abcdef") == 64;
}

static int
parse_hashes(struct join_config *c, json_t *hashes)
{
	json_t *h;
	size_t i;

	if (!hashes || json_array_size(hashes) == 0)
		return fail("discovery.bootstrapToken.caCertHashes: Required "
			    "value: token discovery without caCertHashes is "
			    "unsafe, and geostage must always pin the CA");
	if (json_array_size(hashes) > HASHES_MAX)
		return fail("discovery.bootstrapToken.caCertHashes: more than "
			    "%d hashes",
			    HASHES_MAX);
	json_array_foreach(hashes, i, h)
	{
		if (!json_is_string(h) || !hash_ok(json_string_value(h)))
			return fail("discovery.bootstrapToken.caCertHashes[%zu]"
				    ": Invalid value: want sha256:<64 "
				    "lowercase hex>",
				    i);
		c->hashes[c->n_hashes++] = strdup(json_string_value(h));
	}
	return 0;
}

static int
parse_discovery(struct join_config *c, json_t *d, unsigned ver)
{
	json_t *bt = json_object_get(d, "bootstrapToken");
	const char *ep, *tok, *tls;
	int r;

	if ((r = check_fields(d, "discovery.", discovery_fields, ver)) < 0)
		return r;
	if (json_object_get(d, "file"))
		return fail("discovery.file: the STAND-IN supports token "
			    "discovery only, which is what geostage uses");
	if (!bt)
		return fail("discovery.bootstrapToken: Required value");
	if ((r = check_fields(bt, "discovery.bootstrapToken.", token_fields,
			      ver)) < 0)
		return r;
	tok = json_string_value(json_object_get(bt, "token"));
	ep = json_string_value(json_object_get(bt, "apiServerEndpoint"));
	tls = json_string_value(json_object_get(d, "tlsBootstrapToken"));
	if (!bootstrap_token_is_valid(tok))
		return fail("discovery.bootstrapToken.token: Invalid value: "
			    "\"<redacted>\": the bootstrap token is invalid "
			    "(want [a-z0-9]{6}.[a-z0-9]{16})");
	if (tls && !bootstrap_token_is_valid(tls))
		return fail("discovery.tlsBootstrapToken: Invalid value: the "
			    "bootstrap token is invalid");
	if (!ep || !endpoint_ok(ep))
		return fail("discovery.bootstrapToken.apiServerEndpoint: "
			    "Invalid value: \"%s\": want HOST:PORT",
			    strempty(ep));
	if (json_is_true(json_object_get(bt, "unsafeSkipCAVerification")))
		return fail("discovery.bootstrapToken.unsafeSkipCAVerification"
			    ": geostage must never skip CA verification");
	c->token = strdup(tok);
	c->endpoint = strdup(ep);
	return parse_hashes(c, json_object_get(bt, "caCertHashes"));
}

/* kubeletExtraArgs as [[name, value]...], whichever form it came in. */
static int
parse_args(struct join_config *c, json_t *a, unsigned ver)
{
	const char *k, *name, *value;
	json_error_t err;
	json_t *v;
	size_t i;

	c->args = json_array();
	if (ver == B3) {
		json_object_foreach(a, k, v)
		{
			if (!json_is_string(v))
				return fail("nodeRegistration.kubeletExtraArgs"
					    "[%s]: must be a string",
					    k);
			json_array_append_new(c->args,
					      json_pack("[s,O]", k, v));
		}
		return 0;
	}
	json_array_foreach(a, i, v)
	{
		if (json_unpack_ex(v, &err, JSON_STRICT, "{s:s, s:s}", "name",
				   &name, "value", &value) < 0)
			return fail("nodeRegistration.kubeletExtraArgs[%zu]: "
				    "want {\"name\": ..., \"value\": ...}: %s",
				    i, err.text);
		json_array_append_new(c->args, json_pack("[s,s]", name, value));
	}
	return 0;
}

static int
parse_ignore(struct join_config *c, json_t *list)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v) || c->n_ignore >= IGNORE_MAX)
			return fail("nodeRegistration.ignorePreflightErrors: "
				    "want at most %d strings",
				    IGNORE_MAX);
		c->ignore[c->n_ignore++] = strdup(json_string_value(v));
	}
	return 0;
}

static int
parse_nodereg(struct join_config *c, json_t *n, unsigned ver)
{
	const char *name, *cri, *pull;
	json_t *args;
	char err[512];
	int r;

	if (!n)
		return fail("nodeRegistration: Required value");
	if ((r = check_fields(n, "nodeRegistration.", nodereg_fields, ver)) < 0)
		return r;
	name = json_string_value(json_object_get(n, "name"));
	cri = json_string_value(json_object_get(n, "criSocket"));
	pull = json_string_value(json_object_get(n, "imagePullPolicy"));
	args = json_object_get(n, "kubeletExtraArgs");
	if (!name_is_dns_label(name))
		return fail("nodeRegistration.name: Invalid value: \"%s\": "
			    "must be an RFC 1123 label",
			    strempty(name));
	if (cri && (strncmp(cri, "unix:///", 8) != 0 || strlen(cri) > 200))
		return fail("nodeRegistration.criSocket: Invalid value: "
			    "\"%s\": want unix:///PATH",
			    cri);
	if (pull && !streq(pull, "Always") && !streq(pull, "IfNotPresent") &&
	    !streq(pull, "Never"))
		return fail("nodeRegistration.imagePullPolicy: Unsupported "
			    "value: \"%s\"",
			    pull);
	c->node_name = strdup(name);
	c->cri_socket =
		strdup(cri ? cri : "unix:///run/containerd/containerd.sock");
	if ((r = parse_ignore(c, json_object_get(n, "ignorePreflightErrors"))) <
		    0 ||
	    (r = parse_args(c, args, ver)) < 0)
		return r;
	if (kubelet_args_check(c, err, sizeof(err)) < 0)
		return fail("nodeRegistration.kubeletExtraArgs: %s", err);
	return 0;
}

static int
check_version(const char *av, const char *kind, const struct standin_version *v,
	      unsigned *ret_ver)
{
	const char *want = v->minor >= 31 ? V1BETA4 : V1BETA3;

	if (!av || !kind)
		return fail("'apiVersion' and 'kind' are required");
	if (!streq(kind, "JoinConfiguration"))
		return fail("kind \"%s\": want JoinConfiguration", kind);
	if (!streq(av, want))
		return fail("apiVersion \"%s\" is not what kubeadm %s takes: "
			    "geostage must write %s for Kubernetes >= 1.31 "
			    "and %s below",
			    av, v->text, V1BETA4, V1BETA3);
	*ret_ver = v->minor >= 31 ? B4 : B3;
	return 0;
}

static int
check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fail("unable to read config from \"%s\": %m", path);
	if (!S_ISREG(st.st_mode))
		return fail("\"%s\" is not a regular file", path);
	if (st.st_mode & 077)
		return fail("STAND-IN check: \"%s\" has mode %04o; it holds a "
			    "bootstrap token, geostage must write it 0600",
			    path, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int
parse(struct join_config *c, json_t *j, const struct standin_version *v)
{
	unsigned ver = 0;
	int r;

	if ((r = check_version(
		     json_string_value(json_object_get(j, "apiVersion")),
		     json_string_value(json_object_get(j, "kind")), v, &ver)) <
		    0 ||
	    (r = check_fields(j, "", top_fields, ver)) < 0)
		return r;
	c->api_version = ver == B4 ? V1BETA4 : V1BETA3;
	if (json_object_get(j, "controlPlane"))
		return fail("controlPlane: the STAND-IN joins worker nodes "
			    "only");
	if (json_is_true(json_object_get(j, "dryRun")))
		return fail("dryRun: not supported by the STAND-IN");
	if (!json_object_get(j, "discovery"))
		return fail("discovery: Required value");
	if ((r = parse_discovery(c, json_object_get(j, "discovery"), ver)) < 0)
		return r;
	return parse_nodereg(c, json_object_get(j, "nodeRegistration"), ver);
}

int
join_config_load(const char *path, const struct standin_version *v,
		 struct join_config **ret)
{
	_cleanup_(join_config_freep) struct join_config *c = NULL;
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_erase_ char *text = NULL;
	json_error_t err;
	size_t len;
	int r;

	if ((r = check_file(path)) < 0)
		return r;
	if ((r = read_file(path, CONFIG_MAX, &text, &len)) < 0)
		return fail("unable to read config from \"%s\": %s", path,
			    strerror(-r));
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(j))
		return fail("%s: line %d: %s (the STAND-IN reads JSON, which "
			    "geostage writes)",
			    path, err.line, j ? "not an object" : err.text);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if ((r = parse(c, j, v)) < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

void
join_config_free(struct join_config *c)
{
	size_t i;

	if (!c)
		return;
	free(c->endpoint);
	erase_and_free(c->token);
	for (i = 0; i < c->n_hashes; i++)
		free(c->hashes[i]);
	for (i = 0; i < c->n_ignore; i++)
		free(c->ignore[i]);
	free(c->node_name);
	free(c->node_ip);
	free(c->cri_socket);
	json_decref(c->labels);
	json_decref(c->args);
	free(c);
}
