/* SPDX-License-Identifier: MIT */
/* The VPN plan: which nodes run a tunnel, and which networks each node
 * reaches through it. */
#include "config.h"

#include "log.h"
#include "ossl.h"
#include "ovpn.h"

int
ovpn_plan_load(sqlite3 *db, const struct server_config *cfg,
	       struct ovpn_plan *ret)
{
	_cleanup_(json_decrefp) json_t *sites = NULL;
	struct ovpn_plan p = {.cfg = cfg};
	json_t *e;
	size_t i;
	int r;

	r = db_sites_json(db, &sites);
	if (r < 0)
		return r;
	p.sites = calloc(json_array_size(sites) + 1, sizeof(*p.sites));
	if (!p.sites)
		return -ENOMEM;
	json_array_foreach(sites, i, e)
	{
		struct ovpn_site *st = &p.sites[p.n_sites];
		const char *gw = json_string_value(json_object_get(e, "gateway"));
		const char *mode = json_string_value(json_object_get(e, "mode"));

		snprintf(st->name, sizeof(st->name), "%s",
			 json_string_value(json_object_get(e, "name")));
		if (ipnet_parse(json_string_value(json_object_get(e, "prefix")),
				&st->prefix) < 0)
			continue; /* site add validates; never here */
		st->routed = mode && streq(mode, "routed");
		if (gw && ipnet_parse_addr(gw, &st->gateway) < 0)
			st->gateway = 0;
		p.n_sites++;
	}
	*ret = p;
	return 0;
}

void
ovpn_plan_done(struct ovpn_plan *p)
{
	free(p->sites);
	p->sites = NULL;
	p->n_sites = 0;
}

const struct ovpn_site *
ovpn_plan_site(const struct ovpn_plan *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n_sites; i++)
		if (streq(p->sites[i].name, name))
			return &p->sites[i];
	return NULL;
}

bool
ovpn_node_is_routed(const struct ovpn_plan *p, const struct db_node *n)
{
	const struct ovpn_site *st = ovpn_plan_site(p, n->site);

	return st && st->routed && !streq(n->role, "gateway");
}

static int
add_route(struct ipnet *ret, size_t max, size_t *n, const struct ipnet *net,
	  const struct ipnet *own)
{
	size_t i;

	if (own && ipnet_overlaps(net, own) && net->prefix >= own->prefix)
		return 0; /* the node's own LAN is directly connected */
	for (i = 0; i < *n; i++)
		if (ret[i].addr == net->addr && ret[i].prefix == net->prefix)
			return 0;
	if (*n >= max)
		return -E2BIG;
	ret[(*n)++] = *net;
	return 0;
}

int
ovpn_node_routes(const struct ovpn_plan *p, const struct db_node *n,
		 struct ipnet *ret, size_t max, size_t *ret_n)
{
	const struct ovpn_site *own = ovpn_plan_site(p, n->site);
	const struct ipnet *own_prefix = own ? &own->prefix : NULL;
	size_t count = 0, i;
	int r = 0;

	if (ovpn_node_is_routed(p, n))
		r = add_route(ret, max, &count, &p->cfg->vpn_network, NULL);
	if (r >= 0 && p->cfg->has_master_prefix)
		r = add_route(ret, max, &count, &p->cfg->master_prefix,
			      own_prefix);
	if (r >= 0 && p->cfg->has_sites_network)
		r = add_route(ret, max, &count, &p->cfg->sites_network,
			      own_prefix);
	/* Only routed sites' LANs are behind the VPN (a gateway's iroute);
	 * a direct site's nodes are reached by their VPN addresses. */
	for (i = 0; r >= 0 && !p->cfg->has_sites_network && i < p->n_sites;
	     i++)
		if (p->sites[i].routed &&
		    (!own || !streq(p->sites[i].name, own->name)))
			r = add_route(ret, max, &count, &p->sites[i].prefix,
				      own_prefix);
	if (r < 0)
		return r;
	*ret_n = count;
	return 0;
}
