/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests): shared helpers, see common.h. */
#include "config.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

#include "b64.h"
#include "common.h"
#include "macro.h"
#include "ossl.h"

static bool
lower_alnum_run(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

bool
bootstrap_token_id_is_valid(const char *s)
{
	return s && strlen(s) == 6 && lower_alnum_run(s, 6);
}

bool
bootstrap_token_secret_is_valid(const char *s)
{
	return s && strlen(s) == 16 && lower_alnum_run(s, 16);
}

bool
bootstrap_token_is_valid(const char *s)
{
	return s && strlen(s) == 23 && lower_alnum_run(s, 6) && s[6] == '.' &&
	       lower_alnum_run(s + 7, 16);
}

bool
bootstrap_token_in(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i + 23 <= n; i++)
		if (s[i + 6] == '.' && lower_alnum_run(s + i, 6) &&
		    lower_alnum_run(s + i + 7, 16))
			return true;
	return false;
}

int
kubeconfig_format(const char *server, const char *ca_pem, const char *user,
		  const char *cert_pem, const char *key_pem, char **ret)
{
	_cleanup_free_ char *ca = NULL, *cert = NULL;
	_cleanup_erase_ char *key = NULL;
	char *s;
	int n;

	if (b64_encode(ca_pem, strlen(ca_pem), &ca) < 0)
		return -ENOMEM;
	if (!user)
		n = asprintf(&s,
			     "apiVersion: v1\nkind: Config\nclusters:\n"
			     "- cluster:\n"
			     "    certificate-authority-data: %s\n"
			     "    server: %s\n  name: kubernetes\n"
			     "contexts: []\ncurrent-context: \"\"\n"
			     "preferences: {}\nusers: []\n",
			     ca, server);
	else {
		if (b64_encode(cert_pem, strlen(cert_pem), &cert) < 0 ||
		    b64_encode(key_pem, strlen(key_pem), &key) < 0)
			return -ENOMEM;
		n = asprintf(&s,
			     "apiVersion: v1\nkind: Config\nclusters:\n"
			     "- cluster:\n"
			     "    certificate-authority-data: %s\n"
			     "    server: %s\n  name: kubernetes\n"
			     "contexts:\n- context:\n    cluster: kubernetes\n"
			     "    user: \"%s\"\n  name: \"%s@kubernetes\"\n"
			     "current-context: \"%s@kubernetes\"\n"
			     "preferences: {}\nusers:\n- name: \"%s\"\n"
			     "  user:\n    client-certificate-data: %s\n"
			     "    client-key-data: %s\n",
			     ca, server, user, user, user, user, cert, key);
	}
	if (n < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int
kubeconfig_ca_pem(const char *yaml, char **ret)
{
	static const char key[] = "certificate-authority-data:";
	_cleanup_free_ char *b64 = NULL;
	const char *p = strstr(yaml, key), *end;
	size_t len;

	if (!p)
		return -ENOENT;
	p += strlen(key);
	p += strspn(p, " ");
	end = p + strcspn(p, "\r\n");
	b64 = strndup(p, (size_t)(end - p));
	if (!b64)
		return -ENOMEM;
	return b64std_decode(b64, ret, &len);
}

int
b64std_decode(const char *s, char **ret, size_t *ret_len)
{
	uint8_t *out;
	int r;

	r = b64_decode(s, strlen(s), &out, ret_len);
	if (r < 0)
		return -EBADMSG;
	*ret = (char *)out;
	return 0;
}

int
rfc3339_parse(const char *s, time_t *ret)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	struct tm tm = {0};
	int n = 0, oh = 0, om = 0;
	long off = 0;
	size_t i;
	time_t t;

	for (i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9')
				    : s[i] != shape[i])
			return -EINVAL;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -EINVAL;
	s += n;
	if (*s == '.' && s[1] >= '0' && s[1] <= '9')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
		off = 0;
	else if ((s[0] == '+' || s[0] == '-') && strlen(s) == 6 &&
		 sscanf(s + 1, "%2d:%2d", &oh, &om) == 2 && oh < 24 && om < 60)
		off = (s[0] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
	else
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = t - off;
	return 0;
}

void
rfc3339_format(time_t t, char *buf, size_t size)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
hs256(const char *token, const char *header_b64, const char *content,
      uint8_t mac[32])
{
	_cleanup_free_ char *payload = NULL, *input = NULL;
	unsigned len = 0;

	if (b64url_encode(content, strlen(content), &payload) < 0 ||
	    asprintf(&input, "%s.%s", header_b64, payload) < 0)
		return -ENOMEM;
	if (!HMAC(EVP_sha256(), token, (int)strlen(token),
		  (const uint8_t *)input, strlen(input), mac, &len) ||
	    len != 32)
		return ossl_error(-EIO, "HMAC");
	return 0;
}

int
detached_jws_sign(const char *content, const char *token, char **ret)
{
	_cleanup_free_ char *header = NULL, *hb64 = NULL, *sig = NULL;
	uint8_t mac[32];
	char *s;
	int r;

	if (asprintf(&header, "{\"alg\":\"HS256\",\"kid\":\"%.6s\"}", token) <
		    0 ||
	    b64url_encode(header, strlen(header), &hb64) < 0)
		return -ENOMEM;
	r = hs256(token, hb64, content, mac);
	if (r < 0)
		return r;
	if (b64url_encode(mac, sizeof(mac), &sig) < 0 ||
	    asprintf(&s, "%s..%s", hb64, sig) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static bool
header_ok(const char *hb64, size_t n, const char *token)
{
	_cleanup_(json_decrefp) json_t *h = NULL;
	_cleanup_free_ uint8_t *raw = NULL;
	const char *alg = NULL, *kid = NULL;
	size_t len;

	if (b64url_decode(hb64, n, &raw, &len) < 0)
		return false;
	h = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_unpack(h, "{s:s, s:s}", "alg", &alg, "kid", &kid) < 0)
		return false;
	return streq(alg, "HS256") && strlen(kid) == 6 &&
	       strncmp(kid, token, 6) == 0;
}

int
detached_jws_verify(const char *jws, const char *content, const char *token)
{
	_cleanup_free_ char *header = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	const char *dots = strstr(jws, "..");
	uint8_t mac[32];
	size_t sig_len;

	if (!dots || !header_ok(jws, (size_t)(dots - jws), token))
		return -EBADMSG;
	header = strndup(jws, (size_t)(dots - jws));
	if (!header)
		return -ENOMEM;
	if (b64url_decode(dots + 2, strlen(dots + 2), &sig, &sig_len) < 0 ||
	    sig_len != sizeof(mac) || hs256(token, header, content, mac) < 0 ||
	    CRYPTO_memcmp(mac, sig, sizeof(mac)) != 0)
		return -EBADMSG;
	return 0;
}
