/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests) for the Kubernetes API server: only what
 * geostage and the kubeadm stand-in call. See README.md. */
#pragma once

#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "version.h"

#define API_IDENT "kube-apiserver " STANDIN_BANNER

struct apiserver {
	char *state_dir;
	int secrets_dirfd; /* STATE/secrets: one JSON file per Secret */
	int nodes_dirfd;   /* STATE/nodes: one JSON file per Node */
	EVP_PKEY *ca_key;
	X509 *ca;
	char *ca_pem;
	char *server_url; /* https://HOST:PORT, as in the kubeconfig */
	struct standin_version version;
	json_t *secrets; /* name -> Secret as stored (data in base64) */
	json_t *nodes;	 /* name -> Node */
	unsigned long resource_version;
};

enum api_who { WHO_ANONYMOUS, WHO_BOOTSTRAP, WHO_NODE, WHO_ADMIN };

struct api_identity {
	enum api_who who;
	char user[128]; /* "system:node:NAME", "system:bootstrap:ID" ... */
	char node[64];	/* for WHO_NODE */
};

/* apiserver-http.c: the request router and Kubernetes-style answers. */
void api_handle(struct evhttp_request *req, void *userdata);
void api_reply_json(struct evhttp_request *req, int code, json_t *j);
/* A metav1.Status failure; kind/name fill "details" when not NULL. */
void api_reply_status(struct evhttp_request *req, int code, const char *reason,
		      const char *kind, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* 422 Invalid: `KIND "NAME" is invalid: FIELD: MESSAGE`. */
void api_reply_invalid(struct evhttp_request *req, const char *kind,
		       const char *resource, const char *name,
		       const char *field, const char *message);
/* Content type, size and JSON checks; replies 415/400 itself and returns
 * NULL on refusal. */
json_t *api_read_json(struct evhttp_request *req, const char *what);
const char *api_bearer(struct evhttp_request *req);
void api_uid(char buf[37]);
void api_now(char buf[32]);

/* apiserver-secrets.c */
void secrets_create(struct apiserver *a, struct evhttp_request *req);
/* 0 when token ("id.secret") matches a stored, unexpired Secret usable
 * for authentication; -EACCES otherwise. */
int secrets_authenticate(struct apiserver *a, const char *token);
/* Adds "jws-kubeconfig-<id>" for every unexpired signing token. */
int secrets_sign_cluster_info(struct apiserver *a, const char *kubeconfig,
			      json_t *data);

/* apiserver-nodes.c */
void nodes_join(struct apiserver *a, struct evhttp_request *req);
void nodes_get(struct apiserver *a, struct evhttp_request *req,
	       const char *name);
void nodes_delete(struct apiserver *a, struct evhttp_request *req,
		  const char *name);
void nodes_list(struct apiserver *a, struct evhttp_request *req);

/* apiserver-store.c: STATE/secrets and STATE/nodes (0700 dirs, 0600
 * files named after validated object names). */
int store_open(struct apiserver *a);
int store_save(int dirfd, const char *name, json_t *obj);
int store_delete(int dirfd, const char *name);
