/* SPDX-License-Identifier: MIT */
/* Runs a fuzz target over its saved inputs and prints TAP, one test point
 * per input, each in its own process, so that every `make check` replays
 * the corpus (seeds and saved crashers) under ASan and UBSan.
 *
 * Linked into every tests/fuzz/fuzz-NAME program. The corpus is
 * $top_srcdir/tests/fuzz/corpus/NAME/ (make check exports top_srcdir; "."
 * otherwise), NAME taken from the program's own name.
 *
 * In a normal build this file's main() is the program's. In an
 * --enable-fuzzing build libFuzzer brings its own main(), which wins over
 * this weak one; libFuzzer then calls LLVMFuzzerInitialize() below, and a
 * run without arguments (as make check does it) replays the corpus the same
 * way instead of starting to fuzz. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The whole file in a buffer of exactly its size, so that ASan sees any
 * read past the end. */
static int
read_input(int dirfd, const char *name, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t n = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > 16 * 1024 * 1024) {
		close(fd);
		return -1;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k <= 0) {
			free(buf);
			close(fd);
			return -1;
		}
		n += (size_t)k;
	}
	close(fd);
	*ret = buf;
	*ret_len = n;
	return 0;
}

static int
is_input(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Runs the target on one input in a child, so that a crash fails this
 * input and the others still run. The child exits normally, so that
 * LeakSanitizer checks it too. Returns 0 when it came back clean. */
static int
run_one(int dirfd, const char *name, char *why, size_t why_size)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		snprintf(why, why_size, "fork failed");
		return -1;
	}
	if (pid == 0) {
		uint8_t *data;
		size_t len;

		if (read_input(dirfd, name, &data, &len) < 0)
			exit(111);
		LLVMFuzzerTestOneInput(data, len);
		free(data);
		exit(0);
	}
	if (waitpid(pid, &status, 0) < 0) {
		snprintf(why, why_size, "waitpid failed");
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 111)
		snprintf(why, why_size, "cannot read the input");
	else if (WIFEXITED(status))
		snprintf(why, why_size, "exited with status %d",
			 WEXITSTATUS(status));
	else
		snprintf(why, why_size, "killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

static int
replay_dir(const char *dir)
{
	struct dirent **names = NULL;
	int n, i, dirfd, failed = 0;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		printf("Bail out! no corpus directory %s\n", dir);
		return 1;
	}
	n = scandir(dir, &names, is_input, alphasort);
	if (n < 0) {
		printf("Bail out! cannot list %s\n", dir);
		close(dirfd);
		return 1;
	}
	if (n == 0) {
		printf("1..0 # SKIP %s is empty\n", dir);
		free(names);
		close(dirfd);
		return 0;
	}
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		char why[64];

		if (run_one(dirfd, names[i]->d_name, why, sizeof(why)) == 0) {
			printf("ok %d - %s\n", i + 1, names[i]->d_name);
		} else {
			printf("not ok %d - %s/%s: %s\n", i + 1, dir,
			       names[i]->d_name, why);
			failed = 1;
		}
		free(names[i]);
	}
	free(names);
	close(dirfd);
	return failed;
}

/* tests/fuzz/fuzz-token -> $top_srcdir/tests/fuzz/corpus/token */
static int
replay_own_corpus(const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	const char *top = getenv("top_srcdir");
	char dir[4096];

	base = base ? base + 1 : argv0;
	if (strncmp(base, "fuzz-", 5) == 0)
		base += 5;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
		 top && *top ? top : ".", base);
	return replay_dir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (*argc <= 1)
		exit(replay_own_corpus((*argv)[0]));
	return 0;
}

/* Without arguments: the target's corpus. With arguments: those
 * directories, e.g. a libFuzzer run's crash directory. */
__attribute__((weak)) int
main(int argc, char **argv)
{
	int i, r = 0;

	if (argc <= 1)
		return replay_own_corpus(argv[0]);
	for (i = 1; i < argc; i++)
		r |= replay_dir(argv[i]);
	return r;
}
