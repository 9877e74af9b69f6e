/*
 * store_copy: every table, row by row, through the engine-neutral
 * statements, so that one code path copies SQLite to PostgreSQL and
 * back. The column lists are the schema's (store/migrations.c), in its
 * order; a column added by a later step must be added here too.
 */
#include "store/copy.h"

#include "store/internal.h"

#include <string.h>

struct copied_table {
    const char *name;
    int ncols;
    const char *select_sql;
    const char *insert_sql;
    const char *pg_sequence_sql; /* move the id identity past the rows */
};

/* In the order the foreign keys need. */
static const struct copied_table tables[] = {
    {"users", 11,
     "SELECT id, name, role, password_hash, disabled, locked_until, "
     "failed_logins, totp_secret, created_at, updated_at, rate_limit FROM "
     "users ORDER BY id",
     "INSERT INTO users (id, name, role, password_hash, disabled, "
     "locked_until, failed_logins, totp_secret, created_at, updated_at, "
     "rate_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
     "SELECT setval(pg_get_serial_sequence('users', 'id'), coalesce((SELECT "
     "max(id) FROM users), 0) + 1, false)"},
    {"user_keys", 7,
     "SELECT id, user_id, key_type, key_blob, fingerprint, comment, created_at "
     "FROM user_keys ORDER BY id",
     "INSERT INTO user_keys (id, user_id, key_type, key_blob, fingerprint, "
     "comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
     "SELECT setval(pg_get_serial_sequence('user_keys', 'id'), "
     "coalesce((SELECT max(id) FROM user_keys), 0) + 1, false)"},
    {"hosts", 15,
     "SELECT id, name, address, port, default_login, hostkey_type, "
     "hostkey_blob, hostkey_fingerprint, auth_method, auth_secret, "
     "proxy_host_id, created_at, updated_at, via_proxy, via_proxy_secret "
     "FROM hosts ORDER BY id",
     "INSERT INTO hosts (id, name, address, port, default_login, hostkey_type, "
     "hostkey_blob, hostkey_fingerprint, auth_method, auth_secret, "
     "proxy_host_id, created_at, updated_at, via_proxy, via_proxy_secret) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
     "?15)",
     "SELECT setval(pg_get_serial_sequence('hosts', 'id'), coalesce((SELECT "
     "max(id) FROM hosts), 0) + 1, false)"},
    {"grants", 8,
     "SELECT id, user_id, host_id, login, allow, expires_at, created_at, "
     "rate_limit FROM grants ORDER BY id",
     "INSERT INTO grants (id, user_id, host_id, login, allow, expires_at, "
     "created_at, rate_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
     "SELECT setval(pg_get_serial_sequence('grants', 'id'), coalesce((SELECT "
     "max(id) FROM grants), 0) + 1, false)"},
    {"gateway_keys", 7,
     "SELECT id, purpose, key_type, public_blob, fingerprint, private_key, "
     "created_at FROM gateway_keys ORDER BY id",
     "INSERT INTO gateway_keys (id, purpose, key_type, public_blob, "
     "fingerprint, private_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
     "?7)",
     "SELECT setval(pg_get_serial_sequence('gateway_keys', 'id'), "
     "coalesce((SELECT max(id) FROM gateway_keys), 0) + 1, false)"},
    {"settings", 5,
     "SELECT id, name, value, created_at, updated_at FROM settings ORDER BY id",
     "INSERT INTO settings (id, name, value, created_at, updated_at) VALUES "
     "(?1, ?2, ?3, ?4, ?5)",
     "SELECT setval(pg_get_serial_sequence('settings', 'id'), coalesce((SELECT "
     "max(id) FROM settings), 0) + 1, false)"},
    {"events", 8,
     "SELECT id, created_at, kind, username, client_addr, detail, prev_hash, "
     "hash FROM events ORDER BY id",
     "INSERT INTO events (id, created_at, kind, username, client_addr, detail, "
     "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
     "SELECT setval(pg_get_serial_sequence('events', 'id'), coalesce((SELECT "
     "max(id) FROM events), 0) + 1, false)"},
    {"sessions", 19,
     "SELECT id, node, conn_uid, channel, username, client_addr, host, login, "
     "kind, command, pty, started_at, ended_at, bytes_up, bytes_down, "
     "exit_status, exit_signal, end_reason, created_at FROM sessions ORDER BY "
     "id",
     "INSERT INTO sessions (id, node, conn_uid, channel, username, "
     "client_addr, host, login, kind, command, pty, started_at, ended_at, "
     "bytes_up, bytes_down, exit_status, exit_signal, end_reason, created_at) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
     "?15, ?16, ?17, ?18, ?19)",
     "SELECT setval(pg_get_serial_sequence('sessions', 'id'), coalesce((SELECT "
     "max(id) FROM sessions), 0) + 1, false)"},
    {"recordings", 8,
     "SELECT id, session_id, header, chunks, bytes, degraded, created_at, "
     "digest FROM recordings ORDER BY id",
     "INSERT INTO recordings (id, session_id, header, chunks, bytes, degraded, "
     "created_at, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
     "SELECT setval(pg_get_serial_sequence('recordings', 'id'), "
     "coalesce((SELECT max(id) FROM recordings), 0) + 1, false)"},
    {"recording_chunks", 6,
     "SELECT id, recording_id, seq, data, created_at, digest FROM "
     "recording_chunks ORDER BY id",
     "INSERT INTO recording_chunks (id, recording_id, seq, data, created_at, "
     "digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
     "SELECT setval(pg_get_serial_sequence('recording_chunks', 'id'), "
     "coalesce((SELECT max(id) FROM recording_chunks), 0) + 1, false)"},
    {"file_transfers", 11,
     "SELECT id, session_id, operation, path, path2, bytes_read, "
     "bytes_written, sha256, status, created_at, file_seq FROM file_transfers "
     "ORDER BY id",
     "INSERT INTO file_transfers (id, session_id, operation, path, path2, "
     "bytes_read, bytes_written, sha256, status, created_at, file_seq) VALUES "
     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
     "SELECT setval(pg_get_serial_sequence('file_transfers', 'id'), "
     "coalesce((SELECT max(id) FROM file_transfers), 0) + 1, false)"},
    {"session_kills", 5,
     "SELECT id, session_id, requested_by, handled_at, created_at FROM "
     "session_kills ORDER BY id",
     "INSERT INTO session_kills (id, session_id, requested_by, handled_at, "
     "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
     "SELECT setval(pg_get_serial_sequence('session_kills', 'id'), "
     "coalesce((SELECT max(id) FROM session_kills), 0) + 1, false)"},
    {"conn_kills", 7,
     "SELECT id, node, conn_uid, username, requested_by, handled_at, "
     "created_at FROM conn_kills ORDER BY id",
     "INSERT INTO conn_kills (id, node, conn_uid, username, requested_by, "
     "handled_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
     "SELECT setval(pg_get_serial_sequence('conn_kills', 'id'), "
     "coalesce((SELECT max(id) FROM conn_kills), 0) + 1, false)"},
    {"nodes", 8,
     "SELECT id, name, version, started_at, heartbeat_at, created_at, listen, "
     "lost_after_ms FROM nodes ORDER BY id",
     "INSERT INTO nodes (id, name, version, started_at, heartbeat_at, "
     "created_at, listen, lost_after_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
     "?8)",
     "SELECT setval(pg_get_serial_sequence('nodes', 'id'), coalesce((SELECT "
     "max(id) FROM nodes), 0) + 1, false)"},
    {"source_lockouts", 7,
     "SELECT id, source, failures, window_started_at, locked_until, "
     "created_at, updated_at FROM source_lockouts ORDER BY id",
     "INSERT INTO source_lockouts (id, source, failures, window_started_at, "
     "locked_until, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
     "?7)",
     "SELECT setval(pg_get_serial_sequence('source_lockouts', 'id'), "
     "coalesce((SELECT max(id) FROM source_lockouts), 0) + 1, false)"},
};

