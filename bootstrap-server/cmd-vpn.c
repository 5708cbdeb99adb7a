/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap vpn server-config: the master site's OpenVPN server
 * configuration, matching the files this server keeps. */
#include "config.h"

#include <getopt.h>

#include "commands.h"
#include "log.h"
#include "ovpn.h"
#include "server.h"

static void
print_route(const char *directive, const struct ipnet *net)
{
	char a[16], m[16];

	ipnet_format_addr(net->addr, a);
	ipnet_format_addr(ipnet_netmask(net), m);
	printf("%s %s %s\n", directive, a, m);
}

/* The kernel routes on the OpenVPN host that send site LANs into the
 * tunnel; OpenVPN then picks the gateway by its iroute. */
static int
print_site_routes(struct server *s)
{
	struct ovpn_plan plan;
	size_t i;
	int r;

	if (s->cfg.has_sites_network) {
		print_route("route", &s->cfg.sites_network);
		return 0;
	}
	r = ovpn_plan_load(s->db, &s->cfg, &plan);
	if (r < 0)
		return r;
	for (i = 0; i < plan.n_sites; i++)
		if (plan.sites[i].routed)
			print_route("route", &plan.sites[i].prefix);
	ovpn_plan_done(&plan);
	return 0;
}

static int
server_config(struct server *s)
{
	const char *d = s->state_dir;
	_cleanup_free_ char *mgmt = server_vpn_management_path(s);

	if (!mgmt)
		return -ENOMEM;
	printf("# OpenVPN server for the geostage master site, written by\n"
	       "# 'geostage-bootstrap vpn server-config' from %s.\n"
	       "# Client files, revoked serials and keys are the bootstrap\n"
	       "# server's; regenerate this file after adding a routed site\n"
	       "# unless sites_network covers it.\n",
	       d);
	printf("port %u\nproto udp\ndev tun\ntopology subnet\n",
	       s->cfg.vpn_port);
	print_route("server", &s->cfg.vpn_network);
	printf("ca %s/ca.crt\ncert %s/vpn-server.crt\nkey %s/vpn-server.key\n"
	       "dh none\ntls-crypt %s/tls-crypt.key\n"
	       "remote-cert-tls client\n"
	       "client-config-dir %s/ccd\nccd-exclusive\n"
	       "crl-verify %s/revoked dir\n"
	       "management %s unix\n"
	       "client-to-client\nkeepalive 10 60\npersist-key\npersist-tun\n"
	       "# tell clients when the server restarts, so they reconnect at\n"
	       "# once instead of after their keepalive timeout (60 s)\n"
	       "explicit-exit-notify 1\n"
	       "verb 3\n",
	       d, d, d, d, d, d, mgmt);
	return print_site_routes(s);
}

static int
vpn_server_config(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{},
	};
	_cleanup_(server_freep) struct server *s = NULL;
	const char *dir = NULL;
	int o, r;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			printf("Usage: geostage-bootstrap vpn server-config "
			       "[--state-dir D]\n\n"
			       "Print the server.conf for the master site's "
			       "OpenVPN.\n");
			return EXIT_OK;
		case 'D':
			dir = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return log_error("unexpected argument '%s'", argv[optind]),
		       EXIT_USAGE;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = server_config(s);
	if (r < 0)
		return log_error_errno(r, "cannot read the sites: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	return EXIT_OK;
}

int
cmd_vpn(int argc, char **argv)
{
	static const struct command sub[] = {
		{"server-config", vpn_server_config,
		 "print the master site's OpenVPN server.conf"},
	};

	return command_dispatch("geostage-bootstrap vpn", sub,
				ELEMENTSOF(sub), argc - 1, argv + 1);
}
