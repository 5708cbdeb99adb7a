/* SPDX-License-Identifier: MIT */
/* lib/crypto with real OpenSSL: keys on disk, public-key pins (checked
 * against a second, independent computation and against values the openssl
 * CLI printed for fixed keys), self-signed certificates. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdbool.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "macro.h"
#include "ossl.h"

/* RFC 8032 §7.1 TEST 1 secret key. Pin and hash from:
 *   openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary | base64
 */
static const uint8_t rfc8032_secret[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
	0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
	0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
#define RFC8032_PIN "sha256//BuP9j9opu2CrWVV95h7bCuzbIxE0vjDnW0Vfjht5L6k="
#define RFC8032_HASH                                                           \
	"sha256:"                                                              \
	"06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9"

/* A throwaway P-256 key made for this test, with its CLI-computed pin. */
static const char p256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghmV/mBlQCKCNPjQs\n"
	"DD9JdD8MPrJgGlAVEh8cIw+YeDChRANCAASf73xZg+Sibj6+4O1dqYMk8ydCKBws\n"
	"kIdImiqZdiakUFTejVEF/kt08ES0uXXlIqY3MB0DUHxOTeI1svx2wyL4\n"
	"-----END PRIVATE KEY-----\n";
#define P256_PIN "sha256//AhLAbdXhLmsOQu+rCz+kj80XdUN3HyswcUwHG9KrD2s="
#define P256_HASH                                                              \
	"sha256:"                                                              \
	"0212c06dd5e12e6b0e42efab0b3fa48fcd177543771f2b30714c071bd2ab0f6b"

static char tmpdir[] = "/tmp/geostage-test-crypto.XXXXXX";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup_dir(void **state)
{
	strcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static char *
path_in_tmpdir(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static EVP_PKEY *
gen(const char *type)
{
	EVP_PKEY *k = NULL;

	if (streq(type, "ed25519"))
		assert_int_equal(crypto_gen_ed25519(&k), 0);
	else
		assert_int_equal(crypto_gen_p256(&k), 0);
	assert_non_null(k);
	return k;
}

static EVP_PKEY *
rfc8032_key(void)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
						   rfc8032_secret, 32);
	assert_non_null(k);
	return k;
}

static EVP_PKEY *
fixed_p256_key(void)
{
	_cleanup_(BIO_free_allp) BIO *bio =
		BIO_new_mem_buf(p256_pem, (int)strlen(p256_pem));
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	assert_non_null(k);
	return k;
}

/* SHA-256 of the DER SubjectPublicKeyInfo, through OSSL_ENCODER and
 * EVP_Digest: not the code path lib/crypto uses (i2d_PUBKEY + SHA256). */
static void
independent_spki_sha256(EVP_PKEY *key, uint8_t out[32])
{
	OSSL_ENCODER_CTX *ctx = OSSL_ENCODER_CTX_new_for_pkey(
		key, EVP_PKEY_PUBLIC_KEY, "DER", "SubjectPublicKeyInfo", NULL);
	unsigned char *der = NULL;
	size_t len = 0;
	unsigned dlen = 0;

	assert_non_null(ctx);
	assert_int_equal(OSSL_ENCODER_to_data(ctx, &der, &len), 1);
	OSSL_ENCODER_CTX_free(ctx);
	assert_int_equal(EVP_Digest(der, len, out, &dlen, EVP_sha256(), NULL),
			 1);
	assert_int_equal(dlen, 32);
	OPENSSL_free(der);
}

static bool
is_std_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* --- keys ------------------------------------------------------------- */

static void
test_gen_ed25519_gives_ed25519_key(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("ed25519");

	assert_int_equal(EVP_PKEY_get_id(k), EVP_PKEY_ED25519);
}

static void
test_gen_p256_gives_prime256v1_key(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256");
	char group[64];
	size_t n;

	assert_int_equal(EVP_PKEY_get_id(k), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &n),
			 1);
	assert_string_equal(group, "prime256v1");
}

