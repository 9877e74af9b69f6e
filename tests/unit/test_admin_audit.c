/*
 * Unit tests of sshgate-admin audit (list with its filters, verify with
 * and without a head, head).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "admin_fixture.h"
#include "core/err.h"
#include "store/events.h"
#include "store/open.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/transfers.h"

static void test_audit_list(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *ev = NULL;

    add_people(fx);
    run(fx, NULL, "audit", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "KIND");
    expect_contains(fx->out, "admin.init");
    expect_contains(fx->out, "admin.user.add");

    run(fx, NULL, "--json", "audit", "list", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    /* init, 2 user.add, key.add, 2 host.add */
    assert_int_equal(json_array_size(doc), 6);
    ev = json_array_get(doc, 1);
    assert_string_equal(jstr(ev, "kind"), "admin.user.add");
    assert_string_equal(jstr(ev, "user"), "alice");
    assert_true(json_is_null(json_object_get(ev, "client")));
    expect_contains(jstr(ev, "detail"), "by=");
    assert_int_equal(strlen(jstr(ev, "hash")), 64);
    json_decref(doc);

    run(fx, NULL, "--json", "audit", "list", "--kind", "admin.host.add", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--kind", "admin.user.", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--user", "alice", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--limit", "2", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(jstr(json_array_get(doc, 1), "kind"), "admin.host.add");
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--since", "1h", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 6);
    json_decref(doc);
    run(fx, NULL, "--json", "audit", "list", "--since", "2999-01-01", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 0);
    json_decref(doc);

    expect_fail(fx, "--limit", NULL, "audit", "list", "--limit", "0", NULL);
    expect_fail(fx, "--limit", NULL, "audit", "list", "--limit", "x", NULL);
    expect_fail(fx, "is not a time", NULL, "audit", "list", "--since",
                "yesterday", NULL);
}

static void test_audit_verify(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *sessions = NULL;

    add_people(fx);
    run(fx, NULL, "audit", "verify", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "audit chain intact: 6 events, head 6:");
    expect_contains(fx->out, "sessions: 0 verified, 0 open, 0 not covered");
    run(fx, NULL, "--json", "audit", "verify", NULL);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_int_equal(json_integer_value(json_object_get(doc, "events")), 6);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "head"), "id")),
        6);
    assert_int_equal(strlen(jstr(doc, "head_hash")), 64);
    sessions = json_object_get(doc, "sessions");
    assert_int_equal(json_integer_value(json_object_get(sessions, "verified")),
                     0);
    assert_int_equal(json_array_size(json_object_get(doc, "problems")), 0);
    json_decref(doc);

    /* A report on stdout, one line on stderr, exit 1, nothing changed. */
    db_exec(fx->db, "DELETE FROM events WHERE id = 6");
    expect_report(fx,
                  "audit chain broken: event 6: deleted from the end of the "
                  "chain",
                  "\nevent 6: deleted from the end of the chain\n", NULL,
                  "audit", "verify", NULL);
    expect_contains(fx->out, "audit verify: 1 problem found; 5 events");
    /* Every problem on its own line. */
    db_exec(fx->db, "UPDATE events SET kind = 'x' WHERE id = 3");
    expect_report(fx, "event 3: row content does not match its hash",
                  "event 3: row content does not match its hash", NULL, "audit",
                  "verify", NULL);
    expect_contains(fx->err, "(and 1 more problem)");
    expect_contains(fx->out, "\nevent 6: deleted from the end of the chain\n");
    run(fx, NULL, "--json", "audit", "verify", NULL);
    assert_int_equal(fx->rc, 1);
    doc = stdout_json(fx);
    assert_true(json_is_false(json_object_get(doc, "ok")));
    assert_int_equal(json_array_size(json_object_get(doc, "problems")), 2);
    assert_string_equal(
        jstr(json_array_get(json_object_get(doc, "problems"), 0), "object"),
        "event");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(doc, "problems"), 0), "id")),
        3);
    assert_int_equal(json_integer_value(json_object_get(doc, "problems_total")),
                     2);
    json_decref(doc);
}

