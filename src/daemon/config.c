/* kleened's config file: libyaml's document tree walked into a kl_config.
 *
 * Every key has a default, so a missing file or key is fine; anything present is checked
 * strictly (type, range, unknown and duplicate keys) and refused with "origin:LINE: ...".
 * This module must not act on the configuration: it binds nothing, creates nothing and
 * prints nothing. The only filesystem access is opening the config file and checking that
 * the TLS files named by https listeners are readable regular files (non-blocking, so a FIFO
 * or device named in a config cannot hang the daemon). */
#include "daemon/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* ---- listener addresses ---------------------------------------------------------------- */

void kl_listener_config_clear(kl_listener_config *l)
{
    if (!l)
        return;
    free(l->address);
    free(l->path);
    free(l->host);
    free(l->tlscert);
    free(l->tlskey);
    free(l->tlsdh);
    free(l->tlscacert);
    memset(l, 0, sizeof(*l));
}

static int addr_fail(kl_error *err, const char *uri, const char *why)
{
    return kl_error_set(err, EINVAL, "invalid address '%.200s': %s", uri, why);
}

static bool has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

int kl_listen_address_parse(const char *uri, kl_listener_config *out, kl_error *err)
{
    if (!uri || !*uri)
        return kl_error_set(err, EINVAL, "invalid address '': empty");
    if (has_control_char(uri))
        return addr_fail(err, uri, "control characters are not allowed");

    bool tls;
    const char *p;
    if (strncasecmp(uri, "http://", 7) == 0) {
        tls = false;
        p = uri + 7;
    } else if (strncasecmp(uri, "https://", 8) == 0) {
        tls = true;
        p = uri + 8;
    } else {
        return addr_fail(err, uri, "must start with http:// or https://");
    }

    if (*p == '/') {
        /* UNIX socket: everything after the (empty) authority is the path. */
        if (strchr(p, '?'))
            return addr_fail(err, uri, "a query is not allowed");
        if (strchr(p, '#'))
            return addr_fail(err, uri, "a fragment is not allowed");
        size_t n = strlen(p);
        if (p[n - 1] == '/')
            return addr_fail(err, uri, "the socket path must name a file, not a directory");
        if (n >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return addr_fail(err, uri, "the socket path is too long (at most 107 bytes)");
        memset(out, 0, sizeof(*out));
        out->address = xstrdup(uri);
        out->kind = KL_LISTEN_UNIX;
        out->tls = tls;
        out->path = xstrdup(p);
        return 0;
    }

    /* TCP: authority up to the first '/', '?' or '#'. */
    size_t alen = strcspn(p, "/?#");
    const char *rest = p + alen;
    if (alen == 0)
        return addr_fail(err, uri, "missing an IP address or an absolute socket path");
    _cleanup_free_ char *auth = xstrndup(p, alen);
    if (strchr(auth, '@'))
        return addr_fail(err, uri, "user information is not allowed");

    _cleanup_free_ char *host = NULL;
    const char *portstr;
    kl_listen_kind kind;
    if (auth[0] == '[') {
        char *close = strchr(auth, ']');
        if (!close)
            return addr_fail(err, uri, "missing ']' after the IPv6 address");
        host = xstrndup(auth + 1, (size_t)(close - auth - 1));
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return addr_fail(err, uri, "not a valid IPv6 address");
        kind = KL_LISTEN_TCP6;
        if (close[1] == '\0')
            return addr_fail(err, uri, "a port is required for TCP");
        if (close[1] != ':')
            return addr_fail(err, uri, "expected ':PORT' after the IPv6 address");
        portstr = close + 2;
    } else {
        char *colon = strrchr(auth, ':');
        host = colon ? xstrndup(auth, (size_t)(colon - auth)) : xstrdup(auth);
        struct in_addr a4;
        if (strchr(host, ':'))
            return addr_fail(err, uri, "an IPv6 address must be written in brackets: [::1]:PORT");
        if (inet_pton(AF_INET, host, &a4) != 1)
            return addr_fail(err, uri, "hostnames are not accepted, use an IPv4 or [IPv6] address");
        if (!colon)
            return addr_fail(err, uri, "a port is required for TCP");
        kind = KL_LISTEN_TCP4;
        portstr = colon + 1;
    }

    if (*portstr == '\0')
        return addr_fail(err, uri, "a port is required for TCP");
    long port = 0;
    for (const char *c = portstr; *c; c++) {
        if (*c < '0' || *c > '9')
            return addr_fail(err, uri, "the port must be a number");
        port = port * 10 + (*c - '0');
        if (port > 65535)
            break;
    }
    if (port < 1 || port > 65535)
        return addr_fail(err, uri, "the port must be between 1 and 65535");

    if (*rest == '/')
        rest++;
    if (*rest == '?')
        return addr_fail(err, uri, "a query is not allowed");
    if (*rest == '#')
        return addr_fail(err, uri, "a fragment is not allowed");
    if (*rest != '\0') {
        if (strchr(rest, '?'))
            return addr_fail(err, uri, "a query is not allowed");
        if (strchr(rest, '#'))
            return addr_fail(err, uri, "a fragment is not allowed");
        return addr_fail(err, uri, "a TCP address takes no path");
    }

    memset(out, 0, sizeof(*out));
    out->address = xstrdup(uri);
    out->kind = kind;
    out->tls = tls;
    out->host = steal_pointer(&host);
    out->port = (int)port;
    return 0;
}

/* ---- defaults and freeing ---------------------------------------------------------------- */

void kl_config_defaults(kl_config *out)
{
    memset(out, 0, sizeof(*out));
    out->kleene_root = xstrdup(KL_CONFIG_DEFAULT_KLEENE_ROOT);
    out->run_root = xstrdup(KL_CONFIG_DEFAULT_RUN_ROOT);
    out->pidfile = xstrdup(KL_CONFIG_DEFAULT_PIDFILE);
    out->log_file = xstrdup(KL_CONFIG_DEFAULT_LOG_FILE);
    out->nat_if = xstrdup("");
    out->zfs_dataset_root = xstrdup("/");
    out->registry_certs_dir = xstrdup(KL_CONFIG_DEFAULT_REGISTRY_CERTS_DIR);
    out->pf_config_template_path = xstrdup(KL_CONFIG_DEFAULT_PF_TEMPLATE);
    out->pf_config_path = xstrdup(KL_CONFIG_DEFAULT_PF_CONFIG);
    out->pf_anchor = xstrdup(KL_CONFIG_DEFAULT_PF_ANCHOR);
    out->enable_logging = false;
    out->log_level = KL_LOG_INFO;
    out->max_body_bytes = KL_CONFIG_DEFAULT_MAX_BODY_BYTES;
    out->max_header_bytes = KL_CONFIG_DEFAULT_MAX_HEADER_BYTES;
    out->request_timeout = KL_CONFIG_DEFAULT_REQUEST_TIMEOUT;
    out->websocket_idle_timeout = KL_CONFIG_DEFAULT_WS_IDLE_TIMEOUT;
    out->request_head_timeout = KL_CONFIG_DEFAULT_REQUEST_HEAD_TIMEOUT;
    out->max_connections_per_peer = KL_CONFIG_DEFAULT_MAX_CONNECTIONS_PER_PEER;
    out->listeners = xcalloc(1, sizeof(*out->listeners));
    out->n_listeners = 1;
    kl_error e = KL_ERROR_INIT;
    int r = kl_listen_address_parse(KL_CONFIG_DEFAULT_LISTENER, &out->listeners[0], &e);
    out->docker_listeners = xcalloc(1, sizeof(*out->docker_listeners));
    out->n_docker_listeners = 1;
    if (r == 0)
        r = kl_listen_address_parse(KL_CONFIG_DEFAULT_DOCKER_LISTENER, &out->docker_listeners[0],
                                    &e);
    if (r < 0)
        abort(); /* the built-in default is a broken invariant, not input */
}

static void free_listeners(kl_listener_config *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kl_listener_config_clear(&l[i]);
    free(l);
}

void kl_config_free(kl_config *c)
{
    if (!c)
        return;
    free(c->source);
    free(c->kleene_root);
    free(c->run_root);
    free(c->pidfile);
    free(c->log_file);
    free(c->nat_if);
    free(c->zfs_dataset_root);
    strv_free(c->insecure_registries);
    free(c->registry_certs_dir);
    free(c->pf_config_template_path);
    free(c->pf_config_path);
    free(c->zfs_root);
    free(c->pf_anchor);
    free_listeners(c->listeners, c->n_listeners);
    free_listeners(c->docker_listeners, c->n_docker_listeners);
    strv_free(c->warnings);
    memset(c, 0, sizeof(*c));
}

/* ---- YAML walking ------------------------------------------------------------------------ */

typedef struct parse_ctx {
    const char *origin;
    yaml_document_t *doc;
    kl_config *cfg;
    kl_error *err;
} parse_ctx;

static size_t node_line(const yaml_node_t *n)
{
    return n ? n->start_mark.line + 1 : 0;
}

/* "origin:LINE: <where><message>"; `where` is "" at top level or "api_listening_sockets[0]: ". */
static int node_fail(parse_ctx *ctx, const yaml_node_t *n, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int node_fail(parse_ctx *ctx, const yaml_node_t *n, const char *where, const char *fmt, ...)
{
    char msg[KL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kl_error_set(ctx->err, EINVAL, "%s:%zu: %s%s", ctx->origin, node_line(n), where, msg);
}

static void add_warning(parse_ctx *ctx, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_warning(parse_ctx *ctx, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[KL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    _cleanup_free_ char *line = xasprintf("%s:%zu: %s", ctx->origin, node_line(n), msg);
    strv_push(&ctx->cfg->warnings, line);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A plain empty, "~" or "null" scalar: the key is treated as absent (its default applies). */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = scalar(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *type_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "a scalar";
    }
}

static int get_string(parse_ctx *ctx, const yaml_node_t *n, const char *where, const char *key,
                      char **dst)
{
    if (n->type != YAML_SCALAR_NODE)
        return node_fail(ctx, n, where, "key '%s': expected a string, got %s", key, type_name(n));
    if (strlen(scalar(n)) != n->data.scalar.length)
        return node_fail(ctx, n, where, "key '%s': contains a NUL byte", key);
    free(*dst);
    *dst = xstrdup(scalar(n));
    return 0;
}

static int get_abs_path(parse_ctx *ctx, const yaml_node_t *n, const char *key, char **dst)
{
    _cleanup_free_ char *v = NULL;
    if (get_string(ctx, n, "", key, &v) < 0)
        return -1;
    if (v[0] != '/')
        return node_fail(ctx, n, "", "key '%s': must be an absolute path, got '%.200s'", key, v);
    if (strlen(v) >= PATH_MAX)
        return node_fail(ctx, n, "", "key '%s': path too long", key);
    free(*dst);
    *dst = steal_pointer(&v);
    return 0;
}

/* YAML 1.2 core booleans only: "yes"/"on" are refused rather than guessed at, and a quoted
 * "true" is a string, not a boolean. */
static int get_bool(parse_ctx *ctx, const yaml_node_t *n, const char *where, const char *key,
                    bool *dst)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < KL_ARRAY_SIZE(yes); i++) {
            if (!strcmp(scalar(n), yes[i])) {
                *dst = true;
                return 0;
            }
            if (!strcmp(scalar(n), no[i])) {
                *dst = false;
                return 0;
            }
        }
    }
    if (n->type == YAML_SCALAR_NODE)
        return node_fail(ctx, n, where,
                         "key '%s': expected a boolean (true or false), got '%.100s'", key,
                         scalar(n));
    return node_fail(ctx, n, where, "key '%s': expected a boolean (true or false), got %s", key,
                     type_name(n));
}

/* Plain decimal digits only: 0 ok, -1 not a number, -2 too large for uint64_t. */
static int parse_decimal(const yaml_node_t *n, uint64_t *dst)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        !*scalar(n))
        return -1;
    uint64_t v = 0;
    for (const char *c = scalar(n); *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -2;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *dst = v;
    return 0;
}

static int get_uint(parse_ctx *ctx, const yaml_node_t *n, const char *key, uint64_t min,
                    uint64_t max, uint64_t *dst)
{
    uint64_t v = 0;
    int r = parse_decimal(n, &v);
    if (r == -1 && n->type == YAML_SCALAR_NODE)
        return node_fail(ctx, n, "", "key '%s': expected a whole number, got '%.100s'", key,
                         scalar(n));
    if (r == -1)
        return node_fail(ctx, n, "", "key '%s': expected a whole number, got %s", key,
                         type_name(n));
    if (r < 0 || v < min || v > max)
        return node_fail(ctx, n, "", "key '%s': must be between %" PRIu64 " and %" PRIu64, key, min,
                         max);
    *dst = v;
    return 0;
}

/* Linux's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
static bool is_valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || *s == ' ' || (unsigned char)*s <= 0x20 ||
            (unsigned char)*s == 0x7f)
            return false;
    return true;
}

/* A TLS file must be a readable regular file. O_NONBLOCK keeps a FIFO from hanging us. */
static int check_tls_file(parse_ctx *ctx, const yaml_node_t *n, const char *where, const char *key,
                          const char *path, bool *has_private_key)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return node_fail(ctx, n, where, "key '%s': %.400s: %s", key, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return node_fail(ctx, n, where, "key '%s': %.400s: %s", key, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return node_fail(ctx, n, where, "key '%s': %.400s: not a regular file", key, path);
    if (!has_private_key)
        return 0;

    /* Look for a PEM "-----BEGIN ... PRIVATE KEY-----" line in the first 1 MiB. */
    *has_private_key = false;
    size_t cap = st.st_size > 0 && (uint64_t)st.st_size < KL_CONFIG_MAX_FILE_BYTES
                     ? (size_t)st.st_size
                     : KL_CONFIG_MAX_FILE_BYTES;
    _cleanup_free_ char *buf = xmalloc(cap + 1);
    size_t got = 0;
    while (got < cap) {
        ssize_t r = KL_RETRY_EINTR(read(fd, buf + got, cap - got));
        if (r < 0)
            return node_fail(ctx, n, where, "key '%s': %.400s: %s", key, path, strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    for (const char *b = buf; (b = memmem(b, got - (size_t)(b - buf), "-----BEGIN ", 11));
         b += 11) {
        const char *eol = memchr(b, '\n', got - (size_t)(b - buf));
        size_t len = eol ? (size_t)(eol - b) : got - (size_t)(b - buf);
        if (memmem(b, len, "PRIVATE KEY-----", 16) && !memmem(b, len, "ENCRYPTED", 9)) {
            *has_private_key = true;
            break;
        }
    }
    return 0;
}

static const yaml_node_t *get_node(parse_ctx *ctx, int id)
{
    return yaml_document_get_node(ctx->doc, id);
}

/* Keys must be plain strings; a mapping used as a key would only confuse. */
static int get_key(parse_ctx *ctx, const yaml_node_t *k, const char *where, const char **out)
{
    if (!k || k->type != YAML_SCALAR_NODE)
        return node_fail(ctx, k, where, "keys must be strings");
    if (strlen(scalar(k)) != k->data.scalar.length)
        return node_fail(ctx, k, where, "a key contains a NUL byte");
    *out = scalar(k);
    return 0;
}

enum {
    LK_ADDRESS,
    LK_TLSCERT,
    LK_TLSKEY,
    LK_TLSDH,
    LK_TLSCACERT,
    LK_TLSVERIFY,
};
static const char *const listener_keys[] = {"address", "tlscert",   "tlskey",
                                            "tlsdh",   "tlscacert", "tlsverify"};

static int parse_listener(parse_ctx *ctx, const yaml_node_t *map, const char *key, size_t index,
                          kl_listener_config *out)
{
    char where[64];
    snprintf(where, sizeof(where), "%s[%zu]: ", key, index);
    if (map->type != YAML_MAPPING_NODE)
        return node_fail(ctx, map, where, "expected a mapping with an 'address' key, got %s",
                         type_name(map));

    const yaml_node_t *vals[KL_ARRAY_SIZE(listener_keys)] = {0};
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = get_node(ctx, p->key), *v = get_node(ctx, p->value);
        const char *name = NULL;
        if (get_key(ctx, k, where, &name) < 0)
            return -1;
        size_t i = 0;
        while (i < KL_ARRAY_SIZE(listener_keys) && strcmp(name, listener_keys[i]))
            i++;
        if (i == KL_ARRAY_SIZE(listener_keys))
            return node_fail(ctx, k, where, "unknown key '%.100s'", name);
        if (vals[i])
            return node_fail(ctx, k, where, "duplicate key '%s'", name);
        vals[i] = v;
    }

    const yaml_node_t *addr = vals[LK_ADDRESS];
    if (!addr || is_null(addr))
        return node_fail(ctx, map, where, "key 'address' is required");
    _cleanup_free_ char *uri = NULL;
    if (get_string(ctx, addr, where, "address", &uri) < 0)
        return -1;
    _cleanup_(kl_listener_config_clear) kl_listener_config l = {0};
    kl_error aerr = KL_ERROR_INIT;
    if (kl_listen_address_parse(uri, &l, &aerr) < 0)
        return node_fail(ctx, addr, where, "key 'address': %s", aerr.msg);

    char **files[] = {NULL, &l.tlscert, &l.tlskey, &l.tlsdh, &l.tlscacert};
    for (size_t i = LK_TLSCERT; i <= LK_TLSCACERT; i++) {
        if (vals[i] && !is_null(vals[i]) &&
            get_string(ctx, vals[i], where, listener_keys[i], files[i]) < 0)
            return -1;
        if (*files[i] && !**files[i]) {
            return node_fail(ctx, vals[i], where, "key '%s': must not be empty", listener_keys[i]);
        }
    }
    if (vals[LK_TLSVERIFY] && !is_null(vals[LK_TLSVERIFY]) &&
        get_bool(ctx, vals[LK_TLSVERIFY], where, "tlsverify", &l.tlsverify) < 0)
        return -1;

    if (!l.tls) {
        if (l.tlscert || l.tlskey || l.tlsdh || l.tlscacert || l.tlsverify) {
            add_warning(ctx, map, "%sTLS settings are ignored on the http:// listener '%.200s'",
                        where, l.address);
            l.tls_ignored = true;
            for (size_t i = LK_TLSCERT; i <= LK_TLSCACERT; i++) {
                free(*files[i]);
                *files[i] = NULL;
            }
            l.tlsverify = false;
        }
        if (l.kind != KL_LISTEN_UNIX)
            add_warning(ctx, map,
                        "%s'%.200s' is plain TCP without TLS: anyone who can reach it controls "
                        "kleened",
                        where, l.address);
        *out = l;
        memset(&l, 0, sizeof(l)); /* handed over */
        return 0;
    }

    if (!l.tlscert) {
        return node_fail(ctx, map, where, "key 'tlscert' is required for https ('%.200s')",
                         l.address);
    }
    bool key_in_cert = false;
    if (check_tls_file(ctx, vals[LK_TLSCERT], where, "tlscert", l.tlscert,
                       l.tlskey ? NULL : &key_in_cert) < 0)
        return -1;
    if (!l.tlskey && !key_in_cert) {
        return node_fail(
            ctx, map, where,
            "key 'tlskey' is required for https unless 'tlscert' (%.400s) contains the "
            "private key",
            l.tlscert);
    }
    l.key_in_cert = key_in_cert;
    for (size_t i = LK_TLSKEY; i <= LK_TLSCACERT; i++)
        if (*files[i] && check_tls_file(ctx, vals[i], where, listener_keys[i], *files[i], NULL) < 0)
            return -1;
    if (l.tlsverify && !l.tlscacert) {
        return node_fail(ctx, vals[LK_TLSVERIFY], where,
                         "key 'tlscacert' is required when 'tlsverify' is true");
    }
    if (l.tlscacert && !l.tlsverify)
        add_warning(ctx, vals[LK_TLSCACERT],
                    "%s'tlscacert' is given but 'tlsverify' is false: client certificates are "
                    "not checked on '%.200s'",
                    where, l.address);
    *out = l;
    memset(&l, 0, sizeof(l)); /* handed over */
    return 0;
}

static bool same_listener(const kl_listener_config *a, const kl_listener_config *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == KL_LISTEN_UNIX)
        return !strcmp(a->path, b->path);
    if (a->port != b->port)
        return false;
    unsigned char x[16], y[16];
    int af = a->kind == KL_LISTEN_TCP4 ? AF_INET : AF_INET6;
    return inet_pton(af, a->host, x) == 1 && inet_pton(af, b->host, y) == 1 &&
           !memcmp(x, y, af == AF_INET ? 4 : 16);
}

/* api_listening_sockets (docker = false: at least one) or docker_listening_sockets (an empty
 * list turns the Docker door off). */
static int parse_listeners(parse_ctx *ctx, const yaml_node_t *seq, bool docker)
{
    const char *key = docker ? "docker_listening_sockets" : "api_listening_sockets";
    if (seq->type != YAML_SEQUENCE_NODE)
        return node_fail(ctx, seq, "", "key '%s': expected a list, got %s", key, type_name(seq));
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n > KL_CONFIG_MAX_LISTENERS)
        return node_fail(ctx, seq, "", "key '%s': at most %d listeners", key,
                         KL_CONFIG_MAX_LISTENERS);
    if (n == 0 && !docker)
        return node_fail(ctx, seq, "", "key '%s': at least one listener is required", key);
    kl_listener_config *ls = xcalloc(n ? n : 1, sizeof(*ls));
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = get_node(ctx, seq->data.sequence.items.start[i]);
        if (parse_listener(ctx, item, key, i, &ls[i]) < 0) {
            free_listeners(ls, n);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (same_listener(&ls[i], &ls[j])) {
                node_fail(ctx, item, "", "%s[%zu]: '%.200s' is the same address as %s[%zu]", key, i,
                          ls[i].address, key, j);
                free_listeners(ls, n);
                return -1;
            }
        }
    }
    kl_listener_config **dst = docker ? &ctx->cfg->docker_listeners : &ctx->cfg->listeners;
    size_t *dst_n = docker ? &ctx->cfg->n_docker_listeners : &ctx->cfg->n_listeners;
    free_listeners(*dst, *dst_n);
    *dst = ls;
    *dst_n = n;
    return 0;
}

