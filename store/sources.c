#include "store/sources.h"

#include "store/internal.h"

/* The condition under which a failure of a source that has a row opens a
 * new window (the parameters of store_source_record_failure): a lock has
 * ended (locked rows are left alone by the WHERE), or the window began
 * lockout_time ago or earlier (?5). */
#define NEW_WINDOW                                  \
    "(source_lockouts.locked_until IS NOT NULL OR " \
    "source_lockouts.window_started_at <= ?5)"

/* The count after this failure of a source with a row. */
#define NEW_COUNT                            \
    "(CASE WHEN " NEW_WINDOW " THEN 1 ELSE " \
    "source_lockouts.failures + 1 END)"

int store_source_record_failure(struct store *st, const char *source,
                                const struct store_lockout *rule,
                                enum store_source_verdict *out)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    char until[GW_TIME_LEN];
    char window_gone[GW_TIME_LEN];
    int64_t span_ms = (int64_t)rule->seconds * 1000;
    int rc;

    *out = STORE_SOURCE_COUNTED;
    if (rule->threshold <= 0) {
        return GW_OK;
    }
    gw_time_iso_ms(rule->now_ms, now);
    gw_time_iso_ms(rule->now_ms + span_ms, until);
    gw_time_iso_ms(rule->now_ms - span_ms, window_gone);
    /*
     * One statement, so that concurrent failures from several nodes all
     * count and exactly one of them locks: the row is created or updated
     * under its row lock (SET reads the row as it was). A row locked
     * until after now is left alone by the WHERE of DO UPDATE and returns
     * nothing: it was locked already. locked_until comes back set only
     * when this failure locked.
     */
    rc = st_prepare(
        st,
        "INSERT INTO source_lockouts (source, failures, window_started_at, "
        "locked_until, created_at, updated_at) VALUES (?1, 1, ?3, CASE WHEN "
        "?2 <= 1 THEN ?4 END, ?3, ?3) ON CONFLICT (source) DO UPDATE SET "
        "failures = " NEW_COUNT ", window_started_at = CASE WHEN " NEW_WINDOW
        " THEN ?3 ELSE source_lockouts.window_started_at END, locked_until = "
        "CASE WHEN " NEW_COUNT " >= ?2 THEN ?4 END, updated_at = ?3 WHERE "
        "source_lockouts.locked_until IS NULL OR source_lockouts.locked_until "
        "<= ?3 RETURNING locked_until",
        &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, source);
    st_bind_int(stmt, 2, rule->threshold);
    st_bind_text(stmt, 3, now);
    st_bind_text(stmt, 4, until);
    st_bind_text(stmt, 5, window_gone);
    rc = st_step(stmt);
    if (rc == ST_ROW) {
        bool locked_now = !st_col_is_null(stmt, 0);
        rc = st_step(stmt);
        if (rc == ST_DONE) {
            *out = locked_now ? STORE_SOURCE_LOCKED_NOW : STORE_SOURCE_COUNTED;
            rc = GW_OK;
        } else {
            rc = st_fail(st, rc, "counting a source's failure");
        }
    } else if (rc == ST_DONE) {
        *out = STORE_SOURCE_WAS_LOCKED;
        rc = GW_OK;
    } else {
        rc = st_fail(st, rc, "counting a source's failure");
    }
    st_done(st, stmt);
    return rc;
}

static int read_one(struct st_stmt *stmt, void *out)
{
    (void)stmt;
    *(bool *)out = true;
    return GW_OK;
}

int store_source_is_locked(struct store *st, const char *source, int64_t now_ms,
                           bool *locked)
{
    char now[GW_TIME_LEN];
    int rc;

    *locked = false;
    gw_time_iso_ms(now_ms, now);
    rc = st_get_one(st,
                    "SELECT 1 FROM source_lockouts WHERE source = ?1 AND "
                    "locked_until > ?2",
                    ST_PARAMS(ST_TEXT(source), ST_TEXT(now)), read_one, locked,
                    "reading a source's lock");
    return rc == GW_ERR_NOTFOUND ? GW_OK : rc;
}

int store_source_expire(struct store *st, const struct store_lockout *rule,
                        int64_t *deleted)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    char window_gone[GW_TIME_LEN];
    int rc;

    gw_time_iso_ms(rule->now_ms, now);
    gw_time_iso_ms(rule->now_ms - (int64_t)rule->seconds * 1000, window_gone);
    rc = st_prepare(st,
                    "DELETE FROM source_lockouts WHERE (locked_until IS NOT "
                    "NULL AND locked_until <= ?1) OR (locked_until IS NULL "
                    "AND window_started_at <= ?2)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, now);
    st_bind_text(stmt, 2, window_gone);
    rc = st_step(stmt);
    if (rc == ST_DONE) {
        if (deleted != NULL) {
            *deleted = st_changes(st);
        }
        rc = GW_OK;
    } else {
        rc = st_fail(st, rc, "expiring source lockouts");
    }
    st_done(st, stmt);
    return rc;
}