static void
assert_same_private_key(EVP_PKEY *a, EVP_PKEY *b)
{
	assert_int_equal(EVP_PKEY_eq(a, b), 1);
	if (EVP_PKEY_get_id(a) == EVP_PKEY_ED25519) {
		uint8_t ra[32], rb[32];
		size_t na = sizeof(ra), nb = sizeof(rb);
		assert_int_equal(EVP_PKEY_get_raw_private_key(a, ra, &na), 1);
		assert_int_equal(EVP_PKEY_get_raw_private_key(b, rb, &nb), 1);
		assert_memory_equal(ra, rb, 32);
	} else {
		_cleanup_(BN_freep) BIGNUM *pa = NULL, *pb = NULL;
		assert_int_equal(
			EVP_PKEY_get_bn_param(a, OSSL_PKEY_PARAM_PRIV_KEY, &pa),
			1);
		assert_int_equal(
			EVP_PKEY_get_bn_param(b, OSSL_PKEY_PARAM_PRIV_KEY, &pb),
			1);
		assert_int_equal(BN_cmp(pa, pb), 0);
	}
}

static void
save_load_round_trip(const char *type)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen(type), *back = NULL;
	_cleanup_free_ char *p = path_in_tmpdir(type);
	mode_t saved = umask(0);
	struct stat st;

	assert_int_equal(crypto_key_save(p, k, 0600), 0);
	umask(saved);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(crypto_key_load(p, &back), 0);
	assert_same_private_key(k, back);
}

static void
test_key_save_0600_and_load_back_equal_ed25519(void **state)
{
	save_load_round_trip("ed25519");
}

static void
test_key_save_0600_and_load_back_equal_p256(void **state)
{
	save_load_round_trip("p256");
}

static void
test_key_file_is_pkcs8_pem(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("ed25519");
	_cleanup_free_ char *p = path_in_tmpdir("k.pem");
	char head[40] = {0};
	FILE *f;

	assert_int_equal(crypto_key_save(p, k, 0600), 0);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(head, sizeof(head), f));
	fclose(f);
	assert_string_equal(head, "-----BEGIN PRIVATE KEY-----\n");
}

static void
test_key_load_refuses_garbage_public_and_symlink(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256");
	_cleanup_free_ char *garbage = path_in_tmpdir("garbage"),
			    *pub = path_in_tmpdir("pub.pem"),
			    *real = path_in_tmpdir("real.pem"),
			    *link = path_in_tmpdir("link.pem"),
			    *absent = path_in_tmpdir("absent"), *pubpem = NULL;
	EVP_PKEY *out = NULL;
	FILE *f;

	f = fopen(garbage, "w");
	assert_non_null(f);
	fputs("-----BEGIN PRIVATE KEY-----\nnot base64\n"
	      "-----END PRIVATE KEY-----\n",
	      f);
	fclose(f);
	assert_int_equal(crypto_pubkey_to_pem(k, &pubpem), 0);
	f = fopen(pub, "w");
	assert_non_null(f);
	fputs(pubpem, f);
	fclose(f);
	assert_int_equal(crypto_key_save(real, k, 0600), 0);
	assert_int_equal(symlink(real, link), 0);

	assert_int_equal(crypto_key_load(garbage, &out), -EBADMSG);
	assert_int_equal(crypto_key_load(pub, &out), -EBADMSG);
	assert_int_equal(crypto_key_load(link, &out), -ELOOP);
	assert_int_equal(crypto_key_load(absent, &out), -ENOENT);
	assert_null(out);
}

/* --- pins ------------------------------------------------------------- */

static void
assert_pin_matches_independent(EVP_PKEY *k)
{
	_cleanup_free_ char *pin = NULL, *hex = NULL;
	uint8_t h[32];
	char b64[45], want_hex[72];
	size_t i;

	independent_spki_sha256(k, h);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, h, 32), 44);
	assert_int_equal(crypto_spki_pin(k, &pin), 0);
	assert_true(startswith(pin, "sha256//") != NULL);
	assert_string_equal(pin + 8, b64);

	strcpy(want_hex, "sha256:");
	for (i = 0; i < 32; i++)
		snprintf(want_hex + 7 + 2 * i, 3, "%02x", h[i]);
	assert_int_equal(crypto_spki_hash_hex(k, &hex), 0);
	assert_string_equal(hex, want_hex);
}

static void
test_spki_pin_format(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("ed25519");
	_cleanup_free_ char *pin = NULL;
	size_t i;

	assert_int_equal(crypto_spki_pin(k, &pin), 0);
	assert_int_equal(strlen(pin), 8 + 44);
	assert_memory_equal(pin, "sha256//", 8);
	for (i = 8; i < 8 + 43; i++)
		assert_true(is_std_b64(pin[i]));
	assert_int_equal(pin[8 + 43], '=');
}

