/* SPDX-License-Identifier: MIT */
/* enrolld/agent-conf.c: the agent's configuration file, and where the
 * token file and state dir come from. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "agent.h"

struct fixture {
	char dir[64];
	struct agent_conf conf;
	char err[AGENT_ERROR_MAX];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-enrolld-conf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	agent_conf_init(&f->conf);
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv(AGENT_STATE_DIR_ENV);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	const char *names[] = {"enrolld.conf", "geostage-token"};
	char path[128];
	size_t i;

	for (i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(f->dir);
	agent_conf_done(&f->conf);
	free(f);
	return 0;
}

static int
parse(struct fixture *f, const char *text)
{
	f->err[0] = '\0';
	return agent_conf_parse(&f->conf, text, strlen(text), "test.conf",
				f->err, sizeof(f->err));
}

static void
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "# nothing but a comment\n\n"), 0);
	assert_null(f->conf.token_file);
	assert_null(f->conf.state_dir);
	assert_null(f->conf.hostname);
	assert_null(f->conf.name);
	assert_int_equal(f->conf.connect_timeout_s, 10);
	assert_int_equal(f->conf.request_timeout_s, 30);
	assert_int_equal(f->conf.retry_initial_ms, 1000);
	assert_int_equal(f->conf.retry_max_ms, 60000);
	assert_int_equal(f->conf.retry_attempts, 0);
}

static void
test_good_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "token_file = /etc/geostage/other-token\n"
				  "state_dir=\"/srv/geostage state\"\n"
				  "; another comment\n"
				  "hostname = Worker-7.tokyo.example.org\n"
				  "name = worker-7\n"
				  "connect_timeout = 3\n"
				  "request_timeout = 45\n"
				  "retry_initial_ms = 50\n"
				  "retry_max_ms = 400\n"
				  "retry_attempts = 4\n"),
			 0);
	assert_string_equal(f->conf.token_file, "/etc/geostage/other-token");
	assert_string_equal(f->conf.state_dir, "/srv/geostage state");
	assert_string_equal(f->conf.hostname, "Worker-7.tokyo.example.org");
	assert_string_equal(f->conf.name, "worker-7");
	assert_int_equal(f->conf.connect_timeout_s, 3);
	assert_int_equal(f->conf.request_timeout_s, 45);
	assert_int_equal(f->conf.retry_initial_ms, 50);
	assert_int_equal(f->conf.retry_max_ms, 400);
	assert_int_equal(f->conf.retry_attempts, 4);
}

/* Every program path, root_dir, the step timeouts and the Kubernetes
 * repository key. */
static void
test_step_settings(void **state)
{
	struct fixture *f = *state;
	char text[2048] = "";
	size_t i;

	assert_string_equal(agent_root(&f->conf), "/");
	assert_string_equal(agent_prog(&f->conf, PROG_APT_GET),
			    "/usr/bin/apt-get");
	assert_string_equal(agent_prog(&f->conf, PROG_SYSTEMCTL),
			    "/bin/systemctl");
	assert_int_equal(f->conf.command_timeout_s, 120);
	assert_int_equal(f->conf.apt_timeout_s, 1800);
	assert_int_equal(f->conf.vpn_timeout_s, 120);
	assert_int_equal(f->conf.join_timeout_s, 900);
	for (i = 0; i < _PROG_MAX; i++) {
		size_t n = strlen(text);
		assert_non_null(agent_prog_default((enum agent_prog)i));
		snprintf(text + n, sizeof(text) - n, "%s = /opt/stand-in/%s\n",
			 agent_prog_key((enum agent_prog)i),
			 agent_prog_key((enum agent_prog)i));
	}
	strcat(text, "root_dir = /tmp/root\ncommand_timeout = 5\n"
		     "apt_timeout = 60\nvpn_timeout = 7\njoin_timeout = 61\n"
		     "kubernetes_apt_key = /etc/geostage/k8s.asc\n"
		     "kubernetes_apt_fingerprint = DE15 B144 86CD 377B 9E87 "
		     "6E1A 2346 54DA 9A29 6436\n");
	assert_int_equal(parse(f, text), 0);
	assert_string_equal(agent_prog(&f->conf, PROG_KUBEADM),
			    "/opt/stand-in/kubeadm");
	assert_string_equal(agent_prog(&f->conf, PROG_DPKG_QUERY),
			    "/opt/stand-in/dpkg_query");
	assert_string_equal(agent_root(&f->conf), "/tmp/root");
	assert_int_equal(f->conf.command_timeout_s, 5);
	assert_int_equal(f->conf.apt_timeout_s, 60);
	assert_int_equal(f->conf.vpn_timeout_s, 7);
	assert_int_equal(f->conf.join_timeout_s, 61);
	assert_string_equal(f->conf.kubernetes_apt_key,
			    "/etc/geostage/k8s.asc");
	/* Paths go into unit files unquoted: no blanks, quotes, specifiers,
	 * relative paths or dot components. */
	assert_int_equal(parse(f, "ip = ip\n"), -EINVAL);
	assert_int_equal(parse(f, "ip = \"/sbin/ip route\"\n"), -EINVAL);
	assert_int_equal(parse(f, "ip = /sbin/%n\n"), -EINVAL);
	assert_int_equal(parse(f, "ip = /sbin/../tmp/ip\n"), -EINVAL);
	assert_int_equal(parse(f, "root_dir = /tmp/..\n"), -EINVAL);
	assert_string_equal(f->err, "test.conf:1: bad value for 'root_dir' "
				    "(expected an absolute path of letters, "
				    "digits and /._+-)");
	assert_int_equal(parse(f, "apt_timeout = 59\n"), -ERANGE);
	assert_int_equal(parse(f, "kubernetes_apt_fingerprint = ABCD\n"),
			 -EINVAL);
	assert_int_equal(parse(f, "kubernetes_apt_fingerprint = "
				  "ZZ15B14486CD377B9E876E1A234654DA9A296436\n"),
			 -EINVAL);
}

