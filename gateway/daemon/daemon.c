#include "gateway/daemon/daemon.h"

#include "core/err.h"
#include "core/log.h"
#include "store/db.h"
#include "store/open.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a statement of a connection thread waits for a lock: SQLite's
 * busy timeout (store/sqlite.c), and the same bound on PostgreSQL, whose
 * lock_timeout is otherwise none (a row or advisory lock held by a stuck
 * transaction would hold a login's failure count, and the login, for
 * good). */
#define GW_STORE_LOCK_WAIT_MS 5000

/* Two concurrent verifications per CPU keep every core busy. */
static int verify_slots(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cpus < 1) {
        cpus = 1;
    }
    return cpus > 32 ? 64 : (int)cpus * 2;
}

int gw_daemon_init(struct gw_daemon *d, struct gw_config *cfg)
{
    memset(d, 0, sizeof(*d));
    d->db_path = strdup(cfg->db);
    if (d->db_path == NULL) {
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->verify_lock, NULL);
    pthread_cond_init(&d->verify_cv, NULL);
    pthread_mutex_init(&d->store_lock, NULL);
    pthread_cond_init(&d->store_cv, NULL);
    d->verify_free = verify_slots();
    atomic_init(&d->phase, GW_PHASE_RUNNING);
    atomic_init(&d->next_conn_id, 1);
    atomic_init(&d->access_gen, 0);
    d->cfg = gw_config_ref(cfg);
    if (gw_rl_registry_init(&d->rl) != GW_OK) {
        return GW_ERR_NOMEM;
    }
    gw_rl_global_set(&d->rl, (uint64_t)cfg->rate_limit,
                     (uint64_t)cfg->rate_limit_burst);
    return GW_OK;
}

void gw_daemon_cleanup(struct gw_daemon *d)
{
    gw_config_unref(d->cfg);
    d->cfg = NULL;
    gw_rl_registry_cleanup(&d->rl);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->verify_cv);
    pthread_mutex_destroy(&d->verify_lock);
    for (int i = 0; i < d->store_nfree; i++) {
        store_close(d->store_free[i]);
    }
    pthread_cond_destroy(&d->store_cv);
    pthread_mutex_destroy(&d->store_lock);
    free(d->db_path);
    d->db_path = NULL;
}

struct gw_config *gw_daemon_config(struct gw_daemon *d)
{
    struct gw_config *cfg = NULL;

    pthread_mutex_lock(&d->lock);
    cfg = gw_config_ref(d->cfg);
    pthread_mutex_unlock(&d->lock);
    return cfg;
}

void gw_daemon_publish(struct gw_daemon *d, struct gw_config *cfg)
{
    struct gw_config *old = NULL;

    pthread_mutex_lock(&d->lock);
    old = d->cfg;
    d->cfg = cfg;
    pthread_mutex_unlock(&d->lock);
    gw_rl_global_set(&d->rl, (uint64_t)cfg->rate_limit,
                     (uint64_t)cfg->rate_limit_burst);
    gw_config_unref(old);
}

void gw_daemon_register(struct gw_daemon *d, struct gw_conn_link *link)
{
    pthread_mutex_lock(&d->lock);
    link->prev = NULL;
    link->next = d->conns;
    if (d->conns != NULL) {
        d->conns->prev = link;
    }
    d->conns = link;
    pthread_mutex_unlock(&d->lock);
}

void gw_daemon_unregister(struct gw_daemon *d, struct gw_conn_link *link)
{
    pthread_mutex_lock(&d->lock);
    if (link->prev != NULL) {
        link->prev->next = link->next;
    } else if (d->conns == link) {
        d->conns = link->next;
    }
    if (link->next != NULL) {
        link->next->prev = link->prev;
    }
    link->prev = NULL;
    link->next = NULL;
    pthread_mutex_unlock(&d->lock);
}

