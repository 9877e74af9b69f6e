#include "gateway/conn/lockout.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/conn/conn.h"
#include "store/open.h"
#include "store/sources.h"
#include "store/users.h"

#include <stdatomic.h>

/* How often a node deletes the rows of sources that hold nothing any
 * more (store_source_expire), at most: on the first failure it counts
 * after this long. */
#define SOURCE_EXPIRE_EVERY_MS 60000

bool gw_lockout_refuses(enum gw_lockout_scope scope, bool password_method)
{
    return scope == GW_LOCKOUT_USER || password_method;
}

/* Under password a key login says nothing about who typed the wrong
 * passwords; resetting on it would give a guesser a fresh allowance
 * every time the user logs in with her key. */
bool gw_lockout_success_resets(enum gw_lockout_scope scope,
                               bool password_method)
{
    return scope == GW_LOCKOUT_USER || password_method;
}

bool gw_lockout_counts_user(enum gw_source_count source)
{
    return source != GW_SOURCE_WAS_LOCKED;
}

const char *gw_lockout_reason(enum gw_lockout_scope scope)
{
    return scope == GW_LOCKOUT_USER ? "user locked" : "password locked";
}

/* The source counter is shared when the nodes share the database: a
 * cluster on a database server. One node on SQLite counts in memory. */
static bool source_shared(const struct gw_conn *c)
{
    return store_is_server(c->cfg->db);
}

/* The key of c's source in the store: its address reduced to the
 * prefixes in force, as text (the memory table's key). */
static void source_key(const struct gw_conn *c,
                       const struct gw_limits_policy *pol,
                       char out[GW_ADDR_TEXT_MAX])
{
    struct gw_addr src;

    gw_limits_source(pol, &c->peer, &src);
    gw_addr_format_ip(&src, out);
}

static enum gw_source_count from_store(enum store_source_verdict v)
{
    switch (v) {
    case STORE_SOURCE_LOCKED_NOW:
        return GW_SOURCE_LOCKED_NOW;
    case STORE_SOURCE_WAS_LOCKED:
        return GW_SOURCE_WAS_LOCKED;
    case STORE_SOURCE_COUNTED:
        break;
    }
    return GW_SOURCE_COUNTED;
}

/* Occasionally (once a minute per node, on a failure) delete the rows
 * that hold nothing any more, with the rule in force. */
static void expire_sources(struct store *st, const struct store_lockout *rule)
{
    static _Atomic int64_t next_ms;
    int64_t now = gw_now_ms();
    int64_t due = atomic_load(&next_ms);

    if (now < due || !atomic_compare_exchange_strong(
                         &next_ms, &due, now + SOURCE_EXPIRE_EVERY_MS)) {
        return; /* not yet, or another thread does it */
    }
    if (store_source_expire(st, rule, NULL) != GW_OK) {
        gw_log_error("cannot expire source lockouts: %s", gw_err_msg());
    }
}

/* Count the failure in the database too, in a cluster; the stronger of
 * the two verdicts wins (was locked > locked now > counted). A store
 * error leaves the memory's verdict, and says so. */
static enum gw_source_count count_shared(struct gw_conn *c,
                                         const struct gw_limits_policy *pol,
                                         enum gw_source_count verdict)
{
    enum store_source_verdict sv = STORE_SOURCE_COUNTED;
    enum gw_source_count shared;
    struct store_lockout rule;
    char key[GW_ADDR_TEXT_MAX];
    struct store *st;
    int rc;

    if (verdict == GW_SOURCE_WAS_LOCKED || pol->source_threshold <= 0) {
        return verdict; /* nothing stronger to learn */
    }
    source_key(c, pol, key);
    rule.threshold = (int)pol->source_threshold;
    rule.seconds = (int)c->cfg->lockout_time;
    rule.now_ms = gw_time_wall_ms();
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL ? store_source_record_failure(st, key, &rule, &sv)
                    : GW_ERR_DB;
    if (rc == GW_OK) {
        expire_sources(st, &rule);
    }
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        gw_log_error("cannot count the source's failure in the database "
                     "(this node's count alone decides): %s",
                     gw_err_msg());
        return verdict;
    }
    shared = from_store(sv); /* the enum orders them by strength */
    return shared > verdict ? shared : verdict;
}

