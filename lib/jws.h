/* SPDX-License-Identifier: MIT */
/* Compact JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037): the only
 * algorithm geostage signs or accepts. */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* Upper bound on any token or JWS geostage handles. */
#define JWS_MAX_LEN 4096

/* "kid" for a key: base64url of the first 12 bytes of its SPKI SHA-256. */
int jws_key_id(EVP_PKEY *key, char **ret);
int jws_sign(EVP_PKEY *key, const char *payload, char **ret);
/* Checks the header (alg EdDSA, kid matching the key, no "crit"), the
 * signature, and that the payload is one JSON object. */
int jws_verify(EVP_PKEY *key, const char *jws, size_t len, json_t **ret_claims);
/* The same with the key's id computed once by the caller (jws_key_id): a
 * server verifying many tokens need not re-encode its key each time. */
int jws_verify_kid(EVP_PKEY *key, const char *kid, const char *jws, size_t len,
		   json_t **ret_claims);
/* Parses without verifying: for the agent, which trusts the token's pin
 * rather than a key. */
int jws_decode_unverified(const char *jws, size_t len, json_t **ret_claims);
/* The public key as a JWK: {kty: OKP, crv: Ed25519, x, kid, alg, use}. */
int jws_public_jwk(EVP_PKEY *key, json_t **ret);
