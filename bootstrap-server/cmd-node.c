/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap node list|show|revoke */
#include "config.h"

#include <getopt.h>
#include <time.h>

#include "commands.h"
#include "db.h"
#include "kube.h"
#include "log.h"
#include "name.h"
#include "ossl.h"
#include "output.h"
#include "ovpn.h"
#include "server.h"

static int
parse_opts(int argc, char **argv, const char *usage, const char **dir,
	   bool *json)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{"json", no_argument, NULL, 'j'},
		{},
	};
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			printf("Usage: %s\n", usage);
			return -1;
		case 'D':
			*dir = optarg;
			break;
		case 'j':
			*json = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

/* "preflight 12ms, enroll 230ms" */
static void
format_steps(json_t *steps, char *buf, size_t size)
{
	size_t i, off = 0;
	json_t *st;

	buf[0] = '\0';
	json_array_foreach(steps, i, st)
	{
		char d[32];
		const char *state =
			json_string_value(json_object_get(st, "state"));
		if (streq(state, "done"))
			format_duration_ms(json_integer_value(json_object_get(
						   st, "duration_ms")),
					   d, sizeof(d));
		else
			snprintf(d, sizeof(d), "%s", state);
		off += (size_t)snprintf(
			buf + off, off < size ? size - off : 0, "%s%s %s",
			off ? ", " : "",
			json_string_value(json_object_get(st, "step")), d);
	}
}

static void
node_row(struct table *t, json_t *e)
{
	const char *row[7];
	char state[48], created[32], steps[512];
	const char *step = json_string_value(json_object_get(e, "step"));

	if (json_integer_value(json_object_get(e, "revoked")))
		snprintf(state, sizeof(state), "revoked");
	else
		snprintf(state, sizeof(state), "%s %s", step ? step : "enroll",
			 step ? json_string_value(
					json_object_get(e, "step_state"))
			      : "done");
	format_time(json_integer_value(json_object_get(e, "created")), created,
		    sizeof(created));
	format_steps(json_object_get(e, "steps"), steps, sizeof(steps));
	row[0] = json_string_value(json_object_get(e, "name"));
	row[1] = json_string_value(json_object_get(e, "site"));
	row[2] = json_string_value(json_object_get(e, "vpn_address"));
	row[3] = state;
	row[4] = created;
	row[5] = json_string_value(json_object_get(e, "role"));
	row[6] = steps[0] ? steps : NULL;
	table_add_row(t, row);
}

static int
print_nodes(json_t *nodes, bool json)
{
	static const char *const cols[] = {"NAME",     "SITE", "VPN-ADDRESS",
					   "STEP",     "ENROLLED", "ROLE",
					   "STEP TIMES"};
	struct table *t;
	json_t *e;
	size_t i;

	if (json)
		return json_print(nodes) < 0 ? EXIT_FAIL : EXIT_OK;
	t = table_new(cols, ELEMENTSOF(cols));
	if (!t)
		return EXIT_FAIL;
	if (json_is_array(nodes)) {
		json_array_foreach(nodes, i, e) node_row(t, e);
	} else {
		node_row(t, nodes);
	}
	table_print(t, stdout);
	table_free(t);
	return EXIT_OK;
}

