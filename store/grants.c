#include "store/grants.h"

#include "store/internal.h"
#include "store/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} allow_names[] = {
    {"shell", STORE_ALLOW_SHELL},
    {"exec", STORE_ALLOW_EXEC},
    {"sftp", STORE_ALLOW_SFTP},
    {"forward", STORE_ALLOW_FORWARD},
    {"remote-forward", STORE_ALLOW_REMOTE_FORWARD},
    {"agent", STORE_ALLOW_AGENT},
    {"transfer", STORE_ALLOW_TRANSFER},
};
#define ALLOW_NAMES_N (sizeof(allow_names) / sizeof(allow_names[0]))

static int allow_word(const char *word, size_t len, unsigned *bits)
{
    if (len == 3 && strncmp(word, "all", 3) == 0) {
        *bits |= STORE_ALLOW_ALL;
        return GW_OK;
    }
    for (size_t i = 0; i < ALLOW_NAMES_N; i++) {
        if (strlen(allow_names[i].name) == len &&
            strncmp(word, allow_names[i].name, len) == 0) {
            *bits |= allow_names[i].bit;
            return GW_OK;
        }
    }
    return gw_err_set(GW_ERR_INVALID,
                      "unknown channel kind '%.*s' (shell, exec, sftp, "
                      "forward, remote-forward, agent, transfer, all)",
                      (int)(len > 32 ? 32 : len), word);
}

int store_allow_parse(const char *text, unsigned *allow)
{
    unsigned bits = 0;
    const char *p = text;

    if (text[0] == '\0') {
        return gw_err_set(GW_ERR_INVALID, "--allow needs at least one kind");
    }
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int rc = allow_word(p, len, &bits);
        if (rc != GW_OK) {
            return rc;
        }
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return gw_err_set(GW_ERR_INVALID, "--allow ends with ','");
            }
        }
    }
    *allow = bits;
    return GW_OK;
}

void store_allow_format(unsigned allow, char out[STORE_ALLOW_TEXT_MAX])
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < ALLOW_NAMES_N; i++) {
        if (allow & allow_names[i].bit) {
            int n = snprintf(out + used, STORE_ALLOW_TEXT_MAX - used, "%s%s",
                             used > 0 ? "," : "", allow_names[i].name);
            if (n > 0) {
                used += (size_t)n;
            }
        }
    }
}

#define GRANT_COLUMNS                                                      \
    "g.id, u.name, h.name, g.login, g.allow, g.expires_at, g.created_at, " \
    "h.address, h.port, g.rate_limit"
#define GRANT_FROM                                               \
    "grants g JOIN users u ON u.id = g.user_id JOIN hosts h ON " \
    "h.id = g.host_id"

static void read_grant(struct st_stmt *stmt, struct store_grant *g)
{
    const char *allow = NULL;

    memset(g, 0, sizeof(*g));
    g->id = st_col_int64(stmt, 0);
    st_col_copy(stmt, 1, g->user, sizeof(g->user));
    st_col_copy(stmt, 2, g->host, sizeof(g->host));
    st_col_copy(stmt, 3, g->login, sizeof(g->login));
    allow = st_col_text(stmt, 4);
    /* Stored text was validated on the way in; an edited row that no
     * longer parses grants nothing. */
    if (allow == NULL ||
        store_allow_parse((const char *)allow, &g->allow) != GW_OK) {
        g->allow = 0;
    }
    st_col_copy(stmt, 5, g->expires_at, sizeof(g->expires_at));
    st_col_copy(stmt, 6, g->created_at, sizeof(g->created_at));
    st_col_copy(stmt, 7, g->address, sizeof(g->address));
    g->port = (uint16_t)st_col_int(stmt, 8);
    g->rate_limit = st_col_int64(stmt, 9);
}

bool store_grant_expired(const struct store_grant *grant)
{
    char now[GW_TIME_LEN];

    if (grant->expires_at[0] == '\0') {
        return false;
    }
    gw_time_now_iso(now);
    return strcmp(grant->expires_at, now) <= 0;
}

int store_grant_add(struct store *st, const char *user, const char *host,
                    const char *login, unsigned allow, const char *expires_at,
                    char sep, int64_t *id)
{
    struct st_stmt *stmt = NULL;
    struct store_user u;
    struct store_host h;
    char allow_text[STORE_ALLOW_TEXT_MAX];
    char now[GW_TIME_LEN];
    const char *effective = login;
    int rc;

    memset(&h, 0, sizeof(h));
    rc = store_user_get(st, user, &u);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_host_get(st, host, &h);
    if (rc != GW_OK) {
        goto out;
    }
    if (effective == NULL || effective[0] == '\0') {
        effective = h.login;
    }
    if (effective[0] == '\0') {
        rc = gw_err_set(GW_ERR_INVALID,
                        "host '%s' has no default login; give --login", host);
        goto out;
    }
    rc = gw_name_check("login", effective, sep);
    if (rc != GW_OK) {
        goto out;
    }
    if (allow == 0 || (allow & ~STORE_ALLOW_ALL) != 0) {
        rc = gw_err_set(GW_ERR_INVALID, "a grant must allow some channel kind");
        goto out;
    }
    store_allow_format(allow, allow_text);
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "INSERT INTO grants (user_id, host_id, login, allow, "
                    "expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    &stmt);
    if (rc != GW_OK) {
        goto out;
    }
    st_bind_int64(stmt, 1, u.id);
    st_bind_int64(stmt, 2, h.id);
    st_bind_text(stmt, 3, effective);
    st_bind_text(stmt, 4, allow_text);
    st_bind_text(stmt, 5, expires_at);
    st_bind_text(stmt, 6, now);
    rc = st_insert(st, stmt, "adding grant", id);
    stmt = NULL; /* finalized */
    if (rc == GW_ERR_EXISTS) {
        rc = gw_err_set(GW_ERR_EXISTS,
                        "user '%s' already has a grant on '%s' as '%s'", user,
                        host, effective);
    }
out:
    st_done(st, stmt);
    store_host_clear(&h);
    return rc;
}