/* No address may be both a Kleene and a Docker listener. */
static int check_doors_apart(const kl_config *c, kl_error *err)
{
    for (size_t i = 0; i < c->n_docker_listeners; i++)
        for (size_t j = 0; j < c->n_listeners; j++)
            if (same_listener(&c->docker_listeners[i], &c->listeners[j]))
                return kl_error_set(err, EINVAL,
                                    "docker_listening_sockets[%zu]: '%.200s' is the same address "
                                    "as api_listening_sockets[%zu]",
                                    i, c->docker_listeners[i].address, j);
    return 0;
}

static int parse_log_level(parse_ctx *ctx, const yaml_node_t *n)
{
    _cleanup_free_ char *v = NULL;
    if (get_string(ctx, n, "", "log_level", &v) < 0)
        return -1;
    for (int l = KL_LOG_DEBUG; l <= KL_LOG_EMERGENCY; l++) {
        if (!strcmp(v, kl_log_level_name((kl_log_level)l))) {
            ctx->cfg->log_level = l;
            return 0;
        }
    }
    return node_fail(ctx, n, "",
                     "key 'log_level': unknown log level '%.100s' (expected one of debug, info, "
                     "notice, warning, error, critical, alert, emergency)",
                     v);
}

static int parse_nat_if(parse_ctx *ctx, const yaml_node_t *n)
{
    _cleanup_free_ char *v = NULL;
    if (get_string(ctx, n, "", "nat_if", &v) < 0)
        return -1;
    if (*v && !is_valid_ifname(v))
        return node_fail(ctx, n, "", "key 'nat_if': '%.100s' is not a valid interface name", v);
    free(ctx->cfg->nat_if);
    ctx->cfg->nat_if = steal_pointer(&v);
    return 0;
}

