/* Private to store/: the connection and helpers shared by the entity files. */
#ifndef SSHGATE_STORE_INTERNAL_H
#define SSHGATE_STORE_INTERNAL_H

#include "core/crypto.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "store/db.h"
#include "store/open.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Statements kept prepared per handle: parsing SQL was a fifth of the
 * daemon's CPU time per login before (each login and session writes a few
 * events). Enough for every statement of a login and a session. */
#define ST_CACHE_MAX 48

/* The two engines. Only db.c, stmt.c, sqlite.c and pg.c look at which
 * one runs; the entity files write SQL that both accept, or pick one of
 * two texts with ST_SQL. */
enum st_engine { ST_SQLITE, ST_POSTGRES };

struct sqlite3;
struct sqlite3_stmt;
struct st_pg;      /* pg.c: the connection and its last error */
struct st_pg_stmt; /* pg.c: a statement's parameters and result */

/* Result codes of st_step and the binds, numbered as SQLite numbers them
 * so that the SQLite engine passes its own through; the PostgreSQL
 * engine maps SQLSTATEs onto them (pg.c). */
enum st_code {
    ST_OK = 0,
    ST_ERROR = 1,
    ST_PERM = 3,
    ST_BUSY = 5, /* a lock or statement timeout ran out */
    ST_LOCKED = 6,
    ST_READONLY = 8,
    ST_IOERR = 10, /* the database is unreachable, read-only or full */
    ST_FULL = 13,
    ST_CANTOPEN = 14,
    ST_CONSTRAINT = 19,
    ST_NOTADB = 26,
    ST_ROW = 100,
    ST_DONE = 101,
    ST_CONSTRAINT_UNIQUE = 19 | (8 << 8),
};

/* A prepared statement of either engine. */
struct st_stmt {
    struct store *st;
    const char *sql; /* the string literal it was prepared from */
    struct sqlite3_stmt *lite;
    struct st_pg_stmt *pg;
};

struct st_cached {
    struct st_stmt stmt;
    bool in_use;
};

struct store {
    enum st_engine engine;
    struct sqlite3 *db; /* ST_SQLITE */
    struct st_pg *pg;   /* ST_POSTGRES */
    char *path;         /* what messages name: the file, or the server without
                         * its password */
    struct st_cached cache[ST_CACHE_MAX];
    int ncache;
    int tx_depth; /* store_begin nesting: 1 is the transaction itself */
};

/* The SQL text for the engine that runs: most statements are one text
 * both accept; where they differ, ST_SQL(st, "sqlite", "postgres"). */
#define ST_SQL(st, lite_sql, pg_sql) \
    ((st)->engine == ST_POSTGRES ? (pg_sql) : (lite_sql))

/* ---- stmt.c: statements of either engine -------------------------------
 * The same shapes as SQLite's API (1-based parameters, 0-based columns),
 * so that the entity files read as they did. */
int st_step(struct st_stmt *stmt);
int st_bind_int64(struct st_stmt *stmt, int idx, int64_t value);
int st_bind_int(struct st_stmt *stmt, int idx, int value);
int st_bind_null(struct st_stmt *stmt, int idx);
/* Bind len bytes of text (not NUL-terminated). */
int st_bind_text_n(struct st_stmt *stmt, int idx, const char *text, size_t len);
/* Bind a LIMIT: limit rows, or all of them when limit <= 0 (-1 to
 * SQLite, NULL to PostgreSQL). */
int st_bind_limit(struct st_stmt *stmt, int idx, int64_t limit);
/* How many parameters the statement takes (its highest ?N). */
int st_param_count(struct st_stmt *stmt);
int64_t st_col_int64(struct st_stmt *stmt, int col);
int st_col_int(struct st_stmt *stmt, int col);
/* NULL for SQL NULL; valid until the next step or st_done. */
const char *st_col_text(struct st_stmt *stmt, int col);
size_t st_col_bytes(struct st_stmt *stmt, int col);
bool st_col_is_null(struct st_stmt *stmt, int col);
int st_col_count(struct st_stmt *stmt);
/* Rows the last INSERT, UPDATE or DELETE changed. */
int64_t st_changes(struct store *st);
/* The id the last INSERT of this handle gave its row. */
int st_last_insert_id(struct store *st, int64_t *id);
/* True while a transaction is open on the handle (SQLite's
 * !sqlite3_get_autocommit). */
bool st_in_transaction(struct store *st);
/* Run SQL text of one or more statements without parameters (the
 * migrations; constants of ours, never user input). */
