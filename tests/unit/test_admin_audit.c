/*
 * Unit tests of sshgate-admin audit (list with its filters, verify).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "admin_fixture.h"

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

    add_people(fx);
    run(fx, NULL, "audit", "verify", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "intact: 6 events");
    run(fx, NULL, "--json", "audit", "verify", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_integer_value(json_object_get(doc, "events")), 6);
    json_decref(doc);

    db_exec(fx->db, "DELETE FROM events WHERE id = 6");
    expect_fail(fx, "audit chain broken at event 6", NULL, "audit", "verify",
                NULL);
    db_exec(fx->db, "UPDATE events SET kind = 'x' WHERE id = 3");
    expect_fail(fx, "broken at event 3", NULL, "audit", "verify", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_audit_list),
        T(test_audit_verify),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
