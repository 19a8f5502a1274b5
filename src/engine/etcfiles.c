/* A container's /etc/hosts, /etc/hostname and /etc/resolv.conf (etcfiles.h). */
#include "engine/etcfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ipam.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* The value quoted for a message: printable ASCII only, cut short. */
static void shown(const char *s, size_t n, char out[72])
{
    size_t k = 0;
    for (size_t i = 0; s[i] && i < n && k < 64; i++)
        out[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s[0] && strnlen(s, n + 1) > 64 && n > 64) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > ETCFILES_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

int etcfiles_check_name(const char *what, const char *name, kl_error *err)
{
    if (!name || !name_ok(name, strlen(name))) {
        char s[72];
        shown(name ? name : "", name ? strlen(name) : 0, s);
        return kl_error_set(err, EINVAL,
                            "invalid %s '%s': 1-%d characters of [A-Za-z0-9_.-], not starting "
                            "with '.' or '-'",
                            what, s, ETCFILES_NAME_MAX);
    }
    return 0;
}

int etcfiles_check_extra_host(const char *entry, size_t *name_len, const char **addr, kl_error *err)
{
    const char *colon = entry ? strchr(entry, ':') : NULL;
    char s[72];
    shown(entry ? entry : "", entry ? strlen(entry) : 0, s);
    if (!colon || !name_ok(entry, (size_t)(colon - entry)))
        return kl_error_set(err, EINVAL,
                            "invalid extra host '%s': NAME:ADDRESS expected, NAME of "
                            "[A-Za-z0-9_.-]",
                            s);
    const char *a = colon + 1;
    ipam_addr ia;
    kl_error ignored = KL_ERROR_INIT;
    if (strcmp(a, "host-gateway") != 0 && ipam_addr_parse(a, &ia, &ignored) < 0)
        return kl_error_set(err, EINVAL,
                            "invalid extra host '%s': the address is not an IPv4 or IPv6 address "
                            "(nor host-gateway)",
                            s);
    *name_len = (size_t)(colon - entry);
    *addr = a;
    return 0;
}

int etcfiles_check_nameserver(const char *addr, kl_error *err)
{
    ipam_addr ia;
    kl_error ignored = KL_ERROR_INIT;
    if (!addr || ipam_addr_parse(addr, &ia, &ignored) < 0) {
        char s[72];
        shown(addr ? addr : "", addr ? strlen(addr) : 0, s);
        return kl_error_set(err, EINVAL, "invalid nameserver '%s': an IPv4 or IPv6 address", s);
    }
    return 0;
}

int etcfiles_check_search(const char *domain, kl_error *err)
{
    return etcfiles_check_name("search domain", domain, err);
}

int etcfiles_check_option(const char *option, kl_error *err)
{
    size_t n = option ? strlen(option) : 0;
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = name_char(option[i]) || option[i] == ':';
    if (!ok) {
        char s[72];
        shown(option ? option : "", n, s);
        return kl_error_set(err, EINVAL, "invalid resolver option '%s': 1-64 of [A-Za-z0-9_.:-]",
                            s);
    }
    return 0;
}

/* ---- /etc/hosts ---------------------------------------------------------------------------- */

static void line(kl_buf *b, const char *addr, char *const *names, size_t n)
{
    if (!addr || !addr[0] || n == 0)
        return;
    kl_buf_printf(b, "%s\t", addr);
    for (size_t i = 0; i < n; i++)
        kl_buf_printf(b, "%s%s", i ? " " : "", names[i]);
    kl_buf_puts(b, "\n");
}

char *etcfiles_hosts_text(const etcfiles_hosts *in)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "127.0.0.1\tlocalhost\n"
                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                    "fe00::0\tip6-localnet\n"
                    "ff00::0\tip6-mcastprefix\n"
                    "ff02::1\tip6-allnodes\n"
                    "ff02::2\tip6-allrouters\n");
    for (char *const *p = in->extra; p && *p; p++) {
        const char *colon = strchr(*p, ':');
        if (colon)
            kl_buf_printf(&b, "%s\t%.*s\n", colon + 1, (int)(colon - *p), *p);
    }
    char *host[1] = {(char *)in->hostname};
    if (in->hostname && in->hostname[0]) {
        line(&b, in->ip, host, 1);
        line(&b, in->ip6, host, 1);
    }
    for (size_t i = 0; i < in->n_peers; i++) {
        const etcfiles_peer *p = &in->peers[i];
        /* each name once per line, in the given order */
        char **names = NULL;
        size_t n = 0;
        for (char *const *q = p->names; q && *q; q++) {
            bool seen = false;
            for (size_t k = 0; !seen && k < n; k++)
                seen = strcmp(names[k], *q) == 0;
            if (!seen && name_ok(*q, strlen(*q))) {
                names = xrealloc(names, (n + 1) * sizeof(*names));
                names[n++] = *q;
            }
        }
        line(&b, p->ip, names, n);
        line(&b, p->ip6, names, n);
        free(names);
    }
    return xstrdup(b.len ? b.data : "");
}

