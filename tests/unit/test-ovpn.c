/* SPDX-License-Identifier: MIT */
/* The VPN plan and the per-node OpenVPN files (bootstrap-server/ovpn*.c):
 * who runs a tunnel, which routes each node gets, what the files say. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "db.h"
#include "ovpn.h"
#include "server-config.h"

struct fixture {
	sqlite3 *db;
	struct server_config cfg;
	struct ovpn_plan plan;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(db_open_memory(&f->db), 0);
	server_config_init(&f->cfg);
	assert_int_equal(ipnet_parse("192.168.10.0/24", &f->cfg.master_prefix),
			 0);
	f->cfg.has_master_prefix = true;
	assert_int_equal(db_site_add(f->db, "tokyo", "192.168.20.0/24",
				     "routed", "192.168.20.1", 1),
			 0);
	assert_int_equal(db_site_add(f->db, "frankfurt", "192.168.30.0/24",
				     "routed", "192.168.30.1", 1),
			 0);
	assert_int_equal(db_site_add(f->db, "solo", "198.51.100.0/24",
				     "direct", NULL, 1),
			 0);
	assert_int_equal(ovpn_plan_load(f->db, &f->cfg, &f->plan), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	ovpn_plan_done(&f->plan);
	server_config_done(&f->cfg);
	sqlite3_close(f->db);
	free(f);
	return 0;
}

static struct db_node
node(const char *name, const char *site, const char *role, uint32_t addr)
{
	struct db_node n = {.vpn_addr = addr};

	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.site, sizeof(n.site), "%s", site);
	snprintf(n.role, sizeof(n.role), "%s", role);
	return n;
}

static char *
render(struct fixture *f, const struct db_node *n)
{
	char *text = NULL;

	assert_int_equal(ovpn_ccd_render(&f->plan, n, &text), 0);
	return text;
}

static void
test_gateway_carries_its_site(void **state)
{
	struct fixture *f = *state;
	struct db_node gw = node("gw-tokyo", "tokyo", "gateway", 0x0a630002);
	char *t = render(f, &gw);

	assert_false(ovpn_node_is_routed(&f->plan, &gw));
	assert_non_null(strstr(t, "ifconfig-push 10.99.0.2 255.255.0.0\n"));
	assert_non_null(strstr(t, "iroute 192.168.20.0 255.255.255.0\n"));
	assert_non_null(
		strstr(t, "push \"route 192.168.10.0 255.255.255.0\"\n"));
	assert_non_null(
		strstr(t, "push \"route 192.168.30.0 255.255.255.0\"\n"));
	/* A direct site's LAN is not behind the VPN: its nodes are reached
	 * by their VPN addresses. */
	assert_null(strstr(t, "198.51.100.0"));
	/* Never a route to its own LAN, never the VPN (it is on it). */
	assert_null(strstr(t, "push \"route 192.168.20.0"));
	assert_null(strstr(t, "route 10.99.0.0"));
	free(t);
}

static void
test_node_behind_gateway_is_routed(void **state)
{
	struct fixture *f = *state;
	struct db_node n = node("w1", "frankfurt", "node", 0x0a630003);
	struct ipnet r[OVPN_ROUTES_MAX];
	char buf[19];
	size_t count, i;
	bool vpn = false, own = false;

	assert_true(ovpn_node_is_routed(&f->plan, &n));
	assert_int_equal(ovpn_node_routes(&f->plan, &n, r, ELEMENTSOF(r),
					  &count),
			 0);
	for (i = 0; i < count; i++) {
		ipnet_format(&r[i], buf);
		vpn = vpn || streq(buf, "10.99.0.0/16");
		own = own || streq(buf, "192.168.30.0/24");
	}
	assert_true(vpn);
	assert_false(own);
	assert_int_equal(count, 3); /* VPN, master, tokyo; not solo */
}

static void
test_direct_site_node_gets_no_iroute(void **state)
{
	struct fixture *f = *state;
	struct db_node n = node("solo-1", "solo", "node", 0x0a630004);
	char *t = render(f, &n);

	assert_false(ovpn_node_is_routed(&f->plan, &n));
	assert_null(strstr(t, "iroute"));
	assert_non_null(
		strstr(t, "push \"route 192.168.20.0 255.255.255.0\"\n"));
	free(t);
}

static void
test_sites_network_replaces_site_routes(void **state)
{
	struct fixture *f = *state;
	struct db_node n = node("solo-1", "solo", "node", 0x0a630004);
	char *t;

	assert_int_equal(ipnet_parse("192.168.0.0/16", &f->cfg.sites_network),
			 0);
	f->cfg.has_sites_network = true;
	t = render(f, &n);
	assert_non_null(strstr(t, "push \"route 192.168.0.0 255.255.0.0\"\n"));
	assert_null(strstr(t, "192.168.20.0"));
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gateway_carries_its_site,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_node_behind_gateway_is_routed, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_direct_site_node_gets_no_iroute, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_sites_network_replaces_site_routes, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
