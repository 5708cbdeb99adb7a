/* SPDX-License-Identifier: MIT */
/* enrolld/enroll-keys.c and enroll-answer.c: the node key and CSR are made
 * once and reused, and the server's answer is checked strictly with real
 * certificates made here. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "agent-enroll.h"
#include "crypto.h"
#include "ossl.h"

struct fixture {
	char dir[64];
	EVP_PKEY *node_key, *ca_key, *other_key;
	X509 *ca;
};

static const char *const files[] = {ENROLL_KEY_FILE, ENROLL_CSR_FILE,
				    ENROLL_CERT_FILE, ENROLL_CA_FILE,
				    ENROLL_ANSWER_FILE};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-enrolld-enroll-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(crypto_gen_p256(&f->node_key), 0);
	assert_int_equal(crypto_gen_p256(&f->other_key), 0);
	assert_int_equal(crypto_gen_p256(&f->ca_key), 0);
	assert_int_equal(crypto_self_signed(f->ca_key, "geostage node CA", NULL,
					    1, 3650, &f->ca),
			 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];
	size_t i;

	for (i = 0; i < ELEMENTSOF(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(f->dir);
	EVP_PKEY_free(f->node_key);
	EVP_PKEY_free(f->other_key);
	EVP_PKEY_free(f->ca_key);
	X509_free(f->ca);
	free(f);
	return 0;
}

static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_true(X509_add_ext(cert, ext, -1));
	X509_EXTENSION_free(ext);
}

/* A node certificate as the server makes it: CN = node, clientAuth. */
static X509 *
node_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *c = X509_new();

	assert_non_null(c);
	assert_true(X509_set_version(c, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(c), 42));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(c), 86400));
	assert_true(X509_set_pubkey(c, key));
	assert_true(X509_NAME_add_entry_by_txt(
		X509_get_subject_name(c), "CN", MBSTRING_UTF8,
		(const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_issuer_name(c, X509_get_subject_name(issuer)));
	add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(c, issuer, NID_key_usage, "critical,digitalSignature");
	add_ext(c, issuer, NID_ext_key_usage, "clientAuth");
	assert_true(X509_sign(c, issuer_key, EVP_sha256()) > 0);
	return c;
}

static json_t *
answer(X509 *cert, X509 *ca, const char *node, const char *site)
{
	_cleanup_free_ char *cpem = NULL, *capem = NULL;
	json_t *j;

	assert_int_equal(crypto_cert_to_pem(cert, &cpem), 0);
	assert_int_equal(crypto_cert_to_pem(ca, &capem), 0);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:n}, "
		      "s:{}, s:b}",
		      "node", node, "site", site, "role", "node", "serial",
		      "2A", "certificate", cpem, "ca", capem, "vpn", "mode",
		      "direct", "kubernetes", "version", "labels", "repeat", 0);
	assert_non_null(j);
	return j;
}

static void
mode_is(const char *dir, const char *name, mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
}

static void
test_key_made_once(void **state)
{
	struct fixture *f = *state;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *a = NULL, *b = NULL;

	assert_int_equal(agent_key_load_or_create(f->dir, &a), 0);
	mode_is(f->dir, ENROLL_KEY_FILE, 0600);
	assert_true(EVP_PKEY_is_a(a, "EC"));
	/* A retry presents the same identity. */
	assert_int_equal(agent_key_load_or_create(f->dir, &b), 0);
	assert_int_equal(EVP_PKEY_eq(a, b), 1);
}

static void
test_key_not_p256(void **state)
{
	struct fixture *f = *state;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = NULL, *k = NULL;
	char path[PATH_MAX];

	assert_int_equal(crypto_gen_ed25519(&ed), 0);
	snprintf(path, sizeof(path), "%s/%s", f->dir, ENROLL_KEY_FILE);
	assert_int_equal(crypto_key_save(path, ed, 0600), 0);
	assert_int_equal(agent_key_load_or_create(f->dir, &k), -EKEYREJECTED);
	assert_null(k);
}

static X509_REQ *
parse_csr(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509_REQ *req;

	assert_non_null(bio);
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(req);
	return req;
}

static void
test_csr_made_once(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	_cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) * exts;
	char cn[64];

	assert_int_equal(
		agent_csr_load_or_create(f->dir, f->node_key, "worker-7", &a),
		0);
	req = parse_csr(a);
	assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), f->node_key),
			 1);
	assert_int_equal(X509_REQ_verify(req, f->node_key), 1);
	assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
					      NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "worker-7");
	exts = X509_REQ_get_extensions(req);
	assert_int_equal(exts ? sk_X509_EXTENSION_num(exts) : 0, 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

	/* Reused as it is on resume... */
	assert_int_equal(
		agent_csr_load_or_create(f->dir, f->node_key, "other-name", &b),
		0);
	assert_string_equal(a, b);
	/* ... but never for another key. */
	assert_int_equal(
		agent_csr_load_or_create(f->dir, f->other_key, "worker-7", &c),
		0);
	assert_string_not_equal(a, c);
}

