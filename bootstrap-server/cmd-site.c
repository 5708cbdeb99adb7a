/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap site add|list */
#include "config.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "db.h"
#include "log.h"
#include "name.h"
#include "ossl.h"
#include "output.h"
#include "server.h"

static int
site_add_help(void)
{
	printf("Usage: geostage-bootstrap site add NAME --prefix CIDR "
	       "[--mode routed|direct] [--gateway IP]\n\n"
	       "Add a site: NAME is a lowercase RFC 1123 label, --prefix the\n"
	       "site's LAN. 'routed' sites reach the VPN through a site "
	       "gateway;\n'direct' sites (the default) have every node run "
	       "its own tunnel.\n");
	return EXIT_OK;
}

/* A new site's LAN must not overlap the VPN or another site. */
static int
check_overlap(struct server *s, const struct ipnet *prefix)
{
	_cleanup_(json_decrefp) json_t *sites = NULL;
	json_t *e;
	size_t i;
	int r;

	if (ipnet_overlaps(prefix, &s->cfg.vpn_network))
		return log_error("the prefix overlaps the VPN network"),
		       -EEXIST;
	r = db_sites_json(s->db, &sites);
	if (r < 0)
		return r;
	json_array_foreach(sites, i, e)
	{
		struct ipnet other;
		const char *p = json_string_value(json_object_get(e, "prefix"));
		if (p && ipnet_parse(p, &other) >= 0 &&
		    ipnet_overlaps(prefix, &other))
			return log_error("the prefix overlaps site %s (%s)",
					 json_string_value(
						 json_object_get(e, "name")),
					 p),
			       -EEXIST;
	}
	return 0;
}

static int
site_add(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{"prefix", required_argument, NULL, 'p'},
		{"mode", required_argument, NULL, 'm'},
		{"gateway", required_argument, NULL, 'g'},
		{},
	};
	_cleanup_(server_freep) struct server *s = NULL;
	const char *dir = NULL, *prefix = NULL, *mode = "direct",
		   *gateway = NULL, *name;
	struct ipnet net;
	uint32_t gw;
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			return site_add_help();
		case 'D':
			dir = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'g':
			gateway = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !prefix)
		return log_error("usage: site add NAME --prefix CIDR "
				 "(see --help)"),
		       EXIT_USAGE;
	name = argv[optind];
	if (!name_is_dns_label(name) || name_is_reserved(name))
		return log_error("invalid site name '%s': want a lowercase "
				 "RFC 1123 label, not reserved",
				 name),
		       EXIT_USAGE;
	if (ipnet_parse(prefix, &net) < 0)
		return log_error("invalid --prefix '%s': want a network "
				 "address such as 192.168.20.0/24",
				 prefix),
		       EXIT_USAGE;
	if (!streq(mode, "routed") && !streq(mode, "direct"))
		return log_error("--mode must be routed or direct"),
		       EXIT_USAGE;
	if (streq(mode, "routed") && !gateway)
		return log_error("a routed site needs --gateway, the address "
				 "its nodes route other sites through"),
		       EXIT_USAGE;
	if (gateway && (ipnet_parse_addr(gateway, &gw) < 0 ||
			!ipnet_contains(&net, gw)))
		return log_error("--gateway must be an address inside %s",
				 prefix),
		       EXIT_USAGE;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = check_overlap(s, &net);
	if (r == -EEXIST)
		return EXIT_FAIL;
	if (r >= 0)
		r = db_site_add(s->db, name, prefix, mode, gateway,
				(int64_t)time(NULL));
	if (r == -EEXIST)
		return log_error("site %s already exists", name), EXIT_FAIL;
	if (r < 0)
		return log_error_errno(r, "cannot add site: %s", strerror(-r)),
		       EXIT_FAIL;
	printf("added site %s (%s, %s)\n", name, prefix, mode);
	return EXIT_OK;
}

static int
site_list(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{"json", no_argument, NULL, 'j'},
		{},
	};
	static const char *const cols[] = {"NAME", "PREFIX", "MODE", "GATEWAY",
					   "NODES"};
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_(json_decrefp) json_t *sites = NULL;
	const char *dir = NULL;
	bool json = false;
	struct table *t;
	json_t *e;
	size_t i;
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			printf("Usage: geostage-bootstrap site list [--json]\n");
			return EXIT_OK;
		case 'D':
			dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = db_sites_json(s->db, &sites);
	if (r < 0)
		return log_error_errno(r, "cannot list sites: %s", strerror(-r)),
		       EXIT_FAIL;
	if (json)
		return json_print(sites) < 0 ? EXIT_FAIL : EXIT_OK;
	t = table_new(cols, ELEMENTSOF(cols));
	if (!t)
		return EXIT_FAIL;
	json_array_foreach(sites, i, e)
	{
		char nodes[16];
		const char *row[5];
		snprintf(nodes, sizeof(nodes), "%lld",
			 json_integer_value(json_object_get(e, "nodes")));
		row[0] = json_string_value(json_object_get(e, "name"));
		row[1] = json_string_value(json_object_get(e, "prefix"));
		row[2] = json_string_value(json_object_get(e, "mode"));
		row[3] = json_string_value(json_object_get(e, "gateway"));
		row[4] = nodes;
		table_add_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
	return EXIT_OK;
}

int
cmd_site(int argc, char **argv)
{
	static const struct command sub[] = {
		{"add", site_add, "add a site"},
		{"list", site_list, "list sites"},
	};

	return command_dispatch("geostage-bootstrap site", sub,
				ELEMENTSOF(sub), argc - 1, argv + 1);
}
