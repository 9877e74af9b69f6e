/*
 * Unit tests of sshgate-admin user (add, list, show, disable, enable,
 * unlock, passwd, del), and of the names and passwords every command
 * refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/passwd.h"

#include "admin_fixture.h"

static void test_user_add_list_show(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *key = NULL;
    char *hash = NULL;
    char *dump = NULL;

    add_people(fx);
    assert_int_equal(events_of(fx, "admin.user.add"), 2);
    assert_int_equal(events_of(fx, "admin.key.add"), 1);

    run(fx, NULL, "user", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "NAME");
    expect_contains(fx->out, "alice  user ");
    expect_contains(fx->out, "bob    admin");

    run(fx, NULL, "--json", "user", "list", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(jstr(json_array_get(doc, 0), "name"), "alice");
    assert_string_equal(jstr(json_array_get(doc, 0), "role"), "user");
    assert_true(
        json_is_false(json_object_get(json_array_get(doc, 0), "has_password")));
    assert_int_equal(json_integer_value(
                         json_object_get(json_array_get(doc, 0), "key_count")),
                     1);
    assert_string_equal(jstr(json_array_get(doc, 1), "role"), "admin");
    assert_true(
        json_is_true(json_object_get(json_array_get(doc, 1), "has_password")));
    json_decref(doc);

    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_string_equal(jstr(doc, "name"), "alice");
    assert_true(json_is_false(json_object_get(doc, "disabled")));
    assert_true(json_is_null(json_object_get(doc, "locked_until")));
    assert_int_equal(json_array_size(json_object_get(doc, "keys")), 1);
    key = json_array_get(json_object_get(doc, "keys"), 0);
    assert_string_equal(jstr(key, "fingerprint"), g.k1_fp);
    assert_string_equal(jstr(key, "type"), "ssh-ed25519");
    assert_string_equal(jstr(key, "comment"), "alice@laptop");
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 0);
    json_decref(doc);

    run(fx, NULL, "user", "show", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "name:");
    expect_contains(fx->out, g.k1_fp);
    expect_contains(fx->out, "alice@laptop");

    /* The password is stored as a scrypt hash and nowhere in clear. */
    assert_int_equal(db_scalar(fx->db,
                               "SELECT password_hash IS NULL FROM users WHERE "
                               "name = 'alice'"),
                     1);
    dump = db_dump(fx->db);
    expect_lacks(dump, "s3cret-pw");
    expect_contains(dump, "$scrypt$");
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT password_hash FROM users "
                                            "WHERE name = 'bob'",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        hash = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(gw_password_verify("s3cret-pw", hash), GW_OK);
    free(hash);
    free(dump);
}

static void test_user_add_keys_from_stdin(void **state)
{
    struct fx *fx = *state;
    char input[3 * LINE_LEN];
    json_t *doc = NULL;

    snprintf(input, sizeof(input), "# carol's keys\n\n%s\r\n  \n%s\n",
             g.k1_line, g.k2_line);
    run(fx, input, "--json", "user", "add", "carol", "--key", "-", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_int_equal(json_array_size(json_object_get(doc, "keys")), 2);
    assert_string_equal(
        jstr(json_array_get(json_object_get(doc, "keys"), 1), "fingerprint"),
        g.k2_fp);
    json_decref(doc);
    assert_int_equal(events_of(fx, "admin.key.add"), 2);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM user_keys"), 2);
}

static void test_user_state_changes(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "user", "disable", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "disabled user 'alice'");
    run(fx, NULL, "user", "list", NULL);
    expect_contains(fx->out, "disabled");
    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "disabled")));
    json_decref(doc);
    run(fx, NULL, "--json", "user", "enable", "alice", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    json_decref(doc);
    assert_int_equal(
        db_scalar(fx->db, "SELECT disabled FROM users WHERE name = 'alice'"),
        0);

    db_exec(fx->db, "UPDATE users SET failed_logins = 5, locked_until = "
                    "'2999-01-01T00:00:00.000Z' WHERE name = 'alice'");
    run(fx, NULL, "user", "list", NULL);
    expect_contains(fx->out, "locked");
    run(fx, NULL, "user", "unlock", "alice", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "user", "show", "alice", NULL);
    doc = stdout_json(fx);
    assert_true(json_is_false(json_object_get(doc, "locked")));
    assert_int_equal(json_integer_value(json_object_get(doc, "failed_logins")),
                     0);
    json_decref(doc);

    run(fx, "n3w-pass\n", "user", "passwd", "alice", "--password-stdin", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT password_hash LIKE '$scrypt$%' FROM users "
                          "WHERE name = 'alice'"),
        1);

    run(fx, NULL, "user", "del", "alice", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT count(*) FROM users WHERE name = 'alice'"),
        0);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM user_keys"), 0);
    expect_fail(fx, "unknown user 'alice'", NULL, "user", "show", "alice",
                NULL);
    assert_int_equal(events_of(fx, "admin.user.disable"), 1);
    assert_int_equal(events_of(fx, "admin.user.enable"), 1);
    assert_int_equal(events_of(fx, "admin.user.unlock"), 1);
    assert_int_equal(events_of(fx, "admin.user.passwd"), 1);
    assert_int_equal(events_of(fx, "admin.user.del"), 1);
    /* Events name the operator and never carry the secret. */
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM events WHERE "
                                       "kind LIKE 'admin.%' AND detail NOT "
                                       "LIKE 'by=%(uid %'"),
                     0);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM events WHERE "
                                       "detail LIKE '%n3w-pass%'"),
                     0);
}

