/* SPDX-License-Identifier: MIT */
/* host: swap off now and at every boot, the overlay and br_netfilter
 * modules, ip_forward and the bridge sysctls; persisted under
 * /etc/modules-load.d, /etc/sysctl.d and /etc/fstab. What is in effect
 * already is not done again. Inside a container some of it cannot be done
 * (modprobe, the bridge keys, the host's swap): what is required (swap
 * off, overlay, ip_forward, the files) fails the step, the rest is a
 * warning in the message. In a container, swap that stays on is the
 * host's and only a warning. */
#include "config.h"

#include "fileio.h"
#include "host.h"
#include "hostfs.h"
#include "log.h"
#include "steps.h"

#define PROC (h->conf->proc_dir ? h->conf->proc_dir : "/proc")
#define SYS (h->conf->sys_dir ? h->conf->sys_dir : "/sys")
#define RUN (h->conf->run_dir ? h->conf->run_dir : "/run")
#define FSTAB_MAX (1024 * 1024)
#define UNITS_MAX 16

struct hs {
	struct step_ctx *ctx;
	const struct agent_conf *conf;
	char did[STATE_MESSAGE_MAX];	  /* what was done or found */
	char warnings[STATE_MESSAGE_MAX]; /* what could not be */
};

static int
write_file(struct hs *h, const char *abs, int (*render)(char **))
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = render(&text);
	if (r < 0)
		return step_fail(h->ctx, AGENT_FAIL_OTHER, r, "out of memory");
	r = hostfs_write(agent_root(h->conf), abs, text, strlen(text), 0644);
	if (r < 0)
		return step_fail(h->ctx, AGENT_FAIL_OTHER, r,
				 "cannot write %s: %s", abs, strerror(-r));
	if (r > 0)
		log_info("wrote %s", abs);
	return 0;
}

/* The reason a program gave, for a warning. */
static void
warn_spawn(struct hs *h, const char *what, const struct spawn_result *res)
{
	char line[96];

	spawn_last_line(res->err && res->err[0] ? res->err : res->out, line,
			sizeof(line));
	if (!line[0])
		spawn_describe(res, h->conf->command_timeout_s * 1000, line,
			       sizeof(line));
	step_appendf(h->warnings, sizeof(h->warnings), "%s%s (%s)",
		     h->warnings[0] ? "; " : "", what, line);
}

static int
load_module(struct hs *h, const struct host_module *m)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *argv[] = {agent_prog(h->conf, PROG_MODPROBE), m->name,
			      NULL};
	char what[96];
	int r;

	if (host_module_loaded(PROC, SYS, m->name))
		return 0;
	r = step_spawn(h->ctx, AGENT_FAIL_OTHER, argv, NULL,
		       h->conf->command_timeout_s, &res);
	/* A missing modprobe is like a failing one: the check decides. */
	if (r < 0 && !m->required) {
		step_appendf(h->warnings, sizeof(h->warnings),
			     "%s%s not loaded (cannot run %s)",
			     h->warnings[0] ? "; " : "", m->name, argv[0]);
		return 0;
	}
	if (r < 0)
		return r;
	if (host_module_loaded(PROC, SYS, m->name)) {
		step_appendf(h->did, sizeof(h->did), "; loaded %s", m->name);
		return 0;
	}
	if (m->required)
		return step_fail_spawn(h->ctx, AGENT_FAIL_OTHER, m->name, argv,
				       &res, h->conf->command_timeout_s);
	snprintf(what, sizeof(what), "%s not loaded", m->name);
	warn_spawn(h, what, &res);
	return 0;
}

