/* SPDX-License-Identifier: MIT */
/* The runner: resumes at the first step that is not done, runs steps in
 * order, persists each outcome before it tells anyone, stops at the first
 * failure (or after --until), and turns the outcome into an exit code. */
#include "config.h"

#include <limits.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "progress.h"
#include "steps.h"

#define LOCK_FILE "lock"

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One agent per state dir: the service and a manual run must not race. */
int
agent_lock(struct agent *a)
{
	char path[PATH_MAX];
	int r;

	r = agent_path(a, LOCK_FILE, path, sizeof(path));
	if (r < 0)
		return r;
	a->lock_fd =
		open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->lock_fd < 0)
		return log_error_errno(negative_errno(), "cannot open %s: %m",
				       path);
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return log_error_errno(
				-EBUSY,
				"another geostage-enrolld is running with "
				"state dir %s",
				a->conf->state_dir);
		return log_error_errno(negative_errno(), "cannot lock %s: %m",
				       path);
	}
	return 0;
}

int
agent_load_state(struct agent *a)
{
	const char *dir = a->conf->state_dir;
	int r;

	r = state_load(dir, &a->state);
	if (r == -ENOENT) {
		state_init(&a->state);
		return 0;
	}
	if (r == -EPROTONOSUPPORT)
		return log_error_errno(r,
				       "%s/%s was written by another version "
				       "of geostage-enrolld",
				       dir, STATE_FILE);
	if (r < 0)
		return log_error_errno(r,
				       "%s/%s is unreadable or corrupt (%s): "
				       "inspect it, or remove it to start over",
				       dir, STATE_FILE, strerror(-r));
	return 0;
}

static void
log_outcome(const struct agent *a, enum step_id id,
	    const struct step_record *rec)
{
	char msg[STATE_MESSAGE_MAX + 64], f_step[32], f_token[96], f_node[96];
	const char *fields[4] = {f_step, NULL, NULL, NULL};
	size_t n = 1;

	snprintf(msg, sizeof(msg), "step %s %s: %s", step_name(id),
		 step_state_name(rec->state), rec->message);
	snprintf(f_step, sizeof(f_step), "STEP=%s", step_name(id));
	if (a->state.token_id[0]) {
		snprintf(f_token, sizeof(f_token), "TOKEN_ID=%s",
			 a->state.token_id);
		fields[n++] = f_token;
	}
	if (a->state.node[0]) {
		snprintf(f_node, sizeof(f_node), "NODE=%s", a->state.node);
		fields[n++] = f_node;
	}
	log_event(rec->state == STEP_STATE_DONE ? LOG_INFO : LOG_ERR, msg,
		  fields[0], fields[1], fields[2], NULL);
}

static int
save_or_complain(struct agent *a)
{
	int r = state_save(a->conf->state_dir, &a->state);

	if (r < 0)
		log_error_errno(r, "cannot save %s/%s: %s", a->conf->state_dir,
				STATE_FILE, strerror(-r));
	return r;
}

