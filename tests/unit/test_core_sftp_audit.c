/*
 * Unit tests for core/sftp_audit: SFTP v3 byte streams built here with a
 * small encoder, fed whole, byte by byte, in random chunks and interleaved,
 * must give the same file-level records; hostile input must only ever give
 * GW_ERR_INVALID and a degraded audit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "core/sftp_audit.h"

enum {
    T_INIT = 1,
    T_VERSION = 2,
    T_OPEN = 3,
    T_CLOSE = 4,
    T_READ = 5,
    T_WRITE = 6,
    T_STAT = 17,
    T_SETSTAT = 9,
    T_FSETSTAT = 10,
    T_OPENDIR = 11,
    T_READDIR = 12,
    T_REMOVE = 13,
    T_MKDIR = 14,
    T_RMDIR = 15,
    T_RENAME = 18,
    T_SYMLINK = 20,
    T_STATUS = 101,
    T_HANDLE = 102,
    T_DATA = 103,
    T_NAME = 104,
    T_ATTRS = 105,
    T_EXTENDED = 200,
};

#define C GW_SFTP_FROM_CLIENT
#define S GW_SFTP_FROM_SERVER

#define FL_READ  GW_SFTP_FXF_READ
#define FL_WRITE GW_SFTP_FXF_WRITE
#define FL_PUT   (GW_SFTP_FXF_WRITE | GW_SFTP_FXF_CREAT | GW_SFTP_FXF_TRUNC)

#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- a tiny deterministic PRNG (xorshift32) --------------------------- */

static uint32_t rng_next(uint32_t *st)
{
    uint32_t x = *st;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *st = x;
    return x;
}

/* ---- byte buffers and the SFTP encoder -------------------------------- */

struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static void buf_put(struct buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->p + b->len, data, n);
    }
    b->len += n;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static void put_u8(struct buf *b, uint8_t v)
{
    buf_put(b, &v, 1);
}

static void put_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                    (uint8_t)v};

    buf_put(b, x, sizeof(x));
}

static void put_u64(struct buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b, (uint32_t)v);
}

static void put_data(struct buf *b, const void *data, size_t n)
{
    put_u32(b, (uint32_t)n);
    buf_put(b, data, n);
}

static void put_str(struct buf *b, const char *s)
{
    put_data(b, s, strlen(s));
}

/* Start a packet (placeholder length, type); pkt_end patches the length. */
static size_t pkt_begin(struct buf *b, uint8_t type)
{
    size_t start = b->len;

    put_u32(b, 0);
    put_u8(b, type);
    return start;
}

static void pkt_end(struct buf *b, size_t start)
{
    uint32_t n = (uint32_t)(b->len - start - 4);

    b->p[start] = (uint8_t)(n >> 24);
    b->p[start + 1] = (uint8_t)(n >> 16);
    b->p[start + 2] = (uint8_t)(n >> 8);
    b->p[start + 3] = (uint8_t)n;
}

static void c_init(struct buf *b)
{
    size_t s = pkt_begin(b, T_INIT);

    put_u32(b, 3);
    pkt_end(b, s);
}

static void s_version(struct buf *b, uint32_t version)
{
    size_t s = pkt_begin(b, T_VERSION);

    put_u32(b, version);
    put_str(b, "posix-rename@openssh.com");
    put_str(b, "1");
    pkt_end(b, s);
}

static void c_open(struct buf *b, uint32_t id, const char *path,
                   uint32_t pflags)
{
    size_t s = pkt_begin(b, T_OPEN);

    put_u32(b, id);
    put_str(b, path);
    put_u32(b, pflags);
    put_u32(b, GW_SFTP_ATTR_PERMISSIONS);
    put_u32(b, 0644);
    pkt_end(b, s);
}

static void c_handle_op(struct buf *b, uint8_t type, uint32_t id,
                        const char *handle)
{
    size_t s = pkt_begin(b, type);

    put_u32(b, id);
    put_str(b, handle);
    pkt_end(b, s);
}

static void c_read(struct buf *b, uint32_t id, const char *handle, uint64_t off,
                   uint32_t len)
{
    size_t s = pkt_begin(b, T_READ);

    put_u32(b, id);
    put_str(b, handle);
    put_u64(b, off);
    put_u32(b, len);
    pkt_end(b, s);
}

static void c_write(struct buf *b, uint32_t id, const char *handle,
                    uint64_t off, const uint8_t *data, size_t n)
{
    size_t s = pkt_begin(b, T_WRITE);

    put_u32(b, id);
    put_str(b, handle);
    put_u64(b, off);
    put_data(b, data, n);
    pkt_end(b, s);
}

static void c_path1(struct buf *b, uint8_t type, uint32_t id, const char *p)
{
    size_t s = pkt_begin(b, type);

    put_u32(b, id);
    put_str(b, p);
    pkt_end(b, s);
}

static void c_path2(struct buf *b, uint8_t type, uint32_t id, const char *p1,
                    const char *p2)
{
    size_t s = pkt_begin(b, type);

    put_u32(b, id);
    put_str(b, p1);
    put_str(b, p2);
    pkt_end(b, s);
}

/* MKDIR or SETSTAT: a path and ATTRS with permissions. */
static void c_path_perm(struct buf *b, uint8_t type, uint32_t id, const char *p,
                        uint32_t perm)
{
    size_t s = pkt_begin(b, type);

    put_u32(b, id);
    put_str(b, p);
    put_u32(b, GW_SFTP_ATTR_PERMISSIONS);
    put_u32(b, perm);
    pkt_end(b, s);
}

static void c_ext_path2(struct buf *b, uint32_t id, const char *name,
                        const char *p1, const char *p2)
{
    size_t s = pkt_begin(b, T_EXTENDED);

    put_u32(b, id);
    put_str(b, name);
    put_str(b, p1);
    if (p2 != NULL) {
        put_str(b, p2);
    }
    pkt_end(b, s);
}

static void s_status(struct buf *b, uint32_t id, uint32_t code, const char *msg)
{
    size_t s = pkt_begin(b, T_STATUS);

    put_u32(b, id);
    put_u32(b, code);
    put_str(b, msg);
    put_str(b, "");
    pkt_end(b, s);
}

static void s_handle(struct buf *b, uint32_t id, const char *handle)
{
    size_t s = pkt_begin(b, T_HANDLE);

    put_u32(b, id);
    put_str(b, handle);
    pkt_end(b, s);
}

static void s_data(struct buf *b, uint32_t id, const uint8_t *data, size_t n)
{
    size_t s = pkt_begin(b, T_DATA);

    put_u32(b, id);
    put_data(b, data, n);
    pkt_end(b, s);
}

static void s_name(struct buf *b, uint32_t id, uint32_t count)
{
    size_t s = pkt_begin(b, T_NAME);

    put_u32(b, id);
    put_u32(b, count);
    for (uint32_t i = 0; i < count; i++) {
        put_str(b, "entry");
        put_str(b, "-rw-r--r-- 1 u g 0 Jan 1 00:00 entry");
        put_u32(b, 0);
    }
    pkt_end(b, s);
}

/* ---- scripts: ordered segments of one direction each ------------------ */

#define MAX_SEGS 64

struct seg {
    enum gw_sftp_dir dir;
    /* May be fed interleaved with the segment before it: nothing in one
     * answers anything in the other. */
    bool overlap;
    struct buf b;
};

struct script {
    struct seg segs[MAX_SEGS];
    size_t n;
};

static struct buf *seg(struct script *sc, enum gw_sftp_dir dir, bool overlap)
{
    struct seg *sg = NULL;

    assert_true(sc->n < MAX_SEGS);
    sg = &sc->segs[sc->n++];
    sg->dir = dir;
    sg->overlap = overlap;
    return &sg->b;
}

static void script_free(struct script *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        buf_free(&sc->segs[i].b);
    }
    sc->n = 0;
}

/* ---- captured records ------------------------------------------------- */

struct rec {
    char op[32];
    char *path;
    char *path2;
    bool path_truncated;
    uint32_t pflags;
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t write_end;
    uint64_t entries;
    char sha256[GW_SHA256_HEX_LEN];
    bool whole_file;
    int status;
    char status_text[32];
    char message[256];
    struct gw_sftp_attrs attrs;
    uint64_t file_seq;
    /* opens: the final record with this file_seq came; recs: 0 */
    int finals;
};

/*
 * What a run reported, split in two: the open records (a file's first
 * record, as its handle arrives; opens[i] has file_seq i + 1) and every
 * other record in order (recs), which is what the tests mostly look at.
 * on_record checks the promises of file_seq as the records come.
 */
struct capture {
    struct rec *recs;
    size_t n;
    size_t cap;
    struct rec *opens;
    size_t nopen;
    size_t capopen;
};

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    assert_true(n < size);
    memcpy(dst, src, n + 1);
}

static struct rec *rec_append(struct rec **list, size_t *n, size_t *cap)
{
    struct rec *c = NULL;

    if (*n == *cap) {
        *cap = *cap != 0 ? *cap * 2 : 16;
        *list = realloc(*list, *cap * sizeof(**list));
        assert_non_null(*list);
    }
    c = &(*list)[(*n)++];
    memset(c, 0, sizeof(*c));
    return c;
}

static void rec_copy(struct rec *c, const struct gw_sftp_record *r)
{
    copy_str(c->op, sizeof(c->op), r->op);
    c->path = strdup(r->path);
    c->path2 = strdup(r->path2);
    assert_non_null(c->path);
    assert_non_null(c->path2);
    c->path_truncated = r->path_truncated;
    c->pflags = r->pflags;
    c->bytes_read = r->bytes_read;
    c->bytes_written = r->bytes_written;
    c->write_end = r->write_end;
    c->entries = r->entries;
    copy_str(c->sha256, sizeof(c->sha256), r->sha256);
    assert_true(r->sha256[0] == '\0' || strlen(r->sha256) == 64);
    assert_true(r->whole_file == (r->sha256[0] != '\0'));
    c->whole_file = r->whole_file;
    c->status = r->status;
    copy_str(c->status_text, sizeof(c->status_text), r->status_text);
    copy_str(c->message, sizeof(c->message), r->message);
    c->attrs = r->attrs;
    c->file_seq = r->file_seq;
}

/* A file's first record: in flight, nothing counted yet. */
static void assert_open_record(const struct rec *c)
{
    assert_int_equal(c->status, GW_SFTP_STATUS_INCOMPLETE);
    assert_string_equal(c->status_text, "incomplete");
    assert_string_equal(c->message, "");
    assert_int_equal(c->bytes_read, 0);
    assert_int_equal(c->bytes_written, 0);
    assert_int_equal(c->write_end, 0);
    assert_int_equal(c->entries, 0);
    assert_string_equal(c->sha256, "");
    assert_string_equal(c->path2, "");
    assert_true(strcmp(c->op, "read") == 0 || strcmp(c->op, "write") == 0 ||
                strcmp(c->op, "read+write") == 0 || strcmp(c->op, "open") == 0);
}

