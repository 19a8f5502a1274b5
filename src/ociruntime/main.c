/* kleene-runtime: an OCI runtime (runtime-spec 1.x) with runc's command line, a front end onto
 * Kleene's runtime core (src/host/linux, the same code that runs kleened's containers).
 * docs/oci-runtime.md says what is supported, what is refused and how clients use it.
 *
 * The process model is runc's: `create` sets the container up and leaves its process (pid 1
 * of the container, not a child of ours once we exit) waiting on exec.fifo in the state
 * directory; the caller (containerd's shim, conmon) is its subreaper and waits for it. `start`
 * opens the FIFO. Every other command works from the state under --root (ocistate.h), under a
 * lock, so that concurrent callers and a crashed caller are survived.
 *
 * Errors go to stderr and, with --log, to that file (text, or JSON lines as runc writes them,
 * which containerd's shim reads back); the exit status is 1.
 *
 * It must not: link the engine or the API; keep state anywhere but --root. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "host/runtime.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/signame.h"
#include "lib/xalloc.h"
#include "ociruntime/ocimap.h"
#include "ociruntime/ocispec.h"
#include "ociruntime/ocistate.h"

#define DEFAULT_ROOT "/run/kleene-runtime"

static struct {
    const char *root;
    const char *log;
    bool log_json;
    bool debug;
} G = {.root = DEFAULT_ROOT};

/* ---- output and errors ------------------------------------------------------------------------
 */

static void log_line(const char *level, const char *msg)
{
    if (!G.log)
        return;
    int fd = open(G.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char now[32];
    kl_time_now_iso(now);
    if (G.log_json) {
        _cleanup_json_ json_t *j =
            json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", now);
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            dprintf(fd, "%s\n", s);
    } else {
        dprintf(fd, "time=\"%s\" level=%s msg=\"%s\"\n", now, level, msg);
    }
    close(fd);
}

static int fail(const kl_error *e)
{
    fprintf(stderr, "kleene-runtime: %s\n", e->msg);
    log_line("error", e->msg);
    return 1;
}

static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failf(const char *fmt, ...)
{
    kl_error e = KL_ERROR_INIT;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    e.code = EINVAL;
    return fail(&e);
}

static void debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void debugf(const char *fmt, ...)
{
    if (!G.debug)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line("debug", msg);
}

/* ---- option parsing (runc's: --opt value, --opt=value, -opt, bool flags) ----------------------
 */

typedef struct opt {
    const char *name; /* long name without dashes */
    char short_name;  /* 0: none */
    bool takes_value;
    const char **value; /* for takes_value */
    bool *flag;         /* for flags */
    char ***multi;      /* repeatable (takes_value) */
} opt;

/* Parse options of `opts` from argv[*i...] until the first non-option (or "--"). Returns -1
 * (with a message) on an unknown option or a missing value. */
static int parse_opts(int argc, char **argv, int *i, const opt *opts, const char *cmd)
{
    while (*i < argc) {
        char *a = argv[*i];
        if (strcmp(a, "--") == 0) {
            (*i)++;
            return 0;
        }
        if (a[0] != '-' || a[1] == '\0')
            return 0;
        const char *name = a + 1 + (a[1] == '-');
        size_t nlen = strcspn(name, "=");
        const char *inline_val = name[nlen] == '=' ? name + nlen + 1 : NULL;
        const opt *o = NULL;
        for (const opt *p = opts; p->name; p++) {
            if ((strlen(p->name) == nlen && strncmp(p->name, name, nlen) == 0) ||
                (p->short_name && nlen == 1 && name[0] == p->short_name && a[1] != '-'))
                o = p;
        }
        if (!o) {
            failf("%s: unknown option %s", cmd, a);
            return -1;
        }
        (*i)++;
        if (!o->takes_value) {
            if (inline_val)
                *o->flag = strcmp(inline_val, "false") != 0 && strcmp(inline_val, "0") != 0;
            else
                *o->flag = true;
            continue;
        }
        const char *v = inline_val;
        if (!v) {
            if (*i >= argc) {
                failf("%s: option %s needs a value", cmd, a);
                return -1;
            }
            v = argv[(*i)++];
        }
        if (o->multi)
            strv_push(o->multi, v);
        else
            *o->value = v;
    }
    return 0;
}

/* ---- shared steps ------------------------------------------------------------------------------
 */

static int open_root(kl_error *err)
{
    return oci_root_open(G.root, err);
}

static char *abs_path(const char *p)
{
    char *r = realpath(p, NULL);
    return r ? r : xstrdup(p);
}

/* Write `pid` to `path` atomically (temp + rename), as runc. */
static int write_pid_file(const char *path, int pid, kl_error *err)
{
    _cleanup_free_ char *abs = NULL;
    if (path[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof(cwd)))
            return kl_error_errno(err, errno, "pid file %s", path);
        abs = xasprintf("%s/%s", cwd, path);
    } else {
        abs = xstrdup(path);
    }
    _cleanup_free_ char *dir = xstrdup(abs);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    _cleanup_free_ char *tmp = xasprintf("%s/.%s.tmp", *dir ? dir : "", slash + 1);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return kl_error_errno(err, errno, "pid file %s", path);
    if (dprintf(fd, "%d", pid) < 0 || rename(tmp, abs) < 0) {
        unlink(tmp);
        return kl_error_errno(err, errno, "pid file %s", path);
    }
    return 0;
}

/* Send the pty master over the console socket (SCM_RIGHTS), as runc does. */
static int send_console(const char *sock_path, int master, kl_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof(sa.sun_path))
        return kl_error_set(err, ENAMETOOLONG, "console socket path too long");
    strcpy(sa.sun_path, sock_path);
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return kl_error_errno(err, errno, "connecting to the console socket %s", sock_path);
    char name[] = "/dev/ptmx";
    struct iovec iov = {.iov_base = name, .iov_len = sizeof(name) - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    if (KL_RETRY_EINTR(sendmsg(s, &mh, MSG_NOSIGNAL)) < 0)
        return kl_error_errno(err, errno, "sending the console to %s", sock_path);
    return 0;
}

static json_t *annotations_json(const oci_state *s)
{
    json_t *o = json_object();
    for (size_t i = 0; s->annotation_keys && s->annotation_keys[i]; i++)
        json_object_set_new(o, s->annotation_keys[i], json_string(s->annotation_values[i]));
    return o;
}

/* The state JSON hooks get on stdin. */
static char *hook_state(const oci_state *s, const char *status, int pid)
{
    _cleanup_json_ json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:o}", "ociVersion", "1.0.2", "id", s->id, "status",
                  status, "pid", pid, "bundle", s->bundle, "annotations", annotations_json(s));
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static int run_hooks(const oci_hook_list *l, const char *state, const char *kind, kl_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        host_hook h = {.path = l->hooks[i].path,
                       .args = l->hooks[i].args,
                       .env = l->hooks[i].env,
                       .timeout_s = l->hooks[i].timeout};
        if (host_hook_run(&h, state, err) < 0)
            return kl_error_prefix(err, "%s", kind);
    }
    return 0;
}

