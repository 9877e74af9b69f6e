#include "store/users.h"

#include "store/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The condition under which a failure opens a new window (the parameters
 * of store_user_record_failure): nothing counted yet, the window began
 * lockout_time ago or earlier (?5), or the count reached the threshold (?2),
 * which only a lock that has ended leaves behind. */
#define NEW_WINDOW                                                      \
    "(failed_logins = 0 OR locked_until IS NULL OR locked_until <= ?5 " \
    "OR failed_logins >= ?2)"

#define USER_COLUMNS                                                  \
    "u.id, u.name, u.role, u.password_hash IS NOT NULL, u.disabled, " \
    "u.failed_logins, u.locked_until, u.created_at, u.updated_at, "   \
    "(SELECT count(*) FROM user_keys k WHERE k.user_id = u.id), "     \
    "u.rate_limit"

static void read_user(struct st_stmt *stmt, struct store_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, u->name, sizeof(u->name));
    u->is_admin = strcmp((const char *)st_col_text(stmt, 2), "admin") == 0;
    u->has_password = st_col_int(stmt, 3) != 0;
    u->disabled = st_col_int(stmt, 4) != 0;
    u->failed_logins = st_col_int(stmt, 5);
    st_col_copy(stmt, 6, u->locked_until, sizeof(u->locked_until));
    st_col_copy(stmt, 7, u->created_at, sizeof(u->created_at));
    st_col_copy(stmt, 8, u->updated_at, sizeof(u->updated_at));
    u->key_count = st_col_int(stmt, 9);
    u->rate_limit = st_col_int64(stmt, 10);
}

static int unknown_user(const char *name)
{
    return gw_err_set(GW_ERR_NOTFOUND, "unknown user '%s'", name);
}

int store_user_add(struct store *st, const char *name, bool is_admin,
                   const char *password_hash, char sep, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    rc = gw_name_check("user name", name, sep);
    if (rc != GW_OK) {
        return rc;
    }
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO users (name, role, password_hash, "
                    "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_text(stmt, 2, is_admin ? "admin" : "user");
    st_bind_text(stmt, 3, password_hash);
    st_bind_text(stmt, 4, now);
    rc = st_insert(st, stmt, "adding user", id);
    if (rc == GW_ERR_EXISTS) {
        rc = gw_err_set(GW_ERR_EXISTS, "user '%s' already exists", name);
    }
    return rc;
}

static int read_user_row(struct st_stmt *stmt, void *elem)
{
    read_user(stmt, elem);
    return GW_OK;
}

int store_user_get(struct store *st, const char *name, struct store_user *out)
{
    int rc = st_get_one(
        st, "SELECT " USER_COLUMNS " FROM users u WHERE name = ?1",
        ST_PARAMS(ST_TEXT(name)), read_user_row, out, "reading user");

    return rc == GW_ERR_NOTFOUND ? unknown_user(name) : rc;
}

int store_user_list(struct store *st, struct store_user **users, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_user),
                                        read_user_row, NULL, "listing users"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st, "SELECT " USER_COLUMNS " FROM users u ORDER BY name",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    return st_collect(st, stmt, &rows, users, n);
}

/* Run an UPDATE/DELETE with the user name as ?1 (plus optional text ?2);
 * GW_ERR_NOTFOUND when it touched no row. */
static int update_user(struct store *st, const char *sql, const char *name,
                       const char *arg2, const char *what)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st, sql, &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    if (st_param_count(stmt) >= 2) {
        st_bind_text(stmt, 2, arg2);
    }
    if (st_param_count(stmt) >= 3) {
        st_bind_text(stmt, 3, now);
    }
    rc = st_step(stmt);
    if (rc != ST_DONE) {
        rc = st_fail(st, rc, what);
    } else if (st_changes(st) == 0) {
        rc = unknown_user(name);
    } else {
        rc = GW_OK;
    }
    st_done(st, stmt);
    return rc;
}

int store_user_delete(struct store *st, const char *name)
{
    return update_user(st, "DELETE FROM users WHERE name = ?1", name, NULL,
                       "deleting user");
}

int store_user_set_disabled(struct store *st, const char *name, bool disabled)
{
    return update_user(st,
                       "UPDATE users SET disabled = CAST(?2 AS INTEGER), "
                       "updated_at = ?3 WHERE name = ?1",
                       name, disabled ? "1" : "0", "updating user");
}

int store_user_set_password(struct store *st, const char *name,
                            const char *password_hash)
{
    return update_user(st,
                       "UPDATE users SET password_hash = ?2, updated_at = ?3 "
                       "WHERE name = ?1",
                       name, password_hash, "setting password");
}

