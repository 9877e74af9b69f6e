/*
 * Numbered schema migrations. migrations[i] takes the schema from version i
 * to version i + 1; PRAGMA user_version records where a file stands. Each
 * step runs in its own transaction together with the version bump, so a
 * failed step leaves the file at the previous version.
 *
 * A step is SQL, or a function where it must look at the file first (a
 * column that may exist, data that decides an index). Steps from 3 on are
 * idempotent: run again on a file that has them, they change nothing.
 *
 * Never edit a released step: add a new one.
 */
#include "store/migrations.h"

#include "store/internal.h"

#include <stdbool.h>
#include <stdio.h>

struct migration {
    const char *sql;             /* run first; NULL for none */
    int (*fn)(struct store *st); /* then this; NULL for none */
};

static int step3_chain(struct store *st);
static int step4_file_seq(struct store *st);

static const struct migration migrations[] = {
    /* 0 -> 1: the foundation schema. Times are UTC ISO-8601 text
     * ("2026-11-21T19:04:25.123Z"), which sorts and compares as text. */
    {"CREATE TABLE users ("
     "  id INTEGER PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),"
     "  password_hash TEXT,"
     "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
     "  locked_until TEXT,"
     "  failed_logins INTEGER NOT NULL DEFAULT 0,"
     "  totp_secret TEXT,"
     "  created_at TEXT NOT NULL,"
     "  updated_at TEXT NOT NULL"
     ");"
     "CREATE TABLE user_keys ("
     "  id INTEGER PRIMARY KEY,"
     "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     "  key_type TEXT NOT NULL,"
     "  key_blob TEXT NOT NULL,"
     "  fingerprint TEXT NOT NULL,"
     "  comment TEXT NOT NULL DEFAULT '',"
     "  created_at TEXT NOT NULL,"
     "  UNIQUE (user_id, fingerprint)"
     ");"
     "CREATE INDEX user_keys_fingerprint ON user_keys(fingerprint);"
     "CREATE TABLE hosts ("
     "  id INTEGER PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  address TEXT NOT NULL CHECK (address <> ''),"
     "  port INTEGER NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),"
     "  default_login TEXT,"
     "  hostkey_type TEXT,"
     "  hostkey_blob TEXT,"
     "  hostkey_fingerprint TEXT,"
     "  auth_method TEXT NOT NULL DEFAULT 'gateway-key'"
     "    CHECK (auth_method IN ('gateway-key', 'stored-key', 'password')),"
     "  auth_secret TEXT,"
     "  proxy_host_id INTEGER REFERENCES hosts(id) ON DELETE RESTRICT,"
     "  created_at TEXT NOT NULL,"
     "  updated_at TEXT NOT NULL"
     ");"
     "CREATE TABLE grants ("
     "  id INTEGER PRIMARY KEY,"
     "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     "  host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,"
     "  login TEXT NOT NULL,"
     "  allow TEXT NOT NULL,"
     "  expires_at TEXT,"
     "  created_at TEXT NOT NULL,"
     "  UNIQUE (user_id, host_id, login)"
     ");"
     "CREATE INDEX grants_host ON grants(host_id);"
     "CREATE TABLE gateway_keys ("
     "  id INTEGER PRIMARY KEY,"
     "  purpose TEXT NOT NULL CHECK (purpose IN ('host', 'backend')),"
     "  key_type TEXT NOT NULL,"
     "  public_blob TEXT NOT NULL,"
     "  fingerprint TEXT NOT NULL UNIQUE,"
     "  private_key TEXT NOT NULL,"
     "  created_at TEXT NOT NULL"
     ");"
     "CREATE TABLE settings ("
     "  id INTEGER PRIMARY KEY,"
     "  name TEXT NOT NULL UNIQUE,"
     "  value TEXT NOT NULL,"
     "  created_at TEXT NOT NULL,"
     "  updated_at TEXT NOT NULL"
     ");"
     /* AUTOINCREMENT: ids are never reused, so a deleted tail row leaves a
      * trace in sqlite_sequence that audit verification checks. */
     "CREATE TABLE events ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  created_at TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  username TEXT,"
     "  client_addr TEXT,"
     "  detail TEXT NOT NULL DEFAULT '',"
     "  prev_hash TEXT NOT NULL,"
     "  hash TEXT NOT NULL"
     ");"
     "CREATE INDEX events_kind_time ON events(kind, created_at);"
     "CREATE INDEX events_time ON events(created_at);",
     NULL},

    /* 1 -> 2: the audit of what users did. A row per channel in sessions
     * (written at start, completed at end), terminal recordings in chunks,
     * file transfers seen in sftp channels, and kill requests from the
     * admin CLI that the daemon polls for. Rows are never deleted by
     * sshgate; the foreign keys have no ON DELETE so that deleting a
     * session that has transfers or a recording fails. */
    {"CREATE TABLE sessions ("
     "  id INTEGER PRIMARY KEY,"
     "  node TEXT NOT NULL,"
     "  conn_uid TEXT NOT NULL,"
     "  channel INTEGER NOT NULL,"
     "  username TEXT NOT NULL,"
     "  client_addr TEXT NOT NULL,"
     "  host TEXT,"
     "  login TEXT,"
     "  kind TEXT NOT NULL CHECK (kind IN ('shell', 'exec', 'sftp', "
     "    'subsystem', 'direct-tcpip', 'tcpip-forward', 'agent')),"
     "  command TEXT,"
     "  pty INTEGER NOT NULL DEFAULT 0 CHECK (pty IN (0, 1)),"
     "  started_at TEXT NOT NULL,"
     "  ended_at TEXT,"
     "  bytes_up INTEGER NOT NULL DEFAULT 0,"
     "  bytes_down INTEGER NOT NULL DEFAULT 0,"
     "  exit_status INTEGER,"
     "  exit_signal TEXT,"
     "  end_reason TEXT,"
     "  created_at TEXT NOT NULL"
     ");"
     "CREATE INDEX sessions_started ON sessions(started_at);"
     "CREATE INDEX sessions_user ON sessions(username, started_at);"
     "CREATE INDEX sessions_host ON sessions(host, started_at);"
     "CREATE INDEX sessions_open ON sessions(node) WHERE ended_at IS NULL;"
     "CREATE TABLE recordings ("
     "  id INTEGER PRIMARY KEY,"
     "  session_id INTEGER NOT NULL UNIQUE REFERENCES sessions(id),"
     "  header TEXT NOT NULL,"
     "  chunks INTEGER NOT NULL DEFAULT 0,"
     "  bytes INTEGER NOT NULL DEFAULT 0,"
     "  degraded TEXT,"
     "  created_at TEXT NOT NULL"
     ");"
     "CREATE TABLE recording_chunks ("
     "  id INTEGER PRIMARY KEY,"
     "  recording_id INTEGER NOT NULL REFERENCES recordings(id),"
     "  seq INTEGER NOT NULL,"
     "  data TEXT NOT NULL,"
     "  created_at TEXT NOT NULL,"
     "  UNIQUE (recording_id, seq)"
     ");"
     "CREATE TABLE file_transfers ("
     "  id INTEGER PRIMARY KEY,"
     "  session_id INTEGER NOT NULL REFERENCES sessions(id),"
     "  operation TEXT NOT NULL,"
     "  path TEXT NOT NULL,"
     "  path2 TEXT,"
     "  bytes_read INTEGER NOT NULL DEFAULT 0,"
     "  bytes_written INTEGER NOT NULL DEFAULT 0,"
     "  sha256 TEXT,"
     "  status TEXT NOT NULL,"
     "  created_at TEXT NOT NULL"
     ");"
     "CREATE INDEX file_transfers_session ON file_transfers(session_id);"
     "CREATE TABLE session_kills ("
     "  id INTEGER PRIMARY KEY,"
     "  session_id INTEGER NOT NULL REFERENCES sessions(id),"
     "  requested_by TEXT NOT NULL,"
     "  handled_at TEXT,"
     "  created_at TEXT NOT NULL"
     ");"
     "CREATE INDEX session_kills_pending ON session_kills(session_id) "
     "  WHERE handled_at IS NULL;"
     /* Views for auditors in the sqlite3 shell (docs/audit-schema.md). */
     "CREATE VIEW v_sessions AS SELECT s.id, s.username, s.client_addr, "
     "  s.host, s.login, s.kind, s.command, s.started_at, s.ended_at, "
     "  CAST(round((julianday(coalesce(s.ended_at, "
     "  strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(s.started_at)) "
     "  * 86400) AS INTEGER) AS seconds, s.bytes_up, s.bytes_down, "
     "  s.exit_status, s.exit_signal, s.end_reason, "
     "  (SELECT count(*) FROM file_transfers f WHERE f.session_id = s.id) "
     "  AS transfers, EXISTS (SELECT 1 FROM recordings r WHERE "
     "  r.session_id = s.id) AS recorded FROM sessions s;"
     "CREATE VIEW v_host_access AS SELECT host, username, login, kind, "
     "  client_addr, started_at, ended_at FROM sessions "
     "  WHERE host IS NOT NULL;"
     "CREATE VIEW v_failed_logins AS SELECT "
     "  rtrim(rtrim(client_addr, '0123456789'), ':') AS source, "
     "  username, created_at, detail FROM events WHERE kind = 'auth.failure';"
     "CREATE VIEW v_failed_logins_by_source AS SELECT source, "
     "  count(*) AS failures, count(DISTINCT username) AS users, "
     "  min(created_at) AS first_at, max(created_at) AS last_at "
     "  FROM v_failed_logins GROUP BY source;"
     "CREATE VIEW v_transfers AS SELECT f.id, f.session_id, s.username, "
     "  s.host, f.operation, f.path, f.path2, f.bytes_read, f.bytes_written, "
     "  f.bytes_read + f.bytes_written AS bytes, f.sha256, f.status, "
     "  f.created_at FROM file_transfers f JOIN sessions s ON "
     "  s.id = f.session_id;"
     "CREATE VIEW v_sessions_per_user_day AS SELECT username, "
     "  substr(started_at, 1, 10) AS day, count(*) AS sessions, "
     "  count(DISTINCT host) AS hosts, sum(bytes_up) AS bytes_up, "
     "  sum(bytes_down) AS bytes_down FROM sessions "
     "  GROUP BY username, day;",
     NULL},

    /* 2 -> 3: the chain covers what an auditor reads (step3_chain). */
    {NULL, step3_chain},

    /* 3 -> 4: a file in flight has its row (step4_file_seq). */
    {NULL, step4_file_seq},

    /* 4 -> 5: the admin ends whole connections ("session kill --conn",
     * "user kick"), not only channels: a request names a connection by
     * its uid or a user of one node. The daemon polls it like
     * session_kills. IF NOT EXISTS: a step may run again over a file
     * that has it (a copy taken back by hand). */
    {"CREATE TABLE IF NOT EXISTS conn_kills ("
     "  id INTEGER PRIMARY KEY,"
     "  node TEXT,"
     "  conn_uid TEXT,"
     "  username TEXT,"
     "  requested_by TEXT NOT NULL,"
     "  handled_at TEXT,"
     "  created_at TEXT NOT NULL,"
     "  CHECK ((conn_uid IS NULL) <> (username IS NULL))"
     ");"
     "CREATE INDEX IF NOT EXISTS conn_kills_pending ON conn_kills(id) "
     "  WHERE handled_at IS NULL;",
     NULL},
};

