/* SPDX-License-Identifier: MIT */
/* The CSR policy and node certificates (bootstrap-server/ca.c), with real
 * OpenSSL: every hostile request a node could send is built here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "ca.h"
#include "crypto.h"
#include "ossl.h"

static EVP_PKEY *
keygen(const char *type, const char *param)
{
	EVP_PKEY *k = param ? EVP_PKEY_Q_keygen(NULL, NULL, type, param)
			    : EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(k);
	return k;
}

/* A P-256 key whose SubjectPublicKeyInfo carries explicit curve
 * parameters instead of the named-curve OID. */
static EVP_PKEY *
keygen_explicit_p256(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
				       "explicit", 0),
		OSSL_PARAM_END,
	};
	EVP_PKEY *k = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* Builds a CSR for pub signed by signer, with optional extensions. */
static char *
make_csr(EVP_PKEY *pub, EVP_PKEY *signer, const char *cn, int ext_nid,
	 const char *ext_value)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	assert_non_null(req);
	X509_REQ_set_version(req, 0);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
				   MBSTRING_UTF8, (const unsigned char *)cn, -1,
				   -1, 0);
	assert_int_equal(X509_REQ_set_pubkey(req, pub), 1);
	if (ext_nid) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *ext =
			X509V3_EXT_conf_nid(NULL, NULL, ext_nid, ext_value);
		assert_non_null(ext);
		sk_X509_EXTENSION_push(exts, ext);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_true(X509_REQ_sign(req, signer,
				  EVP_PKEY_id(signer) == EVP_PKEY_ED25519
					  ? NULL
					  : EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
	n = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_REQ_free(req);
	return pem;
}

static int
check(const char *pem, const char **reason)
{
	EVP_PKEY *pub = NULL;
	int r = ca_csr_check(pem, strlen(pem), &pub, reason);

	if (r >= 0) {
		assert_non_null(pub);
		EVP_PKEY_free(pub);
	}
	return r;
}

static void
test_valid_csr_accepted(void **state)
{
	EVP_PKEY *k = keygen("EC", "P-256");
	char *pem = make_csr(k, k, "anything", 0, NULL);
	const char *reason = NULL;

	assert_int_equal(check(pem, &reason), 0);
	free(pem);
	EVP_PKEY_free(k);
}

static void
refused(int ext_nid, const char *ext_value)
{
	EVP_PKEY *k = keygen("EC", "P-256");
	char *pem = make_csr(k, k, "node", ext_nid, ext_value);
	const char *reason = NULL;

	assert_int_equal(check(pem, &reason), -EPERM);
	assert_non_null(reason);
	free(pem);
	EVP_PKEY_free(k);
}

static void
test_ca_true_refused(void **state)
{
	refused(NID_basic_constraints, "critical,CA:TRUE");
}

static void
test_extra_san_refused(void **state)
{
	refused(NID_subject_alt_name, "DNS:kubernetes.default,IP:10.0.0.1");
}

static void
test_extra_eku_refused(void **state)
{
	refused(NID_ext_key_usage, "serverAuth,codeSigning");
}

static void
test_key_usage_refused(void **state)
{
	refused(NID_key_usage, "keyCertSign");
}

static void
key_refused(EVP_PKEY *k)
{
	char *pem = make_csr(k, k, "node", 0, NULL);
	const char *reason = NULL;

	assert_int_equal(check(pem, &reason), -EPERM);
	assert_string_equal(reason,
			    "CSR key must be EC P-256 with a named curve");
	free(pem);
	EVP_PKEY_free(k);
}

static void
test_explicit_parameters_refused(void **state)
{
	key_refused(keygen_explicit_p256());
}

static void
test_other_key_types_refused(void **state)
{
	key_refused(keygen("EC", "P-384"));
	key_refused(keygen("ED25519", NULL));
	key_refused(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
}

static void
test_bad_self_signature_refused(void **state)
{
	EVP_PKEY *k = keygen("EC", "P-256"), *other = keygen("EC", "P-256");
	char *pem = make_csr(k, other, "node", 0, NULL);
	const char *reason = NULL;

	assert_int_equal(check(pem, &reason), -EPERM);
	assert_string_equal(reason, "CSR self-signature does not verify");
	free(pem);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
test_garbage_refused(void **state)
{
	static const char *const inputs[] = {
		"",
		"not a csr",
		("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
		 "-----END CERTIFICATE REQUEST-----\n"),
	};
	const char *reason;
	char big[CA_CSR_MAX + 2];
	size_t i;

	for (i = 0; i < ELEMENTSOF(inputs); i++) {
		reason = NULL;
		assert_int_equal(check(inputs[i], &reason), -EBADMSG);
		assert_non_null(reason);
	}
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(check(big, &reason), -EBADMSG);
	/* An embedded NUL is refused, whatever follows it. */
	assert_int_equal(ca_csr_check("ab\0cd", 5, NULL, &reason), -EBADMSG);
}

static void
test_issue_copies_nothing_from_the_csr(void **state)
{
	EVP_PKEY *ca = keygen("EC", "P-256"), *node = keygen("EC", "P-256");
	X509 *ca_cert = NULL, *cert = NULL;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char serial[33], *dec = NULL, buf[80];
	EXTENDED_KEY_USAGE *eku;
	BASIC_CONSTRAINTS *bc;

	assert_int_equal(crypto_self_signed(ca, "test CA", NULL, 1, 30,
					    &ca_cert),
			 0);
	assert_int_equal(ca_serial_new(serial), 0);
	assert_int_equal(strlen(serial), 32);
	/* Positive (top bit clear) and a full 16 bytes (first byte not 0). */
	assert_true(serial[0] >= '0' && serial[0] <= '7');
	assert_false(serial[0] == '0' && serial[1] == '0');
	assert_int_equal(ca_issue(ca, ca_cert, node, "worker-7", serial, 30,
				  CA_USAGE_CLIENT,
				  &cert),
			 0);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
				  buf, sizeof(buf));
	assert_string_equal(buf, "worker-7");
	assert_int_equal(X509_get_ext_by_NID(cert, NID_subject_alt_name, -1),
			 -1);
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
	assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)),
			 NID_client_auth);
	EXTENDED_KEY_USAGE_free(eku);
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
	assert_non_null(bc);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	/* It verifies against the CA for TLS client use. */
	X509_STORE_add_cert(store, ca_cert);
	X509_STORE_CTX_init(ctx, store, cert, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	assert_int_equal(X509_verify_cert(ctx), 1);
	/* The decimal form names the revoked-serial file. */
	assert_int_equal(ca_serial_to_decimal("FF", &dec), 0);
	assert_string_equal(dec, "255");
	free(dec);
	assert_int_equal(ca_serial_to_decimal("../x", &dec), -EINVAL);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cert);
	X509_free(ca_cert);
	EVP_PKEY_free(ca);
	EVP_PKEY_free(node);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_csr_accepted),
		cmocka_unit_test(test_ca_true_refused),
		cmocka_unit_test(test_extra_san_refused),
		cmocka_unit_test(test_extra_eku_refused),
		cmocka_unit_test(test_key_usage_refused),
		cmocka_unit_test(test_explicit_parameters_refused),
		cmocka_unit_test(test_other_key_types_refused),
		cmocka_unit_test(test_bad_self_signature_refused),
		cmocka_unit_test(test_garbage_refused),
		cmocka_unit_test(test_issue_copies_nothing_from_the_csr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
