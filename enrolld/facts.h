/* SPDX-License-Identifier: MIT */
/* What the agent tells the server about its host (PROTOCOL.md "facts"),
 * every field bounded so that the object stays well under 4 KiB. */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <stddef.h>

#define FACTS_TEXT_MAX 128
#define FACTS_ADDRESSES_MAX 16

struct facts {
	char os[FACTS_TEXT_MAX];
	char arch[FACTS_TEXT_MAX];
	char kernel[FACTS_TEXT_MAX];
	char addresses[FACTS_ADDRESSES_MAX][INET_ADDRSTRLEN];
	size_t n_addresses;
	char default_route[INET_ADDRSTRLEN]; /* "" when none */
	unsigned cpus;
	unsigned long mem_mb;
};

/* Never fails for a missing source: a fact that cannot be read is left
 * empty (or 0). */
void facts_collect(struct facts *f);
int facts_to_json(const struct facts *f, json_t **ret);

/* Parsers over file contents, for /etc/os-release, /proc/net/route and
 * /proc/meminfo. */
void facts_parse_os_release(const char *text, char *ret, size_t size);
/* The gateway of the lowest-metric default route; -ENOENT when none. */
int facts_parse_route(const char *text, char *ret, size_t size);
/* MemTotal in MiB; 0 when absent. */
unsigned long facts_parse_meminfo(const char *text);