/* poststart and poststop: a failure is a warning, and the other hooks still run
 * (runtime-spec: "the runtime MUST log a warning, but the remaining hooks and lifecycle
 * continue"). */
static void run_hooks_warn(const oci_hook_list *l, const char *state, const char *kind)
{
    for (size_t i = 0; i < l->n; i++) {
        host_hook h = {.path = l->hooks[i].path,
                       .args = l->hooks[i].args,
                       .env = l->hooks[i].env,
                       .timeout_s = l->hooks[i].timeout};
        kl_error err = KL_ERROR_INIT;
        if (host_hook_run(&h, state, &err) < 0) {
            kl_error_prefix(&err, "%s", kind);
            fprintf(stderr, "kleene-runtime: warning: %s\n", err.msg);
            log_line("warning", err.msg);
        }
    }
}

typedef struct create_ctx {
    oci_state *state;
    oci_config *config;
} create_ctx;

/* In the caller once the container's namespaces exist: createRuntime. (prestart runs at
 * start, before the command: runtime-spec 1.0's timing, which the validation suite checks.) */
static char *on_created(void *p, int pid, kl_error *err)
{
    create_ctx *c = p;
    _cleanup_free_ char *st = hook_state(c->state, "creating", pid);
    if (run_hooks(&c->config->hooks[OCI_HOOK_CREATE_RUNTIME], st, "createRuntime", err) < 0)
        return NULL;
    return hook_state(c->state, "created", pid);
}

/* The config saved at create (hooks for start and delete, seccomp for exec). */
static int saved_config(const oci_state *s, oci_config *c, kl_error *err)
{
    if (!s->config_json || !*s->config_json) {
        memset(c, 0, sizeof(*c));
        return 0;
    }
    return oci_config_parse(s->config_json, strlen(s->config_json), c, err);
}

/* Read a whole small file (config.json, process.json, resources). */
static char *read_text(const char *path, size_t *len, kl_error *err)
{
    _cleanup_close_ int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "%s", path), NULL;
    size_t cap = 8192, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= OCI_CONFIG_MAX) {
                free(buf);
                return kl_error_set(err, EFBIG, "%s: larger than %u bytes", path, OCI_CONFIG_MAX),
                       NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t r = KL_RETRY_EINTR(read(fd, buf + n, cap - n));
        if (r < 0) {
            free(buf);
            return kl_error_errno(err, errno, "reading %s", path), NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- create / start / run ----------------------------------------------------------------------
 */

typedef struct create_opts {
    const char *bundle, *pid_file, *console_socket, *preserve_fds;
    bool no_pivot, no_new_keyring, detach, keep;
} create_opts;

/* Relay between our stdio and the container's pty (run in the foreground with a terminal and
 * no console socket); returns when the pty hangs up. */
static void relay_pty(int master)
{
    struct termios saved;
    bool raw = tcgetattr(0, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        tcsetattr(0, TCSANOW, &t);
    }
    char buf[8192];
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = {{.fd = master, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        if (KL_RETRY_EINTR(poll(p, in_open ? 2 : 1, -1)) < 0)
            break;
        if (p[0].revents) {
            ssize_t n = read(master, buf, sizeof(buf));
            if (n <= 0)
                break;
            if (write(1, buf, (size_t)n) < 0)
                break;
        }
        if (in_open && p[1].revents) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n <= 0)
                in_open = false;
            else if (write(master, buf, (size_t)n) < 0)
                break;
        }
    }
    if (raw)
        tcsetattr(0, TCSANOW, &saved);
}

static int do_create(const char *id, const create_opts *o, bool is_run, int *pid_out, int *pty_out,
                     kl_error *err)
{
    if (oci_id_check(id, err) < 0)
        return -1;
    int preserve = 0;
    if (o->preserve_fds) {
        char *end;
        long v = strtol(o->preserve_fds, &end, 10);
        if (*end || v < 0 || v > 1024)
            return kl_error_set(err, EINVAL, "--preserve-fds: '%s' is not a number of fds",
                                o->preserve_fds);
        preserve = (int)v;
    }
    _cleanup_free_ char *bundle = abs_path(o->bundle ? o->bundle : ".");
    oci_config config;
    if (oci_config_load(bundle, &config, err) < 0)
        return -1;
    _cleanup_(oci_config_freep) oci_config *cfg = &config;
    _cleanup_(oci_mapped_free) oci_mapped m;
    if (oci_map(cfg, bundle, id, &m, err) < 0)
        return -1;
    if (cfg->process.terminal && !o->console_socket && !(is_run && !o->detach))
        return kl_error_set(err, EINVAL,
                            "process.terminal is true: --console-socket is required to hand "
                            "over the terminal");
    if (!cfg->process.terminal && o->console_socket)
        return kl_error_set(err, EINVAL, "--console-socket given but process.terminal is false");
    m.full.process.preserve_fds = preserve;
    size_t cfg_len = 0;
    _cleanup_free_ char *cfg_path = xasprintf("%s/config.json", bundle);
    _cleanup_free_ char *cfg_text = read_text(cfg_path, &cfg_len, err);
    if (!cfg_text)
        return -1;

    _cleanup_close_ int rootfd = open_root(err);
    if (rootfd < 0)
        return -1;
    _cleanup_close_ int dirfd = oci_state_create_dir(rootfd, id, err);
    if (dirfd < 0)
        return -1;
    char now[32];
    kl_time_now_iso(now);
    oci_state st = {.id = (char *)id,
                    .bundle = bundle,
                    .rootfs = m.rootfs,
                    .created = now,
                    .annotation_keys = cfg->annotation_keys,
                    .annotation_values = cfg->annotation_values,
                    .config_json = cfg_text,
                    .status = OCI_CREATING};
    int r = oci_state_save(dirfd, &st, err);
    _cleanup_close_ int fifo = -1;
    /* Writable by anyone (not through our 0700 directory: through the fd the container's
     * process holds), so that a process whose root is another uid (a user namespace) can
     * pass the gate. */
    if (r == 0 &&
        (mkfifoat(dirfd, OCI_FIFO_NAME, 0622) < 0 || fchmodat(dirfd, OCI_FIFO_NAME, 0622, 0) < 0))
        r = kl_error_errno(err, errno, "creating the start FIFO");
    if (r == 0) {
        fifo = openat(dirfd, OCI_FIFO_NAME, O_PATH | O_CLOEXEC);
        if (fifo < 0)
            r = kl_error_errno(err, errno, "opening the start FIFO");
    }
    host_process proc = {.pid = -1, .pty_fd = -1};
    create_ctx cc = {.state = &st, .config = cfg};
    /* Without a mount namespace the container's mounts are made in ours: remember what was
     * there, so that delete (or a failed create) undoes exactly the container's. */
    _cleanup_free_ char *snapshot = NULL;
    if (r == 0 && !oci_config_namespace(cfg, "mount")) {
        snapshot = host_mounts_snapshot(m.rootfs);
        st.host_mounts = snapshot;
        r = oci_state_save(dirfd, &st, err);
    }
    bool started = false;
    if (r == 0) {
        m.full.start_fd = fifo;
        if (cfg->hooks[OCI_HOOK_CREATE_RUNTIME].n) {
            m.full.on_created = on_created;
            m.full.ctx = &cc;
        }
        /* Our own stdio is the container's (the caller's pipes or terminal). */
        r = host_container_start(&m.spec, &proc, err);
        started = r == 0;
    }
    if (r == 0 && proc.pty_fd >= 0 && o->console_socket)
        r = send_console(o->console_socket, proc.pty_fd, err);
    if (r == 0) {
        st.pid = proc.pid;
        st.pid_start = oci_pid_start_time(proc.pid);
        st.cgroups = host_process_cgroups(&proc);
        st.status = OCI_CREATED;
        r = oci_state_save(dirfd, &st, err);
    }
    if (r == 0 && o->pid_file)
        r = write_pid_file(o->pid_file, proc.pid, err);
    if (r < 0) {
        if (started) {
            kill(proc.pid, SIGKILL);
            int code;
            kl_error ignored = KL_ERROR_INIT;
            host_process_wait(&proc, 5000, &code, &ignored);
        }
        host_process_release(&proc);
        strv_free(st.cgroups);
        kl_error ignored = KL_ERROR_INIT;
        if (snapshot)
            host_mounts_undo(m.rootfs, snapshot, &ignored);
        oci_state_remove(rootfd, dirfd, id, &ignored);
        return kl_error_prefix(err, "container %s", id);
    }
    debugf("container %s: created, pid %d", id, proc.pid);
    strv_free(st.cgroups);
    *pid_out = proc.pid;
    if (pty_out)
        *pty_out = steal_fd(&proc.pty_fd);
    /* Without waiting: the process outlives us (the caller's subreaper adopts it). */
    host_process_release(&proc);
    return 0;
}

static int wait_gone(int pid, uint64_t start, int timeout_ms);
static int delete_locked(int rootfd, int dirfd, oci_state *sp, const char *id, kl_error *err);

static int do_start(const char *id, kl_error *err)
{
    _cleanup_close_ int rootfd = open_root(err);
    if (rootfd < 0)
        return -1;
    _cleanup_close_ int dirfd = oci_state_open_dir(rootfd, id, true, err);
    if (dirfd < 0)
        return -1;
    oci_state s;
    if (oci_state_load(dirfd, &s, err) < 0)
        return kl_error_prefix(err, "container %s", id);
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (s.status != OCI_CREATED)
        return kl_error_set(err, EINVAL, "container %s is %s: only a created container can start",
                            id, oci_status_name(s.status));
    oci_config c;
    if (saved_config(&s, &c, err) < 0)
        return kl_error_prefix(err, "container %s", id);
    _cleanup_(oci_config_freep) oci_config *cp = &c;
    _cleanup_free_ char *fifo = xasprintf("%s/%s/%s", G.root, id, OCI_FIFO_NAME);
    if (!c.has_process) {
        /* Nothing to run: an error (runtime-spec), and the container's placeholder process,
         * let through its gate, ends: the container is stopped. */
        kl_error ignored = KL_ERROR_INIT;
        if (host_container_release_gate(fifo, s.pid, &ignored) == 0)
            unlinkat(dirfd, OCI_FIFO_NAME, 0);
        return kl_error_set(err, EINVAL,
                            "container %s has no process in its config.json: nothing to start", id);
    }
    {
        _cleanup_free_ char *state = hook_state(&s, "created", s.pid);
        if (run_hooks(&c.hooks[OCI_HOOK_PRESTART], state, "prestart", err) < 0) {
            /* runtime-spec: an error, the container stopped, and the lifecycle goes on at
             * its delete (poststop hooks, nothing left). */
            kl_error derr = KL_ERROR_INIT;
            if (delete_locked(rootfd, dirfd, &s, id, &derr) < 0)
                log_line("warning", derr.msg);
            return kl_error_prefix(err, "container %s", id);
        }
    }
    if (host_container_release_gate(fifo, s.pid, err) < 0)
        return kl_error_prefix(err, "container %s", id);
    unlinkat(dirfd, OCI_FIFO_NAME, 0);
    debugf("container %s: started", id);
    _cleanup_free_ char *state = hook_state(&s, "running", s.pid);
    run_hooks_warn(&c.hooks[OCI_HOOK_POSTSTART], state, "poststart");
    return 0;
}

/* Wait for the (not our child) process to be gone. */
static int wait_gone(int pid, uint64_t start, int timeout_ms)
{
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0 || !oci_pid_is_alive(pid, start))
        return 0;
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    return KL_RETRY_EINTR(poll(&p, 1, timeout_ms)) == 1 ? 0 : -1;
}

