/*
 * Unit tests of sshgate-admin host (add, list, show, del, with stored
 * backend credentials), and of what host check / trust refuse before or
 * without reaching a backend.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin_fixture.h"

static void test_host_commands(void **state)
{
    struct fx *fx = *state;
    static const char pin[] =
        "SHA256:MBHUNViEM1FB5icK9kMg9AKExoGo0aFknQdrtqMCXL4";
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "host", "add", "bastion2", "--address", "fd00::2",
        "--port=2022", "--fingerprint", pin, NULL);
    expect_ok(fx);
    expect_contains(fx->out, "added host 'bastion2'");

    run(fx, NULL, "host", "list", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "ADDRESS");
    expect_contains(fx->out, "db.internal");
    expect_contains(fx->out, pin);
    run(fx, NULL, "--json", "host", "list", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 3);
    assert_string_equal(jstr(json_array_get(doc, 0), "name"), "bastion2");
    json_decref(doc);

    run(fx, NULL, "--json", "host", "show", "bastion2", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_int_equal(json_integer_value(json_object_get(doc, "port")), 2022);
    assert_true(json_is_true(json_object_get(doc, "pinned")));
    assert_string_equal(jstr(doc, "hostkey_fingerprint"), pin);
    assert_true(json_is_null(json_object_get(doc, "login")));
    assert_int_equal(json_array_size(json_object_get(doc, "grants")), 0);
    json_decref(doc);
    run(fx, NULL, "--json", "host", "show", "web1", NULL);
    doc = stdout_json(fx);
    assert_string_equal(jstr(doc, "login"), "deploy");
    assert_int_equal(json_integer_value(json_object_get(doc, "port")), 22);
    assert_true(json_is_false(json_object_get(doc, "pinned")));
    json_decref(doc);
    run(fx, NULL, "host", "show", "web1", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "address:");
    expect_contains(fx->out, "10.0.0.5");

    run(fx, NULL, "host", "del", "bastion2", NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM hosts"), 2);
    assert_int_equal(events_of(fx, "admin.host.add"), 3);
    assert_int_equal(events_of(fx, "admin.host.del"), 1);
    expect_fail(fx, "unknown host 'bastion2'", NULL, "host", "show", "bastion2",
                NULL);
    expect_fail(fx, "unknown host 'bastion2'", NULL, "host", "del", "bastion2",
                NULL);
}

static void test_bad_host_input(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    expect_fail(fx, "host 'web1' already exists", NULL, "host", "add", "web1",
                "--address", "10.9.9.9", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "0", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "65536", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "-1", NULL);
    expect_fail(fx, "1-65535", NULL, "host", "add", "h", "--address", "x",
                "--port", "22x", NULL);
    expect_fail(fx, "address must not be empty", NULL, "host", "add", "h",
                "--address", "", NULL);
    expect_fail(fx, "not a host name or IP address", NULL, "host", "add", "h",
                "--address", "a b", NULL);
    expect_fail(fx, "fingerprint must look like", NULL, "host", "add", "h",
                "--address", "x", "--fingerprint", "MD5:aa:bb", NULL);
    expect_fail(fx, "login must not be empty", NULL, "host", "add", "h",
                "--address", "x", "--login", "", NULL);
    expect_fail(fx, "login must not contain the login separator", NULL, "host",
                "add", "h", "--address", "x", "--login", "ro+ot", NULL);
}

/* Backend credentials: a stored private key or password instead of the
 * gateway's key, kept secret, and refused when unusable. */
static void test_host_credentials(void **state)
{
    struct fx *fx = *state;
    char keyfile[PATH_LEN];
    json_t *doc = NULL;

    add_people(fx);
    fx_path(fx, "backend_key", keyfile);
    write_text(keyfile, g.k1_private);
    run(fx, NULL, "host", "add", "k1", "--address", "127.0.0.1", "--login",
        "ops", "--key-file", keyfile, NULL);
    expect_ok(fx);
    run(fx, "backend-pw\n", "host", "add", "p1", "--address", "127.0.0.1",
        "--login", "ops", "--password-stdin", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "host", "show", "k1", NULL);
    doc = stdout_json(fx);
    assert_string_equal(jstr(doc, "auth_method"), "stored-key");
    assert_true(json_is_true(json_object_get(doc, "has_secret")));
    json_decref(doc);
    run(fx, NULL, "--json", "host", "show", "p1", NULL);
    expect_lacks(fx->out, "backend-pw");
    doc = stdout_json(fx);
    assert_string_equal(jstr(doc, "auth_method"), "password");
    json_decref(doc);
    /* The secrets are in the hosts table only, never in events. */
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM events WHERE "
                                       "detail LIKE '%backend-pw%' OR "
                                       "detail LIKE '%PRIVATE KEY%'"),
                     0);

    expect_fail(fx, "not an unencrypted private key", NULL, "host", "add", "k2",
                "--address", "x", "--key-file", g.k1_path, NULL);
    expect_fail(fx, "cannot read key file", NULL, "host", "add", "k2",
                "--address", "x", "--key-file", "/nonexistent/key", NULL);
    expect_fail(fx, "password must not be empty", "\n", "host", "add", "k2",
                "--address", "x", "--password-stdin", NULL);
    expect_usage(fx, "exclude each other", "pw\n", "host", "add", "k2",
                 "--address", "x", "--key-file", keyfile, "--password-stdin",
                 NULL);
}

/* host check / trust reach the network; what can fail before or without a
 * backend is checked here, the rest in tests/integration. */
static void test_host_check_failures(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    run(fx, NULL, "host", "add", "closed", "--address", "127.0.0.1", "--port",
        "1", "--login", "ops", NULL);
    expect_ok(fx);
    expect_fail(fx, "Connection refused", NULL, "host", "check", "closed",
                NULL);
    expect_fail(fx, "Connection refused", NULL, "host", "trust", "closed",
                NULL);
    expect_fail(fx, "unknown host 'nope'", NULL, "host", "check", "nope", NULL);
    expect_fail(fx, "has no default login", NULL, "host", "check", "db1", NULL);
    expect_fail(fx, "--timeout must be", NULL, "host", "check", "closed",
                "--timeout", "0", NULL);
    expect_fail(fx, "login must not contain", NULL, "host", "check", "closed",
                "--login", "a;b", NULL);
    expect_usage(fx, "missing NAME", NULL, "host", "check", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_host_commands),
        T(test_bad_host_input),
        T(test_host_credentials),
        T(test_host_check_failures),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
