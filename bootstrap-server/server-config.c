/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "aptsrc.h"
#include "conf.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "name.h"
#include "server-config.h"

void
server_config_init(struct server_config *c)
{
	memset(c, 0, sizeof(*c));
	ipnet_parse("10.99.0.0/16", &c->vpn_network);
	c->cert_days = 365;
	c->rate_limit_failures = 20;
	c->rate_limit_window = 60;
	c->kubernetes_backoff = 30;
	c->max_connections = 512;
	c->timeout = 10;
	c->connection_lifetime = 30;
	c->vpn_port = 1194;
}

static void
apt_source_done(struct apt_source *a)
{
	free(a->name);
	free(a->uri);
	free(a->suite);
	free(a->component);
	free(a->key_file);
	free(a->fingerprint);
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
	free(c->vpn_management);
	free(c->kubernetes_version);
	free(c->pause_image);
	for (i = 0; i < c->n_apt_sources; i++)
		apt_source_done(&c->apt_sources[i]);
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

static bool
is_hex_fingerprint(const char *s)
{
	size_t n = strlen(s);

	return (n == 40 || n == 64) && strspn(s, "0123456789ABCDEF") == n;
}

bool
apt_source_is_flat(const struct apt_source *a)
{
	return a->suite && aptsrc_suite_is_flat(a->suite);
}

/* NAME URI SUITE COMPONENT KEYFILE FINGERPRINT, separated by blanks. A
 * SUITE ending in '/' names a flat repository, which has no component:
 * COMPONENT is then "-", and "-" is refused anywhere else (apt refuses
 * components with such a suite, and needs one without). */
static int
parse_apt_source(const char *value, struct apt_source *a)
{
	_cleanup_free_ char *copy = NULL;
	char *f[6], *save = NULL, *tok;
	bool flat;
	size_t n = 0;

	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " \t", &save); tok && n < 6;
	     tok = strtok_r(NULL, " \t", &save))
		f[n++] = tok;
	if (n != 6 || tok)
		return -EINVAL;
	flat = aptsrc_suite_is_flat(f[2]);
	if (!name_is_dns_label(f[0]) || !aptsrc_uri_valid(f[1]) ||
	    !aptsrc_suite_valid(f[2]) ||
	    (flat ? !streq(f[3], "-") : !aptsrc_component_valid(f[3])) ||
	    f[4][0] != '/' || !is_hex_fingerprint(f[5]))
		return -EINVAL;
	*a = (struct apt_source){
		.name = strdup(f[0]),
		.uri = strdup(f[1]),
		.suite = strdup(f[2]),
		.component = flat ? NULL : strdup(f[3]),
		.key_file = strdup(f[4]),
		.fingerprint = strdup(f[5]),
	};
	if (!a->name || !a->uri || !a->suite || (!flat && !a->component) ||
	    !a->key_file || !a->fingerprint) {
		apt_source_done(a);
		memset(a, 0, sizeof(*a));
		return -ENOMEM;
	}
	return 0;
}

static int
parse_prefix(const char *value, struct ipnet *net, bool *has)
{
	int r = ipnet_parse(value, net);

	if (r >= 0)
		*has = true;
	return r;
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
		if (c->n_vpn_remotes >= SERVER_REMOTES_MAX ||
		    strlen(value) > 255)
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
	if (streq(key, "kubernetes_backoff"))
		return parse_uint(value, 1, 3600, &c->kubernetes_backoff);
	if (streq(key, "rate_limit_window"))
		return parse_uint(value, 1, 86400, &c->rate_limit_window);
	if (streq(key, "max_connections"))
		return parse_uint(value, 1, 100000, &c->max_connections);
	if (streq(key, "timeout"))
		return parse_uint(value, 1, 3600, &c->timeout);
	if (streq(key, "connection_lifetime"))
		return parse_uint(value, 1, 86400, &c->connection_lifetime);
	if (streq(key, "master_prefix"))
		return parse_prefix(value, &c->master_prefix,
				    &c->has_master_prefix);
	if (streq(key, "sites_network"))
		return parse_prefix(value, &c->sites_network,
				    &c->has_sites_network);
	if (streq(key, "vpn_port"))
		return parse_uint(value, 1, 65535, &c->vpn_port);
	if (streq(key, "vpn_management"))
		return value[0] == '/' ? set_string(&c->vpn_management, value)
				       : -EINVAL;
	if (streq(key, "kubernetes_version"))
		return set_string(&c->kubernetes_version, value);
	if (streq(key, "pause_image"))
		return set_string(&c->pause_image, value);
	if (streq(key, "apt_source")) {
		int r;
		if (c->n_apt_sources >= SERVER_APT_SOURCES_MAX)
			return -EINVAL;
		r = parse_apt_source(value, &c->apt_sources[c->n_apt_sources]);
		if (r >= 0)
			c->n_apt_sources++;
		return r;
	}
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
	fprintf(f, "kubernetes_backoff = %u\n", c->kubernetes_backoff);
	if (c->has_master_prefix) {
		ipnet_format(&c->master_prefix, net);
		fprintf(f, "master_prefix = %s\n", net);
	}
	if (c->has_sites_network) {
		ipnet_format(&c->sites_network, net);
		fprintf(f, "sites_network = %s\n", net);
	}
	fprintf(f, "vpn_port = %u\n", c->vpn_port);
	if (c->vpn_management)
		fprintf(f, "vpn_management = %s\n", c->vpn_management);
	if (c->kubernetes_version)
		fprintf(f, "kubernetes_version = %s\n", c->kubernetes_version);
	if (c->pause_image)
		fprintf(f, "pause_image = %s\n", c->pause_image);
	for (i = 0; i < c->n_apt_sources; i++) {
		const struct apt_source *a = &c->apt_sources[i];
		fprintf(f, "apt_source = %s %s %s %s %s %s\n", a->name, a->uri,
			a->suite, a->component ? a->component : "-",
			a->key_file, a->fingerprint);
	}
	if (fclose(f) != 0)
		return -ENOMEM;
	r = write_file_atomic_at(state_fd, "bootstrap.conf", text, size, 0600);
	return r;
}
