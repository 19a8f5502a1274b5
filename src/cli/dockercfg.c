/* Docker CLI's credential store, as klee login/logout/pull/push use it (dockercfg.h). */
#include "cli/dockercfg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"
#include "registry/reference.h"

/* a config file or a helper's answer larger than this is refused */
#define CFG_MAX (4 * 1024 * 1024)
#define HELPER_OUT_MAX (256 * 1024)

extern char **environ;

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void dockercfg_cred_clear(dockercfg_cred *c)
{
    free(c->username);
    wipe_free(c->password);
    c->username = c->password = NULL;
}

char *dockercfg_path(kl_error *err)
{
    const char *d = getenv("DOCKER_CONFIG");
    if (d && *d)
        return xasprintf("%s/config.json", d);
    const char *home = getenv("HOME");
    if (home && *home)
        return xasprintf("%s/.docker/config.json", home);
    kl_error_set(err, ENOENT, "neither DOCKER_CONFIG nor HOME is set: no place for credentials");
    return NULL;
}

/* ---- pure parts ------------------------------------------------------------------------ */

int dockercfg_decode_auth(const char *b64, dockercfg_cred *out, kl_error *err)
{
    *out = (dockercfg_cred){0};
    size_t n = strlen(b64);
    if (n > 64 * 1024)
        return kl_error_set(err, EINVAL, "'auth' is too long");
    /* the strict decoder wants padding: some tools leave it out */
    _cleanup_free_ char *padded = xasprintf("%s%s", b64, n % 4 == 2 ? "==" : n % 4 == 3 ? "=" : "");
    size_t plen = strlen(padded);
    uint8_t *raw = xmalloc(kl_base64_decoded_max(plen) + 1);
    ssize_t m = kl_base64_decode(padded, plen, raw, kl_base64_decoded_max(plen), err);
    if (m < 0) {
        free(raw);
        return kl_error_prefix(err, "'auth' is not base64");
    }
    raw[m] = '\0';
    char *colon = memchr(raw, ':', (size_t)m);
    if (!colon || colon == (char *)raw || memchr(raw, '\0', (size_t)m)) {
        explicit_bzero(raw, (size_t)m);
        free(raw);
        return kl_error_set(err, EINVAL, "'auth' is not base64 of user:password");
    }
    out->username = xstrndup((char *)raw, (size_t)(colon - (char *)raw));
    out->password = xstrdup(colon + 1);
    explicit_bzero(raw, (size_t)m);
    free(raw);
    return 0;
}

/* The registry an `auths` key names, or NULL when it names none. */
static char *key_domain(const char *key)
{
    kl_error e = KL_ERROR_INIT;
    return oci_registry_normalize(key, &e);
}

static int entry_cred(const char *key, const json_t *entry, dockercfg_cred *out, kl_error *err)
{
    if (!json_is_object(entry))
        return kl_error_set(err, EINVAL, "auths[\"%.200s\"] is not an object", key);
    const char *auth = jx_str(entry, "auth", NULL);
    const char *user = jx_str(entry, "username", NULL), *pass = jx_str(entry, "password", NULL);
    if (auth && *auth) {
        if (dockercfg_decode_auth(auth, out, err) < 0)
            return kl_error_prefix(err, "auths[\"%.200s\"]", key);
        return 1;
    }
    if (user && *user) { /* an older spelling */
        out->username = xstrdup(user);
        out->password = xstrdup(pass ? pass : "");
        return 1;
    }
    if (jx_str(entry, "identitytoken", NULL))
        return kl_error_set(err, ENOTSUP,
                            "auths[\"%.200s\"] holds an identity token (an OAuth login), which "
                            "klee does not support: log in with a password or access token",
                            key);
    return 0; /* an empty entry: `docker login` with a helper leaves one */
}

