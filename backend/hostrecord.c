#include "backend/hostrecord.h"

#include "backend/chain.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "core/strutil.h"
#include "store/db.h"
#include "store/events.h"
#include "store/gwkeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The newest backend identity key of the gateway. */
static int load_gateway_key(struct store *st, ssh_key *out)
{
    struct store_gwkey *keys = NULL;
    char *priv = NULL;
    size_t n = 0;
    int rc;

    rc = store_gwkey_list(st, STORE_GWKEY_BACKEND, &keys, &n);
    if (rc != GW_OK) {
        goto out;
    }
    if (n == 0) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "the gateway has no backend key; run "
                                         "'sshgate-admin init'");
        goto out;
    }
    rc = store_gwkey_private(st, keys[n - 1].id, &priv);
    if (rc != GW_OK) {
        goto out;
    }
    rc = gw_privkey_import(priv, out);
out:
    gw_free_secret_str(priv);
    store_gwkey_list_free(keys, n);
    return rc;
}

static int load_stored_secret(struct store *st, const struct store_host *h,
                              struct gw_backend_creds *creds)
{
    char *secret = NULL;
    int rc;

    rc = store_host_secret(st, h->name, &secret);
    if (rc != GW_OK) {
        return rc;
    }
    if (strcmp(h->auth_method, STORE_AUTH_PASSWORD) == 0) {
        creds->password = secret;
        return GW_OK;
    }
    rc = gw_privkey_import(secret, &creds->identity);
    gw_free_secret_str(secret);
    if (rc != GW_OK) {
        return gw_err_set(rc,
                          "host '%s': the stored private key is "
                          "unreadable",
                          h->name);
    }
    return GW_OK;
}

/* The URL the route takes: the host's own, the global one, or none. */
static const char *route_url(const struct store_host *h,
                             const struct gw_backend_net *net)
{
    if (strcmp(h->via_proxy, STORE_PROXY_DIRECT) == 0) {
        return NULL;
    }
    if (h->via_proxy[0] != '\0') {
        return h->via_proxy;
    }
    if (net == NULL || net->proxy == NULL || net->proxy[0] == '\0' ||
        gw_proxy_bypassed(net->bypass, h->address)) {
        return NULL;
    }
    return net->proxy;
}

static int prepare_one(struct store *st, const struct store_host *h,
                       const struct gw_backend_net *net, const char *login,
                       long timeout_s, bool chain,
                       struct gw_backend_creds *creds,
                       struct gw_backend_spec *spec);

/* The rows of h's jump hosts, nearest last: hops[0] is connected first. */
static int load_hops(struct store *st, const struct store_host *h,
                     long max_depth, struct gw_backend_chain *chain)
{
    char via[GW_NAME_MAX + 1];
    size_t n = 0;

    snprintf(via, sizeof(via), "%s", h->proxy);
    while (via[0] != '\0') {
        struct store_host hop;
        int rc;
        if ((long)n >= max_depth || n >= STORE_JUMP_MAX) {
            return gw_err_set(GW_ERR_DENIED,
                              "more than %ld jump hosts to %s "
                              "(max_jump_depth)",
                              max_depth, h->name);
        }
        rc = store_host_get(st, via, &hop);
        if (rc != GW_OK) {
            return rc;
        }
        /* Shift: the farther hop goes first. */
        memmove(&chain->hops[1], &chain->hops[0], n * sizeof(chain->hops[0]));
        memset(&chain->hops[0], 0, sizeof(chain->hops[0]));
        chain->hops[0].host = hop;
        chain->n = ++n;
        snprintf(via, sizeof(via), "%s", hop.proxy);
    }
    return GW_OK;
}

/* Each hop's credential and pin; the first hop's own proxy route. */
static int load_chain(struct store *st, const struct store_host *h,
                      const struct gw_backend_net *net, long timeout_s,
                      struct gw_backend_chain **out)
{
    struct gw_backend_chain *chain = calloc(1, sizeof(*chain));
    long depth =
        net != NULL && net->max_jump_depth > 0 ? net->max_jump_depth : 3;
    int rc;

