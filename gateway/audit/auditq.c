#include "gateway/audit/auditq.h"

#include "core/err.h"
#include "core/log.h"
#include "store/db.h"
#include "store/events.h"
#include "store/open.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
    struct item *next;
    char kind[STORE_EVENT_KIND_MAX];
    char user[STORE_EVENT_USER_MAX + 1];
    char client[STORE_EVENT_CLIENT_MAX];
    bool has_user;
    bool has_client;
    char detail[256];
};

struct gw_auditq {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    pthread_t thread;
    struct item *head;
    struct item *tail;
    size_t count;
    size_t max;
    unsigned long dropped;
    bool stopping;
    char *db_path;
};

static void write_item(struct store *st, const struct item *it)
{
    int rc = store_event_add(st, it->kind, it->has_user ? it->user : NULL,
                             it->has_client ? it->client : NULL, it->detail);

    if (rc != GW_OK) {
        gw_log_error("cannot record %s event: %s", it->kind, gw_err_msg());
    }
}

static void write_dropped(struct store *st, unsigned long dropped)
{
    struct item it;

    memset(&it, 0, sizeof(it));
    snprintf(it.kind, sizeof(it.kind), "audit.dropped");
    snprintf(it.detail, sizeof(it.detail), "events=%lu reason=queue full",
             dropped);
    gw_log_warn("%lu audit events were dropped (queue full)", dropped);
    write_item(st, &it);
}

/* Take everything queued (and the drop count) under the lock. */
static struct item *take_all(struct gw_auditq *q, unsigned long *dropped)
{
    struct item *list = q->head;

    q->head = NULL;
    q->tail = NULL;
    q->count = 0;
    *dropped = q->dropped;
    q->dropped = 0;
    return list;
}

static void *writer_main(void *arg)
{
    struct gw_auditq *q = arg;
    struct store *st = NULL;
    bool stop = false;

    if (store_open(q->db_path, STORE_OPEN_EXISTING, &st) != GW_OK) {
        gw_log_error("audit writer: %s", gw_err_msg());
    }
    while (!stop) {
        unsigned long dropped = 0;
        struct item *list = NULL;
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && q->dropped == 0 && !q->stopping) {
            pthread_cond_wait(&q->cv, &q->lock);
        }
        stop = q->stopping;
        list = take_all(q, &dropped);
        pthread_mutex_unlock(&q->lock);
        while (list != NULL) {
            struct item *next = list->next;
            if (st != NULL) {
                write_item(st, list);
            }
            free(list);
            list = next;
        }
        if (dropped > 0 && st != NULL) {
            write_dropped(st, dropped);
        }
    }
    store_close(st);
    return NULL;
}

int gw_auditq_start(const char *db_path, size_t max, struct gw_auditq **out)
{
    struct gw_auditq *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        return GW_ERR_NOMEM;
    }
    q->db_path = strdup(db_path);
    if (q->db_path == NULL) {
        free(q);
        return GW_ERR_NOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max = max;
    if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        pthread_cond_destroy(&q->cv);
        pthread_mutex_destroy(&q->lock);
        free(q->db_path);
        free(q);
        return gw_err_set(GW_ERR, "cannot start the audit writer thread");
    }
    *out = q;
    return GW_OK;
}

static void fill(struct item *it, const char *kind, const char *user,
                 const char *client, const char *detail)
{
    snprintf(it->kind, sizeof(it->kind), "%s", kind);
    it->has_user = user != NULL;
    snprintf(it->user, sizeof(it->user), "%s", user != NULL ? user : "");
    it->has_client = client != NULL;
    snprintf(it->client, sizeof(it->client), "%s",
             client != NULL ? client : "");
    snprintf(it->detail, sizeof(it->detail), "%s", detail);
}

void gw_auditq_add(struct gw_auditq *q, const char *kind, const char *user,
                   const char *client, const char *detail)
{
    struct item *it = NULL;

    pthread_mutex_lock(&q->lock);
    if (q->count < q->max && !q->stopping) {
        it = calloc(1, sizeof(*it));
    }
    if (it == NULL) {
        q->dropped++;
    } else {
        fill(it, kind, user, client, detail);
        if (q->tail != NULL) {
            q->tail->next = it;
        } else {
            q->head = it;
        }
        q->tail = it;
        q->count++;
    }
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->lock);
}

void gw_auditq_stop(struct gw_auditq *q)
{
    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->lock);
    free(q->db_path);
    free(q);
}
