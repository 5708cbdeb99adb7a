/* SPDX-License-Identifier: MIT */
/* Fuzz target: the POST /v1/enroll body parser (enroll_request_parse).
 * Besides crashes and sanitizer reports, it aborts when an accepted body
 * breaks the contract of docs/PROTOCOL.md. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"
#include "name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "invariant broken: %s\n", #cond);      \
			abort();                                               \
		}                                                              \
	} while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct enroll_request req = {0};
	const char *why = NULL;
	size_t i;
	int r;

	r = enroll_request_parse((const char *)data, size, &req, &why);
	if (r < 0) {
		CHECK(r != -EINVAL || why);
		enroll_request_done(&req);
		return 0;
	}
	CHECK(req.csr && strlen(req.csr) > 0 && strlen(req.csr) <= 8192);
	CHECK(req.hostname && strlen(req.hostname) <= ENROLL_HOSTNAME_MAX);
	for (i = 0; req.hostname[i]; i++)
		CHECK(req.hostname[i] >= 0x20 && req.hostname[i] < 0x7f);
	CHECK(!req.name ||
	      (name_is_dns_label(req.name) && !name_is_reserved(req.name)));
	CHECK(req.facts && strlen(req.facts) <= ENROLL_FACTS_MAX);
	enroll_request_done(&req);
	return 0;
}
