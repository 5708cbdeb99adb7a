/* SPDX-License-Identifier: MIT */
/* lib/fileio: atomic writes, symlink-proof reads, removal. Every test gets
 * a fresh directory under /tmp and removes it. A full disk is in
 * test-fileio-full.c. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fileio.h"
#include "macro.h"

struct dir {
	char path[64];
	int fd;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	strcpy(d->path, "/tmp/geostage-test-fileio.XXXXXX");
	if (!mkdtemp(d->path))
		return -1;
	d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return -1;
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct dir *d = *state;

	close(d->fd);
	nftw(d->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
	return 0;
}

static char *
path_in(struct dir *d, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", d->path, name) > 0);
	return p;
}

static void
write_plain(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
assert_file_is(const char *path, const char *text)
{
	_cleanup_free_ char *buf = NULL;
	size_t n;

	assert_int_equal(read_file(path, 1 << 20, &buf, &n), 0);
	assert_int_equal(n, strlen(text));
	assert_string_equal(buf, text);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Names in dirpath other than "." and "..". */
static size_t
count_entries(const char *dirpath)
{
	DIR *dir = opendir(dirpath);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)))
		if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

/* --- write_file_atomic ------------------------------------------------ */

static void
test_write_creates_file_with_content(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "state.json");

	assert_int_equal(write_file_atomic(p, "{\"step\":1}", 10, 0600), 0);
	assert_file_is(p, "{\"step\":1}");
	assert_int_equal(count_entries(d->path), 1);
}

static void
test_write_mode_exact_regardless_of_umask(void **state)
{
	static const struct {
		mode_t umask, mode;
	} cases[] = {
		{0077, 0644}, {0022, 0600}, {0000, 0600},
		{0777, 0640}, {0002, 0444}, {0027, 0664},
	};
	struct dir *d = *state;
	mode_t saved = umask(0);
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *p = NULL;
		char name[32];

		snprintf(name, sizeof(name), "f%zu", i);
		p = path_in(d, name);
		umask(cases[i].umask);
		assert_int_equal(write_file_atomic(p, "x", 1, cases[i].mode),
				 0);
		umask(0);
		if (mode_of(p) != cases[i].mode) {
			umask(saved);
			fail_msg("umask %04o mode %04o: file has %04o",
				 cases[i].umask, cases[i].mode, mode_of(p));
		}
	}
	umask(saved);
}

static void
test_write_replaces_content_and_mode(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "ccd");
	struct stat before, after;

	assert_int_equal(write_file_atomic(p, "old old old", 11, 0644), 0);
	assert_int_equal(stat(p, &before), 0);
	assert_int_equal(write_file_atomic(p, "new", 3, 0600), 0);
	assert_int_equal(stat(p, &after), 0);
	assert_file_is(p, "new");
	assert_int_equal(mode_of(p), 0600);
	/* A new inode renamed over the old one, not an in-place rewrite. */
	assert_int_not_equal(before.st_ino, after.st_ino);
	assert_int_equal(count_entries(d->path), 1);
}

static void
test_write_old_file_open_keeps_old_content(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "key.pem");
	_cleanup_close_ int fd = -1;
	char buf[16] = {0};

	assert_int_equal(write_file_atomic(p, "first", 5, 0600), 0);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write_file_atomic(p, "second", 6, 0600), 0);
	/* A reader that had the old file sees all of it, never a mix. */
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 5);
	assert_string_equal(buf, "first");
}

static void
test_write_empty_file(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "empty");

	assert_int_equal(write_file_atomic(p, "", 0, 0600), 0);
	assert_file_is(p, "");
}

