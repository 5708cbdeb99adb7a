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

static const struct {
	const char *key;
	const char *path;
} progs[_PROG_MAX] = {
	[PROG_APT_GET] = {"apt_get", "/usr/bin/apt-get"},
	[PROG_APT_CACHE] = {"apt_cache", "/usr/bin/apt-cache"},
	[PROG_APT_MARK] = {"apt_mark", "/usr/bin/apt-mark"},
	[PROG_DPKG_QUERY] = {"dpkg_query", "/usr/bin/dpkg-query"},
	[PROG_DPKG] = {"dpkg", "/usr/bin/dpkg"},
	/* The classic paths: right with and without merged /usr. */
	[PROG_MODPROBE] = {"modprobe", "/sbin/modprobe"},
	[PROG_SYSCTL] = {"sysctl", "/sbin/sysctl"},
	[PROG_SYSTEMCTL] = {"systemctl", "/bin/systemctl"},
	[PROG_SWAPOFF] = {"swapoff", "/sbin/swapoff"},
	[PROG_IP] = {"ip", "/sbin/ip"},
	[PROG_KUBEADM] = {"kubeadm", "/usr/bin/kubeadm"},
	[PROG_GPG] = {"gpg", "/usr/bin/gpg"},
};

const char *
agent_prog_key(enum agent_prog p)
{
	return (unsigned)p < _PROG_MAX ? progs[p].key : NULL;
}

const char *
agent_prog_default(enum agent_prog p)
{
	return (unsigned)p < _PROG_MAX ? progs[p].path : NULL;
}

const char *
agent_prog(const struct agent_conf *c, enum agent_prog p)
{
	if ((unsigned)p >= _PROG_MAX)
		return NULL;
	return c->prog[p] ? c->prog[p] : progs[p].path;
}

const char *
agent_root(const struct agent_conf *c)
{
	return c->root_dir ? c->root_dir : "/";
}

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
		.command_timeout_s = 120,
		.apt_timeout_s = 1800,
		.vpn_timeout_s = 120,
		.join_timeout_s = 900,
	};
}

void
agent_conf_done(struct agent_conf *c)
{
	free(c->token_file);
	free(c->state_dir);
	free(c->hostname);
	free(c->name);
	free(c->root_dir);
	for (size_t i = 0; i < _PROG_MAX; i++)
		free(c->prog[i]);
	free(c->kubernetes_apt_key);
	free(c->kubernetes_apt_fingerprint);
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

static bool
endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && streq(s + n - k, suffix);
}

/* A path that also goes into unit files (ExecStart=) unquoted: no blanks,
 * quotes, backslashes or '%' specifiers, no "." or ".." component. */
static bool
path_is_plain(const char *s)
{
	const char *p;

	if (s[0] != '/' || strlen(s) > 256 || strstr(s, "/./") ||
	    strstr(s, "/../") || endswith(s, "/.") || endswith(s, "/.."))
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("/._+-", *p)))
			return false;
	return true;
}

static bool
fingerprint_is_valid(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (*s == ' ')
			continue;
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
		n++;
	}
	return n == 40 || n == 64;
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

/* The settings of the steps after enroll: programs, root_dir, the
 * Kubernetes repository key. -ENOKEY when key is none of them. */
static int
apply_step_key(struct agent_conf *c, const char *key, const char *value,
	       const char **why)
{
	size_t i;

	for (i = 0; i < _PROG_MAX; i++) {
		if (!streq(key, progs[i].key))
			continue;
		*why = "expected an absolute path of letters, digits and "
		       "/._+-";
		if (!path_is_plain(value))
			return -EINVAL;
		return set_string(&c->prog[i], value);
	}
	if (streq(key, "root_dir") || streq(key, "kubernetes_apt_key")) {
		*why = "expected an absolute path of letters, digits and "
		       "/._+-";
		if (!path_is_plain(value))
			return -EINVAL;
		return set_string(streq(key, "root_dir")
					  ? &c->root_dir
					  : &c->kubernetes_apt_key,
				  value);
	}
	if (streq(key, "kubernetes_apt_fingerprint")) {
		*why = "expected a full OpenPGP fingerprint (40 or 64 hex "
		       "digits)";
		if (!fingerprint_is_valid(value))
			return -EINVAL;
		return set_string(&c->kubernetes_apt_fingerprint, value);
	}
	return -ENOKEY;
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
		{"command_timeout",
		 offsetof(struct agent_conf, command_timeout_s), 1, 3600,
		 "seconds, 1..3600"},
		{"apt_timeout", offsetof(struct agent_conf, apt_timeout_s), 60,
		 86400, "seconds, 60..86400"},
		{"vpn_timeout", offsetof(struct agent_conf, vpn_timeout_s), 1,
		 3600, "seconds, 1..3600"},
		{"join_timeout", offsetof(struct agent_conf, join_timeout_s),
		 60, 7200, "seconds, 60..7200"},
	};
	struct agent_conf *c = p->conf;
	size_t i;
	int r;

	if (streq(key, "token_file") || streq(key, "state_dir")) {
		*why = "expected an absolute path";
		if (value[0] != '/' || strlen(value) > PATH_MAX - 64)
			return -EINVAL;
		return set_string(streq(key, "token_file") ? &c->token_file
							   : &c->state_dir,
				  value);
	}
	r = apply_step_key(c, key, value, why);
	if (r != -ENOKEY)
		return r;
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
