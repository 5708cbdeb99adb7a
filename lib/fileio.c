/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

int
fsync_dir_at(int dirfd)
{
	_cleanup_close_ int fd = -1;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fsync(fd) < 0)
		return negative_errno();
	return 0;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int
write_file_atomic_at(int dirfd, const char *name, const void *data,
		     size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	char tmp[300];
	uint64_t rnd;
	int r;

	if (!*name || strchr(name, '/') || streq(name, ".") ||
	    streq(name, "..") || strlen(name) > 200)
		return -EINVAL;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	snprintf(tmp, sizeof(tmp), ".#%s.%016llx", name,
		 (unsigned long long)rnd);

	fd = openat(dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return negative_errno();
	/* The umask must not widen or narrow what the caller asked for. */
	if (fchmod(fd, mode) < 0)
		goto fail_errno;
	r = write_all(fd, data, len);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0)
		goto fail_errno;
	if (close(TAKE_FD(fd)) < 0)
		goto fail_errno;
	/* rename() replaces a planted symlink itself, never its target. */
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto fail_errno;
	return fsync_dir_at(dirfd);

fail_errno:
	r = negative_errno();
fail:
	(void)unlinkat(dirfd, tmp, 0);
	return r;
}

static int
split_path(const char *path, int *ret_dirfd, const char **ret_name)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd;

	if (!slash) {
		*ret_name = path;
		fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
		*ret_name = slash + 1;
		fd = open(n ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return negative_errno();
	*ret_dirfd = fd;
	return 0;
}

int
write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_close_ int dirfd = -1;
	const char *name;
	int r;

	r = split_path(path, &dirfd, &name);
	if (r < 0)
		return r;
	return write_file_atomic_at(dirfd, name, data, len, mode);
}

int
read_file_at(int dirfd, const char *name, size_t max, char **ret,
	     size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;

	/* O_NONBLOCK: opening a planted FIFO must not hang; dropped once the
	 * file is known to be a regular one. */
	fd = openat(dirfd, name,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if (fcntl(fd, F_SETFL, 0) < 0)
		return negative_errno();
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k = read(fd, buf + n, max + 1 - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n > max)
			return -EFBIG;
	}
	buf[n] = '\0';
	if (ret_len)
		*ret_len = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

int
read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	return read_file_at(AT_FDCWD, path, max, ret, ret_len);
}

int
unlink_file_at(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return negative_errno();
	}
	return fsync_dir_at(dirfd);
}

int
mkdir_safe(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return negative_errno();
	if (lstat(path, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}
