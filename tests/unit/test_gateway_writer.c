/* Unit tests for gateway/audit: records encode and decode (and refuse
 * garbage), the writer puts them in the database in order, and an outage
 * (another process holding the database) goes to the spool and back:
 * nothing lost, nothing twice, bracketed by audit.degraded and
 * audit.recovered, and new sessions refused after the grace time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/spool.h"
#include "core/timeutil.h"
#include "gateway/audit/record.h"
#include "gateway/audit/writer.h"
#include "store/db.h"
#include "store/events.h"
#include "store/verify.h"
#include "store/open.h"
#include "store/sessions.h"
#include "store/transfers.h"

struct fixture {
    char dir[64];
    char db[96];
    char spool[96];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sshgate-writer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
    snprintf(f->spool, sizeof(f->spool), "%s/db.spool", f->dir);
    assert_int_equal(store_open(f->db, STORE_OPEN_CREATE, &f->st), GW_OK);
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
        snprintf(p, sizeof(p), "%s%s", f->db, suffix[i]);
        (void)unlink(p);
    }
    (void)unlink(f->spool);
    (void)rmdir(f->dir);
    free(f);
    return 0;
}

static struct gw_audit_writer *start(struct fixture *f, int64_t grace_ms,
                                     bool fail_open)
{
    struct gw_audit_writer_config c = {.db_path = f->db,
                                       .spool_path = f->spool,
                                       .spool_max = 64 << 20,
                                       .queue_max = 16 << 20,
                                       .chunk_queue_max = 4 << 20,
                                       .fail_open = fail_open,
                                       .grace_ms = grace_ms,
                                       .node = "n1",
                                       .run_prefix = "r1-"};
    struct gw_audit_writer *w = NULL;

    assert_int_equal(gw_audit_writer_start(&c, &w), GW_OK);
    return w;
}

/* A session's records: start, bytes, a transfer, end, and an event. */
static void submit_session(struct gw_audit_writer *w, int n)
{
    struct gw_audit_record r;
    char uid[32];

    snprintf(uid, sizeof(uid), "r1-%d", n);
    gw_audit_record_init(&r, GW_AUDIT_SESSION_START);
    r.conn_uid = strdup(uid);
    r.channel = 1;
    r.node = strdup("n1");
    r.user = strdup("alice");
    r.client = strdup("127.0.0.1:4000");
    r.host = strdup("web1");
    r.login = strdup("root");
    r.session_kind = strdup("sftp");
    assert_int_equal(gw_audit_submit(w, &r), GW_OK);

    gw_audit_record_init(&r, GW_AUDIT_SESSION_BYTES);
    r.conn_uid = strdup(uid);
    r.channel = 1;
    r.bytes_up = 10;
    r.bytes_down = 20;
    assert_int_equal(gw_audit_submit(w, &r), GW_OK);

    /* A file as the sftp audit reports it: in flight at its OPEN, then
     * its final state under the same file_seq. */
    for (int final = 0; final <= 1; final++) {
        gw_audit_record_init(&r, GW_AUDIT_TRANSFER);
        r.conn_uid = strdup(uid);
        r.channel = 1;
        r.operation = strdup("write");
        r.path = strdup("/tmp/\xff not utf-8");
        r.path2 = strdup("");
        r.status = strdup(final ? "ok" : "incomplete");
        r.bytes_written = final ? 5 : 0;
        r.file_seq = 1;
        assert_int_equal(gw_audit_submit(w, &r), GW_OK);
    }

    gw_audit_record_init(&r, GW_AUDIT_SESSION_END);
    r.conn_uid = strdup(uid);
    r.channel = 1;
    r.bytes_up = 100;
    r.bytes_down = 200;
    r.has_exit_status = true;
    r.exit_status = 3;
    r.reason = strdup("client closed");
    assert_int_equal(gw_audit_submit(w, &r), GW_OK);

    assert_int_equal(gw_audit_event(w, "test.event", "alice", NULL, "n=%d", n),
                     GW_OK);
}

static size_t count_events(struct fixture *f, const char *kind)
{
    struct store_event_filter filter;
    struct store_event *evs = NULL;
    size_t n = 0;

    memset(&filter, 0, sizeof(filter));
    filter.kind = kind;
    filter.limit = 100000;
    assert_int_equal(store_event_list(f->st, &filter, &evs, &n), GW_OK);
    store_event_list_free(evs, n);
    return n;
}

/* Every session 0..n-1 is there, ended, with its transfer. */
static void check_sessions(struct fixture *f, int n)
{
    for (int i = 0; i < n; i++) {
        char uid[32];
        int64_t id = 0;
        struct store_session s;
        struct store_transfer *t = NULL;
        size_t nt = 0;

        snprintf(uid, sizeof(uid), "r1-%d", i);
        assert_int_equal(store_session_find(f->st, uid, 1, &id), GW_OK);
        memset(&s, 0, sizeof(s));
        assert_int_equal(store_session_get(f->st, id, &s), GW_OK);
        assert_true(s.ended_at[0] != '\0');
        assert_int_equal(s.bytes_up, 100);
        assert_int_equal(s.exit_status, 3);
        assert_string_equal(s.end_reason, "client closed");
        store_session_clear(&s);
        assert_int_equal(store_transfer_list(f->st, id, &t, &nt), GW_OK);
        assert_int_equal(nt, 1);
        assert_string_equal(t[0].path, "/tmp/\xff not utf-8");
        assert_string_equal(t[0].status, "ok");
        assert_int_equal(t[0].bytes_written, 5);
        assert_int_equal(t[0].file_seq, 1);
        store_transfer_list_free(t, nt);
    }
    assert_int_equal(count_events(f, "test.event"), (size_t)n);
}

