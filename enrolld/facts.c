/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/route.h>
#include <sys/utsname.h>

#include "agent.h"
#include "facts.h"
#include "fileio.h"
#include "ossl.h"

#define FACTS_FILE_MAX (256 * 1024)

void
facts_parse_os_release(const char *text, char *ret, size_t size)
{
	const char *line = text;
	char value[FACTS_TEXT_MAX];

	ret[0] = '\0';
	while (line && *line) {
		const char *v = startswith(line, "PRETTY_NAME=");
		const char *end = strchr(line, '\n');
		size_t n;

		if (v) {
			n = end ? (size_t)(end - v) : strlen(v);
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') &&
			    v[n - 1] == v[0]) {
				v++;
				n -= 2;
			}
			n = MIN(n, sizeof(value) - 1);
			memcpy(value, v, n);
			value[n] = '\0';
			agent_sanitize(ret, size, value);
			return;
		}
		line = end ? end + 1 : NULL;
	}
}

int
facts_parse_route(const char *text, char *ret, size_t size)
{
	const char *line = text;
	unsigned long best_metric = ~0UL;
	struct in_addr best = {0};
	int found = 0;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		char iface[IFNAMSIZ + 1];
		unsigned long dest, gw, flags, refcnt, use, metric, mask;

		if (sscanf(line, "%16s %lx %lx %lx %lu %lu %lu %lx", iface,
			   &dest, &gw, &flags, &refcnt, &use, &metric,
			   &mask) == 8 &&
		    dest == 0 && mask == 0 && (flags & RTF_UP) &&
		    (flags & RTF_GATEWAY) && metric < best_metric) {
			best.s_addr =
				(in_addr_t)gw; /* as the kernel stores it */
			best_metric = metric;
			found = 1;
		}
		line = end ? end + 1 : NULL;
	}
	if (!found)
		return -ENOENT;
	if (!inet_ntop(AF_INET, &best, ret, (socklen_t)size))
		return -ENOSPC;
	return 0;
}

unsigned long
facts_parse_meminfo(const char *text)
{
	const char *p = strstr(text, "MemTotal:");
	unsigned long kb;

	if (p && (p == text || p[-1] == '\n') &&
	    sscanf(p, "MemTotal: %lu kB", &kb) == 1)
		return kb / 1024;
	return 0;
}

static void
collect_addresses(struct facts *f)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && f->n_addresses < FACTS_ADDRESSES_MAX;
	     i = i->ifa_next) {
		const struct sockaddr_in *sin;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
		if (inet_ntop(AF_INET, &sin->sin_addr,
			      f->addresses[f->n_addresses], INET_ADDRSTRLEN))
			f->n_addresses++;
	}
	freeifaddrs(ifa);
}

void
facts_collect(struct facts *f)
{
	_cleanup_free_ char *text = NULL;
	struct utsname u;
	long n;

	memset(f, 0, sizeof(*f));
	if (read_file("/etc/os-release", FACTS_FILE_MAX, &text, NULL) == 0 ||
	    read_file("/usr/lib/os-release", FACTS_FILE_MAX, &text, NULL) == 0)
		facts_parse_os_release(text, f->os, sizeof(f->os));
	free(TAKE_PTR(text));
	if (uname(&u) == 0) {
		agent_sanitize(f->arch, sizeof(f->arch), u.machine);
		agent_sanitize(f->kernel, sizeof(f->kernel), u.release);
	}
	collect_addresses(f);
	if (read_file("/proc/net/route", FACTS_FILE_MAX, &text, NULL) == 0 &&
	    facts_parse_route(text, f->default_route,
			      sizeof(f->default_route)) < 0)
		f->default_route[0] = '\0';
	free(TAKE_PTR(text));
	n = sysconf(_SC_NPROCESSORS_ONLN);
	f->cpus = n > 0 ? (unsigned)MIN(n, 1L << 20) : 0;
	if (read_file("/proc/meminfo", FACTS_FILE_MAX, &text, NULL) == 0)
		f->mem_mb = facts_parse_meminfo(text);
}

int
facts_to_json(const struct facts *f, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *j = NULL, *addrs = NULL;
	size_t i;

	addrs = json_array();
	if (!addrs)
		return -ENOMEM;
	for (i = 0; i < f->n_addresses; i++)
		if (json_array_append_new(addrs, json_string(f->addresses[i])) <
		    0)
			return -ENOMEM;
	j = json_pack("{s:s, s:s, s:s, s:O, s:I, s:I}", "os", f->os, "arch",
		      f->arch, "kernel", f->kernel, "addresses", addrs, "cpus",
		      (json_int_t)f->cpus, "mem_mb", (json_int_t)f->mem_mb);
	if (!j)
		return -ENOMEM;
	if (f->default_route[0] &&
	    json_object_set_new(j, "default_route",
				json_string(f->default_route)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(j);
	return 0;
}
