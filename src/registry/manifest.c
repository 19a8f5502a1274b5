/* Manifest and index parsing (manifest.h). */
#include "registry/manifest.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/utsname.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "registry/digest.h"

#define MT_MAX 255
#define SCHEMA1_PREFIX "application/vnd.docker.distribution.manifest.v1"
#define PLATFORM_FIELD_MAX 64

static void descriptor_clear(oci_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    oci_platform_clear(&d->platform);
    memset(d, 0, sizeof(*d));
}

void oci_platform_clear(oci_platform *p)
{
    free(p->os);
    free(p->architecture);
    free(p->variant);
    memset(p, 0, sizeof(*p));
}

void oci_manifest_clear(oci_manifest *m)
{
    free(m->media_type);
    descriptor_clear(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_clear(&m->layers[i]);
    free(m->layers);
    for (size_t i = 0; i < m->n_manifests; i++)
        descriptor_clear(&m->manifests[i]);
    free(m->manifests);
    memset(m, 0, sizeof(*m));
}

/* A media type: printable ASCII without spaces, bounded. */
static bool media_type_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

static bool platform_field_ok(const char *s, bool allow_empty)
{
    size_t n = strlen(s);
    if (n > PLATFORM_FIELD_MAX || (!allow_empty && n == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* "what" names the descriptor in messages ("layer 3", "config", "manifest 2"). */
static int parse_descriptor(const json_t *j, const char *what, oci_descriptor *d, kl_error *err)
{
    if (!json_is_object(j))
        return kl_error_set(err, EINVAL, "%s: not a JSON object", what);
    const json_t *mt = json_object_get(j, "mediaType");
    const json_t *dg = json_object_get(j, "digest");
    const json_t *sz = json_object_get(j, "size");
    if (!json_is_string(mt) || !media_type_ok(json_string_value(mt)))
        return kl_error_set(err, EINVAL, "%s: missing or invalid mediaType", what);
    if (!json_is_string(dg))
        return kl_error_set(err, EINVAL, "%s: missing digest", what);
    if (oci_digest_parse(json_string_value(dg), NULL, err) < 0)
        return kl_error_prefix(err, "%s", what);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
        json_integer_value(sz) > OCI_BLOB_MAX_SIZE)
        return kl_error_set(err, EINVAL, "%s: missing or invalid size", what);
    d->media_type = xstrdup(json_string_value(mt));
    d->digest = xstrdup(json_string_value(dg));
    d->size = (int64_t)json_integer_value(sz);
    const json_t *pl = json_object_get(j, "platform");
    if (pl && !json_is_null(pl)) {
        if (!json_is_object(pl))
            return kl_error_set(err, EINVAL, "%s: platform is not an object", what);
        const json_t *os = json_object_get(pl, "os");
        const json_t *arch = json_object_get(pl, "architecture");
        const json_t *var = json_object_get(pl, "variant");
        if (!json_is_string(os) || !platform_field_ok(json_string_value(os), false) ||
            !json_is_string(arch) || !platform_field_ok(json_string_value(arch), false) ||
            (var && !json_is_null(var) &&
             (!json_is_string(var) || !platform_field_ok(json_string_value(var), true))))
            return kl_error_set(err, EINVAL, "%s: invalid platform", what);
        d->has_platform = true;
        d->platform.os = xstrdup(json_string_value(os));
        d->platform.architecture = xstrdup(json_string_value(arch));
        if (json_is_string(var) && json_string_length(var) > 0)
            d->platform.variant = xstrdup(json_string_value(var));
    }
    return 0;
}

static int layer_compression(oci_descriptor *d, const char *what, kl_error *err)
{
    const char *mt = d->media_type;
    if (strcmp(mt, OCI_MT_OCI_LAYER) == 0) {
        d->compression = OCI_COMPRESSION_NONE;
    } else if (strcmp(mt, OCI_MT_OCI_LAYER_GZIP) == 0 ||
               strcmp(mt, OCI_MT_DOCKER_LAYER_GZIP) == 0) {
        d->compression = OCI_COMPRESSION_GZIP;
    } else if (strcmp(mt, OCI_MT_OCI_LAYER_ZSTD) == 0) {
        d->compression = OCI_COMPRESSION_ZSTD;
    } else if (strstr(mt, "foreign") || strstr(mt, "nondistributable")) {
        return kl_error_set(err, ENOTSUP,
                            "%s %s: foreign/non-distributable layers (%s) are not supported", what,
                            d->digest, mt);
    } else {
        return kl_error_set(err, ENOTSUP, "%s %s: unsupported layer media type %s", what, d->digest,
                            mt);
    }
    return 0;
}

static const char *strip_params(const char *ct, char *buf, size_t bufsz)
{
    if (!ct)
        return NULL;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n >= bufsz)
        n = bufsz - 1;
    memcpy(buf, ct, n);
    buf[n] = '\0';
    return buf;
}

static int parse_image(const json_t *root, oci_manifest *m, kl_error *err)
{
    if (parse_descriptor(json_object_get(root, "config"), "config", &m->config, err) < 0)
        return kl_error_prefix(err, "image manifest");
    const char *cmt = m->config.media_type;
    if (strcmp(cmt, OCI_MT_OCI_CONFIG) != 0 && strcmp(cmt, OCI_MT_DOCKER_CONFIG) != 0)
        return kl_error_set(err, ENOTSUP,
                            "image manifest: not a container image (config media type %s)", cmt);
    const json_t *layers = json_object_get(root, "layers");
    if (!json_is_array(layers))
        return kl_error_set(err, EINVAL, "image manifest: no layers array");
    size_t n = json_array_size(layers);
    if (n > OCI_MANIFEST_MAX_LAYERS)
        return kl_error_set(err, EINVAL, "image manifest: %zu layers, more than %d", n,
                            OCI_MANIFEST_MAX_LAYERS);
    m->layers = xcalloc(n ? n : 1, sizeof(*m->layers));
    for (size_t i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof(what), "layer %zu", i + 1);
        m->n_layers = i + 1;
        if (parse_descriptor(json_array_get(layers, i), what, &m->layers[i], err) < 0 ||
            layer_compression(&m->layers[i], what, err) < 0)
            return kl_error_prefix(err, "image manifest");
    }
    return 0;
}

static int parse_index(const json_t *root, oci_manifest *m, kl_error *err)
{
    const json_t *ms = json_object_get(root, "manifests");
    if (!json_is_array(ms))
        return kl_error_set(err, EINVAL, "image index: no manifests array");
    size_t n = json_array_size(ms);
    if (n > OCI_INDEX_MAX_MANIFESTS)
        return kl_error_set(err, EINVAL, "image index: %zu manifests, more than %d", n,
                            OCI_INDEX_MAX_MANIFESTS);
    m->manifests = xcalloc(n ? n : 1, sizeof(*m->manifests));
    for (size_t i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof(what), "manifest %zu", i + 1);
        m->n_manifests = i + 1;
        if (parse_descriptor(json_array_get(ms, i), what, &m->manifests[i], err) < 0)
            return kl_error_prefix(err, "image index");
    }
    return 0;
}

