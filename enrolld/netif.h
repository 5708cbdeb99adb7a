/* SPDX-License-Identifier: MIT */
/* Addresses: strict parsers for what the server sends (IPv4, CIDR,
 * HOST:PORT), and what this host has (interface addresses, the default
 * gateway). */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define NETIF_HOST_MAX 253
#define NETIF_HOSTPORT_MAX (NETIF_HOST_MAX + 8)

/* A dotted quad as inet_pton() takes it. */
bool netif_ipv4_valid(const char *s);
/* "A.B.C.D/N", N in 0..32, no host bits set. */
int netif_parse_cidr(const char *s, struct in_addr *ret_net, unsigned *ret_len);
bool netif_in_cidr(const char *addr, const char *cidr);
/* "HOST:PORT": HOST a DNS name or a dotted quad, PORT 1..65535. Bracketed
 * IPv6 is refused: the VPN and the lab are IPv4. */
int netif_split_host_port(const char *s, char host[NETIF_HOST_MAX + 1],
			  unsigned *ret_port);
/* The interface that holds addr; -ENOENT when none does. */
int netif_find_address(const char *addr, char ret_ifname[IF_NAMESIZE]);
/* The first address of an up interface inside cidr. */
int netif_address_in(const char *cidr, char ret[INET_ADDRSTRLEN],
		     char ret_ifname[IF_NAMESIZE]);
/* The gateway of the default route; -ENOENT when there is none. */
int netif_default_gateway(char ret[INET_ADDRSTRLEN]);