int dockercfg_auths_lookup(const json_t *cfg, const char *domain, dockercfg_cred *out,
                           kl_error *err)
{
    *out = (dockercfg_cred){0};
    const json_t *auths = json_object_get(cfg, "auths");
    if (!auths || json_is_null(auths))
        return 0;
    if (!json_is_object(auths))
        return kl_error_set(err, EINVAL, "'auths' is not an object");
    _cleanup_free_ char *key = oci_registry_auth_key(domain);
    const json_t *exact = json_object_get(auths, key);
    if (exact)
        return entry_cred(key, exact, out, err);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)auths, k, v)
    {
        _cleanup_free_ char *d = key_domain(k);
        if (d && !strcmp(d, domain)) {
            int r = entry_cred(k, v, out, err);
            if (r != 0)
                return r;
        }
    }
    return 0;
}

const char *dockercfg_helper_for(const json_t *cfg, const char *domain)
{
    const json_t *helpers = json_object_get(cfg, "credHelpers");
    if (json_is_object(helpers)) {
        _cleanup_free_ char *key = oci_registry_auth_key(domain);
        const char *h = jx_str(helpers, key, NULL);
        if (!h)
            h = jx_str(helpers, domain, NULL);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)helpers, k, v)
        {
            if (h)
                break;
            _cleanup_free_ char *d = key_domain(k);
            if (d && !strcmp(d, domain) && json_is_string(v))
                h = json_string_value(v);
        }
        if (h && *h)
            return h;
    }
    const char *store = jx_str(cfg, "credsStore", NULL);
    return store && *store ? store : NULL;
}

/* ---- the file -------------------------------------------------------------------------- */

/* The parsed file, or an empty object when there is none; NULL with err when it is not a
 * JSON object. */
static json_t *load_cfg(const char *path, kl_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return json_object();
    if (fd < 0)
        return kl_error_errno(err, errno, "reading %s", path), NULL;
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    char chunk[16384];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (b.len + (size_t)n > CFG_MAX)
            return kl_error_set(err, EFBIG, "%s: larger than %d bytes", path, CFG_MAX), NULL;
        kl_buf_append(&b, chunk, (size_t)n);
    }
    if (n < 0)
        return kl_error_errno(err, errno, "reading %s", path), NULL;
    if (b.len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, 0, &je);
    explicit_bzero(b.data, b.len);
    if (!j)
        return kl_error_set(err, EINVAL, "%s: not JSON: %s (line %d)", path, je.text, je.line),
               NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return kl_error_set(err, EINVAL, "%s: not a JSON object", path), NULL;
    }
    return j;
}

/* Write cfg to path atomically: a new file beside it (mode 0600), renamed over it. A path that
 * is a symlink is followed (its target is replaced). The directory is made (0700) if needed. */
static int save_cfg(const char *path, const json_t *cfg, kl_error *err)
{
    char real[PATH_MAX];
    const char *target = path;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real))
        target = real;
    _cleanup_free_ char *dir = xstrdup(target);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return kl_error_errno(err, errno, "creating %s", dir);
    }
    _cleanup_free_ char *text = json_dumps(cfg, JSON_INDENT(1));
    if (!text)
        return kl_error_set(err, ENOMEM, "writing %s", target);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-XXXXXX", target);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        explicit_bzero(text, strlen(text));
        return kl_error_errno(err, errno, "writing %s", target);
    }
    size_t len = strlen(text);
    int rc = fchmod(fd, 0600);
    for (size_t off = 0; rc == 0 && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    if (rc == 0 && write(fd, "\n", 1) != 1)
        rc = -1;
    if (rc == 0)
        rc = fsync(fd);
    int saved = errno;
    explicit_bzero(text, len);
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, target) < 0) {
        rc = -1;
        saved = errno;
    }
    if (rc < 0) {
        unlink(tmp);
        return kl_error_errno(err, saved ? saved : EIO, "writing %s", target);
    }
    return 0;
}

/* ---- credential helpers ------------------------------------------------------------------ */

/* Run docker-credential-<name> ACTION with `input` on its stdin; its stdout in *out. Returns
 * its exit status (0 success), or -1 with err when it could not run (not installed). */