static int do_delete(const char *id, bool force, kl_error *err)
{
    _cleanup_close_ int rootfd = open_root(err);
    if (rootfd < 0)
        return -1;
    _cleanup_close_ int dirfd = oci_state_open_dir(rootfd, id, true, err);
    if (dirfd < 0)
        return -1;
    oci_state s;
    if (oci_state_load(dirfd, &s, err) < 0) {
        if (err->code != ENOENT)
            return kl_error_prefix(err, "container %s", id);
        /* A create that died before its first state: nothing else exists. */
        return oci_state_remove(rootfd, dirfd, id, err);
    }
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (s.status == OCI_CREATING && oci_pid_is_alive(s.pid, s.pid_start) && !force)
        return kl_error_set(err, EBUSY, "container %s is being created", id);
    /* runtime-spec: deleting a container that is not stopped is an error; a created one
     * too (runc and crun kill it; the validation suite checks the spec). --force kills. */
    if ((s.status == OCI_RUNNING || s.status == OCI_PAUSED || s.status == OCI_CREATED) && !force)
        return kl_error_set(err, EBUSY, "container %s is %s: stop it first or use delete --force",
                            id, oci_status_name(s.status));
    return delete_locked(rootfd, dirfd, &s, id, err);
}

/* The end of a container, its lock held: kill what is left, remove its cgroups and mounts,
 * run the poststop hooks, remove its state. */
