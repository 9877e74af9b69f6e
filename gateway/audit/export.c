/*
 * The SIEM export's sinks (gateway/audit/export.h says what it promises):
 * one bounded queue and one thread per sink, which alone touches the
 * sink's file or socket.
 */
#include "gateway/audit/export.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "gateway/audit/export_sink.h"
#include "gateway/daemon/export_stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* An idle sink thread still looks at its flags this often. */
#define WAKE_MS 1000
/* A datagram carries at most this much (the detail is cut to fit); a
 * stream message at most STREAM_MAX. */
#define DGRAM_MAX  8192
#define STREAM_MAX 65536

struct item {
    struct item *next;
    int64_t id;
    size_t len;
    char data[];
};

struct sink {
    struct gw_export *x;
    struct gw_export_sink_spec spec; /* copied: the config may go away */
    pthread_t thread;
    bool started; /* the thread runs until joined */
    pthread_mutex_t lock;
    pthread_cond_t cv;

    /* under lock */
    struct item *head;
    struct item *tail;
    size_t bytes;
    bool stopping;
    int64_t stop_deadline_ms;
    bool reopen;
    struct gw_export_drops drops; /* since the last report; total */

    /* the sink thread's own */
    struct gw_export_conn conn;
};

struct gw_export {
    size_t n;
    size_t queue_max;
    struct gw_export_origin origin;
    char *node;
    struct sink sinks[GW_EXPORT_SINKS_MAX];
};

/* ---- the queue (any thread) --------------------------------------------- */

/* Under s->lock: one more delivery lost. */
static void count_drop(struct sink *s, int64_t id)
{
    struct gw_export_drops *d = &s->drops;

    if (d->events == 0 || id < d->first_id) {
        d->first_id = id;
    }
    if (d->events == 0 || id > d->last_id) {
        d->last_id = id;
    }
    d->events++;
    d->total++;
    gw_export_count_dropped(1);
}

/* The bytes sink s sends for e; formatted once per kind of sink. */
struct formats {
    char *dgram;
    size_t dgram_len;
    char *frame;
    size_t frame_len;
    char *json;
    size_t json_len;
};

static int format_for(const struct sink *s, const struct gw_export_event *e,
                      struct formats *f, const char **out, size_t *len)
{
    int rc = GW_OK;

    if (s->spec.format == GW_EXPORT_JSON) {
        if (f->json == NULL) {
            rc = gw_export_json(e, &s->x->origin, &f->json, &f->json_len);
        }
        *out = f->json;
        *len = f->json_len;
    } else if (s->spec.transport == GW_EXPORT_TCP) {
        if (f->frame == NULL) {
            char *msg = NULL;
            size_t n = 0;
            rc = gw_export_syslog(e, &s->x->origin, STREAM_MAX, &msg, &n);
            if (rc == GW_OK) {
                rc = gw_export_octet_frame(msg, n, &f->frame, &f->frame_len);
            }
            free(msg);
        }
        *out = f->frame;
        *len = f->frame_len;
    } else {
        if (f->dgram == NULL) {
            rc = gw_export_syslog(e, &s->x->origin, DGRAM_MAX, &f->dgram,
                                  &f->dgram_len);
        }
        *out = f->dgram;
        *len = f->dgram_len;
    }
    return rc;
}

static void push_one(struct sink *s, int64_t id, const char *data, size_t len)
{
    struct item *it = data != NULL ? malloc(sizeof(*it) + len) : NULL;

    if (it != NULL) {
        it->next = NULL;
        it->id = id;
        it->len = len;
        memcpy(it->data, data, len);
    }
    pthread_mutex_lock(&s->lock);
    if (it == NULL || s->stopping || s->bytes + len > s->x->queue_max) {
        count_drop(s, id);
    } else {
        if (s->tail != NULL) {
            s->tail->next = it;
        } else {
            s->head = it;
        }
        s->tail = it;
        s->bytes += len;
        pthread_cond_signal(&s->cv);
        it = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    free(it);
}

void gw_export_push(struct gw_export *x, const struct gw_export_event *e)
{
    struct formats f;

    if (x == NULL) {
        return;
    }
    memset(&f, 0, sizeof(f));
    for (size_t i = 0; i < x->n; i++) {
        const char *data = NULL;
        size_t len = 0;
        if (format_for(&x->sinks[i], e, &f, &data, &len) != GW_OK) {
            data = NULL;
        }
        push_one(&x->sinks[i], e->id, data, len);
    }
    free(f.dgram);
    free(f.frame);
    free(f.json);
}

/* ---- the sink's thread -------------------------------------------------- */

/* Under s->lock: wait for a signal, at most until the monotonic until_ms. */
static void wait_until(struct sink *s, int64_t until_ms)
{
    struct timespec ts;
    int64_t left = until_ms - gw_now_ms();

    if (left <= 0) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&s->cv, &s->lock, &ts);
}

