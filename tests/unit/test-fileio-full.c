/* SPDX-License-Identifier: MIT */
/* lib/fileio on a full disk: a 64 KiB tmpfs mounted in a private mount
 * namespace (nothing leaks if the test dies). A failed write must leave the
 * old file whole, no temp file behind, and the space free again. Needs
 * root; says SKIP otherwise. Its own program because cmocka 1.1.5 reports
 * skip() as "not ok ... # SKIP", which automake counts as a failure. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fileio.h"
#include "macro.h"

#define DISK_SIZE (64 * 1024)

static char mnt[] = "/tmp/geostage-test-full.XXXXXX";
static bool mounted;

/* Removes every file in the tmpfs, then gives the test a dir fd. */
static int
setup(void **state)
{
	int *fd = malloc(sizeof(*fd));
	DIR *dir;
	struct dirent *e;

	if (!fd)
		return -1;
	*fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return -1;
	dir = fdopendir(dup(*fd));
	if (!dir)
		return -1;
	/* A dup shares the offset: start from the top. */
	rewinddir(dir);
	while ((e = readdir(dir)))
		if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
			unlinkat(*fd, e->d_name, 0);
	closedir(dir);
	*state = fd;
	return 0;
}

static int
teardown(void **state)
{
	int *fd = *state;

	close(*fd);
	free(fd);
	return 0;
}

static size_t
count_entries(int dirfd)
{
	DIR *dir = fdopendir(dup(dirfd));
	struct dirent *e;
	size_t n = 0;

	assert_non_null(dir);
	rewinddir(dir);
	while ((e = readdir(dir)))
		if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

static unsigned long
free_blocks(int dirfd)
{
	struct statvfs st;

	assert_int_equal(fstatvfs(dirfd, &st), 0);
	return st.f_bfree;
}

static void
assert_content(int dirfd, const char *name, const void *data, size_t len)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;

	assert_int_equal(read_file_at(dirfd, name, DISK_SIZE, &buf, &n), 0);
	assert_int_equal(n, len);
	if (len)
		assert_memory_equal(buf, data, len);
}

/* Fills the disk with an unrelated file until the next write fails. */
static void
fill_disk(int dirfd)
{
	_cleanup_close_ int fd = -1;
	char block[4096];

	memset(block, 'f', sizeof(block));
	fd = openat(dirfd, "filler", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	assert_true(fd >= 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	assert_int_equal(errno, ENOSPC);
	while (write(fd, block, 1) > 0)
		;
}

static void
test_write_larger_than_disk_keeps_old_file(void **state)
{
	int dirfd = *(int *)*state;
	_cleanup_free_ char *big = malloc(4 * DISK_SIZE);
	struct stat st;

	assert_non_null(big);
	memset(big, 'n', 4 * DISK_SIZE);
	assert_int_equal(
		write_file_atomic_at(dirfd, "state.json", "old state", 9, 0600),
		0);
	assert_int_equal(write_file_atomic_at(dirfd, "state.json", big,
					      4 * DISK_SIZE, 0644),
			 -ENOSPC);
	assert_content(dirfd, "state.json", "old state", 9);
	assert_int_equal(fstatat(dirfd, "state.json", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_entries(dirfd), 1);
}

static void
test_write_on_completely_full_disk_keeps_old_file(void **state)
{
	int dirfd = *(int *)*state;
	char page[4096 + 1];

	memset(page, 'n', sizeof(page));
	assert_int_equal(write_file_atomic_at(dirfd, "ccd", "old", 3, 0600), 0);
	fill_disk(dirfd);
	assert_true(write_file_atomic_at(dirfd, "ccd", page, sizeof(page),
					 0600) < 0);
	assert_content(dirfd, "ccd", "old", 3);
	assert_int_equal(count_entries(dirfd), 2);
}

static void
test_failed_write_gives_the_space_back(void **state)
{
	int dirfd = *(int *)*state;
	_cleanup_free_ char *big = malloc(4 * DISK_SIZE);
	unsigned long before;

	assert_non_null(big);
	memset(big, 'n', 4 * DISK_SIZE);
	assert_int_equal(write_file_atomic_at(dirfd, "f", "x", 1, 0600), 0);
	before = free_blocks(dirfd);
	assert_int_equal(
		write_file_atomic_at(dirfd, "f", big, 4 * DISK_SIZE, 0600),
		-ENOSPC);
	/* No temp file kept alive by a leaked descriptor either. */
	assert_int_equal(free_blocks(dirfd), before);
	assert_int_equal(write_file_atomic_at(dirfd, "f", "y", 1, 0600), 0);
	assert_content(dirfd, "f", "y", 1);
}

/* Growing writes until and past the point where the disk runs out: after
 * each one the file is exactly the new content or exactly the last content
 * that was written successfully, and only the file itself exists. */
static void
test_every_write_leaves_old_or_new_file(void **state)
{
	int dirfd = *(int *)*state;
	_cleanup_free_ char *buf = malloc(DISK_SIZE);
	size_t len, last_len = 0;
	int failures = 0;
	char last = 0;

	assert_non_null(buf);
	for (len = 1000; len < DISK_SIZE; len += 1499) {
		char fill = (char)('a' + (len / 1499) % 26);
		int r;

		memset(buf, fill, len);
		r = write_file_atomic_at(dirfd, "state", buf, len, 0600);
		if (r == 0) {
			last = fill;
			last_len = len;
		} else {
			assert_int_equal(r, -ENOSPC);
			failures++;
		}
		assert_int_equal(count_entries(dirfd), last_len ? 1 : 0);
		if (last_len) {
			_cleanup_free_ char *got = NULL;
			size_t n = 0, i;
			assert_int_equal(read_file_at(dirfd, "state", DISK_SIZE,
						      &got, &n),
					 0);
			assert_int_equal(n, last_len);
			for (i = 0; i < n; i++)
				if (got[i] != last)
					fail_msg("byte %zu of %zu is '%c', "
						 "want '%c'",
						 i, n, got[i], last);
		}
	}
	/* The disk really did run out along the way. */
	assert_true(failures > 0);
	assert_true(last_len > 0);
}

/* A private mount namespace and a small tmpfs, or a reason why not. */
static const char *
mount_tmpfs(void)
{
	if (geteuid() != 0)
		return "not root: cannot mount a tmpfs";
	if (unshare(CLONE_NEWNS) < 0)
		return "cannot unshare a mount namespace";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return "cannot make / private in the new mount namespace";
	if (!mkdtemp(mnt))
		return "cannot create a temp dir";
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=64k,mode=0700") < 0) {
		rmdir(mnt);
		return "cannot mount a tmpfs";
	}
	mounted = true;
	return NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_write_larger_than_disk_keeps_old_file),
		T(test_write_on_completely_full_disk_keeps_old_file),
		T(test_failed_write_gives_the_space_back),
		T(test_every_write_leaves_old_or_new_file),
#undef T
	};
	const char *why = mount_tmpfs();
	int r;

	if (why) {
		printf("1..0 # SKIP %s\n", why);
		return 0;
	}
	r = cmocka_run_group_tests_name("fileio-full", tests, NULL, NULL);
	if (mounted) {
		umount2(mnt, MNT_DETACH);
		rmdir(mnt);
	}
	return r;
}
