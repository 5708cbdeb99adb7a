/* SPDX-License-Identifier: MIT */
/* kube-apiserver-standin: a STAND-IN for the Kubernetes API server, for
 * geostage's tests only (see README.md). It serves HTTPS through the
 * project's httpd (libevent + OpenSSL), authenticates clients by
 * certificates signed by its own cluster CA, and implements only what
 * geostage and the kubeadm stand-in call. */
#include "config.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>

#include "apiserver.h"
#include "common.h"
#include "crypto.h"
#include "fileio.h"
#include "httpd.h"
#include "log.h"
#include "ossl.h"
#include "pki.h"

#define SANS_MAX 16

struct options {
	const char *listen, *port_file, *state_dir, *version;
	const char *sans[SANS_MAX];
	size_t n_sans;
};

static void
usage(void)
{
	printf("Usage: kube-apiserver-standin --state-dir D [--listen "
	       "ADDR:PORT]"
	       " [--port-file F]\n"
	       "       [--san IP|NAME]... [--version v1.31.2]\n\n"
	       "A STAND-IN for the Kubernetes API server, for geostage's "
	       "tests only.\n");
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"port-file", required_argument, NULL, 'p'},
		{"state-dir", required_argument, NULL, 's'},
		{"san", required_argument, NULL, 'a'},
		{"version", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{}};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		if (c == 'l')
			o->listen = optarg;
		else if (c == 'p')
			o->port_file = optarg;
		else if (c == 's')
			o->state_dir = optarg;
		else if (c == 'v')
			o->version = optarg;
		else if (c == 'a' && o->n_sans < SANS_MAX)
			o->sans[o->n_sans++] = optarg;
		else if (c == 'h') {
			usage();
			exit(0);
		} else
			return -EINVAL;
	}
	if (!o->state_dir || optind != argc)
		return -EINVAL;
	return 0;
}

static bool
is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* "IP:x" or "DNS:x" for a --san value; the character set keeps it from
 * adding anything to OpenSSL's extension syntax. */
static int
san_entry(const char *v, char *buf, size_t size)
{
	const char *bare = v;

	if (strncmp(v, "IP:", 3) == 0)
		bare = v + 3;
	else if (strncmp(v, "DNS:", 4) == 0)
		bare = v + 4;
	if (!*bare || strspn(bare, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
				   "QRSTUVWXYZ0123456789.-:") != strlen(bare))
		return -EINVAL;
	snprintf(buf, size, "%s:%s", is_ip(bare) ? "IP" : "DNS", bare);
	return 0;
}

/* The listen address's host ("" for a wildcard), without brackets. */
static void
listen_host(const char *listen, char *buf, size_t size)
{
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : 0;

	if (n >= 2 && listen[0] == '[')
		snprintf(buf, size, "%.*s", (int)(n - 2), listen + 1);
	else
		snprintf(buf, size, "%.*s", (int)n, listen);
	if (streq(buf, "0.0.0.0") || streq(buf, "::"))
		buf[0] = '\0';
}

static void
append_san(char *san, size_t size, const char *e)
{
	char probe[160];

	snprintf(probe, sizeof(probe), ",%s,", e);
	if (strlen(san) + strlen(e) + 2 > size)
		return;
	strcat(san, ",");
	if (!strstr(san, probe) && strncmp(san, probe + 1, strlen(e) + 1) != 0)
		strcat(san, e);
	else
		san[strlen(san) - 1] = '\0';
}

static int
build_sans(const struct options *o, const char *host, char *san, size_t size,
	   char *url_host, size_t url_size)
{
	char e[128];
	size_t i;

	snprintf(san, size,
		 "DNS:kubernetes,DNS:kubernetes.default,"
		 "DNS:kubernetes.default.svc,"
		 "DNS:kubernetes.default.svc.cluster.local");
	snprintf(url_host, url_size, "%s", host);
	if (*host) {
		if (san_entry(host, e, sizeof(e)) < 0)
			return -EINVAL;
		append_san(san, size, e);
	}
	for (i = 0; i < o->n_sans; i++) {
		if (san_entry(o->sans[i], e, sizeof(e)) < 0)
			return log_error_errno(EINVAL, "bad --san '%s'",
					       o->sans[i]);
		append_san(san, size, e);
		if (!*url_host)
			snprintf(url_host, url_size, "%s", strchr(e, ':') + 1);
	}
	if (!*url_host)
		snprintf(url_host, url_size, "127.0.0.1");
	return 0;
}