static int exec_sql(struct store *st, const char *sql, int version)
{
    char *errmsg = NULL;
    int rc = GW_OK;

    /* Migration text is a constant of this file, never user input. */
    if (sqlite3_exec(st->db, sql, NULL, NULL, &errmsg) != SQLITE_OK) {
        rc = gw_err_set(GW_ERR_DB, "%s: migration to schema %d failed: %s",
                        st->path, version, errmsg);
    }
    sqlite3_free(errmsg);
    return rc;
}

static int read_flag(sqlite3_stmt *stmt, void *out)
{
    *(bool *)out = sqlite3_column_int(stmt, 0) != 0;
    return GW_OK;
}

static int has_column(struct store *st, const char *table, const char *column,
                      bool *has)
{
    *has = false;
    return st_get_one(st,
                      "SELECT count(*) FROM pragma_table_info(?1) WHERE "
                      "name = ?2",
                      ST_PARAMS(ST_TEXT(table), ST_TEXT(column)), read_flag,
                      has, "reading the schema");
}

static int add_column(struct store *st, const char *table, const char *column,
                      const char *sql, int version)
{
    bool has = false;
    int rc = has_column(st, table, column, &has);

    if (rc != GW_OK || has) {
        return rc;
    }
    return exec_sql(st, sql, version);
}

