/* SPDX-License-Identifier: MIT */
/* enrolld/facts.c: the parsers over /etc/os-release, /proc/net/route and
 * /proc/meminfo, and the bounds of what is sent. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "facts.h"
#include "ossl.h"

static void
test_os_release(void **state)
{
	char os[FACTS_TEXT_MAX], long_name[600];

	(void)state;
	facts_parse_os_release(
		"NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian "
		"GNU/Linux 12 (bookworm)\"\nID=debian\n",
		os, sizeof(os));
	assert_string_equal(os, "Debian GNU/Linux 12 (bookworm)");
	facts_parse_os_release("PRETTY_NAME=Alpine", os, sizeof(os));
	assert_string_equal(os, "Alpine");
	facts_parse_os_release("ID=x\n", os, sizeof(os));
	assert_string_equal(os, "");
	/* Control bytes never reach the server raw; long names are cut. */
	facts_parse_os_release("PRETTY_NAME=\"a\x1b[31mb\"\n", os, sizeof(os));
	assert_string_equal(os, "a?[31mb");
	memset(long_name, 'x', sizeof(long_name));
	memcpy(long_name, "PRETTY_NAME=", 12);
	long_name[sizeof(long_name) - 1] = '\0';
	facts_parse_os_release(long_name, os, sizeof(os));
	assert_int_equal(strlen(os), FACTS_TEXT_MAX - 1);
}

static void
test_route(void **state)
{
	static const char table[] =
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\t"
		"Mask\t\tMTU\tWindow\tIRTT\n"
		"eth0\t0014A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
		"wlan0\t00000000\t0114A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0"
		"\n"
		"eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
		"tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n";
	char gw[16];

	(void)state;
	/* little-endian as the kernel prints it: lowest metric wins */
	assert_int_equal(facts_parse_route(table, gw, sizeof(gw)), 0);
	assert_string_equal(gw, "192.168.2.1");
	assert_int_equal(
		facts_parse_route("Iface\tDestination\n", gw, sizeof(gw)),
		-ENOENT);
	assert_int_equal(facts_parse_route("", gw, sizeof(gw)), -ENOENT);
}

static void
test_meminfo(void **state)
{
	(void)state;
	assert_int_equal(facts_parse_meminfo("MemTotal:        2048000 kB\n"
					     "MemFree:  1 kB\n"),
			 2000);
	assert_int_equal(facts_parse_meminfo("SwapTotal: 4096 kB\nMemTotal: "
					     "1048576 kB\n"),
			 1024);
	assert_int_equal(facts_parse_meminfo("HugeMemTotal: 5 kB\n"), 0);
	assert_int_equal(facts_parse_meminfo(""), 0);
}

/* The real host: everything present is bounded and well under 4 KiB. */
static void
test_collect(void **state)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_free_ char *s = NULL;
	struct facts f;

	(void)state;
	facts_collect(&f);
	assert_true(f.cpus >= 1);
	assert_true(f.mem_mb >= 1);
	assert_true(f.arch[0] != '\0');
	assert_true(f.n_addresses <= FACTS_ADDRESSES_MAX);
	assert_int_equal(facts_to_json(&f, &j), 0);
	assert_true(json_is_array(json_object_get(j, "addresses")));
	assert_true(json_is_integer(json_object_get(j, "mem_mb")));
	s = json_dumps(j, JSON_COMPACT);
	assert_non_null(s);
	assert_true(strlen(s) < 4096);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_os_release),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_meminfo),
		cmocka_unit_test(test_collect),
	};

	return cmocka_run_group_tests_name("enrolld-facts", tests, NULL, NULL);
}