    if (chain == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = load_hops(st, h, depth, chain);
    for (size_t i = 0; i < chain->n && rc == GW_OK; i++) {
        struct gw_backend_hop *hop = &chain->hops[i];
        if (hop->host.login[0] == '\0') {
            rc = gw_err_set(GW_ERR_DENIED,
                            "jump host '%s' has no default login (host add "
                            "--login): the gateway logs in to it as that",
                            hop->host.name);
            break;
        }
        rc = prepare_one(st, &hop->host, i == 0 ? net : NULL, hop->host.login,
                         timeout_s, false, &hop->creds, &hop->spec);
        if (rc == GW_OK && i > 0) {
            hop->spec.route = NULL; /* reached through the previous hop */
        }
    }
    if (rc != GW_OK) {
        gw_chain_free(chain);
        return rc;
    }
    *out = chain;
    return GW_OK;
}

static int route_load(struct store *st, const struct store_host *h,
                      const struct gw_backend_net *net, long timeout_s,
                      bool chain, struct gw_backend_route *out)
{
    const char *url = route_url(h, net);
    int rc;

    memset(out, 0, sizeof(*out));
    if (chain && h->proxy[0] != '\0') {
        return load_chain(st, h, net, timeout_s, &out->chain);
    }
    if (url == NULL) {
        return GW_OK;
    }
    rc = gw_proxy_url_parse(url, &out->proxy.url);
    if (rc != GW_OK) {
        return gw_err_set(rc, "host '%s': unusable proxy: %s", h->name,
                          gw_err_msg());
    }
    /* Only the host's own proxy has a stored password. */
    if (url == h->via_proxy && h->has_proxy_secret) {
        rc = store_host_proxy_secret(st, h->name, &out->password);
        if (rc != GW_OK) {
            return rc;
        }
    }
    out->proxy.password = out->password;
    out->use_proxy = true;
    return GW_OK;
}

int gw_backend_route_load(struct store *st, const struct store_host *h,
                          const struct gw_backend_net *net, long timeout_s,
                          struct gw_backend_route *out)
{
    int rc = route_load(st, h, net, timeout_s, true, out);

    if (rc != GW_OK) {
        gw_backend_route_clear(out);
    }
    return rc;
}

void gw_backend_route_clear(struct gw_backend_route *route)
{
    gw_free_secret_str(route->password);
    gw_chain_free(route->chain);
    memset(route, 0, sizeof(*route));
}

int gw_backend_prepare(struct store *st, const struct store_host *h,
                       const struct gw_backend_net *net, const char *login,
                       long timeout_s, struct gw_backend_creds *creds,
                       struct gw_backend_spec *spec)
{
    return prepare_one(st, h, net, login, timeout_s, true, creds, spec);
}

static int prepare_one(struct store *st, const struct store_host *h,
                       const struct gw_backend_net *net, const char *login,
                       long timeout_s, bool chain,
                       struct gw_backend_creds *creds,
                       struct gw_backend_spec *spec)
{
    int rc;

