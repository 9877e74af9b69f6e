/*
 * The PostgreSQL engine (libpq), private to store/. db.c and stmt.c call
 * it when struct store's engine is ST_POSTGRES; the entity files never
 * do. Statements are written with SQLite's ?N parameters and turned into
 * $N here; each cached statement is prepared on the server once per
 * connection.
 */
#ifndef SSHGATE_STORE_PG_H
#define SSHGATE_STORE_PG_H

#include "store/internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Does --db name a PostgreSQL server: a postgresql:// or postgres:// URI
 * or a libpq key=value string ("host=... dbname=...")? */
bool st_pg_is_target(const char *target);

/* Connect st (engine ST_POSTGRES) to target with sshgate's defaults
 * (connect and TCP timeouts, application_name) under whatever target
 * sets itself. Sets st->path to a name without the password. */
int st_pg_connect(struct store *st, const char *target);
void st_pg_close(struct store *st);

/* How long a statement waits for a lock (lock_timeout) before it fails
 * with ST_BUSY. */
void st_pg_set_lock_timeout(struct store *st, int ms);

/* The last error's message, for st_fail. */
const char *st_pg_errmsg(struct store *st);

/* Set stmt up for stmt->sql: named (prepared on the server at its first
 * step, once per connection) when cached, unnamed otherwise. */
int st_pg_prepare(struct store *st, struct st_stmt *stmt, bool cached);
/* Forget the bindings and the result: ready to bind and step again. */
void st_pg_reset(struct st_stmt *stmt);
void st_pg_finalize(struct st_stmt *stmt);

/* Bind parameter idx (1-based) as text; NULL binds SQL NULL. */
int st_pg_bind(struct st_stmt *stmt, int idx, const char *text);
int st_pg_param_count(struct st_stmt *stmt);
/* Run the statement at the first call, then hand out its rows. */
int st_pg_step(struct st_stmt *stmt);
const char *st_pg_col_text(struct st_stmt *stmt, int col);
size_t st_pg_col_bytes(struct st_stmt *stmt, int col);
int st_pg_col_count(struct st_stmt *stmt);

int64_t st_pg_changes(struct store *st);
int st_pg_last_insert_id(struct store *st, int64_t *id);
bool st_pg_in_transaction(struct store *st);

/* Run SQL without parameters (one or more statements); an st_code. */
int st_pg_exec(struct store *st, const char *sql);

#endif
