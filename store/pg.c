/*
 * The PostgreSQL engine: libpq under the same statement shapes as
 * SQLite's (stmt.c dispatches). Parameters go as text and the server
 * infers their types from the statement; results come as text, which is
 * what the entity files read (integers as decimal, as SQLite gives
 * them). Every statement's result is read whole (PQexecPrepared): the
 * store's queries return few rows, or rows a caller collects anyway.
 */
#include "store/pg.h"

#include "core/err.h"

#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLSTATE classes and codes that decide what a caller does next. */
#define SQLSTATE_UNIQUE_VIOLATION "23505"
#define SQLSTATE_CLASS_INTEGRITY  "23"
#define SQLSTATE_CLASS_CONNECTION "08"
#define SQLSTATE_CLASS_RESOURCES  "53" /* disk full, out of memory */
#define SQLSTATE_READ_ONLY_TX     "25006"
#define SQLSTATE_SERIALIZATION    "40001"
#define SQLSTATE_DEADLOCK         "40P01"
#define SQLSTATE_LOCK_TIMEOUT     "55P03"
#define SQLSTATE_QUERY_CANCELED   "57014" /* statement_timeout */
#define SQLSTATE_ADMIN_SHUTDOWN   "57P01"

struct st_pg {
    PGconn *conn;
    unsigned generation; /* bumped by a reconnect: prepared names are gone */
    unsigned next_name;
    int64_t changes;
    int lock_timeout_ms; /* st_pg_set_lock_timeout's; -1: never set */
    char errmsg[512];
};

struct st_pg_stmt {
    char name[24];        /* "" for an unnamed statement */
    unsigned prepared_in; /* the generation it was prepared in; 0: never */
    char *sql;            /* with $N parameters */
    int nparams;
    char **values; /* nparams malloc'd texts or NULL */
    Oid *types;    /* 0 (the server infers it) or text for an unused ?N */
    PGresult *res;
    int row;
    int nrows;
};

bool st_pg_is_target(const char *target)
{
    const char *p = target;

    if (strncmp(target, "postgresql://", 13) == 0 ||
        strncmp(target, "postgres://", 11) == 0) {
        return true;
    }
    /* key=value: a libpq keyword, then '=' (a file path never starts
     * like "host=" or "dbname =") */
    while (isalpha((unsigned char)*p) || *p == '_') {
        p++;
    }
    if (p == target) {
        return false;
    }
    while (*p == ' ') {
        p++;
    }
    return *p == '=';
}

/* Keep the first line: one clear line, without libpq's LINE/caret
 * lines that follow it. */
static void set_error(struct st_pg *pg, const char *msg)
{
    size_t len = strcspn(msg, "\n");

    if (len >= sizeof(pg->errmsg)) {
        len = sizeof(pg->errmsg) - 1;
    }
    memcpy(pg->errmsg, msg, len);
    pg->errmsg[len] = '\0';
    while (len > 0 && pg->errmsg[len - 1] == ' ') {
        pg->errmsg[--len] = '\0';
    }
}

/* libpq prints NOTICEs ("relation exists, skipping") on stderr. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* "postgresql://user@host:port/db" without the password, for messages. */
static char *display_name(PGconn *conn)
{
    const char *host = PQhost(conn);
    const char *port = PQport(conn);
    const char *db = PQdb(conn);
    const char *user = PQuser(conn);
    size_t len = 64 + strlen(host ? host : "") + strlen(port ? port : "") +
                 strlen(db ? db : "") + strlen(user ? user : "");
    char *name = malloc(len);

    if (name != NULL) {
        snprintf(name, len, "postgresql://%s@%s:%s/%s", user ? user : "",
                 host ? host : "", port ? port : "", db ? db : "");
    }
    return name;
}

static int session_settings(struct store *st);

