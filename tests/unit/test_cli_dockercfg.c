/* Docker CLI's credential file (src/cli/dockercfg.c): the pure parts, and store/get/erase on
 * a file in a temporary DOCKER_CONFIG. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/dockercfg.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static json_t *cfg_of(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_decode_auth(void **state)
{
    (void)state;
    dockercfg_cred c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(dockercfg_decode_auth("YWxpY2U6cGE6c3Mgdw==", &c, &err),
                     0); /* alice:pa:ss w */
    assert_string_equal(c.username, "alice");
    assert_string_equal(c.password, "pa:ss w");
    dockercfg_cred_clear(&c);
    /* without padding, as some tools write it */
    assert_int_equal(dockercfg_decode_auth("YWxpY2U6cGE6c3Mgdw", &c, &err), 0);
    assert_string_equal(c.password, "pa:ss w");
    dockercfg_cred_clear(&c);
    /* "alice:" -> an empty password */
    assert_int_equal(dockercfg_decode_auth("YWxpY2U6", &c, &err), 0);
    assert_string_equal(c.password, "");
    dockercfg_cred_clear(&c);
    kl_error_clear(&err);
    assert_int_equal(dockercfg_decode_auth("not base64!", &c, &err), -1);
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_int_equal(dockercfg_decode_auth("YWxpY2U=", &c, &err), -1); /* "alice": no ':' */
    kl_error_clear(&err);
    assert_int_equal(dockercfg_decode_auth("OnB3", &c, &err), -1); /* ":pw": no user */
    assert_null(c.username);
}

static void test_lookup(void **state)
{
    (void)state;
    _cleanup_json_ json_t *cfg =
        cfg_of("{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
               " \"https://reg.lan:5000/v2/\": {\"auth\": \"cmVnOnJlZ3B3\"},"
               " \"tok.lan\": {\"identitytoken\": \"x\"},"
               " \"empty.lan\": {},"
               " \"old.lan\": {\"username\": \"o\", \"password\": \"opw\"}}}");
    dockercfg_cred c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(dockercfg_auths_lookup(cfg, "docker.io", &c, &err), 1);
    assert_string_equal(c.username, "hub");
    assert_string_equal(c.password, "hubpw");
    dockercfg_cred_clear(&c);
    assert_int_equal(dockercfg_auths_lookup(cfg, "reg.lan:5000", &c, &err), 1);
    assert_string_equal(c.username, "reg");
    dockercfg_cred_clear(&c);
    assert_int_equal(dockercfg_auths_lookup(cfg, "old.lan", &c, &err), 1);
    assert_string_equal(c.password, "opw");
    dockercfg_cred_clear(&c);
    assert_int_equal(dockercfg_auths_lookup(cfg, "reg.lan", &c, &err), 0); /* the port counts */
    assert_int_equal(dockercfg_auths_lookup(cfg, "empty.lan", &c, &err), 0);
    assert_int_equal(dockercfg_auths_lookup(cfg, "tok.lan", &c, &err), -1);
    assert_int_equal(err.code, ENOTSUP);
    _cleanup_json_ json_t *bad = cfg_of("{\"auths\": []}");
    kl_error_clear(&err);
    assert_int_equal(dockercfg_auths_lookup(bad, "x.lan", &c, &err), -1);
    _cleanup_json_ json_t *none = cfg_of("{}");
    assert_int_equal(dockercfg_auths_lookup(none, "x.lan", &c, &err), 0);
}

static void test_helper_for(void **state)
{
    (void)state;
    _cleanup_json_ json_t *cfg =
        cfg_of("{\"credsStore\": \"desktop\", \"credHelpers\": "
               "{\"reg.lan:5000\": \"pass\", \"https://index.docker.io/v1/\": \"hub\"}}");
    assert_string_equal(dockercfg_helper_for(cfg, "reg.lan:5000"), "pass");
    assert_string_equal(dockercfg_helper_for(cfg, "docker.io"), "hub");
    assert_string_equal(dockercfg_helper_for(cfg, "other.lan"), "desktop");
    _cleanup_json_ json_t *plain = cfg_of("{\"credsStore\": \"\"}");
    assert_null(dockercfg_helper_for(plain, "other.lan"));
}

