/* SPDX-License-Identifier: MIT */
/* enrolld/state.c: state.json survives a round trip, refuses what is
 * truncated or corrupt without crashing, and says where a run resumes. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "ossl.h"
#include "state.h"

#define JTI "abcdefghijklmnopqrstuvwxyz"
#define PIN "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-enrolld-state-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, STATE_FILE);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	(void)unlink(f->path);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* An enrolled node whose packages step is not implemented yet. */
static void
sample(struct agent_state *s)
{
	state_init(s);
	snprintf(s->token_id, sizeof(s->token_id), JTI);
	snprintf(s->node, sizeof(s->node), "worker-7");
	snprintf(s->site, sizeof(s->site), "tokyo");
	snprintf(s->server, sizeof(s->server), "https://127.0.0.1:8443");
	snprintf(s->pin, sizeof(s->pin), PIN);
	s->steps[STEP_PREFLIGHT] = (struct step_record){
		STEP_STATE_DONE, 1764025291, 12, "token ok", true, 1};
	s->steps[STEP_ENROLL] =
		(struct step_record){STEP_STATE_DONE,	     1764025292, 345,
				     "enrolled as worker-7", true,	 1};
	s->steps[STEP_PACKAGES] = (struct step_record){
		STEP_STATE_NOT_IMPLEMENTED,	    1764025293, 0,
		"step packages is not implemented", false,	2};
}

static void
assert_state_equal(const struct agent_state *a, const struct agent_state *b)
{
	int i;

	assert_string_equal(a->token_id, b->token_id);
	assert_string_equal(a->node, b->node);
	assert_string_equal(a->site, b->site);
	assert_string_equal(a->server, b->server);
	assert_string_equal(a->pin, b->pin);
	for (i = 0; i < _STEP_MAX; i++) {
		const struct step_record *x = &a->steps[i], *y = &b->steps[i];
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->started, y->started);
		assert_int_equal(x->duration_ms, y->duration_ms);
		assert_string_equal(x->message, y->message);
		assert_int_equal(x->reported, y->reported);
		assert_int_equal(x->report_tries, y->report_tries);
	}
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct agent_state s, back;
	struct stat st;

	sample(&s);
	assert_int_equal(state_save(f->dir, &s), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	memset(&back, 0xa5, sizeof(back));
	assert_int_equal(state_load(f->dir, &back), 0);
	assert_state_equal(&s, &back);

	/* Saving again replaces the file with the new content. */
	s.steps[STEP_PACKAGES].state = STEP_STATE_FAILED;
	state_set_message(&s.steps[STEP_PACKAGES], "line one\nline\ttwo");
	assert_string_equal(s.steps[STEP_PACKAGES].message,
			    "line one?line?two");
	assert_int_equal(state_save(f->dir, &s), 0);
	assert_int_equal(state_load(f->dir, &back), 0);
	assert_state_equal(&s, &back);
}

static void
test_fresh_state(void **state)
{
	struct fixture *f = *state;
	struct agent_state s, back;

	assert_int_equal(state_load(f->dir, &s), -ENOENT);
	state_init(&s);
	assert_int_equal(state_save(f->dir, &s), 0);
	assert_int_equal(state_load(f->dir, &back), 0);
	assert_state_equal(&s, &back);
	assert_int_equal(state_first_unfinished(&back), STEP_PREFLIGHT);
}

static void
write_text(const char *path, const char *text, size_t len)
{
	assert_int_equal(write_file_atomic(path, text, len, 0600), 0);
}

/* Every prefix of a valid file that cuts into the JSON is refused. */
static void
test_truncated(void **state)
{
	struct fixture *f = *state;
	_cleanup_free_ char *text = NULL;
	struct agent_state s, back;
	size_t len, end, n;
	int r;

	sample(&s);
	assert_int_equal(state_save(f->dir, &s), 0);
	assert_int_equal(read_file(f->path, STATE_FILE_MAX, &text, &len), 0);
	end = (size_t)(strrchr(text, '}') - text);
	for (n = 0; n <= end; n++) {
		write_text(f->path, text, n);
		r = state_load(f->dir, &back);
		if (r != -EBADMSG)
			fail_msg("a %zu-byte prefix gave %d", n, r);
	}
}

