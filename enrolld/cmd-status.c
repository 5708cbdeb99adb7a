/* SPDX-License-Identifier: MIT */
/* geostage-enrolld status [--json]: reads the state dir only (no token, no
 * network), so it works before, during and after a run. */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/file.h>

#include "commands.h"
#include "log.h"
#include "ossl.h"
#include "output.h"

static void
status_usage(FILE *f)
{
	fprintf(f,
		"Usage: geostage-enrolld status [--json] [--config FILE] "
		"[--state-dir DIR]\n"
		"\n"
		"Shows each step's state, start, duration and message, and the "
		"node name,\nsite and server once enrolled. Reads only the "
		"state directory.\n"
		"\n"
		"Options:\n"
		"  -j, --json            JSON for scripts\n"
		"  -c, --config FILE     configuration file (default %s)\n"
		"  -s, --state-dir DIR   state directory (default %s)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Exit status: 0 shown, 1 unreadable state, 2 usage, 78 "
		"configuration.\n",
		AGENT_CONF_PATH, AGENT_STATE_DIR);
}

/* Is an agent holding the state dir's lock right now? */
static bool
agent_is_running(const char *dir)
{
	_cleanup_close_ int fd = -1;
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/lock", dir) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	return false;
}

static int
print_json(const struct agent_state *s, const char *dir, bool running)
{
	static const char *const keys[] = {"token_id", "node", "site",
					   "server"};
	_cleanup_(json_decrefp) json_t *j = NULL;
	enum step_id cur = state_first_unfinished(s);
	json_t *steps;
	size_t i;
	int r;

	r = state_to_json(s, &j);
	if (r < 0)
		return r;
	/* Progress bookkeeping and the pin are not status. */
	json_object_del(j, "version");
	json_object_del(j, "pin");
	steps = json_object_get(j, "steps");
	for (i = 0; i < json_array_size(steps); i++) {
		json_object_del(json_array_get(steps, i), "reported");
		json_object_del(json_array_get(steps, i), "report_tries");
	}
	/* Scripts find every key, null until known. */
	for (i = 0; i < ELEMENTSOF(keys); i++)
		if (!json_object_get(j, keys[i]) &&
		    json_object_set_new(j, keys[i], json_null()) < 0)
			return -ENOMEM;
	if (json_object_set_new(j, "state_dir", json_string(dir)) < 0 ||
	    json_object_set_new(j, "agent_running", json_boolean(running)) <
		    0 ||
	    json_object_set_new(j, "current_step",
				cur < _STEP_MAX ? json_string(step_name(cur))
						: json_null()) < 0)
		return -ENOMEM;
	return json_print(j);
}

static const char *
shown_state(const struct step_record *rec, bool running)
{
	if (rec->state == STEP_STATE_RUNNING && !running)
		return "interrupted";
	return step_state_name(rec->state);
}

static int
print_table(const struct agent_state *s, const char *dir, bool running)
{
	static const char *const cols[] = {"STEP", "STATE", "STARTED",
					   "DURATION", "MESSAGE"};
	struct table *t = table_new(cols, ELEMENTSOF(cols));
	int i, r = 0;

	if (!t)
		return -ENOMEM;
	printf("node:      %s\n", s->node[0] ? s->node : "(not enrolled)");
	printf("site:      %s\n", s->site[0] ? s->site : "-");
	printf("server:    %s\n", s->server[0] ? s->server : "-");
	printf("token:     %s\n", s->token_id[0] ? s->token_id : "-");
	printf("state dir: %s (agent %s)\n\n", dir,
	       running ? "running" : "not running");
	for (i = 0; i < _STEP_MAX && r >= 0; i++) {
		const struct step_record *rec = &s->steps[i];
		char started[64], dur[32];
		const char *row[5];

		format_time(rec->started, started, sizeof(started));
		if (rec->state == STEP_STATE_PENDING)
			snprintf(dur, sizeof(dur), "-");
		else
			format_duration_ms(rec->duration_ms, dur, sizeof(dur));
		row[0] = step_name((enum step_id)i);
		row[1] = shown_state(rec, running);
		row[2] = started;
		row[3] = dur;
		row[4] = rec->message[0] ? rec->message : "-";
		r = table_add_row(t, row);
	}
	if (r >= 0)
		table_print(t, stdout);
	table_free(t);
	return r;
}

int
cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"config", required_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *config = NULL, *state_dir = NULL;
	struct agent_conf conf;
	struct agent_state s;
	bool json = false, running;
	int c, r, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jc:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'c':
			config = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return AGENT_EXIT_OK;
		default:
			fprintf(stderr,
				"Try 'geostage-enrolld status --help'.\n");
			return AGENT_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return commands_usage_error("unexpected argument '%s'",
					    argv[optind]);
	agent_conf_init(&conf);
	code = commands_load_conf(&conf, config, NULL, state_dir);
	if (code != 0)
		goto out;
	r = state_load(conf.state_dir, &s);
	if (r == -ENOENT)
		state_init(&s);
	else if (r < 0) {
		log_error("%s/%s: %s", conf.state_dir, STATE_FILE,
			  r == -EBADMSG ? "corrupt" : strerror(-r));
		code = AGENT_EXIT_FAILURE;
		goto out;
	}
	running = agent_is_running(conf.state_dir);
	r = json ? print_json(&s, conf.state_dir, running)
		 : print_table(&s, conf.state_dir, running);
	code = r < 0 ? AGENT_EXIT_FAILURE : AGENT_EXIT_OK;
out:
	agent_conf_done(&conf);
	return code;
}