int store_grant_set_rate_limit(struct store *st, const char *user,
                               const char *host, const char *login,
                               int64_t rate)
{
    struct st_stmt *stmt = NULL;
    int rc;

    if (rate < 0) {
        return gw_err_set(GW_ERR_INVALID, "a rate limit cannot be negative");
    }
    rc = st_prepare(st,
                    "UPDATE grants SET rate_limit = ?4 WHERE login = ?3 AND "
                    "user_id = (SELECT id FROM users WHERE name = ?1) AND "
                    "host_id = (SELECT id FROM hosts WHERE name = ?2)",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, user);
    st_bind_text(stmt, 2, host);
    st_bind_text(stmt, 3, login);
    st_bind_int64(stmt, 4, rate);
    rc = st_step(stmt);
    if (rc != ST_DONE) {
        rc = st_fail(st, rc, "setting the rate limit");
    } else if (st_changes(st) == 0) {
        rc = gw_err_set(GW_ERR_NOTFOUND,
                        "user '%s' has no grant on '%s' as '%s'", user, host,
                        login);
    } else {
        rc = GW_OK;
    }
    st_done(st, stmt);
    return rc;
}

static int read_grant_row(struct st_stmt *stmt, void *elem)
{
    read_grant(stmt, elem);
    return GW_OK;
}

int store_grant_list(struct store *st, const char *user, bool active_only,
                     struct store_grant **grants, size_t *n)
{
    static const struct st_rows rows = {sizeof(struct store_grant),
                                        read_grant_row, NULL, "listing grants"};
    struct st_stmt *stmt = NULL;
    struct store_user u;
    char now[GW_TIME_LEN];
    int rc;

    if (user != NULL) {
        rc = store_user_get(st, user, &u);
        if (rc != GW_OK) {
            return rc;
        }
    }
    gw_time_now_iso(now);
    rc = st_prepare(st,
                    "SELECT " GRANT_COLUMNS " FROM " GRANT_FROM
                    " WHERE (u.name = ?1 OR ?1 IS NULL) AND (g.expires_at > "
                    "?2 OR ?2 IS NULL OR g.expires_at IS NULL) "
                    "ORDER BY u.name, h.name, g.login",
                    &stmt);
    if (rc != GW_OK) {
        return rc;
    }
    st_bind_text(stmt, 1, user);
    st_bind_text(stmt, 2, active_only ? now : NULL);
    return st_collect(st, stmt, &rows, grants, n);
}

int store_grant_delete(struct store *st, const char *user, const char *host,
                       const char *login)
{
    struct st_stmt *stmt = NULL;
    struct store_user u;
    struct store_host h;
    int rc;

    memset(&h, 0, sizeof(h));
    rc = store_user_get(st, user, &u);
    if (rc != GW_OK) {
        goto out;
    }
    rc = store_host_get(st, host, &h);
    if (rc != GW_OK) {
        goto out;
    }
    rc = st_prepare(st,
                    "DELETE FROM grants WHERE user_id = ?1 AND host_id = ?2 "
                    "AND (login = ?3 OR ?3 IS NULL)",
                    &stmt);
    if (rc != GW_OK) {
        goto out;
    }
    st_bind_int64(stmt, 1, u.id);
    st_bind_int64(stmt, 2, h.id);
    st_bind_text(stmt, 3, login);
    rc = st_step(stmt);
    if (rc != ST_DONE) {
        rc = st_fail(st, rc, "deleting grant");
    } else if (st_changes(st) == 0) {
        rc = gw_err_set(GW_ERR_NOTFOUND, "user '%s' has no grant on '%s'%s%s",
                        user, host, login != NULL ? " as " : "",
                        login != NULL ? login : "");
    } else {
        rc = GW_OK;
    }
out:
    st_done(st, stmt);
    store_host_clear(&h);
    return rc;
}

int store_grant_find(struct store *st, const char *user, const char *host,
                     const char *login, struct store_grant *out)
{
    char now[GW_TIME_LEN];
    int rc;

    gw_time_now_iso(now);
    rc = st_get_one(
        st,
        "SELECT " GRANT_COLUMNS " FROM " GRANT_FROM
        " WHERE u.name = ?1 AND h.name = ?2 AND g.login = ?3 AND "
        "(g.expires_at IS NULL OR g.expires_at > ?4)",
        ST_PARAMS(ST_TEXT(user), ST_TEXT(host), ST_TEXT(login), ST_TEXT(now)),
        read_grant_row, out, "reading grant");
    if (rc == GW_ERR_NOTFOUND) {
        rc = gw_err_set(GW_ERR_NOTFOUND,
                        "user '%s' has no grant on '%s' as '%s'", user, host,
                        login);
    }
    return rc;
}