static void
test_spki_pin_matches_independent_computation(void **state)
{
	int i;

	for (i = 0; i < 4; i++) {
		_cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = gen("ed25519"),
						   *ec = gen("p256");
		assert_pin_matches_independent(ed);
		assert_pin_matches_independent(ec);
	}
}

static void
test_spki_pin_matches_openssl_cli_for_fixed_keys(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = rfc8032_key(),
					   *ec = fixed_p256_key();
	_cleanup_free_ char *ed_pin = NULL, *ec_pin = NULL, *ed_hex = NULL,
			    *ec_hex = NULL;

	assert_int_equal(crypto_spki_pin(ed, &ed_pin), 0);
	assert_int_equal(crypto_spki_pin(ec, &ec_pin), 0);
	assert_int_equal(crypto_spki_hash_hex(ed, &ed_hex), 0);
	assert_int_equal(crypto_spki_hash_hex(ec, &ec_hex), 0);
	assert_string_equal(ed_pin, RFC8032_PIN);
	assert_string_equal(ec_pin, P256_PIN);
	assert_string_equal(ed_hex, RFC8032_HASH);
	assert_string_equal(ec_hex, P256_HASH);
}

static void
test_spki_hash_hex_format(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256");
	_cleanup_free_ char *hex = NULL;
	size_t i;

	assert_int_equal(crypto_spki_hash_hex(k, &hex), 0);
	assert_int_equal(strlen(hex), 7 + 64);
	assert_memory_equal(hex, "sha256:", 7);
	for (i = 7; i < 7 + 64; i++)
		assert_non_null(strchr("0123456789abcdef", hex[i]));
}

static void
test_spki_pin_same_for_public_only_key(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("ed25519"), *pub = NULL;
	_cleanup_free_ char *pem = NULL, *a = NULL, *b = NULL;
	_cleanup_(BIO_free_allp) BIO *bio = NULL;

	assert_int_equal(crypto_pubkey_to_pem(k, &pem), 0);
	bio = BIO_new_mem_buf(pem, -1);
	pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	assert_non_null(pub);
	assert_int_equal(crypto_spki_pin(k, &a), 0);
	assert_int_equal(crypto_spki_pin(pub, &b), 0);
	assert_string_equal(a, b);
}

static void
test_spki_pin_differs_between_keys(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *a = gen("ed25519"),
					   *b = gen("ed25519");
	_cleanup_free_ char *pa = NULL, *pb = NULL;

	assert_int_equal(crypto_spki_pin(a, &pa), 0);
	assert_int_equal(crypto_spki_pin(b, &pb), 0);
	assert_string_not_equal(pa, pb);
}

/* --- certificates ----------------------------------------------------- */

static void
assert_subject_cn(X509 *c, const char *cn)
{
	char buf[128];

	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(c),
					      NID_commonName, buf,
					      sizeof(buf)) > 0);
	assert_string_equal(buf, cn);
}

static void
assert_valid_for_days(X509 *c, int days)
{
	int d = 0, s = 0;

	assert_int_equal(ASN1_TIME_diff(&d, &s, NULL, X509_get0_notAfter(c)),
			 1);
	/* Within a minute of now + days. */
	assert_true(d == days || (d == days - 1 && s > 86400 - 60));
	assert_true(X509_cmp_current_time(X509_get0_notBefore(c)) < 0);
}

static void
check_ca(const char *type)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen(type), *other = gen(type);
	_cleanup_(X509_freep) X509 *c = NULL;
	_cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx =
		X509_STORE_CTX_new();
	int idx;

	assert_int_equal(
		crypto_self_signed(k, "geostage node CA", NULL, 1, 3650, &c),
		0);
	/* CA:TRUE, critical, pathlen 0, may sign certificates and CRLs. */
	assert_int_equal(X509_check_ca(c), 1);
	assert_true(X509_get_extension_flags(c) & EXFLAG_CA);
	idx = X509_get_ext_by_NID(c, NID_basic_constraints, -1);
	assert_true(idx >= 0);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(c, idx)), 1);
	assert_int_equal(X509_get_pathlen(c), 0);
	assert_true(X509_get_key_usage(c) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(c) & KU_CRL_SIGN);
	/* Self-signed by this key, and by no other. */
	assert_int_equal(X509_verify(c, k), 1);
	assert_true(X509_verify(c, other) <= 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c), k), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(c),
				       X509_get_issuer_name(c)),
			 0);
	assert_subject_cn(c, "geostage node CA");
	assert_int_equal(X509_get_version(c), X509_VERSION_3);
	assert_valid_for_days(c, 3650);
	/* Usable as a trust anchor. */
	assert_int_equal(X509_STORE_add_cert(store, c), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, c, NULL), 1);
	assert_int_equal(X509_verify_cert(ctx), 1);
}

