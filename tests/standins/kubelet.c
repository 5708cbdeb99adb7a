/* SPDX-License-Identifier: MIT */
/* kubelet STAND-IN (geostage tests): not the real kubelet. It answers
 * --version, and run as the service it behaves as the real one does
 * before and after `kubeadm join`: without /var/lib/kubelet/config.yaml
 * and /etc/kubernetes/kubelet.conf it exits 1 (systemd restarts it, the
 * familiar crash loop); with them it stays up, doing nothing, until
 * SIGTERM. KUBEADM_STANDIN_ROOT prefixes both paths. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "version.h"

#define IDENT "kubelet " STANDIN_BANNER

static const char *
flag_value(int argc, char **argv, const char *name, const char *def)
{
	size_t n = strlen(name);
	int i;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
		if (strcmp(argv[i], name) == 0 && i + 1 < argc)
			return argv[i + 1];
	}
	return def;
}

static int
run(int argc, char **argv, const struct standin_version *v)
{
	const char *files[2] = {flag_value(argc, argv, "--config",
					   "/var/lib/kubelet/config.yaml"),
				flag_value(argc, argv, "--kubeconfig",
					   "/etc/kubernetes/kubelet.conf")};
	char p[4096];
	sigset_t set;
	int sig, i;

	for (i = 0; i < 2; i++) {
		if (standin_path(p, sizeof(p), files[i]) < 0 ||
		    access(p, R_OK) != 0) {
			fprintf(stderr,
				"%s: \"command failed\" err=\"failed to load "
				"%s, path: %s: no such file (run kubeadm join "
				"first)\"\n",
				IDENT, i ? "kubeconfig" : "kubelet config file",
				p);
			return 1;
		}
	}
	fprintf(stderr,
		"%s: %s started; it runs no pods and sends no node "
		"heartbeats\n",
		IDENT, v->text);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (sigwait(&set, &sig) == 0)
		fprintf(stderr, "%s: signal %d, stopping\n", IDENT, sig);
	return 0;
}

int
main(int argc, char **argv)
{
	struct standin_version v;

	if (standin_version_get("kubelet", &v) < 0) {
		fprintf(stderr, "%s: unreadable version file\n", IDENT);
		return 1;
	}
	fprintf(stderr, "%s: not the real kubelet (%s)\n", IDENT, v.text);
	if (argc == 2 && (strcmp(argv[1], "--version") == 0 ||
			  strcmp(argv[1], "--version=true") == 0)) {
		printf("Kubernetes %s\n", v.text);
		return 0;
	}
	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("kubelet STAND-IN (geostage tests): --version, or run "
		       "as the kubelet.service.\n");
		return 0;
	}
	return run(argc, argv, &v);
}
