/* SPDX-License-Identifier: MIT */
/* The host step: the modules-load.d and sysctl.d files, the fstab swap
 * edit (idempotent, atomic), how /proc and /sys are read, and the step
 * against STAND-INS of modprobe, sysctl, swapoff and systemctl in a temp
 * root_dir. The kernel's state is only read, never changed. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "fileio.h"
#include "host.h"
#include "ossl.h"
#include "test-enrolld-stand-ins.h"

static void
test_render(void **state)
{
	char *text;

	(void)state;
	assert_int_equal(host_render_modules(&text), 0);
	assert_string_equal(text, "# Written by geostage-enrolld: the modules "
				  "kubelet and the container\n# runtime need, "
				  "loaded at every boot.\noverlay\n"
				  "br_netfilter\n");
	free(text);
	assert_int_equal(host_render_sysctl(&text), 0);
	assert_string_equal(text, "# Written by geostage-enrolld: what kubelet "
				  "and the pod network need.\n"
				  "net.ipv4.ip_forward = 1\n"
				  "net.bridge.bridge-nf-call-iptables = 1\n"
				  "net.bridge.bridge-nf-call-ip6tables = 1\n");
	free(text);
}

#define FSTAB                                                                  \
	"# /etc/fstab\n"                                                       \
	"UUID=1234 / ext4 errors=remount-ro 0 1\n"                             \
	"UUID=5678 none swap sw 0 0\n"                                         \
	"\t/swapfile\tnone\tswap\tsw,pri=5 0 0\n"                              \
	"#UUID=9abc none swap sw 0 0\n"                                        \
	"/dev/sdb1 /swap ext4 defaults 0 2\n"                                  \
	"/dev/sdc1 /mnt swapfs defaults 0 2\n"                                 \
	"\n"                                                                   \
	"/dev/sdd1 none swap sw 0 0"

static void
test_fstab(void **state)
{
	char *out, *again;
	unsigned n;

	(void)state;
	assert_int_equal(host_fstab_disable_swap(FSTAB, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(
		out, "# /etc/fstab\n"
		     "UUID=1234 / ext4 errors=remount-ro 0 1\n" HOST_FSTAB_MARK
		     "UUID=5678 none swap sw 0 0\n" HOST_FSTAB_MARK
		     "\t/swapfile\tnone\tswap\tsw,pri=5 0 0\n"
		     "#UUID=9abc none swap sw 0 0\n"
		     "/dev/sdb1 /swap ext4 defaults 0 2\n"
		     "/dev/sdc1 /mnt swapfs defaults 0 2\n"
		     "\n" HOST_FSTAB_MARK "/dev/sdd1 none swap sw 0 0");
	/* A second pass changes nothing. */
	assert_int_equal(host_fstab_disable_swap(out, &again, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(again, out);
	free(again);
	free(out);
	assert_int_equal(host_fstab_disable_swap("", &out, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	free(out);
}

static void
test_swaps(void **state)
{
	(void)state;
	assert_int_equal(host_swaps_active("Filename\t\t\t\tType\t\tSize\t"
					   "Used\tPriority\n"),
			 0);
	assert_int_equal(host_swaps_active("Filename Type\n/dev/sda2 "
					   "partition 1 0 -2\n/swapfile file "
					   "1 0 -3\n"),
			 2);
	assert_int_equal(host_swaps_active(""), 0);
}

static void
make_file(const char *dir, const char *rel, const char *text)
{
	char path[256], *p;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (p = strchr(path + strlen(dir) + 1, '/'); p;
	     p = strchr(p + 1, '/')) {
		*p = '\0';
		(void)mkdir(path, 0755);
		*p = '/';
	}
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

/* A proc and a sys of our own making. */
static void
test_kernel_state(void **state)
{
	struct world w;
	char proc[128], sys[128];

	(void)state;
	world_init(&w);
	snprintf(proc, sizeof(proc), "%s/proc", w.dir);
	snprintf(sys, sizeof(sys), "%s/sys", w.dir);
	make_file(w.dir, "proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n");
	make_file(w.dir, "proc/sys/net/ipv4/ip_forward", "1\n");
	make_file(w.dir, "proc/sys/net/bridge/bridge-nf-call-iptables", "0\n");
	assert_true(host_module_loaded(proc, sys, "overlay"));
	assert_true(host_module_loaded(proc, sys, "br_netfilter"));
	assert_false(host_module_loaded(proc, sys, "nf_conntrack"));
	make_file(w.dir, "sys/module/nf_conntrack/refcnt", "1\n");
	assert_true(host_module_loaded(proc, sys, "nf_conntrack"));
	assert_int_equal(
		host_sysctl_in_effect(proc, "net.ipv4.ip_forward", "1"), 1);
	assert_int_equal(
		host_sysctl_in_effect(
			proc, "net.bridge.bridge-nf-call-iptables", "1"),
		0);
	assert_int_equal(
		host_sysctl_in_effect(
			proc, "net.bridge.bridge-nf-call-ip6tables", "1"),
		-ENOENT);
	make_file(w.dir, "proc/filesystems", "nodev\toverlayfs\n");
	assert_false(host_module_loaded(proc, sys, "overlay"));
	world_done(&w);
}

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	world_init(w);
	world_stand_in(w, PROG_MODPROBE, "exit 1");
	world_stand_in(w, PROG_SYSCTL, "echo 'permission denied' >&2; exit 1");
	world_stand_in(w, PROG_SWAPOFF, "exit 0");
	world_stand_in(w, PROG_SYSTEMCTL,
		       "[ \"$1\" = list-units ] && echo '  dev-sda2.swap "
		       "loaded inactive dead /dev/sda2'; exit 0");
	make_file(w->root, "etc/fstab", FSTAB);
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

static bool
read_flag(const char *path)
{
	_cleanup_free_ char *text = NULL;

	return read_file(path, 64, &text, NULL) == 0 && text[0] == '1';
}

/* This host's kernel decides whether ip_forward is in effect already:
 * when it is not, the sysctl stand-in cannot change it and the step must
 * fail (it is required) rather than report done. */
static void
test_step(void **state)
{
	struct world *w = *state;
	bool forward = read_flag("/proc/sys/net/ipv4/ip_forward");
	struct step_ctx ctx;
	char *text;
	int r;

	r = world_step(w, STEP_HOST, step_host, &ctx);
	text = world_read(w, "root/etc/fstab");
	assert_non_null(strstr(text, HOST_FSTAB_MARK "UUID=5678 none swap"));
	free(text);
	assert_int_equal(world_mode(w, "/etc/fstab"), 0644);
	assert_int_equal(world_mode(w, HOST_MODULES_FILE), 0644);
	assert_int_equal(world_mode(w, HOST_SYSCTL_FILE), 0644);
	assert_int_equal(world_log_count(w, "systemctl mask dev-sda2.swap"), 1);
	if (!forward) {
		assert_true(r < 0);
		assert_int_equal(ctx.fail, AGENT_FAIL_OTHER);
		assert_non_null(
			strstr(ctx.message, "setting net.ipv4.ip_forward=1"));
		assert_non_null(strstr(ctx.message, "permission denied"));
		return;
	}
	assert_int_equal(r, 0);
	assert_non_null(strstr(ctx.message, "3 swap line(s)"));
	/* Again: nothing left to do. */
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_HOST, step_host, &ctx), 0);
	assert_int_equal(world_log_count(w, "systemctl"), 0);
	assert_null(strstr(ctx.message, "swap line"));
}

/* A kernel of our own: ip_forward off, br_netfilter not loaded, one
 * swap area. sysctl and swapoff stand-ins change it as the real ones
 * would; modprobe fails (as in a container). */
static void
test_step_fake_kernel(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	char proc[128], sys[128], run[128], *text;

	snprintf(proc, sizeof(proc), "%s/proc", w->dir);
	snprintf(sys, sizeof(sys), "%s/sys", w->dir);
	make_file(w->dir, "proc/filesystems", "nodev\toverlay\n");
	make_file(w->dir, "proc/swaps", "Filename Type\n/dev/sda2 x 1 0 -2\n");
	make_file(w->dir, "proc/sys/net/ipv4/ip_forward", "0\n");
	make_file(w->dir, "sys/module/overlay/refcnt", "1\n");
	w->conf.proc_dir = proc;
	w->conf.sys_dir = sys;
	world_stand_in(w, PROG_SYSCTL,
		       "k=$(echo ${2%%=*} | tr . /); f=\"$W/proc/sys/$k\"; "
		       "[ -e \"$f\" ] || { echo \"sysctl: cannot stat "
		       "/proc/sys/$k: No such file or directory\" >&2; exit "
		       "255; }; echo ${2#*=} > \"$f\"");
	world_stand_in(w, PROG_SWAPOFF, "echo Filename > \"$W/proc/swaps\"");
	assert_int_equal(world_step(w, STEP_HOST, step_host, &ctx), 0);
	assert_true(startswith(
		ctx.message,
		"swap off, overlay loaded, ip_forward on; 3 swap "
		"line(s) of /etc/fstab commented out; swap turned "
		"off; 1 swap unit(s) masked; set "
		"net.ipv4.ip_forward=1; warning: br_netfilter not "
		"loaded (exited with status 1); "
		"net.bridge.bridge-nf-call-iptables not set "
		"(sysctl: cannot stat "
		"/proc/sys/net/bridge/bridge-nf-call-iptables: No "));
	assert_int_equal(world_log_count(w, "swapoff -a"), 1);
	assert_int_equal(world_log_count(w, "modprobe br_netfilter"), 1);
	assert_int_equal(world_log_count(w, "modprobe overlay"), 0);
	text = world_read(w, "proc/sys/net/ipv4/ip_forward");
	assert_string_equal(text, "1\n");
	free(text);

	/* Again: what is in effect is not done again; the optional parts
	 * are tried again and still only warned about. */
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_HOST, step_host, &ctx), 0);
	assert_int_equal(world_log_count(w, "swapoff"), 0);
	assert_int_equal(world_log_count(w, "systemctl"), 0);
	assert_int_equal(world_log_count(w, "sysctl -w net.ipv4"), 0);
	assert_non_null(strstr(ctx.message, "warning: br_netfilter"));

	/* Swap that will not go: a required part, the step fails. */
	make_file(w->dir, "proc/swaps", "Filename Type\n/dev/sda2 x 1 0 -2\n");
	world_stand_in(w, PROG_SWAPOFF,
		       "echo 'swapoff: /dev/sda2: Operation not permitted' "
		       ">&2; exit 4");
	snprintf(run, sizeof(run), "%s/run", w->dir);
	w->conf.run_dir = run;
	assert_true(world_step(w, STEP_HOST, step_host, &ctx) < 0);
	assert_non_null(strstr(ctx.message, "swap is still on after swapoff "
					    "-a: swapoff: /dev/sda2: Operation "
					    "not permitted"));
	/* ... except in a container: the swap is its host's. */
	make_file(w->dir, "run/systemd/container", "systemd-nspawn\n");
	assert_int_equal(world_step(w, STEP_HOST, step_host, &ctx), 0);
	assert_non_null(strstr(ctx.message, "swap is on, and this is a "
					    "container (systemd-nspawn)"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_fstab),
		cmocka_unit_test(test_swaps),
		cmocka_unit_test(test_kernel_state),
		cmocka_unit_test_setup_teardown(test_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_fake_kernel, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
