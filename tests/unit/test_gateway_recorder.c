/* Unit tests for gateway/audit/recorder through the audit writer: a
 * recording reaches the database in order, and a database that cannot
 * keep up (with no spool to hold the chunks) costs the recording (marked
 * degraded, with an event), never the caller's time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "gateway/audit/recorder.h"
#include "gateway/audit/writer.h"
#include "store/db.h"
#include "store/events.h"
#include "store/recordings.h"
#include "store/sessions.h"
#include "store/open.h"

struct fixture {
    char dir[64];
    char path[96];
    struct store *st;
    int64_t session_id;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_session_start s = {.node = "n1",
                                    .conn_uid = "c-1",
                                    .channel = 1,
                                    .user = "alice",
                                    .client = "127.0.0.1:40000",
                                    .host = "web1",
                                    .login = "root",
                                    .kind = "shell",
                                    .pty = true};

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sshgate-rec-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
    assert_int_equal(store_open(f->path, STORE_OPEN_CREATE, &f->st), GW_OK);
    assert_int_equal(store_session_start(f->st, &s, &f->session_id), GW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];

    store_close(f->st);
    for (size_t i = 0; i < 3; i++) {
        static const char *const suffix[] = {"", "-wal", "-shm"};
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static int collect(void *arg, const char *data, size_t len)
{
    return gw_buf_append(arg, data, len);
}

/* A writer on the fixture's database; no spool unless spool is set. */
static struct gw_audit_writer *
start_writer(struct fixture *f, size_t chunk_budget, const char *spool)
{
    struct gw_audit_writer_config c = {.db_path = f->path,
                                       .spool_path = spool,
                                       .spool_max = 1 << 20,
                                       .queue_max = 8 << 20,
                                       .chunk_queue_max = chunk_budget,
                                       .grace_ms = 30000,
                                       .node = "n1"};
    struct gw_audit_writer *w = NULL;

    assert_int_equal(gw_audit_writer_start(&c, &w), GW_OK);
    return w;
}

static struct gw_rec *open_rec(struct gw_audit_writer *q)
{
    struct gw_rec_info info = {.conn_uid = "c-1",
                               .channel = 1,
                               .chunk_bytes = 4096,
                               .cols = 100,
                               .rows = 30,
                               .term = "xterm",
                               .title = "alice as root@web1",
                               .user = "alice",
                               .client = "127.0.0.1:40000"};
    struct gw_rec *r = NULL;

    assert_int_equal(gw_rec_open(q, &info, &r), GW_OK);
    return r;
}

static void test_in_order(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer *q = start_writer(f, 1 << 20, NULL);
    struct gw_rec *r;
    struct store_recording rec;
    struct gw_buf all;
    char line[64];
    int n;

    r = open_rec(q);
    gw_rec_data(r, 'i', "ls\r", 3);
    for (int i = 0; i < 5000; i++) { /* several chunks */
        n = snprintf(line, sizeof(line), "line %d\r\n", i);
        gw_rec_data(r, 'o', line, (size_t)n);
    }
    gw_rec_resize(r, 120, 40);
    gw_rec_data(r, 'o', "end\r\n", 5);
    gw_rec_close(r);
    gw_audit_writer_stop(q, 1000);

    assert_int_equal(store_recording_get(f->st, f->session_id, &rec), GW_OK);
    assert_non_null(strstr(rec.header, "\"width\": 100"));
    assert_null(strchr(rec.header, '\n'));
    assert_string_equal(rec.degraded, "");
    assert_true(rec.chunks > 1);
    gw_buf_init(&all, 0);
    assert_int_equal(store_recording_chunks(f->st, rec.id, collect, &all),
                     GW_OK);
    assert_int_equal((int64_t)all.len, rec.bytes);
    assert_non_null(strstr(all.data, "\"i\", \"ls\\r\"]\n"));
    assert_non_null(strstr(all.data, "\"o\", \"line 0\\r\\n\"]\n"));
    assert_non_null(strstr(all.data, "\"o\", \"line 4999\\r\\n\"]\n"));
    assert_non_null(strstr(all.data, "\"r\", \"120x40\"]\n"));
    /* In order: "end" comes last. */
    assert_non_null(strstr(all.data, "\"o\", \"end\\r\\n\"]\n"));
    assert_true(strstr(all.data, "line 4999") < strstr(all.data, "end\\r"));
    assert_int_equal(all.data[all.len - 1], '\n');
    gw_buf_free(&all);
    store_recording_clear(&rec);
}

static void test_full_queue(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer *q = NULL;
    struct gw_rec *r;
    struct store_recording rec;
    sqlite3 *locker = NULL;
    char line[128];
    int64_t t0;
    int64_t spent;
    struct store_event_filter filter;
    struct store_event *evs = NULL;
    size_t nevs = 0;

    /* Another writer holds the database and there is no spool: the
     * chunks wait in memory, within their budget. */
    assert_int_equal(sqlite3_open(f->path, &locker), SQLITE_OK);
    assert_int_equal(sqlite3_exec(locker, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    q = start_writer(f, 16 * 1024, NULL);
    r = open_rec(q);
    t0 = gw_now_ms();
    for (int i = 0; i < 4000; i++) { /* ~200 KiB: far beyond the queue */
        int n =
            snprintf(line, sizeof(line),
                     "output line %d of a busy terminal.............\r\n", i);
        gw_rec_data(r, 'o', line, (size_t)n);
    }
    spent = gw_now_ms() - t0;
    assert_true(spent < 2000); /* never waited for the database */
    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(locker);
    gw_rec_data(r, 'o', "after\r\n", 7);
    gw_rec_close(r);
    gw_audit_writer_stop(q, 20000);

    assert_int_equal(store_recording_get(f->st, f->session_id, &rec), GW_OK);
    assert_non_null(strstr(rec.degraded, "queue full"));
    assert_true(rec.chunks >= 1);
    store_recording_clear(&rec);
    memset(&filter, 0, sizeof(filter));
    filter.kind = "recording.degraded";
    assert_int_equal(store_event_list(f->st, &filter, &evs, &nevs), GW_OK);
    assert_int_equal(nevs, 1);
    assert_non_null(strstr(evs[0].detail, "queue full"));
    assert_string_equal(evs[0].user, "alice");
    store_event_list_free(evs, nevs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