static void on_record(const struct gw_sftp_record *r, void *userdata)
{
    struct capture *cap = userdata;
    struct rec *c = NULL;
    struct rec *open = NULL;

    /* Files are numbered in order, each number opened once... */
    assert_true(r->file_seq <= cap->nopen + 1);
    if (r->file_seq == cap->nopen + 1) {
        c = rec_append(&cap->opens, &cap->nopen, &cap->capopen);
        rec_copy(c, r);
        assert_open_record(c);
        return;
    }
    c = rec_append(&cap->recs, &cap->n, &cap->cap);
    rec_copy(c, r);
    if (r->file_seq == 0) {
        return;
    }
    /* ...and closed once, as the file it opened. */
    open = &cap->opens[r->file_seq - 1];
    assert_int_equal(open->finals, 0);
    open->finals++;
    assert_string_equal(c->path, open->path);
    assert_int_equal(c->path_truncated, open->path_truncated);
    assert_int_equal(c->pflags, open->pflags);
    assert_memory_equal(&c->attrs, &open->attrs, sizeof(c->attrs));
}

/* After finish, every file opened has had its final record. */
static void assert_all_closed(const struct capture *cap)
{
    for (size_t i = 0; i < cap->nopen; i++) {
        assert_int_equal(cap->opens[i].finals, 1);
    }
}

static void recs_free(struct rec *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].path);
        free(list[i].path2);
    }
    free(list);
}

static void capture_free(struct capture *cap)
{
    recs_free(cap->recs, cap->n);
    recs_free(cap->opens, cap->nopen);
    memset(cap, 0, sizeof(*cap));
}

static void assert_rec_equal(const struct rec *x, const struct rec *y)
{
    assert_string_equal(x->op, y->op);
    assert_string_equal(x->path, y->path);
    assert_string_equal(x->path2, y->path2);
    assert_int_equal(x->path_truncated, y->path_truncated);
    assert_int_equal(x->pflags, y->pflags);
    assert_int_equal(x->bytes_read, y->bytes_read);
    assert_int_equal(x->bytes_written, y->bytes_written);
    assert_int_equal(x->write_end, y->write_end);
    assert_int_equal(x->entries, y->entries);
    assert_string_equal(x->sha256, y->sha256);
    assert_int_equal(x->whole_file, y->whole_file);
    assert_int_equal(x->status, y->status);
    assert_string_equal(x->status_text, y->status_text);
    assert_string_equal(x->message, y->message);
    assert_memory_equal(&x->attrs, &y->attrs, sizeof(x->attrs));
    assert_int_equal(x->file_seq, y->file_seq);
    assert_int_equal(x->finals, y->finals);
}

static void assert_captures_equal(const struct capture *x,
                                  const struct capture *y)
{
    assert_int_equal(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        assert_rec_equal(&x->recs[i], &y->recs[i]);
    }
    assert_int_equal(x->nopen, y->nopen);
    for (size_t i = 0; i < x->nopen; i++) {
        assert_rec_equal(&x->opens[i], &y->opens[i]);
    }
}

/* ---- feeding ---------------------------------------------------------- */

enum feed_mode {
    FEED_WHOLE,      /* each segment in one call */
    FEED_BYTE,       /* one byte per call */
    FEED_RANDOM,     /* random chunk sizes */
    FEED_INTERLEAVE, /* random chunks, overlapping segments interleaved */
};

struct feeder {
    struct gw_sftp_audit *a;
    enum feed_mode mode;
    uint32_t rng;
};

static size_t chunk_len(struct feeder *fd, size_t left)
{
    size_t n = left;

    if (fd->mode == FEED_BYTE) {
        n = 1;
    } else if (fd->mode != FEED_WHOLE) {
        /* Mostly small, sometimes large, to cross every boundary. */
        n = (rng_next(&fd->rng) % 8 == 0) ? rng_next(&fd->rng) % 70000 + 1
                                          : rng_next(&fd->rng) % 40 + 1;
    }
    return n < left ? n : left;
}

static void feed_part(struct feeder *fd, const struct seg *sg, size_t *pos)
{
    size_t n = chunk_len(fd, sg->b.len - *pos);

    assert_int_equal(gw_sftp_audit_feed(fd->a, sg->dir, sg->b.p + *pos, n),
                     GW_OK);
    *pos += n;
}

static void feed_seg(struct feeder *fd, const struct seg *sg)
{
    size_t pos = 0;

    while (pos < sg->b.len) {
        feed_part(fd, sg, &pos);
    }
}

/* Feed x and y (of opposite directions) in random interleaved chunks. */
static void feed_pair(struct feeder *fd, const struct seg *x,
                      const struct seg *y)
{
    size_t px = 0;
    size_t py = 0;

    while (px < x->b.len || py < y->b.len) {
        bool pick_x =
            py == y->b.len || (px < x->b.len && rng_next(&fd->rng) % 2 == 0);
        if (pick_x) {
            feed_part(fd, x, &px);
        } else {
            feed_part(fd, y, &py);
        }
    }
}

struct run {
    struct capture cap;
    bool degraded;
    int finish_rc;
    struct gw_sftp_audit_stats stats;
};

static void run_script(const struct script *sc, enum feed_mode mode,
                       uint32_t seed, struct run *out)
{
    struct feeder fd = {NULL, mode, seed != 0 ? seed : 1};
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    assert_int_equal(gw_sftp_audit_new(on_record, &out->cap, &fd.a), GW_OK);
    while (i < sc->n) {
        const struct seg *next = i + 1 < sc->n ? &sc->segs[i + 1] : NULL;
        if (mode == FEED_INTERLEAVE && next != NULL && next->overlap &&
            next->dir != sc->segs[i].dir) {
            feed_pair(&fd, &sc->segs[i], next);
            i += 2;
            continue;
        }
        feed_seg(&fd, &sc->segs[i]);
        i++;
    }
    out->finish_rc = gw_sftp_audit_finish(fd.a);
    assert_all_closed(&out->cap);
    out->degraded = gw_sftp_audit_degraded(fd.a);
    gw_sftp_audit_stats(fd.a, &out->stats);
    gw_sftp_audit_free(fd.a);
}

static void run_free(struct run *r)
{
    capture_free(&r->cap);
}

/* Every way of chunking the script gives the records of feeding it whole. */
static void assert_chunking_invariant(const struct script *sc)
{
    struct run whole;
    struct run other;
    static const enum feed_mode modes[] = {FEED_BYTE, FEED_RANDOM,
                                           FEED_INTERLEAVE};

    run_script(sc, FEED_WHOLE, 1, &whole);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        uint32_t seeds = modes[m] == FEED_BYTE ? 1 : 12;
        for (uint32_t seed = 1; seed <= seeds; seed++) {
            run_script(sc, modes[m], seed * 7919u, &other);
            assert_captures_equal(&whole.cap, &other.cap);
            assert_int_equal(whole.degraded, other.degraded);
            assert_int_equal(whole.finish_rc, other.finish_rc);
            run_free(&other);
        }
    }
    run_free(&whole);
}

/* ---- content helpers -------------------------------------------------- */

static uint8_t *make_content(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n != 0 ? n : 1);
    uint32_t st = seed;

    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rng_next(&st);
    }
    return p;
}

static void sha_hex(const uint8_t *p, size_t n, char hex[GW_SHA256_HEX_LEN])
{
    assert_int_equal(gw_sha256_hex(p, n, hex), GW_OK);
}

static void handshake(struct script *sc)
{
    c_init(seg(sc, C, false));
    s_version(seg(sc, S, false), 3);
}

#define CHUNK 32768u

/* put: OPEN, pipelined WRITEs acked two at a time, CLOSE. */
static void script_put(struct script *sc, uint32_t id0, const char *path,
                       const char *handle, uint32_t pflags, const uint8_t *data,
                       size_t n)
{
    uint32_t id = id0;
    size_t off = 0;

    c_open(seg(sc, C, false), id, path, pflags);
    s_handle(seg(sc, S, false), id++, handle);
    while (off < n || off == 0) {
        struct buf *cw = seg(sc, C, off != 0);
        struct buf *sa = NULL;
        uint32_t first = id;
        for (int k = 0; k < 2 && off < n; k++) {
            size_t len = n - off < CHUNK ? n - off : CHUNK;
            c_write(cw, id++, handle, off, data + off, len);
            off += len;
        }
        sa = seg(sc, S, false);
        for (uint32_t w = first; w < id; w++) {
            s_status(sa, w, 0, "Success");
        }
        if (n == 0) {
            break;
        }
    }
    c_handle_op(seg(sc, C, true), T_CLOSE, id, handle);
    s_status(seg(sc, S, false), id, 0, "Success");
}

/* get: OPEN, READs pipelined past EOF, a short last DATA that makes the
 * client re-request the rest, EOF, CLOSE (OpenSSH's sftp_download). */
static void script_get(struct script *sc, uint32_t id0, const char *path,
                       const char *handle, const uint8_t *data, size_t n)
{
    uint32_t id = id0;
    uint32_t reads = (uint32_t)(n / CHUNK) + 2;
    struct buf *c = NULL;
    struct buf *s = NULL;
    uint64_t tail = (uint64_t)(n / CHUNK) * CHUNK;

    c_open(seg(sc, C, false), id, path, FL_READ);
    s_handle(seg(sc, S, false), id++, handle);
    c = seg(sc, C, false);
    for (uint32_t i = 0; i < reads; i++) {
        c_read(c, id + i, handle, (uint64_t)i * CHUNK, CHUNK);
    }
    s = seg(sc, S, false);
    for (uint32_t i = 0; i < reads; i++) {
        uint64_t off = (uint64_t)i * CHUNK;
        if (off < n) {
            size_t len = n - off < CHUNK ? n - off : CHUNK;
            s_data(s, id + i, data + off, len);
        } else {
            s_status(s, id + i, 1, "End of file");
        }
    }
    id += reads;
    if (n % CHUNK != 0) {
        /* the short read at tail: re-request the remainder */
        c_read(seg(sc, C, true), id, handle, n, (uint32_t)(tail + CHUNK - n));
        s_status(seg(sc, S, false), id++, 1, "End of file");
    }
    c_handle_op(seg(sc, C, false), T_CLOSE, id, handle);
    s_status(seg(sc, S, false), id, 0, "Success");
}

/* ---- tests: transfers ------------------------------------------------- */

