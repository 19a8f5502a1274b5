/* Copies into and out of a container's filesystem (ctrcopy.h). */
#include "engine/ctrcopy.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "engine/volumes.h"
#include "host/fetch.h"
#include "host/fs.h"
#include "host/runtime.h"
#include "host/storage.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- stopped containers held by a copy ------------------------------------------------- */

typedef struct held {
    kl_engine *e;
    char id[13];
    struct held *next;
} held;

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static held *held_list;

bool ctrcopy_holds(kl_engine *e, const char *id)
{
    pthread_mutex_lock(&held_lock);
    bool found = false;
    for (held *h = held_list; h && !found; h = h->next)
        found = h->e == e && strcmp(h->id, id) == 0;
    pthread_mutex_unlock(&held_lock);
    return found;
}

static void hold_add(kl_engine *e, const char *id)
{
    held *h = xcalloc(1, sizeof(*h));
    h->e = e;
    snprintf(h->id, sizeof(h->id), "%s", id);
    pthread_mutex_lock(&held_lock);
    h->next = held_list;
    held_list = h;
    pthread_mutex_unlock(&held_lock);
}

static void hold_drop(kl_engine *e, const char *id)
{
    pthread_mutex_lock(&held_lock);
    for (held **p = &held_list; *p; p = &(*p)->next) {
        if ((*p)->e == e && strcmp((*p)->id, id) == 0) {
            held *h = *p;
            *p = h->next;
            free(h);
            break;
        }
    }
    pthread_mutex_unlock(&held_lock);
}

/* ---- opening ---------------------------------------------------------------------------- */

struct ctrcopy {
    kl_engine *e;
    char id[13];
    int rootfd;
    int hold;     /* the private namespace of a stopped container's view, else -1 */
    char *target; /* where that view was mounted (for its .flat), else NULL */
    bool running;
    bool held; /* registered: the container is not started or removed until the close */
};

const char *ctrcopy_container_id(const ctrcopy *c)
{
    return c->id;
}

bool ctrcopy_is_running(const ctrcopy *c)
{
    return c->running;
}

/* The pids of a running container from its monitor's state: 1 running, 0 not. */
static int running_pids(kl_engine *e, const char *id, int *pid, int *monitor)
{
    _cleanup_free_ char *dir = containers_run_dir(e, id);
    if (!dir)
        return 0;
    _cleanup_free_ char *path = xasprintf("%s/state.json", dir);
    _cleanup_json_ json_t *state = json_load_file(path, 0, NULL);
    if (!state || !jx_bool(state, "running", false))
        return 0;
    long long p = jx_int(state, "container_pid", -1), m = jx_int(state, "monitor_pid", -1);
    if (p <= 1 || p > 0x7fffffff || m <= 1 || m > 0x7fffffff)
        return 0;
    if (kill((pid_t)p, 0) < 0 && errno == ESRCH)
        return 0;
    *pid = (int)p;
    *monitor = (int)m;
    return 1;
}

static int ensure_dir(const char *path, mode_t mode, kl_error *err)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", path);
    return 0;
}

/* A stopped container's layers and mounts, mounted privately (under the engine lock: a
 * start takes it too, and refuses while the copy holds the container). */
static int open_stopped(ctrcopy *cc, const container_record *c, kl_error *err)
{
    kl_engine *e = cc->e;
    images_stack stack = {0};
    _cleanup_free_ char *dir = containers_dir(e, c->id);
    _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
    _cleanup_free_ char *work = xasprintf("%s/work", dir);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
    host_mount *mounts = xcalloc(c->n_mounts + 1, sizeof(*mounts));
    char **sources = xcalloc(c->n_mounts + 1, sizeof(*sources));
    int r = -1;
    do {
        if (images_resolve_stack(e, c->image_ref, &stack, err) < 0)
            break;
        if (ensure_dir(dir, 0700, err) < 0 || ensure_dir(upper, 0755, err) < 0 ||
            ensure_dir(work, 0700, err) < 0 || ensure_dir(rootfs, 0755, err) < 0)
            break;
        size_t i;
        for (i = 0; i < c->n_mounts; i++) {
            const container_mount *cm = &c->mounts[i];
            bool volume = strcmp(cm->type, "volume") == 0;
            /* as a start does (API.md §8.6): a volume that does not exist is made */
            if (volume && volumes_create(e, cm->source, err) < 0)
                break;
            sources[i] =
                volume ? xasprintf("%s/volumes/%s", e->root, cm->source) : xstrdup(cm->source);
            mounts[i] = (host_mount){.source = sources[i],
                                     .destination = cm->destination,
                                     .read_only = cm->read_only,
                                     .source_is_ours = volume};
        }
        if (i < c->n_mounts)
            break;
        int hold = -1;
        cc->rootfd =
            host_rootfs_open_mounted((const char *const *)stack.dirs, stack.n, upper, work, rootfs,
                                     mounts, c->n_mounts, e->private_dirs, &hold, err);
        if (cc->rootfd < 0)
            break;
        cc->hold = hold;
        cc->target = xstrdup(rootfs);
        r = 0;
    } while (0);
    for (size_t i = 0; i < c->n_mounts; i++)
        free(sources[i]);
    free(sources);
    free(mounts);
    images_stack_clear(&stack);
    return r;
}