/* A ZFS dataset name: 1..255 bytes of [A-Za-z0-9_.:-] components joined by '/', none empty,
 * "." or "..", none starting with '-' (zfs(8) would take it for an option). */
static bool is_valid_dataset(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (const char *p = s;;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || p[0] == '-' || (len == 1 && p[0] == '.') ||
            (len == 2 && !strncmp(p, "..", 2)))
            return false;
        for (size_t i = 0; i < len; i++)
            if (!isalnum((unsigned char)p[i]) && !strchr("_.:-", p[i]))
                return false;
        if (!p[len])
            return true;
        p += len + 1;
    }
}

/* A pf anchor name of ours: 1..63 bytes of [A-Za-z0-9_.-], starting with a letter or digit
 * (pf reserves names starting with '_'; kleene-init's --anchor takes the same). */
static bool is_valid_anchor(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

static int parse_named(parse_ctx *ctx, const yaml_node_t *n, const char *key,
                       bool (*valid)(const char *), const char *what, char **dst)
{
    _cleanup_free_ char *v = NULL;
    if (get_string(ctx, n, "", key, &v) < 0)
        return -1;
    if (!valid(v))
        return node_fail(ctx, n, "", "key '%s': '%.100s' is not a valid %s", key, v, what);
    free(*dst);
    *dst = steal_pointer(&v);
    return 0;
}

/* insecure_registries: "host[:port]" (a registry's domain as a reference names it) or an IP
 * prefix "addr/len" (every registry at an IP literal inside it, any port). */
static bool is_valid_registry_entry(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 255)
        return false;
    const char *slash = strchr(v, '/');
    if (slash) {
        char addr[INET6_ADDRSTRLEN];
        size_t alen = (size_t)(slash - v);
        unsigned char buf[16];
        if (alen == 0 || alen >= sizeof(addr))
            return false;
        memcpy(addr, v, alen);
        addr[alen] = '\0';
        int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
        char *end;
        errno = 0;
        unsigned long len = strtoul(slash + 1, &end, 10);
        return slash[1] && !*end && !errno && inet_pton(af, addr, buf) == 1 &&
               len <= (af == AF_INET ? 32u : 128u);
    }
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
            return false;
    return v[0] != '-' && v[0] != '.' && v[0] != ':';
}

