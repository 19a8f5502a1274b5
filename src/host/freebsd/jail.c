/* Containers as jails (jail.h). The argv of jail(8), jexec(8), rctl(8), mount_nullfs(8) and
 * umount(8) are built here from validated parts; every command goes through the runner.
 * It must not: run a shell on the host (the original's sh -c copy-up, B4), follow a user's
 * path out of the container (B5: destinations are checked), or leave mounts, epairs,
 * aliases or rctl rules behind when a start fails. */
#include "host/freebsd/jail.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "host/freebsd/ifnet.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define JAIL "/usr/sbin/jail"
#define JEXEC "/usr/sbin/jexec"
#define JLS "/usr/sbin/jls"
#define RCTL "/usr/bin/rctl"

static bool starts_with(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

static bool user_has(const char *const *params, const char *const *prefixes)
{
    for (size_t i = 0; params && params[i]; i++)
        for (size_t j = 0; prefixes[j]; j++)
            if (starts_with(params[i], prefixes[j]))
                return true;
    return false;
}

char **fb_jail_params(const char *cid, const char *user, const char *const *user_params)
{
    /* Prepended in this order by the original, so they come out reversed. */
    struct {
        char *value;
        const char *prefixes[3];
    } defs[] = {
        {xasprintf("host.hostname=%s", cid), {"host.hostname", NULL}},
        {xasprintf("exec.jail_user=%s", user && *user ? user : "root"), {"exec.jail_user", NULL}},
        {xstrdup("exec.clean=true"), {"exec.clean", "exec.noclean", NULL}},
        /* DIFFERENCE (B9): the original's value kept literal double quotes */
        {xstrdup("exec.stop=/bin/sh /etc/rc.shutdown"), {"exec.stop", "exec.nostop", NULL}},
        {xstrdup("mount.devfs=true"), {"mount.devfs", "mount.nodevfs", NULL}},
    };
    char **out = xcalloc(1, sizeof(char *));
    for (size_t i = KL_ARRAY_SIZE(defs); i-- > 0;) {
        if (!user_has(user_params, defs[i].prefixes))
            strv_push(&out, defs[i].value);
        free(defs[i].value);
    }
    for (size_t i = 0; user_params && user_params[i]; i++)
        strv_push(&out, user_params[i]);
    return out;
}

static int cmp_env(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strcspn(x, "="), ly = strcspn(y, "=");
    int c = strncmp(x, y, lx < ly ? lx : ly);
    return c ? c : (int)lx - (int)ly;
}

/* "/usr/bin/env K=V ... cmd ..." appended to argv (env sorted by name, as the original's
 * map gave it). */
static void push_env_cmd(char ***argv, const char *first, const char *const *env,
                         const char *const *cmd)
{
    strv_push(argv, first);
    size_t n = 0;
    while (env && env[n])
        n++;
    const char **sorted = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        sorted[i] = env[i];
    qsort(sorted, n, sizeof(char *), cmp_env);
    for (size_t i = 0; i < n; i++)
        if (strchr(sorted[i], '='))
            strv_push(argv, sorted[i]);
    free(sorted);
    for (size_t i = 0; cmd[i]; i++)
        strv_push(argv, cmd[i]);
}

static bool ip_is_ok(const char *ip)
{
    if (!ip || !*ip || strlen(ip) > 45)
        return false;
    for (const char *p = ip; *p; p++)
        if (!isxdigit((unsigned char)*p) && *p != '.' && *p != ':')
            return false;
    return true;
}

static bool has(const char *s)
{
    return s && *s;
}

int fb_jail_create_argv(const fb_host *h, const fb_jail_spec *s, const char *path, char ***argvp,
                        kl_error *err)
{
    if (!fb_component_is_valid(s->cid))
        return kl_error_set(err, EINVAL, "invalid container id");
    if (!s->cmd || !s->cmd[0])
        return kl_error_set(err, EINVAL, "container %s: no command", s->cid);
    _cleanup_strv_ char **argv = xcalloc(1, sizeof(char *));
    if (s->tty) {
        if (!h->pty_helper)
            return kl_error_set(err, ENOENT, "the pty helper kleene-pty is not configured");
        strv_push(&argv, h->pty_helper);
    }
    strv_push(&argv, JAIL);
    strv_push(&argv, "-c");
    _cleanup_free_ char *p = xasprintf("path=%s", path);
    _cleanup_free_ char *nm = xasprintf("name=%s", s->cid);
    strv_push(&argv, p);
    strv_push(&argv, nm);
    switch (s->driver) {
    case FB_NET_DISABLED:
        strv_push(&argv, "ip4=disable");
        strv_push(&argv, "ip6=disable");
        break;
    case FB_NET_HOST:
        strv_push(&argv, "ip4=inherit");
        strv_push(&argv, "ip6=inherit");
        break;
    case FB_NET_IPNET:
        /* DIFFERENCE: no exec.prestart=ifconfig ... alias; fb_container_start adds the
         * aliases itself beforehand (the original did both), so that it can undo them. */
        for (size_t i = 0; i < s->n_endpoints; i++) {
            const fb_endpoint *e = &s->endpoints[i];
            if (has(e->ip4)) {
                if (!ip_is_ok(e->ip4))
                    return kl_error_set(err, EINVAL, "invalid address '%s'", e->ip4);
                _cleanup_free_ char *a = xasprintf("ip4.addr=%s", e->ip4);
                strv_push(&argv, a);
            }
            if (has(e->ip6)) {
                if (!ip_is_ok(e->ip6))
                    return kl_error_set(err, EINVAL, "invalid address '%s'", e->ip6);
                _cleanup_free_ char *a = xasprintf("ip6.addr=%s", e->ip6);
                strv_push(&argv, a);
            }
        }
        break;
    case FB_NET_VNET: {
        strv_push(&argv, "vnet");
        bool route4 = false, route6 = false;
        for (size_t i = 0; i < s->n_endpoints; i++) {
            const fb_endpoint *e = &s->endpoints[i];
            if (!fb_ifname_is_valid(e->epair))
                return kl_error_set(err, EINVAL, "container %s: endpoint without an epair", s->cid);
            if ((has(e->ip4) && (e->prefix4 < 1 || e->prefix4 > 32)) ||
                (has(e->ip6) && (e->prefix6 < 1 || e->prefix6 > 128)))
                return kl_error_set(err, EINVAL, "container %s: invalid prefix length", s->cid);
            /* DIFFERENCE: the original's exec.prestart "ifconfig <bridge> addm <epair>a" and
             * "ifconfig <epair>a up" are run by fb_container_start before jail -c. */
            _cleanup_free_ char *vi = xasprintf("vnet.interface=%sb", e->epair);
            strv_push(&argv, vi);
            /* exec.start runs in the jail (jail(8) uses sh -c): only our validated names and
             * addresses are in these strings. */
            if (has(e->ip4)) {
                if (!ip_is_ok(e->ip4) || (has(e->gw4) && !ip_is_ok(e->gw4)))
                    return kl_error_set(err, EINVAL, "invalid address '%s'", e->ip4);
                _cleanup_free_ char *c =
                    xasprintf("exec.start=ifconfig %sb inet %s/%d", e->epair, e->ip4, e->prefix4);
                strv_push(&argv, c);
                /* B11: one default route per family (a second `route add` fails the start) */
                if (has(e->gw4) && !route4) {
                    _cleanup_free_ char *r =
                        xasprintf("exec.start=route add -inet default %s", e->gw4);
                    strv_push(&argv, r);
                    route4 = true;
                }
            }
            if (has(e->ip6)) {
                if (!ip_is_ok(e->ip6) || (has(e->gw6) && !ip_is_ok(e->gw6)))
                    return kl_error_set(err, EINVAL, "invalid address '%s'", e->ip6);
                _cleanup_free_ char *c =
                    xasprintf("exec.start=ifconfig %sb inet6 %s/%d", e->epair, e->ip6, e->prefix6);
                strv_push(&argv, c);
                if (has(e->gw6) && !route6) {
                    _cleanup_free_ char *r =
                        xasprintf("exec.start=route add -inet6 default %s", e->gw6);
                    strv_push(&argv, r);
                    route6 = true;
                }
            }
        }
        break;
    }
    }
    _cleanup_strv_ char **params = fb_jail_params(s->cid, s->user, s->jail_params);
    for (size_t i = 0; params[i]; i++)
        strv_push(&argv, params[i]);
    push_env_cmd(&argv, "command=/usr/bin/env", s->env, s->cmd);
    *argvp = steal_pointer(&argv);
    return 0;
}

int fb_jail_is_running(const fb_host *h, const char *cid, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(JLS, "--libxo=json", "-j", cid), NULL, &r, err) < 0)
        return -1;
    if (r.status == 0)
        return 1;
    if (r.status == 1)
        return 0;
    _cleanup_free_ char *o = fb_trim(*r.err ? r.err : r.out);
    return kl_error_set(err, EIO, "jls: %s", o);
}