static int
node_list(int argc, char **argv)
{
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_(json_decrefp) json_t *nodes = NULL;
	const char *dir = NULL;
	bool json = false;
	int r;

	r = parse_opts(argc, argv, "geostage-bootstrap node list [--json]",
		       &dir, &json);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = db_nodes_json(s->db, NULL, &nodes);
	if (r < 0)
		return log_error_errno(r, "cannot list nodes: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	return print_nodes(nodes, json);
}

static int
node_show(int argc, char **argv)
{
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_(json_decrefp) json_t *node = NULL;
	const char *dir = NULL;
	bool json = false;
	int r;

	r = parse_opts(argc, argv, "geostage-bootstrap node show NAME [--json]",
		       &dir, &json);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	if (optind + 1 != argc || !name_is_dns_label(argv[optind]))
		return log_error("usage: node show NAME"), EXIT_USAGE;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = db_nodes_json(s->db, argv[optind], &node);
	if (r == -ENOENT)
		return log_error("no node '%s'", argv[optind]), EXIT_FAIL;
	if (r < 0)
		return log_error_errno(r, "cannot read node: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	return print_nodes(node, json);
}

/* Database first (the decision), revoked-serial file inside the same
 * transaction (OpenVPN refuses the certificate from then on), the client
 * file after the commit; the server's reconciliation repairs a crash in
 * between. */
static int
revoke_node(struct server *s, const char *name, struct db_node *n)
{
	int r;

	r = db_begin(s->db);
	if (r < 0)
		return r;
	r = db_node_revoke(s->db, name, (int64_t)time(NULL), n);
	if (r >= 0)
		r = ovpn_revoke_serial(s->revoked_fd, n->serial);
	if (r >= 0)
		r = db_event(s->db, "node-revoked", n->token_id, name, NULL);
	if (r >= 0)
		r = db_commit(s->db);
	db_rollback(s->db);
	if (r >= 0)
		r = ovpn_ccd_remove(s->ccd_fd, name);
	return r;
}

/* The revoked serial keeps the node from connecting again; a session
 * that is up now ends only when OpenVPN is told. */
static void
end_vpn_session(struct server *s, const char *name)
{
	_cleanup_free_ char *mgmt = server_vpn_management_path(s);
	int r;

	if (!mgmt)
		return;
	r = ovpn_kill(mgmt, name);
	if (r == 0)
		printf("ended its VPN session\n");
	else if (r != -ENOENT)
		printf("could not reach OpenVPN's management socket %s (%s): "
		       "a live session ends at its next renegotiation\n",
		       mgmt, strerror(-r));
}

/* After the revocation, never before it: a kubeconfig that cannot be read
 * must not keep a node from being revoked. */
static void
delete_kubernetes_node(struct server *s, const char *name)
{
	int r;

	if (!s->cfg.kubeconfig)
		return;
	r = kube_open(s->cfg.kubeconfig, &s->kube);
	if (r >= 0)
		r = kube_delete_node(s->kube, name);
	if (r == 0)
		printf("deleted its Kubernetes Node\n");
	else if (r != -ENOENT)
		printf("could not delete its Kubernetes Node (%s): delete it "
		       "with kubectl\n",
		       strerror(-r));
}

static int
node_revoke(int argc, char **argv)
{
	_cleanup_(server_freep) struct server *s = NULL;
	struct db_node n = {0};
	const char *dir = NULL, *name;
	bool json = false;
	int r;

	r = parse_opts(argc, argv, "geostage-bootstrap node revoke NAME", &dir,
		       &json);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	if (optind + 1 != argc || !name_is_dns_label(argv[optind]))
		return log_error("usage: node revoke NAME"), EXIT_USAGE;
	name = argv[optind];
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = revoke_node(s, name, &n);
	db_node_done(&n);
	if (r == -ENOENT)
		return log_error("no node '%s'", name), EXIT_FAIL;
	if (r == -EALREADY) {
		printf("node %s was already revoked\n", name);
		return EXIT_OK;
	}
	if (r < 0)
		return log_error_errno(r, "cannot revoke %s: %s", name,
				       strerror(-r)),
		       EXIT_FAIL;
	printf("revoked node %s\n", name);
	end_vpn_session(s, name);
	delete_kubernetes_node(s, name);
	return EXIT_OK;
}

int
cmd_node(int argc, char **argv)
{
	static const struct command sub[] = {
		{"list", node_list, "list nodes with their current step"},
		{"show", node_show, "show one node"},
		{"revoke", node_revoke, "revoke a node's certificate and VPN"},
	};

	return command_dispatch("geostage-bootstrap node", sub,
				ELEMENTSOF(sub), argc - 1, argv + 1);
}