static int delete_locked(int rootfd, int dirfd, oci_state *sp, const char *id, kl_error *err)
{
    oci_state s = *sp;
    if (oci_pid_is_alive(s.pid, s.pid_start)) {
        if (s.status == OCI_PAUSED) {
            kl_error ignored = KL_ERROR_INIT;
            host_cgroups_freeze(s.cgroups, false, &ignored);
        }
        kill(s.pid, SIGKILL);
        if (wait_gone(s.pid, s.pid_start, 10000) < 0)
            return kl_error_set(err, EBUSY, "container %s: its process %d did not die", id, s.pid);
    }
    /* Processes of a container without its own pid namespace may remain in its cgroup. */
    int *pids = NULL;
    kl_error ignored = KL_ERROR_INIT;
    if (host_cgroups_pids(s.cgroups, &pids, &ignored) > 0) {
        for (int *p = pids; *p; p++)
            kill(*p, SIGKILL);
        for (int *p = pids; *p; p++)
            wait_gone(*p, oci_pid_start_time(*p), 2000);
    }
    free(pids);
    if (host_cgroups_remove(s.cgroups, err) < 0)
        return kl_error_prefix(err, "container %s", id);
    if (s.host_mounts && host_mounts_undo(s.rootfs, s.host_mounts, err) < 0)
        return kl_error_prefix(err, "container %s", id);
    oci_config c;
    kl_error herr = KL_ERROR_INIT;
    if (saved_config(&s, &c, &herr) == 0) {
        s.status = OCI_STOPPED;
        _cleanup_free_ char *state = hook_state(&s, "stopped", 0);
        run_hooks_warn(&c.hooks[OCI_HOOK_POSTSTOP], state, "poststop");
        oci_config_free(&c);
    }
    if (oci_state_remove(rootfd, dirfd, id, err) < 0)
        return -1;
    debugf("container %s: deleted", id);
    return 0;
}

static int cmd_create_or_run(int argc, char **argv, int i, bool is_run)
{
    create_opts o = {0};
    const opt opts[] = {
        {"bundle", 'b', true, &o.bundle, NULL, NULL},
        {"pid-file", 0, true, &o.pid_file, NULL, NULL},
        {"console-socket", 0, true, &o.console_socket, NULL, NULL},
        {"preserve-fds", 0, true, &o.preserve_fds, NULL, NULL},
        {"no-pivot", 0, false, NULL, &o.no_pivot, NULL},
        {"no-new-keyring", 0, false, NULL, &o.no_new_keyring, NULL},
        {"detach", 'd', false, NULL, &o.detach, NULL},
        {"keep", 0, false, NULL, &o.keep, NULL},
        {NULL, 0, false, NULL, NULL, NULL},
    };
    const char *cmd = is_run ? "run" : "create";
    if (parse_opts(argc, argv, &i, opts, cmd) < 0)
        return 1;
    if (i != argc - 1)
        return failf("%s: exactly one container id is needed", cmd);
    if (!is_run && (o.detach || o.keep))
        return failf("create: --detach and --keep are options of run");
    const char *id = argv[i];
    kl_error err = KL_ERROR_INIT;
    int pid = -1, pty = -1;
    if (do_create(id, &o, is_run, &pid, &pty, &err) < 0)
        return fail(&err);
    if (!is_run)
        return 0;
    if (do_start(id, &err) < 0) {
        kl_error ignored = KL_ERROR_INIT;
        do_delete(id, true, &ignored);
        return fail(&err);
    }
    if (o.detach)
        return 0;
    /* In the foreground: the container is our child until it ends. */
    if (pty >= 0)
        relay_pty(pty);
    int st = 0, code = 255;
    if (KL_RETRY_EINTR(waitpid(pid, &st, 0)) == pid)
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (!o.keep) {
        kl_error derr = KL_ERROR_INIT;
        if (do_delete(id, true, &derr) < 0)
            fail(&derr);
    }
    return code;
}

static int cmd_start(int argc, char **argv, int i)
{
    const opt opts[] = {{NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "start") < 0)
        return 1;
    if (i != argc - 1)
        return failf("start: exactly one container id is needed");
    kl_error err = KL_ERROR_INIT;
    return do_start(argv[i], &err) < 0 ? fail(&err) : 0;
}

static int cmd_delete(int argc, char **argv, int i)
{
    bool force = false;
    const opt opts[] = {{"force", 'f', false, NULL, &force, NULL},
                        {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "delete") < 0)
        return 1;
    if (i != argc - 1)
        return failf("delete: exactly one container id is needed");
    kl_error err = KL_ERROR_INIT;
    if (do_delete(argv[i], force, &err) < 0) {
        /* runc: deleting what does not exist with --force is no error. */
        if (force && err.code == ENOENT)
            return 0;
        return fail(&err);
    }
    return 0;
}

/* ---- state / list / kill / ps / pause / resume -------------------------------------------------
 */

static int load_locked(const char *id, bool exclusive, int *rootfd, int *dirfd, oci_state *s,
                       kl_error *err)
{
    *rootfd = open_root(err);
    if (*rootfd < 0)
        return -1;
    *dirfd = oci_state_open_dir(*rootfd, id, exclusive, err);
    if (*dirfd < 0)
        return -1;
    if (oci_state_load(*dirfd, s, err) < 0)
        return kl_error_prefix(err, "container %s", id);
    return 0;
}

static int cmd_state(int argc, char **argv, int i)
{
    const opt opts[] = {{NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "state") < 0)
        return 1;
    if (i != argc - 1)
        return failf("state: exactly one container id is needed");
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int rootfd = -1, dirfd = -1;
    oci_state s;
    if (load_locked(argv[i], false, &rootfd, &dirfd, &s, &err) < 0)
        return fail(&err);
    _cleanup_free_ char *j = oci_state_json(&s, true);
    printf("%s\n", j);
    oci_state_free(&s);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(int argc, char **argv, int i)
{
    bool quiet = false;
    const char *format = "table";
    const opt opts[] = {{"quiet", 'q', false, NULL, &quiet, NULL},
                        {"format", 'f', true, &format, NULL, NULL},
                        {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "list") < 0)
        return 1;
    if (i != argc)
        return failf("list: takes no arguments");
    if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
        return failf("list: --format must be table or json");
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int rootfd = open_root(&err);
    if (rootfd < 0)
        return fail(&err);
    int dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d)
        return failf("list: reading %s: %s", G.root, strerror(errno));
    _cleanup_strv_ char **ids = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && oci_id_check(de->d_name, NULL) == 0)
            strv_push(&ids, de->d_name);
    size_t n = strv_len(ids);
    if (n)
        qsort(ids, n, sizeof(char *), cmp_str);
    _cleanup_json_ json_t *arr = json_array();
    if (!quiet && strcmp(format, "table") == 0)
        printf("%-20s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (size_t k = 0; k < n; k++) {
        kl_error e2 = KL_ERROR_INIT;
        _cleanup_close_ int dirfd = oci_state_open_dir(rootfd, ids[k], false, &e2);
        oci_state s;
        if (dirfd < 0 || oci_state_load(dirfd, &s, &e2) < 0)
            continue;
        int pid = s.status == OCI_STOPPED ? 0 : s.pid;
        if (quiet)
            printf("%s\n", s.id);
        else if (strcmp(format, "json") == 0)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:o}",
                                                 "ociVersion", "1.0.2", "id", s.id, "pid", pid,
                                                 "status", oci_status_name(s.status), "bundle",
                                                 s.bundle, "rootfs", s.rootfs, "created", s.created,
                                                 "annotations", annotations_json(&s)));
        else
            printf("%-20s %-8d %-10s %-40s %s\n", s.id, pid, oci_status_name(s.status), s.bundle,
                   s.created);
        oci_state_free(&s);
    }
    if (!quiet && strcmp(format, "json") == 0) {
        _cleanup_free_ char *out = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", out);
    }
    return 0;
}

