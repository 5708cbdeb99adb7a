/* SPDX-License-Identifier: MIT */
/* /etc/geostage/enrolld.conf: "key = value", parsed by lib/conf.c, every
 * value checked here with FILE:LINE in the error. */
#include "config.h"

#include <limits.h>
#include <sys/stat.h>

#include "agent.h"
#include "conf.h"
#include "fileio.h"
#include "name.h"

struct parse_ctx {
	struct agent_conf *conf;
	char *err;
	size_t errsz;
	unsigned retry_max_line;
};

void
agent_conf_init(struct agent_conf *c)
{
	*c = (struct agent_conf){
		.connect_timeout_s = 10,
		.request_timeout_s = 30,
		.retry_initial_ms = 1000,
		.retry_max_ms = 60000,
		.retry_attempts = 0,
	};
}

void
agent_conf_done(struct agent_conf *c)
{
	free(c->token_file);
	free(c->state_dir);
	free(c->hostname);
	free(c->name);
	agent_conf_init(c);
}

/* Strict decimal: digits only, within [min, max]. */
static int
parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long long v = 0;
	const char *p;

	if (!*s)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > max)
			return -ERANGE;
	}
	if (v < min)
		return -ERANGE;
	*ret = (unsigned)v;
	return 0;
}

static bool
hostname_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > AGENT_HOSTNAME_MAX)
		return false;
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return false;
	return true;
}

static int
set_string(char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

/* Returns 0, -ENOKEY for an unknown key, or -EINVAL/-ERANGE with *why. */
static int
apply(struct parse_ctx *p, const char *key, const char *value, const char **why)
{
	static const struct {
		const char *key;
		size_t offset;
		unsigned min, max;
		const char *range;
	} numbers[] = {
		{"connect_timeout",
		 offsetof(struct agent_conf, connect_timeout_s), 1, 600,
		 "seconds, 1..600"},
		{"request_timeout",
		 offsetof(struct agent_conf, request_timeout_s), 1, 3600,
		 "seconds, 1..3600"},
		{"retry_initial_ms",
		 offsetof(struct agent_conf, retry_initial_ms), 1, 3600000,
		 "milliseconds, 1..3600000"},
		{"retry_max_ms", offsetof(struct agent_conf, retry_max_ms), 1,
		 86400000, "milliseconds, 1..86400000"},
		{"retry_attempts", offsetof(struct agent_conf, retry_attempts),
		 0, 1000000, "0 (unlimited) .. 1000000"},
	};
	struct agent_conf *c = p->conf;
	size_t i;

	if (streq(key, "token_file") || streq(key, "state_dir")) {
		*why = "expected an absolute path";
		if (value[0] != '/' || strlen(value) > PATH_MAX - 64)
			return -EINVAL;
		return set_string(streq(key, "token_file") ? &c->token_file
							   : &c->state_dir,
				  value);
	}
	if (streq(key, "hostname")) {
		*why = "expected at most 253 printable ASCII bytes, no spaces";
		if (!hostname_is_valid(value))
			return -EINVAL;
		return set_string(&c->hostname, value);
	}
	if (streq(key, "name")) {
		*why = "expected a lowercase RFC 1123 label (a-z, 0-9, '-', at "
		       "most 63 bytes), not a reserved name";
		if (!name_is_dns_label(value) || name_is_reserved(value))
			return -EINVAL;
		return set_string(&c->name, value);
	}
	for (i = 0; i < ELEMENTSOF(numbers); i++) {
		if (!streq(key, numbers[i].key))
			continue;
		*why = numbers[i].range;
		return parse_unsigned(
			value, numbers[i].min, numbers[i].max,
			(unsigned *)((char *)c + numbers[i].offset));
	}
	return -ENOKEY;
}

static int
on_assignment(const char *key, const char *value, unsigned line, void *userdata)
{
	struct parse_ctx *p = userdata;
	const char *why = NULL;
	int r;

	r = apply(p, key, value, &why);
	if (r == -ENOKEY)
		snprintf(p->err, p->errsz, "unknown key '%s'", key);
	else if (r == -ENOMEM)
		snprintf(p->err, p->errsz, "out of memory");
	else if (r < 0)
		snprintf(p->err, p->errsz, "bad value for '%s' (%s)", key, why);
	if (r == 0 && streq(key, "retry_max_ms"))
		p->retry_max_line = line;
	return r;
}

int
agent_conf_parse(struct agent_conf *c, const char *text, size_t len,
		 const char *source, char *err, size_t errsz)
{
	char why[AGENT_ERROR_MAX] = "";
	struct parse_ctx p = {.conf = c, .err = why, .errsz = sizeof(why)};
	unsigned line = 0;
	int r;

	r = conf_parse(text, len, on_assignment, &p, &line);
	if (r < 0) {
		if (!why[0])
			snprintf(why, sizeof(why), "%s",
				 r == -EFBIG ? "file too large"
					     : "syntax error, expected "
					       "'key = value'");
		snprintf(err, errsz, "%s:%u: %s", source, line, why);
		return r == -ENOKEY ? -EINVAL : r;
	}
	if (c->retry_max_ms < c->retry_initial_ms) {
		snprintf(err, errsz,
			 "%s:%u: retry_max_ms (%u) is below retry_initial_ms "
			 "(%u)",
			 source, p.retry_max_line, c->retry_max_ms,
			 c->retry_initial_ms);
		return -EINVAL;
	}
	return 0;
}

int
agent_conf_load(struct agent_conf *c, const char *path, bool must_exist,
		char *err, size_t errsz)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_file(path, CONF_FILE_MAX, &text, &len);
	if (r == -ENOENT && !must_exist)
		return 0;
	if (r < 0) {
		snprintf(err, errsz, "%s: cannot read: %s", path,
			 agent_file_error(r));
		return r;
	}
	return agent_conf_parse(c, text, len, path, err, errsz);
}

int
agent_conf_finish(struct agent_conf *c, const char *token_file_arg,
		  const char *state_dir_arg)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	const char *env = getenv(AGENT_STATE_DIR_ENV);
	_cleanup_free_ char *cred = NULL;
	int r;

	if (token_file_arg) {
		r = set_string(&c->token_file, token_file_arg);
		if (r < 0)
			return r;
	} else if (!c->token_file) {
		if (creds && *creds &&
		    asprintf(&cred, "%s/%s", creds, AGENT_CREDENTIAL) < 0)
			return -ENOMEM;
		r = set_string(&c->token_file, cred && access(cred, F_OK) == 0
						       ? cred
						       : AGENT_TOKEN_PATH);
		if (r < 0)
			return r;
	}
	if (state_dir_arg)
		return set_string(&c->state_dir, state_dir_arg);
	if (!c->state_dir)
		return set_string(&c->state_dir,
				  env && *env ? env : AGENT_STATE_DIR);
	return 0;
}