static void
test_self_signed_ca_ed25519(void **state)
{
	check_ca("ed25519");
}

static void
test_self_signed_ca_p256(void **state)
{
	check_ca("p256");
}

static void
test_self_signed_server_is_not_ca_and_has_san(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256");
	_cleanup_(X509_freep) X509 *c = NULL;

	assert_int_equal(crypto_self_signed(k, "boot.example.org",
					    "DNS:boot.example.org,IP:127.0.0.1",
					    0, 30, &c),
			 0);
	assert_int_equal(X509_check_ca(c), 0);
	assert_false(X509_get_extension_flags(c) & EXFLAG_CA);
	assert_true(X509_get_extended_key_usage(c) & XKU_SSL_SERVER);
	assert_false(X509_get_key_usage(c) & KU_KEY_CERT_SIGN);
	assert_int_equal(X509_check_host(c, "boot.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(c, "127.0.0.1", 0), 1);
	assert_int_not_equal(X509_check_host(c, "evil.example.org", 0, 0, NULL),
			     1);
	assert_int_equal(X509_verify(c, k), 1);
	assert_valid_for_days(c, 30);
}

static void
test_self_signed_cn_over_64_refused(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("ed25519");
	char cn[66];
	X509 *c = NULL;

	memset(cn, 'c', 65);
	cn[65] = '\0';
	assert_true(crypto_self_signed(k, cn, NULL, 1, 1, &c) < 0);
	assert_null(c);
}

/* A long subjectAltName must be used whole or refused; never cut short
 * into a certificate for a name nobody asked for. */
static void
test_self_signed_long_san_not_truncated(void **state)
{
	EVP_PKEY *k = gen("p256");
	X509 *c = NULL;
	char san[1024] = "", entry[32];
	bool cut_name, last_name;
	int i, r;

	/* 22 bytes per entry: byte 299 falls inside the 14th one. */
	for (i = 0; i < 20; i++) {
		snprintf(entry, sizeof(entry), "%sDNS:a%04d.example.org",
			 i ? "," : "", i);
		strcat(san, entry);
	}
	r = crypto_self_signed(k, "boot", san, 0, 1, &c);
	EVP_PKEY_free(k);
	if (r < 0)
		return;
	cut_name = X509_check_host(c, "a0013.exa", 0, 0, NULL) == 1;
	last_name = X509_check_host(c, "a0019.example.org", 0, 0, NULL) == 1;
	X509_free(c);
	if (cut_name)
		fail_msg("certificate is valid for \"a0013.exa\", a truncation "
			 "of the requested SAN");
	assert_true(last_name);
}

static void
test_cert_save_load_round_trip(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("ed25519");
	_cleanup_(X509_freep) X509 *c = NULL, *back = NULL;
	_cleanup_free_ char *p = path_in_tmpdir("ca.crt");
	struct stat st;

	assert_int_equal(crypto_self_signed(k, "ca", NULL, 1, 1, &c), 0);
	assert_int_equal(crypto_cert_save(p, c, 0644), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(crypto_cert_load(p, &back), 0);
	assert_int_equal(X509_cmp(c, back), 0);
}

static void
test_cert_to_pem_and_back(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256");
	_cleanup_(X509_freep) X509 *c = NULL, *back = NULL;
	_cleanup_free_ char *pem = NULL;

	assert_int_equal(crypto_self_signed(k, "ca", NULL, 1, 1, &c), 0);
	assert_int_equal(crypto_cert_to_pem(c, &pem), 0);
	assert_true(startswith(pem, "-----BEGIN CERTIFICATE-----\n") != NULL);
	assert_int_equal(crypto_cert_from_pem(pem, strlen(pem), &back), 0);
	assert_int_equal(X509_cmp(c, back), 0);
}

static void
test_cert_from_pem_refuses_garbage_and_truncation(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256");
	_cleanup_(X509_freep) X509 *c = NULL;
	_cleanup_free_ char *pem = NULL;
	X509 *out = NULL;

	assert_int_equal(crypto_cert_from_pem("", 0, &out), -EBADMSG);
	assert_int_equal(crypto_cert_from_pem("garbage", 7, &out), -EBADMSG);
	assert_int_equal(crypto_self_signed(k, "ca", NULL, 1, 1, &c), 0);
	assert_int_equal(crypto_cert_to_pem(c, &pem), 0);
	assert_int_equal(crypto_cert_from_pem(pem, strlen(pem) / 2, &out),
			 -EBADMSG);
	assert_null(out);
}

static void
test_pubkey_to_pem_parses_back_equal(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = gen("p256"), *pub = NULL;
	_cleanup_free_ char *pem = NULL;
	_cleanup_(BIO_free_allp) BIO *bio = NULL;

	assert_int_equal(crypto_pubkey_to_pem(k, &pem), 0);
	assert_true(startswith(pem, "-----BEGIN PUBLIC KEY-----\n") != NULL);
	assert_null(strstr(pem, "PRIVATE"));
	bio = BIO_new_mem_buf(pem, -1);
	pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	assert_non_null(pub);
	assert_int_equal(EVP_PKEY_eq(pub, k), 1);
}

/* --- randomness ------------------------------------------------------- */

static void
test_random_base32_alphabet_and_length(void **state)
{
	char a[64], b[64];
	size_t n, i;

	for (n = 0; n < 64; n += 13) {
		memset(a, 'X', sizeof(a));
		assert_int_equal(crypto_random_base32(a, n), 0);
		assert_int_equal(strlen(a), n);
		for (i = 0; i < n; i++)
			assert_non_null(strchr(
				"abcdefghijklmnopqrstuvwxyz234567", a[i]));
	}
	assert_int_equal(crypto_random_base32(a, 26), 0);
	assert_int_equal(crypto_random_base32(b, 26), 0);
	assert_string_not_equal(a, b);
}

static void
test_random_base32_refuses_64(void **state)
{
	char buf[65];

	assert_int_equal(crypto_random_base32(buf, 64), -EINVAL);
}

static void
test_random_u64_varies(void **state)
{
	uint64_t a = 0, b = 0;

	assert_int_equal(crypto_random_u64(&a), 0);
	assert_int_equal(crypto_random_u64(&b), 0);
	assert_int_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_ed25519_gives_ed25519_key),
		cmocka_unit_test(test_gen_p256_gives_prime256v1_key),
		cmocka_unit_test(
			test_key_save_0600_and_load_back_equal_ed25519),
		cmocka_unit_test(test_key_save_0600_and_load_back_equal_p256),
		cmocka_unit_test(test_key_file_is_pkcs8_pem),
		cmocka_unit_test(
			test_key_load_refuses_garbage_public_and_symlink),
		cmocka_unit_test(test_spki_pin_format),
		cmocka_unit_test(test_spki_pin_matches_independent_computation),
		cmocka_unit_test(
			test_spki_pin_matches_openssl_cli_for_fixed_keys),
		cmocka_unit_test(test_spki_hash_hex_format),
		cmocka_unit_test(test_spki_pin_same_for_public_only_key),
		cmocka_unit_test(test_spki_pin_differs_between_keys),
		cmocka_unit_test(test_self_signed_ca_ed25519),
		cmocka_unit_test(test_self_signed_ca_p256),
		cmocka_unit_test(test_self_signed_server_is_not_ca_and_has_san),
		cmocka_unit_test(test_self_signed_cn_over_64_refused),
		cmocka_unit_test(test_self_signed_long_san_not_truncated),
		cmocka_unit_test(test_cert_save_load_round_trip),
		cmocka_unit_test(test_cert_to_pem_and_back),
		cmocka_unit_test(
			test_cert_from_pem_refuses_garbage_and_truncation),
		cmocka_unit_test(test_pubkey_to_pem_parses_back_equal),
		cmocka_unit_test(test_random_base32_alphabet_and_length),
		cmocka_unit_test(test_random_base32_refuses_64),
		cmocka_unit_test(test_random_u64_varies),
	};

	return cmocka_run_group_tests_name("crypto", tests, setup_dir,
					   teardown_dir);
}
