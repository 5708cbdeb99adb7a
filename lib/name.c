/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "name.h"

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool
name_is_dns_label(const char *s)
{
	size_t i, n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return s[0] != '-' && s[n - 1] != '-';
}

bool
name_is_reserved(const char *s)
{
	if (!s)
		return false;
	static const char *const reserved[] = {"default", "localhost", "none",
					       "all"};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(s, reserved[i]) == 0)
			return true;
	return false;
}

void
name_from_hostname(const char *hostname, char *ret, size_t max)
{
	size_t i, n = 0;

	if (max > NAME_MAX_LEN)
		max = NAME_MAX_LEN;
	for (i = 0; hostname && hostname[i] && hostname[i] != '.' && n < max;
	     i++) {
		char c = hostname[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!is_lower_alnum(c))
			c = '-';
		if (c == '-' && (n == 0 || ret[n - 1] == '-'))
			continue;
		ret[n++] = c;
	}
	while (n > 0 && ret[n - 1] == '-')
		n--;
	ret[n] = '\0';
	if (n == 0 || name_is_reserved(ret))
		snprintf(ret, max + 1, "node");
}

bool
name_chars_valid(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr(extra, *s))
			return false;
	return true;
}

/* Kubernetes "name" part and value: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? */
static bool
k8s_name_part(const char *s, size_t n, bool allow_empty)
{
	size_t i;

	if (n == 0)
		return allow_empty;
	if (n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	return true;
}

/* DNS subdomain: dot-separated lowercase labels, at most 253 bytes. */
static bool
dns_subdomain(const char *s, size_t n)
{
	char label[64];
	size_t start = 0, i;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			size_t len = i - start;
			if (len == 0 || len > 63)
				return false;
			memcpy(label, s + start, len);
			label[len] = '\0';
			if (!name_is_dns_label(label))
				return false;
			start = i + 1;
		}
	}
	return true;
}

bool
label_key_is_valid(const char *key)
{
	const char *slash;

	if (!key)
		return false;
	slash = strchr(key, '/');
	if (!slash)
		return k8s_name_part(key, strlen(key), false);
	if (strchr(slash + 1, '/'))
		return false;
	return dns_subdomain(key, (size_t)(slash - key)) &&
	       k8s_name_part(slash + 1, strlen(slash + 1), false);
}

bool
label_value_is_valid(const char *value)
{
	return value && k8s_name_part(value, strlen(value), true);
}