/*
 * (conn_uid, channel) names a session for a writer that replays a spool
 * and must not write a start twice: UNIQUE, unless rows written before
 * (two daemons started within the same second) already share a key; then
 * a plain index, and store_session_find returns the newest.
 */
static int natural_key_index(struct store *st)
{
    bool exists = false;
    bool dupes = false;
    int rc = st_get_one(st,
                        "SELECT count(*) FROM sqlite_master WHERE type = "
                        "'index' AND name = 'sessions_conn'",
                        NULL, 0, read_flag, &exists, "reading the schema");

    if (rc != GW_OK || exists) {
        return rc;
    }
    rc = st_get_one(st,
                    "SELECT EXISTS (SELECT 1 FROM sessions GROUP BY "
                    "conn_uid, channel HAVING count(*) > 1)",
                    NULL, 0, read_flag, &dupes, "reading sessions");
    if (rc != GW_OK) {
        return rc;
    }
    return exec_sql(st,
                    dupes ? "CREATE INDEX sessions_conn ON "
                            "sessions(conn_uid, channel)"
                          : "CREATE UNIQUE INDEX sessions_conn ON "
                            "sessions(conn_uid, channel)",
                    3);
}

/*
 * 2 -> 3: recording chunks carry a chained digest (and the recording the
 * digest of its last chunk, so that an append reads one row), nodes
 * record their heartbeat, and sessions are found by their natural key.
 * Rows written before keep NULL digests: audit verify reports them as
 * not covered.
 */
