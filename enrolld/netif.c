/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdint.h>

#include "facts.h"
#include "fileio.h"
#include "macro.h"
#include "netif.h"

bool
netif_ipv4_valid(const char *s)
{
	struct in_addr a;

	return s && strlen(s) < INET_ADDRSTRLEN &&
	       inet_pton(AF_INET, s, &a) == 1;
}

int
netif_parse_cidr(const char *s, struct in_addr *ret_net, unsigned *ret_len)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	struct in_addr a;
	unsigned long len;
	char *end;
	uint32_t mask;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1] ||
	    slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 2)
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	len = strtoul(slash + 1, &end, 10);
	if (*end || len > 32)
		return -EINVAL;
	mask = len ? htonl(~UINT32_C(0) << (32 - len)) : 0;
	if ((a.s_addr & ~mask) != 0)
		return -EINVAL;
	if (ret_net)
		*ret_net = a;
	if (ret_len)
		*ret_len = (unsigned)len;
	return 0;
}

bool
netif_in_cidr(const char *addr, const char *cidr)
{
	struct in_addr a, net;
	unsigned len;
	uint32_t mask;

	if (inet_pton(AF_INET, addr, &a) != 1 ||
	    netif_parse_cidr(cidr, &net, &len) < 0)
		return false;
	mask = len ? htonl(~UINT32_C(0) << (32 - len)) : 0;
	return (a.s_addr & mask) == net.s_addr;
}

static bool
dns_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > NETIF_HOST_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0 || s[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-') ||
		    ++label > 63)
			return false;
	}
	return s[-1] != '-';
}

int
netif_split_host_port(const char *s, char host[NETIF_HOST_MAX + 1],
		      unsigned *ret_port)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	unsigned long port;
	size_t n;
	char *end;

	if (!colon || colon == s || !colon[1] || colon[1] < '1' ||
	    colon[1] > '9' || strlen(colon + 1) > 5)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n > NETIF_HOST_MAX)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (!dns_name_valid(host))
		return -EINVAL;
	if (ret_port)
		*ret_port = (unsigned)port;
	return 0;
}

typedef bool (*addr_match)(const struct in_addr *a, const void *userdata);

static int
find(addr_match match, const void *userdata, char ret[INET_ADDRSTRLEN],
     char ret_ifname[IF_NAMESIZE])
{
	struct ifaddrs *ifa, *i;
	int r = -ENOENT;

	if (getifaddrs(&ifa) < 0)
		return negative_errno();
	for (i = ifa; i; i = i->ifa_next) {
		const struct sockaddr_in *sin;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
		if (!match(&sin->sin_addr, userdata))
			continue;
		if (ret)
			inet_ntop(AF_INET, &sin->sin_addr, ret,
				  INET_ADDRSTRLEN);
		if (ret_ifname)
			snprintf(ret_ifname, IF_NAMESIZE, "%s", i->ifa_name);
		r = 0;
		break;
	}
	freeifaddrs(ifa);
	return r;
}

static bool
match_equal(const struct in_addr *a, const void *userdata)
{
	return a->s_addr == ((const struct in_addr *)userdata)->s_addr;
}

int
netif_find_address(const char *addr, char ret_ifname[IF_NAMESIZE])
{
	struct in_addr a;

	if (!addr || inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	return find(match_equal, &a, NULL, ret_ifname);
}

struct net {
	struct in_addr net;
	uint32_t mask;
};

static bool
match_net(const struct in_addr *a, const void *userdata)
{
	const struct net *n = userdata;

	return (a->s_addr & n->mask) == n->net.s_addr;
}

int
netif_address_in(const char *cidr, char ret[INET_ADDRSTRLEN],
		 char ret_ifname[IF_NAMESIZE])
{
	struct net n;
	unsigned len;
	int r;

	r = netif_parse_cidr(cidr, &n.net, &len);
	if (r < 0)
		return r;
	n.mask = len ? htonl(~UINT32_C(0) << (32 - len)) : 0;
	return find(match_net, &n, ret, ret_ifname);
}

int
netif_default_gateway(char ret[INET_ADDRSTRLEN])
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = read_file("/proc/net/route", 256 * 1024, &text, NULL);
	if (r < 0)
		return r;
	return facts_parse_route(text, ret, INET_ADDRSTRLEN);
}