static int parse_insecure_registries(parse_ctx *ctx, const yaml_node_t *seq)
{
    const char *key = "insecure_registries";
    if (seq->type != YAML_SEQUENCE_NODE)
        return node_fail(ctx, seq, "", "key '%s': expected a list, got %s", key, type_name(seq));
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (n > KL_CONFIG_MAX_INSECURE_REGISTRIES)
        return node_fail(ctx, seq, "", "key '%s': at most %d entries", key,
                         KL_CONFIG_MAX_INSECURE_REGISTRIES);
    _cleanup_strv_ char **list = NULL;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = get_node(ctx, seq->data.sequence.items.start[i]);
        _cleanup_free_ char *where = xasprintf("%s[%zu]: ", key, i);
        _cleanup_free_ char *v = NULL;
        if (get_string(ctx, item, where, "entry", &v) < 0)
            return -1;
        if (!is_valid_registry_entry(v))
            return node_fail(ctx, item, "",
                             "%s[%zu]: '%.100s' is neither a registry (host[:port]) nor an IP "
                             "prefix (10.0.0.0/8)",
                             key, i, v);
        strv_push(&list, v);
    }
    strv_free(ctx->cfg->insecure_registries);
    ctx->cfg->insecure_registries = steal_pointer(&list);
    return 0;
}

