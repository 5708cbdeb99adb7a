/* SPDX-License-Identifier: MIT */
/* Enrollment and progress, independent of HTTP: given the bearer token or
 * the peer certificate and the request body, decide the answer. */
#pragma once

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "server.h"

#define ENROLL_HOSTNAME_MAX 253
#define ENROLL_FACTS_MAX 4096
#define ENROLL_MESSAGE_MAX 512

struct enroll_answer {
	int status;	   /* HTTP status */
	const char *error; /* error code, NULL on success */
	char message[256];
	unsigned retry_after; /* seconds, for 429/503 */
	json_t *body;	      /* on success */
	char jti[65];	      /* for logs: the token id once known */
	char node[64];
	bool repeat;	      /* same key came back: no use spent */
};

void enroll_answer_done(struct enroll_answer *a);

/* The body of POST /v1/enroll, validated (docs/PROTOCOL.md). Strings
 * point into json. */
struct enroll_request {
	json_t *json;
	const char *csr;
	const char *hostname;
	const char *name;
	char *facts; /* compact JSON */
};

/* -EINVAL with *ret_why for a body that breaks the contract. */
int enroll_request_parse(const char *body, size_t len,
			 struct enroll_request *req, const char **ret_why);
void enroll_request_done(struct enroll_request *req);

int enroll_redeem(struct server *s, const char *token, size_t token_len,
		  const char *body, size_t body_len, int64_t now,
		  struct enroll_answer *ret);
/* peer: the verified client certificate, or NULL. */
int enroll_progress(struct server *s, X509 *peer, const char *body,
		    size_t body_len, int64_t now, struct enroll_answer *ret);
/* The node the certificate belongs to; -EPERM when revoked, -ENOENT when
 * unknown. */
int enroll_node_by_cert(struct server *s, X509 *peer, struct db_node *ret);
