/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "db-internal.h"
#include "db.h"
#include "log.h"
#include "ossl.h"

/* --- nodes --------------------------------------------------------------- */

#define NODE_COLUMNS                                                           \
	"id, name, site, role, token_id, key_id, serial, vpn_addr, created,"   \
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
	db_copy_text(st, 1, n.name, sizeof(n.name));
	db_copy_text(st, 2, n.site, sizeof(n.site));
	db_copy_text(st, 3, n.role, sizeof(n.role));
	db_copy_text(st, 4, n.token_id, sizeof(n.token_id));
	db_copy_text(st, 5, n.key_id, sizeof(n.key_id));
	db_copy_text(st, 6, n.serial, sizeof(n.serial));
	n.vpn_addr = (uint32_t)sqlite3_column_int64(st, 7);
	n.created = sqlite3_column_int64(st, 8);
	n.revoked = sqlite3_column_int64(st, 9);
	n.cert = db_dup_text(st, 10);
	n.labels = db_dup_text(st, 11);
	if (!n.cert || !n.labels) {
		db_node_done(&n);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

static int
node_by(sqlite3 *db, const char *column, const char *value, struct db_node *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	char sql[256];
	int r, rc;

	snprintf(sql, sizeof(sql),
		 "SELECT " NODE_COLUMNS " FROM nodes WHERE %s = ?", column);
	r = db_prepare(db, sql, &st);
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
	return db_exists(db, "SELECT 1 FROM nodes WHERE name = ?", name);
}

static int
query_u32(sqlite3 *db, const char *sql, int64_t a, int64_t b, int *ret_found,
	  uint32_t *ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = db_prepare(db, sql, &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_errno(rc);
	*ret_found =
		rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
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
	r = query_u32(
		db,
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

	r = db_prepare(
		db,
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
	r = db_step_done(st);
	if (r < 0)
		return r;
	n->id = sqlite3_last_insert_rowid(db);
	return 0;
}

int
db_node_set_facts(sqlite3 *db, int64_t id, const char *hostname,
		  const char *facts_json)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "UPDATE nodes SET hostname = ?, facts = ? WHERE id = ?",
		       &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, facts_json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, id);
	return db_step_done(st);
}

int
db_node_facts(sqlite3 *db, int64_t id, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r, rc;

	r = db_prepare(db, "SELECT facts FROM nodes WHERE id = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_errno(rc);
	*ret = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	return *ret ? 0 : -EBADMSG;
}

int
db_node_set_cert(sqlite3 *db, int64_t id, const char *serial, const char *cert)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db, "UPDATE nodes SET serial = ?, cert = ? WHERE id = ?",
		       &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, cert, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, id);
	r = db_step_done(st);
	if (r < 0)
		return r;
	return sqlite3_changes(db) == 1 ? 0 : -ENOENT;
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
	r = db_prepare(db, "UPDATE nodes SET revoked = ? WHERE id = ?", &st);
	if (r >= 0) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, n.id);
		r = db_step_done(st);
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

	r = db_prepare(db, "SELECT " NODE_COLUMNS " FROM nodes ORDER BY id",
		       &st);
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

	if (db_prepare(db, "SELECT count(*) FROM nodes WHERE revoked IS NULL",
		       &st) < 0 ||
	    sqlite3_step(st) != SQLITE_ROW)
		return 0;
	return (unsigned)sqlite3_column_int64(st, 0);
}

static int
step_row(sqlite3_stmt *st, void *userdata, json_t **ret)
{
	*ret = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I}", "step",
			 sqlite3_column_text(st, 0), "state",
			 sqlite3_column_text(st, 1), "started",
			 (json_int_t)sqlite3_column_int64(st, 2), "duration_ms",
			 (json_int_t)sqlite3_column_int64(st, 3), "message",
			 sqlite3_column_text(st, 4), "updated",
			 (json_int_t)sqlite3_column_int64(st, 5));
	return *ret ? 0 : -ENOMEM;
}

static int
steps_json(sqlite3 *db, int64_t node_id, json_t **ret_steps)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT step, state, started, duration_ms, message,"
		       " updated FROM steps WHERE node_id = ? ORDER BY"
		       " instr('preflight enroll packages host network gate"
		       " join done', step)",
		       &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, node_id);
	return db_collect_json(st, step_row, NULL, NULL, ret_steps);
}

static int
node_json(sqlite3 *db, sqlite3_stmt *st, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *steps = NULL;
	json_t *last, *o;
	char addr[16];
	int r;

	r = steps_json(db, sqlite3_column_int64(st, 0), &steps);
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
		"step",
		last ? json_string_value(json_object_get(last, "step")) : NULL,
		"step_state",
		last ? json_string_value(json_object_get(last, "state")) : NULL,
		"steps", steps);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static int
node_row(sqlite3_stmt *st, void *userdata, json_t **ret)
{
	return node_json(userdata, st, ret);
}

int
db_nodes_json(sqlite3 *db, const char *name, json_t **ret)
{
	_cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
	int r;

	r = db_prepare(db,
		       "SELECT " NODE_COLUMNS ", hostname, facts FROM nodes"
		       " WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
		       &st);
	if (r < 0)
		return r;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	return db_collect_json(st, node_row, db, name, ret);
}
