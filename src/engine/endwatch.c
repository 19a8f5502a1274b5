/* The container end watcher (endwatch.h). Must not: hold its own lock while calling back (the
 * callback takes the engine lock, and endwatch_add runs under it). */
#include "engine/endwatch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/process.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

typedef struct watched {
    char id[13];
    int pid;
    int fd; /* -1: had ended when added */
} watched;

struct endwatch {
    kl_engine *e;
    endwatch_fn on_end;
    pthread_t thread;
    pthread_mutex_t lock;
    int wake[2]; /* a byte in wake[1] makes the thread look at the list again */
    bool stopping;
    watched *v;
    size_t n, cap;
};

static void wake_up(endwatch *w)
{
    char c = 0;
    (void)!write(w->wake[1], &c, 1);
}

static void *watch_thread(void *arg)
{
    endwatch *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        if (w->stopping) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        size_t n = w->n;
        _cleanup_free_ struct pollfd *p = xcalloc(n + 1, sizeof(*p));
        _cleanup_free_ watched *seen = xcalloc(n + 1, sizeof(*seen));
        p[0] = (struct pollfd){w->wake[0], POLLIN, 0};
        for (size_t i = 0; i < n; i++) {
            seen[i] = w->v[i];
            p[i + 1] = (struct pollfd){w->v[i].fd, POLLIN, 0};
        }
        pthread_mutex_unlock(&w->lock);

        /* Entries that had ended when added are due at once. */
        bool due = false;
        for (size_t i = 0; i < n; i++)
            due = due || seen[i].fd < 0;
        if (!due && poll(p, n + 1, -1) < 0 && errno != EINTR) {
            log_error("container end watcher: poll: %s", strerror(errno));
            return NULL;
        }
        if (p[0].revents & POLLIN) {
            char buf[64];
            (void)!read(w->wake[0], buf, sizeof(buf));
        }
        /* Take the ended ones off the list (an entry replaced meanwhile has another fd). */
        size_t n_ended = 0;
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < n; i++) {
            if (seen[i].fd >= 0 && !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            for (size_t k = 0; k < w->n; k++) {
                if (strcmp(w->v[k].id, seen[i].id) == 0 && w->v[k].fd == seen[i].fd &&
                    w->v[k].pid == seen[i].pid) {
                    if (w->v[k].fd >= 0)
                        close(w->v[k].fd);
                    w->v[k] = w->v[--w->n];
                    seen[n_ended++] = seen[i];
                    break;
                }
            }
        }
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < n_ended; i++)
            w->on_end(w->e, seen[i].id, seen[i].pid);
    }
}

endwatch *endwatch_start(kl_engine *e, endwatch_fn on_end, kl_error *err)
{
    endwatch *w = xcalloc(1, sizeof(*w));
    w->e = e;
    w->on_end = on_end;
    if (pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        kl_error_errno(err, errno, "container end watcher: pipe");
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    /* Small stack: the thread only polls and calls back. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int r = pthread_create(&w->thread, &attr, watch_thread, w);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        kl_error_errno(err, r, "container end watcher: starting its thread");
        close(w->wake[0]);
        close(w->wake[1]);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void endwatch_stop(endwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_mutex_unlock(&w->lock);
    wake_up(w);
    pthread_join(w->thread, NULL);
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].fd >= 0)
            close(w->v[i].fd);
    free(w->v);
    close(w->wake[0]);
    close(w->wake[1]);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void endwatch_add(endwatch *w, const char *id, int pid)
{
    if (!w || pid <= 0)
        return;
    kl_error err = KL_ERROR_INIT;
    int fd = host_process_end_fd(pid, &err);
    if (fd < 0 && err.code != ESRCH) {
        log_warn("container %s: cannot watch for its end: %s", id, err.msg);
        return;
    }
    pthread_mutex_lock(&w->lock);
    size_t i = 0;
    while (i < w->n && strcmp(w->v[i].id, id) != 0)
        i++;
    if (i < w->n) {
        if (w->v[i].fd >= 0)
            close(w->v[i].fd);
    } else {
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 16;
            w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
        }
        w->n++;
    }
    snprintf(w->v[i].id, sizeof(w->v[i].id), "%s", id);
    w->v[i].pid = pid;
    w->v[i].fd = fd;
    pthread_mutex_unlock(&w->lock);
    wake_up(w);
}
