/*
 * Unit tests for gateway/conn/lockout: what a user's lock refuses under
 * lockout_scope, which successes end a window of failures, and that the
 * source lockout comes first -- with the default settings no pace of
 * guessing from one address ever locks a user (the real counters: the
 * in-memory source table and the store's users row, on a fake clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "gateway/conn/lockout.h"
#include "gateway/daemon/daemon.h"
#include "gateway/daemon/limits.h"
#include "store/db.h"
#include "store/open.h"
#include "store/users.h"

static void test_scope_password(void **state)
{
    (void)state;
    /* Only the guessable methods are locked; keys are not. */
    assert_true(gw_lockout_refuses(GW_LOCKOUT_PASSWORD, true));
    assert_false(gw_lockout_refuses(GW_LOCKOUT_PASSWORD, false));
    /* A key login does not wipe out a guesser's failures. */
    assert_true(gw_lockout_success_resets(GW_LOCKOUT_PASSWORD, true));
    assert_false(gw_lockout_success_resets(GW_LOCKOUT_PASSWORD, false));
    assert_string_equal(gw_lockout_reason(GW_LOCKOUT_PASSWORD),
                        "password locked");
}

static void test_scope_user(void **state)
{
    (void)state;
    assert_true(gw_lockout_refuses(GW_LOCKOUT_USER, true));
    assert_true(gw_lockout_refuses(GW_LOCKOUT_USER, false));
    assert_true(gw_lockout_success_resets(GW_LOCKOUT_USER, true));
    assert_true(gw_lockout_success_resets(GW_LOCKOUT_USER, false));
    assert_string_equal(gw_lockout_reason(GW_LOCKOUT_USER), "user locked");
}

static void test_source_first(void **state)
{
    (void)state;
    assert_true(gw_lockout_counts_user(GW_SOURCE_COUNTED));
    assert_true(gw_lockout_counts_user(GW_SOURCE_LOCKED_NOW));
    assert_false(gw_lockout_counts_user(GW_SOURCE_WAS_LOCKED));
}

struct world {
    char dir[64];
    char path[128];
    struct store *st;
    struct gw_config *cfg;
    struct gw_limits *lim;
    struct gw_addr src;
    int64_t wall0;
};

static void world_open(struct world *w, const struct gw_config_override *ov,
                       size_t nov)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/sshgate-lockout-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->path, sizeof(w->path), "%s/test.db", w->dir);
    assert_int_equal(store_open(w->path, STORE_OPEN_CREATE, &w->st), GW_OK);
    assert_int_equal(store_user_add(w->st, "alice", false, NULL, '+', NULL),
                     GW_OK);
    assert_int_equal(gw_config_load(NULL, ov, nov, NULL, NULL, NULL, &w->cfg),
                     GW_OK);
    assert_int_equal(gw_limits_new(16, &w->lim), GW_OK);
    assert_int_equal(gw_addr_parse_ip("198.51.100.7", &w->src), GW_OK);
    w->wall0 = gw_time_wall_ms();
}

static void world_close(struct world *w)
{
    char db[160];

    gw_limits_free(w->lim);
    gw_config_unref(w->cfg);
    store_close(w->st);
    for (size_t i = 0; i < 3; i++) {
        static const char *const suffix[] = {"", "-wal", "-shm"};
        snprintf(db, sizeof(db), "%s%s", w->path, suffix[i]);
        unlink(db);
    }
    rmdir(w->dir);
}

/* One wrong password for alice from the world's address at t ms, as the
 * gateway counts it once the address passed the lock check: toward the
 * address first, toward alice if that allows. True when it locked her. */
