/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <limits.h>
#include <sys/stat.h>

#include "fileio.h"
#include "host.h"
#include "macro.h"

#define HOST_READ_MAX (1024 * 1024)

/* overlay: containerd's snapshotter cannot work without it. br_netfilter:
 * only some pod networks need bridged traffic to pass iptables, and
 * kubeadm (since 1.30) no longer insists: a warning. */
const struct host_module host_modules[] = {
	{"overlay", true},
	{"br_netfilter", false},
};
const size_t host_n_modules = ELEMENTSOF(host_modules);

/* ip_forward: pod traffic and the gateway role route through this host.
 * The bridge keys exist only with br_netfilter. */
const struct host_sysctl host_sysctls[] = {
	{"net.ipv4.ip_forward", "1", true},
	{"net.bridge.bridge-nf-call-iptables", "1", false},
	{"net.bridge.bridge-nf-call-ip6tables", "1", false},
};
const size_t host_n_sysctls = ELEMENTSOF(host_sysctls);

int
host_render_modules(char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	fputs("# Written by geostage-enrolld: the modules kubelet and the "
	      "container\n# runtime need, loaded at every boot.\n",
	      f);
	for (i = 0; i < host_n_modules; i++)
		fprintf(f, "%s\n", host_modules[i].name);
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

int
host_render_sysctl(char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	fputs("# Written by geostage-enrolld: what kubelet and the pod "
	      "network need.\n",
	      f);
	for (i = 0; i < host_n_sysctls; i++)
		fprintf(f, "%s = %s\n", host_sysctls[i].key,
			host_sysctls[i].value);
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* The third whitespace-separated field of line [s, end) is "swap". */
static bool
is_swap_line(const char *s, const char *end)
{
	int field = 0;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end || *s == '#')
		return false;
	while (s < end) {
		const char *w = s;

		while (s < end && *s != ' ' && *s != '\t')
			s++;
		if (++field == 3)
			return s - w == 4 && strncmp(w, "swap", 4) == 0;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
	}
	return false;
}

int
host_fstab_disable_swap(const char *text, char **ret, unsigned *ret_n)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	const char *line = text;
	unsigned n = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t k = end ? (size_t)(end - line) + 1 : strlen(line);

		if (is_swap_line(line, line + k)) {
			fputs(HOST_FSTAB_MARK, f);
			n++;
		}
		fwrite(line, 1, k, f);
		line += k;
	}
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	*ret_n = n;
	return 0;
}

unsigned
host_swaps_active(const char *proc_swaps)
{
	const char *line = strchr(proc_swaps, '\n');
	unsigned n = 0;

	/* The first line is the header. */
	while (line && *++line) {
		if (*line != '\n')
			n++;
		line = strchr(line, '\n');
	}
	return n;
}

static bool
exists(const char *base, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	return snprintf(path, sizeof(path), "%s/%s", base, rel) <
		       (int)sizeof(path) &&
	       stat(path, &st) == 0;
}

bool
host_module_loaded(const char *proc, const char *sys, const char *name)
{
	_cleanup_free_ char *text = NULL;
	char rel[128], path[PATH_MAX];

	snprintf(rel, sizeof(rel), "module/%s", name);
	if (exists(sys, rel))
		return true;
	if (streq(name, "br_netfilter"))
		return exists(proc, "sys/net/bridge/bridge-nf-call-iptables");
	if (!streq(name, "overlay"))
		return false;
	snprintf(path, sizeof(path), "%s/filesystems", proc);
	return read_file(path, HOST_READ_MAX, &text, NULL) == 0 &&
	       strstr(text, "\toverlay\n");
}

int
host_sysctl_in_effect(const char *proc, const char *key, const char *value)
{
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX], *p;
	size_t len;
	int r;

	if (snprintf(path, sizeof(path), "%s/sys/%s", proc, key) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	for (p = path + strlen(proc) + 5; *p; p++)
		if (*p == '.')
			*p = '/';
	r = read_file(path, 4096, &text, &len);
	if (r < 0)
		return r;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	return streq(text, value) ? 1 : 0;
}
