/* SPDX-License-Identifier: MIT */
/* posix_spawn with captured, bounded output and a timeout. The child is
 * the leader of a new process group, so that a timeout ends whatever it
 * started too (apt-get's dpkg, a shell's children). */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "spawn.h"

#define SPAWN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
#define SPAWN_TICK_MS 100 /* without a pidfd: how often to look */

const char *const spawn_env_default[] = {
	SPAWN_PATH ":/sbin:/bin",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	NULL,
};

const char *const spawn_env_apt[] = {
	SPAWN_PATH ":/sbin:/bin",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	"DEBIAN_FRONTEND=noninteractive",
	"APT_LISTCHANGES_FRONTEND=none",
	NULL,
};

struct buf {
	char *data;
	size_t len, max;
	bool truncated;
	bool keep_tail;
};

struct child {
	pid_t pid;
	int pidfd; /* -1 when the kernel has none */
	int fds[2];
	struct buf bufs[2];
	bool exited, term_sent, kill_sent, timed_out;
	int wstatus;
	int64_t deadline, kill_at, drain_until;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
buf_add(struct buf *b, const char *p, size_t n)
{
	if (!b->keep_tail) {
		size_t room = b->max - b->len;
		if (n > room) {
			b->truncated = true;
			n = room;
		}
		memcpy(b->data + b->len, p, n);
		b->len += n;
	} else if (n >= b->max) {
		b->truncated = b->truncated || n > b->max || b->len > 0;
		memcpy(b->data, p + n - b->max, b->max);
		b->len = b->max;
	} else {
		size_t drop = b->len + n > b->max ? b->len + n - b->max : 0;
		if (drop) {
			memmove(b->data, b->data + drop, b->len - drop);
			b->len -= drop;
			b->truncated = true;
		}
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
	b->data[b->len] = '\0';
}

static int
make_actions(posix_spawn_file_actions_t *fa, const int out[2], const int err[2])
{
	int r;

	r = posix_spawn_file_actions_init(fa);
	if (r != 0)
		return -r;
	if ((r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY,
						  0)) != 0 ||
	    (r = posix_spawn_file_actions_adddup2(fa, out[1], 1)) != 0 ||
	    (r = posix_spawn_file_actions_adddup2(fa, err[1], 2)) != 0) {
		posix_spawn_file_actions_destroy(fa);
		return -r;
	}
	return 0;
}

static int
make_attr(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawnattr_init(attr);
	if (r != 0)
		return -r;
	if ((r = posix_spawnattr_setflags(
		     attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				   POSIX_SPAWN_SETPGROUP)) != 0 ||
	    (r = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
	    (r = posix_spawnattr_setsigdefault(attr, &all)) != 0 ||
	    (r = posix_spawnattr_setpgroup(attr, 0)) != 0) {
		posix_spawnattr_destroy(attr);
		return -r;
	}
	return 0;
}

static int
start(const struct spawn_opts *o, struct child *c)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int out[2] = {-1, -1}, err[2] = {-1, -1}, r;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		r = negative_errno();
		goto fail;
	}
	if ((r = make_actions(&fa, out, err)) < 0)
		goto fail;
	if ((r = make_attr(&attr)) < 0) {
		posix_spawn_file_actions_destroy(&fa);
		goto fail;
	}
	r = -posix_spawn(&c->pid, o->argv[0], &fa, &attr,
			 (char *const *)o->argv,
			 (char *const *)(o->env ? o->env : spawn_env_default));
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r < 0)
		goto fail;
	closep(&out[1]);
	closep(&err[1]);
	c->fds[0] = out[0];
	c->fds[1] = err[0];
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	return 0;
fail:
	closep(&out[0]);
	closep(&out[1]);
	closep(&err[0]);
	closep(&err[1]);
	return r;
}

static void
reap(struct child *c)
{
	pid_t p;

	if (c->exited)
		return;
	do
		p = waitpid(c->pid, &c->wstatus, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == c->pid) {
		c->exited = true;
		c->drain_until = mono_ms() + SPAWN_DRAIN_MS;
		/* After a timeout, whatever it left behind goes too. */
		if (c->timed_out)
			(void)kill(-c->pid, SIGKILL);
	}
}

static void
read_fd(struct child *c, int i)
{
	char chunk[8192];
	ssize_t n;

	n = read(c->fds[i], chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		closep(&c->fds[i]);
		c->fds[i] = -1;
		return;
	}
	buf_add(&c->bufs[i], chunk, (size_t)n);
}

static void
check_time(struct child *c, int64_t now)
{
	if (!c->exited && c->deadline && now >= c->deadline && !c->term_sent) {
		c->timed_out = c->term_sent = true;
		c->kill_at = now + SPAWN_KILL_GRACE_MS;
		(void)kill(-c->pid, SIGTERM);
	}
	if (!c->exited && c->term_sent && !c->kill_sent && now >= c->kill_at) {
		c->kill_sent = true;
		(void)kill(-c->pid, SIGKILL);
	}
}

static int
next_wake(const struct child *c, int64_t now)
{
	int64_t t = -1;

	if (c->exited)
		t = c->drain_until;
	else if (c->term_sent && !c->kill_sent)
		t = c->kill_at;
	else if (!c->term_sent && c->deadline)
		t = c->deadline;
	if (c->pidfd < 0 && !c->exited)
		t = t < 0 ? now + SPAWN_TICK_MS : MIN(t, now + SPAWN_TICK_MS);
	if (t < 0)
		return -1;
	return t <= now ? 0 : (int)MIN(t - now, 60000);
}

