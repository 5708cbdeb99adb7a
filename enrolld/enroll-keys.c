/* SPDX-License-Identifier: MIT */
/* The node key (P-256, 0600) and its CSR: created once, before the first
 * request, and reused by every retry so that a lost answer costs nothing. */
#include "config.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "crypto.h"
#include "agent-enroll.h"
#include "fileio.h"
#include "log.h"
#include "ossl.h"

static int
path_join(const char *dir, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool
is_p256(EVP_PKEY *key)
{
	char group[64];

	if (!EVP_PKEY_is_a(key, "EC"))
		return false;
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
					    group, sizeof(group), NULL))
		return false;
	return streq(group, "prime256v1") || streq(group, "P-256");
}

int
agent_key_load_or_create(const char *dir, EVP_PKEY **ret)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	char path[PATH_MAX];
	struct stat st;
	int r;

	r = path_join(dir, ENROLL_KEY_FILE, path, sizeof(path));
	if (r < 0)
		return r;
	r = crypto_key_load(path, &key);
	if (r == 0) {
		if (!is_p256(key))
			return -EKEYREJECTED;
		if (lstat(path, &st) == 0 && (st.st_mode & 077))
			log_warning("%s is accessible by group or others "
				    "(mode %04o): it should be 0600",
				    path, (unsigned)(st.st_mode & 07777));
		*ret = TAKE_PTR(key);
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = crypto_gen_p256(&key);
	if (r < 0)
		return r;
	r = crypto_key_save(path, key, 0600);
	if (r < 0)
		return r;
	log_info("created the node key %s", path);
	*ret = TAKE_PTR(key);
	return 0;
}

static int
req_to_pem(X509_REQ *req, char **ret)
{
	_cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	if (!bio)
		return -ENOMEM;
	if (!PEM_write_bio_X509_REQ(bio, req))
		return ossl_error(-EIO, "PEM_write_bio_X509_REQ");
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		return -EIO;
	s = strndup(data, (size_t)n);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int
agent_csr_make(EVP_PKEY *key, const char *cn, char **ret_pem)
{
	_cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
	X509_NAME *name;

	if (!req)
		return -ENOMEM;
	name = X509_REQ_get_subject_name(req);
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, key))
		return ossl_error(-EIO, "X509_REQ setup");
	if (!X509_REQ_sign(req, key, EVP_sha256()))
		return ossl_error(-EIO, "X509_REQ_sign");
	return req_to_pem(req, ret_pem);
}

/* 0 when pem is a well-signed CSR for key. */
static int
csr_matches(const char *pem, size_t len, EVP_PKEY *key)
{
	_cleanup_(BIO_free_allp) BIO *bio = NULL;
	_cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
	EVP_PKEY *pub;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -ENOMEM;
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	if (!req)
		return ossl_error(-EBADMSG, "PEM_read_bio_X509_REQ");
	pub = X509_REQ_get0_pubkey(req);
	if (!pub || EVP_PKEY_eq(pub, key) != 1 ||
	    X509_REQ_verify(req, pub) != 1)
		return ossl_error(-EBADMSG, "CSR check");
	return 0;
}

int
agent_csr_load_or_create(const char *dir, EVP_PKEY *key, const char *cn,
			 char **ret_pem)
{
	_cleanup_free_ char *pem = NULL;
	char path[PATH_MAX];
	size_t len;
	int r;

	r = path_join(dir, ENROLL_CSR_FILE, path, sizeof(path));
	if (r < 0)
		return r;
	r = read_file(path, ENROLL_CSR_MAX, &pem, &len);
	if (r == 0 && csr_matches(pem, len, key) == 0) {
		*ret_pem = TAKE_PTR(pem);
		return 0;
	}
	if (r == 0)
		log_warning("%s does not belong to the node key: making a new "
			    "one",
			    path);
	else if (r != -ENOENT)
		return r;
	free(TAKE_PTR(pem));
	r = agent_csr_make(key, cn, &pem);
	if (r < 0)
		return r;
	r = write_file_atomic(path, pem, strlen(pem), 0644);
	if (r < 0)
		return r;
	*ret_pem = TAKE_PTR(pem);
	return 0;
}
