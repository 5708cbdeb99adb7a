/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "fileio.h"
#include "log.h"
#include "ossl.h"
#include "profile.h"

#define APT_KEY_MAX (64 * 1024)

static json_t *
cidr_json(const struct ipnet *net)
{
	char buf[19];

	ipnet_format(net, buf);
	return json_string(buf);
}

int
profile_vpn_json(const struct server *s, const struct ovpn_plan *p,
		 const struct db_node *n, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *remotes = json_array(),
				       *routes = json_array(), *v = NULL;
	const struct ovpn_site *site = ovpn_plan_site(p, n->site);
	struct ipnet nets[OVPN_ROUTES_MAX];
	char addr[16], srv[16], gw[16];
	size_t i, n_nets;
	int r;

	if (!remotes || !routes)
		return -ENOMEM;
	for (i = 0; i < s->cfg.n_vpn_remotes; i++)
		json_array_append_new(remotes,
				      json_string(s->cfg.vpn_remotes[i]));
	r = ovpn_node_routes(p, n, nets, ELEMENTSOF(nets), &n_nets);
	if (r < 0)
		return r;
	for (i = 0; i < n_nets; i++)
		json_array_append_new(routes, cidr_json(&nets[i]));
	ipnet_format_addr(n->vpn_addr, addr);
	ipnet_format_addr(ipnet_server_addr(&s->cfg.vpn_network), srv);
	if (site && site->gateway)
		ipnet_format_addr(site->gateway, gw);
	v = json_pack("{s:s, s:s, s:i, s:s, s:O, s:s, s:s?, s:O, s:o*, s:s?}",
		      "mode", ovpn_node_is_routed(p, n) ? "routed" : "direct",
		      "address", addr, "prefix_len",
		      (int)s->cfg.vpn_network.prefix, "server_address", srv,
		      "remotes", remotes, "proto", "udp", "tls_crypt",
		      s->tls_crypt, "routes", routes, "site_prefix",
		      site ? cidr_json(&site->prefix) : NULL, "gateway",
		      site && site->gateway ? gw : NULL);
	if (!v)
		return -ENOMEM;
	*ret = TAKE_PTR(v);
	return 0;
}

static int
apt_source_json(const struct apt_source *a, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *components = NULL;
	_cleanup_free_ char *key = NULL;
	int r;

	r = read_file(a->key_file, APT_KEY_MAX, &key, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot read apt key %s: %s",
				       a->key_file, strerror(-r));
	/* A flat repository (suite "./") has no components: an empty
	 * array, which the agent requires exactly then (PROTOCOL.md). */
	components =
		a->component ? json_pack("[s]", a->component) : json_array();
	if (!components)
		return -ENOMEM;
	*ret = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s}", "name", a->name,
			 "uri", a->uri, "suite", a->suite, "components",
			 components, "key", key, "fingerprint", a->fingerprint);
	return *ret ? 0 : -ENOMEM;
}

int
profile_packages_load(const struct server_config *cfg, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *sources = json_array(), *k8s = NULL;
	size_t i;
	int r;

	if (!sources)
		return -ENOMEM;
	for (i = 0; i < cfg->n_apt_sources; i++) {
		json_t *src = NULL;
		r = apt_source_json(&cfg->apt_sources[i], &src);
		if (r < 0)
			return r;
		json_array_append_new(sources, src);
	}
	if (cfg->kubernetes_version)
		k8s = json_pack("{s:s, s:[s,s,s]}", "version",
				cfg->kubernetes_version, "packages", "kubelet",
				"kubeadm", "kubectl");
	*ret = json_pack("{s:O, s:O?, s:s, s:s}", "apt_sources", sources,
			 "kubernetes", k8s, "runtime", "containerd",
			 "pause_image",
			 cfg->pause_image ? cfg->pause_image
					  : "registry.k8s.io/pause:3.10");
	return *ret ? 0 : -ENOMEM;
}
