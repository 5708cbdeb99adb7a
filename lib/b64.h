/* SPDX-License-Identifier: MIT */
/* Base64 (RFC 4648 §4) and base64url without padding (§5, as JWS uses it). */
#pragma once

#include <stddef.h>
#include <stdint.h>

int b64_encode(const void *data, size_t len, char **ret);
int b64url_encode(const void *data, size_t len, char **ret);
/* Strict: rejects padding, whitespace and non-alphabet bytes. The result is
 * NUL-terminated for convenience (not counted in *ret_len). */
int b64url_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
/* Standard alphabet with its '=' padding (a multiple of 4 characters), as
 * kubeconfig and Kubernetes Secret data use; otherwise as strict. */
int b64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);
