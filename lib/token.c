/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "name.h"
#include "ossl.h"
#include "token.h"

void
token_claims_free(struct token_claims *c)
{
	size_t i;

	if (!c)
		return;
	free(c->jti);
	for (i = 0; i < c->n_iss; i++)
		free(c->iss[i]);
	free(c->pin);
	free(c->site);
	free(c->role);
	json_decref(c->labels);
	free(c);
}

bool
token_id_is_valid(const char *jti)
{
	size_t i, n;

	if (!jti)
		return false;
	n = strlen(jti);
	if (n < 16 || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!((jti[i] >= 'a' && jti[i] <= 'z') ||
		      (jti[i] >= '2' && jti[i] <= '7')))
			return false;
	return true;
}

bool
token_pin_is_valid(const char *pin)
{
	const char *b = pin ? startswith(pin, "sha256//") : NULL;
	size_t i;

	/* 32 bytes in standard base64: 43 characters and one '='. */
	if (!b || strlen(b) != 44 || b[43] != '=')
		return false;
	for (i = 0; i < 43; i++)
		if (!((b[i] >= 'A' && b[i] <= 'Z') ||
		      (b[i] >= 'a' && b[i] <= 'z') ||
		      (b[i] >= '0' && b[i] <= '9') || b[i] == '+' ||
		      b[i] == '/'))
			return false;
	return true;
}

static bool
host_is_valid(const char *h, size_t n)
{
	char buf[256];
	struct in6_addr a6;
	size_t i, start = 0;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (buf[0] == '[') {
		if (n < 3 || buf[n - 1] != ']')
			return false;
		buf[n - 1] = '\0';
		return inet_pton(AF_INET6, buf + 1, &a6) == 1;
	}
	/* A DNS name (which also covers dotted IPv4), case-insensitive. */
	for (i = 0; i < n; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
	for (i = 0; i <= n; i++) {
		if (i == n || buf[i] == '.') {
			char c = buf[i];
			bool ok;
			buf[i] = '\0';
			ok = name_is_dns_label(buf + start);
			buf[i] = c;
			if (!ok)
				return false;
			start = i + 1;
		}
	}
	return true;
}

bool
token_url_is_valid(const char *url)
{
	const char *h = url ? startswith(url, "https://") : NULL;
	const char *end, *colon;
	size_t hn;

	if (!h || strlen(url) > TOKEN_URL_MAX)
		return false;
	end = h + strcspn(h, "/");
	if (*end == '/' && end[1] != '\0')
		return false;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (!rb)
			return false;
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return false;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
	}
	hn = (size_t)((colon ? colon : end) - h);
	if (!host_is_valid(h, hn))
		return false;
	if (colon) {
		const char *p;
		unsigned long port = 0;
		if (colon + 1 == end || end - colon > 6)
			return false;
		for (p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return false;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return false;
	}
	return true;
}

bool
token_role_is_valid(const char *role)
{
	return role && (streq(role, "node") || streq(role, "gateway"));
}

bool
token_label_is_allowed(const char *key, const char *value)
{
	const char *slash;

	if (!label_key_is_valid(key) || !label_value_is_valid(value))
		return false;
	slash = strchr(key, '/');
	if (slash) {
		size_t n = (size_t)(slash - key);
		const char *suffix = "geostage.io";
		size_t sn = strlen(suffix);
		if (n >= sn && memcmp(slash - sn, suffix, sn) == 0 &&
		    (n == sn || key[n - sn - 1] == '.'))
			return false;
	}
	return true;
}

/* No NUL inside: C sees the same string the JSON holds. */
static bool
string_is_clean(json_t *v)
{
	return strlen(json_string_value(v)) == json_string_length(v);
}

static int
dup_string(json_t *j, const char *key, size_t max, char **ret)
{
	json_t *v = json_object_get(j, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > max || strlen(s) != n)
		return -EINVAL;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int
parse_iss(json_t *j, struct token_claims *c)
{
	json_t *v = json_object_get(j, "iss"), *e;
	size_t i;

	if (json_is_string(v)) {
		if (!string_is_clean(v) ||
		    !token_url_is_valid(json_string_value(v)))
			return -EINVAL;
		c->iss[0] = strdup(json_string_value(v));
		if (!c->iss[0])
			return -ENOMEM;
		c->n_iss = 1;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > TOKEN_ISS_MAX)
		return -EINVAL;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || !string_is_clean(e) ||
		    !token_url_is_valid(json_string_value(e)))
			return -EINVAL;
		c->iss[i] = strdup(json_string_value(e));
		if (!c->iss[i])
			return -ENOMEM;
		c->n_iss = i + 1;
	}
	return 0;
}

