/* SPDX-License-Identifier: MIT */
/* The network step: the vpn section's strict checks, the OpenVPN profile
 * (inline blocks; nothing can close a block early; the key never reaches
 * the log or the message), the routes unit, and the step in direct and
 * routed mode against STAND-INS of systemctl and ip in a temp root_dir.
 * Direct mode waits for 127.0.0.1, which lo always has. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>

#include "agent-enroll.h"
#include "crypto.h"
#include "fileio.h"
#include "netif.h"
#include "ossl.h"
#include "test-enrolld-stand-ins.h"
#include "vpn.h"

#define TLS_CRYPT                                                              \
	"-----BEGIN OpenVPN Static key V1-----\n0123abcd\n"                    \
	"-----END OpenVPN Static key V1-----\n"

static void
test_plan_vpn(void **state)
{
	json_t *a = world_answer(), *v = json_object_get(a, "vpn");
	struct plan_vpn p;
	char err[256];

	(void)state;
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), 0);
	assert_true(p.direct);
	assert_false(p.gateway_role);
	assert_int_equal(p.n_remotes, 1);
	assert_int_equal(p.n_routes, 2);
	assert_string_equal(p.proto, "udp");

	json_object_set_new(v, "tls_crypt", json_null());
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -ENODATA);
	assert_string_equal(err, "the server sent no vpn.tls_crypt");
	json_object_set_new(
		v, "tls_crypt",
		json_string(TLS_CRYPT "</tls-crypt>\nup /bin/sh\n"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	/* openvpn --genkey's comment header is fine; the profile gets the
	 * key from its BEGIN line on. */
	json_object_set_new(v, "tls_crypt",
			    json_string("#\n# 2048 bit OpenVPN static key\n#\n"
					"\n" TLS_CRYPT));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), 0);
	assert_string_equal(p.tls_crypt, TLS_CRYPT);
	json_object_set_new(v, "tls_crypt", json_string("junk\n" TLS_CRYPT));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(v, "tls_crypt", json_string(TLS_CRYPT));
	json_object_set_new(v, "remotes",
			    json_pack("[s]", "vpn.example.org:1194\nup x"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(v, "remotes", json_array());
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -ENODATA);
	json_object_set_new(v, "remotes",
			    json_pack("[s]", "vpn.example.org:"
					     "1194"));
	json_object_set_new(v, "routes", json_pack("[s]", "0.0.0.0/0"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(v, "routes", json_pack("[s]", "192.168.10.1/24"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(v, "routes", json_pack("[s]", "192.168.10.0/24"));
	json_object_set_new(v, "proto", json_string("icmp"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_object_set_new(v, "proto", json_string("tcp"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), 0);

	/* routed: the gateway and site prefix are what counts. */
	json_object_set_new(v, "mode", json_string("routed"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -ENODATA);
	assert_string_equal(err, "the server sent no vpn.gateway");
	json_object_set_new(v, "gateway", json_string("192.168.20.1"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), 0);
	assert_false(p.direct);
	/* A gateway runs its own tunnel whatever the mode says. */
	json_object_set_new(a, "role", json_string("gateway"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), 0);
	assert_true(p.direct);
	assert_true(p.gateway_role);
	json_object_set_new(a, "role", json_string("admin"));
	assert_int_equal(plan_vpn_get(a, &p, err, sizeof(err)), -EBADMSG);
	json_decref(a);
}

static void
test_netif_parsers(void **state)
{
	char host[NETIF_HOST_MAX + 1];
	struct in_addr a;
	unsigned port, len;

	(void)state;
	assert_int_equal(
		netif_split_host_port("vpn.example.org:1194", host, &port), 0);
	assert_string_equal(host, "vpn.example.org");
	assert_int_equal(port, 1194);
	assert_int_equal(netif_split_host_port("10.0.0.1:65535", host, &port),
			 0);
	assert_int_equal(netif_split_host_port("10.0.0.1:65536", host, &port),
			 -EINVAL);
	assert_int_equal(netif_split_host_port("10.0.0.1:0", host, &port),
			 -EINVAL);
	assert_int_equal(netif_split_host_port("a b:1", host, &port), -EINVAL);
	assert_int_equal(netif_split_host_port(":1", host, &port), -EINVAL);
	assert_int_equal(netif_split_host_port("[::1]:1", host, &port),
			 -EINVAL);
	assert_int_equal(netif_split_host_port("-x:1", host, &port), -EINVAL);
	assert_int_equal(netif_parse_cidr("10.99.0.0/16", &a, &len), 0);
	assert_int_equal(len, 16);
	assert_int_equal(netif_parse_cidr("10.99.0.1/16", &a, &len), -EINVAL);
	assert_int_equal(netif_parse_cidr("10.99.0.0/33", &a, &len), -EINVAL);
	assert_int_equal(netif_parse_cidr("10.99.0.0", &a, &len), -EINVAL);
	assert_int_equal(netif_parse_cidr("10.99.0.0/", &a, &len), -EINVAL);
	assert_true(netif_in_cidr("192.168.20.7", "192.168.20.0/24"));
	assert_false(netif_in_cidr("192.168.21.7", "192.168.20.0/24"));
	assert_int_equal(netif_find_address("127.0.0.1", host), 0);
	assert_int_equal(netif_find_address("192.0.2.254", host), -ENOENT);
}

static struct plan_vpn
vpn_fixture(void)
{
	return (struct plan_vpn){
		.direct = true,
		.address = "10.99.0.7",
		.prefix_len = 16,
		.remotes = {"203.0.113.10:1194", "vpn2.example.org:443"},
		.n_remotes = 2,
		.proto = "udp",
		.tls_crypt = TLS_CRYPT,
	};
}

static void
test_profile(void **state)
{
	struct plan_vpn v = vpn_fixture();
	struct vpn_profile p = {
		.node = "worker-7",
		.site = "tokyo",
		.vpn = &v,
		.ca = "-----BEGIN CERTIFICATE-----\nCA\n-----END "
		      "CERTIFICATE-----\n",
		.cert = "-----BEGIN CERTIFICATE-----\nNODE\n-----END "
			"CERTIFICATE-----",
		.key = "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE "
		       "KEY-----\n",
	};
	char *text;

	(void)state;
	assert_int_equal(vpn_render_profile(&p, &text), 0);
	assert_non_null(strstr(text, "\nclient\ndev tun\nproto udp\n"
				     "remote 203.0.113.10 1194\n"
				     "remote vpn2.example.org 443\n"
				     "resolv-retry infinite\nnobind\n"
				     "persist-key\npersist-tun\n"));
	assert_non_null(strstr(text, "\nremote-cert-tls server\nverb 3\n"));
	assert_non_null(strstr(text, "<ca>\n-----BEGIN CERTIFICATE-----\nCA\n"
				     "-----END CERTIFICATE-----\n</ca>\n"));
	/* A PEM without its final newline still closes its block. */
	assert_non_null(strstr(text, "NODE\n-----END CERTIFICATE-----\n"
				     "</cert>\n"));
	assert_non_null(strstr(text, "<key>\n-----BEGIN PRIVATE KEY-----\n"
				     "SECRET\n-----END PRIVATE KEY-----\n"
				     "</key>\n"));
	assert_non_null(
		strstr(text, "<tls-crypt>\n" TLS_CRYPT "</tls-crypt>\n"));
	erase_and_free(text);

	v.proto = "tcp";
	assert_int_equal(vpn_render_profile(&p, &text), 0);
	assert_non_null(strstr(text, "\nproto tcp-client\n"));
	erase_and_free(text);

	/* Nothing may close an inline block early and add directives. */
	p.cert = "-----BEGIN CERTIFICATE-----\n</cert>\nscript-security 2\n";
	assert_int_equal(vpn_render_profile(&p, &text), -EINVAL);
	p.cert = "not a PEM";
	assert_int_equal(vpn_render_profile(&p, &text), -EINVAL);
}

static void
test_routes_unit(void **state)
{
	struct plan_vpn v = {.gateway = "192.168.20.1",
			     .routes = {"192.168.10.0/24", "192.168.30.0/24"},
			     .n_routes = 2};
	char *text;

	(void)state;
	assert_int_equal(vpn_render_routes_unit("/sbin/ip", "tokyo", &v, &text),
			 0);
	assert_non_null(strstr(
		text, "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
		      "ExecStart=/sbin/ip route replace 192.168.10.0/24 via "
		      "192.168.20.1\n"
		      "ExecStart=/sbin/ip route replace 192.168.30.0/24 via "
		      "192.168.20.1\n"
		      "ExecStop=-/sbin/ip route del 192.168.10.0/24 via "
		      "192.168.20.1\n"));
	assert_non_null(strstr(text, "After=network-online.target\n"));
	assert_non_null(
		strstr(text, "[Install]\nWantedBy=multi-user.target\n"));
	free(text);
	v.gateway = "192.168.20.1\nExecStart=/bin/sh";
	assert_int_equal(vpn_render_routes_unit("/sbin/ip", "tokyo", &v, &text),
			 -EINVAL);
}

/* --- the step, against stand-ins --------------------------------------- */

static void
save_identity(struct world *w)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = NULL, *key = NULL;
	_cleanup_(X509_freep) X509 *ca = NULL, *cert = NULL;
	char path[256];

	assert_int_equal(crypto_gen_p256(&ca_key), 0);
	assert_int_equal(crypto_gen_p256(&key), 0);
	assert_int_equal(crypto_self_signed(ca_key, "test CA", NULL, 1, 1, &ca),
			 0);
	assert_int_equal(crypto_self_signed(key, "worker-7", NULL, 0, 1, &cert),
			 0);
	snprintf(path, sizeof(path), "%s/%s", w->state, ENROLL_CA_FILE);
	assert_int_equal(crypto_cert_save(path, ca, 0644), 0);
	snprintf(path, sizeof(path), "%s/%s", w->state, ENROLL_CERT_FILE);
	assert_int_equal(crypto_cert_save(path, cert, 0644), 0);
	snprintf(path, sizeof(path), "%s/%s", w->state, ENROLL_KEY_FILE);
	assert_int_equal(crypto_key_save(path, key, 0600), 0);
}

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	json_t *a = world_answer();

	assert_non_null(w);
	world_init(w);
	world_enrolled(w, a);
	json_decref(a);
	save_identity(w);
	world_stand_in(w, PROG_SYSTEMCTL,
		       "[ \"$1\" = is-active ] && echo activating; exit 0");
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	world_done(w);
	free(w);
	return 0;
}

/* The step with stderr (the log) captured in a file. */
static int
step_logged(struct world *w, struct step_ctx *ctx, char **ret_log)
{
	char path[256];
	int fd, saved, r;

	snprintf(path, sizeof(path), "%s/stderr", w->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	r = world_step(w, STEP_NETWORK, step_network, ctx);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	*ret_log = world_read(w, "stderr");
	assert_non_null(*ret_log);
	return r;
}

static void
test_step_direct(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	char *profile, *key, *log, *line;

	assert_int_equal(step_logged(w, &ctx, &log), 0);
	assert_non_null(strstr(ctx.message, "tunnel up: 127.0.0.1/16 on lo"));
	assert_int_equal(world_mode(w, VPN_PROFILE), 0600);
	profile = world_read(w, "root" VPN_PROFILE);
	key = world_read(w, "state/" ENROLL_KEY_FILE);
	assert_non_null(profile);
	assert_non_null(key);
	assert_non_null(strstr(profile, key));
	assert_non_null(strstr(profile, "<tls-crypt>\n" TLS_CRYPT));
	/* No line of the key in the log, the message or the stand-ins'
	 * arguments. */
	for (line = strtok(key, "\n"); line; line = strtok(NULL, "\n")) {
		if (strstr(line, "-----"))
			continue;
		assert_null(strstr(log, line));
		assert_null(strstr(ctx.message, line));
	}
	assert_null(strstr(log, "PRIVATE KEY"));
	free(profile);
	free(key);
	free(log);
	assert_int_equal(world_log_count(w, "systemctl enable " VPN_UNIT), 1);
	assert_int_equal(world_log_count(w, "systemctl restart " VPN_UNIT), 1);

	/* Again: the profile is unchanged, the unit is only started (a
	 * no-op for a running unit), not restarted. */
	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_NETWORK, step_network, &ctx), 0);
	assert_int_equal(world_log_count(w, "systemctl restart"), 0);
	assert_int_equal(world_log_count(w, "systemctl start " VPN_UNIT), 1);
}

static void
test_step_direct_no_address(void **state)
{
	struct world *w = *state;
	json_t *a = world_answer();
	struct step_ctx ctx;

	json_object_set_new(json_object_get(a, "vpn"), "address",
			    json_string("192.0.2.254"));
	world_enrolled(w, a);
	json_decref(a);
	w->conf.vpn_timeout_s = 1;
	assert_int_equal(world_step(w, STEP_NETWORK, step_network, &ctx),
			 -ETIMEDOUT);
	assert_int_equal(ctx.fail, AGENT_FAIL_NETWORK);
	assert_int_equal(agent_fail_exit_code(ctx.fail), 81);
	assert_string_equal(ctx.message,
			    "the VPN address 192.0.2.254 did not appear within "
			    "1 s (" VPN_UNIT " is activating): see journalctl "
			    "-u " VPN_UNIT);
}

static void
routed_answer(struct world *w, const char *gateway)
{
	json_t *a = world_answer(), *v = json_object_get(a, "vpn");

	json_object_set_new(v, "mode", json_string("routed"));
	json_object_set_new(v, "gateway", json_string(gateway));
	world_enrolled(w, a);
	json_decref(a);
}

static void
test_step_routed(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;
	char *unit;

	routed_answer(w, "198.51.100.1");
	world_stand_in(w, PROG_IP, "echo \"$6 via 198.51.100.1 dev eth0 \"");
	assert_int_equal(world_step(w, STEP_NETWORK, step_network, &ctx), 0);
	assert_string_equal(ctx.message, "routed: 2 route(s) to the other "
					 "sites via 198.51.100.1 "
					 "(" VPN_ROUTES_UNIT ")");
	assert_int_equal(world_mode(w, VPN_ROUTES_UNIT_FILE), 0644);
	unit = world_read(w, "root" VPN_ROUTES_UNIT_FILE);
	assert_non_null(strstr(unit, "ExecStart="));
	assert_non_null(strstr(unit, "/bin/ip route replace 192.168.30.0/24 "
				     "via 198.51.100.1\n"));
	free(unit);
	assert_int_equal(world_log_count(w, "systemctl daemon-reload"), 1);
	assert_int_equal(
		world_log_count(w, "systemctl restart " VPN_ROUTES_UNIT), 1);
	assert_int_equal(world_log_count(w, "ip -4 route show exact "
					    "192.168.10.0/24"),
			 1);
	/* No tunnel in routed mode. */
	assert_int_equal(world_mode(w, VPN_PROFILE), -1);

	world_clear_log(w);
	assert_int_equal(world_step(w, STEP_NETWORK, step_network, &ctx), 0);
	assert_int_equal(world_log_count(w, "systemctl daemon-reload"), 0);
	assert_int_equal(world_log_count(w, "systemctl restart"), 0);
	assert_int_equal(world_log_count(w, "systemctl start " VPN_ROUTES_UNIT),
			 1);

	/* A route that did not make it: the step fails. */
	world_stand_in(w, PROG_IP, "exit 0");
	assert_true(world_step(w, STEP_NETWORK, step_network, &ctx) < 0);
	assert_int_equal(ctx.fail, AGENT_FAIL_NETWORK);
	assert_non_null(strstr(ctx.message, "192.168.10.0/24 via 198.51.100.1 "
					    "is not in place"));
}

/* The site gateway is the default route already: nothing to add. */
static void
test_step_routed_default(void **state)
{
	struct world *w = *state;
	char gw[INET_ADDRSTRLEN];
	struct step_ctx ctx;

	if (netif_default_gateway(gw) < 0)
		skip();
	routed_answer(w, gw);
	assert_int_equal(world_step(w, STEP_NETWORK, step_network, &ctx), 0);
	assert_non_null(strstr(ctx.message, "is the default route"));
	assert_int_equal(world_log_count(w, "systemctl"), 0);
	assert_int_equal(world_mode(w, VPN_ROUTES_UNIT_FILE), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_vpn),
		cmocka_unit_test(test_netif_parsers),
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_routes_unit),
		cmocka_unit_test_setup_teardown(test_step_direct, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_direct_no_address,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_routed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_routed_default, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
