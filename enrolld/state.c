/* SPDX-License-Identifier: MIT */
/* state.json: load strictly, save atomically (0600). */
#include "config.h"

#include <limits.h>

#include "agent.h"
#include "fileio.h"
#include "ossl.h"
#include "state.h"

static const char *const step_names[_STEP_MAX] = {
	[STEP_PREFLIGHT] = "preflight", [STEP_ENROLL] = "enroll",
	[STEP_PACKAGES] = "packages",	[STEP_HOST] = "host",
	[STEP_NETWORK] = "network",	[STEP_GATE] = "gate",
	[STEP_JOIN] = "join",		[STEP_DONE] = "done",
};

static const char *const state_names[_STEP_STATE_MAX] = {
	[STEP_STATE_PENDING] = "pending",
	[STEP_STATE_RUNNING] = "running",
	[STEP_STATE_DONE] = "done",
	[STEP_STATE_FAILED] = "failed",
	[STEP_STATE_NOT_IMPLEMENTED] = "not_implemented",
};

const char *
step_name(enum step_id id)
{
	return (unsigned)id < _STEP_MAX ? step_names[id] : "unknown";
}

int
step_from_name(const char *name)
{
	int i;

	for (i = 0; name && i < _STEP_MAX; i++)
		if (streq(name, step_names[i]))
			return i;
	return -EINVAL;
}

const char *
step_state_name(enum step_state s)
{
	return (unsigned)s < _STEP_STATE_MAX ? state_names[s] : "unknown";
}

int
step_state_from_name(const char *name)
{
	int i;

	for (i = 0; name && i < _STEP_STATE_MAX; i++)
		if (streq(name, state_names[i]))
			return i;
	return -EINVAL;
}

void
state_init(struct agent_state *s)
{
	memset(s, 0, sizeof(*s));
}

void
state_set_message(struct step_record *r, const char *msg)
{
	agent_sanitize(r->message, sizeof(r->message), msg);
}

enum step_id
state_first_unfinished(const struct agent_state *s)
{
	int i;

	for (i = 0; i < _STEP_MAX; i++)
		if (s->steps[i].state != STEP_STATE_DONE)
			return (enum step_id)i;
	return _STEP_MAX;
}

static int
set_opt_string(json_t *j, const char *key, const char *value)
{
	if (!*value)
		return 0;
	return json_object_set_new(j, key, json_string(value)) < 0 ? -ENOMEM
								   : 0;
}

static json_t *
record_to_json(enum step_id id, const struct step_record *r)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:b, s:i}", "name",
			 step_name(id), "state", step_state_name(r->state),
			 "started", (json_int_t)r->started, "duration_ms",
			 (json_int_t)r->duration_ms, "message", r->message,
			 "reported", r->reported, "report_tries",
			 (int)r->report_tries);
}

