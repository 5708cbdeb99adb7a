/* SPDX-License-Identifier: MIT */
/* What systemd sees of the agent (Type=notify). Harmless outside systemd:
 * without $NOTIFY_SOCKET these do nothing. */
#pragma once

#include <stdint.h>

#include "macro.h"
#include "state.h"

/* STATUS=step N/8: NAME — message */
void notify_step(enum step_id id, const char *message);
void notify_status(const char *fmt, ...) _printf_(1, 2);
/* READY=1, once preflight has passed. */
void notify_ready(void);
/* EXTEND_TIMEOUT_USEC=usec: a long step asks systemd for more time. */
void notify_extend_timeout(uint64_t usec);
