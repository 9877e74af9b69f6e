#include "core/spool.h"

#include "core/crypto.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC      "SGSPOOL1"
#define MAGIC_LEN  8u
#define ID_LEN     16u
#define SUM_LEN    8u
#define FRAME_HEAD (4u + SUM_LEN)

struct gw_spool {
    int fd;
    char *path;
    uint64_t max_bytes;
    uint64_t end; /* where the next frame goes */
    char id[GW_SPOOL_ID_HEX];
};

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The first SUM_LEN bytes of SHA-256(length || payload). */
static int frame_sum(const uint8_t len_be[4], const void *payload, size_t len,
                     uint8_t sum[SUM_LEN])
{
    struct gw_sha256 *h = NULL;
    char hex[GW_SHA256_HEX_LEN];
    int rc = gw_sha256_new(&h);

    if (rc == GW_OK) {
        rc = gw_sha256_update(h, len_be, 4);
    }
    if (rc == GW_OK && len > 0) {
        rc = gw_sha256_update(h, payload, len);
    }
    if (rc == GW_OK) {
        rc = gw_sha256_final_hex(h, hex);
    }
    gw_sha256_free(h);
    for (size_t i = 0; rc == GW_OK && i < SUM_LEN; i++) {
        sum[i] =
            (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    }
    return rc;
}

/* pread exactly len bytes at offset: GW_OK, GW_ERR_NOTFOUND (the file
 * ends first), GW_ERR_IO. */
static int read_at(int fd, void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done,
                          (off_t)(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return gw_err_set(GW_ERR_IO, "reading the spool: %s",
                              strerror(errno));
        }
        if (n == 0) {
            return GW_ERR_NOTFOUND;
        }
        done += (size_t)n;
    }
    return GW_OK;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t offset)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, (const uint8_t *)buf + done, len - done,
                           (off_t)(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return gw_err_set(GW_ERR_IO, "writing the spool: %s",
                              n < 0 ? strerror(errno) : "no progress");
        }
        done += (size_t)n;
    }
    return GW_OK;
}

static void format_id(const uint8_t raw[ID_LEN], char id[GW_SPOOL_ID_HEX])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < ID_LEN; i++) {
        id[2 * i] = digits[raw[i] >> 4];
        id[2 * i + 1] = digits[raw[i] & 0x0f];
    }
    id[2 * ID_LEN] = '\0';
}

/* A fresh header with a new id, and nothing after it. */
static int write_header(struct gw_spool *sp)
{
    uint8_t head[GW_SPOOL_HEADER_LEN];
    int rc;

    memcpy(head, MAGIC, MAGIC_LEN);
    rc = gw_random_bytes(head + MAGIC_LEN, ID_LEN);
    if (rc == GW_OK && ftruncate(sp->fd, 0) != 0) {
        rc = gw_err_set(GW_ERR_IO, "emptying the spool %s: %s", sp->path,
                        strerror(errno));
    }
    if (rc == GW_OK) {
        rc = write_all(sp->fd, head, sizeof(head), 0);
    }
    if (rc == GW_OK && fdatasync(sp->fd) != 0) {
        rc = gw_err_set(GW_ERR_IO, "syncing the spool %s: %s", sp->path,
                        strerror(errno));
    }
    if (rc == GW_OK) {
        format_id(head + MAGIC_LEN, sp->id);
        sp->end = GW_SPOOL_HEADER_LEN;
    }
    return rc;
}

/* The frame at offset checks out: its payload length, or an error. */
static int check_frame(struct gw_spool *sp, uint64_t offset, uint8_t **buf,
                       size_t *len)
{
    uint8_t head[FRAME_HEAD];
    uint8_t sum[SUM_LEN];
    uint32_t n;
    int rc = read_at(sp->fd, head, sizeof(head), offset);

    if (rc != GW_OK) {
        return rc == GW_ERR_NOTFOUND && offset < sp->end ? GW_ERR_INVALID : rc;
    }
    n = get_u32(head);
    if (n > GW_SPOOL_FRAME_MAX) {
        return GW_ERR_INVALID;
    }
    *buf = malloc(n > 0 ? n : 1);
    if (*buf == NULL) {
        return GW_ERR_NOMEM;
    }
    rc = read_at(sp->fd, *buf, n, offset + FRAME_HEAD);
    if (rc == GW_ERR_NOTFOUND) {
        rc = GW_ERR_INVALID; /* torn: the length promises more */
    }
    if (rc == GW_OK) {
        rc = frame_sum(head, *buf, n, sum);
    }
    if (rc == GW_OK && memcmp(sum, head + 4, SUM_LEN) != 0) {
        rc = GW_ERR_INVALID;
    }
    if (rc != GW_OK) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *len = n;
    return GW_OK;
}

/* Walk the frames; cut the file after the last good one. */
static int scan(struct gw_spool *sp, struct gw_spool_scan *out)
{
    struct stat sb;
    uint64_t offset = GW_SPOOL_HEADER_LEN;
    int rc = GW_OK;

    if (fstat(sp->fd, &sb) != 0) {
        return gw_err_set(GW_ERR_IO, "%s: %s", sp->path, strerror(errno));
    }
    sp->end = (uint64_t)sb.st_size;
    while (offset < sp->end) {
        uint8_t *buf = NULL;
        size_t len = 0;
        rc = check_frame(sp, offset, &buf, &len);
        free(buf);
        if (rc != GW_OK) {
            break;
        }
        out->frames++;
        offset += FRAME_HEAD + len;
    }
    if (rc == GW_ERR_IO || rc == GW_ERR_NOMEM) {
        return rc;
    }
    if (offset < sp->end) {
        out->torn_bytes = sp->end - offset;
        if (ftruncate(sp->fd, (off_t)offset) != 0) {
            return gw_err_set(GW_ERR_IO, "cutting the torn end of %s: %s",
                              sp->path, strerror(errno));
        }
    }
    sp->end = offset;
    return GW_OK;
}

