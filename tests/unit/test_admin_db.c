/*
 * Unit tests of sshgate-admin db (backup, check).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_fixture.h"

static void test_db_backup(void **state)
{
    struct fx *fx = *state;
    char path[PATH_LEN];
    struct stat sb;
    json_t *doc = NULL;

    add_people(fx);
    fx_path(fx, "backup.db", path);
    run(fx, NULL, "db", "backup", path, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "backed up");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(db_scalar(path, "SELECT count(*) FROM users"), 2);
    assert_int_equal(events_of(fx, "admin.db.backup"), 1);
    /* Never overwrite a file (it may be the good backup). */
    expect_fail(fx, "File exists", NULL, "db", "backup", path, NULL);
    fx_path(fx, "no/such/dir.db", path);
    expect_fail(fx, "cannot create backup", NULL, "db", "backup", path, NULL);
    fx_path(fx, "b2.db", path);
    run(fx, NULL, "--json", "db", "backup", path, NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_string_equal(jstr(doc, "backup"), path);
    json_decref(doc);
}

static void test_db_check(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "db", "check", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "integrity ok");
    run(fx, NULL, "--json", "db", "check", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    json_decref(doc);

    db_exec(fx->db, "UPDATE events SET detail = 'forged' WHERE id = 2");
    run(fx, NULL, "db", "check", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->out, "event chain broken at event 2");
    assert_string_equal(strchr(fx->err, '\n'), "\n");
    expect_contains(fx->err, "problem");
    run(fx, NULL, "--json", "db", "check", NULL);
    assert_int_equal(fx->rc, 1);
    doc = stdout_json(fx);
    assert_true(json_is_false(json_object_get(doc, "ok")));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_db_backup),
        T(test_db_check),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