static void test_put_whole_file(void **state)
{
    struct script sc = {0};
    struct run r;
    size_t n = 100000;
    uint8_t *data = make_content(n, 42);
    char hex[GW_SHA256_HEX_LEN];

    (void)state;
    sha_hex(data, n, hex);
    handshake(&sc);
    script_put(&sc, 1, "/upload/data.bin", "h0", FL_PUT, data, n);
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 1);
    assert_string_equal(r.cap.recs[0].op, "write");
    assert_string_equal(r.cap.recs[0].path, "/upload/data.bin");
    assert_int_equal(r.cap.recs[0].bytes_written, n);
    assert_int_equal(r.cap.recs[0].write_end, n);
    assert_int_equal(r.cap.recs[0].bytes_read, 0);
    assert_string_equal(r.cap.recs[0].sha256, hex);
    assert_true(r.cap.recs[0].whole_file);
    assert_int_equal(r.cap.recs[0].status, 0);
    assert_string_equal(r.cap.recs[0].status_text, "ok");
    assert_int_equal(r.cap.recs[0].pflags, FL_PUT);
    assert_int_equal(r.cap.recs[0].attrs.perm, 0644);
    assert_int_equal(r.cap.recs[0].file_seq, 1);
    /* the file was on record from its OPEN on */
    assert_int_equal(r.cap.nopen, 1);
    assert_string_equal(r.cap.opens[0].op, "write");
    assert_string_equal(r.cap.opens[0].path, "/upload/data.bin");
    assert_int_equal(r.cap.opens[0].pflags, FL_PUT);
    assert_int_equal(r.cap.opens[0].attrs.perm, 0644);
    assert_false(r.degraded);
    assert_int_equal(r.finish_rc, GW_OK);
    assert_int_equal(r.stats.pending, 0);
    assert_int_equal(r.stats.open, 0);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
    free(data);
}

static void test_get_whole_file(void **state)
{
    static const size_t sizes[] = {100000, 0, 1, CHUNK, 3 * CHUNK};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct script sc = {0};
        struct run r;
        uint8_t *data = make_content(sizes[i], 7);
        char hex[GW_SHA256_HEX_LEN];
        /* OpenSSH's handles are 4 binary bytes; a NUL must not matter */
        static const char handle[] = "\x01";

        sha_hex(data, sizes[i], hex);
        handshake(&sc);
        script_get(&sc, 10, "/srv/export.tar", handle, data, sizes[i]);
        run_script(&sc, FEED_WHOLE, 1, &r);
        assert_int_equal(r.cap.n, 1);
        assert_string_equal(r.cap.recs[0].op, "read");
        assert_string_equal(r.cap.recs[0].path, "/srv/export.tar");
        assert_int_equal(r.cap.recs[0].bytes_read, sizes[i]);
        assert_int_equal(r.cap.recs[0].bytes_written, 0);
        assert_string_equal(r.cap.recs[0].sha256, hex);
        assert_true(r.cap.recs[0].whole_file);
        assert_int_equal(r.cap.recs[0].status, 0);
        assert_false(r.degraded);
        run_free(&r);
        assert_chunking_invariant(&sc);
        script_free(&sc);
        free(data);
    }
}

static void test_out_of_order_read_has_no_hash(void **state)
{
    struct script sc = {0};
    struct run r;
    size_t n = 2 * CHUNK;
    uint8_t *data = make_content(n, 3);
    struct buf *b = NULL;

    (void)state;
    handshake(&sc);
    c_open(seg(&sc, C, false), 1, "/f", FL_READ);
    s_handle(seg(&sc, S, false), 1, "h");
    b = seg(&sc, C, false);
    c_read(b, 2, "h", 0, CHUNK);
    c_read(b, 3, "h", CHUNK, CHUNK);
    c_read(b, 4, "h", 2 * CHUNK, CHUNK);
    b = seg(&sc, S, false);
    s_data(b, 3, data + CHUNK, CHUNK); /* second chunk first */
    s_data(b, 2, data, CHUNK);
    s_status(b, 4, 1, "EOF");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 5, "h");
    s_status(seg(&sc, S, false), 5, 0, "");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 1);
    assert_string_equal(r.cap.recs[0].op, "read");
    assert_int_equal(r.cap.recs[0].bytes_read, n);
    assert_string_equal(r.cap.recs[0].sha256, "");
    assert_false(r.cap.recs[0].whole_file);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
    free(data);
}

static void test_read_not_from_start_has_no_hash(void **state)
{
    struct script sc = {0};
    struct run r;
    uint8_t *data = make_content(100, 3);

    (void)state;
    c_open(seg(&sc, C, false), 1, "/f", FL_READ);
    s_handle(seg(&sc, S, false), 1, "h");
    c_read(seg(&sc, C, false), 2, "h", 50, 100); /* reget */
    s_data(seg(&sc, S, false), 2, data + 50, 50);
    c_read(seg(&sc, C, false), 3, "h", 100, 100);
    s_status(seg(&sc, S, false), 3, 1, "EOF");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 4, "h");
    s_status(seg(&sc, S, false), 4, 0, "");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 1);
    assert_int_equal(r.cap.recs[0].bytes_read, 50);
    assert_string_equal(r.cap.recs[0].sha256, "");
    run_free(&r);
    script_free(&sc);
    free(data);
}

static void test_write_needs_trunc_for_hash(void **state)
{
    static const uint32_t flags[] = {
        GW_SFTP_FXF_WRITE | GW_SFTP_FXF_CREAT,
        GW_SFTP_FXF_WRITE,
        GW_SFTP_FXF_WRITE | GW_SFTP_FXF_APPEND | GW_SFTP_FXF_CREAT,
    };
    size_t n = 70000;
    uint8_t *data = make_content(n, 9);

    (void)state;
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        struct script sc = {0};
        struct run r;
        script_put(&sc, 1, "/existing", "h1", flags[i], data, n);
        run_script(&sc, FEED_WHOLE, 1, &r);
        assert_int_equal(r.cap.n, 1);
        assert_string_equal(r.cap.recs[0].op, "write");
        assert_int_equal(r.cap.recs[0].bytes_written, n);
        assert_string_equal(r.cap.recs[0].sha256, "");
        assert_false(r.cap.recs[0].whole_file);
        assert_int_equal(r.cap.recs[0].status, 0);
        run_free(&r);
        script_free(&sc);
    }
    free(data);
}

static void test_write_create_excl_hashes(void **state)
{
    struct script sc = {0};
    struct run r;
    size_t n = 5000;
    uint8_t *data = make_content(n, 11);
    char hex[GW_SHA256_HEX_LEN];
    uint32_t fl = GW_SFTP_FXF_WRITE | GW_SFTP_FXF_CREAT | GW_SFTP_FXF_EXCL;

    (void)state;
    sha_hex(data, n, hex);
    script_put(&sc, 1, "/new", "h1", fl, data, n);
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 1);
    assert_string_equal(r.cap.recs[0].sha256, hex);
    run_free(&r);
    script_free(&sc);
    free(data);
}

/* Writes at 0 and 2*CHUNK, then CHUNK, then (when fail) a failing one. */
static void script_gap(struct script *sc, const uint8_t *data, bool fail)
{
    struct buf *b = NULL;

    c_open(seg(sc, C, false), 1, "/gap", FL_PUT);
    s_handle(seg(sc, S, false), 1, "h");
    b = seg(sc, C, false);
    c_write(b, 2, "h", 0, data, CHUNK);
    c_write(b, 3, "h", 2 * CHUNK, data + 2 * CHUNK, CHUNK); /* a hole */
    c_write(b, 4, "h", CHUNK, data + CHUNK, fail ? CHUNK : 0);
    b = seg(sc, S, false);
    s_status(b, 2, 0, "");
    s_status(b, 3, 0, "");
    s_status(b, 4, fail ? 4 : 0, fail ? "Failure" : "");
    c_handle_op(seg(sc, C, false), T_CLOSE, 5, "h");
    s_status(seg(sc, S, false), 5, 0, "");
}

static void test_write_gap_and_failure(void **state)
{
    uint8_t *data = make_content(3 * CHUNK, 5);

    (void)state;
    for (int fail = 0; fail < 2; fail++) {
        struct script sc = {0};
        struct run r;
        script_gap(&sc, data, fail != 0);
        run_script(&sc, FEED_WHOLE, 1, &r);
        assert_int_equal(r.cap.n, 1);
        assert_string_equal(r.cap.recs[0].op, "write");
        /* a failed WRITE is not counted */
        assert_int_equal(r.cap.recs[0].bytes_written, 2 * CHUNK);
        assert_int_equal(r.cap.recs[0].write_end, 3 * CHUNK);
        assert_string_equal(r.cap.recs[0].sha256, "");
        /* the failed WRITE, not the CLOSE, decides the status */
        assert_int_equal(r.cap.recs[0].status, fail ? 4 : 0);
        assert_string_equal(r.cap.recs[0].status_text, fail ? "failure" : "ok");
        run_free(&r);
        assert_chunking_invariant(&sc);
        script_free(&sc);
    }
    free(data);
}

/* A short read the client does not re-request leaves a hole before EOF. */
static void test_read_hole_before_eof(void **state)
{
    struct script sc = {0};
    struct run r;
    uint8_t *data = make_content(CHUNK, 3);
    struct buf *b = NULL;

    (void)state;
    c_open(seg(&sc, C, false), 1, "/f", FL_READ);
    s_handle(seg(&sc, S, false), 1, "h");
    b = seg(&sc, C, false);
    c_read(b, 2, "h", 0, CHUNK);
    c_read(b, 3, "h", CHUNK, CHUNK);
    b = seg(&sc, S, false);
    s_data(b, 2, data, 10);
    s_status(b, 3, 1, "EOF");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 4, "h");
    s_status(seg(&sc, S, false), 4, 0, "");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 1);
    assert_int_equal(r.cap.recs[0].bytes_read, 10);
    assert_string_equal(r.cap.recs[0].sha256, "");
    assert_false(r.cap.recs[0].whole_file);
    run_free(&r);
    script_free(&sc);
    free(data);
}

static void test_empty_upload(void **state)
{
    struct script sc = {0};
    struct run r;

    (void)state;
    script_put(&sc, 1, "/empty", "h", FL_PUT, NULL, 0);
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 1);
    assert_string_equal(r.cap.recs[0].op, "write");
    assert_int_equal(r.cap.recs[0].bytes_written, 0);
    assert_string_equal(r.cap.recs[0].sha256, EMPTY_SHA256);
    run_free(&r);
    script_free(&sc);
}

static void test_fsetstat(void **state)
{
    struct script sc = {0};
    struct run r;
    uint8_t *data = make_content(1000, 1);
    char hex[GW_SHA256_HEX_LEN];
    struct buf *b = NULL;
    size_t s = 0;

    (void)state;
    sha_hex(data, 1000, hex);
    for (int truncate = 0; truncate < 2; truncate++) {
        c_open(seg(&sc, C, false), 1, "/f", FL_PUT);
        s_handle(seg(&sc, S, false), 1, "h");
        c_write(seg(&sc, C, false), 2, "h", 0, data, 1000);
        s_status(seg(&sc, S, false), 2, 0, "");
        b = seg(&sc, C, false);
        s = pkt_begin(b, T_FSETSTAT);
        put_u32(b, 3);
        put_str(b, "h");
        put_u32(b, truncate ? GW_SFTP_ATTR_SIZE : GW_SFTP_ATTR_PERMISSIONS);
        truncate ? put_u64(b, 10) : put_u32(b, 0600);
        pkt_end(b, s);
        s_status(seg(&sc, S, false), 3, 0, "");
        c_handle_op(seg(&sc, C, false), T_CLOSE, 4, "h");
        s_status(seg(&sc, S, false), 4, 0, "");
        run_script(&sc, FEED_WHOLE, 1, &r);
        assert_int_equal(r.cap.n, 2);
        assert_string_equal(r.cap.recs[0].op, "fsetstat");
        assert_string_equal(r.cap.recs[0].path, "/f");
        assert_string_equal(r.cap.recs[1].op, "write");
        if (truncate) {
            assert_int_equal(r.cap.recs[0].attrs.size, 10);
            assert_string_equal(r.cap.recs[1].sha256, "");
        } else {
            assert_int_equal(r.cap.recs[0].attrs.perm, 0600);
            assert_string_equal(r.cap.recs[1].sha256, hex);
        }
        run_free(&r);
        script_free(&sc);
    }
    free(data);
}

