/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "b64.h"
#include "macro.h"

static const char std_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
encode(const char *alpha, int pad, const void *data, size_t len, char **ret)
{
	const uint8_t *in = data;
	char *out, *p;
	size_t i;

	if (len > (SIZE_MAX / 4) - 4)
		return -ENOMEM;
	out = p = malloc(((len + 2) / 3) * 4 + 1);
	if (!out)
		return -ENOMEM;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		*p++ = alpha[(v >> 18) & 63];
		*p++ = alpha[(v >> 12) & 63];
		*p++ = alpha[(v >> 6) & 63];
		*p++ = alpha[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*p++ = alpha[(v >> 18) & 63];
		*p++ = alpha[(v >> 12) & 63];
		if (i + 1 < len)
			*p++ = alpha[(v >> 6) & 63];
		else if (pad)
			*p++ = '=';
		if (pad)
			*p++ = '=';
	}
	*p = '\0';
	*ret = out;
	return 0;
}

int
b64_encode(const void *data, size_t len, char **ret)
{
	return encode(std_alphabet, 1, data, len, ret);
}

int
b64url_encode(const void *data, size_t len, char **ret)
{
	return encode(url_alphabet, 0, data, len, ret);
}

static int url_value(char c);

static int
std_value(char c)
{
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	if (c == '-' || c == '_')
		return -1;
	return url_value(c);
}

static int
url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static int
decode(int (*value)(char), const char *s, size_t len, uint8_t **ret,
       size_t *ret_len)
{
	_cleanup_free_ uint8_t *out = NULL;
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -EINVAL;
	out = malloc(len / 4 * 3 + 3);
	if (!out)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		int v = value(s[i]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero: one encoding per byte string. */
	if (bits > 0 && (acc & ((1u << bits) - 1)))
		return -EINVAL;
	out[n] = 0;
	*ret_len = n;
	*ret = TAKE_PTR(out);
	return 0;
}

int
b64url_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	return decode(url_value, s, len, ret, ret_len);
}

int
b64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	size_t pad = 0;

	if (len % 4 != 0)
		return -EINVAL;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	return decode(std_value, s, len - pad, ret, ret_len);
}
