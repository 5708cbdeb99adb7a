/* SPDX-License-Identifier: MIT */
/* The packages step's pure parts: what it writes (deb822 sources, the
 * containerd config) and how it reads what apt, dpkg and gpg print. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"

#define PKG_VERSION_MAX 127
#define PKG_BASENAME_MAX 80
#define PKG_SOURCES_DIR "/etc/apt/sources.list.d"
#define PKG_KEYRINGS_DIR "/etc/apt/keyrings"
#define PKG_CONTAINERD_CONFIG "/etc/containerd/config.toml"
#define PKG_K8S_URI_FMT "https://pkgs.k8s.io/core:/stable:/v%u.%u/deb/"

/* "geostage-" + the source's name without a leading "geostage-": the
 * base of /etc/apt/sources.list.d/BASE.sources and
 * /etc/apt/keyrings/BASE.asc. */
void pkg_source_basename(const char *name, char ret[PKG_BASENAME_MAX]);
/* The deb822 text of s, signed by keyring (an absolute path). */
int pkg_render_source(const struct plan_source *s, const char *keyring,
		      char **ret);
/* containerd's config: a minimal version 2 file with the CRI sandbox
 * image and the systemd cgroup driver; containerd's defaults apply to
 * everything it does not name. */
int pkg_render_containerd(const char *pause_image, char **ret);

/* From `gpg --with-colons --show-keys`: the fingerprint of each primary
 * key (uppercase). Returns how many primary keys there are (those beyond
 * max are counted, not copied). */
int pkg_gpg_primary_fingerprints(const char *colons,
				 char fprs[][PLAN_FPR_MAX + 1], size_t max);

/* The fingerprint of the one primary key in the armored key, as gpg
 * (absolute path) sees it: the key goes to a private temp dir made under
 * tmp_parent, which also is gpg's home, and all of it is removed after.
 * -EBADMSG when the block holds no or several primary keys, -EIO when gpg
 * failed; err says why. */
int pkg_key_fingerprint(const char *gpg, const char *tmp_parent,
			const char *key, unsigned timeout_s,
			char ret[PLAN_FPR_MAX + 1], char *err, size_t errsz);

/* dpkg's order of versions: < 0, 0, > 0 as a is older, equal, newer. */
int pkg_version_compare(const char *a, const char *b);
/* The newest version of package in `apt-cache madison` output that is
 * upstream version followed by "-<revision>"; -ENOENT when none is. */
int pkg_madison_pick(const char *madison, const char *package,
		     const char *version, char ret[PKG_VERSION_MAX + 1]);
/* From `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`:
 * the installed version of package; -ENOENT when it is not installed. */
int pkg_installed_version(const char *query, const char *package,
			  char ret[PKG_VERSION_MAX + 1]);
/* Does `apt-mark showhold` output list package? */
bool pkg_held(const char *showhold, const char *package);
/* Is installed the Debian version for upstream version ("1.31.2-1.1" for
 * "1.31.2")? */
bool pkg_version_matches(const char *installed, const char *version);
