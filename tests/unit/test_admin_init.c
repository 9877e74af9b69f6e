/*
 * Unit tests of sshgate-admin init, and of how every command finds and
 * opens its database: --db, SSHGATE_DB, the compiled-in default, and a
 * missing file, a newer schema or a file that is not a database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_fixture.h"

static void test_init_creates_everything(void **state)
{
    struct fx *fx = *state;
    char path[PATH_LEN];
    struct stat sb;
    json_t *doc = NULL;

    /* A fresh path two directories deep: init creates them. */
    fx_path(fx, "var/lib/gw.db", fx->db);
    run(fx, NULL, "init", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "initialized");
    expect_contains(fx->out, "ssh-ed25519");
    expect_contains(fx->out, "ecdsa-sha2-nistp256");
    expect_contains(fx->out, "ssh-rsa");
    expect_lacks(fx->out, "PRIVATE");
    assert_int_equal(stat(fx->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    fx_path(fx, "var/lib", path);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE purpose = 'host'"),
                     3);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE purpose = 'backend' AND "
                                       "key_type = 'ssh-ed25519'"),
                     1);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE key_type = 'ssh-rsa'"),
                     1);
    assert_int_equal(events_of(fx, "admin.init"), 1);

    /* JSON on a second fresh file. */
    fx_path(fx, "second.db", fx->db);
    run(fx, NULL, "--json", "init", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_true(json_is_false(json_object_get(doc, "already_initialized")));
    assert_int_equal(json_array_size(json_object_get(doc, "created")), 4);
    expect_contains(
        jstr(json_array_get(json_object_get(doc, "created"), 0), "fingerprint"),
        "SHA256:");
    json_decref(doc);
}

static void test_init_is_idempotent(void **state)
{
    struct fx *fx = *state;
    char *before = db_dump(fx->db);
    char *after = NULL;
    json_t *doc = NULL;

    run(fx, NULL, "init", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "already initialized");
    after = db_dump(fx->db);
    assert_string_equal(before, after);
    run(fx, NULL, "init", "--json", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "already_initialized")));
    assert_int_equal(json_array_size(json_object_get(doc, "created")), 0);
    json_decref(doc);
    free(before);
    free(after);
}

static void test_init_unwritable_path(void **state)
{
    struct fx *fx = *state;
    char file[PATH_LEN];
    struct stat sb;

    /* A regular file used as a directory stops root too. */
    fx_path(fx, "plain", file);
    write_text(file, "not a directory\n");
    fx_path(fx, "plain/x.db", fx->db);
    expect_fail(fx, "Not a directory", NULL, "init", NULL);
    fx_path(fx, "plain/sub/x.db", fx->db);
    expect_fail(fx, "cannot create database", NULL, "init", NULL);
    snprintf(fx->db, sizeof(fx->db), "/proc/nonexistent/x.db");
    expect_fail(fx, "cannot create database", NULL, "init", NULL);
    assert_int_equal(stat("/proc/nonexistent", &sb), -1);
}

static void test_missing_db(void **state)
{
    struct fx *fx = *state;
    struct stat sb;

    fx_path(fx, "missing.db", fx->db);
    expect_fail(fx, "init' first", NULL, "user", "list", NULL);
    expect_fail(fx, "No such file", NULL, "user", "add", "alice", NULL);
    assert_int_equal(stat(fx->db, &sb), -1);
}

static void test_newer_schema(void **state)
{
    struct fx *fx = *state;

    db_exec(fx->db, "PRAGMA user_version = 99");
    expect_fail(fx, "schema version 99", NULL, "user", "list", NULL);
    expect_fail(fx, "upgrade sshgate", NULL, "user", "add", "alice", NULL);
    expect_fail(fx, "schema version 99", NULL, "init", NULL);
    assert_int_equal(db_scalar(fx->db, "PRAGMA user_version"), 99);
}

static void test_not_a_database(void **state)
{
    struct fx *fx = *state;

    write_text(fx->db, "this is not sqlite, just long enough to look like "
                       "a file with a header and some pages in it...\n");
    expect_fail(fx, "not an sshgate database", NULL, "host", "list", NULL);
}

static void test_db_path_from_env(void **state)
{
    struct fx *fx = *state;
    char other[PATH_LEN];

    assert_int_equal(setenv("SSHGATE_DB", fx->db, 1), 0);
    run_nodb(fx, NULL, "user", "add", "envuser", NULL);
    expect_ok(fx);
    assert_int_equal(
        db_scalar(fx->db, "SELECT count(*) FROM users WHERE name = 'envuser'"),
        1);
    /* --db wins over the environment. */
    fx_path(fx, "nowhere.db", other);
    assert_int_equal(setenv("SSHGATE_DB", other, 1), 0);
    run(fx, NULL, "user", "show", "envuser", NULL);
    expect_ok(fx);
    run_nodb(fx, NULL, "user", "list", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->err, other);
    /* Neither: the compiled-in default. */
    unsetenv("SSHGATE_DB");
    run_nodb(fx, NULL, "user", "list", NULL);
    if (access(SSHGATE_DEFAULT_DB, F_OK) != 0) {
        assert_int_equal(fx->rc, 1);
        expect_contains(fx->err, SSHGATE_DEFAULT_DB);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_init_creates_everything),
        T(test_init_is_idempotent),
        T(test_init_unwritable_path),
        T(test_missing_db),
        T(test_newer_schema),
        T(test_not_a_database),
        T(test_db_path_from_env),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
