/* SPDX-License-Identifier: MIT */
/* lib/token: the enrollment token's claims. One valid claim set, and each
 * test breaks exactly one thing in it. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ossl.h"
#include "token.h"

#define JTI "abcdefghijklmnopqrstuvwxyz"
/* SHA-256 of the empty string, base64: a well-formed pin. */
#define PIN "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define ISS "https://boot.example.org:8443"
#define IAT 1764025291
#define EXP 1764111691

static json_t *
valid_claims(void)
{
	json_t *j =
		json_pack("{s:s, s:[s], s:s, s:s, s:s, s:I, s:I, s:i, "
			  "s:{s:s}}",
			  "jti", JTI, "iss", ISS, "pin", PIN, "site", "tokyo",
			  "role", "node", "iat", (json_int_t)IAT, "exp",
			  (json_int_t)EXP, "max", 1, "labels", "tier", "edge");
	assert_non_null(j);
	return j;
}

/* Whether token_claims_from_json gives the expected verdict on j; says
 * what it got when not. Callers free what they own before asserting, so
 * that a failing test leaks nothing (cmocka leaves by longjmp). */
static bool
verdict_is(json_t *j, bool accept, const char *what)
{
	struct token_claims *c = NULL;
	int r = token_claims_from_json(j, &c);
	bool ok = accept ? r == 0 && c : r == -EINVAL && !c;

	if (!ok) {
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		print_message("# %s (%d): %s\n",
			      accept ? "refused" : "accepted", r, what);
		print_message("# claims: %s\n", s);
		free(s);
	}
	token_claims_free(c);
	return ok;
}

/* Valid claims with one claim set to value (stolen); checks the verdict. */
static void
check_with(const char *claim, json_t *value, bool accept)
{
	json_t *j = valid_claims();
	char what[128];
	char *v = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
	bool as_expected;

	snprintf(what, sizeof(what), "%s = %.90s", claim, v);
	free(v);
	assert_int_equal(json_object_set_new(j, claim, value), 0);
	as_expected = verdict_is(j, accept, what);
	json_decref(j);
	assert_true(as_expected);
}

static void
refused_with(const char *claim, json_t *value)
{
	check_with(claim, value, false);
}

static void
accepted_with(const char *claim, json_t *value)
{
	check_with(claim, value, true);
}

static void
refused_with_string(const char *claim, const char *s)
{
	refused_with(claim, json_string(s));
}

static void
accepted_with_string(const char *claim, const char *s)
{
	accepted_with(claim, json_string(s));
}

static void
refused_with_iss(const char *url)
{
	refused_with("iss", json_pack("[s]", url));
	refused_with_string("iss", url);
}

static void
accepted_with_iss(const char *url)
{
	accepted_with("iss", json_pack("[s]", url));
	accepted_with_string("iss", url);
}

static void
refused_with_label(const char *key, const char *value)
{
	refused_with("labels", json_pack("{s:s}", key, value));
}

static void
accepted_with_label(const char *key, const char *value)
{
	accepted_with("labels", json_pack("{s:s}", key, value));
}

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* --- accepted --------------------------------------------------------- */

static void
test_claims_valid_accepted_with_every_field(void **state)
{
	_cleanup_(json_decrefp) json_t *j = valid_claims();
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;

	assert_int_equal(token_claims_from_json(j, &c), 0);
	assert_string_equal(c->jti, JTI);
	assert_int_equal(c->n_iss, 1);
	assert_string_equal(c->iss[0], ISS);
	assert_string_equal(c->pin, PIN);
	assert_string_equal(c->site, "tokyo");
	assert_string_equal(c->role, "node");
	assert_int_equal(c->iat, IAT);
	assert_int_equal(c->exp, EXP);
	assert_int_equal(c->max, 1);
	assert_string_equal(
		json_string_value(json_object_get(c->labels, "tier")), "edge");
}

static void
test_claims_iss_as_string_accepted(void **state)
{
	_cleanup_(json_decrefp) json_t *j = valid_claims();
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;

	json_object_set_new(j, "iss", json_string(ISS));
	assert_int_equal(token_claims_from_json(j, &c), 0);
	assert_int_equal(c->n_iss, 1);
	assert_string_equal(c->iss[0], ISS);
}