void fb_jails_free(fb_jail_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].path);
        strv_free(v[i].ipv4);
        strv_free(v[i].ipv6);
    }
    free(v);
}

static char **json_strv(json_t *arr)
{
    char **v = xcalloc(1, sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (json_is_string(x))
            strv_push(&v, json_string_value(x));
    }
    return v;
}

int fb_jails_list(const fb_host *h, fb_jail_info **out, size_t *n, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV(JLS, "-v", "--libxo=json"), &r, err) < 0)
        return -1;
    json_error_t je;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, &je);
    json_t *arr = json_object_get(json_object_get(j, "jail-information"), "jail");
    if (!j || (arr && !json_is_array(arr)))
        return kl_error_set(err, EIO, "jls: unexpected output");
    fb_jail_info *v = xcalloc(json_array_size(arr) + 1, sizeof(*v));
    size_t cnt = 0, i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *name = json_string_value(json_object_get(x, "name"));
        if (!name)
            continue;
        v[cnt].name = xstrdup(name);
        v[cnt].jid = (int)json_integer_value(json_object_get(x, "jid"));
        const char *path = json_string_value(json_object_get(x, "path"));
        v[cnt].path = xstrdup(path ? path : "");
        v[cnt].ipv4 = json_strv(json_object_get(x, "ipv4_addrs"));
        v[cnt].ipv6 = json_strv(json_object_get(x, "ipv6_addrs"));
        cnt++;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* An absolute path without "." or ".." components, no "//", no trailing "/" (B5). */