/* Checks j against the node key; frees j. */
static int
check(struct fixture *f, json_t *j, const char *site)
{
	struct agent_answer ans;
	char err[256] = "";
	int r;

	r = agent_answer_check(j, f->node_key, site, &ans, err, sizeof(err));
	json_decref(j);
	if (r == 0)
		agent_answer_done(&ans);
	else
		assert_true(err[0] != '\0');
	return r;
}

static void
test_answer_accepted_and_saved(void **state)
{
	struct fixture *f = *state;
	_cleanup_(X509_freep) X509 *cert =
		node_cert(f->node_key, "worker-7", f->ca, f->ca_key);
	_cleanup_(X509_freep) X509 *back = NULL;
	_cleanup_(json_decrefp) json_t *j =
		answer(cert, f->ca, "worker-7", "tokyo");
	struct agent_answer ans;
	char err[256], path[PATH_MAX];

	assert_int_equal(agent_answer_check(j, f->node_key, "tokyo", &ans, err,
					    sizeof(err)),
			 0);
	assert_string_equal(ans.node, "worker-7");
	assert_string_equal(ans.site, "tokyo");
	assert_int_equal(agent_answer_save(f->dir, j, &ans), 0);
	agent_answer_done(&ans);
	mode_is(f->dir, ENROLL_CERT_FILE, 0644);
	mode_is(f->dir, ENROLL_CA_FILE, 0644);
	mode_is(f->dir, ENROLL_ANSWER_FILE, 0600);
	snprintf(path, sizeof(path), "%s/%s", f->dir, ENROLL_CERT_FILE);
	assert_int_equal(crypto_cert_load(path, &back), 0);
	assert_int_equal(X509_cmp(back, cert), 0);
}

static void
test_answer_refused(void **state)
{
	struct fixture *f = *state;
	_cleanup_(X509_freep) X509 *good =
		node_cert(f->node_key, "worker-7", f->ca, f->ca_key);
	_cleanup_(X509_freep) X509 *other_key =
		node_cert(f->other_key, "worker-7", f->ca, f->ca_key);
	_cleanup_(X509_freep) X509 *other_cn =
		node_cert(f->node_key, "worker-8", f->ca, f->ca_key);
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *rogue_key = NULL;
	_cleanup_(X509_freep) X509 *rogue_ca = NULL, *rogue = NULL;
	json_t *j;

	assert_int_equal(crypto_gen_p256(&rogue_key), 0);
	assert_int_equal(crypto_self_signed(rogue_key, "geostage node CA", NULL,
					    1, 30, &rogue_ca),
			 0);
	rogue = node_cert(f->node_key, "worker-7", rogue_ca, rogue_key);

	/* the certificate of another key */
	assert_int_equal(check(f, answer(other_key, f->ca, "worker-7", "tokyo"),
			       "tokyo"),
			 -EBADMSG);
	/* a CN that is not the node name */
	assert_int_equal(
		check(f, answer(other_cn, f->ca, "worker-7", "tokyo"), "tokyo"),
		-EBADMSG);
	/* signed by a CA other than the one sent along */
	assert_int_equal(
		check(f, answer(rogue, f->ca, "worker-7", "tokyo"), "tokyo"),
		-EBADMSG);
	/* a "CA" that is no CA */
	assert_int_equal(
		check(f, answer(good, good, "worker-7", "tokyo"), "tokyo"),
		-EBADMSG);
	/* a node name that is no DNS label, another site */
	assert_int_equal(
		check(f, answer(good, f->ca, "../worker", "tokyo"), "tokyo"),
		-EBADMSG);
	assert_int_equal(
		check(f, answer(good, f->ca, "worker-7", "osaka"), "tokyo"),
		-EBADMSG);
	/* fields of the wrong type, missing or unparsable certificates */
	j = answer(good, f->ca, "worker-7", "tokyo");
	json_object_set_new(j, "vpn", json_string("direct"));
	assert_int_equal(check(f, j, "tokyo"), -EBADMSG);
	j = answer(good, f->ca, "worker-7", "tokyo");
	json_object_del(j, "certificate");
	assert_int_equal(check(f, j, "tokyo"), -EBADMSG);
	j = answer(good, f->ca, "worker-7", "tokyo");
	json_object_set_new(j, "ca",
			    json_string("-----BEGIN CERTIFICATE-----"
					"\nAAAA\n-----END "
					"CERTIFICATE-----\n"));
	assert_int_equal(check(f, j, "tokyo"), -EBADMSG);
	assert_int_equal(check(f, json_array(), "tokyo"), -EBADMSG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_made_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_key_not_p256, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_csr_made_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_answer_accepted_and_saved,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_refused, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("enrolld-enroll", tests, NULL, NULL);
}
