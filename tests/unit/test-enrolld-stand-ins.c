/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

#include "agent-enroll.h"
#include "fileio.h"
#include "hostfs.h"
#include "ossl.h"
#include "test-enrolld-stand-ins.h"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/test-enrolld-world-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->root, sizeof(w->root), "%s/root", w->dir);
	snprintf(w->state, sizeof(w->state), "%s/state", w->dir);
	snprintf(w->bin, sizeof(w->bin), "%s/bin", w->dir);
	snprintf(w->log, sizeof(w->log), "%s/log", w->dir);
	assert_int_equal(mkdir(w->root, 0755), 0);
	assert_int_equal(mkdir(w->state, 0700), 0);
	assert_int_equal(mkdir(w->bin, 0755), 0);
	agent_conf_init(&w->conf);
	w->conf.root_dir = strdup(w->root);
	w->conf.state_dir = strdup(w->state);
	w->conf.command_timeout_s = 20;
	w->conf.apt_timeout_s = 60;
	w->conf.vpn_timeout_s = 2;
	w->conf.retry_initial_ms = 10;
	w->conf.retry_max_ms = 20;
	w->conf.retry_attempts = 2;
	w->agent = (struct agent){.conf = &w->conf, .lock_fd = -1};
	state_init(&w->agent.state);
	unsetenv("NOTIFY_SOCKET");
	world_clear_log(w);
}

void
world_done(struct world *w)
{
	(void)nftw(w->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	agent_conf_done(&w->conf);
}

void
world_write(struct world *w, const char *rel, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", w->dir, rel);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

char *
world_read(struct world *w, const char *rel)
{
	char path[256], *text = NULL;

	snprintf(path, sizeof(path), "%s/%s", w->dir, rel);
	if (read_file(path, 1024 * 1024, &text, NULL) < 0)
		return NULL;
	return text;
}

void
world_stand_in(struct world *w, enum agent_prog prog, const char *body)
{
	const char *name = agent_prog_key(prog);
	char path[256], *text;

	snprintf(path, sizeof(path), "%s/%s", w->bin, name);
	assert_true(asprintf(&text,
			     "#!/bin/sh\n"
			     "# STAND-IN for %s in a unit test: logs its "
			     "arguments, plays back canned output.\n"
			     "W='%s'\n"
			     "echo \"%s $*\" >> \"$W/log\"\n"
			     "%s\n",
			     name, w->dir, name, body) > 0);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0755), 0);
	free(text);
	free(w->conf.prog[prog]);
	w->conf.prog[prog] = strdup(path);
}

char *
world_log(struct world *w)
{
	char *text = world_read(w, "log");

	assert_non_null(text);
	return text;
}

void
world_clear_log(struct world *w)
{
	world_write(w, "log", "");
}

int
world_log_count(struct world *w, const char *prefix)
{
	char *text = world_log(w), *line = text;
	int n = 0;

	while (line && *line) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	free(text);
	return n;
}

void
world_enrolled(struct world *w, json_t *answer)
{
	char path[256], *text = json_dumps(answer, JSON_INDENT(2));
	int i;

	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/%s", w->state, ENROLL_ANSWER_FILE);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
	free(text);
	snprintf(w->agent.state.node, sizeof(w->agent.state.node), "worker-7");
	snprintf(w->agent.state.site, sizeof(w->agent.state.site), "tokyo");
	for (i = 0; i <= STEP_ENROLL; i++)
		w->agent.state.steps[i].state = STEP_STATE_DONE;
}

int
world_step(struct world *w, enum step_id id, int (*fn)(struct step_ctx *),
	   struct step_ctx *ctx)
{
	int r;

	*ctx = (struct step_ctx){.agent = &w->agent, .id = id};
	r = fn(ctx);
	json_decref(TAKE_PTR(ctx->plan));
	return r;
}

int
world_mode(struct world *w, const char *abs)
{
	char path[PATH_MAX];
	struct stat st;

	if (hostfs_path(w->root, abs, path, sizeof(path)) < 0 ||
	    lstat(path, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

json_t *
world_answer(void)
{
	return json_pack(
		"{s:s, s:s, s:s, s:{s:s, s:s, s:i, s:s, s:[s], s:s, s:s, "
		"s:[s,s], s:s, s:n}, s:{s:s, s:s}, s:{s:[], s:{s:s, "
		"s:[s,s,s]}, s:s, s:s}, s:{s:s}}",
		"node", "worker-7", "site", "tokyo", "role", "node", "vpn",
		"mode", "direct", "address", "127.0.0.1", "prefix_len", 16,
		"server_address", "10.99.0.1", "remotes", "203.0.113.10:1194",
		"proto", "udp", "tls_crypt",
		"-----BEGIN OpenVPN Static key V1-----\n0123abcd\n"
		"-----END OpenVPN Static key V1-----\n",
		"routes", "192.168.10.0/24", "192.168.30.0/24", "site_prefix",
		"192.168.20.0/24", "gateway", "kubernetes", "api_endpoint",
		"192.168.10.253:6443", "version", "v1.31.2", "packages",
		"apt_sources", "kubernetes", "version", "1.31.2", "packages",
		"kubelet", "kubeadm", "kubectl", "runtime", "containerd",
		"pause_image", "registry.k8s.io/pause:3.10", "labels",
		"geostage.io/site", "tokyo");
}
