/*
 * Unit tests of sshgate-admin session (list, show, export, replay, watch) over
 * sessions, transfers and recordings written as the daemon writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"
#include "store/db.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/transfers.h"
#include "store/open.h"

#include "admin_fixture.h"

/* Two sessions as the daemon writes them: alice's ended exec with two
 * transfers (a write, a rename with a control character in its target) and
 * a recording, bob's shell still open. */
static void add_sessions(struct fx *fx, int64_t *ended, int64_t *open)
{
    static const char chunk1[] = "[0.1, \"o\", \"hello \"]\n"
                                 "[0.2, \"i\", \"secret\"]\n";
    static const char chunk2[] = "[0.3, \"o\", \"world\\r\\n\"]\n";
    struct store_session_start a = {"gw1",         "c-1",  0,        "alice",
                                    "127.0.0.1:5", "web1", "deploy", "exec",
                                    "ls",          false,  NULL,     0};
    struct store_session_start b = {"gw1",         "c-2", 0,    "bob",
                                    "127.0.0.1:6", "db1", "pg", "shell",
                                    NULL,          true,  NULL, 0};
    struct store_session_end end = {.bytes_up = 3,
                                    .bytes_down = 40,
                                    .has_exit_status = true,
                                    .exit_status = 0,
                                    .reason = "client closed"};
    struct store_transfer t = {
        .operation = "write", .bytes_written = 5, .status = "ok"};
    struct store_transfer mv = {.operation = "rename", .status = "ok"};
    struct store *st = NULL;
    int64_t rec = 0;

    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_session_start(st, &a, ended), GW_OK);
    assert_int_equal(store_session_start(st, &b, open), GW_OK);
    assert_int_equal(store_session_end(st, *ended, &end), GW_OK);
    t.session_id = *ended;
    t.path = "/srv/up.txt";
    assert_int_equal(store_transfer_add(st, &t), GW_OK);
    mv.session_id = *ended;
    mv.path = "/srv/up.txt";
    mv.path2 = "/srv/done\x1b.txt";
    assert_int_equal(store_transfer_add(st, &mv), GW_OK);
    assert_int_equal(store_recording_start(st, *ended,
                                           "{\"version\": 2, \"width\": 80, "
                                           "\"height\": 24}",
                                           &rec),
                     GW_OK);
    assert_int_equal(
        store_recording_append(st, rec, 1, chunk1, sizeof(chunk1) - 1), GW_OK);
    assert_int_equal(
        store_recording_append(st, rec, 2, chunk2, sizeof(chunk2) - 1), GW_OK);
    store_close(st);
}

static void test_session_commands(void **state)
{
    struct fx *fx = *state;
    int64_t ended = 0, open = 0;
    char id[24], other[24];
    json_t *doc = NULL;

    add_sessions(fx, &ended, &open);
    snprintf(id, sizeof(id), "%lld", (long long)ended);
    snprintf(other, sizeof(other), "%lld", (long long)open);

    run(fx, NULL, "session", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "deploy@web1");
    expect_contains(fx->out, "active");
    run(fx, NULL, "--json", "session", "list", "--active", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 1);
    assert_string_equal(jstr(json_array_get(doc, 0), "user"), "bob");
    json_decref(doc);
    run(fx, NULL, "--json", "session", "list", "--user", "alice", "--since",
        "1d", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 1);
    json_decref(doc);

    run(fx, NULL, "--json", "session", "show", id, NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_string_equal(jstr(doc, "command"), "ls");
    assert_int_equal(json_integer_value(json_object_get(doc, "exit_status")),
                     0);
    assert_int_equal(json_array_size(json_object_get(doc, "file_transfers")),
                     2);
    assert_string_equal(
        jstr(json_array_get(json_object_get(doc, "file_transfers"), 1),
             "path2"),
        "/srv/done\x1b.txt");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "recording"), "chunks")),
                     2);
    json_decref(doc);
    run(fx, NULL, "session", "show", id, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "/srv/up.txt");
    expect_contains(fx->out, "client closed");
    /* both paths of the rename, escaped as every path is; none for the
     * write, which has no second path */
    expect_contains(fx->out, "file transfers (2):");
    expect_contains(fx->out, " rename /srv/up.txt -> /srv/done?.txt read=0");
    expect_contains(fx->out, " write /srv/up.txt read=0 written=5");

    run(fx, NULL, "session", "export", id, NULL);
    expect_ok(fx);
    assert_string_equal(fx->out,
                        "{\"version\": 2, \"width\": 80, \"height\": 24}\n"
                        "[0.1, \"o\", \"hello \"]\n[0.2, \"i\", \"secret\"]\n"
                        "[0.3, \"o\", \"world\\r\\n\"]\n");
    /* Replay shows output events only, in order. */
    run(fx, NULL, "session", "replay", id, "--speed", "1000", NULL);
    expect_ok(fx);
    assert_string_equal(fx->out, "hello world\r\n");

    expect_fail(fx, "no session 999", NULL, "session", "show", "999", NULL);
    expect_fail(fx, "not a session id", NULL, "session", "show", "x1", NULL);
    expect_fail(fx, "has no recording", NULL, "session", "export", other, NULL);
    expect_fail(fx, "--speed must be", NULL, "session", "replay", id, "--speed",
                "0", NULL);
    expect_fail(fx, "not a time", NULL, "session", "list", "--since", "soon",
                NULL);
}

