/* SPDX-License-Identifier: MIT */
/* The enroll answer's sections, checked before any of it reaches a file,
 * a command line or a unit: every string that does is held to a strict
 * character set here, so that no value can start a new line, directive
 * or option where it lands. */
#include "config.h"

#include <limits.h>

#include "agent-enroll.h"
#include "aptsrc.h"
#include "fileio.h"
#include "name.h"
#include "netif.h"
#include "ossl.h"
#include "plan.h"

#define PLAN_FILE_MAX (256 * 1024)
#define TLS_CRYPT_BEGIN "-----BEGIN OpenVPN Static key V1-----"
#define TLS_CRYPT_END "-----END OpenVPN Static key V1-----"
#define PGP_BEGIN "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#define PGP_END "-----END PGP PUBLIC KEY BLOCK-----"

int
plan_load(const char *state_dir, json_t **ret)
{
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX];
	json_t *j;
	size_t len;
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", state_dir,
		     ENROLL_ANSWER_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = read_file(path, PLAN_FILE_MAX, &text, &len);
	if (r < 0)
		return r;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return -EBADMSG;
	}
	*ret = j;
	return 0;
}

bool
plan_package_name_valid(const char *s)
{
	const char *p;

	if (strlen(s) < 2 || strlen(s) > 64 ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      strchr("+.-", *p)))
			return false;
	return true;
}

bool
plan_image_valid(const char *s)
{
	return *s && strlen(s) <= 255 && name_chars_valid(s, "./:@_-") &&
	       s[0] != '-';
}

/* Armored text: optional '#' comment lines (as `openvpn --genkey` writes
 * them), then begin ... end; printable ASCII and newlines only, no '<' or
 * '>' (which could end an inline block of an OpenVPN profile). Returns
 * where the begin line starts, or NULL. */
static const char *
armor_start(const char *s, size_t max, const char *begin, const char *end)
{
	const char *p = s, *e;

	if (strlen(s) > max)
		return NULL;
	while (*p == '#' || *p == '\n' || *p == '\r') {
		p = strchr(p, '\n');
		if (!p)
			return NULL;
		p++;
	}
	if (strncmp(p, begin, strlen(begin)) != 0)
		return NULL;
	e = strstr(p, end);
	if (!e || strspn(e + strlen(end), "\r\n") != strlen(e + strlen(end)))
		return NULL;
	for (e = s; *e; e++)
		if (*e != '\n' && *e != '\r' &&
		    (*e < 0x20 || *e >= 0x7f || *e == '<' || *e == '>'))
			return NULL;
	return p;
}

int
plan_version_normalize(const char *s, char ret[PLAN_VERSION_MAX + 1])
{
	unsigned a, b, c;
	int n = 0;

	if (!s)
		return -EINVAL;
	if (s[0] == 'v')
		s++;
	if (strlen(s) > PLAN_VERSION_MAX || s[0] < '0' || s[0] > '9' ||
	    sscanf(s, "%3u.%3u.%3u%n", &a, &b, &c, &n) != 3 ||
	    (size_t)n != strlen(s) || !name_chars_valid(s, "."))
		return -EINVAL;
	snprintf(ret, PLAN_VERSION_MAX + 1, "%u.%u.%u", a, b, c);
	/* No leading zeros or signs: the text is the version. */
	return streq(ret, s) ? 0 : -EINVAL;
}

int
plan_version_minor(const char *version, unsigned *ret_major,
		   unsigned *ret_minor)
{
	unsigned a, b, c;

	if (sscanf(version, "%u.%u.%u", &a, &b, &c) != 3)
		return -EINVAL;
	*ret_major = a;
	*ret_minor = b;
	return 0;
}

