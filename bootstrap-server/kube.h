/* SPDX-License-Identifier: MIT */
/* A small client for the Kubernetes API over libcurl, with the least the
 * server needs: read a kubeconfig, GET /version, create a bootstrap-token
 * Secret in kube-system, delete a Node. */
#pragma once

#include <stdint.h>

#define KUBE_TOKEN_TTL (15 * 60)

struct kube;

/* The kubeconfig's current context: server URL, cluster CA, and a client
 * certificate/key or a bearer token (inline data only). */
int kube_open(const char *kubeconfig, struct kube **ret);
void kube_free(struct kube *k);
/* host:port of the API server, as the kubeconfig names it. */
const char *kube_endpoint(const struct kube *k);
/* "sha256:<hex>" of the cluster CA's SubjectPublicKeyInfo (caCertHashes). */
int kube_ca_cert_hash(const struct kube *k, char **ret);
/* gitVersion, e.g. "v1.31.2". */
int kube_version(struct kube *k, char **ret);
/* Mints "<6>.<16>" now, valid KUBE_TOKEN_TTL; the token is a secret. */
int kube_bootstrap_token(struct kube *k, const char *node, int64_t now,
			 char ret_token[24], int64_t *ret_expires);
/* -ENOENT when there is no such Node. */
int kube_delete_node(struct kube *k, const char *name);
