/* SPDX-License-Identifier: MIT */
/* STAND-IN (geostage tests): version and root-prefix helpers. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

int
standin_version_parse(const char *s, struct standin_version *ret)
{
	struct standin_version v = {0};
	int n = 0;

	if (!s)
		return -EINVAL;
	if (*s == 'v')
		s++;
	if (sscanf(s, "%3u.%3u.%3u%n", &v.major, &v.minor, &v.patch, &n) != 3 ||
	    (s[n] != '\0' && s[n] != '-' && s[n] != '\n'))
		return -EINVAL;
	if (v.major != 1)
		return -EINVAL;
	snprintf(v.text, sizeof(v.text), "v%u.%u.%u", v.major, v.minor,
		 v.patch);
	*ret = v;
	return 0;
}

const char *
standin_root(void)
{
	const char *r = getenv("KUBEADM_STANDIN_ROOT");

	return r ? r : "";
}

int
standin_path(char *buf, size_t size, const char *path)
{
	int n = snprintf(buf, size, "%s%s", standin_root(), path);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int
standin_version_get(const char *prog, struct standin_version *ret)
{
	char path[4096], rel[256], line[64] = "";
	FILE *f;
	int r;

	snprintf(rel, sizeof(rel), "/usr/share/geostage-standin/%s/version",
		 prog);
	r = standin_path(path, sizeof(path), rel);
	if (r < 0)
		return r;
	f = fopen(path, "re");
	if (!f)
		return standin_version_parse(STANDIN_VERSION, ret);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return standin_version_parse(line, ret);
}
