/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests): cluster CA and leaf certificates. */
#include "config.h"

#include <openssl/pem.h>
#include <stdio.h>

#include "crypto.h"
#include "macro.h"
#include "ossl.h"
#include "pki.h"

int
pki_ca_load_or_create(const char *dir, EVP_PKEY **ret_key, X509 **ret_cert)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(X509_freep) X509 *cert = NULL;
	char kp[4096], cp[4096];
	int r;

	snprintf(kp, sizeof(kp), "%s/ca.key", dir);
	snprintf(cp, sizeof(cp), "%s/ca.crt", dir);
	if (access(kp, F_OK) == 0) {
		if ((r = crypto_key_load(kp, &key)) < 0 ||
		    (r = crypto_cert_load(cp, &cert)) < 0)
			return r;
	} else {
		if ((r = crypto_gen_p256(&key)) < 0 ||
		    (r = crypto_self_signed(key, "kubernetes", NULL, 1, 3650,
					    &cert)) < 0 ||
		    (r = crypto_key_save(kp, key, 0600)) < 0 ||
		    (r = crypto_cert_save(cp, cert, 0644)) < 0)
			return r;
	}
	*ret_key = TAKE_PTR(key);
	*ret_cert = TAKE_PTR(cert);
	return 0;
}

static int
set_subject(X509 *c, const struct pki_leaf *leaf)
{
	X509_NAME *name = X509_get_subject_name(c);

	if (leaf->org && !X509_NAME_add_entry_by_txt(
				 name, "O", MBSTRING_UTF8,
				 (const unsigned char *)leaf->org, -1, -1, 0))
		return ossl_error(-EINVAL, "X509 name O");
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)leaf->cn, -1, -1,
					0))
		return ossl_error(-EINVAL, "X509 name CN");
	return 0;
}

static int
add_extensions(X509 *c, X509 *ca, const struct pki_leaf *leaf)
{
	int r;

	if ((r = crypto_add_ext(c, ca, NID_basic_constraints, "critical,CA:FALSE")) <
		    0 ||
	    (r = crypto_add_ext(c, ca, NID_key_usage,
			 "critical,digitalSignature,keyEncipherment")) < 0 ||
	    (r = crypto_add_ext(c, ca, NID_ext_key_usage,
			 leaf->server ? "serverAuth" : "clientAuth")) < 0 ||
	    (r = crypto_add_ext(c, ca, NID_authority_key_identifier, "keyid")) < 0)
		return r;
	if (leaf->san &&
	    (r = crypto_add_ext(c, ca, NID_subject_alt_name, leaf->san)) < 0)
		return r;
	return 0;
}

int
pki_issue(EVP_PKEY *ca_key, X509 *ca, const struct pki_leaf *leaf,
	  EVP_PKEY **ret_key, X509 **ret_cert)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(X509_freep) X509 *c = X509_new();
	uint64_t serial;
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = crypto_gen_p256(&key)) < 0 ||
	    (r = crypto_random_u64(&serial)) < 0)
		return r;
	if (!X509_set_version(c, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(c),
				     serial & INT64_MAX) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), (long)leaf->days * 86400) ||
	    !X509_set_pubkey(c, key) ||
	    !X509_set_issuer_name(c, X509_get_subject_name(ca)))
		return ossl_error(-EIO, "X509 setup");
	if ((r = set_subject(c, leaf)) < 0 ||
	    (r = add_extensions(c, ca, leaf)) < 0)
		return r;
	if (!X509_sign(c, ca_key, EVP_sha256()))
		return ossl_error(-EIO, "X509_sign");
	*ret_key = TAKE_PTR(key);
	*ret_cert = TAKE_PTR(c);
	return 0;
}

int
pki_key_to_pem(EVP_PKEY *key, char **ret)
{
	_cleanup_(BIO_free_allp) BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	if (!b || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
		return ossl_error(-ENOMEM, "PEM_write_bio_PrivateKey");
	n = BIO_get_mem_data(b, &data);
	s = n > 0 ? strndup(data, (size_t)n) : NULL;
	OPENSSL_cleanse(data, n > 0 ? (size_t)n : 0);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
