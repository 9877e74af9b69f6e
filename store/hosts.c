#include "store/hosts.h"

#include "store/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HOST_COLUMNS                                                     \
    "h.id, h.name, h.address, h.port, h.default_login, h.hostkey_type, " \
    "h.hostkey_blob, h.hostkey_fingerprint, h.auth_method, "             \
    "h.auth_secret IS NOT NULL, p.name, h.created_at, h.updated_at"

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

int store_host_add(struct store *st, const struct store_host_spec *spec,
                   char sep, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    struct store_host proxy;
    char now[GW_TIME_LEN];
    int64_t proxy_id = 0;
    int rc;

    rc = check_spec(spec, sep);
    if (rc != GW_OK) {
        return rc;
    }
    if (empty_to_null(spec->proxy) != NULL) {
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
                    "proxy_host_id, created_at, updated_at) VALUES (?1, ?2, "
                    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
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
                        "host '%s' is the proxy of another host; delete or "
                        "change that host first",
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