enum {
    K_KLEENE_ROOT,
    K_PF_TEMPLATE,
    K_PF_CONFIG,
    K_LISTENERS,
    K_ENABLE_LOGGING,
    K_LOG_LEVEL,
    K_LOG_FILE,
    K_PIDFILE,
    K_RUN_ROOT,
    K_MAX_BODY,
    K_MAX_HEADER,
    K_REQUEST_TIMEOUT,
    K_NAT_IF,
    K_WS_IDLE_TIMEOUT,
    K_REQUEST_HEAD_TIMEOUT,
    K_MAX_CONNECTIONS_PER_PEER,
    K_ZFS_DATASET_ROOT,
    K_DOCKER_LISTENERS,
    K_ZFS_ROOT,
    K_PF_ANCHOR,
    K_INSECURE_REGISTRIES,
    K_REGISTRY_CERTS_DIR,
    K_REGISTRY_PUSH_CHUNK_SIZE,
};
static const char *const top_keys[] = {
    "kleene_root",
    "pf_config_template_path",
    "pf_config_path",
    "api_listening_sockets",
    "enable_logging",
    "log_level",
    "log_file",
    "pidfile",
    "run_root",
    "max_body_bytes",
    "max_header_bytes",
    "request_timeout",
    "nat_if",
    "websocket_idle_timeout",
    "request_head_timeout",
    "max_connections_per_peer",
    "zfs_dataset_root",
    "docker_listening_sockets",
    "zfs_root",
    "pf_anchor",
    "insecure_registries",
    "registry_certs_dir",
    "registry_push_chunk_size",
};

