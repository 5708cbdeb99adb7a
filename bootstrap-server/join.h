/* SPDX-License-Identifier: MIT */
/* POST /v1/join: a kubeadm bootstrap token minted now, and what kubeadm
 * needs beside it (docs/PROTOCOL.md). */
#pragma once

#include <openssl/x509.h>
#include <stdint.h>

#include "enroll.h"
#include "ratelimit.h"
#include "server.h"

/* Each answer mints a bootstrap token in the cluster: an enrolled node
 * that asks again and again (a bug, or a stolen node key) gets at most
 * JOIN_MINTS_MAX of them per JOIN_WINDOW_S, room for every retry an agent
 * makes, and then 429. */
#define JOIN_MINTS_MAX 10
#define JOIN_WINDOW_S 3600

/* peer: the verified client certificate, or NULL; limit: counts the
 * tokens minted per node. */
int join_answer(struct server *s, X509 *peer, int64_t now,
		struct ratelimit *limit, struct enroll_answer *ret);
