/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <openssl/core_names.h>

#include "b64.h"
#include "crypto.h"
#include "jws.h"
#include "ossl.h"

#define JWS_PART_MAX 3072

int
jws_key_id(EVP_PKEY *key, char **ret)
{
	uint8_t h[32];
	int r;

	r = crypto_spki_sha256(key, h);
	if (r < 0)
		return r;
	return b64url_encode(h, 12, ret);
}

static int
header_json(EVP_PKEY *key, char **ret)
{
	_cleanup_free_ char *kid = NULL;
	_cleanup_(json_decrefp) json_t *h = NULL;
	char *s;
	int r;

	r = jws_key_id(key, &kid);
	if (r < 0)
		return r;
	h = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ",
		      "geostage-enroll+jwt", "kid", kid);
	if (!h)
		return -ENOMEM;
	s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int
jws_sign(EVP_PKEY *key, const char *payload, char **ret)
{
	_cleanup_free_ char *hdr = NULL, *h64 = NULL, *p64 = NULL,
			    *s64 = NULL, *input = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char *out;
	int r;

	if (EVP_PKEY_id(key) != EVP_PKEY_ED25519)
		return -EINVAL;
	if ((r = header_json(key, &hdr)) < 0 ||
	    (r = b64url_encode(hdr, strlen(hdr), &h64)) < 0 ||
	    (r = b64url_encode(payload, strlen(payload), &p64)) < 0)
		return r;
	if (asprintf(&input, "%s.%s", h64, p64) < 0) {
		input = NULL;
		return -ENOMEM;
	}
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
			   strlen(input)) != 1)
		return ossl_error(-EIO, "Ed25519 sign");
	r = b64url_encode(sig, siglen, &s64);
	if (r < 0)
		return r;
	if (asprintf(&out, "%s.%s", input, s64) < 0)
		return -ENOMEM;
	if (strlen(out) > JWS_MAX_LEN) {
		free(out);
		return -E2BIG;
	}
	*ret = out;
	return 0;
}

/* Splits "a.b.c" into three non-empty parts within bounds. */
static int
split(const char *jws, size_t len, size_t off[3], size_t n[3])
{
	size_t i, part = 0, start = 0;

	if (len == 0 || len > JWS_MAX_LEN)
		return -EINVAL;
	for (i = 0; i <= len; i++) {
		if (i == len || jws[i] == '.') {
			if (part >= 3)
				return -EINVAL;
			off[part] = start;
			n[part] = i - start;
			if (n[part] == 0 || n[part] > JWS_PART_MAX)
				return -EINVAL;
			part++;
			start = i + 1;
		} else if ((unsigned char)jws[i] < 0x21 ||
			   (unsigned char)jws[i] > 0x7e) {
			return -EINVAL;
		}
	}
	return part == 3 ? 0 : -EINVAL;
}

static int
decode_json_object(const char *s, size_t len, json_t **ret)
{
	_cleanup_free_ uint8_t *raw = NULL;
	json_t *j;
	size_t n;
	int r;

	r = b64url_decode(s, len, &raw, &n);
	if (r < 0)
		return r;
	if (memchr(raw, 0, n))
		return -EINVAL;
	j = json_loadb((char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	if (!j)
		return -EINVAL;
	if (!json_is_object(j)) {
		json_decref(j);
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

int
jws_decode_unverified(const char *jws, size_t len, json_t **ret_claims)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL;
	size_t off[3], n[3];
	const char *alg;
	int r;

	r = split(jws, len, off, n);
	if (r < 0)
		return r;
	r = decode_json_object(jws + off[0], n[0], &hdr);
	if (r < 0)
		return r;
	alg = json_string_value(json_object_get(hdr, "alg"));
	if (!alg || !streq(alg, "EdDSA") || json_object_get(hdr, "crit"))
		return -EINVAL;
	return decode_json_object(jws + off[1], n[1], ret_claims);
}

int
jws_verify_kid(EVP_PKEY *key, const char *kid, const char *jws, size_t len,
	       json_t **ret_claims)
{
	_cleanup_(json_decrefp) json_t *hdr = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	size_t off[3], n[3], siglen;
	const char *alg, *hkid;
	int r;

	r = split(jws, len, off, n);
	if (r < 0)
		return r;
	r = decode_json_object(jws + off[0], n[0], &hdr);
	if (r < 0)
		return r;
	alg = json_string_value(json_object_get(hdr, "alg"));
	hkid = json_string_value(json_object_get(hdr, "kid"));
	if (!alg || !streq(alg, "EdDSA") || json_object_get(hdr, "crit"))
		return -EINVAL;
	if (!hkid || !streq(hkid, kid))
		return -EPERM;
	r = b64url_decode(jws + off[2], n[2], &sig, &siglen);
	if (r < 0)
		return r;
	if (siglen != 64)
		return -EPERM;
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) != 1)
		return ossl_error(-EIO, "Ed25519 verify init");
	/* The signing input is the first two parts with their dot. */
	if (EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jws,
			     n[0] + 1 + n[1]) != 1)
		return ossl_error(-EPERM, "Ed25519 verify");
	return decode_json_object(jws + off[1], n[1], ret_claims);
}

int
jws_verify(EVP_PKEY *key, const char *jws, size_t len, json_t **ret_claims)
{
	_cleanup_free_ char *kid = NULL;
	int r;

	r = jws_key_id(key, &kid);
	if (r < 0)
		return r;
	return jws_verify_kid(key, kid, jws, len, ret_claims);
}

int
jws_public_jwk(EVP_PKEY *key, json_t **ret)
{
	_cleanup_free_ char *x = NULL, *kid = NULL;
	unsigned char raw[32];
	size_t len = sizeof(raw);
	json_t *j;
	int r;

	if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != 32)
		return ossl_error(-EIO, "raw public key");
	if ((r = b64url_encode(raw, len, &x)) < 0 ||
	    (r = jws_key_id(key, &kid)) < 0)
		return r;
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv",
		      "Ed25519", "x", x, "kid", kid, "alg", "EdDSA", "use",
		      "sig");
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}
