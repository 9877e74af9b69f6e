/*
 * A pool of worker threads for thread-per-connection work: a job runs on
 * one thread from start to end, threads are created on demand up to a cap,
 * kept for reuse while idle and retired after idle_ms without work. Each
 * thread has a small fixed stack.
 *
 * Submitting never blocks: when every thread is busy and the cap is
 * reached, gw_pool_submit returns GW_AGAIN and the caller refuses the work.
 */
#ifndef SSHGATE_CORE_POOL_H
#define SSHGATE_CORE_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct gw_pool;

typedef void (*gw_pool_job_fn)(void *arg);

struct gw_pool_opts {
    size_t max_threads;        /* cap on busy threads (>= 1) */
    size_t stack_size;         /* bytes; rounded up to the page size */
    int idle_ms;               /* retire a thread idle this long */
    void (*thread_exit)(void); /* run on a thread before it ends; may be
                                  NULL (closes per-thread resources) */
};

/* GW_OK, GW_ERR_NOMEM, GW_ERR_INVALID (bad options). */
int gw_pool_new(const struct gw_pool_opts *opts, struct gw_pool **out);

/*
 * Run fn(arg) on a worker thread. GW_OK when a thread took it; GW_AGAIN
 * when the pool is at its cap or stopping, or a thread could not be
 * created (arg is then still the caller's).
 */
int gw_pool_submit(struct gw_pool *pool, gw_pool_job_fn fn, void *arg);

/* Would a submit be accepted right now? (Only the submitting thread can
 * make this false, so a check followed by a submit is reliable.) */
bool gw_pool_has_room(struct gw_pool *pool);

/* Jobs currently running. */
size_t gw_pool_busy(struct gw_pool *pool);

/* Change the cap (a lower cap stops new work; running jobs continue). */
void gw_pool_set_max(struct gw_pool *pool, size_t max_threads);

/*
 * Refuse further submissions and wait up to timeout_ms for running jobs to
 * end (they are not interrupted: tell them to finish first). GW_OK when all
 * threads have been joined, GW_ERR_TIMEOUT otherwise.
 */
int gw_pool_stop(struct gw_pool *pool, int timeout_ms);

/* Free a stopped pool whose threads have all been joined; NULL is fine.
 * After a GW_ERR_TIMEOUT stop the pool must be leaked instead. */
void gw_pool_free(struct gw_pool *pool);

#endif
