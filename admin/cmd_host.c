/*
 * host add | list | show | del: the backends users reach through the
 * gateway. Validation of names, addresses and pins lives in store/hosts.c,
 * so the daemon and the CLI accept exactly the same hosts.
 */
#include "admin/internal.h"

#include "admin/output.h"
#include "core/crypto.h"
#include "core/strutil.h"
#include "store/db.h"
#include "store/grants.h"
#include "store/hosts.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static const char *pin_text(const struct store_host *h)
{
    return h->hostkey_fingerprint[0] != '\0' ? h->hostkey_fingerprint
                                             : "(first connect pins it)";
}

static json_t *host_json(const struct store_host *h)
{
    json_t *key = NULL;

    if (h->hostkey_b64 != NULL) {
        key = json_pack("s++", h->hostkey_type, " ", h->hostkey_b64);
    }
    return json_pack(
        "{s:s, s:s, s:i, s:o, s:b, s:o, s:o, s:o, s:s, s:b, "
        "s:o, s:o, s:o, s:b, s:s, s:s}",
        "name", h->name, "address", h->address, "port", (int)h->port, "login",
        out_jstr_opt(h->login), "pinned", h->hostkey_fingerprint[0] != '\0',
        "hostkey_type", out_jstr_opt(h->hostkey_type), "hostkey_fingerprint",
        out_jstr_opt(h->hostkey_fingerprint), "hostkey",
        key != NULL ? key : json_null(), "auth_method", h->auth_method,
        "has_secret", h->has_secret, "proxy", out_jstr_opt(h->proxy), "via",
        out_jstr_opt(h->proxy), "via_proxy", out_jstr_opt(h->via_proxy),
        "has_proxy_secret", h->has_proxy_secret, "created_at", h->created_at,
        "updated_at", h->updated_at);
}