int oci_manifest_parse(const char *data, size_t len, const char *content_type, oci_manifest *m,
                       kl_error *err)
{
    memset(m, 0, sizeof(*m));
    if (len > OCI_MANIFEST_MAX_BYTES)
        return kl_error_set(err, EINVAL, "manifest of %zu bytes, more than the %u allowed", len,
                            OCI_MANIFEST_MAX_BYTES);
    json_error_t jerr;
    _cleanup_json_ json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return kl_error_set(err, EINVAL, "manifest is not valid JSON: %s", jerr.text);
    if (!json_is_object(root))
        return kl_error_set(err, EINVAL, "manifest is not a JSON object");
    const json_t *sv = json_object_get(root, "schemaVersion");
    if (json_is_integer(sv) && json_integer_value(sv) == 1)
        return kl_error_set(err, ENOTSUP, "Docker schema 1 manifests are not supported");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return kl_error_set(err, EINVAL, "manifest: schemaVersion is not 2");

    char ctbuf[MT_MAX + 1];
    const char *mt = NULL;
    const json_t *jmt = json_object_get(root, "mediaType");
    if (jmt) {
        if (!json_is_string(jmt) || !media_type_ok(json_string_value(jmt)))
            return kl_error_set(err, EINVAL, "manifest: invalid mediaType");
        mt = json_string_value(jmt);
    } else {
        mt = strip_params(content_type, ctbuf, sizeof(ctbuf));
        if (mt && (strcmp(mt, OCI_MT_OCI_MANIFEST) != 0 && strcmp(mt, OCI_MT_OCI_INDEX) != 0))
            mt = NULL; /* a generic application/json: go by the shape */
        if (!mt)
            mt = json_object_get(root, "manifests") ? OCI_MT_OCI_INDEX : OCI_MT_OCI_MANIFEST;
    }
    if (strcmp(mt, OCI_MT_OCI_MANIFEST) == 0 || strcmp(mt, OCI_MT_DOCKER_MANIFEST) == 0)
        m->kind = OCI_MANIFEST_IMAGE;
    else if (strcmp(mt, OCI_MT_OCI_INDEX) == 0 || strcmp(mt, OCI_MT_DOCKER_LIST) == 0)
        m->kind = OCI_MANIFEST_INDEX;
    else if (strncmp(mt, SCHEMA1_PREFIX, strlen(SCHEMA1_PREFIX)) == 0)
        return kl_error_set(err, ENOTSUP, "Docker schema 1 manifests are not supported");
    else
        return kl_error_set(err, ENOTSUP, "unsupported manifest media type %s", mt);
    m->media_type = xstrdup(mt);
    int r = m->kind == OCI_MANIFEST_IMAGE ? parse_image(root, m, err) : parse_index(root, m, err);
    if (r < 0) {
        oci_manifest_clear(m);
        return -1;
    }
    return 0;
}

