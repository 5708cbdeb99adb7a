/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "aptsrc.h"
#include "macro.h"

/* Letters, digits and the characters of extra. */
static bool
chars_in(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

bool
aptsrc_uri_valid(const char *s)
{
	const char *rest = startswith(s, "https://");

	if (!rest)
		rest = startswith(s, "http://");
	return rest && *rest && strlen(s) <= 512 &&
	       chars_in(rest, "-._~:/?[]@!$&'()*+,;=%");
}

bool
aptsrc_suite_valid(const char *s)
{
	return *s && strlen(s) <= 64 && s[0] != '-' && chars_in(s, "._/-");
}

bool
aptsrc_component_valid(const char *s)
{
	return *s && strlen(s) <= 64 && s[0] != '-' && chars_in(s, "._-");
}

bool
aptsrc_suite_is_flat(const char *s)
{
	return *s && s[strlen(s) - 1] == '/';
}
