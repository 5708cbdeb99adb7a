/* SPDX-License-Identifier: MIT */
/* The packages step: deb822 sources, the containerd config, version
 * selection from `apt-cache madison`, dpkg's version order, the key
 * fingerprint check with the real gpg and a fixed test key, and the whole
 * step against STAND-INS of apt-get, apt-cache, apt-mark, dpkg-query and
 * systemctl in a temp root_dir. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>

#include "ossl.h"
#include "pkg.h"
#include "plan.h"
#include "test-apt-key.h"
#include "test-enrolld-stand-ins.h"

#define GPG "/usr/bin/gpg"

#define MADISON                                                                \
	"   kubelet | 1.31.20-1.1 | https://x/deb  Packages\n"                 \
	"   kubelet | 1.31.2-2.1 | https://x/deb  Packages\n"                  \
	"   kubelet | 1.31.2-1.1 | https://x/deb  Packages\n"                  \
	"   kubelet | 1.31.1-1.1 | https://x/deb  Packages\n"                  \
	"   kubeadm | 1.31.2-1.1 | https://x/deb  Packages\n"                  \
	"   kubectl | 1.31.2-1.1 | https://x/deb  Packages\n"

#define APT_GET_STAND_IN                                                       \
	"case \" $* \" in *\" install \"*) ;; *) exit 0;; esac\n"              \
	"for a in \"$@\"; do\n"                                                \
	"  case \"$a\" in -*|*::*|install) continue;; esac\n"                  \
	"  n=${a%%=*}; v=${a#*=}; [ \"$v\" = \"$a\" ] && v=1.0-1\n"            \
	"  grep -v \"^$n\t\" \"$W/dpkg-status\" > \"$W/s.tmp\"\n"              \
	"  printf '%s\\t%s\\tii \\n' \"$n\" \"$v\" >> \"$W/s.tmp\"\n"          \
	"  mv \"$W/s.tmp\" \"$W/dpkg-status\"\n"                               \
	"done"

static bool
have_gpg(void)
{
	return access(GPG, X_OK) == 0;
}

static void
test_source_render(void **state)
{
	struct plan_source s = {.name = "geostage-kubernetes",
				.uri = "http://192.168.10.5/debian",
				.suite = "stable",
				.components = {"main", "contrib"},
				.n_components = 2};
	char base[PKG_BASENAME_MAX], *text;

	(void)state;
	pkg_source_basename(s.name, base);
	assert_string_equal(base, "geostage-kubernetes");
	pkg_source_basename("mirror", base);
	assert_string_equal(base, "geostage-mirror");
	assert_int_equal(
		pkg_render_source(
			&s, "/etc/apt/keyrings/geostage-kubernetes.asc", &text),
		0);
	assert_string_equal(text,
			    "# Written by geostage-enrolld from the bootstrap "
			    "server's package plan.\n"
			    "Types: deb\n"
			    "URIs: http://192.168.10.5/debian\n"
			    "Suites: stable\n"
			    "Components: main contrib\n"
			    "Signed-By: /etc/apt/keyrings/"
			    "geostage-kubernetes.asc\n");
	free(text);
	/* A flat repository (pkgs.k8s.io): no Components line. */
	s.uri = "https://pkgs.k8s.io/core:/stable:/v1.31/deb/";
	s.suite = "/";
	s.n_components = 0;
	assert_int_equal(pkg_render_source(&s, "/k.asc", &text), 0);
	assert_non_null(strstr(text, "Suites: /\nSigned-By: /k.asc\n"));
	assert_null(strstr(text, "Components"));
	free(text);
}

static void
test_containerd_render(void **state)
{
	char *text;

	(void)state;
	assert_int_equal(
		pkg_render_containerd("registry.k8s.io/pause:3.10", &text), 0);
	assert_non_null(strstr(text, "version = 2\n"));
	assert_non_null(strstr(text, "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
				     "  sandbox_image = "
				     "\"registry.k8s.io/pause:3.10\"\n"));
	assert_non_null(strstr(text, ".containerd.runtimes.runc.options]\n"
				     "  SystemdCgroup = true\n"));
	free(text);
	/* Nothing can break out of the TOML string. */
	assert_int_equal(pkg_render_containerd("x\"\n[evil]", &text), -EINVAL);
	assert_int_equal(pkg_render_containerd("", &text), -EINVAL);
}

