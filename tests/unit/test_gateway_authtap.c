/*
 * Unit tests for gateway/conn/authtap: which authentication requests
 * count as dropped by libssh, and why, from the lines libssh 0.10.6
 * writes while it parses them. The lines go through the real bridge of
 * gateway/daemon/sshlog.c (libssh's log callback on this thread), as
 * libssh's log.c hands them over: "function: message".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conn/authtap.h"
#include "gateway/conn/conn.h"
#include "gateway/daemon/sshlog.h"

#define DISPATCH_50 "Dispatching handler for packet type 50"

static void line(int priority, const char *function, const char *message)
{
    char buf[1200];
    ssh_logging_callback cb = ssh_get_log_callback();

    snprintf(buf, sizeof(buf), "%s: %s", function, message);
    cb(priority, function, buf, NULL);
}

static void packet(const char *request)
{
    line(SSH_LOG_DEBUG, "ssh_packet_process", DISPATCH_50);
    if (request != NULL) {
        line(SSH_LOG_DEBUG, "ssh_packet_userauth_request", request);
    }
}

#define PK_ALICE                                                          \
    "Auth request for service ssh-connection, method publickey for user " \
    "'alice'"

static int setup(void **state)
{
    struct gw_conn *c = calloc(1, sizeof(*c));

    gw_sshlog_thread_init();
    gw_authtap_start(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct gw_conn *c = *state;

    gw_authtap_stop(c);
    free(c);
    return 0;
}

static void expect_drop(struct gw_conn *c, const char *method,
                        const char *reason, const char *user)
{
    struct gw_authtap_drop d;

    assert_true(gw_authtap_take(c, &d));
    assert_string_equal(d.method, method);
    assert_string_equal(d.reason, reason);
    assert_string_equal(d.user, user);
}

static void expect_none(struct gw_conn *c)
{
    struct gw_authtap_drop d;

    assert_false(gw_authtap_take(c, &d));
}

/* Callback mode: a request whose message came is not a drop; one whose
 * message did not come is, with the reason its lines gave. */
static void test_callback_mode_reasons(void **state)
{
    struct gw_conn *c = *state;

    gw_authtap_callbacks(c);
    packet(PK_ALICE);
    line(SSH_LOG_DEBUG, "ssh_packet_userauth_request",
         "Valid signature received");
    gw_authtap_message(c, false);
    packet(PK_ALICE);
    line(SSH_LOG_DEBUG, "ssh_packet_userauth_request",
         "Received an invalid signature from peer");
    /* the next request closes the previous one */
    packet(PK_ALICE);
    line(SSH_LOG_WARN, "ssh_packet_userauth_request",
         "Public key from client (ssh-rsa) doesn't match server preference "
         "(ssh-ed25519,rsa-sha2-256)");
    line(SSH_LOG_DEBUG, "ssh_packet_userauth_request",
         "Received an invalid signature from peer");
    packet(PK_ALICE); /* key blob that did not import: no line */
    packet(NULL);     /* truncated before the method */
    packet("Auth request for service ssh-connection, method password for "
           "user 'bob'");
    gw_authtap_settle(c);
    expect_drop(c, "publickey", "bad signature", "alice");
    expect_drop(c, "publickey", "disallowed algorithm", "alice");
    expect_drop(c, "publickey", "malformed key", "alice");
    expect_drop(c, "unknown", "malformed request", "");
    expect_drop(c, "password", "malformed request", "bob");
    expect_none(c);
}

/* Only packets 50 and 61 open a request; gssapi-with-mic is answered by
 * libssh itself; other functions' lines outside a request are ignored. */
static void test_other_packets(void **state)
{
    struct gw_conn *c = *state;

    gw_authtap_callbacks(c);
    line(SSH_LOG_DEBUG, "ssh_packet_process",
         "Dispatching handler for packet type 5");
    line(SSH_LOG_DEBUG, "ssh_packet_userauth_request",
         "Received an invalid signature from peer");
    packet("Auth request for service ssh-connection, method gssapi-with-mic "
           "for user 'alice'");
    line(SSH_LOG_DEBUG, "ssh_packet_userauth_request", "gssapi: 1 OIDs");
    line(SSH_LOG_DEBUG, "ssh_packet_process",
         "Dispatching handler for packet type 61");
    gw_authtap_settle(c);
    expect_drop(c, "keyboard-interactive", "malformed request", "");
    expect_none(c);
}

/* Queue mode: drops are what was parsed and never taken; the certain
 * ones (with a reason) first. */
static void test_queue_mode(void **state)
{
    struct gw_conn *c = *state;

    packet("Auth request for service ssh-connection, method none for user "
           "'alice'");
    packet(PK_ALICE);
    line(SSH_LOG_DEBUG, "ssh_packet_userauth_request",
         "Received an invalid signature from peer");
    packet(PK_ALICE);
    gw_authtap_message(c, true); /* the none */
    gw_authtap_message(c, true); /* the third */
    gw_authtap_settle(c);
    expect_drop(c, "publickey", "bad signature", "alice");
    expect_none(c);
    /* everything taken: nothing dropped */
    packet(PK_ALICE);
    gw_authtap_message(c, true);
    gw_authtap_settle(c);
    expect_none(c);
}

/* A burst beyond what a round holds: every drop still counts. */
static void test_burst(void **state)
{
    struct gw_conn *c = *state;
    struct gw_authtap_drop d;
    int n = 0;

    gw_authtap_callbacks(c);
    for (int i = 0; i < 3 * GW_AUTHTAP_MAX; i++) {
        packet(PK_ALICE);
        line(SSH_LOG_DEBUG, "ssh_packet_userauth_request",
             "Received an invalid signature from peer");
    }
    gw_authtap_settle(c);
    while (gw_authtap_take(c, &d)) {
        assert_string_equal(d.reason, "bad signature");
        n++;
    }
    assert_int_equal(n, 3 * GW_AUTHTAP_MAX);
}

/* Stopped, the tap reads nothing more. */
static void test_stop(void **state)
{
    struct gw_conn *c = *state;

    gw_authtap_callbacks(c);
    gw_authtap_stop(c);
    packet(PK_ALICE);
    gw_authtap_settle(c);
    expect_none(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_callback_mode_reasons, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
