/*
 * Unit tests of the sshgate-admin command line as a whole: usage errors
 * (exit 2), help and version, global options after the verb, and output
 * that stays safe for terminals and valid JSON whatever the stored text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "admin_fixture.h"

static void test_usage_errors(void **state)
{
    struct fx *fx = *state;

    add_people(fx);
    expect_usage(fx, "no command given", NULL, NULL);
    expect_usage(fx, "unknown command 'frob'", NULL, "frob", NULL);
    expect_usage(fx, "'user' needs a verb", NULL, "user", NULL);
    expect_usage(fx, "unknown command 'user frob'", NULL, "user", "frob", NULL);
    expect_usage(fx, "missing NAME", NULL, "user", "add", NULL);
    expect_usage(fx, "missing NAME", NULL, "user", "show", NULL);
    expect_usage(fx, "missing FILE", NULL, "key", "add", "alice", NULL);
    expect_usage(fx, "missing FINGERPRINT", NULL, "key", "del", "alice", NULL);
    expect_usage(fx, "missing HOST", NULL, "grant", "add", "alice", NULL);
    expect_usage(fx, "missing FILE", NULL, "db", "backup", NULL);
    expect_usage(fx, "unexpected argument 'extra'", NULL, "user", "list",
                 "extra", NULL);
    expect_usage(fx, "unexpected argument 'x'", NULL, "user", "add", "carol",
                 "x", NULL);
    expect_usage(fx, "unknown option '--bogus'", NULL, "user", "add", "carol",
                 "--bogus", NULL);
    expect_usage(fx, "unknown option '-x'", NULL, "user", "list", "-x", NULL);
    expect_usage(fx, "unknown option '--frob'", NULL, "--frob", "user", "list",
                 NULL);
    expect_usage(fx, "needs a value", NULL, "host", "add", "h", "--address",
                 NULL);
    expect_usage(fx, "takes no value", NULL, "user", "add", "carol",
                 "--admin=yes", NULL);
    expect_usage(fx, "given twice", NULL, "host", "add", "h", "--address", "a",
                 "--address", "b", NULL);
    expect_usage(fx, "missing option --address", NULL, "host", "add", "h",
                 NULL);
    expect_usage(fx, "missing option --password-stdin", "pw\n", "user",
                 "passwd", "bob", NULL);
    expect_usage(fx, "cannot both read stdin", "pw\n", "user", "add", "carol",
                 "--password-stdin", "--key", "-", NULL);
    expect_usage(fx, "takes no value", NULL, "--json=1", "user", "list", NULL);
    /* The usage of that command, not the whole reference. */
    expect_usage(fx,
                 "usage: sshgate-admin [--db PATH] [--json] grant add "
                 "USER HOST",
                 NULL, "grant", "add", NULL);
    expect_lacks(fx->err, "user add");
}

static void test_help(void **state)
{
    struct fx *fx = *state;

    run_nodb(fx, NULL, "--help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "usage: sshgate-admin");
    expect_contains(fx->out, "grant add USER HOST");
    expect_contains(fx->out, "audit verify");
    expect_contains(fx->out, "SSHGATE_DB");
    expect_contains(fx->out, SSHGATE_DEFAULT_DB);
    expect_contains(fx->out, "host check NAME");
    run_nodb(fx, NULL, "help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "db backup FILE");
    run_nodb(fx, NULL, "help", "host", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "host add NAME --address ADDR");
    expect_lacks(fx->out, "user add");
    run_nodb(fx, NULL, "user", "--help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "user passwd NAME --password-stdin");
    run_nodb(fx, NULL, "user", "add", "--help", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "user add NAME [--admin]");
    expect_lacks(fx->out, "user list");
    run_nodb(fx, NULL, "--version", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "sshgate-admin " SSHGATE_VERSION);
}

static void test_global_options_after_verb(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;

    add_people(fx);
    run_nodb(fx, NULL, "user", "list", "--json", "--db", fx->db, NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(doc), 2);
    json_decref(doc);
    run_nodb(fx, NULL, "host", "show", "--db=x", "web1", "--db", fx->db, NULL);
    assert_int_equal(fx->rc, 2);
    expect_contains(fx->err, "option --db given twice");
    /* "--" ends the options. */
    run(fx, NULL, "user", "show", "--", "--json", NULL);
    assert_int_equal(fx->rc, 1);
    expect_contains(fx->err, "unknown user '--json'");
}

/* Stored text from clients reaches the terminal without control
 * characters, and JSON output stays valid for bytes that are not UTF-8. */
static void test_output_is_sanitized(void **state)
{
    struct fx *fx = *state;
    char line[LINE_LEN + 16];
    json_t *doc = NULL;

    add_people(fx);
    db_exec(fx->db, "UPDATE events SET username = 'ev' || char(27) || "
                    "'[31mil' WHERE id = 2");
    run(fx, NULL, "audit", "list", NULL);
    expect_ok(fx);
    expect_lacks(fx->out, "\x1b");
    expect_contains(fx->out, "ev?[31mil");

    snprintf(line, sizeof(line), "%s", g.k2_line);
    *strrchr(line, ' ') = '\0'; /* drop the comment "work" */
    strcat(line, " caf\xff\n");
    run(fx, line, "key", "add", "alice", "-", NULL);
    expect_ok(fx);
    run(fx, NULL, "--json", "key", "list", "alice", NULL);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_string_equal(jstr(json_array_get(doc, 1), "comment"), "caf?");
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_usage_errors),
        T(test_help),
        T(test_global_options_after_verb),
        T(test_output_is_sanitized),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