int st_pg_connect(struct store *st, const char *target)
{
    /* Ours first, then target's own: with expand_dbname, a later keyword
     * wins, so whatever the URI sets overrides these defaults. */
    static const char *const keys[] = {
        "connect_timeout",     "tcp_user_timeout", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "application_name",
        "client_encoding",     "dbname",           NULL};
    const char *values[] = {"5",       "10000", "10",   "5", "3",
                            "sshgate", "UTF8",  target, NULL};
    struct st_pg *pg = calloc(1, sizeof(*pg));
    int rc = GW_OK;

    if (pg == NULL) {
        return GW_ERR_NOMEM;
    }
    st->engine = ST_POSTGRES;
    st->pg = pg;
    pg->generation = 1;
    pg->lock_timeout_ms = -1;
    pg->conn = PQconnectdbParams(keys, values, 1);
    if (pg->conn == NULL) {
        return GW_ERR_NOMEM;
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        set_error(pg, PQerrorMessage(pg->conn));
        /* libpq's message names host and port, never the password. */
        return gw_err_set(GW_ERR_IO, "cannot connect to PostgreSQL: %s",
                          pg->errmsg);
    }
    PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
    st->path = display_name(pg->conn);
    if (st->path == NULL) {
        return GW_ERR_NOMEM;
    }
    if (session_settings(st) != ST_OK) {
        rc = gw_err_set(GW_ERR_DB, "%s: %s", st->path, pg->errmsg);
    }
    return rc;
}

void st_pg_close(struct store *st)
{
    if (st->pg == NULL) {
        return;
    }
    if (st->pg->conn != NULL) {
        PQfinish(st->pg->conn);
    }
    free(st->pg);
    st->pg = NULL;
}

const char *st_pg_errmsg(struct store *st)
{
    return st->pg->errmsg;
}

/*
 * A connection the server or the network dropped: try once to get it
 * back (bounded by connect_timeout), but never inside a transaction,
 * whose work is lost with the connection; the caller's rollback ends it
 * and the next attempt reconnects.
 */
static bool connection_usable(struct store *st)
{
    struct st_pg *pg = st->pg;

    if (PQstatus(pg->conn) == CONNECTION_OK) {
        return true;
    }
    if (st->tx_depth > 0) {
        return false;
    }
    PQreset(pg->conn);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        set_error(pg, PQerrorMessage(pg->conn));
        return false;
    }
    pg->generation++;
    return session_settings(st) == ST_OK;
}

/* What a failed result means to the caller, as an st_code. */
static int classify(struct st_pg *pg, const PGresult *res)
{
    const char *state =
        res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    set_error(pg, res != NULL ? PQresultErrorMessage(res)
                              : PQerrorMessage(pg->conn));
    if (PQstatus(pg->conn) != CONNECTION_OK || state == NULL) {
        return ST_IOERR;
    }
    if (strcmp(state, SQLSTATE_UNIQUE_VIOLATION) == 0) {
        return ST_CONSTRAINT_UNIQUE;
    }
    if (strncmp(state, SQLSTATE_CLASS_INTEGRITY, 2) == 0) {
        return ST_CONSTRAINT;
    }
    if (strcmp(state, SQLSTATE_LOCK_TIMEOUT) == 0 ||
        strcmp(state, SQLSTATE_QUERY_CANCELED) == 0 ||
        strcmp(state, SQLSTATE_DEADLOCK) == 0 ||
        strcmp(state, SQLSTATE_SERIALIZATION) == 0) {
        return ST_BUSY;
    }
    if (strncmp(state, SQLSTATE_CLASS_CONNECTION, 2) == 0 ||
        strncmp(state, SQLSTATE_CLASS_RESOURCES, 2) == 0 ||
        strcmp(state, SQLSTATE_READ_ONLY_TX) == 0 ||
        strcmp(state, SQLSTATE_ADMIN_SHUTDOWN) == 0) {
        return ST_IOERR;
    }
    return ST_ERROR;
}

int st_pg_exec(struct store *st, const char *sql)
{
    PGresult *res = NULL;
    int rc = ST_OK;

    if (!connection_usable(st)) {
        return ST_IOERR;
    }
    res = PQexec(st->pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK &&
        PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = classify(st->pg, res);
    }
    PQclear(res);
    return rc;
}

