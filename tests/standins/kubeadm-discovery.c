/* SPDX-License-Identifier: MIT */
/* kubeadm STAND-IN (geostage tests): token discovery, as the real kubeadm
 * does it. The cluster-info ConfigMap is fetched without trusting the
 * server; its detached JWS must verify with the bootstrap token (so the
 * server knows the token), the CA in it must match one of caCertHashes
 * (so it is the right cluster), and from then on only that CA is
 * trusted, with the endpoint's address checked against the serving
 * certificate (so the endpoint is reachable, e.g. through the tunnel). */
#include "config.h"

#include <curl/curl.h>
#include <openssl/x509.h>

#include "common.h"
#include "crypto.h"
#include "kubeadm.h"
#include "ossl.h"

#define REPLY_MAX (1024 * 1024)

struct sink {
	char *buf;
	size_t len;
};

static size_t
on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t add = size * n;
	char *b;

	if (s->len + add > REPLY_MAX)
		return 0;
	b = realloc(s->buf, s->len + add + 1);
	if (!b)
		return 0;
	memcpy(b + s->len, p, add);
	s->len += add;
	b[s->len] = '\0';
	s->buf = b;
	return add;
}

static void
slist_freep(struct curl_slist **l)
{
	curl_slist_free_all(*l);
}

static void
curl_freep(CURL **c)
{
	if (*c)
		curl_easy_cleanup(*c);
}

