/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests): the Kubernetes version the kubeadm, kubelet
 * and kubectl stand-ins claim to be. No dependency beyond libc, so that
 * the kubelet and kubectl stand-ins link nothing else. */
#pragma once

#include <stddef.h>

/* Compiled-in default; make-debs.sh and standins.am pass -DSTANDIN_VERSION. */
#ifndef STANDIN_VERSION
#define STANDIN_VERSION "1.31.2"
#endif

#define STANDIN_BANNER "STAND-IN (geostage tests)"

struct standin_version {
	unsigned major, minor, patch;
	char text[32]; /* "v1.31.2" */
};

/* "v1.31.2" or "1.31.2" (a Debian revision such as "-1.1" is ignored). */
int standin_version_parse(const char *s, struct standin_version *ret);
/* $KUBEADM_STANDIN_ROOT/usr/share/geostage-standin/PROG/version when that
 * file exists (each package ships its own), else STANDIN_VERSION. */
int standin_version_get(const char *prog, struct standin_version *ret);
/* $KUBEADM_STANDIN_ROOT ("" when unset): prefixed to every path the
 * stand-ins read or write on the host, so tests never touch /etc. */
const char *standin_root(void);
/* root + path into buf; -ENAMETOOLONG when it does not fit. */
int standin_path(char *buf, size_t size, const char *path);
