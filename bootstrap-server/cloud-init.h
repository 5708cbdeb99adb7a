/* SPDX-License-Identifier: MIT */
/* "token create --output cloud-init": the #cloud-config that turns a fresh
 * Debian VM into an enrolling node. */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "server-config.h"
#include "token.h"

/* The package sources the user-data adds: every apt_source of
 * bootstrap.conf, keys read and checked. -ENOENT when there is none;
 * -EBADMSG when a key file is not an ASCII-armored OpenPGP public key
 * block, with *ret_bad naming that source. Call it before the token is
 * made, so that a refusal spends nothing. */
int cloud_init_sources(const struct server_config *cfg, json_t **ret_sources,
		       const char **ret_bad);

/* Prints the #cloud-config: the sources' keys and deb822 files, the token
 * in /etc/geostage/token (0600, root), the geostage-enrolld package, and
 * "systemctl start --no-block geostage-enrolld.service" in runcmd. The
 * token appears once, in write_files. */
int cloud_init_print(FILE *f, json_t *sources, const struct token_claims *c,
		     const char *token);