/* Read a private key file for --key-file and check that it is usable. */
static int read_private_key(const char *path, char **text)
{
    char buf[65536];
    FILE *f = fopen(path, "r");
    ssh_key key = NULL;
    size_t n;
    int rc;

    if (f == NULL) {
        return gw_err_set(GW_ERR_IO, "cannot read key file %s: %s", path,
                          strerror(errno));
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    rc = ferror(f) || !feof(f) ? GW_ERR_INVALID : GW_OK;
    fclose(f);
    buf[n] = '\0';
    if (rc == GW_OK) {
        rc = gw_privkey_import(buf, &key);
    }
    ssh_key_free(key);
    if (rc == GW_OK) {
        *text = strdup(buf);
        rc = *text != NULL ? GW_OK : GW_ERR_NOMEM;
    } else {
        rc = gw_err_set(GW_ERR_INVALID,
                        "%s is not an unencrypted private key "
                        "(passphrase-protected keys cannot be used)",
                        path);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

/* --key-file FILE or --password-stdin: what the gateway logs in with on
 * this host instead of its own backend key. *secret is wiped by the
 * caller. */
static int host_credential(struct admin_ctx *ctx, struct store_host_spec *spec,
                           char **secret)
{
    const char *key_file = admin_opt(ctx, "--key-file");
    bool password = admin_flag(ctx, "--password-stdin");
    int rc = GW_OK;

    if (key_file != NULL && password) {
        return admin_usage_error("--key-file and --password-stdin exclude "
                                 "each other");
    }
    if (key_file != NULL) {
        spec->auth_method = STORE_AUTH_STORED_KEY;
        rc = read_private_key(key_file, secret);
    } else if (password) {
        spec->auth_method = STORE_AUTH_PASSWORD;
        rc = admin_read_password(ctx, secret);
    }
    spec->auth_secret = *secret;
    return rc;
}

static int host_spec(struct admin_ctx *ctx, struct store_host_spec *spec)
{
    const char *port = admin_opt(ctx, "--port");
    int rc = GW_OK;

    memset(spec, 0, sizeof(*spec));
    spec->name = admin_arg(ctx, 0);
    spec->address = admin_opt(ctx, "--address");
    spec->login = admin_opt(ctx, "--login");
    spec->fingerprint = admin_opt(ctx, "--fingerprint");
    spec->port = 22;
    if (port != NULL) {
        rc = gw_port_parse(port, &spec->port);
    }
    /* Given but empty is a mistake, not "no default login". */
    if (rc == GW_OK && spec->login != NULL) {
        rc = gw_name_check("login", spec->login, GW_DEFAULT_SEPARATOR);
    }
    if (rc == GW_OK && spec->fingerprint != NULL) {
        rc = store_fingerprint_check(spec->fingerprint);
    }
    return rc;
}

static int print_host_added(struct admin_ctx *ctx,
                            const struct store_host_spec *spec)
{
    if (ctx->json) {
        return out_json_ok(ctx->out,
                           json_pack("{s:s, s:s, s:i}", "host", spec->name,
                                     "address", spec->address, "port",
                                     (int)spec->port));
    }
    fprintf(ctx->out, "added host '%s' (%s port %u)\n", spec->name,
            spec->address, (unsigned)spec->port);
    return GW_OK;
}

int admin_host_add(struct admin_ctx *ctx)
{
    struct store_host_spec spec;
    char url[GW_PROXY_URL_MAX];
    char route[GW_PROXY_URL_MAX + GW_NAME_MAX + 64];
    char *secret = NULL;
    char *proxy_secret = NULL;
    int rc;

    rc = host_spec(ctx, &spec);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_host_proxy_opts(ctx, admin_flag(ctx, "--password-stdin"), url,
                               &proxy_secret);
    if (rc != GW_OK) {
        goto out;
    }
    spec.proxy = admin_opt(ctx, "--via");
    spec.via_proxy = url;
    spec.via_proxy_secret = proxy_secret;
    admin_host_route_text(spec.proxy, url, proxy_secret != NULL, route,
                          sizeof(route));
    rc = host_credential(ctx, &spec, &secret);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_host_add(ctx->st, &spec, GW_DEFAULT_SEPARATOR, NULL);
    if (rc != GW_OK) {
        goto out;
    }
    rc = admin_event(ctx, "admin.host.add", NULL,
                     "host=%s address=%s port=%u login=%s pin=%s auth=%s "
                     "%s",
                     spec.name, spec.address, (unsigned)spec.port,
                     spec.login != NULL ? spec.login : "-",
                     spec.fingerprint != NULL ? spec.fingerprint : "tofu",
                     spec.auth_method != NULL ? spec.auth_method
                                              : STORE_AUTH_GATEWAY_KEY,
                     route);
    if (rc != GW_OK) {
        goto out;
    }
    rc = print_host_added(ctx, &spec);
out:
    gw_free_secret_str(secret);
    gw_free_secret_str(proxy_secret);
    return rc;
}

int admin_host_list(struct admin_ctx *ctx)
{
    static const char *const hdr[] = {"NAME", "ADDRESS", "PORT", "LOGIN",
                                      "HOST KEY"};
    struct store_host *hosts = NULL;
    struct out_table *t = NULL;
    json_t *doc = NULL;
    size_t n = 0;
    char port[8];
    int rc;

    rc = store_host_list(ctx->st, &hosts, &n);
    if (rc != GW_OK) {
        goto out;
    }
    doc = json_array();
    rc = doc != NULL ? out_table_new(hdr, 5, &t) : GW_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == GW_OK; i++) {
        const struct store_host *h = &hosts[i];
        snprintf(port, sizeof(port), "%u", (unsigned)h->port);
        rc = ctx->json ? out_json_append(doc, host_json(h))
                       : out_table_row(t, h->name, h->address, port, h->login,
                                       pin_text(h));
    }
    if (rc == GW_OK && ctx->json) {
        rc = out_json(ctx->out, doc);
    } else if (rc == GW_OK) {
        out_table_print(t, ctx->out, "");
    }
out:
    out_table_free(t);
    json_decref(doc);
    store_host_list_free(hosts, n);
    return rc;
}

/* The grants on one host (the store lists them per user). */
static int host_grants(struct admin_ctx *ctx, const char *host,
                       struct store_grant **grants, size_t *n)
{
    struct store_grant *all = NULL;
    size_t count = 0;
    size_t kept = 0;
    int rc;

    rc = store_grant_list(ctx->st, NULL, false, &all, &count);
    if (rc != GW_OK) {
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(all[i].host, host) == 0) {
            all[kept++] = all[i];
        }
    }
    *grants = all;
    *n = kept;
    return GW_OK;
}

static int host_show_json(struct admin_ctx *ctx, const struct store_host *h,
                          const struct store_grant *grants, size_t n)
{
    json_t *doc = host_json(h);
    json_t *arr = NULL;
    int rc = doc != NULL ? GW_OK : GW_ERR_NOMEM;

    if (rc == GW_OK) {
        rc = admin_grant_json(grants, n, &arr);
    }
    if (rc == GW_OK) {
        rc = out_json_set(doc, "grants", json_incref(arr));
    }
    if (rc == GW_OK) {
        rc = out_json(ctx->out, doc);
    }
    json_decref(arr);
    json_decref(doc);
    return rc;
}

static int host_show_text(struct admin_ctx *ctx, const struct store_host *h,
                          const struct store_grant *grants, size_t n)
{
    char port[8];

    snprintf(port, sizeof(port), "%u", (unsigned)h->port);
    out_field(ctx->out, "name", h->name);
    out_field(ctx->out, "address", h->address);
    out_field(ctx->out, "port", port);
    out_field(ctx->out, "login", h->login);
    out_field(ctx->out, "host key", pin_text(h));
    if (h->hostkey_b64 != NULL) {
        fprintf(ctx->out, "%-17s%s ", "", h->hostkey_type);
        out_text(ctx->out, h->hostkey_b64);
        fputc('\n', ctx->out);
    }
    out_field(ctx->out, "backend auth", h->auth_method);
    out_field(ctx->out, "via", h->proxy);
    out_field(ctx->out, "via proxy", h->via_proxy);
    if (h->has_proxy_secret) {
        out_field(ctx->out, "proxy password", "(stored)");
    }
    out_field(ctx->out, "created", h->created_at);
    out_field(ctx->out, "updated", h->updated_at);
    fprintf(ctx->out, "grants (%zu):\n", n);
    return admin_grant_table(ctx->out, grants, n, ADMIN_GRANT_USER, "  ");
}

int admin_host_show(struct admin_ctx *ctx)
{
    struct store_host h;
    struct store_grant *grants = NULL;
    size_t n = 0;
    int rc;

    memset(&h, 0, sizeof(h));
    rc = store_host_get(ctx->st, admin_arg(ctx, 0), &h);
    if (rc != GW_OK) {
        goto out;
    }
    rc = host_grants(ctx, h.name, &grants, &n);
    if (rc != GW_OK) {
        goto out;
    }
    rc = ctx->json ? host_show_json(ctx, &h, grants, n)
                   : host_show_text(ctx, &h, grants, n);
out:
    free(grants);
    store_host_clear(&h);
    return rc;
}

int admin_host_del(struct admin_ctx *ctx)
{
    const char *name = admin_arg(ctx, 0);
    struct store_grant *grants = NULL;
    size_t n = 0;
    int rc;

    rc = admin_begin(ctx);
    if (rc != GW_OK) {
        goto out;
    }
    /* Counted first: the deletion takes the host's grants with it. */
    rc = host_grants(ctx, name, &grants, &n);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_host_delete(ctx->st, name);
    if (rc != GW_OK) {
        goto out;
    }
    rc =
        admin_event(ctx, "admin.host.del", NULL, "host=%s grants=%zu", name, n);
    if (rc != GW_OK) {
        goto out;
    }
    if (ctx->json) {
        rc = out_json_ok(ctx->out,
                         json_pack("{s:s, s:s, s:i}", "host", name, "done",
                                   "deleted", "grants", (int)n));
    } else {
        fprintf(ctx->out, "deleted host '%s' and its %zu grant%s\n", name, n,
                n == 1 ? "" : "s");
    }
out:
    free(grants);
    return rc;
}
