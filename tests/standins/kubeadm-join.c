/* SPDX-License-Identifier: MIT */
/* kubeadm STAND-IN (geostage tests): `kubeadm join --config FILE`, in the
 * real kubeadm's phases: configuration, preflight (with discovery), then
 * kubelet-start, which here asks the API server stand-in for the kubelet's
 * client certificate and writes the files the real join leaves behind. */
#include "config.h"

#include <openssl/crypto.h>
#include <spawn.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"
#include "fileio.h"
#include "kubeadm.h"

#define ARG_LISTS_MAX 8

struct join_args {
	const char *config;
	const char *ignore[ARG_LISTS_MAX]; /* comma-separated lists */
	size_t n_ignore;
};

/* The real join's flags that cannot be mixed with --config. */
static const char *const mixed_flags[] = {
	"--discovery-token-ca-cert-hash",
	"--discovery-file",
	"--discovery-token-unsafe-skip-ca-verification",
	"--node-name",
	"--cri-socket",
	"--apiserver-advertise-address",
	"--control-plane",
	"--certificate-key",
	"--skip-phases",
	"--dry-run",
	NULL};

/* Refused first and always: a token on argv is readable by every user
 * in /proc/PID/cmdline. The argument itself is never echoed. */
static int
refuse_argv_tokens(int argc, char **argv)
{
	static const char *const flags[] = {"--token", "--discovery-token",
					    "--tls-bootstrap-token"};
	int i;
	size_t f;

	for (i = 1; i < argc; i++) {
		bool hit = bootstrap_token_in(argv[i]);
		for (f = 0; f < ELEMENTSOF(flags); f++) {
			size_t n = strlen(flags[f]);
			hit = hit ||
			      (strncmp(argv[i], flags[f], n) == 0 &&
			       (argv[i][n] == '\0' || argv[i][n] == '='));
		}
		if (hit) {
			fprintf(stderr,
				"%s: refusing a bootstrap token on the command "
				"line (argument %d): geostage must never put a "
				"token on argv, where any user reads it in "
				"/proc/PID/cmdline; it belongs in the "
				"JoinConfiguration given with --config\n",
				KUBEADM_IDENT, i);
			return -EPERM;
		}
	}
	return 0;
}

static bool
in(const char *const *list, const char *s, size_t n)
{
	for (; *list; list++)
		if (strlen(*list) == n && strncmp(*list, s, n) == 0)
			return true;
	return false;
}

/* "--name=value" or "--name value": the value, or NULL. */
static const char *
value_of(const char *name, int argc, char **argv, int *i)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int
parse_args(int argc, char **argv, struct join_args *a)
{
	const char *v;
	int i;

	for (i = 1; i < argc; i++) {
		size_t n = strcspn(argv[i], "=");
		if ((v = value_of("--config", argc, argv, &i)))
			a->config = v;
		else if ((v = value_of("--ignore-preflight-errors", argc, argv,
				       &i)) &&
			 a->n_ignore < ARG_LISTS_MAX)
			a->ignore[a->n_ignore++] = v;
		else if (value_of("--v", argc, argv, &i) ||
			 value_of("-v", argc, argv, &i))
			;
		else if (in(mixed_flags, argv[i], n)) {
			fprintf(stderr,
				"can not mix '--config' with arguments "
				"[%.*s]\n",
				(int)n, argv[i]);
			return -EINVAL;
		} else {
			fprintf(stderr,
				"%s \"%s\" (the STAND-IN takes only --config, "
				"--ignore-preflight-errors and --v)\n",
				argv[i][0] == '-' ? "unknown flag:"
						  : "unexpected argument",
				argv[i]);
			return -EINVAL;
		}
	}
	if (!a->config) {
		fprintf(stderr,
			"%s: `kubeadm join` needs --config FILE here: "
			"geostage always writes a JoinConfiguration\n",
			KUBEADM_IDENT);
		return -EINVAL;
	}
	return 0;
}

static bool
list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list) {
		size_t m = strcspn(list, ",");
		if ((m == n && strncasecmp(list, name, n) == 0) ||
		    (m == 3 && strncasecmp(list, "all", 3) == 0))
			return true;
		list += m + (list[m] ? 1 : 0);
	}
	return false;
}

static bool
ignored(const struct join_config *c, const struct join_args *a,
	const char *name)
{
	size_t i;

	for (i = 0; i < a->n_ignore; i++)
		if (list_has(a->ignore[i], name))
			return true;
	for (i = 0; i < c->n_ignore; i++)
		if (list_has(c->ignore[i], name))
			return true;
	return false;
}

static bool
file_available(const char *path, char *msg, size_t size)
{
	char p[4096];

	standin_path(p, sizeof(p), path);
	if (access(p, F_OK) != 0)
		return true;
	snprintf(msg, size,
		 "%.500s already exists (this node was joined "
		 "before: use 'kubeadm reset' first)",
		 p);
	return false;
}