int st_exec_script(struct store *st, const char *sql, const char *what);
/* A read transaction over one snapshot of the database (audit verify):
 * st_end_read ends it. */
int st_begin_read(struct store *st);
void st_end_read(struct store *st);

/*
 * Open the database file (creating it with mode 0600 under
 * STORE_OPEN_CREATE) and set the connection's pragmas, without touching
 * the schema: store_open is this plus st_migrate. Same statuses as
 * store_open short of GW_ERR_SCHEMA.
 */
int st_connect(const char *path, int flags, struct store **out);

/* Prepare sql (a string literal: the cache keys on its address and text);
 * on failure record the SQLite message. Give the statement back with
 * st_done. */
int st_prepare(struct store *st, const char *sql, struct st_stmt **stmt);

/* Done with a statement from st_prepare: reset and kept for the next
 * st_prepare of the same SQL, or finalized. NULL is fine. */
void st_done(struct store *st, struct st_stmt *stmt);

/* Map an st_code to a GW status with the engine's detail message. */
int st_fail(struct store *st, int code, const char *what);

/* Run a statement that returns no rows; finalizes it. */
int st_exec_stmt(struct store *st, struct st_stmt *stmt, const char *what);

/*
 * Step an INSERT and finalize it. GW_OK with *id (if not NULL) set to the
 * new row id; GW_ERR_EXISTS without a message on a UNIQUE violation (the
 * caller names what exists); otherwise the st_fail status.
 */
int st_insert(struct store *st, struct st_stmt *stmt, const char *what,
              int64_t *id);

/* Run fn(st, arg) in a write transaction (store_begin): committed when
 * it returns GW_OK, rolled back otherwise. Returns fn's or the commit's
 * status. */
int st_transaction(struct store *st, int (*fn)(struct store *, void *),
                   void *arg);

/* Bind text; NULL binds NULL. Returns an st_code. */
int st_bind_text(struct st_stmt *stmt, int idx, const char *text);

/* Copy a text column into a fixed buffer (empty string for NULL). */
void st_col_copy(struct st_stmt *stmt, int col, char *dst, size_t dstlen);

/* malloc'd copy of a text column, or NULL for SQL NULL / no memory. */
char *st_col_dup(struct st_stmt *stmt, int col);

/*
 * Make room for one more element in a growing array: listp points to the
 * array pointer, *cap is its capacity, count the elements in use.
 * GW_OK or GW_ERR_NOMEM (the array is left as it was).
 */
int st_grow(void *listp, size_t *cap, size_t count, size_t elem_size);

/* How st_collect turns rows into an array of elem_size elements. read
 * fills one element (leaving nothing to free when it fails); clear frees
 * what an element owns (NULL when it owns nothing). */
struct st_rows {
    size_t elem_size;
    int (*read)(struct st_stmt *stmt, void *elem);
    void (*clear)(void *elem);
    const char *what; /* "listing users", for the error message */
};

/*
 * Step stmt to the end, reading every row into a malloc'd array stored at
 * listp (a pointer to the caller's array pointer) with *n elements.
 * Finalizes stmt. On failure nothing is handed out.
 */
int st_collect(struct store *st, struct st_stmt *stmt,
               const struct st_rows *rows, void *listp, size_t *n);

/* A value for one ?N parameter of st_get_one: text (NULL binds NULL) or a
 * 64-bit integer. Write them with ST_TEXT and ST_INT64 inside ST_PARAMS. */
struct st_param {
    bool is_int;
    const char *text;
    int64_t i64;
};

#define ST_TEXT(s)  ((struct st_param){.text = (s)})
#define ST_INT64(v) ((struct st_param){.is_int = true, .i64 = (v)})

/* The parameters ?1, ?2, ... of one st_get_one call: the array and its
 * length, e.g. ST_PARAMS(ST_TEXT(user), ST_INT64(id)). */
#define ST_PARAMS(...)                                   \
    (const struct st_param[]){__VA_ARGS__},              \
        sizeof((const struct st_param[]){__VA_ARGS__}) / \
            sizeof(struct st_param)

/*
 * Read the one row a lookup returns: prepare sql (a string literal, as for
 * st_prepare), bind params to ?1, ?2, ..., step once, hand the row to
 * read_row(stmt, out) and give the statement back.
 *
 * Returns read_row's status when there is a row; GW_ERR_NOTFOUND without a
 * message when there is none (the caller names what is missing, as with
 * st_insert's GW_ERR_EXISTS; read_row must not return GW_ERR_NOTFOUND);
 * otherwise the st_prepare or st_fail status, with what in the message.
 */
