/* SPDX-License-Identifier: MIT */
/* geostage-bootstrap token create|list|show|revoke */
#include "config.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "cloud-init.h"
#include "commands.h"
#include "crypto.h"
#include "db.h"
#include "jws.h"
#include "log.h"
#include "name.h"
#include "ossl.h"
#include "output.h"
#include "server.h"

struct create_args {
	const char *dir;
	const char *site;
	const char *role;
	const char *output;
	unsigned uses;
	int64_t ttl;
	json_t *labels;
};

static int
create_help(void)
{
	printf("Usage: geostage-bootstrap token create [OPTIONS]\n\n"
	       "Create a signed enrollment token and print it on stdout.\n\n"
	       "  --site S           the site nodes join (default: the only "
	       "site)\n"
	       "  --role node|gateway  (default node)\n"
	       "  --uses N           enrollments allowed (default 1, at most "
	       "%d)\n"
	       "  --ttl DURATION     lifetime: 90s, 30m, 24h, 7d (default 24h)\n"
	       "  --label K=V        Kubernetes node label; repeatable\n"
	       "  --output token|json|cloud-init  what to print (default "
	       "token);\n"
	       "                     cloud-init: a #cloud-config for a new "
	       "VM, which needs\n"
	       "                     an apt_source in bootstrap.conf\n",
	       TOKEN_USES_MAX);
	return EXIT_OK;
}

static int
add_label(json_t *labels, const char *kv)
{
	_cleanup_free_ char *k = strdup(kv);
	char *eq = k ? strchr(k, '=') : NULL;

	if (!eq)
		return -EINVAL;
	*eq = '\0';
	if (!token_label_is_allowed(k, eq + 1) ||
	    json_object_size(labels) >= TOKEN_LABELS_MAX)
		return -EINVAL;
	return json_object_set_new(labels, k, json_string(eq + 1));
}

static int
parse_create(int argc, char **argv, struct create_args *a)
{
	static const struct option opts[] = {
		COMMON_LONG_OPTIONS,
		{"site", required_argument, NULL, 's'},
		{"role", required_argument, NULL, 'r'},
		{"uses", required_argument, NULL, 'u'},
		{"ttl", required_argument, NULL, 't'},
		{"label", required_argument, NULL, 'l'},
		{"output", required_argument, NULL, 'o'},
		{},
	};
	char *end;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (o) {
		case 'h':
			create_help();
			return -1;
		case 'D':
			a->dir = optarg;
			break;
		case 's':
			a->site = optarg;
			break;
		case 'r':
			if (!token_role_is_valid(optarg))
				return log_error("--role must be node or "
						 "gateway"),
				       EXIT_USAGE;
			a->role = optarg;
			break;
		case 'u':
			errno = 0;
			a->uses = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || a->uses < 1 ||
			    a->uses > TOKEN_USES_MAX)
				return log_error("--uses must be 1 to %d",
						 TOKEN_USES_MAX),
				       EXIT_USAGE;
			break;
		case 't':
			if (parse_duration(optarg, &a->ttl) < 0 ||
			    a->ttl < 60 || a->ttl > TOKEN_TTL_MAX)
				return log_error("--ttl must be a duration "
						 "from 60s to 366d, such as "
						 "24h"),
				       EXIT_USAGE;
			break;
		case 'l':
			if (add_label(a->labels, optarg) < 0)
				return log_error("invalid --label '%s': want "
						 "a Kubernetes KEY=VALUE, not "
						 "under geostage.io/",
						 optarg),
				       EXIT_USAGE;
			break;
		case 'o':
			if (!streq(optarg, "token") && !streq(optarg, "json") &&
			    !streq(optarg, "cloud-init"))
				return log_error("--output must be token, json "
						 "or cloud-init"),
				       EXIT_USAGE;
			a->output = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return log_error("unexpected argument '%s'", argv[optind]),
		       EXIT_USAGE;
	return EXIT_OK;
}

/* --site, or the only site there is. */
static int
pick_site(struct server *s, const char *flag, char ret[64])
{
	_cleanup_(json_decrefp) json_t *sites = NULL;
	int r;

	if (flag) {
		r = db_site_exists(s->db, flag);
		if (r < 0)
			return r;
		if (r == 0)
			return log_error("no site '%s' (see 'site list')",
					 flag),
			       -ENOENT;
		snprintf(ret, 64, "%s", flag);
		return 0;
	}
	r = db_sites_json(s->db, &sites);
	if (r < 0)
		return r;
	if (json_array_size(sites) != 1)
		return log_error("%s: name one with --site",
				 json_array_size(sites)
					 ? "there are several sites"
					 : "there is no site yet: add one "
					   "with 'site add NAME --prefix CIDR'"),
		       -ENOENT;
	snprintf(ret, 64, "%s",
		 json_string_value(
			 json_object_get(json_array_get(sites, 0), "name")));
	return 0;
}