static bool dest_is_ok(const char *d)
{
    if (!d || d[0] != '/' || strlen(d) > 1000)
        return false;
    if (!strcmp(d, "/"))
        return false;
    for (const char *p = d; *p;) {
        p++; /* past '/' */
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (memchr(p, '\n', n))
            return false;
        p += n;
    }
    return true;
}

static int ctr_path(const fb_host *h, const char *cid, const char *dest, char **mp, char **full,
                    kl_error *err)
{
    if (!dest_is_ok(dest))
        return kl_error_set(err, EINVAL,
                            "invalid mount destination '%s': an absolute path without '..' is "
                            "needed",
                            dest ? dest : "");
    _cleanup_free_ char *ds = fb_container_ds(h, cid);
    if (fb_zfs_mountpoint(h, ds, mp, err) < 0)
        return -1;
    *full = xasprintf("%s%s", *mp, dest);
    return 0;
}

/* mp + dest must resolve to itself: no symlink on the way (B5). The jail does not run yet
 * when this is asked, so nothing inside it can change the answer before the mount. */
static int check_no_symlink(const fb_host *h, const char *full, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/bin/realpath", full), &r, err) < 0)
        return -1;
    _cleanup_free_ char *real = fb_trim(r.out);
    if (strcmp(real, full))
        return kl_error_set(err, EXDEV, "mount destination %s leads out of place (to %s)", full,
                            real);
    return 0;
}

int fb_mount_prepare(const fb_host *h, const char *cid, const char *destination,
                     bool source_is_file, kl_error *err)
{
    _cleanup_free_ char *mp = NULL, *full = NULL;
    if (ctr_path(h, cid, destination, &mp, &full, err) < 0)
        return -1;
    /* B5: made below the dataset's mountpoint without following symlinks (the original ran
     * mkdir -p and touch on the joined path, which followed the image's symlinks). */
    if (fb_make_path(h->run, mp, destination + 1, source_is_file, err) < 0)
        return kl_error_prefix(err, "could not create the mount destination");
    return 0;
}