static bool wrong_password(struct world *w, int64_t t)
{
    struct gw_limits_policy pol = gw_daemon_policy(w->cfg);
    struct store_lockout rule = {.threshold = (int)w->cfg->lockout_threshold,
                                 .seconds = (int)w->cfg->lockout_time,
                                 .now_ms = w->wall0 + t};
    bool locked = false;

    if (gw_lockout_counts_user(gw_limits_failure(w->lim, &w->src, &pol, t))) {
        assert_int_equal(
            store_user_record_failure(w->st, "alice", &rule, &locked), GW_OK);
    }
    return locked;
}

/* A failure that counts toward the address only (an unknown user). */
static void other_failure(struct world *w, int64_t t)
{
    struct gw_limits_policy pol = gw_daemon_policy(w->cfg);

    (void)gw_limits_failure(w->lim, &w->src, &pol, t);
}

/* n wrong passwords at t from connections that passed the lock check
 * together: the number of times alice was locked. */
static int burst(struct world *w, int64_t t, int n)
{
    int locks = 0;
    struct gw_limits_policy pol = gw_daemon_policy(w->cfg);

    if (gw_limits_locked(w->lim, &w->src, &pol, t)) {
        return 0; /* refused at admission */
    }
    for (int i = 0; i < n; i++) {
        locks += wrong_password(w, t);
    }
    return locks;
}

/* Guess every step_ms for four hours from t0, n at a time. */
static int guess(struct world *w, int64_t t0, int64_t step_ms, int n)
{
    int locks = 0;

    for (int64_t t = t0; t < t0 + INT64_C(4) * 3600 * 1000; t += step_ms) {
        locks += burst(w, t, n);
    }
    return locks;
}

/* The defaults: whatever the pace, one address never locks a user. */
static void test_one_address_cannot_lock(void **state)
{
    static const int64_t steps[] = {1000,  30000, 60000, 89000,
                                    90000, 91000, 120000};
    struct world w;

    (void)state;
    world_open(&w, NULL, 0);
    assert_true(w.cfg->source_lockout_threshold * 2 <=
                w.cfg->lockout_threshold);
    world_close(&w);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        world_open(&w, NULL, 0);
        assert_int_equal(guess(&w, 0, steps[i], 1), 0);
        world_close(&w);
        /* Ten connections failing at once each time. */
        world_open(&w, NULL, 0);
        assert_int_equal(guess(&w, 0, steps[i], 10), 0);
        world_close(&w);
    }
}

/*
 * The worst one address can do: start its window with a failure that does
 * not count toward alice, fail against her just short of its lock at the
 * end of that window, then up to its lock in the next: 2 x S - 2 failures
 * in one window of alice's (fewer than 2 x S for any S). True when that
 * locked her.
 */
static bool worst_case(const char *user_threshold, const char *src_threshold)
{
    const struct gw_config_override ov[] = {
        {"lockout_threshold", user_threshold, "test"},
        {"source_lockout_threshold", src_threshold, "test"},
    };
    struct world w;
    int64_t window;
    long s;
    int locks = 0;

    world_open(&w, ov, 2);
    window = (int64_t)w.cfg->lockout_time * 1000;
    s = w.cfg->source_lockout_threshold;
    other_failure(&w, 0);
    locks += burst(&w, window - 100000, (int)s - 2);
    locks += burst(&w, window, (int)s);
    locks += guess(&w, window + 1000, 1000, 1); /* and on, for good measure */
    world_close(&w);
    return locks > 0;
}

/* The rule the defaults keep (docs/configuration.md, "Lockouts"): a source
 * threshold of at most half the user threshold. Above that, one address
 * can lock a user; the test is not vacuous. */
static void test_half_is_the_limit(void **state)
{
    (void)state;
    assert_false(worst_case("20", "10")); /* the defaults */
    assert_false(worst_case("10", "5"));
    assert_true(worst_case("10", "6"));
    assert_true(worst_case("10", "30")); /* the defaults before lockout_scope */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_password),
        cmocka_unit_test(test_scope_user),
        cmocka_unit_test(test_source_first),
        cmocka_unit_test(test_one_address_cannot_lock),
        cmocka_unit_test(test_half_is_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
