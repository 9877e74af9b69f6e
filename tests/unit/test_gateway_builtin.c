/* Unit tests for gateway/builtin: the hosts table, command dispatch and
 * the menu's line editing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "gateway/chan/builtin.h"

static struct store_grant grants[3];
static size_t ngrants;
static int load_calls;

static void grant(size_t i, const char *host, const char *addr, uint16_t port,
                  const char *login)
{
    memset(&grants[i], 0, sizeof(grants[i]));
    snprintf(grants[i].user, sizeof(grants[i].user), "alice");
    snprintf(grants[i].host, sizeof(grants[i].host), "%s", host);
    snprintf(grants[i].address, sizeof(grants[i].address), "%s", addr);
    snprintf(grants[i].login, sizeof(grants[i].login), "%s", login);
    grants[i].port = port;
}

static int load_hosts(void *ud, struct gw_host_list *out)
{
    (void)ud;
    load_calls++;
    return gw_hosts_from_grants(grants, ngrants, out);
}

static int setup(void **state)
{
    (void)state;
    grant(0, "db1", "2001:db8::5", 2222, "postgres");
    grant(1, "web1", "10.0.0.5", 22, "deploy");
    grant(2, "web1", "10.0.0.5", 22, "root");
    ngrants = 3;
    load_calls = 0;
    return 0;
}

struct io {
    struct gw_buf out;
    struct gw_buf err;
    struct gw_builtin_ctx ctx;
};

static void io_init(struct io *io, const char *eol)
{
    gw_buf_init(&io->out, 0);
    gw_buf_init(&io->err, 0);
    io->ctx.user = "alice";
    io->ctx.separator = '+';
    io->ctx.eol = eol;
    io->ctx.out = &io->out;
    io->ctx.err = &io->err;
    io->ctx.load_hosts = load_hosts;
    io->ctx.ud = NULL;
}

static void io_free(struct io *io)
{
    gw_buf_free(&io->out);
    gw_buf_free(&io->err);
}

static void test_hosts(void **state)
{
    struct io io;
    int status = -1;

    (void)state;
    io_init(&io, "\n");
    assert_int_equal(gw_builtin_run(&io.ctx, "hosts", &status), GW_OK);
    assert_int_equal(status, 0);
    assert_string_equal(io.out.data, "HOST  ADDRESS             LOGINS\n"
                                     "db1   [2001:db8::5]:2222  postgres\n"
                                     "web1  10.0.0.5:22         deploy,root\n");
    assert_int_equal(io.err.len, 0);
    io_free(&io);
}

static void test_hosts_empty(void **state)
{
    struct io io;
    int status = -1;

    (void)state;
    ngrants = 0;
    io_init(&io, "\r\n");
    assert_int_equal(gw_builtin_run(&io.ctx, "  hosts\n", &status), GW_OK);
    assert_int_equal(status, 0);
    assert_string_equal(io.out.data, "HOST  ADDRESS  LOGINS\r\n");
    io_free(&io);
}

static void test_help_and_unknown(void **state)
{
    struct io io;
    int status = -1;

    (void)state;
    io_init(&io, "\n");
    assert_int_equal(gw_builtin_run(&io.ctx, "help", &status), GW_OK);
    assert_int_equal(status, 0);
    assert_non_null(strstr(io.out.data, "hosts"));
    assert_non_null(strstr(io.out.data, "alice+HOST@gateway"));
    assert_int_equal(load_calls, 0);
    gw_buf_reset(&io.out);
    assert_int_equal(gw_builtin_run(&io.ctx, "frobnicate --now", &status),
                     GW_OK);
    assert_int_equal(status, 1);
    assert_int_equal(io.out.len, 0);
    assert_string_equal(io.err.data, "sshgate: unknown command 'frobnicate "
                                     "--now' (try 'help')\n");
    gw_buf_reset(&io.err);
    assert_int_equal(gw_builtin_run(&io.ctx, "hosts\x1b[2J", &status), GW_OK);
    assert_int_equal(status, 1);
    assert_null(strchr(io.err.data, '\x1b')); /* no terminal escapes */
    io_free(&io);
}

static int load_fails(void *ud, struct gw_host_list *out)
{
    (void)ud;
    (void)out;
    return GW_ERR_DB;
}

static void test_load_failure(void **state)
{
    struct gw_menu m;
    struct io io;
    int status = -1;

    (void)state;
    io_init(&io, "\n");
    io.ctx.load_hosts = load_fails;
    assert_int_equal(gw_builtin_run(&io.ctx, "hosts", &status), GW_OK);
    assert_int_equal(status, 1);
    assert_int_equal(io.out.len, 0);
    assert_non_null(strstr(io.err.data, "cannot list hosts"));
    assert_int_equal(gw_menu_start(&m, &io.ctx), GW_OK);
    assert_true(m.done);
    gw_menu_free(&m);
    io_free(&io);
}

