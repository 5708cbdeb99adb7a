/* SPDX-License-Identifier: MIT */
/* kubeadm STAND-IN (geostage tests): nodeRegistration.kubeletExtraArgs as
 * the kubelet takes them. The real kubeadm passes them on unchecked and a
 * bad one shows only later as a kubelet that does not start; the stand-in
 * refuses them at once, with the kubelet's reason. */
#include "config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "kubeadm.h"
#include "name.h"

/* Flags of kubelet 1.30/1.31 that a JoinConfiguration may carry. */
static const char *const known_flags[] = {"node-ip",
					  "node-labels",
					  "hostname-override",
					  "container-runtime-endpoint",
					  "pod-infra-container-image",
					  "register-with-taints",
					  "provider-id",
					  "cloud-provider",
					  "resolv-conf",
					  "max-pods",
					  "v",
					  "fail-swap-on",
					  "cgroup-driver",
					  "rotate-certificates",
					  "runtime-request-timeout",
					  "eviction-hard",
					  "kube-reserved",
					  "system-reserved",
					  "cluster-dns",
					  "cluster-domain",
					  "root-dir",
					  "feature-gates",
					  "node-status-update-frequency",
					  "allowed-unsafe-sysctls",
					  "address",
					  "healthz-port",
					  NULL};

/* What the kubelet lets a node set on itself in kubernetes.io/k8s.io. */
static const char *const allowed_labels[] = {
	"kubernetes.io/hostname",
	"kubernetes.io/instance-type",
	"kubernetes.io/os",
	"kubernetes.io/arch",
	"beta.kubernetes.io/instance-type",
	"beta.kubernetes.io/os",
	"beta.kubernetes.io/arch",
	"failure-domain.beta.kubernetes.io/zone",
	"failure-domain.beta.kubernetes.io/region",
	"topology.kubernetes.io/zone",
	"topology.kubernetes.io/region",
	NULL};

static bool
in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (streq(*list, s))
			return true;
	return false;
}

static bool
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && strncmp(s + n - m, suffix, m) == 0 &&
	       (n == m || s[n - m - 1] == '.');
}

/* The kubelet's restriction on self-applied labels (NodeRestriction). */
static bool
label_self_allowed(const char *key)
{
	const char *slash = strchr(key, '/');
	size_t n = slash ? (size_t)(slash - key) : 0;

	if (!slash || !(ends_with(key, n, "kubernetes.io") ||
			ends_with(key, n, "k8s.io")))
		return true;
	if (ends_with(key, n, "kubelet.kubernetes.io") ||
	    ends_with(key, n, "node.kubernetes.io"))
		return true;
	return in_list(allowed_labels, key);
}

bool
ip_is_local(const char *ip)
{
	unsigned char want[16];
	struct ifaddrs *ifa, *i;
	bool found = false;
	int fam = inet_pton(AF_INET, ip, want) == 1    ? AF_INET
		  : inet_pton(AF_INET6, ip, want) == 1 ? AF_INET6
						       : 0;

	if (!fam || getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != fam)
			continue;
		if (fam == AF_INET)
			found = memcmp(&((struct sockaddr_in *)i->ifa_addr)
						->sin_addr,
				       want, 4) == 0;
		else
			found = memcmp(&((struct sockaddr_in6 *)i->ifa_addr)
						->sin6_addr,
				       want, 16) == 0;
	}
	freeifaddrs(ifa);
	return found;
}

static int
parse_labels(struct join_config *c, const char *v, char *err, size_t size)
{
	_cleanup_free_ char *copy = strdup(v);
	char *save = NULL, *item;

	json_decref(c->labels);
	c->labels = json_object();
	if (!copy || !c->labels)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq) {
			snprintf(err, size,
				 "--node-labels: \"%s\" is not "
				 "KEY=VALUE",
				 item);
			return -EINVAL;
		}
		*eq = '\0';
		if (!label_key_is_valid(item) ||
		    !label_value_is_valid(eq + 1)) {
			snprintf(err, size,
				 "--node-labels: invalid label "
				 "\"%s=%s\"",
				 item, eq + 1);
			return -EINVAL;
		}
		if (!label_self_allowed(item)) {
			snprintf(err, size,
				 "unknown 'kubernetes.io' or "
				 "'k8s.io' labels specified with "
				 "--node-labels: [%s]: the kubelet "
				 "would not start",
				 item);
			return -EINVAL;
		}
		json_object_set_new(c->labels, item, json_string(eq + 1));
	}
	return 0;
}

static int
check_one(struct join_config *c, const char *name, const char *value, char *err,
	  size_t size)
{
	if (name[0] == '-' || !in_list(known_flags, name)) {
		snprintf(err, size,
			 "unknown kubelet flag \"%s\" (names come "
			 "without \"--\"); the kubelet would not "
			 "start",
			 name);
		return -EINVAL;
	}
	if (strpbrk(value, "\"\\$`\n\r")) {
		snprintf(err, size,
			 "%s: the value has characters that break "
			 "kubeadm-flags.env",
			 name);
		return -EINVAL;
	}
	if (streq(name, "node-labels"))
		return parse_labels(c, value, err, size);
	if (!streq(name, "node-ip"))
		return 0;
	if (!ip_is_local(value)) {
		snprintf(err, size,
			 "node-ip \"%s\" is not an address of this "
			 "host (the kubelet: failed to validate "
			 "nodeIP: not found in the host's network "
			 "interfaces)",
			 value);
		return -EINVAL;
	}
	free(c->node_ip);
	c->node_ip = strdup(value);
	return c->node_ip ? 0 : -ENOMEM;
}

int
kubelet_args_check(struct join_config *c, char *err, size_t size)
{
	json_t *pair;
	size_t i;
	int r;

	json_array_foreach(c->args, i, pair)
	{
		r = check_one(c, json_string_value(json_array_get(pair, 0)),
			      json_string_value(json_array_get(pair, 1)), err,
			      size);
		if (r < 0)
			return r;
	}
	if (!c->node_ip) {
		snprintf(err, size,
			 "node-ip: Required value: geostage always "
			 "sets the node's VPN or LAN address");
		return -EINVAL;
	}
	return 0;
}
