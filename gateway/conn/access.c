#include "gateway/conn/access.h"

#include "core/err.h"
#include "core/log.h"
#include "gateway/conn/conn.h"
#include "gateway/conn/upstream.h"
#include "store/grants.h"
#include "store/keys.h"
#include "store/settings.h"
#include "store/users.h"

#include <stdio.h>

/* What went away, for the log and the access.revoked event. */
struct revoked {
    char what[GW_DENIAL_MAX];
};

static int check_user(struct gw_conn *c, struct store *st, struct revoked *r)
{
    struct store_user u;
    int rc = store_user_get(st, c->user, &u);

    if (rc == GW_ERR_NOTFOUND) {
        snprintf(r->what, sizeof(r->what), "reason=user-deleted");
        return GW_ERR_DENIED;
    }
    if (rc == GW_OK && u.disabled) {
        snprintf(r->what, sizeof(r->what), "reason=user-disabled");
        return GW_ERR_DENIED;
    }
    if (rc == GW_OK) {
        c->user_rate_limit = u.rate_limit; /* for channels opened from now */
    }
    return rc;
}

static int check_key(struct gw_conn *c, struct store *st, struct revoked *r)
{
    struct store_user_key k;
    int rc;

    if (c->auth_fp[0] == '\0') {
        return GW_OK; /* a password: the user check covers it */
    }
    rc = store_key_get(st, c->user, c->auth_fp, &k);
    if (rc == GW_OK) {
        store_key_clear(&k);
    } else if (rc == GW_ERR_NOTFOUND) {
        snprintf(r->what, sizeof(r->what), "reason=key-deleted fingerprint=%s",
                 c->auth_fp);
        rc = GW_ERR_DENIED;
    }
    return rc;
}

/* Every backend session runs under a grant (the target's, or one the
 * menu connected): it must still be there and unexpired. */
static int check_grants(struct gw_conn *c, struct store *st, struct revoked *r)
{
    struct store_grant g;
    int rc = GW_OK;

    for (size_t i = 0; i < GW_UPSTREAM_MAX && rc == GW_OK; i++) {
        const struct gw_upstream *up = c->ups[i];
        if (up == NULL || up->gone) {
            continue;
        }
        rc = store_grant_find(st, c->user, up->host.name, up->login, &g);
        if (rc == GW_ERR_NOTFOUND) {
            snprintf(r->what, sizeof(r->what),
                     "reason=grant-deleted host=%s login=%s", up->host.name,
                     up->login);
            rc = GW_ERR_DENIED;
        }
    }
    return rc;
}

/*
 * Read the generation first, then check: a change committed while we
 * check moves the generation past what we record, so it is checked again.
 * GW_OK (access stands), GW_ERR_DENIED (closing: revoked) or another
 * error (the store cannot tell; nothing recorded, so the next channel
 * checks again).
 */
static int check_now(struct gw_conn *c, struct store *st)
{
    struct revoked r = {{0}};
    int64_t gen = 0;
    int rc = store_access_generation(st, &gen);

    if (rc == GW_OK) {
        rc = check_user(c, st, &r);
    }
    if (rc == GW_OK) {
        rc = check_key(c, st, &r);
    }
    if (rc == GW_OK) {
        rc = check_grants(c, st, &r);
    }
    if (rc == GW_OK) {
        c->access_gen = gen;
    } else if (rc == GW_ERR_DENIED) {
        gw_log_info("access revoked: %s", r.what);
        gw_conn_event(c, "access.revoked", c->user, "conn=%s %s", c->uid,
                      r.what);
        gw_conn_close(c, GW_END_REVOKED);
    } else {
        gw_log_error("cannot check access again: %s", gw_err_msg());
    }
    return rc;
}

void gw_access_recheck(struct gw_conn *c)
{
    struct store *st = NULL;

    if (!c->authed || c->closing) {
        return;
    }
    st = gw_daemon_store_get(c->daemon);
    if (st != NULL) {
        (void)check_now(c, st);
    }
    gw_daemon_store_put(c->daemon, st);
}

bool gw_access_current(struct gw_conn *c)
{
    struct store *st = NULL;
    int64_t gen = 0;
    int rc = GW_ERR_DB;

    if (c->closing) {
        return false;
    }
    st = gw_daemon_store_get(c->daemon);
    if (st != NULL) {
        rc = store_access_generation(st, &gen);
    }
    if (rc == GW_OK && gen != c->access_gen) {
        rc = check_now(c, st);
    } else if (rc != GW_OK) {
        gw_log_error("cannot read the access generation: %s", gw_err_msg());
    }
    gw_daemon_store_put(c->daemon, st);
    return rc == GW_OK;
}