static int
save_pair(const char *dir, const char *base, EVP_PKEY *key, X509 *cert)
{
	char p[4096];
	int r;

	snprintf(p, sizeof(p), "%s/%s.key", dir, base);
	if ((r = crypto_key_save(p, key, 0600)) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/%s.crt", dir, base);
	return crypto_cert_save(p, cert, 0644);
}

/* STATE/kubeconfig: the cluster admin's credentials for a real kubectl,
 * curl, or geostage-bootstrap's Kubernetes client. */
static int
write_kubeconfig(struct apiserver *a)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(X509_freep) X509 *cert = NULL;
	_cleanup_free_ char *cert_pem = NULL;
	_cleanup_erase_ char *key_pem = NULL, *kc = NULL;
	struct pki_leaf leaf = {
		.cn = "kubernetes-admin", .org = "system:masters", .days = 365};
	char path[4096];
	int r;

	if ((r = pki_issue(a->ca_key, a->ca, &leaf, &key, &cert)) < 0 ||
	    (r = crypto_cert_to_pem(cert, &cert_pem)) < 0 ||
	    (r = pki_key_to_pem(key, &key_pem)) < 0 ||
	    (r = kubeconfig_format(a->server_url, a->ca_pem, "kubernetes-admin",
				   cert_pem, key_pem, &kc)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/kubeconfig", a->state_dir);
	return write_file_atomic(path, kc, strlen(kc), 0600);
}

static int
bound_port(int fd)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return ntohs(ss.ss_family == AF_INET6
			     ? ((struct sockaddr_in6 *)&ss)->sin6_port
			     : ((struct sockaddr_in *)&ss)->sin_port);
}

static int
setup_pki(struct apiserver *a, const struct options *o, int port)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(X509_freep) X509 *cert = NULL;
	char host[64], url_host[128], san[2048];
	struct pki_leaf leaf = {.cn = "kube-apiserver",
				.san = san,
				.server = true,
				.days = 365};
	int r;

	listen_host(o->listen, host, sizeof(host));
	if ((r = build_sans(o, host, san, sizeof(san), url_host,
			    sizeof(url_host))) < 0)
		return r;
	if ((r = pki_ca_load_or_create(a->state_dir, &a->ca_key, &a->ca)) < 0 ||
	    (r = crypto_cert_to_pem(a->ca, &a->ca_pem)) < 0 ||
	    (r = pki_issue(a->ca_key, a->ca, &leaf, &key, &cert)) < 0 ||
	    (r = save_pair(a->state_dir, "apiserver", key, cert)) < 0)
		return log_error_errno(r,
				       "cannot set up the cluster CA and "
				       "certificates in %s",
				       a->state_dir);
	if (asprintf(&a->server_url,
		     strchr(url_host, ':') ? "https://[%s]:%d"
					   : "https://%s:%d",
		     url_host, port) < 0)
		return -ENOMEM;
	log_info("serving certificate SANs: %s", san);
	return write_kubeconfig(a);
}

static void
on_signal(evutil_socket_t sig, short what, void *base)
{
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(base);
}

struct loop {
	struct event_base *base;
	struct event *sterm, *sint;
	struct httpd *httpd;
	SSL_CTX *ctx;
};

static void
loop_free(struct loop *l)
{
	if (l->sterm)
		event_free(l->sterm);
	if (l->sint)
		event_free(l->sint);
	httpd_free(l->httpd);
	SSL_CTX_free(l->ctx);
	if (l->base)
		event_base_free(l->base);
}

