/* SPDX-License-Identifier: MIT */
/* bootstrap.conf's apt_source lines (bootstrap-server/server-config.c),
 * the package plan the enroll answer carries for them (profile.c) and the
 * deb822 files of "token create --output cloud-init" (cloud-init.c):
 * repositories with a component and flat ones (suite "./", component
 * "-"), against real files in a temporary state dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cloud-init.h"
#include "fileio.h"
#include "macro.h"
#include "profile.h"
#include "server-config.h"
#include "test-apt-key.h"

struct fixture {
	char dir[64];
	char key[96];
	int fd;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/geostage-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->key, sizeof(f->key), "%s/repo.asc", f->dir);
	assert_int_equal(write_file_atomic(f->key, KEY_A, strlen(KEY_A), 0644),
			 0);
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	(void)unlinkat(f->fd, "bootstrap.conf", 0);
	(void)unlinkat(f->fd, "repo.asc", 0);
	close(f->fd);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* Loads a bootstrap.conf of one url and the apt_source lines given
 * (each a value, "@" standing for the key file). */
static int
load(struct fixture *f, struct server_config *c, const char *const *sources)
{
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&text, &size);

	assert_non_null(m);
	fputs("url = https://127.0.0.1:8443\n", m);
	for (; *sources; sources++) {
		const char *at = strchr(*sources, '@');

		fputs("apt_source = ", m);
		if (at)
			fprintf(m, "%.*s%s%s", (int)(at - *sources), *sources,
				f->key, at + 1);
		else
			fputs(*sources, m);
		fputc('\n', m);
	}
	assert_int_equal(fclose(m), 0);
	assert_int_equal(
		write_file_atomic_at(f->fd, "bootstrap.conf", text, size, 0600),
		0);
	server_config_init(c);
	return server_config_load(f->fd, c);
}

static void
test_parse(void **state)
{
	struct fixture *f = *state;
	static const char *const good[] = {
		"lab http://192.0.2.5/debian stable main @ " FPR_A,
		"geostage https://repo.example.org/geostage ./ - @ " FPR_A,
		"sub http://192.0.2.5/repo  amd64/\t-  @ " FPR_A, NULL};
	struct server_config c;

	assert_int_equal(load(f, &c, good), 0);
	assert_int_equal(c.n_apt_sources, 3);
	assert_string_equal(c.apt_sources[0].suite, "stable");
	assert_string_equal(c.apt_sources[0].component, "main");
	assert_false(apt_source_is_flat(&c.apt_sources[0]));
	assert_string_equal(c.apt_sources[1].uri,
			    "https://repo.example.org/geostage");
	assert_string_equal(c.apt_sources[1].suite, "./");
	assert_null(c.apt_sources[1].component);
	assert_true(apt_source_is_flat(&c.apt_sources[1]));
	assert_string_equal(c.apt_sources[1].key_file, f->key);
	assert_string_equal(c.apt_sources[1].fingerprint, FPR_A);
	assert_string_equal(c.apt_sources[2].suite, "amd64/");
	assert_null(c.apt_sources[2].component);

	/* Saved as it was read: a flat source keeps its "-". */
	assert_int_equal(server_config_save(f->fd, &c), 0);
	server_config_done(&c);
	server_config_init(&c);
	assert_int_equal(server_config_load(f->fd, &c), 0);
	assert_int_equal(c.n_apt_sources, 3);
	assert_null(c.apt_sources[1].component);
	assert_string_equal(c.apt_sources[1].suite, "./");
	assert_string_equal(c.apt_sources[0].component, "main");
	server_config_done(&c);
}

static void
test_parse_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		/* a flat suite with a component, and the reverse */
		"lab http://192.0.2.5/flat ./ main @ " FPR_A,
		"lab http://192.0.2.5/debian stable - @ " FPR_A,
		/* the component left out, or one field too many */
		"lab http://192.0.2.5/flat ./ @ " FPR_A,
		"lab http://192.0.2.5/flat ./ - - @ " FPR_A,
		/* what would break the deb822 file or apt's command line */
		"lab http://192.0.2.5/debian -stable main @ " FPR_A,
		"lab http://192.0.2.5/debian stable -main @ " FPR_A,
		"lab http://192.0.2.5/debian sta\"ble main @ " FPR_A,
		"lab http://192.0.2.5/debian stable ma/in @ " FPR_A,
		"lab http://192.0.2.5/deb\"ian stable main @ " FPR_A,
		"lab file:/srv/repo ./ - @ " FPR_A, "lab http:// ./ - @ " FPR_A,
		"../x http://192.0.2.5/flat ./ - @ " FPR_A,
		"lab http://192.0.2.5/flat ./ - relative.asc " FPR_A,
		"lab http://192.0.2.5/flat ./ - @ 19fbca983b6aa221", NULL};
	struct server_config c;
	size_t i;

	for (i = 0; bad[i]; i++) {
		const char *one[] = {bad[i], NULL};

		if (load(f, &c, one) != -EINVAL)
			fail_msg("accepted: apt_source = %s", bad[i]);
		server_config_done(&c);
	}
}

