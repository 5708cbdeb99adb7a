/* SPDX-License-Identifier: MIT */
/* enrolld/agent-token.c: the token file. Real tokens signed here; errors
 * name the file and never contain the token. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "agent.h"
#include "crypto.h"
#include "fileio.h"
#include "jws.h"
#include "ossl.h"

#define JTI "abcdefghijklmnopqrstuvwxyz"
#define PIN "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define EXP 1764111691

struct fixture {
	char dir[64];
	char path[128];
	char link[128];
	char *jws;
	char err[AGENT_ERROR_MAX];
};

static char *
sign(const char *claims)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	char *jws = NULL;

	assert_int_equal(crypto_gen_ed25519(&key), 0);
	assert_int_equal(jws_sign(key, claims, &jws), 0);
	return jws;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char claims[512];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-enrolld-token-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/token", f->dir);
	snprintf(f->link, sizeof(f->link), "%s/link", f->dir);
	snprintf(claims, sizeof(claims),
		 "{\"jti\":\"%s\",\"iss\":[\"https://127.0.0.1:8443\"],"
		 "\"pin\":\"%s\",\"site\":\"tokyo\",\"role\":\"node\","
		 "\"iat\":1764025291,\"exp\":%d,\"max\":1,\"labels\":{}}",
		 JTI, PIN, EXP);
	f->jws = sign(claims);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	(void)unlink(f->path);
	(void)unlink(f->link);
	(void)rmdir(f->dir);
	free(f->jws);
	free(f);
	return 0;
}

static void
put(struct fixture *f, const char *text, size_t len, mode_t mode)
{
	assert_int_equal(write_file_atomic(f->path, text, len, mode), 0);
}

/* Loads f->path expecting r; the error message never holds the token. */
static void
load_fails(struct fixture *f, const char *path, int want)
{
	struct agent_token *t = NULL;

	f->err[0] = '\0';
	assert_int_equal(agent_token_load(path, &t, f->err, sizeof(f->err)),
			 want);
	assert_null(t);
	assert_non_null(strstr(f->err, path));
	assert_null(strstr(f->err, f->jws));
	assert_null(strstr(f->err, "eyJ"));
}

static void
test_good_token(void **state)
{
	struct fixture *f = *state;
	_cleanup_(agent_token_freep) struct agent_token *t = NULL;
	char text[JWS_MAX_LEN + 8];

	/* Surrounding whitespace, as editors and echo leave it. */
	snprintf(text, sizeof(text), "  %s\r\n\n", f->jws);
	put(f, text, strlen(text), 0600);
	assert_int_equal(agent_token_load(f->path, &t, f->err, sizeof(f->err)),
			 0);
	assert_string_equal(t->jws, f->jws);
	assert_int_equal(t->len, strlen(f->jws));
	assert_string_equal(t->claims->jti, JTI);
	assert_string_equal(t->claims->pin, PIN);
	assert_string_equal(t->claims->site, "tokyo");
	assert_int_equal(t->claims->n_iss, 1);
	assert_int_equal(t->claims->exp, EXP);
}

static void
test_expiry(void **state)
{
	struct fixture *f = *state;
	_cleanup_(agent_token_freep) struct agent_token *t = NULL;

	put(f, f->jws, strlen(f->jws), 0600);
	assert_int_equal(agent_token_load(f->path, &t, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(agent_token_check_time(t->claims, EXP - 1, f->err,
						sizeof(f->err)),
			 0);
	assert_int_equal(
		agent_token_check_time(t->claims, EXP, f->err, sizeof(f->err)),
		-EKEYEXPIRED);
	assert_int_equal(agent_token_check_time(t->claims, EXP + 3600, f->err,
						sizeof(f->err)),
			 -EKEYEXPIRED);
	assert_string_equal(f->err, "token " JTI " expired at 2025-11-25 "
				    "23:01:31Z (1h00m ago): ask the cluster "
				    "operator for a new token");
	assert_int_equal(agent_token_check_time(t->claims, EXP + 59, f->err,
						sizeof(f->err)),
			 -EKEYEXPIRED);
	assert_non_null(strstr(f->err, "(59.0s ago)"));
	assert_int_equal(agent_token_check_time(t->claims, EXP + 10 * 86400,
						f->err, sizeof(f->err)),
			 -EKEYEXPIRED);
	assert_non_null(strstr(f->err, "(10 days ago)"));
}

static void
test_bad_files(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *big = malloc(10 * 1024);
	char *bad_claims;

	load_fails(f, f->path, -ENOENT);
	put(f, "", 0, 0600);
	load_fails(f, f->path, -ENODATA);
	put(f, " \n\n", 3, 0600);
	load_fails(f, f->path, -ENODATA);
	put(f, "not a token\n", 12, 0600);
	load_fails(f, f->path, -EBADMSG);
	/* A token cut short: without its signature, inside its claims. */
	put(f, f->jws, (size_t)(strrchr(f->jws, '.') - f->jws), 0600);
	load_fails(f, f->path, -EBADMSG);
	put(f, f->jws, (size_t)(strchr(f->jws, '.') - f->jws) + 20, 0600);
	load_fails(f, f->path, -EBADMSG);
	/* A NUL inside. */
	put(f, f->jws, strlen(f->jws) + 1, 0600);
	load_fails(f, f->path, -EBADMSG);
	/* 10 KB */
	assert_non_null(big);
	memset(big, 'a', 10 * 1024);
	put(f, big, 10 * 1024, 0600);
	load_fails(f, f->path, -EFBIG);
	/* A well-signed JWS whose claims are not a geostage token's. */
	bad_claims = sign("{\"jti\":\"" JTI "\",\"admin\":true}");
	put(f, bad_claims, strlen(bad_claims), 0600);
	free(bad_claims);
	load_fails(f, f->path, -EBADMSG);
	/* Never through a symlink. */
	put(f, f->jws, strlen(f->jws), 0600);
	assert_int_equal(symlink(f->path, f->link), 0);
	load_fails(f, f->link, -ELOOP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("enrolld-token", tests, NULL, NULL);
}
