/* SPDX-License-Identifier: MIT */
/* kubeadm STAND-IN (geostage tests): not the real kubeadm. It validates the
 * JoinConfiguration geostage writes as strictly as the real kubeadm and
 * kubelet would (and a little more), then joins through the API server
 * stand-in. See README.md. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "macro.h"
#include "version.h"

#define KUBEADM_IDENT "kubeadm " STANDIN_BANNER
#define HASHES_MAX 8
#define IGNORE_MAX 32

struct join_config {
	const char *api_version;
	char *endpoint; /* HOST:PORT */
	char *token;	/* "id.secret": a secret, wiped on free */
	char *hashes[HASHES_MAX];
	size_t n_hashes;
	char *node_name;
	char *node_ip;
	char *cri_socket; /* unix:///... */
	json_t *labels;	  /* from node-labels: key -> value */
	json_t *args;	  /* kubelet flags: [[name, value]...] */
	char *ignore[IGNORE_MAX];
	size_t n_ignore;
};

void join_config_free(struct join_config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct join_config *, join_config_free)

/* kubeadm-config.c: reads and validates FILE; prints why not on stderr. */
int join_config_load(const char *path, const struct standin_version *v,
		     struct join_config **ret);

/* kubeadm-kubelet.c: kubeletExtraArgs as the kubelet would take them. */
int kubelet_args_check(struct join_config *c, char *err, size_t size);
bool ip_is_local(const char *ip);

/* kubeadm-discovery.c: token discovery as the real kubeadm does it:
 * cluster-info fetched without trust, its JWS checked with the token, its
 * CA checked against caCertHashes, then TLS with that CA only. Returns the
 * CA's PEM. Prints kubeadm-style errors. */
int discovery_run(const struct join_config *c, const struct standin_version *v,
		  char **ret_ca_pem);
struct http_reply {
	long code;
	char *body;
};
/* HTTPS to https://ENDPOINT + path; ca_pem NULL means no verification
 * (discovery's first request only). body non-NULL makes it a JSON POST. */
int http_call(const char *endpoint, const char *path, const char *ca_pem,
	      const char *bearer, const char *body, struct http_reply *ret,
	      char *err, size_t size);

/* kubeadm-join.c */
int kubeadm_join(int argc, char **argv, const struct standin_version *v);
int kubeadm_reset(int argc, char **argv);
/* Best effort "systemctl ACTION kubelet" when systemd runs and no
 * KUBEADM_STANDIN_ROOT is set. */
void kubelet_service(const char *action);
