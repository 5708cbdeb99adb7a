/* SPDX-License-Identifier: MIT */
/* The server's answer to POST /v1/enroll: checked field by field before
 * anything of it is persisted or trusted. */
#include "config.h"

#include <limits.h>

#include "crypto.h"
#include "agent-enroll.h"
#include "fileio.h"
#include "log.h"
#include "ossl.h"

#define PEM_MAX (64 * 1024)

void
agent_answer_done(struct agent_answer *a)
{
	X509_free(a->cert);
	X509_free(a->ca);
	a->cert = a->ca = NULL;
}

static int
get_pem(json_t *j, const char *key, X509 **ret)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_string(v) || json_string_length(v) > PEM_MAX)
		return -EBADMSG;
	return crypto_cert_from_pem(json_string_value(v), json_string_length(v),
				    ret);
}

/* Fields later steps read: when present, of the right type. */
static bool
types_ok(json_t *j)
{
	static const struct {
		const char *key;
		json_type type;
	} fields[] = {
		{"role", JSON_STRING},	 {"serial", JSON_STRING},
		{"vpn", JSON_OBJECT},	 {"kubernetes", JSON_OBJECT},
		{"labels", JSON_OBJECT},
	};
	json_t *v;
	size_t i;

	for (i = 0; i < ELEMENTSOF(fields); i++) {
		v = json_object_get(j, fields[i].key);
		if (v && json_typeof(v) != fields[i].type)
			return false;
	}
	v = json_object_get(j, "repeat");
	return !v || json_is_boolean(v);
}

static int
verify_chain(X509 *cert, X509 *ca, char *err, size_t errsz)
{
	_cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx =
		X509_STORE_CTX_new();

	if (!store || !ctx)
		return -ENOMEM;
	if (X509_check_ca(ca) < 1) {
		snprintf(err, errsz, "the \"ca\" certificate is not a CA");
		return -EBADMSG;
	}
	if (!X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, cert, NULL))
		return ossl_error(-ENOMEM, "X509_STORE setup");
	/* The clock is the gate step's business; here only the signature
	 * and the intended use matter. */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(ctx) != 1) {
		snprintf(err, errsz,
			 "the node certificate does not verify with the CA: %s",
			 X509_verify_cert_error_string(
				 X509_STORE_CTX_get_error(ctx)));
		return ossl_error(-EBADMSG, "X509_verify_cert");
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		log_warning("the node certificate is not valid yet: is this "
			    "host's clock behind?");
	return 0;
}

static int
check_cert(const struct agent_answer *a, EVP_PKEY *key, char *err, size_t errsz)
{
	char cn[NAME_MAX_LEN + 2] = "";
	int n;

	if (EVP_PKEY_eq(X509_get0_pubkey(a->cert), key) != 1) {
		snprintf(err, errsz,
			 "the node certificate is not for this node's key");
		return -EBADMSG;
	}
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(a->cert),
				      NID_commonName, cn, sizeof(cn));
	if (n < 0 || (size_t)n != strlen(a->node) || !streq(cn, a->node)) {
		snprintf(err, errsz,
			 "the node certificate's CN is not the node name %s",
			 a->node);
		return -EBADMSG;
	}
	return verify_chain(a->cert, a->ca, err, errsz);
}

int
agent_answer_check(json_t *j, EVP_PKEY *key, const char *site,
		   struct agent_answer *ret, char *err, size_t errsz)
{
	struct agent_answer a = {.repeat = 0};
	const char *node, *s;
	int r;

	node = json_string_value(json_object_get(j, "node"));
	s = json_string_value(json_object_get(j, "site"));
	if (!json_is_object(j) || !types_ok(j)) {
		snprintf(err, errsz, "malformed answer");
		return -EBADMSG;
	}
	if (!name_is_dns_label(node) || !s || !streq(s, site)) {
		snprintf(err, errsz,
			 "the answer's node name or site is not "
			 "valid (or not the token's site)");
		return -EBADMSG;
	}
	snprintf(a.node, sizeof(a.node), "%s", node);
	snprintf(a.site, sizeof(a.site), "%s", s);
	a.repeat = json_is_true(json_object_get(j, "repeat"));
	if (get_pem(j, "certificate", &a.cert) < 0 ||
	    get_pem(j, "ca", &a.ca) < 0) {
		snprintf(err, errsz,
			 "the answer's certificate or CA does not "
			 "parse");
		agent_answer_done(&a);
		return -EBADMSG;
	}
	r = check_cert(&a, key, err, errsz);
	if (r < 0) {
		agent_answer_done(&a);
		return r;
	}
	*ret = a;
	return 0;
}

int
agent_answer_save(const char *dir, json_t *j, const struct agent_answer *a)
{
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX];
	int r;

	/* The longest name first: then every path fits. */
	if (snprintf(path, sizeof(path), "%s/%s", dir, ENROLL_ANSWER_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "%s/%s", dir, ENROLL_CA_FILE);
	r = crypto_cert_save(path, a->ca, 0644);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", dir, ENROLL_CERT_FILE);
	r = crypto_cert_save(path, a->cert, 0644);
	if (r < 0)
		return r;
	text = json_dumps(j, JSON_INDENT(2));
	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s", dir, ENROLL_ANSWER_FILE);
	return write_file_atomic(path, text, strlen(text), 0600);
}