/* The settings of the session, which a reconnect (PQreset: a new
 * session) must make again. */
static int session_settings(struct store *st)
{
    char sql[64];
    int rc;

    /* Audit rows compare times as text: make the server's own "now"
     * (views only) UTC too. */
    rc = st_pg_exec(st, "SET TIME ZONE 'UTC'");
    if (rc == ST_OK && st->pg->lock_timeout_ms >= 0) {
        snprintf(sql, sizeof(sql), "SET lock_timeout = %d",
                 st->pg->lock_timeout_ms);
        rc = st_pg_exec(st, sql);
    }
    return rc;
}

void st_pg_set_lock_timeout(struct store *st, int ms)
{
    char sql[64];

    st->pg->lock_timeout_ms = ms;
    snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms);
    (void)st_pg_exec(st, sql);
}

/* The type sent for a parameter that the statement never uses (a ?N
 * skipped by a shared binding helper): the server cannot infer one. */
#define TEXT_OID   25
#define MAX_PARAMS 64

/* ?N -> $N and ? -> $k, outside quoted text; *nparams: the highest;
 * used[n - 1] set for each number that appears. */
static char *translate(const char *sql, int *nparams, bool used[MAX_PARAMS])
{
    size_t len = strlen(sql);
    char *out = malloc(len * 2 + 1);
    char *o = out;
    char quote = 0;
    int next = 1, highest = 0;

    if (out == NULL) {
        return NULL;
    }
    for (const char *p = sql; *p != '\0'; p++) {
        if (quote != 0) {
            quote = *p == quote ? 0 : quote;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?') {
            int n = next;
            if (isdigit((unsigned char)p[1])) {
                n = (int)strtol(p + 1, NULL, 10);
                while (isdigit((unsigned char)p[1])) {
                    p++;
                }
            }
            next = n + 1;
            highest = n > highest ? n : highest;
            if (n >= 1 && n <= MAX_PARAMS) {
                used[n - 1] = true;
            }
            o += sprintf(o, "$%d", n);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *nparams = highest;
    return out;
}

int st_pg_prepare(struct store *st, struct st_stmt *stmt, bool cached)
{
    struct st_pg_stmt *ps = calloc(1, sizeof(*ps));
    bool used[MAX_PARAMS] = {false};

    if (ps == NULL) {
        return GW_ERR_NOMEM;
    }
    ps->sql = translate(stmt->sql, &ps->nparams, used);
    ps->values = calloc((size_t)ps->nparams + 1, sizeof(char *));
    ps->types = calloc((size_t)ps->nparams + 1, sizeof(Oid));
    if (ps->sql == NULL || ps->values == NULL || ps->types == NULL ||
        ps->nparams > MAX_PARAMS) {
        bool too_many = ps->sql != NULL && ps->nparams > MAX_PARAMS;
        free(ps->sql);
        free(ps->values);
        free(ps->types);
        free(ps);
        /* a constant of ours: a programming error, said clearly */
        return too_many ? gw_err_set(GW_ERR_INVALID,
                                     "a statement takes more than %d "
                                     "parameters",
                                     MAX_PARAMS)
                        : GW_ERR_NOMEM;
    }
    for (int i = 0; i < ps->nparams; i++) {
        ps->types[i] = used[i] ? 0 : TEXT_OID;
    }
    if (cached) {
        snprintf(ps->name, sizeof(ps->name), "sg%u", ++st->pg->next_name);
    }
    ps->row = -1;
    stmt->pg = ps;
    return GW_OK;
}

void st_pg_reset(struct st_stmt *stmt)
{
    struct st_pg_stmt *ps = stmt->pg;

    for (int i = 0; i < ps->nparams; i++) {
        free(ps->values[i]);
        ps->values[i] = NULL;
    }
    PQclear(ps->res);
    ps->res = NULL;
    ps->row = -1;
    ps->nrows = 0;
}

void st_pg_finalize(struct st_stmt *stmt)
{
    if (stmt->pg == NULL) {
        return;
    }
    st_pg_reset(stmt);
    free(stmt->pg->values);
    free(stmt->pg->types);
    free(stmt->pg->sql);
    free(stmt->pg);
    stmt->pg = NULL;
}

int st_pg_bind(struct st_stmt *stmt, int idx, const char *text)
{
    struct st_pg_stmt *ps = stmt->pg;
    char *copy = NULL;

    if (idx < 1 || idx > ps->nparams) {
        return ST_ERROR;
    }
    if (text != NULL) {
        copy = strdup(text);
        if (copy == NULL) {
            return ST_ERROR;
        }
    }
    free(ps->values[idx - 1]);
    ps->values[idx - 1] = copy;
    return ST_OK;
}

int st_pg_param_count(struct st_stmt *stmt)
{
    return stmt->pg->nparams;
}

static int run(struct st_stmt *stmt)
{
    struct st_pg *pg = stmt->st->pg;
    struct st_pg_stmt *ps = stmt->pg;
    const char *const *values = (const char *const *)ps->values;
    PGresult *res = NULL;
    ExecStatusType status;

    if (!connection_usable(stmt->st)) {
        return ST_IOERR;
    }
    if (ps->name[0] == '\0') {
        res = PQexecParams(pg->conn, ps->sql, ps->nparams, ps->types, values,
                           NULL, NULL, 0);
    } else {
        if (ps->prepared_in != pg->generation) {
            res =
                PQprepare(pg->conn, ps->name, ps->sql, ps->nparams, ps->types);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                int code = classify(pg, res);
                PQclear(res);
                return code;
            }
            PQclear(res);
            ps->prepared_in = pg->generation;
        }
        res = PQexecPrepared(pg->conn, ps->name, ps->nparams, values, NULL,
                             NULL, 0);
    }
    status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        int code = classify(pg, res);
        PQclear(res);
        return code;
    }
    pg->changes = strtoll(PQcmdTuples(res), NULL, 10);
    ps->res = res;
    ps->nrows = PQntuples(res);
    return ST_OK;
}

