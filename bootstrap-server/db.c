/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <time.h>

#include "db-internal.h"
#include "db.h"
#include "log.h"
#include "ossl.h"

int
db_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE sites ("
	"  name TEXT PRIMARY KEY,"
	"  prefix TEXT NOT NULL,"
	"  mode TEXT NOT NULL CHECK (mode IN ('routed', 'direct')),"
	"  gateway TEXT,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY,"
	"  site TEXT NOT NULL REFERENCES sites(name),"
	"  role TEXT NOT NULL CHECK (role IN ('node', 'gateway')),"
	"  max_uses INTEGER NOT NULL CHECK (max_uses >= 1),"
	"  uses INTEGER NOT NULL DEFAULT 0"
	"    CHECK (uses >= 0 AND uses <= max_uses),"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  revoked INTEGER,"
	"  labels TEXT NOT NULL);"
	"CREATE TABLE nodes ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  site TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  token_id TEXT NOT NULL REFERENCES tokens(id),"
	"  key_id TEXT NOT NULL UNIQUE,"
	"  vpn_addr INTEGER NOT NULL UNIQUE,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  cert TEXT NOT NULL,"
	"  hostname TEXT NOT NULL,"
	"  facts TEXT NOT NULL,"
	"  labels TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  revoked INTEGER);"
	"CREATE INDEX nodes_token ON nodes(token_id);"
	"CREATE TABLE steps ("
	"  node_id INTEGER NOT NULL REFERENCES nodes(id),"
	"  step TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  started INTEGER NOT NULL,"
	"  duration_ms INTEGER NOT NULL,"
	"  message TEXT NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (node_id, step));"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  token_id TEXT,"
	"  node TEXT,"
	"  detail TEXT);",
};

static int
exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		log_debug("sqlite: %s", sqlite3_errmsg(db));
	return db_errno(rc);
}

int
db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, ret, NULL);

	if (rc != SQLITE_OK)
		log_debug("sqlite prepare: %s", sqlite3_errmsg(db));
	return db_errno(rc);
}

/* Runs a statement that returns no rows. */
int
db_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_ROW)
		return -EIO;
	return db_errno(rc);
}

int
db_migrate(sqlite3 *db)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int version, r;
	size_t i;

	r = db_prepare(db, "PRAGMA user_version", &st);
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return -EIO;
	version = sqlite3_column_int(st, 0);
	if (version > (int)ELEMENTSOF(migrations))
		return log_error_errno(EPROTO,
				       "database schema %d is newer than this "
				       "program knows (%zu)",
				       version, ELEMENTSOF(migrations));
	for (i = (size_t)version; i < ELEMENTSOF(migrations); i++) {
		char sql[64];

		r = db_begin(db);
		if (r < 0)
			return r;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		if ((r = exec(db, migrations[i])) < 0 ||
		    (r = exec(db, sql)) < 0) {
			db_rollback(db);
			return r;
		}
		r = db_commit(db);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
db_setup(sqlite3 *db)
{
	int r;

	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 1);
	r = exec(db, "PRAGMA journal_mode = WAL;"
		     "PRAGMA synchronous = FULL;"
		     "PRAGMA foreign_keys = ON;"
		     "PRAGMA trusted_schema = OFF;");
	if (r < 0)
		return r;
	return db_migrate(db);
}

