/* SPDX-License-Identifier: MIT */
/* geostage-enrolld [run] [--config F] [--token-file F] [--state-dir D]
 *                  [--until STEP] */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>

#include "commands.h"
#include "log.h"

void
commands_exit_codes(FILE *f)
{
	fprintf(f,
		"Exit status:\n"
		"  0   success (or stopped after --until STEP as asked, or "
		"nothing to do)\n"
		"  1   any other error (host step included)\n"
		"  2   usage error\n"
		"  70  reached a step that is not implemented (none in this "
		"version)\n"
		"  75  a retryable failure (network, timeout, 429, 5xx) used "
		"up retry_attempts\n"
		"  76  the server's TLS key does not match the token's pin\n"
		"  77  the server refused the enrollment or the join (400, "
		"401, 403, 409,\n"
		"      413, 422)\n"
		"  78  configuration: bad config file; token file missing, "
		"unreadable,\n"
		"      malformed or expired; unusable state directory; a "
		"field the steps\n"
		"      need missing from the server's answer\n"
		"  80  packages: an apt key with the wrong fingerprint, "
		"apt-get "
		"or dpkg\n"
		"      failed, no package at the cluster's version\n"
		"  81  network: the tunnel or the site routes did not come up, "
		"or the gate\n"
		"      (API reachable, node-ip, clock) failed retry_attempts "
		"times\n"
		"  82  join: kubeadm join failed, or the host belongs to "
		"another cluster\n");
}

void
cmd_run_usage(FILE *f)
{
	fprintf(f,
		"Usage: geostage-enrolld [run] [OPTIONS]\n"
		"\n"
		"Runs the steps that enroll this server into the cluster, or "
		"resumes them\nat the first step that is not done:\n"
		"  preflight enroll packages host network gate join done\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE      configuration file (default %s;\n"
		"                         a missing default file is fine)\n"
		"  -t, --token-file FILE  enrollment token file (default %s,\n"
		"                         or the systemd credential %s)\n"
		"  -s, --state-dir DIR    state directory (default %s,\n"
		"                         or $%s)\n"
		"  -u, --until STEP       stop after STEP is done\n"
		"  -h, --help             show this help\n"
		"\n"
		"The token is read from a file only, never from the command "
		"line.\n\n",
		AGENT_CONF_PATH, AGENT_TOKEN_PATH, AGENT_CREDENTIAL,
		AGENT_STATE_DIR, AGENT_STATE_DIR_ENV);
	commands_exit_codes(f);
}

int
commands_load_conf(struct agent_conf *c, const char *config,
		   const char *token_file, const char *state_dir)
{
	char err[AGENT_ERROR_MAX];
	int r;

	r = agent_conf_load(c, config ? config : AGENT_CONF_PATH, !!config, err,
			    sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return AGENT_EXIT_CONFIG;
	}
	if ((token_file && !*token_file) || (state_dir && !*state_dir)) {
		log_error(
			"--token-file and --state-dir need a non-empty value");
		return AGENT_EXIT_CONFIG;
	}
	r = agent_conf_finish(c, token_file, state_dir);
	if (r < 0) {
		log_error_errno(r, "configuration: %s", strerror(-r));
		return AGENT_EXIT_CONFIG;
	}
	return 0;
}

int
commands_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "geostage-enrolld: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'geostage-enrolld --help'.\n");
	return AGENT_EXIT_USAGE;
}

int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"token-file", required_argument, NULL, 't'},
		{"state-dir", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		/* Only to refuse it: no abbreviation of --token-file may take a
		 * token either. */
		{"token", required_argument, NULL, 'T'},
		{},
	};
	const char *config = NULL, *token_file = NULL, *state_dir = NULL;
	struct agent_conf conf;
	int until = _STEP_MAX, c, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:t:s:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'u':
			until = step_from_name(optarg);
			if (until < 0)
				return commands_usage_error(
					"unknown step '%s' (steps: preflight "
					"enroll packages host network gate "
					"join done)",
					optarg);
			break;
		case 'h':
			cmd_run_usage(stdout);
			return AGENT_EXIT_OK;
		case 'T':
			/* Never echo the value: it may be a token. */
			return commands_usage_error(
				"the token is never taken from the command "
				"line (ps and shell history would show it): "
				"put it in a file and use --token-file");
		default:
			/* getopt said why on stderr */
			fprintf(stderr, "Try 'geostage-enrolld --help'.\n");
			return AGENT_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return commands_usage_error("unexpected argument '%s'",
					    argv[optind]);

	agent_conf_init(&conf);
	code = commands_load_conf(&conf, config, token_file, state_dir);
	if (code == 0)
		code = agent_run(&conf, (enum step_id)until);
	agent_conf_done(&conf);
	return code;
}