static int
set_sysctl(struct hs *h, const struct host_sysctl *s)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	char assignment[128], what[160];
	const char *argv[] = {agent_prog(h->conf, PROG_SYSCTL), "-w",
			      assignment, NULL};
	int r;

	if (host_sysctl_in_effect(PROC, s->key, s->value) > 0)
		return 0;
	snprintf(assignment, sizeof(assignment), "%s=%s", s->key, s->value);
	r = step_spawn(h->ctx, AGENT_FAIL_OTHER, argv, NULL,
		       h->conf->command_timeout_s, &res);
	if (r < 0 && s->required)
		return r;
	snprintf(what, sizeof(what), "%s not set", s->key);
	if (r >= 0 && host_sysctl_in_effect(PROC, s->key, s->value) > 0) {
		step_appendf(h->did, sizeof(h->did), "; set %s", assignment);
		return 0;
	}
	if (s->required) {
		if (spawn_succeeded(&res))
			return step_fail(h->ctx, AGENT_FAIL_OTHER, -EIO,
					 "%s does not hold after sysctl -w "
					 "(read-only /proc/sys?)",
					 assignment);
		snprintf(what, sizeof(what), "setting %s (required)",
			 assignment);
		return step_fail_spawn(h->ctx, AGENT_FAIL_OTHER, what, argv,
				       &res, h->conf->command_timeout_s);
	}
	if (r < 0)
		step_appendf(h->warnings, sizeof(h->warnings), "%s%s not set",
			     h->warnings[0] ? "; " : "", s->key);
	else
		warn_spawn(h, what, &res);
	return 0;
}

/* 1 when fstab changed (*ret_n lines), 0 when nothing needed it. */
static int
edit_fstab(struct hs *h, unsigned *ret_n)
{
	_cleanup_free_ char *text = NULL, *out = NULL;
	const char *root = agent_root(h->conf);
	int r;

	*ret_n = 0;
	r = hostfs_read(root, HOST_FSTAB, FSTAB_MAX, &text, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return step_fail(h->ctx, AGENT_FAIL_OTHER, r,
				 "cannot read %s: %s", HOST_FSTAB,
				 agent_file_error(r));
	r = host_fstab_disable_swap(text, &out, ret_n);
	if (r < 0)
		return step_fail(h->ctx, AGENT_FAIL_OTHER, r, "out of memory");
	if (*ret_n == 0)
		return 0;
	r = hostfs_write(root, HOST_FSTAB, out, strlen(out), 0644);
	if (r < 0)
		return step_fail(h->ctx, AGENT_FAIL_OTHER, r,
				 "cannot write %s: %s", HOST_FSTAB,
				 strerror(-r));
	step_appendf(h->did, sizeof(h->did),
		     "; %u swap line(s) of %s "
		     "commented out",
		     *ret_n, HOST_FSTAB);
	return 1;
}

/* Swap units (from fstab, GPT auto-discovery, zram ...) would turn swap
 * on again at boot: each is masked. Best effort: a warning. */
static void
mask_swap_units(struct hs *h)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *sc = agent_prog(h->conf, PROG_SYSTEMCTL);
	const char *list[] = {sc,	 "list-units",	"--type=swap", "--all",
			      "--plain", "--no-legend", "--no-pager",  NULL};
	const char *argv[UNITS_MAX + 3] = {sc, "mask"};
	char *line, *save = NULL;
	size_t n = 2;

	if (step_spawn(h->ctx, AGENT_FAIL_OTHER, list, NULL,
		       h->conf->command_timeout_s, &res) < 0 ||
	    !spawn_succeeded(&res)) {
		step_appendf(h->warnings, sizeof(h->warnings),
			     "%sswap units not listed",
			     h->warnings[0] ? "; " : "");
		return;
	}
	for (line = strtok_r(res.out, "\n", &save); line && n < UNITS_MAX + 2;
	     line = strtok_r(NULL, "\n", &save)) {
		char *unit = line + strspn(line, " \t*");
		unit[strcspn(unit, " \t")] = '\0';
		if (strlen(unit) > 5 && streq(unit + strlen(unit) - 5, ".swap"))
			argv[n++] = unit;
	}
	argv[n] = NULL;
	if (n == 2)
		return;
	{
		_cleanup_(spawn_result_done) struct spawn_result m = {0};
		if (step_spawn(h->ctx, AGENT_FAIL_OTHER, argv, NULL,
			       h->conf->command_timeout_s, &m) < 0 ||
		    !spawn_succeeded(&m)) {
			warn_spawn(h, "masking the swap units", &m);
			return;
		}
	}
	step_appendf(h->did, sizeof(h->did), "; %zu swap unit(s) masked",
		     n - 2);
}

