/*
 * Unit tests of sshgate-admin keys show: the gateway's own host and
 * backend keys, never their private parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/err.h"
#include "core/sshkey.h"

#include "admin_fixture.h"

static void test_keys_show(void **state)
{
    struct fx *fx = *state;
    json_t *doc = NULL;
    json_t *backend = NULL;
    struct gw_pubkey parsed;
    const char *line = NULL;

    run(fx, NULL, "keys", "show", NULL);
    expect_ok(fx);
    expect_contains(fx->out, "FINGERPRINT");
    expect_contains(fx->out, "ecdsa-sha2-nistp256");
    expect_contains(fx->out, "ssh-rsa");
    expect_contains(fx->out, "\nssh-ed25519 AAAA");
    expect_contains(fx->out, " sshgate-backend\n");
    expect_lacks(fx->out, "PRIVATE");

    run(fx, NULL, "keys", "show", "--json", NULL);
    expect_ok(fx);
    expect_lacks(fx->out, "PRIVATE");
    doc = stdout_json(fx);
    assert_int_equal(json_array_size(json_object_get(doc, "host_keys")), 3);
    assert_int_equal(json_array_size(json_object_get(doc, "backend_keys")), 1);
    backend = json_array_get(json_object_get(doc, "backend_keys"), 0);
    line = jstr(backend, "public_key");
    /* The line operators paste is a valid key with the fingerprint shown. */
    assert_int_equal(gw_pubkey_parse_line(line, &parsed), GW_OK);
    assert_string_equal(parsed.fingerprint, jstr(backend, "fingerprint"));
    assert_string_equal(parsed.comment, "sshgate-backend");
    gw_pubkey_clear(&parsed);
    assert_int_equal(db_scalar(fx->db, "SELECT count(*) FROM gateway_keys "
                                       "WHERE purpose = 'backend'"),
                     1);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_keys_show),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