/* An existing file: it must be a spool. */
static int load_header(struct gw_spool *sp)
{
    uint8_t head[GW_SPOOL_HEADER_LEN];
    int rc = read_at(sp->fd, head, sizeof(head), 0);

    if (rc == GW_ERR_NOTFOUND) {
        /* Shorter than a header: a crash while it was being created (an
         * empty file) or not ours. Only an empty file is taken over. */
        struct stat sb;
        if (fstat(sp->fd, &sb) == 0 && sb.st_size == 0) {
            return write_header(sp);
        }
        return gw_err_set(GW_ERR_INVALID, "%s is not an sshgate spool",
                          sp->path);
    }
    if (rc != GW_OK) {
        return rc;
    }
    if (memcmp(head, MAGIC, MAGIC_LEN) != 0) {
        return gw_err_set(GW_ERR_INVALID, "%s is not an sshgate spool",
                          sp->path);
    }
    format_id(head + MAGIC_LEN, sp->id);
    return GW_OK;
}

int gw_spool_open(const char *path, uint64_t max_bytes, struct gw_spool **out,
                  struct gw_spool_scan *scan_out)
{
    struct gw_spool *sp = calloc(1, sizeof(*sp));
    struct gw_spool_scan found = {0};
    int rc = GW_OK;

    if (sp == NULL || (sp->path = strdup(path)) == NULL) {
        free(sp);
        return GW_ERR_NOMEM;
    }
    sp->max_bytes = max_bytes;
    sp->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->fd < 0) {
        rc = gw_err_set(GW_ERR_IO, "cannot open the spool %s: %s", path,
                        strerror(errno));
        goto out;
    }
    rc = load_header(sp);
    if (rc == GW_OK) {
        rc = scan(sp, &found);
    }
out:
    if (rc != GW_OK) {
        gw_spool_close(sp);
        return rc;
    }
    if (scan_out != NULL) {
        *scan_out = found;
    }
    *out = sp;
    return GW_OK;
}

void gw_spool_close(struct gw_spool *sp)
{
    if (sp == NULL) {
        return;
    }
    if (sp->fd >= 0) {
        close(sp->fd);
    }
    free(sp->path);
    free(sp);
}

const char *gw_spool_id(const struct gw_spool *sp)
{
    return sp->id;
}

uint64_t gw_spool_first(const struct gw_spool *sp)
{
    (void)sp;
    return GW_SPOOL_HEADER_LEN;
}

uint64_t gw_spool_end(const struct gw_spool *sp)
{
    return sp->end;
}

bool gw_spool_empty(const struct gw_spool *sp)
{
    return sp->end <= GW_SPOOL_HEADER_LEN;
}

int gw_spool_append(struct gw_spool *sp, const void *payload, size_t len)
{
    uint8_t head[FRAME_HEAD];
    int rc;

    if (len > GW_SPOOL_FRAME_MAX) {
        return gw_err_set(GW_ERR_INVALID, "spool frame of %zu bytes", len);
    }
    if (sp->end + FRAME_HEAD + len > sp->max_bytes) {
        return gw_err_set(GW_AGAIN, "the spool %s is full (%llu bytes)",
                          sp->path, (unsigned long long)sp->max_bytes);
    }
    put_u32(head, (uint32_t)len);
    rc = frame_sum(head, payload, len, head + 4);
    if (rc == GW_OK) {
        rc = write_all(sp->fd, head, sizeof(head), sp->end);
    }
    if (rc == GW_OK && len > 0) {
        rc = write_all(sp->fd, payload, len, sp->end + FRAME_HEAD);
    }
    if (rc != GW_OK) {
        /* A full disk: leave no half frame behind for the next append.
         * Should the cut fail too, the next open cuts the torn frame. */
        if (ftruncate(sp->fd, (off_t)sp->end) != 0) {
            rc = gw_err_set(GW_ERR_IO, "writing the spool %s: %s", sp->path,
                            strerror(errno));
        }
        return rc;
    }
    sp->end += FRAME_HEAD + len;
    return GW_OK;
}

int gw_spool_sync(struct gw_spool *sp)
{
    if (fdatasync(sp->fd) != 0) {
        return gw_err_set(GW_ERR_IO, "syncing the spool %s: %s", sp->path,
                          strerror(errno));
    }
    return GW_OK;
}

int gw_spool_read(struct gw_spool *sp, uint64_t offset, void **payload,
                  size_t *len, uint64_t *next)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc;

    if (offset >= sp->end) {
        return offset == sp->end ? GW_ERR_NOTFOUND : GW_ERR_INVALID;
    }
    if (offset < GW_SPOOL_HEADER_LEN) {
        return GW_ERR_INVALID;
    }
    rc = check_frame(sp, offset, &buf, &n);
    if (rc == GW_ERR_NOTFOUND) {
        rc = GW_ERR_INVALID;
    }
    if (rc != GW_OK) {
        return rc;
    }
    *payload = buf;
    *len = n;
    *next = offset + FRAME_HEAD + n;
    return GW_OK;
}

int gw_spool_reset(struct gw_spool *sp)
{
    return write_header(sp);
}
