/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "join-config.h"
#include "macro.h"
#include "name.h"
#include "netif.h"
#include "ossl.h"

#define LABELS_MAX 64

static bool
token_valid(const char *s)
{
	size_t i;

	if (!s || strlen(s) != JOIN_TOKEN_LEN || s[6] != '.')
		return false;
	for (i = 0; i < JOIN_TOKEN_LEN; i++)
		if (i != 6 && !((s[i] >= 'a' && s[i] <= 'z') ||
				(s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool
hash_valid(const char *s)
{
	const char *h = s ? startswith(s, "sha256:") : NULL;
	size_t i;

	if (!h || strlen(h) != 64)
		return false;
	for (i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') ||
		      (h[i] >= 'a' && h[i] <= 'f') ||
		      (h[i] >= 'A' && h[i] <= 'F')))
			return false;
	return true;
}

static int
fail(char *err, size_t errsz, const char *field)
{
	snprintf(err, errsz, "the join answer's %s is missing or malformed",
		 field);
	return -EBADMSG;
}

static bool
labels_valid(json_t *labels)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels) || json_object_size(labels) > LABELS_MAX)
		return false;
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v) || !label_key_is_valid(k) ||
		    !label_value_is_valid(json_string_value(v)))
			return false;
	}
	return true;
}

static int
hashes_get(json_t *j, struct join_answer *a)
{
	json_t *h = json_object_get(j, "ca_cert_hashes"), *e;
	size_t i;

	if (!json_is_array(h) || json_array_size(h) == 0 ||
	    json_array_size(h) > JOIN_HASHES_MAX)
		return -EBADMSG;
	json_array_foreach(h, i, e)
	{
		if (!hash_valid(json_string_value(e)))
			return -EBADMSG;
		a->ca_cert_hashes[i] = json_string_value(e);
	}
	a->n_hashes = json_array_size(h);
	return 0;
}

int
join_answer_check(json_t *j, const char *node, const char *fallback_version,
		  struct join_answer *ret, char *err, size_t errsz)
{
	struct join_answer a = {0};
	char host[NETIF_HOST_MAX + 1];
	json_t *v;

	if (!json_is_object(j))
		return fail(err, errsz, "body");
	a.api_endpoint = json_string_value(json_object_get(j, "api_endpoint"));
	a.token = json_string_value(json_object_get(j, "token"));
	a.node_name = json_string_value(json_object_get(j, "node_name"));
	a.node_ip = json_string_value(json_object_get(j, "node_ip"));
	a.labels = json_object_get(j, "labels");
	if (netif_split_host_port(a.api_endpoint, host, NULL) < 0)
		return fail(err, errsz, "api_endpoint");
	if (!token_valid(a.token))
		return fail(err, errsz, "token");
	if (hashes_get(j, &a) < 0)
		return fail(err, errsz, "ca_cert_hashes");
	if (!a.node_name || !streq(a.node_name, node))
		return fail(err, errsz, "node_name (not this node's name)");
	if (!netif_ipv4_valid(a.node_ip))
		return fail(err, errsz, "node_ip");
	if (!a.labels || json_is_null(a.labels))
		a.labels = NULL;
	else if (!labels_valid(a.labels))
		return fail(err, errsz, "labels");
	v = json_object_get(j, "kubernetes_version");
	if (v && !json_is_null(v)) {
		if (plan_version_normalize(json_string_value(v), a.version) < 0)
			return fail(err, errsz, "kubernetes_version");
	} else if (!fallback_version || !fallback_version[0]) {
		return fail(err, errsz, "kubernetes_version");
	} else {
		snprintf(a.version, sizeof(a.version), "%s", fallback_version);
	}
	*ret = a;
	return 0;
}

static bool
in_domain(const char *ns, const char *domain)
{
	size_t n = strlen(ns), d = strlen(domain);

	return streq(ns, domain) ||
	       (n > d && ns[n - d - 1] == '.' && streq(ns + n - d, domain));
}

