/* SPDX-License-Identifier: MIT */
/* The enroll step's parts: the node key and CSR (the node's identity, kept
 * across retries), and the strict check of the server's answer. */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "name.h"

#define ENROLL_KEY_FILE "node.key"
#define ENROLL_CSR_FILE "node.csr"
#define ENROLL_CERT_FILE "node.crt"
#define ENROLL_CA_FILE "ca.crt"
#define ENROLL_ANSWER_FILE "enroll.json"
#define ENROLL_CSR_MAX (8 * 1024)

/* dir/node.key when it exists (it must be a P-256 key), else a new P-256
 * key saved there 0600 before anything is sent. */
int agent_key_load_or_create(const char *dir, EVP_PKEY **ret);
/* PKCS#10 for key with subject CN = cn and no extensions, as PEM. */
int agent_csr_make(EVP_PKEY *key, const char *cn, char **ret_pem);
/* dir/node.csr when it exists and is for key, else a new one saved. */
int agent_csr_load_or_create(const char *dir, EVP_PKEY *key, const char *cn,
			     char **ret_pem);

struct agent_answer {
	char node[NAME_MAX_LEN + 1];
	char site[NAME_MAX_LEN + 1];
	X509 *cert;
	X509 *ca;
	int repeat; /* the server knew this key already */
};

void agent_answer_done(struct agent_answer *a);
/* Strict: node is a DNS label and the certificate's CN, site is the
 * token's, the certificate parses, carries key's public key, and the CA
 * (which must be a CA) verifies it for client use. err says what is
 * wrong. */
int agent_answer_check(json_t *j, EVP_PKEY *key, const char *site,
		       struct agent_answer *ret, char *err, size_t errsz);
/* ca.crt and node.crt (0644), then enroll.json (0600, the whole answer). */
int agent_answer_save(const char *dir, json_t *j, const struct agent_answer *a);