static bool
ip_forward_on(char *msg, size_t size)
{
	_cleanup_free_ char *text = NULL;
	char p[4096];
	size_t len;

	standin_path(p, sizeof(p), "/proc/sys/net/ipv4/ip_forward");
	if (read_file(p, 64, &text, &len) >= 0 && text[0] == '1')
		return true;
	snprintf(msg, size, "%.500s contents are not set to 1", p);
	return false;
}

static bool
cri_running(const struct join_config *c, char *msg, size_t size)
{
	char p[4096];

	standin_path(p, sizeof(p), c->cri_socket + strlen("unix://"));
	if (access(p, F_OK) == 0)
		return true;
	snprintf(msg, size,
		 "container runtime is not running: %.500s does not "
		 "exist",
		 p);
	return false;
}

/* Runs one check; returns false when it failed and is not ignored. */
static bool
check(const struct join_config *c, const struct join_args *a, const char *name,
      bool ok, const char *msg, FILE *errors)
{
	if (ok)
		return true;
	if (ignored(c, a, name)) {
		printf("\t[WARNING %s]: %s\n", name, msg);
		return true;
	}
	fprintf(errors, "\t[ERROR %s]: %s\n", name, msg);
	return false;
}

static int
preflight(const struct join_config *c, const struct join_args *a)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *errors = open_memstream(&text, &len);
	char m[5][600];
	bool ok = true;

	if (!errors)
		return -ENOMEM;
	printf("[preflight] Running pre-flight checks\n");
	snprintf(m[0], sizeof(m[0]), "user is not running as root");
	ok &= check(c, a, "IsPrivilegedUser", *standin_root() || geteuid() == 0,
		    m[0], errors);
	ok &= check(c, a, "FileAvailable--etc-kubernetes-kubelet.conf",
		    file_available("/etc/kubernetes/kubelet.conf", m[1], 600),
		    m[1], errors);
	ok &= check(c, a, "FileAvailable--etc-kubernetes-pki-ca.crt",
		    file_available("/etc/kubernetes/pki/ca.crt", m[2], 600),
		    m[2], errors);
	ok &= check(c, a, "FileContent--proc-sys-net-ipv4-ip_forward",
		    ip_forward_on(m[3], 600), m[3], errors);
	ok &= check(c, a, "CRI", cri_running(c, m[4], 600), m[4], errors);
	fclose(errors);
	if (ok)
		return 0;
	fprintf(stderr,
		"error execution phase preflight: [preflight] Some fatal "
		"errors occurred:\n%s[preflight] If you know what you are "
		"doing, you can make a check non-fatal with "
		"`--ignore-preflight-errors=...`\n",
		text);
	return -EEXIST;
}

static int
write_rooted(const char *path, const char *data, mode_t mode)
{
	char p[4096];
	int r;

	standin_path(p, sizeof(p), path);
	r = write_file_atomic(p, data, strlen(data), mode);
	if (r < 0)
		fprintf(stderr,
			"error execution phase kubelet-start: cannot "
			"write %s: %s\n",
			p, strerror(-r));
	return r;
}

static int
make_dirs(void)
{
	static const char *const dirs[] = {
		"/etc", "/etc/kubernetes", "/etc/kubernetes/pki",
		"/var", "/var/lib",	   "/var/lib/kubelet"};
	char p[4096];
	size_t i;
	int r;

	for (i = 0; i < ELEMENTSOF(dirs); i++) {
		standin_path(p, sizeof(p), dirs[i]);
		if ((r = mkdir_safe(p, 0755)) < 0) {
			fprintf(stderr, "cannot create %s: %s\n", p,
				strerror(-r));
			return r;
		}
	}
	return 0;
}

