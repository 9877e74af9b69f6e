#include "store/hosts.h"

#include "store/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_COLUMNS                                                     \
    "h.id, h.name, h.address, h.port, h.default_login, h.hostkey_type, " \
    "h.hostkey_blob, h.hostkey_fingerprint, h.auth_method, "             \
    "h.auth_secret IS NOT NULL, p.name, h.created_at, h.updated_at, "    \
    "h.via_proxy, h.via_proxy_secret IS NOT NULL"

#define HOST_FROM "hosts h LEFT JOIN hosts p ON p.id = h.proxy_host_id"

static int read_host(struct st_stmt *stmt, struct store_host *h)
{
    memset(h, 0, sizeof(*h));
    h->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, h->name, sizeof(h->name));
    st_col_copy(stmt, 2, h->address, sizeof(h->address));
    h->port = (uint16_t)st_col_int(stmt, 3);
    st_col_copy(stmt, 4, h->login, sizeof(h->login));
    st_col_copy(stmt, 5, h->hostkey_type, sizeof(h->hostkey_type));
    if (!st_col_is_null(stmt, 6)) {
        h->hostkey_b64 = st_col_dup(stmt, 6);
        if (h->hostkey_b64 == NULL) {
            return GW_ERR_NOMEM;
        }
    }
    st_col_copy(stmt, 7, h->hostkey_fingerprint,
                sizeof(h->hostkey_fingerprint));
    st_col_copy(stmt, 8, h->auth_method, sizeof(h->auth_method));
    h->has_secret = st_col_int(stmt, 9) != 0;
    st_col_copy(stmt, 10, h->proxy, sizeof(h->proxy));
    st_col_copy(stmt, 11, h->created_at, sizeof(h->created_at));
    st_col_copy(stmt, 12, h->updated_at, sizeof(h->updated_at));
    st_col_copy(stmt, 13, h->via_proxy, sizeof(h->via_proxy));
    h->has_proxy_secret = st_col_int(stmt, 14) != 0;
    return GW_OK;
}

void store_host_clear(struct store_host *host)
{
    free(host->hostkey_b64);
    memset(host, 0, sizeof(*host));
}

void store_host_list_free(struct store_host *hosts, size_t n)
{
    if (hosts == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        store_host_clear(&hosts[i]);
    }
    free(hosts);
}

static int unknown_host(const char *name)
{
    return gw_err_set(GW_ERR_NOTFOUND, "unknown host '%s'", name);
}

int store_host_address_check(const char *address)
{
    size_t len = strlen(address);

    if (len == 0) {
        return gw_err_set(GW_ERR_INVALID, "address must not be empty");
    }
    if (len > STORE_ADDRESS_MAX) {
        return gw_err_set(GW_ERR_INVALID,
                          "address is longer than %d characters",
                          STORE_ADDRESS_MAX);
    }
    if (address[0] == '-') {
        return gw_err_set(GW_ERR_INVALID, "address must not start with '-'");
    }
    for (const char *p = address; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_' &&
            c != '%') {
            return gw_err_set(GW_ERR_INVALID,
                              "address '%s' is not a host name or IP address",
                              gw_has_control(address) ? "?" : address);
        }
    }
    return GW_OK;
}

int store_fingerprint_check(const char *fingerprint)
{
    static const char prefix[] = "SHA256:";
    const char *b64 = fingerprint + sizeof(prefix) - 1;

    if (strncmp(fingerprint, prefix, sizeof(prefix) - 1) != 0 ||
        strlen(b64) != 43) {
        return gw_err_set(GW_ERR_INVALID,
                          "fingerprint must look like SHA256: followed by 43 "
                          "base64 characters");
    }
    for (const char *p = b64; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '/') {
            return gw_err_set(GW_ERR_INVALID,
                              "fingerprint has a non-base64 character");
        }
    }
    return GW_OK;
}