int fb_volume_populate(const fb_host *h, const char *cid, const char *destination,
                       const char *volume_mp, kl_error *err)
{
    _cleanup_free_ char *mp = NULL, *full = NULL;
    if (ctr_path(h, cid, destination, &mp, &full, err) < 0)
        return -1;
    if (fb_make_path(h->run, mp, destination + 1, false, err) < 0)
        return kl_error_prefix(err, "could not create the mount destination");
    _cleanup_result_ fb_result vol = FB_RESULT_INIT, img = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/bin/ls", "-A", volume_mp), &vol, err) < 0)
        return -1;
    if (*vol.out)
        return 0; /* the volume has data: it wins */
    if (fb_run_ok(h->run, FB_ARGV("/bin/ls", "-A", full), &img, err) < 0)
        return -1;
    if (!*img.out)
        return 0;
    /* -a copies links as links (-P): nothing inside the image is followed */
    _cleanup_free_ char *src = xasprintf("%s/.", full);
    return fb_run_ok(h->run, FB_ARGV("/bin/cp", "-a", src, volume_mp), NULL, err);
}

/* `mount --libxo json [-t type]`: whether a mount of fstype is at node. */
static int is_mounted(const fb_host *h, const char *node, const char *fstype, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/sbin/mount", "--libxo", "json", "-t", fstype), &r, err) < 0)
        return -1;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, NULL);
    json_t *arr = json_object_get(json_object_get(j, "mount"), "mounted");
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *n = json_string_value(json_object_get(x, "node"));
        if (n && !strcmp(n, node))
            return 1;
    }
    return 0;
}

static int unmount_if_mounted(const fb_host *h, const char *node, const char *fstype, kl_error *err)
{
    int m = is_mounted(h, node, fstype, err);
    if (m <= 0)
        return m;
    return fb_run_ok(h->run, FB_ARGV("/sbin/umount", node), NULL, err);
}

static int mount_one(const fb_host *h, const char *mp, const fb_mount *m, kl_error *err)
{
    if (!dest_is_ok(m->destination) || !m->source || m->source[0] != '/')
        return kl_error_set(err, EINVAL, "invalid mount %s -> %s", m->source ? m->source : "",
                            m->destination ? m->destination : "");
    _cleanup_free_ char *full = xasprintf("%s%s", mp, m->destination);
    if (unmount_if_mounted(h, full, "nullfs", err) < 0 ||
        (m->make_destination &&
         fb_make_path(h->run, mp, m->destination + 1, m->source_is_file, err) < 0) ||
        check_no_symlink(h, full, err) < 0)
        return kl_error_prefix(err, "could not mount %s", m->destination);
    int rc = m->read_only
                 ? fb_run_ok(h->run, FB_ARGV("/sbin/mount_nullfs", "-o", "ro", m->source, full),
                             NULL, err)
                 : fb_run_ok(h->run, FB_ARGV("/sbin/mount_nullfs", m->source, full), NULL, err);
    if (rc < 0)
        return kl_error_prefix(err, "could not mount %s", m->destination);
    return 0;
}

static void keep_first(kl_error *first, const kl_error *e)
{
    if (!kl_error_is_set(first) && kl_error_is_set(e))
        *first = *e;
}

static int rctl_remove(const fb_host *h, const char *cid, kl_error *err)
{
    _cleanup_free_ char *subj = xasprintf("jail:%s", cid);
    return fb_run_ok(h->run, FB_ARGV(RCTL, "-r", subj), NULL, err);
}

static bool has_limits(const fb_limits *l)
{
    return l->memory_bytes > 0 || l->pids_max > 0 || l->cpu_millis > 0;
}

static int rctl_apply(const fb_host *h, const char *cid, const fb_limits *l, kl_error *err)
{
    struct {
        const char *res;
        long long v;
    } rules[] = {{"memoryuse", l->memory_bytes},
                 {"maxproc", l->pids_max},
                 {"pcpu", l->cpu_millis > 0 ? (l->cpu_millis + 9) / 10 : 0}};
    for (size_t i = 0; i < KL_ARRAY_SIZE(rules); i++) {
        if (rules[i].v <= 0)
            continue;
        /* A rule for a jail name applies to the jail created with that name. */
        _cleanup_free_ char *rule =
            xasprintf("jail:%s:%s:deny=%lld", cid, rules[i].res, rules[i].v);
        if (fb_run_ok(h->run, FB_ARGV(RCTL, "-a", rule), NULL, err) < 0)
            return kl_error_prefix(err, "setting resource limits (is kern.racct.enable=1 set?)");
    }
    return 0;
}

/* Undo of a start that got as far as `done_*`. */
typedef struct start_state {
    size_t mounts_done;
    size_t eps_done;
    bool rctl_done;
} start_state;

