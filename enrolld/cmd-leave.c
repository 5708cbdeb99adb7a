/* SPDX-License-Identifier: MIT */
/* geostage-enrolld leave: drain, withdraw this node, ask the server to
 * revoke it. Not implemented yet: says so and exits 70. */
#include "config.h"

#include "commands.h"

int
cmd_leave(int argc, char **argv)
{
	if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
		printf("Usage: geostage-enrolld leave\n"
		       "\n"
		       "Drains this node, withdraws it from the cluster and "
		       "asks the bootstrap\nserver to revoke it. Not "
		       "implemented yet: exits 70.\n");
		return AGENT_EXIT_OK;
	}
	if (argc > 1)
		return commands_usage_error("leave takes no arguments");
	fprintf(stderr, "geostage-enrolld: leaving the cluster is not "
			"implemented yet\n");
	return AGENT_EXIT_NOT_IMPLEMENTED;
}