static long long access_gen(const struct fx *fx)
{
    return db_scalar(fx->db, "SELECT coalesce((SELECT CAST(value AS "
                             "INTEGER) FROM settings WHERE name = "
                             "'access.generation'), 0)");
}

/* Every change bumps the access generation; "session kill --conn" and
 * "user kick" write a request and their event. */
static void test_conn_kill_and_kick(void **state)
{
    struct fx *fx = *state;
    long long gen = access_gen(fx);

    run(fx, "pw\n", "user", "add", "carol", "--password-stdin", NULL);
    expect_ok(fx);
    assert_true(access_gen(fx) == gen + 1);
    run(fx, NULL, "user", "disable", "carol", NULL);
    expect_ok(fx);
    assert_true(access_gen(fx) == gen + 2);
    /* Reading changes nothing. */
    run(fx, NULL, "user", "list", NULL);
    expect_ok(fx);
    assert_true(access_gen(fx) == gen + 2);

    run(fx, NULL, "session", "kill", "--conn", "18f00a-7", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "end connection 18f00a-7");
    assert_true(db_scalar(fx->db, "SELECT count(*) FROM conn_kills WHERE "
                                  "conn_uid = '18f00a-7' AND handled_at IS "
                                  "NULL") == 1);
    assert_true(events_of(fx, "admin.session.kill") == 1);
    expect_fail(fx, "not a connection uid", NULL, "session", "kill", "--conn",
                "web1", NULL);
    expect_usage(fx, "", NULL, "session", "kill", NULL);
    expect_usage(fx, "", NULL, "session", "kill", "3", "--conn", "18f00a-7",
                 NULL);

    run(fx, NULL, "--json", "user", "kick", "carol", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "\"user\": \"carol\"");
    assert_true(db_scalar(fx->db, "SELECT count(*) FROM conn_kills WHERE "
                                  "username = 'carol' AND node IS NOT "
                                  "NULL") == 1);
    assert_true(events_of(fx, "admin.user.kick") == 1);
    expect_fail(fx, "unknown user", NULL, "user", "kick", "nobody", NULL);
}

/* The daemon's side of a live session: another chunk, then the end. */
struct live_writer {
    const char *db;
    int64_t session;
    int64_t rec;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *write_live(void *arg)
{
    static const char chunk[] = "[0.5, \"o\", \"live\\r\\n\"]\n";
    struct live_writer *w = arg;
    struct store_session_end end = {.reason = "client closed"};
    struct store *st = NULL;

    if (store_open(w->db, STORE_OPEN_EXISTING, &st) != GW_OK) {
        return NULL;
    }
    sleep_ms(400); /* the watcher is in its poll loop */
    (void)store_recording_append(st, w->rec, 1, chunk, sizeof(chunk) - 1);
    sleep_ms(400);
    (void)store_session_end(st, w->session, &end);
    store_close(st);
    return NULL;
}

/* session watch: an ended session is for replay (or --from-start), a
 * session without a recording has nothing to watch, and a live one is
 * followed from its newest chunk until it ends. One admin.session.watch
 * event per watch that started, none for a refused one. */
static void test_session_watch(void **state)
{
    static const char ctx_chunk[] = "[0.1, \"o\", \"context \"]\n";
    struct fx *fx = *state;
    int64_t ended = 0, open = 0, rec = 0;
    struct store *st = NULL;
    struct live_writer w;
    pthread_t writer;
    char id[24], other[24], sql[256];

    add_sessions(fx, &ended, &open);
    snprintf(id, sizeof(id), "%lld", (long long)ended);
    snprintf(other, sizeof(other), "%lld", (long long)open);

    expect_fail(fx, "session replay", NULL, "session", "watch", id, NULL);
    expect_fail(fx, "no session 999", NULL, "session", "watch", "999", NULL);
    expect_fail(fx, "--speed must be", NULL, "session", "watch", id, "--speed",
                "x", NULL);
    /* bob's open shell has a pty but no recording (after a short wait for
     * the writer that would store it) */
    expect_fail(fx, "recording is off", NULL, "session", "watch", other, NULL);
    assert_true(events_of(fx, "admin.session.watch") == 0);

    run(fx, NULL, "session", "watch", id, "--from-start", "--speed", "1000",
        NULL);
    assert_int_equal(fx->rc, 0); /* and the end note on stderr */
    assert_string_equal(fx->out, "hello world\r\n");
    expect_contains(fx->err, "ended at");
    expect_contains(fx->err, "(client closed)");
    assert_true(events_of(fx, "admin.session.watch") == 1);

    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_recording_start(st, open, "{\"version\": 2}", &rec),
                     GW_OK);
    assert_int_equal(
        store_recording_append(st, rec, 0, ctx_chunk, sizeof(ctx_chunk) - 1),
        GW_OK);
    store_close(st);
    w.db = fx->db;
    w.session = open;
    w.rec = rec;
    assert_int_equal(pthread_create(&writer, NULL, write_live, &w), 0);
    run(fx, NULL, "session", "watch", other, NULL);
    assert_int_equal(pthread_join(writer, NULL), 0);
    assert_int_equal(fx->rc, 0); /* and the end note on stderr */
    assert_string_equal(fx->out, "context live\r\n");
    expect_contains(fx->err, "ended at");
    assert_true(events_of(fx, "admin.session.watch") == 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM events WHERE kind = 'admin.session.watch' "
             "AND username = 'bob' AND detail LIKE 'by=%% session=%s'",
             other);
    assert_true(db_scalar(fx->db, sql) == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_session_commands),
        T(test_conn_kill_and_kick),
        T(test_session_watch),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