/* Returns an exit code: 0 when the step is done. */
static int
run_step(struct agent *a, enum step_id id)
{
	const struct step *s = steps_get(id);
	struct step_ctx ctx = {.agent = a, .id = id};
	struct step_record *rec = &a->state.steps[id];
	int64_t t0 = now_ms();
	int r;

	*rec = (struct step_record){.state = STEP_STATE_RUNNING,
				    .started = (int64_t)time(NULL)};
	state_set_message(rec, s->doing);
	if (save_or_complain(a) < 0)
		return AGENT_EXIT_FAILURE;
	log_info("step %d/%d: %s: %s", (int)id + 1, (int)_STEP_MAX,
		 step_name(id), s->doing);
	notify_step(id, s->doing);
	if (s->run && s->long_running) {
		notify_extend_timeout(s->timeout_usec);
		progress_running(a, id);
	}
	if (s->run) {
		r = s->run(&ctx);
	} else {
		r = step_fail(&ctx, AGENT_FAIL_NOT_IMPLEMENTED, -EOPNOTSUPP,
			      "step %s is not implemented in geostage-enrolld "
			      "%s yet",
			      step_name(id), PACKAGE_VERSION);
	}
	json_decref(TAKE_PTR(ctx.plan));
	rec->duration_ms = now_ms() - t0;
	state_set_message(rec, ctx.message);
	rec->state = r >= 0 ? STEP_STATE_DONE
		     : ctx.fail == AGENT_FAIL_NOT_IMPLEMENTED
			     ? STEP_STATE_NOT_IMPLEMENTED
			     : STEP_STATE_FAILED;
	if (save_or_complain(a) < 0)
		return AGENT_EXIT_FAILURE;
	log_outcome(a, id, rec);
	notify_step(id, rec->message);
	if (id == STEP_PREFLIGHT && r >= 0 && !a->ready_sent) {
		notify_ready();
		a->ready_sent = true;
	}
	progress_flush(a);
	return r >= 0 ? AGENT_EXIT_OK : agent_fail_exit_code(ctx.fail);
}

static int
run_steps(struct agent *a, enum step_id until)
{
	enum step_id first = state_first_unfinished(&a->state), id;
	int code = AGENT_EXIT_OK;

	if (first > STEP_PREFLIGHT) {
		notify_ready();
		a->ready_sent = true;
	}
	if (first == _STEP_MAX) {
		log_info("every step is done already: nothing to do");
		notify_status("done: node %s of site %s is enrolled and joined",
			      a->state.node, a->state.site);
		progress_flush(a);
		/* A run killed between saving done and the marker. */
		return steps_mark_done(a) < 0 ? AGENT_EXIT_FAILURE
					      : AGENT_EXIT_OK;
	}
	if (until != _STEP_MAX && first > until) {
		log_info("step %s is done already: nothing to do",
			 step_name(until));
		return AGENT_EXIT_OK;
	}
	if (first > STEP_PREFLIGHT ||
	    a->state.steps[STEP_PREFLIGHT].state != STEP_STATE_PENDING)
		log_info("resuming at step %s", step_name(first));
	/* What an earlier run could not deliver goes with the first step's
	 * outcome (run_step flushes every undelivered one): an unreachable
	 * server must not hold up the work before it starts. */
	for (id = first; id < _STEP_MAX; id++) {
		code = run_step(a, id);
		if (code == AGENT_EXIT_OK && id == STEP_DONE &&
		    steps_mark_done(a) < 0)
			code = AGENT_EXIT_FAILURE;
		if (code != AGENT_EXIT_OK)
			return code;
		if (id == until) {
			log_info("stopping after step %s, as asked",
				 step_name(id));
			return AGENT_EXIT_OK;
		}
	}
	log_info("every step is done");
	notify_status("done: node %s of site %s is enrolled and joined",
		      a->state.node, a->state.site);
	return code;
}

int
agent_run(struct agent_conf *conf, enum step_id until)
{
	struct agent a = {.conf = conf, .lock_fd = -1};
	char err[AGENT_ERROR_MAX];
	int r, code;

	r = agent_state_dir_check(conf->state_dir, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return AGENT_EXIT_CONFIG;
	}
	if (agent_lock(&a) < 0 || agent_load_state(&a) < 0) {
		closep(&a.lock_fd);
		return AGENT_EXIT_FAILURE;
	}
	if (agent_marker_exists(&a, AGENT_LEFT_FILE)) {
		log_notice("this node left the cluster (geostage-enrolld "
			   "leave): nothing to do; remove %s/%s to enroll and "
			   "join again",
			   conf->state_dir, AGENT_LEFT_FILE);
		notify_status("left the cluster");
		closep(&a.lock_fd);
		return AGENT_EXIT_OK;
	}
	code = run_steps(&a, until);
	agent_token_free(TAKE_PTR(a.token));
	closep(&a.lock_fd);
	return code;
}
