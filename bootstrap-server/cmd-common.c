/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>

#include "commands.h"
#include "log.h"
#include "server.h"

int
command_dispatch(const char *prog, const struct command *table, size_t n,
		 int argc, char **argv)
{
	size_t i;

	if (argc < 1 || streq(argv[0], "--help") || streq(argv[0], "-h") ||
	    streq(argv[0], "help")) {
		FILE *f = argc < 1 ? stderr : stdout;
		fprintf(f, "Usage: %s COMMAND [OPTIONS]\n\nCommands:\n", prog);
		for (i = 0; i < n; i++)
			fprintf(f, "  %-10s %s\n", table[i].name,
				table[i].help);
		fprintf(f, "\nRun '%s COMMAND --help' for a command's "
			   "options.\n",
			prog);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	for (i = 0; i < n; i++)
		if (streq(argv[0], table[i].name))
			return table[i].run(argc, argv);
	fprintf(stderr, "%s: unknown command '%s' (see '%s --help')\n", prog,
		argv[0], prog);
	return EXIT_USAGE;
}

int
parse_duration(const char *s, int64_t *ret)
{
	unsigned long long n = 0;
	const char *p = s;
	int64_t mult = 1;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long long)(*p - '0');
		if (n > 100000000ULL)
			return -ERANGE;
	}
	if (*p == 's')
		mult = 1;
	else if (*p == 'm')
		mult = 60;
	else if (*p == 'h')
		mult = 3600;
	else if (*p == 'd')
		mult = 86400;
	else if (*p != '\0')
		return -EINVAL;
	if (*p && p[1] != '\0')
		return -EINVAL;
	*ret = (int64_t)n * mult;
	return 0;
}

const char *
state_dir_or_default(const char *flag)
{
	return flag ? flag : server_default_state_dir();
}

int
exit_code_for(int r)
{
	if (r >= 0)
		return EXIT_OK;
	if (r == -ENOENT || r == -EINVAL || r == -ENOKEY)
		return EXIT_CONFIG;
	return EXIT_FAIL;
}
