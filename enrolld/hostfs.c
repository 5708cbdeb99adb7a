/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <limits.h>
#include <sys/stat.h>

#include "fileio.h"
#include "hostfs.h"
#include "macro.h"

#define HOSTFS_COMPARE_MAX (1024 * 1024)

static bool
path_is_clean(const char *abs)
{
	const char *p = abs;

	if (abs[0] != '/')
		return false;
	/* No "." or ".." component anywhere. */
	while ((p = strchr(p, '/'))) {
		p++;
		if ((p[0] == '.' && (p[1] == '/' || !p[1])) ||
		    (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])))
			return false;
	}
	return true;
}

int
hostfs_path(const char *root, const char *abs, char *buf, size_t size)
{
	size_t n = strlen(root);
	int k;

	if (!path_is_clean(abs))
		return -EINVAL;
	while (n > 0 && root[n - 1] == '/')
		n--;
	k = snprintf(buf, size, "%.*s%s", (int)n, root, abs);
	return k < 0 || (size_t)k >= size ? -ENAMETOOLONG : 0;
}

int
hostfs_mkdir_parents(const char *root, const char *abs)
{
	char path[PATH_MAX], *p;
	size_t skip;
	struct stat st;
	int r;

	r = hostfs_path(root, abs, path, sizeof(path));
	if (r < 0)
		return r;
	/* root itself must exist; only what is below it is created. */
	skip = strlen(path) - strlen(abs);
	for (p = strchr(path + skip + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return negative_errno();
		if (stat(path, &st) < 0)
			return negative_errno();
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		*p = '/';
	}
	return 0;
}

static bool
same_file(const char *path, const char *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *old = NULL;
	size_t old_len;
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 07777) != mode || (size_t)st.st_size != len)
		return false;
	if (read_file(path, HOSTFS_COMPARE_MAX, &old, &old_len) < 0)
		return false;
	return old_len == len && memcmp(old, data, len) == 0;
}

int
hostfs_write(const char *root, const char *abs, const char *data, size_t len,
	     mode_t mode)
{
	char path[PATH_MAX];
	int r;

	r = hostfs_path(root, abs, path, sizeof(path));
	if (r < 0)
		return r;
	if (same_file(path, data, len, mode))
		return 0;
	r = hostfs_mkdir_parents(root, abs);
	if (r < 0)
		return r;
	r = write_file_atomic(path, data, len, mode);
	return r < 0 ? r : 1;
}

int
hostfs_read(const char *root, const char *abs, size_t max, char **ret,
	    size_t *ret_len)
{
	char path[PATH_MAX];
	int r;

	r = hostfs_path(root, abs, path, sizeof(path));
	if (r < 0)
		return r;
	return read_file(path, max, ret, ret_len);
}

int
hostfs_remove(const char *root, const char *abs)
{
	char path[PATH_MAX];
	int r;

	r = hostfs_path(root, abs, path, sizeof(path));
	if (r < 0)
		return r;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : negative_errno();
	return 1;
}

bool
hostfs_exists(const char *root, const char *abs)
{
	char path[PATH_MAX];
	struct stat st;

	return hostfs_path(root, abs, path, sizeof(path)) == 0 &&
	       lstat(path, &st) == 0;
}