int
plan_fingerprint_normalize(const char *s, char ret[PLAN_FPR_MAX + 1])
{
	size_t n = 0;

	for (; s && *s; s++) {
		if (*s == ' ')
			continue;
		if (n >= PLAN_FPR_MAX ||
		    !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return -EINVAL;
		ret[n++] = (char)(*s >= 'a' ? *s - 'a' + 'A' : *s);
	}
	ret[n] = '\0';
	return n == 40 || n == 64 ? 0 : -EINVAL;
}

/* A string member; absent or null is -ENODATA when required, NULL
 * otherwise. */
static int
get_str(json_t *obj, const char *where, const char *key, bool required,
	const char **ret, char *err, size_t errsz)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(err, errsz, "the server sent no %s.%s", where, key);
		return -ENODATA;
	}
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errsz, "%s.%s is not a string", where, key);
		return -EBADMSG;
	}
	*ret = json_string_value(v);
	return 0;
}

static int
bad(char *err, size_t errsz, const char *where, const char *key)
{
	snprintf(err, errsz, "%s.%s is malformed", where, key);
	return -EBADMSG;
}

/* An array of strings (up to max), each passing valid. */
static int
get_strs(json_t *obj, const char *where, const char *key,
	 bool (*valid)(const char *), const char **ret, size_t max,
	 size_t *ret_n, char *err, size_t errsz)
{
	json_t *a = json_object_get(obj, key), *e;
	size_t i;

	*ret_n = 0;
	if (!a || json_is_null(a)) {
		snprintf(err, errsz, "the server sent no %s.%s", where, key);
		return -ENODATA;
	}
	if (!json_is_array(a) || json_array_size(a) > max)
		return bad(err, errsz, where, key);
	json_array_foreach(a, i, e)
	{
		const char *s = json_string_value(e);
		if (!s || strlen(s) != json_string_length(e) || !valid(s))
			return bad(err, errsz, where, key);
		ret[i] = s;
	}
	*ret_n = json_array_size(a);
	return 0;
}