int store_via_proxy_check(const char *text, char out[GW_PROXY_URL_MAX])
{
    struct gw_proxy_url url;
    int rc;

    if (strcmp(text, STORE_PROXY_DIRECT) == 0) {
        snprintf(out, GW_PROXY_URL_MAX, "%s", STORE_PROXY_DIRECT);
        return GW_OK;
    }
    rc = gw_proxy_url_parse(text, &url);
    if (rc == GW_OK) {
        gw_proxy_url_format(&url, out, GW_PROXY_URL_MAX);
    }
    return rc;
}

static int check_spec(const struct store_host_spec *spec, char sep)
{
    const char *auth = spec->auth_method;
    int rc;

    rc = gw_name_check("host name", spec->name, sep);
    if (rc != GW_OK) {
        return rc;
    }
    rc = store_host_address_check(spec->address != NULL ? spec->address : "");
    if (rc != GW_OK) {
        return rc;
    }
    if (spec->login != NULL && spec->login[0] != '\0') {
        rc = gw_name_check("login", spec->login, sep);
        if (rc != GW_OK) {
            return rc;
        }
    }
    if (spec->fingerprint != NULL && spec->fingerprint[0] != '\0') {
        rc = store_fingerprint_check(spec->fingerprint);
        if (rc != GW_OK) {
            return rc;
        }
    }
    if (auth != NULL && strcmp(auth, STORE_AUTH_GATEWAY_KEY) != 0 &&
        strcmp(auth, STORE_AUTH_STORED_KEY) != 0 &&
        strcmp(auth, STORE_AUTH_PASSWORD) != 0) {
        return gw_err_set(GW_ERR_INVALID,
                          "unknown backend auth '%s' (gateway-key, "
                          "stored-key, password)",
                          auth);
    }
    if (auth != NULL && strcmp(auth, STORE_AUTH_GATEWAY_KEY) != 0 &&
        (spec->auth_secret == NULL || spec->auth_secret[0] == '\0')) {
        return gw_err_set(GW_ERR_INVALID, "backend auth '%s' needs a secret",
                          auth);
    }
    return GW_OK;
}

static const char *empty_to_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static int check_chain(struct store *st, const char *name, const char *via);

int store_host_add(struct store *st, const struct store_host_spec *spec,
                   char sep, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    struct store_host proxy;
    char now[GW_TIME_LEN];
    char via_proxy[GW_PROXY_URL_MAX] = "";
    int64_t proxy_id = 0;
    int rc;

    rc = check_spec(spec, sep);
    if (rc == GW_OK && empty_to_null(spec->via_proxy) != NULL) {
        rc = store_via_proxy_check(spec->via_proxy, via_proxy);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (empty_to_null(spec->proxy) != NULL) {
        rc = check_chain(st, spec->name, spec->proxy);
        if (rc != GW_OK) {
            return rc;
        }
        rc = store_host_get(st, spec->proxy, &proxy);
        if (rc != GW_OK) {
            return gw_err_set(rc, "unknown proxy host '%s'", spec->proxy);
        }
        proxy_id = proxy.id;
        store_host_clear(&proxy);
    }
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO hosts (name, address, port, default_login, "
                    "hostkey_fingerprint, auth_method, auth_secret, "
                    "proxy_host_id, created_at, updated_at, via_proxy, "
                    "via_proxy_secret) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                    "?8, ?9, ?9, ?10, ?11)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, spec->name);
    st_bind_text(stmt, 2, spec->address);
    st_bind_int(stmt, 3, spec->port != 0 ? spec->port : 22);
    st_bind_text(stmt, 4, empty_to_null(spec->login));
    st_bind_text(stmt, 5, empty_to_null(spec->fingerprint));
    st_bind_text(stmt, 6,
                 spec->auth_method != NULL ? spec->auth_method
                                           : STORE_AUTH_GATEWAY_KEY);
    st_bind_text(stmt, 7, empty_to_null(spec->auth_secret));
    if (proxy_id != 0) {
        st_bind_int64(stmt, 8, proxy_id);
    }
    st_bind_text(stmt, 9, now);
    st_bind_text(stmt, 10, empty_to_null(via_proxy));
    st_bind_text(stmt, 11,
                 via_proxy[0] != '\0' ? empty_to_null(spec->via_proxy_secret)
                                      : NULL);
    rc = st_insert(st, stmt, "adding host", id);
    if (rc == GW_ERR_EXISTS) {
        rc = gw_err_set(GW_ERR_EXISTS, "host '%s' already exists", spec->name);
    }
    return rc;
}

