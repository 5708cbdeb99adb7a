/* SPDX-License-Identifier: MIT */
/* The network step's pure parts: the OpenVPN client profile (direct mode
 * and gateways) and the unit that keeps a routed node's routes to the
 * other sites. */
#pragma once

#include <stddef.h>

#include "plan.h"

#define VPN_PROFILE "/etc/openvpn/client/geostage.conf"
#define VPN_UNIT "openvpn-client@geostage.service"
#define VPN_ROUTES_UNIT "geostage-routes.service"
#define VPN_ROUTES_UNIT_FILE "/etc/systemd/system/geostage-routes.service"

struct vpn_profile {
	const char *node, *site;
	const struct plan_vpn *vpn;
	const char *ca;	  /* the node CA, PEM: it signs the server's cert */
	const char *cert; /* node.crt */
	const char *key;  /* node.key: a secret */
};

/* The profile text, with the node key inline: the caller wipes it
 * (erase_and_free). -EINVAL when a PEM block holds '<' or '>' (it could
 * end its inline block and add directives). */
int vpn_render_profile(const struct vpn_profile *p, char **ret);
/* A oneshot unit: `IP route replace CIDR via GATEWAY` for each route at
 * start, `route del` at stop. */
int vpn_render_routes_unit(const char *ip, const char *site,
			   const struct plan_vpn *vpn, char **ret);
