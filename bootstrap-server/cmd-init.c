/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap init: the state dir, its keys and its database. */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "ca.h"
#include "commands.h"
#include "crypto.h"
#include "db.h"
#include "fileio.h"
#include "log.h"
#include "ossl.h"
#include "server.h"

static void
init_help(void)
{
	printf("Usage: geostage-bootstrap init --url https://HOST:PORT "
	       "[OPTIONS]\n\n"
	       "Create the state dir (0700; an existing 0710 stays so) with the\n"
	       "HTTPS key and certificate, the Ed25519 token key, the node CA\n"
	       "and the database. Run again,\n"
	       "it keeps the keys (unless --force) and the settings, changing\n"
	       "only those given; --url is needed the first time.\n\n"
	       "  --state-dir D         state dir (default %s)\n"
	       "  --url URL             where nodes enroll; repeat for more\n"
	       "  --vpn-network CIDR    node VPN addresses (default "
	       "10.99.0.0/16)\n"
	       "  --vpn-remote H:P      the OpenVPN server nodes connect to; "
	       "repeatable\n"
	       "  --api-endpoint H:P    the Kubernetes API endpoint for joins\n"
	       "  --kubeconfig F        credentials for the Kubernetes API\n"
	       "  --listen ADDR:PORT    default listen address for serve\n"
	       "  --master-prefix CIDR  the master site's LAN, routed to every "
	       "node\n"
	       "  --sites-network CIDR  an aggregate of every site LAN (new "
	       "sites then\n"
	       "                        need no OpenVPN restart)\n"
	       "  --force               replace existing keys (invalidates "
	       "every token)\n",
	       server_default_state_dir());
}

/* subjectAltName for the TLS certificate from the URLs' hosts. */
static int
tls_san(const struct server_config *c, char *buf, size_t size)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < c->n_urls; i++) {
		const char *h = c->urls[i] + strlen("https://");
		size_t n = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");
		char host[256];
		uint32_t a;
		bool ip6 = h[0] == '[';

		snprintf(host, sizeof(host), "%.*s", (int)(ip6 ? n - 2 : n),
			 ip6 ? h + 1 : h);
		off += (size_t)snprintf(
			buf + off, off < size ? size - off : 0, "%s%s:%s",
			off ? "," : "",
			ip6 || ipnet_parse_addr(host, &a) == 0 ? "IP" : "DNS",
			host);
	}
	return off < size ? 0 : -E2BIG;
}