ctrcopy *ctrcopy_open(kl_engine *e, const char *ident, kl_error *err)
{
    ctrcopy *cc = xcalloc(1, sizeof(*cc));
    cc->e = e;
    cc->rootfd = cc->hold = -1;
    container_record c = {0};
    engine_lock(e);
    int r = containers_get(e, ident, &c, err);
    if (r == 0) {
        snprintf(cc->id, sizeof(cc->id), "%s", c.id);
        int pid, monitor;
        if (running_pids(e, c.id, &pid, &monitor)) {
            cc->running = true;
            cc->rootfd = host_process_root_open(pid, monitor, err);
            r = cc->rootfd < 0 ? -1 : 0;
            /* Held too: the fd keeps the container's overlay even after the container has
             * stopped, and a new start must not mount the same upper directory meanwhile. */
            if (r == 0) {
                hold_add(e, c.id);
                cc->held = true;
            }
        } else if (ctrcopy_holds(e, c.id)) {
            r = kl_error_set(err, EBUSY, "another copy into or out of container %s is under way",
                             c.id);
        } else {
            r = open_stopped(cc, &c, err);
            if (r == 0) {
                hold_add(e, c.id);
                cc->held = true;
            }
        }
    }
    engine_unlock(e);
    container_record_clear(&c);
    if (r < 0) {
        if (cc->id[0])
            kl_error_prefix(err, "container %s", cc->id);
        ctrcopy_close(cc);
        return NULL;
    }
    return cc;
}

void ctrcopy_close(ctrcopy *c)
{
    if (!c)
        return;
    if (c->rootfd >= 0)
        close(c->rootfd);
    if (c->hold >= 0) {
        /* the last references: the private namespace and the overlay go with them */
        close(c->hold);
        kl_error ignored = KL_ERROR_INIT;
        host_rootfs_unmount(c->target, &ignored); /* its .flat, if the stack needed one */
    }
    if (c->held)
        hold_drop(c->e, c->id);
    free(c->target);
    free(c);
}

/* ---- paths ------------------------------------------------------------------------------ */

static void stat_clear_into(ctrcopy_stat *s)
{
    free(s->link_target);
    *s = (ctrcopy_stat){0};
}

void ctrcopy_stat_clear(ctrcopy_stat *s)
{
    stat_clear_into(s);
}

/* Whether the path asks for what it names followed: "…/" or "…/." (Docker's rule). */
static bool follows_last(const char *path)
{
    size_t n = strlen(path);
    return n > 1 && (path[n - 1] == '/' || (n >= 2 && path[n - 1] == '.' && path[n - 2] == '/'));
}

/* The name Docker gives a path (Go's filepath.Base): trailing slashes dropped, the last
 * element; "/" for the root. */
static void base_name(const char *path, char out[256])
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 1 && path[0] == '/') {
        snprintf(out, 256, "/");
        return;
    }
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    snprintf(out, 256, "%.*s", (int)(n - b), path + b);
}

/* Split a path into its components (empty ones and "." dropped), pushed onto *v. */
static void push_components(char ***v, const char *path)
{
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
        if (strcmp(t, ".") != 0)
            strv_push(v, t);
}

static char *join_components(char *const *parts, size_t n)
{
    kl_buf b = KL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kl_buf_printf(&b, "/%s", parts[i]);
    if (n == 0)
        kl_buf_puts(&b, "/");
    return kl_buf_steal(&b);
}

/* `path` with every symlink resolved inside the root, as the container would (the last
 * component too): an absolute, clean path. Components that do not exist are kept as they
 * are. Each link is read from its parent directory opened inside the root, so nothing is
 * followed outside it. ELOOP after 40 links. */
