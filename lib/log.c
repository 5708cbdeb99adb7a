/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "log.h"

static const char *log_ident = "geostage";
static int log_max_level = LOG_INFO;
static int log_journal = -1; /* -1 unknown, 0 no, 1 yes */

/* $JOURNAL_STREAM is "dev:ino" of the stream stderr is connected to. */
static int
stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void
log_init(const char *ident)
{
	const char *lvl = getenv("GEOSTAGE_LOG_LEVEL");

	log_ident = ident;
	log_journal = stderr_is_journal();
	if (lvl) {
		if (streq(lvl, "debug"))
			log_max_level = LOG_DEBUG;
		else if (streq(lvl, "info"))
			log_max_level = LOG_INFO;
		else if (streq(lvl, "notice"))
			log_max_level = LOG_NOTICE;
		else if (streq(lvl, "warning"))
			log_max_level = LOG_WARNING;
		else if (streq(lvl, "err") || streq(lvl, "error"))
			log_max_level = LOG_ERR;
	}
}

void
log_set_max_level(int level)
{
	log_max_level = level;
}

int
log_get_max_level(void)
{
	return log_max_level;
}

static void
emit(int level, const char *text)
{
	if (log_journal > 0)
		fprintf(stderr, "<%d>%s\n", level, text);
	else
		fprintf(stderr, "%s: %s\n", log_ident, text);
}

int
log_full_errno(int level, int err, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	if (err < 0)
		err = -err;
	if (level <= log_max_level) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		emit(level, buf);
	}
	errno = saved;
	return err > 0 ? -err : -EIO;
}

void
log_event(int level, const char *message, ...)
{
	struct iovec iov[16];
	char *parts[16];
	char line[1024];
	size_t n = 0, off;
	const char *f;
	va_list ap;

	if (level > log_max_level)
		return;

	off = (size_t)snprintf(line, sizeof(line), "%s", message);
	va_start(ap, message);
	while ((f = va_arg(ap, const char *)) && n < ELEMENTSOF(parts) - 2) {
		parts[n++] = (char *)f;
		if (off < sizeof(line))
			off += (size_t)snprintf(line + off, sizeof(line) - off,
						" %s", f);
	}
	va_end(ap);

	if (log_journal > 0) {
		char msg[1100], prio[16];
		size_t i;

		snprintf(msg, sizeof(msg), "MESSAGE=%s", message);
		snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
		iov[0] = (struct iovec){msg, strlen(msg)};
		iov[1] = (struct iovec){prio, strlen(prio)};
		for (i = 0; i < n; i++)
			iov[i + 2] = (struct iovec){parts[i], strlen(parts[i])};
		if (sd_journal_sendv(iov, (int)n + 2) >= 0)
			return;
	}
	emit(level, line);
}