static void
test_claims_four_iss_accepted(void **state)
{
	_cleanup_(json_decrefp) json_t *j = valid_claims();
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;

	json_object_set_new(j, "iss",
			    json_pack("[s,s,s,s]", "https://a.example",
				      "https://10.0.0.1:8443",
				      "https://[2001:db8::1]:443",
				      "https://b.example/"));
	assert_int_equal(token_claims_from_json(j, &c), 0);
	assert_int_equal(c->n_iss, 4);
	assert_string_equal(c->iss[2], "https://[2001:db8::1]:443");
}

static void
test_claims_good_urls_accepted(void **state)
{
	accepted_with_iss("https://boot.example.org");
	accepted_with_iss("https://boot.example.org/");
	accepted_with_iss("https://boot:1");
	accepted_with_iss("https://boot:65535");
	accepted_with_iss("https://192.0.2.1:8443");
	accepted_with_iss("https://[::1]");
	accepted_with_iss("https://[::1]:8443");
	accepted_with_iss("https://Boot.Example.ORG");
}

static void
test_claims_role_gateway_accepted(void **state)
{
	accepted_with_string("role", "gateway");
}

static void
test_claims_max_bounds_accepted(void **state)
{
	accepted_with("max", json_integer(1));
	accepted_with("max", json_integer(TOKEN_USES_MAX));
}

static void
test_claims_jti_of_token_id_len_accepted(void **state)
{
	_cleanup_free_ char *jti = repeat('a', TOKEN_ID_LEN);

	accepted_with_string("jti", "234567abcdefghijklmnopqrst");
	accepted_with_string("jti", jti);
}

static void
test_claims_site_of_63_chars_accepted(void **state)
{
	_cleanup_free_ char *site = repeat('s', 63);

	accepted_with_string("site", site);
}

static void
test_claims_iat_equal_to_exp_accepted(void **state)
{
	accepted_with("iat", json_integer(EXP));
}

static void
test_claims_32_labels_accepted(void **state)
{
	json_t *labels = json_object();
	char key[16];
	int i;

	for (i = 0; i < TOKEN_LABELS_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(labels, key, json_string("v"));
	}
	accepted_with("labels", labels);
}

static void
test_claims_label_forms_accepted(void **state)
{
	_cleanup_free_ char *v63 = repeat('v', 63);

	accepted_with_label("tier", "edge");
	accepted_with_label("tier", "");
	accepted_with_label("example.com/tier", "a.b_c-D9");
	accepted_with_label("Tier_2.x", v63);
	/* Look-alikes of geostage.io that are someone else's. */
	accepted_with_label("notgeostage.io/x", "y");
	accepted_with_label("geostage.io.example.com/x", "y");
	accepted_with_label("geostage-io/x", "y");
}

/* --- missing, wrong type, unknown ------------------------------------- */

static void
test_claims_missing_required_claim_refused(void **state)
{
	static const char *const required[] = {"jti",  "iss", "pin", "site",
					       "role", "exp", "max"};
	size_t i;

	for (i = 0; i < ELEMENTSOF(required); i++) {
		json_t *j = valid_claims();
		bool as_expected;

		assert_int_equal(json_object_del(j, required[i]), 0);
		as_expected = verdict_is(j, false, required[i]);
		json_decref(j);
		assert_true(as_expected);
	}
}

/* Either iat is required (as token.h says: "every claim present") or a
 * claim set without it must survive to_json -> from_json. */
static void
test_claims_without_iat_refused_or_round_trips(void **state)
{
	json_t *j = valid_claims(), *out = NULL;
	struct token_claims *c = NULL;
	bool as_expected;

	json_object_del(j, "iat");
	if (token_claims_from_json(j, &c) < 0) {
		json_decref(j);
		return;
	}
	assert_int_equal(token_claims_to_json(c, &out), 0);
	as_expected = verdict_is(out, true, "to_json of claims without iat");
	token_claims_free(c);
	json_decref(out);
	json_decref(j);
	assert_true(as_expected);
}