/* ---- tests: uploads without TRUNC, truncated to what was written ------ */

#define FL_SCP (GW_SFTP_FXF_WRITE | GW_SFTP_FXF_CREAT)

/* FSETSTAT of the size only, as OpenSSH's do_upload (sftp_upload since
 * 9.5) sends its truncate. */
static void c_fsetstat_size(struct buf *b, uint32_t id, const char *handle,
                            uint64_t size)
{
    size_t s = pkt_begin(b, T_FSETSTAT);

    put_u32(b, id);
    put_str(b, handle);
    put_u32(b, GW_SFTP_ATTR_SIZE);
    put_u64(b, size);
    pkt_end(b, s);
}

/* WRITEs of data[off, off + n) in CHUNK pieces, two at a time; a pair
 * may cross the acknowledgements of the one before it. */
static void script_writes(struct script *sc, uint32_t *id, const char *handle,
                          const uint8_t *data, size_t off, size_t n)
{
    size_t start = off;
    size_t end = off + n;

    while (off < end) {
        struct buf *cw = seg(sc, C, off != start);
        struct buf *sa = NULL;
        uint32_t first = *id;
        for (int k = 0; k < 2 && off < end; k++) {
            size_t len = end - off < CHUNK ? end - off : CHUNK;
            c_write(cw, (*id)++, handle, off, data + off, len);
            off += len;
        }
        sa = seg(sc, S, false);
        for (uint32_t w = first; w < *id; w++) {
            s_status(sa, w, 0, "Success");
        }
    }
}

/*
 * What scp of OpenSSH 9.2 (SFTP mode) sends, as captured from
 * `scp -D sftp-server`: STAT, OPEN with WRITE|CREAT and no TRUNC, the
 * WRITEs in order, then once every WRITE is acknowledged an FSETSTAT of
 * the size to what was written, and with -p a second FSETSTAT of the mode
 * and times. Its ids are as on the wire: the WRITEs start one past the
 * id the FSETSTAT then takes, so the CLOSE reuses the first WRITE's id.
 */
static void script_scp(struct script *sc, const uint8_t *data, size_t n,
                       bool preserve)
{
    uint32_t id = 5;
    uint32_t next = 4;
    struct buf *b = NULL;
    size_t s = 0;

    handshake(sc);
    c_path1(seg(sc, C, false), T_STAT, 2, "/up/scp.bin");
    s_status(seg(sc, S, false), 2, 2, "No such file");
    c_open(seg(sc, C, false), 3, "/up/scp.bin", FL_SCP);
    s_handle(seg(sc, S, false), 3, "h");
    script_writes(sc, &id, "h", data, 0, n);
    c_fsetstat_size(seg(sc, C, false), next, "h", n);
    s_status(seg(sc, S, false), next++, 0, "Success");
    if (preserve) {
        b = seg(sc, C, false);
        s = pkt_begin(b, T_FSETSTAT);
        put_u32(b, next);
        put_str(b, "h");
        put_u32(b, GW_SFTP_ATTR_PERMISSIONS | GW_SFTP_ATTR_ACMODTIME);
        put_u32(b, 0644);
        put_u32(b, 1700000000);
        put_u32(b, 1700000000);
        pkt_end(b, s);
        s_status(seg(sc, S, false), next++, 0, "Success");
    }
    c_handle_op(seg(sc, C, false), T_CLOSE, next, "h");
    s_status(seg(sc, S, false), next, 0, "Success");
}

static void test_scp_upload_hashes(void **state)
{
    static const size_t sizes[] = {100000, 0, 1, CHUNK, 5 * CHUNK + 7};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int preserve = 0; preserve < 2; preserve++) {
            struct script sc = {0};
            struct run r;
            uint8_t *data = make_content(sizes[i], 21);
            char hex[GW_SHA256_HEX_LEN];
            const struct rec *w = NULL;

            sha_hex(data, sizes[i], hex);
            script_scp(&sc, data, sizes[i], preserve != 0);
            run_script(&sc, FEED_WHOLE, 1, &r);
            /* fsetstat (size), [fsetstat (mode, times)], then the file */
            assert_int_equal(r.cap.n, preserve ? 3 : 2);
            assert_string_equal(r.cap.recs[0].op, "fsetstat");
            assert_int_equal(r.cap.recs[0].attrs.size, sizes[i]);
            w = &r.cap.recs[r.cap.n - 1];
            assert_string_equal(w->op, "write");
            assert_string_equal(w->path, "/up/scp.bin");
            assert_int_equal(w->pflags, FL_SCP);
            assert_int_equal(w->bytes_written, sizes[i]);
            assert_int_equal(w->write_end, sizes[i]);
            assert_string_equal(w->sha256, hex);
            assert_true(w->whole_file);
            assert_int_equal(w->status, 0);
            assert_false(r.degraded);
            assert_int_equal(r.stats.pending, 0);
            assert_int_equal(r.stats.open, 0);
            run_free(&r);
            assert_chunking_invariant(&sc);
            script_free(&sc);
            free(data);
        }
    }
}

/* An open without TRUNC, then the steps of one case. */
static void script_inplace_open(struct script *sc, uint32_t pflags)
{
    handshake(sc);
    c_open(seg(sc, C, false), 1, "/f", pflags);
    s_handle(seg(sc, S, false), 1, "h");
}

static void script_close(struct script *sc, uint32_t id)
{
    c_handle_op(seg(sc, C, false), T_CLOSE, id, "h");
    s_status(seg(sc, S, false), id, 0, "");
}

/* The row of /f (the last one not of a *setstat) and whether it has the
 * hash of data. */
static void expect_file_hash(const struct script *sc, const uint8_t *data,
                             size_t n, bool hashed)
{
    struct run r;
    char hex[GW_SHA256_HEX_LEN];
    const struct rec *w = NULL;

    sha_hex(data, n, hex);
    run_script(sc, FEED_WHOLE, 1, &r);
    for (size_t i = 0; i < r.cap.n; i++) {
        if (strstr(r.cap.recs[i].op, "setstat") == NULL) {
            w = &r.cap.recs[i];
        }
    }
    assert_non_null(w);
    assert_string_equal(w->path, "/f");
    assert_string_equal(w->sha256, hashed ? hex : "");
    assert_int_equal(w->whole_file, hashed);
    run_free(&r);
    assert_chunking_invariant(sc);
}

/* Truncated to 0 before the first WRITE, acknowledged, then written in
 * order: the file started empty after all. Also with a second truncate to
 * the end and more data after it. */
static void test_truncate_before_write_hashes(void **state)
{
    size_t n = 3 * CHUNK + 100;
    uint8_t *data = make_content(2 * n, 4);

    (void)state;
    for (int more = 0; more < 2; more++) {
        struct script sc = {0};
        uint32_t id = 3;
        script_inplace_open(&sc, FL_WRITE);
        c_fsetstat_size(seg(&sc, C, false), 2, "h", 0);
        s_status(seg(&sc, S, false), 2, 0, "");
        script_writes(&sc, &id, "h", data, 0, n);
        if (more) {
            c_fsetstat_size(seg(&sc, C, false), id, "h", n);
            s_status(seg(&sc, S, false), id++, 0, "");
            script_writes(&sc, &id, "h", data, n, n);
        }
        script_close(&sc, id);
        expect_file_hash(&sc, data, more ? 2 * n : n, true);
        script_free(&sc);
    }
    free(data);
}

/* The truncate to the end may also be sent with WRITEs still unanswered:
 * whichever the server runs first, the file ends up holding the data. */
static void test_truncate_after_pipelined_writes_hashes(void **state)
{
    struct script sc = {0};
    size_t n = 2 * CHUNK;
    uint8_t *data = make_content(n, 5);
    struct buf *b = NULL;

    (void)state;
    script_inplace_open(&sc, FL_SCP);
    b = seg(&sc, C, false);
    c_write(b, 2, "h", 0, data, CHUNK);
    c_write(b, 3, "h", CHUNK, data + CHUNK, CHUNK);
    c_fsetstat_size(b, 4, "h", n);
    b = seg(&sc, S, false);
    s_status(b, 2, 0, "");
    s_status(b, 3, 0, "");
    s_status(b, 4, 0, "");
    script_close(&sc, 5);
    expect_file_hash(&sc, data, n, true);
    script_free(&sc);
    free(data);
}

/* Truncates that leave the content unknown: to a size other than what was
 * written in order (shorter, longer, to 0 after the data), or none. */
static void test_truncate_to_other_size_has_no_hash(void **state)
{
    size_t n = 2 * CHUNK + 5;
    const uint64_t sizes[] = {n - 1, n + 1, 0, 1};
    uint8_t *data = make_content(n, 6);

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct script sc = {0};
        uint32_t id = 2;
        script_inplace_open(&sc, FL_SCP);
        script_writes(&sc, &id, "h", data, 0, n);
        c_fsetstat_size(seg(&sc, C, false), id, "h", sizes[i]);
        s_status(seg(&sc, S, false), id++, 0, "");
        script_close(&sc, id);
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    /* and a truncate to the end followed by a rewrite before it */
    {
        struct script sc = {0};
        uint32_t id = 2;
        script_inplace_open(&sc, FL_SCP);
        script_writes(&sc, &id, "h", data, 0, n);
        c_fsetstat_size(seg(&sc, C, false), id, "h", n);
        s_status(seg(&sc, S, false), id++, 0, "");
        c_write(seg(&sc, C, false), id, "h", 0, data, 10);
        s_status(seg(&sc, S, false), id++, 0, "");
        script_close(&sc, id);
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    free(data);
}

/* WRITEs out of order, with a hole, or failed, then a truncate to the
 * end: the truncate cannot make up for them. */
static void test_truncate_after_bad_writes_has_no_hash(void **state)
{
    uint8_t *data = make_content(3 * CHUNK, 7);

    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        struct script sc = {0};
        struct buf *b = NULL;
        script_inplace_open(&sc, FL_SCP);
        b = seg(&sc, C, false);
        if (kind == 0) { /* out of order */
            c_write(b, 2, "h", CHUNK, data + CHUNK, CHUNK);
            c_write(b, 3, "h", 0, data, CHUNK);
            c_write(b, 4, "h", 2 * CHUNK, data + 2 * CHUNK, CHUNK);
        } else if (kind == 1) { /* a hole at [CHUNK, 2 * CHUNK) */
            c_write(b, 2, "h", 0, data, CHUNK);
            c_write(b, 3, "h", 2 * CHUNK, data + 2 * CHUNK, CHUNK);
            c_write(b, 4, "h", 3 * CHUNK, data, 0);
        } else { /* in order, the second one failing */
            c_write(b, 2, "h", 0, data, CHUNK);
            c_write(b, 3, "h", CHUNK, data + CHUNK, CHUNK);
            c_write(b, 4, "h", 2 * CHUNK, data + 2 * CHUNK, CHUNK);
        }
        b = seg(&sc, S, false);
        s_status(b, 2, 0, "");
        s_status(b, 3, kind == 2 ? 4 : 0, "");
        s_status(b, 4, 0, "");
        c_fsetstat_size(seg(&sc, C, false), 5, "h", 3 * CHUNK);
        s_status(seg(&sc, S, false), 5, 0, "");
        script_close(&sc, 6);
        expect_file_hash(&sc, data, 3 * CHUNK, false);
        script_free(&sc);
    }
    free(data);
}

