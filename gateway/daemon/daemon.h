/*
 * The state the daemon's threads share, in one struct passed to everyone
 * (no globals): the published configuration, the admission limits, the
 * worker pool, the asynchronous event queue, the shutdown phase and the
 * registry of live connections (to wake them for shutdown).
 */
#ifndef SSHGATE_GATEWAY_DAEMON_DAEMON_H
#define SSHGATE_GATEWAY_DAEMON_DAEMON_H

#include "core/config.h"
#include "core/strutil.h"
#include "gateway/daemon/limits.h"
#include "gateway/daemon/ratelimits.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct gw_pool;
struct gw_audit_writer;
struct store;

enum gw_phase {
    GW_PHASE_RUNNING = 0,
    GW_PHASE_DRAINING = 1, /* not accepting; sessions may finish */
    GW_PHASE_CLOSING = 2,  /* every connection must end now */
};

#define GW_KILLS_MAX 8

/* A session the admin asked to end: its row, and the channel of the
 * connection it runs on (the row's key with the connection's uid; the
 * connection never waits to learn its rows' ids). */
struct gw_kill {
    int64_t id;
    int channel;
};

/*
 * How the main thread wakes a connection's thread: this signal, blocked in
 * every thread except while a connection waits in ppoll (gateway/conn/loop.c),
 * so a wake sent at any moment ends the next or current wait and is never
 * lost. A signal instead of an eventfd per connection: at 10,000
 * connections the descriptors are the scarcer resource (one less each).
 * Connections not authenticated yet wait inside libssh, which retries its
 * poll on EINTR; they notice a phase change within their 1 s poll period.
 */
#define GW_WAKE_SIGNAL SIGURG

/* Block GW_WAKE_SIGNAL in this thread (threads created later inherit it)
 * and give it a handler that does nothing; the main thread calls it
 * before any other thread starts. */
int gw_daemon_wake_setup(void);

/* SQLite allows one writer at a time: more handles than this would only
 * wait for each other. */
#define GW_STORE_POOL_MAX 8

/* What the main thread asks of a connection besides session kills
 * (gw_daemon_take_requests). */
enum {
    GW_REQ_RECHECK = 1u << 0, /* the access generation moved: check again */
    GW_REQ_END = 1u << 1,     /* "session kill --conn", "user kick" */
};

/* A connection's place in the registry: how to wake its thread. */
struct gw_conn_link {
    struct gw_conn_link *prev;
    struct gw_conn_link *next;
    pthread_t thread; /* woken with GW_WAKE_SIGNAL */
    const char *uid;  /* the connection's id in the sessions table */
    /* The authenticated user ("" before), for "user kick"; set with
     * gw_daemon_set_user, read under the daemon's lock. */
    char user[GW_NAME_MAX + 1];
    /* Sessions the admin asked to end ("session kill"), for the
     * connection's thread to act on; under the daemon's lock. */
    struct gw_kill kills[GW_KILLS_MAX];
    size_t nkills;
    unsigned requests; /* GW_REQ_* bits; under the daemon's lock */
};

struct gw_daemon {
    char *db_path; /* fixed for the daemon's life (db is not reloadable) */
    struct gw_limits *limits;
    struct gw_pool *pool;
    struct gw_audit_writer *audit; /* every audit record goes through it */
    atomic_int phase;
    atomic_uint_fast64_t next_conn_id;
    pthread_mutex_t lock; /* guards cfg and conns */
    struct gw_config *cfg;
    struct gw_conn_link *conns;
    /* The access generation of the store (store/settings.h) as the main
     * thread last read it: what a connection that authenticates now has
     * been checked against. */
    atomic_int_fast64_t access_gen;
    /* Password hashing is deliberately expensive (scrypt, 32 MiB each), so
     * only a few verifications run at once, whatever the connection
     * count: memory stays bounded under a password-guessing flood. */
    pthread_mutex_t verify_lock;
    pthread_cond_t verify_cv;
    int verify_free;
    /* gw_daemon_store_get's pool */
    pthread_mutex_t store_lock;
    pthread_cond_t store_cv;
    struct store *store_free[GW_STORE_POOL_MAX];
    int store_nfree;
    int store_open; /* handed out or free */
    /* The rate limits' shared buckets; the global pair follows the
     * published config's rate_limit. */
    struct gw_rl_registry rl;
};

/* Set up with cfg as the first published config (takes a reference). */
int gw_daemon_init(struct gw_daemon *d, struct gw_config *cfg);
void gw_daemon_cleanup(struct gw_daemon *d);

/* The current config, with a new reference for the caller. */
struct gw_config *gw_daemon_config(struct gw_daemon *d);

/* Make cfg current; the daemon takes over the caller's reference. */
void gw_daemon_publish(struct gw_daemon *d, struct gw_config *cfg);

void gw_daemon_register(struct gw_daemon *d, struct gw_conn_link *link);
void gw_daemon_unregister(struct gw_daemon *d, struct gw_conn_link *link);

/* Poke every registered connection (after a phase change). */
void gw_daemon_wake_all(struct gw_daemon *d);

/* Queue the kill of session kill->id on channel kill->channel of the
 * connection uid and wake it. False when no live connection has that
 * uid. */
bool gw_daemon_post_kill(struct gw_daemon *d, const char *uid,
                         const struct gw_kill *kill);

/* Take up to max queued kills of link; how many. */
size_t gw_daemon_take_kills(struct gw_daemon *d, struct gw_conn_link *link,
                            struct gw_kill *kills, size_t max);

/* The link's connection authenticated as user. */
void gw_daemon_set_user(struct gw_daemon *d, struct gw_conn_link *link,
                        const char *user);

/* Ask every connection to check its access again, and wake it. */
void gw_daemon_post_recheck(struct gw_daemon *d);

/* Ask the connection uid (when uid is not NULL) or every connection of
 * user to end, and wake it. How many connections were asked. */
size_t gw_daemon_post_end(struct gw_daemon *d, const char *uid,
                          const char *user);

/* Take the GW_REQ_* bits posted to link. */
unsigned gw_daemon_take_requests(struct gw_daemon *d,
                                 struct gw_conn_link *link);

enum gw_phase gw_daemon_phase(struct gw_daemon *d);
void gw_daemon_set_phase(struct gw_daemon *d, enum gw_phase phase);

/* The limits in force under cfg. */
struct gw_limits_policy gw_daemon_policy(const struct gw_config *cfg);

/* Wait for / return a password verification slot. */
void gw_daemon_verify_begin(struct gw_daemon *d);
void gw_daemon_verify_end(struct gw_daemon *d);

/*
 * A database handle for one operation, from a small pool shared by all
 * connections: a SQLite handle costs file descriptors and some 100 KB of
 * schema and cache, and a connection needs one only for moments (a login,
 * a session's start and end), so 10,000 connections share a few. Opened on
 * demand, at most GW_STORE_POOL_MAX at once (a caller may wait for one).
 * NULL when the database cannot be opened (logged). Never hold one across
 * a call that takes another.
 */
struct store *gw_daemon_store_get(struct gw_daemon *d);

/* Give it back. NULL is fine. */
void gw_daemon_store_put(struct gw_daemon *d, struct store *st);

#endif