static void
test_claims_wrong_type_refused(void **state)
{
	refused_with("jti", json_integer(12345));
	refused_with("jti", json_pack("[s]", JTI));
	refused_with("iss", json_integer(443));
	refused_with("iss", json_pack("{s:s}", "url", ISS));
	refused_with("iss", json_pack("[i]", 1));
	refused_with("iss", json_null());
	refused_with("pin", json_true());
	refused_with("site", json_null());
	refused_with("site", json_pack("[s]", "tokyo"));
	refused_with("role", json_integer(1));
	refused_with("iat", json_string("1764025291"));
	refused_with("iat", json_real(1764025291.0));
	refused_with("exp", json_string("1764111691"));
	refused_with("exp", json_real(1764111691.5));
	refused_with("exp", json_null());
	refused_with("max", json_string("1"));
	refused_with("max", json_real(1.0));
	refused_with("max", json_true());
	refused_with("labels", json_pack("[s]", "tier=edge"));
	refused_with("labels", json_string("tier=edge"));
	refused_with("labels", json_pack("{s:i}", "tier", 1));
	refused_with("labels", json_pack("{s:b}", "tier", 1));
	refused_with("labels", json_pack("{s:n}", "tier"));
}

static void
test_claims_unknown_claim_refused(void **state)
{
	refused_with("nbf", json_integer(IAT));
	refused_with("sub", json_string("worker-7"));
	refused_with("aud", json_string(ISS));
	refused_with("JTI", json_string(JTI));
	refused_with("", json_string("x"));
	refused_with("name", json_string("worker-7"));
}

static void
test_claims_non_object_refused(void **state)
{
	_cleanup_(json_decrefp) json_t *arr = json_array(), *str = NULL;
	struct token_claims *c = NULL;

	str = json_string("claims");
	assert_int_equal(token_claims_from_json(arr, &c), -EINVAL);
	assert_int_equal(token_claims_from_json(str, &c), -EINVAL);
	assert_int_equal(token_claims_from_json(NULL, &c), -EINVAL);
	assert_null(c);
}

/* --- jti, pin, site, role --------------------------------------------- */

static void
test_claims_jti_too_short_refused(void **state)
{
	refused_with_string("jti", "");
	refused_with_string("jti", "abcdefghijklmno"); /* 15 */
}

static void
test_claims_jti_too_long_refused(void **state)
{
	_cleanup_free_ char *jti = repeat('a', 65);

	refused_with_string("jti", jti);
}