static char *resolve_in_root(int rootfd, const char *path, kl_error *err)
{
    _cleanup_strv_ char **todo = NULL; /* reversed: the next component last */
    _cleanup_strv_ char **done = NULL;
    {
        _cleanup_strv_ char **fwd = NULL;
        push_components(&fwd, path);
        for (size_t i = strv_len(fwd); i-- > 0;)
            strv_push(&todo, fwd[i]);
    }
    size_t n_done = 0;
    int links = 0;
    size_t n_todo;
    while ((n_todo = strv_len(todo)) > 0) {
        char *c = todo[n_todo - 1];
        todo[n_todo - 1] = NULL;
        _cleanup_free_ char *comp = c;
        if (strcmp(comp, "..") == 0) {
            if (n_done > 0) {
                free(done[--n_done]);
                done[n_done] = NULL;
            }
            continue;
        }
        _cleanup_free_ char *parent = join_components(done, n_done);
        _cleanup_close_ int pfd = host_open_in_root(rootfd, parent, O_PATH | O_DIRECTORY, 0);
        char target[4096];
        ssize_t len = pfd < 0 ? -1 : readlinkat(pfd, comp, target, sizeof(target) - 1);
        if (len < 0) {
            strv_push(&done, comp);
            n_done++;
            continue;
        }
        if (++links > 40)
            return kl_error_set(err, ELOOP, "%s: too many levels of symbolic links", path), NULL;
        target[len] = '\0';
        if (target[0] == '/') {
            strv_free(done);
            done = NULL;
            n_done = 0;
        }
        _cleanup_strv_ char **more = NULL;
        push_components(&more, target);
        for (size_t i = strv_len(more); i-- > 0;)
            strv_push(&todo, more[i]);
    }
    return join_components(done, n_done);
}

/* The directory that holds the path's last component (opened inside the root) and that
 * component ("." for the root). With Docker's rule for a trailing "/" or "/.", the path is
 * first resolved whole. */
static int open_parent(int rootfd, const char *path, char **last, kl_error *err)
{
    if (path[0] != '/')
        return kl_error_set(err, EINVAL, "the path '%s' is not absolute", path);
    _cleanup_free_ char *p =
        follows_last(path) ? resolve_in_root(rootfd, path, err) : xstrdup(path);
    if (!p)
        return -1;
    /* lexically: drop trailing slashes, split at the last one */
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    char *slash = strrchr(p, '/');
    const char *name = slash[1] ? slash + 1 : ".";
    if (strcmp(name, "..") == 0 || (strcmp(name, ".") == 0 && n > 1)) {
        /* "/a/b/.." and the like: what the container would open, resolved whole */
        _cleanup_free_ char *r = resolve_in_root(rootfd, p, err);
        if (!r)
            return -1;
        free(p);
        p = steal_pointer(&r);
        slash = strrchr(p, '/');
        name = slash[1] ? slash + 1 : ".";
    }
    *last = xstrdup(name);
    const char *dir = p;
    _cleanup_free_ char *dcopy = xstrndup(p, (size_t)(slash - p));
    if (slash != p)
        dir = dcopy;
    else
        dir = "/";
    int fd = host_open_in_root(rootfd, dir, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) {
        int e = errno;
        free(*last);
        *last = NULL;
        return kl_error_errno(err, e == EXDEV ? ENOENT : e, "%s", path);
    }
    return fd;
}

