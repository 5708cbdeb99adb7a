/* SPDX-License-Identifier: MIT */
/* The files the master site's OpenVPN reads: per-node client-config files
 * (ccd/<node>) and the revoked-serial directory ("crl-verify DIR dir":
 * a file named by the decimal serial means revoked). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "ipalloc.h"
#include "server-config.h"

#define OVPN_ROUTES_MAX 64

struct ovpn_site {
	char name[64];
	struct ipnet prefix;
	bool routed; /* nodes reach the VPN through the site's gateway */
	uint32_t gateway; /* 0 when not set */
};

/* The settings and the sites, read once for one operation: everything
 * the per-node files and the enroll answer's VPN profile derive from. */
struct ovpn_plan {
	const struct server_config *cfg;
	struct ovpn_site *sites;
	size_t n_sites;
};

int ovpn_plan_load(sqlite3 *db, const struct server_config *cfg,
		   struct ovpn_plan *ret);
void ovpn_plan_done(struct ovpn_plan *p);
const struct ovpn_site *ovpn_plan_site(const struct ovpn_plan *p,
				       const char *name);
/* A gateway, or any node of a direct site, runs its own tunnel: "direct";
 * other nodes of a routed site go through their gateway: "routed". */
bool ovpn_node_is_routed(const struct ovpn_plan *p, const struct db_node *n);
/* The networks a node reaches over the VPN, its own site's LAN excepted:
 * the master site's LAN, the other sites' LANs (or the aggregate
 * sites_network), and for routed nodes the VPN network itself. */
int ovpn_node_routes(const struct ovpn_plan *p, const struct db_node *n,
		     struct ipnet *ret, size_t max, size_t *ret_n);

/* The per-node file's content: ifconfig-push, iroute for a gateway's site
 * LAN, pushed routes. */
int ovpn_ccd_render(const struct ovpn_plan *p, const struct db_node *n,
		    char **ret);
int ovpn_ccd_write(int ccd_fd, const struct ovpn_plan *p,
		   const struct db_node *n);
int ovpn_ccd_remove(int ccd_fd, const char *name);
int ovpn_revoke_serial(int revoked_fd, const char *serial_hex);
/* Makes ccd/ exactly the non-revoked nodes' files (rewriting any that
 * differ) and revoked/ hold every revoked node's serial. Returns the number
 * of files changed. */
int ovpn_reconcile(sqlite3 *db, const struct server_config *cfg, int ccd_fd,
		   int revoked_fd);
/* Ends a live session through the OpenVPN management socket ("kill CN").
 * 0 killed, -ENOENT no such session, -ECONNREFUSED no OpenVPN there. */
int ovpn_kill(const char *management_path, const char *cn);
