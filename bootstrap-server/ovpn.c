/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>

#include "ca.h"
#include "fileio.h"
#include "log.h"
#include "name.h"
#include "ovpn.h"

static void
format_route(const struct ipnet *net, char buf[40])
{
	char a[16], m[16];

	ipnet_format_addr(net->addr, a);
	ipnet_format_addr(ipnet_netmask(net), m);
	snprintf(buf, 40, "%s %s", a, m);
}

int
ovpn_ccd_render(const struct ovpn_plan *p, const struct db_node *n,
		char **ret)
{
	struct ipnet routes[OVPN_ROUTES_MAX];
	const struct ovpn_site *site = ovpn_plan_site(p, n->site);
	char addr[16], mask[16], route[40];
	size_t n_routes, i;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	r = ovpn_node_routes(p, n, routes, ELEMENTSOF(routes), &n_routes);
	if (r < 0)
		return r;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	ipnet_format_addr(n->vpn_addr, addr);
	ipnet_format_addr(ipnet_netmask(&p->cfg->vpn_network), mask);
	fprintf(f,
		"# geostage node %s (site %s, %s) - written by "
		"geostage-bootstrap, do not edit\n"
		"ifconfig-push %s %s\n",
		n->name, n->site, n->role, addr, mask);
	/* A gateway carries its site's LAN: OpenVPN routes it to this
	 * client. */
	if (site && streq(n->role, "gateway")) {
		format_route(&site->prefix, route);
		fprintf(f, "iroute %s\n", route);
	}
	for (i = 0; i < n_routes; i++) {
		format_route(&routes[i], route);
		fprintf(f, "push \"route %s\"\n", route);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int
ovpn_ccd_write(int ccd_fd, const struct ovpn_plan *p, const struct db_node *n)
{
	_cleanup_free_ char *text = NULL;
	int r;

	/* The name became a file name: it must be a label, checked again
	 * here where it meets the filesystem. */
	if (!name_is_dns_label(n->name))
		return -EINVAL;
	r = ovpn_ccd_render(p, n, &text);
	if (r < 0)
		return r;
	return write_file_atomic_at(ccd_fd, n->name, text, strlen(text), 0644);
}

int
ovpn_ccd_remove(int ccd_fd, const char *name)
{
	if (!name_is_dns_label(name))
		return -EINVAL;
	return unlink_file_at(ccd_fd, name);
}

int
ovpn_revoke_serial(int revoked_fd, const char *serial_hex)
{
	_cleanup_free_ char *dec = NULL;
	int r;

	r = ca_serial_to_decimal(serial_hex, &dec);
	if (r < 0)
		return r;
	return write_file_atomic_at(revoked_fd, dec, "", 0, 0644);
}

struct reconcile {
	int ccd_fd;
	int revoked_fd;
	const struct ovpn_plan *plan;
	char **keep; /* names of non-revoked nodes */
	size_t n_keep;
	size_t allocated;
	int changed;
};

static int
reconcile_node(const struct db_node *n, void *userdata)
{
	struct reconcile *rc = userdata;
	_cleanup_free_ char *want = NULL, *have = NULL;
	int r;

	if (n->revoked) {
		_cleanup_free_ char *dec = NULL;
		r = ca_serial_to_decimal(n->serial, &dec);
		if (r < 0)
			return r;
		if (faccessat(rc->revoked_fd, dec, F_OK, AT_SYMLINK_NOFOLLOW) <
		    0) {
			r = ovpn_revoke_serial(rc->revoked_fd, n->serial);
			if (r < 0)
				return r;
			rc->changed++;
		}
		return 0;
	}
	if (rc->n_keep == rc->allocated) {
		size_t a = rc->allocated ? rc->allocated * 2 : 64;
		char **k = realloc(rc->keep, a * sizeof(char *));
		if (!k)
			return -ENOMEM;
		rc->keep = k;
		rc->allocated = a;
	}
	rc->keep[rc->n_keep] = strdup(n->name);
	if (!rc->keep[rc->n_keep])
		return -ENOMEM;
	rc->n_keep++;
	r = ovpn_ccd_render(rc->plan, n, &want);
	if (r < 0)
		return r;
	r = read_file_at(rc->ccd_fd, n->name, 64 * 1024, &have, NULL);
	if (r >= 0 && streq(have, want))
		return 0;
	r = write_file_atomic_at(rc->ccd_fd, n->name, want, strlen(want),
				 0644);
	if (r < 0)
		return r;
	rc->changed++;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes every entry of ccd/ that is not a kept node's file. */
static int
remove_strays(struct reconcile *rc)
{
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *de;
	int r = 0;

	fd = openat(rc->ccd_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	d = fdopendir(TAKE_FD(fd));
	if (!d)
		return negative_errno();
	if (rc->n_keep > 0)
		qsort(rc->keep, rc->n_keep, sizeof(char *), cmp_str);
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (streq(name, ".") || streq(name, ".."))
			continue;
		if (rc->n_keep > 0 && bsearch(&name, rc->keep, rc->n_keep,
					      sizeof(char *), cmp_str))
			continue;
		if (unlinkat(rc->ccd_fd, name, 0) < 0) {
			r = negative_errno();
			break;
		}
		log_info("removed stray OpenVPN client file ccd/%s", name);
		rc->changed++;
	}
	closedir(d);
	if (r < 0)
		return r;
	return fsync_dir_at(rc->ccd_fd);
}

int
ovpn_reconcile(sqlite3 *db, const struct server_config *cfg, int ccd_fd,
	       int revoked_fd)
{
	struct ovpn_plan plan;
	struct reconcile rc = {.ccd_fd = ccd_fd,
			       .revoked_fd = revoked_fd,
			       .plan = &plan};
	size_t i;
	int r;

	r = ovpn_plan_load(db, cfg, &plan);
	if (r < 0)
		return r;
	r = db_nodes_foreach(db, reconcile_node, &rc);
	if (r >= 0)
		r = remove_strays(&rc);
	for (i = 0; i < rc.n_keep; i++)
		free(rc.keep[i]);
	free(rc.keep);
	ovpn_plan_done(&plan);
	return r < 0 ? r : rc.changed;
}
