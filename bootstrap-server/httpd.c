/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "httpd.h"
#include "log.h"
#include "ossl.h"

#define HTTPD_LISTENERS_MAX 8

struct httpd {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx;
	struct evconnlistener *listeners[HTTPD_LISTENERS_MAX];
	size_t n_listeners;
	unsigned connections;
	unsigned max_connections;
	unsigned lifetime;
	struct httpd_conn *conns; /* every open connection */
	struct event *sweep;
	bool paused;
	bool closing; /* evhttp_free() under way: listeners are gone */
};

/* One accepted connection, hung on its SSL object's ex_data. */
struct httpd_conn {
	struct httpd *h;
	struct bufferevent *bev;
	time_t deadline; /* CLOCK_MONOTONIC seconds */
	struct httpd_conn *prev, *next;
};

static int ssl_conn_index = -1;

static time_t
monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void
set_paused(struct httpd *h, bool pause)
{
	size_t i;

	if (h->paused == pause)
		return;
	for (i = 0; i < h->n_listeners; i++) {
		if (pause)
			evconnlistener_disable(h->listeners[i]);
		else
			evconnlistener_enable(h->listeners[i]);
	}
	h->paused = pause;
	if (pause)
		log_warning("connection cap (%u) reached: pausing accept",
			    h->max_connections);
}

/* Runs when OpenSSL frees a connection's SSL object, which evhttp does
 * when it closes the connection: the one hook that sees every close. */
static void
conn_closed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	    void *argp)
{
	struct httpd_conn *c = ptr;
	struct httpd *h;

	if (!c)
		return;
	h = c->h;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	h->connections--;
	if (!h->closing && h->connections < h->max_connections)
		set_paused(h, false);
}

/* The inactivity timeout alone lets a client that sends one byte at a
 * time hold a connection forever; past its lifetime a connection is shut
 * down, and evhttp then closes it as if the client had gone. */
static void
sweep_connections(evutil_socket_t fd_unused, short what, void *userdata)
{
	struct httpd *h = userdata;
	time_t now = monotonic_now();
	struct httpd_conn *c;

	for (c = h->conns; c; c = c->next) {
		evutil_socket_t fd;
		if (now < c->deadline || !c->bev)
			continue;
		fd = bufferevent_getfd(c->bev);
		if (fd >= 0)
			(void)shutdown(fd, SHUT_RDWR);
		c->deadline = now + 5; /* once more later, if need be */
	}
}

static struct bufferevent *
new_connection(struct event_base *base, void *userdata)
{
	struct httpd *h = userdata;
	struct httpd_conn *c;
	SSL *ssl;

	c = calloc(1, sizeof(*c));
	ssl = c ? SSL_new(h->ctx) : NULL;
	if (!ssl) {
		free(c);
		return NULL;
	}
	c->h = h;
	c->deadline = monotonic_now() + (time_t)h->lifetime;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->connections++;
	SSL_set_ex_data(ssl, ssl_conn_index, c);
	if (h->connections >= h->max_connections)
		set_paused(h, true);
	c->bev = bufferevent_openssl_socket_new(base, -1, ssl,
						BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		SSL_free(ssl); /* and so conn_closed(c) */
		return NULL;
	}
	return c->bev;
}

static int
accept_any_client_cert(int preverify_ok, X509_STORE_CTX *ctx)
{
	/* The handshake never fails over a client certificate: requests
	 * that need one check SSL_get_verify_result() and answer with a
	 * JSON error instead of a TLS alert. */
	return 1;
}

int
httpd_tls_context(const char *cert_path, const char *key_path,
		  X509 *client_ca, SSL_CTX **ret)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509_STORE *store;

	if (!ctx)
		return ossl_error(-ENOMEM, "SSL_CTX_new");
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return ossl_error(-EINVAL, "TLS key/certificate");
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
	if (client_ca) {
		store = SSL_CTX_get_cert_store(ctx);
		if (X509_STORE_add_cert(store, client_ca) != 1) {
			SSL_CTX_free(ctx);
			return ossl_error(-EINVAL, "client CA");
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER,
				   accept_any_client_cert);
		SSL_CTX_set_verify_depth(ctx, 1);
		SSL_CTX_set_session_id_context(
			ctx, (const unsigned char *)"geostage", 8);
	}
	*ret = ctx;
	return 0;
}