static int parse_top_value(parse_ctx *ctx, size_t key, const yaml_node_t *v)
{
    kl_config *c = ctx->cfg;
    uint64_t u;
    switch (key) {
    case K_KLEENE_ROOT:
        return get_abs_path(ctx, v, top_keys[key], &c->kleene_root);
    case K_PF_TEMPLATE:
        return get_string(ctx, v, "", top_keys[key], &c->pf_config_template_path);
    case K_PF_CONFIG:
        return get_string(ctx, v, "", top_keys[key], &c->pf_config_path);
    case K_LISTENERS:
        return parse_listeners(ctx, v, false);
    case K_DOCKER_LISTENERS:
        return parse_listeners(ctx, v, true);
    case K_ENABLE_LOGGING:
        return get_bool(ctx, v, "", top_keys[key], &c->enable_logging);
    case K_LOG_LEVEL:
        return parse_log_level(ctx, v);
    case K_LOG_FILE:
        return get_abs_path(ctx, v, top_keys[key], &c->log_file);
    case K_PIDFILE:
        return get_abs_path(ctx, v, top_keys[key], &c->pidfile);
    case K_RUN_ROOT:
        return get_abs_path(ctx, v, top_keys[key], &c->run_root);
    case K_MAX_BODY:
        if (get_uint(ctx, v, top_keys[key], 1024, (uint64_t)1 << 30, &u) < 0)
            return -1;
        c->max_body_bytes = (size_t)u;
        return 0;
    case K_MAX_HEADER:
        if (get_uint(ctx, v, top_keys[key], 1024, (uint64_t)1 << 20, &u) < 0)
            return -1;
        c->max_header_bytes = (size_t)u;
        return 0;
    case K_REQUEST_TIMEOUT:
        if (get_uint(ctx, v, top_keys[key], 1, 86400, &u) < 0)
            return -1;
        c->request_timeout = (unsigned)u;
        return 0;
    case K_NAT_IF:
        return parse_nat_if(ctx, v);
    case K_WS_IDLE_TIMEOUT:
        if (get_uint(ctx, v, top_keys[key], 1, 86400, &u) < 0)
            return -1;
        c->websocket_idle_timeout = (unsigned)u;
        return 0;
    case K_REQUEST_HEAD_TIMEOUT:
        if (get_uint(ctx, v, top_keys[key], 1, 3600, &u) < 0)
            return -1;
        c->request_head_timeout = (unsigned)u;
        return 0;
    case K_MAX_CONNECTIONS_PER_PEER:
        if (get_uint(ctx, v, top_keys[key], 1, 1024, &u) < 0)
            return -1;
        c->max_connections_per_peer = (unsigned)u;
        return 0;
    case K_ZFS_DATASET_ROOT:
        return get_abs_path(ctx, v, top_keys[key], &c->zfs_dataset_root);
    case K_ZFS_ROOT:
        return parse_named(ctx, v, top_keys[key], is_valid_dataset, "ZFS dataset name",
                           &c->zfs_root);
    case K_PF_ANCHOR:
        return parse_named(ctx, v, top_keys[key], is_valid_anchor, "pf anchor name", &c->pf_anchor);
    case K_INSECURE_REGISTRIES:
        return parse_insecure_registries(ctx, v);
    case K_REGISTRY_CERTS_DIR:
        return get_abs_path(ctx, v, top_keys[key], &c->registry_certs_dir);
    case K_REGISTRY_PUSH_CHUNK_SIZE:
        if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "0")) {
            c->registry_push_chunk_size = 0;
            return 0;
        }
        return get_uint(ctx, v, top_keys[key], 1024, (uint64_t)1 << 40,
                        &c->registry_push_chunk_size);
    }
    return node_fail(ctx, v, "", "internal error: key %zu", key);
}

