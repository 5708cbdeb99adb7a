/* SPDX-License-Identifier: MIT */
/* packages: the apt sources the server names (each key's fingerprint
 * checked with gpg before it is trusted), containerd (Debian's), kubelet,
 * kubeadm and kubectl at the exact Debian version of the cluster's
 * Kubernetes version (held), openvpn when this host runs the tunnel, and
 * containerd's config. Each part checks first: what is installed at the
 * right version is not installed again, apt-get update runs only when
 * something must be installed, containerd restarts only when its config
 * changed. */
#include "config.h"

#include <limits.h>

#include "fileio.h"
#include "hostfs.h"
#include "log.h"
#include "pkg.h"
#include "steps.h"

#define ARGV_MAX 32
#define CONTAINERD_RESTART "pending-containerd-restart"

struct pk {
	struct step_ctx *ctx;
	const struct agent_conf *conf;
	struct plan_packages plan;
	bool openvpn;  /* this host runs the tunnel */
	char *k8s_key; /* the fallback source's key, from our config */
	char k8s_uri[128];
	/* Every package to have, kube ones first, and what is installed. */
	const char *names[PLAN_PACKAGES_MAX + 2];
	size_t n_names, n_kube;
	char installed[PLAN_PACKAGES_MAX + 2][PKG_VERSION_MAX + 1];
	char target[PLAN_PACKAGES_MAX + 2][PKG_VERSION_MAX + 1];
	unsigned sources_changed;
};

/* The key must hold exactly one primary key, and its fingerprint must be
 * the one the server (or our config) names. */
static int
check_fingerprint(struct pk *p, const struct plan_source *s)
{
	char fpr[PLAN_FPR_MAX + 1], err[AGENT_ERROR_MAX];
	int r;

	r = pkg_key_fingerprint(
		agent_prog(p->conf, PROG_GPG), p->conf->state_dir, s->key,
		p->conf->command_timeout_s, fpr, err, sizeof(err));
	if (r < 0)
		return step_fail(p->ctx, AGENT_FAIL_PACKAGE, r,
				 "apt source %s: %s: refused", s->name, err);
	if (!s->fingerprint[0]) {
		log_notice("apt source %s: key %s, from the configuration",
			   s->name, fpr);
		return 0;
	}
	if (!streq(fpr, s->fingerprint))
		return step_fail(p->ctx, AGENT_FAIL_PACKAGE, -EKEYREJECTED,
				 "apt source %s: the key's fingerprint is %s, "
				 "not %s as announced: refused",
				 s->name, fpr, s->fingerprint);
	return 0;
}

static int
install_source(struct pk *p, const struct plan_source *s)
{
	_cleanup_free_ char *text = NULL;
	char base[PKG_BASENAME_MAX], keyring[PATH_MAX], list[PATH_MAX];
	const char *root = agent_root(p->conf);
	int r, k;

	r = check_fingerprint(p, s);
	if (r < 0)
		return r;
	pkg_source_basename(s->name, base);
	snprintf(keyring, sizeof(keyring), "%s/%s.asc", PKG_KEYRINGS_DIR, base);
	snprintf(list, sizeof(list), "%s/%s.sources", PKG_SOURCES_DIR, base);
	r = pkg_render_source(s, keyring, &text);
	if (r < 0)
		return step_fail(p->ctx, AGENT_FAIL_OTHER, r, "out of memory");
	k = hostfs_write(root, keyring, s->key, strlen(s->key), 0644);
	if (k < 0)
		return step_fail(p->ctx, AGENT_FAIL_PACKAGE, k,
				 "cannot write %s: %s", keyring, strerror(-k));
	r = hostfs_write(root, list, text, strlen(text), 0644);
	if (r < 0)
		return step_fail(p->ctx, AGENT_FAIL_PACKAGE, r,
				 "cannot write %s: %s", list, strerror(-r));
	if (r > 0 || k > 0) {
		p->sources_changed++;
		log_info("wrote the apt source %s", list);
	}
	return 0;
}

/* With no apt_sources: pkgs.k8s.io for the version's minor, with the key
 * (and, when set, the fingerprint) of our own configuration. */
