/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for the lab's crash test (tests/lab/lib/geostage.sh,
 * gs_kill_rename): a pause point inside agent steps that are otherwise
 * over in a millisecond (preflight, done), so that a kill -9 lands there
 * every time instead of by luck.
 *
 * With GEOSTAGE_LAB_HOLD=NAME:N in the environment, the Nth successful
 * renameat() onto a file called NAME (the agent writes every file as
 * temp + fsync + renameat, state.json included) is followed by
 * /run/geostage-lab/held-rename appearing and a sleep of 300 s, during
 * which the test kills the agent. Without the variable, and for every
 * other call, renameat() is glibc's. Nothing else is changed; the agent's
 * children get a minimal environment from the agent and never see it.
 *
 * Built by the lab on the host: cc -shared -fPIC -o hold-rename.so
 * hold-rename.c -ldl (glibc of the same Debian release as the rootfs). */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int renameat(int olddirfd, const char *oldpath, int newdirfd,
	     const char *newpath);

int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	static int (*real)(int, const char *, int, const char *);
	static int count;
	const char *spec, *colon, *base;
	int r, fd;

	if (!real)
		real = (int (*)(int, const char *, int, const char *))dlsym(
			RTLD_NEXT, "renameat");
	if (!real)
		abort();
	r = real(olddirfd, oldpath, newdirfd, newpath);
	spec = getenv("GEOSTAGE_LAB_HOLD");
	if (r != 0 || !spec || !(colon = strrchr(spec, ':')))
		return r;
	base = strrchr(newpath, '/');
	base = base ? base + 1 : newpath;
	if (strlen(base) != (size_t)(colon - spec) ||
	    strncmp(base, spec, (size_t)(colon - spec)) != 0 ||
	    ++count != atoi(colon + 1))
		return r;
	fd = open("/run/geostage-lab/held-rename",
		  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	sleep(300);
	return r;
}
