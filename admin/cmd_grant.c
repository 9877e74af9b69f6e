/*
 * grant add | list | del: which user may reach which host, as which
 * backend login, with which channel kinds, until when.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/config.h"
#include "core/strutil.h"
#include "core/timeutil.h"
#include "store/db.h"
#include "store/grants.h"
#include "store/hosts.h"

#include <stdlib.h>
#include <string.h>

int admin_rate_limit_opt(struct admin_ctx *ctx, int64_t *rate)
{
    const char *text = admin_opt(ctx, "--rate-limit");

    *rate = 0;
    if (text == NULL || strcmp(text, "off") == 0) {
        return GW_OK;
    }
    if (gw_parse_bytes(text, 0, INT64_C(1) << 40, rate) != GW_OK) {
        return admin_usage_error("--rate-limit: '%s' is not a rate (bytes per "
                                 "second, or a number with K, M or G; 0 or "
                                 "off for none)",
                                 text);
    }
    return GW_OK;
}

void admin_rate_text(int64_t rate, char *out, size_t len)
{
    static const char units[] = "KMG";
    int u = -1;
    int64_t v = rate;

    if (rate <= 0) {
        snprintf(out, len, "off");
        return;
    }
    while (u < 2 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0) {
        snprintf(out, len, "%lld/s", (long long)v);
    } else {
        snprintf(out, len, "%lld%c/s", (long long)v, units[u]);
    }
}

/* "shell,exec,sftp" as a JSON array of names. */
static json_t *allow_json(unsigned allow)
{
    char text[STORE_ALLOW_TEXT_MAX];
    json_t *arr = json_array();
    char *save = NULL;

    store_allow_format(allow, text);
    for (char *w = strtok_r(text, ",", &save); w != NULL && arr != NULL;
         w = strtok_r(NULL, ",", &save)) {
        if (out_json_append(arr, json_string(w)) != GW_OK) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *grant_json(const struct store_grant *g)
{
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:b, s:s, s:i, s:s, s:I}", "user", g->user,
        "host", g->host, "login", g->login, "allow", allow_json(g->allow),
        "expires_at", out_jstr_opt(g->expires_at), "expired",
        store_grant_expired(g), "address", g->address, "port", (int)g->port,
        "created_at", g->created_at, "rate_limit", (json_int_t)g->rate_limit);
}

int admin_grant_json(const struct store_grant *grants, size_t n, json_t **out)
{
    json_t *arr = json_array();
    int rc = arr != NULL ? GW_OK : GW_ERR_NOMEM;

    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = out_json_append(arr, grant_json(&grants[i]));
    }
    if (rc != GW_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return GW_OK;
}

static int grant_row(struct out_table *t, const struct store_grant *g,
                     unsigned cols)
{
    const char *cells[OUT_COLS_MAX];
    char allow[STORE_ALLOW_TEXT_MAX];
    char expires[GW_TIME_LEN + 16];
    char rate[32];
    size_t c = 0;

    store_allow_format(g->allow, allow);
    snprintf(expires, sizeof(expires), "%s%s",
             g->expires_at[0] != '\0' ? g->expires_at : "never",
             store_grant_expired(g) ? " (expired)" : "");
    if (cols & ADMIN_GRANT_USER) {
        cells[c++] = g->user;
    }
    if (cols & ADMIN_GRANT_HOST) {
        cells[c++] = g->host;
    }
    cells[c++] = g->login;
    cells[c++] = allow;
    cells[c++] = expires;
    admin_rate_text(g->rate_limit, rate, sizeof(rate));
    cells[c++] = rate;
    return out_table_add(t, cells);
}

