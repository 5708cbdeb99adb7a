/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests) for the Kubernetes API server: Nodes. A Node
 * exists once the kubeadm stand-in has joined it through the stand-in's
 * own POST /standin/v1/join, which replaces the kubelet's TLS bootstrap
 * (CSR, approval, signing) with one call authenticated by the bootstrap
 * token alone. */
#include "config.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include "apiserver.h"
#include "common.h"
#include "crypto.h"
#include "log.h"
#include "name.h"
#include "ossl.h"
#include "pki.h"

static bool
labels_ok(json_t *labels, const char **bad)
{
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v) || !label_key_is_valid(k) ||
		    !label_value_is_valid(json_string_value(v))) {
			*bad = k;
			return false;
		}
	}
	return true;
}

static bool
ip_ok(const char *ip)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, ip, buf) == 1 ||
	       inet_pton(AF_INET6, ip, buf) == 1;
}

static json_t *
new_node(struct apiserver *a, const char *name, const char *ip, json_t *labels,
	 const char *kubelet)
{
	char uid[37], now[32], rv[24];
	json_t *all = json_pack("{s:s, s:s, s:s}", "kubernetes.io/hostname",
				name, "kubernetes.io/os", "linux",
				"kubernetes.io/arch", "amd64");

	if (all && labels)
		json_object_update(all, labels);
	api_uid(uid);
	api_now(now);
	snprintf(rv, sizeof(rv), "%lu", ++a->resource_version);
	return json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:o}, s:{},"
		" s:{s:[{s:s, s:s}, {s:s, s:s}], s:{s:s, s:s, s:s, s:s},"
		" s:[{s:s, s:s, s:s, s:s}]}}",
		"kind", "Node", "apiVersion", "v1", "metadata", "name", name,
		"uid", uid, "resourceVersion", rv, "creationTimestamp", now,
		"labels", all, "spec", "status", "addresses", "type",
		"InternalIP", "address", ip, "type", "Hostname", "address",
		name, "nodeInfo", "kubeletVersion", kubelet, "operatingSystem",
		"linux", "architecture", "amd64", "osImage",
		"geostage STAND-IN node", "conditions", "type", "Ready",
		"status", "True", "reason", "KubeletReady", "message",
		"STAND-IN: registered by the kubeadm stand-in, no kubelet "
		"heartbeats");
}

/* The kubelet's client certificate, as its TLS bootstrap would get. */
static json_t *
kubelet_credentials(struct apiserver *a, const char *name)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_(X509_freep) X509 *cert = NULL;
	_cleanup_free_ char *cert_pem = NULL;
	_cleanup_erase_ char *key_pem = NULL;
	char cn[96];
	struct pki_leaf leaf = {.cn = cn, .org = "system:nodes", .days = 365};

	snprintf(cn, sizeof(cn), "system:node:%s", name);
	if (pki_issue(a->ca_key, a->ca, &leaf, &key, &cert) < 0 ||
	    crypto_cert_to_pem(cert, &cert_pem) < 0 ||
	    pki_key_to_pem(key, &key_pem) < 0)
		return NULL;
	return json_pack("{s:s, s:s, s:s}", "certificate", cert_pem, "key",
			 key_pem, "ca", a->ca_pem);
}

/* The first thing wrong with a join request, or NULL. */
static const char *
join_refusal(const char *name, const char *ip, json_t *labels,
	     const char **field)
{
	const char *bad = NULL;

	*field = "nodeName";
	if (!name_is_dns_label(name))
		return "Invalid value: must be an RFC 1123 label";
	*field = "nodeIP";
	if (!ip_ok(ip))
		return "Invalid value: must be an IP address";
	*field = "labels";
	if (labels && (!json_is_object(labels) || !labels_ok(labels, &bad)))
		return "Invalid value: an object of valid label keys and "
		       "values";
	return NULL;
}

static void
register_node(struct apiserver *a, struct evhttp_request *req, const char *name,
	      const char *ip, json_t *labels, const char *kubelet)
{
	_cleanup_(json_decrefp) json_t *node = NULL, *creds = NULL;
	bool again = json_object_get(a->nodes, name) != NULL;

	node = new_node(a, name, ip, labels, kubelet);
	creds = kubelet_credentials(a, name);
	if (!node || !creds || store_save(a->nodes_dirfd, name, node) < 0) {
		api_reply_status(req, 500, "InternalError", NULL, NULL,
				 "cannot register the node");
		return;
	}
	json_object_set(a->nodes, name, node);
	json_object_set(creds, "node", node);
	log_info("%s Node %s (InternalIP %s)",
		 again ? "re-registered" : "registered", name, ip);
	api_reply_json(req, 200, creds);
}

void
nodes_join(struct apiserver *a, struct evhttp_request *req)
{
	_cleanup_(json_decrefp) json_t *body = NULL;
	const char *token = api_bearer(req), *name, *ip, *field, *why;
	const char *kubelet = a->version.text;
	json_t *labels = NULL;
	json_error_t err;
	char msg[200];

	if (!token || !bootstrap_token_is_valid(token) ||
	    secrets_authenticate(a, token) < 0) {
		api_reply_status(req, 401, "Unauthorized", NULL, NULL,
				 "Unauthorized");
		return;
	}
	body = api_read_json(req, "JoinRequest");
	if (!body)
		return;
	if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s, s:s, s?o, s?s}",
			   "nodeName", &name, "nodeIP", &ip, "labels", &labels,
			   "kubeletVersion", &kubelet) < 0) {
		snprintf(msg, sizeof(msg), "Invalid value: %s", err.text);
		api_reply_invalid(req, "JoinRequest", "nodes", "", "body", msg);
		return;
	}
	why = join_refusal(name, ip, labels, &field);
	if (why) {
		api_reply_invalid(req, "Node", "nodes", name, field, why);
		return;
	}
	log_info("join for Node %s with bootstrap token id %.6s", name, token);
	register_node(a, req, name, ip, labels, kubelet);
}

void
nodes_get(struct apiserver *a, struct evhttp_request *req, const char *name)
{
	json_t *node = json_object_get(a->nodes, name);

	if (node)
		api_reply_json(req, 200, node);
	else
		api_reply_status(req, 404, "NotFound", "nodes", name,
				 "nodes \"%s\" not found", name);
}

void
nodes_delete(struct apiserver *a, struct evhttp_request *req, const char *name)
{
	json_t *node = json_object_get(a->nodes, name);
	int r;

	if (!node) {
		api_reply_status(req, 404, "NotFound", "nodes", name,
				 "nodes \"%s\" not found", name);
		return;
	}
	r = store_delete(a->nodes_dirfd, name);
	if (r < 0) {
		api_reply_status(req, 500, "InternalError", NULL, NULL,
				 "cannot delete: %s", strerror(-r));
		return;
	}
	json_incref(node);
	json_object_del(a->nodes, name);
	log_info("deleted Node %s", name);
	api_reply_json(req, 200, node);
	json_decref(node);
}

void
nodes_list(struct apiserver *a, struct evhttp_request *req)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	json_t *items = json_array(), *node;
	const char *name;
	char rv[24];

	json_object_foreach(a->nodes, name, node)
	{
		json_array_append(items, node);
	}
	snprintf(rv, sizeof(rv), "%lu", a->resource_version);
	j = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", "NodeList",
		      "apiVersion", "v1", "metadata", "resourceVersion", rv,
		      "items", items);
	api_reply_json(req, 200, j);
}
