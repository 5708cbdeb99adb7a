/* SPDX-License-Identifier: MIT */
/* Enrollment token claims (DESIGN §2): parsed and validated in one place,
 * by the server after the signature and by the agent before it trusts the
 * token's issuer and pin. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define TOKEN_ID_LEN 26		/* base32 characters: 130 bits */
#define TOKEN_ISS_MAX 4
#define TOKEN_URL_MAX 255
#define TOKEN_LABELS_MAX 32
#define TOKEN_USES_MAX 100000
#define TOKEN_TTL_MAX (366LL * 86400)

struct token_claims {
	char *jti;
	char *iss[TOKEN_ISS_MAX];
	size_t n_iss;
	char *pin;
	char *site;
	char *role; /* "node" or "gateway" */
	int64_t iat;
	int64_t exp;
	unsigned max;
	json_t *labels; /* object: label key -> value */
};

void token_claims_free(struct token_claims *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct token_claims *, token_claims_free)

/* Strict: jti, iss, pin, site, role, exp and max present (iat and labels
 * optional), each of its type and within bounds; unknown claims are
 * refused so that a token means exactly what it says. */
int token_claims_from_json(json_t *j, struct token_claims **ret);
int token_claims_to_json(const struct token_claims *c, json_t **ret);

bool token_id_is_valid(const char *jti);
bool token_pin_is_valid(const char *pin);
/* https://HOST[:PORT][/], HOST a DNS name, IPv4 or [IPv6]; no userinfo,
 * query or fragment. */
bool token_url_is_valid(const char *url);
bool token_role_is_valid(const char *role);
/* Label keys under geostage.io/ belong to geostage. */
bool token_label_is_allowed(const char *key, const char *value);
