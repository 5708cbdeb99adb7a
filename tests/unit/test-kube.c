/* SPDX-License-Identifier: MIT */
/* Reading kubeconfigs (bootstrap-server/kube-config.c) with real libyaml,
 * and the caCertHashes value derived from them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "b64.h"
#include "crypto.h"
#include "kube-internal.h"
#include "ossl.h"

static char *ca_b64, *ca_hash;

static int
setup(void **state)
{
	EVP_PKEY *key;
	X509 *ca;
	char *pem;

	assert_int_equal(crypto_gen_p256(&key), 0);
	assert_int_equal(crypto_self_signed(key, "kubernetes", NULL, 1, 30, &ca),
			 0);
	assert_int_equal(crypto_cert_to_pem(ca, &pem), 0);
	assert_int_equal(b64_encode(pem, strlen(pem), &ca_b64), 0);
	assert_int_equal(crypto_spki_hash_hex(key, &ca_hash), 0);
	free(pem);
	X509_free(ca);
	EVP_PKEY_free(key);
	return 0;
}

static int
teardown(void **state)
{
	free(ca_b64);
	free(ca_hash);
	return 0;
}

static void
free_fields(struct kube *k)
{
	free(k->server);
	free(k->endpoint);
	free(k->ca_pem);
	free(k->cert_pem);
	free(k->key_pem);
	free(k->token);
	memset(k, 0, sizeof(*k));
}

static int
parse(const char *fmt, const char *server, struct kube *k)
{
	char text[8192];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(text, sizeof(text), fmt, server, ca_b64);
#pragma GCC diagnostic pop
	memset(k, 0, sizeof(*k));
	return kube_config_parse(text, strlen(text), k);
}

static const char two_contexts[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: admin@lab\n"
	"clusters:\n"
	"- name: other\n"
	"  cluster:\n"
	"    server: https://10.0.0.1:6443\n"
	"    certificate-authority-data: AAAA\n"
	"- name: lab\n"
	"  cluster:\n"
	"    server: %s\n"
	"    certificate-authority-data: %s\n"
	"contexts:\n"
	"- name: other@other\n"
	"  context: {cluster: other, user: other}\n"
	"- name: admin@lab\n"
	"  context:\n"
	"    cluster: lab\n"
	"    user: geostage\n"
	"users:\n"
	"- name: other\n"
	"  user: {token: nope}\n"
	"- name: geostage\n"
	"  user:\n"
	"    token: abc.def\n";

static void
test_current_context_is_followed(void **state)
{
	struct kube k;
	char *hash = NULL;

	assert_int_equal(parse(two_contexts, "https://192.168.10.253:6443", &k),
			 0);
	assert_string_equal(k.server, "https://192.168.10.253:6443");
	assert_string_equal(k.token, "abc.def");
	assert_non_null(strstr(k.ca_pem, "BEGIN CERTIFICATE"));
	assert_int_equal(kube_ca_cert_hash(&k, &hash), 0);
	assert_string_equal(hash, ca_hash);
	free(hash);
	free_fields(&k);
}

static void
test_refused(void **state)
{
	static const char file_refs[] =
		"clusters:\n- name: c\n  cluster:\n    server: %s\n"
		"    certificate-authority: /etc/ca.crt\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"users:\n- name: u\n  user: {token: t}\n# %s\n";
	struct kube k;

	/* Plain HTTP would send credentials in the clear. */
	assert_int_equal(parse(two_contexts, "http://192.168.10.253:6443", &k),
			 -EINVAL);
	free_fields(&k);
	/* Only inline data: a file reference is refused. */
	assert_int_equal(parse(file_refs, "https://h:6443", &k), -EINVAL);
	free_fields(&k);
	/* Not YAML, or not a kubeconfig. */
	memset(&k, 0, sizeof(k));
	assert_int_equal(kube_config_parse("[unclosed", 9, &k), -EINVAL);
	assert_int_equal(kube_config_parse("a: b\n", 5, &k), -EINVAL);
	free_fields(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context_is_followed),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