static void
test_write_at_refuses_names_with_slash(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *long_name = malloc(202);

	assert_non_null(long_name);
	memset(long_name, 'n', 201);
	long_name[201] = '\0';
	assert_int_equal(write_file_atomic_at(d->fd, "a/b", "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(write_file_atomic_at(d->fd, "../escape", "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(write_file_atomic_at(d->fd, "/tmp/x", "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(write_file_atomic_at(d->fd, "", "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(write_file_atomic_at(d->fd, ".", "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(write_file_atomic_at(d->fd, "..", "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(write_file_atomic_at(d->fd, long_name, "x", 1, 0600),
			 -EINVAL);
	assert_int_equal(count_entries(d->path), 0);
}

static void
test_write_replaces_planted_symlink_not_its_target(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *victim = path_in(d, "victim"),
			    *p = path_in(d, "state.json");
	struct stat st;

	write_plain(victim, "do not touch");
	assert_int_equal(symlink(victim, p), 0);
	assert_int_equal(write_file_atomic(p, "mine", 4, 0600), 0);
	/* The name is now a regular file of ours... */
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_file_is(p, "mine");
	/* ...and what the link pointed to is untouched. */
	assert_file_is(victim, "do not touch");
}

static void
test_write_replaces_dangling_symlink(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *target = path_in(d, "would-be-created"),
			    *p = path_in(d, "cfg");
	struct stat st;

	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(write_file_atomic(p, "x", 1, 0600), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(access(target, F_OK), -1);
}

static void
test_write_leaves_no_temp_file(void **state)
{
	struct dir *d = *state;
	int i;

	for (i = 0; i < 20; i++)
		assert_int_equal(
			write_file_atomic_at(d->fd, "f", "abc", 3, 0600), 0);
	assert_int_equal(count_entries(d->path), 1);
}

static void
test_write_into_missing_dir_fails(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "nope/file");

	assert_int_equal(write_file_atomic(p, "x", 1, 0600), -ENOENT);
}

/* --- read_file -------------------------------------------------------- */

static void
test_read_returns_nul_terminated_content(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "f"), *buf = NULL;
	size_t n = 0;

	write_plain(p, "hello");
	assert_int_equal(read_file(p, 100, &buf, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "hello", 6);
}

static void
test_read_refuses_symlink(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *real = path_in(d, "real"), *link = path_in(d, "l");
	char *buf = NULL;

	write_plain(real, "secret");
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(read_file(link, 100, &buf, NULL), -ELOOP);
	assert_int_equal(read_file_at(d->fd, "l", 100, &buf, NULL), -ELOOP);
	assert_null(buf);
}

static void
test_read_refuses_directory_and_device(void **state)
{
	struct dir *d = *state;
	char *buf = NULL;

	assert_true(read_file(d->path, 100, &buf, NULL) < 0);
	assert_true(read_file("/dev/null", 100, &buf, NULL) < 0);
	assert_true(read_file("/dev/zero", 100, &buf, NULL) < 0);
	assert_null(buf);
}

/* A FIFO planted where a file is expected must be refused, not block the
 * reader until someone writes to it. Run in a child with a deadline. */
static void
test_read_refuses_fifo_without_blocking(void **state)
{
	struct dir *d = *state;
	char *p = path_in(d, "fifo");
	struct timespec tick = {0, 10 * 1000 * 1000};
	int status = 0, i;
	pid_t pid, w = 0;

	assert_int_equal(mkfifo(p, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *buf = NULL;
		int r = read_file(p, 100, &buf, NULL);
		_exit(r < 0 ? 0 : 1);
	}
	free(p);
	for (i = 0; i < 200 && w == 0; i++) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == 0)
			nanosleep(&tick, NULL);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("read_file still blocked on a FIFO after 2 s");
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_read_over_max_is_efbig(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "f"), *ok = NULL;
	char *buf = NULL;
	size_t n;

	write_plain(p, "0123456789");
	assert_int_equal(read_file(p, 9, &buf, &n), -EFBIG);
	assert_null(buf);
	assert_int_equal(read_file(p, 10, &ok, &n), 0);
	assert_int_equal(n, 10);
}

static void
test_read_max_zero(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *e = path_in(d, "e"), *f = path_in(d, "f"),
			    *buf = NULL;
	char *none = NULL;
	size_t n = 9;

	write_plain(e, "");
	write_plain(f, "x");
	assert_int_equal(read_file(e, 0, &buf, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(read_file(f, 0, &none, &n), -EFBIG);
}

static void
test_read_missing_is_enoent(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "absent");
	char *buf = NULL;

	assert_int_equal(read_file(p, 100, &buf, NULL), -ENOENT);
}

/* --- unlink_file_at, mkdir_safe --------------------------------------- */

static void
test_unlink_absent_is_ok(void **state)
{
	struct dir *d = *state;

	assert_int_equal(unlink_file_at(d->fd, "absent"), 0);
}

static void
test_unlink_removes_file(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "f");

	write_plain(p, "x");
	assert_int_equal(unlink_file_at(d->fd, "f"), 0);
	assert_int_equal(access(p, F_OK), -1);
}

static void
test_unlink_symlink_removes_link_only(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *victim = path_in(d, "victim"),
			    *link = path_in(d, "l");

	write_plain(victim, "keep");
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(unlink_file_at(d->fd, "l"), 0);
	assert_file_is(victim, "keep");
}

static void
test_mkdir_safe_creates_and_accepts_existing(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *p = path_in(d, "sub");
	struct stat st;

	assert_int_equal(mkdir_safe(p, 0700), 0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(mkdir_safe(p, 0700), 0);
}

static void
test_mkdir_safe_refuses_symlink_and_file(void **state)
{
	struct dir *d = *state;
	_cleanup_free_ char *real = path_in(d, "real"),
			    *link = path_in(d, "link"),
			    *file = path_in(d, "file");

	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	write_plain(file, "x");
	assert_int_equal(mkdir_safe(link, 0700), -ENOTDIR);
	assert_int_equal(mkdir_safe(file, 0700), -ENOTDIR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_write_creates_file_with_content),
		T(test_write_mode_exact_regardless_of_umask),
		T(test_write_replaces_content_and_mode),
		T(test_write_old_file_open_keeps_old_content),
		T(test_write_empty_file),
		T(test_write_at_refuses_names_with_slash),
		T(test_write_replaces_planted_symlink_not_its_target),
		T(test_write_replaces_dangling_symlink),
		T(test_write_leaves_no_temp_file),
		T(test_write_into_missing_dir_fails),
		T(test_read_returns_nul_terminated_content),
		T(test_read_refuses_symlink),
		T(test_read_refuses_directory_and_device),
		T(test_read_refuses_fifo_without_blocking),
		T(test_read_over_max_is_efbig),
		T(test_read_max_zero),
		T(test_read_missing_is_enoent),
		T(test_unlink_absent_is_ok),
		T(test_unlink_removes_file),
		T(test_unlink_symlink_removes_link_only),
		T(test_mkdir_safe_creates_and_accepts_existing),
		T(test_mkdir_safe_refuses_symlink_and_file),
#undef T
	};

	return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
