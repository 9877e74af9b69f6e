/*
 * audit list | verify: the hash-chained event log. Details come partly
 * from clients (login names, addresses), so they are printed through the
 * output module, which neutralises control characters.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "store/db.h"
#include "store/events.h"

#include <stdlib.h>
#include <string.h>

#define AUDIT_LIMIT_MAX 100000000L

struct audit_query {
    struct store_event_filter filter;
    char since[GW_TIME_LEN];
};

static int audit_query_parse(struct admin_ctx *ctx, struct audit_query *q)
{
    const char *since = admin_opt(ctx, "--since");
    const char *limit = admin_opt(ctx, "--limit");
    long n = 0;
    int rc = GW_OK;

    memset(q, 0, sizeof(*q));
    q->filter.kind = admin_opt(ctx, "--kind");
    q->filter.user = admin_opt(ctx, "--user");
    if (since != NULL) {
        rc = gw_time_parse(since, GW_TIME_PAST, q->since);
        q->filter.since = q->since;
    }
    if (rc == GW_OK && limit != NULL) {
        rc = gw_long_parse(limit, 1, AUDIT_LIMIT_MAX, &n);
        if (rc != GW_OK) {
            rc = gw_err_set(rc, "--limit must be a number in 1-%ld",
                            AUDIT_LIMIT_MAX);
        }
        q->filter.limit = (size_t)n;
    }
    return rc;
}

static json_t *event_json(const struct store_event *e)
{
    return json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:s, s:s}", "id",
                     (json_int_t)e->id, "time", e->created_at, "kind", e->kind,
                     "user", out_jstr_opt(e->user), "client",
                     out_jstr_opt(e->client), "detail", out_jstr(e->detail),
                     "prev_hash", e->prev_hash, "hash", e->hash);
}

static int audit_print(struct admin_ctx *ctx, const struct store_event *ev,
                       size_t n)
{
    static const char *const hdr[] = {"ID",   "TIME",   "KIND",
                                      "USER", "CLIENT", "DETAIL"};
    struct out_table *t = NULL;
    json_t *doc = json_array();
    char id[24];
    int rc = doc != NULL ? out_table_new(hdr, 6, &t) : GW_ERR_NOMEM;

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        const struct store_event *e = &ev[i];
        snprintf(id, sizeof(id), "%lld", (long long)e->id);
        rc = ctx->json ? out_json_append(doc, event_json(e))
                       : out_table_row(t, id, e->created_at, e->kind, e->user,
                                       e->client, e->detail);
    }
    if (rc == GW_OK && ctx->json) {
        rc = out_json(ctx->out, doc);
    } else if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
    out_table_free(t);
    json_decref(doc);
    return rc;
}

int admin_audit_list(struct admin_ctx *ctx)
{
    struct audit_query q;
    struct store_event *events = NULL;
    size_t n = 0;
    int rc;

    rc = audit_query_parse(ctx, &q);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_event_list(ctx->st, &q.filter, &events, &n);
    if (rc != GW_OK) {
        goto out;
    }
    rc = audit_print(ctx, events, n);
out:
    store_event_list_free(events, n);
    return rc;
}

/* The newest event, for the count and the head of the chain. */
static int audit_head(struct admin_ctx *ctx, int64_t *count,
                      char hash[GW_SHA256_HEX_LEN])
{
    struct store_event_filter last = {NULL, NULL, NULL, 1};
    struct store_event *ev = NULL;
    size_t n = 0;
    int rc;

    *count = 0;
    hash[0] = '\0';
    rc = store_event_list(ctx->st, &last, &ev, &n);
    if (rc == GW_OK && n == 1) {
        *count = ev[0].id; /* ids are gapless once the chain verified */
        memcpy(hash, ev[0].hash, GW_SHA256_HEX_LEN);
    }
    store_event_list_free(ev, n);
    return rc;
}

static int verify_failed(struct admin_ctx *ctx, int64_t bad_id, const char *why)
{
    int rc = GW_OK;

    ctx->keep_output = true;
    if (ctx->json) {
        json_t *doc = json_pack("{s:b, s:I, s:s}", "ok", 0, "bad_event",
                                (json_int_t)bad_id, "reason", why);
        rc = doc != NULL ? out_json(ctx->out, doc) : GW_ERR_NOMEM;
        json_decref(doc);
    }
    if (rc != GW_OK) {
        return rc;
    }
    return gw_err_set(GW_ERR_INVALID, "audit chain broken at event %lld: %s",
                      (long long)bad_id, why);
}

static int verify_ok(struct admin_ctx *ctx)
{
    char hash[GW_SHA256_HEX_LEN];
    int64_t count = 0;
    int rc;

    rc = audit_head(ctx, &count, hash);
    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:I, s:o}", "events", (json_int_t)count,
                                     "head_hash", out_jstr_opt(hash)));
    }
    fprintf(ctx->out, "audit chain intact: %lld events, head %s\n",
            (long long)count, hash[0] != '\0' ? hash : "(none)");
    return GW_OK;
}

int admin_audit_verify(struct admin_ctx *ctx)
{
    char why[256];
    int64_t bad_id = 0;
    int rc;

    rc = store_event_verify(ctx->st, &bad_id, why, sizeof(why));
    if (rc == GW_ERR_INVALID) {
        rc = verify_failed(ctx, bad_id, why);
    } else if (rc == GW_OK) {
        rc = verify_ok(ctx);
    }
    return rc;
}
