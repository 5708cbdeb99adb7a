/* SPDX-License-Identifier: MIT */
/* geostage-enrolld leave: the local part of leaving the cluster. kubeadm
 * reset -f, the tunnel stopped and disabled and its profile (which holds
 * the node key) removed, the site routes unit removed; the network, gate,
 * join and done steps go back to pending and a "left" marker keeps the
 * service from joining again. The server part (revoking this node) has no
 * endpoint yet: the operator runs `geostage-bootstrap node revoke`. Draining
 * needs cluster-admin rights this node does not have: it is the
 * operator's too. */
#include "config.h"

#include <getopt.h>

#include "commands.h"
#include "hostfs.h"
#include "join-config.h"
#include "log.h"
#include "spawn.h"
#include "steps.h"
#include "vpn.h"

struct leave {
	struct agent *a;
	int failures;
};

static void
run(struct leave *l, const char *what, const char *const *argv)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	const struct agent_conf *c = l->a->conf;
	struct spawn_opts o = {.argv = argv,
			       .timeout_ms = c->command_timeout_s * 2000};
	char how[96], line[256];
	int r;

	r = spawn_run(&o, &res);
	if (r < 0) {
		log_error("%s: cannot run %s: %s", what, argv[0], strerror(-r));
		l->failures++;
		return;
	}
	if (spawn_succeeded(&res)) {
		log_info("%s: done", what);
		return;
	}
	spawn_describe(&res, o.timeout_ms, how, sizeof(how));
	spawn_last_line(res.err && res.err[0] ? res.err : res.out, line,
			sizeof(line));
	log_error("%s: %s %s: %s", what, argv[0], how, line);
	l->failures++;
}

static void
remove_file(struct leave *l, const char *abs)
{
	int r = hostfs_remove(agent_root(l->a->conf), abs);

	if (r < 0) {
		log_error("cannot remove %s: %s", abs, strerror(-r));
		l->failures++;
	} else if (r > 0) {
		log_info("removed %s", abs);
	}
}

static void
leave_cluster(struct leave *l)
{
	const struct agent_conf *c = l->a->conf;
	const char *root = agent_root(c);
	const char *reset[] = {agent_prog(c, PROG_KUBEADM), "reset", "-f",
			       NULL};

	if (hostfs_exists(root, JOIN_KUBELET_CONF) ||
	    agent_marker_exists(l->a, "join-attempt") ||
	    agent_marker_exists(l->a, "joined"))
		run(l, "kubeadm reset", reset);
	remove_file(l, JOIN_CONFIG_FILE);
	(void)agent_marker_clear(l->a, "joined");
	(void)agent_marker_clear(l->a, "join-attempt");
}

static void
leave_network(struct leave *l)
{
	const struct agent_conf *c = l->a->conf;
	const char *root = agent_root(c), *sc = agent_prog(c, PROG_SYSTEMCTL);
	const char *vpn[] = {sc, "disable", "--now", VPN_UNIT, NULL};
	const char *routes[] = {sc, "disable", "--now", VPN_ROUTES_UNIT, NULL};
	const char *reload[] = {sc, "daemon-reload", NULL};

	if (hostfs_exists(root, VPN_PROFILE)) {
		run(l, "stopping the tunnel", vpn);
		remove_file(l, VPN_PROFILE);
	}
	if (hostfs_exists(root, VPN_ROUTES_UNIT_FILE)) {
		run(l, "removing the site routes", routes);
		remove_file(l, VPN_ROUTES_UNIT_FILE);
		run(l, "reloading systemd", reload);
	}
	(void)agent_marker_clear(l->a, "pending-openvpn-restart");
	(void)agent_marker_clear(l->a, "pending-routes-restart");
}

static int
forget_steps(struct leave *l)
{
	struct agent *a = l->a;
	int i, r;

	for (i = STEP_NETWORK; i < _STEP_MAX; i++) {
		a->state.steps[i] = (struct step_record){0};
		state_set_message(&a->state.steps[i],
				  "pending: this node left the cluster");
	}
	(void)agent_marker_clear(a, STEPS_DONE_FILE);
	r = state_save(a->conf->state_dir, &a->state);
	if (r >= 0)
		r = agent_marker_set(a, AGENT_LEFT_FILE);
	if (r < 0)
		log_error("cannot update %s: %s", a->conf->state_dir,
			  strerror(-r));
	return r;
}

static int
do_leave(struct agent_conf *conf)
{
	struct agent a = {.conf = conf, .lock_fd = -1};
	struct leave l = {.a = &a};
	char err[AGENT_ERROR_MAX];
	int r;

	r = agent_state_dir_check(conf->state_dir, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return AGENT_EXIT_CONFIG;
	}
	if (agent_lock(&a) < 0 || agent_load_state(&a) < 0) {
		closep(&a.lock_fd);
		return AGENT_EXIT_FAILURE;
	}
	leave_cluster(&l);
	leave_network(&l);
	r = forget_steps(&l);
	closep(&a.lock_fd);
	if (r < 0 || l.failures > 0) {
		log_error("leaving: %d part(s) failed; see above", l.failures);
		return AGENT_EXIT_FAILURE;
	}
	log_notice("node %s left the cluster on this host. The server part "
		   "is not implemented yet: ask the operator to run "
		   "'geostage-bootstrap node revoke %s' (it also deletes the "
		   "Node and cuts the VPN session).",
		   a.state.node[0] ? a.state.node : "(not enrolled)",
		   a.state.node[0] ? a.state.node : "NAME");
	return AGENT_EXIT_OK;
}

static void
leave_usage(FILE *f)
{
	fprintf(f,
		"Usage: geostage-enrolld leave [--config FILE] [--state-dir "
		"DIR]\n"
		"\n"
		"Withdraws this node on this host: kubeadm reset -f, stops and "
		"disables\n%s and removes its profile, removes %s;\nthe "
		"network, gate, join and done steps become pending and the "
		"service does\nnothing until %s/%s is removed.\n"
		"Not done: draining the node and revoking it on the server "
		"(no endpoint\nyet): the operator runs 'geostage-bootstrap "
		"node revoke NAME'.\n"
		"\n"
		"Exit status: 0 done, 1 a part failed, 2 usage, 78 "
		"configuration.\n",
		VPN_UNIT, VPN_ROUTES_UNIT, AGENT_STATE_DIR, AGENT_LEFT_FILE);
}

int
cmd_leave(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *config = NULL, *state_dir = NULL;
	struct agent_conf conf;
	int c, code;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'h':
			leave_usage(stdout);
			return AGENT_EXIT_OK;
		default:
			fprintf(stderr,
				"Try 'geostage-enrolld leave --help'.\n");
			return AGENT_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return commands_usage_error("leave takes no arguments");
	agent_conf_init(&conf);
	code = commands_load_conf(&conf, config, NULL, state_dir);
	if (code == 0)
		code = do_leave(&conf);
	agent_conf_done(&conf);
	return code;
}
