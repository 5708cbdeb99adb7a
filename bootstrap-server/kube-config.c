/* SPDX-License-Identifier: MIT */
/* Reading a kubeconfig (YAML, via libyaml): the current context's server,
 * cluster CA and credentials. Only inline data is accepted, so that the
 * state dir holds everything the server uses. */
#include "config.h"

#include <yaml.h>

#include "b64.h"
#include "fileio.h"
#include "kube-internal.h"
#include "log.h"

#define KUBECONFIG_MAX (256 * 1024)

static yaml_node_t *
map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    streq((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *
scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
		       ? (const char *)n->data.scalar.value
		       : NULL;
}

/* In a list of {name: X, <field>: {...}}, the <field> of entry name, or
 * of the first entry when name is NULL. */
static yaml_node_t *
named(yaml_document_t *d, yaml_node_t *list, const char *name,
      const char *field)
{
	yaml_node_item_t *i;

	if (!list || list->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (i = list->data.sequence.items.start;
	     i < list->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(d, *i);
		const char *n = scalar(map_get(d, e, "name"));
		if (!name || (n && streq(n, name)))
			return map_get(d, e, field);
	}
	return NULL;
}

/* Standard base64 with padding, as kubeconfig *-data fields hold PEM. */
static int
decode_b64(const char *s, char **ret)
{
	uint8_t *out;
	size_t n;
	int r;

	r = b64_decode(s, strlen(s), &out, &n);
	if (r < 0)
		return r;
	if (memchr(out, 0, n)) {
		free(out);
		return -EINVAL;
	}
	*ret = (char *)out;
	return 0;
}

static int
take_data(yaml_document_t *d, yaml_node_t *m, const char *key, char **ret)
{
	const char *v = scalar(map_get(d, m, key));

	if (!v) {
		*ret = NULL;
		return 0;
	}
	return decode_b64(v, ret);
}

static int
from_document(yaml_document_t *d, struct kube *k)
{
	yaml_node_t *root = yaml_document_get_root_node(d), *ctx, *cluster,
		    *user;
	const char *current = scalar(map_get(d, root, "current-context"));
	const char *server, *token;
	int r;

	ctx = named(d, map_get(d, root, "contexts"), current, "context");
	cluster = named(d, map_get(d, root, "clusters"),
			scalar(map_get(d, ctx, "cluster")), "cluster");
	user = named(d, map_get(d, root, "users"),
		     scalar(map_get(d, ctx, "user")), "user");
	server = scalar(map_get(d, cluster, "server"));
	if (!ctx || !cluster || !user || !server ||
	    strncmp(server, "https://", 8) != 0 || strlen(server) > 255)
		return -EINVAL;
	k->server = strdup(server);
	if (!k->server)
		return -ENOMEM;
	if ((r = take_data(d, cluster, "certificate-authority-data",
			   &k->ca_pem)) < 0 ||
	    (r = take_data(d, user, "client-certificate-data",
			   &k->cert_pem)) < 0 ||
	    (r = take_data(d, user, "client-key-data", &k->key_pem)) < 0)
		return r;
	token = scalar(map_get(d, user, "token"));
	if (token && !(k->token = strdup(token)))
		return -ENOMEM;
	if (!k->ca_pem || (!k->token && (!k->cert_pem || !k->key_pem)))
		return -EINVAL;
	return 0;
}

int
kube_config_parse(const char *text, size_t len, struct kube *k)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int r;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	r = from_document(&doc, k);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return r;
}

int
kube_config_read(const char *path, struct kube *k)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = read_file(path, KUBECONFIG_MAX, &text, &len);
	if (r < 0)
		return log_error_errno(r, "cannot read kubeconfig %s: %s", path,
				       strerror(-r));
	r = kube_config_parse(text, len, k);
	explicit_bzero(text, len);
	if (r < 0)
		return log_error_errno(r, "%s: want a kubeconfig with inline "
					  "certificate-authority-data and "
					  "client certificate/key data or a "
					  "token",
				       path);
	return 0;
}