static void on_wake_signal(int sig)
{
    (void)sig; /* only there to end a ppoll */
}

int gw_daemon_wake_setup(void)
{
    struct sigaction sa;
    sigset_t set;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_wake_signal; /* no SA_RESTART: ppoll must return */
    sigemptyset(&sa.sa_mask);
    sigemptyset(&set);
    sigaddset(&set, GW_WAKE_SIGNAL);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        sigaction(GW_WAKE_SIGNAL, &sa, NULL) != 0) {
        return gw_err_set(GW_ERR, "cannot set up the wake-up signal");
    }
    return GW_OK;
}

/* Under d->lock: a registered link's thread is alive (it unregisters
 * before it ends). */
static void wake(struct gw_conn_link *l)
{
    if (pthread_kill(l->thread, GW_WAKE_SIGNAL) != 0) {
        gw_log_debug("cannot wake a connection");
    }
}

void gw_daemon_wake_all(struct gw_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    for (struct gw_conn_link *l = d->conns; l != NULL; l = l->next) {
        wake(l);
    }
    pthread_mutex_unlock(&d->lock);
}

static void queue_kill(struct gw_conn_link *l, const struct gw_kill *kill)
{
    for (size_t i = 0; i < l->nkills; i++) {
        if (l->kills[i].id == kill->id) {
            return; /* posted again while the connection is at it */
        }
    }
    if (l->nkills < GW_KILLS_MAX) {
        l->kills[l->nkills++] = *kill;
    } /* else: posted again at the next poll */
}

