/* SPDX-License-Identifier: MIT */
/* Names that reach file names, certificates and Kubernetes: node and site
 * names are lowercase RFC 1123 labels; labels follow Kubernetes' syntax. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 63

bool name_is_dns_label(const char *s);
/* Labels OpenVPN or Kubernetes give a meaning of their own ("default"). */
bool name_is_reserved(const char *s);
/* A node name proposal from any hostname: first label, lowercased, other
 * bytes mapped to '-', trimmed to at most max (<= 63) bytes; "node" when
 * nothing usable is left. */
void name_from_hostname(const char *hostname, char *ret, size_t max);
/* Every byte an ASCII letter, a digit or one of the bytes of extra: the
 * building block of the syntax checks of apt sources and image names. */
bool name_chars_valid(const char *s, const char *extra);
/* Kubernetes label key ([prefix/]name) and value. */
bool label_key_is_valid(const char *key);
bool label_value_is_valid(const char *value);
