/* Cleanup attributes for every local resource (STYLE.md "Ownership").
 * Ownership leaves a function only through steal_pointer()/steal_fd(). */
#ifndef KL_CLEANUP_H
#define KL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <jansson.h>
#include <sqlite3.h>

static inline void kl_freep(void *p)
{
    free(*(void **)p);
}
static inline void kl_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void kl_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void kl_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}
static inline void kl_json_decrefp(json_t **j)
{
    if (*j)
        json_decref(*j);
}
static inline void kl_stmt_finalizep(sqlite3_stmt **s)
{
    if (*s)
        sqlite3_finalize(*s);
}
static inline void kl_strvfreep(char ***v)
{
    if (*v) {
        for (char **p = *v; *p; p++)
            free(*p);
        free(*v);
    }
}

/* `unused`: a variable that exists only for its cleanup (a guard such as `_cleanup_(x_freep) x
 * *xp = &x;`) is used by it; clang's -Wunused-variable does not see that, GCC's does. */
#define _cleanup_(f) __attribute__((cleanup(f), unused))
#define _cleanup_free_ _cleanup_(kl_freep)
#define _cleanup_close_ _cleanup_(kl_closep)
#define _cleanup_fclose_ _cleanup_(kl_fclosep)
#define _cleanup_closedir_ _cleanup_(kl_closedirp)
#define _cleanup_json_ _cleanup_(kl_json_decrefp)
#define _cleanup_stmt_ _cleanup_(kl_stmt_finalizep)
#define _cleanup_strv_ _cleanup_(kl_strvfreep)

/* Type-checked transfer of ownership out of a cleanup variable. */
#define steal_pointer(pp)                                                                          \
    ({                                                                                             \
        __typeof__(*(pp)) _stolen = *(pp);                                                         \
        *(pp) = NULL;                                                                              \
        _stolen;                                                                                   \
    })
#define steal_fd(fdp)                                                                              \
    ({                                                                                             \
        int _fd = *(fdp);                                                                          \
        *(fdp) = -1;                                                                               \
        _fd;                                                                                       \
    })

#define KL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Retry a syscall expression while it fails with EINTR. */
#define KL_RETRY_EINTR(expr)                                                                       \
    ({                                                                                             \
        long _r;                                                                                   \
        do                                                                                         \
            _r = (long)(expr);                                                                     \
        while (_r == -1 && errno == EINTR);                                                        \
        _r;                                                                                        \
    })

#endif
