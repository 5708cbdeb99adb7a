/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <time.h>

#include "db.h"
#include "log.h"
#include "ossl.h"

static int
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

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, ret, NULL);

	if (rc != SQLITE_OK)
		log_debug("sqlite prepare: %s", sqlite3_errmsg(db));
	return db_errno(rc);
}

/* Runs a statement that returns no rows. */
static int
step_done(sqlite3_stmt *st)
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

	r = prepare(db, "PRAGMA user_version", &st);
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

static void
copy_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

static char *
dup_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return strdup(t ? (const char *)t : "");
}

/* --- sites --------------------------------------------------------------- */

int
db_site_add(sqlite3 *db, const char *name, const char *prefix,
	    const char *mode, const char *gateway, int64_t now)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db,
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
	return step_done(st);
}

int
db_site_exists(sqlite3 *db, const char *name)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, "SELECT 1 FROM sites WHERE name = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int
db_sites_json(sqlite3 *db, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_(json_decrefp) json_t *a = json_array();
	int r, rc;

	if (!a)
		return -ENOMEM;
	r = prepare(db,
		    "SELECT s.name, s.prefix, s.mode, s.gateway, s.created,"
		    " (SELECT count(*) FROM nodes n WHERE n.site = s.name"
		    "  AND n.revoked IS NULL)"
		    " FROM sites s ORDER BY s.name",
		    &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:s?, s:I, s:I}", "name",
			sqlite3_column_text(st, 0), "prefix",
			sqlite3_column_text(st, 1), "mode",
			sqlite3_column_text(st, 2), "gateway",
			sqlite3_column_text(st, 3), "created",
			(json_int_t)sqlite3_column_int64(st, 4), "nodes",
			(json_int_t)sqlite3_column_int64(st, 5));
		if (!o || json_array_append_new(a, o) < 0)
			return -ENOMEM;
	}
	if (rc != SQLITE_DONE)
		return db_errno(rc);
	*ret = TAKE_PTR(a);
	return 0;
}

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
	r = prepare(db,
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
	return step_done(st);
}

