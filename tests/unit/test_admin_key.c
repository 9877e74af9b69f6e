/*
 * Unit tests of sshgate-admin key (add, list, del): users' public keys
 * from files and stdin, and every bad key input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>

#include "admin_fixture.h"

static void test_key_commands(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run(fx, NULL, "key", "add", "alice", g.k2_path, NULL);
    expect_ok(fx);
    expect_contains(fx->out, g.k2_fp);
    run(fx, g.k2_line, "key", "add", "bob", "-", NULL);
    expect_ok(fx);

    run(fx, NULL, "key", "list", "alice", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "FINGERPRINT");
    expect_contains(fx->out, g.k1_fp);
    expect_contains(fx->out, g.k2_fp);
    run(fx, NULL, "--json", "key", "list", "alice", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(jstr(json_array_get(doc, 1), "type"),
                        "ecdsa-sha2-nistp256");
    assert_string_equal(jstr(json_array_get(doc, 1), "comment"), "work");
    json_decref(doc);
    run(fx, NULL, "--json", "key", "list", NULL);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 3);
    json_decref(doc);

    run(fx, NULL, "key", "del", "alice", g.k1_fp, NULL);
    expect_ok(fx);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM user_keys k JOIN "
                                       "users u ON u.id = k.user_id WHERE "
                                       "u.name = 'alice'"),
                     1);
    assert_int_equal(events_of(fx, "admin.key.del"), 1);
    assert_int_equal(events_of(fx, "admin.key.add"), 3);
    expect_fail(fx, "has no key", NULL, "key", "del", "alice", g.k1_fp, NULL);
    expect_fail(fx, "fingerprint must look like", NULL, "key", "del", "alice",
                "SHA256:short", NULL);
    expect_fail(fx, "unknown user", NULL, "key", "list", "zed", NULL);
}

static void test_bad_key_input(void **state)
{
    struct fx *fx = *state;
    char path[PATH_LEN];
    char text[4 * LINE_LEN];

    add_people(fx);
    fx_path(fx, "bad.pub", path);

    write_text(path, "ssh-ed25519 AAAA!!notbase64 x\n");
    expect_fail(fx, "bad.pub line 1: ", NULL, "user", "add", "carol", "--key",
                path, NULL);
    expect_fail(fx, "line 1", NULL, "key", "add", "alice", path, NULL);

    write_text(path, "ssh-dss AAAAB3NzaC1kc3MAAACBAK6t root@vm\n");
    expect_fail(fx, "unsupported key type 'ssh-dss'", NULL, "user", "add",
                "carol", "--key", path, NULL);

    snprintf(text, sizeof(text), "from=\"10.0.0.1\" %s\n", g.k2_line);
    write_text(path, text);
    expect_fail(fx, "options", NULL, "key", "add", "alice", path, NULL);

    /* A good line, then a bad one: nothing at all is added. */
    snprintf(text, sizeof(text), "%s\n# c\nssh-ed25519\n", g.k2_line);
    write_text(path, text);
    expect_fail(fx, "line 3: ", NULL, "key", "add", "alice", path, NULL);
    expect_fail(fx, "stdin line 3: ", text, "key", "add", "alice", "-", NULL);

    snprintf(text, sizeof(text), "%s\n%s\n", g.k2_line, g.k2_line);
    expect_fail(fx, "given twice", text, "key", "add", "alice", "-", NULL);

    write_text(path, g.k1_private);
    expect_fail(fx, "private key", NULL, "key", "add", "alice", path, NULL);
    expect_lacks(fx->err, "BEGIN");

    write_text(path, "# only a comment\n\n");
    expect_fail(fx, "no public key found", NULL, "key", "add", "alice", path,
                NULL);
    expect_fail(fx, "no public key found", "", "key", "add", "alice", "-",
                NULL);

    snprintf(text, sizeof(text), "%s\x01\n", g.k2_line);
    expect_fail(fx, "control characters", text, "key", "add", "alice", "-",
                NULL);

    expect_fail(fx, "already has key", NULL, "key", "add", "alice", g.k1_path,
                NULL);
    expect_fail(fx, "unknown user 'zed'", NULL, "key", "add", "zed", g.k2_path,
                NULL);
    fx_path(fx, "absent.pub", path);
    expect_fail(fx, "cannot read key file", NULL, "key", "add", "alice", path,
                NULL);
    expect_fail(fx, "cannot read key file", NULL, "user", "add", "carol",
                "--key", path, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_key_commands),
        T(test_bad_key_input),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