/* The head is done with: delivered, or lost. */
static void pop_head(struct sink *s, bool lost)
{
    struct item *it;

    pthread_mutex_lock(&s->lock);
    it = s->head;
    s->head = it->next;
    if (s->head == NULL) {
        s->tail = NULL;
    }
    s->bytes -= it->len;
    if (lost) {
        count_drop(s, it->id);
    }
    pthread_mutex_unlock(&s->lock);
    free(it);
}

/* The next item to deliver, NULL when there is none yet; *stop when the
 * thread is to end. */
static struct item *next_item(struct sink *s, bool *stop)
{
    struct item *it;
    bool reopen;

    pthread_mutex_lock(&s->lock);
    if (!s->stopping && !s->reopen) {
        if (s->head == NULL) {
            wait_until(s, gw_now_ms() + WAKE_MS);
        } else if (s->conn.fd < 0 && gw_now_ms() < s->conn.next_try_ms) {
            wait_until(s, s->conn.next_try_ms);
        }
    }
    reopen = s->reopen;
    s->reopen = false;
    it = s->head;
    *stop = s->stopping && (it == NULL || gw_now_ms() >= s->stop_deadline_ms);
    pthread_mutex_unlock(&s->lock);
    if (reopen) {
        gw_export_conn_close(&s->conn);
        s->conn.next_try_ms = 0;
        s->conn.backoff_ms = 0;
    }
    return it;
}

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    bool stop = false;

    while (!stop) {
        struct item *it = next_item(s, &stop);
        int rc;
        if (stop || it == NULL) {
            continue;
        }
        if (s->conn.fd < 0) {
            bool stopping;
            pthread_mutex_lock(&s->lock);
            stopping = s->stopping;
            pthread_mutex_unlock(&s->lock);
            if (gw_now_ms() < s->conn.next_try_ms ||
                gw_export_conn_open(&s->conn) != GW_OK) {
                stop = stopping; /* no waiting for a dead sink at the end */
                continue;
            }
        }
        rc = gw_export_conn_deliver(&s->conn, it->data, it->len);
        if (rc != GW_AGAIN) {
            pop_head(s, rc != GW_OK);
        }
    }
    gw_export_conn_close(&s->conn);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

static int copy_spec(struct gw_export_sink_spec *dst,
                     const struct gw_export_sink_spec *src)
{
    *dst = *src;
    dst->path = src->path != NULL ? strdup(src->path) : NULL;
    dst->host = src->host != NULL ? strdup(src->host) : NULL;
    dst->text = strdup(src->text);
    return (src->path != NULL && dst->path == NULL) ||
                   (src->host != NULL && dst->host == NULL) || dst->text == NULL
               ? GW_ERR_NOMEM
               : GW_OK;
}

static int sink_init(struct gw_export *x, struct sink *s,
                     const struct gw_export_sink_spec *spec)
{
    pthread_condattr_t attr;

    s->x = x;
    s->conn.spec = &s->spec;
    s->conn.fd = -1;
    atomic_init(&s->conn.give_up_ms, 0);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &attr);
    pthread_condattr_destroy(&attr);
    return copy_spec(&s->spec, spec);
}

/* After its thread: what is still queued is lost. */
static void sink_drop_rest(struct sink *s)
{
    uint64_t left = 0;

    pthread_mutex_lock(&s->lock);
    while (s->head != NULL) {
        struct item *it = s->head;
        s->head = it->next;
        count_drop(s, it->id);
        left++;
        free(it);
    }
    s->tail = NULL;
    s->bytes = 0;
    pthread_mutex_unlock(&s->lock);
    if (left > 0) {
        gw_log_warn("export: %s: %llu events not delivered before the stop",
                    s->spec.text, (unsigned long long)left);
    }
}