int
db_token_get(sqlite3 *db, const char *id, struct db_token *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct db_token t = {0};
	int r, rc;

	r = prepare(db,
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
	copy_text(st, 0, t.id, sizeof(t.id));
	copy_text(st, 1, t.site, sizeof(t.site));
	copy_text(st, 2, t.role, sizeof(t.role));
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
	r = prepare(db, "UPDATE tokens SET revoked = ? WHERE id = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	return step_done(st);
}

int
db_token_use(sqlite3 *db, const char *id)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db,
		    "UPDATE tokens SET uses = uses + 1"
		    " WHERE id = ? AND uses < max_uses",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = step_done(st);
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

	copy_text(st, 0, t.id, sizeof(t.id));
	copy_text(st, 1, t.site, sizeof(t.site));
	copy_text(st, 2, t.role, sizeof(t.role));
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

int
db_tokens_json(sqlite3 *db, const char *id, int64_t now, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_(json_decrefp) json_t *a = json_array();
	int r, rc;

	if (!a)
		return -ENOMEM;
	r = prepare(db,
		    "SELECT id, site, role, max_uses, uses, expires,"
		    " coalesce(revoked, 0), created, labels FROM tokens"
		    " WHERE ?1 IS NULL OR id = ?1 ORDER BY created, id",
		    &st);
	if (r < 0)
		return r;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o;
		r = token_row(st, now, &o);
		if (r < 0 || json_array_append_new(a, o) < 0)
			return -ENOMEM;
	}
	if (rc != SQLITE_DONE)
		return db_errno(rc);
	if (id) {
		if (json_array_size(a) == 0)
			return -ENOENT;
		*ret = json_incref(json_array_get(a, 0));
		return 0;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

int
db_token_state_counts(sqlite3 *db, int64_t now,
		      unsigned ret[_DB_TOKEN_STATE_MAX])
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	unsigned counts[_DB_TOKEN_STATE_MAX] = {0};
	int r, rc;

	r = prepare(db,
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

/* --- nodes --------------------------------------------------------------- */

#define NODE_COLUMNS                                                           \
	"id, name, site, role, token_id, key_id, serial, vpn_addr, created,"  \
	" coalesce(revoked, 0), cert, labels"

void
db_node_done(struct db_node *n)
{
	free(n->cert);
	free(n->labels);
	n->cert = n->labels = NULL;
}

static int
node_from_row(sqlite3_stmt *st, struct db_node *ret)
{
	struct db_node n = {0};

	n.id = sqlite3_column_int64(st, 0);
	copy_text(st, 1, n.name, sizeof(n.name));
	copy_text(st, 2, n.site, sizeof(n.site));
	copy_text(st, 3, n.role, sizeof(n.role));
	copy_text(st, 4, n.token_id, sizeof(n.token_id));
	copy_text(st, 5, n.key_id, sizeof(n.key_id));
	copy_text(st, 6, n.serial, sizeof(n.serial));
	n.vpn_addr = (uint32_t)sqlite3_column_int64(st, 7);
	n.created = sqlite3_column_int64(st, 8);
	n.revoked = sqlite3_column_int64(st, 9);
	n.cert = dup_text(st, 10);
	n.labels = dup_text(st, 11);
	if (!n.cert || !n.labels) {
		db_node_done(&n);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

static int
node_by(sqlite3 *db, const char *column, const char *value,
	struct db_node *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	char sql[256];
	int r, rc;

	snprintf(sql, sizeof(sql), "SELECT " NODE_COLUMNS
		 " FROM nodes WHERE %s = ?", column);
	r = prepare(db, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_errno(rc);
	return node_from_row(st, ret);
}

int
db_node_by_key(sqlite3 *db, const char *key_id, struct db_node *ret)
{
	return node_by(db, "key_id", key_id, ret);
}

int
db_node_by_name(sqlite3 *db, const char *name, struct db_node *ret)
{
	return node_by(db, "name", name, ret);
}

int
db_node_by_serial(sqlite3 *db, const char *serial, struct db_node *ret)
{
	return node_by(db, "serial", serial, ret);
}

int
db_node_name_taken(sqlite3 *db, const char *name)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, "SELECT 1 FROM nodes WHERE name = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int
query_u32(sqlite3 *db, const char *sql, int64_t a, int64_t b, int *ret_found,
	  uint32_t *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_errno(rc);
	*ret_found = rc == SQLITE_ROW &&
		     sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (*ret_found)
		*ret = (uint32_t)sqlite3_column_int64(st, 0);
	return 0;
}

int
db_alloc_vpn_addr(sqlite3 *db, const struct ipnet *net, uint32_t *ret)
{
	uint32_t first = ipnet_first_node(net), last = ipnet_last_node(net);
	uint32_t a;
	int found, r;

	if (first > last)
		return -ENOSPC;
	/* Addresses of revoked nodes stay taken: a revoked node's session
	 * may linger until OpenVPN notices, and reuse would confuse logs. */
	r = query_u32(db,
		      "SELECT max(vpn_addr) FROM nodes"
		      " WHERE vpn_addr BETWEEN ?1 AND ?2",
		      first, last, &found, &a);
	if (r < 0)
		return r;
	if (!found) {
		*ret = first;
		return 0;
	}
	if (a < last) {
		*ret = a + 1;
		return 0;
	}
	/* The top is taken: look for the lowest gap. */
	r = query_u32(db,
		      "SELECT ?1 WHERE NOT EXISTS"
		      " (SELECT 1 FROM nodes WHERE vpn_addr = ?1)"
		      " UNION ALL SELECT vpn_addr + 1 FROM nodes n"
		      " WHERE vpn_addr BETWEEN ?1 AND ?2 - 1 AND NOT EXISTS"
		      " (SELECT 1 FROM nodes m WHERE m.vpn_addr = n.vpn_addr + 1)"
		      " ORDER BY 1 LIMIT 1",
		      first, last, &found, &a);
	if (r < 0)
		return r;
	if (!found)
		return -ENOSPC;
	*ret = a;
	return 0;
}

int
db_node_insert(sqlite3 *db, struct db_node *n, const char *hostname,
	       const char *facts_json)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db,
		    "INSERT INTO nodes (name, site, role, token_id, key_id,"
		    " serial, vpn_addr, created, cert, labels, hostname, facts)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, n->site, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, n->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, n->token_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, n->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, n->serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, n->vpn_addr);
	sqlite3_bind_int64(st, 8, n->created);
	sqlite3_bind_text(st, 9, n->cert, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, n->labels, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, facts_json, -1, SQLITE_STATIC);
	r = step_done(st);
	if (r < 0)
		return r;
	n->id = sqlite3_last_insert_rowid(db);
	return 0;
}

int
db_node_revoke(sqlite3 *db, const char *name, int64_t now,
	       struct db_node *ret_node)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	struct db_node n;
	int r;

	r = db_node_by_name(db, name, &n);
	if (r < 0)
		return r;
	if (n.revoked) {
		*ret_node = n;
		return -EALREADY;
	}
	r = prepare(db, "UPDATE nodes SET revoked = ? WHERE id = ?", &st);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, n.id);
		r = step_done(st);
	}
	if (r < 0) {
		db_node_done(&n);
		return r;
	}
	n.revoked = now;
	*ret_node = n;
	return 0;
}

int
db_nodes_foreach(sqlite3 *db, int (*cb)(const struct db_node *n, void *u),
		 void *userdata)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = prepare(db, "SELECT " NODE_COLUMNS " FROM nodes ORDER BY id", &st);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct db_node n;
		r = node_from_row(st, &n);
		if (r < 0)
			return r;
		r = cb(&n, userdata);
		db_node_done(&n);
		if (r < 0)
			return r;
	}
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

unsigned
db_nodes_active_count(sqlite3 *db)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

	if (prepare(db, "SELECT count(*) FROM nodes WHERE revoked IS NULL",
		    &st) < 0 ||
	    sqlite3_step(st) != SQLITE_ROW)
		return 0;
	return (unsigned)sqlite3_column_int64(st, 0);
}

static int
steps_json(sqlite3 *db, int64_t node_id, json_t **ret_steps,
	   const char **ret_current)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_(json_decrefp) json_t *a = json_array();
	int r, rc;

	if (!a)
		return -ENOMEM;
	r = prepare(db,
		    "SELECT step, state, started, duration_ms, message, updated"
		    " FROM steps WHERE node_id = ? ORDER BY instr('preflight enroll "
		    "packages host network gate join done', step)",
		    &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, node_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_pack(
			"{s:s, s:s, s:I, s:I, s:s, s:I}", "step",
			sqlite3_column_text(st, 0), "state",
			sqlite3_column_text(st, 1), "started",
			(json_int_t)sqlite3_column_int64(st, 2), "duration_ms",
			(json_int_t)sqlite3_column_int64(st, 3), "message",
			sqlite3_column_text(st, 4), "updated",
			(json_int_t)sqlite3_column_int64(st, 5));
		if (!o || json_array_append_new(a, o) < 0)
			return -ENOMEM;
	}
	if (rc != SQLITE_DONE)
		return db_errno(rc);
	*ret_steps = TAKE_PTR(a);
	(void)ret_current;
	return 0;
}