/* Takes ownership of fd. */
static int
loop_setup(struct apiserver *a, struct loop *l, int fd)
{
	struct httpd_limits limits = {.max_connections = 256,
				      .timeout = 30,
				      .lifetime = 300,
				      .max_headers = 16384,
				      .max_body = 1024 * 1024};
	char crt[4096], key[4096];
	int r;

	snprintf(crt, sizeof(crt), "%s/apiserver.crt", a->state_dir);
	snprintf(key, sizeof(key), "%s/apiserver.key", a->state_dir);
	l->base = event_base_new();
	if (!l->base) {
		close(fd);
		return -ENOMEM;
	}
	if ((r = httpd_tls_context(crt, key, a->ca, &l->ctx)) < 0 ||
	    (r = httpd_new(l->base, l->ctx, &limits, api_handle, a,
			   &l->httpd)) < 0) {
		close(fd);
		return log_error_errno(r, "cannot set up HTTPS");
	}
	if ((r = httpd_add_listener(l->httpd, fd)) < 0)
		return r;
	l->sterm = evsignal_new(l->base, SIGTERM, on_signal, l->base);
	l->sint = evsignal_new(l->base, SIGINT, on_signal, l->base);
	if (!l->sterm || !l->sint || event_add(l->sterm, NULL) < 0 ||
	    event_add(l->sint, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int
serve(struct apiserver *a, const struct options *o, int fd)
{
	struct loop l = {0};
	char pf[32];
	int r;

	r = loop_setup(a, &l, fd);
	if (r >= 0)
		log_info("%s listening on %s (not a real kube-apiserver)",
			 a->version.text, a->server_url);
	if (r >= 0 && o->port_file) {
		snprintf(pf, sizeof(pf), "%s\n",
			 strrchr(a->server_url, ':') + 1);
		r = write_file_atomic(o->port_file, pf, strlen(pf), 0644);
	}
	if (r >= 0)
		event_base_dispatch(l.base);
	loop_free(&l);
	return r;
}

static void
apiserver_done(struct apiserver *a)
{
	if (a->secrets_dirfd >= 0)
		close(a->secrets_dirfd);
	if (a->nodes_dirfd >= 0)
		close(a->nodes_dirfd);
	EVP_PKEY_free(a->ca_key);
	X509_free(a->ca);
	free(a->ca_pem);
	free(a->server_url);
	json_decref(a->secrets);
	json_decref(a->nodes);
}

int
main(int argc, char **argv)
{
	struct options o = {.listen = "127.0.0.1:6443",
			    .version = "v" STANDIN_VERSION};
	struct apiserver a = {.secrets_dirfd = -1, .nodes_dirfd = -1};
	int fd = -1, r, port;

	/* Plain "ident: message" lines even under systemd, so that every
	 * line says STAND-IN. */
	unsetenv("JOURNAL_STREAM");
	log_init(API_IDENT);
	fprintf(stderr,
		"%s: this is a STAND-IN for the Kubernetes API "
		"server, for geostage's tests only\n",
		API_IDENT);
	if (parse_options(argc, argv, &o) < 0) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.state_dir = (char *)o.state_dir;
	a.secrets = json_object();
	a.nodes = json_object();
	r = standin_version_parse(o.version, &a.version);
	if (r < 0)
		log_error("bad --version '%s' (want v1.MINOR.PATCH)",
			  o.version);
	if (r >= 0 && (r = mkdir_safe(o.state_dir, 0700)) < 0)
		log_error("cannot create %s: %s", o.state_dir, strerror(-r));
	if (r >= 0)
		r = httpd_bind(o.listen, &fd);
	if (r >= 0 && (port = bound_port(fd)) < 0)
		r = port;
	if (r >= 0)
		r = setup_pki(&a, &o, port);
	if (r >= 0)
		r = store_open(&a);
	if (r >= 0)
		r = serve(&a, &o, TAKE_FD(fd));
	if (fd >= 0)
		close(fd);
	apiserver_done(&a);
	return r < 0 ? 1 : 0;
}
