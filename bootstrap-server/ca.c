/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "b64.h"
#include "ca.h"
#include "crypto.h"
#include "ossl.h"

static int
refuse(int err, const char *reason, const char **ret_reason)
{
	if (ret_reason)
		*ret_reason = reason;
	return err;
}

/* The key must be id-ecPublicKey with the named curve prime256v1:
 * explicit parameters are refused, whatever curve they describe. */
static int
check_key_algorithm(X509_REQ *req)
{
	X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(req);
	ASN1_OBJECT *alg_oid = NULL;
	const ASN1_OBJECT *curve;
	const X509_ALGOR *alg = NULL;
	const void *pval;
	int ptype;

	if (!xpk || !X509_PUBKEY_get0_param(&alg_oid, NULL, NULL,
					    (X509_ALGOR **)&alg, xpk) ||
	    !alg)
		return -EBADMSG;
	if (OBJ_obj2nid(alg_oid) != NID_X9_62_id_ecPublicKey)
		return -EPERM;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT)
		return -EPERM;
	curve = pval;
	return OBJ_obj2nid(curve) == NID_X9_62_prime256v1 ? 0 : -EPERM;
}

int
ca_csr_check(const char *pem, size_t len, EVP_PKEY **ret_pubkey,
	     const char **ret_reason)
{
	_cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
	_cleanup_(BIO_free_allp) BIO *bio = NULL;
	EVP_PKEY *pub;
	int md_nid, pk_nid, r;

	if (len == 0 || len > CA_CSR_MAX || memchr(pem, 0, len))
		return refuse(-EBADMSG, "CSR empty or too large", ret_reason);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -ENOMEM;
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	if (!req)
		return refuse(ossl_error(-EBADMSG, "CSR parse"),
			      "CSR is not a PEM certificate request",
			      ret_reason);
	r = check_key_algorithm(req);
	if (r < 0)
		return refuse(r,
			      "CSR key must be EC P-256 with a named curve",
			      ret_reason);
	pub = X509_REQ_get0_pubkey(req);
	if (!pub)
		return refuse(-EBADMSG, "CSR has no usable key", ret_reason);
	if (X509_REQ_verify(req, pub) != 1)
		return refuse(ossl_error(-EPERM, "CSR verify"),
			      "CSR self-signature does not verify",
			      ret_reason);
	if (!OBJ_find_sigid_algs(X509_REQ_get_signature_nid(req), &md_nid,
				 &pk_nid) ||
	    pk_nid != NID_X9_62_id_ecPublicKey ||
	    (md_nid != NID_sha256 && md_nid != NID_sha384))
		return refuse(-EPERM, "CSR must be signed with ECDSA SHA-256",
			      ret_reason);
	if (X509_REQ_get_attr_count(req) != 0)
		return refuse(-EPERM,
			      "CSR must not request extensions or attributes",
			      ret_reason);
	if (!EVP_PKEY_up_ref(pub))
		return -ENOMEM;
	*ret_pubkey = pub;
	return 0;
}

int
ca_serial_new(char ret[33])
{
	unsigned char b[16];
	int i;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return ossl_error(-EIO, "RAND_bytes");
		b[0] &= 0x7f;
	} while (b[0] == 0); /* keep 16 significant bytes: fixed width */
	for (i = 0; i < 16; i++)
		sprintf(ret + 2 * i, "%02X", b[i]);
	return 0;
}

int
ca_serial_to_decimal(const char *hex, char **ret)
{
	_cleanup_(BN_freep) BIGNUM *bn = NULL;
	char *dec, *s;

	if (strlen(hex) == 0 || strlen(hex) > 40 ||
	    strspn(hex, "0123456789ABCDEF") != strlen(hex))
		return -EINVAL;
	if (!BN_hex2bn(&bn, hex))
		return -ENOMEM;
	dec = BN_bn2dec(bn);
	if (!dec)
		return -ENOMEM;
	s = strdup(dec);
	OPENSSL_free(dec);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int
ca_issue(EVP_PKEY *ca_key, X509 *ca_cert, EVP_PKEY *pub, const char *name,
	 const char *serial_hex, unsigned days, enum ca_usage usage,
	 X509 **ret)
{
	_cleanup_(X509_freep) X509 *c = X509_new();
	_cleanup_(BN_freep) BIGNUM *bn = NULL;
	X509_NAME *subject;
	int r;

	if (!c)
		return -ENOMEM;
	if (!BN_hex2bn(&bn, serial_hex) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
		return ossl_error(-EINVAL, "serial");
	if (!X509_set_version(c, X509_VERSION_3) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) ||
	    !X509_set_pubkey(c, pub) ||
	    !X509_set_issuer_name(c, X509_get_subject_name(ca_cert)))
		return ossl_error(-EIO, "X509 setup");
	subject = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
					(const unsigned char *)name, -1, -1,
					0))
		return ossl_error(-EIO, "X509 subject");
	if ((r = crypto_add_ext(c, ca_cert, NID_basic_constraints,
			 "critical,CA:FALSE")) < 0 ||
	    (r = crypto_add_ext(c, ca_cert, NID_key_usage,
			 usage == CA_USAGE_SERVER
				 ? "critical,digitalSignature,keyAgreement"
				 : "critical,digitalSignature")) < 0 ||
	    (r = crypto_add_ext(c, ca_cert, NID_ext_key_usage,
			 usage == CA_USAGE_SERVER ? "serverAuth"
						  : "clientAuth")) < 0 ||
	    (r = crypto_add_ext(c, ca_cert, NID_subject_key_identifier, "hash")) < 0 ||
	    (r = crypto_add_ext(c, ca_cert, NID_authority_key_identifier,
			 "keyid:always")) < 0)
		return r;
	if (!X509_sign(c, ca_key, EVP_sha256()))
		return ossl_error(-EIO, "X509_sign");
	*ret = TAKE_PTR(c);
	return 0;
}

int
ca_key_id(EVP_PKEY *pub, char **ret)
{
	uint8_t h[32];
	int r;

	r = crypto_spki_sha256(pub, h);
	if (r < 0)
		return r;
	return b64url_encode(h, sizeof(h), ret);
}
