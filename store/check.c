/*
 * store_check: the engine's own checks and the event hash chain. SQLite:
 * integrity_check and foreign_key_check. PostgreSQL checks its pages and
 * enforces foreign keys itself; what can still be wrong there is a
 * constraint added NOT VALID by hand, or one a restore left unvalidated.
 * Above db.c and events.c, which it calls, so that db.c never calls up
 * into events.c (which calls down into db.c).
 */
#include "store/check.h"

#include "store/events.h"
#include "store/verify.h"
#include "store/internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append every row of a check pragma to the report; count problems. */
static int run_check(struct store *st, const char *sql, bool ok_is_single,
                     FILE *report, int *problems)
{
    struct st_stmt *stmt = NULL;
    int rc = st_prepare(st, sql, &stmt);
    int step;

    if (rc != GW_OK) {
        return rc;
    }
    while ((step = st_step(stmt)) == ST_ROW) {
        const char *first = st_col_text(stmt, 0);
        if (ok_is_single && first != NULL &&
            strcmp((const char *)first, "ok") == 0) {
            continue;
        }
        (*problems)++;
        fprintf(report, "%s:", sql);
        for (int c = 0; c < st_col_count(stmt); c++) {
            const char *v = st_col_text(stmt, c);
            fprintf(report, " %s", v != NULL ? (const char *)v : "NULL");
        }
        fputc('\n', report);
    }
    if (step != ST_DONE) {
        rc = st_fail(st, step, sql);
    }
    st_done(st, stmt);
    return rc;
}

int store_check(struct store *st, char **report)
{
    char *text = NULL;
    size_t textlen = 0;
    FILE *f = open_memstream(&text, &textlen);
    int problems = 0;
    int version = 0;
    int64_t bad_id = 0;
    char why[256];
    int rc;

    if (f == NULL) {
        return GW_ERR_NOMEM;
    }
    if (st->engine == ST_POSTGRES) {
        rc = run_check(st,
                       "SELECT conrelid::regclass::text, conname FROM "
                       "pg_constraint WHERE NOT convalidated AND "
                       "connamespace = current_schema()::regnamespace",
                       false, f, &problems);
    } else {
        rc = run_check(st, "PRAGMA integrity_check", true, f, &problems);
    }
    if (rc == GW_OK && st->engine == ST_SQLITE) {
        rc = run_check(st, "PRAGMA foreign_key_check", false, f, &problems);
    }
    if (rc == GW_OK) {
        rc = store_schema_version(st, &version);
    }
    if (rc == GW_OK) {
        int vrc = store_event_verify(st, &bad_id, why, sizeof(why));
        if (vrc == GW_ERR_INVALID) {
            problems++;
            fprintf(f, "event chain broken at event %lld: %s\n",
                    (long long)bad_id, why);
        } else if (vrc != GW_OK) {
            rc = vrc;
        }
    }
    if (rc == GW_OK && problems == 0) {
        fprintf(
            f, "ok: schema version %d, %s, event chain intact\n", version,
            ST_SQL(st, "integrity ok, foreign keys ok", "constraints valid"));
    }
    fclose(f);
    if (rc == GW_OK && problems > 0) {
        rc = gw_err_set(GW_ERR_DB, "%s: %d problem(s) found", st->path,
                        problems);
    }
    *report = text;
    return rc;
}