static int fill_stat(ctrcopy *c, int pfd, const char *last, const char *path, struct stat *st,
                     ctrcopy_stat *out, kl_error *err)
{
    if (host_fd_is_kernel_fs(pfd))
        return kl_error_set(err, EPERM,
                            "%s is on one of the kernel's filesystems of the container (/proc, "
                            "/sys, /dev/pts ...): not copied",
                            path);
    if (fstatat(pfd, last, st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "%s", path);
    *out = (ctrcopy_stat){0};
    base_name(path, out->name);
    out->size = st->st_size;
    out->mode = st->st_mode;
    out->mtime = st->st_mtim;
    if (S_ISLNK(st->st_mode)) {
        kl_error ignored = KL_ERROR_INIT;
        out->link_target = resolve_in_root(c->rootfd, path, &ignored);
    }
    return 0;
}

int ctrcopy_stat_path(ctrcopy *c, const char *path, ctrcopy_stat *out, kl_error *err)
{
    _cleanup_free_ char *last = NULL;
    _cleanup_close_ int pfd = open_parent(c->rootfd, path, &last, err);
    if (pfd < 0)
        return -1;
    struct stat st;
    return fill_stat(c, pfd, last, path, &st, out, err);
}

/* ---- out: the tar writer ---------------------------------------------------------------- */

#define BLOCK 512

typedef struct tdir {
    int fd;
    char **names; /* sorted */
    size_t i;
    char *prefix; /* entry name of the directory, with its trailing '/' */
} tdir;

struct ctrcopy_tar {
    ctrcopy *cc;
    kl_buf out; /* headers (and padding) not handed out yet */
    size_t out_at;
    int file;           /* the regular file whose data comes next, else -1 */
    uint64_t file_left; /* its bytes still to come */
    uint64_t file_pad;  /* zeros after them, to the block */
    bool file_short;    /* it shrank: zeros for the rest */
    struct linked {     /* files with more than one link met so far: later ones are archived as
                           hard links to the first */
        dev_t dev;
        ino_t ino;
        char *name;
    } * links;
    size_t n_links;
    tdir *dirs; /* the directories being walked, innermost last */
    size_t n_dirs;
    bool ended;
};

static void octal(char *field, size_t width, uint64_t v)
{
    /* width-1 digits and a NUL, zero padded */
    snprintf(field, width, "%0*llo", (int)(width - 1), (unsigned long long)v);
}

static bool fits_octal(uint64_t v, size_t width)
{
    return v < (1ULL << (3 * (width - 1)));
}

/* One pax record "LEN key=value\n" (LEN counts itself). */
static void pax_record(kl_buf *b, const char *key, const char *value)
{
    size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
    size_t len = body + 1;
    for (;;) {
        char digits[32];
        size_t d = (size_t)snprintf(digits, sizeof(digits), "%zu", len);
        if (body + d == len)
            break;
        len = body + d;
    }
    kl_buf_printf(b, "%zu %s=%s\n", len, key, value);
}

static void put_header(kl_buf *out, const char *name, char type, const struct stat *st,
                       uint64_t size, const char *link)
{
    char h[BLOCK];
    memset(h, 0, sizeof(h));
    snprintf(h, 100, "%s", name); /* cut: the pax path has it whole */
    octal(h + 100, 8, st->st_mode & 07777);
    octal(h + 108, 8, fits_octal(st->st_uid, 8) ? st->st_uid : 0);
    octal(h + 116, 8, fits_octal(st->st_gid, 8) ? st->st_gid : 0);
    octal(h + 124, 12, fits_octal(size, 12) ? size : 0);
    uint64_t mt = st->st_mtim.tv_sec > 0 ? (uint64_t)st->st_mtim.tv_sec : 0;
    octal(h + 136, 12, fits_octal(mt, 12) ? mt : 0);
    h[156] = type;
    if (link)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (type == '3' || type == '4') {
        octal(h + 329, 8, major(st->st_rdev));
        octal(h + 337, 8, minor(st->st_rdev));
    }
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    kl_buf_append(out, h, BLOCK);
}

static void pad_to_block(kl_buf *out, uint64_t n)
{
    static const char zeros[BLOCK];
    if (n % BLOCK)
        kl_buf_append(out, zeros, BLOCK - n % BLOCK);
}

/* A header for `name` (a pax extended header first when a field does not fit ustar). */
static void entry_header(kl_buf *out, const char *name, char type, const struct stat *st,
                         uint64_t size, const char *link)
{
    _cleanup_buf_ kl_buf pax = KL_BUF_INIT;
    if (strlen(name) >= 100)
        pax_record(&pax, "path", name);
    if (link && strlen(link) >= 100)
        pax_record(&pax, "linkpath", link);
    char num[32];
    if (!fits_octal(size, 12)) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)size);
        pax_record(&pax, "size", num);
    }
    if (!fits_octal(st->st_uid, 8)) {
        snprintf(num, sizeof(num), "%u", (unsigned)st->st_uid);
        pax_record(&pax, "uid", num);
    }
    if (!fits_octal(st->st_gid, 8)) {
        snprintf(num, sizeof(num), "%u", (unsigned)st->st_gid);
        pax_record(&pax, "gid", num);
    }
    if (st->st_mtim.tv_nsec) {
        snprintf(num, sizeof(num), "%lld.%09ld", (long long)st->st_mtim.tv_sec,
                 st->st_mtim.tv_nsec);
        pax_record(&pax, "mtime", num);
    }
    if (pax.len) {
        struct stat ps = {.st_mode = 0644, .st_mtim = {.tv_sec = st->st_mtim.tv_sec}};
        put_header(out, "././@PaxHeader", 'x', &ps, pax.len, NULL);
        kl_buf_append(out, pax.data, pax.len);
        pad_to_block(out, pax.len);
    }
    put_header(out, name, type, st, size, link);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entry `name` of directory dfd, archived as `ename`. A directory is pushed for the walk;
 * a regular file becomes the data that comes next; sockets are left out. */