/* The truncate must be acknowledged ok, and answered before any WRITE
 * that follows it is sent: a server may run the two in either order. */
static void test_truncate_unconfirmed_has_no_hash(void **state)
{
    size_t n = CHUNK + 1;
    uint8_t *data = make_content(n, 8);

    (void)state;
    /* truncate to 0 refused (4 failure), then the data in order */
    for (int refused = 0; refused < 2; refused++) {
        struct script sc = {0};
        uint32_t id = 3;
        struct buf *b = NULL;
        script_inplace_open(&sc, FL_SCP);
        if (refused) {
            c_fsetstat_size(seg(&sc, C, false), 2, "h", 0);
            s_status(seg(&sc, S, false), 2, 4, "Failure");
            script_writes(&sc, &id, "h", data, 0, n);
        } else {
            /* WRITEs sent before the truncate to 0 is answered */
            b = seg(&sc, C, false);
            c_fsetstat_size(b, 2, "h", 0);
            c_write(b, 3, "h", 0, data, n);
            b = seg(&sc, S, false);
            s_status(b, 2, 0, "");
            s_status(b, 3, 0, "");
            id = 4;
        }
        script_close(&sc, id);
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    /* a size change refused on a file opened with TRUNC: the server may
     * have truncated before failing on the mode (OpenSSH's does) */
    {
        struct script sc = {0};
        uint32_t id = 2;
        struct buf *b = NULL;
        size_t s = 0;
        script_inplace_open(&sc, FL_PUT);
        script_writes(&sc, &id, "h", data, 0, n);
        b = seg(&sc, C, false);
        s = pkt_begin(b, T_FSETSTAT);
        put_u32(b, id);
        put_str(b, "h");
        put_u32(b, GW_SFTP_ATTR_SIZE | GW_SFTP_ATTR_PERMISSIONS);
        put_u64(b, 10);
        put_u32(b, 0600);
        pkt_end(b, s);
        s_status(seg(&sc, S, false), id++, 3, "Permission denied");
        script_close(&sc, id);
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    /* closed while a size change is unanswered (a server may answer out
     * of order): whether the file was cut is not known at the CLOSE */
    {
        struct script sc = {0};
        uint32_t id = 2;
        struct buf *b = NULL;
        script_inplace_open(&sc, FL_PUT);
        script_writes(&sc, &id, "h", data, 0, n);
        b = seg(&sc, C, false);
        c_fsetstat_size(b, id, "h", 10);
        c_handle_op(b, T_CLOSE, id + 1, "h");
        b = seg(&sc, S, false);
        s_status(b, id + 1, 0, "");
        s_status(b, id, 0, "");
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    /* truncate to the end refused */
    {
        struct script sc = {0};
        uint32_t id = 2;
        script_inplace_open(&sc, FL_SCP);
        script_writes(&sc, &id, "h", data, 0, n);
        c_fsetstat_size(seg(&sc, C, false), id, "h", n);
        s_status(seg(&sc, S, false), id++, 3, "Permission denied");
        script_close(&sc, id);
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    free(data);
}

/* The channel ends with the truncate unanswered: the row is incomplete and
 * without a hash. */
static void test_truncate_lost_has_no_hash(void **state)
{
    struct script sc = {0};
    struct run r;
    size_t n = 1000;
    uint8_t *data = make_content(n, 9);
    uint32_t id = 2;

    (void)state;
    script_inplace_open(&sc, FL_SCP);
    script_writes(&sc, &id, "h", data, 0, n);
    c_fsetstat_size(seg(&sc, C, false), id, "h", n);
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 2);
    assert_string_equal(r.cap.recs[0].op, "fsetstat");
    assert_int_equal(r.cap.recs[0].status, GW_SFTP_STATUS_INCOMPLETE);
    assert_string_equal(r.cap.recs[1].op, "write");
    assert_int_equal(r.cap.recs[1].status, GW_SFTP_STATUS_INCOMPLETE);
    assert_int_equal(r.cap.recs[1].bytes_written, n);
    assert_string_equal(r.cap.recs[1].sha256, "");
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
    free(data);
}

/* Truncates the audit does not tie to the file: with APPEND (the data went
 * after old content of unknown length), by path (SETSTAT), or through
 * another handle. */
static void test_truncate_not_of_this_file_has_no_hash(void **state)
{
    size_t n = 500;
    uint8_t *data = make_content(n, 10);

    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        struct script sc = {0};
        uint32_t id = 2;
        struct buf *b = NULL;
        size_t s = 0;
        script_inplace_open(&sc,
                            kind == 0 ? FL_SCP | GW_SFTP_FXF_APPEND : FL_SCP);
        if (kind == 2) {
            c_open(seg(&sc, C, false), 20, "/other", FL_SCP);
            s_handle(seg(&sc, S, false), 20, "o");
        }
        script_writes(&sc, &id, "h", data, 0, n);
        b = seg(&sc, C, false);
        if (kind == 1) {
            s = pkt_begin(b, T_SETSTAT);
            put_u32(b, id);
            put_str(b, "/f");
            put_u32(b, GW_SFTP_ATTR_SIZE);
            put_u64(b, n);
            pkt_end(b, s);
        } else {
            c_fsetstat_size(b, id, kind == 2 ? "o" : "h", n);
        }
        s_status(seg(&sc, S, false), id++, 0, "");
        if (kind == 2) {
            c_handle_op(seg(&sc, C, false), T_CLOSE, 21, "o");
            s_status(seg(&sc, S, false), 21, 0, "");
        }
        script_close(&sc, id);
        expect_file_hash(&sc, data, n, false);
        script_free(&sc);
    }
    free(data);
}

/* Reading a file opened for writing without TRUNC tells nothing about what
 * was written: a whole read reports the data read, as any download; a
 * partial read with nothing written reports no hash. */
static void test_inplace_reads(void **state)
{
    size_t n = 300;
    uint8_t *data = make_content(n, 11);

    (void)state;
    for (int whole = 0; whole < 2; whole++) {
        struct script sc = {0};
        struct run r;
        char hex[GW_SHA256_HEX_LEN];
        struct buf *b = NULL;
        script_inplace_open(&sc, FL_READ | FL_WRITE);
        b = seg(&sc, C, false);
        c_read(b, 2, "h", 0, (uint32_t)n);
        c_read(b, 3, "h", n, (uint32_t)n);
        b = seg(&sc, S, false);
        s_data(b, 2, data, n);
        if (whole) {
            s_status(b, 3, 1, "EOF");
        } else {
            s_data(b, 3, data, 10); /* more data: not the end */
        }
        script_close(&sc, 4);
        run_script(&sc, FEED_WHOLE, 1, &r);
        assert_int_equal(r.cap.n, 1);
        assert_string_equal(r.cap.recs[0].op, "read");
        sha_hex(data, n, hex);
        assert_string_equal(r.cap.recs[0].sha256, whole ? hex : "");
        run_free(&r);
        assert_chunking_invariant(&sc);
        script_free(&sc);
    }
    free(data);
}

static void test_read_write_and_open_only(void **state)
{
    struct script sc = {0};
    struct run r;
    uint8_t *data = make_content(10, 1);

    (void)state;
    /* opened for reading, closed with nothing read */
    c_open(seg(&sc, C, false), 1, "/peek", FL_READ);
    s_handle(seg(&sc, S, false), 1, "a");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 2, "a");
    s_status(seg(&sc, S, false), 2, 0, "");
    /* read then written through one handle */
    c_open(seg(&sc, C, false), 3, "/rw", FL_READ | FL_WRITE);
    s_handle(seg(&sc, S, false), 3, "b");
    c_read(seg(&sc, C, false), 4, "b", 0, 10);
    s_data(seg(&sc, S, false), 4, data, 10);
    c_write(seg(&sc, C, false), 5, "b", 10, data, 10);
    s_status(seg(&sc, S, false), 5, 0, "");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 6, "b");
    s_status(seg(&sc, S, false), 6, 0, "");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 2);
    assert_string_equal(r.cap.recs[0].op, "open");
    assert_string_equal(r.cap.recs[1].op, "read+write");
    assert_int_equal(r.cap.recs[1].bytes_read, 10);
    assert_int_equal(r.cap.recs[1].bytes_written, 10);
    assert_int_equal(r.cap.recs[1].write_end, 20);
    assert_string_equal(r.cap.recs[1].sha256, "");
    run_free(&r);
    script_free(&sc);
    free(data);
}

/* ---- tests: path operations ------------------------------------------- */

struct expect {
    const char *op;
    const char *path;
    const char *path2;
    int status;
};

static void check_records(const struct run *r, const struct expect *e, size_t n)
{
    assert_int_equal(r->cap.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r->cap.recs[i].op, e[i].op);
        assert_string_equal(r->cap.recs[i].path, e[i].path);
        assert_string_equal(r->cap.recs[i].path2, e[i].path2);
        assert_int_equal(r->cap.recs[i].status, e[i].status);
    }
}

