/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdint.h>

#include "conf.h"
#include "crypto.h"
#include "db.h"
#include "fileio.h"
#include "log.h"
#include "ossl.h"
#include "server.h"

const char *
server_default_state_dir(void)
{
	const char *e = getenv("GEOSTAGE_STATE_DIR");

	/* A fixed path, whatever the install prefix: the units, the package
	 * and the documentation all name it. */
	return e && *e ? e : "/var/lib/geostage-bootstrap";
}

void
server_config_init(struct server_config *c)
{
	memset(c, 0, sizeof(*c));
	ipnet_parse("10.99.0.0/16", &c->vpn_network);
	c->cert_days = 365;
	c->rate_limit_failures = 20;
	c->rate_limit_window = 60;
	c->max_connections = 512;
	c->timeout = 10;
	c->connection_lifetime = 30;
}

void
server_config_done(struct server_config *c)
{
	size_t i;

	for (i = 0; i < c->n_urls; i++)
		free(c->urls[i]);
	for (i = 0; i < c->n_vpn_remotes; i++)
		free(c->vpn_remotes[i]);
	free(c->api_endpoint);
	free(c->kubeconfig);
	free(c->listen);
	memset(c, 0, sizeof(*c));
}

static int
parse_uint(const char *v, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || !*v || *end || *v == '-' || n < min || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

static int
set_string(char **p, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*p);
	*p = s;
	return 0;
}

static int
config_item(const char *key, const char *value, unsigned line, void *userdata)
{
	struct server_config *c = userdata;

	if (streq(key, "url")) {
		if (c->n_urls >= TOKEN_ISS_MAX || !token_url_is_valid(value))
			return -EINVAL;
		return set_string(&c->urls[c->n_urls++], value);
	}
	if (streq(key, "vpn_network"))
		return ipnet_parse(value, &c->vpn_network);
	if (streq(key, "vpn_remote")) {
		if (c->n_vpn_remotes >= SERVER_REMOTES_MAX || strlen(value) > 255)
			return -EINVAL;
		return set_string(&c->vpn_remotes[c->n_vpn_remotes++], value);
	}
	if (streq(key, "api_endpoint"))
		return set_string(&c->api_endpoint, value);
	if (streq(key, "kubeconfig"))
		return set_string(&c->kubeconfig, value);
	if (streq(key, "listen"))
		return set_string(&c->listen, value);
	if (streq(key, "cert_days"))
		return parse_uint(value, 1, 3650, &c->cert_days);
	if (streq(key, "rate_limit_failures"))
		return parse_uint(value, 1, 1000000, &c->rate_limit_failures);
	if (streq(key, "rate_limit_window"))
		return parse_uint(value, 1, 86400, &c->rate_limit_window);
	if (streq(key, "max_connections"))
		return parse_uint(value, 1, 100000, &c->max_connections);
	if (streq(key, "timeout"))
		return parse_uint(value, 1, 3600, &c->timeout);
	if (streq(key, "connection_lifetime"))
		return parse_uint(value, 1, 86400, &c->connection_lifetime);
	return -ENOKEY;
}

int
server_config_load(int state_fd, struct server_config *c)
{
	_cleanup_free_ char *text = NULL;
	unsigned line = 0;
	size_t len;
	int r;

	r = read_file_at(state_fd, "bootstrap.conf", CONF_FILE_MAX, &text,
			 &len);
	if (r < 0)
		return log_error_errno(r, "cannot read bootstrap.conf: %s",
				       strerror(-r));
	r = conf_parse(text, len, config_item, c, &line);
	if (r < 0)
		return log_error_errno(r, "bootstrap.conf:%u: %s", line,
				       r == -ENOKEY ? "unknown setting"
						    : "invalid value");
	if (c->n_urls == 0)
		return log_error_errno(EINVAL, "bootstrap.conf: no url set");
	return 0;
}

