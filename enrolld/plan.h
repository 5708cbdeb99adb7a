/* SPDX-License-Identifier: MIT */
/* What the enroll answer (enroll.json in the state dir) tells the later
 * steps: PROTOCOL.md "Multi-site fields". Each step reads the section it
 * needs, strictly: a field it needs that is missing or null is -ENODATA, a
 * malformed one -EBADMSG, both with err naming the field; the step fails
 * with the configuration class (the server's configuration). Strings point
 * into the answer: keep it alive while the section is used. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define PLAN_REMOTES_MAX 8
#define PLAN_ROUTES_MAX 64
#define PLAN_SOURCES_MAX 8
#define PLAN_COMPONENTS_MAX 8
#define PLAN_PACKAGES_MAX 8
#define PLAN_VERSION_MAX 31
#define PLAN_KEY_MAX (64 * 1024)
#define PLAN_FPR_MAX 64

struct plan_vpn {
	bool gateway_role; /* role "gateway" */
	bool direct; /* this host runs the tunnel: mode direct or a gateway */
	const char *address; /* the VPN address; needed when direct */
	unsigned prefix_len;
	const char *remotes[PLAN_REMOTES_MAX]; /* "HOST:PORT" */
	size_t n_remotes;
	const char *proto; /* "udp" or "tcp" */
	const char *tls_crypt;
	const char *routes[PLAN_ROUTES_MAX]; /* CIDRs */
	size_t n_routes;
	const char *site_prefix; /* needed when routed */
	const char *gateway;	 /* needed when routed */
};

struct plan_source {
	const char *name; /* a DNS label */
	const char *uri;
	const char *suite; /* ending in '/': a flat repository */
	const char *components[PLAN_COMPONENTS_MAX];
	size_t n_components;
	const char *key;		    /* armored OpenPGP public key */
	char fingerprint[PLAN_FPR_MAX + 1]; /* uppercase hex, no spaces */
};

struct plan_packages {
	struct plan_source sources[PLAN_SOURCES_MAX];
	size_t n_sources;
	char version[PLAN_VERSION_MAX + 1]; /* "1.31.2", no 'v' */
	const char *packages[PLAN_PACKAGES_MAX];
	size_t n_packages;
	const char *runtime; /* "containerd" */
	const char *pause_image;
};

struct plan_kube {
	const char *api_endpoint;	    /* "HOST:PORT" */
	char version[PLAN_VERSION_MAX + 1]; /* "1.31.2", "" when null */
};

/* enroll.json from the state dir. */
int plan_load(const char *state_dir, json_t **ret);
int plan_vpn_get(json_t *answer, struct plan_vpn *ret, char *err, size_t errsz);
int plan_packages_get(json_t *answer, struct plan_packages *ret, char *err,
		      size_t errsz);
int plan_kube_get(json_t *answer, struct plan_kube *ret, char *err,
		  size_t errsz);

/* "v1.31.2" or "1.31.2" into "1.31.2"; -EINVAL for anything else. */
int plan_version_normalize(const char *s, char ret[PLAN_VERSION_MAX + 1]);
/* The minor of a normalized version ("1.31.2" -> 31). */
int plan_version_minor(const char *version, unsigned *ret_major,
		       unsigned *ret_minor);
/* Full fingerprint: 40 or 64 hex digits, spaces ignored; uppercased. */
int plan_fingerprint_normalize(const char *s, char ret[PLAN_FPR_MAX + 1]);
/* Syntax checks shared with the tests. */
bool plan_package_name_valid(const char *s);
bool plan_image_valid(const char *s);
