/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdint.h>

#include "macro.h"
#include "netif.h"
#include "vpn.h"

static bool
pem_ok(const char *s)
{
	return s && strncmp(s, "-----BEGIN ", 11) == 0 && !strpbrk(s, "<>");
}

static const char *
nl(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '\n' ? "" : "\n";
}

/* Into buf (NULL: only measure). The same function runs twice, so that
 * the key goes once into an exact-size buffer: no copy of it is left in
 * memory that realloc() let go. */
static int
render(const struct vpn_profile *p, char *buf, size_t size, size_t *ret_len)
{
	const struct plan_vpn *v = p->vpn;
	char host[NETIF_HOST_MAX + 1];
	size_t len = 0, i;
	unsigned port;
	int n;

#define OUT(...)                                                               \
	do {                                                                   \
		n = snprintf(buf ? buf + len : NULL, buf ? size - len : 0,     \
			     __VA_ARGS__);                                     \
		if (n < 0 || (buf && (size_t)n >= size - len))                 \
			return -EIO;                                           \
		len += (size_t)n;                                              \
	} while (0)
	OUT("# Written by geostage-enrolld for node %s of site %s: the tunnel "
	    "to the\n# master site. It holds this node's private key: mode "
	    "0600, root only.\n",
	    p->node, p->site);
	OUT("client\ndev tun\nproto %s\n",
	    streq(v->proto, "tcp") ? "tcp-client" : "udp");
	for (i = 0; i < v->n_remotes; i++) {
		if (netif_split_host_port(v->remotes[i], host, &port) < 0)
			return -EINVAL;
		OUT("remote %s %u\n", host, port);
	}
	OUT("resolv-retry infinite\nnobind\npersist-key\npersist-tun\n"
	    "# Only a certificate for TLS servers is accepted from the other "
	    "end: every\n# node's certificate comes from the same CA.\n"
	    "remote-cert-tls server\nverb 3\n");
	OUT("<ca>\n%s%s</ca>\n", p->ca, nl(p->ca));
	OUT("<cert>\n%s%s</cert>\n", p->cert, nl(p->cert));
	OUT("<key>\n%s%s</key>\n", p->key, nl(p->key));
	OUT("<tls-crypt>\n%s%s</tls-crypt>\n", v->tls_crypt, nl(v->tls_crypt));
#undef OUT
	*ret_len = len;
	return 0;
}

int
vpn_render_profile(const struct vpn_profile *p, char **ret)
{
	size_t len;
	char *buf;
	int r;

	if (!pem_ok(p->ca) || !pem_ok(p->cert) || !pem_ok(p->key) ||
	    !pem_ok(p->vpn->tls_crypt) || !p->vpn->proto ||
	    p->vpn->n_remotes == 0)
		return -EINVAL;
	r = render(p, NULL, 0, &len);
	if (r < 0)
		return r;
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	r = render(p, buf, len + 1, &len);
	if (r < 0) {
		explicit_bzero(buf, len + 1);
		free(buf);
		return r;
	}
	*ret = buf;
	return 0;
}

int
vpn_render_routes_unit(const char *ip, const char *site,
		       const struct plan_vpn *vpn, char **ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	if (!netif_ipv4_valid(vpn->gateway))
		return -EINVAL;
	for (i = 0; i < vpn->n_routes; i++)
		if (netif_parse_cidr(vpn->routes[i], NULL, NULL) < 0)
			return -EINVAL;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f,
		"# Written by geostage-enrolld: the routes of site %s to the "
		"other geostage\n# sites, through the site gateway %s.\n"
		"[Unit]\n"
		"Description=geostage routes to the other sites via %s\n"
		"Wants=network-online.target\n"
		"After=network-online.target\n"
		"\n"
		"[Service]\n"
		"Type=oneshot\n"
		"RemainAfterExit=yes\n",
		site, vpn->gateway, vpn->gateway);
	for (i = 0; i < vpn->n_routes; i++)
		fprintf(f, "ExecStart=%s route replace %s via %s\n", ip,
			vpn->routes[i], vpn->gateway);
	for (i = 0; i < vpn->n_routes; i++)
		fprintf(f, "ExecStop=-%s route del %s via %s\n", ip,
			vpn->routes[i], vpn->gateway);
	fprintf(f, "\n[Install]\nWantedBy=multi-user.target\n");
	if (ferror(f) | fclose(f))
		return -ENOMEM;
	*ret = TAKE_PTR(buf);
	return 0;
}
