/* SPDX-License-Identifier: MIT */
/* Helpers shared by db.c, db-token.c and db-node.c; not for other modules. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

/* SQLite result code -> -errno (see db.h). */
int db_errno(int rc);
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);
/* Runs a statement that returns no rows. */
int db_step_done(sqlite3_stmt *st);
void db_copy_text(sqlite3_stmt *st, int col, char *buf, size_t size);
char *db_dup_text(sqlite3_stmt *st, int col);
/* 1 when the query (one text parameter) returns a row, 0 when not. */
int db_exists(sqlite3 *db, const char *sql, const char *param);

typedef int (*db_row_json_fn)(sqlite3_stmt *st, void *userdata,
			      json_t **ret);
/* Steps st to its end, each row made JSON by fn. one == NULL: an array
 * of every row; else the only row expected, or -ENOENT. */
int db_collect_json(sqlite3_stmt *st, db_row_json_fn fn, void *userdata,
		    const char *one, json_t **ret);
