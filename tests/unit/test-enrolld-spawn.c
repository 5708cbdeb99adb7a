/* SPDX-License-Identifier: MIT */
/* enrolld/spawn.c: argv reaches the child as given (no shell), the
 * environment is exactly the one given, output is bounded, a timeout ends
 * the whole process group, and exit statuses and signals are told apart.
 * Only /bin/true, /bin/false and /bin/sh run here. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <time.h>

#include "macro.h"
#include "spawn.h"

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
run(const char *const *argv, const char *const *env, unsigned timeout_ms,
    size_t out_max, size_t err_max, struct spawn_result *res)
{
	struct spawn_opts o = {.argv = argv,
			       .env = env,
			       .timeout_ms = timeout_ms,
			       .out_max = out_max,
			       .err_max = err_max};

	assert_int_equal(spawn_run(&o, res), 0);
	assert_non_null(res->out);
	assert_non_null(res->err);
}

static void
test_status(void **state)
{
	const char *t[] = {"/bin/true", NULL}, *f[] = {"/bin/false", NULL};
	const char *s[] = {"/bin/sh", "-c", "exit 100", NULL};
	struct spawn_result res;
	char how[96];

	(void)state;
	run(t, NULL, 0, 0, 0, &res);
	assert_true(spawn_succeeded(&res));
	assert_int_equal(res.status, 0);
	assert_int_equal(res.out_len, 0);
	spawn_result_done(&res);

	run(f, NULL, 0, 0, 0, &res);
	assert_false(spawn_succeeded(&res));
	assert_int_equal(res.status, 1);
	spawn_result_done(&res);

	run(s, NULL, 0, 0, 0, &res);
	assert_int_equal(res.status, 100);
	spawn_describe(&res, 0, how, sizeof(how));
	assert_string_equal(how, "exited with status 100");
	spawn_result_done(&res);
}

static void
test_signal(void **state)
{
	const char *s[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
	struct spawn_result res;
	char how[96];

	(void)state;
	run(s, NULL, 0, 0, 0, &res);
	assert_false(spawn_succeeded(&res));
	assert_int_equal(res.status, -1);
	assert_int_equal(res.signal, SIGKILL);
	assert_false(res.timed_out);
	spawn_describe(&res, 0, how, sizeof(how));
	assert_non_null(strstr(how, "killed by signal 9"));
	spawn_result_done(&res);
}

/* No shell between us and the program: metacharacters stay bytes. */
static void
test_argv(void **state)
{
	const char *s[] = {"/bin/sh",	 "-c",	"printf '%s|' \"$@\"",
			   "sh",	 "a b", "$(touch /tmp/x)",
			   "; rm -rf /", "",	NULL};
	struct spawn_result res;

	(void)state;
	run(s, NULL, 0, 0, 0, &res);
	assert_true(spawn_succeeded(&res));
	assert_string_equal(res.out, "a b|$(touch /tmp/x)|; rm -rf /||");
	spawn_result_done(&res);
}