static int add_entry(ctrcopy_tar *t, int dfd, const char *name, const char *ename, kl_error *err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0; /* gone meanwhile */
        return kl_error_errno(err, errno, "%s", ename);
    }
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return kl_error_errno(err, errno, "%s", ename);
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup < 0 ? NULL : fdopendir(dup);
        if (!d) {
            int e = errno;
            if (dup >= 0)
                close(dup);
            close(fd);
            return kl_error_errno(err, e, "%s", ename);
        }
        char **names = NULL;
        struct dirent *de;
        /* /proc, /sys, /dev/pts ... of a running container: the directory, not its contents
         * (interfaces, not files; dockerd's view of a root has none of them either) */
        bool walk = !host_fd_is_kernel_fs(fd);
        while (walk && (de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                strv_push(&names, de->d_name);
        closedir(d);
        size_t n = strv_len(names);
        if (n)
            qsort(names, n, sizeof(char *), cmp_str);
        _cleanup_free_ char *dname =
            ename[strlen(ename) - 1] == '/' ? xstrdup(ename) : xasprintf("%s/", ename);
        entry_header(&t->out, dname, '5', &st, 0, NULL);
        t->dirs = xrealloc(t->dirs, (t->n_dirs + 1) * sizeof(*t->dirs));
        t->dirs[t->n_dirs++] = (tdir){.fd = fd, .names = names, .prefix = steal_pointer(&dname)};
        return 0;
    }
    if (S_ISREG(st.st_mode)) {
        /* non-blocking: a fifo swapped in meanwhile must not hang the copy */
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        struct stat fst;
        if (fd < 0 || fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
            int e = fd < 0 ? errno : EAGAIN;
            if (fd >= 0)
                close(fd);
            if (e == ENOENT)
                return 0;
            return kl_error_errno(err, e, "%s", ename);
        }
        if (fst.st_nlink > 1) {
            for (size_t i = 0; i < t->n_links; i++) {
                if (t->links[i].dev == fst.st_dev && t->links[i].ino == fst.st_ino) {
                    close(fd);
                    entry_header(&t->out, ename, '1', &fst, 0, t->links[i].name);
                    return 0;
                }
            }
            t->links = xrealloc(t->links, (t->n_links + 1) * sizeof(*t->links));
            t->links[t->n_links++] =
                (struct linked){.dev = fst.st_dev, .ino = fst.st_ino, .name = xstrdup(ename)};
        }
        entry_header(&t->out, ename, '0', &fst, (uint64_t)fst.st_size, NULL);
        t->file = fd;
        t->file_left = (uint64_t)fst.st_size;
        t->file_pad = fst.st_size % BLOCK ? BLOCK - fst.st_size % BLOCK : 0;
        t->file_short = false;
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return errno == ENOENT ? 0 : kl_error_errno(err, errno, "%s", ename);
        target[n] = '\0';
        entry_header(&t->out, ename, '2', &st, 0, target);
        return 0;
    }
    if (S_ISFIFO(st.st_mode))
        entry_header(&t->out, ename, '6', &st, 0, NULL);
    else if (S_ISCHR(st.st_mode))
        entry_header(&t->out, ename, '3', &st, 0, NULL);
    else if (S_ISBLK(st.st_mode))
        entry_header(&t->out, ename, '4', &st, 0, NULL);
    return 0; /* sockets: nothing an archive can hold */
}

/* Queue what comes next: the next entry of the innermost directory, or the end. */
static int advance(ctrcopy_tar *t, kl_error *err)
{
    while (t->n_dirs > 0) {
        tdir *d = &t->dirs[t->n_dirs - 1];
        if (d->names && d->names[d->i]) {
            const char *name = d->names[d->i++];
            _cleanup_free_ char *ename = xasprintf("%s%s", d->prefix, name);
            return add_entry(t, d->fd, name, ename, err);
        }
        close(d->fd);
        strv_free(d->names);
        free(d->prefix);
        t->n_dirs--;
    }
    static const char zeros[2 * BLOCK];
    kl_buf_append(&t->out, zeros, sizeof(zeros));
    t->ended = true;
    return 0;
}

