/* SPDX-License-Identifier: MIT */
/* The join step's pure parts: the server's POST /v1/join answer, checked;
 * the node labels kubelet may set on itself; the kubeadm
 * JoinConfiguration (kubeadm.k8s.io/v1beta4 from Kubernetes 1.31 on,
 * v1beta3 below) as JSON. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "plan.h"

#define JOIN_CONFIG_FILE "/etc/geostage/join.json"
#define JOIN_KUBELET_CONF "/etc/kubernetes/kubelet.conf"
#define JOIN_CRI_SOCKET "unix:///run/containerd/containerd.sock"
#define JOIN_HASHES_MAX 8
#define JOIN_TOKEN_LEN 23

struct join_answer {
	const char *api_endpoint;
	const char *token; /* a secret: never logged */
	const char *ca_cert_hashes[JOIN_HASHES_MAX];
	size_t n_hashes;
	char version[PLAN_VERSION_MAX + 1]; /* "1.31.2" */
	const char *node_name;
	const char *node_ip;
	json_t *labels; /* borrowed: an object of strings */
};

/* Strict: the endpoint is HOST:PORT, the token [a-z0-9]{6}.[a-z0-9]{16},
 * each hash sha256:<64 hex>, node_name is node, node_ip a dotted quad,
 * labels valid Kubernetes labels. kubernetes_version may be null when
 * fallback_version (the enrollment's) is set. Strings point into j. */
int join_answer_check(json_t *j, const char *node, const char *fallback_version,
		      struct join_answer *ret, char *err, size_t errsz);
/* Would kubelet accept this key in --node-labels? Keys in the
 * kubernetes.io and k8s.io namespaces only when they are kubelet's own. */
bool join_label_kubelet_may_set(const char *key);
/* "k=v,k=v" sorted by key, with geostage.io/site=SITE set; labels kubelet
 * may not set are left out and counted in *ret_dropped. */
int join_node_labels(json_t *labels, const char *site, char **ret,
		     unsigned *ret_dropped);
/* "kubeadm.k8s.io/v1beta4" for >= 1.31, else ".../v1beta3". */
const char *join_api_version(const char *version);
/* The JoinConfiguration, pretty JSON with a trailing newline; it holds
 * the token: the caller wipes it (erase_and_free). */
int join_render_config(const struct join_answer *a, const char *node_labels,
		       char **ret);
/* Overwrites every occurrence of the token, and of its secret half, in
 * text with '*': for output that may be logged. */
void join_redact(char *text, const char *token);
/* Wipes a JSON string's bytes in place (before json_decref()). */
void join_wipe_string(json_t *s);