static int
section(json_t *answer, const char *key, json_t **ret, char *err, size_t errsz)
{
	json_t *v = json_object_get(answer, key);

	if (!v || json_is_null(v)) {
		snprintf(err, errsz, "the server sent no %s section", key);
		return -ENODATA;
	}
	if (!json_is_object(v)) {
		snprintf(err, errsz, "%s is not an object", key);
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

static bool
remote_valid(const char *s)
{
	char host[NETIF_HOST_MAX + 1];

	return netif_split_host_port(s, host, NULL) == 0;
}

static bool
route_valid(const char *s)
{
	unsigned len;

	/* A /0 would replace the default route. */
	return netif_parse_cidr(s, NULL, &len) == 0 && len > 0;
}

static int
vpn_direct(json_t *v, struct plan_vpn *p, char *err, size_t errsz)
{
	json_t *len = json_object_get(v, "prefix_len");
	int r;

	if ((r = get_str(v, "vpn", "address", true, &p->address, err, errsz)) <
		    0 ||
	    (r = get_str(v, "vpn", "proto", true, &p->proto, err, errsz)) < 0 ||
	    (r = get_str(v, "vpn", "tls_crypt", true, &p->tls_crypt, err,
			 errsz)) < 0 ||
	    (r = get_strs(v, "vpn", "remotes", remote_valid, p->remotes,
			  PLAN_REMOTES_MAX, &p->n_remotes, err, errsz)) < 0)
		return r;
	if (!netif_ipv4_valid(p->address))
		return bad(err, errsz, "vpn", "address");
	if (!json_is_integer(len) || json_integer_value(len) < 1 ||
	    json_integer_value(len) > 32)
		return bad(err, errsz, "vpn", "prefix_len");
	p->prefix_len = (unsigned)json_integer_value(len);
	if (!streq(p->proto, "udp") && !streq(p->proto, "tcp"))
		return bad(err, errsz, "vpn", "proto");
	p->tls_crypt =
		armor_start(p->tls_crypt, 4096, TLS_CRYPT_BEGIN, TLS_CRYPT_END);
	if (!p->tls_crypt)
		return bad(err, errsz, "vpn", "tls_crypt");
	if (p->n_remotes == 0) {
		snprintf(err, errsz, "the server sent no vpn.remotes");
		return -ENODATA;
	}
	return 0;
}

static int
vpn_routed(json_t *v, struct plan_vpn *p, char *err, size_t errsz)
{
	int r;

	if ((r = get_str(v, "vpn", "gateway", true, &p->gateway, err, errsz)) <
		    0 ||
	    (r = get_str(v, "vpn", "site_prefix", true, &p->site_prefix, err,
			 errsz)) < 0)
		return r;
	if (!netif_ipv4_valid(p->gateway))
		return bad(err, errsz, "vpn", "gateway");
	if (netif_parse_cidr(p->site_prefix, NULL, NULL) < 0)
		return bad(err, errsz, "vpn", "site_prefix");
	return 0;
}

int
plan_vpn_get(json_t *answer, struct plan_vpn *ret, char *err, size_t errsz)
{
	struct plan_vpn p = {0};
	const char *role, *mode;
	json_t *v;
	int r;

	if ((r = get_str(answer, "answer", "role", true, &role, err, errsz)) <
		    0 ||
	    (r = section(answer, "vpn", &v, err, errsz)) < 0 ||
	    (r = get_str(v, "vpn", "mode", true, &mode, err, errsz)) < 0)
		return r;
	if (!streq(role, "node") && !streq(role, "gateway"))
		return bad(err, errsz, "answer", "role");
	if (!streq(mode, "direct") && !streq(mode, "routed"))
		return bad(err, errsz, "vpn", "mode");
	p.gateway_role = streq(role, "gateway");
	p.direct = streq(mode, "direct") || p.gateway_role;
	r = get_strs(v, "vpn", "routes", route_valid, p.routes, PLAN_ROUTES_MAX,
		     &p.n_routes, err, errsz);
	if (r < 0)
		return r;
	r = p.direct ? vpn_direct(v, &p, err, errsz)
		     : vpn_routed(v, &p, err, errsz);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

static int
source_get(json_t *s, struct plan_source *p, char *err, size_t errsz)
{
	const char *fpr;
	int r;

	if (!json_is_object(s))
		return bad(err, errsz, "packages", "apt_sources");
	if ((r = get_str(s, "apt_sources[]", "name", true, &p->name, err,
			 errsz)) < 0 ||
	    (r = get_str(s, "apt_sources[]", "uri", true, &p->uri, err,
			 errsz)) < 0 ||
	    (r = get_str(s, "apt_sources[]", "suite", true, &p->suite, err,
			 errsz)) < 0 ||
	    (r = get_str(s, "apt_sources[]", "key", true, &p->key, err,
			 errsz)) < 0 ||
	    (r = get_str(s, "apt_sources[]", "fingerprint", true, &fpr, err,
			 errsz)) < 0 ||
	    (r = get_strs(s, "apt_sources[]", "components",
			  aptsrc_component_valid, p->components,
			  PLAN_COMPONENTS_MAX, &p->n_components, err, errsz)) <
		    0)
		return r;
	if (!name_is_dns_label(p->name))
		return bad(err, errsz, "apt_sources[]", "name");
	if (!aptsrc_uri_valid(p->uri))
		return bad(err, errsz, "apt_sources[]", "uri");
	if (!aptsrc_suite_valid(p->suite) ||
	    (aptsrc_suite_is_flat(p->suite) != (p->n_components == 0)))
		return bad(err, errsz, "apt_sources[]", "suite");
	p->key = armor_start(p->key, PLAN_KEY_MAX, PGP_BEGIN, PGP_END);
	if (!p->key)
		return bad(err, errsz, "apt_sources[]", "key");
	if (plan_fingerprint_normalize(fpr, p->fingerprint) < 0)
		return bad(err, errsz, "apt_sources[]", "fingerprint");
	return 0;
}

static int
sources_get(json_t *pk, struct plan_packages *p, char *err, size_t errsz)
{
	json_t *a = json_object_get(pk, "apt_sources"), *e;
	size_t i, k;
	int r;

	if (!a || json_is_null(a))
		return 0; /* the Kubernetes repository, from our config */
	if (!json_is_array(a) || json_array_size(a) > PLAN_SOURCES_MAX)
		return bad(err, errsz, "packages", "apt_sources");
	json_array_foreach(a, i, e)
	{
		r = source_get(e, &p->sources[i], err, errsz);
		if (r < 0)
			return r;
		for (k = 0; k < i; k++)
			if (streq(p->sources[k].name, p->sources[i].name))
				return bad(err, errsz, "apt_sources[]", "name");
	}
	p->n_sources = json_array_size(a);
	return 0;
}

static int
kube_packages_get(json_t *pk, struct plan_packages *p, char *err, size_t errsz)
{
	const char *version;
	bool kubeadm = false, kubelet = false;
	json_t *k;
	size_t i;
	int r;

	k = json_object_get(pk, "kubernetes");
	if (!k || json_is_null(k)) {
		snprintf(err, errsz,
			 "the server sent no packages.kubernetes "
			 "(no Kubernetes version is set)");
		return -ENODATA;
	}
	if (!json_is_object(k))
		return bad(err, errsz, "packages", "kubernetes");
	if ((r = get_str(k, "packages.kubernetes", "version", true, &version,
			 err, errsz)) < 0 ||
	    (r = get_strs(k, "packages.kubernetes", "packages",
			  plan_package_name_valid, p->packages,
			  PLAN_PACKAGES_MAX, &p->n_packages, err, errsz)) < 0)
		return r;
	if (plan_version_normalize(version, p->version) < 0)
		return bad(err, errsz, "packages.kubernetes", "version");
	for (i = 0; i < p->n_packages; i++) {
		kubeadm = kubeadm || streq(p->packages[i], "kubeadm");
		kubelet = kubelet || streq(p->packages[i], "kubelet");
	}
	if (!kubeadm || !kubelet) {
		snprintf(err, errsz,
			 "packages.kubernetes.packages lacks "
			 "kubeadm or kubelet");
		return -EBADMSG;
	}
	return 0;
}

int
plan_packages_get(json_t *answer, struct plan_packages *ret, char *err,
		  size_t errsz)
{
	struct plan_packages p = {0};
	json_t *pk;
	int r;

	if ((r = section(answer, "packages", &pk, err, errsz)) < 0 ||
	    (r = sources_get(pk, &p, err, errsz)) < 0 ||
	    (r = kube_packages_get(pk, &p, err, errsz)) < 0 ||
	    (r = get_str(pk, "packages", "runtime", true, &p.runtime, err,
			 errsz)) < 0 ||
	    (r = get_str(pk, "packages", "pause_image", true, &p.pause_image,
			 err, errsz)) < 0)
		return r;
	if (!streq(p.runtime, "containerd")) {
		snprintf(err, errsz,
			 "packages.runtime \"%.32s\" is not supported (only "
			 "containerd)",
			 p.runtime);
		return -EBADMSG;
	}
	if (!plan_image_valid(p.pause_image))
		return bad(err, errsz, "packages", "pause_image");
	*ret = p;
	return 0;
}

int
plan_kube_get(json_t *answer, struct plan_kube *ret, char *err, size_t errsz)
{
	struct plan_kube p = {0};
	char host[NETIF_HOST_MAX + 1];
	const char *version;
	json_t *k;
	int r;

	if ((r = section(answer, "kubernetes", &k, err, errsz)) < 0 ||
	    (r = get_str(k, "kubernetes", "api_endpoint", true, &p.api_endpoint,
			 err, errsz)) < 0 ||
	    (r = get_str(k, "kubernetes", "version", false, &version, err,
			 errsz)) < 0)
		return r;
	if (netif_split_host_port(p.api_endpoint, host, NULL) < 0)
		return bad(err, errsz, "kubernetes", "api_endpoint");
	if (version && plan_version_normalize(version, p.version) < 0)
		return bad(err, errsz, "kubernetes", "version");
	*ret = p;
	return 0;
}