static void expect_chain_intact(struct fixture *f)
{
    int64_t bad = 0;
    char why[256] = "";

    assert_int_equal(store_event_verify(f->st, &bad, why, sizeof(why)), GW_OK);
}

static void wait_recovered(struct gw_audit_writer *w)
{
    struct gw_audit_status st;
    int64_t deadline = gw_now_ms() + 20000;

    do {
        usleep(50000);
        gw_audit_status(w, &st);
    } while ((st.degraded || st.queued_bytes > 0) && gw_now_ms() < deadline);
    assert_false(st.degraded);
}

/* Another process's write transaction: the writer's outage. */
static sqlite3 *hold_database(const struct fixture *f)
{
    sqlite3 *locker = NULL;

    assert_int_equal(sqlite3_open(f->db, &locker), SQLITE_OK);
    assert_int_equal(sqlite3_busy_timeout(locker, 10000), SQLITE_OK);
    assert_int_equal(sqlite3_exec(locker, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    return locker;
}

static void release_database(sqlite3 *locker)
{
    assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(locker);
}

/* The writer has found the lock (its busy wait) and spools. */
static void wait_degraded(struct gw_audit_writer *w, int64_t t0)
{
    struct gw_audit_status st;

    do {
        usleep(100000);
        gw_audit_status(w, &st);
    } while (!st.degraded && gw_now_ms() - t0 < 15000);
    assert_true(st.degraded);
}

static void test_record_roundtrip(void **state)
{
    struct gw_audit_record r;
    struct gw_audit_record back;
    uint8_t *buf = NULL;
    size_t len = 0;
    static const char data[] = "chunk\0with a NUL";

    (void)state;
    gw_audit_record_init(&r, GW_AUDIT_REC_CHUNK);
    r.conn_uid = strdup("5f-1");
    r.channel = 7;
    r.seq = 42;
    r.bytes_up = UINT64_MAX;
    r.exit_status = -1;
    r.pty = true;
    r.file_seq = UINT64_MAX - 1;
    r.data = malloc(sizeof(data));
    memcpy(r.data, data, sizeof(data));
    r.data_len = sizeof(data);
    assert_int_equal(gw_audit_record_encode(&r, &buf, &len), GW_OK);
    assert_int_equal(gw_audit_record_decode(buf, len, &back), GW_OK);
    assert_int_equal(back.kind, GW_AUDIT_REC_CHUNK);
    assert_int_equal(back.at_ms, r.at_ms);
    assert_string_equal(back.conn_uid, "5f-1");
    assert_null(back.user);
    assert_int_equal(back.channel, 7);
    assert_int_equal(back.seq, 42);
    assert_true(back.bytes_up == UINT64_MAX);
    assert_int_equal(back.exit_status, -1);
    assert_true(back.pty);
    assert_int_equal(back.data_len, sizeof(data));
    assert_memory_equal(back.data, data, sizeof(data));
    assert_true(back.file_seq == UINT64_MAX - 1);
    gw_audit_record_clear(&back);

    /* Every cut and every flipped version byte is refused. */
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(gw_audit_record_decode(buf, n, &back), GW_ERR_INVALID);
    }
    /* Version 1 (a spool of the previous release) ends before file_seq:
     * read, as a record without one; with the field behind it, refused. */
    assert_int_equal(buf[0], 2);
    buf[0] = 1;
    assert_int_equal(gw_audit_record_decode(buf, len - 8, &back), GW_OK);
    assert_int_equal(back.file_seq, 0);
    assert_int_equal(back.seq, 42);
    assert_memory_equal(back.data, data, sizeof(data));
    gw_audit_record_clear(&back);
    assert_int_equal(gw_audit_record_decode(buf, len, &back), GW_ERR_INVALID);
    buf[0] = 3;
    assert_int_equal(gw_audit_record_decode(buf, len, &back), GW_ERR_INVALID);
    buf[0] = 0;
    assert_int_equal(gw_audit_record_decode(buf, len, &back), GW_ERR_INVALID);
    buf[0] = 2 ^ 0xff;
    assert_int_equal(gw_audit_record_decode(buf, len, &back), GW_ERR_INVALID);
    free(buf);
    gw_audit_record_clear(&r);
}

static void test_in_order(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer *w = start(f, 30000, false);

    for (int i = 0; i < 50; i++) {
        submit_session(w, i);
    }
    gw_audit_writer_stop(w, 5000);
    check_sessions(f, 50);
    assert_int_equal(count_events(f, "audit.degraded"), 0);
    expect_chain_intact(f);
}

/* Another process holds the database: records go to the spool, new
 * sessions are refused once the grace time is over, and everything is
 * there, in order and once, when the lock goes. */
static void test_outage(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer *w = start(f, 300, false);
    sqlite3 *locker = NULL;
    struct stat sb;
    int64_t t0;

    submit_session(w, 0);
    locker = hold_database(f);
    t0 = gw_now_ms();
    for (int i = 1; i < 30; i++) {
        submit_session(w, i);
    }
    assert_true(gw_now_ms() - t0 < 1000); /* submitting never waits */
    /* The writer finds the lock (busy timeout), then spools. */
    wait_degraded(w, t0);
    usleep(500000);
    assert_false(gw_audit_accepting(w)); /* past the 300 ms grace */
    assert_int_equal(stat(f->spool, &sb), 0);
    assert_true(sb.st_size > GW_SPOOL_HEADER_LEN);
    release_database(locker);
    wait_recovered(w);
    assert_true(gw_audit_accepting(w));
    gw_audit_writer_stop(w, 5000);
    check_sessions(f, 30);
    assert_int_equal(count_events(f, "audit.degraded"), 1);
    assert_int_equal(count_events(f, "audit.recovered"), 1);
    expect_chain_intact(f);
}

/* audit_failure = continue: an outage never refuses anyone. */
static void test_continue(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer *w = start(f, 0, true);
    sqlite3 *locker = NULL;
    int64_t t0 = gw_now_ms();

    locker = hold_database(f);
    submit_session(w, 0);
    wait_degraded(w, t0);
    assert_true(gw_audit_accepting(w));
    release_database(locker);
    wait_recovered(w);
    gw_audit_writer_stop(w, 5000);
    check_sessions(f, 1);
}

/* The daemon stops during an outage: the spool keeps the records, and the
 * next start replays them (once). */
static void test_restart_replays(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer *w = start(f, 30000, false);
    sqlite3 *locker = NULL;
    int64_t t0 = gw_now_ms();

    locker = hold_database(f);
    for (int i = 0; i < 10; i++) {
        submit_session(w, i);
    }
    wait_degraded(w, t0);
    gw_audit_writer_stop(w, 100); /* the rest goes to the spool */
    release_database(locker);

    w = start(f, 30000, false);
    wait_recovered(w);
    gw_audit_writer_stop(w, 5000);
    check_sessions(f, 10);
    /* A third start finds an empty spool: nothing twice. */
    w = start(f, 30000, false);
    gw_audit_writer_stop(w, 5000);
    check_sessions(f, 10);
    assert_int_equal(count_events(f, "audit.recovered"), 1);
}

/* A torn spool tail (a crash mid-write) is cut off, and said. */
static void test_torn_spool(void **state)
{
    struct fixture *f = *state;
    struct gw_spool *sp = NULL;
    struct gw_audit_writer *w;
    FILE *fp;

    assert_int_equal(gw_spool_open(f->spool, 1 << 20, &sp, NULL), GW_OK);
    gw_spool_close(sp);
    fp = fopen(f->spool, "a");
    assert_non_null(fp);
    assert_int_equal(fwrite("\x00\x00\x01\x00garbage", 1, 11, fp), 11);
    fclose(fp);
    w = start(f, 30000, false);
    submit_session(w, 0);
    wait_recovered(w);
    gw_audit_writer_stop(w, 5000);
    check_sessions(f, 1);
    assert_int_equal(count_events(f, "audit.spool_torn"), 1);
}

/* Recording chunks have a budget of their own; other records do not
 * count against it. */
static void test_chunk_budget(void **state)
{
    struct fixture *f = *state;
    struct gw_audit_writer_config c = {.db_path = f->db,
                                       .spool_path = NULL,
                                       .queue_max = 1 << 20,
                                       .chunk_queue_max = 1024,
                                       .grace_ms = 30000,
                                       .node = "n1",
                                       .run_prefix = "r1-"};
    struct gw_audit_writer *w = NULL;
    sqlite3 *locker = NULL;
    struct gw_audit_record r;
    int refused = 0;

    locker = hold_database(f);
    assert_int_equal(gw_audit_writer_start(&c, &w), GW_OK);
    for (int i = 0; i < 20; i++) {
        gw_audit_record_init(&r, GW_AUDIT_REC_CHUNK);
        r.conn_uid = strdup("r1-1");
        r.data = calloc(1, 512);
        r.data_len = 512;
        refused += gw_audit_submit(w, &r) == GW_AGAIN ? 1 : 0;
    }
    assert_true(refused >= 15);
    assert_int_equal(gw_audit_event(w, "test.event", NULL, NULL, "x"), GW_OK);
    release_database(locker);
    gw_audit_writer_stop(w, 20000);
    assert_int_equal(count_events(f, "test.event"), 1);
    /* The chunks of a session that has no row are refused, and said. */
    assert_true(count_events(f, "audit.rejected") >= 1);
    assert_int_equal(count_events(f, "audit.lost"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_replays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_spool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_budget, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