bool gw_daemon_post_kill(struct gw_daemon *d, const char *uid,
                         const struct gw_kill *kill)
{
    bool found = false;

    pthread_mutex_lock(&d->lock);
    for (struct gw_conn_link *l = d->conns; l != NULL && !found; l = l->next) {
        if (l->uid != NULL && strcmp(l->uid, uid) == 0) {
            found = true;
            queue_kill(l, kill);
            wake(l);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return found;
}

size_t gw_daemon_take_kills(struct gw_daemon *d, struct gw_conn_link *link,
                            struct gw_kill *kills, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    while (n < max && n < link->nkills) {
        kills[n] = link->kills[n];
        n++;
    }
    link->nkills = 0;
    pthread_mutex_unlock(&d->lock);
    return n;
}

void gw_daemon_set_user(struct gw_daemon *d, struct gw_conn_link *link,
                        const char *user)
{
    pthread_mutex_lock(&d->lock);
    snprintf(link->user, sizeof(link->user), "%s", user);
    pthread_mutex_unlock(&d->lock);
}

void gw_daemon_post_recheck(struct gw_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    for (struct gw_conn_link *l = d->conns; l != NULL; l = l->next) {
        l->requests |= GW_REQ_RECHECK;
        wake(l);
    }
    pthread_mutex_unlock(&d->lock);
}

static bool end_matches(const struct gw_conn_link *l, const char *uid,
                        const char *user)
{
    if (uid != NULL) {
        return l->uid != NULL && strcmp(l->uid, uid) == 0;
    }
    return user != NULL && l->user[0] != '\0' && strcmp(l->user, user) == 0;
}

size_t gw_daemon_post_end(struct gw_daemon *d, const char *uid,
                          const char *user)
{
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    for (struct gw_conn_link *l = d->conns; l != NULL; l = l->next) {
        if (end_matches(l, uid, user)) {
            l->requests |= GW_REQ_END;
            wake(l);
            n++;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return n;
}

unsigned gw_daemon_take_requests(struct gw_daemon *d, struct gw_conn_link *link)
{
    unsigned bits;

    pthread_mutex_lock(&d->lock);
    bits = link->requests;
    link->requests = 0;
    pthread_mutex_unlock(&d->lock);
    return bits;
}

enum gw_phase gw_daemon_phase(struct gw_daemon *d)
{
    return (enum gw_phase)atomic_load(&d->phase);
}

void gw_daemon_set_phase(struct gw_daemon *d, enum gw_phase phase)
{
    atomic_store(&d->phase, (int)phase);
}

struct gw_limits_policy gw_daemon_policy(const struct gw_config *cfg)
{
    struct gw_limits_policy pol;

    const struct gw_startups *st = &cfg->max_startups;

    memset(&pol, 0, sizeof(pol));
    pol.max_unauth = cfg->max_unauth_connections;
    pol.max_unauth_per_source = cfg->max_unauth_per_source;
    pol.source_threshold = cfg->source_lockout_threshold;
    pol.lock_ms = (int64_t)cfg->lockout_time * 1000;
    if (st->full == 0) {
        /* auto: early drop from half of max_unauth_connections. sshd's
         * 10:30:100 would start at a tenth, but a bastion's clients log
         * in in bursts (Ansible forks, a ControlMaster per host): the
         * silent floods it is there for are held off by version_timeout,
         * the per-source limits and the penalties first. */
        pol.startups_begin = cfg->max_unauth_connections / 2;
        pol.startups_rate = 30;
    } else {
        /* max_unauth_connections stays the hard cap: max_startups can only
         * refuse earlier. */
        pol.max_unauth = st->full < pol.max_unauth ? st->full : pol.max_unauth;
        pol.startups_begin = st->begin;
        pol.startups_rate = st->rate;
    }
    if (pol.startups_begin < 1) {
        pol.startups_begin = 1; /* the first connection is never dropped */
    }
    pol.prefix_v4 = (unsigned)cfg->source_prefix_v4;
    pol.prefix_v6 = (unsigned)cfg->source_prefix_v6;
    pol.penalty_ms = (int64_t)cfg->source_penalty * 1000;
    pol.penalty_max_ms = (int64_t)cfg->source_penalty_max * 1000;
    return pol;
}

struct store *gw_daemon_store_get(struct gw_daemon *d)
{
    struct store *st = NULL;

    pthread_mutex_lock(&d->store_lock);
    while (d->store_nfree == 0 && d->store_open >= GW_STORE_POOL_MAX) {
        pthread_cond_wait(&d->store_cv, &d->store_lock);
    }
    if (d->store_nfree > 0) {
        st = d->store_free[--d->store_nfree];
        pthread_mutex_unlock(&d->store_lock);
        return st;
    }
    d->store_open++; /* reserved: opened outside the lock */
    pthread_mutex_unlock(&d->store_lock);

    if (store_open(d->db_path, STORE_OPEN_EXISTING, &st) != GW_OK) {
        gw_log_error("cannot open the database: %s", gw_err_msg());
        pthread_mutex_lock(&d->store_lock);
        d->store_open--;
        pthread_cond_signal(&d->store_cv);
        pthread_mutex_unlock(&d->store_lock);
        return NULL;
    }
    store_set_busy_timeout(st, GW_STORE_LOCK_WAIT_MS);
    return st;
}

void gw_daemon_store_put(struct gw_daemon *d, struct store *st)
{
    if (st == NULL) {
        return;
    }
    pthread_mutex_lock(&d->store_lock);
    d->store_free[d->store_nfree++] = st;
    pthread_cond_signal(&d->store_cv);
    pthread_mutex_unlock(&d->store_lock);
}

void gw_daemon_verify_begin(struct gw_daemon *d)
{
    pthread_mutex_lock(&d->verify_lock);
    while (d->verify_free == 0) {
        pthread_cond_wait(&d->verify_cv, &d->verify_lock);
    }
    d->verify_free--;
    pthread_mutex_unlock(&d->verify_lock);
}

void gw_daemon_verify_end(struct gw_daemon *d)
{
    pthread_mutex_lock(&d->verify_lock);
    d->verify_free++;
    pthread_cond_signal(&d->verify_cv);
    pthread_mutex_unlock(&d->verify_lock);
}
