/* SPDX-License-Identifier: MIT */
/* POST /v1/join: a kubeadm bootstrap token minted now, and what kubeadm
 * needs beside it (docs/PROTOCOL.md). */
#pragma once

#include <openssl/x509.h>
#include <stdint.h>

#include "enroll.h"
#include "server.h"

/* peer: the verified client certificate, or NULL. */
int join_answer(struct server *s, X509 *peer, int64_t now,
		struct enroll_answer *ret);
