/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "b64.h"
#include "crypto.h"
#include "fileio.h"
#include "log.h"
#include "ossl.h"

int
ossl_error(int err, const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("%s: %s", what, buf);
	}
	return err < 0 ? err : -err;
}

int
crypto_random_base32(char *buf, size_t n)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t rnd[64];
	size_t i;

	if (n >= sizeof(rnd))
		return -EINVAL;
	if (RAND_bytes(rnd, (int)n) != 1)
		return ossl_error(-EIO, "RAND_bytes");
	for (i = 0; i < n; i++)
		buf[i] = alpha[rnd[i] & 31];
	buf[n] = '\0';
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return 0;
}

int
crypto_random_u64(uint64_t *ret)
{
	if (RAND_bytes((unsigned char *)ret, sizeof(*ret)) != 1)
		return ossl_error(-EIO, "RAND_bytes");
	return 0;
}

int
crypto_gen_ed25519(EVP_PKEY **ret)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k)
		return ossl_error(-EIO, "ed25519 keygen");
	*ret = k;
	return 0;
}

int
crypto_gen_p256(EVP_PKEY **ret)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k)
		return ossl_error(-EIO, "P-256 keygen");
	*ret = k;
	return 0;
}

static int
bio_to_string(BIO *bio, char **ret, size_t *ret_len)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s;

	if (n < 0)
		return -EIO;
	s = malloc((size_t)n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*ret = s;
	if (ret_len)
		*ret_len = (size_t)n;
	return 0;
}

int
crypto_key_save(const char *path, EVP_PKEY *key, mode_t mode)
{
	_cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int r;

	if (!bio)
		return -ENOMEM;
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		return ossl_error(-EIO, "PEM_write_bio_PrivateKey");
	n = BIO_get_mem_data(bio, &data);
	r = write_file_atomic(path, data, (size_t)n, mode);
	OPENSSL_cleanse(data, (size_t)n);
	return r;
}

int
crypto_key_load(const char *path, EVP_PKEY **ret)
{
	_cleanup_(BIO_free_allp) BIO *bio = NULL;
	char *pem = NULL;
	size_t len;
	EVP_PKEY *k;
	int r;

	r = read_file(path, 64 * 1024, &pem, &len);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		OPENSSL_cleanse(pem, len);
		free(pem);
		return -ENOMEM;
	}
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (!k)
		return ossl_error(-EBADMSG, "PEM_read_bio_PrivateKey");
	*ret = k;
	return 0;
}

int
crypto_cert_to_pem(X509 *cert, char **ret)
{
	_cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());

	if (!bio)
		return -ENOMEM;
	if (!PEM_write_bio_X509(bio, cert))
		return ossl_error(-EIO, "PEM_write_bio_X509");
	return bio_to_string(bio, ret, NULL);
}

int
crypto_pubkey_to_pem(EVP_PKEY *key, char **ret)
{
	_cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());

	if (!bio)
		return -ENOMEM;
	if (!PEM_write_bio_PUBKEY(bio, key))
		return ossl_error(-EIO, "PEM_write_bio_PUBKEY");
	return bio_to_string(bio, ret, NULL);
}

int
crypto_cert_from_pem(const char *pem, size_t len, X509 **ret)
{
	_cleanup_(BIO_free_allp) BIO *bio = NULL;
	X509 *c;

	if (len > INT32_MAX)
		return -E2BIG;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -ENOMEM;
	c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!c)
		return ossl_error(-EBADMSG, "PEM_read_bio_X509");
	*ret = c;
	return 0;
}

int
crypto_cert_save(const char *path, X509 *cert, mode_t mode)
{
	_cleanup_free_ char *pem = NULL;
	int r;

	r = crypto_cert_to_pem(cert, &pem);
	if (r < 0)
		return r;
	return write_file_atomic(path, pem, strlen(pem), mode);
}

int
crypto_cert_load(const char *path, X509 **ret)
{
	_cleanup_free_ char *pem = NULL;
	size_t len;
	int r;

	r = read_file(path, 64 * 1024, &pem, &len);
	if (r < 0)
		return r;
	return crypto_cert_from_pem(pem, len, ret);
}

int
crypto_spki_sha256(EVP_PKEY *key, uint8_t ret[32])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0)
		return ossl_error(-EIO, "i2d_PUBKEY");
	SHA256(der, (size_t)n, ret);
	OPENSSL_free(der);
	return 0;
}

int
crypto_spki_pin(EVP_PKEY *key, char **ret)
{
	_cleanup_free_ char *b64 = NULL;
	uint8_t h[32];
	char *s;
	int r;

	r = crypto_spki_sha256(key, h);
	if (r < 0)
		return r;
	r = b64_encode(h, sizeof(h), &b64);
	if (r < 0)
		return r;
	if (asprintf(&s, "sha256//%s", b64) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int
crypto_spki_hash_hex(EVP_PKEY *key, char **ret)
{
	char *s;
	uint8_t h[32];
	int r, i;

	r = crypto_spki_sha256(key, h);
	if (r < 0)
		return r;
	s = malloc(7 + 64 + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, "sha256:", 7);
	for (i = 0; i < 32; i++)
		sprintf(s + 7 + 2 * i, "%02x", h[i]);
	*ret = s;
	return 0;
}

int
crypto_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	_cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext || !X509_add_ext(cert, ext, -1))
		return ossl_error(-EIO, "X509_add_ext");
	return 0;
}

int
crypto_self_signed(EVP_PKEY *key, const char *cn, const char *san,
		   int is_ca, int days, X509 **ret)
{
	_cleanup_(X509_freep) X509 *c = X509_new();
	X509_NAME *name;
	uint64_t serial;
	int r;

	if (!c)
		return -ENOMEM;
	r = crypto_random_u64(&serial);
	if (r < 0)
		return r;
	serial &= INT64_MAX;
	if (!X509_set_version(c, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(c), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) ||
	    !X509_set_pubkey(c, key))
		return ossl_error(-EIO, "X509 setup");
	name = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(c, name))
		return ossl_error(-EIO, "X509 name");
	if (is_ca) {
		if ((r = crypto_add_ext(c, c, NID_basic_constraints,
				 "critical,CA:TRUE,pathlen:0")) < 0 ||
		    (r = crypto_add_ext(c, c, NID_key_usage,
				 "critical,keyCertSign,cRLSign")) < 0)
			return r;
	} else {
		if ((r = crypto_add_ext(c, c, NID_basic_constraints,
				 "critical,CA:FALSE")) < 0 ||
		    (r = crypto_add_ext(c, c, NID_key_usage,
				 "critical,digitalSignature")) < 0 ||
		    (r = crypto_add_ext(c, c, NID_ext_key_usage, "serverAuth")) < 0)
			return r;
		if (san && (r = crypto_add_ext(c, c, NID_subject_alt_name, san)) < 0)
			return r;
	}
	if ((r = crypto_add_ext(c, c, NID_subject_key_identifier, "hash")) < 0)
		return r;
	if (!X509_sign(c, key, EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? NULL
								    : EVP_sha256()))
		return ossl_error(-EIO, "X509_sign");
	*ret = TAKE_PTR(c);
	return 0;
}
