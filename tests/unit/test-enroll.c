/* SPDX-License-Identifier: MIT */
/* The enrollment transaction (bootstrap-server/enroll.c) and the VPN
 * address plan, against a real SQLite database and real files in a
 * temporary state dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto.h"
#include "db.h"
#include "enroll.h"
#include "fileio.h"
#include "jws.h"
#include "ossl.h"
#include "server.h"

#define NOW 1800000000LL

struct fixture {
	char dir[64];
	struct server *s;
};

static int
open_dir(const char *base, const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", base, name);
	assert_int_equal(mkdir(p, 0755), 0);
	return open(p, O_RDONLY | O_DIRECTORY);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct server *s = calloc(1, sizeof(*s));
	EVP_PKEY *tls;

	snprintf(f->dir, sizeof(f->dir), "/tmp/geostage-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	server_config_init(&s->cfg);
	s->state_fd = open(f->dir, O_RDONLY | O_DIRECTORY);
	s->ccd_fd = open_dir(f->dir, "ccd");
	s->revoked_fd = open_dir(f->dir, "revoked");
	s->cfg.urls[s->cfg.n_urls++] = strdup("https://127.0.0.1:8443");
	assert_int_equal(db_open_memory(&s->db), 0);
	assert_int_equal(crypto_gen_ed25519(&s->token_key), 0);
	assert_int_equal(jws_key_id(s->token_key, &s->token_kid), 0);
	assert_int_equal(crypto_gen_p256(&s->ca_key), 0);
	assert_int_equal(crypto_self_signed(s->ca_key, "test CA", NULL, 1, 30,
					    &s->ca_cert),
			 0);
	assert_int_equal(crypto_cert_to_pem(s->ca_cert, &s->ca_pem), 0);
	assert_int_equal(crypto_gen_p256(&tls), 0);
	assert_int_equal(crypto_spki_pin(tls, &s->pin), 0);
	EVP_PKEY_free(tls);
	assert_int_equal(db_site_add(s->db, "tokyo", "192.168.20.0/24",
				     "direct", NULL, NOW),
			 0);
	f->s = s;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	server_free(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A signed token inserted in the database, as token create does. */
static char *
make_token(struct server *s, unsigned uses, int64_t exp, char *ret_jti)
{
	struct token_claims c = {0};
	json_t *j;
	char jti[TOKEN_ID_LEN + 1], *payload, *token;

	assert_int_equal(crypto_random_base32(jti, TOKEN_ID_LEN), 0);
	c.jti = jti;
	c.iss[0] = s->cfg.urls[0];
	c.n_iss = 1;
	c.pin = s->pin;
	c.site = "tokyo";
	c.role = "node";
	c.iat = NOW - 10;
	c.exp = exp;
	c.max = uses;
	c.labels = json_pack("{s:s}", "tier", "edge");
	assert_int_equal(token_claims_to_json(&c, &j), 0);
	payload = json_dumps(j, JSON_COMPACT);
	assert_int_equal(jws_sign(s->token_key, payload, &token), 0);
	assert_int_equal(db_token_insert(s->db, &c, NOW - 10), 0);
	if (ret_jti)
		strcpy(ret_jti, jti);
	free(payload);
	json_decref(j);
	json_decref(c.labels);
	return token;
}

static char *
make_body(EVP_PKEY *key, const char *hostname, const char *name)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	json_t *j;
	char *data, *body;
	long n;

	X509_REQ_set_pubkey(req, key);
	X509_REQ_sign(req, key, EVP_sha256());
	PEM_write_bio_X509_REQ(bio, req);
	n = BIO_get_mem_data(bio, &data);
	j = json_pack("{s:s%, s:s}", "csr", data, (size_t)n, "hostname",
		      hostname);
	if (name)
		json_object_set_new(j, "name", json_string(name));
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	BIO_free(bio);
	X509_REQ_free(req);
	return body;
}

static void
redeem(struct server *s, const char *token, const char *body,
       struct enroll_answer *a)
{
	assert_int_equal(enroll_redeem(s, token, strlen(token), body,
				       strlen(body), NOW, a),
			 0);
}