/* Every path operation once, ok or failed; two queries in between. */
static void script_pathops(struct script *sc)
{
    struct buf *c = seg(sc, C, false);
    struct buf *s = NULL;
    size_t p = 0;

    c_path1(c, T_REMOVE, 1, "/a");
    c_path1(c, T_REMOVE, 2, "/missing");
    c_path2(c, T_RENAME, 3, "/old", "/new");
    c_path_perm(c, T_MKDIR, 4, "/d", 0755);
    c_path1(c, T_RMDIR, 5, "/d2");
    c_path_perm(c, T_SETSTAT, 6, "/a", 0600);
    /* OpenSSH's order: target first, then the link to create */
    c_path2(c, T_SYMLINK, 7, "/target", "/link");
    c_ext_path2(c, 8, "posix-rename@openssh.com", "/p1", "/p2");
    c_ext_path2(c, 9, "hardlink@openssh.com", "/orig", "/hl");
    c_ext_path2(c, 10, "statvfs@openssh.com", "/", NULL); /* no record */
    c_path1(c, T_STAT, 11, "/a");                         /* no record */
    p = pkt_begin(c, T_EXTENDED);
    put_u32(c, 12);
    put_str(c, "lsetstat@openssh.com");
    put_str(c, "/l");
    put_u32(c, GW_SFTP_ATTR_UIDGID);
    put_u32(c, 1000);
    put_u32(c, 1001);
    pkt_end(c, p);
    s = seg(sc, S, false);
    for (uint32_t id = 1; id <= 10; id++) {
        static const uint32_t codes[] = {0, 0, 2, 0, 0, 4, 3, 0, 0, 0, 0};
        s_status(s, id, codes[id], codes[id] == 2 ? "No such file" : "");
    }
    p = pkt_begin(s, T_ATTRS);
    put_u32(s, 11);
    put_u32(s, 0);
    pkt_end(s, p);
    s_status(s, 12, 8, "Operation unsupported");
}

static void test_path_operations(void **state)
{
    static const struct expect want[] = {
        {"remove", "/a", "", 0},
        {"remove", "/missing", "", 2},
        {"rename", "/old", "/new", 0},
        {"mkdir", "/d", "", 0},
        {"rmdir", "/d2", "", 4},
        {"setstat", "/a", "", 3},
        {"symlink", "/link", "/target", 0},
        {"posix-rename", "/p1", "/p2", 0},
        {"hardlink", "/hl", "/orig", 0},
        {"lsetstat", "/l", "", 8},
    };
    struct script sc = {0};
    struct run r;

    (void)state;
    handshake(&sc);
    script_pathops(&sc);
    run_script(&sc, FEED_WHOLE, 1, &r);
    check_records(&r, want, sizeof(want) / sizeof(want[0]));
    assert_string_equal(r.cap.recs[1].status_text, "no such file");
    assert_string_equal(r.cap.recs[1].message, "No such file");
    assert_int_equal(r.cap.recs[3].attrs.flags, GW_SFTP_ATTR_PERMISSIONS);
    assert_int_equal(r.cap.recs[3].attrs.perm, 0755);
    assert_int_equal(r.cap.recs[5].attrs.perm, 0600);
    assert_int_equal(r.cap.recs[9].attrs.uid, 1000);
    assert_int_equal(r.cap.recs[9].attrs.gid, 1001);
    assert_false(r.degraded);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
}

static void test_open_fails(void **state)
{
    struct script sc = {0};
    struct run r;

    (void)state;
    c_open(seg(&sc, C, false), 1, "/nope", FL_READ);
    s_status(seg(&sc, S, false), 1, 2, "No such file");
    c_open(seg(&sc, C, false), 2, "/ro/x", FL_PUT);
    s_status(seg(&sc, S, false), 2, 3, "Permission denied");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 2);
    assert_string_equal(r.cap.recs[0].op, "read");
    assert_string_equal(r.cap.recs[0].path, "/nope");
    assert_int_equal(r.cap.recs[0].status, 2);
    assert_string_equal(r.cap.recs[0].status_text, "no such file");
    assert_string_equal(r.cap.recs[1].op, "write");
    assert_int_equal(r.cap.recs[1].status, 3);
    assert_int_equal(r.cap.recs[1].pflags, FL_PUT);
    /* no handle, no file in flight: the failure is the only row */
    assert_int_equal(r.cap.nopen, 0);
    assert_int_equal(r.cap.recs[0].file_seq, 0);
    assert_int_equal(r.cap.recs[1].file_seq, 0);
    run_free(&r);
    script_free(&sc);
}

/* sftp "cp": two handles and a server-side copy-data between them. */
static void script_copy(struct script *sc)
{
    struct buf *b = NULL;
    size_t p = 0;

    c_open(seg(sc, C, false), 5, "/src", FL_READ);
    s_handle(seg(sc, S, false), 5, "s");
    c_open(seg(sc, C, false), 6, "/dst", FL_PUT);
    s_handle(seg(sc, S, false), 6, "t");
    b = seg(sc, C, false);
    p = pkt_begin(b, T_EXTENDED);
    put_u32(b, 7);
    put_str(b, "copy-data");
    put_str(b, "s");
    put_u64(b, 0);
    put_u64(b, 0);
    put_str(b, "t");
    put_u64(b, 0);
    pkt_end(b, p);
    s_status(seg(sc, S, false), 7, 0, "");
    b = seg(sc, C, false);
    c_handle_op(b, T_CLOSE, 8, "s");
    c_handle_op(b, T_CLOSE, 9, "t");
    b = seg(sc, S, false);
    s_status(b, 8, 0, "");
    s_status(b, 9, 0, "");
}

static void test_listing_and_copy(void **state)
{
    struct script sc = {0};
    struct run r;

    (void)state;
    c_path1(seg(&sc, C, false), T_OPENDIR, 1, "/home/u");
    s_handle(seg(&sc, S, false), 1, "d");
    c_handle_op(seg(&sc, C, false), T_READDIR, 2, "d");
    s_name(seg(&sc, S, false), 2, 3);
    c_handle_op(seg(&sc, C, false), T_READDIR, 3, "d");
    s_status(seg(&sc, S, false), 3, 1, "EOF");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 4, "d");
    s_status(seg(&sc, S, false), 4, 0, "");
    script_copy(&sc);
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 4);
    assert_string_equal(r.cap.recs[0].op, "list");
    assert_string_equal(r.cap.recs[0].path, "/home/u");
    assert_int_equal(r.cap.recs[0].entries, 3);
    assert_string_equal(r.cap.recs[1].op, "copy");
    assert_string_equal(r.cap.recs[1].path, "/src");
    assert_string_equal(r.cap.recs[1].path2, "/dst");
    assert_string_equal(r.cap.recs[2].op, "open");
    assert_string_equal(r.cap.recs[3].op, "write");
    assert_string_equal(r.cap.recs[3].path, "/dst");
    assert_string_equal(r.cap.recs[3].sha256, "");
    /* the directory has no number, the two files 1 and 2 in OPEN order */
    assert_int_equal(r.cap.recs[0].file_seq, 0);
    assert_int_equal(r.cap.recs[1].file_seq, 0);
    assert_int_equal(r.cap.recs[2].file_seq, 1);
    assert_int_equal(r.cap.recs[3].file_seq, 2);
    assert_int_equal(r.cap.nopen, 2);
    assert_string_equal(r.cap.opens[0].op, "read");
    assert_string_equal(r.cap.opens[0].path, "/src");
    assert_string_equal(r.cap.opens[1].op, "write");
    assert_string_equal(r.cap.opens[1].path, "/dst");
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
}

/* ---- tests: the end of the stream ------------------------------------- */

static void test_incomplete_at_finish(void **state)
{
    struct script sc = {0};
    struct run r;
    uint8_t *data = make_content(100, 1);

    (void)state;
    c_open(seg(&sc, C, false), 1, "/half", FL_PUT);
    s_handle(seg(&sc, S, false), 1, "h");
    c_write(seg(&sc, C, false), 2, "h", 0, data, 100);
    s_status(seg(&sc, S, false), 2, 0, "");
    c_write(seg(&sc, C, false), 3, "h", 100, data, 100); /* never acked */
    c_path1(seg(&sc, C, false), T_REMOVE, 4, "/gone?");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.finish_rc, GW_OK);
    assert_false(r.degraded);
    assert_int_equal(r.cap.n, 2);
    assert_string_equal(r.cap.recs[0].op, "remove");
    assert_int_equal(r.cap.recs[0].status, GW_SFTP_STATUS_INCOMPLETE);
    assert_string_equal(r.cap.recs[0].status_text, "incomplete");
    assert_string_equal(r.cap.recs[1].op, "write");
    assert_string_equal(r.cap.recs[1].path, "/half");
    assert_int_equal(r.cap.recs[1].bytes_written, 100);
    assert_string_equal(r.cap.recs[1].sha256, "");
    assert_int_equal(r.cap.recs[1].status, GW_SFTP_STATUS_INCOMPLETE);
    /* the final record replaces the open one with what was acknowledged */
    assert_int_equal(r.cap.recs[1].file_seq, 1);
    assert_int_equal(r.cap.recs[0].file_seq, 0);
    assert_int_equal(r.cap.nopen, 1);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
    free(data);
}

/* A file in flight is on record before any of its data moves: the open
 * record comes with the HANDLE reply, not at the CLOSE. */
static void test_open_record_at_once(void **state)
{
    struct buf b = {0};
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    uint8_t *data = make_content(CHUNK, 9);

    (void)state;
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    c_init(&b);
    c_open(&b, 1, "/big.iso", FL_PUT);
    assert_int_equal(gw_sftp_audit_feed(a, C, b.p, b.len), GW_OK);
    buf_free(&b);
    assert_int_equal(cap.n + cap.nopen, 0); /* not before the server says */
    s_version(&b, 3);
    s_handle(&b, 1, "h");
    assert_int_equal(gw_sftp_audit_feed(a, S, b.p, b.len), GW_OK);
    buf_free(&b);
    assert_int_equal(cap.n, 0);
    assert_int_equal(cap.nopen, 1);
    assert_string_equal(cap.opens[0].op, "write");
    assert_string_equal(cap.opens[0].path, "/big.iso");
    assert_int_equal(cap.opens[0].pflags, FL_PUT);
    assert_int_equal(cap.opens[0].file_seq, 1);
    /* data moves, nothing more is reported until the file ends */
    c_write(&b, 2, "h", 0, data, CHUNK);
    assert_int_equal(gw_sftp_audit_feed(a, C, b.p, b.len), GW_OK);
    buf_free(&b);
    s_status(&b, 2, 0, "");
    assert_int_equal(gw_sftp_audit_feed(a, S, b.p, b.len), GW_OK);
    buf_free(&b);
    assert_int_equal(cap.n + cap.nopen, 1);
    /* a second file, a path operation between them */
    c_open(&b, 3, "/small", FL_READ);
    c_path_perm(&b, T_MKDIR, 4, "/d", 0755);
    assert_int_equal(gw_sftp_audit_feed(a, C, b.p, b.len), GW_OK);
    buf_free(&b);
    s_handle(&b, 3, "i");
    s_status(&b, 4, 0, "");
    assert_int_equal(gw_sftp_audit_feed(a, S, b.p, b.len), GW_OK);
    buf_free(&b);
    assert_int_equal(cap.nopen, 2);
    assert_string_equal(cap.opens[1].op, "read");
    assert_int_equal(cap.opens[1].file_seq, 2);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.recs[0].op, "mkdir");
    assert_int_equal(cap.recs[0].file_seq, 0);
    /* the channel drops: both files end incomplete, under their numbers */
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    assert_all_closed(&cap);
    assert_int_equal(cap.n, 3);
    assert_int_equal(cap.recs[1].file_seq, 1);
    assert_int_equal(cap.recs[1].bytes_written, CHUNK);
    assert_int_equal(cap.recs[1].status, GW_SFTP_STATUS_INCOMPLETE);
    assert_int_equal(cap.recs[2].file_seq, 2);
    assert_string_equal(cap.recs[2].op, "open");
    assert_int_equal(cap.recs[2].status, GW_SFTP_STATUS_INCOMPLETE);
    gw_sftp_audit_free(a);
    capture_free(&cap);
    free(data);
}