static void test_audit_head(void **state)
{
    struct fx *fx = *state;
    char head[128];
    json_t *doc = NULL;
    json_t *ev = NULL;

    add_people(fx);
    run(fx, NULL, "--json", "audit", "list", NULL);
    doc = stdout_json(fx);
    ev = json_array_get(doc, 5);
    snprintf(head, sizeof(head), "6:%s\n", jstr(ev, "hash"));
    json_decref(doc);
    run(fx, NULL, "audit", "head", NULL);
    expect_ok(fx);
    assert_string_equal(fx->out, head);
    run(fx, NULL, "--json", "audit", "head", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_integer_value(json_object_get(doc, "id")), 6);
    assert_int_equal(strlen(jstr(doc, "hash")), 64);
    assert_true(strncmp(head + 2, jstr(doc, "hash"), 64) == 0);
    json_decref(doc);
    expect_usage(fx, "", NULL, "audit", "head", "extra", NULL);
    db_exec(fx->db, "DELETE FROM events");
    expect_fail(fx, "the audit chain has no events", NULL, "audit", "head",
                NULL);
}

static void test_audit_verify_head(void **state)
{
    struct fx *fx = *state;
    char head[128];
    char bad[128];
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "audit", "head", NULL);
    expect_ok(fx);
    snprintf(head, sizeof(head), "%.*s", (int)strcspn(fx->out, "\n"), fx->out);
    /* The chain goes on after the head was kept. */
    run(fx, "pw\n", "user", "add", "carol", "--password-stdin", NULL);
    expect_ok(fx);
    run(fx, NULL, "audit", "verify", "--head", head, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "intact: 7 events");
    expect_contains(fx->out, "is in the chain");
    run(fx, NULL, "--json", "audit", "verify", "--head", head, NULL);
    doc = stdout_json(fx);
    assert_true(json_is_true(
        json_object_get(json_object_get(doc, "given_head"), "ok")));
    json_decref(doc);

    /* The tail cut, sqlite_sequence too: the chain alone looks fine... */
    db_exec(fx->db, "DELETE FROM events WHERE id >= 5; UPDATE "
                    "sqlite_sequence SET seq = 4 WHERE name = 'events'");
    run(fx, NULL, "audit", "verify", NULL);
    expect_ok(fx);
    /* ...the head kept elsewhere does not. */
    expect_report(fx, "audit chain broken: head 6: event 6 is not in the chain",
                  "head 6: event 6 is not in the chain, which ends at event 4",
                  NULL, "audit", "verify", "--head", head, NULL);
    run(fx, NULL, "--json", "audit", "verify", "--head", head, NULL);
    assert_int_equal(fx->rc, 1);
    doc = stdout_json(fx);
    assert_true(json_is_false(
        json_object_get(json_object_get(doc, "given_head"), "ok")));
    json_decref(doc);

    /* A head that is there with another hash. */
    snprintf(bad, sizeof(bad), "%s", head);
    bad[0] = '3';
    expect_report(fx, "the chain was rewritten up to there", "head 3: event 3",
                  NULL, "audit", "verify", "--head", bad, NULL);
    expect_fail(fx, "is not a chain head", NULL, "audit", "verify", "--head",
                "6", NULL);
    expect_fail(fx, "is not a chain head", NULL, "audit", "verify", "--head",
                "6:xyz", NULL);
    expect_usage(fx, "--head", NULL, "audit", "verify", "--head", NULL);
}

/* An ended session with a recording and a transfer, one still open, and
 * one as schema 2 left it (its session.end binds nothing). */
