#include "pool.h"

#include "err.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One thread. While idle it waits on its own condition variable, so that
 * a submit wakes exactly the thread it hands the job to. */
struct worker {
    struct worker *next; /* on the idle stack or the zombie list */
    struct gw_pool *pool;
    pthread_t tid;
    pthread_cond_t cv;
    gw_pool_job_fn fn; /* the job handed over; NULL while idle */
    void *arg;
};

struct gw_pool {
    pthread_mutex_t lock;
    pthread_cond_t done_cv; /* signalled whenever a thread ends */
    pthread_attr_t attr;
    struct worker *idle;    /* idle threads, most recently used first */
    struct worker *zombies; /* ended threads, not yet joined */
    size_t max;
    size_t threads; /* alive, including idle ones */
    size_t busy;
    int idle_ms;
    void (*thread_exit)(void);
    bool stopping;
};

static void monotonic_deadline(int ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int monotonic_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? GW_OK : GW_ERR_NOMEM;
}

static void unlink_idle(struct gw_pool *pool, struct worker *w)
{
    for (struct worker **p = &pool->idle; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            w->next = NULL;
            return;
        }
    }
}

/* With the lock held: park w until a job arrives, the pool stops or the
 * idle time runs out. True when w has a job to run. */
static bool wait_for_job(struct gw_pool *pool, struct worker *w)
{
    struct timespec deadline;

    w->next = pool->idle;
    pool->idle = w;
    monotonic_deadline(pool->idle_ms, &deadline);
    while (w->fn == NULL && !pool->stopping) {
        if (pthread_cond_timedwait(&w->cv, &pool->lock, &deadline) ==
            ETIMEDOUT) {
            break;
        }
    }
    if (w->fn == NULL) {
        unlink_idle(pool, w);
        return false;
    }
    return true;
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct gw_pool *pool = w->pool;
    bool more = true;

    while (more) {
        w->fn(w->arg);
        pthread_mutex_lock(&pool->lock);
        w->fn = NULL;
        w->arg = NULL;
        pool->busy--;
        more = !pool->stopping && wait_for_job(pool, w);
        pthread_mutex_unlock(&pool->lock);
    }
    if (pool->thread_exit != NULL) {
        pool->thread_exit();
    }
    pthread_mutex_lock(&pool->lock);
    pool->threads--;
    w->next = pool->zombies;
    pool->zombies = w;
    pthread_cond_broadcast(&pool->done_cv);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Join ended threads. Called without the lock. */
static void join_all(struct worker *list)
{
    while (list != NULL) {
        struct worker *next = list->next;
        pthread_join(list->tid, NULL);
        pthread_cond_destroy(&list->cv);
        free(list);
        list = next;
    }
}

static struct worker *take_zombies(struct gw_pool *pool)
{
    struct worker *list = pool->zombies;

    pool->zombies = NULL;
    return list;
}

int gw_pool_new(const struct gw_pool_opts *opts, struct gw_pool **out)
{
    struct gw_pool *pool = NULL;
    long page = sysconf(_SC_PAGESIZE);
    size_t stack = opts->stack_size;

    if (opts->max_threads == 0 || opts->idle_ms <= 0 || page <= 0) {
        return gw_err_set(GW_ERR_INVALID, "bad thread pool options");
    }
    stack = (stack + (size_t)page - 1) / (size_t)page * (size_t)page;
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&pool->lock, NULL);
    monotonic_cond_init(&pool->done_cv);
    pthread_attr_init(&pool->attr);
    if (stack != 0 && pthread_attr_setstacksize(&pool->attr, stack) != 0) {
        gw_pool_free(pool);
        return gw_err_set(GW_ERR_INVALID, "cannot use a %zu byte stack", stack);
    }
    pool->max = opts->max_threads;
    pool->idle_ms = opts->idle_ms;
    pool->thread_exit = opts->thread_exit;
    *out = pool;
    return GW_OK;
}

/* With the lock held: start a new thread for the job. */
static int spawn(struct gw_pool *pool, gw_pool_job_fn fn, void *arg)
{
    struct worker *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return GW_AGAIN;
    }
    if (monotonic_cond_init(&w->cv) != GW_OK) {
        free(w);
        return GW_AGAIN;
    }
    w->pool = pool;
    w->fn = fn;
    w->arg = arg;
    if (pthread_create(&w->tid, &pool->attr, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        free(w);
        return GW_AGAIN;
    }
    pool->threads++;
    return GW_OK;
}

int gw_pool_submit(struct gw_pool *pool, gw_pool_job_fn fn, void *arg)
{
    struct worker *zombies = NULL;
    struct worker *w = NULL;
    int rc = GW_AGAIN;

    pthread_mutex_lock(&pool->lock);
    zombies = take_zombies(pool);
    if (pool->stopping || pool->busy >= pool->max) {
        goto out;
    }
    if (pool->idle != NULL) {
        w = pool->idle;
        pool->idle = w->next;
        w->next = NULL;
        w->fn = fn;
        w->arg = arg;
        pthread_cond_signal(&w->cv);
        rc = GW_OK;
    } else {
        rc = spawn(pool, fn, arg);
    }
    if (rc == GW_OK) {
        pool->busy++;
    }
out:
    pthread_mutex_unlock(&pool->lock);
    join_all(zombies);
    return rc;
}

bool gw_pool_has_room(struct gw_pool *pool)
{
    bool room;

    pthread_mutex_lock(&pool->lock);
    room = !pool->stopping && pool->busy < pool->max;
    pthread_mutex_unlock(&pool->lock);
    return room;
}

size_t gw_pool_busy(struct gw_pool *pool)
{
    size_t busy;

    pthread_mutex_lock(&pool->lock);
    busy = pool->busy;
    pthread_mutex_unlock(&pool->lock);
    return busy;
}

void gw_pool_set_max(struct gw_pool *pool, size_t max_threads)
{
    pthread_mutex_lock(&pool->lock);
    pool->max = max_threads > 0 ? max_threads : 1;
    pthread_mutex_unlock(&pool->lock);
}

int gw_pool_stop(struct gw_pool *pool, int timeout_ms)
{
    struct timespec deadline;
    struct worker *zombies = NULL;
    size_t left;

    monotonic_deadline(timeout_ms, &deadline);
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    for (struct worker *w = pool->idle; w != NULL; w = w->next) {
        pthread_cond_signal(&w->cv);
    }
    while (pool->threads > 0) {
        if (pthread_cond_timedwait(&pool->done_cv, &pool->lock, &deadline) ==
            ETIMEDOUT) {
            break;
        }
    }
    left = pool->threads;
    zombies = take_zombies(pool);
    pthread_mutex_unlock(&pool->lock);
    join_all(zombies);
    return left == 0 ? GW_OK : GW_ERR_TIMEOUT;
}

void gw_pool_free(struct gw_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_attr_destroy(&pool->attr);
    pthread_cond_destroy(&pool->done_cv);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}