static int cmd_kill(int argc, char **argv, int i)
{
    bool all = false;
    const opt opts[] = {{"all", 'a', false, NULL, &all, NULL}, {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "kill") < 0)
        return 1;
    if (i != argc - 1 && i != argc - 2)
        return failf("kill: usage: kill [--all] ID [SIGNAL]");
    const char *id = argv[i];
    int sig = SIGTERM;
    if (i == argc - 2) {
        sig = kl_signal_parse(argv[i + 1]); /* the names of lib/signame.h */
        if (sig < 0)
            return failf("kill: unknown signal '%s'", argv[i + 1]);
    }
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int rootfd = -1, dirfd = -1;
    oci_state s;
    if (load_locked(id, false, &rootfd, &dirfd, &s, &err) < 0)
        return fail(&err);
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (s.status == OCI_CREATING || (s.status == OCI_STOPPED && !all))
        return failf("container %s is not running", id);
    if (all) {
        /* Every process left in the container's cgroup, whatever the state: a stopped
         * container may still hold processes (its pid 1 gone, others not), and containerd
         * calls `kill --all` after every task exit to be sure (runc accepts it in any state).
         * A stopped container whose cgroup is gone has nothing left to signal. */
        int *pids = NULL;
        int n = host_cgroups_pids(s.cgroups, &pids, &err);
        if (n < 0 && s.status == OCI_STOPPED && err.code == ENOENT)
            return 0;
        if (n < 0)
            return fail(&err);
        for (int k = 0; k < n; k++)
            kill(pids[k], sig);
        free(pids);
        return 0;
    }
    /* The recorded process only: a pidfd pins it against reuse between check and kill. */
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, s.pid, 0);
    if (pidfd < 0 || !oci_pid_is_alive(s.pid, s.pid_start))
        return failf("container %s is not running", id);
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        return failf("container %s: kill: %s", id, strerror(errno));
    return 0;
}

static int cmd_ps(int argc, char **argv, int i)
{
    const char *format = "table";
    const opt opts[] = {{"format", 'f', true, &format, NULL, NULL},
                        {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "ps") < 0)
        return 1;
    if (i >= argc)
        return failf("ps: a container id is needed");
    const char *id = argv[i++];
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int rootfd = -1, dirfd = -1;
    oci_state s;
    if (load_locked(id, false, &rootfd, &dirfd, &s, &err) < 0)
        return fail(&err);
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (s.status == OCI_STOPPED)
        return failf("container %s is not running", id);
    int *pids = NULL;
    int n = host_cgroups_pids(s.cgroups, &pids, &err);
    if (n < 0)
        return fail(&err);
    _cleanup_free_ int *pp = pids;
    if (strcmp(format, "json") == 0) {
        printf("[");
        for (int k = 0; k < n; k++)
            printf("%s%d", k ? "," : "", pids[k]);
        printf("]\n");
        return 0;
    }
    if (strcmp(format, "table") != 0)
        return failf("ps: --format must be table or json");
    /* ps(1) with the given arguments (default -ef), its lines filtered to the container's. */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return failf("ps: pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        dup2(fds[1], 1);
        char **args = xcalloc((size_t)(argc - i) + 3, sizeof(char *));
        size_t k = 0;
        args[k++] = "ps";
        if (i == argc)
            args[k++] = "-ef";
        for (int a = i; a < argc; a++)
            args[k++] = argv[a];
        execvp("ps", args);
        _exit(127);
    }
    close(fds[1]);
    _cleanup_fclose_ FILE *f = fdopen(fds[0], "r");
    char line[4096];
    int pid_col = -1;
    bool first = true;
    while (f && fgets(line, sizeof(line), f)) {
        if (first) {
            first = false;
            fputs(line, stdout);
            char copy[4096];
            snprintf(copy, sizeof(copy), "%s", line);
            int col = 0;
            for (char *save = NULL, *t = strtok_r(copy, " \t\n", &save); t;
                 t = strtok_r(NULL, " \t\n", &save), col++)
                if (strcmp(t, "PID") == 0)
                    pid_col = col;
            continue;
        }
        char copy[4096];
        snprintf(copy, sizeof(copy), "%s", line);
        int col = 0, pid = -1;
        for (char *save = NULL, *t = strtok_r(copy, " \t\n", &save); t;
             t = strtok_r(NULL, " \t\n", &save), col++)
            if (col == pid_col)
                pid = atoi(t);
        for (int k = 0; k < n; k++)
            if (pids[k] == pid)
                fputs(line, stdout);
    }
    int st;
    waitpid(child, &st, 0);
    if (pid_col < 0)
        return failf("ps: no PID column in the output of ps");
    return 0;
}

static int cmd_pause_resume(int argc, char **argv, int i, bool pause)
{
    const char *cmd = pause ? "pause" : "resume";
    const opt opts[] = {{NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, cmd) < 0)
        return 1;
    if (i != argc - 1)
        return failf("%s: exactly one container id is needed", cmd);
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int rootfd = -1, dirfd = -1;
    oci_state s;
    if (load_locked(argv[i], true, &rootfd, &dirfd, &s, &err) < 0)
        return fail(&err);
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (pause && s.status != OCI_RUNNING)
        return failf("container %s is %s: only a running container can be paused", argv[i],
                     oci_status_name(s.status));
    if (!pause && s.status != OCI_PAUSED)
        return failf("container %s is %s: it is not paused", argv[i], oci_status_name(s.status));
    if (host_cgroups_freeze(s.cgroups, pause, &err) < 0)
        return fail(&err);
    return 0;
}

/* ---- update ---------------------------------------------------------------------------------- */