static void add_sessions(struct fx *fx, int64_t ids[3])
{
    struct store_session_start s = {.node = "gw1",
                                    .conn_uid = "c-1",
                                    .channel = 1,
                                    .user = "alice",
                                    .client = "127.0.0.1:5",
                                    .host = "web1",
                                    .login = "deploy",
                                    .kind = "shell",
                                    .pty = true};
    struct store_session_end end = {.bytes_down = 40,
                                    .reason = "client closed"};
    struct store_transfer t = {
        .operation = "write", .path = "/srv/x", .status = "ok"};
    struct store *st = NULL;
    int64_t rec = 0;
    char sql[512];

    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_session_start(st, &s, &ids[0]), GW_OK);
    assert_int_equal(store_recording_start(st, ids[0], "{}", &rec), GW_OK);
    assert_int_equal(store_recording_append(st, rec, 0,
                                            "[0.1, \"o\", "
                                            "\"hi\"]\n",
                                            17),
                     GW_OK);
    t.session_id = ids[0];
    assert_int_equal(store_transfer_add(st, &t), GW_OK);
    assert_int_equal(store_session_end(st, ids[0], &end), GW_OK);
    s.channel = 2;
    assert_int_equal(store_session_start(st, &s, &ids[1]), GW_OK);
    ids[2] = ids[1] + 1;
    snprintf(sql, sizeof(sql),
             "INSERT INTO sessions (id, node, conn_uid, channel, username, "
             "client_addr, kind, started_at, ended_at, created_at) VALUES "
             "(%lld, 'gw1', 'old', 1, 'bob', '127.0.0.1:6', 'exec', "
             "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', "
             "'2026-01-01T00:00:00.000Z')",
             (long long)ids[2]);
    store_close(st);
    db_exec(fx->db, sql);
    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_event_addf(st, "session.start", "bob", NULL,
                                      "session=%lld kind=exec",
                                      (long long)ids[2]),
                     GW_OK);
    assert_int_equal(store_event_addf(st, "session.end", "bob", NULL,
                                      "session=%lld kind=exec bytes_up=0",
                                      (long long)ids[2]),
                     GW_OK);
    store_close(st);
}

static void test_audit_verify_sessions(void **state)
{
    struct fx *fx = *state;
    int64_t ids[3];
    char line[96];
    json_t *doc = NULL;
    json_t *sessions = NULL;

    add_sessions(fx, ids);
    run(fx, NULL, "audit", "verify", NULL);
    expect_ok(fx);
    expect_contains(fx->out,
                    "sessions: 1 verified, 1 open, 1 not covered (written "
                    "before schema 3)");
    snprintf(line, sizeof(line), "\nsession %lld: open\n", (long long)ids[1]);
    expect_contains(fx->out, line);
    snprintf(line, sizeof(line),
             "\nsession %lld: not covered (written before schema 3)\n",
             (long long)ids[2]);
    expect_contains(fx->out, line);
    run(fx, NULL, "--json", "audit", "verify", NULL);
    doc = stdout_json(fx);
    sessions = json_object_get(doc, "sessions");
    assert_int_equal(json_integer_value(json_object_get(sessions, "open")), 1);
    assert_int_equal(
        json_integer_value(json_array_get(
            json_array_get(json_object_get(sessions, "open_ids"), 0), 0)),
        ids[1]);
    assert_int_equal(
        json_integer_value(json_object_get(sessions, "not_covered")), 1);
    json_decref(doc);

    /* Each covered part of the ended session, tampered with. */
    db_exec(fx->db, "UPDATE recording_chunks SET data = '[0.1, \"o\", "
                    "\"ho\"]\n'");
    snprintf(line, sizeof(line), "session %lld: recording 1, chunk seq 0",
             (long long)ids[0]);
    expect_report(fx, line, line, NULL, "audit", "verify", NULL);
    db_exec(fx->db, "UPDATE file_transfers SET path = '/srv/y'");
    expect_report(fx, "(and 1 more problem)", "its file transfers", NULL,
                  "audit", "verify", NULL);
    db_exec(fx->db, "UPDATE sessions SET bytes_down = 4 WHERE id = 1");
    expect_report(fx, "(and 2 more problems)", "a column was changed", NULL,
                  "audit", "verify", NULL);
    run(fx, NULL, "--json", "audit", "verify", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "problems")), 3);
    assert_string_equal(
        jstr(json_array_get(json_object_get(doc, "problems"), 0), "object"),
        "session");
    json_decref(doc);
    /* The open and the old session are not problems. */
    db_exec(fx->db, "UPDATE sessions SET host = 'db9' WHERE id > 1");
    run(fx, NULL, "audit", "verify", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->err, "(and 2 more problems)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_audit_list),
        T(test_audit_verify),
        T(test_audit_head),
        T(test_audit_verify_head),
        T(test_audit_verify_sessions),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
