/* SPDX-License-Identifier: MIT */
/* Small helpers every part of the agent uses. */
#include "config.h"

#include <limits.h>
#include <sys/stat.h>

#include "agent.h"
#include "fileio.h"
#include "name.h"

int
agent_fail_exit_code(enum agent_fail f)
{
	switch (f) {
	case AGENT_FAIL_CONFIG:
		return AGENT_EXIT_CONFIG;
	case AGENT_FAIL_PIN:
		return AGENT_EXIT_PIN_MISMATCH;
	case AGENT_FAIL_REFUSED:
		return AGENT_EXIT_REFUSED;
	case AGENT_FAIL_RETRY:
		return AGENT_EXIT_RETRY_EXHAUSTED;
	case AGENT_FAIL_NOT_IMPLEMENTED:
		return AGENT_EXIT_NOT_IMPLEMENTED;
	case AGENT_FAIL_PACKAGE:
		return AGENT_EXIT_PACKAGE;
	case AGENT_FAIL_NETWORK:
		return AGENT_EXIT_NETWORK;
	case AGENT_FAIL_JOIN:
		return AGENT_EXIT_JOIN;
	case AGENT_FAIL_OTHER:
	default:
		return AGENT_EXIT_FAILURE;
	}
}

int
agent_path(const struct agent *a, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", a->conf->state_dir, name);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

void
agent_sanitize(char *dst, size_t size, const char *src)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; src && src[i] && i + 1 < size; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

const char *
agent_file_error(int r)
{
	switch (r) {
	case -EFBIG:
		return "file too large";
	case -ELOOP:
		return "is a symbolic link (refused)";
	case -EBADFD:
		return "not a regular file";
	default:
		return strerror(r < 0 ? -r : r);
	}
}

int
agent_state_dir_check(const char *dir, char *err, size_t errsz)
{
	struct stat st;
	int r;

	r = mkdir_safe(dir, 0700);
	if (r < 0) {
		snprintf(err, errsz, "state dir %s: %s", dir,
			 r == -ENOTDIR ? "not a directory (or a symlink)"
				       : strerror(-r));
		return r;
	}
	if (lstat(dir, &st) < 0) {
		r = negative_errno();
		snprintf(err, errsz, "state dir %s: %s", dir, strerror(-r));
		return r;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errsz, "state dir %s: owned by uid %u, not by us",
			 dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errsz,
			 "state dir %s: writable by group or others (mode "
			 "%04o); make it 0700",
			 dir, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		r = negative_errno();
		snprintf(err, errsz, "state dir %s: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

int
agent_need_token(struct agent *a, char *err, size_t errsz)
{
	_cleanup_(agent_token_freep) struct agent_token *t = NULL;
	int r;

	if (a->token)
		return 0;
	r = agent_token_load(a->conf->token_file, &t, err, errsz);
	if (r < 0)
		return r;
	a->token = TAKE_PTR(t);
	return 0;
}

int
agent_hostname(const struct agent_conf *c, char *buf, size_t size)
{
	char h[HOST_NAME_MAX + 1];
	size_t i;

	if (c->hostname) {
		snprintf(buf, size, "%s", c->hostname);
		return 0;
	}
	if (gethostname(h, sizeof(h)) < 0)
		return negative_errno();
	h[HOST_NAME_MAX] = '\0';
	agent_sanitize(buf, MIN(size, (size_t)AGENT_HOSTNAME_MAX + 1), h);
	for (i = 0; buf[i]; i++)
		if (buf[i] == ' ')
			buf[i] = '-';
	if (!buf[0])
		snprintf(buf, size, "node");
	return 0;
}

void
agent_proposed_name(const struct agent_conf *c, const char *hostname,
		    char ret[NAME_MAX_LEN + 1])
{
	if (c->name)
		snprintf(ret, NAME_MAX_LEN + 1, "%s", c->name);
	else
		name_from_hostname(hostname, ret, NAME_MAX_LEN);
}

int
agent_marker_set(const struct agent *a, const char *name)
{
	char path[PATH_MAX];
	int r;

	r = agent_path(a, name, path, sizeof(path));
	if (r < 0)
		return r;
	return write_file_atomic(path, "", 0, 0600);
}

bool
agent_marker_exists(const struct agent *a, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return agent_path(a, name, path, sizeof(path)) == 0 &&
	       lstat(path, &st) == 0;
}

int
agent_marker_clear(const struct agent *a, const char *name)
{
	char path[PATH_MAX];
	int r;

	r = agent_path(a, name, path, sizeof(path));
	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}
