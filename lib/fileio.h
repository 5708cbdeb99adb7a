/* SPDX-License-Identifier: MIT */
/* Files that matter: written whole or not at all (temp, fsync, rename, fsync
 * dir), never through a symlink, mode set at creation. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Atomically replace dir/name with data. name must be a plain file name. */
int write_file_atomic_at(int dirfd, const char *name, const void *data,
			 size_t len, mode_t mode);
int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode);
/* Read a regular file of at most max bytes (O_NOFOLLOW). The buffer is
 * NUL-terminated; *ret_len excludes the NUL. -EFBIG when larger. */
int read_file_at(int dirfd, const char *name, size_t max, char **ret,
		 size_t *ret_len);
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Remove dir/name and fsync dir; absent is success. */
int unlink_file_at(int dirfd, const char *name);
/* mkdir -p of one level with the given mode; an existing dir is fine but
 * must not be a symlink. */
int mkdir_safe(const char *path, mode_t mode);
int fsync_dir_at(int dirfd);
