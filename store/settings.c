#include "store/settings.h"

#include "core/timeutil.h"
#include "store/internal.h"

int store_setting_get(struct store *st, const char *name, char **value)
{
    int rc = st_get_one(st, "SELECT value FROM settings WHERE name = ?1",
                        ST_PARAMS(ST_TEXT(name)), st_row_text, value,
                        "reading setting");

    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "no setting '%s'", name);
    }
    return rc;
}

int store_setting_set(struct store *st, const char *name, const char *value)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO settings (name, value, created_at, "
                    "updated_at) VALUES (?1, ?2, ?3, ?3) ON CONFLICT (name) "
                    "DO UPDATE SET value = excluded.value, updated_at = "
                    "excluded.updated_at",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_text(stmt, 2, value);
    st_bind_text(stmt, 3, now);
    return st_exec_stmt(st, stmt, "writing setting");
}

int store_access_generation(struct store *st, int64_t *gen)
{
    int rc = st_get_one(st,
                        "SELECT CAST(value AS INTEGER) FROM settings WHERE "
                        "name = ?1",
                        ST_PARAMS(ST_TEXT(STORE_ACCESS_GENERATION_SETTING)),
                        st_row_int64, gen, "reading the access generation");

    if (rc == GW_ERR_NOTFOUND) {
        *gen = 0;
        rc = GW_OK;
    }
    return rc;
}

int store_access_bump(struct store *st)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    /* One statement, so the increment is atomic under SQLite's writer
     * lock even outside a transaction. */
    rc = st_prepare(st,
                    "INSERT INTO settings (name, value, created_at, "
                    "updated_at) VALUES (?1, '1', ?2, ?2) ON CONFLICT (name) "
                    "DO UPDATE SET value = CAST(CAST(settings.value AS "
                    "INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, STORE_ACCESS_GENERATION_SETTING);
    st_bind_text(stmt, 2, now);
    return st_exec_stmt(st, stmt, "bumping the access generation");
}