ctrcopy_tar *ctrcopy_tar_open(ctrcopy *c, const char *path, ctrcopy_stat *st, kl_error *err)
{
    ctrcopy_tar *t = xcalloc(1, sizeof(*t));
    t->cc = c;
    t->file = -1;
    _cleanup_free_ char *last = NULL;
    _cleanup_close_ int pfd = open_parent(c->rootfd, path, &last, err);
    struct stat sb;
    if (pfd < 0 || fill_stat(c, pfd, last, path, &sb, st, err) < 0) {
        ctrcopy_tar_free(t);
        return NULL;
    }
    /* Entries are named after the path's base name ("." for ".../."; the root's "/" gives
     * entries "./..." relative to it). */
    const char *top = strcmp(st->name, "/") == 0 ? "." : st->name;
    if (add_entry(t, pfd, last, top, err) < 0) {
        stat_clear_into(st);
        ctrcopy_tar_free(t);
        return NULL;
    }
    return t;
}

ssize_t ctrcopy_tar_read(ctrcopy_tar *t, char *buf, size_t max, kl_error *err)
{
    for (;;) {
        if (t->out_at < t->out.len) {
            size_t k = t->out.len - t->out_at;
            if (k > max)
                k = max;
            memcpy(buf, t->out.data + t->out_at, k);
            t->out_at += k;
            return (ssize_t)k;
        }
        kl_buf_reset(&t->out);
        t->out_at = 0;
        if (t->file >= 0) {
            if (t->file_left > 0) {
                size_t want = t->file_left < max ? (size_t)t->file_left : max;
                ssize_t n = 0;
                if (!t->file_short) {
                    n = KL_RETRY_EINTR(read(t->file, buf, want));
                    if (n < 0)
                        return kl_error_errno(err, errno, "reading a file of the container");
                    if (n == 0)
                        t->file_short = true;
                }
                if (t->file_short) {
                    memset(buf, 0, want);
                    n = (ssize_t)want;
                }
                t->file_left -= (uint64_t)n;
                return n;
            }
            close(t->file);
            t->file = -1;
            static const char zeros[BLOCK];
            kl_buf_append(&t->out, zeros, (size_t)t->file_pad);
            continue;
        }
        if (t->ended)
            return 0;
        if (advance(t, err) < 0)
            return -1;
    }
}

void ctrcopy_tar_free(ctrcopy_tar *t)
{
    if (!t)
        return;
    if (t->file >= 0)
        close(t->file);
    for (size_t i = 0; i < t->n_dirs; i++) {
        close(t->dirs[i].fd);
        strv_free(t->dirs[i].names);
        free(t->dirs[i].prefix);
    }
    free(t->dirs);
    for (size_t i = 0; i < t->n_links; i++)
        free(t->links[i].name);
    free(t->links);
    kl_buf_free(&t->out);
    ctrcopy_close(t->cc);
    free(t);
}

/* ---- in: extraction and the copy into the container ------------------------------------- */

static char *copies_dir(kl_engine *e)
{
    return xasprintf("%s/copies", e->root);
}

void ctrcopy_sweep(kl_engine *e)
{
    _cleanup_free_ char *dir = copies_dir(e);
    kl_error err = KL_ERROR_INIT;
    if (host_tree_remove(dir, &err) < 0)
        log_warn("removing %s: %s", dir, err.msg);
}

/* The helper reads the archive from a pipe that the caller's thread fills. */
typedef struct extraction {
    int in;
    int dirfd;
    int rc;
    host_fetch_stage stage;
    kl_error err;
} extraction;

static void *extraction_main(void *arg)
{
    extraction *x = arg;
    x->rc = host_extract_fd_child(x->in, x->dirfd, "x", NULL, NULL, &x->stage, &x->err);
    close(x->in);
    x->in = -1;
    return NULL;
}

static int remove_tree_at(int dfd, const char *name, kl_error *err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "%s", name);
    if (S_ISDIR(st.st_mode)) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return kl_error_errno(err, errno, "%s", name);
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dup < 0 ? NULL : fdopendir(dup);
        if (!d) {
            if (dup >= 0)
                close(dup);
            return kl_error_errno(err, errno, "%s", name);
        }
        _cleanup_strv_ char **names = NULL;
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                strv_push(&names, de->d_name);
        closedir(d);
        for (size_t i = 0; names && names[i]; i++)
            if (remove_tree_at(fd, names[i], err) < 0)
                return -1;
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
            return kl_error_errno(err, errno, "removing %s", name);
        return 0;
    }
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "removing %s", name);
    return 0;
}