static void start_undo(const fb_host *h, fb_jail_spec *s, const char *mp, const start_state *st)
{
    kl_error ig = KL_ERROR_INIT;
    if (st->rctl_done)
        rctl_remove(h, s->cid, &ig);
    for (size_t i = st->eps_done; i-- > 0;) {
        fb_endpoint *e = &s->endpoints[i];
        if (s->driver == FB_NET_VNET && e->epair[0]) {
            kl_error ig2 = KL_ERROR_INIT;
            fb_epair_destroy(h, e->ifname, e->epair, &ig2);
            e->epair[0] = '\0';
        } else if (s->driver == FB_NET_IPNET) {
            kl_error ig2 = KL_ERROR_INIT;
            if (has(e->ip6))
                fb_alias_remove(h, e->ifname, e->ip6, &ig2);
            if (has(e->ip4))
                fb_alias_remove(h, e->ifname, e->ip4, &ig2);
        }
    }
    for (size_t i = st->mounts_done; i-- > 0;) {
        _cleanup_free_ char *full = xasprintf("%s%s", mp, s->mounts[i].destination);
        kl_error ig3 = KL_ERROR_INIT;
        fb_run_ok(h->run, FB_ARGV("/sbin/umount", full), NULL, &ig3);
    }
}

/* B28: `jls -j` does not see a jail that is still dying (its last processes ending after
 * a stop), but jail(8) refuses a new jail of the same name until it is gone. Wait for it,
 * up to 5 s, instead of failing a quick restart with "already exists". */
static int wait_not_dying(const fb_host *h, const char *cid, kl_error *err)
{
    for (int waited = 0;; waited += 200) {
        _cleanup_result_ fb_result r = FB_RESULT_INIT;
        if (fb_run(h->run, FB_ARGV(JLS, "-d", "--libxo=json", "-j", cid), NULL, &r, err) < 0)
            return -1;
        if (r.status != 0)
            return 0; /* no jail of that name, dying or not */
        if (waited >= 5000)
            return kl_error_set(err, EBUSY,
                                "container %s: its previous jail is still being removed", cid);
        fb_sleep_ms(h->run, 200);
    }
}

int fb_container_start(const fb_host *h, fb_jail_spec *s, fb_proc *proc, kl_error *err)
{
    if (!fb_component_is_valid(s->cid))
        return kl_error_set(err, EINVAL, "invalid container id");
    int running = fb_jail_is_running(h, s->cid, err);
    if (running < 0)
        return -1;
    if (running)
        return kl_error_set(err, EBUSY, "container %s is already running", s->cid);
    if (wait_not_dying(h, s->cid, err) < 0)
        return -1;
    _cleanup_free_ char *ds = fb_container_ds(h, s->cid);
    _cleanup_free_ char *mp = NULL;
    if (fb_zfs_mountpoint(h, ds, &mp, err) < 0)
        return kl_error_prefix(err, "starting container %s", s->cid);
    start_state st = {0};
    int rc = 0;
    for (; rc == 0 && st.mounts_done < s->n_mounts; st.mounts_done++)
        rc = mount_one(h, mp, &s->mounts[st.mounts_done], err);
    if (rc < 0)
        st.mounts_done--; /* the failed one is not mounted */
    for (; rc == 0 && st.eps_done < s->n_endpoints; st.eps_done++) {
        fb_endpoint *e = &s->endpoints[st.eps_done];
        if (s->driver == FB_NET_VNET) {
            rc = fb_epair_create(h, e->epair, err);
            if (rc < 0) {
                kl_error_prefix(err, "could not create new epair");
                break;
            }
            _cleanup_free_ char *a = xasprintf("%sa", e->epair);
            rc = fb_run_ok(h->run, FB_ARGV("/sbin/ifconfig", e->ifname, "addm", a), NULL, err);
            if (rc == 0)
                rc = fb_run_ok(h->run, FB_ARGV("/sbin/ifconfig", a, "up"), NULL, err);
            if (rc < 0) {
                st.eps_done++; /* the epair exists: undo it */
                break;
            }
        } else if (s->driver == FB_NET_IPNET) {
            if (has(e->ip4))
                rc = fb_alias_add(h, e->ifname, e->ip4, err);
            if (rc == 0 && has(e->ip6))
                rc = fb_alias_add(h, e->ifname, e->ip6, err);
            if (rc < 0) {
                kl_error_prefix(err, "could not add ip to %s", e->ifname);
                st.eps_done++; /* remove whatever of it was added */
                break;
            }
        }
    }
    if (rc == 0 && has_limits(&s->limits)) {
        st.rctl_done = true;
        rc = rctl_apply(h, s->cid, &s->limits, err);
    }
    _cleanup_strv_ char **argv = NULL;
    if (rc == 0)
        rc = fb_jail_create_argv(h, s, mp, &argv, err);
    if (rc == 0)
        rc = fb_spawn(h->run, (const char *const *)argv, proc, err);
    if (rc < 0) {
        start_undo(h, s, mp, &st);
        return kl_error_prefix(err, "starting container %s", s->cid);
    }
    return 0;
}

