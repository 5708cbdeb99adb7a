/* SPDX-License-Identifier: MIT */
/* The join step: the server's answer checked strictly, node labels as
 * kubelet takes them, the JoinConfiguration for kubeadm.k8s.io/v1beta4
 * (>= 1.31) and v1beta3 compared with the expected JSON, the token
 * redacted from output, and the step's checks before it acts (a finished
 * join, one of another cluster, a half-finished one of ours) against a
 * STAND-IN kubeadm. Nothing here talks to anything but loopback. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hostfs.h"
#include "join-config.h"
#include "ossl.h"
#include "test-enrolld-stand-ins.h"

#define TOKEN "abcdef.0123456789abcdef"
#define HASH                                                                   \
	"sha256:"                                                              \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"       \
	"ef"

static json_t *
answer(void)
{
	return json_pack("{s:s, s:s, s:[s], s:s, s:s, s:s, s:{s:s, s:s}, "
			 "s:I}",
			 "api_endpoint", "192.168.10.253:6443", "token", TOKEN,
			 "ca_cert_hashes", HASH, "kubernetes_version",
			 "v1.31.2", "node_name", "worker-7", "node_ip",
			 "10.99.0.7", "labels", "geostage.io/site", "tokyo",
			 "tier", "edge", "expires", (json_int_t)1764026191);
}

static void
test_answer_check(void **state)
{
	static const char *const bad_tokens[] = {
		"abcdef0123456789abcdef",  "ABCDEF.0123456789abcdef",
		"abcdef.0123456789abcde",  "abcdef.0123456789abcdef0",
		"abc-ef.0123456789abcdef", "abcdef.0123456789abcde\n",
	};
	struct join_answer a;
	json_t *j = answer();
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		0);
	assert_string_equal(a.token, TOKEN);
	assert_string_equal(a.version, "1.31.2");
	assert_int_equal(a.n_hashes, 1);
	assert_int_equal(
		join_answer_check(j, "worker-8", NULL, &a, err, sizeof(err)),
		-EBADMSG);
	for (i = 0; i < ELEMENTSOF(bad_tokens); i++) {
		json_object_set_new(j, "token", json_string(bad_tokens[i]));
		assert_int_equal(join_answer_check(j, "worker-7", NULL, &a, err,
						   sizeof(err)),
				 -EBADMSG);
		/* The message names the field, never the value. */
		assert_null(strstr(err, bad_tokens[i]));
	}
	json_object_set_new(j, "token", json_string(TOKEN));
	json_object_set_new(j, "ca_cert_hashes", json_pack("[s]", "sha256:00"));
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		-EBADMSG);
	json_object_set_new(j, "ca_cert_hashes", json_array());
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		-EBADMSG);
	json_object_set_new(j, "ca_cert_hashes", json_pack("[s]", HASH));
	json_object_set_new(j, "node_ip", json_string("10.99.0.7/16"));
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		-EBADMSG);
	json_object_set_new(j, "node_ip", json_string("10.99.0.7"));
	json_object_set_new(j, "labels",
			    json_pack("{s:s}", "tier", "edge,evil=1"));
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		-EBADMSG);
	json_object_set_new(j, "labels", json_null());
	json_object_set_new(j, "kubernetes_version", json_null());
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		-EBADMSG);
	assert_int_equal(join_answer_check(j, "worker-7", "1.30.5", &a, err,
					   sizeof(err)),
			 0);
	assert_string_equal(a.version, "1.30.5");
	assert_null(a.labels);
	json_object_set_new(j, "api_endpoint", json_string("192.168.10.253"));
	assert_int_equal(join_answer_check(j, "worker-7", "1.30.5", &a, err,
					   sizeof(err)),
			 -EBADMSG);
	json_decref(j);
}

static void
test_labels(void **state)
{
	json_t *l = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "tier", "edge",
			      "node-role.kubernetes.io/worker", "",
			      "node.kubernetes.io/pool", "a",
			      "topology.kubernetes.io/zone", "tokyo-1",
			      "example.com/owner", "ops", "k8s.io/x", "y");
	unsigned dropped;
	char *s;

	(void)state;
	assert_int_equal(join_node_labels(l, "tokyo", &s, &dropped), 0);
	assert_string_equal(s, "example.com/owner=ops,geostage.io/site=tokyo,"
			       "node.kubernetes.io/pool=a,tier=edge,"
			       "topology.kubernetes.io/zone=tokyo-1");
	assert_int_equal(dropped, 2);
	free(s);
	/* The site label is the enrollment's, whatever the server sent. */
	json_object_set_new(l, "geostage.io/site", json_string("osaka"));
	assert_int_equal(join_node_labels(l, "tokyo", &s, &dropped), 0);
	assert_non_null(strstr(s, "geostage.io/site=tokyo"));
	free(s);
	json_decref(l);
	assert_int_equal(join_node_labels(NULL, "tokyo", &s, &dropped), 0);
	assert_string_equal(s, "geostage.io/site=tokyo");
	free(s);
	assert_true(join_label_kubelet_may_set("kubernetes.io/hostname"));
	assert_true(join_label_kubelet_may_set("a.kubelet.kubernetes.io/x"));
	assert_false(join_label_kubelet_may_set("kubernetes.io/role"));
	assert_false(join_label_kubelet_may_set("x.k8s.io/y"));
	assert_true(join_label_kubelet_may_set("notkubernetes.io/y"));
}