typedef struct putter {
    const ctrcopy_put_opts *o;
} putter;

static int set_owner_times(const putter *p, int dfd, const char *name, const struct stat *st,
                           bool set_mode, kl_error *err)
{
    uid_t uid = p->o->copy_uid_gid ? st->st_uid : 0;
    gid_t gid = p->o->copy_uid_gid ? st->st_gid : 0;
    if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "setting the owner of %s", name);
    /* after the owner: chown clears set-id bits */
    if (set_mode && fchmodat(dfd, name, st->st_mode & 07777, 0) < 0)
        return kl_error_errno(err, errno, "setting the mode of %s", name);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int copy_data(int in, int out, const char *name, kl_error *err)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n < 0 &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
            char buf[65536];
            n = KL_RETRY_EINTR(read(in, buf, sizeof(buf)));
            for (ssize_t off = 0; n > 0 && off < n;) {
                ssize_t m = KL_RETRY_EINTR(write(out, buf + off, (size_t)(n - off)));
                if (m < 0)
                    return kl_error_errno(err, errno, "writing %s", name);
                off += m;
            }
        }
        if (n < 0)
            return kl_error_errno(err, errno, "writing %s", name);
        if (n == 0)
            return 0;
    }
}

static int put_dir(const putter *p, int sfd, int dfd, const char *rel, kl_error *err);

/* The staged entry `name` of sfd into directory dfd of the container (`rel`: its path below
 * the destination, for messages). Nothing in the container is followed: an existing entry
 * that is not a directory where a directory comes is replaced (Docker's rule). */
static int put_entry(const putter *p, int sfd, int dfd, const char *name, const char *rel,
                     kl_error *err)
{
    struct stat st, cur;
    if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "%s", rel);
    bool exists = fstatat(dfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0;
    if (S_ISDIR(st.st_mode)) {
        if (exists && !S_ISDIR(cur.st_mode)) {
            if (p->o->no_overwrite_dir_non_dir)
                return kl_error_set(err, EEXIST,
                                    "cannot overwrite non-directory \"%s\" with directory \"%s\"",
                                    rel, rel);
            if (remove_tree_at(dfd, name, err) < 0)
                return -1;
            exists = false;
        }
        if (!exists && mkdirat(dfd, name, 0700) < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
        _cleanup_close_ int sub_s =
            openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int sub_d =
            openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub_s < 0 || sub_d < 0)
            return kl_error_errno(err, errno, "opening %s", rel);
        if (put_dir(p, sub_s, sub_d, rel, err) < 0)
            return -1;
        return set_owner_times(p, dfd, name, &st, true, err);
    }
    if (exists && S_ISDIR(cur.st_mode)) {
        if (p->o->no_overwrite_dir_non_dir)
            return kl_error_set(err, EEXIST,
                                "cannot overwrite directory \"%s\" with non-directory \"%s\"", rel,
                                rel);
        if (remove_tree_at(dfd, name, err) < 0)
            return -1;
    } else if (exists && unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
        return kl_error_errno(err, errno, "replacing %s", rel);
    }
    if (S_ISREG(st.st_mode)) {
        _cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
            return kl_error_errno(err, errno, "%s", rel);
        _cleanup_close_ int out =
            openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
        if (copy_data(in, out, rel, err) < 0)
            return -1;
        return set_owner_times(p, dfd, name, &st, true, err);
    }
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return kl_error_errno(err, errno, "%s", rel);
        target[n] = '\0';
        /* stored as it is, never followed here: the container resolves it in its root */
        if (symlinkat(target, dfd, name) < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
        return set_owner_times(p, dfd, name, &st, false, err);
    }
    if (S_ISFIFO(st.st_mode)) {
        if (mkfifoat(dfd, name, st.st_mode & 07777) < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
        return set_owner_times(p, dfd, name, &st, true, err);
    }
    return 0; /* the helper creates no device nodes or sockets */
}

static int put_dir(const putter *p, int sfd, int dfd, const char *rel, kl_error *err)
{
    int dup = fcntl(sfd, F_DUPFD_CLOEXEC, 3);
    DIR *d = dup < 0 ? NULL : fdopendir(dup);
    if (!d) {
        if (dup >= 0)
            close(dup);
        return kl_error_errno(err, errno, "reading the staged archive");
    }
    _cleanup_strv_ char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            strv_push(&names, de->d_name);
    closedir(d);
    size_t n = strv_len(names);
    if (n)
        qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        if (put_entry(p, sfd, dfd, names[i], r, err) < 0)
            return -1;
    }
    return 0;
}

