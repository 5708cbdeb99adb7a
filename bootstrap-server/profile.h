/* SPDX-License-Identifier: MIT */
/* What a node is told after enrolling (docs/PROTOCOL.md "Multi-site
 * fields"): its VPN profile and its package plan. */
#pragma once

#include <jansson.h>

#include "db.h"
#include "ovpn.h"
#include "server.h"

int profile_vpn_json(const struct server *s, const struct ovpn_plan *p,
		     const struct db_node *n, json_t **ret);
/* Built once at start: reads each apt source's key file. */
int profile_packages_load(const struct server_config *cfg, json_t **ret);