#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* hosts.proxy_host_id may name a later row: copied in a second pass. */
#define HOSTS_PROXY_COL 10

/* A destination that holds an installation already is not overwritten. */
static int check_empty(struct store *dst)
{
    int64_t rows = 0;
    int rc =
        st_get_one(dst,
                   "SELECT (SELECT count(*) FROM users) + (SELECT "
                   "count(*) FROM gateway_keys) + (SELECT count(*) FROM "
                   "events) + (SELECT count(*) FROM sessions)",
                   NULL, 0, st_row_int64, &rows, "reading the destination");

    if (rc == GW_OK && rows > 0) {
        rc = gw_err_set(GW_ERR_EXISTS,
                        "%s is not empty (%lld users, keys, events and "
                        "sessions): copy into a new database",
                        store_name(dst), (long long)rows);
    }
    return rc;
}

static int copy_row(struct store *dst, const struct copied_table *t,
                    struct st_stmt *from)
{
    struct st_stmt *to = NULL;
    int rc = st_prepare(dst, t->insert_sql, &to);

    if (rc != GW_OK) {
        return rc;
    }
    for (int col = 0; col < t->ncols; col++) {
        bool later = strcmp(t->name, "hosts") == 0 && col == HOSTS_PROXY_COL;
        if (later || st_col_is_null(from, col)) {
            st_bind_null(to, col + 1);
        } else {
            st_bind_text_n(to, col + 1, st_col_text(from, col),
                           st_col_bytes(from, col));
        }
    }
    return st_insert(dst, to, t->name, NULL);
}