static void test_store_get_erase(void **state)
{
    (void)state;
    char dir[] = "/tmp/kleene-dockercfg.XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *sub = xasprintf("%s/d", dir); /* made by the store */
    setenv("DOCKER_CONFIG", sub, 1);
    kl_error err = KL_ERROR_INIT;
    dockercfg_cred c;
    assert_int_equal(dockercfg_get("reg.lan", &c, &err), 0); /* no file */
    _cleanup_free_ char *where = NULL;
    assert_int_equal(dockercfg_store("reg.lan", "u", "p w", &where, &err), 0);
    _cleanup_free_ char *file = xasprintf("%s/config.json", sub);
    assert_string_equal(where, file);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(dockercfg_get("reg.lan", &c, &err), 1);
    assert_string_equal(c.username, "u");
    assert_string_equal(c.password, "p w");
    dockercfg_cred_clear(&c);
    /* a second spelling of the registry is replaced, other keys stay */
    FILE *f = fopen(file, "w");
    fputs("{\"auths\":{\"https://reg.lan/v1/\":{\"auth\":\"eDp5\"},\"o.lan\":{\"auth\":\"eDp5\"}},"
          "\"x\":[1]}",
          f);
    fclose(f);
    free(where);
    where = NULL;
    assert_int_equal(dockercfg_store("reg.lan", "u2", "p2", &where, &err), 0);
    _cleanup_json_ json_t *j = json_load_file(file, 0, NULL);
    assert_non_null(json_object_get(json_object_get(j, "auths"), "reg.lan"));
    assert_null(json_object_get(json_object_get(j, "auths"), "https://reg.lan/v1/"));
    assert_non_null(json_object_get(json_object_get(j, "auths"), "o.lan"));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "x"), 0)), 1);
    assert_int_equal(dockercfg_erase("reg.lan", &err), 1);
    assert_int_equal(dockercfg_erase("reg.lan", &err), 0);
    assert_int_equal(dockercfg_get("reg.lan", &c, &err), 0);
    assert_int_equal(dockercfg_get("o.lan", &c, &err), 1);
    dockercfg_cred_clear(&c);
    /* a missing helper: an error naming it */
    f = fopen(file, "w");
    fputs("{\"credsStore\":\"kleene-none\"}", f);
    fclose(f);
    kl_error_clear(&err);
    assert_int_equal(dockercfg_get("reg.lan", &c, &err), -1);
    assert_non_null(strstr(err.msg, "docker-credential-kleene-none is not installed"));
    unlink(file);
    rmdir(sub);
    rmdir(dir);
    unsetenv("DOCKER_CONFIG");
}

static void test_dockerfile_registries(void **state)
{
    (void)state;
    char **d = cli_dockerfile_registries(
        "# syntax=docker/dockerfile:1\n"
        "FROM --platform=linux/amd64 127.0.0.1:5000/team/base:v1 AS build\n"
        "RUN make\n"
        "from busybox\n"
        "COPY --chown=1:1 --from=build /out /out\n"
        "COPY --from=reg.lan:5443/tools/x:1 /x /x\n"
        "COPY --from=0 /y /y\n"
        "FROM \\\n  127.0.0.1:5000/team/other\n"
        "FROM ${BASE}\n"
        "FROM scratch\n"
        "FROM build\n");
    assert_non_null(d);
    assert_int_equal(strv_len(d), 3);
    assert_string_equal(d[0], "127.0.0.1:5000");
    assert_string_equal(d[1], "docker.io");
    assert_string_equal(d[2], "reg.lan:5443");
    strv_free(d);
    assert_null(cli_dockerfile_registries("FROM scratch\nRUN true\n"));
    assert_null(cli_dockerfile_registries(""));
    assert_null(cli_dockerfile_registries(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_auth),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_helper_for),
        cmocka_unit_test(test_store_get_erase),
        cmocka_unit_test(test_dockerfile_registries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