static unsigned
swaps_active(const struct hs *h)
{
	_cleanup_free_ char *text = NULL;
	char path[256];

	snprintf(path, sizeof(path), "%s/swaps", PROC);
	if (read_file(path, FSTAB_MAX, &text, NULL) < 0)
		return 0;
	return host_swaps_active(text);
}

/* systemd's own answer (PID 1 writes it in a container), e.g.
 * "systemd-nspawn"; "" on a host. */
static void
container(const struct hs *h, char *buf, size_t size)
{
	_cleanup_free_ char *text = NULL;
	char path[256];

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/systemd/container", RUN);
	if (read_file(path, 256, &text, NULL) == 0) {
		text[strcspn(text, "\n")] = '\0';
		snprintf(buf, size, "%s", text);
	}
}

/* Swap that stays on: the step fails, except in a container, where
 * /proc/swaps shows the host's swap, which only the host can turn off. */
static int
swap_still_on(struct hs *h, const struct spawn_result *res)
{
	char ct[64], line[160];

	container(h, ct, sizeof(ct));
	spawn_last_line(res->err, line, sizeof(line));
	if (!ct[0])
		return step_fail(h->ctx, AGENT_FAIL_OTHER, -EBUSY,
				 "swap is still on after swapoff -a%s%s (see "
				 "/proc/swaps): kubelet refuses to run with "
				 "swap",
				 line[0] ? ": " : "", line);
	step_appendf(h->warnings, sizeof(h->warnings),
		     "%sswap is on, and this is a container (%s): only its "
		     "host can turn it off",
		     h->warnings[0] ? "; " : "", ct);
	return 0;
}

static int
swap_off(struct hs *h)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const char *argv[] = {agent_prog(h->conf, PROG_SWAPOFF), "-a", NULL};
	unsigned active = swaps_active(h), lines;
	int r;

	r = edit_fstab(h, &lines);
	if (r < 0)
		return r;
	if (active > 0) {
		r = step_spawn(h->ctx, AGENT_FAIL_OTHER, argv, NULL,
			       h->conf->command_timeout_s, &res);
		if (r < 0)
			return r;
		if (swaps_active(h) > 0) {
			r = swap_still_on(h, &res);
			if (r < 0)
				return r;
		} else {
			step_appendf(h->did, sizeof(h->did),
				     "; swap turned off");
		}
	}
	if (active > 0 || lines > 0)
		mask_swap_units(h);
	return 0;
}

int
step_host(struct step_ctx *ctx)
{
	struct hs h = {.ctx = ctx, .conf = ctx->agent->conf};
	size_t i;
	int r;

	if ((r = write_file(&h, HOST_MODULES_FILE, host_render_modules)) < 0 ||
	    (r = write_file(&h, HOST_SYSCTL_FILE, host_render_sysctl)) < 0 ||
	    (r = swap_off(&h)) < 0)
		return r;
	for (i = 0; i < host_n_modules; i++)
		if ((r = load_module(&h, &host_modules[i])) < 0)
			return r;
	for (i = 0; i < host_n_sysctls; i++)
		if ((r = set_sysctl(&h, &host_sysctls[i])) < 0)
			return r;
	step_message(ctx, "swap off, overlay loaded, ip_forward on%s%s%s",
		     h.did, h.warnings[0] ? "; warning: " : "", h.warnings);
	return 0;
}