int
state_to_json(const struct agent_state *s, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	json_t *steps;
	int i, r;

	j = json_pack("{s:i, s:[]}", "version", STATE_VERSION, "steps");
	if (!j)
		return -ENOMEM;
	if ((r = set_opt_string(j, "token_id", s->token_id)) < 0 ||
	    (r = set_opt_string(j, "node", s->node)) < 0 ||
	    (r = set_opt_string(j, "site", s->site)) < 0 ||
	    (r = set_opt_string(j, "server", s->server)) < 0 ||
	    (r = set_opt_string(j, "pin", s->pin)) < 0)
		return r;
	steps = json_object_get(j, "steps");
	for (i = 0; i < _STEP_MAX; i++) {
		json_t *e = record_to_json((enum step_id)i, &s->steps[i]);
		if (!e || json_array_append_new(steps, e) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(j);
	return 0;
}

/* An optional string field: absent leaves buf empty. */
static int
get_string(json_t *j, const char *key, char *buf, size_t size,
	   bool (*valid)(const char *))
{
	json_t *v = json_object_get(j, key);
	const char *s;

	buf[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	if (json_string_length(v) >= size || strlen(s) != json_string_length(v))
		return -EBADMSG;
	if (valid && !valid(s))
		return -EBADMSG;
	memcpy(buf, s, json_string_length(v) + 1);
	return 0;
}

static int
get_int(json_t *j, const char *key, bool required, int64_t max, int64_t *ret)
{
	json_t *v = json_object_get(j, key);

	if (!v) {
		*ret = 0;
		return required ? -EBADMSG : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

static int
record_from_json(json_t *e, struct agent_state *s, bool seen[_STEP_MAX])
{
	json_t *rep = json_object_get(e, "reported");
	struct step_record *rec;
	int64_t tries;
	int id, st, r;

	if (!json_is_object(e))
		return -EBADMSG;
	id = step_from_name(json_string_value(json_object_get(e, "name")));
	st = step_state_from_name(
		json_string_value(json_object_get(e, "state")));
	if (id < 0 || st < 0 || seen[id])
		return -EBADMSG;
	seen[id] = true;
	rec = &s->steps[id];
	rec->state = (enum step_state)st;
	if ((r = get_int(e, "started", true, INT64_MAX, &rec->started)) < 0 ||
	    (r = get_int(e, "duration_ms", true, INT64_MAX,
			 &rec->duration_ms)) < 0 ||
	    (r = get_int(e, "report_tries", false, 1000, &tries)) < 0 ||
	    (r = get_string(e, "message", rec->message, sizeof(rec->message),
			    NULL)) < 0)
		return r;
	if (!json_is_string(json_object_get(e, "message")))
		return -EBADMSG;
	if (rep && !json_is_boolean(rep))
		return -EBADMSG;
	rec->reported = json_is_true(rep);
	rec->report_tries = (unsigned)tries;
	return 0;
}

int
state_from_json(json_t *j, struct agent_state *ret)
{
	struct agent_state s;
	bool seen[_STEP_MAX] = {false};
	json_t *steps, *e;
	size_t i;
	int r;

	state_init(&s);
	if (!json_is_object(j) ||
	    !json_is_integer(json_object_get(j, "version")))
		return -EBADMSG;
	if (json_integer_value(json_object_get(j, "version")) != STATE_VERSION)
		return -EPROTONOSUPPORT;
	if ((r = get_string(j, "token_id", s.token_id, sizeof(s.token_id),
			    token_id_is_valid)) < 0 ||
	    (r = get_string(j, "node", s.node, sizeof(s.node),
			    name_is_dns_label)) < 0 ||
	    (r = get_string(j, "site", s.site, sizeof(s.site),
			    name_is_dns_label)) < 0 ||
	    (r = get_string(j, "server", s.server, sizeof(s.server),
			    token_url_is_valid)) < 0 ||
	    (r = get_string(j, "pin", s.pin, sizeof(s.pin),
			    token_pin_is_valid)) < 0)
		return r;
	steps = json_object_get(j, "steps");
	if (!json_is_array(steps) || json_array_size(steps) > _STEP_MAX)
		return -EBADMSG;
	json_array_foreach(steps, i, e)
	{
		r = record_from_json(e, &s, seen);
		if (r < 0)
			return r;
	}
	/* Later steps need what enroll brought back. */
	if (s.steps[STEP_ENROLL].state == STEP_STATE_DONE &&
	    (!s.node[0] || !s.server[0] || !s.pin[0]))
		return -EBADMSG;
	*ret = s;
	return 0;
}

static int
state_path(const char *dir, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", dir, STATE_FILE);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int
state_load(const char *dir, struct agent_state *ret)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_(json_decrefp) json_t *j = NULL;
	char path[PATH_MAX];
	size_t len;
	int r;

	r = state_path(dir, path, sizeof(path));
	if (r < 0)
		return r;
	r = read_file(path, STATE_FILE_MAX, &text, &len);
	if (r < 0)
		return r == -EFBIG ? -EBADMSG : r;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!j)
		return -EBADMSG;
	return state_from_json(j, ret);
}

int
state_save(const char *dir, const struct agent_state *s)
{
	_cleanup_(json_decrefp) json_t *j = NULL;
	_cleanup_free_ char *text = NULL, *out = NULL;
	char path[PATH_MAX];
	int r, n;

	r = state_path(dir, path, sizeof(path));
	if (r < 0)
		return r;
	r = state_to_json(s, &j);
	if (r < 0)
		return r;
	text = json_dumps(j, JSON_INDENT(2));
	if (!text)
		return -ENOMEM;
	n = asprintf(&out, "%s\n", text);
	if (n < 0) {
		out = NULL;
		return -ENOMEM;
	}
	return write_file_atomic(path, out, (size_t)n, 0600);
}