static int
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hn;
	char *end;
	long port;

	if (!colon || strlen(listen) > 60)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == '\0')
		return -EINVAL;
	hn = (size_t)(colon - listen);
	if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		memcpy(host, h + 1, hn - 2);
		host[hn - 2] = '\0';
		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		memcpy(host, h, hn);
		host[hn] = '\0';
		memset(s4, 0, sizeof(*s4));
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		*len = sizeof(*s4);
	}
	return 0;
}

int
httpd_bind(const char *listen_addr, int *ret_fd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, r;

	r = parse_listen(listen_addr, &ss, &len);
	if (r < 0)
		return log_error_errno(r, "invalid listen address '%s' "
					  "(want ADDR:PORT or [ADDR]:PORT)",
				       listen_addr);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return log_error_errno(errno, "socket: %m");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		r = log_error_errno(errno, "cannot listen on %s: %m",
				    listen_addr);
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int
httpd_new(struct event_base *base, SSL_CTX *ctx,
	  const struct httpd_limits *limits, httpd_handler handler,
	  void *userdata, struct httpd **ret)
{
	struct httpd *h;

	if (ssl_conn_index < 0) {
		ssl_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
						      conn_closed);
		if (ssl_conn_index < 0)
			return -ENOMEM;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->base = base;
	h->ctx = ctx;
	h->max_connections = limits->max_connections;
	h->lifetime = limits->lifetime;
	h->http = evhttp_new(base);
	h->sweep = event_new(base, -1, EV_PERSIST, sweep_connections, h);
	if (!h->http || !h->sweep ||
	    event_add(h->sweep, &(struct timeval){1, 0}) < 0) {
		if (h->http)
			evhttp_free(h->http);
		if (h->sweep)
			event_free(h->sweep);
		free(h);
		return -ENOMEM;
	}
	evhttp_set_bevcb(h->http, new_connection, h);
	evhttp_set_gencb(h->http, handler, userdata);
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)limits->max_headers);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)limits->max_body);
	evhttp_set_timeout(h->http, (int)limits->timeout);
	evhttp_set_allowed_methods(
		h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
				 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
				 EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
	evhttp_set_default_content_type(h->http, "application/json");
	*ret = h;
	return 0;
}

int
httpd_add_listener(struct httpd *h, int fd)
{
	struct evconnlistener *l;

	if (h->n_listeners >= HTTPD_LISTENERS_MAX) {
		close(fd);
		return -E2BIG;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	l = evconnlistener_new(h->base, NULL, NULL,
			       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
			       0, fd);
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	if (!evhttp_bind_listener(h->http, l)) {
		evconnlistener_free(l);
		return -ENOMEM;
	}
	h->listeners[h->n_listeners++] = l;
	return 0;
}

unsigned
httpd_connections(const struct httpd *h)
{
	return h->connections;
}

void
httpd_free(struct httpd *h)
{
	if (!h)
		return;
	/* Frees the bound listeners, then every connection (and so runs
	 * conn_closed, which must not touch the listeners any more). */
	h->closing = true;
	event_free(h->sweep);
	evhttp_free(h->http);
	free(h);
}

static SSL *
request_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c)
				    : NULL;

	return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

X509 *
httpd_peer_cert(struct evhttp_request *req)
{
	SSL *ssl = request_ssl(req);
	X509 *peer;

	if (!ssl)
		return NULL;
	peer = SSL_get0_peer_certificate(ssl);
	if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return peer;
}

void
httpd_peer_addr(struct evhttp_request *req, char *buf, size_t size)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	const char *addr = NULL;
	ev_uint16_t port;

	if (c)
		evhttp_connection_get_peer(c, (char **)&addr, &port);
	snprintf(buf, size, "%s", addr ? addr : "unknown");
}