int store_user_set_rate_limit(struct store *st, const char *name, int64_t rate)
{
    char text[32];

    if (rate < 0) {
        return gw_err_set(GW_ERR_INVALID, "a rate limit cannot be negative");
    }
    snprintf(text, sizeof(text), "%lld", (long long)rate);
    return update_user(st,
                       "UPDATE users SET rate_limit = CAST(?2 AS BIGINT), "
                       "updated_at = ?3 WHERE name = ?1",
                       name, text, "setting the rate limit");
}

int store_user_unlock(struct store *st, const char *name)
{
    return update_user(st,
                       "UPDATE users SET failed_logins = 0, locked_until = "
                       "NULL, updated_at = ?3 WHERE name = ?1",
                       name, NULL, "unlocking user");
}

int store_user_password_hash(struct store *st, const char *name, char **hash)
{
    /* No such user and a user without a password read the same. */
    int rc = st_get_one(st,
                        "SELECT password_hash FROM users WHERE name = ?1 AND "
                        "password_hash IS NOT NULL",
                        ST_PARAMS(ST_TEXT(name)), st_row_text, hash,
                        "reading password");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "user '%s' has no password", name);
    }
    return rc;
}

/* The user exists: GW_OK, else GW_ERR_NOTFOUND (for a failure that found
 * no row to count). */
static int user_exists(struct store *st, const char *name)
{
    int64_t id = 0;
    int rc =
        st_get_one(st, "SELECT id FROM users WHERE name = ?1",
                   ST_PARAMS(ST_TEXT(name)), st_row_int64, &id, "reading user");

    return rc == GW_ERR_NOTFOUND ? unknown_user(name) : rc;
}

int store_user_record_failure(struct store *st, const char *name,
                              const struct store_lockout *rule, bool *locked)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    char until[GW_TIME_LEN];
    char window_gone[GW_TIME_LEN];
    int64_t span_ms = (int64_t)rule->seconds * 1000;
    int rc;

    *locked = false;
    gw_time_iso_ms(rule->now_ms, now);
    gw_time_iso_ms(rule->now_ms + span_ms, until);
    gw_time_iso_ms(rule->now_ms - span_ms, window_gone);
    /*
     * One statement, so concurrent failures from several connections all
     * count and exactly one of them locks (SET reads the row as it was).
     * A new window opens when nothing was counted, the last window began
     * lockout_time ago or earlier, or the count reached the threshold (a
     * lock that has ended). Locked rows are left alone by the WHERE.
     */
    rc = st_prepare(
        st,
        "UPDATE users SET failed_logins = CASE WHEN " NEW_WINDOW " THEN 1 "
        "ELSE failed_logins + 1 END, locked_until = CASE WHEN (CASE "
        "WHEN " NEW_WINDOW " THEN 1 ELSE failed_logins + 1 END) >= ?2 THEN ?4 "
        "WHEN " NEW_WINDOW " THEN ?3 ELSE locked_until END, updated_at = ?3 "
        "WHERE name = ?1 AND (locked_until IS NULL OR locked_until <= ?3) "
        "RETURNING locked_until",
        &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_int(stmt, 2, rule->threshold);
    st_bind_text(stmt, 3, now);
    st_bind_text(stmt, 4, until);
    st_bind_text(stmt, 5, window_gone);
    rc = st_step(stmt);
    if (rc == ST_ROW) {
        const char *lu = st_col_text(stmt, 0);
        *locked = lu != NULL && strcmp(lu, now) > 0;
        rc = st_step(stmt);
        rc = rc == ST_DONE ? GW_OK : st_fail(st, rc, "counting failure");
    } else if (rc == ST_DONE) {
        rc = GW_ERR_NOTFOUND; /* locked already, or no such user */
    } else {
        rc = st_fail(st, rc, "counting failure");
    }
    st_done(st, stmt);
    if (rc == GW_ERR_NOTFOUND) {
        rc = user_exists(st, name);
    }
    return rc;
}

int store_user_record_success(struct store *st, const char *name)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "UPDATE users SET failed_logins = 0, locked_until = NULL "
                    "WHERE name = ?1 AND (failed_logins <> 0 OR locked_until "
                    "IS NOT NULL) AND (locked_until IS NULL OR locked_until "
                    "<= ?2)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_text(stmt, 2, now);
    return st_exec_stmt(st, stmt, "resetting failures");
}

bool store_user_is_locked(const struct store_user *user)
{
    char now[GW_TIME_LEN];

    if (user->locked_until[0] == '\0') {
        return false;
    }
    gw_time_now_iso(now);
    return strcmp(user->locked_until, now) > 0;
}