static int read_host_row(struct st_stmt *stmt, void *elem)
{
    int rc = read_host(stmt, elem);

    if (rc != GW_OK) {
        store_host_clear(elem);
    }
    return rc;
}

int store_host_get(struct store *st, const char *name, struct store_host *out)
{
    int rc = st_get_one(
        st, "SELECT " HOST_COLUMNS " FROM " HOST_FROM " WHERE h.name = ?1",
        ST_PARAMS(ST_TEXT(name)), read_host_row, out, "reading host");

    return rc == GW_ERR_NOTFOUND ? unknown_host(name) : rc;
}

static void clear_host_row(void *elem)
{
    store_host_clear(elem);
}

int store_host_list(struct store *st, struct store_host **hosts, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_host),
                                        read_host_row, clear_host_row,
                                        "listing hosts"};
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(
        st, "SELECT " HOST_COLUMNS " FROM " HOST_FROM " ORDER BY h.name",
        &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    return st_collect(st, stmt, &rows, hosts, n);
}

int store_host_delete(struct store *st, const char *name)
{
    struct st_stmt *stmt = NULL;
    int rc;

    rc = st_prepare(st, "DELETE FROM hosts WHERE name = ?1", &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    rc = st_step(stmt);
    if ((rc & 0xff) == ST_CONSTRAINT) {
        rc = gw_err_set(GW_ERR_DENIED,
                        "host '%s' is the jump host (--via) of another host; "
                        "delete that host or change its --via first",
                        name);
    } else if (rc != ST_DONE) {
        rc = st_fail(st, rc, "deleting host");
    } else if (st_changes(st) == 0) {
        rc = unknown_host(name);
    } else {
        rc = GW_OK;
    }
    st_done(st, stmt);
    return rc;
}

int store_host_pin(struct store *st, const char *name,
                   const struct gw_pubkey *key)
{
    struct st_stmt *stmt = NULL;
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "UPDATE hosts SET hostkey_type = ?2, hostkey_blob = ?3, "
                    "hostkey_fingerprint = ?4, updated_at = ?5 "
                    "WHERE name = ?1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_text(stmt, 2, key->type);
    st_bind_text(stmt, 3, key->blob_b64);
    st_bind_text(stmt, 4, key->fingerprint);
    st_bind_text(stmt, 5, now);
    rc = st_step(stmt);
    if (rc != ST_DONE) {
        rc = st_fail(st, rc, "pinning host key");
    } else if (st_changes(st) == 0) {
        rc = unknown_host(name);
    } else {
        rc = GW_OK;
    }
    st_done(st, stmt);
    return rc;
}

/* The host's secret, or NULL when it has none. */
static int read_secret_row(struct st_stmt *stmt, void *out)
{
    char **secret = out;

    if (st_col_is_null(stmt, 0)) {
        *secret = NULL;
        return GW_OK;
    }
    return st_row_text(stmt, out);
}

int store_host_secret(struct store *st, const char *name, char **secret)
{
    char *text = NULL;
    int rc = st_get_one(st, "SELECT auth_secret FROM hosts WHERE name = ?1",
                        ST_PARAMS(ST_TEXT(name)), read_secret_row, &text,
                        "reading host secret");

    if (rc == GW_ERR_NOTFOUND) {
        return unknown_host(name);
    }
    if (rc == GW_OK && text == NULL) {
        return gw_err_set(GW_ERR_NOTFOUND, "host '%s' has no stored secret",
                          name);
    }
    if (rc == GW_OK) {
        *secret = text;
    }
    return rc;
}

/* Would name go via via (directly or further up the chain) close a loop,
 * or make the chain too long? */
static int check_chain(struct store *st, const char *name, const char *via)
{
    char cur[GW_NAME_MAX + 1];
    int depth = 1; /* name via via: one hop */

    snprintf(cur, sizeof(cur), "%s", via);
    while (cur[0] != '\0') {
        struct store_host h;
        int rc;
        if (strcmp(cur, name) == 0) {
            return strcmp(via, name) == 0
                       ? gw_err_set(GW_ERR_INVALID,
                                    "host '%s' cannot go via itself", name)
                       : gw_err_set(GW_ERR_INVALID,
                                    "host '%s' cannot go via '%s': '%s' is "
                                    "reached through '%s' (a loop)",
                                    name, via, via, name);
        }
        if (depth > STORE_JUMP_MAX) {
            return gw_err_set(GW_ERR_INVALID,
                              "host '%s' via '%s': more than %d jump hosts "
                              "in a chain",
                              name, via, STORE_JUMP_MAX);
        }
        rc = store_host_get(st, cur, &h);
        if (rc != GW_OK) {
            return rc == GW_ERR_NOTFOUND
                       ? gw_err_set(rc, "unknown jump host '%s'", cur)
                       : rc;
        }
        snprintf(cur, sizeof(cur), "%s", h.proxy);
        store_host_clear(&h);
        depth++;
    }
    return GW_OK;
}

static int update_via(struct store *st, const char *name, const char *via,
                      const char *now)
{
    struct st_stmt *stmt = NULL;
    int rc;

    if (via != NULL) {
        rc = check_chain(st, name, via);
        if (rc != GW_OK) {
            return rc;
        }
    }
    rc = st_prepare(st,
                    "UPDATE hosts SET proxy_host_id = (SELECT id FROM hosts "
                    "WHERE name = ?2), updated_at = ?3 WHERE name = ?1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_text(stmt, 2, via);
    st_bind_text(stmt, 3, now);
    return st_exec_stmt(st, stmt, "changing the jump host");
}

static int update_proxy(struct store *st, const char *name,
                        const struct store_host_route *route, const char *now)
{
    char url[GW_PROXY_URL_MAX] = "";
    struct st_stmt *stmt = NULL;
    int rc;

    if (empty_to_null(route->via_proxy) != NULL) {
        rc = store_via_proxy_check(route->via_proxy, url);
        if (rc != GW_OK) {
            return rc;
        }
    }
    rc = st_prepare(st,
                    "UPDATE hosts SET via_proxy = ?2, via_proxy_secret = ?3, "
                    "updated_at = ?4 WHERE name = ?1",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, name);
    st_bind_text(stmt, 2, empty_to_null(url));
    st_bind_text(stmt, 3,
                 url[0] != '\0' ? empty_to_null(route->via_proxy_secret)
                                : NULL);
    st_bind_text(stmt, 4, now);
    return st_exec_stmt(st, stmt, "changing the proxy");
}

int store_host_set_route(struct store *st, const char *name,
                         const struct store_host_route *route)
{
    struct store_host h;
    char now[GW_TIME_LEN];
    int rc;

    rc = store_host_get(st, name, &h);
    if (rc != GW_OK) {
        return rc;
    }
    store_host_clear(&h);
    gw_time_now_iso(now);
    if (route->set_via) {
        rc = update_via(st, name, empty_to_null(route->via), now);
    }
    if (rc == GW_OK && route->set_proxy) {
        rc = update_proxy(st, name, route, now);
    }
    return rc;
}

int store_host_proxy_secret(struct store *st, const char *name, char **secret)
{
    char *text = NULL;
    int rc =
        st_get_one(st, "SELECT via_proxy_secret FROM hosts WHERE name = ?1",
                   ST_PARAMS(ST_TEXT(name)), read_secret_row, &text,
                   "reading the proxy password");

    if (rc == GW_ERR_NOTFOUND) {
        return unknown_host(name);
    }
    if (rc == GW_OK && text == NULL) {
        return gw_err_set(GW_ERR_NOTFOUND,
                          "host '%s' has no stored proxy password", name);
    }
    if (rc == GW_OK) {
        *secret = text;
    }
    return rc;
}
