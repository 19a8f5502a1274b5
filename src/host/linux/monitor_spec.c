/* The monitor spec record (monitor_spec.h): encoded by kleened (monitor_spawn.c), decoded by
 * the kleene-monitor program (monitor_main.c). Field order is the format: change it only
 * together with MON_SPEC_VERSION. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/linux/monitor_spec.h"
#include "lib/xalloc.h"

static const char magic[4] = {'K', 'L', 'M', 'S'};
#define NONE UINT32_MAX

/* ---- encoding ---------------------------------------------------------------------------- */

static void put_u32(kl_buf *b, uint32_t v)
{
    kl_buf_append(b, &v, sizeof(v));
}

static void put_u64(kl_buf *b, uint64_t v)
{
    kl_buf_append(b, &v, sizeof(v));
}

static void put_str(kl_buf *b, const char *s)
{
    if (!s) {
        put_u32(b, NONE);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    kl_buf_append(b, s, n + 1);
}

static void put_strv(kl_buf *b, char *const *v)
{
    if (!v) {
        put_u32(b, NONE);
        return;
    }
    put_u32(b, (uint32_t)strv_len(v));
    for (char *const *p = v; *p; p++)
        put_str(b, *p);
}

void monitor_spec_encode(const host_monitor_spec *spec, const void *filter, size_t filter_len,
                         kl_buf *out)
{
    const host_container_spec *c = &spec->container;
    kl_buf_append(out, magic, sizeof(magic));
    put_u32(out, MON_SPEC_VERSION);
    put_str(out, spec->exec_id);
    put_str(out, spec->run_dir);
    put_u64(out, spec->log_max_bytes);
    put_strv(out, spec->unmount_on_exit);
    put_u32(out, spec->attach);
    put_u32(out, spec->caller_unmounts);

    put_str(out, c->id);
    put_str(out, c->rootfs);
    put_str(out, c->hostname);
    put_strv(out, c->argv);
    put_strv(out, c->env);
    put_str(out, c->user);
    put_str(out, c->cwd);
    put_u32(out, (uint32_t)c->n_mounts);
    for (size_t i = 0; i < c->n_mounts; i++) {
        put_str(out, c->mounts[i].source);
        put_str(out, c->mounts[i].destination);
        put_u32(out, c->mounts[i].read_only);
        put_u32(out, c->mounts[i].source_is_ours);
    }
    put_strv(out, c->cap_add);
    put_strv(out, c->cap_drop);
    put_u32(out, (uint32_t)c->netns);
    put_str(out, c->netns_path);
    put_u32(out, c->share_ipc);
    put_u32(out, c->no_devfs);
    put_u32(out, c->login_env);
    put_u32(out, c->no_seccomp);
    put_u32(out, c->no_raw_sockets);
    put_u64(out, (uint64_t)c->limits.memory_bytes);
    put_u64(out, (uint64_t)c->limits.pids_max);
    put_u64(out, (uint64_t)c->limits.cpu_millis);
    put_u64(out, (uint64_t)c->limits.nofile);
    put_u32(out, c->tty);
    put_u32(out, c->tty_rows);
    put_u32(out, c->tty_cols);
    put_u32(out, (uint32_t)c->init);
    put_str(out, spec->stop_cmd);
    put_u32(out, (uint32_t)spec->stop_signal);
    put_strv(out, c->denied_sources);
    put_strv(out, c->rootfs_layers);
    put_str(out, c->rootfs_upper);
    put_str(out, c->rootfs_work);
    put_u32(out, c->make_cwd);

    put_u32(out, (uint32_t)filter_len);
    if (filter_len)
        kl_buf_append(out, filter, filter_len);
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p;
    size_t left;
    bool is_bad;
} reader;

static const void *take(reader *r, size_t n)
{
    if (r->is_bad || n > r->left) {
        r->is_bad = true;
        return NULL;
    }
    const void *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static uint32_t get_u32(reader *r)
{
    uint32_t v = 0;
    const void *at = take(r, sizeof(v));
    if (at)
        memcpy(&v, at, sizeof(v));
    return v;
}

static uint64_t get_u64(reader *r)
{
    uint64_t v = 0;
    const void *at = take(r, sizeof(v));
    if (at)
        memcpy(&v, at, sizeof(v));
    return v;
}

static bool get_bool(reader *r)
{
    uint32_t v = get_u32(r);
    if (v > 1)
        r->is_bad = true;
    return v == 1;
}

/* A string in the record: its bytes, then a NUL, and no NUL within. */
static char *get_str(reader *r)
{
    uint32_t n = get_u32(r);
    if (r->is_bad || n == NONE)
        return NULL;
    const char *s = take(r, (size_t)n + 1);
    if (!s || s[n] != '\0' || memchr(s, '\0', n)) {
        r->is_bad = true;
        return NULL;
    }
    return (char *)s; /* the spec's types are char *; nothing writes through them */
}

static char **get_strv(reader *r)
{
    uint32_t n = get_u32(r);
    if (r->is_bad || n == NONE)
        return NULL;
    if (n > r->left / 5) { /* every string takes at least 5 bytes: no huge allocation */
        r->is_bad = true;
        return NULL;
    }
    char **v = xcalloc((size_t)n + 1, sizeof(*v));
    for (uint32_t i = 0; i < n; i++) {
        v[i] = get_str(r);
        if (!v[i]) {
            r->is_bad = true;
            break;
        }
    }
    return v;
}

void monitor_spec_free(monitor_spec_decoded *d)
{
    free(d->argv);
    free(d->env);
    free(d->cap_add);
    free(d->cap_drop);
    free(d->unmount_on_exit);
    free(d->denied_sources);
    free(d->rootfs_layers);
    free(d->mounts);
    memset(d, 0, sizeof(*d));
}

int monitor_spec_decode(const unsigned char *data, size_t len, monitor_spec_decoded *out,
                        kl_error *err)
{
    memset(out, 0, sizeof(*out));
    reader r = {.p = data, .left = len};
    const void *m = take(&r, sizeof(magic));
    if (!m || memcmp(m, magic, sizeof(magic)) != 0)
        return kl_error_set(err, EINVAL, "monitor spec: not a spec record");
    uint32_t version = get_u32(&r);
    if (version != MON_SPEC_VERSION)
        return kl_error_set(err, EINVAL,
                            "monitor spec: version %u, this kleene-monitor reads version %u "
                            "(kleened and kleene-monitor are from different builds)",
                            version, MON_SPEC_VERSION);
    host_monitor_spec *s = &out->spec;
    host_container_spec *c = &s->container;
    s->exec_id = get_str(&r);
    s->run_dir = get_str(&r);
    s->log_max_bytes = (size_t)get_u64(&r);
    s->unmount_on_exit = out->unmount_on_exit = get_strv(&r);
    s->attach = get_bool(&r);
    s->caller_unmounts = get_bool(&r);

    c->id = get_str(&r);
    c->rootfs = get_str(&r);
    c->hostname = get_str(&r);
    c->argv = out->argv = get_strv(&r);
    c->env = out->env = get_strv(&r);
    c->user = get_str(&r);
    c->cwd = get_str(&r);
    uint32_t n_mounts = get_u32(&r);
    if (!r.is_bad && n_mounts > r.left / 16) /* two strings and two u32 each, at least */
        r.is_bad = true;
    if (!r.is_bad && n_mounts) {
        out->mounts = xcalloc(n_mounts, sizeof(*out->mounts));
        for (uint32_t i = 0; i < n_mounts && !r.is_bad; i++) {
            out->mounts[i].source = get_str(&r);
            out->mounts[i].destination = get_str(&r);
            out->mounts[i].read_only = get_bool(&r);
            out->mounts[i].source_is_ours = get_bool(&r);
        }
        c->mounts = out->mounts;
        c->n_mounts = n_mounts;
    }
    c->cap_add = out->cap_add = get_strv(&r);
    c->cap_drop = out->cap_drop = get_strv(&r);
    uint32_t netns = get_u32(&r);
    if (netns > HOST_NETNS_PATH)
        r.is_bad = true;
    c->netns = (host_netns_mode)netns;
    c->netns_path = get_str(&r);
    c->share_ipc = get_bool(&r);
    c->no_devfs = get_bool(&r);
    c->login_env = get_bool(&r);
    c->no_seccomp = get_bool(&r);
    c->no_raw_sockets = get_bool(&r);
    c->limits.memory_bytes = (long long)get_u64(&r);
    c->limits.pids_max = (long long)get_u64(&r);
    c->limits.cpu_millis = (long long)get_u64(&r);
    c->limits.nofile = (long long)get_u64(&r);
    c->tty = get_bool(&r);
    uint32_t rows = get_u32(&r), cols = get_u32(&r);
    if (rows > 0xffff || cols > 0xffff)
        r.is_bad = true;
    c->tty_rows = (unsigned short)rows;
    c->tty_cols = (unsigned short)cols;
    c->stdin_fd = c->stdout_fd = c->stderr_fd = -1;
    uint32_t init = get_u32(&r);
    if (init > HOST_INIT_SYSTEMD)
        r.is_bad = true;
    c->init = (host_init_mode)init;
    s->stop_cmd = get_str(&r);
    uint32_t stop_signal = get_u32(&r);
    if (stop_signal > 64)
        r.is_bad = true;
    s->stop_signal = (int)stop_signal;
    c->denied_sources = out->denied_sources = get_strv(&r);
    c->rootfs_layers = out->rootfs_layers = get_strv(&r);
    c->rootfs_upper = get_str(&r);
    c->rootfs_work = get_str(&r);
    c->make_cwd = get_bool(&r);

    out->filter_len = get_u32(&r);
    out->filter = out->filter_len ? take(&r, out->filter_len) : NULL;
    if (!r.is_bad && r.left != 0)
        r.is_bad = true;
    if (r.is_bad) {
        monitor_spec_free(out);
        return kl_error_set(err, EINVAL, "monitor spec: malformed record");
    }
    return 0;
}