static int
sign_token(struct server *s, struct create_args *a, const char *site,
	   struct token_claims *c, char **ret)
{
	_cleanup_(json_decrefp) json_t *claims = NULL;
	_cleanup_free_ char *payload = NULL;
	char jti[TOKEN_ID_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int r;

	r = crypto_random_base32(jti, TOKEN_ID_LEN);
	if (r < 0)
		return r;
	c->jti = strdup(jti);
	for (i = 0; i < s->cfg.n_urls; i++)
		c->iss[c->n_iss++] = strdup(s->cfg.urls[i]);
	c->pin = strdup(s->pin);
	c->site = strdup(site);
	c->role = strdup(a->role);
	c->iat = now;
	c->exp = now + a->ttl;
	c->max = a->uses;
	c->labels = json_incref(a->labels);
	if (!c->jti || !c->pin || !c->site || !c->role)
		return -ENOMEM;
	if ((r = token_claims_to_json(c, &claims)) < 0)
		return r;
	payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (!payload)
		return -ENOMEM;
	r = jws_sign(s->token_key, payload, ret);
	if (r < 0)
		return r;
	r = db_token_insert(s->db, c, now);
	if (r < 0)
		return r;
	return db_event(s->db, "token-created", c->jti, NULL, NULL);
}

static int
print_token(const struct create_args *a, const struct token_claims *c,
	    const char *token, json_t *sources)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	char exp[32];
	int r;

	if (streq(a->output, "json")) {
		j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:O}", "token",
			      token, "id", c->jti, "site", c->site, "role",
			      c->role, "uses", (json_int_t)c->max, "expires",
			      (json_int_t)c->exp, "labels", c->labels);
		return j ? json_print(j) : -ENOMEM;
	}
	if (streq(a->output, "cloud-init")) {
		r = cloud_init_print(stdout, sources, c, token);
		if (r < 0)
			return r;
	} else {
		printf("%s\n", token);
	}
	if (isatty(STDERR_FILENO)) {
		format_time(c->exp, exp, sizeof(exp));
		fprintf(stderr,
			"token %s: site %s, role %s, %u use(s), expires %s\n",
			c->jti, c->site, c->role, c->max, exp);
	}
	return 0;
}

/* For --output cloud-init: the package sources, checked before the token
 * is made, so that a refusal spends nothing. */
static int
cloud_init_check(const struct server *s, json_t **ret_sources)
{
	const char *bad = NULL;
	int r;

	r = cloud_init_sources(&s->cfg, ret_sources, &bad);
	if (r == -ENOENT)
		return log_error("--output cloud-init: bootstrap.conf names no "
				 "apt_source, so the new machine could not "
				 "install geostage-enrolld; add one for a "
				 "repository that has the geostage packages "
				 "(apt_source = NAME URI SUITE COMPONENT "
				 "KEYFILE FINGERPRINT)"),
		       r;
	if (r == -EBADMSG)
		return log_error("--output cloud-init: the key file of "
				 "apt_source %s is not an ASCII-armored "
				 "OpenPGP public key block",
				 bad),
		       r;
	return r; /* a key file that cannot be read is logged already */
}

