/*
 * host check | trust: connect to a backend the way the daemon does (the
 * same gateway/backend code), to diagnose it or to pin its host key.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/strutil.h"
#include "backend/chain.h"
#include "backend/client.h"
#include "backend/hostrecord.h"
#include "store/db.h"
#include "store/events.h"
#include "store/hosts.h"

#include <string.h>

#define DEFAULT_TIMEOUT_S 10

static int timeout_opt(struct admin_ctx *ctx, long *timeout)
{
    const char *text = admin_opt(ctx, "--timeout");

    *timeout = DEFAULT_TIMEOUT_S;
    if (text == NULL) {
        return GW_OK;
    }
    if (gw_long_parse(text, 1, 600, timeout) != GW_OK) {
        return gw_err_set(GW_ERR_INVALID,
                          "--timeout must be 1 to 600 seconds, not '%s'", text);
    }
    return GW_OK;
}

static const char *check_login(struct admin_ctx *ctx,
                               const struct store_host *h)
{
    const char *login = admin_opt(ctx, "--login");

    if (login != NULL) {
        return login;
    }
    return h->login[0] != '\0' ? h->login : NULL;
}

static int print_check(struct admin_ctx *ctx, const struct store_host *h,
                       const char *login, const struct gw_backend_result *res)
{
    const struct gw_pubkey *k = &res->host_key;

    if (ctx->json) {
        return out_json_ok(
            ctx->out,
            json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:s}", "host",
                      h->name, "address", h->address, "port", (int)h->port,
                      "login", login, "hostkey_type", k->type,
                      "hostkey_fingerprint", k->fingerprint, "pinned",
                      !res->first_use, "auth_method", h->auth_method));
    }
    fprintf(ctx->out,
            "OK: %s (%s port %u): host key %s %s %s; logged in as '%s' "
            "with the %s\n",
            h->name, h->address, (unsigned)h->port, k->type, k->fingerprint,
            res->first_use ? "NOT pinned yet (run 'host trust' or let the "
                             "first connection pin it)"
                           : "matches the pin",
            login,
            strcmp(h->auth_method, STORE_AUTH_GATEWAY_KEY) == 0
                ? "gateway's backend key"
            : strcmp(h->auth_method, STORE_AUTH_STORED_KEY) == 0
                ? "stored key"
                : "stored password");
    return GW_OK;
}

/* Connect (and authenticate unless skip_auth) to h. */
static int connect_host(struct admin_ctx *ctx, const struct store_host *h,
                        const char *login, bool skip_auth,
                        struct gw_backend_result *res)
{
    struct gw_backend_creds creds;
    struct gw_backend_spec spec;
    ssh_session session = NULL;
    long timeout = 0;
    int rc;

    memset(res, 0, sizeof(*res));
    rc = timeout_opt(ctx, &timeout);
    if (rc != GW_OK) {
        return rc;
    }
    rc = gw_backend_prepare(ctx->st, h, NULL, login, timeout, &creds, &spec);
    if (rc != GW_OK) {
        return rc;
    }
    spec.skip_auth = skip_auth;
    rc = gw_backend_connect(&spec, &session, res);
    gw_backend_close(session);
    /* The jump hosts' pins on first use, their mismatches. */
    (void)gw_backend_record_route(ctx->st, &creds.route, NULL, "sshgate-admin");
    gw_backend_creds_clear(&creds);
    gw_chain_wait_idle(2000); /* before the process exits */
    /* A mismatch is worth an audit row whoever saw it. */
    if (res->failure == GW_BACKEND_HOSTKEY_MISMATCH) {
        char why[sizeof(res->message)];
        snprintf(why, sizeof(why), "%s", res->message);
        (void)gw_backend_record(ctx->st, h, res, NULL, "sshgate-admin");
        rc = gw_err_set(rc, "%s", why);
    }
    return rc;
}

int admin_host_check(struct admin_ctx *ctx)
{
    struct store_host h;
    struct gw_backend_result res;
    const char *login = NULL;
    int rc;

    memset(&h, 0, sizeof(h));
    memset(&res, 0, sizeof(res));
    rc = store_host_get(ctx->st, admin_arg(ctx, 0), &h);
    if (rc != GW_OK) {
        goto out;
    }
    login = check_login(ctx, &h);
    if (login == NULL) {
        rc = gw_err_set(GW_ERR_INVALID,
                        "host '%s' has no default login; give --login", h.name);
        goto out;
    }
    rc = gw_name_check("login", login, GW_DEFAULT_SEPARATOR);
    if (rc != GW_OK) {
        goto out;
    }
    rc = connect_host(ctx, &h, login, false, &res);
    if (rc != GW_OK) {
        goto out;
    }
    rc = print_check(ctx, &h, login, &res);
out:
    gw_backend_result_clear(&res);
    store_host_clear(&h);
    return rc;
}

static int print_trust(struct admin_ctx *ctx, const struct store_host *h,
                       const struct gw_pubkey *k, bool changed)
{
    if (ctx->json) {
        return out_json_ok(
            ctx->out, json_pack("{s:s, s:s, s:s, s:o, s:b}", "host", h->name,
                                "hostkey_type", k->type, "hostkey_fingerprint",
                                k->fingerprint, "previous",
                                out_jstr_opt(h->hostkey_fingerprint), "changed",
                                changed));
    }
    if (!changed) {
        fprintf(ctx->out, "%s: host key %s %s is already pinned\n", h->name,
                k->type, k->fingerprint);
    } else {
        fprintf(ctx->out, "pinned %s: %s %s%s%s%s\n", h->name, k->type,
                k->fingerprint, h->hostkey_fingerprint[0] ? " (was " : "",
                h->hostkey_fingerprint, h->hostkey_fingerprint[0] ? ")" : "");
    }
    return GW_OK;
}

/* The key the backend shows now, whatever is pinned (trust replaces it). */
static int fetch_key(struct admin_ctx *ctx, const struct store_host *h,
                     struct gw_backend_result *res)
{
    struct store_host unpinned = *h;

    unpinned.hostkey_type[0] = '\0';
    unpinned.hostkey_b64 = NULL;
    unpinned.hostkey_fingerprint[0] = '\0';
    return connect_host(ctx, &unpinned, h->login[0] ? h->login : "sshgate",
                        true, res);
}

int admin_host_trust(struct admin_ctx *ctx)
{
    struct store_host h;
    struct gw_backend_result res;
    bool changed = false;
    int rc;

    memset(&h, 0, sizeof(h));
    memset(&res, 0, sizeof(res));
    rc = store_host_get(ctx->st, admin_arg(ctx, 0), &h);
    if (rc != GW_OK) {
        goto out;
    }
    rc = fetch_key(ctx, &h, &res);
    if (rc != GW_OK) {
        goto out;
    }
    changed = h.hostkey_b64 == NULL ||
              strcmp(h.hostkey_fingerprint, res.host_key.fingerprint) != 0;
    if (changed) {
        rc = admin_begin(ctx);
        if (rc == GW_OK) {
            rc = store_host_pin(ctx->st, h.name, &res.host_key);
        }
        if (rc == GW_OK) {
            rc = admin_event(ctx, "admin.host.trust", NULL,
                             "host=%s type=%s key=%s previous=%s", h.name,
                             res.host_key.type, res.host_key.fingerprint,
                             h.hostkey_fingerprint[0] ? h.hostkey_fingerprint
                                                      : "none");
        }
        if (rc != GW_OK) {
            goto out;
        }
    }
    rc = print_trust(ctx, &h, &res.host_key, changed);
out:
    gw_backend_result_clear(&res);
    store_host_clear(&h);
    return rc;
}
