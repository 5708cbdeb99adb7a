/* SPDX-License-Identifier: MIT */
/* geostage-enrolld's subcommands; each returns an exit code. */
#pragma once

#include <stdio.h>

#include "agent.h"

int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_leave(int argc, char **argv);

/* Options of the (default) run command and the exit codes. */
void cmd_run_usage(FILE *f);
void commands_exit_codes(FILE *f);
/* "geostage-enrolld: MESSAGE" and a hint on stderr; AGENT_EXIT_USAGE. */
int commands_usage_error(const char *fmt, ...) _printf_(1, 2);
/* Config file (explicit: must exist), then flags and environment. Logs
 * what is wrong and returns AGENT_EXIT_CONFIG, or 0. */
int commands_load_conf(struct agent_conf *c, const char *config,
		       const char *token_file, const char *state_dir);
