/* SPDX-License-Identifier: MIT */
/* POST /v1/progress (mTLS with the node certificate, pinned like enroll).
 * Best effort: a report that fails is logged at warning and never fails a
 * step. */
#pragma once

#include "agent.h"

/* Delivers every finished step's outcome that the server has not received
 * yet, in step order; each outcome is tried STATE_REPORT_TRIES times (once
 * more at the next step). Before enroll there is no certificate: the
 * outcomes wait in state.json. Saves the state when it changed. */
void progress_flush(struct agent *a);
/* "running" for a long step that starts; not retried. */
void progress_running(struct agent *a, enum step_id id);