static int
token_create(int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *labels = json_object(), *sources = NULL;
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;
	_cleanup_erase_ char *token = NULL;
	struct create_args a = {.role = "node",
				.output = "token",
				.uses = 1,
				.ttl = 86400,
				.labels = labels};
	char site[64];
	int r;

	r = parse_create(argc, argv, &a);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	r = server_open(state_dir_or_default(a.dir),
			SERVER_LOAD_TOKEN_KEY | SERVER_LOAD_PIN, &s);
	if (r < 0)
		return exit_code_for(r);
	if (streq(a.output, "cloud-init") && cloud_init_check(s, &sources) < 0)
		return EXIT_FAIL;
	r = pick_site(s, a.site, site);
	if (r < 0)
		return EXIT_FAIL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return EXIT_FAIL;
	r = sign_token(s, &a, site, c, &token);
	if (r < 0)
		return log_error_errno(r, "cannot create token: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	return print_token(&a, c, token, sources) < 0 ? EXIT_FAIL : EXIT_OK;
}

static int
parse_list_opts(int argc, char **argv, const char *usage, const char **dir,
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

static void
token_row(struct table *t, json_t *e)
{
	char uses[32], exp[32];
	_cleanup_free_ char *labels = NULL;
	const char *row[7];

	snprintf(uses, sizeof(uses), "%lld/%lld",
		 json_integer_value(json_object_get(e, "uses")),
		 json_integer_value(json_object_get(e, "max_uses")));
	format_time(json_integer_value(json_object_get(e, "expires")), exp,
		    sizeof(exp));
	labels = json_dumps(json_object_get(e, "labels"), JSON_COMPACT);
	row[0] = json_string_value(json_object_get(e, "id"));
	row[1] = json_string_value(json_object_get(e, "site"));
	row[2] = json_string_value(json_object_get(e, "role"));
	row[3] = uses;
	row[4] = exp;
	row[5] = json_string_value(json_object_get(e, "state"));
	row[6] = labels;
	table_add_row(t, row);
}

static int
print_tokens(json_t *tokens, bool json)
{
	static const char *const cols[] = {"ID",      "SITE",  "ROLE", "USES",
					   "EXPIRES", "STATE", "LABELS"};
	struct table *t;
	json_t *e;
	size_t i;

	if (json)
		return json_print(tokens) < 0 ? EXIT_FAIL : EXIT_OK;
	t = table_new(cols, ELEMENTSOF(cols));
	if (!t)
		return EXIT_FAIL;
	if (json_is_array(tokens)) {
		json_array_foreach(tokens, i, e) token_row(t, e);
	} else {
		token_row(t, tokens);
	}
	table_print(t, stdout);
	table_free(t);
	return EXIT_OK;
}

static int
token_list(int argc, char **argv)
{
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_(json_decrefp) json_t *tokens = NULL;
	const char *dir = NULL;
	bool json = false;
	int r;

	r = parse_list_opts(argc, argv,
			    "geostage-bootstrap token list [--json]", &dir,
			    &json);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = db_tokens_json(s->db, NULL, (int64_t)time(NULL), &tokens);
	if (r < 0)
		return log_error_errno(r, "cannot list tokens: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	return print_tokens(tokens, json);
}

static int
token_show(int argc, char **argv)
{
	_cleanup_(server_freep) struct server *s = NULL;
	_cleanup_(json_decrefp) json_t *tok = NULL;
	const char *dir = NULL;
	bool json = false;
	int r;

	r = parse_list_opts(argc, argv,
			    "geostage-bootstrap token show ID [--json]", &dir,
			    &json);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	if (optind + 1 != argc)
		return log_error("usage: token show ID"), EXIT_USAGE;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = db_tokens_json(s->db, argv[optind], (int64_t)time(NULL), &tok);
	if (r == -ENOENT)
		return log_error("no token '%s'", argv[optind]), EXIT_FAIL;
	if (r < 0)
		return log_error_errno(r, "cannot read token: %s",
				       strerror(-r)),
		       EXIT_FAIL;
	return print_tokens(tok, json);
}

static int
token_revoke(int argc, char **argv)
{
	_cleanup_(server_freep) struct server *s = NULL;
	const char *dir = NULL;
	bool json = false;
	int r;

	r = parse_list_opts(argc, argv, "geostage-bootstrap token revoke ID",
			    &dir, &json);
	if (r != EXIT_OK)
		return r < 0 ? EXIT_OK : r;
	if (optind + 1 != argc || !token_id_is_valid(argv[optind]))
		return log_error("usage: token revoke ID (a token id as "
				 "'token list' shows)"),
		       EXIT_USAGE;
	r = server_open(state_dir_or_default(dir), 0, &s);
	if (r < 0)
		return exit_code_for(r);
	r = db_token_revoke(s->db, argv[optind], (int64_t)time(NULL));
	if (r == -ENOENT)
		return log_error("no token '%s'", argv[optind]), EXIT_FAIL;
	if (r == -EALREADY) {
		printf("token %s was already revoked\n", argv[optind]);
		return EXIT_OK;
	}
	if (r < 0)
		return log_error_errno(r, "cannot revoke: %s", strerror(-r)),
		       EXIT_FAIL;
	(void)db_event(s->db, "token-revoked", argv[optind], NULL, NULL);
	printf("revoked token %s\n", argv[optind]);
	return EXIT_OK;
}

int
cmd_token(int argc, char **argv)
{
	static const struct command sub[] = {
		{"create", token_create, "create a signed enrollment token"},
		{"list", token_list, "list tokens"},
		{"show", token_show, "show one token"},
		{"revoke", token_revoke, "stop a token's future enrollments"},
	};

	return command_dispatch("geostage-bootstrap token", sub,
				ELEMENTSOF(sub), argc - 1, argv + 1);
}