static void test_user_not_found(void **state)
{
    struct fx *fx = *state;

    expect_fail(fx, "unknown user 'zed'", NULL, "user", "show", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "del", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "disable", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "enable", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "user", "unlock", "zed", NULL);
    expect_fail(fx, "unknown user 'zed'", "pw\n", "user", "passwd", "zed",
                "--password-stdin", NULL);
}

static void test_bad_names(void **state)
{
    static const struct {
        const char *name;
        const char *why;
    } bad[] = {
        {"", "must not be empty"},       {"a b", "whitespace"},
        {"a\tb", "control characters"},  {"a\x01z", "control characters"},
        {"a\x7f", "control characters"}, {"alice+web1", "login separator '+'"},
        {"a@b", "character '@'"},
    };
    struct fx *fx = *state;

    add_people(fx);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *name = (char *)(uintptr_t)bad[i].name;
        expect_fail(fx, bad[i].why, NULL, "user", "add", name, NULL);
        expect_fail(fx, bad[i].why, "pw\n", "user", "add", name,
                    "--password-stdin", NULL);
        expect_fail(fx, bad[i].why, NULL, "host", "add", name, "--address",
                    "10.0.0.9", NULL);
        expect_fail(fx, bad[i].why, NULL, "grant", "add", "alice", "web1",
                    "--login", name, NULL);
    }
    expect_fail(fx, "already exists", NULL, "user", "add", "alice", NULL);
}

static void test_bad_password(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    expect_fail(fx, "password must not be empty", "\n", "user", "add", "carol",
                "--password-stdin", NULL);
    expect_fail(fx, "password must not be empty", "", "user", "add", "carol",
                "--password-stdin", NULL);
    expect_fail(fx, "password must not be empty", "\r\n", "user", "passwd",
                "bob", "--password-stdin", NULL);
    expect_fail(fx, "password must not be empty", "", "user", "passwd", "bob",
                "--password-stdin", NULL);
}

static json_t *show_json(struct fx *fx, const char *name)
{
    run(fx, NULL, "--json", "user", "show", name, NULL);
    expect_ok(fx);
    return stdout_json(fx);
}

/* What a lock locks is the daemon's lockout_scope, recorded in the
 * settings (the default, password, while no daemon has recorded one);
 * a locked_until in the past is no lock; unlock clears every lock. */
static void test_user_lock_shown(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    db_exec(fx->db, "UPDATE users SET failed_logins = 20, locked_until = "
                    "'2999-01-01T00:00:00.000Z' WHERE name = 'alice'");
    run(fx, NULL, "user", "show", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "password locked");
    expect_contains(fx->out, "the password methods until "
                             "2999-01-01T00:00:00.000Z (keys still log in)");
    doc = show_json(fx, "alice");
    assert_true(json_is_true(json_object_get(doc, "locked")));
    assert_string_equal(jstr(doc, "lock_scope"), "password");
    assert_string_equal(jstr(doc, "locked_until"), "2999-01-01T00:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(doc, "failed_logins")),
                     20);
    json_decref(doc);
    run(fx, NULL, "user", "list", NULL);
    expect_contains(fx->out, "password locked");

    db_exec(fx->db, "INSERT INTO settings (name, value, created_at, "
                    "updated_at) VALUES ('lockout_scope', 'user', "
                    "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')");
    run(fx, NULL, "user", "show", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "the user (every method) until "
                             "2999-01-01T00:00:00.000Z");
    expect_lacks(fx->out, "password locked");
    doc = show_json(fx, "alice");
    assert_string_equal(jstr(doc, "lock_scope"), "user");
    json_decref(doc);
    run(fx, NULL, "user", "list", NULL);
    expect_contains(fx->out, "locked");
    expect_lacks(fx->out, "password locked");

    /* In the past, locked_until is when the failures began: no lock. */
    db_exec(fx->db, "UPDATE users SET failed_logins = 3, locked_until = "
                    "'2001-01-01T00:00:00.000Z' WHERE name = 'alice'");
    doc = show_json(fx, "alice");
    assert_true(json_is_false(json_object_get(doc, "locked")));
    assert_true(json_is_null(json_object_get(doc, "lock_scope")));
    assert_true(json_is_null(json_object_get(doc, "locked_until")));
    assert_int_equal(json_integer_value(json_object_get(doc, "failed_logins")),
                     3);
    json_decref(doc);
    run(fx, NULL, "user", "show", "alice", NULL);
    expect_contains(fx->out, "locked:          no");
    expect_lacks(fx->out, "2001-01-01");

    db_exec(fx->db, "UPDATE users SET failed_logins = 20, locked_until = "
                    "'2999-01-01T00:00:00.000Z' WHERE name = 'alice'");
    run(fx, NULL, "user", "unlock", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "unlocked user 'alice'");
    assert_int_equal(db_scalar(fx->db, "SELECT failed_logins = 0 AND "
                                       "locked_until IS NULL FROM users "
                                       "WHERE name = 'alice'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_user_add_list_show), T(test_user_add_keys_from_stdin),
        T(test_user_state_changes), T(test_user_not_found),
        T(test_bad_names),          T(test_bad_password),
        T(test_user_lock_shown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
