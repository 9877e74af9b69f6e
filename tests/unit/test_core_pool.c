/* Unit tests for core/pool: jobs run on their own threads, the cap is
 * enforced without blocking, threads are reused and retired, stop waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/pool.h"

/* A job that runs until released. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool open;
    atomic_int started;
    atomic_int finished;
    pthread_t threads[16];
    atomic_int nthreads;
};

static atomic_int exits;

static void on_exit_hook(void)
{
    atomic_fetch_add(&exits, 1);
}

static void gate_init(struct gate *g)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->lock);
}

static void gated_job(void *arg)
{
    struct gate *g = arg;
    int i = atomic_fetch_add(&g->nthreads, 1);

    if (i < 16) {
        g->threads[i] = pthread_self();
    }
    atomic_fetch_add(&g->started, 1);
    pthread_mutex_lock(&g->lock);
    while (!g->open) {
        pthread_cond_wait(&g->cv, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    atomic_fetch_add(&g->finished, 1);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Wait (up to 5 s) until *v reaches want. */
static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 500 && atomic_load(v) < want; i++) {
        sleep_ms(10);
    }
    assert_true(atomic_load(v) >= want);
}

static struct gw_pool *make_pool(size_t max, int idle_ms)
{
    struct gw_pool_opts opts;
    struct gw_pool *pool = NULL;

    memset(&opts, 0, sizeof(opts));
    opts.max_threads = max;
    opts.stack_size = 128 * 1024 + 1; /* rounded up to a page */
    opts.idle_ms = idle_ms;
    opts.thread_exit = on_exit_hook;
    assert_int_equal(gw_pool_new(&opts, &pool), GW_OK);
    return pool;
}

static void test_cap_never_blocks(void **state)
{
    struct gw_pool *pool = make_pool(3, 60000);
    struct gate g;

    (void)state;
    gate_init(&g);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    }
    wait_for(&g.started, 3);
    assert_int_equal(gw_pool_busy(pool), 3);
    assert_false(gw_pool_has_room(pool));
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_AGAIN);
    gw_pool_set_max(pool, 4);
    assert_true(gw_pool_has_room(pool));
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    wait_for(&g.started, 4);
    gate_open(&g);
    wait_for(&g.finished, 4);
    assert_int_equal(gw_pool_stop(pool, 5000), GW_OK);
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_AGAIN);
    gw_pool_free(pool);
}

static void test_threads_reused(void **state)
{
    struct gw_pool *pool = make_pool(4, 60000);
    struct gate g;

    (void)state;
    gate_init(&g);
    gate_open(&g);
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    wait_for(&g.finished, 1);
    for (int i = 0; i < 50 && gw_pool_busy(pool) > 0; i++) {
        sleep_ms(10);
    }
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    wait_for(&g.finished, 2);
    /* The idle thread took the second job. */
    assert_true(pthread_equal(g.threads[0], g.threads[1]));
    assert_int_equal(gw_pool_stop(pool, 5000), GW_OK);
    gw_pool_free(pool);
}

static void test_idle_threads_retire(void **state)
{
    struct gw_pool *pool = make_pool(4, 50);
    struct gate g;
    int before = atomic_load(&exits);

    (void)state;
    gate_init(&g);
    gate_open(&g);
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    wait_for(&g.finished, 2);
    wait_for(&exits, before + 2); /* both retired after 50 ms idle */
    assert_int_equal(gw_pool_busy(pool), 0);
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    wait_for(&g.finished, 3);
    assert_int_equal(gw_pool_stop(pool, 5000), GW_OK);
    gw_pool_free(pool);
}

static void test_stop_times_out(void **state)
{
    struct gw_pool *pool = make_pool(2, 60000);
    struct gate g;

    (void)state;
    gate_init(&g);
    assert_int_equal(gw_pool_submit(pool, gated_job, &g), GW_OK);
    wait_for(&g.started, 1);
    assert_int_equal(gw_pool_stop(pool, 100), GW_ERR_TIMEOUT);
    gate_open(&g);
    assert_int_equal(gw_pool_stop(pool, 5000), GW_OK);
    gw_pool_free(pool);
}

static void test_bad_options(void **state)
{
    struct gw_pool_opts opts;
    struct gw_pool *pool = NULL;

    (void)state;
    memset(&opts, 0, sizeof(opts));
    opts.idle_ms = 10;
    assert_int_equal(gw_pool_new(&opts, &pool), GW_ERR_INVALID);
    gw_pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_never_blocks),
        cmocka_unit_test(test_threads_reused),
        cmocka_unit_test(test_idle_threads_retire),
        cmocka_unit_test(test_stop_times_out),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