static int set_host_proxy(struct store *dst, struct st_stmt *from)
{
    struct st_stmt *up = NULL;
    int rc;

    if (st_col_is_null(from, HOSTS_PROXY_COL)) {
        return GW_OK;
    }
    rc = st_prepare(dst, "UPDATE hosts SET proxy_host_id = ?2 WHERE id = ?1",
                    &up);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_int64(up, 1, st_col_int64(from, 0));
    st_bind_int64(up, 2, st_col_int64(from, HOSTS_PROXY_COL));
    return st_exec_stmt(dst, up, "copying a host's proxy");
}

static int copy_table(struct store *src, struct store *dst,
                      const struct copied_table *t, bool proxies, int64_t *rows)
{
    struct st_stmt *from = NULL;
    int step;
    int rc = st_prepare(src, t->select_sql, &from);

    if (rc != GW_OK) {
        return rc;
    }
    while ((step = st_step(from)) == ST_ROW) {
        rc = proxies ? set_host_proxy(dst, from) : copy_row(dst, t, from);
        if (rc != GW_OK) {
            break;
        }
        *rows += proxies ? 0 : 1;
    }
    if (rc == GW_OK && step != ST_DONE) {
        rc = st_fail(src, step, t->name);
    }
    st_done(src, from);
    return rc;
}

/* The destination's ids go on after the copied ones: its event counter
 * where the source's stands (a deleted tail stays visible), each
 * identity past its table's rows. */
static int carry_sequences(struct store *src, struct store *dst)
{
    struct st_stmt *stmt = NULL;
    int64_t seq = 0;
    int rc = st_event_sequence(src, &seq);

    if (rc == GW_OK) {
        rc = st_prepare(dst,
                        ST_SQL(dst,
                               "UPDATE sqlite_sequence SET seq = ?1 WHERE "
                               "name = 'events'",
                               "UPDATE sshgate_event_seq SET last_id = ?1"),
                        &stmt);
    }
    if (rc == GW_OK) {
        st_bind_int64(stmt, 1, seq);
        rc = st_exec_stmt(dst, stmt, "setting the event sequence");
    }
    for (size_t i = 0; rc == GW_OK && dst->engine == ST_POSTGRES && i < NTABLES;
         i++) {
        if (strcmp(tables[i].name, "events") != 0) {
            rc = st_exec_script(dst, tables[i].pg_sequence_sql,
                                "moving an id sequence");
        }
    }
    return rc;
}

static int copy_all(struct store *src, struct store *dst,
                    struct store_copy_report *report)
{
    int rc = check_empty(dst); /* again, inside the transaction */

    for (size_t i = 0; rc == GW_OK && i < NTABLES; i++) {
        rc = copy_table(src, dst, &tables[i], false, &report->rows);
        report->tables++;
    }
    if (rc == GW_OK) {
        rc = copy_table(src, dst, &tables[2], true, &report->rows);
    }
    if (rc == GW_OK) {
        rc = carry_sequences(src, dst);
    }
    return rc;
}

int store_copy_ready(struct store *src, struct store *dst)
{
    int version_src = 0, version_dst = 0;
    int rc = store_schema_version(src, &version_src);

    if (rc == GW_OK) {
        rc = store_schema_version(dst, &version_dst);
    }
    if (rc == GW_OK && version_src != version_dst) {
        rc = gw_err_set(GW_ERR_DB, "schema %d in %s but %d in %s", version_src,
                        store_name(src), version_dst, store_name(dst));
    }
    return rc == GW_OK ? check_empty(dst) : rc;
}

int store_copy(struct store *src, struct store *dst,
               struct store_copy_report *report)
{
    int rc;

    memset(report, 0, sizeof(*report));
    rc = store_copy_ready(src, dst);
    if (rc != GW_OK) {
        return rc;
    }
    rc = st_begin_read(src);
    if (rc != GW_OK) {
        return rc;
    }
    rc = store_begin(dst);
    if (rc == GW_OK) {
        rc = copy_all(src, dst, report);
        if (rc == GW_OK) {
            rc = store_commit(dst);
        }
        if (rc != GW_OK) {
            store_rollback(dst);
        }
    }
    st_end_read(src);
    return rc;
}
