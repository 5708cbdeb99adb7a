/* SPDX-License-Identifier: MIT */
/* The fields of an apt source as geostage passes them from the server's
 * bootstrap.conf (apt_source) through the enroll answer to the agent's
 * deb822 file: one syntax, checked on both sides, so that a typo stops
 * the server at start instead of every node at its packages step. Each
 * allows only what a deb822 field value or a file name can hold safely. */
#pragma once

#include <stdbool.h>

/* http:// or https://, at most 512 bytes, URI characters only. */
bool aptsrc_uri_valid(const char *s);
/* At most 64 of [A-Za-z0-9._/-], not starting with '-'. */
bool aptsrc_suite_valid(const char *s);
/* At most 64 of [A-Za-z0-9._-], not starting with '-'. */
bool aptsrc_component_valid(const char *s);
/* A suite ending in '/' names a flat repository: no components. */
bool aptsrc_suite_is_flat(const char *s);