/* A handle handed out again while open: the old file ends under its
 * number, the new one starts under the next. */
static void test_handle_reuse_keeps_numbers(void **state)
{
    struct script sc = {0};
    struct run r;

    (void)state;
    c_open(seg(&sc, C, false), 1, "/a", FL_PUT);
    s_handle(seg(&sc, S, false), 1, "h");
    c_open(seg(&sc, C, false), 2, "/b", FL_READ);
    s_handle(seg(&sc, S, false), 2, "h");
    c_handle_op(seg(&sc, C, false), T_CLOSE, 3, "h");
    s_status(seg(&sc, S, false), 3, 0, "");
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_true(r.degraded);
    assert_int_equal(r.cap.nopen, 2);
    assert_int_equal(r.cap.n, 2);
    assert_string_equal(r.cap.recs[0].path, "/a");
    assert_int_equal(r.cap.recs[0].file_seq, 1);
    assert_int_equal(r.cap.recs[0].status, GW_SFTP_STATUS_INCOMPLETE);
    assert_string_equal(r.cap.recs[1].path, "/b");
    assert_int_equal(r.cap.recs[1].file_seq, 2);
    assert_int_equal(r.cap.recs[1].status, 0);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
}

static void test_long_paths(void **state)
{
    struct script sc = {0};
    struct run r;
    char *p6k = malloc(6001);
    char *p20k = malloc(20001);
    struct buf *c = NULL;

    (void)state;
    assert_non_null(p6k);
    assert_non_null(p20k);
    memset(p6k, 'a', 6000);
    p6k[6000] = '\0';
    memset(p20k, 'b', 20000);
    p20k[20000] = '\0';
    c = seg(&sc, C, false);
    c_path1(c, T_REMOVE, 1, p6k);
    c_path1(c, T_REMOVE, 2, p20k);           /* past the prefix */
    c_path2(c, T_RENAME, 3, p20k, "/short"); /* second path unseen */
    c_path_perm(c, T_MKDIR, 4, p20k, 0700);  /* attrs unseen */
    {
        size_t s = pkt_begin(c, T_REMOVE); /* embedded NUL */
        put_u32(c, 5);
        put_data(c, "/ok\0/etc/shadow", 15);
        pkt_end(c, s);
    }
    c = seg(&sc, S, false);
    for (uint32_t id = 1; id <= 5; id++) {
        s_status(c, id, 0, "");
    }
    run_script(&sc, FEED_WHOLE, 1, &r);
    assert_int_equal(r.cap.n, 5);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(strlen(r.cap.recs[i].path), GW_SFTP_PATH_MAX);
        assert_true(r.cap.recs[i].path_truncated);
    }
    assert_string_equal(r.cap.recs[2].path2, "");
    assert_int_equal(r.cap.recs[3].attrs.flags, 0);
    assert_string_equal(r.cap.recs[4].path, "/ok");
    assert_true(r.cap.recs[4].path_truncated);
    assert_false(r.degraded);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
    free(p6k);
    free(p20k);
}

/* ---- tests: hostile input --------------------------------------------- */

static void feed_expect(struct gw_sftp_audit *a, enum gw_sftp_dir dir,
                        const struct buf *b, int rc)
{
    assert_int_equal(gw_sftp_audit_feed(a, dir, b->p, b->len), rc);
}

static void test_malformed_length(void **state)
{
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 1};
    static const uint8_t zero[] = {0, 0, 0, 0};
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct buf b = {0};

    (void)state;
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    assert_int_equal(gw_sftp_audit_feed(a, C, huge, sizeof(huge)),
                     GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), "packet length"));
    assert_true(gw_sftp_audit_degraded(a));
    assert_non_null(gw_sftp_audit_degraded_reason(a));
    /* reported once; then a no-op, in both directions */
    c_path1(&b, T_REMOVE, 1, "/x");
    feed_expect(a, C, &b, GW_OK);
    feed_expect(a, S, &b, GW_OK);
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    assert_int_equal(cap.n, 0);
    gw_sftp_audit_free(a);

    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    assert_int_equal(gw_sftp_audit_feed(a, S, zero, sizeof(zero)),
                     GW_ERR_INVALID);
    gw_sftp_audit_free(a);
    buf_free(&b);
    capture_free(&cap);
}

static void test_malformed_fields(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct buf b = {0};
    size_t s = 0;

    (void)state;
    /* a string longer than its packet */
    s = pkt_begin(&b, T_OPEN);
    put_u32(&b, 1);
    put_u32(&b, 1000);
    buf_put(&b, "/etc", 4);
    pkt_end(&b, s);
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    feed_expect(a, C, &b, GW_ERR_INVALID);
    assert_non_null(strstr(gw_err_msg(), "open"));
    assert_true(gw_sftp_audit_degraded(a));
    gw_sftp_audit_free(a);
    buf_free(&b);

    /* DATA whose payload is longer than the packet */
    s = pkt_begin(&b, T_DATA);
    put_u32(&b, 1);
    put_u32(&b, 100);
    buf_put(&b, "abc", 3);
    pkt_end(&b, s);
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    feed_expect(a, S, &b, GW_ERR_INVALID);
    gw_sftp_audit_free(a);
    buf_free(&b);

    /* a READ cut short inside its fixed fields */
    s = pkt_begin(&b, T_READ);
    put_u32(&b, 1);
    put_str(&b, "h");
    put_u32(&b, 0);
    pkt_end(&b, s);
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    feed_expect(a, C, &b, GW_ERR_INVALID);
    gw_sftp_audit_free(a);
    buf_free(&b);
    assert_int_equal(cap.n, 0);
    capture_free(&cap);
}

static void test_truncated_stream(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct buf b = {0};

    (void)state;
    c_open(&b, 1, "/some/file", FL_READ);
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    assert_int_equal(gw_sftp_audit_feed(a, C, b.p, b.len - 3), GW_OK);
    assert_false(gw_sftp_audit_degraded(a));
    assert_int_equal(gw_sftp_audit_finish(a), GW_ERR_INVALID);
    assert_true(gw_sftp_audit_degraded(a));
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK); /* once */
    assert_int_equal(gw_sftp_audit_feed(a, C, b.p, b.len), GW_ERR_INVALID);
    gw_sftp_audit_free(a);
    buf_free(&b);
    capture_free(&cap);
}

static void test_bad_arguments_and_version(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct buf b = {0};

    (void)state;
    assert_int_equal(gw_sftp_audit_feed(NULL, C, "x", 1), GW_ERR_INVALID);
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    assert_int_equal(gw_sftp_audit_feed(a, C, NULL, 1), GW_ERR_INVALID);
    assert_int_equal(gw_sftp_audit_feed(a, (enum gw_sftp_dir)7, "x", 1),
                     GW_ERR_INVALID);
    assert_int_equal(gw_sftp_audit_feed(a, C, NULL, 0), GW_OK);
    /* version 6 would be misread as 3: stop, and say so */
    s_version(&b, 6);
    c_path1(&b, T_REMOVE, 1, "/x");
    feed_expect(a, S, &b, GW_OK);
    assert_true(gw_sftp_audit_degraded(a));
    assert_non_null(strstr(gw_sftp_audit_degraded_reason(a), "version"));
    gw_sftp_audit_free(a);
    gw_sftp_audit_free(NULL);
    buf_free(&b);
    capture_free(&cap);
}

/* Random bytes, and valid streams with random bytes changed, fed in random
 * chunks to both directions: never a crash, never anything but GW_OK or
 * GW_ERR_INVALID (ASan and UBSan watch the rest). */
static void test_random_input(void **state)
{
    struct script sc = {0};
    uint8_t *data = make_content(40000, 2);
    uint32_t rng = 12345;

    (void)state;
    handshake(&sc);
    script_put(&sc, 1, "/u", "h", FL_PUT, data, 40000);
    script_get(&sc, 100, "/g", "i", data, 40000);
    for (int iter = 0; iter < 300; iter++) {
        struct capture cap = {0};
        struct gw_sftp_audit *a = NULL;
        int rc = GW_OK;
        assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
        for (size_t i = 0; i < sc.n && rc == GW_OK; i++) {
            struct buf m = {0};
            buf_put(&m, sc.segs[i].b.p, sc.segs[i].b.len);
            uint32_t flips = iter < 100 ? (uint32_t)m.len : rng_next(&rng) % 4;
            for (uint32_t k = 0; k < flips && m.len > 0; k++) {
                m.p[rng_next(&rng) % m.len] = (uint8_t)rng_next(&rng);
            }
            for (size_t pos = 0; pos < m.len && rc == GW_OK;) {
                size_t n = rng_next(&rng) % 300 + 1;
                n = n < m.len - pos ? n : m.len - pos;
                rc = gw_sftp_audit_feed(a, sc.segs[i].dir, m.p + pos, n);
                assert_true(rc == GW_OK || rc == GW_ERR_INVALID);
                pos += n;
            }
            buf_free(&m);
        }
        rc = gw_sftp_audit_finish(a);
        assert_true(rc == GW_OK || rc == GW_ERR_INVALID);
        gw_sftp_audit_free(a);
        capture_free(&cap);
    }
    script_free(&sc);
    free(data);
}

/* Things no real peer does: each is recorded as well as can be, and the
 * audit says it is degraded. */
static void script_anomalies(struct script *sc)
{
    struct buf *b = NULL;
    char longh[301];
    size_t p = 0;

    memset(longh, 'x', 300);
    longh[300] = '\0';
    c_open(seg(sc, C, false), 1, "/f", FL_READ);
    s_handle(seg(sc, S, false), 1, "h");
    c_read(seg(sc, C, false), 2, "h", 0, 100);
    s_status(seg(sc, S, false), 2, 4, "Failure");
    b = seg(sc, C, false);
    c_path1(b, T_REMOVE, 3, "/x");
    c_path1(b, T_REMOVE, 3, "/y"); /* id reused while pending */
    s_data(seg(sc, S, false), 3, (const uint8_t *)"abc", 3); /* wrong type */
    b = seg(sc, C, false);
    p = pkt_begin(b, T_SETSTAT);
    put_u32(b, 4);
    put_str(b, "/t");
    put_u32(b, GW_SFTP_ATTR_ACMODTIME);
    put_u32(b, 1000000);
    put_u32(b, 2000000);
    pkt_end(b, p);
    s_status(seg(sc, S, false), 4, 99, "");
    c_open(seg(sc, C, false), 5, "/g", FL_READ);
    s_handle(seg(sc, S, false), 5, "h"); /* "h" is still open */
    c_open(seg(sc, C, false), 6, "/z", FL_READ);
    s_handle(seg(sc, S, false), 6, longh);
    c_handle_op(seg(sc, C, false), T_CLOSE, 7, "h");
    s_status(seg(sc, S, false), 7, 0, "");
}

