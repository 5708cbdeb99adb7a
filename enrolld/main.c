/* SPDX-License-Identifier: MIT */
/* geostage-enrolld: dispatch only. */
#include "config.h"

#include "client.h"
#include "commands.h"
#include "log.h"

static const struct command {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"run", cmd_run, "run or resume the steps (the default command)"},
	{"status", cmd_status, "show each step's state, duration and message"},
	{"leave", cmd_leave,
	 "withdraw this node from the cluster on this host"},
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: geostage-enrolld [COMMAND] [OPTIONS]\n"
		   "       geostage-enrolld --version\n"
		   "\n"
		   "Enrolls this server into a geostage Kubernetes staging "
		   "cluster.\n\nCommands:\n");
	for (i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'geostage-enrolld COMMAND --help' shows a command's "
		   "options.\n\n");
	cmd_run_usage(f);
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	size_t i;
	int code;

	log_init("geostage-enrolld");
	if (cmd && (streq(cmd, "--help") || streq(cmd, "-h"))) {
		usage(stdout);
		return AGENT_EXIT_OK;
	}
	if (cmd && (streq(cmd, "--version") || streq(cmd, "-V"))) {
		printf("geostage-enrolld %s\n", PACKAGE_VERSION);
		return AGENT_EXIT_OK;
	}
	if (client_global_init() < 0) {
		log_error("cannot initialise libcurl");
		return AGENT_EXIT_FAILURE;
	}
	if (!cmd || cmd[0] == '-') {
		code = cmd_run(argc, argv);
	} else {
		code = -1;
		for (i = 0; i < ELEMENTSOF(commands); i++)
			if (streq(cmd, commands[i].name))
				code = commands[i].handler(argc - 1, argv + 1);
		if (code < 0)
			code = commands_usage_error("unknown command '%s'",
						    cmd);
	}
	client_global_done();
	return code;
}