static int
node_json(sqlite3 *db, sqlite3_stmt *st, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *steps = NULL;
	json_t *last, *o;
	char addr[16];
	int r;

	r = steps_json(db, sqlite3_column_int64(st, 0), &steps, NULL);
	if (r < 0)
		return r;
	ipnet_format_addr((uint32_t)sqlite3_column_int64(st, 7), addr);
	last = json_array_get(steps, json_array_size(steps) - 1);
	o = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:o*, s:o*,"
		" s:s?, s:s?, s:O}",
		"name", sqlite3_column_text(st, 1), "site",
		sqlite3_column_text(st, 2), "role", sqlite3_column_text(st, 3),
		"token", sqlite3_column_text(st, 4), "serial",
		sqlite3_column_text(st, 6), "vpn_address", addr, "created",
		(json_int_t)sqlite3_column_int64(st, 8), "revoked",
		(json_int_t)sqlite3_column_int64(st, 9), "hostname",
		sqlite3_column_text(st, 12), "labels",
		json_loads((const char *)sqlite3_column_text(st, 11), 0, NULL),
		"facts",
		json_loads((const char *)sqlite3_column_text(st, 13), 0, NULL),
		"step", last ? json_string_value(json_object_get(last, "step"))
			     : NULL,
		"step_state",
		last ? json_string_value(json_object_get(last, "state"))
		     : NULL,
		"steps", steps);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

int
db_nodes_json(sqlite3 *db, const char *name, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	_cleanup_(json_decrefp) json_t *a = json_array();
	int r, rc;

	if (!a)
		return -ENOMEM;
	r = prepare(db,
		    "SELECT " NODE_COLUMNS ", hostname, facts FROM nodes"
		    " WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
		    &st);
	if (r < 0)
		return r;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o;
		r = node_json(db, st, &o);
		if (r < 0 || json_array_append_new(a, o) < 0)
			return r < 0 ? r : -ENOMEM;
	}
	if (rc != SQLITE_DONE)
		return db_errno(rc);
	if (name) {
		if (json_array_size(a) == 0)
			return -ENOENT;
		*ret = json_incref(json_array_get(a, 0));
		return 0;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

/* --- steps and events ---------------------------------------------------- */

int
db_step_record(sqlite3 *db, int64_t node_id, const char *step,
	       const char *state, int64_t started, int64_t duration_ms,
	       const char *message, int64_t now)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db,
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
	return step_done(st);
}

int
db_event(sqlite3 *db, const char *kind, const char *token_id,
	 const char *node, const char *detail)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = prepare(db,
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
	return step_done(st);
}
