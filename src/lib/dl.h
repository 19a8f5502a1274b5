/* Libraries loaded on first use (dlopen), so that kleened and klee do not map what only some
 * requests need: libcurl, libarchive, GnuTLS. A library's functions are resolved into a
 * table of function pointers once; the library then stays loaded. */
#ifndef KL_DL_H
#define KL_DL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

typedef struct kl_dl_sym {
    const char *name;
    void **slot; /* where the function's address goes: (void **)&table.field */
} kl_dl_sym;

typedef struct kl_dl_lib {
    const char *soname;  /* "libcurl.so.4" */
    const char *package; /* the Debian package that has it, for the error message */
    const kl_dl_sym *syms;
    size_t n_syms;
    int (*init)(kl_error *err); /* optional: run once after the symbols are resolved */
    pthread_mutex_t lock;
    bool loaded;
} kl_dl_lib;

#define KL_DL_LIB(so, pkg, table, init_fn)                                                         \
    {                                                                                              \
        .soname = (so), .package = (pkg), .syms = (table),                                         \
        .n_syms = sizeof(table) / sizeof((table)[0]), .init = (init_fn),                           \
        .lock = PTHREAD_MUTEX_INITIALIZER                                                          \
    }

/* Load the library and resolve every symbol, then run init (once; thread-safe). On failure
 * err says "<why> (<package>): <dlerror>" (or init's error), and the next call tries again. */
int kl_dl_load(kl_dl_lib *lib, const char *why, kl_error *err);

#endif