static void
test_corrupt(void **state)
{
	static const char *const bad[] = {
		"",
		"\x89PNG\r\n\x1a\n",
		"[]",
		"null",
		"{\"steps\": []}",
		"{\"version\": \"1\", \"steps\": []}",
		"{\"version\": 1}",
		"{\"version\": 1, \"steps\": {}}",
		"{\"version\": 1, \"steps\": [{\"name\": \"bake\", \"state\": "
		"\"done\", \"started\": 1, \"duration_ms\": 1, \"message\": "
		"\"\"}]}",
		"{\"version\": 1, \"steps\": [{\"name\": \"enroll\", "
		"\"state\": "
		"\"finished\", \"started\": 1, \"duration_ms\": 1, "
		"\"message\": "
		"\"\"}]}",
		"{\"version\": 1, \"steps\": [{\"name\": \"enroll\", "
		"\"state\": "
		"\"done\", \"started\": -1, \"duration_ms\": 1, \"message\": "
		"\"\"}]}",
		"{\"version\": 1, \"steps\": [{\"name\": \"enroll\", "
		"\"state\": "
		"\"failed\", \"started\": 1, \"duration_ms\": 1}]}",
		"{\"version\": 1, \"steps\": [{\"name\": \"host\", \"state\": "
		"\"failed\", \"started\": 1, \"duration_ms\": 1, \"message\": "
		"\"a\\u0000b\"}]}",
		/* the same step twice */
		"{\"version\": 1, \"steps\": [{\"name\": \"host\", \"state\": "
		"\"done\", \"started\": 1, \"duration_ms\": 1, \"message\": "
		"\"\"}, {\"name\": \"host\", \"state\": \"done\", \"started\": "
		"1, \"duration_ms\": 1, \"message\": \"\"}]}",
		/* enrolled, but without what later steps need */
		"{\"version\": 1, \"steps\": [{\"name\": \"enroll\", "
		"\"state\": "
		"\"done\", \"started\": 1, \"duration_ms\": 1, \"message\": "
		"\"\"}]}",
		"{\"version\": 1, \"node\": \"../etc\", \"steps\": []}",
		"{\"version\": 1, \"pin\": \"sha1//x\", \"steps\": []}",
		"{\"version\": 1, \"server\": \"http://x\", \"steps\": []}",
		"{\"version\": 1, \"version\": 1, \"steps\": []}",
	};
	static const char newer[] = "{\"version\": 2, \"steps\": []}";
	struct fixture *f = *state;
	struct agent_state back;
	size_t i;
	int r;

	for (i = 0; i < ELEMENTSOF(bad); i++) {
		write_text(f->path, bad[i], strlen(bad[i]));
		r = state_load(f->dir, &back);
		if (r != -EBADMSG)
			fail_msg("#%zu gave %d: %s", i, r, bad[i]);
	}
	write_text(f->path, newer, strlen(newer));
	assert_int_equal(state_load(f->dir, &back), -EPROTONOSUPPORT);
}

static void
test_resume_point(void **state)
{
	struct agent_state s;
	int i;

	(void)state;
	state_init(&s);
	assert_int_equal(state_first_unfinished(&s), STEP_PREFLIGHT);
	s.steps[STEP_PREFLIGHT].state = STEP_STATE_DONE;
	assert_int_equal(state_first_unfinished(&s), STEP_ENROLL);
	/* killed while enrolling: enroll again */
	s.steps[STEP_ENROLL].state = STEP_STATE_RUNNING;
	assert_int_equal(state_first_unfinished(&s), STEP_ENROLL);
	s.steps[STEP_ENROLL].state = STEP_STATE_FAILED;
	assert_int_equal(state_first_unfinished(&s), STEP_ENROLL);
	s.steps[STEP_ENROLL].state = STEP_STATE_DONE;
	s.steps[STEP_PACKAGES].state = STEP_STATE_NOT_IMPLEMENTED;
	assert_int_equal(state_first_unfinished(&s), STEP_PACKAGES);
	for (i = 0; i < _STEP_MAX; i++)
		s.steps[i].state = STEP_STATE_DONE;
	assert_int_equal(state_first_unfinished(&s), _STEP_MAX);
	/* a hole before done steps is still where a run resumes */
	s.steps[STEP_HOST].state = STEP_STATE_PENDING;
	assert_int_equal(state_first_unfinished(&s), STEP_HOST);
}

static void
test_names(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < _STEP_MAX; i++)
		assert_int_equal(step_from_name(step_name((enum step_id)i)), i);
	for (i = 0; i < _STEP_STATE_MAX; i++)
		assert_int_equal(step_state_from_name(
					 step_state_name((enum step_state)i)),
				 i);
	assert_int_equal(step_from_name("Enroll"), -EINVAL);
	assert_int_equal(step_from_name(""), -EINVAL);
	assert_int_equal(step_from_name(NULL), -EINVAL);
	assert_string_equal(step_name(STEP_PACKAGES), "packages");
	assert_string_equal(step_state_name(STEP_STATE_NOT_IMPLEMENTED),
			    "not_implemented");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fresh_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test(test_resume_point),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("enrolld-state", tests, NULL, NULL);
}