static int parse_document(parse_ctx *ctx)
{
    const yaml_node_t *root = yaml_document_get_root_node(ctx->doc);
    if (!root || is_null(root))
        return 0; /* empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return node_fail(ctx, root, "", "the top level must be a mapping of keys, got %s",
                         type_name(root));
    bool seen[KL_ARRAY_SIZE(top_keys)] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = get_node(ctx, p->key), *v = get_node(ctx, p->value);
        const char *name = NULL;
        if (get_key(ctx, k, "", &name) < 0)
            return -1;
        size_t i = 0;
        while (i < KL_ARRAY_SIZE(top_keys) && strcmp(name, top_keys[i]))
            i++;
        if (i == KL_ARRAY_SIZE(top_keys))
            return node_fail(ctx, k, "", "unknown key '%.100s'", name);
        if (seen[i])
            return node_fail(ctx, k, "", "duplicate key '%s'", name);
        seen[i] = true;
        if (!v)
            return node_fail(ctx, k, "", "key '%s': missing value", name);
        if (is_null(v))
            continue; /* `key:` alone keeps the default */
        if (parse_top_value(ctx, i, v) < 0)
            return -1;
    }
    return 0;
}

static int yaml_fail(const char *origin, const yaml_parser_t *parser, kl_error *err)
{
    if (parser->error == YAML_MEMORY_ERROR)
        abort(); /* OOM is not an error path */
    const char *problem = parser->problem ? parser->problem : "unknown error";
    if (parser->context)
        return kl_error_set(err, EINVAL, "%s:%zu: YAML syntax error: %s: %s", origin,
                            parser->problem_mark.line + 1, parser->context, problem);
    return kl_error_set(err, EINVAL, "%s:%zu: YAML syntax error: %s", origin,
                        parser->problem_mark.line + 1, problem);
}