int fb_container_exec(const fb_host *h, const char *cid, const char *user, const char *const *env,
                      const char *const *cmd, bool tty, fb_proc *proc, kl_error *err)
{
    if (!fb_component_is_valid(cid) || !cmd || !cmd[0])
        return kl_error_set(err, EINVAL, "invalid container id or command");
    /* B30: the original split "jexec -l -U <user> <cid>" on spaces; an empty user broke it. */
    const char *u = user && *user ? user : "root";
    if (u[0] == '-' || strpbrk(u, " \t\n"))
        return kl_error_set(err, EINVAL, "invalid user '%s'", u);
    _cleanup_strv_ char **argv = xcalloc(1, sizeof(char *));
    if (tty) {
        if (!h->pty_helper)
            return kl_error_set(err, ENOENT, "the pty helper kleene-pty is not configured");
        strv_push(&argv, h->pty_helper);
    }
    strv_push(&argv, JEXEC);
    strv_push(&argv, "-l");
    strv_push(&argv, "-U");
    strv_push(&argv, u);
    strv_push(&argv, cid);
    push_env_cmd(&argv, "/usr/bin/env", env, cmd);
    return fb_spawn(h->run, (const char *const *)argv, proc, err);
}

int fb_container_cleanup(const fb_host *h, fb_jail_spec *s, kl_error *err)
{
    kl_error first = KL_ERROR_INIT;
    for (size_t i = 0; i < s->n_endpoints; i++) {
        fb_endpoint *e = &s->endpoints[i];
        kl_error e1 = KL_ERROR_INIT;
        if (s->driver == FB_NET_VNET && e->epair[0]) { /* B27: only an epair that exists */
            fb_epair_destroy(h, e->ifname, e->epair, &e1);
            e->epair[0] = '\0';
        } else if (s->driver == FB_NET_IPNET) {
            if (has(e->ip4))
                fb_alias_remove(h, e->ifname, e->ip4, &e1);
            if (has(e->ip6))
                fb_alias_remove(h, e->ifname, e->ip6, &e1);
        }
        keep_first(&first, &e1);
    }
    _cleanup_free_ char *ds = fb_container_ds(h, s->cid);
    _cleanup_free_ char *mp = NULL;
    kl_error e2 = KL_ERROR_INIT;
    if (fb_zfs_mountpoint(h, ds, &mp, &e2) == 0) {
        /* B6: reverse order, so nested mounts come off first */
        for (size_t i = s->n_mounts; i-- > 0;) {
            if (!dest_is_ok(s->mounts[i].destination))
                continue;
            _cleanup_free_ char *full = xasprintf("%s%s", mp, s->mounts[i].destination);
            kl_error e3 = KL_ERROR_INIT;
            unmount_if_mounted(h, full, "nullfs", &e3);
            keep_first(&first, &e3);
        }
        _cleanup_free_ char *dev = xasprintf("%s/dev", mp);
        kl_error e4 = KL_ERROR_INIT;
        unmount_if_mounted(h, dev, "devfs", &e4);
        keep_first(&first, &e4);
    }
    keep_first(&first, &e2);
    if (has_limits(&s->limits)) {
        kl_error e5 = KL_ERROR_INIT;
        rctl_remove(h, s->cid, &e5);
        keep_first(&first, &e5);
    }
    if (kl_error_is_set(&first)) {
        if (err)
            *err = first;
        return -1;
    }
    return 0;
}

