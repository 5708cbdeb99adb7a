/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests): what the API server and kubeadm stand-ins
 * share: bootstrap token syntax, kubeconfig files, the detached HS256 JWS
 * of the cluster-info ConfigMap, strict base64 and RFC 3339. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* "abcdef", "0123456789abcdef", "abcdef.0123456789abcdef". */
bool bootstrap_token_id_is_valid(const char *s);
bool bootstrap_token_secret_is_valid(const char *s);
bool bootstrap_token_is_valid(const char *s);
/* True when s contains something shaped like a bootstrap token. */
bool bootstrap_token_in(const char *s);

/* A kubeconfig (YAML) a real kubectl reads: one cluster "kubernetes";
 * with user NULL, no user and no context (the cluster-info form). */
int kubeconfig_format(const char *server, const char *ca_pem, const char *user,
		      const char *cert_pem, const char *key_pem, char **ret);
/* The PEM of the first certificate-authority-data in a kubeconfig that
 * kubeconfig_format() wrote. */
int kubeconfig_ca_pem(const char *yaml, char **ret);

/* Strict RFC 4648 §4 base64 with padding; the result is NUL-terminated. */
int b64std_decode(const char *s, char **ret, size_t *ret_len);
/* "2025-11-24T23:01:31Z", optional fraction, "Z" or "+hh:mm". */
int rfc3339_parse(const char *s, time_t *ret);
void rfc3339_format(time_t t, char *buf, size_t size);

/* Kubernetes' bootstrap signer: header..signature, HS256 keyed with the
 * whole token "id.secret", header {"alg":"HS256","kid":"<id>"}. */
int detached_jws_sign(const char *content, const char *token, char **ret);
/* 0 when jws is valid for content under token; -EBADMSG otherwise. */
int detached_jws_verify(const char *jws, const char *content,
			const char *token);