static void
test_unknown_key(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "name = a\n\ntoken = eyJhbGciOi\n"), -EINVAL);
	assert_string_equal(f->err, "test.conf:3: unknown key 'token'");
}

/* Each bad value is refused with its line and the key's name. */
static void
test_bad_values(void **state)
{
	static const char *const bad[] = {
		"connect_timeout = 0",	"connect_timeout = abc",
		"connect_timeout = -1", "connect_timeout = 10s",
		"connect_timeout = ",	"request_timeout = 99999999999",
		"retry_initial_ms = 0", "retry_attempts = 1e3",
		"retry_max_ms = +5",	"name = Worker_7",
		"name = -worker",	"name = default",
		"name = localhost",	"hostname = has space",
		"hostname = tab\there", "token_file = relative/token",
		"state_dir = ",		"token_file = ~/token",
	};
	struct fixture *f = *state;
	char text[128], want[128], key[64];
	size_t i;
	int r;

	for (i = 0; i < ELEMENTSOF(bad); i++) {
		agent_conf_done(&f->conf);
		snprintf(text, sizeof(text), "# line 1\n%s\n", bad[i]);
		sscanf(bad[i], "%63[a-z_]", key);
		snprintf(want, sizeof(want), "test.conf:2: bad value for '%s'",
			 key);
		r = parse(f, text);
		if (r != -EINVAL && r != -ERANGE)
			fail_msg("not refused (%d): %s", r, bad[i]);
		if (strncmp(f->err, want, strlen(want)) != 0)
			fail_msg("%s: error is '%s'", bad[i], f->err);
	}
}

static void
test_syntax_error_line(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "name = a\nname b\n"), -EINVAL);
	assert_string_equal(f->err, "test.conf:2: syntax error, expected "
				    "'key = value'");
	assert_int_equal(parse(f, "name = \"unterminated\n"), -EINVAL);
	assert_string_equal(f->err, "test.conf:1: syntax error, expected "
				    "'key = value'");
}

static void
test_retry_max_below_initial(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "retry_max_ms = 500\nretry_initial_ms = "
				  "2000\n"),
			 -EINVAL);
	assert_string_equal(f->err, "test.conf:1: retry_max_ms (500) is below "
				    "retry_initial_ms (2000)");
}

static void
test_load_file(void **state)
{
	struct fixture *f = *state;
	char path[128], want[192];

	snprintf(path, sizeof(path), "%s/enrolld.conf", f->dir);
	/* A missing default file is fine; a missing explicit one is not. */
	assert_int_equal(
		agent_conf_load(&f->conf, path, false, f->err, sizeof(f->err)),
		0);
	assert_int_equal(
		agent_conf_load(&f->conf, path, true, f->err, sizeof(f->err)),
		-ENOENT);
	assert_non_null(strstr(f->err, path));

	write_text(path, "retry_attempts = 2\nconnect_timeout = 0\n");
	assert_int_equal(
		agent_conf_load(&f->conf, path, true, f->err, sizeof(f->err)),
		-ERANGE);
	snprintf(want, sizeof(want), "%s:2: bad value for 'connect_timeout'",
		 path);
	assert_memory_equal(f->err, want, strlen(want));

	write_text(path, "retry_attempts = 2\n");
	assert_int_equal(
		agent_conf_load(&f->conf, path, true, f->err, sizeof(f->err)),
		0);
	assert_int_equal(f->conf.retry_attempts, 2);
}

static void
test_state_dir_precedence(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.state_dir, AGENT_STATE_DIR);
	agent_conf_done(&f->conf);

	setenv(AGENT_STATE_DIR_ENV, "/env/dir", 1);
	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.state_dir, "/env/dir");
	agent_conf_done(&f->conf);

	assert_int_equal(parse(f, "state_dir = /conf/dir\n"), 0);
	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.state_dir, "/conf/dir");

	assert_int_equal(agent_conf_finish(&f->conf, NULL, "/flag/dir"), 0);
	assert_string_equal(f->conf.state_dir, "/flag/dir");
	unsetenv(AGENT_STATE_DIR_ENV);
}

static void
test_token_file_precedence(void **state)
{
	struct fixture *f = *state;
	char cred[128];

	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.token_file, AGENT_TOKEN_PATH);
	agent_conf_done(&f->conf);

	/* A credentials directory without our credential changes nothing. */
	setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.token_file, AGENT_TOKEN_PATH);
	agent_conf_done(&f->conf);

	snprintf(cred, sizeof(cred), "%s/%s", f->dir, AGENT_CREDENTIAL);
	write_text(cred, "x");
	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.token_file, cred);
	agent_conf_done(&f->conf);

	/* A configured token file wins over the credential... */
	assert_int_equal(parse(f, "token_file = /conf/token\n"), 0);
	assert_int_equal(agent_conf_finish(&f->conf, NULL, NULL), 0);
	assert_string_equal(f->conf.token_file, "/conf/token");
	/* ... and the flag over everything. */
	assert_int_equal(agent_conf_finish(&f->conf, "/flag/token", NULL), 0);
	assert_string_equal(f->conf.token_file, "/flag/token");
	unsetenv("CREDENTIALS_DIRECTORY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_settings, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_syntax_error_line, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_max_below_initial,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_state_dir_precedence,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_file_precedence,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("enrolld-conf", tests, NULL, NULL);
}