static int
flags_env(const struct join_config *c, char **ret)
{
	size_t len = 0, i;
	FILE *f = open_memstream(ret, &len);
	json_t *pair;

	if (!f)
		return -ENOMEM;
	fprintf(f,
		"# written by the kubeadm STAND-IN (geostage tests)\n"
		"KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=%s",
		c->cri_socket);
	json_array_foreach(c->args, i, pair)
	{
		fprintf(f, " --%s=%s",
			json_string_value(json_array_get(pair, 0)),
			json_string_value(json_array_get(pair, 1)));
	}
	fprintf(f, "\"\n");
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

static int
write_node_files(const struct join_config *c, const char *ca_pem,
		 const char *cert, const char *key)
{
	_cleanup_free_ char *server = NULL, *env = NULL;
	_cleanup_erase_ char *kc = NULL;
	char user[96];
	int r;

	snprintf(user, sizeof(user), "system:node:%s", c->node_name);
	if (asprintf(&server, "https://%s", c->endpoint) < 0 ||
	    kubeconfig_format(server, ca_pem, user, cert, key, &kc) < 0 ||
	    flags_env(c, &env) < 0)
		return -ENOMEM;
	printf("[kubelet-start] Writing kubelet configuration to file "
	       "\"/var/lib/kubelet/config.yaml\"\n"
	       "[kubelet-start] Writing kubelet environment file with flags "
	       "to file \"/var/lib/kubelet/kubeadm-flags.env\"\n");
	if ((r = make_dirs()) < 0 ||
	    (r = write_rooted("/var/lib/kubelet/config.yaml",
			      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
			      "kind: KubeletConfiguration\n"
			      "# written by the kubeadm STAND-IN\n"
			      "cgroupDriver: systemd\n",
			      0644)) < 0 ||
	    (r = write_rooted("/var/lib/kubelet/kubeadm-flags.env", env,
			      0644)) < 0 ||
	    (r = write_rooted("/etc/kubernetes/pki/ca.crt", ca_pem, 0644)) <
		    0 ||
	    (r = write_rooted("/etc/kubernetes/kubelet.conf", kc, 0600)) < 0)
		return r;
	return 0;
}

static int
join_failed(const struct http_reply *rep)
{
	_cleanup_(json_decrefp) json_t *j = json_loads(rep->body, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "message"));

	fprintf(stderr,
		"error execution phase kubelet-start: the API server "
		"refused the node (HTTP %ld): %s\n",
		rep->code, msg ? msg : "no reason given");
	return -EACCES;
}

static int
kubelet_start(const struct join_config *c, const char *ca_pem,
	      const struct standin_version *v)
{
	_cleanup_(json_decrefp) json_t *req = NULL, *ans = NULL;
	_cleanup_free_ char *body = NULL;
	struct http_reply rep = {0};
	const char *cert = NULL, *key = NULL, *ca = NULL;
	char err[1024];
	int r;

	req = json_pack("{s:s, s:s, s:o, s:s}", "nodeName", c->node_name,
			"nodeIP", c->node_ip, "labels",
			c->labels ? json_incref(c->labels) : json_object(),
			"kubeletVersion", v->text);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!body)
		return -ENOMEM;
	r = http_call(c->endpoint, "/standin/v1/join", ca_pem, c->token, body,
		      &rep, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "error execution phase kubelet-start: %s\n",
			err);
		return r;
	}
	if (rep.code != 200)
		r = join_failed(&rep);
	else
		ans = json_loads(rep.body, 0, NULL);
	explicit_bzero(rep.body, strlen(rep.body));
	free(rep.body);
	if (r < 0)
		return r;
	if (json_unpack(ans, "{s:s, s:s, s:s}", "certificate", &cert, "key",
			&key, "ca", &ca) < 0 ||
	    !streq(ca, ca_pem)) {
		fprintf(stderr, "error execution phase kubelet-start: the TLS "
				"bootstrap answer is not usable\n");
		return -EPROTO;
	}
	r = write_node_files(c, ca_pem, cert, key);
	OPENSSL_cleanse((char *)key, strlen(key));
	return r;
}

void
kubelet_service(const char *action)
{
	const char *path = access("/usr/bin/systemctl", X_OK) == 0
				   ? "/usr/bin/systemctl"
				   : "/bin/systemctl";
	char *argv[] = {"systemctl", (char *)action, "kubelet.service", NULL};
	char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t pid;
	int status = 0;

	if (*standin_root() || access("/run/systemd/system", F_OK) != 0)
		return;
	if (posix_spawn(&pid, path, NULL, NULL, argv, envp) != 0 ||
	    waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		printf("[kubelet-start] WARNING: systemctl %s kubelet.service "
		       "failed\n",
		       action);
}

int
kubeadm_join(int argc, char **argv, const struct standin_version *v)
{
	_cleanup_(join_config_freep) struct join_config *c = NULL;
	_cleanup_free_ char *ca_pem = NULL;
	struct join_args a = {0};
	int r;

	if ((r = refuse_argv_tokens(argc, argv)) < 0 ||
	    (r = parse_args(argc, argv, &a)) < 0 ||
	    (r = join_config_load(a.config, v, &c)) < 0 ||
	    (r = preflight(c, &a)) < 0 ||
	    (r = discovery_run(c, v, &ca_pem)) < 0)
		return r;
	if ((r = kubelet_start(c, ca_pem, v)) < 0)
		return r;
	printf("[kubelet-start] Starting the kubelet\n");
	kubelet_service("restart");
	printf("\nThis node has joined the cluster:\n"
	       "* Certificate signing request was sent to apiserver and a "
	       "response was received.\n"
	       "* The Kubelet was informed of the new secure connection "
	       "details.\n\n"
	       "Run 'kubectl get nodes' on the control-plane to see this node "
	       "join the cluster.\n");
	return 0;
}