static int step3_chain(struct store *st)
{
    int rc =
        add_column(st, "recording_chunks", "digest",
                   "ALTER TABLE recording_chunks ADD COLUMN digest TEXT", 3);

    if (rc == GW_OK) {
        rc = add_column(st, "recordings", "digest",
                        "ALTER TABLE recordings ADD COLUMN digest TEXT", 3);
    }
    if (rc == GW_OK) {
        rc = exec_sql(st,
                      "CREATE TABLE IF NOT EXISTS nodes ("
                      "  id INTEGER PRIMARY KEY,"
                      "  name TEXT NOT NULL UNIQUE,"
                      "  version TEXT NOT NULL,"
                      "  started_at TEXT NOT NULL,"
                      "  heartbeat_at TEXT NOT NULL,"
                      "  created_at TEXT NOT NULL"
                      ")",
                      3);
    }
    if (rc == GW_OK) {
        rc = natural_key_index(st);
    }
    return rc;
}

/*
 * 3 -> 4: the sftp audit writes a file's row when the file is opened
 * (status incomplete) and completes that same row when it is closed, so
 * that a gateway killed mid-transfer leaves the file on record. The row
 * is found again by the file's number in its channel: file_seq, unique
 * per session where it is set. Rows written before, and rows that are no
 * file's, keep NULL.
 */
static int step4_file_seq(struct store *st)
{
    int rc = add_column(st, "file_transfers", "file_seq",
                        "ALTER TABLE file_transfers ADD COLUMN file_seq "
                        "INTEGER",
                        4);

    if (rc == GW_OK) {
        rc = exec_sql(st,
                      "CREATE UNIQUE INDEX IF NOT EXISTS file_transfers_file "
                      "ON file_transfers(session_id, file_seq) WHERE "
                      "file_seq IS NOT NULL",
                      4);
    }
    return rc;
}

int store_schema_latest(void)
{
    return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

/*
 * Take the schema one step forward. The version is read again under the
 * write lock, so two processes opening a fresh file at once cannot both run
 * the same step. *done is set when there is nothing left to do.
 */
static int apply_next_step(struct store *st, bool *done)
{
    char bump[64];
    char *errmsg = NULL;
    int version = 0;
    int latest = store_schema_latest();
    int rc;

    rc = store_begin(st);
    if (rc != GW_OK) {
        return rc;
    }
    rc = store_schema_version(st, &version);
    if (rc != GW_OK) {
        goto out;
    }
    if (version > latest) {
        rc = gw_err_set(GW_ERR_SCHEMA,
                        "%s has schema version %d but this sshgate only "
                        "knows up to %d; upgrade sshgate",
                        st->path, version, latest);
        goto out;
    }
    if (version < 0) {
        rc = gw_err_set(GW_ERR_DB, "%s has invalid schema version %d", st->path,
                        version);
        goto out;
    }
    if (version == latest) {
        *done = true;
        rc = store_commit(st);
        goto out;
    }
    if (migrations[version].sql != NULL) {
        rc = exec_sql(st, migrations[version].sql, version + 1);
    }
    if (rc == GW_OK && migrations[version].fn != NULL) {
        rc = migrations[version].fn(st);
    }
    if (rc != GW_OK) {
        goto out;
    }
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
    if (sqlite3_exec(st->db, bump, NULL, NULL, &errmsg) != SQLITE_OK) {
        rc = gw_err_set(GW_ERR_DB, "%s: cannot record schema %d: %s", st->path,
                        version + 1, errmsg);
        goto out;
    }
    rc = store_commit(st);
out:
    sqlite3_free(errmsg);
    if (rc != GW_OK) {
        store_rollback(st);
    }
    return rc;
}

int st_migrate(struct store *st)
{
    bool done = false;
    int version = 0;
    int rc;

    /* Fast path without the write lock: the usual case is up to date. */
    rc = store_schema_version(st, &version);
    if (rc != GW_OK) {
        return rc;
    }
    if (version == store_schema_latest()) {
        return GW_OK;
    }
    while (!done) {
        rc = apply_next_step(st, &done);
        if (rc != GW_OK) {
            return rc;
        }
    }
    return GW_OK;
}
