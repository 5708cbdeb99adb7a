/* SPDX-License-Identifier: MIT */
/* Shared by kube.c and kube-config.c. */
#pragma once

#include <stddef.h>

#include "kube.h"
#include "macro.h"

struct kube {
	char *server;	/* https://host:port */
	char *endpoint; /* host:port */
	char *ca_pem;
	char *cert_pem; /* client certificate, or NULL with a token */
	char *key_pem;	/* secret */
	char *token;	/* secret */
};

int kube_config_parse(const char *text, size_t len, struct kube *k);
int kube_config_read(const char *path, struct kube *k);
