/* SPDX-License-Identifier: MIT */
/* The server's state directory: its configuration, keys and database.
 *
 *   bootstrap.conf   settings written by init (key = value)
 *   tls.key tls.crt  the HTTPS key (its SPKI hash is every token's pin)
 *   token.key        Ed25519 key that signs enrollment tokens
 *   ca.key ca.crt    the node CA
 *   geostage.db      SQLite: sites, tokens, nodes, steps, events
 *   ccd/             OpenVPN per-node files, exactly the non-revoked nodes
 *   revoked/         OpenVPN "crl-verify DIR dir": one file per serial
 *   tls-crypt.key    OpenVPN's tls-crypt key, handed to nodes
 *   vpn-server.key vpn-server.crt  OpenVPN server's, from the node CA
 */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "ipalloc.h"
#include "server-config.h"
#include "token.h"

struct server {
	char *state_dir;
	int state_fd;
	int ccd_fd;
	int revoked_fd;
	struct server_config cfg;
	sqlite3 *db;
	EVP_PKEY *token_key;
	char *token_kid; /* jws_key_id(token_key) */
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	char *ca_pem;
	char *pin;	       /* of tls.key */
	char *tls_crypt;       /* OpenVPN tls-crypt key, NULL when absent */
	json_t *packages;      /* the package plan nodes get */
	struct kube *kube;     /* NULL without a kubeconfig */
	int64_t kube_retry_at; /* no API calls before (kubernetes_backoff) */
};

enum {
	SERVER_LOAD_TOKEN_KEY = 1 << 0,
	SERVER_LOAD_CA = 1 << 1,
	SERVER_LOAD_PIN = 1 << 2,
	SERVER_LOAD_KUBE = 1 << 3, /* the kubeconfig, when one is set */
};

/* $GEOSTAGE_STATE_DIR, else /var/lib/geostage-bootstrap. */
const char *server_default_state_dir(void);
/* Opens an initialised state dir: config, database (migrated), and the
 * keys named by flags. -ENOENT when init never ran there. */
int server_open(const char *state_dir, unsigned flags, struct server **ret);
void server_free(struct server *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct server *, server_free)

/* Path inside the state dir, for error messages and OpenSSL file APIs. */
char *server_path(const struct server *s, const char *name);
/* The OpenVPN management socket: vpn_management, else in the state dir. */
char *server_vpn_management_path(const struct server *s);
