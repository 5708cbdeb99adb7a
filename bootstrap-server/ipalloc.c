/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipalloc.h"

int
ipnet_parse_addr(const char *s, uint32_t *ret)
{
	struct in_addr a;

	/* inet_pton accepts only the dotted-quad form, no octal or short. */
	if (!s || strlen(s) > 15 || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

int
ipnet_parse(const char *cidr, struct ipnet *ret)
{
	char buf[20];
	const char *slash;
	char *end;
	unsigned long prefix;
	uint32_t addr;
	struct ipnet n;

	if (!cidr || strlen(cidr) >= sizeof(buf))
		return -EINVAL;
	slash = strchr(cidr, '/');
	if (!slash || slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	memcpy(buf, cidr, (size_t)(slash - cidr));
	buf[slash - cidr] = '\0';
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (errno || *end || prefix > 32 || strlen(slash + 1) > 2)
		return -EINVAL;
	if (ipnet_parse_addr(buf, &addr) < 0)
		return -EINVAL;
	n.addr = addr;
	n.prefix = (unsigned)prefix;
	if ((addr & ipnet_netmask(&n)) != addr)
		return -EINVAL;
	*ret = n;
	return 0;
}

void
ipnet_format_addr(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255,
		 (addr >> 8) & 255, addr & 255);
}

void
ipnet_format(const struct ipnet *n, char buf[19])
{
	char a[16];

	ipnet_format_addr(n->addr, a);
	snprintf(buf, 19, "%s/%u", a, n->prefix);
}

uint32_t
ipnet_netmask(const struct ipnet *n)
{
	return n->prefix == 0 ? 0 : UINT32_MAX << (32 - n->prefix);
}

bool
ipnet_contains(const struct ipnet *n, uint32_t addr)
{
	return (addr & ipnet_netmask(n)) == n->addr;
}

bool
ipnet_overlaps(const struct ipnet *a, const struct ipnet *b)
{
	return ipnet_contains(a, b->addr) || ipnet_contains(b, a->addr);
}

uint32_t
ipnet_server_addr(const struct ipnet *n)
{
	return n->addr + 1;
}

uint32_t
ipnet_first_node(const struct ipnet *n)
{
	return n->addr + 2;
}

uint32_t
ipnet_last_node(const struct ipnet *n)
{
	/* Without the broadcast address; /31 and /32 leave no room. */
	if (n->prefix >= 31)
		return 0;
	return (n->addr | ~ipnet_netmask(n)) - 1;
}
