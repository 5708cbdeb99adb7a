/* SPDX-License-Identifier: MIT */
/* kubeadm STAND-IN (geostage tests): not the real kubeadm. Subcommands:
 * version, join --config FILE, reset. Every run says on stderr what it
 * is. KUBEADM_STANDIN_ROOT prefixes every host path it reads or writes. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>

#include "kubeadm.h"

static const char *const node_files[] = {
	"/etc/kubernetes/kubelet.conf",
	"/etc/kubernetes/bootstrap-kubelet.conf", "/etc/kubernetes/pki/ca.crt",
	"/var/lib/kubelet/config.yaml", "/var/lib/kubelet/kubeadm-flags.env"};

static int
cmd_version(int argc, char **argv, const struct standin_version *v)
{
	const char *o = NULL;

	if (argc == 3 && (streq(argv[1], "-o") || streq(argv[1], "--output")))
		o = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--output=", 9) == 0)
		o = argv[1] + strlen("--output=");
	else if (argc == 2 && strncmp(argv[1], "-o", 2) == 0)
		o = argv[1] + 2;
	else if (argc != 1) {
		fprintf(stderr, "usage: kubeadm version [-o short]\n");
		return -EINVAL;
	}
	if (o && streq(o, "short"))
		printf("%s\n", v->text);
	else if (o && !streq(o, "json")) {
		fprintf(stderr, "error: invalid output format: %s\n", o);
		return -EINVAL;
	} else if (o)
		printf("{\"clientVersion\":{\"major\":\"%u\",\"minor\":\"%u\","
		       "\"gitVersion\":\"%s\",\"gitCommit\":\"geostage-standin"
		       "\",\"platform\":\"linux/amd64\"}}\n",
		       v->major, v->minor, v->text);
	else
		printf("kubeadm version: &version.Info{Major:\"%u\", "
		       "Minor:\"%u\", GitVersion:\"%s\", GitCommit:\"geostage-"
		       "standin\", GitTreeState:\"clean\", Compiler:\"gc\", "
		       "Platform:\"linux/amd64\"} (STAND-IN)\n",
		       v->major, v->minor, v->text);
	return 0;
}

static bool
confirmed(void)
{
	char line[16] = "";

	fprintf(stderr, "[reset] Are you sure you want to proceed? [y/N]: ");
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return streq(line, "y\n") || streq(line, "Y\n") || streq(line, "yes\n");
}

/* Flags of the real reset that change nothing here. */
static bool
accepted_reset_flag(const char *a)
{
	static const char *const prefixes[] = {
		"--v=", "--cri-socket=", "--ignore-preflight-errors=",
		"--cleanup-tmp-dir"};
	size_t i;

	for (i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncmp(a, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

int
kubeadm_reset(int argc, char **argv)
{
	bool force = false;
	char p[4096];
	size_t i;
	int k;

	for (k = 1; k < argc; k++) {
		if (streq(argv[k], "-f") || streq(argv[k], "--force"))
			force = true;
		else if (!accepted_reset_flag(argv[k])) {
			fprintf(stderr, "unknown flag: %s\n", argv[k]);
			return -EINVAL;
		}
	}
	if (!force && !confirmed()) {
		fprintf(stderr, "error: aborted reset operation\n");
		return -ECANCELED;
	}
	printf("[preflight] Running pre-flight checks\n"
	       "[reset] Stopping the kubelet service\n");
	kubelet_service("stop");
	printf("[reset] Deleting files:");
	for (i = 0; i < ELEMENTSOF(node_files); i++) {
		standin_path(p, sizeof(p), node_files[i]);
		if (unlink(p) < 0 && errno != ENOENT) {
			fprintf(stderr, "\ncannot delete %s: %m\n", p);
			return -errno;
		}
		printf(" %s", p);
	}
	printf("\n\nThe reset process does not clean CNI configuration, "
	       "iptables or IPVS tables (STAND-IN: there are none).\n");
	return 0;
}

static void
help(void)
{
	printf("kubeadm STAND-IN (geostage tests): not the real kubeadm.\n\n"
	       "  kubeadm version [-o short|json]\n"
	       "  kubeadm join --config FILE [--ignore-preflight-errors=LIST]\n"
	       "  kubeadm reset [-f]\n\n"
	       "Environment: KUBEADM_STANDIN_ROOT prefixes every host path.\n");
}

int
main(int argc, char **argv)
{
	struct standin_version v;
	int r;

	if (standin_version_get("kubeadm", &v) < 0) {
		fprintf(stderr, "%s: unreadable version file\n", KUBEADM_IDENT);
		return 1;
	}
	fprintf(stderr,
		"%s: not the real kubeadm; %s, validating what "
		"geostage gives it and talking only to "
		"kube-apiserver-standin\n",
		KUBEADM_IDENT, v.text);
	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h") ||
	    streq(argv[1], "help")) {
		help();
		return argc < 2 ? 1 : 0;
	}
	if (streq(argv[1], "version"))
		r = cmd_version(argc - 1, argv + 1, &v);
	else if (streq(argv[1], "join")) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		r = kubeadm_join(argc - 1, argv + 1, &v);
		curl_global_cleanup();
	} else if (streq(argv[1], "reset"))
		r = kubeadm_reset(argc - 1, argv + 1);
	else {
		fprintf(stderr,
			"unknown command \"%s\" for \"kubeadm\" (the "
			"STAND-IN knows version, join, reset)\n",
			argv[1]);
		r = -EINVAL;
	}
	if (r < 0)
		fprintf(stderr, "To see the stack trace of this error execute "
				"with --v=5 or higher\n");
	return r < 0 ? 1 : 0;
}