int
server_config_save(int state_fd, const struct server_config *c)
{
	_cleanup_free_ char *text = NULL;
	char net[19];
	size_t size = 0, i;
	FILE *f;
	int r;

	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# geostage-bootstrap settings (written by init).\n");
	for (i = 0; i < c->n_urls; i++)
		fprintf(f, "url = %s\n", c->urls[i]);
	ipnet_format(&c->vpn_network, net);
	fprintf(f, "vpn_network = %s\n", net);
	for (i = 0; i < c->n_vpn_remotes; i++)
		fprintf(f, "vpn_remote = %s\n", c->vpn_remotes[i]);
	if (c->api_endpoint)
		fprintf(f, "api_endpoint = %s\n", c->api_endpoint);
	if (c->kubeconfig)
		fprintf(f, "kubeconfig = %s\n", c->kubeconfig);
	if (c->listen)
		fprintf(f, "listen = %s\n", c->listen);
	fprintf(f, "cert_days = %u\n", c->cert_days);
	fprintf(f, "rate_limit_failures = %u\n", c->rate_limit_failures);
	fprintf(f, "rate_limit_window = %u\n", c->rate_limit_window);
	fprintf(f, "max_connections = %u\n", c->max_connections);
	fprintf(f, "timeout = %u\n", c->timeout);
	fprintf(f, "connection_lifetime = %u\n", c->connection_lifetime);
	if (fclose(f) != 0)
		return -ENOMEM;
	r = write_file_atomic_at(state_fd, "bootstrap.conf", text, size, 0600);
	return r;
}

char *
server_path(const struct server *s, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", s->state_dir, name) < 0)
		return NULL;
	return p;
}

void
server_free(struct server *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	EVP_PKEY_free(s->token_key);
	EVP_PKEY_free(s->ca_key);
	X509_free(s->ca_cert);
	free(s->ca_pem);
	free(s->pin);
	server_config_done(&s->cfg);
	if (s->state_fd >= 0)
		close(s->state_fd);
	if (s->ccd_fd >= 0)
		close(s->ccd_fd);
	if (s->revoked_fd >= 0)
		close(s->revoked_fd);
	free(s->state_dir);
	free(s);
}

static int
load_key(struct server *s, const char *name, EVP_PKEY **ret)
{
	_cleanup_free_ char *p = server_path(s, name);
	int r;

	if (!p)
		return -ENOMEM;
	r = crypto_key_load(p, ret);
	if (r < 0)
		return log_error_errno(r, "cannot load %s: %s", p,
				       strerror(-r));
	return 0;
}

static int
load_keys(struct server *s, unsigned flags)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *tls = NULL;
	_cleanup_free_ char *p = NULL;
	int r;

	if (flags & SERVER_LOAD_TOKEN_KEY) {
		r = load_key(s, "token.key", &s->token_key);
		if (r < 0)
			return r;
	}
	if (flags & SERVER_LOAD_CA) {
		r = load_key(s, "ca.key", &s->ca_key);
		if (r < 0)
			return r;
		p = server_path(s, "ca.crt");
		if (!p)
			return -ENOMEM;
		r = crypto_cert_load(p, &s->ca_cert);
		if (r < 0)
			return log_error_errno(r, "cannot load %s", p);
		r = crypto_cert_to_pem(s->ca_cert, &s->ca_pem);
		if (r < 0)
			return r;
	}
	if (flags & SERVER_LOAD_PIN) {
		r = load_key(s, "tls.key", &tls);
		if (r < 0)
			return r;
		r = crypto_spki_pin(tls, &s->pin);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
open_subdir(int state_fd, const char *name, int *ret)
{
	int fd;

	if (mkdirat(state_fd, name, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	fd = openat(state_fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	/* OpenVPN reads these after dropping privileges: no umask here. */
	if (fchmod(fd, 0755) < 0) {
		int r = negative_errno();
		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

int
server_open(const char *state_dir, unsigned flags, struct server **ret)
{
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_free_ char *dbpath = NULL;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->state_fd = s->ccd_fd = s->revoked_fd = -1;
	server_config_init(&s->cfg);
	s->state_dir = strdup(state_dir);
	if (!s->state_dir)
		return -ENOMEM;
	s->state_fd = open(state_dir,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->state_fd < 0)
		return log_error_errno(errno, "cannot open state dir %s: %m",
				       state_dir);
	if (faccessat(s->state_fd, "bootstrap.conf", F_OK, 0) < 0)
		return log_error_errno(ENOENT,
				       "%s is not initialised: run "
				       "'geostage-bootstrap init' first",
				       state_dir);
	r = server_config_load(s->state_fd, &s->cfg);
	if (r < 0)
		return r;
	if ((r = open_subdir(s->state_fd, "ccd", &s->ccd_fd)) < 0 ||
	    (r = open_subdir(s->state_fd, "revoked", &s->revoked_fd)) < 0)
		return log_error_errno(r, "cannot open %s/ccd or revoked: %s",
				       state_dir, strerror(-r));
	dbpath = server_path(s, "geostage.db");
	if (!dbpath)
		return -ENOMEM;
	r = db_open(dbpath, &s->db);
	if (r < 0)
		return r;
	r = load_keys(s, flags);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}
