/*
 * sshgate-delayproxy: a TCP proxy on loopback that delays every byte by a
 * fixed time in each direction, for bench/run's T7 ("WAN"). It simulates
 * the latency of a long link with unlimited bandwidth: each chunk read
 * from one side is stamped with the time it arrived and written to the
 * other side no earlier than that time plus the delay. Nothing is dropped
 * or reordered. The proxy reads as fast as data comes, so the only flow
 * control a stream sees is the SSH window (and MAX_QUEUED below, which at
 * 64 MiB per direction is far above any window).
 *
 *   sshgate-delayproxy --listen-port P --target-port T --delay-ms D
 *                      [--max-seconds S]
 *
 * It listens on 127.0.0.1:P (0: any free port) and connects each accepted
 * client to 127.0.0.1:T: loopback only, by construction. It prints the
 * bound port on stdout, one line, then serves until --max-seconds
 * (default 1800) have passed or it gets SIGTERM/SIGINT. Each connection
 * takes four threads: a reader and a writer per direction.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK      (256 * 1024)
#define MAX_QUEUED (64u * 1024 * 1024)

struct chunk {
    struct chunk *next;
    uint64_t due_ns; /* arrival time + delay; len 0 marks EOF */
    size_t len;
    char data[];
};

/* One direction: a reader thread queues chunks, a writer thread sends
 * them when due. */
struct dir {
    int from;
    int to;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct chunk *head;
    struct chunk *tail;
    size_t queued;
    bool dead; /* either side failed: stop both threads */
    struct link *link;
};

struct link {
    int fds[2];
    struct dir d[2];
    int refs; /* threads still running */
    pthread_mutex_t mu;
};

static uint64_t delay_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void link_put(struct link *l)
{
    int left;

    pthread_mutex_lock(&l->mu);
    left = --l->refs;
    pthread_mutex_unlock(&l->mu);
    if (left > 0) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct chunk *c = l->d[i].head;
        while (c != NULL) {
            struct chunk *n = c->next;
            free(c);
            c = n;
        }
        close(l->fds[i]);
    }
    free(l);
}

static void dir_kill(struct dir *d)
{
    pthread_mutex_lock(&d->mu);
    d->dead = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    /* wake a reader blocked in recv on either socket */
    shutdown(d->from, SHUT_RDWR);
    shutdown(d->to, SHUT_RDWR);
}

static void *reader(void *arg)
{
    struct dir *d = arg;

    for (;;) {
        struct chunk *c = malloc(sizeof(*c) + CHUNK);
        ssize_t r;
        if (c == NULL) {
            dir_kill(d);
            break;
        }
        do {
            r = recv(d->from, c->data, CHUNK, 0);
        } while (r < 0 && errno == EINTR);
        c->next = NULL;
        c->len = r > 0 ? (size_t)r : 0;
        c->due_ns = now_ns() + delay_ns;
        pthread_mutex_lock(&d->mu);
        while (!d->dead && d->queued > MAX_QUEUED) {
            pthread_cond_wait(&d->cv, &d->mu);
        }
        if (d->dead) {
            pthread_mutex_unlock(&d->mu);
            free(c);
            break;
        }
        if (d->tail != NULL) {
            d->tail->next = c;
        } else {
            d->head = c;
        }
        d->tail = c;
        d->queued += c->len;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        if (r <= 0) {
            break; /* EOF (or error) queued: the writer passes it on */
        }
    }
    link_put(d->link);
    return NULL;
}

static bool send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        p += w;
        len -= (size_t)w;
    }
    return true;
}