static int
k8s_source(struct pk *p, struct plan_source *s)
{
	const struct agent_conf *c = p->conf;
	unsigned major, minor;
	int r;

	if (!c->kubernetes_apt_key)
		return step_fail(p->ctx, AGENT_FAIL_CONFIG, -ENOKEY,
				 "the server names no apt source, and "
				 "kubernetes_apt_key is not set in the "
				 "configuration");
	r = read_file(c->kubernetes_apt_key, PLAN_KEY_MAX, &p->k8s_key, NULL);
	if (r < 0)
		return step_fail(p->ctx, AGENT_FAIL_CONFIG, r,
				 "kubernetes_apt_key %s: %s",
				 c->kubernetes_apt_key, agent_file_error(r));
	(void)plan_version_minor(p->plan.version, &major, &minor);
	snprintf(p->k8s_uri, sizeof(p->k8s_uri), PKG_K8S_URI_FMT, major, minor);
	*s = (struct plan_source){.name = "kubernetes",
				  .uri = p->k8s_uri,
				  .suite = "/",
				  .key = p->k8s_key};
	if (c->kubernetes_apt_fingerprint)
		(void)plan_fingerprint_normalize(c->kubernetes_apt_fingerprint,
						 s->fingerprint);
	return 0;
}

static int
install_sources(struct pk *p)
{
	struct plan_source k8s;
	size_t i;
	int r;

	if (p->plan.n_sources == 0) {
		r = k8s_source(p, &k8s);
		return r < 0 ? r : install_source(p, &k8s);
	}
	for (i = 0; i < p->plan.n_sources; i++) {
		r = install_source(p, &p->plan.sources[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* argv = prefix, then every package name. */
static void
with_names(const struct pk *p, const char **argv, size_t n)
{
	size_t i;

	for (i = 0; i < p->n_names && n + 1 < ARGV_MAX; i++)
		argv[n++] = p->names[i];
	argv[n] = NULL;
}

static int
query_installed(struct pk *p)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *argv[ARGV_MAX] = {
		agent_prog(p->conf, PROG_DPKG_QUERY), "-W",
		"-f=${Package}\t${Version}\t${db:Status-Abbrev}\n"};
	size_t i;
	int r;

	with_names(p, argv, 3);
	r = step_spawn(p->ctx, AGENT_FAIL_PACKAGE, argv, NULL,
		       p->conf->command_timeout_s, &res);
	if (r < 0)
		return r;
	/* 1: some package is unknown to dpkg, which is what we ask. */
	if (res.timed_out || res.signal || res.status > 1)
		return step_fail_spawn(p->ctx, AGENT_FAIL_PACKAGE,
				       "asking dpkg what is installed", argv,
				       &res, p->conf->command_timeout_s);
	for (i = 0; i < p->n_names; i++)
		if (pkg_installed_version(res.out, p->names[i],
					  p->installed[i]) < 0)
			p->installed[i][0] = '\0';
	return 0;
}

static bool
needs_install(const struct pk *p, size_t i)
{
	if (i < p->n_kube)
		return !pkg_version_matches(p->installed[i], p->plan.version);
	return !p->installed[i][0];
}

static int
resolve_versions(struct pk *p)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *argv[ARGV_MAX] = {agent_prog(p->conf, PROG_APT_CACHE),
				      "madison"};
	size_t i, n = 2;
	int r;

	for (i = 0; i < p->n_kube; i++)
		argv[n++] = p->names[i];
	argv[n] = NULL;
	r = step_spawn(p->ctx, AGENT_FAIL_PACKAGE, argv, NULL,
		       p->conf->command_timeout_s, &res);
	if (r < 0)
		return r;
	if (!spawn_succeeded(&res))
		return step_fail_spawn(p->ctx, AGENT_FAIL_PACKAGE,
				       "looking up package versions", argv,
				       &res, p->conf->command_timeout_s);
	for (i = 0; i < p->n_kube; i++)
		if (pkg_madison_pick(res.out, p->names[i], p->plan.version,
				     p->target[i]) < 0)
			return step_fail(p->ctx, AGENT_FAIL_PACKAGE, -ENOENT,
					 "no %s %s-* in the configured apt "
					 "sources",
					 p->names[i], p->plan.version);
	return 0;
}

static int
apt_update(struct pk *p)
{
	const char *argv[] = {
		agent_prog(p->conf, PROG_APT_GET), "-q",     "-o",
		"DPkg::Lock::Timeout=900",	   "update", NULL};

	step_progress(p->ctx, "updating the package lists (apt-get update)");
	return step_run(p->ctx, AGENT_FAIL_PACKAGE, "apt-get update", argv,
			spawn_env_apt, p->conf->apt_timeout_s);
}

static int
apt_install(struct pk *p)
{
	char specs[PLAN_PACKAGES_MAX + 2][PKG_VERSION_MAX + 80];
	char what[STATE_MESSAGE_MAX] = "";
	const char *argv[ARGV_MAX] = {agent_prog(p->conf, PROG_APT_GET),
				      "-q",
				      "-y",
				      "-o",
				      "DPkg::Lock::Timeout=900",
				      "-o",
				      "Dpkg::Options::=--force-confdef",
				      "-o",
				      "Dpkg::Options::=--force-confold",
				      "--no-install-recommends",
				      "--allow-change-held-packages",
				      "--allow-downgrades",
				      "install"};
	size_t i, n = 13;

	for (i = 0; i < p->n_names; i++) {
		if (!needs_install(p, i))
			continue;
		if (p->target[i][0])
			snprintf(specs[i], sizeof(specs[i]), "%s=%s",
				 p->names[i], p->target[i]);
		else
			snprintf(specs[i], sizeof(specs[i]), "%s", p->names[i]);
		argv[n++] = specs[i];
		step_appendf(what, sizeof(what), "%s%s%s%s",
			     what[0] ? ", " : "", p->names[i],
			     p->target[i][0] ? " " : "", p->target[i]);
	}
	argv[n] = NULL;
	step_progress(p->ctx, "installing %s", what);
	return step_run(p->ctx, AGENT_FAIL_PACKAGE, "apt-get install", argv,
			spawn_env_apt, p->conf->apt_timeout_s);
}

static int
hold(struct pk *p)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *show[] = {agent_prog(p->conf, PROG_APT_MARK), "showhold",
			      NULL};
	const char *argv[ARGV_MAX] = {agent_prog(p->conf, PROG_APT_MARK),
				      "hold"};
	size_t i, n = 2;
	int r;

	r = step_spawn(p->ctx, AGENT_FAIL_PACKAGE, show, NULL,
		       p->conf->command_timeout_s, &res);
	if (r < 0)
		return r;
	if (!spawn_succeeded(&res))
		return step_fail_spawn(p->ctx, AGENT_FAIL_PACKAGE,
				       "listing held packages", show, &res,
				       p->conf->command_timeout_s);
	for (i = 0; i < p->n_kube; i++)
		if (!pkg_held(res.out, p->names[i]))
			argv[n++] = p->names[i];
	argv[n] = NULL;
	if (n == 2)
		return 0;
	return step_run(p->ctx, AGENT_FAIL_PACKAGE, "holding the packages",
			argv, NULL, p->conf->command_timeout_s);
}

/* Run before every install: an earlier run killed while dpkg worked (a
 * reboot, kill -9, the unit stopped) leaves packages unpacked or half
 * configured, and apt refuses everything ("dpkg was interrupted") until
 * dpkg --configure -a finishes the job. With nothing left to do it costs
 * a fraction of a second. */
static int
dpkg_configure_pending(struct pk *p)
{
	const char *argv[] = {agent_prog(p->conf, PROG_DPKG),
			      "--force-confdef",
			      "--force-confold",
			      "--configure",
			      "-a",
			      NULL};

	return step_run(p->ctx, AGENT_FAIL_PACKAGE,
			"finishing an interrupted dpkg run", argv,
			spawn_env_apt, p->conf->apt_timeout_s);
}

/* Written when it differs; containerd restarts then, and also when an
 * earlier run wrote it but did not get to the restart. */
static int
containerd_config(struct pk *p, bool *ret_changed)
{
	_cleanup_free_ char *text = NULL;
	struct agent *a = p->ctx->agent;
	const char *argv[] = {agent_prog(p->conf, PROG_SYSTEMCTL), "restart",
			      "containerd.service", NULL};
	int r;

	r = pkg_render_containerd(p->plan.pause_image, &text);
	if (r < 0)
		return step_fail(p->ctx, AGENT_FAIL_OTHER, r,
				 "cannot render the containerd config");
	r = hostfs_write(agent_root(p->conf), PKG_CONTAINERD_CONFIG, text,
			 strlen(text), 0644);
	if (r < 0)
		return step_fail(p->ctx, AGENT_FAIL_PACKAGE, r,
				 "cannot write %s: %s", PKG_CONTAINERD_CONFIG,
				 strerror(-r));
	*ret_changed = r > 0;
	if (r > 0 && agent_marker_set(a, CONTAINERD_RESTART) < 0)
		log_warning("cannot record that containerd needs a restart");
	if (r == 0 && !agent_marker_exists(a, CONTAINERD_RESTART))
		return 0;
	step_progress(p->ctx, "restarting containerd with its new config");
	r = step_run(p->ctx, AGENT_FAIL_PACKAGE, "restarting containerd", argv,
		     NULL, p->conf->command_timeout_s);
	if (r < 0)
		return r;
	(void)agent_marker_clear(a, CONTAINERD_RESTART);
	return 0;
}

static int
load(struct pk *p)
{
	struct plan_vpn vpn;
	char err[AGENT_ERROR_MAX];
	int r;

	r = step_load_plan(p->ctx);
	if (r < 0)
		return r;
	if ((r = plan_packages_get(p->ctx->plan, &p->plan, err, sizeof(err))) <
		    0 ||
	    (r = plan_vpn_get(p->ctx->plan, &vpn, err, sizeof(err))) < 0)
		return step_fail(p->ctx, AGENT_FAIL_CONFIG, r, "%s", err);
	p->openvpn = vpn.direct;
	memcpy(p->names, p->plan.packages,
	       p->plan.n_packages * sizeof(p->names[0]));
	p->n_kube = p->n_names = p->plan.n_packages;
	p->names[p->n_names++] = "containerd";
	if (p->openvpn)
		p->names[p->n_names++] = "openvpn";
	return 0;
}

static int
install(struct pk *p)
{
	size_t i;
	int r;

	for (i = 0; i < p->n_names; i++)
		if (needs_install(p, i))
			break;
	if (i == p->n_names)
		return 0;
	if ((r = dpkg_configure_pending(p)) < 0 || (r = apt_update(p)) < 0 ||
	    (r = resolve_versions(p)) < 0 || (r = apt_install(p)) < 0 ||
	    (r = query_installed(p)) < 0)
		return r;
	for (i = 0; i < p->n_names; i++)
		if (needs_install(p, i))
			return step_fail(p->ctx, AGENT_FAIL_PACKAGE, -EIO,
					 "apt-get installed, but %s is at "
					 "\"%s\", not %s",
					 p->names[i], p->installed[i],
					 i < p->n_kube ? p->plan.version
						       : "installed");
	return 0;
}

static void
summary(struct pk *p, bool changed)
{
	char held[STATE_MESSAGE_MAX] = "";
	size_t i;

	for (i = 0; i < p->n_kube; i++)
		step_appendf(held, sizeof(held), "%s%s %s", i ? ", " : "",
			     p->names[i], p->installed[i]);
	step_message(p->ctx,
		     "%s held; containerd %s (config %s, sandbox %s)%s%s; %u "
		     "apt source(s) written",
		     held, p->installed[p->n_kube],
		     changed ? "written" : "unchanged", p->plan.pause_image,
		     p->openvpn ? "; openvpn " : "",
		     p->openvpn ? p->installed[p->n_kube + 1] : "",
		     p->sources_changed);
}

int
step_packages(struct step_ctx *ctx)
{
	struct pk p = {.ctx = ctx, .conf = ctx->agent->conf};
	bool changed = false;
	int r;

	if ((r = load(&p)) < 0 || (r = install_sources(&p)) < 0 ||
	    (r = query_installed(&p)) < 0 || (r = install(&p)) < 0 ||
	    (r = hold(&p)) < 0 || (r = containerd_config(&p, &changed)) < 0)
		goto out;
	summary(&p, changed);
out:
	erase_and_free(p.k8s_key);
	return r;
}