static int
parse_labels(json_t *j, struct token_claims *c)
{
	json_t *v = json_object_get(j, "labels"), *e;
	const char *k;

	if (!v) {
		c->labels = json_object();
		return c->labels ? 0 : -ENOMEM;
	}
	if (!json_is_object(v) || json_object_size(v) > TOKEN_LABELS_MAX)
		return -EINVAL;
	json_object_foreach(v, k, e)
	{
		if (!json_is_string(e) || !string_is_clean(e) ||
		    strlen(k) > 317 ||
		    !token_label_is_allowed(k, json_string_value(e)))
			return -EINVAL;
	}
	c->labels = json_incref(v);
	return 0;
}

int
token_claims_from_json(json_t *j, struct token_claims **ret)
{
	static const char *const known[] = {"jti", "iss",  "pin", "site", "role",
					    "iat", "exp",  "max", "labels"};
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;
	json_t *v;
	const char *k;
	size_t i;
	int r;

	if (!json_is_object(j))
		return -EINVAL;
	json_object_foreach(j, k, v)
	{
		bool ok = false;
		for (i = 0; i < ELEMENTSOF(known); i++)
			ok = ok || streq(k, known[i]);
		if (!ok)
			return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if ((r = dup_string(j, "jti", 64, &c->jti)) < 0 ||
	    (r = dup_string(j, "pin", 64, &c->pin)) < 0 ||
	    (r = dup_string(j, "site", NAME_MAX_LEN, &c->site)) < 0 ||
	    (r = dup_string(j, "role", 16, &c->role)) < 0 ||
	    (r = parse_iss(j, c)) < 0 || (r = parse_labels(j, c)) < 0)
		return r;
	if (!token_id_is_valid(c->jti) || !token_pin_is_valid(c->pin) ||
	    !name_is_dns_label(c->site) || !token_role_is_valid(c->role))
		return -EINVAL;

	v = json_object_get(j, "exp");
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return -EINVAL;
	c->exp = json_integer_value(v);
	v = json_object_get(j, "iat");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
		    json_integer_value(v) > c->exp)
			return -EINVAL;
		c->iat = json_integer_value(v);
	}
	v = json_object_get(j, "max");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > TOKEN_USES_MAX)
		return -EINVAL;
	c->max = (unsigned)json_integer_value(v);

	*ret = TAKE_PTR(c);
	return 0;
}

int
token_claims_to_json(const struct token_claims *c, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *j = NULL, *iss = NULL;
	size_t i;

	iss = json_array();
	if (!iss)
		return -ENOMEM;
	for (i = 0; i < c->n_iss; i++)
		if (json_array_append_new(iss, json_string(c->iss[i])) < 0)
			return -ENOMEM;
	j = json_pack("{s:s, s:O, s:s, s:s, s:s, s:I, s:I, s:O}", "jti", c->jti,
		      "iss", iss, "pin", c->pin, "site", c->site, "role",
		      c->role, "exp", (json_int_t)c->exp, "max",
		      (json_int_t)c->max, "labels", c->labels);
	if (!j)
		return -ENOMEM;
	/* iat is optional: absent stays absent. */
	if (c->iat > 0 &&
	    json_object_set_new(j, "iat", json_integer(c->iat)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(j);
	return 0;
}
