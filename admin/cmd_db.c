/*
 * db backup | check | copy. A backup or a copy holds every private key and
 * password hash of the gateway, so making one is recorded as an event
 * like any change.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "store/check.h"
#include "store/copy.h"
#include "store/db.h"
#include "store/open.h"
#include "store/verify.h"

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

/* The chain of st verifies (against expect when given): its head. */
static int verify_side(struct store *st, const struct store_audit_head *expect,
                       struct store_audit_head *head)
{
    struct store_audit_report r;
    int rc = store_audit_verify(st, expect, &r);

    if (rc == GW_ERR_INVALID) {
        rc = gw_err_set(GW_ERR_INVALID,
                        "the audit trail of %s does not verify (%zu "
                        "problem(s)): see 'sshgate-admin --db ... audit "
                        "verify'",
                        store_name(st), r.problems_total);
    } else if (rc == GW_OK && expect != NULL && !r.head_ok) {
        rc = gw_err_set(GW_ERR_INVALID,
                        "the chain of %s does not hold the copy's head "
                        "%lld",
                        store_name(st), (long long)expect->id);
    }
    if (rc == GW_OK) {
        *head = r.head;
    }
    store_audit_report_clear(&r);
    return rc;
}

/*
 * db copy [--from SRC] --to DST: the source (--from, else --db) must
 * verify; its event says where the copy goes (and is copied with it);
 * the copy verifies on its own and its head is one the source holds.
 */
int admin_db_copy(struct admin_ctx *ctx)
{
    const char *from = admin_opt(ctx, "--from");
    const char *to = admin_opt(ctx, "--to");
    struct store *dst = NULL;
    struct store_copy_report report;
    struct store_audit_head head, copied;
    int rc;

    rc = store_open(from != NULL ? from : ctx->db_path, STORE_OPEN_EXISTING,
                    &ctx->st);
    if (rc == GW_OK) {
        rc = verify_side(ctx->st, NULL, &head);
    }
    if (rc == GW_OK) {
        rc = store_open(to, STORE_OPEN_CREATE, &dst);
    }
    if (rc == GW_OK) {
        rc = store_copy_ready(ctx->st, dst); /* before the event says so */
    }
    if (rc == GW_OK) {
        rc = admin_begin(ctx);
    }
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.db.copy", NULL, "to=%s", store_name(dst));
    }
    if (rc == GW_OK) {
        rc = admin_commit(ctx);
    }
    if (rc == GW_OK) {
        rc = store_copy(ctx->st, dst, &report);
    }
    if (rc == GW_OK) {
        rc = verify_side(dst, NULL, &copied);
    }
    if (rc == GW_OK) {
        rc = verify_side(ctx->st, &copied, &head);
    }
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out,
                         json_pack("{s:s, s:s, s:I, s:I, s:s}", "from",
                                   store_name(ctx->st), "to", store_name(dst),
                                   "rows", (json_int_t)report.rows, "head_id",
                                   (json_int_t)copied.id, "head_hash",
                                   copied.hash));
    } else {
        fprintf(ctx->out,
                "copied %lld rows of %zu tables from %s to %s; the chain "
                "verifies on both sides, head %lld:%s\n",
                (long long)report.rows, report.tables, store_name(ctx->st),
                store_name(dst), (long long)copied.id, copied.hash);
    }
out:
    store_close(dst);
    return rc;
}
