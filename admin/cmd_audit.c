/*
 * audit list | verify | head: the hash-chained event log and what it
 * binds (store/verify.h). Details come partly from clients (login names,
 * addresses), so they are printed through the output module, which
 * neutralises control characters.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "store/db.h"
#include "store/events.h"
#include "store/verify.h"

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

/* ---- audit head -------------------------------------------------------- */

int admin_audit_head(struct admin_ctx *ctx)
{
    struct store_audit_head head;
    int rc = store_audit_head(ctx->st, &head);

    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        json_t *doc = json_pack("{s:I, s:s}", "id", (json_int_t)head.id, "hash",
                                head.hash);
        rc = doc != NULL ? out_json(ctx->out, doc) : GW_ERR_NOMEM;
        json_decref(doc);
        return rc;
    }
    fprintf(ctx->out, "%lld:%s\n", (long long)head.id, head.hash);
    return GW_OK;
}

/* ---- audit verify ------------------------------------------------------ */

static const char *object_name(enum store_audit_object object)
{
    switch (object) {
    case STORE_AUDIT_EVENT:
        return "event";
    case STORE_AUDIT_HEAD:
        return "head";
    case STORE_AUDIT_SESSION:
        return "session";
    }
    return "?";
}

/* "event 6: row content does not match its hash ..." */
static void problem_line(const struct store_audit_problem *p, char *buf,
                         size_t len)
{
    snprintf(buf, len, "%s %lld: %s", object_name(p->object), (long long)p->id,
             p->what);
}

static void print_ranges(FILE *f, const struct store_audit_range *list,
                         size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].first == list[i].last) {
            fprintf(f, "session %lld: %s\n", (long long)list[i].first, what);
        } else {
            fprintf(f, "sessions %lld-%lld: %s\n", (long long)list[i].first,
                    (long long)list[i].last, what);
        }
    }
}

static void verify_text(struct admin_ctx *ctx,
                        const struct store_audit_report *r,
                        const struct store_audit_head *given)
{
    char line[STORE_AUDIT_WHAT_MAX + 64];

    if (r->problems_total == 0) {
        fprintf(ctx->out, "audit chain intact: %lld events, head ",
                (long long)r->events);
    } else {
        fprintf(ctx->out,
                "audit verify: %zu problem%s found; %lld events, "
                "head ",
                r->problems_total, r->problems_total == 1 ? "" : "s",
                (long long)r->events);
    }
    if (r->head.id > 0) {
        fprintf(ctx->out, "%lld:%s\n", (long long)r->head.id, r->head.hash);
    } else {
        fputs("(none)\n", ctx->out);
    }
    for (size_t i = 0; i < r->nproblems; i++) {
        problem_line(&r->problems[i], line, sizeof(line));
        out_text(ctx->out, line);
        fputc('\n', ctx->out);
    }
    if (r->problems_total > r->nproblems) {
        fprintf(ctx->out, "... and %zu more problems\n",
                r->problems_total - r->nproblems);
    }
    if (r->head_ok) {
        fprintf(ctx->out, "head %lld:%s is in the chain\n",
                (long long)given->id, given->hash);
    }
    fprintf(ctx->out,
            "sessions: %lld verified, %lld open, %lld not covered (written "
            "before schema 3)\n",
            (long long)r->sessions_verified, (long long)r->sessions_open,
            (long long)r->sessions_uncovered);
    print_ranges(ctx->out, r->open, r->nopen, "open");
    print_ranges(ctx->out, r->uncovered, r->nuncovered,
                 "not covered (written before schema 3)");
}

static json_t *ranges_json(const struct store_audit_range *list, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (out_json_append(arr, json_pack("[I, I]", (json_int_t)list[i].first,
                                           (json_int_t)list[i].last)) !=
            GW_OK) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *problems_json(const struct store_audit_report *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < r->nproblems; i++) {
        const struct store_audit_problem *p = &r->problems[i];
        if (out_json_append(arr, json_pack("{s:s, s:I, s:o}", "object",
                                           object_name(p->object), "id",
                                           (json_int_t)p->id, "problem",
                                           out_jstr(p->what))) != GW_OK) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static int verify_json(struct admin_ctx *ctx,
                       const struct store_audit_report *r,
                       const struct store_audit_head *given)
{
    json_t *doc = json_pack(
        "{s:b, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:o, s:o}, s:o, s:I}", "ok",
        r->problems_total == 0, "events", (json_int_t)r->events, "head",
        r->head.id > 0 ? json_pack("{s:I, s:s}", "id", (json_int_t)r->head.id,
                                   "hash", r->head.hash)
                       : json_null(),
        "head_hash", out_jstr_opt(r->head.hash), "sessions", "verified",
        (json_int_t)r->sessions_verified, "open", (json_int_t)r->sessions_open,
        "not_covered", (json_int_t)r->sessions_uncovered, "open_ids",
        ranges_json(r->open, r->nopen), "not_covered_ids",
        ranges_json(r->uncovered, r->nuncovered), "problems", problems_json(r),
        "problems_total", (json_int_t)r->problems_total);
    int rc = doc != NULL ? GW_OK : GW_ERR_NOMEM;

    if (rc == GW_OK && given != NULL) {
        rc = out_json_set(doc, "given_head",
                          json_pack("{s:I, s:s, s:b}", "id",
                                    (json_int_t)given->id, "hash", given->hash,
                                    "ok", r->head_ok));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, doc);
    }
    json_decref(doc);
    return rc;
}

int admin_audit_verify(struct admin_ctx *ctx)
{
    const char *head_text = admin_opt(ctx, "--head");
    struct store_audit_head given;
    struct store_audit_report r;
    char first[STORE_AUDIT_WHAT_MAX + 64];
    int rc = GW_OK;
    int vrc;

    memset(&r, 0, sizeof(r));
    if (head_text != NULL) {
        rc = store_audit_head_parse(head_text, &given);
    }
    if (rc != GW_OK) {
        return rc;
    }
    vrc = store_audit_verify(ctx->st, head_text != NULL ? &given : NULL, &r);
    if (vrc != GW_OK && vrc != GW_ERR_INVALID) {
        store_audit_report_clear(&r);
        return vrc;
    }
    /* The report says what is wrong: printed even when verify fails. */
    ctx->keep_output = true;
    if (ctx->json) {
        rc = verify_json(ctx, &r, head_text != NULL ? &given : NULL);
    } else {
        verify_text(ctx, &r, head_text != NULL ? &given : NULL);
    }
    if (rc == GW_OK && vrc == GW_ERR_INVALID) {
        problem_line(&r.problems[0], first, sizeof(first));
        if (r.problems_total > 1) {
            rc = gw_err_set(GW_ERR_INVALID,
                            "audit chain broken: %s (and %zu more problem%s)",
                            first, r.problems_total - 1,
                            r.problems_total == 2 ? "" : "s");
        } else {
            rc = gw_err_set(GW_ERR_INVALID, "audit chain broken: %s", first);
        }
    }
    store_audit_report_clear(&r);
    return rc;
}