int oci_platform_parse(const char *s, oci_platform *p, kl_error *err)
{
    memset(p, 0, sizeof(*p));
    if (!s)
        return kl_error_set(err, EINVAL, "invalid platform: empty");
    _cleanup_free_ char *copy = xstrdup(s);
    char *parts[4] = {0};
    int n = 0;
    for (char *q = copy;;) {
        if (n == 3)
            return kl_error_set(err, EINVAL, "invalid platform \"%.100s\": want OS/ARCH[/VARIANT]",
                                s);
        parts[n++] = q;
        char *slash = strchr(q, '/');
        if (!slash)
            break;
        *slash = '\0';
        q = slash + 1;
    }
    if (n < 2 || !platform_field_ok(parts[0], false) || !platform_field_ok(parts[1], false) ||
        (n == 3 && !platform_field_ok(parts[2], false)))
        return kl_error_set(err, EINVAL, "invalid platform \"%.100s\": want OS/ARCH[/VARIANT]", s);
    p->os = xstrdup(parts[0]);
    p->architecture = xstrdup(parts[1]);
    p->variant = n == 3 ? xstrdup(parts[2]) : NULL;
    return 0;
}

void oci_platform_host(oci_platform *p)
{
    memset(p, 0, sizeof(*p));
    p->os = xstrdup("linux");
#if defined(__x86_64__)
    p->architecture = xstrdup("amd64");
#elif defined(__aarch64__)
    p->architecture = xstrdup("arm64");
#elif defined(__arm__)
    p->architecture = xstrdup("arm");
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
    p->variant = xstrdup("v7");
#else
    p->variant = xstrdup("v6");
#endif
#elif defined(__i386__)
    p->architecture = xstrdup("386");
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    p->architecture = xstrdup("ppc64le");
#elif defined(__s390x__)
    p->architecture = xstrdup("s390x");
#elif defined(__riscv) && __riscv_xlen == 64
    p->architecture = xstrdup("riscv64");
#else
    struct utsname u;
    p->architecture = xstrdup(uname(&u) == 0 ? u.machine : "unknown");
#endif
}

char *oci_platform_format(const oci_platform *p)
{
    return xasprintf("%s/%s%s%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?",
                     p->variant ? "/" : "", p->variant ? p->variant : "");
}

static const char *norm_variant(const char *arch, const char *variant)
{
    if (variant && *variant)
        return variant;
    if (strcmp(arch, "arm64") == 0)
        return "v8";
    return "";
}

int oci_index_select(const oci_manifest *index, const oci_platform *want, kl_error *err)
{
    if (index->kind != OCI_MANIFEST_INDEX)
        return kl_error_set(err, EINVAL, "not an image index");
    int first = -1;
    for (size_t i = 0; i < index->n_manifests; i++) {
        const oci_descriptor *d = &index->manifests[i];
        if (!d->has_platform)
            continue;
        if (strcmp(d->media_type, OCI_MT_OCI_MANIFEST) != 0 &&
            strcmp(d->media_type, OCI_MT_DOCKER_MANIFEST) != 0)
            continue; /* a nested index or an artifact: not an image for us */
        if (strcmp(d->platform.os, want->os) != 0 ||
            strcmp(d->platform.architecture, want->architecture) != 0)
            continue;
        const char *dv = norm_variant(d->platform.architecture, d->platform.variant);
        if (want->variant) {
            if (strcmp(dv, norm_variant(want->architecture, want->variant)) == 0)
                return (int)i;
            continue;
        }
        if (!d->platform.variant || strcmp(dv, norm_variant(want->architecture, NULL)) == 0)
            return (int)i;
        if (first < 0)
            first = (int)i;
    }
    if (first >= 0)
        return first;
    _cleanup_free_ char *w = oci_platform_format(want);
    char offered[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < index->n_manifests && used < sizeof(offered) - 1; i++) {
        const oci_descriptor *d = &index->manifests[i];
        if (!d->has_platform)
            continue;
        _cleanup_free_ char *f = oci_platform_format(&d->platform);
        int k = snprintf(offered + used, sizeof(offered) - used, "%s%s", used ? ", " : "", f);
        if (k < 0)
            break;
        used += (size_t)k;
        if (used >= sizeof(offered))
            used = sizeof(offered) - 1;
    }
    return kl_error_set(err, ENOENT, "no image for platform %s in the index (it has: %s)", w,
                        used ? offered : "no platforms");
}
