/*
 * Unit tests of sshgate-admin health against a one-connection SSH server
 * on a loopback port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/sshkey.h"
#include "store/db.h"
#include "store/gwkeys.h"
#include "store/open.h"

#include "admin_fixture.h"

/* A one-connection SSH server on a loopback port for "health": key
 * exchange with its key, then wait for the client to leave. Without a key
 * it only listens and never speaks, like a hung daemon. */
struct tiny_sshd {
    int fd;
    ssh_key key; /* moves into the server thread's bind */
    char address[32];
    pthread_t thread;
    bool serving;
};

static void *tiny_sshd_serve(void *arg)
{
    struct tiny_sshd *d = arg;
    ssh_bind bind = ssh_bind_new();
    ssh_session s = ssh_new();
    ssh_message msg = NULL;
    bool no = false;
    long timeout = 10;
    int fd = accept(d->fd, NULL, NULL);

    assert_non_null(bind);
    assert_non_null(s);
    assert_true(fd >= 0);
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, d->key);
    d->key = NULL; /* transferred */
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    if (ssh_bind_accept_fd(bind, s, fd) == SSH_OK &&
        ssh_handle_key_exchange(s) == SSH_OK) {
        while ((msg = ssh_message_get(s)) != NULL) {
            ssh_message_reply_default(msg);
            ssh_message_free(msg);
        }
    }
    ssh_disconnect(s);
    ssh_free(s);
    ssh_bind_free(bind);
    return NULL;
}

static void tiny_sshd_start(struct tiny_sshd *d, ssh_key key)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    memset(d, 0, sizeof(*d));
    d->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(d->fd >= 0);
    assert_int_equal(bind(d->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(d->fd, 4), 0);
    assert_int_equal(getsockname(d->fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(d->address, sizeof(d->address), "127.0.0.1:%u",
             (unsigned)ntohs(sa.sin_port));
    if (key != NULL) {
        d->key = key;
        assert_int_equal(pthread_create(&d->thread, NULL, tiny_sshd_serve, d),
                         0);
        d->serving = true;
    }
}

static void tiny_sshd_stop(struct tiny_sshd *d)
{
    if (d->serving) {
        pthread_join(d->thread, NULL);
    }
    close(d->fd);
}

/* The gateway's first host key (ed25519) with its private part, as the
 * daemon would serve it; fp receives its fingerprint. */
static ssh_key gateway_host_key(const struct fx *fx, char *fp)
{
    struct store *st = NULL;
    struct store_gwkey *keys = NULL;
    size_t n = 0;
    char *text = NULL;
    ssh_key key = NULL;

    assert_int_equal(store_open(fx->db, STORE_OPEN_EXISTING, &st), GW_OK);
    assert_int_equal(store_gwkey_list(st, STORE_GWKEY_HOST, &keys, &n), GW_OK);
    assert_true(n > 0);
    assert_int_equal(store_gwkey_private(st, keys[0].id, &text), GW_OK);
    assert_int_equal(gw_privkey_import(text, &key), GW_OK);
    snprintf(fp, GW_FINGERPRINT_MAX, "%s", keys[0].fingerprint);
    free(text);
    store_gwkey_list_free(keys, n);
    store_close(st);
    return key;
}

/* A fresh ed25519 key that is not the gateway's. */
static ssh_key foreign_key(char *fp)
{
    struct gw_keypair kp;
    ssh_key key = NULL;

    assert_int_equal(gw_keypair_generate(GW_KEY_ED25519, &kp), GW_OK);
    assert_int_equal(gw_privkey_import(kp.private_text, &key), GW_OK);
    snprintf(fp, GW_FINGERPRINT_MAX, "%s", kp.pub.fingerprint);
    gw_keypair_clear(&kp);
    return key;
}

/* health: healthy only when an SSH server answers with one of the
 * gateway's host keys; every other case is exit 1 with one line. Nothing
 * is ever written to the database. */
static void test_health(void **state)
{
    struct fx *fx = *state;
    struct tiny_sshd d;
    char fp[GW_FINGERPRINT_MAX];
    char want[256];
    char *before = db_dump(fx->db);
    char *after = NULL;
    json_t *doc = NULL;

    /* Our key: healthy, in text and in JSON. */
    tiny_sshd_start(&d, gateway_host_key(fx, fp));
    run(fx, NULL, "health", "--address", d.address, "--timeout", "10", NULL);
    tiny_sshd_stop(&d);
    expect_ok(fx);
    snprintf(want, sizeof(want), "healthy: %s answers SSH with host key %s\n",
             d.address, fp);
    assert_string_equal(fx->out, want);
    tiny_sshd_start(&d, gateway_host_key(fx, fp));
    run(fx, NULL, "--json", "health", "--address", d.address, NULL);
    tiny_sshd_stop(&d);
    expect_ok(fx);
    doc = stdout_json(fx);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_string_equal(jstr(doc, "address"), d.address);
    assert_string_equal(jstr(doc, "hostkey_type"), "ssh-ed25519");
    assert_string_equal(jstr(doc, "hostkey_fingerprint"), fp);
    json_decref(doc);
    after = db_dump(fx->db);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* Another SSH server on the port. */
    tiny_sshd_start(&d, foreign_key(fp));
    snprintf(want, sizeof(want), "its host key %s is not one of this gateway's",
             fp);
    expect_fail(fx, want, NULL, "health", "--address", d.address, NULL);
    tiny_sshd_stop(&d);

    /* A port that accepts but never speaks SSH, then the same port closed. */
    tiny_sshd_start(&d, NULL);
    expect_fail(fx, "not answering on", NULL, "health", "--address", d.address,
                "--timeout", "1", NULL);
    tiny_sshd_stop(&d);
    snprintf(want, sizeof(want), "not answering on %s: Connection refused",
             d.address);
    expect_fail(fx, want, NULL, "health", "--address", d.address, NULL);

    /* A database without host keys cannot vouch for any server. */
    db_exec(fx->db, "DELETE FROM gateway_keys WHERE purpose = 'host'");
    tiny_sshd_start(&d, foreign_key(fp));
    expect_fail(fx, "no host keys in", NULL, "health", "--address", d.address,
                NULL);
    tiny_sshd_stop(&d);

    expect_fail(fx, "--address must be HOST:PORT or [IPv6]:PORT, not 'x'", NULL,
                "health", "--address", "x", NULL);
    expect_fail(fx, "not 'a@b:22'", NULL, "health", "--address", "a@b:22",
                NULL);
    expect_fail(fx, "not '[::1:22'", NULL, "health", "--address", "[::1:22",
                NULL);
    expect_fail(fx, "not 'h:0'", NULL, "health", "--address", "h:0", NULL);
    expect_fail(fx, "--timeout must be 1 to 600 seconds", NULL, "health",
                "--timeout", "0", NULL);
    expect_usage(fx, "unexpected argument 'x'", NULL, "health", "x", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_health),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
