/* SPDX-License-Identifier: MIT */
/* The server's SQLite database: WAL, synchronous=FULL, foreign keys,
 * prepared statements only, user_version migrations. Every function maps
 * SQLite's result codes to -errno once: -ENOENT no row, -EEXIST constraint,
 * -EBUSY locked, -ENOSPC full, -EIO anything else. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "ipalloc.h"
#include "token.h"

struct db_token {
	char id[65];
	char site[64];
	char role[16];
	unsigned max_uses;
	unsigned uses;
	int64_t expires;
	int64_t revoked; /* 0 when not revoked */
};

struct db_node {
	int64_t id;
	char name[64];
	char site[64];
	char role[16];
	char token_id[65];
	char key_id[65];
	char serial[65]; /* uppercase hex */
	uint32_t vpn_addr;
	int64_t created;
	int64_t revoked;
	char *cert;   /* PEM */
	char *labels; /* JSON object */
};

enum db_token_state {
	DB_TOKEN_ACTIVE,
	DB_TOKEN_EXPIRED,
	DB_TOKEN_REVOKED,
	DB_TOKEN_EXHAUSTED,
	_DB_TOKEN_STATE_MAX,
};

int db_open(const char *path, sqlite3 **ret);
int db_open_memory(sqlite3 **ret); /* for tests */
int db_migrate(sqlite3 *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);

int db_site_add(sqlite3 *db, const char *name, const char *prefix,
		const char *mode, const char *gateway, int64_t now);
int db_site_exists(sqlite3 *db, const char *name);
int db_sites_json(sqlite3 *db, json_t **ret);

int db_token_insert(sqlite3 *db, const struct token_claims *c, int64_t now);
int db_token_get(sqlite3 *db, const char *id, struct db_token *ret);
/* -ENOENT unknown, -EALREADY already revoked. */
int db_token_revoke(sqlite3 *db, const char *id, int64_t now);
/* uses += 1 while uses < max; -EDQUOT when exhausted. */
int db_token_use(sqlite3 *db, const char *id);
enum db_token_state db_token_state(const struct db_token *t, int64_t now);
const char *db_token_state_to_string(enum db_token_state s);
/* id NULL: every token; else one (-ENOENT). */
int db_tokens_json(sqlite3 *db, const char *id, int64_t now, json_t **ret);
int db_token_state_counts(sqlite3 *db, int64_t now,
			  unsigned ret[_DB_TOKEN_STATE_MAX]);

void db_node_done(struct db_node *n);
int db_node_by_key(sqlite3 *db, const char *key_id, struct db_node *ret);
int db_node_by_name(sqlite3 *db, const char *name, struct db_node *ret);
int db_node_by_serial(sqlite3 *db, const char *serial, struct db_node *ret);
int db_node_name_taken(sqlite3 *db, const char *name);
/* Lowest free node address of the network; -ENOSPC when full. */
int db_alloc_vpn_addr(sqlite3 *db, const struct ipnet *net, uint32_t *ret);
/* Inserts n (id set on return), with hostname/facts kept for node show. */
int db_node_insert(sqlite3 *db, struct db_node *n, const char *hostname,
		   const char *facts_json);
/* What a repeat enrollment reports now replaces what was kept. */
int db_node_set_facts(sqlite3 *db, int64_t id, const char *hostname,
		      const char *facts_json);
/* The facts the node reported at enrollment, as JSON. */
int db_node_facts(sqlite3 *db, int64_t id, json_t **ret);
int db_node_set_cert(sqlite3 *db, int64_t id, const char *serial,
		     const char *cert);
/* -ENOENT unknown, -EALREADY already revoked; *ret_node filled. */
int db_node_revoke(sqlite3 *db, const char *name, int64_t now,
		   struct db_node *ret_node);
int db_nodes_json(sqlite3 *db, const char *name, json_t **ret);
/* Callback per node, revoked or not; used to reconcile files. */
int db_nodes_foreach(sqlite3 *db,
		     int (*cb)(const struct db_node *n, void *userdata),
		     void *userdata);
unsigned db_nodes_active_count(sqlite3 *db);

int db_step_record(sqlite3 *db, int64_t node_id, const char *step,
		   const char *state, int64_t started, int64_t duration_ms,
		   const char *message, int64_t now);
int db_event(sqlite3 *db, const char *kind, const char *token_id,
	     const char *node, const char *detail);