static const char expected_v1beta4[] =
	"{\"apiVersion\": \"kubeadm.k8s.io/v1beta4\","
	" \"kind\": \"JoinConfiguration\","
	" \"discovery\": {\"bootstrapToken\": {"
	"   \"apiServerEndpoint\": \"192.168.10.253:6443\","
	"   \"token\": \"" TOKEN "\","
	"   \"caCertHashes\": [\"" HASH "\"]}},"
	" \"nodeRegistration\": {"
	"   \"name\": \"worker-7\","
	"   \"criSocket\": \"unix:///run/containerd/containerd.sock\","
	"   \"kubeletExtraArgs\": ["
	"     {\"name\": \"node-ip\", \"value\": \"10.99.0.7\"},"
	"     {\"name\": \"node-labels\","
	"      \"value\": \"geostage.io/site=tokyo,tier=edge\"}]}}";

static const char expected_v1beta3[] =
	"{\"apiVersion\": \"kubeadm.k8s.io/v1beta3\","
	" \"kind\": \"JoinConfiguration\","
	" \"discovery\": {\"bootstrapToken\": {"
	"   \"apiServerEndpoint\": \"192.168.10.253:6443\","
	"   \"token\": \"" TOKEN "\","
	"   \"caCertHashes\": [\"" HASH "\"]}},"
	" \"nodeRegistration\": {"
	"   \"name\": \"worker-7\","
	"   \"criSocket\": \"unix:///run/containerd/containerd.sock\","
	"   \"kubeletExtraArgs\": {"
	"     \"node-ip\": \"10.99.0.7\","
	"     \"node-labels\": \"geostage.io/site=tokyo,tier=edge\"}}}";

static void
check_render(const char *version, const char *expected)
{
	json_t *j = answer(), *got, *want;
	struct join_answer a;
	unsigned dropped;
	char err[256], *labels, *text;

	json_object_set_new(j, "kubernetes_version", json_string(version));
	assert_int_equal(
		join_answer_check(j, "worker-7", NULL, &a, err, sizeof(err)),
		0);
	assert_int_equal(join_node_labels(a.labels, "tokyo", &labels, &dropped),
			 0);
	assert_int_equal(join_render_config(&a, labels, &text), 0);
	assert_true(text[strlen(text) - 1] == '\n');
	got = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	want = json_loads(expected, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want))
		fail_msg("JoinConfiguration for %s:\n%s", version, text);
	json_decref(got);
	json_decref(want);
	erase_and_free(text);
	free(labels);
	json_decref(j);
}

static void
test_render(void **state)
{
	(void)state;
	check_render("v1.31.2", expected_v1beta4);
	check_render("1.32.0", expected_v1beta4);
	check_render("v1.30.14", expected_v1beta3);
	check_render("v1.29.0", expected_v1beta3);
	assert_string_equal(join_api_version("2.0.0"),
			    "kubeadm.k8s.io/v1beta4");
}

static void
test_redact(void **state)
{
	char text[] = "[discovery] token abcdef.0123456789abcdef used; "
		      "secret 0123456789abcdef again; abcdef alone\n";

	(void)state;
	join_redact(text, TOKEN);
	assert_string_equal(text, "[discovery] token *********************** "
				  "used; secret **************** again; "
				  "abcdef alone\n");
	join_redact(NULL, TOKEN);
}

/* --- the step's checks before it acts ---------------------------------- */

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	json_t *a = world_answer();

	assert_non_null(w);
	world_init(w);
	world_enrolled(w, a);
	json_decref(a);
	world_stand_in(w, PROG_KUBEADM,
		       "[ \"$1\" = reset ] && rm -f "
		       "\"$W/root/etc/kubernetes/kubelet.conf\"; exit 0");
	/* Loopback, a port nobody listens on: every request is refused. */
	snprintf(w->agent.state.server, sizeof(w->agent.state.server),
		 "https://127.0.0.1:1");
	snprintf(w->agent.state.pin, sizeof(w->agent.state.pin),
		 "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	world_done(w);
	free(w);
	return 0;
}

static void
kubelet_conf(struct world *w)
{
	assert_int_equal(hostfs_write(w->root, JOIN_KUBELET_CONF, "x", 1, 0600),
			 1);
}

static void
test_step_joined_already(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;

	kubelet_conf(w);
	assert_int_equal(agent_marker_set(&w->agent, "joined"), 0);
	assert_int_equal(world_step(w, STEP_JOIN, step_join, &ctx), 0);
	assert_non_null(strstr(ctx.message, "joined already"));
	assert_int_equal(world_log_count(w, "kubeadm"), 0);
}

static void
test_step_foreign_cluster(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;

	kubelet_conf(w);
	assert_true(world_step(w, STEP_JOIN, step_join, &ctx) < 0);
	assert_int_equal(ctx.fail, AGENT_FAIL_JOIN);
	assert_int_equal(agent_fail_exit_code(ctx.fail), 82);
	assert_non_null(strstr(ctx.message, "not from geostage-enrolld"));
	assert_int_equal(world_log_count(w, "kubeadm"), 0);
}

/* Our own attempt left kubelet.conf: reset, then ask for a new token
 * (refused here: retried, then given up with 75). */
static void
test_step_half_finished(void **state)
{
	struct world *w = *state;
	struct step_ctx ctx;

	kubelet_conf(w);
	assert_int_equal(agent_marker_set(&w->agent, "join-attempt"), 0);
	assert_true(world_step(w, STEP_JOIN, step_join, &ctx) < 0);
	assert_int_equal(world_log_count(w, "kubeadm reset -f"), 1);
	assert_int_equal(ctx.fail, AGENT_FAIL_RETRY);
	assert_non_null(strstr(ctx.message, "giving up after 2 attempts"));
	assert_false(hostfs_exists(w->root, JOIN_KUBELET_CONF));
	assert_false(hostfs_exists(w->root, JOIN_CONFIG_FILE));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_check),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_redact),
		cmocka_unit_test_setup_teardown(test_step_joined_already, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_step_foreign_cluster,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_half_finished, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
