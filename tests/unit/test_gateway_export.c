/* Unit tests for gateway/audit/export: events pushed reach a JSON unix
 * socket sink in order; a sink nobody listens on keeps what fits in its
 * queue and drops (and counts) the rest, with the lowest and highest id
 * dropped, without the push ever waiting; the stop counts what is left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/err.h"
#include "core/export_spec.h"
#include "core/timeutil.h"
#include "gateway/audit/export.h"
#include "gateway/daemon/export_stats.h"

#define H "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static struct gw_export_event event(int64_t id)
{
    struct gw_export_event e = {
        .id = id,
        .created_at = "2026-11-21T19:04:25.123Z",
        .kind = "auth.success",
        .user = "alice",
        .client = "192.0.2.7:50022",
        .detail = "method=publickey",
        .prev_hash = H,
        .hash = H,
    };
    return e;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static struct gw_export *start(const char *sinks, size_t queue_max)
{
    struct gw_export_list list = {NULL, 0};
    struct gw_export_config cfg;
    struct gw_export *x = NULL;

    assert_int_equal(gw_export_list_parse(sinks, &list), GW_OK);
    cfg.sinks = &list;
    cfg.queue_max = queue_max;
    cfg.node = "gw1";
    assert_int_equal(gw_export_start(&cfg, &x), GW_OK);
    gw_export_list_free(&list); /* the export keeps its own copy */
    assert_non_null(x);
    return x;
}

/* Read from fd until n lines came (or 10 s). */
static size_t read_lines(int fd, char *buf, size_t cap, int n)
{
    size_t len = 0;
    int64_t deadline = gw_now_ms() + 10000;

    while (gw_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int lines = 0;
        ssize_t got;
        for (size_t i = 0; i < len; i++) {
            lines += buf[i] == '\n';
        }
        if (lines >= n || poll(&p, 1, 100) <= 0) {
            if (lines >= n) {
                break;
            }
            continue;
        }
        got = read(fd, buf + len, cap - 1 - len);
        if (got <= 0) {
            break;
        }
        len += (size_t)got;
    }
    buf[len] = '\0';
    return len;
}

static void test_json_unix_in_order(void **state)
{
    char path[64];
    char sinks[96];
    char buf[8192];
    int lfd;
    int cfd;
    struct gw_export *x;
    uint64_t dropped = gw_export_dropped();

    (void)state;
    snprintf(path, sizeof(path), "/tmp/sshgate-ut-export-%d.sock",
             (int)getpid());
    snprintf(sinks, sizeof(sinks), "json:unix:%s", path);
    lfd = listen_unix(path);
    x = start(sinks, 64 * 1024);
    for (int64_t id = 1; id <= 3; id++) {
        struct gw_export_event e = event(id);
        gw_export_push(x, &e);
    }
    cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);
    read_lines(cfd, buf, sizeof(buf), 3);
    assert_non_null(strstr(buf, "{\"id\":1,"));
    assert_true(strstr(buf, "{\"id\":1,") < strstr(buf, "\n{\"id\":2,"));
    assert_true(strstr(buf, "\n{\"id\":2,") < strstr(buf, "\n{\"id\":3,"));
    assert_int_equal(gw_export_sink_count(x), 1);
    assert_string_equal(gw_export_sink_name(x, 0), sinks);
    gw_export_halt(x, 2000);
    gw_export_free(x);
    assert_int_equal(gw_export_dropped(), dropped);
    close(cfd);
    close(lfd);
    unlink(path);
}

static void test_dead_sink_drops_counted(void **state)
{
    struct gw_export *x = start("json:unix:/nonexistent/sshgate-ut.sock", 1024);
    struct gw_export_drops d;
    uint64_t before = gw_export_dropped();
    int64_t t0 = gw_now_ms();

    (void)state;
    for (int64_t id = 10; id < 60; id++) {
        struct gw_export_event e = event(id);
        gw_export_push(x, &e);
    }
    assert_true(gw_now_ms() - t0 < 1000); /* pushing never waits */
    /* About 300 bytes a line: the first few wait in the 1K queue. */
    assert_true(gw_export_take_drops(x, 0, &d));
    assert_true(d.events >= 45 && d.events < 50);
    assert_int_equal(d.last_id, 59);
    assert_int_equal(d.first_id, 60 - (int64_t)d.events);
    assert_int_equal(d.total, d.events);
    assert_int_equal(gw_export_dropped() - before, d.events);
    assert_false(gw_export_take_drops(x, 0, &d));
    /* A report that could not be written goes back. */
    gw_export_return_drops(x, 0, &(struct gw_export_drops){2, 7, 8, 0});
    assert_true(gw_export_take_drops(x, 0, &d));
    assert_int_equal(d.events, 2);
    assert_int_equal(d.first_id, 7);
    /* The stop: what waited in the queue is lost too, and counted. */
    gw_export_halt(x, 0);
    assert_true(gw_export_take_drops(x, 0, &d));
    assert_int_equal(d.first_id, 10);
    assert_int_equal(gw_export_dropped() - before, 50);
    gw_export_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_unix_in_order),
        cmocka_unit_test(test_dead_sink_drops_counted),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
