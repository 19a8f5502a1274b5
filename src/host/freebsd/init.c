/* The host set-up of `kleened init` (init.h). Checking runs only read-only commands;
 * every change is a step of the plan, shown before it is done.
 * It must not: change anything in fb_init_check, or rewrite pf.conf beyond inserting our
 * three anchor lines. */
#include "host/freebsd/init.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

void fb_init_plan_free(fb_init_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->steps[i].what);
        strv_free(p->steps[i].argv);
        free(p->steps[i].path);
        free(p->steps[i].content);
    }
    free(p->steps);
    p->steps = NULL;
    p->n = 0;
}

static fb_init_step *add(fb_init_plan *p, char *what)
{
    p->steps = xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
    fb_init_step *s = &p->steps[p->n++];
    memset(s, 0, sizeof(*s));
    s->what = what;
    return s;
}

static void add_cmd(fb_init_plan *p, char *what, const char *const *argv)
{
    fb_init_step *s = add(p, what);
    s->argv = strv_dup((char *const *)argv);
}

static int status_of(const fb_host *h, const char *const *argv, fb_result *r, kl_error *err)
{
    if (fb_run(h->run, argv, NULL, r, err) < 0)
        return -1;
    return r->status;
}

/* The first word of a pf.conf line (after blanks), lower-cased into buf. */
static void first_word(const char *line, char *buf, size_t n)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t i = 0;
    while (line[i] && !isspace((unsigned char)line[i]) && i + 1 < n) {
        buf[i] = (char)tolower((unsigned char)line[i]);
        i++;
    }
    buf[i] = '\0';
}

static bool word_in(const char *w, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (!strcmp(w, set[i]))
            return true;
    return false;
}

char *fb_pf_conf_hook(const char *text, const char *anchor)
{
    static const char *const translation[] = {"nat",        "rdr",          "binat", "nat-anchor",
                                              "rdr-anchor", "binat-anchor", NULL};
    static const char *const filter[] = {"pass",  "block", "anchor", "antispoof",
                                         "match", "load",  NULL};
    _cleanup_free_ char *nat = xasprintf("nat-anchor \"%s\"", anchor);
    _cleanup_free_ char *rdr = xasprintf("rdr-anchor \"%s\"", anchor);
    _cleanup_free_ char *flt = xasprintf("anchor \"%s\"", anchor);
    bool has_nat = false, has_rdr = false, has_flt = false;
    kl_buf out = KL_BUF_INIT;
    bool put_tr = false, put_flt = false;
    const char *p = text;
    /* first pass: what is there */
    for (const char *q = text; *q;) {
        const char *nl = strchr(q, '\n');
        size_t n = nl ? (size_t)(nl - q) : strlen(q);
        _cleanup_free_ char *ln = xstrndup(q, n);
        char *t = ln;
        while (*t == ' ' || *t == '\t')
            t++;
        has_nat |= !strncmp(t, nat, strlen(nat));
        has_rdr |= !strncmp(t, rdr, strlen(rdr));
        has_flt |= !strncmp(t, flt, strlen(flt));
        q += n + (nl ? 1 : 0);
    }
    if (has_nat && has_rdr && has_flt) {
        kl_buf_free(&out);
        return NULL;
    }
    const char *mark = "# kleened: Kleene's rules (pfctl -a kleene -s all)";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        _cleanup_free_ char *ln = xstrndup(p, n);
        char w[32];
        first_word(ln, w, sizeof(w));
        bool is_tr = word_in(w, translation), is_flt = word_in(w, filter);
        if (!put_tr && (is_tr || is_flt)) {
            kl_buf_printf(&out, "%s\n", mark);
            if (!has_nat)
                kl_buf_printf(&out, "%s\n", nat);
            if (!has_rdr)
                kl_buf_printf(&out, "%s\n", rdr);
            put_tr = true;
        }
        if (!put_flt && is_flt) {
            if (!has_flt)
                kl_buf_printf(&out, "%s\n", flt);
            put_flt = true;
        }
        kl_buf_printf(&out, "%s\n", ln);
        p += n + (nl ? 1 : 0);
    }
    if (!put_tr) {
        kl_buf_printf(&out, "%s\n", mark);
        if (!has_nat)
            kl_buf_printf(&out, "%s\n", nat);
        if (!has_rdr)
            kl_buf_printf(&out, "%s\n", rdr);
    }
    if (!put_flt && !has_flt)
        kl_buf_printf(&out, "%s\n", flt);
    return kl_buf_steal(&out);
}

