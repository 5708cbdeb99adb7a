/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap's command tables and what the handlers share. A
 * handler returns the process exit code; only main() exits. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_CONFIG = 78,
};

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

/* Runs table entry argv[0]; "--help"/"help" print the table. */
int command_dispatch(const char *prog, const struct command *table, size_t n,
		     int argc, char **argv);

/* Parses "90s", "15m", "24h", "7d" or plain seconds. */
int parse_duration(const char *s, int64_t *ret);
/* --state-dir when given, else $GEOSTAGE_STATE_DIR, else the default. */
const char *state_dir_or_default(const char *flag);

/* Exit code for an error from server_open(). */
int exit_code_for(int r);

int cmd_init(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_site(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_vpn(int argc, char **argv);

/* Long options every command has. */
#define COMMON_LONG_OPTIONS                                                    \
	{"help", no_argument, NULL, 'h'},                                      \
	{"state-dir", required_argument, NULL, 'D'}
