/*
 * Numbered schema migrations. migrations[i] takes the schema from version i
 * to version i + 1; PRAGMA user_version records where a file stands. Each
 * step runs in its own transaction together with the version bump, so a
 * failed step leaves the file at the previous version.
 *
 * Never edit a released step: add a new one.
 */
#include "store/internal.h"

#include <stdbool.h>
#include <stdio.h>

static const char *const migrations[] = {
    /* 0 -> 1: the foundation schema. Times are UTC ISO-8601 text
     * ("2026-11-21T19:04:25.123Z"), which sorts and compares as text. */
    "CREATE TABLE users ("
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
};

int store_schema_latest(void)
{
    return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

static int read_version(struct store *st, int *version)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st, "PRAGMA user_version", &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        rc = st_fail(st, sqlite3_errcode(st->db), "reading schema version");
    } else {
        *version = sqlite3_column_int(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return rc;
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
    rc = read_version(st, &version);
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
    /* Migration text is a constant of this file, never user input. */
    if (sqlite3_exec(st->db, migrations[version], NULL, NULL, &errmsg) !=
        SQLITE_OK) {
        rc = gw_err_set(GW_ERR_DB, "%s: migration to schema %d failed: %s",
                        st->path, version + 1, errmsg);
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
    rc = read_version(st, &version);
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
