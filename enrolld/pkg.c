/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <ftw.h>
#include <limits.h>
#include <stdint.h>

#include "fileio.h"
#include "macro.h"
#include "pkg.h"
#include "spawn.h"

void
pkg_source_basename(const char *name, char ret[PKG_BASENAME_MAX])
{
	const char *rest = startswith(name, "geostage-");

	snprintf(ret, PKG_BASENAME_MAX, "geostage-%s", rest ? rest : name);
}

int
pkg_render_source(const struct plan_source *s, const char *keyring, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f,
		"# Written by geostage-enrolld from the bootstrap server's "
		"package plan.\n"
		"Types: deb\nURIs: %s\nSuites: %s\n",
		s->uri, s->suite);
	if (s->n_components > 0) {
		fputs("Components:", f);
		for (i = 0; i < s->n_components; i++)
			fprintf(f, " %s", s->components[i]);
		fputc('\n', f);
	}
	fprintf(f, "Signed-By: %s\n", keyring);
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}

int
pkg_render_containerd(const char *pause_image, char **ret)
{
	static const char fmt[] =
		"# Written by geostage-enrolld: what kubeadm needs of the CRI. "
		"containerd's\n"
		"# defaults apply to everything else (see `containerd config "
		"dump`).\n"
		"version = 2\n"
		"\n"
		"[plugins.\"io.containerd.grpc.v1.cri\"]\n"
		"  sandbox_image = \"%s\"\n"
		"\n"
		"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes."
		"runc]\n"
		"  runtime_type = \"io.containerd.runc.v2\"\n"
		"\n"
		"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes."
		"runc.options]\n"
		"  SystemdCgroup = true\n";

	if (!plan_image_valid(pause_image))
		return -EINVAL;
	return asprintf(ret, fmt, pause_image) < 0 ? -ENOMEM : 0;
}

/* Field i (0-based) of a colon-separated record, into buf. */
static void
colon_field(const char *line, size_t i, char *buf, size_t size)
{
	const char *end;
	size_t n;

	buf[0] = '\0';
	while (i-- > 0) {
		line = strpbrk(line, ":\n");
		if (!line || *line == '\n')
			return;
		line++;
	}
	end = strpbrk(line, ":\n");
	n = end ? (size_t)(end - line) : strlen(line);
	if (n >= size)
		return;
	memcpy(buf, line, n);
	buf[n] = '\0';
}