static void *writer(void *arg)
{
    struct dir *d = arg;

    for (;;) {
        struct chunk *c;
        uint64_t t;
        bool ok;
        pthread_mutex_lock(&d->mu);
        while (!d->dead && d->head == NULL) {
            pthread_cond_wait(&d->cv, &d->mu);
        }
        if (d->dead) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        c = d->head;
        pthread_mutex_unlock(&d->mu);
        /* only this thread removes chunks: c stays valid */
        while ((t = now_ns()) < c->due_ns) {
            uint64_t left = c->due_ns - t;
            struct timespec ts = {(time_t)(left / 1000000000u),
                                  (long)(left % 1000000000u)};
            nanosleep(&ts, NULL);
        }
        if (c->len == 0) {
            shutdown(d->to, SHUT_WR); /* the EOF, delayed like data */
            break;
        }
        ok = send_all(d->to, c->data, c->len);
        pthread_mutex_lock(&d->mu);
        d->head = c->next;
        if (d->head == NULL) {
            d->tail = NULL;
        }
        d->queued -= c->len;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        free(c);
        if (!ok) {
            dir_kill(d);
            break;
        }
    }
    link_put(d->link);
    return NULL;
}

static int loopback_socket(uint16_t port, bool listening, uint16_t *bound)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    socklen_t alen = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (listening) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            listen(fd, 64) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
            close(fd);
            return -1;
        }
        *bound = ntohs(a.sin_port);
    } else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void start_link(int client, uint16_t target)
{
    int one = 1;
    int server = loopback_socket(target, false, NULL);
    struct link *l;
    pthread_attr_t attr;

    (void)setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    l = calloc(1, sizeof(*l));
    if (server < 0 || l == NULL) {
        fprintf(stderr, "delayproxy: cannot reach 127.0.0.1:%u: %s\n",
                (unsigned)target, strerror(errno));
        close(client);
        if (server >= 0) {
            close(server);
        }
        free(l);
        return;
    }
    l->fds[0] = client;
    l->fds[1] = server;
    l->refs = 4;
    pthread_mutex_init(&l->mu, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < 2; i++) {
        struct dir *d = &l->d[i];
        pthread_t t;
        d->from = l->fds[i];
        d->to = l->fds[1 - i];
        d->link = l;
        pthread_mutex_init(&d->mu, NULL);
        pthread_cond_init(&d->cv, NULL);
        if (pthread_create(&t, &attr, reader, d) != 0 ||
            pthread_create(&t, &attr, writer, d) != 0) {
            fprintf(stderr, "delayproxy: no threads\n");
            exit(2);
        }
    }
    pthread_attr_destroy(&attr);
}

static void on_alarm(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    long listen_port = 0;
    long target = -1;
    long delay_ms = -1;
    long max_s = 1800;
    uint16_t bound = 0;
    int lfd;

    for (int i = 1; i + 1 < argc; i += 2) {
        long v = strtol(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--listen-port") == 0) {
            listen_port = v;
        } else if (strcmp(argv[i], "--target-port") == 0) {
            target = v;
        } else if (strcmp(argv[i], "--delay-ms") == 0) {
            delay_ms = v;
        } else if (strcmp(argv[i], "--max-seconds") == 0) {
            max_s = v;
        } else {
            target = -1;
            break;
        }
    }
    if (target <= 0 || target > 65535 || delay_ms < 0 || delay_ms > 10000 ||
        listen_port < 0 || listen_port > 65535 || max_s <= 0 || argc % 2 != 1) {
        fprintf(stderr, "usage: sshgate-delayproxy --listen-port P "
                        "--target-port T --delay-ms D [--max-seconds S]\n");
        return 2;
    }
    delay_ns = (uint64_t)delay_ms * 1000000u;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    signal(SIGTERM, on_alarm);
    signal(SIGINT, on_alarm);
    alarm((unsigned)max_s); /* bounded runtime, whatever happens */
    lfd = loopback_socket((uint16_t)listen_port, true, &bound);
    if (lfd < 0) {
        fprintf(stderr, "delayproxy: cannot listen: %s\n", strerror(errno));
        return 2;
    }
    printf("%u\n", (unsigned)bound);
    fflush(stdout);
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            fprintf(stderr, "delayproxy: accept: %s\n", strerror(errno));
            return 2;
        }
        start_link(c, (uint16_t)target);
    }
}