/* Feed keys to a started menu; returns its output since the last call. */
static const char *type(struct gw_menu *m, struct io *io, const char *keys)
{
    gw_buf_reset(&io->out);
    assert_int_equal(gw_menu_input(m, &io->ctx, keys, strlen(keys)), GW_OK);
    return io->out.len > 0 ? io->out.data : "";
}

static void test_menu(void **state)
{
    struct gw_menu m;
    struct io io;

    (void)state;
    io_init(&io, "\r\n");
    assert_int_equal(gw_menu_start(&m, &io.ctx), GW_OK);
    assert_false(m.done);
    assert_non_null(strstr(io.out.data, "1  db1"));
    assert_non_null(strstr(io.out.data, "2  web1"));
    /* A number chooses; nothing after the choice is consumed, no prompt. */
    assert_string_equal(type(&m, &io, "2\rls\r"), "2\r\n");
    assert_true(m.chosen);
    assert_string_equal(m.chosen_host, "web1");
    assert_string_equal(m.chosen_login, "");
    /* The caller could not connect: back to the prompt with its reason. */
    gw_buf_reset(&io.out);
    assert_int_equal(gw_menu_resume(&m, &io.ctx, "sshgate: web1 is down"),
                     GW_OK);
    assert_false(m.chosen);
    assert_non_null(strstr(io.out.data, "sshgate: web1 is down\r\nChoose"));
    assert_string_equal(type(&m, &io, "root@db1\r\n"), "root@db1\r\n");
    assert_true(m.chosen);
    assert_string_equal(m.chosen_host, "db1");
    assert_string_equal(m.chosen_login, "root");
    assert_int_equal(gw_menu_resume(&m, &io.ctx, NULL), GW_OK);
    /* CR LF was one Enter: no empty second prompt. */
    assert_int_equal(m.len, 0);
    assert_non_null(strstr(type(&m, &io, "9\r"), "no host '9'"));
    assert_non_null(strstr(type(&m, &io, "@web1\r"), "no host '@web1'"));
    assert_false(m.chosen);
    /* Backspace edits, arrow keys are ignored. */
    assert_string_equal(type(&m, &io, "wx\x7f"), "wx\b \b");
    assert_string_equal(type(&m, &io, "\x1b[A"), "");
    type(&m, &io, "eb1\r");
    assert_true(m.chosen);
    assert_string_equal(m.chosen_host, "web1");
    assert_int_equal(gw_menu_resume(&m, &io.ctx, NULL), GW_OK);
    assert_non_null(strstr(type(&m, &io, "abc\x03"), "^C"));
    assert_int_equal(m.len, 0);
    assert_false(m.done);
    assert_non_null(strstr(type(&m, &io, "q\r"), "bye"));
    assert_true(m.done);
    gw_menu_free(&m);
    io_free(&io);
}

static void test_menu_eof_and_long_lines(void **state)
{
    char junk[600];
    struct gw_menu m;
    struct io io;

    (void)state;
    io_init(&io, "\r\n");
    assert_int_equal(gw_menu_start(&m, &io.ctx), GW_OK);
    memset(junk, 'x', sizeof(junk) - 1);
    junk[sizeof(junk) - 1] = '\0';
    (void)type(&m, &io, junk);
    assert_true(m.len < sizeof(m.line));
    (void)type(&m, &io, "\x15"); /* Ctrl-U clears */
    assert_int_equal(m.len, 0);
    (void)type(&m, &io, "\x04"); /* Ctrl-D on an empty line quits */
    assert_true(m.done);
    gw_menu_free(&m);
    io_free(&io);
}

static void test_menu_no_hosts(void **state)
{
    struct gw_menu m;
    struct io io;

    (void)state;
    ngrants = 0;
    io_init(&io, "\r\n");
    assert_int_equal(gw_menu_start(&m, &io.ctx), GW_OK);
    assert_true(m.done);
    assert_non_null(strstr(io.out.data, "no hosts are granted to alice"));
    gw_menu_free(&m);
    io_free(&io);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_hosts, setup),
        cmocka_unit_test_setup(test_hosts_empty, setup),
        cmocka_unit_test_setup(test_help_and_unknown, setup),
        cmocka_unit_test_setup(test_load_failure, setup),
        cmocka_unit_test_setup(test_menu, setup),
        cmocka_unit_test_setup(test_menu_eof_and_long_lines, setup),
        cmocka_unit_test_setup(test_menu_no_hosts, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