/* Feed the archive into the pipe; a helper that stopped reading (it failed, or the archive
 * ended before the body) ends the feeding, and the rest is left to the caller. */
static int feed(int pipe_w, ctrcopy_read_fn read, void *ctx, bool *source_failed)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(ctx, buf, sizeof(buf));
        if (n < 0) {
            *source_failed = true;
            return -1;
        }
        if (n == 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = KL_RETRY_EINTR(write(pipe_w, buf + off, (size_t)(n - off)));
            if (w < 0)
                return errno == EPIPE ? 0 : -1;
            off += w;
        }
    }
}

int ctrcopy_put(ctrcopy *c, const char *path, const ctrcopy_put_opts *o, ctrcopy_read_fn read,
                void *read_ctx, kl_error *err)
{
    if (path[0] != '/')
        return kl_error_set(err, EINVAL, "the path '%s' is not absolute", path);
    _cleanup_close_ int dest = host_open_in_root(c->rootfd, path, O_RDONLY | O_DIRECTORY, 0);
    if (dest < 0) {
        int e = errno;
        if (e == ENOTDIR)
            return kl_error_set(err, ENOTDIR, "extraction point is not a directory");
        return kl_error_errno(err, e == EXDEV ? ENOENT : e, "%s", path);
    }
    if (host_fd_is_kernel_fs(dest))
        return kl_error_set(err, EPERM,
                            "%s is on one of the kernel's filesystems of the container (/proc, "
                            "/sys, /dev/pts ...): nothing is copied there",
                            path);
    struct statvfs vfs;
    if (fstatvfs(dest, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        return kl_error_set(err, EROFS, "%s is on a read-only file system (a read-only volume)",
                            path);

    /* <root>/copies/<id>/x: private to kleened (0700), removed whatever happens */
    _cleanup_free_ char *base = copies_dir(c->e);
    if (mkdir(base, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", base);
    char sid[KL_ID_LEN + 1];
    kl_id_new(sid);
    _cleanup_free_ char *stage = xasprintf("%s/%s", base, sid);
    if (mkdir(stage, 0700) < 0)
        return kl_error_errno(err, errno, "creating %s", stage);
    int r = -1;
    do {
        _cleanup_close_ int sdir = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int pp[2];
        if (sdir < 0 || pipe2(pp, O_CLOEXEC) < 0) {
            kl_error_errno(err, errno, "preparing %s", stage);
            break;
        }
        extraction x = {.in = pp[0], .dirfd = sdir, .err = KL_ERROR_INIT};
        pthread_t t;
        int pr = pthread_create(&t, NULL, extraction_main, &x);
        if (pr != 0) {
            close(pp[0]);
            close(pp[1]);
            kl_error_errno(err, pr, "starting the extraction");
            break;
        }
        bool source_failed = false;
        feed(pp[1], read, read_ctx, &source_failed);
        close(pp[1]);
        pthread_join(t, NULL);
        if (source_failed) {
            kl_error_set(err, EIO, "the archive could not be read from the client");
            break;
        }
        if (x.rc < 0) {
            int code = x.stage == HOST_FETCH_STAGE_HELPER ? EIO : EBADMSG;
            kl_error_set(err, code, "the archive could not be extracted: %s", x.err.msg);
            break;
        }
        /* A crash from here leaves the staging directory (the next start removes it) and, for
         * a stopped container, nothing mounted: its view lives in a namespace only our fds
         * hold. */
        engine_crash_point("copy-staged");
        _cleanup_close_ int xfd =
            openat(sdir, "x", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (xfd < 0) {
            kl_error_errno(err, errno, "opening the extracted archive");
            break;
        }
        putter p = {.o = o};
        r = put_dir(&p, xfd, dest, "", err);
        if (r < 0 && err->code == EROFS)
            kl_error_set(err, EROFS, "%s is on a read-only file system (a read-only volume)", path);
    } while (0);
    kl_error rerr = KL_ERROR_INIT;
    if (host_tree_remove(stage, &rerr) < 0)
        log_warn("removing %s: %s", stage, rerr.msg);
    return r;
}