/* kubelet's rule (k8s.io/kubelet/pkg/apis: IsKubeletLabel). */
bool
join_label_kubelet_may_set(const char *key)
{
	static const char *const own[] = {
		"kubernetes.io/hostname",
		"kubernetes.io/arch",
		"kubernetes.io/os",
		"beta.kubernetes.io/arch",
		"beta.kubernetes.io/os",
		"beta.kubernetes.io/instance-type",
		"node.kubernetes.io/instance-type",
		"failure-domain.beta.kubernetes.io/region",
		"failure-domain.beta.kubernetes.io/zone",
		"topology.kubernetes.io/region",
		"topology.kubernetes.io/zone",
	};
	const char *slash = strchr(key, '/');
	char ns[256];
	size_t i;

	if (!slash || (size_t)(slash - key) >= sizeof(ns))
		return true;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	if (!in_domain(ns, "kubernetes.io") && !in_domain(ns, "k8s.io"))
		return true;
	for (i = 0; i < ELEMENTSOF(own); i++)
		if (streq(key, own[i]))
			return true;
	return in_domain(ns, "kubelet.kubernetes.io") ||
	       in_domain(ns, "node.kubernetes.io");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
join_node_labels(json_t *labels, const char *site, char **ret,
		 unsigned *ret_dropped)
{
	_cleanup_(json_decrefp) json_t *all = NULL;
	_cleanup_free_ char *buf = NULL;
	const char *keys[LABELS_MAX + 1] = {NULL}, *k;
	size_t n = 0, len = 0, i;
	unsigned dropped = 0;
	json_t *v;
	FILE *f;

	all = labels ? json_copy(labels) : json_object();
	if (!all || json_object_size(all) > LABELS_MAX ||
	    json_object_set_new(all, "geostage.io/site", json_string(site)) < 0)
		return -ENOMEM;
	json_object_foreach(all, k, v)
	{
		if (join_label_kubelet_may_set(k))
			keys[n++] = k;
		else
			dropped++;
	}
	qsort(keys, n, sizeof(keys[0]), cmp_str);
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		fprintf(f, "%s%s=%s", i ? "," : "", keys[i],
			json_string_value(json_object_get(all, keys[i])));
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	*ret_dropped = dropped;
	return 0;
}

const char *
join_api_version(const char *version)
{
	unsigned major = 0, minor = 0;

	(void)plan_version_minor(version, &major, &minor);
	if (major > 1 || (major == 1 && minor >= 31))
		return "kubeadm.k8s.io/v1beta4";
	return "kubeadm.k8s.io/v1beta3";
}

static json_t *
extra_args(const char *api_version, const char *node_ip, const char *labels)
{
	if (streq(api_version, "kubeadm.k8s.io/v1beta3"))
		return json_pack("{s:s, s:s}", "node-ip", node_ip,
				 "node-labels", labels);
	return json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "node-ip", "value",
			 node_ip, "name", "node-labels", "value", labels);
}

int
join_render_config(const struct join_answer *a, const char *node_labels,
		   char **ret)
{
	const char *api = join_api_version(a->version);
	_cleanup_(json_decrefp) json_t *j = NULL, *hashes = NULL;
	json_t *token;
	char *text, *out;
	size_t i;
	int n;

	hashes = json_array();
	for (i = 0; hashes && i < a->n_hashes; i++)
		if (json_array_append_new(
			    hashes, json_string(a->ca_cert_hashes[i])) < 0)
			return -ENOMEM;
	j = hashes ? json_pack("{s:s, s:s, s:{s:{s:s, s:s, s:O}}, "
			       "s:{s:s, s:s, s:o}}",
			       "apiVersion", api, "kind", "JoinConfiguration",
			       "discovery", "bootstrapToken",
			       "apiServerEndpoint", a->api_endpoint, "token",
			       a->token, "caCertHashes", hashes,
			       "nodeRegistration", "name", a->node_name,
			       "criSocket", JOIN_CRI_SOCKET, "kubeletExtraArgs",
			       extra_args(api, a->node_ip, node_labels))
		   : NULL;
	if (!j)
		return -ENOMEM;
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	token = json_object_get(json_object_get(json_object_get(j, "discovery"),
						"bootstrapToken"),
				"token");
	join_wipe_string(token);
	if (!text)
		return -ENOMEM;
	n = asprintf(&out, "%s\n", text);
	erase_and_free(text);
	if (n < 0)
		return -ENOMEM;
	*ret = out;
	return 0;
}

static void
redact_all(char *text, const char *needle)
{
	size_t n = strlen(needle);
	char *p = text;

	if (n == 0)
		return;
	while ((p = strstr(p, needle))) {
		memset(p, '*', n);
		p += n;
	}
}

void
join_redact(char *text, const char *token)
{
	if (!text || !token)
		return;
	redact_all(text, token);
	/* The secret half alone ("abcdef.<secret>"). */
	if (strlen(token) == JOIN_TOKEN_LEN)
		redact_all(text, token + 7);
}

void
join_wipe_string(json_t *s)
{
	if (json_is_string(s))
		explicit_bzero((char *)json_string_value(s),
			       json_string_length(s));
}
