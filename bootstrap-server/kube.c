/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <time.h>

#include "crypto.h"
#include "kube-internal.h"
#include "log.h"
#include "ossl.h"

#define KUBE_RESPONSE_MAX (1024 * 1024)
#define KUBE_TIMEOUT_S 10L

struct response {
	char *data;
	size_t len;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

static void
wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
kube_free(struct kube *k)
{
	if (!k)
		return;
	free(k->server);
	free(k->endpoint);
	free(k->ca_pem);
	free(k->cert_pem);
	wipe_free(k->key_pem);
	wipe_free(k->token);
	free(k);
}

int
kube_open(const char *kubeconfig, struct kube **ret)
{
	struct kube *k = calloc(1, sizeof(*k));
	const char *host;
	int r;

	if (!k)
		return -ENOMEM;
	r = kube_config_read(kubeconfig, k);
	if (r >= 0) {
		host = k->server + strlen("https://");
		k->endpoint = strndup(host, strcspn(host, "/"));
		if (!k->endpoint)
			r = -ENOMEM;
	}
	if (r < 0) {
		kube_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

const char *
kube_endpoint(const struct kube *k)
{
	return k->endpoint;
}

int
kube_ca_cert_hash(const struct kube *k, char **ret)
{
	_cleanup_(X509_freep) X509 *ca = NULL;
	int r;

	r = crypto_cert_from_pem(k->ca_pem, strlen(k->ca_pem), &ca);
	if (r < 0)
		return r;
	return crypto_spki_hash_hex(X509_get0_pubkey(ca), ret);
}

static size_t
on_data(char *ptr, size_t size, size_t n, void *userdata)
{
	struct response *resp = userdata;
	size_t len = size * n;
	char *d;

	if (resp->len + len > KUBE_RESPONSE_MAX)
		return 0; /* aborts the transfer */
	d = realloc(resp->data, resp->len + len + 1);
	if (!d)
		return 0;
	memcpy(d + resp->len, ptr, len);
	resp->len += len;
	d[resp->len] = '\0';
	resp->data = d;
	return len;
}

static int
set_credentials(struct kube *k, CURL *c, struct curl_slist **headers)
{
	struct curl_blob ca = {k->ca_pem, strlen(k->ca_pem), CURL_BLOB_COPY};
	char auth[4200];

	curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
	if (k->token) {
		if (strlen(k->token) > 4000)
			return -EINVAL;
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 k->token);
		*headers = curl_slist_append(*headers, auth);
		explicit_bzero(auth, sizeof(auth));
		return *headers ? 0 : -ENOMEM;
	}
	struct curl_blob cert = {k->cert_pem, strlen(k->cert_pem),
				 CURL_BLOB_COPY};
	struct curl_blob key = {k->key_pem, strlen(k->key_pem),
				CURL_BLOB_COPY};
	curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
	curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
	curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	return 0;
}

/* One request; -EHOSTUNREACH when the API cannot be reached. */
static int
request(struct kube *k, const char *method, const char *path,
	const char *body, long *ret_status, struct response *resp)
{
	_cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
	char url[512];
	CURLcode cc;
	int r;

	if (!c)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s%s", k->server, path);
	headers = curl_slist_append(NULL, "Accept: application/json");
	if (body)
		headers = curl_slist_append(headers,
					    "Content-Type: application/json");
	if (!headers)
		return -ENOMEM;
	r = set_credentials(k, c, &headers);
	if (r < 0)
		return r;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, KUBE_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		log_warning("Kubernetes API %s %s: %s", method, path,
			    curl_easy_strerror(cc));
		return -EHOSTUNREACH;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
	return 0;
}

int
kube_version(struct kube *k, char **ret)
{
	struct response resp = {0};
	json_t *j = NULL;
	const char *v;
	long status = 0;
	int r;

	r = request(k, "GET", "/version", NULL, &status, &resp);
	if (r >= 0 && status != 200)
		r = -EIO;
	if (r >= 0) {
		j = json_loadb(resp.data, resp.len, 0, NULL);
		v = json_string_value(json_object_get(j, "gitVersion"));
		if (!v || v[0] != 'v' || strlen(v) > 64)
			r = -EBADMSG;
		else if (!(*ret = strdup(v)))
			r = -ENOMEM;
	}
	json_decref(j);
	free(resp.data);
	return r;
}

/* n random characters of [a-z0-9], without modulo bias. */
static int
random_token_chars(char *buf, size_t n)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t i = 0;

	while (i < n) {
		unsigned char b;
		if (RAND_bytes(&b, 1) != 1)
			return -EIO;
		if (b < 252) /* 7 * 36 */
			buf[i++] = alpha[b % 36];
	}
	buf[n] = '\0';
	return 0;
}

static json_t *
bootstrap_secret(const char *id, const char *secret, const char *node,
		 int64_t expires)
{
	char name[32], exp[32], desc[128];
	time_t t = (time_t)expires;
	struct tm tm;

	snprintf(name, sizeof(name), "bootstrap-token-%s", id);
	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(desc, sizeof(desc), "geostage: kubeadm join of node %s",
		 node);
	return json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s, s:s, s:s, s:s,"
		" s:s, s:s}}",
		"apiVersion", "v1", "kind", "Secret", "metadata", "name", name,
		"namespace", "kube-system", "type",
		"bootstrap.kubernetes.io/token", "stringData", "token-id", id,
		"token-secret", secret, "expiration", exp,
		"usage-bootstrap-authentication", "true",
		"usage-bootstrap-signing", "true", "auth-extra-groups",
		"system:bootstrappers:kubeadm:default-node-token",
		"description", desc);
}

static int
create_secret(struct kube *k, const char *id, const char *secret,
	      const char *node, int64_t expires)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	struct response resp = {0};
	char *body;
	long status = 0;
	int r;

	j = bootstrap_secret(id, secret, node, expires);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!body)
		return -ENOMEM;
	r = request(k, "POST", "/api/v1/namespaces/kube-system/secrets", body,
		    &status, &resp);
	explicit_bzero(body, strlen(body));
	free(body);
	free(resp.data);
	if (r < 0)
		return r;
	if (status == 409)
		return -EEXIST;
	if (status != 201 && status != 200) {
		log_warning("Kubernetes API refused the bootstrap token "
			    "Secret: HTTP %ld",
			    status);
		return -EIO;
	}
	return 0;
}

int
kube_bootstrap_token(struct kube *k, const char *node, int64_t now,
		     char ret_token[24], int64_t *ret_expires)
{
	char id[7], secret[17];
	int64_t expires = now + KUBE_TOKEN_TTL;
	int r = -EEXIST, tries;

	for (tries = 0; tries < 3 && r == -EEXIST; tries++) {
		if ((r = random_token_chars(id, 6)) < 0 ||
		    (r = random_token_chars(secret, 16)) < 0)
			break;
		r = create_secret(k, id, secret, node, expires);
	}
	if (r >= 0) {
		snprintf(ret_token, 24, "%s.%s", id, secret);
		*ret_expires = expires;
	}
	explicit_bzero(secret, sizeof(secret));
	return r;
}

int
kube_delete_node(struct kube *k, const char *name)
{
	struct response resp = {0};
	char path[128];
	long status = 0;
	int r;

	snprintf(path, sizeof(path), "/api/v1/nodes/%s", name);
	r = request(k, "DELETE", path, NULL, &status, &resp);
	free(resp.data);
	if (r < 0)
		return r;
	if (status == 404)
		return -ENOENT;
	return status == 200 || status == 202 ? 0 : -EIO;
}
