/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "db-internal.h"
#include "db.h"
#include "log.h"
#include "ossl.h"

/* --- tokens -------------------------------------------------------------- */

int
db_token_insert(sqlite3 *db, const struct token_claims *c, int64_t now)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_free_ char *labels = NULL;
	int r;

	labels = json_dumps(c->labels, JSON_COMPACT | JSON_SORT_KEYS);
	if (!labels)
		return -ENOMEM;
	r = db_prepare(db,
		    "INSERT INTO tokens (id, site, role, max_uses, created,"
		    " expires, labels) VALUES (?, ?, ?, ?, ?, ?, ?)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, c->jti, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->site, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->role, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, c->max);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, c->exp);
	sqlite3_bind_text(st, 7, labels, -1, SQLITE_STATIC);
	return db_step_done(st);
}

int
db_token_get(sqlite3 *db, const char *id, struct db_token *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct db_token t = {0};
	int r, rc;

	r = db_prepare(db,
		    "SELECT id, site, role, max_uses, uses, expires,"
		    " coalesce(revoked, 0) FROM tokens WHERE id = ?",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_errno(rc);
	db_copy_text(st, 0, t.id, sizeof(t.id));
	db_copy_text(st, 1, t.site, sizeof(t.site));
	db_copy_text(st, 2, t.role, sizeof(t.role));
	t.max_uses = (unsigned)sqlite3_column_int64(st, 3);
	t.uses = (unsigned)sqlite3_column_int64(st, 4);
	t.expires = sqlite3_column_int64(st, 5);
	t.revoked = sqlite3_column_int64(st, 6);
	*ret = t;
	return 0;
}

int
db_token_revoke(sqlite3 *db, const char *id, int64_t now)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct db_token t;
	int r;

	r = db_token_get(db, id, &t);
	if (r < 0)
		return r;
	if (t.revoked)
		return -EALREADY;
	r = db_prepare(db, "UPDATE tokens SET revoked = ? WHERE id = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return db_step_done(st);
}

int
db_token_use(sqlite3 *db, const char *id)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		    "UPDATE tokens SET uses = uses + 1"
		    " WHERE id = ? AND uses < max_uses",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = db_step_done(st);
	if (r < 0)
		return r;
	return sqlite3_changes(db) == 1 ? 0 : -EDQUOT;
}

enum db_token_state
db_token_state(const struct db_token *t, int64_t now)
{
	if (t->revoked)
		return DB_TOKEN_REVOKED;
	if (t->uses >= t->max_uses)
		return DB_TOKEN_EXHAUSTED;
	if (t->expires <= now)
		return DB_TOKEN_EXPIRED;
	return DB_TOKEN_ACTIVE;
}

const char *
db_token_state_to_string(enum db_token_state s)
{
	static const char *const names[] = {"active", "expired", "revoked",
					    "exhausted"};

	return (size_t)s < ELEMENTSOF(names) ? names[s] : "unknown";
}

static int
token_row(sqlite3_stmt *st, int64_t now, json_t **ret)
{
	struct db_token t = {0};
	json_t *labels;

	db_copy_text(st, 0, t.id, sizeof(t.id));
	db_copy_text(st, 1, t.site, sizeof(t.site));
	db_copy_text(st, 2, t.role, sizeof(t.role));
	t.max_uses = (unsigned)sqlite3_column_int64(st, 3);
	t.uses = (unsigned)sqlite3_column_int64(st, 4);
	t.expires = sqlite3_column_int64(st, 5);
	t.revoked = sqlite3_column_int64(st, 6);
	labels = json_loads((const char *)sqlite3_column_text(st, 8), 0, NULL);
	*ret = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:o*}",
			 "id", t.id, "site", t.site, "role", t.role, "max_uses",
			 (json_int_t)t.max_uses, "uses", (json_int_t)t.uses,
			 "created", (json_int_t)sqlite3_column_int64(st, 7),
			 "expires", (json_int_t)t.expires, "revoked",
			 (json_int_t)t.revoked, "state",
			 db_token_state_to_string(db_token_state(&t, now)),
			 "labels", labels);
	return *ret ? 0 : -ENOMEM;
}

static int
token_row_json(sqlite3_stmt *st, void *userdata, json_t **ret)
{
	return token_row(st, *(const int64_t *)userdata, ret);
}

int
db_tokens_json(sqlite3 *db, const char *id, int64_t now, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT id, site, role, max_uses, uses, expires,"
		       " coalesce(revoked, 0), created, labels FROM tokens"
		       " WHERE ?1 IS NULL OR id = ?1 ORDER BY created, id",
		       &st);
	if (r < 0)
		return r;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return db_collect_json(st, token_row_json, &now, id, ret);
}

int
db_token_state_counts(sqlite3 *db, int64_t now,
		      unsigned ret[_DB_TOKEN_STATE_MAX])
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	unsigned counts[_DB_TOKEN_STATE_MAX] = {0};
	int r, rc;

	r = db_prepare(db,
		    "SELECT CASE WHEN revoked IS NOT NULL THEN 2"
		    " WHEN uses >= max_uses THEN 3"
		    " WHEN expires <= ?1 THEN 1 ELSE 0 END AS state, count(*)"
		    " FROM tokens GROUP BY state",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 0);
		if (s >= 0 && s < _DB_TOKEN_STATE_MAX)
			counts[s] = (unsigned)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		return db_errno(rc);
	memcpy(ret, counts, sizeof(counts));
	return 0;
}