static int cmd_update(int argc, char **argv, int i)
{
    const char *resources = NULL, *memory = NULL, *swap = NULL, *reservation = NULL, *shares = NULL,
               *quota = NULL, *period = NULL, *cpus = NULL, *mems = NULL, *pids = NULL,
               *weight = NULL, *kernel = NULL, *kernel_tcp = NULL, *rtp = NULL, *rtr = NULL,
               *l3 = NULL, *mba = NULL;
    const opt opts[] = {{"resources", 'r', true, &resources, NULL, NULL},
                        {"memory", 0, true, &memory, NULL, NULL},
                        {"memory-swap", 0, true, &swap, NULL, NULL},
                        {"memory-reservation", 0, true, &reservation, NULL, NULL},
                        {"kernel-memory", 0, true, &kernel, NULL, NULL},
                        {"kernel-memory-tcp", 0, true, &kernel_tcp, NULL, NULL},
                        {"cpu-share", 0, true, &shares, NULL, NULL},
                        {"cpu-quota", 0, true, &quota, NULL, NULL},
                        {"cpu-period", 0, true, &period, NULL, NULL},
                        {"cpu-rt-period", 0, true, &rtp, NULL, NULL},
                        {"cpu-rt-runtime", 0, true, &rtr, NULL, NULL},
                        {"cpuset-cpus", 0, true, &cpus, NULL, NULL},
                        {"cpuset-mems", 0, true, &mems, NULL, NULL},
                        {"pids-limit", 0, true, &pids, NULL, NULL},
                        {"blkio-weight", 0, true, &weight, NULL, NULL},
                        {"l3-cache-schema", 0, true, &l3, NULL, NULL},
                        {"mem-bw-schema", 0, true, &mba, NULL, NULL},
                        {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "update") < 0)
        return 1;
    if (i != argc - 1)
        return failf("update: exactly one container id is needed");
    if (kernel || kernel_tcp || l3 || mba)
        return failf("update: kernel memory, L3 cache and memory bandwidth limits are not "
                     "supported");
    kl_error err = KL_ERROR_INIT;
    oci_resources r = {0};
    if (resources) {
        size_t len;
        _cleanup_free_ char *text = read_text(resources, &len, &err);
        if (!text || oci_resources_parse(text, len, &r, &err) < 0)
            return fail(&err);
    }
    struct {
        const char *v;
        const char *name;
        int64_t *dst;
        bool *has;
    } nums[] = {
        {memory, "memory", &r.memory_limit, &r.has_memory_limit},
        {swap, "memory-swap", &r.memory_swap, &r.has_memory_swap},
        {reservation, "memory-reservation", &r.memory_reservation, &r.has_memory_reservation},
        {quota, "cpu-quota", &r.cpu_quota, &r.has_cpu_quota},
        {rtr, "cpu-rt-runtime", &r.cpu_rt_runtime, &r.has_cpu_rt_runtime},
        {pids, "pids-limit", &r.pids_limit, &r.has_pids_limit}};
    for (size_t k = 0; k < KL_ARRAY_SIZE(nums); k++) {
        if (!nums[k].v)
            continue;
        char *end;
        int64_t v = strtoll(nums[k].v, &end, 10);
        /* sizes with a suffix: k, m, g */
        if (*end && !end[1] && strchr("kKmMgG", *end))
            v <<= (*end == 'k' || *end == 'K') ? 10 : (*end == 'm' || *end == 'M') ? 20 : 30;
        else if (*end)
            return failf("update: --%s: '%s' is not a number", nums[k].name, nums[k].v);
        *nums[k].dst = v;
        *nums[k].has = true;
    }
    struct {
        const char *v;
        const char *name;
        uint64_t *dst;
        bool *has;
    } unums[] = {{shares, "cpu-share", &r.cpu_shares, &r.has_cpu_shares},
                 {period, "cpu-period", &r.cpu_period, &r.has_cpu_period},
                 {rtp, "cpu-rt-period", &r.cpu_rt_period, &r.has_cpu_rt_period}};
    for (size_t k = 0; k < KL_ARRAY_SIZE(unums); k++) {
        if (!unums[k].v)
            continue;
        char *end;
        uint64_t v = strtoull(unums[k].v, &end, 10);
        if (*end || unums[k].v[0] == '-')
            return failf("update: --%s: '%s' is not a number", unums[k].name, unums[k].v);
        *unums[k].dst = v;
        *unums[k].has = true;
    }
    if (weight) {
        char *end;
        unsigned long v = strtoul(weight, &end, 10);
        if (*end || v < 10 || v > 1000)
            return failf("update: --blkio-weight: expected 10 to 1000");
        r.blkio_weight = (uint32_t)v;
        r.has_blkio_weight = true;
    }
    if (cpus) {
        free(r.cpu_cpus);
        r.cpu_cpus = xstrdup(cpus);
    }
    if (mems) {
        free(r.cpu_mems);
        r.cpu_mems = xstrdup(mems);
    }
    _cleanup_(oci_resources_freep) oci_resources *rp = &r;
    _cleanup_close_ int rootfd = -1, dirfd = -1;
    oci_state s;
    if (load_locked(argv[i], true, &rootfd, &dirfd, &s, &err) < 0)
        return fail(&err);
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (s.status == OCI_STOPPED)
        return failf("container %s is not running", argv[i]);
    oci_mapped m = {0};
    host_resources hr;
    oci_map_resources(&r, &hr, &m);
    int rc = host_cgroups_update(s.cgroups, &hr, &err);
    oci_mapped_free(&m);
    return rc < 0 ? fail(&err) : 0;
}

/* ---- exec -------------------------------------------------------------------------------------
 */