int admin_grant_table(FILE *f, const struct store_grant *grants, size_t n,
                      unsigned cols, const char *indent)
{
    const char *hdr[OUT_COLS_MAX];
    struct out_table *t = NULL;
    size_t c = 0;
    int rc;

    if (cols & ADMIN_GRANT_USER) {
        hdr[c++] = "USER";
    }
    if (cols & ADMIN_GRANT_HOST) {
        hdr[c++] = "HOST";
    }
    hdr[c++] = "LOGIN";
    hdr[c++] = "ALLOW";
    hdr[c++] = "EXPIRES";
    hdr[c++] = "RATE LIMIT";
    rc = out_table_new(hdr, c, &t);
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        rc = grant_row(t, &grants[i], cols);
    }
    if (rc == GW_OK) {
        out_table_print(t, f, indent);
    }
    out_table_free(t);
    return rc;
}

struct grant_req {
    const char *user;
    const char *host;
    const char *login; /* NULL: the host's default login */
    unsigned allow;
    char expires[GW_TIME_LEN]; /* "" for never */
    int64_t rate_limit;        /* bytes/s, 0: none */
};

static int grant_req_parse(struct admin_ctx *ctx, struct grant_req *req)
{
    const char *allow = admin_opt(ctx, "--allow");
    const char *expires = admin_opt(ctx, "--expires");
    char now[GW_TIME_LEN];
    int rc = GW_OK;

    memset(req, 0, sizeof(*req));
    req->user = admin_arg(ctx, 0);
    req->host = admin_arg(ctx, 1);
    req->login = admin_opt(ctx, "--login");
    req->allow = STORE_ALLOW_DEFAULT;
    if (req->login != NULL) {
        rc = gw_name_check("login", req->login, GW_DEFAULT_SEPARATOR);
    }
    if (rc == GW_OK && allow != NULL) {
        rc = store_allow_parse(allow, &req->allow);
    }
    if (rc == GW_OK && expires != NULL) {
        rc = gw_time_parse(expires, GW_TIME_FUTURE, req->expires);
    }
    if (rc == GW_OK) {
        rc = admin_rate_limit_opt(ctx, &req->rate_limit);
    }
    gw_time_now_iso(now);
    /* A grant that is over before it starts is a typo, not a wish. */
    if (rc == GW_OK && req->expires[0] != '\0' &&
        strcmp(req->expires, now) <= 0) {
        rc = gw_err_set(GW_ERR_INVALID, "expiry %s is in the past",
                        req->expires);
    }
    return rc;
}

/* The login a grant without --login gets, for the event and the reply. */
static void effective_login(struct admin_ctx *ctx, const struct grant_req *r,
                            char out[GW_NAME_MAX + 1])
{
    struct store_host h;

    out[0] = '\0';
    if (r->login != NULL) {
        (void)gw_strlcpy(out, r->login, GW_NAME_MAX + 1);
    } else if (store_host_get(ctx->st, r->host, &h) == GW_OK) {
        (void)gw_strlcpy(out, h.login, GW_NAME_MAX + 1);
        store_host_clear(&h);
    }
}

static int print_granted(struct admin_ctx *ctx, const struct grant_req *r,
                         const char *login)
{
    char allow[STORE_ALLOW_TEXT_MAX];
    char rate[32];
    const char *expires = r->expires[0] != '\0' ? r->expires : "never";

    store_allow_format(r->allow, allow);
    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}", "user",
                                     r->user, "host", r->host, "login", login,
                                     "allow", allow_json(r->allow),
                                     "expires_at", out_jstr_opt(r->expires),
                                     "rate_limit", (json_int_t)r->rate_limit));
    }
    admin_rate_text(r->rate_limit, rate, sizeof(rate));
    fprintf(ctx->out,
            "granted user '%s' host '%s' as '%s' (%s; expires %s%s%s)\n",
            r->user, r->host, login, allow, expires,
            r->rate_limit > 0 ? "; rate limit " : "",
            r->rate_limit > 0 ? rate : "");
    return GW_OK;
}