static void
set_tls(CURL *c, const char *ca_pem)
{
	if (ca_pem) {
		struct curl_blob blob = {.data = (void *)ca_pem,
					 .len = strlen(ca_pem),
					 .flags = CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	} else {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

int
http_call(const char *endpoint, const char *path, const char *ca_pem,
	  const char *bearer, const char *body, struct http_reply *ret,
	  char *err, size_t size)
{
	_cleanup_(curl_freep) CURL *c = curl_easy_init();
	_cleanup_(slist_freep) struct curl_slist *h = NULL;
	_cleanup_erase_ char *auth = NULL;
	char url[512], ebuf[CURL_ERROR_SIZE] = "";
	struct sink s = {0};
	CURLcode cr;

	snprintf(url, sizeof(url), "https://%s%s", endpoint, path);
	if (!c ||
	    (bearer && asprintf(&auth, "Authorization: Bearer %s", bearer) < 0))
		return -ENOMEM;
	h = curl_slist_append(h, "Accept: application/json");
	if (auth)
		h = curl_slist_append(h, auth);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	set_tls(c, ca_pem);
	cr = curl_easy_perform(c);
	if (cr != CURLE_OK) {
		snprintf(err, size, "%s \"%s\": %s", body ? "Post" : "Get", url,
			 ebuf[0] ? ebuf : curl_easy_strerror(cr));
		free(s.buf);
		return -EHOSTUNREACH;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->code);
	ret->body = s.buf ? s.buf : strdup("");
	return ret->body ? 0 : -ENOMEM;
}

static int
fail(const char *what)
{
	fprintf(stderr,
		"error execution phase preflight: couldn't validate the "
		"identity of the API Server: %s\n",
		what);
	return -EACCES;
}

/* data.kubeconfig and data["jws-kubeconfig-<id>"] of cluster-info. */
static int
fetch_cluster_info(const struct join_config *c, json_t **ret_cm)
{
	struct http_reply rep = {0};
	char err[1024];
	json_t *cm;
	int r;

	r = http_call(c->endpoint,
		      "/api/v1/namespaces/kube-public/configmaps/cluster-info",
		      NULL, NULL, NULL, &rep, err, sizeof(err));
	if (r < 0)
		return fail(err);
	cm = rep.code == 200 ? json_loads(rep.body, 0, NULL) : NULL;
	free(rep.body);
	if (!json_is_string(json_object_get(json_object_get(cm, "data"),
					    "kubeconfig"))) {
		json_decref(cm);
		snprintf(err, sizeof(err),
			 "failed to request the cluster-info ConfigMap "
			 "(HTTP %ld)",
			 rep.code);
		return fail(err);
	}
	*ret_cm = cm;
	return 0;
}

static int
check_pin(const struct join_config *c, const char *ca_pem)
{
	_cleanup_(X509_freep) X509 *ca = NULL;
	_cleanup_free_ char *hash = NULL;
	char err[256];
	size_t i;

	if (crypto_cert_from_pem(ca_pem, strlen(ca_pem), &ca) < 0 ||
	    crypto_spki_hash_hex(X509_get0_pubkey(ca), &hash) < 0)
		return fail("the cluster CA in cluster-info cannot be parsed");
	for (i = 0; i < c->n_hashes; i++)
		if (streq(c->hashes[i], hash))
			return 0;
	snprintf(err, sizeof(err),
		 "cluster CA found in cluster-info ConfigMap is invalid: none "
		 "of the public keys \"%s\" are pinned",
		 hash);
	return fail(err);
}

/* GET /version with the pinned CA; the kubelet (our version) must not be
 * newer than the control plane. */
static int
check_version(const struct join_config *c, const char *ca_pem,
	      const struct standin_version *v)
{
	struct http_reply rep = {0};
	struct standin_version cp;
	char err[1024];
	json_t *j;
	int r;

	r = http_call(c->endpoint, "/version", ca_pem, NULL, NULL, &rep, err,
		      sizeof(err));
	if (r < 0)
		return fail(err);
	j = json_loads(rep.body, 0, NULL);
	free(rep.body);
	r = standin_version_parse(
		json_string_value(json_object_get(j, "gitVersion")), &cp);
	json_decref(j);
	if (r < 0)
		return fail("GET /version gave no usable gitVersion");
	if (v->minor > cp.minor) {
		fprintf(stderr,
			"error execution phase preflight: [preflight] Some "
			"fatal errors occurred:\n\t[ERROR KubeletVersion]: the "
			"kubelet version is higher than the control plane "
			"version. This is not a supported version skew and "
			"may lead to a malfunctional cluster. Kubelet version: "
			"\"%s\" Control plane version: \"%s\"\n",
			v->text, cp.text);
		return -EPROTO;
	}
	if (v->minor + 1 < cp.minor)
		printf("[preflight] WARNING: kubelet %s is more than one minor "
		       "version older than the control plane %s\n",
		       v->text, cp.text);
	return 0;
}

int
discovery_run(const struct join_config *c, const struct standin_version *v,
	      char **ret_ca_pem)
{
	_cleanup_(json_decrefp) json_t *cm = NULL;
	_cleanup_free_ char *ca_pem = NULL;
	const char *kc, *jws;
	json_t *data;
	char key[32], err[128];
	int r;

	printf("[preflight] Reading configuration from the cluster...\n");
	if ((r = fetch_cluster_info(c, &cm)) < 0)
		return r;
	data = json_object_get(cm, "data");
	kc = json_string_value(json_object_get(data, "kubeconfig"));
	snprintf(key, sizeof(key), "jws-kubeconfig-%.6s", c->token);
	jws = json_string_value(json_object_get(data, key));
	if (!jws) {
		snprintf(err, sizeof(err),
			 "could not find a JWS signature in the cluster-info "
			 "ConfigMap for token ID \"%.6s\"",
			 c->token);
		return fail(err);
	}
	if (detached_jws_verify(jws, kc, c->token) < 0)
		return fail("failed to verify JWS signature of received "
			    "cluster info object, can't trust this API Server");
	if (kubeconfig_ca_pem(kc, &ca_pem) < 0)
		return fail("no certificate-authority-data in cluster-info");
	if ((r = check_pin(c, ca_pem)) < 0 ||
	    (r = check_version(c, ca_pem, v)) < 0)
		return r;
	printf("[discovery] Cluster info signature and contents are valid and "
	       "TLS certificate validates against pinned roots, will use API "
	       "Server \"%s\"\n",
	       c->endpoint);
	*ret_ca_pem = TAKE_PTR(ca_pem);
	return 0;
}
