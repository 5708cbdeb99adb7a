/* SPDX-License-Identifier: MIT */
/* IPv4 networks for the VPN: parsing, formatting and the address plan.
 * Addresses are host-order integers. The network's first host is the
 * OpenVPN server's; nodes get the hosts after it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ipnet {
	uint32_t addr;
	unsigned prefix;
};

/* Strict "a.b.c.d/len": the address must be the network address. */
int ipnet_parse(const char *cidr, struct ipnet *ret);
int ipnet_parse_addr(const char *s, uint32_t *ret);
void ipnet_format_addr(uint32_t addr, char buf[16]);
void ipnet_format(const struct ipnet *n, char buf[19]);
uint32_t ipnet_netmask(const struct ipnet *n);
bool ipnet_contains(const struct ipnet *n, uint32_t addr);
bool ipnet_overlaps(const struct ipnet *a, const struct ipnet *b);
uint32_t ipnet_server_addr(const struct ipnet *n);
/* The range nodes are given: [first, last]. Empty when first > last. */
uint32_t ipnet_first_node(const struct ipnet *n);
uint32_t ipnet_last_node(const struct ipnet *n);