int admin_grant_add(struct admin_ctx *ctx)
{
    struct grant_req req;
    char login[GW_NAME_MAX + 1];
    char allow[STORE_ALLOW_TEXT_MAX];
    int rc;

    rc = grant_req_parse(ctx, &req);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_grant_add(ctx->st, req.user, req.host, req.login, req.allow,
                         req.expires[0] != '\0' ? req.expires : NULL,
                         GW_DEFAULT_SEPARATOR, NULL);
    if (rc != GW_OK) {
        goto out;
    }
    effective_login(ctx, &req, login);
    if (req.rate_limit > 0) {
        rc = store_grant_set_rate_limit(ctx->st, req.user, req.host, login,
                                        req.rate_limit);
        if (rc != GW_OK) {
            goto out;
        }
    }
    store_allow_format(req.allow, allow);
    rc = admin_event(ctx, "admin.grant.add", req.user,
                     "host=%s login=%s allow=%s expires=%s rate_limit=%lld",
                     req.host, login, allow,
                     req.expires[0] != '\0' ? req.expires : "never",
                     (long long)req.rate_limit);
    if (rc != GW_OK) {
        goto out;
    }
    rc = print_granted(ctx, &req, login);
out:
    return rc;
}

int admin_grant_list(struct admin_ctx *ctx)
{
    struct store_grant *grants = NULL;
    json_t *doc = NULL;
    size_t n = 0;
    int rc;

    rc = store_grant_list(ctx->st, admin_arg(ctx, 0), false, &grants, &n);
    if (rc != GW_OK) {
        goto out;
    }
    if (!ctx->json) {
        rc = admin_grant_table(ctx->out, grants, n,
                               ADMIN_GRANT_USER | ADMIN_GRANT_HOST, "");
        goto out;
    }
    rc = admin_grant_json(grants, n, &doc);
    if (rc != GW_OK) {
        goto out;
    }
    rc = out_json(ctx->out, doc);
out:
    json_decref(doc);
    free(grants);
    return rc;
}

int admin_grant_del(struct admin_ctx *ctx)
{
    const char *user = admin_arg(ctx, 0);
    const char *host = admin_arg(ctx, 1);
    const char *login = admin_opt(ctx, "--login");
    int rc;

    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_grant_delete(ctx->st, user, host, login);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_event(ctx, "admin.grant.del", user, "host=%s login=%s", host,
                     login != NULL ? login : "*");
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out,
                         json_pack("{s:s, s:s, s:o}", "user", user, "host",
                                   host, "login", out_jstr(login)));
    } else {
        fprintf(ctx->out, "deleted the grant%s of user '%s' on host '%s'%s%s\n",
                login != NULL ? "" : "s", user, host,
                login != NULL ? " as " : "", login != NULL ? login : "");
    }
out:
    return rc;
}

/* "grant set USER HOST [--login L] --rate-limit R": change what an
 * existing grant allows per second; open connections keep the rate their
 * channels started with, new channels take the new one. */
int admin_grant_set(struct admin_ctx *ctx)
{
    struct grant_req req;
    char login[GW_NAME_MAX + 1];
    char rate[32];
    int rc;

    memset(&req, 0, sizeof(req));
    req.user = admin_arg(ctx, 0);
    req.host = admin_arg(ctx, 1);
    req.login = admin_opt(ctx, "--login");
    rc = admin_rate_limit_opt(ctx, &req.rate_limit);
    if (rc == GW_OK) {
        rc = admin_begin(ctx);
    }
    if (rc != GW_OK) {
        return rc;
    }
    effective_login(ctx, &req, login);
    rc = store_grant_set_rate_limit(ctx->st, req.user, req.host, login,
                                    req.rate_limit);
    if (rc == GW_OK) {
        rc = admin_event(ctx, "admin.grant.set", req.user,
                         "host=%s login=%s rate_limit=%lld", req.host, login,
                         (long long)req.rate_limit);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:s, s:s, s:s, s:I}", "user", req.user,
                                     "host", req.host, "login", login,
                                     "rate_limit", (json_int_t)req.rate_limit));
    }
    admin_rate_text(req.rate_limit, rate, sizeof(rate));
    fprintf(ctx->out,
            "set the rate limit of user '%s' on host '%s' as '%s' to %s\n",
            req.user, req.host, login, rate);
    return GW_OK;
}
