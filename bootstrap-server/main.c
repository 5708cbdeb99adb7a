/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap: dispatch only. */
#include "config.h"

#include <stdio.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "commands.h"
#include "log.h"

static int
cmd_version(int argc, char **argv)
{
	printf("geostage-bootstrap %s\n", PACKAGE_VERSION);
	return EXIT_OK;
}

static const struct command commands[] = {
	{"init", cmd_init, "create the state dir: keys, node CA, database"},
	{"serve", cmd_serve, "run the HTTPS enrollment server"},
	{"site", cmd_site, "add or list sites"},
	{"token", cmd_token, "create, list, show or revoke enrollment tokens"},
	{"node", cmd_node, "list, show or revoke nodes"},
	{"vpn", cmd_vpn, "print the master site's OpenVPN configuration"},
	{"version", cmd_version, "print the version"},
};

int
main(int argc, char **argv)
{
	log_init("geostage-bootstrap");
	/* Keys and the database are private; files meant for others
	 * (certificates, OpenVPN's) get their mode explicitly. */
	umask(0077);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return EXIT_FAIL;
	if (argc > 1 && streq(argv[1], "--version"))
		return cmd_version(0, NULL);
	return command_dispatch("geostage-bootstrap", commands,
				ELEMENTSOF(commands), argc - 1, argv + 1);
}
