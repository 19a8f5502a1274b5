/* kleened's side of the jail monitor on FreeBSD (host_monitor_start, host/monitor.h): find
 * kleene-jailmon, spawn it in a new session with its status socket on fd 3, send it the spec
 * (jailmon_spec.c) and wait for its first reply. kleene-jailmon forks the monitor and exits
 * (jailmon_main.c): the monitor is no child of kleened and outlives it. Everything else of
 * host/monitor.h (connect, status, exec, attach, streams, kill, stop, log) is the shared client
 * of src/host/monitor_client.c: the monitor speaks the same protocol as Linux's.
 *
 * It must not: run any program but kleene-jailmon (host_helper_path) or, in tests, the one
 * fb_jailmon_set_program named. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/freebsd/jailmon.h"
#include "host/helpers.h"
#include "host/monitor.h"
#include "host/monitor_proto.h"
#include "host/runtime.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#define JAILMON_NAME "kleene-jailmon"

static pthread_mutex_t program_lock = PTHREAD_MUTEX_INITIALIZER;
static char *program, *program_arg;

void fb_jailmon_set_program(const char *prog, const char *arg)
{
    pthread_mutex_lock(&program_lock);
    free(program);
    free(program_arg);
    program = prog ? xstrdup(prog) : NULL;
    program_arg = arg ? xstrdup(arg) : NULL;
    pthread_mutex_unlock(&program_lock);
}

/* The program and its argument (both copies, the caller frees). */
static int program_get(char **prog, char **arg, kl_error *err)
{
    pthread_mutex_lock(&program_lock);
    if (!program) {
        kl_error herr = KL_ERROR_INIT;
        program = host_helper_path(JAILMON_NAME, &herr);
        if (!program)
            kl_error_set(err, ENOENT,
                         "the jail monitor program is missing: %s; install it with kleened "
                         "(meson install)",
                         herr.msg);
    }
    *prog = program ? xstrdup(program) : NULL;
    *arg = program_arg ? xstrdup(program_arg) : NULL;
    pthread_mutex_unlock(&program_lock);
    return *prog ? 0 : -1;
}

static int send_frame(int fd, char type, const char *data, size_t len)
{
    unsigned char h[MON_HDR];
    mon_hdr_put(h, type, len);
    const void *parts[2] = {h, data};
    size_t lens[2] = {MON_HDR, len};
    for (int i = 0; i < 2; i++) {
        const char *p = parts[i];
        size_t left = lens[i];
        while (left) {
            ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -1;
            p += n;
            left -= (size_t)n;
        }
    }
    return 0;
}

int host_monitor_start(const host_monitor_spec *spec, host_monitor_info *out, kl_error *err)
{
    *out = (host_monitor_info){.monitor_pid = -1, .container_pid = -1};
    if (!spec->run_dir || spec->run_dir[0] != '/')
        return kl_error_set(err, EINVAL, "monitor: run_dir must be an absolute path");
    const fb_host *h = fb_host_default(err);
    if (!h)
        return kl_error_prefix(err, "container %s", spec->container.id);
    _cleanup_free_ char *prog = NULL, *arg = NULL;
    if (program_get(&prog, &arg, err) < 0)
        return kl_error_prefix(err, "container %s", spec->container.id);
    jailmon_host jh = {.zfs_root = h->root, .pty_helper = h->pty_helper, .pf_anchor = h->pf_anchor};
    _cleanup_json_ json_t *j = jailmon_spec_json(spec, &jh);
    _cleanup_free_ char *text = jx_dump(j);
    size_t len = strlen(text);
    if (len > MON_MSG_MAX)
        return kl_error_set(err, E2BIG, "container %s: spec too large", spec->container.id);
    char *argv[] = {JAILMON_NAME, arg, NULL};
    int fd = host_monitor_launch_(prog, argv, err);
    if (fd < 0)
        return kl_error_prefix(err, "container %s", spec->container.id);
    /* If the monitor fails before it has read all of it, its error reply is read below. */
    (void)send_frame(fd, MON_SPEC, text, len);
    host_monitor *m = host_monitor_wrap_fd_(fd, spec->run_dir);
    char type;
    const unsigned char *p;
    size_t plen;
    if (host_monitor_recv_(m, &type, &p, &plen, 120000, err) < 0) {
        host_monitor_close(m);
        return kl_error_prefix(err, "monitor of %s", spec->container.id);
    }
    _cleanup_json_ json_t *r = json_loadb((const char *)p, plen, 0, NULL);
    if (type != MON_REPLY) {
        kl_error_set(err, (int)jx_int(r, "code", EIO), "%s", jx_str(r, "error", "monitor failed"));
        host_monitor_close(m);
        return -1;
    }
    out->monitor_pid = (int)jx_int(r, "monitor_pid", -1);
    out->container_pid = (int)jx_int(r, "container_pid", -1);
    if (spec->attach)
        out->stream = m;
    else
        host_monitor_close(m);
    return 0;
}

bool host_runtime_wires_endpoints(void)
{
    return true; /* a jail gets its addresses or epairs at `jail -c` (fb_container_start) */
}

int host_container_update(const char *id, char *const *jail_params, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    return fb_container_update(h, id, (const char *const *)jail_params, err);
}

int host_orphan_containers(char ***ids, kl_error *err)
{
    *ids = NULL;
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    fb_jail_info *v = NULL;
    size_t n = 0;
    if (fb_jails_list(h, &v, &n, err) < 0)
        return kl_error_prefix(err, "listing the running jails");
    char **out = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (kl_id_is_valid(v[i].name))
            strv_push(&out, v[i].name);
    fb_jails_free(v, n);
    *ids = out;
    return 0;
}