static int cmd_exec(int argc, char **argv, int i)
{
    const char *process = NULL, *console_socket = NULL, *pid_file = NULL, *cwd = NULL, *user = NULL,
               *preserve = NULL, *label = NULL, *apparmor = NULL, *cgroup = NULL;
    bool tty = false, detach = false, no_new_privs = false, ignore_paused = false;
    _cleanup_strv_ char **envs = NULL, **caps = NULL, **gids = NULL;
    const opt opts[] = {{"process", 'p', true, &process, NULL, NULL},
                        {"console-socket", 0, true, &console_socket, NULL, NULL},
                        {"pid-file", 0, true, &pid_file, NULL, NULL},
                        {"cwd", 0, true, &cwd, NULL, NULL},
                        {"user", 'u', true, &user, NULL, NULL},
                        {"additional-gids", 'g', true, NULL, NULL, &gids},
                        {"env", 'e', true, NULL, NULL, &envs},
                        {"cap", 'c', true, NULL, NULL, &caps},
                        {"tty", 't', false, NULL, &tty, NULL},
                        {"detach", 'd', false, NULL, &detach, NULL},
                        {"no-new-privs", 0, false, NULL, &no_new_privs, NULL},
                        {"preserve-fds", 0, true, &preserve, NULL, NULL},
                        {"process-label", 0, true, &label, NULL, NULL},
                        {"apparmor", 0, true, &apparmor, NULL, NULL},
                        {"cgroup", 0, true, &cgroup, NULL, NULL},
                        {"ignore-paused", 0, false, NULL, &ignore_paused, NULL},
                        {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "exec") < 0)
        return 1;
    if (i >= argc)
        return failf("exec: a container id is needed");
    if (label || apparmor)
        return failf("exec: SELinux labels and AppArmor profiles are not supported");
    if (cgroup)
        return failf("exec: --cgroup is not supported");
    const char *id = argv[i++];
    kl_error err = KL_ERROR_INIT;
    _cleanup_close_ int rootfd = -1, dirfd = -1;
    oci_state s;
    if (load_locked(id, false, &rootfd, &dirfd, &s, &err) < 0)
        return fail(&err);
    _cleanup_(oci_state_freep) oci_state *sp = &s;
    if (s.status != OCI_RUNNING && s.status != OCI_CREATED &&
        !(s.status == OCI_PAUSED && ignore_paused))
        return failf("container %s is %s: exec needs it running", id, oci_status_name(s.status));
    oci_config cfg;
    if (saved_config(&s, &cfg, &err) < 0)
        return fail(&err);
    _cleanup_(oci_config_freep) oci_config *cfgp = &cfg;
    oci_process proc;
    if (process) {
        size_t len;
        _cleanup_free_ char *text = read_text(process, &len, &err);
        if (!text || oci_process_parse(text, len, &proc, &err) < 0)
            return fail(&err);
    } else {
        if (i >= argc)
            return failf("exec: a command (or --process) is needed");
        /* The container's process, with the command line's changes. */
        memset(&proc, 0, sizeof(proc));
        proc.args = strv_dup(argv + i);
        proc.env = strv_dup(cfg.process.env);
        proc.cwd = xstrdup(cwd ? cwd : cfg.process.cwd ? cfg.process.cwd : "/");
        proc.user = cfg.process.user;
        proc.user.additional_gids = NULL;
        proc.user.n_additional_gids = 0;
        proc.terminal = tty;
        proc.no_new_privileges = cfg.process.no_new_privileges || no_new_privs;
        proc.has_caps = cfg.process.has_caps;
        for (int k = 0; k < OCI_CAP_SETS; k++)
            proc.caps[k] = strv_dup(cfg.process.caps[k]);
        for (char **c = caps; c && *c; c++)
            for (int k = 0; k < OCI_CAP_SETS; k++)
                if (k != OCI_CAP_AMBIENT)
                    strv_push(&proc.caps[k], *c);
        for (char **e = envs; e && *e; e++) {
            size_t klen = strcspn(*e, "=");
            bool replaced = false;
            for (char **x = proc.env; x && *x && !replaced; x++)
                if (strncmp(*x, *e, klen) == 0 && (*x)[klen] == '=') {
                    free(*x);
                    *x = xstrdup(*e);
                    replaced = true;
                }
            if (!replaced)
                strv_push(&proc.env, *e);
        }
        if (user) {
            unsigned uid = 0, gid = 0;
            int nconv = sscanf(user, "%u:%u", &uid, &gid);
            if (nconv < 1)
                return failf("exec: --user must be UID[:GID]");
            proc.user.uid = uid;
            proc.user.gid = nconv == 2 ? gid : 0;
        }
        if (gids) {
            proc.user.additional_gids = xcalloc(strv_len(gids) + 1, sizeof(uint32_t));
            for (char **g = gids; *g; g++)
                proc.user.additional_gids[proc.user.n_additional_gids++] =
                    (uint32_t)strtoul(*g, NULL, 10);
        }
    }
    _cleanup_(oci_process_freep) oci_process *procp = &proc;
    if (cwd) {
        free(proc.cwd);
        proc.cwd = xstrdup(cwd);
    }
    if (tty)
        proc.terminal = true;
    if (proc.terminal && !console_socket && detach)
        return failf("exec: a terminal with --detach needs --console-socket");
    oci_mapped m = {0};
    host_full_process fp;
    int rc = oci_map_process(&proc, &cfg, &fp, &m, &err);
    if (rc == 0 && preserve)
        fp.preserve_fds = atoi(preserve);
    host_process p = {.pid = -1, .pty_fd = -1};
    if (rc == 0) {
        host_exec_spec es = {.container_pid = s.pid,
                             .argv = proc.args,
                             .env = proc.env,
                             .cwd = proc.cwd,
                             .tty = proc.terminal,
                             .tty_rows = (unsigned short)proc.console_height,
                             .tty_cols = (unsigned short)proc.console_width,
                             .stdin_fd = -1,
                             .stdout_fd = -1,
                             .stderr_fd = -1,
                             .full = &fp};
        rc = host_exec_start(&es, &p, &err);
    }
    oci_mapped_free(&m);
    if (rc < 0)
        return fail(&err);
    if (p.pty_fd >= 0 && console_socket && send_console(console_socket, p.pty_fd, &err) < 0) {
        kill(p.pid, SIGKILL);
        int code;
        host_process_wait(&p, -1, &code, &err);
        host_process_release(&p);
        return fail(&err);
    }
    if (pid_file && write_pid_file(pid_file, p.pid, &err) < 0) {
        host_process_release(&p);
        return fail(&err);
    }
    if (detach) {
        host_process_release(&p);
        return 0;
    }
    if (p.pty_fd >= 0 && !console_socket)
        relay_pty(p.pty_fd);
    int code = 255;
    kl_error werr = KL_ERROR_INIT;
    host_process_wait(&p, -1, &code, &werr);
    host_process_release(&p);
    return code;
}

/* ---- spec / features / version ------------------------------------------------------------------
 */

static int cmd_spec(int argc, char **argv, int i)
{
    const char *bundle = ".";
    bool rootless = false;
    const opt opts[] = {{"bundle", 'b', true, &bundle, NULL, NULL},
                        {"rootless", 0, false, NULL, &rootless, NULL},
                        {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, opts, "spec") < 0)
        return 1;
    if (i != argc)
        return failf("spec: takes no arguments");
    if (rootless)
        return failf("spec: --rootless is not supported");
    _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            return failf("spec: %s exists already; remove it first", path);
        return failf("spec: %s: %s", path, strerror(errno));
    }
    _cleanup_free_ char *text = oci_config_default_json();
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        return failf("spec: writing %s: %s", path, strerror(errno));
    return 0;
}