static void
test_version_compare(void **state)
{
	static const struct {
		const char *a, *b;
		int sign;
	} cases[] = {
		{"1.31.2-1.1", "1.31.2-1.1", 0},
		{"1.31.2-1.1", "1.31.2-2.1", -1},
		{"1.31.10-1.1", "1.31.9-1.1", 1},
		{"1.0~rc1-1", "1.0-1", -1},
		{"1:0.1-1", "9.9-1", 1},
		{"1.6.20~ds1-1+b1", "1.6.20~ds1-1", 1},
		{"2.6.3-1+deb12u2", "2.6.3-1+deb12u10", -1},
		{"1.0", "1.0-0", 0},
		{"1.0a", "1.0", 1},
	};
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		r = pkg_version_compare(cases[i].a, cases[i].b);
		assert_int_equal(r > 0 ? 1 : r < 0 ? -1 : 0, cases[i].sign);
		r = pkg_version_compare(cases[i].b, cases[i].a);
		assert_int_equal(r > 0 ? 1 : r < 0 ? -1 : 0, -cases[i].sign);
	}
	assert_true(pkg_version_matches("1.31.2-1.1", "1.31.2"));
	assert_false(pkg_version_matches("1.31.20-1.1", "1.31.2"));
	assert_false(pkg_version_matches("1.31.2", "1.31.2"));
	assert_false(pkg_version_matches("1.31.2-", "1.31.2"));
	assert_false(pkg_version_matches("", "1.31.2"));
}

static void
test_madison(void **state)
{
	char v[PKG_VERSION_MAX + 1];

	(void)state;
	/* The newest revision of exactly 1.31.2, never 1.31.20. */
	assert_int_equal(pkg_madison_pick(MADISON, "kubelet", "1.31.2", v), 0);
	assert_string_equal(v, "1.31.2-2.1");
	assert_int_equal(pkg_madison_pick(MADISON, "kubeadm", "1.31.2", v), 0);
	assert_string_equal(v, "1.31.2-1.1");
	assert_int_equal(pkg_madison_pick(MADISON, "kubelet", "1.31.20", v), 0);
	assert_string_equal(v, "1.31.20-1.1");
	assert_int_equal(pkg_madison_pick(MADISON, "kubeadm", "1.31.1", v),
			 -ENOENT);
	assert_int_equal(pkg_madison_pick(MADISON, "kube", "1.31.2", v),
			 -ENOENT);
	assert_int_equal(pkg_madison_pick("", "kubelet", "1.31.2", v), -ENOENT);
	assert_int_equal(
		pkg_madison_pick("garbage\n|\n||\n", "kubelet", "1.31.2", v),
		-ENOENT);
}

static void
test_dpkg_query(void **state)
{
	static const char q[] = "kubelet\t1.31.2-1.1\thi \n"
				"containerd\t1.6.20~ds1-1+b1\tii \n"
				"openvpn\t2.6.3-1\trc \n"
				"kubeadm\t\tun \n";
	char v[PKG_VERSION_MAX + 1];

	(void)state;
	assert_int_equal(pkg_installed_version(q, "kubelet", v), 0);
	assert_string_equal(v, "1.31.2-1.1");
	assert_int_equal(pkg_installed_version(q, "containerd", v), 0);
	assert_string_equal(v, "1.6.20~ds1-1+b1");
	/* Removed with its config left, or never installed. */
	assert_int_equal(pkg_installed_version(q, "openvpn", v), -ENOENT);
	assert_int_equal(pkg_installed_version(q, "kubeadm", v), -ENOENT);
	assert_int_equal(pkg_installed_version(q, "kube", v), -ENOENT);
	assert_true(pkg_held("kubelet\nkubeadm\n", "kubeadm"));
	assert_false(pkg_held("kubelet\nkubeadm\n", "kubectl"));
	assert_false(pkg_held("kubeletx\n", "kubelet"));
}

