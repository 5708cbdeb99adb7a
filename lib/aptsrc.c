/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include "aptsrc.h"
#include "macro.h"
#include "name.h"

bool
aptsrc_uri_valid(const char *s)
{
	const char *rest = startswith(s, "https://");

	if (!rest)
		rest = startswith(s, "http://");
	return rest && *rest && strlen(s) <= 512 &&
	       name_chars_valid(rest, "-._~:/?[]@!$&'()*+,;=%");
}

bool
aptsrc_suite_valid(const char *s)
{
	return *s && strlen(s) <= 64 && s[0] != '-' &&
	       name_chars_valid(s, "._/-");
}

bool
aptsrc_component_valid(const char *s)
{
	return *s && strlen(s) <= 64 && s[0] != '-' &&
	       name_chars_valid(s, "._-");
}

bool
aptsrc_suite_is_flat(const char *s)
{
	return *s && s[strlen(s) - 1] == '/';
}
