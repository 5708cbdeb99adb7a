/* SPDX-License-Identifier: MIT */
/* kubectl STAND-IN (geostage tests): not the real kubectl. Only
 * `kubectl version --client` works, enough for the package to install
 * and to say its version. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "version.h"

#define IDENT "kubectl " STANDIN_BANNER

int
main(int argc, char **argv)
{
	struct standin_version v;

	if (standin_version_get("kubectl", &v) < 0) {
		fprintf(stderr, "%s: unreadable version file\n", IDENT);
		return 1;
	}
	fprintf(stderr, "%s: not the real kubectl (%s)\n", IDENT, v.text);
	if (argc >= 2 && strcmp(argv[1], "version") == 0) {
		printf("Client Version: %s\nKustomize Version: v5.4.2\n",
		       v.text);
		if (argc == 3 && (strcmp(argv[2], "--client") == 0 ||
				  strcmp(argv[2], "--client=true") == 0))
			return 0;
		fprintf(stderr, "error: the STAND-IN kubectl talks to no "
				"server; use 'kubectl version --client'\n");
		return 1;
	}
	fprintf(stderr, "error: the STAND-IN kubectl implements only "
			"'version --client'\n");
	return 1;
}
