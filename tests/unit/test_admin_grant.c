/*
 * Unit tests of sshgate-admin grant (add, list, del).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin_fixture.h"

static void test_grant_commands(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *gr = NULL;

    add_people(fx);
    run(fx, NULL, "grant", "add", "alice", "web1", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "as 'deploy'");
    run(fx, NULL, "grant", "add", "alice", "web1", "--login", "root", "--allow",
        "shell,forward", "--expires", "7d", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "grant", "add", "bob", "db1", "--login", "pg",
        "--allow", "transfer,exec", "--expires", "2999-12-31", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_string_equal(jstr(doc, "expires_at"), "2999-12-31T00:00:00.000Z");
    json_decref(doc);

    run(fx, NULL, "grant", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "USER");
    expect_contains(fx->out, "shell,exec,sftp");
    expect_contains(fx->out, "exec,transfer");
    expect_contains(fx->out, "never");
    run(fx, NULL, "--json", "grant", "list", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 3);
    json_decref(doc);
    run(fx, NULL, "--json", "grant", "list", "alice", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    gr = json_array_get(doc, 0); /* ordered by host, then login */
    assert_string_equal(jstr(gr, "login"), "deploy");
    assert_int_equal(json_array_size(json_object_get(gr, "allow")), 3);
    assert_true(json_is_null(json_object_get(gr, "expires_at")));
    gr = json_array_get(doc, 1);
    assert_string_equal(jstr(gr, "login"), "root");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(gr, "allow"), 1)),
        "forward");
    assert_true(json_is_string(json_object_get(gr, "expires_at")));
    json_decref(doc);

    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 2);
    json_decref(doc);
    run(fx, NULL, "--json", "host", "show", "web1", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 2);
    json_decref(doc);

    run(fx, NULL, "grant", "del", "alice", "web1", "--login", "root", NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM grants"), 2);
    run(fx, NULL, "grant", "del", "alice", "web1", NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM grants"), 1);
    run(fx, NULL, "host", "del", "db1", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "1 grant");
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM grants"), 0);
    assert_int_equal(events_of(fx, "admin.grant.add"), 3);
    assert_int_equal(events_of(fx, "admin.grant.del"), 2);
}

static void test_bad_grant_input(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    run(fx, NULL, "grant", "add", "alice", "web1", NULL);
    expect_ok(fx);
    expect_fail(fx, "already has a grant on 'web1' as 'deploy'", NULL, "grant",
                "add", "alice", "web1", NULL);
    expect_fail(fx, "already has a grant", NULL, "grant", "add", "alice",
                "web1", "--login", "deploy", "--allow", "sftp", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "grant", "add", "zed", "web1",
                NULL);
    expect_fail(fx, "unknown host 'nohost'", NULL, "grant", "add", "alice",
                "nohost", NULL);
    expect_fail(fx, "no default login", NULL, "grant", "add", "alice", "db1",
                NULL);
    expect_fail(fx, "unknown channel kind 'x11'", NULL, "grant", "add", "alice",
                "db1", "--login", "l", "--allow", "shell,x11", NULL);
    expect_fail(fx, "at least one kind", NULL, "grant", "add", "alice", "db1",
                "--login", "l", "--allow", "", NULL);
    expect_fail(fx, "is in the past", NULL, "grant", "add", "alice", "db1",
                "--login", "l", "--expires", "2001-01-01", NULL);
    expect_fail(fx, "is not a time", NULL, "grant", "add", "alice", "db1",
                "--login", "l", "--expires", "tomorrow", NULL);
    expect_fail(fx, "has no grant", NULL, "grant", "del", "alice", "db1", NULL);
    expect_fail(fx, "has no grant on 'web1' as root", NULL, "grant", "del",
                "alice", "web1", "--login", "root", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "grant", "list", "zed", NULL);
}

/* --rate-limit on grant add and grant set, and user add / user set. */
static void test_rate_limits(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "grant", "add", "alice", "web1", "--rate-limit", "2M", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "rate limit 2M/s");
    assert_int_equal(db_scalar(fx->db, "SELECT rate_limit FROM grants"),
                     2 * 1024 * 1024);
    run(fx, NULL, "grant", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "RATE LIMIT");
    expect_contains(fx->out, "2M/s");
    run(fx, NULL, "grant", "set", "alice", "web1", "--rate-limit", "512K",
        NULL);
    expect_ok(fx);
    expect_contains(fx->out, "as 'deploy' to 512K/s");
    run(fx, NULL, "--json", "grant", "list", "alice", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(doc, 0), "rate_limit")),
                     512 * 1024);
    json_decref(doc);
    run(fx, NULL, "grant", "set", "alice", "web1", "--rate-limit", "off", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "to off");
    assert_int_equal(db_scalar(fx->db, "SELECT rate_limit FROM grants"), 0);
    expect_fail(fx, "has no grant on 'web1' as 'root'", NULL, "grant", "set",
                "alice", "web1", "--login", "root", "--rate-limit", "1M", NULL);
    expect_usage(fx, "is not a rate", NULL, "grant", "set", "alice", "web1",
                 "--rate-limit", "fast", NULL);
    expect_usage(fx, "--rate-limit", NULL, "grant", "set", "alice", "web1",
                 NULL);

    run(fx, NULL, "user", "set", "alice", "--rate-limit", "5M", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "'alice' to 5M/s");
    run(fx, NULL, "user", "show", "alice", NULL);
    expect_contains(fx->out, "5M/s");
    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_integer_value(json_object_get(doc, "rate_limit")),
                     5 * 1024 * 1024);
    json_decref(doc);
    run(fx, NULL, "user", "add", "carol", "--rate-limit", "100000", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT rate_limit FROM users WHERE name = 'carol'"),
        100000);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "set", "zed",
                "--rate-limit", "1M", NULL);
    assert_int_equal(events_of(fx, "admin.grant.set"), 2);
    assert_int_equal(events_of(fx, "admin.user.set"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_grant_commands),
        T(test_bad_grant_input),
        T(test_rate_limits),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
