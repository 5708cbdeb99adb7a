/* SPDX-License-Identifier: MIT */
/* The #cloud-config of "token create --output cloud-init".
 *
 * The package sources go in as files, not through cloud-init's apt module:
 * every apt_source of bootstrap.conf is written (write_files, first stage)
 * to exactly the deb822 file and keyring that geostage-enrolld's packages
 * step writes for it later, so that the node never has two entries for one
 * repository (apt refuses those when their Signed-By differ). cloud-init
 * then installs geostage-enrolld (packages, final stage, after an apt-get
 * update) and runcmd starts it without waiting (--no-block): runcmd runs
 * inside cloud-final.service, so waiting there for a unit that is ordered
 * after any of cloud-init's units would wait for itself. */
#include "config.h"

#include "cloud-init.h"
#include "log.h"
#include "macro.h"
#include "output.h"
#include "profile.h"

#define KEY_BEGIN "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#define KEY_END "-----END PGP PUBLIC KEY BLOCK-----"
#define INDENT "      "

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The one component bootstrap.conf's apt_source has; NULL for a flat
 * repository (no components). */
static const char *
component(json_t *source)
{
	return json_string_value(
		json_array_get(json_object_get(source, "components"), 0));
}

/* Printable ASCII without blanks: what a deb822 field value or a file
 * name from bootstrap.conf may hold here. */
static bool
is_word(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

/* An ASCII-armored public key block and nothing a YAML block scalar
 * could misread: printable ASCII lines (CRLF allowed). */
static bool
is_armored_key(const char *k)
{
	const char *p;

	if (!k || !startswith(k, KEY_BEGIN) || !strstr(k, KEY_END))
		return false;
	for (p = k; *p; p++)
		if ((*p < ' ' || *p > '~') && *p != '\n' &&
		    !(*p == '\r' && p[1] == '\n'))
			return false;
	return true;
}

int
cloud_init_sources(const struct server_config *cfg, json_t **ret_sources,
		   const char **ret_bad)
{
	_cleanup_(json_decrefp) json_t *plan = NULL;
	json_t *sources, *s;
	size_t i;
	int r;

	if (cfg->n_apt_sources == 0)
		return -ENOENT;
	r = profile_packages_load(cfg, &plan);
	if (r < 0)
		return r;
	sources = json_object_get(plan, "apt_sources");
	json_array_foreach(sources, i, s)
	{
		const char *suite = str(s, "suite"), *comp = component(s);
		bool flat = suite && *suite && suite[strlen(suite) - 1] == '/';

		if (!is_word(str(s, "name")) || !is_word(str(s, "uri")) ||
		    !is_word(suite) || (flat ? comp != NULL : !is_word(comp)) ||
		    !is_armored_key(str(s, "key"))) {
			*ret_bad = cfg->apt_sources[i].name;
			return -EBADMSG;
		}
	}
	*ret_sources = json_incref(sources);
	return 0;
}

/* The name geostage-enrolld gives a source's files (pkg_source_basename). */
static void
source_basename(const char *name, char *buf, size_t size)
{
	const char *rest = startswith(name, "geostage-");

	snprintf(buf, size, "geostage-%s", rest ? rest : name);
}

static void
print_file_head(FILE *f, const char *path, const char *mode)
{
	fprintf(f,
		"  - path: %s\n"
		"    owner: root:root\n"
		"    permissions: '%s'\n"
		"    content: |\n",
		path, mode);
}

static void
print_block(FILE *f, const char *text)
{
	const char *p;

	fputs(INDENT, f);
	for (p = text; *p; p++) {
		if (*p == '\r')
			continue;
		fputc(*p, f);
		if (*p == '\n' && p[1] && p[1] != '\n' && p[1] != '\r')
			fputs(INDENT, f);
	}
	if (p > text && p[-1] != '\n')
		fputc('\n', f);
}

static void
print_source(FILE *f, json_t *s)
{
	char base[96], keyring[160], list[160];

	source_basename(str(s, "name"), base, sizeof(base));
	snprintf(keyring, sizeof(keyring), "/etc/apt/keyrings/%s.asc", base);
	snprintf(list, sizeof(list), "/etc/apt/sources.list.d/%s.sources",
		 base);
	fprintf(f, "  # apt source %s, key fingerprint %s\n", str(s, "name"),
		str(s, "fingerprint"));
	print_file_head(f, keyring, "0644");
	print_block(f, str(s, "key"));
	print_file_head(f, list, "0644");
	fputs(INDENT "# From cloud-init; geostage-enrolld rewrites it.\n", f);
	fputs(INDENT "Types: deb\n", f);
	fprintf(f, INDENT "URIs: %s\n", str(s, "uri"));
	fprintf(f, INDENT "Suites: %s\n", str(s, "suite"));
	if (component(s)) /* none for a flat repository */
		fprintf(f, INDENT "Components: %s\n", component(s));
	fprintf(f, INDENT "Signed-By: %s\n", keyring);
}

int
cloud_init_print(FILE *f, json_t *sources, const struct token_claims *c,
		 const char *token)
{
	char exp[32];
	json_t *s;
	size_t i;

	format_time(c->exp, exp, sizeof(exp));
	fprintf(f,
		"#cloud-config\n"
		"# geostage: this machine enrolls into site %s as a %s.\n"
		"# Made by 'geostage-bootstrap token create --output "
		"cloud-init'.\n"
		"# It holds enrollment token %s (%u use(s), expires %s):\n"
		"# a secret until then, for whoever can read this user-data.\n"
		"write_files:\n",
		c->site, c->role, c->jti, c->max, exp);
	json_array_foreach(sources, i, s) print_source(f, s);
	fputs("  # the enrollment token, read by geostage-enrolld\n", f);
	print_file_head(f, "/etc/geostage/token", "0600");
	fprintf(f, INDENT "%s\n", token);
	fputs("packages:\n"
	      "  - geostage-enrolld\n"
	      "runcmd:\n"
	      "  - [systemctl, start, --no-block, geostage-enrolld.service]\n",
	      f);
	return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