static void test_protocol_anomalies(void **state)
{
    static const struct expect want[] = {
        {"remove", "/x", "", GW_SFTP_STATUS_INCOMPLETE},
        {"remove", "/y", "", GW_SFTP_STATUS_INCOMPLETE},
        {"setstat", "/t", "", 99},
        {"read", "/f", "", GW_SFTP_STATUS_INCOMPLETE},
        {"read", "/z", "", GW_SFTP_STATUS_UNTRACKED},
        {"open", "/g", "", 0},
    };
    struct script sc = {0};
    struct run r;

    (void)state;
    script_anomalies(&sc);
    run_script(&sc, FEED_WHOLE, 1, &r);
    check_records(&r, want, sizeof(want) / sizeof(want[0]));
    assert_string_equal(r.cap.recs[2].status_text, "unknown status");
    assert_int_equal(r.cap.recs[2].attrs.atime, 1000000);
    assert_int_equal(r.cap.recs[2].attrs.mtime, 2000000);
    assert_string_equal(r.cap.recs[4].status_text, "untracked");
    assert_true(r.degraded);
    run_free(&r);
    assert_chunking_invariant(&sc);
    script_free(&sc);
}

/* ---- tests: caps and memory bounds ------------------------------------ */

static void test_pending_cap(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct gw_sftp_audit_stats st;
    struct buf b = {0};

    (void)state;
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    c_open(&b, 1, "/big", FL_READ);
    feed_expect(a, C, &b, GW_OK);
    buf_free(&b);
    s_handle(&b, 1, "h");
    feed_expect(a, S, &b, GW_OK);
    buf_free(&b);
    for (uint32_t id = 2; id < 2002; id++) {
        c_read(&b, id, "h", (uint64_t)(id - 2) * CHUNK, CHUNK);
    }
    feed_expect(a, C, &b, GW_OK);
    buf_free(&b);
    gw_sftp_audit_stats(a, &st);
    assert_int_equal(st.pending, GW_SFTP_MAX_PENDING);
    assert_int_equal(st.pending_peak, GW_SFTP_MAX_PENDING);
    assert_true(gw_sftp_audit_degraded(a));
    assert_non_null(strstr(gw_sftp_audit_degraded_reason(a), "outstanding"));
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    assert_int_equal(cap.n, 1);
    assert_string_equal(cap.recs[0].sha256, "");
    assert_int_equal(cap.recs[0].status, GW_SFTP_STATUS_INCOMPLETE);
    gw_sftp_audit_free(a);
    capture_free(&cap);
}

static void test_pending_cap_keeps_rows(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct gw_sftp_audit_stats st;
    struct buf b = {0};
    size_t untracked = 0;

    (void)state;
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    for (uint32_t id = 0; id < 2000; id++) {
        c_path1(&b, T_REMOVE, id, "/tmp/x");
    }
    feed_expect(a, C, &b, GW_OK);
    buf_free(&b);
    /* the requests over the cap are recorded at once, as untracked */
    assert_int_equal(cap.n, 2000 - GW_SFTP_MAX_PENDING);
    for (uint32_t id = 0; id < 2000; id++) {
        s_status(&b, id, 0, "");
    }
    feed_expect(a, S, &b, GW_OK);
    buf_free(&b);
    assert_int_equal(cap.n, 2000);
    for (size_t i = 0; i < cap.n; i++) {
        if (cap.recs[i].status == GW_SFTP_STATUS_UNTRACKED) {
            untracked++;
        }
    }
    assert_int_equal(untracked, 2000 - GW_SFTP_MAX_PENDING);
    gw_sftp_audit_stats(a, &st);
    assert_int_equal(st.pending, 0);
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    gw_sftp_audit_free(a);
    capture_free(&cap);
}

static void test_path_bytes_cap(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct gw_sftp_audit_stats st;
    struct buf b = {0};
    char *p = malloc(GW_SFTP_PATH_MAX + 1);

    (void)state;
    assert_non_null(p);
    memset(p, 'p', GW_SFTP_PATH_MAX);
    p[GW_SFTP_PATH_MAX] = '\0';
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    for (uint32_t id = 0; id < 1000; id++) {
        c_path2(&b, T_RENAME, id, p, p);
    }
    feed_expect(a, C, &b, GW_OK);
    gw_sftp_audit_stats(a, &st);
    /* 1 MiB of path bytes: 127 renames of two 4 KiB paths */
    assert_int_equal(st.pending, GW_SFTP_MAX_PENDING_PATH_BYTES /
                                     (2 * (GW_SFTP_PATH_MAX + 1)));
    assert_int_equal(cap.n, 1000 - st.pending);
    assert_true(gw_sftp_audit_degraded(a));
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    assert_int_equal(cap.n, 1000);
    gw_sftp_audit_free(a);
    buf_free(&b);
    capture_free(&cap);
    free(p);
}

static void test_open_cap(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct gw_sftp_audit_stats st;
    struct buf c = {0};
    struct buf s = {0};
    char h[16];

    (void)state;
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    for (uint32_t id = 0; id < 300; id++) {
        snprintf(h, sizeof(h), "h%u", id);
        c_open(&c, id, "/many", FL_READ);
        s_handle(&s, id, h);
    }
    feed_expect(a, C, &c, GW_OK);
    feed_expect(a, S, &s, GW_OK);
    gw_sftp_audit_stats(a, &st);
    assert_int_equal(st.open, GW_SFTP_MAX_OPEN);
    assert_int_equal(st.open_peak, GW_SFTP_MAX_OPEN);
    assert_int_equal(cap.n, 300 - GW_SFTP_MAX_OPEN);
    assert_int_equal(cap.recs[0].status, GW_SFTP_STATUS_UNTRACKED);
    /* the files followed are on record already; those over the cap are
     * rows of their own, with no number to be replaced under */
    assert_int_equal(cap.nopen, GW_SFTP_MAX_OPEN);
    assert_int_equal(cap.recs[0].file_seq, 0);
    assert_true(gw_sftp_audit_degraded(a));
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    assert_int_equal(cap.n, 300);
    assert_all_closed(&cap);
    gw_sftp_audit_free(a);
    buf_free(&c);
    buf_free(&s);
    capture_free(&cap);
}

/* 16 MiB in 32 KiB WRITEs, generated and fed one packet at a time: only
 * the fixed fields before each payload are ever buffered. */
static void test_large_transfer_streams(void **state)
{
    struct capture cap = {0};
    struct gw_sftp_audit *a = NULL;
    struct gw_sftp_audit_stats st;
    struct gw_sha256 *h = NULL;
    struct buf b = {0};
    uint8_t *chunk = make_content(CHUNK, 77);
    char hex[GW_SHA256_HEX_LEN];
    const uint64_t total = 16u * 1024 * 1024;
    uint32_t id = 2;

    (void)state;
    assert_int_equal(gw_sha256_new(&h), GW_OK);
    assert_int_equal(gw_sftp_audit_new(on_record, &cap, &a), GW_OK);
    c_open(&b, 1, "/big.iso", FL_PUT);
    feed_expect(a, C, &b, GW_OK);
    buf_free(&b);
    s_handle(&b, 1, "h7");
    feed_expect(a, S, &b, GW_OK);
    buf_free(&b);
    for (uint64_t off = 0; off < total; off += CHUNK, id++) {
        chunk[0] = (uint8_t)id; /* vary the content */
        assert_int_equal(gw_sha256_update(h, chunk, CHUNK), GW_OK);
        c_write(&b, id, "h7", off, chunk, CHUNK);
        feed_expect(a, C, &b, GW_OK);
        buf_free(&b);
        s_status(&b, id, 0, "");
        feed_expect(a, S, &b, GW_OK);
        buf_free(&b);
    }
    c_handle_op(&b, T_CLOSE, id, "h7");
    feed_expect(a, C, &b, GW_OK);
    buf_free(&b);
    s_status(&b, id, 0, "");
    feed_expect(a, S, &b, GW_OK);
    buf_free(&b);
    assert_int_equal(gw_sha256_final_hex(h, hex), GW_OK);
    gw_sftp_audit_stats(a, &st);
    assert_true(st.prefix_peak < 64);
    assert_true(st.bytes[C] > total);
    assert_int_equal(cap.n, 1);
    assert_int_equal(cap.recs[0].bytes_written, total);
    assert_string_equal(cap.recs[0].sha256, hex);
    assert_false(gw_sftp_audit_degraded(a));
    assert_int_equal(gw_sftp_audit_finish(a), GW_OK);
    gw_sftp_audit_free(a);
    gw_sha256_free(h);
    capture_free(&cap);
    free(chunk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_whole_file),
        cmocka_unit_test(test_get_whole_file),
        cmocka_unit_test(test_out_of_order_read_has_no_hash),
        cmocka_unit_test(test_read_not_from_start_has_no_hash),
        cmocka_unit_test(test_write_needs_trunc_for_hash),
        cmocka_unit_test(test_write_create_excl_hashes),
        cmocka_unit_test(test_write_gap_and_failure),
        cmocka_unit_test(test_read_hole_before_eof),
        cmocka_unit_test(test_empty_upload),
        cmocka_unit_test(test_fsetstat),
        cmocka_unit_test(test_scp_upload_hashes),
        cmocka_unit_test(test_truncate_before_write_hashes),
        cmocka_unit_test(test_truncate_after_pipelined_writes_hashes),
        cmocka_unit_test(test_truncate_to_other_size_has_no_hash),
        cmocka_unit_test(test_truncate_after_bad_writes_has_no_hash),
        cmocka_unit_test(test_truncate_unconfirmed_has_no_hash),
        cmocka_unit_test(test_truncate_lost_has_no_hash),
        cmocka_unit_test(test_truncate_not_of_this_file_has_no_hash),
        cmocka_unit_test(test_inplace_reads),
        cmocka_unit_test(test_read_write_and_open_only),
        cmocka_unit_test(test_path_operations),
        cmocka_unit_test(test_open_fails),
        cmocka_unit_test(test_listing_and_copy),
        cmocka_unit_test(test_incomplete_at_finish),
        cmocka_unit_test(test_open_record_at_once),
        cmocka_unit_test(test_handle_reuse_keeps_numbers),
        cmocka_unit_test(test_long_paths),
        cmocka_unit_test(test_malformed_length),
        cmocka_unit_test(test_malformed_fields),
        cmocka_unit_test(test_truncated_stream),
        cmocka_unit_test(test_bad_arguments_and_version),
        cmocka_unit_test(test_random_input),
        cmocka_unit_test(test_protocol_anomalies),
        cmocka_unit_test(test_pending_cap),
        cmocka_unit_test(test_pending_cap_keeps_rows),
        cmocka_unit_test(test_path_bytes_cap),
        cmocka_unit_test(test_open_cap),
        cmocka_unit_test(test_large_transfer_streams),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
