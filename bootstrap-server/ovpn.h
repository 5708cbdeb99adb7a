/* SPDX-License-Identifier: MIT */
/* The files the master site's OpenVPN reads: per-node client-config files
 * (ccd/<node>) and the revoked-serial directory ("crl-verify DIR dir":
 * a file named by the decimal serial means revoked). */
#pragma once

#include <stdint.h>

#include "db.h"
#include "ipalloc.h"

/* The per-node file's content. */
int ovpn_ccd_render(const struct db_node *n, const struct ipnet *net,
		    char **ret);
int ovpn_ccd_write(int ccd_fd, const struct db_node *n,
		   const struct ipnet *net);
int ovpn_ccd_remove(int ccd_fd, const char *name);
int ovpn_revoke_serial(int revoked_fd, const char *serial_hex);
/* Makes ccd/ exactly the non-revoked nodes' files (rewriting any that
 * differ) and revoked/ hold every revoked node's serial. Returns the number
 * of files changed. */
int ovpn_reconcile(sqlite3 *db, int ccd_fd, int revoked_fd,
		   const struct ipnet *net);
