/* SPDX-License-Identifier: MIT */
/* The HTTP API (docs/PROTOCOL.md): routing, request limits, the error
 * contract, and the glue between evhttp and enroll.c. */
#pragma once

#include <event2/http.h>

#include "httpd.h"
#include "metrics.h"
#include "ratelimit.h"
#include "server.h"

#define API_BODY_MAX (64 * 1024)
#define API_HEADERS_MAX (8 * 1024)

struct api {
	struct server *server;
	struct httpd *httpd;
	struct metrics *metrics;
	struct ratelimit *ratelimit;
	struct ratelimit *join_limit; /* bootstrap tokens minted per node */
	char *jwks;		      /* GET /v1/keys, rendered once */
};

int api_init(struct api *api, struct server *s);
void api_done(struct api *api);
/* The evhttp request callback; userdata is the struct api. */
void api_handle(struct evhttp_request *req, void *userdata);
