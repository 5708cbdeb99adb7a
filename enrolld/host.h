/* SPDX-License-Identifier: MIT */
/* The host step's pure parts: the files it writes, the fstab edit, and
 * how it reads the kernel's state (/proc, /sys, under a base dir so that
 * tests can hand it their own). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define HOST_MODULES_FILE "/etc/modules-load.d/geostage.conf"
#define HOST_SYSCTL_FILE "/etc/sysctl.d/90-geostage.conf"
#define HOST_FSTAB "/etc/fstab"
#define HOST_FSTAB_MARK "# disabled by geostage-enrolld (swap): "

struct host_module {
	const char *name;
	/* Without it the step fails; otherwise a warning. */
	bool required;
};

struct host_sysctl {
	const char *key;
	const char *value;
	bool required;
};

extern const struct host_module host_modules[];
extern const size_t host_n_modules;
extern const struct host_sysctl host_sysctls[];
extern const size_t host_n_sysctls;

/* The contents of HOST_MODULES_FILE and HOST_SYSCTL_FILE. */
int host_render_modules(char **ret);
int host_render_sysctl(char **ret);
/* fstab with every active swap line commented out (HOST_FSTAB_MARK in
 * front); *ret_n says how many. Lines already commented stay as they
 * are, so a second pass changes nothing. */
int host_fstab_disable_swap(const char *text, char **ret, unsigned *ret_n);
/* Active swap areas in /proc/swaps text. */
unsigned host_swaps_active(const char *proc_swaps);
/* Is the module in effect: /sys/module/NAME, or for overlay a line of
 * /proc/filesystems, or for br_netfilter /proc/sys/net/bridge? */
bool host_module_loaded(const char *proc, const char *sys, const char *name);
/* Does /proc/sys/KEY (dots as slashes) read value? -ENOENT when the key
 * does not exist (its module is not loaded). */
int host_sysctl_in_effect(const char *proc, const char *key, const char *value);