static void
test_gpg_colons(void **state)
{
	static const char one[] =
		"pub:-:255:22:5178C471F8CD182E:1795565501:::-:::scSC:::::"
		"ed25519:::0:\n"
		"fpr:::::::::" FPR_A ":\n"
		"uid:-::::1795565501::X::test::::::::::0:\n"
		"sub:-:255:18:AAAA:1795565501::::::e:::::cv25519::\n"
		"fpr:::::::::" FPR_B ":\n";
	char fprs[2][PLAN_FPR_MAX + 1];

	(void)state;
	assert_int_equal(pkg_gpg_primary_fingerprints(one, fprs, 2), 1);
	assert_string_equal(fprs[0], FPR_A);
	assert_int_equal(pkg_gpg_primary_fingerprints("", fprs, 2), 0);
	assert_int_equal(pkg_gpg_primary_fingerprints(
				 "pub:x\nfpr:::::::::" FPR_A ":\npub:y\n"
				 "fpr:::::::::" FPR_B ":\npub:z\n",
				 fprs, 2),
			 3);
	assert_string_equal(fprs[1], FPR_B);
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The real gpg on a fixed key; its temp dir is gone afterwards. */
static void
test_key_fingerprint(void **state)
{
	char dir[] = "/tmp/test-enrolld-gpg-XXXXXX", fpr[PLAN_FPR_MAX + 1];
	char err[256], *two;

	(void)state;
	if (!have_gpg())
		skip();
	assert_non_null(mkdtemp(dir));
	assert_int_equal(
		pkg_key_fingerprint(GPG, dir, KEY_A, 30, fpr, err, sizeof(err)),
		0);
	assert_string_equal(fpr, FPR_A);
	assert_int_equal(count_entries(dir), 0);
	/* Two primary keys in one block: refused. */
	assert_true(asprintf(&two, "%s%s", KEY_A, KEY_A) > 0);
	assert_int_equal(
		pkg_key_fingerprint(GPG, dir, two, 30, fpr, err, sizeof(err)),
		-EBADMSG);
	free(two);
	assert_int_equal(pkg_key_fingerprint(GPG, dir,
					     "-----BEGIN PGP PUBLIC KEY "
					     "BLOCK-----\n\nAAAA\n-----END PGP "
					     "PUBLIC KEY BLOCK-----\n",
					     30, fpr, err, sizeof(err)),
			 -EIO);
	assert_int_equal(pkg_key_fingerprint("/nonexistent/gpg", dir, KEY_A, 30,
					     fpr, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(rmdir(dir), 0);
}

static json_t *
answer_with_source(const char *fingerprint)
{
	json_t *a = world_answer();
	json_t *src = json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "name",
				"geostage-kubernetes", "uri",
				"http://192.168.10.5/debian", "suite", "stable",
				"components", "main", "key", KEY_A,
				"fingerprint", fingerprint);

	json_array_append_new(
		json_object_get(json_object_get(a, "packages"), "apt_sources"),
		src);
	return a;
}

static void
test_plan(void **state)
{
	struct plan_packages p;
	char err[256], *text;
	json_t *a, *pk;

	(void)state;
	a = answer_with_source("19fb ca98 3b6a a221 469c 710c 5178 c471 f8cd "
			       "182e");
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), 0);
	assert_string_equal(p.version, "1.31.2");
	assert_int_equal(p.n_sources, 1);
	assert_string_equal(p.sources[0].fingerprint, FPR_A);
	assert_int_equal(p.n_packages, 3);
	pk = json_object_get(a, "packages");
	/* A null the step needs: the server's configuration is wrong. */
	json_object_set_new(pk, "kubernetes", json_null());
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "packages.kubernetes"));
	json_decref(a);

	a = answer_with_source(FPR_A);
	pk = json_array_get(
		json_object_get(json_object_get(a, "packages"), "apt_sources"),
		0);
	json_object_set_new(pk, "uri",
			    json_string("http://x/debian\nTypes: deb-src"));
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(pk, "uri", json_string("http://x/debian"));
	json_object_set_new(pk, "suite", json_string("/"));
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), -EBADMSG);
	/* A flat repository (make-repo's): suite "./" and no components,
	 * rendered with no Components line; a component with a flat suite,
	 * or none with another suite, is refused. */
	json_object_set_new(pk, "suite", json_string("./"));
	json_object_set_new(pk, "components", json_array());
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), 0);
	assert_string_equal(p.sources[0].suite, "./");
	assert_int_equal(p.sources[0].n_components, 0);
	assert_int_equal(pkg_render_source(&p.sources[0], "/k.asc", &text), 0);
	assert_string_equal(text, "# Written by geostage-enrolld from the "
				  "bootstrap server's package plan.\n"
				  "Types: deb\n"
				  "URIs: http://x/debian\n"
				  "Suites: ./\n"
				  "Signed-By: /k.asc\n");
	free(text);
	json_object_set_new(pk, "suite", json_string("stable"));
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "suite"));
	json_object_set_new(pk, "components", json_pack("[s]", "main"));
	json_object_set_new(pk, "name", json_string("../../etc/passwd"));
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(pk, "name", json_string("k8s"));
	json_object_set_new(pk, "fingerprint", json_string("ABCD"));
	assert_int_equal(plan_packages_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_decref(a);
	assert_false(plan_package_name_valid("-o"));
	assert_false(plan_image_valid("-x"));
}