int fb_container_ended(const fb_host *h, fb_jail_spec *s, kl_error *err)
{
    int running = fb_jail_is_running(h, s->cid, err);
    if (running < 0)
        return -1;
    if (running)
        return 0;
    if (fb_container_cleanup(h, s, err) < 0)
        return -1;
    return 1;
}

/* The exec.stop in effect after the user's parameters: NULL when none (exec.nostop). */
static const char *effective_stop(const char *const *params)
{
    const char *stop = "/bin/sh /etc/rc.shutdown";
    for (size_t i = 0; params && params[i]; i++) {
        if (starts_with(params[i], "exec.stop="))
            stop = params[i] + strlen("exec.stop=");
        else if (!strcmp(params[i], "exec.nostop") || !strcmp(params[i], "exec.stop=") ||
                 starts_with(params[i], "exec.nostop="))
            stop = NULL;
    }
    return stop && *stop ? stop : NULL;
}

int fb_container_stop(const fb_host *h, fb_jail_spec *s, int grace_ms, kl_error *err)
{
    int running = fb_jail_is_running(h, s->cid, err);
    if (running < 0)
        return -1;
    if (!running) {
        kl_error ig = KL_ERROR_INIT;
        fb_container_cleanup(h, s, &ig);
        return kl_error_set(err, ENOENT, "container not running");
    }
    const char *stop = effective_stop(s->jail_params);
    kl_error ig = KL_ERROR_INIT;
    if (stop) {
        /* What jail(8) would run for exec.stop, in the jail (sh -c, as jail(8) does). */
        fb_run_ok(h->run, FB_ARGV(JEXEC, s->cid, "/bin/sh", "-c", stop), NULL, &ig);
    }
    /* The container's stop signal (ours, ContainerConfig.stop_signal), by number as kill(1)
     * takes it; else TERM. */
    _cleanup_free_ char *sig = s->stop_signal > 0 ? xasprintf("-%d", s->stop_signal) : NULL;
    fb_run_ok(h->run, FB_ARGV(JEXEC, s->cid, "/bin/kill", sig ? sig : "-TERM", "-1"), NULL, &ig);
    for (int waited = 0; waited < grace_ms; waited += 200) {
        running = fb_jail_is_running(h, s->cid, &ig);
        if (running <= 0)
            break;
        fb_sleep_ms(h->run, 200);
    }
    int rc = 0;
    if (running > 0) {
        _cleanup_result_ fb_result r = FB_RESULT_INIT;
        if (fb_run(h->run, FB_ARGV(JAIL, "-r", s->cid), NULL, &r, err) < 0)
            return -1;
        if (r.status != 0) {
            _cleanup_free_ char *o = fb_trim(*r.err ? r.err : r.out);
            rc = kl_error_set(err, EIO, "/usr/sbin/jail exited abnormally with exit code %d: '%s'",
                              r.status, o);
        }
    }
    kl_error cerr = KL_ERROR_INIT;
    if (fb_container_cleanup(h, s, &cerr) < 0 && rc == 0) {
        if (err)
            *err = cerr;
        rc = -1;
    }
    return rc;
}

int fb_container_update(const fb_host *h, const char *cid, const char *const *params, kl_error *err)
{
    if (!fb_component_is_valid(cid))
        return kl_error_set(err, EINVAL, "invalid container id");
    _cleanup_strv_ char **argv = xcalloc(1, sizeof(char *));
    strv_push(&argv, JAIL);
    strv_push(&argv, "-m");
    _cleanup_free_ char *nm = xasprintf("name=%s", cid);
    strv_push(&argv, nm);
    size_t kept = 0;
    for (size_t i = 0; params && params[i]; i++) {
        const char *p = params[i];
        if (starts_with(p, "exec.") || starts_with(p, "mount.") || starts_with(p, "command") ||
            starts_with(p, "name=") || starts_with(p, "path="))
            continue;
        strv_push(&argv, p);
        kept++;
    }
    if (kept == 0)
        return 0;
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, (const char *const *)argv, NULL, &r, err) < 0)
        return -1;
    if (r.status != 0) {
        _cleanup_free_ char *o = fb_trim(*r.err ? r.err : r.out);
        return kl_error_set(err, EPERM,
                            "an error ocurred while updating the container: '/usr/sbin/jail' "
                            "returned non-zero exitcode %d when attempting to modify the "
                            "container '%s'",
                            r.status, o);
    }
    return 0;
}