int st_get_one(struct store *st, const char *sql, const struct st_param *params,
               size_t nparams, int (*read_row)(struct st_stmt *stmt, void *out),
               void *out, const char *what);

/* Row readers for st_get_one and st_rows.read that take column 0: an int,
 * an int64_t, or a malloc'd copy of its text into a char * (GW_ERR_NOMEM
 * when there is no copy, SQL NULL included: select non-NULL text only). */
int st_row_int(struct st_stmt *stmt, void *out);
int st_row_int64(struct st_stmt *stmt, void *out);
int st_row_text(struct st_stmt *stmt, void *out);

/* Run the numbered migrations up to the latest version. */
int st_migrate(struct store *st);

/* ---- events.c ---------------------------------------------------------- */

/* The highest event id ever handed out (0 if none): SQLite's
 * sqlite_sequence for AUTOINCREMENT, PostgreSQL's sshgate_event_seq.
 * Above the last row's id, the tail was deleted. */
int st_event_sequence(struct store *st, int64_t *seq);

/* An event's hash: sha256(prev_hash || id, created_at, kind, user, client,
 * detail), each field as st_hash_field writes it. */
int st_event_hash(int64_t id, const char *created_at, const char *kind,
                  const char *user, const char *client, const char *detail,
                  const char *prev_hash, char out[GW_SHA256_HEX_LEN]);

/* ---- chain.c: what binds the audit tables into the event chain -------- */

struct gw_sha256;

/* The time text of a record: at_ms (wall clock ms since the epoch), or the
 * current time when at_ms is 0. */
void st_time_text(int64_t at_ms, char out[GW_TIME_LEN]);

/* One field of a digest: "<length>:<bytes>;", or "~;" for NULL, so that
 * no choice of contents can pass for another split of the same bytes. */
int st_hash_field(struct gw_sha256 *h, const char *value);
int st_hash_field_n(struct gw_sha256 *h, const char *value, size_t len);
/* Column col of the current row as a field (integers as decimal text). */
int st_hash_column(struct gw_sha256 *h, struct st_stmt *stmt, int col);

/* row=: the digest of every column of sessions row id as it stands. */
int st_session_row_digest(struct store *st, int64_t id,
                          char out[GW_SHA256_HEX_LEN]);

/* transfers=: the chain over the session's file_transfers rows in id
 * order, as they stand, from a start that names the session (the digest
 * of none). */
int st_transfers_digest(struct store *st, int64_t session_id,
                        char out[GW_SHA256_HEX_LEN]);
/* The same, handing each (when not NULL) every state of the chain: the
 * start (row 0), then after each row (its id). */
int st_transfers_walk(struct store *st, int64_t session_id,
                      void (*each)(void *arg, int64_t row, const char *digest),
                      void *arg, char out[GW_SHA256_HEX_LEN]);

/* The start of a recording's chunk chain (and the digest of a recording
 * without chunks): its id, session, header and creation time. */
int st_recording_base(int64_t rec_id, int64_t session_id, const char *header,
                      const char *created_at, char out[GW_SHA256_HEX_LEN]);

/* A chunk's digest: sha256(prev || seq, data). out may be prev. */
int st_chunk_digest(const char *prev, int64_t seq, const char *data, size_t len,
                    char out[GW_SHA256_HEX_LEN]);

/* recording=: the digest of the session's recording now (its last
 * chunk's, or its base without chunks), and its id. GW_ERR_NOTFOUND
 * without a message when the session has no recording. */
int st_recording_tail(struct store *st, int64_t session_id, int64_t *rec_id,
                      char out[GW_SHA256_HEX_LEN]);

enum st_amend { ST_AMEND_RECORDING, ST_AMEND_TRANSFERS };

/* A recording (row 0), a chunk or a file transfer (row: its id) of
 * session_id was stored: when the session has ended already, bind the new
 * digest with a session.amend event naming the row (in the caller's
 * transaction). GW_OK when there is nothing to bind. */
int st_session_amend(struct store *st, int64_t session_id, enum st_amend what,
                     int64_t row);

/* Before a file transfer row of session_id is replaced in place: when the
 * session has ended, out gets its transfers= digest as it stands (what
 * its events bound); "" while it is open. */
int st_transfers_if_ended(struct store *st, int64_t session_id,
                          char out[GW_SHA256_HEX_LEN]);

/* File transfer row was replaced in place after the session ended (the
 * digest was `replaced` before, from st_transfers_if_ended): a
 * session.amend binds the new digest and names both (in the caller's
 * transaction). */
int st_session_amend_replaced(struct store *st, int64_t session_id, int64_t row,
                              const char *replaced);

#endif
