/* SPDX-License-Identifier: MIT */
/* The files the steps write on the host (/etc/...), each under the
 * configured root_dir ("/" on a node, a temp dir in unit tests). Written
 * whole or not at all, only when their content or mode differ. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* root + abs into buf; abs must be absolute and free of "..". */
int hostfs_path(const char *root, const char *abs, char *buf, size_t size);
/* Creates the missing directories above abs (0755). */
int hostfs_mkdir_parents(const char *root, const char *abs);
/* 1 when written, 0 when it already had this content and mode. */
int hostfs_write(const char *root, const char *abs, const char *data,
		 size_t len, mode_t mode);
/* -ENOENT when missing. */
int hostfs_read(const char *root, const char *abs, size_t max, char **ret,
		size_t *ret_len);
/* 1 when removed, 0 when it was not there. */
int hostfs_remove(const char *root, const char *abs);
bool hostfs_exists(const char *root, const char *abs);