int fb_init_check(const fb_host *h, const char *pf_conf, fb_init_plan *plan, kl_error *err)
{
    memset(plan, 0, sizeof(*plan));
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    const char *mods[] = {"zfs", "pf", "pflog", "if_bridge"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(mods); i++) {
        int st = status_of(h, FB_ARGV("/sbin/kldstat", "-q", "-m", mods[i]), &r, err);
        if (st < 0)
            return -1;
        if (st != 0)
            add_cmd(plan, xasprintf("load kernel module %s", mods[i]),
                    FB_ARGV("/sbin/kldload", mods[i]));
    }
    struct {
        const char *name, *file;
    } knobs[] = {{"zfs_load", "/boot/loader.conf"},
                 {"zfs_enable", "/etc/rc.conf"},
                 {"pf_load", "/boot/loader.conf"},
                 {"pf_enable", "/etc/rc.conf"},
                 {"pflog_enable", "/etc/rc.conf"}};
    for (size_t i = 0; i < KL_ARRAY_SIZE(knobs); i++) {
        int st = status_of(h, FB_ARGV("/usr/sbin/sysrc", "-n", "-f", knobs[i].file, knobs[i].name),
                           &r, err);
        if (st < 0)
            return -1;
        _cleanup_free_ char *v = fb_trim(r.out);
        if (st == 0 && !strcasecmp(v, "YES"))
            continue;
        _cleanup_free_ char *set = xasprintf("%s=YES", knobs[i].name);
        add_cmd(plan, xasprintf("set %s=YES in %s", knobs[i].name, knobs[i].file),
                FB_ARGV("/usr/sbin/sysrc", "-f", knobs[i].file, set));
    }
    int st = status_of(h, FB_ARGV("/sbin/sysctl", "-n", "net.link.bridge.pfil_bridge"), &r, err);
    if (st < 0)
        return -1;
    _cleanup_free_ char *pb = fb_trim(r.out);
    if (st != 0 || strcmp(pb, "1"))
        add_cmd(plan, xstrdup("filter bridged traffic with pf (net.link.bridge.pfil_bridge=1)"),
                FB_ARGV("/sbin/sysctl", "net.link.bridge.pfil_bridge=1"));
    const char *subs[] = {"", "/image", "/container", "/volumes"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(subs); i++) {
        _cleanup_free_ char *ds = xasprintf("%s%s", h->root, subs[i]);
        int ex = fb_zfs_exists(h, ds, err);
        if (ex < 0)
            return -1;
        if (!ex) {
            if (!fb_dataset_is_valid(ds))
                return kl_error_set(err, EINVAL, "invalid dataset name %s", ds);
            add_cmd(plan, xasprintf("create ZFS dataset %s", ds),
                    FB_ARGV("/sbin/zfs", "create", ds));
        }
    }
    st = status_of(h, FB_ARGV("/bin/cat", pf_conf), &r, err);
    if (st < 0)
        return -1;
    _cleanup_free_ char *hooked = fb_pf_conf_hook(st == 0 ? r.out : "", h->pf_anchor);
    if (hooked) {
        fb_init_step *s =
            add(plan, xasprintf("hook the pf anchor \"%s\" into %s", h->pf_anchor, pf_conf));
        s->path = xstrdup(pf_conf);
        s->content = steal_pointer(&hooked);
        add_cmd(plan, xasprintf("load %s", pf_conf), FB_ARGV("/sbin/pfctl", "-f", pf_conf));
    }
    st = status_of(h, FB_ARGV("/sbin/sysctl", "-n", "kern.racct.enable"), &r, err);
    if (st < 0)
        return -1;
    _cleanup_free_ char *racct = fb_trim(r.out);
    if (st != 0 || strcmp(racct, "1")) {
        add_cmd(plan, xstrdup("enable resource limits at the next boot (kern.racct.enable=1)"),
                FB_ARGV("/usr/sbin/sysrc", "-f", "/boot/loader.conf", "kern.racct.enable=1"));
        add(plan, xstrdup("reboot, so that kern.racct.enable=1 takes effect (memory, CPU and "
                          "process limits need it)"))
            ->note_only = true;
    }
    return 0;
}

int fb_init_apply(const fb_host *h, const fb_init_plan *plan, kl_error *err)
{
    for (size_t i = 0; i < plan->n; i++) {
        const fb_init_step *s = &plan->steps[i];
        int rc = 0;
        if (s->path)
            rc = fb_write_file(h->run, s->path, s->content, strlen(s->content), 0644, err);
        else if (s->argv)
            rc = fb_run_ok(h->run, (const char *const *)s->argv, NULL, err);
        if (rc < 0)
            return kl_error_prefix(err, "initialization error: %s", s->what);
    }
    return 0;
}