static void
test_claims_jti_not_base32_refused(void **state)
{
	refused_with_string("jti", "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
	refused_with_string("jti", "abcdefghijklmnopqrstuvwxy0");
	refused_with_string("jti", "abcdefghijklmnopqrstuvwxy1");
	refused_with_string("jti", "abcdefghijklmnopqrstuvwxy8");
	refused_with_string("jti", "abcdefghijklmnopqrstuvwxy9");
	refused_with_string("jti", "abcdefghijklm-nopqrstuvwxy");
	refused_with_string("jti", "abcdefghijklmnopqrstuvwx==");
	refused_with_string("jti", "abcdefghijklmnopqrstuvwx\xc3\xa9");
	refused_with_string("jti", "abcdefghijklm nopqrstuvwxy");
	refused_with_string("jti", "../../../../etc/passwd");
}

static void
test_claims_bad_pin_format_refused(void **state)
{
	refused_with_string("pin", "");
	refused_with_string("pin", "sha256//");
	/* Wrong or missing prefix. */
	refused_with_string(
		"pin", "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	refused_with_string(
		"pin", "SHA256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	refused_with_string(
		"pin", "sha1//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	refused_with_string("pin",
			    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	/* No padding, too short, too long. */
	refused_with_string(
		"pin", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
	refused_with_string(
		"pin", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF=");
	refused_with_string(
		"pin", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA=");
	/* base64url alphabet, whitespace, a second pin. */
	refused_with_string(
		"pin", "sha256//47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
	refused_with_string(
		"pin", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF =");
	refused_with_string(
		"pin", "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"
		       "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	refused_with_string("pin", "sha256:e3b0c44298fc1c149afbf4c8996fb92427"
				   "ae41e4649b934ca495991b7852b855");
}

static void
test_claims_site_not_dns_label_refused(void **state)
{
	_cleanup_free_ char *site64 = repeat('s', 64);

	refused_with_string("site", "");
	refused_with_string("site", "Tokyo");
	refused_with_string("site", "-tokyo");
	refused_with_string("site", "tokyo-");
	refused_with_string("site", "to_kyo");
	refused_with_string("site", "tok.yo");
	refused_with_string("site", "../x");
	refused_with_string("site", "a/b");
	refused_with_string("site", "t\xc3\xb6kyo");
	refused_with_string("site", "tokyo ");
	refused_with_string("site", site64);
}

static void
test_claims_site_with_nul_refused(void **state)
{
	refused_with("site", json_stringn("tok\0yo", 6));
}

static void
test_claims_role_other_than_node_or_gateway_refused(void **state)
{
	refused_with_string("role", "");
	refused_with_string("role", "admin");
	refused_with_string("role", "Node");
	refused_with_string("role", "nodes");
	refused_with_string("role", "node ");
	refused_with_string("role", "control-plane");
	refused_with("role", json_stringn("node\0x", 6));
}

/* --- numbers ---------------------------------------------------------- */

static void
test_claims_max_out_of_range_refused(void **state)
{
	refused_with("max", json_integer(0));
	refused_with("max", json_integer(-1));
	refused_with("max", json_integer(TOKEN_USES_MAX + 1));
	refused_with("max", json_integer((json_int_t)1 << 32 | 1));
	refused_with("max", json_integer(INT64_MIN));
}

static void
test_claims_exp_not_positive_refused(void **state)
{
	refused_with("exp", json_integer(0));
	refused_with("exp", json_integer(-1));
	refused_with("exp", json_integer(INT64_MIN));
}

static void
test_claims_iat_after_exp_refused(void **state)
{
	refused_with("iat", json_integer(EXP + 1));
}

static void
test_claims_iat_not_positive_refused(void **state)
{
	refused_with("iat", json_integer(0));
	refused_with("iat", json_integer(-1));
}

/* --- iss -------------------------------------------------------------- */

static void
test_claims_iss_not_https_refused(void **state)
{
	refused_with_iss("http://boot.example.org");
	refused_with_iss("ftp://boot.example.org");
	refused_with_iss("HTTPS://boot.example.org");
	refused_with_iss("https:/boot.example.org");
	refused_with_iss("//boot.example.org");
	refused_with_iss("boot.example.org");
	refused_with_iss("");
}

static void
test_claims_iss_with_userinfo_refused(void **state)
{
	refused_with_iss("https://user@boot.example.org");
	refused_with_iss("https://user:pass@boot.example.org:8443");
	refused_with_iss("https://boot.example.org@evil.example");
}

static void
test_claims_iss_with_query_or_fragment_refused(void **state)
{
	refused_with_iss("https://boot.example.org?x=1");
	refused_with_iss("https://boot.example.org/?x=1");
	refused_with_iss("https://boot.example.org:8443?x");
	refused_with_iss("https://boot.example.org#frag");
	refused_with_iss("https://boot.example.org/#frag");
}

static void
test_claims_iss_with_path_refused(void **state)
{
	refused_with_iss("https://boot.example.org/v1");
	refused_with_iss("https://boot.example.org//");
	refused_with_iss("https://boot.example.org/../x");
	refused_with_iss("https://boot.example.org:8443/v1/enroll");
}

static void
test_claims_iss_bad_port_refused(void **state)
{
	refused_with_iss("https://boot.example.org:0");
	refused_with_iss("https://boot.example.org:65536");
	refused_with_iss("https://boot.example.org:99999");
	refused_with_iss("https://boot.example.org:4294967739");
	refused_with_iss("https://boot.example.org:");
	refused_with_iss("https://boot.example.org:-1");
	refused_with_iss("https://boot.example.org:+443");
	refused_with_iss("https://boot.example.org:44a");
	refused_with_iss("https://boot.example.org:443:443");
	refused_with_iss("https://[::1]:0");
	refused_with_iss("https://[::1]:65536");
}

static void
test_claims_iss_bad_host_refused(void **state)
{
	_cleanup_free_ char *label64 = repeat('a', 64), *url = NULL,
			    *long_url = NULL, *host = repeat('h', 250);

	refused_with_iss("https://");
	refused_with_iss("https:///");
	refused_with_iss("https://:443");
	refused_with_iss("https://-boot.example.org");
	refused_with_iss("https://boot..example.org");
	refused_with_iss("https://boot.example.org.");
	refused_with_iss("https://.boot.example.org");
	refused_with_iss("https://bo_ot.example.org");
	refused_with_iss("https://bo ot.example.org");
	refused_with_iss("https://b\xc3\xb6t.example.org");
	refused_with_iss("https://[::1");
	refused_with_iss("https://::1");
	refused_with_iss("https://[zz::1]");
	refused_with_iss("https://[]");
	refused_with_iss("https://[::1]x");
	refused_with_iss("https://[fe80::1%eth0]");
	refused_with_iss("https://\\boot.example.org");
	assert_true(asprintf(&url, "https://%s.example", label64) > 0);
	refused_with_iss(url);
	assert_true(asprintf(&long_url, "https://%.63s.%.63s.%.63s.%.61s", host,
			     host, host, host) > 0);
	assert_true(strlen(long_url) > TOKEN_URL_MAX);
	refused_with_iss(long_url);
}

static void
test_claims_more_than_four_iss_refused(void **state)
{
	refused_with("iss",
		     json_pack("[s,s,s,s,s]", "https://a.example",
			       "https://b.example", "https://c.example",
			       "https://d.example", "https://e.example"));
}

static void
test_claims_empty_iss_array_refused(void **state)
{
	refused_with("iss", json_array());
}

static void
test_claims_iss_array_with_one_bad_url_refused(void **state)
{
	refused_with("iss", json_pack("[s,s]", "https://a.example",
				      "http://b.example"));
	refused_with("iss", json_pack("[s,i]", "https://a.example", 1));
}

static void
test_claims_iss_with_nul_refused(void **state)
{
	refused_with("iss", json_pack("[o]", json_stringn("https://a.example"
							  "\0.evil.example",
							  31)));
}

/* --- labels ----------------------------------------------------------- */

static void
test_claims_label_bad_key_refused(void **state)
{
	_cleanup_free_ char *name64 = repeat('k', 64);

	refused_with_label("", "v");
	refused_with_label("-tier", "v");
	refused_with_label("tier-", "v");
	refused_with_label("_tier", "v");
	refused_with_label("ti er", "v");
	refused_with_label("t\303\257er", "v");
	refused_with_label("a/b/c", "v");
	refused_with_label("/tier", "v");
	refused_with_label("example.com/", "v");
	refused_with_label("Example.com/tier", "v");
	refused_with_label("exa_mple.com/tier", "v");
	refused_with_label("example..com/tier", "v");
	refused_with_label(name64, "v");
}

static void
test_claims_label_bad_value_refused(void **state)
{
	_cleanup_free_ char *v64 = repeat('v', 64);

	refused_with_label("tier", "-edge");
	refused_with_label("tier", "edge-");
	refused_with_label("tier", ".edge");
	refused_with_label("tier", "ed ge");
	refused_with_label("tier", "ed/ge");
	refused_with_label("tier", "\xc3\xa9");
	refused_with_label("tier", v64);
}

static void
test_claims_label_value_with_nul_refused(void **state)
{
	refused_with("labels",
		     json_pack("{s:o}", "tier", json_stringn("ed\0ge", 5)));
}

static void
test_claims_more_than_32_labels_refused(void **state)
{
	json_t *labels = json_object();
	char key[16];
	int i;

	for (i = 0; i < TOKEN_LABELS_MAX + 1; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(labels, key, json_string("v"));
	}
	refused_with("labels", labels);
}

static void
test_claims_geostage_io_label_refused(void **state)
{
	refused_with_label("geostage.io/site", "osaka");
	refused_with_label("geostage.io/role", "gateway");
	refused_with_label("node.geostage.io/x", "y");
	refused_with_label("a.b.geostage.io/x", "y");
}

/* --- to_json ---------------------------------------------------------- */

static void
test_claims_to_json_from_json_round_trip(void **state)
{
	_cleanup_(json_decrefp) json_t *j = valid_claims(), *out = NULL,
				       *out2 = NULL;
	_cleanup_(token_claims_freep) struct token_claims *c = NULL, *c2 = NULL;

	json_object_set_new(j, "iss",
			    json_pack("[s,s]", ISS, "https://[::1]:8443"));
	json_object_set_new(j, "max", json_integer(TOKEN_USES_MAX));
	assert_int_equal(token_claims_from_json(j, &c), 0);
	assert_int_equal(token_claims_to_json(c, &out), 0);
	assert_true(json_equal(out, j));
	assert_int_equal(token_claims_from_json(out, &c2), 0);
	assert_int_equal(token_claims_to_json(c2, &out2), 0);
	assert_true(json_equal(out2, j));
}

static void
test_claims_to_json_writes_iss_string_as_array(void **state)
{
	_cleanup_(json_decrefp) json_t *j = valid_claims(), *out = NULL;
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;
	json_t *iss;

	json_object_set_new(j, "iss", json_string(ISS));
	assert_int_equal(token_claims_from_json(j, &c), 0);
	assert_int_equal(token_claims_to_json(c, &out), 0);
	iss = json_object_get(out, "iss");
	assert_true(json_is_array(iss));
	assert_int_equal(json_array_size(iss), 1);
	assert_string_equal(json_string_value(json_array_get(iss, 0)), ISS);
}

static void
test_claims_free_accepts_null(void **state)
{
	token_claims_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claims_valid_accepted_with_every_field),
		cmocka_unit_test(test_claims_iss_as_string_accepted),
		cmocka_unit_test(test_claims_four_iss_accepted),
		cmocka_unit_test(test_claims_good_urls_accepted),
		cmocka_unit_test(test_claims_role_gateway_accepted),
		cmocka_unit_test(test_claims_max_bounds_accepted),
		cmocka_unit_test(test_claims_jti_of_token_id_len_accepted),
		cmocka_unit_test(test_claims_site_of_63_chars_accepted),
		cmocka_unit_test(test_claims_iat_equal_to_exp_accepted),
		cmocka_unit_test(test_claims_32_labels_accepted),
		cmocka_unit_test(test_claims_label_forms_accepted),
		cmocka_unit_test(test_claims_missing_required_claim_refused),
		cmocka_unit_test(
			test_claims_without_iat_refused_or_round_trips),
		cmocka_unit_test(test_claims_wrong_type_refused),
		cmocka_unit_test(test_claims_unknown_claim_refused),
		cmocka_unit_test(test_claims_non_object_refused),
		cmocka_unit_test(test_claims_jti_too_short_refused),
		cmocka_unit_test(test_claims_jti_too_long_refused),
		cmocka_unit_test(test_claims_jti_not_base32_refused),
		cmocka_unit_test(test_claims_bad_pin_format_refused),
		cmocka_unit_test(test_claims_site_not_dns_label_refused),
		cmocka_unit_test(test_claims_site_with_nul_refused),
		cmocka_unit_test(
			test_claims_role_other_than_node_or_gateway_refused),
		cmocka_unit_test(test_claims_max_out_of_range_refused),
		cmocka_unit_test(test_claims_exp_not_positive_refused),
		cmocka_unit_test(test_claims_iat_after_exp_refused),
		cmocka_unit_test(test_claims_iat_not_positive_refused),
		cmocka_unit_test(test_claims_iss_not_https_refused),
		cmocka_unit_test(test_claims_iss_with_userinfo_refused),
		cmocka_unit_test(
			test_claims_iss_with_query_or_fragment_refused),
		cmocka_unit_test(test_claims_iss_with_path_refused),
		cmocka_unit_test(test_claims_iss_bad_port_refused),
		cmocka_unit_test(test_claims_iss_bad_host_refused),
		cmocka_unit_test(test_claims_more_than_four_iss_refused),
		cmocka_unit_test(test_claims_empty_iss_array_refused),
		cmocka_unit_test(
			test_claims_iss_array_with_one_bad_url_refused),
		cmocka_unit_test(test_claims_iss_with_nul_refused),
		cmocka_unit_test(test_claims_label_bad_key_refused),
		cmocka_unit_test(test_claims_label_bad_value_refused),
		cmocka_unit_test(test_claims_label_value_with_nul_refused),
		cmocka_unit_test(test_claims_more_than_32_labels_refused),
		cmocka_unit_test(test_claims_geostage_io_label_refused),
		cmocka_unit_test(test_claims_to_json_from_json_round_trip),
		cmocka_unit_test(
			test_claims_to_json_writes_iss_string_as_array),
		cmocka_unit_test(test_claims_free_accepts_null),
	};

	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