static void sink_free(struct sink *s)
{
    sink_drop_rest(s);
    gw_export_conn_close(&s->conn);
    free(s->spec.path);
    free(s->spec.host);
    free(s->spec.text);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->lock);
}

static void export_free(struct gw_export *x)
{
    for (size_t i = 0; i < x->n; i++) {
        sink_free(&x->sinks[i]);
    }
    free(x->node);
    free(x);
}

int gw_export_start(const struct gw_export_config *cfg, struct gw_export **out)
{
    struct gw_export *x;
    int rc = GW_OK;

    *out = NULL;
    if (cfg->sinks == NULL || cfg->sinks->n == 0) {
        return GW_OK;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return GW_ERR_NOMEM;
    }
    x->queue_max = cfg->queue_max;
    x->node = strdup(cfg->node != NULL ? cfg->node : "-");
    x->origin.node = x->node;
    x->origin.pid = (long)getpid();
    for (size_t i = 0; i < cfg->sinks->n && i < GW_EXPORT_SINKS_MAX; i++) {
        x->n++;
        if (sink_init(x, &x->sinks[i], &cfg->sinks->sinks[i]) != GW_OK) {
            rc = GW_ERR_NOMEM;
        }
    }
    for (size_t i = 0; i < x->n && rc == GW_OK; i++) {
        if (pthread_create(&x->sinks[i].thread, NULL, sink_main,
                           &x->sinks[i]) != 0) {
            rc = gw_err_set(GW_ERR, "cannot start the export thread of %s",
                            x->sinks[i].spec.text);
        } else {
            x->sinks[i].started = true;
        }
    }
    if (x->node == NULL && rc == GW_OK) {
        rc = GW_ERR_NOMEM;
    }
    if (rc != GW_OK) {
        gw_export_free(x);
        return rc;
    }
    for (size_t i = 0; i < x->n; i++) {
        gw_log_info("export: events go to %s", x->sinks[i].spec.text);
    }
    *out = x;
    return GW_OK;
}

void gw_export_halt(struct gw_export *x, int64_t drain_ms)
{
    if (x == NULL) {
        return;
    }
    for (size_t i = 0; i < x->n; i++) {
        struct sink *s = &x->sinks[i];
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        s->stop_deadline_ms = gw_now_ms() + drain_ms;
        atomic_store(&s->conn.give_up_ms, s->stop_deadline_ms);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->lock);
    }
    for (size_t i = 0; i < x->n; i++) {
        if (x->sinks[i].started) {
            pthread_join(x->sinks[i].thread, NULL);
            x->sinks[i].started = false;
        }
        sink_drop_rest(&x->sinks[i]);
    }
}

void gw_export_free(struct gw_export *x)
{
    if (x != NULL) {
        gw_export_halt(x, 0);
        export_free(x);
    }
}

void gw_export_reopen(struct gw_export *x)
{
    for (size_t i = 0; x != NULL && i < x->n; i++) {
        struct sink *s = &x->sinks[i];
        pthread_mutex_lock(&s->lock);
        s->reopen = true;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->lock);
    }
}

size_t gw_export_sink_count(const struct gw_export *x)
{
    return x != NULL ? x->n : 0;
}

const char *gw_export_sink_name(const struct gw_export *x, size_t i)
{
    return x->sinks[i].spec.text;
}

bool gw_export_take_drops(struct gw_export *x, size_t i,
                          struct gw_export_drops *out)
{
    struct sink *s = &x->sinks[i];
    bool any;

    pthread_mutex_lock(&s->lock);
    *out = s->drops;
    any = s->drops.events > 0;
    s->drops.events = 0;
    pthread_mutex_unlock(&s->lock);
    return any;
}

void gw_export_return_drops(struct gw_export *x, size_t i,
                            const struct gw_export_drops *d)
{
    struct sink *s = &x->sinks[i];
    struct gw_export_drops *w = &s->drops;

    pthread_mutex_lock(&s->lock);
    if (w->events == 0 || d->first_id < w->first_id) {
        w->first_id = d->first_id;
    }
    if (w->events == 0 || d->last_id > w->last_id) {
        w->last_id = d->last_id;
    }
    w->events += d->events;
    pthread_mutex_unlock(&s->lock);
}