int
pkg_gpg_primary_fingerprints(const char *colons, char fprs[][PLAN_FPR_MAX + 1],
			     size_t max)
{
	const char *line = colons;
	bool want = false;
	int n = 0;

	while (line && *line) {
		char fpr[PLAN_FPR_MAX + 2];

		if (startswith(line, "pub:")) {
			want = true;
			n++;
		} else if (startswith(line, "fpr:") && want) {
			want = false;
			colon_field(line, 9, fpr, sizeof(fpr));
			if ((size_t)n <= max &&
			    plan_fingerprint_normalize(fpr, fprs[n - 1]) < 0)
				fprs[n - 1][0] = '\0';
		} else if (startswith(line, "sub:")) {
			want = false;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return n;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int
gpg_show(const char *gpg, const char *dir, const char *key, unsigned timeout_s,
	 struct spawn_result *res)
{
	char file[PATH_MAX];
	const char *argv[] = {gpg,
			      "--homedir",
			      dir,
			      "--batch",
			      "--no-tty",
			      "--no-options",
			      "--no-autostart",
			      "--with-colons",
			      "--with-fingerprint",
			      "--show-keys",
			      file,
			      NULL};
	struct spawn_opts o = {.argv = argv, .timeout_ms = timeout_s * 1000};
	int r;

	if (snprintf(file, sizeof(file), "%s/key.asc", dir) >=
	    (int)sizeof(file))
		return -ENAMETOOLONG;
	r = write_file_atomic(file, key, strlen(key), 0600);
	if (r < 0)
		return r;
	return spawn_run(&o, res);
}

int
pkg_key_fingerprint(const char *gpg, const char *tmp_parent, const char *key,
		    unsigned timeout_s, char ret[PLAN_FPR_MAX + 1], char *err,
		    size_t errsz)
{
	_cleanup_(spawn_result_done) struct spawn_result res = {0};
	char dir[PATH_MAX], fprs[2][PLAN_FPR_MAX + 1], how[96], line[200];
	int n, r;

	if (snprintf(dir, sizeof(dir), "%s/gpg.XXXXXX", tmp_parent) >=
		    (int)sizeof(dir) ||
	    !mkdtemp(dir)) {
		snprintf(err, errsz, "cannot make a temporary directory in %s",
			 tmp_parent);
		return -EIO;
	}
	r = gpg_show(gpg, dir, key, timeout_s, &res);
	(void)nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	if (r < 0) {
		snprintf(err, errsz, "cannot run %s: %s", gpg, strerror(-r));
		return r;
	}
	if (!spawn_succeeded(&res)) {
		spawn_describe(&res, timeout_s * 1000, how, sizeof(how));
		spawn_last_line(res.err, line, sizeof(line));
		snprintf(err, errsz, "%s %s: %s", gpg, how, line);
		return -EIO;
	}
	n = pkg_gpg_primary_fingerprints(res.out, fprs, ELEMENTSOF(fprs));
	if (n != 1 || !fprs[0][0]) {
		snprintf(err, errsz,
			 "the key block holds %d primary keys, not one", n);
		return -EBADMSG;
	}
	memcpy(ret, fprs[0], PLAN_FPR_MAX + 1);
	return 0;
}

static int
order(int c)
{
	if (c >= '0' && c <= '9')
		return 0;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return c;
	if (c == '~')
		return -1;
	return c ? c + 256 : 0;
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* dpkg's verrevcmp(), over [a, a_end) and [b, b_end). */
static int
verrevcmp(const char *a, const char *b)
{
	while (*a || *b) {
		int first_diff = 0;

		while ((*a && !is_digit(*a)) || (*b && !is_digit(*b))) {
			int ac = order(*a), bc = order(*b);
			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (is_digit(*a) && is_digit(*b)) {
			if (!first_diff)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (is_digit(*a))
			return 1;
		if (is_digit(*b))
			return -1;
		if (first_diff)
			return first_diff;
	}
	return 0;
}

struct version {
	unsigned long epoch;
	char upstream[PKG_VERSION_MAX + 1];
	char revision[PKG_VERSION_MAX + 1];
};

static void
version_split(const char *s, struct version *v)
{
	const char *colon = strchr(s, ':'), *dash;

	v->epoch = colon ? strtoul(s, NULL, 10) : 0;
	if (colon)
		s = colon + 1;
	snprintf(v->upstream, sizeof(v->upstream), "%s", s);
	dash = strrchr(v->upstream, '-');
	if (dash) {
		snprintf(v->revision, sizeof(v->revision), "%s", dash + 1);
		v->upstream[dash - v->upstream] = '\0';
	} else {
		v->revision[0] = '\0';
	}
}

int
pkg_version_compare(const char *a, const char *b)
{
	struct version va, vb;
	int r;

	version_split(a, &va);
	version_split(b, &vb);
	if (va.epoch != vb.epoch)
		return va.epoch < vb.epoch ? -1 : 1;
	r = verrevcmp(va.upstream, vb.upstream);
	if (r)
		return r;
	return verrevcmp(va.revision, vb.revision);
}

bool
pkg_version_matches(const char *installed, const char *version)
{
	const char *rest = startswith(installed, version);

	/* "1.31.2-1.1" for "1.31.2", never "1.31.20-1.1". */
	return rest && rest[0] == '-' && rest[1] && !strchr(rest + 1, '-');
}

/* Trims blanks around [s, s + n) into buf; false when it does not fit. */
static bool
trim_copy(const char *s, size_t n, char *buf, size_t size)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n >= size)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return true;
}

int
pkg_madison_pick(const char *madison, const char *package, const char *version,
		 char ret[PKG_VERSION_MAX + 1])
{
	const char *line = madison;
	char best[PKG_VERSION_MAX + 1] = "";

	while (line && *line) {
		const char *end = strchr(line, '\n'), *bar1, *bar2;
		char name[128], ver[PKG_VERSION_MAX + 1];

		if (!end)
			end = line + strlen(line);
		bar1 = memchr(line, '|', (size_t)(end - line));
		bar2 = bar1 ? memchr(bar1 + 1, '|', (size_t)(end - bar1 - 1))
			    : NULL;
		if (bar2 &&
		    trim_copy(line, (size_t)(bar1 - line), name,
			      sizeof(name)) &&
		    trim_copy(bar1 + 1, (size_t)(bar2 - bar1 - 1), ver,
			      sizeof(ver)) &&
		    streq(name, package) && pkg_version_matches(ver, version) &&
		    (!best[0] || pkg_version_compare(ver, best) > 0))
			memcpy(best, ver, sizeof(best));
		line = *end ? end + 1 : NULL;
	}
	if (!best[0])
		return -ENOENT;
	memcpy(ret, best, PKG_VERSION_MAX + 1);
	return 0;
}

int
pkg_installed_version(const char *query, const char *package,
		      char ret[PKG_VERSION_MAX + 1])
{
	const char *line = query;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		const char *t1 = strchr(line, '\t'), *t2;
		size_t n = end ? (size_t)(end - line) : strlen(line);

		t2 = t1 && (size_t)(t1 - line) < n ? strchr(t1 + 1, '\t')
						   : NULL;
		if (t2 && (size_t)(t2 - line) < n &&
		    (size_t)(t1 - line) == strlen(package) &&
		    strncmp(line, package, strlen(package)) == 0 &&
		    (size_t)(t2 - t1 - 1) <= PKG_VERSION_MAX &&
		    (size_t)(t2 + 2 - line) < n && t2[2] == 'i') {
			memcpy(ret, t1 + 1, (size_t)(t2 - t1 - 1));
			ret[t2 - t1 - 1] = '\0';
			return 0;
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

bool
pkg_held(const char *showhold, const char *package)
{
	const char *line = showhold;
	size_t n = strlen(package);

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t k = end ? (size_t)(end - line) : strlen(line);

		if (k == n && strncmp(line, package, n) == 0)
			return true;
		line = end ? end + 1 : NULL;
	}
	return false;
}
