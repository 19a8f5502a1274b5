/* Libraries loaded on first use (see dl.h). */
#include "lib/dl.h"

#include <dlfcn.h>
#include <errno.h>

static int load(kl_dl_lib *lib, const char *why, kl_error *err)
{
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; h && i < lib->n_syms; i++) {
        /* Casting the void * from dlsym to a function pointer is what POSIX prescribes. */
        void *sym = dlsym(h, lib->syms[i].name);
        if (!sym) {
            const char *msg = dlerror();
            kl_error_set(err, ENOPKG, "%s (%s): %s", why, lib->package,
                         msg ? msg : lib->syms[i].name);
            dlclose(h);
            return -1;
        }
        *lib->syms[i].slot = sym;
    }
    if (!h) {
        const char *msg = dlerror();
        return kl_error_set(err, ENOPKG, "%s (%s): %s", why, lib->package,
                            msg ? msg : "cannot be loaded");
    }
    lib->loaded = true; /* resolved: stays loaded even if init fails */
    return 0;
}

int kl_dl_load(kl_dl_lib *lib, const char *why, kl_error *err)
{
    pthread_mutex_lock(&lib->lock);
    int r = 0;
    if (!lib->loaded) {
        r = load(lib, why, err);
        if (r == 0 && lib->init && lib->init(err) < 0) {
            lib->loaded = false;
            r = -1;
        }
    }
    pthread_mutex_unlock(&lib->lock);
    return r;
}