static void yaml_parser_cleanup(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}
static void yaml_document_cleanup(yaml_document_t *d)
{
    yaml_document_delete(d);
}

int kl_config_parse(const char *yaml, size_t len, const char *origin, kl_config *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!origin)
        origin = "<config>";
    if (!yaml)
        yaml = "";

    _cleanup_(yaml_parser_cleanup) yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);

    _cleanup_(yaml_document_cleanup) yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        memset(&doc, 0, sizeof(doc)); /* nothing to delete */
        return yaml_fail(origin, &parser, err);
    }

    kl_config cfg;
    kl_config_defaults(&cfg);
    parse_ctx ctx = {.origin = origin, .doc = &doc, .cfg = &cfg, .err = err};
    if (parse_document(&ctx) < 0) {
        kl_config_free(&cfg);
        return -1;
    }
    if (check_doors_apart(&cfg, err) < 0) {
        kl_config_free(&cfg);
        return kl_error_prefix(err, "%s", origin);
    }

    /* A second document would be silently ignored by a naive reader: refuse it. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        kl_config_free(&cfg);
        return yaml_fail(origin, &parser, err);
    }
    const yaml_node_t *next_root = yaml_document_get_root_node(&next);
    size_t next_line = next.start_mark.line + 1;
    yaml_document_delete(&next);
    if (next_root) {
        kl_config_free(&cfg);
        return kl_error_set(err, EINVAL, "%s:%zu: only one YAML document is allowed", origin,
                            next_line);
    }

    *out = cfg;
    return 0;
}

int kl_config_load(const char *path, kl_config *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = path ? path : KL_CONFIG_DEFAULT_PATH;
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT && !path) {
            kl_config_defaults(out);
            return 0;
        }
        if (errno == ENOENT)
            return kl_error_set(err, ENOENT,
                                "config file %s (given with -c) does not exist; without -c "
                                "kleened reads " KL_CONFIG_DEFAULT_PATH
                                " and uses its defaults when that is missing",
                                p);
        return kl_error_errno(err, errno, "config file %s", p);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "config file %s", p);
    if (!S_ISREG(st.st_mode))
        return kl_error_set(err, EINVAL, "config file %s: not a regular file", p);
    if ((uint64_t)st.st_size > KL_CONFIG_MAX_FILE_BYTES)
        return kl_error_set(err, EFBIG, "config file %s: larger than %zu bytes", p,
                            KL_CONFIG_MAX_FILE_BYTES);

    _cleanup_free_ char *buf = xmalloc(KL_CONFIG_MAX_FILE_BYTES + 1);
    size_t got = 0;
    for (;;) {
        ssize_t r = KL_RETRY_EINTR(read(fd, buf + got, KL_CONFIG_MAX_FILE_BYTES + 1 - got));
        if (r < 0)
            return kl_error_errno(err, errno, "config file %s", p);
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > KL_CONFIG_MAX_FILE_BYTES)
            return kl_error_set(err, EFBIG, "config file %s: larger than %zu bytes", p,
                                KL_CONFIG_MAX_FILE_BYTES);
    }
    if (kl_config_parse(buf, got, p, out, err) < 0)
        return -1;
    out->source = xstrdup(p);
    return 0;
}