int
db_open(const char *path, sqlite3 **ret)
{
	sqlite3 *db = NULL;
	int rc, r;

	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = db_errno(rc);
		log_error("cannot open database %s: %s", path,
			  db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return r;
	}
	r = db_setup(db);
	if (r < 0) {
		log_error("cannot set up database %s: %s", path,
			  sqlite3_errmsg(db));
		sqlite3_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

int
db_open_memory(sqlite3 **ret)
{
	sqlite3 *db = NULL;
	int r;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
		sqlite3_close(db);
		return -ENOMEM;
	}
	r = db_setup(db);
	if (r < 0) {
		sqlite3_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

int
db_begin(sqlite3 *db)
{
	return exec(db, "BEGIN IMMEDIATE");
}

int
db_commit(sqlite3 *db)
{
	int r = exec(db, "COMMIT");

	if (r < 0)
		db_rollback(db);
	return r;
}

void
db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		(void)exec(db, "ROLLBACK");
}

void
db_copy_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

char *
db_dup_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return strdup(t ? (const char *)t : "");
}

int
db_exists(sqlite3 *db, const char *sql, const char *param)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = db_prepare(db, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int
db_collect_json(sqlite3_stmt *st, db_row_json_fn fn, void *userdata,
		const char *one, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *a = json_array();
	int r, rc;

	if (!a)
		return -ENOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o;
		r = fn(st, userdata, &o);
		if (r < 0)
			return r;
		if (json_array_append_new(a, o) < 0)
			return -ENOMEM;
	}
	if (rc != SQLITE_DONE)
		return db_errno(rc);
	if (one) {
		if (json_array_size(a) == 0)
			return -ENOENT;
		*ret = json_incref(json_array_get(a, 0));
		return 0;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* --- sites --------------------------------------------------------------- */

int
db_site_add(sqlite3 *db, const char *name, const char *prefix,
	    const char *mode, const char *gateway, int64_t now)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		    "INSERT INTO sites (name, prefix, mode, gateway, created)"
		    " VALUES (?, ?, ?, ?, ?)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, mode, -1, SQLITE_STATIC);
	if (gateway)
		sqlite3_bind_text(st, 4, gateway, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, now);
	return db_step_done(st);
}

int
db_site_exists(sqlite3 *db, const char *name)
{
	return db_exists(db, "SELECT 1 FROM sites WHERE name = ?", name);
}

static int
site_row(sqlite3_stmt *st, void *userdata, json_t **ret)
{
	*ret = json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I}", "name",
			 sqlite3_column_text(st, 0), "prefix",
			 sqlite3_column_text(st, 1), "mode",
			 sqlite3_column_text(st, 2), "gateway",
			 sqlite3_column_text(st, 3), "created",
			 (json_int_t)sqlite3_column_int64(st, 4), "nodes",
			 (json_int_t)sqlite3_column_int64(st, 5));
	return *ret ? 0 : -ENOMEM;
}

int
db_sites_json(sqlite3 *db, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT s.name, s.prefix, s.mode, s.gateway, s.created,"
		       " (SELECT count(*) FROM nodes n WHERE n.site = s.name"
		       "  AND n.revoked IS NULL)"
		       " FROM sites s ORDER BY s.name",
		       &st);
	if (r < 0)
		return r;
	return db_collect_json(st, site_row, NULL, NULL, ret);
}

/* --- steps and events ---------------------------------------------------- */

int
db_step_record(sqlite3 *db, int64_t node_id, const char *step,
	       const char *state, int64_t started, int64_t duration_ms,
	       const char *message, int64_t now)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		    "INSERT INTO steps (node_id, step, state, started,"
		    " duration_ms, message, updated) VALUES (?, ?, ?, ?, ?, ?, ?)"
		    " ON CONFLICT (node_id, step) DO UPDATE SET"
		    " state = excluded.state, started = excluded.started,"
		    " duration_ms = excluded.duration_ms,"
		    " message = excluded.message, updated = excluded.updated",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, node_id);
	sqlite3_bind_text(st, 2, step, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, started);
	sqlite3_bind_int64(st, 5, duration_ms);
	sqlite3_bind_text(st, 6, message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	return db_step_done(st);
}

int
db_event(sqlite3 *db, const char *kind, const char *token_id,
	 const char *node, const char *detail)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		    "INSERT INTO events (time, kind, token_id, node, detail)"
		    " VALUES (?, ?, ?, ?, ?)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (int64_t)time(NULL));
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, token_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	return db_step_done(st);
}