static void
test_env(void **state)
{
	const char *s[] = {"/bin/sh", "-c", "env | grep -v '^PWD=' | sort",
			   NULL};
	const char *own[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
	struct spawn_result res;

	(void)state;
	/* Nothing of ours leaks: the child sees exactly what it is given. */
	setenv("GEOSTAGE_SECRET_TEST", "leak", 1);
	run(s, NULL, 0, 0, 0, &res);
	assert_null(strstr(res.out, "GEOSTAGE_SECRET_TEST"));
	assert_non_null(strstr(res.out, "LANG=C.UTF-8\n"));
	assert_non_null(strstr(res.out, "LC_ALL=C.UTF-8\n"));
	assert_non_null(strstr(res.out, "PATH=/usr/local/sbin:"));
	assert_null(strstr(res.out, "DEBIAN_FRONTEND"));
	spawn_result_done(&res);

	run(s, spawn_env_apt, 0, 0, 0, &res);
	assert_non_null(strstr(res.out, "DEBIAN_FRONTEND=noninteractive\n"));
	spawn_result_done(&res);

	run(s, own, 0, 0, 0, &res);
	assert_string_equal(res.out, "FOO=bar\nPATH=/usr/bin:/bin\n");
	spawn_result_done(&res);
	unsetenv("GEOSTAGE_SECRET_TEST");
}

static void
test_stdin_is_null(void **state)
{
	const char *s[] = {"/bin/sh", "-c", "cat; echo done", NULL};
	struct spawn_result res;

	(void)state;
	run(s, NULL, 5000, 0, 0, &res);
	assert_string_equal(res.out, "done\n");
	spawn_result_done(&res);
}

/* stdout keeps its head, stderr its tail; the child is never blocked by
 * what we do not keep. */
static void
test_output_bound(void **state)
{
	const char *s[] = {"/bin/sh", "-c",
			   "i=0; while [ $i -lt 2000 ]; do "
			   "echo \"line $i\"; echo \"err $i\" >&2; "
			   "i=$((i+1)); done; echo last >&2",
			   NULL};
	struct spawn_result res;
	char line[64];

	(void)state;
	run(s, NULL, 20000, 64, 32, &res);
	assert_true(spawn_succeeded(&res));
	assert_int_equal(res.out_len, 64);
	assert_true(res.out_truncated);
	assert_true(strncmp(res.out, "line 0\nline 1\n", 14) == 0);
	assert_int_equal(res.err_len, 32);
	assert_true(res.err_truncated);
	assert_non_null(strstr(res.err, "err 1999\nlast\n"));
	spawn_last_line(res.err, line, sizeof(line));
	assert_string_equal(line, "last");
	spawn_result_done(&res);
}

static void
test_large_output(void **state)
{
	const char *s[] = {"/bin/sh", "-c",
			   "head -c 3000000 /dev/zero | tr '\\0' x", NULL};
	struct spawn_result res;

	(void)state;
	run(s, NULL, 20000, 0, 0, &res);
	assert_true(spawn_succeeded(&res));
	assert_int_equal(res.out_len, SPAWN_OUTPUT_MAX);
	assert_true(res.out_truncated);
	spawn_result_done(&res);
}

/* The timeout ends the child and what it started (its process group). */
static void
test_timeout(void **state)
{
	const char *s[] = {"/bin/sh", "-c", "sleep 30 & sleep 30; echo no",
			   NULL};
	const char *stubborn[] = {"/bin/sh", "-c",
				  "trap '' TERM; echo started; sleep 30", NULL};
	struct spawn_result res;
	int64_t t0 = mono_ms();
	char how[96];

	(void)state;
	run(s, NULL, 300, 0, 0, &res);
	assert_true(res.timed_out);
	assert_false(spawn_succeeded(&res));
	assert_int_equal(res.signal, SIGTERM);
	assert_true(mono_ms() - t0 < 5000);
	spawn_describe(&res, 2000, how, sizeof(how));
	assert_string_equal(how, "timed out after 2 s");
	spawn_result_done(&res);

	/* SIGTERM ignored: SIGKILL after the grace period. The grandchild
	 * sleep (same group) holds the pipe open; it dies too. */
	t0 = mono_ms();
	run(stubborn, NULL, 200, 0, 0, &res);
	assert_true(res.timed_out);
	assert_string_equal(res.out, "started\n");
	assert_true(mono_ms() - t0 >= SPAWN_KILL_GRACE_MS);
	assert_true(mono_ms() - t0 < SPAWN_KILL_GRACE_MS + 5000);
	spawn_result_done(&res);
}

/* A child that exits while its own child keeps the pipe open: we wait
 * SPAWN_DRAIN_MS for it, not for ever. */
static void
test_leftover_grandchild(void **state)
{
	const char *s[] = {"/bin/sh", "-c", "sleep 3 & echo parent", NULL};
	struct spawn_result res;
	int64_t t0 = mono_ms();

	(void)state;
	run(s, NULL, 10000, 0, 0, &res);
	assert_true(spawn_succeeded(&res));
	assert_string_equal(res.out, "parent\n");
	assert_true(mono_ms() - t0 < 2500);
	spawn_result_done(&res);
}

static void
test_refused(void **state)
{
	const char *rel[] = {"true", NULL}, *none[] = {"/nonexistent/x", NULL};
	const char *dir[] = {"/tmp", NULL};
	struct spawn_opts o = {.argv = rel};
	struct spawn_result res;

	(void)state;
	assert_int_equal(spawn_run(&o, &res), -EINVAL);
	o.argv = none;
	assert_int_equal(spawn_run(&o, &res), -ENOENT);
	o.argv = dir;
	assert_int_equal(spawn_run(&o, &res), -EACCES);
	o.argv = NULL;
	assert_int_equal(spawn_run(&o, &res), -EINVAL);
}

static void
test_last_line(void **state)
{
	char line[16];

	(void)state;
	spawn_last_line("a\nE: broken \x1b[1m\n\n  \n", line, sizeof(line));
	assert_string_equal(line, "E: broken ?[1m");
	spawn_last_line("", line, sizeof(line));
	assert_string_equal(line, "");
	spawn_last_line(NULL, line, sizeof(line));
	assert_string_equal(line, "");
	spawn_last_line("only one line that is long", line, sizeof(line));
	assert_int_equal(strlen(line), sizeof(line) - 1);
}

static void
test_reason_line(void **state)
{
	char line[64];

	(void)state;
	/* apt: the first error names the cause, the last one is generic. */
	spawn_reason_line("W: a warning\nE: Conflicting values\r\n"
			  "E: The list of sources could not be read.\n",
			  line, sizeof(line));
	assert_string_equal(line, "E: Conflicting values?");
	spawn_reason_line("a\nno error prefix\n", line, sizeof(line));
	assert_string_equal(line, "no error prefix");
	spawn_reason_line("E: last line, no newline", line, sizeof(line));
	assert_string_equal(line, "E: last line, no newline");
	spawn_reason_line(NULL, line, sizeof(line));
	assert_string_equal(line, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_stdin_is_null),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_large_output),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_leftover_grandchild),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_last_line),
		cmocka_unit_test(test_reason_line),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
