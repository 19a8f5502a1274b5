#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/config.h"
#include "lib/xalloc.h"

static char dir[] = "/tmp/test_cli_config.XXXXXX";

static char *write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void clear_env(void)
{
    const char *vars[] = {"KLEE_HOST",     "KLEE_THEME",   "KLEE_TLS_VERIFY", "KLEE_TLS_CACERT",
                          "KLEE_TLS_CERT", "KLEE_TLS_KEY", "KLEE_TLS_KERY",   "KLEE_CONFIG"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static void test_parse_file(void **state)
{
    (void)state;
    char *path = write_file("ok.yaml", "host: https://10.0.0.1:8085\n"
                                       "tlsverify: yes\n"
                                       "tlscert: /c.pem\n"
                                       "tlskey: /k.pem\n"
                                       "tlscacert: /ca.pem\n"
                                       "theme: simple\n");
    cli_config c = CLI_CONFIG_INIT;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(config_parse_file(path, &c, &err), 0);
    assert_string_equal(c.host, "https://10.0.0.1:8085");
    assert_int_equal(c.tlsverify, 1);
    assert_string_equal(c.tlscert, "/c.pem");
    assert_string_equal(c.tlskey, "/k.pem");
    assert_string_equal(c.tlscacert, "/ca.pem");
    assert_string_equal(c.theme, "simple");
    config_free(&c);
    free(path);

    path = write_file("empty.yaml", "");
    assert_int_equal(config_parse_file(path, &c, &err), 0);
    assert_null(c.host);
    assert_int_equal(c.tlsverify, -1);
    free(path);

    path = write_file("nullval.yaml", "host:\ntlsverify: false\n");
    assert_int_equal(config_parse_file(path, &c, &err), 0);
    assert_null(c.host);
    assert_int_equal(c.tlsverify, 0);
    config_free(&c);
    free(path);
}

static void test_parse_errors(void **state)
{
    (void)state;
    cli_config c = CLI_CONFIG_INIT;
    kl_error err = KL_ERROR_INIT;
    char *path = write_file("unknown.yaml", "host: http:///x.sock\nhots: y\n");
    assert_int_equal(config_parse_file(path, &c, &err), -1);
    assert_int_equal(err.code, EINVAL);
    char *want =
        xasprintf("Error! Config file %s is not valid: parameter name 'hots' unknown", path);
    assert_string_equal(err.msg, want);
    assert_null(c.host); /* untouched on error */
    free(want);
    free(path);

    path = write_file("broken.yaml", "host: [unclosed\n");
    assert_int_equal(config_parse_file(path, &c, &err), -1);
    assert_int_equal(err.code, EBADMSG);
    want = xasprintf("Error! Could not parse config at %s", path);
    assert_string_equal(err.msg, want);
    free(want);
    free(path);

    path = write_file("scalar.yaml", "just a string\n");
    assert_int_equal(config_parse_file(path, &c, &err), -1);
    assert_int_equal(err.code, EBADMSG);
    free(path);

    path = write_file("badbool.yaml", "tlsverify: maybe\n");
    assert_int_equal(config_parse_file(path, &c, &err), -1);
    assert_int_equal(err.code, EINVAL);
    free(path);

    path = xasprintf("%s/missing.yaml", dir);
    assert_int_equal(config_parse_file(path, &c, &err), -1);
    assert_int_equal(err.code, ENOENT);
    free(path);
}

static void test_search(void **state)
{
    (void)state;
    char *broken = write_file("s1.yaml", "host: [\n");
    char *good = write_file("s2.yaml", "host: http:///second.sock\n");
    char *third = write_file("s3.yaml", "host: http:///third.sock\n");
    char *missing = xasprintf("%s/none.yaml", dir);
    const char *const list[] = {missing, broken, good, third, NULL};

    cli_config c = CLI_CONFIG_INIT;
    char *used = NULL;
    char **warnings = NULL;
    kl_error err = KL_ERROR_INIT;
    /* missing is skipped, broken is reported and skipped, the first good one wins */
    assert_int_equal(config_load(NULL, list, &c, &used, &warnings, &err), 1);
    assert_string_equal(used, good);
    assert_string_equal(c.host, "http:///second.sock");
    assert_non_null(warnings);
    assert_non_null(strstr(warnings[0], "Could not parse config at"));
    assert_null(warnings[1]);
    free(used);
    strv_free(warnings);
    config_free(&c);

    /* an explicit file: only that one */
    assert_int_equal(config_load(third, list, &c, NULL, NULL, &err), 1);
    assert_string_equal(c.host, "http:///third.sock");
    config_free(&c);
    assert_int_equal(config_load(missing, list, &c, NULL, NULL, &err), 0);
    assert_null(c.host);

    /* "~/" is expanded with $HOME */
    setenv("HOME", dir, 1);
    const char *const home[] = {"~/s3.yaml", NULL};
    assert_int_equal(config_load(NULL, home, &c, NULL, NULL, &err), 1);
    assert_string_equal(c.host, "http:///third.sock");
    config_free(&c);

    free(broken);
    free(good);
    free(third);
    free(missing);
}

static void test_env(void **state)
{
    (void)state;
    clear_env();
    setenv("KLEE_HOST", "http://1.2.3.4:8080", 1);
    setenv("KLEE_TLS_VERIFY", "TRUE", 1);
    setenv("KLEE_TLS_CERT", "/client.pem", 1);
    setenv("KLEE_TLS_KERY", "/old-spelling.pem", 1);
    setenv("KLEE_TLS_CACERT", "/ca.pem", 1);
    cli_config c = CLI_CONFIG_INIT;
    config_from_env(&c);
    assert_string_equal(c.host, "http://1.2.3.4:8080");
    assert_int_equal(c.tlsverify, 1);
    assert_string_equal(c.tlscert, "/client.pem"); /* the original put it in tlscacert */
    assert_string_equal(c.tlscacert, "/ca.pem");
    assert_string_equal(c.tlskey, "/old-spelling.pem");
    config_free(&c);

    setenv("KLEE_TLS_KEY", "/key.pem", 1); /* the right spelling wins */
    setenv("KLEE_TLS_VERIFY", "yes", 1);   /* only "true" is true */
    config_from_env(&c);
    assert_string_equal(c.tlskey, "/key.pem");
    assert_int_equal(c.tlsverify, 0);
    config_free(&c);
    clear_env();
}

static void test_precedence(void **state)
{
    (void)state;
    clear_env();
    /* flag > env > file > default, field by field */
    cli_config flags = CLI_CONFIG_INIT;
    flags.tlskey = xstrdup("/flag.key");
    setenv("KLEE_HOST", "http:///env.sock", 1);
    setenv("KLEE_TLS_KEY", "/env.key", 1);
    setenv("KLEE_THEME", "simple", 1);
    config_from_env(&flags);

    char *path = write_file("prec.yaml", "host: http:///file.sock\n"
                                         "tlskey: /file.key\n"
                                         "tlscacert: /file-ca.pem\n"
                                         "theme: fancy\n"
                                         "tlsverify: false\n");
    cli_config file = CLI_CONFIG_INIT;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(config_parse_file(path, &file, &err), 0);
    config_merge(&flags, &file);

    assert_string_equal(flags.tlskey, "/flag.key");
    assert_string_equal(flags.host, "http:///env.sock");
    assert_string_equal(flags.theme, "simple");
    assert_string_equal(flags.tlscacert, "/file-ca.pem");
    assert_int_equal(flags.tlsverify, 0);
    assert_null(flags.tlscert);
    config_free(&flags);
    config_free(&file);
    free(path);
    clear_env();
}

static void test_bool_and_theme(void **state)
{
    (void)state;
    assert_int_equal(config_parse_bool("On"), 1);
    assert_int_equal(config_parse_bool("FALSE"), 0);
    assert_int_equal(config_parse_bool("1"), -1);
    assert_int_equal(config_check_theme("fancy", NULL), 0);
    assert_int_equal(config_check_theme("simple", NULL), 0);
    assert_int_equal(config_check_theme("docs-generator", NULL), -1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_search),     cmocka_unit_test(test_env),
        cmocka_unit_test(test_precedence), cmocka_unit_test(test_bool_and_theme),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