/* --- the step, against stand-ins --------------------------------------- */

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	world_init(w);
	world_write(w, "dpkg-status", "");
	world_write(w, "madison", MADISON);
	world_stand_in(w, PROG_APT_GET, APT_GET_STAND_IN);
	world_stand_in(w, PROG_DPKG_QUERY, "cat \"$W/dpkg-status\"; exit 1");
	world_stand_in(w, PROG_APT_CACHE, "cat \"$W/madison\"");
	world_stand_in(w, PROG_APT_MARK,
		       "case \"$1\" in showhold) cat \"$W/held\" "
		       "2>/dev/null;; hold) shift; for p; do echo \"$p\" >> "
		       "\"$W/held\"; done;; esac; exit 0");
	world_stand_in(w, PROG_SYSTEMCTL, "exit 0");
	world_stand_in(w, PROG_DPKG, "exit 0");
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	world_done(w);
	free(w);
	return 0;
}

static void
test_step(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	json_t *a = answer_with_source(FPR_A);
	char *text, *log;

	if (!have_gpg())
		skip();
	world_enrolled(w, a);
	json_decref(a);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	log = world_log(w);
	assert_non_null(strstr(log, "apt_get -q -o DPkg::Lock::Timeout=900 "
				    "update\n"));
	assert_non_null(strstr(log, " install kubelet=1.31.2-2.1 "
				    "kubeadm=1.31.2-1.1 kubectl=1.31.2-1.1 "
				    "containerd openvpn\n"));
	assert_non_null(strstr(log, "apt_mark hold kubelet kubeadm kubectl\n"));
	assert_non_null(strstr(log, "systemctl restart containerd.service\n"));
	free(log);
	assert_non_null(strstr(ctx.message, "kubelet 1.31.2-2.1, kubeadm "
					    "1.31.2-1.1, kubectl 1.31.2-1.1 "
					    "held"));
	text = world_read(w, "root/etc/apt/sources.list.d/"
			     "geostage-kubernetes.sources");
	assert_non_null(text);
	assert_non_null(strstr(text, "Signed-By: /etc/apt/keyrings/"
				     "geostage-kubernetes.asc\n"));
	free(text);
	text = world_read(w, "root/etc/apt/keyrings/geostage-kubernetes.asc");
	assert_string_equal(text, KEY_A);
	free(text);
	assert_int_equal(world_mode(w, "/etc/containerd/config.toml"), 0644);

	/* Again: everything is in place; nothing is installed or
	 * restarted. */
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	assert_int_equal(world_log_count(w, "apt_get"), 0);
	assert_int_equal(world_log_count(w, "apt_mark hold"), 0);
	assert_int_equal(world_log_count(w, "systemctl"), 0);
	assert_non_null(strstr(ctx.message, "config unchanged"));
}

/* containerd's config written, the agent killed before the restart: the
 * next run restarts although the file is unchanged. */
static void
test_step_restart_survives_crash(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	json_t *a = answer_with_source(FPR_A);

	if (!have_gpg())
		skip();
	world_enrolled(w, a);
	json_decref(a);
	world_stand_in(w, PROG_SYSTEMCTL, "exit 1");
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx),
			 -EIO);
	assert_int_equal(ctx.fail, AGENT_FAIL_PACKAGE);
	assert_non_null(strstr(ctx.message, "restarting containerd"));
	world_stand_in(w, PROG_SYSTEMCTL, "exit 0");
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	assert_int_equal(world_log_count(w, "systemctl restart"), 1);
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	assert_int_equal(world_log_count(w, "systemctl"), 0);
}

