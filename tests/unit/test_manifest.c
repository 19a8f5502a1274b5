#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char *oci_json =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
    "\",\"size\":1234},"
    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2
    "\",\"size\":5000},"
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D3 "\",\"size\":0},"
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3
    "\",\"size\":9007199254740992}],"
    "\"annotations\":{\"a\":\"b\"}}";

static void test_oci_manifest(void **state)
{
    (void)state;
    oci_manifest m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_manifest_parse(oci_json, strlen(oci_json), NULL, &m, &err), 0);
    assert_int_equal(m.kind, OCI_MANIFEST_IMAGE);
    assert_string_equal(m.config.digest, D1);
    assert_int_equal(m.config.size, 1234);
    assert_int_equal(m.n_layers, 3);
    assert_int_equal(m.layers[0].compression, OCI_COMPRESSION_GZIP);
    assert_int_equal(m.layers[0].size, 5000);
    assert_string_equal(m.layers[0].digest, D2);
    assert_int_equal(m.layers[1].compression, OCI_COMPRESSION_NONE);
    assert_int_equal(m.layers[2].compression, OCI_COMPRESSION_ZSTD);
    oci_manifest_clear(&m);
}

static void test_docker_manifest_and_content_type(void **state)
{
    (void)state;
    const char *docker =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+"
        "json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
        "\"digest\":\"" D1 "\",\"size\":10},\"layers\":[{\"mediaType\":\"application/"
        "vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D2 "\",\"size\":20}]}";
    oci_manifest m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_manifest_parse(docker, strlen(docker), "application/json", &m, &err), 0);
    assert_int_equal(m.kind, OCI_MANIFEST_IMAGE);
    assert_string_equal(m.media_type, OCI_MT_DOCKER_MANIFEST);
    assert_int_equal(m.layers[0].compression, OCI_COMPRESSION_GZIP);
    oci_manifest_clear(&m);

    /* OCI allows no mediaType in the body: the Content-Type tells, else the shape */
    const char *bare_index = "{\"schemaVersion\":2,\"manifests\":[]}";
    assert_int_equal(oci_manifest_parse(bare_index, strlen(bare_index),
                                        OCI_MT_OCI_INDEX "; charset=utf-8", &m, &err),
                     0);
    assert_int_equal(m.kind, OCI_MANIFEST_INDEX);
    oci_manifest_clear(&m);
    assert_int_equal(oci_manifest_parse(bare_index, strlen(bare_index), NULL, &m, &err), 0);
    assert_int_equal(m.kind, OCI_MANIFEST_INDEX);
    oci_manifest_clear(&m);
}

static const char *index_json =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
    "\"manifests\":["
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
    "\",\"size\":1,\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2
    "\",\"size\":2,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3
    "\",\"size\":3,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
    "\",\"size\":4,\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}"
    "]}";

static int select_for(const oci_manifest *m, const char *plat, kl_error *err)
{
    oci_platform p;
    assert_int_equal(oci_platform_parse(plat, &p, err), 0);
    int r = oci_index_select(m, &p, err);
    oci_platform_clear(&p);
    return r;
}

static void test_index_select(void **state)
{
    (void)state;
    oci_manifest m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_manifest_parse(index_json, strlen(index_json), NULL, &m, &err), 0);
    assert_int_equal(m.kind, OCI_MANIFEST_INDEX);
    assert_int_equal(m.n_manifests, 4);
    assert_int_equal(select_for(&m, "linux/amd64", &err), 2);
    assert_int_equal(select_for(&m, "linux/arm64", &err), 1);
    assert_int_equal(select_for(&m, "linux/arm64/v8", &err), 1);
    assert_int_equal(select_for(&m, "linux/arm/v7", &err), 0);
    assert_int_equal(select_for(&m, "linux/arm", &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(select_for(&m, "linux/arm/v6", &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_non_null(strstr(err.msg, "linux/arm/v6"));
    assert_non_null(strstr(err.msg, "linux/amd64, "));
    kl_error_clear(&err);
    assert_int_equal(select_for(&m, "freebsd/amd64", &err), -1);
    assert_int_equal(err.code, ENOENT);

    /* the host's platform is a valid one (whatever it is) */
    oci_platform host;
    oci_platform_host(&host);
    char *f = oci_platform_format(&host);
    oci_platform p;
    assert_int_equal(oci_platform_parse(f, &p, &err), 0);
    oci_platform_clear(&p);
    free(f);
    oci_platform_clear(&host);
    oci_manifest_clear(&m);
}

static void test_platform_parse(void **state)
{
    (void)state;
    oci_platform p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_platform_parse("linux/arm64/v8", &p, &err), 0);
    assert_string_equal(p.os, "linux");
    assert_string_equal(p.architecture, "arm64");
    assert_string_equal(p.variant, "v8");
    oci_platform_clear(&p);
    const char *bad[] = {"", "linux", "linux/", "/amd64", "linux/amd64/", "a/b/c/d", "li nux/x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_error_clear(&err);
        assert_int_equal(oci_platform_parse(bad[i], &p, &err), -1);
        assert_int_equal(err.code, EINVAL);
    }
}

static void refused(const char *json, int code, const char *what)
{
    oci_manifest m;
    kl_error err = KL_ERROR_INIT;
    if (oci_manifest_parse(json, strlen(json), NULL, &m, &err) == 0)
        fail_msg("parsed: %s", json);
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, what))
        fail_msg("\"%s\" does not say \"%s\"", err.msg, what);
}

