/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "notify.h"

void
notify_status(const char *fmt, ...)
{
	char raw[STATE_MESSAGE_MAX + 64], clean[sizeof(raw)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* One line: a newline would start another assignment. */
	agent_sanitize(clean, sizeof(clean), raw);
	(void)sd_notifyf(0, "STATUS=%s", clean);
}

void
notify_step(enum step_id id, const char *message)
{
	/* The em dash is the only non-ASCII byte STATUS= carries. */
	char clean[STATE_MESSAGE_MAX + 1];

	agent_sanitize(clean, sizeof(clean), message);
	(void)sd_notifyf(0, "STATUS=step %d/%d: %s \xe2\x80\x94 %s",
			 (int)id + 1, (int)_STEP_MAX, step_name(id), clean);
}

void
notify_ready(void)
{
	(void)sd_notify(0, "READY=1");
}

void
notify_extend_timeout(uint64_t usec)
{
	(void)sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%" PRIu64, usec);
}