static int64_t
node_id(struct server *s, const char *name)
{
	sqlite3_stmt *st;
	int64_t id = -1;

	assert_int_equal(
		sqlite3_prepare_v2(s->db, "SELECT id FROM nodes WHERE name = ?",
				   -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

static void
test_enroll_then_repeat_spends_one_use(void **state)
{
	struct fixture *f = *state;
	struct server *s = f->s;
	EVP_PKEY *key;
	struct enroll_answer a;
	struct db_token t;
	json_t *j;
	char jti[32], *token, *body, *ccd;

	assert_int_equal(crypto_gen_p256(&key), 0);
	token = make_token(s, 1, NOW + 3600, jti);
	body = make_body(key, "Worker-7.tokyo.example", NULL);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 200);
	assert_null(a.error);
	assert_false(a.repeat);
	assert_string_equal(a.node, "worker-7");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(a.body, "vpn"), "address")),
			    "10.99.0.2");
	enroll_answer_done(&a);
	/* The client file is there, with the address. */
	assert_int_equal(read_file_at(s->ccd_fd, "worker-7", 4096, &ccd, NULL),
			 0);
	assert_non_null(strstr(ccd, "ifconfig-push 10.99.0.2 255.255.0.0\n"));
	free(ccd);
	/* The same key again: the same node, no use spent; what it reports
	 * now replaces what was kept. */
	free(body);
	body = make_body(key, "worker-7.moved", NULL);
	j = json_loads(body, 0, NULL);
	json_object_set_new(j, "facts",
			    json_pack("{s:[s]}", "addresses", "192.168.20.77"));
	free(body);
	body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 200);
	assert_true(a.repeat);
	assert_string_equal(a.node, "worker-7");
	assert_int_equal(db_node_facts(s->db, node_id(s, "worker-7"), &j), 0);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(j, "addresses"), 0)),
			    "192.168.20.77");
	json_decref(j);
	enroll_answer_done(&a);
	assert_int_equal(db_token_get(s->db, jti, &t), 0);
	assert_int_equal(t.uses, 1);
	free(body);
	/* Another key: the token is spent. */
	EVP_PKEY_free(key);
	assert_int_equal(crypto_gen_p256(&key), 0);
	body = make_body(key, "worker-8", NULL);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 403);
	assert_string_equal(a.error, "token_exhausted");
	assert_int_equal(db_token_get(s->db, jti, &t), 0);
	assert_int_equal(t.uses, 1);
	free(body);
	free(token);
	EVP_PKEY_free(key);
}

/* After init --force (a new node CA), a returning node gets a certificate
 * from the new CA: same name and address, new serial, no use spent. */
static void
test_repeat_after_new_ca_renews_certificate(void **state)
{
	struct fixture *f = *state;
	struct server *s = f->s;
	struct enroll_answer a;
	struct db_token t;
	EVP_PKEY *key;
	X509 *cert;
	char jti[32], serial[40], *token, *body;
	const char *pem;

	assert_int_equal(crypto_gen_p256(&key), 0);
	token = make_token(s, 1, NOW + 3600, jti);
	body = make_body(key, "worker", NULL);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 200);
	snprintf(serial, sizeof(serial), "%s",
		 json_string_value(json_object_get(a.body, "serial")));
	enroll_answer_done(&a);

	/* Same CA: the stored certificate comes back unchanged. */
	redeem(s, token, body, &a);
	assert_string_equal(
		json_string_value(json_object_get(a.body, "serial")), serial);
	enroll_answer_done(&a);

	EVP_PKEY_free(s->ca_key);
	X509_free(s->ca_cert);
	free(s->ca_pem);
	assert_int_equal(crypto_gen_p256(&s->ca_key), 0);
	assert_int_equal(crypto_self_signed(s->ca_key, "new CA", NULL, 1, 30,
					    &s->ca_cert),
			 0);
	assert_int_equal(crypto_cert_to_pem(s->ca_cert, &s->ca_pem), 0);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 200);
	assert_true(a.repeat);
	assert_string_equal(a.node, "worker");
	assert_string_not_equal(
		json_string_value(json_object_get(a.body, "serial")), serial);
	pem = json_string_value(json_object_get(a.body, "certificate"));
	assert_int_equal(crypto_cert_from_pem(pem, strlen(pem), &cert), 0);
	assert_int_equal(X509_verify(cert, s->ca_key), 1);
	X509_free(cert);
	enroll_answer_done(&a);
	assert_int_equal(db_token_get(s->db, jti, &t), 0);
	assert_int_equal(t.uses, 1);
	free(body);
	free(token);
	EVP_PKEY_free(key);
}

