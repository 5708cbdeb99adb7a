/* SPDX-License-Identifier: MIT */
/* Helpers shared by db.c, db-token.c and db-node.c; not for other modules. */
#pragma once

#include <sqlite3.h>
#include <stddef.h>

/* SQLite result code -> -errno (see db.h). */
int db_errno(int rc);
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);
/* Runs a statement that returns no rows. */
int db_step_done(sqlite3_stmt *st);
void db_copy_text(sqlite3_stmt *st, int col, char *buf, size_t size);
char *db_dup_text(sqlite3_stmt *st, int col);