static void
test_step_wrong_fingerprint(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	json_t *a = answer_with_source(FPR_B);

	if (!have_gpg())
		skip();
	world_enrolled(w, a);
	json_decref(a);
	assert_true(world_step(w, STEP_PACKAGES, step_packages, &ctx) < 0);
	assert_int_equal(ctx.fail, AGENT_FAIL_PACKAGE);
	assert_int_equal(agent_fail_exit_code(ctx.fail), 80);
	assert_non_null(strstr(ctx.message, "fingerprint is " FPR_A));
	assert_int_equal(world_log_count(w, "apt_get"), 0);
	assert_int_equal(world_mode(w, "/etc/apt/keyrings/"
				       "geostage-kubernetes.asc"),
			 -1);
}

static void
test_step_version_missing(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	json_t *a = answer_with_source(FPR_A);

	if (!have_gpg())
		skip();
	json_object_set_new(
		json_object_get(json_object_get(a, "packages"), "kubernetes"),
		"version", json_string("1.30.0"));
	world_enrolled(w, a);
	json_decref(a);
	assert_true(world_step(w, STEP_PACKAGES, step_packages, &ctx) < 0);
	assert_int_equal(ctx.fail, AGENT_FAIL_PACKAGE);
	assert_string_equal(
		ctx.message,
		"no kubelet 1.30.0-* in the configured apt sources");
	assert_int_equal(world_log_count(w, "apt_get -q -y"), 0);
}

/* Before it installs anything, the step finishes what an interrupted
 * dpkg left (dpkg --configure -a): that failing fails the step with the
 * reason, before apt-get runs; with nothing to install, dpkg is not run. */
static void
test_step_dpkg_configure_first(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	json_t *a = answer_with_source(FPR_A);
	char *log;

	if (!have_gpg())
		skip();
	world_enrolled(w, a);
	json_decref(a);
	world_stand_in(w, PROG_DPKG,
		       "echo 'dpkg: error processing' >&2; "
		       "exit 1");
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx),
			 -EIO);
	assert_int_equal(ctx.fail, AGENT_FAIL_PACKAGE);
	assert_non_null(strstr(ctx.message, "interrupted dpkg run"));
	assert_non_null(strstr(ctx.message, "dpkg: error processing"));
	assert_int_equal(world_log_count(w, "apt_get"), 0);

	world_stand_in(w, PROG_DPKG, "exit 0");
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	log = world_log(w);
	assert_non_null(strstr(log, "dpkg --force-confdef --force-confold "
				    "--configure -a\napt_get -q -o "
				    "DPkg::Lock::Timeout=900 update\n"));
	free(log);

	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	assert_int_equal(world_log_count(w, "dpkg "), 0);
}

/* No apt_sources: pkgs.k8s.io with the key from our own configuration. */
static void
test_step_k8s_fallback(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	json_t *a = world_answer();
	char path[256], *text;

	if (!have_gpg())
		skip();
	world_enrolled(w, a);
	json_decref(a);
	assert_true(world_step(w, STEP_PACKAGES, step_packages, &ctx) < 0);
	assert_int_equal(ctx.fail, AGENT_FAIL_CONFIG);
	assert_non_null(strstr(ctx.message, "kubernetes_apt_key"));
	world_write(w, "k8s.asc", KEY_A);
	snprintf(path, sizeof(path), "%s/k8s.asc", w->dir);
	w->conf.kubernetes_apt_key = strdup(path);
	w->conf.kubernetes_apt_fingerprint = strdup(FPR_B);
	assert_true(world_step(w, STEP_PACKAGES, step_packages, &ctx) < 0);
	assert_int_equal(ctx.fail, AGENT_FAIL_PACKAGE);
	free(w->conf.kubernetes_apt_fingerprint);
	w->conf.kubernetes_apt_fingerprint = strdup(FPR_A);
	assert_int_equal(world_step(w, STEP_PACKAGES, step_packages, &ctx), 0);
	text = world_read(w, "root/etc/apt/sources.list.d/"
			     "geostage-kubernetes.sources");
	assert_non_null(text);
	assert_non_null(strstr(text, "URIs: https://pkgs.k8s.io/core:/stable:/"
				     "v1.31/deb/\nSuites: /\n"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_render),
		cmocka_unit_test(test_containerd_render),
		cmocka_unit_test(test_version_compare),
		cmocka_unit_test(test_madison),
		cmocka_unit_test(test_dpkg_query),
		cmocka_unit_test(test_gpg_colons),
		cmocka_unit_test(test_key_fingerprint),
		cmocka_unit_test(test_plan),
		cmocka_unit_test_setup_teardown(test_step, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_step_restart_survives_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_wrong_fingerprint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_version_missing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_k8s_fallback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_dpkg_configure_first,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
