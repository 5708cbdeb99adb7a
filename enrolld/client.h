/* SPDX-License-Identifier: MIT */
/* The agent's HTTPS client over libcurl. The server's TLS public key is
 * pinned (CURLOPT_PINNEDPUBLICKEY): the pin is the only trust, checked in
 * the handshake before any byte of a request is sent; there is no unpinned
 * fallback. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLIENT_RESPONSE_MAX (256 * 1024)
#define CLIENT_ERROR_MAX 256

struct client_request {
	const char *base_url; /* an iss URL, "https://HOST[:PORT][/]" */
	const char *path;     /* "/v1/enroll" */
	const char *pin;      /* "sha256//..." */
	const char *bearer;   /* secret, NULL for none */
	const char *cert_file, *key_file; /* mTLS client identity, or NULL */
	const char *body;		  /* NULL: a GET */
	size_t body_len;
	unsigned connect_timeout_s;
	unsigned request_timeout_s;
};

struct client_response {
	long status;
	char *body; /* NUL-terminated */
	size_t body_len;
	int64_t retry_after_s;	      /* -1 when the server sent none */
	int64_t date;		      /* its Date: (unix s), -1 when none */
	char error[CLIENT_ERROR_MAX]; /* why a transfer failed */
};

int client_global_init(void);
void client_global_done(void);

/* Returns 0 when an HTTP answer came back, whatever its status. Transport
 * failures, with resp->error saying why: -EKEYREJECTED the server's key does
 * not match the pin; -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -ECONNRESET
 * (retryable); -EFBIG the answer exceeded CLIENT_RESPONSE_MAX; -EINVAL a bad
 * URL or a missing pin; -ENOKEY the client certificate or key could not be
 * used; -EIO anything else. */
int client_post_json(const struct client_request *req,
		     struct client_response *resp);
/* The same for a GET (req->body NULL). */
int client_get(const struct client_request *req, struct client_response *resp);
void client_response_done(struct client_response *resp);
/* Completes a TLS handshake with "HOST:PORT" and hangs up: is something
 * speaking TLS there? The peer is not authenticated (the Kubernetes API
 * server's certificate is checked by kubeadm against caCertHashes). 0
 * with the handshake's duration, or the errors of client_post_json() with
 * err saying why. */
int client_tls_probe(const char *host_port, unsigned connect_timeout_s,
		     long *ret_ms, char *err, size_t errsz);
bool client_error_is_retryable(int r);
/* The server's {"error": CODE, "message": MSG} answer, sanitized; "-" for
 * what is missing. */
void client_error_body(const struct client_response *resp, char *code,
		       size_t codesz, char *msg, size_t msgsz);
