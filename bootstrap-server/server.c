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
#include "jws.h"
#include "kube.h"
#include "profile.h"
#include "server.h"

const char *
server_default_state_dir(void)
{
	const char *e = getenv("GEOSTAGE_STATE_DIR");

	/* A fixed path, whatever the install prefix: the units, the package
	 * and the documentation all name it. */
	return e && *e ? e : "/var/lib/geostage-bootstrap";
}

char *
server_path(const struct server *s, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", s->state_dir, name) < 0)
		return NULL;
	return p;
}

char *
server_vpn_management_path(const struct server *s)
{
	return s->cfg.vpn_management ? strdup(s->cfg.vpn_management)
				     : server_path(s, "openvpn.sock");
}

void
server_free(struct server *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	EVP_PKEY_free(s->token_key);
	free(s->token_kid);
	EVP_PKEY_free(s->ca_key);
	X509_free(s->ca_cert);
	free(s->ca_pem);
	free(s->pin);
	if (s->tls_crypt)
		explicit_bzero(s->tls_crypt, strlen(s->tls_crypt));
	free(s->tls_crypt);
	json_decref(s->packages);
	kube_free(s->kube);
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
		r = jws_key_id(s->token_key, &s->token_kid);
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
		r = read_file_at(s->state_fd, "tls-crypt.key", 4096,
				 &s->tls_crypt, NULL);
		if (r < 0 && r != -ENOENT)
			return log_error_errno(r, "cannot read tls-crypt.key");
		r = profile_packages_load(&s->cfg, &s->packages);
		if (r < 0)
			return r;
	}
	if ((flags & SERVER_LOAD_KUBE) && s->cfg.kubeconfig) {
		r = kube_open(s->cfg.kubeconfig, &s->kube);
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
