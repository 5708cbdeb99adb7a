/* SPDX-License-Identifier: MIT */
/* bootstrap.conf: the server's settings, "key = value" lines written by
 * init and read by every command. */
#pragma once

#include <stdbool.h>

#include "ipalloc.h"
#include "token.h"

#define SERVER_REMOTES_MAX 8
#define SERVER_APT_SOURCES_MAX 4

/* "apt_source = NAME URI SUITE COMPONENT KEYFILE FINGERPRINT". A flat
 * repository has a SUITE ending in '/' (such as "./") and COMPONENT "-". */
struct apt_source {
	char *name;
	char *uri;
	char *suite;
	char *component; /* NULL for a flat repository */
	char *key_file;
	char *fingerprint;
};

struct server_config {
	char *urls[TOKEN_ISS_MAX];
	size_t n_urls;
	struct ipnet vpn_network;
	char *vpn_remotes[SERVER_REMOTES_MAX];
	size_t n_vpn_remotes;
	char *api_endpoint;
	char *kubeconfig;
	char *listen;
	unsigned cert_days;
	unsigned rate_limit_failures; /* per source and window */
	unsigned rate_limit_window;   /* seconds */
	unsigned max_connections;
	unsigned timeout;	      /* seconds of inactivity */
	unsigned connection_lifetime; /* seconds, whatever the activity */
	unsigned kubernetes_backoff;  /* seconds without API calls after a
					 failed one (POST /v1/join) */
	/* The VPN: the master site's LAN, an aggregate covering every site
	 * LAN (optional: with it, new sites need no OpenVPN restart), and
	 * the OpenVPN server's port and management socket. */
	struct ipnet master_prefix;
	bool has_master_prefix;
	struct ipnet sites_network;
	bool has_sites_network;
	unsigned vpn_port;
	char *vpn_management;
	/* What nodes install. */
	char *kubernetes_version; /* "1.31.2"; else asked from the API */
	char *pause_image;
	struct apt_source apt_sources[SERVER_APT_SOURCES_MAX];
	size_t n_apt_sources;
};

void server_config_init(struct server_config *c);
void server_config_done(struct server_config *c);
int server_config_load(int state_fd, struct server_config *c);
int server_config_save(int state_fd, const struct server_config *c);
/* Is the suite that of a flat repository (ending in '/')? */
bool apt_source_is_flat(const struct apt_source *a);
