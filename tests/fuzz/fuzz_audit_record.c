/*
 * libFuzzer target for the audit writer's spool: the input is first
 * decoded as one audit record (gateway/audit/record.c), and then written
 * as a spool file (core/spool.c) that is opened, scanned and read frame by
 * frame, each frame decoded as a record. A record that decodes must encode
 * to the very same bytes (a record of format version 1 to the same bytes
 * as version 2: the version byte 2 and file_seq 0 after them); a spool
 * that opens must read back exactly the frames its scan counted.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/spool.h"
#include "gateway/audit/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

static void decode_roundtrip(const uint8_t *data, size_t size)
{
    struct gw_audit_record r;
    uint8_t *again = NULL;
    size_t len = 0;

    if (gw_audit_record_decode(data, size, &r) != GW_OK) {
        return;
    }
    check(gw_audit_record_encode(&r, &again, &len) == GW_OK);
    if (data[0] == 1) {
        /* Read as version 1, written as 2: only the version byte and the
         * file_seq that 2 appends differ. */
        static const uint8_t zero[8] = {0};
        check(r.file_seq == 0);
        check(len == size + 8 && again[0] == 2);
        check(memcmp(again + 1, data + 1, size - 1) == 0);
        check(memcmp(again + size, zero, 8) == 0);
    } else {
        check(len == size && memcmp(again, data, size) == 0);
    }
    free(again);
    gw_audit_record_clear(&r);
}

static void spool_walk(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz-spool-XXXXXX";
    int fd = mkstemp(path);
    struct gw_spool *sp = NULL;
    struct gw_spool_scan scan = {0};
    uint64_t at;
    uint64_t frames = 0;

    if (fd < 0) {
        return;
    }
    /* A valid header first, so that the frames behind it are reached. */
    check(write(fd, "SGSPOOL10123456789abcdef", GW_SPOOL_HEADER_LEN) ==
          (ssize_t)GW_SPOOL_HEADER_LEN);
    check(write(fd, data, size) == (ssize_t)size);
    close(fd);
    if (gw_spool_open(path, UINT64_MAX, &sp, &scan) == GW_OK) {
        for (at = gw_spool_first(sp);;) {
            void *payload = NULL;
            size_t len = 0;
            uint64_t next = 0;
            int rc = gw_spool_read(sp, at, &payload, &len, &next);
            if (rc != GW_OK) {
                check(rc == GW_ERR_NOTFOUND);
                break;
            }
            decode_roundtrip(payload, len);
            free(payload);
            check(next > at);
            at = next;
            frames++;
        }
        check(frames == scan.frames);
        gw_spool_close(sp);
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_roundtrip(data, size);
    spool_walk(data, size);
    return 0;
}