static enum gw_source_count count_source(struct gw_conn *c)
{
    struct gw_limits_policy pol = gw_daemon_policy(c->cfg);
    char ip[GW_ADDR_TEXT_MAX];
    enum gw_source_count verdict =
        gw_limits_failure(c->daemon->limits, &c->peer, &pol, gw_now_ms());

    if (source_shared(c)) {
        verdict = count_shared(c, &pol, verdict);
    }
    if (verdict == GW_SOURCE_LOCKED_NOW) {
        gw_addr_format_ip(&c->peer, ip);
        gw_log_warn("source address %s locked for %ld s after %ld failures", ip,
                    c->cfg->lockout_time, c->cfg->source_lockout_threshold);
        gw_conn_event(c, "auth.source_locked", NULL,
                      "scope=source threshold=%ld lock_seconds=%ld",
                      c->cfg->source_lockout_threshold, c->cfg->lockout_time);
    }
    return verdict;
}

bool gw_lockout_source_locked(struct gw_conn *c)
{
    struct gw_limits_policy pol = gw_daemon_policy(c->cfg);
    char key[GW_ADDR_TEXT_MAX];
    bool locked = false;
    struct store *st;
    int rc;

    if (gw_limits_locked(c->daemon->limits, &c->peer, &pol, gw_now_ms())) {
        return true;
    }
    if (!source_shared(c)) {
        return false;
    }
    source_key(c, &pol, key);
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL
             ? store_source_is_locked(st, key, gw_time_wall_ms(), &locked)
             : GW_ERR_DB;
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        gw_log_error("cannot read the source's lock from the database "
                     "(taken as not locked): %s",
                     gw_err_msg());
        return false;
    }
    return locked;
}

/* Count a failure against the user's stored counter. Users already locked
 * or disabled are not counted again, so refused attempts cannot keep
 * extending a lock. */
static void count_user(struct gw_conn *c, const struct store_user *user)
{
    const struct gw_config *cfg = c->cfg;
    enum gw_lockout_scope scope = (enum gw_lockout_scope)cfg->lockout_scope;
    struct store_lockout rule;
    struct store *st;
    bool locked = false;
    int rc;

    if (user->disabled || store_user_is_locked(user) ||
        cfg->lockout_threshold <= 0) {
        return;
    }
    rule.threshold = (int)cfg->lockout_threshold;
    rule.seconds = (int)cfg->lockout_time;
    rule.now_ms = gw_time_wall_ms();
    st = gw_daemon_store_get(c->daemon);
    rc = st != NULL ? store_user_record_failure(st, user->name, &rule, &locked)
                    : GW_ERR_DB;
    gw_daemon_store_put(c->daemon, st);
    if (rc != GW_OK) {
        gw_log_error("cannot count the failure: %s", gw_err_msg());
        return;
    }
    if (locked) {
        gw_log_warn("%s %s locked for %ld s after %ld failures",
                    scope == GW_LOCKOUT_USER ? "user" : "password of user",
                    user->name, cfg->lockout_time, cfg->lockout_threshold);
        gw_conn_event(c, "auth.locked", user->name,
                      "scope=%s threshold=%ld lock_seconds=%ld",
                      gw_lockout_scope_name(scope), cfg->lockout_threshold,
                      cfg->lockout_time);
    }
}

void gw_lockout_failure(struct gw_conn *c, const struct store_user *user,
                        bool counts_user, bool counts_source)
{
    enum gw_source_count source = GW_SOURCE_COUNTED;

    if (counts_source) {
        source = count_source(c);
    }
    if (counts_user && user != NULL && gw_lockout_counts_user(source)) {
        count_user(c, user);
    }
}

void gw_lockout_success(struct gw_conn *c, const struct store_user *user,
                        bool password_method)
{
    enum gw_lockout_scope scope = (enum gw_lockout_scope)c->cfg->lockout_scope;
    struct store *st;

    /* A write only when there is something to reset. */
    if ((user->failed_logins == 0 && user->locked_until[0] == '\0') ||
        !gw_lockout_success_resets(scope, password_method)) {
        return;
    }
    st = gw_daemon_store_get(c->daemon);
    if (st == NULL || store_user_record_success(st, user->name) != GW_OK) {
        gw_log_error("cannot reset the failure count: %s", gw_err_msg());
    }
    gw_daemon_store_put(c->daemon, st);
}
