/* SPDX-License-Identifier: MIT */
/* Fuzz target: the CSR policy (ca_csr_check). Besides crashes and
 * sanitizer reports, it aborts when an accepted request breaks the policy:
 * the key it hands out must be a P-256 EC key. */
#include "config.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *pub = NULL;
	const char *reason = NULL;
	char name[32];
	size_t n = sizeof(name);

	if (ca_csr_check((const char *)data, size, &pub, &reason) < 0) {
		if (!reason) {
			fprintf(stderr, "refusal without a reason\n");
			abort();
		}
		return 0;
	}
	if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_group_name(pub, name, sizeof(name), &n) ||
	    strcmp(name, "prime256v1") != 0) {
		fprintf(stderr, "accepted a key that is not P-256\n");
		abort();
	}
	EVP_PKEY_free(pub);
	return 0;
}