static int
key_exists(int dirfd, const char *name)
{
	return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* OpenVPN's "static key V1" format: 2048 random bits in hex. */
static int
make_tls_crypt_key(int dirfd)
{
	unsigned char key[256];
	char text[1024];
	size_t off = 0, i;
	int r;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -EIO;
	off += (size_t)snprintf(text + off, sizeof(text) - off,
				"#\n# 2048 bit OpenVPN static key (geostage "
				"tls-crypt)\n#\n"
				"-----BEGIN OpenVPN Static key V1-----\n");
	for (i = 0; i < sizeof(key); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"%02x%s", key[i],
					i % 16 == 15 ? "\n" : "");
	off += (size_t)snprintf(text + off, sizeof(text) - off,
				"-----END OpenVPN Static key V1-----\n");
	r = write_file_atomic_at(dirfd, "tls-crypt.key", text, off, 0600);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

/* The master site's OpenVPN server presents a certificate from the node
 * CA, so nodes need one CA only (remote-cert-tls server). */
static int
make_vpn_server_key(const char *dir, EVP_PKEY *ca, X509 *ca_cert)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL, *loaded_ca = NULL;
	_cleanup_(X509_freep) X509 *cert = NULL, *loaded_cert = NULL;
	char path[4200], serial[33];
	int r;

	if (!ca) {
		snprintf(path, sizeof(path), "%s/ca.key", dir);
		if ((r = crypto_key_load(path, &loaded_ca)) < 0)
			return r;
		snprintf(path, sizeof(path), "%s/ca.crt", dir);
		if ((r = crypto_cert_load(path, &loaded_cert)) < 0)
			return r;
		ca = loaded_ca;
		ca_cert = loaded_cert;
	}
	if ((r = crypto_gen_p256(&key)) < 0 || (r = ca_serial_new(serial)) < 0 ||
	    (r = ca_issue(ca, ca_cert, key, "geostage-vpn-server", serial, 3650,
			  CA_USAGE_SERVER, &cert)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/vpn-server.key", dir);
	if ((r = crypto_key_save(path, key, 0600)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/vpn-server.crt", dir);
	return crypto_cert_save(path, cert, 0644);
}

static int
make_keys(const char *dir, int dirfd, const struct server_config *c,
	  bool force)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *tls = NULL, *tok = NULL,
					  *ca = NULL;
	_cleanup_(X509_freep) X509 *tls_cert = NULL, *ca_cert = NULL;
	char path[4200], san[2048];
	int r;

#define P(name) (snprintf(path, sizeof(path), "%s/%s", dir, name), path)
	if (force || !key_exists(dirfd, "tls.key")) {
		if ((r = tls_san(c, san, sizeof(san))) < 0 ||
		    (r = crypto_gen_p256(&tls)) < 0 ||
		    (r = crypto_self_signed(tls, "geostage-bootstrap", san, 0,
					    3650, &tls_cert)) < 0 ||
		    (r = crypto_key_save(P("tls.key"), tls, 0600)) < 0 ||
		    (r = crypto_cert_save(P("tls.crt"), tls_cert, 0644)) < 0)
			return log_error_errno(r, "cannot create TLS key: %s",
					       strerror(-r));
	}
	if (force || !key_exists(dirfd, "token.key")) {
		if ((r = crypto_gen_ed25519(&tok)) < 0 ||
		    (r = crypto_key_save(P("token.key"), tok, 0600)) < 0)
			return log_error_errno(r, "cannot create token key: %s",
					       strerror(-r));
	}
	if (force || !key_exists(dirfd, "ca.key")) {
		if ((r = crypto_gen_p256(&ca)) < 0 ||
		    (r = crypto_self_signed(ca, "geostage node CA", NULL, 1,
					    3650, &ca_cert)) < 0 ||
		    (r = crypto_key_save(P("ca.key"), ca, 0600)) < 0 ||
		    (r = crypto_cert_save(P("ca.crt"), ca_cert, 0644)) < 0)
			return log_error_errno(r, "cannot create node CA: %s",
					       strerror(-r));
		force = true; /* what the CA signed must follow it */
	}
	if (force || !key_exists(dirfd, "vpn-server.key")) {
		r = make_vpn_server_key(dir, ca, ca_cert);
		if (r < 0)
			return log_error_errno(r, "cannot create the OpenVPN "
						  "server key: %s",
					       strerror(-r));
	}
	if (force || !key_exists(dirfd, "tls-crypt.key")) {
		r = make_tls_crypt_key(dirfd);
		if (r < 0)
			return log_error_errno(r, "cannot create the tls-crypt "
						  "key: %s",
					       strerror(-r));
	}
#undef P
	return 0;
}

/* What the command line says; merged over the existing settings. */
struct init_flags {
	struct server_config cfg; /* only what was given */
	bool network_set;
	bool force;
	const char *state_dir;
};

static int
parse_init_args(int argc, char **argv, struct init_flags *f)
{
	struct server_config *c = &f->cfg;
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{"url", required_argument, NULL, 'u'},
		{"vpn-network", required_argument, NULL, 'n'},
		{"vpn-remote", required_argument, NULL, 'r'},
		{"api-endpoint", required_argument, NULL, 'a'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"listen", required_argument, NULL, 'l'},
		{"master-prefix", required_argument, NULL, 'm'},
		{"sites-network", required_argument, NULL, 's'},
		{"force", no_argument, NULL, 'f'},
		{},
	};
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			init_help();
			return -1; /* done, nothing else to do */
		case 'D':
			f->state_dir = optarg;
			break;
		case 'u':
			if (c->n_urls >= TOKEN_ISS_MAX ||
			    !token_url_is_valid(optarg)) {
				log_error("invalid --url '%s': want "
					  "https://HOST[:PORT], at most %d",
					  optarg, TOKEN_ISS_MAX);
				return EXIT_USAGE;
			}
			c->urls[c->n_urls++] = strdup(optarg);
			break;
		case 'n':
			if (ipnet_parse(optarg, &c->vpn_network) < 0 ||
			    c->vpn_network.prefix < 8 ||
			    c->vpn_network.prefix > 29) {
				log_error("invalid --vpn-network '%s': want a "
					  "network address, /8 to /29",
					  optarg);
				return EXIT_USAGE;
			}
			f->network_set = true;
			break;
		case 'r':
			if (c->n_vpn_remotes >= SERVER_REMOTES_MAX ||
			    !strchr(optarg, ':') || strlen(optarg) > 255) {
				log_error("invalid --vpn-remote '%s': want "
					  "HOST:PORT",
					  optarg);
				return EXIT_USAGE;
			}
			c->vpn_remotes[c->n_vpn_remotes++] = strdup(optarg);
			break;
		case 'a':
			free(c->api_endpoint);
			c->api_endpoint = strdup(optarg);
			break;
		case 'k':
			free(c->kubeconfig);
			c->kubeconfig = strdup(optarg);
			break;
		case 'l':
			free(c->listen);
			c->listen = strdup(optarg);
			break;
		case 'm':
			if (ipnet_parse(optarg, &c->master_prefix) < 0)
				return log_error("invalid --master-prefix '%s'",
						 optarg),
				       EXIT_USAGE;
			c->has_master_prefix = true;
			break;
		case 's':
			if (ipnet_parse(optarg, &c->sites_network) < 0)
				return log_error("invalid --sites-network '%s'",
						 optarg),
				       EXIT_USAGE;
			c->has_sites_network = true;
			break;
		case 'f':
			f->force = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static void
take_string(char **dst, char **src)
{
	if (*src) {
		free(*dst);
		*dst = TAKE_PTR(*src);
	}
}

/* Settings already in the state dir stay unless a flag replaces them; a
 * list flag (--url, --vpn-remote) replaces the whole list. */
static int
merge_settings(int dirfd, struct init_flags *f, struct server_config *c)
{
	struct server_config *n = &f->cfg;
	size_t i;
	int r;

	if (faccessat(dirfd, "bootstrap.conf", F_OK, AT_SYMLINK_NOFOLLOW) ==
	    0) {
		r = server_config_load(dirfd, c);
		if (r < 0)
			return r;
	}
	if (n->n_urls > 0) {
		for (i = 0; i < c->n_urls; i++)
			free(c->urls[i]);
		memcpy(c->urls, n->urls, sizeof(c->urls));
		c->n_urls = n->n_urls;
		n->n_urls = 0;
	}
	if (n->n_vpn_remotes > 0) {
		for (i = 0; i < c->n_vpn_remotes; i++)
			free(c->vpn_remotes[i]);
		memcpy(c->vpn_remotes, n->vpn_remotes, sizeof(c->vpn_remotes));
		c->n_vpn_remotes = n->n_vpn_remotes;
		n->n_vpn_remotes = 0;
	}
	if (f->network_set)
		c->vpn_network = n->vpn_network;
	if (n->has_master_prefix) {
		c->master_prefix = n->master_prefix;
		c->has_master_prefix = true;
	}
	if (n->has_sites_network) {
		c->sites_network = n->sites_network;
		c->has_sites_network = true;
	}
	take_string(&c->api_endpoint, &n->api_endpoint);
	take_string(&c->kubeconfig, &n->kubeconfig);
	take_string(&c->listen, &n->listen);
	if (c->n_urls == 0)
		return log_error_errno(EINVAL, "init needs --url "
					       "https://HOST:PORT (see --help)");
	return 0;
}

/* Nodes hold addresses of the VPN network: it cannot move under them. */
static int
check_network_change(int dirfd, const char *dir,
		     const struct server_config *c)
{
	_cleanup_(server_freep) struct server *s = NULL;
	int r;

	if (faccessat(dirfd, "bootstrap.conf", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* a first init */
	r = server_open(dir, 0, &s);
	if (r < 0)
		return r;
	if (s->cfg.vpn_network.addr == c->vpn_network.addr &&
	    s->cfg.vpn_network.prefix == c->vpn_network.prefix)
		return 0;
	if (db_nodes_active_count(s->db) > 0)
		return log_error_errno(EBUSY,
				       "--vpn-network cannot change while "
				       "nodes hold addresses in the old one");
	return 0;
}

int
cmd_init(int argc, char **argv)
{
	_cleanup_(server_config_done) struct server_config c;
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_close_ int dirfd = -1;
	struct init_flags f = {0};
	const char *dir;
	struct stat st;
	int r;

	server_config_init(&c);
	r = parse_init_args(argc, argv, &f);
	if (r != EXIT_OK) {
		server_config_done(&f.cfg);
		return r < 0 ? EXIT_OK : r;
	}
	dir = state_dir_or_default(f.state_dir);
	r = mkdir_safe(dir, 0700);
	if (r < 0) {
		server_config_done(&f.cfg);
		return log_error_errno(r, "cannot create %s: %s", dir,
				       strerror(-r)),
		       EXIT_FAIL;
	}
	/* The owner's, and at most the group's traverse bit (the packaged
	 * unit's 0710: OpenVPN, in the group, reads ccd/ and revoked/ by
	 * name); nothing that lists the dir or reaches it for others. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0 || fstat(dirfd, &st) < 0 ||
	    fchmod(dirfd, 0700 | (st.st_mode & 0010)) < 0) {
		server_config_done(&f.cfg);
		return log_error_errno(errno, "cannot open %s: %m", dir),
		       EXIT_FAIL;
	}
	r = merge_settings(dirfd, &f, &c);
	server_config_done(&f.cfg);
	if (r < 0)
		return EXIT_USAGE;
	if (check_network_change(dirfd, dir, &c) < 0)
		return EXIT_FAIL;
	if (!f.force && key_exists(dirfd, "token.key"))
		log_info("%s is already initialised: keeping its keys and "
			 "settings (--force replaces the keys)",
			 dir);
	if (make_keys(dir, dirfd, &c, f.force) < 0)
		return EXIT_FAIL;
	r = server_config_save(dirfd, &c);
	if (r < 0)
		return log_error_errno(r, "cannot write bootstrap.conf: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	r = server_open(dir, SERVER_LOAD_PIN | SERVER_LOAD_TOKEN_KEY |
				     SERVER_LOAD_CA,
			&s);
	if (r < 0)
		return EXIT_FAIL;
	printf("state dir:  %s\nurl:        %s\ntls pin:    %s\n"
	       "next:       geostage-bootstrap site add NAME --prefix CIDR\n",
	       dir, c.urls[0], s->pin);
	return EXIT_OK;
}
