/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <time.h>

#include "db.h"
#include "join.h"
#include "kube.h"
#include "log.h"
#include "ossl.h"
#include "ovpn.h"

static int
fail(struct enroll_answer *a, int status, const char *error,
     const char *message, unsigned retry_after)
{
	a->status = status;
	a->error = error;
	a->retry_after = retry_after;
	snprintf(a->message, sizeof(a->message), "%s", message);
	return 0;
}

/* The node's own address Kubernetes should use: its VPN address when it
 * runs a tunnel, else the address it reported inside its site's LAN. */
static int
node_ip(struct server *s, const struct db_node *n, char ret[16])
{
	_cleanup_(json_decrefp) json_t *facts = NULL;
	const struct ovpn_site *site;
	struct ovpn_plan plan;
	json_t *a;
	size_t i;
	int r, found = 0;

	r = ovpn_plan_load(s->db, &s->cfg, &plan);
	if (r < 0)
		return r;
	site = ovpn_plan_site(&plan, n->site);
	if (!ovpn_node_is_routed(&plan, n) || !site) {
		ipnet_format_addr(n->vpn_addr, ret);
		ovpn_plan_done(&plan);
		return 0;
	}
	r = db_node_facts(s->db, n->id, &facts);
	json_array_foreach(json_object_get(facts, "addresses"), i, a)
	{
		uint32_t addr;
		if (!found &&
		    ipnet_parse_addr(json_string_value(a), &addr) >= 0 &&
		    ipnet_contains(&site->prefix, addr)) {
			ipnet_format_addr(addr, ret);
			found = 1;
		}
	}
	ovpn_plan_done(&plan);
	if (r < 0)
		return r;
	return found ? 0 : -EADDRNOTAVAIL;
}

static int
join_body(struct server *s, const struct db_node *n, const char *ip,
	  int64_t now, json_t **ret)
{
	_cleanup_free_ char *hash = NULL, *version = NULL;
	_cleanup_(json_decrefp) json_t *labels = NULL;
	char token[24];
	int64_t expires;
	int r;

	if ((r = kube_ca_cert_hash(s->kube, &hash)) < 0)
		return r;
	if (s->cfg.kubernetes_version) {
		if (asprintf(&version, "v%s", s->cfg.kubernetes_version) < 0)
			return -ENOMEM;
	} else if ((r = kube_version(s->kube, &version)) < 0) {
		return r;
	}
	r = kube_bootstrap_token(s->kube, n->name, now, token, &expires);
	if (r < 0)
		return r;
	labels = json_loads(n->labels, 0, NULL);
	*ret = json_pack(
		"{s:s, s:s, s:[s], s:s, s:s, s:s, s:O*, s:I}", "api_endpoint",
		s->cfg.api_endpoint ? s->cfg.api_endpoint
				    : kube_endpoint(s->kube),
		"token", token, "ca_cert_hashes", hash, "kubernetes_version",
		version, "node_name", n->name, "node_ip", ip, "labels", labels,
		"expires", (json_int_t)expires);
	explicit_bzero(token, sizeof(token));
	return *ret ? 0 : -ENOMEM;
}

int
join_answer(struct server *s, X509 *peer, int64_t now, struct ratelimit *limit,
	    struct enroll_answer *a)
{
	struct db_node n;
	char ip[16], field[80];
	unsigned wait;
	int r;

	memset(a, 0, sizeof(*a));
	if (!peer)
		return fail(a, 401, "client_certificate_required",
			    "this endpoint needs the node certificate", 0);
	r = enroll_node_by_cert(s, peer, &n);
	if (r == -EPERM)
		return fail(a, 403, "node_revoked", "this node was revoked", 0);
	if (r == -ENOENT)
		return fail(a, 401, "client_certificate_required",
			    "unknown node certificate", 0);
	if (r < 0)
		return fail(a, 503, "unavailable", "try again later", 1);
	snprintf(a->node, sizeof(a->node), "%s", n.name);
	wait = ratelimit_check(limit, n.name, now);
	if (wait) {
		db_node_done(&n);
		return fail(a, 429, "rate_limited",
			    "too many bootstrap tokens for this node", wait);
	}
	snprintf(field, sizeof(field), "NODE=%s", a->node);
	if (s->kube && now < s->kube_retry_at) {
		/* The API failed a moment ago: answer at once rather than
		 * block the event loop on it again for every caller. */
		db_node_done(&n);
		return fail(a, 503, "unavailable",
			    "the Kubernetes API cannot be reached now",
			    (unsigned)(s->kube_retry_at - now));
	}
	if (!s->kube)
		r = -ENOKEY;
	else if ((r = node_ip(s, &n, ip)) >= 0)
		r = join_body(s, &n, ip, now, &a->body);
	db_node_done(&n);
	if (r == -EADDRNOTAVAIL)
		return fail(a, 409, "no_node_ip",
			    "the node reported no address in its site's LAN",
			    0);
	if (r < 0 && r != -ENOKEY)
		s->kube_retry_at =
			(int64_t)time(NULL) + s->cfg.kubernetes_backoff;
	if (r < 0) {
		log_event(LOG_WARNING,
			  r == -ENOKEY ? "join refused: no kubeconfig is set"
				       : "join refused: the Kubernetes API did "
					 "not answer as expected",
			  field, NULL);
		return fail(a, 503, "unavailable",
			    "the Kubernetes API cannot be reached now",
			    r == -ENOKEY ? 30 : s->cfg.kubernetes_backoff);
	}
	ratelimit_fail(limit, a->node, now); /* counts the mint */
	log_event(LOG_INFO, "bootstrap token minted", field, NULL);
	a->status = 200;
	return 0;
}
