/* Unit tests for core/spool: frames in order, reopening, a torn or
 * corrupted tail cut off, a full spool, reset, foreign files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/spool.h"

struct fixture {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/sshgate-spool-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/audit.spool", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct gw_spool *open_spool(const struct fixture *f, uint64_t max,
                                   struct gw_spool_scan *scan)
{
    struct gw_spool *sp = NULL;

    assert_int_equal(gw_spool_open(f->path, max, &sp, scan), GW_OK);
    return sp;
}

/* Read every frame from the first; they must be "frame 0", "frame 1", ... */
static size_t read_all(struct gw_spool *sp)
{
    uint64_t at = gw_spool_first(sp);
    size_t n = 0;

    for (;;) {
        void *payload = NULL;
        size_t len = 0;
        uint64_t next = 0;
        char want[32];
        int rc = gw_spool_read(sp, at, &payload, &len, &next);
        if (rc == GW_ERR_NOTFOUND) {
            break;
        }
        assert_int_equal(rc, GW_OK);
        snprintf(want, sizeof(want), "frame %zu", n);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(payload, want, len);
        free(payload);
        at = next;
        n++;
    }
    assert_int_equal(at, gw_spool_end(sp));
    return n;
}

static void append_frames(struct gw_spool *sp, size_t from, size_t count)
{
    for (size_t i = from; i < from + count; i++) {
        char text[32];
        int n = snprintf(text, sizeof(text), "frame %zu", i);
        assert_int_equal(gw_spool_append(sp, text, (size_t)n), GW_OK);
    }
    assert_int_equal(gw_spool_sync(sp), GW_OK);
}

static void test_frames_in_order(void **state)
{
    struct fixture *f = *state;
    struct gw_spool_scan scan;
    struct gw_spool *sp = open_spool(f, 1 << 20, &scan);
    struct stat sb;
    char id[GW_SPOOL_ID_HEX];

    assert_int_equal(scan.frames, 0);
    assert_true(gw_spool_empty(sp));
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    append_frames(sp, 0, 50);
    assert_false(gw_spool_empty(sp));
    assert_int_equal(read_all(sp), 50);
    snprintf(id, sizeof(id), "%s", gw_spool_id(sp));
    assert_int_equal(strlen(id), 32);
    gw_spool_close(sp);

    /* Reopened: the same frames, the same id, appends go after them. */
    sp = open_spool(f, 1 << 20, &scan);
    assert_int_equal(scan.frames, 50);
    assert_int_equal(scan.torn_bytes, 0);
    assert_string_equal(gw_spool_id(sp), id);
    append_frames(sp, 50, 5);
    assert_int_equal(read_all(sp), 55);
    gw_spool_close(sp);
}

/* A crash in the middle of a frame: the torn frame is cut off. */
static void test_torn_tail(void **state)
{
    struct fixture *f = *state;
    struct gw_spool_scan scan;
    struct gw_spool *sp = open_spool(f, 1 << 20, NULL);
    uint64_t end;

    append_frames(sp, 0, 3);
    end = gw_spool_end(sp);
    gw_spool_close(sp);
    assert_int_equal(truncate(f->path, (off_t)end - 3), 0);

    sp = open_spool(f, 1 << 20, &scan);
    assert_int_equal(scan.frames, 2);
    assert_true(scan.torn_bytes > 0);
    assert_int_equal(read_all(sp), 2);
    append_frames(sp, 2, 2);
    assert_int_equal(read_all(sp), 4);
    gw_spool_close(sp);
}

/* Garbage in the last frame (no data journalling): it fails its
 * checksum and goes, with everything after it. */
static void test_corrupt_frame(void **state)
{
    struct fixture *f = *state;
    struct gw_spool_scan scan;
    struct gw_spool *sp = open_spool(f, 1 << 20, NULL);
    uint64_t second;
    int fd;

    append_frames(sp, 0, 1);
    second = gw_spool_end(sp);
    append_frames(sp, 1, 2);
    gw_spool_close(sp);
    fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, (off_t)second + 14), 1);
    close(fd);

    sp = open_spool(f, 1 << 20, &scan);
    assert_int_equal(scan.frames, 1);
    assert_true(scan.torn_bytes > 0);
    assert_int_equal(read_all(sp), 1);
    gw_spool_close(sp);
}

static void test_full_and_reset(void **state)
{
    struct fixture *f = *state;
    struct gw_spool *sp = open_spool(f, GW_SPOOL_HEADER_LEN + 3 * 19, NULL);
    char id[GW_SPOOL_ID_HEX];
    void *payload = NULL;
    size_t len = 0;
    uint64_t next = 0;

    append_frames(sp, 0, 3); /* 12-byte head + 7-byte payload each */
    assert_int_equal(gw_spool_append(sp, "frame 3", 7), GW_AGAIN);
    assert_int_equal(read_all(sp), 3);
    snprintf(id, sizeof(id), "%s", gw_spool_id(sp));
    assert_int_equal(gw_spool_reset(sp), GW_OK);
    assert_true(gw_spool_empty(sp));
    assert_string_not_equal(gw_spool_id(sp), id);
    assert_int_equal(
        gw_spool_read(sp, gw_spool_first(sp), &payload, &len, &next),
        GW_ERR_NOTFOUND);
    append_frames(sp, 0, 3);
    assert_int_equal(read_all(sp), 3);
    gw_spool_close(sp);
}

static void test_bad_offsets(void **state)
{
    struct fixture *f = *state;
    struct gw_spool *sp = open_spool(f, 1 << 20, NULL);
    void *payload = NULL;
    size_t len = 0;
    uint64_t next = 0;

    append_frames(sp, 0, 2);
    assert_int_equal(gw_spool_read(sp, 3, &payload, &len, &next),
                     GW_ERR_INVALID);
    assert_int_equal(
        gw_spool_read(sp, gw_spool_first(sp) + 1, &payload, &len, &next),
        GW_ERR_INVALID);
    assert_int_equal(
        gw_spool_read(sp, gw_spool_end(sp) + 5, &payload, &len, &next),
        GW_ERR_INVALID);
    gw_spool_close(sp);
}

/* A file that is not a spool is refused and left as it was. */
static void test_foreign_file(void **state)
{
    struct fixture *f = *state;
    struct gw_spool *sp = NULL;
    const char text[] = "this is somebody's file, not a spool\n";
    char back[sizeof(text)];
    FILE *fp = fopen(f->path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(gw_spool_open(f->path, 1 << 20, &sp, NULL),
                     GW_ERR_INVALID);
    fp = fopen(f->path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(back, sizeof(back), fp));
    fclose(fp);
    assert_string_equal(back, text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frames_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