    memset(creds, 0, sizeof(*creds));
    memset(spec, 0, sizeof(*spec));
    if (strcmp(h->auth_method, STORE_AUTH_GATEWAY_KEY) == 0) {
        rc = load_gateway_key(st, &creds->identity);
    } else {
        rc = load_stored_secret(st, h, creds);
    }
    if (rc == GW_OK) {
        rc = route_load(st, h, net, timeout_s, chain, &creds->route);
    }
    if (rc != GW_OK) {
        gw_backend_creds_clear(creds);
        return rc;
    }
    spec->host_name = h->name;
    spec->address = h->address;
    spec->port = h->port;
    spec->login = login;
    spec->timeout_s = timeout_s;
    spec->pin_type = h->hostkey_type;
    spec->pin_b64 = h->hostkey_b64;
    spec->pin_fingerprint = h->hostkey_fingerprint;
    spec->identity = creds->identity;
    spec->password = creds->password;
    spec->route = &creds->route;
    return GW_OK;
}

void gw_backend_creds_clear(struct gw_backend_creds *creds)
{
    ssh_key_free(creds->identity);
    gw_free_secret_str(creds->password);
    gw_backend_route_clear(&creds->route);
    memset(creds, 0, sizeof(*creds));
}

/* Pin (or complete a fingerprint-only pin) and write the event, in one
 * transaction so the pin never exists without its audit row. */
static int record_pin(struct store *st, const struct store_host *h,
                      const struct gw_backend_result *res, const char *user,
                      const char *client)
{
    const struct gw_pubkey *k = &res->host_key;
    int rc;

    rc = store_begin(st);
    if (rc != GW_OK) {
        return rc;
    }
    rc = store_host_pin(st, h->name, k);
    if (rc == GW_OK && res->first_use) {
        char address[GW_HOSTPORT_MAX];

        gw_net_hostport(h->address, h->port, address, sizeof(address));
        rc = store_event_addf(st, "host.pin", user, client,
                              "host=%s address=%s type=%s key=%s "
                              "reason=first-use",
                              h->name, address, k->type, k->fingerprint);
    }
    if (rc == GW_OK) {
        rc = store_commit(st);
    }
    if (rc != GW_OK) {
        store_rollback(st);
    }
    return rc;
}

/*
 * The events of a failed attempt. Every backend event (these, host.pin,
 * and the backend.failure events of gateway/) has host= address= reason=,
 * so that one query finds a host's failures of every kind; the address is
 * the one tried, which the host row may no longer hold when someone reads
 * the event. Free text goes only in the quoted message=.
 */
static int record_failure(struct store *st, const struct store_host *h,
                          const struct gw_backend_result *res, const char *user,
                          const char *client)
{
    char address[GW_HOSTPORT_MAX];
    char message[sizeof(res->message) + 16];

    gw_net_hostport(h->address, h->port, address, sizeof(address));
    if (res->hop[0] != '\0') {
        /* A jump host failed: its own events name it; this one says
         * which host could not be reached through it. */
        gw_sanitize(res->message, message, sizeof(message));
        return store_event_addf(
            st, "backend.failure", user, client,
            "host=%s address=%s reason=%s message=\"%s\" jump=%s", h->name,
            address, gw_backend_failure_name(res->failure), message, res->hop);
    }
    if (res->failure == GW_BACKEND_HOSTKEY_MISMATCH) {
        return store_event_addf(
            st, "host.mismatch", user, client,
            "host=%s address=%s reason=%s presented=%s pinned=%s", h->name,
            address, gw_backend_failure_name(res->failure),
            res->host_key.fingerprint,
            h->hostkey_fingerprint[0] != '\0' ? h->hostkey_fingerprint
                                              : "none");
    }
    /* The message can quote the backend (libssh's error text). */
    gw_sanitize(res->message, message, sizeof(message));
    return store_event_addf(st, "backend.failure", user, client,
                            "host=%s address=%s reason=%s message=\"%s\"",
                            h->name, address,
                            gw_backend_failure_name(res->failure), message);
}

int gw_backend_record(struct store *st, const struct store_host *h,
                      const struct gw_backend_result *res, const char *user,
                      const char *client)
{
    bool have_key = res->host_key.blob_b64 != NULL;
    bool full_pin = h->hostkey_b64 != NULL && h->hostkey_b64[0] != '\0';

    if (res->failure != GW_BACKEND_OK) {
        int rc = record_failure(st, h, res, user, client);

        /* A key verified before auth failed (or before a jump host's
         * channel to the next hop was refused) is still worth pinning. */
        if (rc == GW_OK && have_key && res->first_use &&
            (res->failure == GW_BACKEND_AUTH ||
             res->failure == GW_BACKEND_UNREACHABLE)) {
            rc = record_pin(st, h, res, user, client);
        }
        return rc;
    }
    if (have_key && (res->first_use || !full_pin)) {
        return record_pin(st, h, res, user, client);
    }
    return GW_OK;
}

int gw_backend_record_route(struct store *st,
                            const struct gw_backend_route *route,
                            const char *user, const char *client)
{
    int rc = GW_OK;

    if (route == NULL || route->chain == NULL) {
        return GW_OK;
    }
    for (size_t i = 0; i < route->chain->n && rc == GW_OK; i++) {
        const struct gw_backend_hop *hop = &route->chain->hops[i];
        if (hop->tried) {
            rc = gw_backend_record(st, &hop->host, &hop->res, user, client);
        }
    }
    return rc;
}
