/* SPDX-License-Identifier: MIT */
/* HTTPS transport: libevent's evhttp over bufferevent_openssl, with TLS
 * 1.2+ (1.3 preferred), optional client certificates checked against the
 * node CA, bounded headers and bodies, inactivity timeouts, a lifetime per
 * connection, and a cap on open connections (past it, the listeners pause and the kernel backlog
 * holds new clients). */
#pragma once

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>

struct httpd_limits {
	unsigned max_connections;
	unsigned timeout;  /* seconds of inactivity */
	unsigned lifetime; /* seconds a connection may stay open at most */
	size_t max_headers;
	size_t max_body;
};

struct httpd;

typedef void (*httpd_handler)(struct evhttp_request *req, void *userdata);

int httpd_tls_context(const char *cert_path, const char *key_path,
		      X509 *client_ca, SSL_CTX **ret);
/* "ADDR:PORT" or "[V6ADDR]:PORT": a bound, listening, non-blocking
 * socket. */
int httpd_bind(const char *listen, int *ret_fd);
int httpd_new(struct event_base *base, SSL_CTX *ctx,
	      const struct httpd_limits *limits, httpd_handler handler,
	      void *userdata, struct httpd **ret);
/* Takes ownership of a listening socket. */
int httpd_add_listener(struct httpd *h, int fd);
unsigned httpd_connections(const struct httpd *h);
void httpd_free(struct httpd *h);

/* The client certificate, if the client sent one that verified against the
 * node CA (borrowed; NULL otherwise). */
X509 *httpd_peer_cert(struct evhttp_request *req);
/* The client's address as text, without port. */
void httpd_peer_addr(struct evhttp_request *req, char *buf, size_t size);