/* ---- /etc/resolv.conf ---------------------------------------------------------------------- */

static bool is_loopback(const char *addr)
{
    ipam_addr a;
    kl_error ignored = KL_ERROR_INIT;
    if (ipam_addr_parse(addr, &a, &ignored) < 0)
        return false;
    if (a.family == 4)
        return a.bytes[0] == 127;
    static const unsigned char lo6[16] = {[15] = 1};
    return memcmp(a.bytes, lo6, 16) == 0;
}

char *etcfiles_resolv_text(const char *host_text, char *const *nameservers, char *const *search,
                           char *const *options)
{
    _cleanup_buf_ kl_buf ns = KL_BUF_INIT, se = KL_BUF_INIT, op = KL_BUF_INIT;
    /* the host's lines, each kind kept unless given */
    _cleanup_free_ char *copy = xstrdup(host_text ? host_text : "");
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char key[16] = "";
        int off = 0;
        if (sscanf(l, " %15s %n", key, &off) < 1)
            continue;
        const char *rest = l + off;
        if (!strcmp(key, "nameserver") && !nameservers) {
            char addr[64] = "";
            if (sscanf(rest, "%63s", addr) == 1 && !is_loopback(addr) &&
                etcfiles_check_nameserver(addr, &(kl_error)KL_ERROR_INIT) == 0)
                kl_buf_printf(&ns, "nameserver %s\n", addr);
        } else if ((!strcmp(key, "search") || !strcmp(key, "domain")) && !search) {
            kl_buf_reset(&se);
            kl_buf_printf(&se, "search %s\n", rest);
        } else if (!strcmp(key, "options") && !options) {
            kl_buf_printf(&op, "options %s\n", rest);
        }
    }
    for (char *const *p = nameservers; p && *p; p++)
        kl_buf_printf(&ns, "nameserver %s\n", *p);
    if (search && search[0]) {
        kl_buf_puts(&se, "search");
        for (char *const *p = search; *p; p++)
            kl_buf_printf(&se, " %s", *p);
        kl_buf_puts(&se, "\n");
    }
    if (options && options[0]) {
        kl_buf_puts(&op, "options");
        for (char *const *p = options; *p; p++)
            kl_buf_printf(&op, " %s", *p);
        kl_buf_puts(&op, "\n");
    }
    return xasprintf("%.*s%.*s%.*s", (int)se.len, se.data ? se.data : "", (int)ns.len,
                     ns.data ? ns.data : "", (int)op.len, op.data ? op.data : "");
}

char *etcfiles_host_resolv(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || b.len > 64 * 1024)
            break;
        kl_buf_append(&b, chunk, (size_t)n);
    }
    kl_buf_append(&b, "", 1);
    return xstrdup(b.data);
}

/* ---- writing ------------------------------------------------------------------------------- */

int etcfiles_rewrite(const char *dir, const char *name, const char *text, kl_error *err)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", dir);
    /* Not O_TRUNC: the new text goes over the old, then the rest is cut, so a reader in the
     * container never finds the file empty. */
    _cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return kl_error_errno(err, errno, "writing %s/%s", dir, name);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return kl_error_set(err, EINVAL, "%s/%s is not a regular file", dir, name);
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, text + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kl_error_errno(err, n < 0 ? errno : EIO, "writing %s/%s", dir, name);
        done += (size_t)n;
    }
    if (ftruncate(fd, (off_t)len) < 0)
        return kl_error_errno(err, errno, "writing %s/%s", dir, name);
    return 0;
}