static void
test_plan_json(void **state)
{
	struct fixture *f = *state;
	static const char *const sources[] = {
		"lab http://192.0.2.5/debian stable main @ " FPR_A,
		"site http://192.0.2.5/geostage ./ - @ " FPR_A, NULL};
	struct server_config c;
	json_t *plan, *a;

	assert_int_equal(load(f, &c, sources), 0);
	assert_int_equal(profile_packages_load(&c, &plan), 0);
	a = json_object_get(plan, "apt_sources");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_array_get(a, 0), "components"),
			0)),
		"main");
	/* PROTOCOL.md: a flat source's components are an empty array. */
	assert_true(json_is_array(
		json_object_get(json_array_get(a, 1), "components")));
	assert_int_equal(json_array_size(json_object_get(json_array_get(a, 1),
							 "components")),
			 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(a, 1), "suite")),
			    "./");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(a, 1), "key")),
		KEY_A);
	json_decref(plan);
	server_config_done(&c);
}

/* The deb822 file the user-data writes for source name. */
static char *
sources_file(const char *ud, const char *name)
{
	char head[128];
	const char *p, *end;

	snprintf(head, sizeof(head),
		 "  - path: /etc/apt/sources.list.d/geostage-%s.sources\n",
		 name);
	p = strstr(ud, head);
	assert_non_null(p);
	p = strstr(p, "content: |\n");
	assert_non_null(p);
	p += strlen("content: |\n");
	end = strstr(p, "\n  ");
	while (end && startswith(end, "\n      "))
		end = strstr(end + 1, "\n  ");
	assert_non_null(end);
	return strndup(p, (size_t)(end - p + 1));
}

static void
test_cloud_init(void **state)
{
	struct fixture *f = *state;
	static const char *const sources[] = {
		"lab http://192.0.2.5/debian stable main @ " FPR_A,
		"site http://192.0.2.5/geostage ./ - @ " FPR_A, NULL};
	struct token_claims claims = {.jti = (char *)"abcdefghijklmnop",
				      .site = (char *)"tokyo",
				      .role = (char *)"node",
				      .exp = 1800000000,
				      .max = 1};
	_cleanup_free_ char *ud = NULL, *lab = NULL, *flat = NULL;
	const char *bad = NULL;
	struct server_config c;
	json_t *src;
	size_t size = 0;
	FILE *m;

	assert_int_equal(load(f, &c, sources), 0);
	assert_int_equal(cloud_init_sources(&c, &src, &bad), 0);
	m = open_memstream(&ud, &size);
	assert_non_null(m);
	assert_int_equal(cloud_init_print(m, src, &claims, "ey.x.y"), 0);
	assert_int_equal(fclose(m), 0);
	json_decref(src);
	server_config_done(&c);

	lab = sources_file(ud, "lab");
	assert_string_equal(lab, "      # From cloud-init; geostage-enrolld "
				 "rewrites it.\n"
				 "      Types: deb\n"
				 "      URIs: http://192.0.2.5/debian\n"
				 "      Suites: stable\n"
				 "      Components: main\n"
				 "      Signed-By: /etc/apt/keyrings/"
				 "geostage-lab.asc\n");
	/* Flat: "Suites: ./" and no Components line, as the agent writes. */
	flat = sources_file(ud, "site");
	assert_string_equal(flat, "      # From cloud-init; geostage-enrolld "
				  "rewrites it.\n"
				  "      Types: deb\n"
				  "      URIs: http://192.0.2.5/geostage\n"
				  "      Suites: ./\n"
				  "      Signed-By: /etc/apt/keyrings/"
				  "geostage-site.asc\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_plan_json, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cloud_init, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
