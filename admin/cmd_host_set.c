/*
 * How the gateway reaches a host, beside its address: through a jump host
 * (--via, a chain of the gateway's own SSH connections) and through an
 * outbound proxy (--via-proxy, with --proxy-password-stdin): the options
 * of "host add", and "host set" to change them later.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/crypto.h"
#include "core/strutil.h"
#include "store/hosts.h"

#include <string.h>

/* "none" for an option's empty value. */
static const char *or_none(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "none";
}

/* Check --via-proxy (canonical into url) and read its password. */
int admin_host_proxy_opts(struct admin_ctx *ctx, bool backend_password,
                          char url[GW_PROXY_URL_MAX], char **password)
{
    const char *text = admin_opt(ctx, "--via-proxy");
    bool want = admin_flag(ctx, "--proxy-password-stdin");
    struct gw_proxy_url parsed;
    int rc;

    url[0] = '\0';
    *password = NULL;
    if (text == NULL || strcmp(text, "none") == 0) {
        return want ? admin_usage_error("--proxy-password-stdin needs "
                                        "--via-proxy URL")
                    : GW_OK;
    }
    rc = store_via_proxy_check(text, url);
    if (rc != GW_OK || !want) {
        return rc;
    }
    if (backend_password) {
        return admin_usage_error("--password-stdin and "
                                 "--proxy-password-stdin both read stdin; "
                                 "give the proxy's with 'host set' after");
    }
    if (strcmp(url, STORE_PROXY_DIRECT) == 0 ||
        gw_proxy_url_parse(url, &parsed) != GW_OK || parsed.user[0] == '\0' ||
        parsed.kind == GW_PROXY_SOCKS4 || parsed.kind == GW_PROXY_SOCKS4A) {
        return gw_err_set(GW_ERR_INVALID,
                          "a proxy password needs a socks5 or http proxy URL "
                          "with a user (socks5://USER@HOST:PORT)");
    }
    return admin_read_password(ctx, password);
}

/* The text of --via / --via-proxy for an event or a message. */
void admin_host_route_text(const char *via, const char *url, bool password,
                           char *out, size_t outlen)
{
    snprintf(out, outlen, "via=%s via_proxy=%s proxy_password=%s", or_none(via),
             or_none(url), password ? "stored" : "none");
}

int admin_host_set(struct admin_ctx *ctx)
{
    const char *name = admin_arg(ctx, 0);
    const char *via = admin_opt(ctx, "--via");
    struct store_host_route route;
    char url[GW_PROXY_URL_MAX];
    char text[GW_PROXY_URL_MAX + GW_NAME_MAX + 64];
    char *password = NULL;
    int rc;

    memset(&route, 0, sizeof(route));
    if (via == NULL && admin_opt(ctx, "--via-proxy") == NULL) {
        return admin_usage_error("host set needs --via or --via-proxy");
    }
    rc = admin_host_proxy_opts(ctx, false, url, &password);
    if (rc != GW_OK) {
        goto out;
    }
    route.set_via = via != NULL;
    route.via = via != NULL && strcmp(via, "none") != 0 ? via : NULL;
    route.set_proxy = admin_opt(ctx, "--via-proxy") != NULL;
    route.via_proxy = url;
    route.via_proxy_secret = password;
    rc = admin_begin(ctx);
    if (rc == GW_OK) {
        rc = store_host_set_route(ctx->st, name, &route);
    }
    if (rc != GW_OK) {
        goto out;
    }
    admin_host_route_text(route.set_via ? route.via : "(unchanged)",
                          route.set_proxy ? url : "(unchanged)",
                          password != NULL, text, sizeof(text));
    rc = admin_event(ctx, "admin.host.set", NULL, "host=%s %s", name, text);
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(
            ctx->out, json_pack("{s:s, s:s}", "host", name, "done", "changed"));
    } else {
        fprintf(ctx->out, "changed host '%s': %s\n", name, text);
    }
out:
    gw_free_secret_str(password);
    return rc;
}