static int cmd_features(int argc, char **argv, int i)
{
    if (i != argc)
        return failf("features: takes no arguments");
    (void)argv;
    const char *text =
        "{\n"
        "  \"ociVersionMin\": \"1.0.0\",\n"
        "  \"ociVersionMax\": \"1.2.0\",\n"
        "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", "
        "\"startContainer\", \"poststart\", \"poststop\"],\n"
        "  \"mountOptions\": [\"async\", \"atime\", \"bind\", \"defaults\", \"dev\", "
        "\"diratime\", \"dirsync\", \"exec\", \"loud\", \"mand\", \"noatime\", \"nodev\", "
        "\"nodiratime\", \"noexec\", \"nomand\", \"norelatime\", \"nostrictatime\", \"nosuid\", "
        "\"private\", \"rbind\", \"relatime\", \"ro\", \"rprivate\", \"rshared\", \"rslave\", "
        "\"runbindable\", \"rw\", \"shared\", \"silent\", \"slave\", \"strictatime\", \"suid\", "
        "\"sync\", \"unbindable\"],\n"
        "  \"linux\": {\n"
        "    \"namespaces\": [\"cgroup\", \"ipc\", \"mount\", \"network\", \"pid\", \"user\", "
        "\"uts\"],\n"
        "    \"capabilities\": [\"CAP_CHOWN\", \"CAP_DAC_OVERRIDE\", \"CAP_DAC_READ_SEARCH\", "
        "\"CAP_FOWNER\", \"CAP_FSETID\", \"CAP_KILL\", \"CAP_SETGID\", \"CAP_SETUID\", "
        "\"CAP_SETPCAP\", \"CAP_LINUX_IMMUTABLE\", \"CAP_NET_BIND_SERVICE\", "
        "\"CAP_NET_BROADCAST\", \"CAP_NET_ADMIN\", \"CAP_NET_RAW\", \"CAP_IPC_LOCK\", "
        "\"CAP_IPC_OWNER\", \"CAP_SYS_MODULE\", \"CAP_SYS_RAWIO\", \"CAP_SYS_CHROOT\", "
        "\"CAP_SYS_PTRACE\", \"CAP_SYS_PACCT\", \"CAP_SYS_ADMIN\", \"CAP_SYS_BOOT\", "
        "\"CAP_SYS_NICE\", \"CAP_SYS_RESOURCE\", \"CAP_SYS_TIME\", \"CAP_SYS_TTY_CONFIG\", "
        "\"CAP_MKNOD\", \"CAP_LEASE\", \"CAP_AUDIT_WRITE\", \"CAP_AUDIT_CONTROL\", "
        "\"CAP_SETFCAP\", \"CAP_MAC_OVERRIDE\", \"CAP_MAC_ADMIN\", \"CAP_SYSLOG\", "
        "\"CAP_WAKE_ALARM\", \"CAP_BLOCK_SUSPEND\", \"CAP_AUDIT_READ\", \"CAP_PERFMON\", "
        "\"CAP_BPF\", \"CAP_CHECKPOINT_RESTORE\"],\n"
        "    \"cgroup\": {\"v1\": true, \"v2\": true, \"systemd\": false, \"systemdUser\": "
        "false},\n"
        "    \"seccomp\": {\"enabled\": true, \"actions\": [\"SCMP_ACT_ALLOW\", "
        "\"SCMP_ACT_ERRNO\", \"SCMP_ACT_KILL\", \"SCMP_ACT_KILL_PROCESS\", "
        "\"SCMP_ACT_KILL_THREAD\", \"SCMP_ACT_LOG\", \"SCMP_ACT_TRACE\", \"SCMP_ACT_TRAP\"], "
        "\"operators\": [\"SCMP_CMP_EQ\", \"SCMP_CMP_GE\", \"SCMP_CMP_GT\", \"SCMP_CMP_LE\", "
        "\"SCMP_CMP_LT\", \"SCMP_CMP_MASKED_EQ\", \"SCMP_CMP_NE\"], \"archs\": "
        "[\"SCMP_ARCH_X86\", \"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X32\"]},\n"
        "    \"apparmor\": {\"enabled\": false},\n"
        "    \"selinux\": {\"enabled\": false}\n"
        "  },\n"
        "  \"annotations\": {\"org.kleene.runtime.version\": \"" KLEENE_VERSION "\"}\n"
        "}\n";
    fputs(text, stdout);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kleene-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug]\n"
            "                      COMMAND [OPTIONS] ID\n"
            "commands: create, start, run, state, kill, delete, list, ps, exec, pause, resume,\n"
            "          update, spec, features, --version\n"
            "An OCI runtime (runtime-spec 1.x) with runc's command line; docs/oci-runtime.md.\n");
}

int main(int argc, char **argv)
{
    /* Our own files are private; a container's files get the config's umask. */
    umask(022);
    int i = 1;
    const char *log_format = "text";
    bool version = false, help = false, systemd = false, rootless_given = false;
    const char *rootless = NULL, *criu = NULL;
    const opt global[] = {{"root", 0, true, &G.root, NULL, NULL},
                          {"log", 0, true, &G.log, NULL, NULL},
                          {"log-format", 0, true, &log_format, NULL, NULL},
                          {"debug", 0, false, NULL, &G.debug, NULL},
                          {"systemd-cgroup", 0, false, NULL, &systemd, NULL},
                          {"rootless", 0, true, &rootless, NULL, NULL},
                          {"criu", 0, true, &criu, NULL, NULL},
                          {"version", 'v', false, NULL, &version, NULL},
                          {"help", 'h', false, NULL, &help, NULL},
                          {NULL, 0, false, NULL, NULL, NULL}};
    if (parse_opts(argc, argv, &i, global, "kleene-runtime") < 0)
        return 1;
    (void)rootless_given;
    if (strcmp(log_format, "json") == 0)
        G.log_json = true;
    else if (strcmp(log_format, "text") != 0)
        return failf("--log-format must be text or json");
    if (version || (i < argc && strcmp(argv[i], "version") == 0)) {
        printf("kleene-runtime version %s\nspec: 1.0.2\n", KLEENE_VERSION);
        return 0;
    }
    if (help || i >= argc || strcmp(argv[i], "help") == 0) {
        usage(help || i < argc ? stdout : stderr);
        return help || i < argc ? 0 : 1;
    }
    if (systemd)
        return failf("--systemd-cgroup is not supported: kleene-runtime manages cgroupfs "
                     "directly (use the cgroupfs cgroup manager)");
    if (rootless && strcmp(rootless, "false") != 0 && strcmp(rootless, "auto") != 0)
        return failf("--rootless is not supported: kleene-runtime runs as root");
    if (G.root[0] != '/')
        return failf("--root must be an absolute path");
    const char *cmd = argv[i++];
    debugf("%s", cmd);
    if (strcmp(cmd, "create") == 0)
        return cmd_create_or_run(argc, argv, i, false);
    if (strcmp(cmd, "run") == 0)
        return cmd_create_or_run(argc, argv, i, true);
    if (strcmp(cmd, "start") == 0)
        return cmd_start(argc, argv, i);
    if (strcmp(cmd, "state") == 0)
        return cmd_state(argc, argv, i);
    if (strcmp(cmd, "kill") == 0)
        return cmd_kill(argc, argv, i);
    if (strcmp(cmd, "delete") == 0)
        return cmd_delete(argc, argv, i);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc, argv, i);
    if (strcmp(cmd, "ps") == 0)
        return cmd_ps(argc, argv, i);
    if (strcmp(cmd, "exec") == 0)
        return cmd_exec(argc, argv, i);
    if (strcmp(cmd, "pause") == 0)
        return cmd_pause_resume(argc, argv, i, true);
    if (strcmp(cmd, "resume") == 0)
        return cmd_pause_resume(argc, argv, i, false);
    if (strcmp(cmd, "update") == 0)
        return cmd_update(argc, argv, i);
    if (strcmp(cmd, "spec") == 0)
        return cmd_spec(argc, argv, i);
    if (strcmp(cmd, "features") == 0)
        return cmd_features(argc, argv, i);
    if (strcmp(cmd, "checkpoint") == 0 || strcmp(cmd, "restore") == 0 || strcmp(cmd, "events") == 0)
        return failf("%s is not supported", cmd);
    return failf("unknown command '%s' (kleene-runtime --help)", cmd);
}