static void
expect_refusal(struct server *s, const char *token, const char *body,
	       int status, const char *error)
{
	struct enroll_answer a;

	redeem(s, token, body, &a);
	assert_int_equal(a.status, status);
	assert_non_null(a.error);
	assert_string_equal(a.error, error);
	assert_null(a.body);
}

static void
test_token_refusals(void **state)
{
	struct fixture *f = *state;
	struct server *s = f->s;
	EVP_PKEY *key, *other;
	char jti[32], *token, *body, *forged;

	assert_int_equal(crypto_gen_p256(&key), 0);
	body = make_body(key, "node", NULL);
	/* Expired. */
	token = make_token(s, 5, NOW - 1, NULL);
	expect_refusal(s, token, body, 403, "token_expired");
	free(token);
	/* Revoked. */
	token = make_token(s, 5, NOW + 60, jti);
	assert_int_equal(db_token_revoke(s->db, jti, NOW), 0);
	expect_refusal(s, token, body, 403, "token_revoked");
	/* Tampered: one byte of the signature. */
	token[strlen(token) - 3] ^= 1;
	expect_refusal(s, token, body, 401, "invalid_token");
	free(token);
	/* Signed by another key, and an unknown id: the same answer. */
	other = s->token_key;
	assert_int_equal(crypto_gen_ed25519(&s->token_key), 0);
	forged = make_token(s, 5, NOW + 60, NULL);
	EVP_PKEY_free(s->token_key);
	s->token_key = other;
	expect_refusal(s, forged, body, 401, "invalid_token");
	free(forged);
	expect_refusal(s, "", body, 401, "invalid_token");
	expect_refusal(s, "a.b.c", body, 401, "invalid_token");
	free(body);
	EVP_PKEY_free(key);
}

static void
test_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct server *s = f->s;
	EVP_PKEY *key;
	char *token, *body, long_name[70];

	assert_int_equal(crypto_gen_p256(&key), 0);
	token = make_token(s, 50, NOW + 60, NULL);
	expect_refusal(s, token, "not json", 400, "bad_request");
	expect_refusal(s, token, "[]", 400, "bad_request");
	expect_refusal(s, token, "{\"hostname\":\"x\"}", 400, "bad_request");
	expect_refusal(s, token, "{\"csr\":\"x\",\"hostname\":\"a\\u0000b\"}",
		       400, "bad_request");
	expect_refusal(s, token, "{\"csr\":\"x\",\"hostname\":\"h\"}", 422,
		       "csr_rejected");
	body = make_body(key, "node", "DEFAULT");
	expect_refusal(s, token, body, 400, "bad_request");
	free(body);
	body = make_body(key, "node", "default");
	expect_refusal(s, token, body, 400, "bad_request");
	free(body);
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	body = make_body(key, "node", long_name);
	expect_refusal(s, token, body, 400, "bad_request");
	free(body);
	body = make_body(key, "node", "../x");
	expect_refusal(s, token, body, 400, "bad_request");
	free(body);
	free(token);
	EVP_PKEY_free(key);
}

static void
test_names_are_labels_and_unique(void **state)
{
	struct fixture *f = *state;
	struct server *s = f->s;
	struct enroll_answer a;
	EVP_PKEY *k1, *k2, *k3;
	char *token, *body;

	assert_int_equal(crypto_gen_p256(&k1), 0);
	assert_int_equal(crypto_gen_p256(&k2), 0);
	assert_int_equal(crypto_gen_p256(&k3), 0);
	token = make_token(s, 10, NOW + 60, NULL);
	/* A hostile hostname becomes a plain label: its first label,
	 * lowercased, other bytes mapped to '-'. */
	body = make_body(k1, "Evil/Name_1;rm -rf.example.org", NULL);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.node, "evil-name-1-rm-rf");
	enroll_answer_done(&a);
	free(body);
	/* The same proposal again gets a suffix. */
	body = make_body(k2, "evil-name-1-rm-rf", NULL);
	redeem(s, token, body, &a);
	assert_int_equal(a.status, 200);
	assert_int_equal(strlen(a.node), strlen("evil-name-1-rm-rf-xxxx"));
	assert_memory_equal(a.node, "evil-name-1-rm-rf-", 18);
	enroll_answer_done(&a);
	free(body);
	/* An exact name that is taken is a conflict. */
	body = make_body(k3, "x", "evil-name-1-rm-rf");
	expect_refusal(s, token, body, 409, "name_conflict");
	free(body);
	free(token);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

