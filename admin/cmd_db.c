/*
 * db backup | check. A backup holds every private key and password hash
 * of the gateway, so making one is recorded as an event like any change.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "store/db.h"
#include "store/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int admin_db_backup(struct admin_ctx *ctx)
{
    const char *dest = admin_arg(ctx, 0);
    int rc;

    /* Copy first: the event must not claim a backup that failed. */
    rc = store_backup(ctx->st, dest);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.db.backup", NULL, "file=%s", dest);
    }
    if (rc == GW_OK) {
        rc = admin_commit(ctx);
    }
    if (rc != GW_OK) {
        /* No unrecorded copy of the keys may stay behind. */
        unlink(dest);
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out, json_pack("{s:s}", "backup", dest));
    } else {
        fprintf(ctx->out, "backed up %s to %s\n", ctx->db_path, dest);
    }
out:
    return rc;
}

/* The report as a JSON array of its lines. */
static json_t *report_lines(const char *report)
{
    json_t *arr = json_array();
    const char *p = report;

    while (arr != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (out_json_append(arr, json_stringn(p, len)) != GW_OK) {
            json_decref(arr);
            arr = NULL;
        }
        p += len + (nl != NULL ? 1 : 0);
    }
    return arr;
}

int admin_db_check(struct admin_ctx *ctx)
{
    char *report = NULL;
    char msg[512];
    int rc;
    int prc = GW_OK;

    rc = store_check(ctx->st, &report);
    snprintf(msg, sizeof(msg), "%s", gw_err_msg());
    ctx->keep_output = true; /* the report says what is wrong */
    if (report == NULL) {
        goto out;
    }
    if (ctx->json) {
        json_t *doc = json_pack("{s:b, s:o}", "ok", rc == GW_OK, "report",
                                report_lines(report));
        prc = doc != NULL ? out_json(ctx->out, doc) : GW_ERR_NOMEM;
        json_decref(doc);
    } else {
        out_block(ctx->out, report);
    }
    if (rc == GW_OK) {
        rc = prc;
    } else {
        rc = gw_err_set(rc, "%s", msg); /* printing may have reset it */
    }
out:
    free(report);
    return rc;
}
