/* SPDX-License-Identifier: MIT */
/* Child processes: posix_spawn of an absolute path with an argv array and
 * an explicit, minimal environment; stdin from /dev/null; stdout and
 * stderr captured (bounded); a timeout that ends the whole process group.
 * Never a shell. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SPAWN_OUTPUT_MAX (256 * 1024) /* default stdout bound */
#define SPAWN_ERRORS_MAX (4 * 1024)   /* default stderr bound (its tail) */
#define SPAWN_KILL_GRACE_MS 5000      /* SIGTERM, then SIGKILL */
#define SPAWN_DRAIN_MS 1000	      /* output of leftover grandchildren */

/* The environment every child gets: PATH, LANG and LC_ALL=C.UTF-8. */
extern const char *const spawn_env_default[];
/* The same, plus DEBIAN_FRONTEND=noninteractive and
 * APT_LISTCHANGES_FRONTEND=none, for apt-get and dpkg. */
extern const char *const spawn_env_apt[];

struct spawn_opts {
	const char *const *argv; /* argv[0]: an absolute path */
	const char *const *env;	 /* NULL: spawn_env_default */
	unsigned timeout_ms;	 /* 0: none */
	size_t out_max;		 /* 0: SPAWN_OUTPUT_MAX; the head is kept */
	size_t err_max;		 /* 0: SPAWN_ERRORS_MAX; the tail is kept */
};

struct spawn_result {
	int status; /* exit status 0..255; -1 when killed by a signal */
	int signal; /* the signal that ended it, or 0 */
	bool timed_out;
	char *out; /* stdout, NUL-terminated, never NULL after success */
	size_t out_len;
	bool out_truncated;
	char *err; /* the tail of stderr, NUL-terminated */
	size_t err_len;
	bool err_truncated;
};

/* Runs the program to its end (or its timeout). Returns 0 when it ran,
 * whatever its exit status; -EINVAL for a relative argv[0]; -ENOENT,
 * -EACCES ... when it could not be executed. */
int spawn_run(const struct spawn_opts *o, struct spawn_result *ret);
void spawn_result_done(struct spawn_result *r);
/* Exited with status 0, not by a signal, not timed out. */
bool spawn_succeeded(const struct spawn_result *r);
/* "exited with status 100", "killed by signal 9 (Killed)", "timed out
 * after 120 s". */
void spawn_describe(const struct spawn_result *r, unsigned timeout_ms,
		    char *buf, size_t size);
/* The last non-empty line of text (stderr, usually), printable ASCII, at
 * most size - 1 bytes: the line that says why. "" when none. */
void spawn_last_line(const char *text, char *buf, size_t size);
/* The line that says why a program failed: the first "E: " line (apt's
 * errors, which may be followed by a generic one such as "E: The list of
 * sources could not be read."), else the last non-empty line. */
void spawn_reason_line(const char *text, char *buf, size_t size);
