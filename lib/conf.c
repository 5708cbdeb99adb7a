/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "conf.h"
#include "fileio.h"
#include "macro.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

/* Parses one line in place. Returns 1 with key/value set, 0 for nothing,
 * -EINVAL for a syntax error. */
static int
parse_line(char *s, char **ret_key, char **ret_value)
{
	char *key, *value, *end;

	while (is_space(*s))
		s++;
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	key = s;
	while (is_key_char(*s))
		s++;
	if (s == key)
		return -EINVAL;
	end = s;
	while (is_space(*s))
		s++;
	if (*s != '=')
		return -EINVAL;
	*end = '\0';
	s++;
	while (is_space(*s))
		s++;
	value = s;
	end = value + strlen(value);
	while (end > value && is_space(end[-1]))
		*--end = '\0';
	if (*value == '"') {
		if (end - value < 2 || end[-1] != '"')
			return -EINVAL;
		end[-1] = '\0';
		value++;
		if (strchr(value, '"'))
			return -EINVAL;
	}
	*ret_key = key;
	*ret_value = value;
	return 1;
}

int
conf_parse(const char *text, size_t len, conf_cb cb, void *userdata,
	     unsigned *ret_line)
{
	char line[CONF_LINE_MAX + 1];
	unsigned lineno = 0;
	size_t pos = 0;
	int r = 0;

	if (len > CONF_FILE_MAX)
		return -EFBIG;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *key, *value;

		lineno++;
		if (n > CONF_LINE_MAX || memchr(text + pos, '\0', n)) {
			r = -EINVAL;
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);

		r = parse_line(line, &key, &value);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		r = cb(key, value, lineno, userdata);
		if (r < 0)
			break;
		r = 0;
	}
	if (r < 0 && ret_line)
		*ret_line = lineno;
	return r;
}

int
conf_parse_file(const char *path, conf_cb cb, void *userdata,
		  unsigned *ret_line)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_file(path, CONF_FILE_MAX, &text, &len);
	if (r < 0) {
		if (ret_line)
			*ret_line = 0;
		return r;
	}
	return conf_parse(text, len, cb, userdata, ret_line);
}