int st_pg_step(struct st_stmt *stmt)
{
    struct st_pg_stmt *ps = stmt->pg;

    if (ps->res == NULL) {
        int code = run(stmt);
        if (code != ST_OK) {
            return code;
        }
    }
    if (ps->row + 1 < ps->nrows) {
        ps->row++;
        return ST_ROW;
    }
    ps->row = ps->nrows;
    return ST_DONE;
}

static bool on_row(const struct st_pg_stmt *ps, int col)
{
    return ps->res != NULL && ps->row >= 0 && ps->row < ps->nrows && col >= 0 &&
           col < PQnfields(ps->res);
}

const char *st_pg_col_text(struct st_stmt *stmt, int col)
{
    struct st_pg_stmt *ps = stmt->pg;

    if (!on_row(ps, col) || PQgetisnull(ps->res, ps->row, col)) {
        return NULL;
    }
    return PQgetvalue(ps->res, ps->row, col);
}

size_t st_pg_col_bytes(struct st_stmt *stmt, int col)
{
    struct st_pg_stmt *ps = stmt->pg;

    if (!on_row(ps, col)) {
        return 0;
    }
    return (size_t)PQgetlength(ps->res, ps->row, col);
}

int st_pg_col_count(struct st_stmt *stmt)
{
    return stmt->pg->res != NULL ? PQnfields(stmt->pg->res) : 0;
}

int64_t st_pg_changes(struct store *st)
{
    return st->pg->changes;
}

int st_pg_last_insert_id(struct store *st, int64_t *id)
{
    PGresult *res = PQexec(st->pg->conn, "SELECT lastval()");
    int rc = ST_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = classify(st->pg, res);
    } else {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return rc;
}

bool st_pg_in_transaction(struct store *st)
{
    PGTransactionStatusType ts = PQtransactionStatus(st->pg->conn);

    return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR ||
           ts == PQTRANS_ACTIVE;
}