static void
insert_node(sqlite3 *db, const char *name, uint32_t addr)
{
	struct db_node n = {0};

	snprintf(n.name, sizeof(n.name), "%s", name);
	snprintf(n.site, sizeof(n.site), "tokyo");
	snprintf(n.role, sizeof(n.role), "node");
	snprintf(n.key_id, sizeof(n.key_id), "key-%s", name);
	snprintf(n.serial, sizeof(n.serial), "%08X", addr);
	n.vpn_addr = addr;
	n.cert = "";
	n.labels = "{}";
	snprintf(n.token_id, sizeof(n.token_id), "aaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(db_node_insert(db, &n, "h", "{}"), 0);
}

static void
test_address_plan(void **state)
{
	struct fixture *f = *state;
	struct ipnet net;
	uint32_t a;
	char buf[19];
	sqlite3 *db = f->s->db;
	struct token_claims c = {.jti = "aaaaaaaaaaaaaaaaaaaaaaaaaa",
				 .site = "tokyo",
				 .role = "node",
				 .exp = NOW,
				 .max = 100};

	c.labels = json_object();
	assert_int_equal(db_token_insert(db, &c, NOW), 0);
	json_decref(c.labels);
	/* Strict parsing: a network address and a sane prefix only. */
	assert_int_equal(ipnet_parse("10.0.0.1/24", &net), -EINVAL);
	assert_int_equal(ipnet_parse("10.0.0.0/33", &net), -EINVAL);
	assert_int_equal(ipnet_parse("10.0.0/24", &net), -EINVAL);
	assert_int_equal(ipnet_parse("010.0.0.0/24", &net), -EINVAL);
	assert_int_equal(ipnet_parse("10.0.0.0/ 24", &net), -EINVAL);
	assert_int_equal(ipnet_parse("10.99.0.248/29", &net), 0);
	ipnet_format(&net, buf);
	assert_string_equal(buf, "10.99.0.248/29");
	/* .248 network, .249 server, .250-.254 nodes, .255 broadcast. */
	assert_int_equal(db_alloc_vpn_addr(db, &net, &a), 0);
	assert_int_equal(a, net.addr + 2);
	insert_node(db, "n2", net.addr + 2);
	insert_node(db, "n4", net.addr + 4);
	insert_node(db, "n6", net.addr + 6);
	/* The top address is taken: the lowest gap comes next. */
	assert_int_equal(db_alloc_vpn_addr(db, &net, &a), 0);
	assert_int_equal(a, net.addr + 3);
	insert_node(db, "n3", net.addr + 3);
	assert_int_equal(db_alloc_vpn_addr(db, &net, &a), 0);
	assert_int_equal(a, net.addr + 5);
	insert_node(db, "n5", net.addr + 5);
	assert_int_equal(db_alloc_vpn_addr(db, &net, &a), -ENOSPC);
	/* Uniqueness is also the schema's. */
	{
		struct db_node n = {.vpn_addr = net.addr + 5};
		snprintf(n.name, sizeof(n.name), "dup");
		snprintf(n.key_id, sizeof(n.key_id), "k-dup");
		snprintf(n.serial, sizeof(n.serial), "AB");
		snprintf(n.token_id, sizeof(n.token_id), "%s", c.jti);
		n.cert = "";
		n.labels = "{}";
		assert_int_equal(db_node_insert(db, &n, "h", "{}"), -EEXIST);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_enroll_then_repeat_spends_one_use, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_repeat_after_new_ca_renews_certificate, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_token_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_names_are_labels_and_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_plan, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