/* Until the child has exited and its output is read (or the drain time
 * after its exit is over). */
static void
supervise(struct child *c)
{
	for (;;) {
		struct pollfd p[3];
		int n = 0, k, i;
		int64_t now;

		reap(c);
		now = mono_ms();
		check_time(c, now);
		if (c->exited &&
		    ((c->fds[0] < 0 && c->fds[1] < 0) || now >= c->drain_until))
			return;
		for (i = 0; i < 2; i++)
			if (c->fds[i] >= 0)
				p[n++] = (struct pollfd){c->fds[i], POLLIN, 0};
		if (!c->exited && c->pidfd >= 0)
			p[n++] = (struct pollfd){c->pidfd, POLLIN, 0};
		k = poll(p, (nfds_t)n, next_wake(c, now));
		if (k < 0 && errno != EINTR)
			return;
		for (i = 0; k > 0 && i < n; i++) {
			if (!p[i].revents || p[i].fd == c->pidfd)
				continue;
			read_fd(c, p[i].fd == c->fds[0] ? 0 : 1);
		}
	}
}

static void
wait_blocking(struct child *c)
{
	while (!c->exited) {
		pid_t p = waitpid(c->pid, &c->wstatus, 0);
		if (p == c->pid)
			c->exited = true;
		else if (p < 0 && errno != EINTR)
			break;
	}
}

int
spawn_run(const struct spawn_opts *o, struct spawn_result *ret)
{
	struct child c = {.pid = -1, .pidfd = -1, .fds = {-1, -1}};
	size_t out_max = o->out_max ? o->out_max : SPAWN_OUTPUT_MAX;
	size_t err_max = o->err_max ? o->err_max : SPAWN_ERRORS_MAX;
	int r;

	*ret = (struct spawn_result){.status = -1};
	if (!o->argv || !o->argv[0] || o->argv[0][0] != '/')
		return -EINVAL;
	c.bufs[0] = (struct buf){.data = malloc(out_max + 1), .max = out_max};
	c.bufs[1] = (struct buf){
		.data = malloc(err_max + 1), .max = err_max, .keep_tail = true};
	if (!c.bufs[0].data || !c.bufs[1].data) {
		r = -ENOMEM;
		goto out;
	}
	c.bufs[0].data[0] = c.bufs[1].data[0] = '\0';
	log_debug("running %s", o->argv[0]);
	r = start(o, &c);
	if (r < 0)
		goto out;
	if (o->timeout_ms)
		c.deadline = mono_ms() + o->timeout_ms;
	supervise(&c);
	/* Only if poll() failed: never leave a zombie behind. */
	if (!c.exited) {
		(void)kill(-c.pid, SIGKILL);
		wait_blocking(&c);
	}
	ret->timed_out = c.timed_out;
	if (WIFEXITED(c.wstatus))
		ret->status = WEXITSTATUS(c.wstatus);
	else if (WIFSIGNALED(c.wstatus))
		ret->signal = WTERMSIG(c.wstatus);
	ret->out = TAKE_PTR(c.bufs[0].data);
	ret->out_len = c.bufs[0].len;
	ret->out_truncated = c.bufs[0].truncated;
	ret->err = TAKE_PTR(c.bufs[1].data);
	ret->err_len = c.bufs[1].len;
	ret->err_truncated = c.bufs[1].truncated;
out:
	closep(&c.fds[0]);
	closep(&c.fds[1]);
	closep(&c.pidfd);
	free(c.bufs[0].data);
	free(c.bufs[1].data);
	return r;
}

void
spawn_result_done(struct spawn_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

bool
spawn_succeeded(const struct spawn_result *r)
{
	return !r->timed_out && r->signal == 0 && r->status == 0;
}

void
spawn_describe(const struct spawn_result *r, unsigned timeout_ms, char *buf,
	       size_t size)
{
	if (r->timed_out)
		snprintf(buf, size, "timed out after %u s", timeout_ms / 1000);
	else if (r->signal)
		snprintf(buf, size, "killed by signal %d (%s)", r->signal,
			 strsignal(r->signal));
	else
		snprintf(buf, size, "exited with status %d", r->status);
}

void
spawn_reason_line(const char *text, char *buf, size_t size)
{
	const char *p = text, *end;
	char line[1024];
	size_t n;

	for (; p && *p; p = end ? end + 1 : NULL) {
		end = strchr(p, '\n');
		if (!startswith(p, "E: "))
			continue;
		n = MIN(end ? (size_t)(end - p) : strlen(p), sizeof(line) - 1);
		memcpy(line, p, n);
		line[n] = '\0';
		agent_sanitize(buf, size, line);
		return;
	}
	spawn_last_line(text, buf, size);
}

void
spawn_last_line(const char *text, char *buf, size_t size)
{
	const char *end, *start;
	char line[1024];
	size_t n;

	buf[0] = '\0';
	if (!text)
		return;
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' ||
			      end[-1] == ' ' || end[-1] == '\t'))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	n = MIN((size_t)(end - start), sizeof(line) - 1);
	memcpy(line, start, n);
	line[n] = '\0';
	agent_sanitize(buf, size, line);
}