static int run_helper(const char *name, const char *action, const char *input, kl_buf *out,
                      kl_error *err)
{
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == ' ')
            return kl_error_set(err, EINVAL, "credential helper name '%.100s' is invalid", name);
    _cleanup_free_ char *prog = xasprintf("docker-credential-%s", name);
    /* found in PATH? (posix_spawnp's failure would only show as an exit status) */
    const char *path = getenv("PATH");
    bool found = false;
    _cleanup_free_ char *dirs = xstrdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        _cleanup_free_ char *f = xasprintf("%s/%s", *d ? d : ".", prog);
        found = access(f, X_OK) == 0;
    }
    if (!found)
        return kl_error_set(err, ENOENT,
                            "the Docker config names the credential helper '%s', but %s is not "
                            "installed (not in PATH)",
                            name, prog);
    int in[2], outp[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return kl_error_errno(err, errno, "running %s", prog);
    if (pipe2(outp, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return kl_error_errno(err, errno, "running %s", prog);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
    char *argv[] = {prog, (char *)action, NULL};
    pid_t pid;
    int r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(outp[1]);
    if (r != 0) {
        close(in[1]);
        close(outp[0]);
        return kl_error_errno(err, r, "running %s", prog);
    }
    /* the input is small (a URL or a short JSON): written whole, then read the answer */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    size_t len = strlen(input);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(in[1], input + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(in[1]);
    signal(SIGPIPE, old);
    char buf[4096];
    ssize_t n;
    bool toolong = false;
    while ((n = read(outp[0], buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (out->len + (size_t)n > HELPER_OUT_MAX)
            toolong = true;
        else
            kl_buf_append(out, buf, (size_t)n);
    }
    close(outp[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (toolong)
        return kl_error_set(err, EIO, "%s %s: answer too long", prog, action);
    if (!WIFEXITED(status))
        return kl_error_set(err, EIO, "%s %s: killed by signal %d", prog, action,
                            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return WEXITSTATUS(status);
}

/* The helper's words (its stdout, one line, bounded) for an error message. */
static char *helper_words(const kl_buf *b)
{
    size_t n = b->len < 200 ? b->len : 200;
    char *s = xstrndup(b->data ? b->data : "", n);
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || (unsigned char)*p < 0x20)
            *p = ' ';
    return s;
}

static int helper_get(const char *name, const char *domain, dockercfg_cred *out, kl_error *err)
{
    _cleanup_free_ char *key = oci_registry_auth_key(domain);
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    int st = run_helper(name, "get", key, &b, err);
    if (st < 0)
        return -1;
    if (st != 0) {
        /* "credentials not found in native keychain": none */
        if (b.len && memmem(b.data, b.len, "not found", 9))
            return 0;
        _cleanup_free_ char *w = helper_words(&b);
        return kl_error_set(err, EIO, "docker-credential-%s get: exit status %d: %s", name, st, w);
    }
    json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    if (b.data)
        explicit_bzero(b.data, b.len);
    const char *user = jx_str(j, "Username", NULL), *secret = jx_str(j, "Secret", NULL);
    int rc = 0;
    if (!user || !secret)
        rc = kl_error_set(err, EIO,
                          "docker-credential-%s get: not the answer of a credential helper", name);
    else if (!strcmp(user, "<token>"))
        rc = kl_error_set(err, ENOTSUP,
                          "docker-credential-%s holds an identity token (an OAuth login) for %s, "
                          "which klee does not support",
                          name, domain);
    else if (*user) {
        out->username = xstrdup(user);
        out->password = xstrdup(secret);
        rc = 1;
    }
    if (j && secret)
        explicit_bzero((char *)secret, strlen(secret));
    json_decref(j);
    return rc;
}

int dockercfg_get(const char *domain, dockercfg_cred *out, kl_error *err)
{
    *out = (dockercfg_cred){0};
    _cleanup_free_ char *path = dockercfg_path(err);
    if (!path)
        return 0; /* nowhere to look: anonymous */
    _cleanup_json_ json_t *cfg = load_cfg(path, err);
    if (!cfg)
        return -1;
    const char *helper = dockercfg_helper_for(cfg, domain);
    int r = helper ? helper_get(helper, domain, out, err)
                   : dockercfg_auths_lookup(cfg, domain, out, err);
    if (r < 0)
        kl_error_prefix(err, "credentials for %s", domain);
    return r;
}

int dockercfg_store(const char *domain, const char *username, const char *password, char **where,
                    kl_error *err)
{
    *where = NULL;
    _cleanup_free_ char *path = dockercfg_path(err);
    if (!path)
        return -1;
    _cleanup_json_ json_t *cfg = load_cfg(path, err);
    if (!cfg)
        return -1;
    _cleanup_free_ char *key = oci_registry_auth_key(domain);
    const char *helper = dockercfg_helper_for(cfg, domain);
    if (helper) {
        _cleanup_json_ json_t *msg = json_pack("{s:s, s:s, s:s}", "ServerURL", key, "Username",
                                               username, "Secret", password);
        char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        if (!text)
            return kl_error_set(err, EINVAL, "credentials are not UTF-8");
        _cleanup_buf_ kl_buf b = KL_BUF_INIT;
        int st = run_helper(helper, "store", text, &b, err);
        wipe_free(text);
        if (st < 0)
            return -1;
        if (st != 0) {
            _cleanup_free_ char *w = helper_words(&b);
            return kl_error_set(err, EIO, "docker-credential-%s store: exit status %d: %s", helper,
                                st, w);
        }
        *where = xasprintf("the credential helper docker-credential-%s", helper);
        return 0;
    }
    json_t *auths = json_object_get(cfg, "auths");
    if (!json_is_object(auths)) {
        auths = json_object();
        json_object_set_new(cfg, "auths", auths);
    }
    /* one entry per registry: drop other spellings of it */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(auths, tmp, k, v)
    {
        _cleanup_free_ char *d = key_domain(k);
        if (d && !strcmp(d, domain) && strcmp(k, key) != 0)
            json_object_del(auths, k);
    }
    _cleanup_free_ char *up = xasprintf("%s:%s", username, password);
    char *b64 = kl_base64_encode_alloc(up, strlen(up));
    explicit_bzero(up, strlen(up));
    json_t *entry = json_object_get(auths, key);
    if (!json_is_object(entry)) {
        entry = json_object();
        json_object_set_new(auths, key, entry);
    }
    json_object_set_new(entry, "auth", json_string(b64));
    wipe_free(b64);
    if (save_cfg(path, cfg, err) < 0)
        return -1;
    *where = steal_pointer(&path);
    return 0;
}

int dockercfg_erase(const char *domain, kl_error *err)
{
    _cleanup_free_ char *path = dockercfg_path(err);
    if (!path)
        return -1;
    _cleanup_json_ json_t *cfg = load_cfg(path, err);
    if (!cfg)
        return -1;
    _cleanup_free_ char *key = oci_registry_auth_key(domain);
    int removed = 0;
    const char *helper = dockercfg_helper_for(cfg, domain);
    if (helper) {
        _cleanup_buf_ kl_buf b = KL_BUF_INIT;
        int st = run_helper(helper, "erase", key, &b, err);
        if (st < 0)
            return -1;
        if (st != 0 && !(b.len && memmem(b.data, b.len, "not found", 9))) {
            _cleanup_free_ char *w = helper_words(&b);
            return kl_error_set(err, EIO, "docker-credential-%s erase: exit status %d: %s", helper,
                                st, w);
        }
        removed = st == 0;
    }
    json_t *auths = json_object_get(cfg, "auths");
    if (json_is_object(auths)) {
        const char *k;
        json_t *v;
        void *tmp;
        bool changed = false;
        json_object_foreach_safe(auths, tmp, k, v)
        {
            _cleanup_free_ char *d = key_domain(k);
            if (!strcmp(k, key) || (d && !strcmp(d, domain))) {
                json_object_del(auths, k);
                changed = true;
            }
        }
        if (changed) {
            if (save_cfg(path, cfg, err) < 0)
                return -1;
            removed = 1;
        }
    }
    return removed;
}
