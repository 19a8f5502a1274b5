/* dlopen shim for libarchive (see archiveshim.h). */
#include "host/archiveshim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

static archiveshim shim;
static bool loaded;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* Casting the void * from dlsym to a function pointer is what POSIX prescribes. */
#define RESOLVE(field)                                                                             \
    do {                                                                                           \
        void *sym = dlsym(h, "archive_" #field);                                                   \
        if (!sym)                                                                                  \
            return fail(h, err);                                                                   \
        *(void **)&shim.field = sym;                                                               \
    } while (0)

static int fail(void *h, kl_error *err)
{
    const char *msg = dlerror();
    kl_error_set(err, ENOPKG, "extracting archives needs libarchive (libarchive13): %s",
                 msg ? msg : "unknown error");
    if (h)
        dlclose(h);
    return -1;
}

static int load(kl_error *err)
{
    void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return fail(NULL, err);
    RESOLVE(read_new);
    RESOLVE(read_support_filter_all);
    RESOLVE(read_support_format_all);
    RESOLVE(read_open);
    RESOLVE(read_next_header);
    RESOLVE(read_data_block);
    RESOLVE(read_free);
    RESOLVE(error_string);
    RESOLVE(set_error);
    RESOLVE(entry_pathname);
    RESOLVE(entry_filetype);
    RESOLVE(entry_hardlink);
    RESOLVE(entry_symlink);
    RESOLVE(entry_mode);
    RESOLVE(entry_uid);
    RESOLVE(entry_gid);
    RESOLVE(entry_mtime);
    RESOLVE(entry_mtime_nsec);
    RESOLVE(entry_size);
    RESOLVE(entry_size_is_set);
    RESOLVE(entry_xattr_reset);
    RESOLVE(entry_xattr_next);
    loaded = true;
    return 0;
}

const archiveshim *archiveshim_get(kl_error *err)
{
    pthread_mutex_lock(&load_lock);
    int r = loaded ? 0 : load(err);
    pthread_mutex_unlock(&load_lock);
    return r < 0 ? NULL : &shim;
}