#define CFG "\"config\":{\"mediaType\":\"" OCI_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1}"
#define HDR "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_OCI_MANIFEST "\","

static void test_refused(void **state)
{
    (void)state;
    refused("", EINVAL, "not valid JSON");
    refused("[]", EINVAL, "not a JSON object");
    refused("{\"schemaVersion\":1,\"fsLayers\":[]}", ENOTSUP, "schema 1");
    refused("{\"schemaVersion\":2,\"mediaType\":\"application/"
            "vnd.docker.distribution.manifest.v1+prettyjws\"}",
            ENOTSUP, "schema 1");
    refused("{\"schemaVersion\":3}", EINVAL, "schemaVersion");
    refused("{\"schemaVersion\":2,\"schemaVersion\":2}", EINVAL, "JSON");
    refused("{\"schemaVersion\":2,\"mediaType\":\"text/html\"}", ENOTSUP, "media type text/html");
    refused(HDR "\"layers\":[]}", EINVAL, "config");
    refused(HDR CFG "}", EINVAL, "no layers");
    refused(HDR "\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\","
                "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
            ENOTSUP, "not a container image");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"application/"
                    "vnd.docker.image.rootfs.foreign.diff.tar.gzip\",\"digest\":\"" D2
                    "\",\"size\":1}]}",
            ENOTSUP, "foreign");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"application/"
                    "vnd.oci.image.layer.nondistributable.v1.tar+gzip\",\"digest\":\"" D2
                    "\",\"size\":1}]}",
            ENOTSUP, "non-distributable");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"application/x-tar+bz2\",\"digest\":\"" D2
                    "\",\"size\":1}]}",
            ENOTSUP, "layer 1");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"" OCI_MT_OCI_LAYER "\",\"digest\":\"" D2
                    "\",\"size\":-1}]}",
            EINVAL, "size");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"" OCI_MT_OCI_LAYER "\",\"digest\":\"" D2
                    "\",\"size\":9007199254740993}]}",
            EINVAL, "size");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"" OCI_MT_OCI_LAYER "\",\"digest\":\"" D2
                    "\",\"size\":1.5}]}",
            EINVAL, "size");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"" OCI_MT_OCI_LAYER
                    "\",\"digest\":\"sha256:abc\",\"size\":1}]}",
            EINVAL, "layer 1");
    refused(HDR CFG ",\"layers\":[{\"mediaType\":\"" OCI_MT_OCI_LAYER "\",\"size\":1}]}", EINVAL,
            "missing digest");
    refused(HDR CFG ",\"layers\":[3]}", EINVAL, "not a JSON object");
    refused("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_OCI_INDEX "\",\"manifests\":[{"
            "\"mediaType\":\"" OCI_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
            "\"platform\":{\"os\":\"linux\"}}]}",
            EINVAL, "invalid platform");
    refused("{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_OCI_INDEX "\"}", EINVAL, "no manifests");
}

static void test_limits(void **state)
{
    (void)state;
    /* more layers than allowed */
    size_t cap = 200 * (OCI_MANIFEST_MAX_LAYERS + 2) + 512;
    char *big = malloc(cap);
    size_t n = (size_t)snprintf(big, cap, HDR CFG ",\"layers\":[");
    for (int i = 0; i <= OCI_MANIFEST_MAX_LAYERS; i++)
        n += (size_t)snprintf(big + n, cap - n,
                              "%s{\"mediaType\":\"" OCI_MT_OCI_LAYER "\",\"digest\":\"" D2
                              "\",\"size\":1}",
                              i ? "," : "");
    snprintf(big + n, cap - n, "]}");
    refused(big, EINVAL, "more than");
    free(big);
    /* a body beyond the limit is refused before parsing */
    oci_manifest m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_manifest_parse("{}", OCI_MANIFEST_MAX_BYTES + 1, NULL, &m, &err), -1);
    assert_int_equal(err.code, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oci_manifest),
        cmocka_unit_test(test_docker_manifest_and_content_type),
        cmocka_unit_test(test_index_select),
        cmocka_unit_test(test_platform_parse),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
