/* Tests for daemon/config: defaults, every key, every refusal and its message, every listener
 * address form, and the TLS file checks (on files made in a temporary directory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static char tmpdir[] = "/tmp/kl-test-config-XXXXXX";

#define CERT_PEM "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n"
#define RSA_KEY_PEM "-----BEGIN RSA PRIVATE KEY-----\nMIIEfake\n-----END RSA PRIVATE KEY-----\n"
#define ENC_KEY_PEM                                                                                \
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIEfake\n-----END ENCRYPTED PRIVATE KEY-----\n"

static char *tpath(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *content)
{
    _cleanup_free_ char *p = tpath(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(content, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int setup_files(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    write_file("cert.pem", CERT_PEM);
    write_file("key.pem", KEY_PEM);
    write_file("combined.pem", CERT_PEM KEY_PEM);
    write_file("combined-rsa.pem", RSA_KEY_PEM CERT_PEM);
    write_file("combined-enc.pem", CERT_PEM ENC_KEY_PEM);
    write_file("ca.pem", CERT_PEM);
    write_file("dh.pem", "-----BEGIN DH PARAMETERS-----\nMIIBfake\n-----END DH PARAMETERS-----\n");
    _cleanup_free_ char *d = tpath("adir");
    _cleanup_free_ char *fifo = tpath("fifo");
    if (mkdir(d, 0700) < 0 || mkfifo(fifo, 0600) < 0)
        return -1;
    return 0;
}

static int teardown_files(void **state)
{
    (void)state;
    const char *names[] = {"cert.pem",         "key.pem", "combined.pem", "combined-rsa.pem",
                           "combined-enc.pem", "ca.pem",  "dh.pem",       "fifo",
                           "config.yaml",      "big.yaml"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *p = tpath(names[i]);
        unlink(p);
    }
    _cleanup_free_ char *d = tpath("adir");
    rmdir(d);
    rmdir(tmpdir);
    return 0;
}

/* Parse `yaml` (origin "t.yaml") and require success. */
static void parse_ok(const char *yaml, kl_config *c)
{
    kl_error err = KL_ERROR_INIT;
    int r = kl_config_parse(yaml, strlen(yaml), "t.yaml", c, &err);
    if (r < 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(r, 0);
    assert_false(kl_error_is_set(&err));
}

/* Parse `yaml` and require failure with exactly `msg`; `out` must come back zeroed. */
static void parse_err(const char *yaml, const char *msg)
{
    kl_error err = KL_ERROR_INIT;
    kl_config c;
    memset(&c, 0xa5, sizeof(c));
    assert_int_equal(kl_config_parse(yaml, strlen(yaml), "t.yaml", &c, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, msg);
    assert_null(c.listeners);
    assert_null(c.kleene_root);
    kl_config_free(&c);
}

static void assert_defaults(const kl_config *c)
{
    assert_string_equal(c->kleene_root, "/var/lib/kleene");
    assert_string_equal(c->run_root, "/var/run/kleene");
    assert_string_equal(c->pidfile, "/var/run/kleened.pid");
    assert_string_equal(c->log_file, "/var/log/kleened.log");
    assert_string_equal(c->nat_if, "");
    assert_string_equal(c->pf_config_template_path, "/usr/local/etc/kleened/pf.conf.kleene");
    assert_string_equal(c->pf_config_path, "/etc/pf.conf");
    assert_null(c->zfs_root); /* FreeBSD: then $KLEENED_ZFS_ROOT, else zroot/kleene */
    assert_string_equal(c->pf_anchor, "kleene");
    assert_false(c->enable_logging);
    assert_int_equal(c->log_level, KL_LOG_INFO);
    assert_int_equal(c->max_body_bytes, 1024 * 1024);
    assert_int_equal(c->max_header_bytes, 16 * 1024);
    assert_int_equal(c->request_timeout, 60);
    assert_int_equal(c->websocket_idle_timeout, 60);
    assert_int_equal(c->request_head_timeout, 10);
    assert_int_equal(c->max_connections_per_peer, 64);
    assert_null(c->insecure_registries);
    assert_string_equal(c->registry_certs_dir, "/etc/docker/certs.d");
    assert_int_equal(c->registry_push_chunk_size, 0);
    assert_int_equal(c->n_listeners, 1);
    assert_string_equal(c->listeners[0].address, "http:///var/run/kleened.sock");
    assert_int_equal(c->listeners[0].kind, KL_LISTEN_UNIX);
    assert_false(c->listeners[0].tls);
    assert_string_equal(c->listeners[0].path, "/var/run/kleened.sock");
    assert_null(c->listeners[0].host);
    assert_null(c->listeners[0].tlscert);
    assert_int_equal(c->n_docker_listeners, 1);
    assert_string_equal(c->docker_listeners[0].address, "http:///var/run/kleened-docker.sock");
    assert_int_equal(c->docker_listeners[0].kind, KL_LISTEN_UNIX);
    assert_string_equal(c->docker_listeners[0].path, "/var/run/kleened-docker.sock");
    assert_null(c->warnings);
}

static void test_defaults(void **state)
{
    (void)state;
    kl_config c;
    kl_config_defaults(&c);
    assert_defaults(&c);
    assert_null(c.source);
    kl_config_free(&c);
    assert_null(c.kleene_root); /* free zeroes */
    kl_config_free(&c);         /* and a second free is harmless */

    const char *empties[] = {"", "# only a comment\n", "---\n", "~\n", "---\n...\n"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(empties); i++) {
        parse_ok(empties[i], &c);
        assert_defaults(&c);
        kl_config_free(&c);
    }
}

static void test_null_values_keep_defaults(void **state)
{
    (void)state;
    kl_config c;
    parse_ok("kleene_root:\nlog_level: ~\nenable_logging: null\napi_listening_sockets:\n"
             "nat_if:\nmax_body_bytes: ~\n",
             &c);
    assert_defaults(&c);
    kl_config_free(&c);
}

static void test_original_example(void **state)
{
    (void)state;
    /* The original's shipped file, with kleene_root as a directory. */
    kl_config c;
    parse_ok("kleene_root: \"/zroot/kleene\"\n"
             "pf_config_template_path: \"/usr/local/etc/kleened/pf.conf.kleene\"\n"
             "pf_config_path: \"/etc/pf.conf\"\n"
             "api_listening_sockets:\n"
             "    - address: \"http:///var/run/kleened.sock\"\n"
             "enable_logging: true\n"
             "log_level: \"info\"\n",
             &c);
    assert_string_equal(c.kleene_root, "/zroot/kleene");
    assert_true(c.enable_logging);
    assert_int_equal(c.log_level, KL_LOG_INFO);
    assert_int_equal(c.n_listeners, 1);
    assert_string_equal(c.listeners[0].path, "/var/run/kleened.sock");
    kl_config_free(&c);
}

static void test_every_key(void **state)
{
    (void)state;
    kl_config c;
    parse_ok("kleene_root: /srv/kleene\n"
             "pf_config_template_path: /x/pf.tmpl\n"
             "pf_config_path: /x/pf.conf\n"
             "enable_logging: True\n"
             "log_level: debug\n"
             "log_file: /tmp/k.log\n"
             "pidfile: /run/k.pid\n"
             "run_root: /run/kleene\n"
             "max_body_bytes: 2048\n"
             "max_header_bytes: 8192\n"
             "request_timeout: 5\n"
             "websocket_idle_timeout: 7\n"
             "request_head_timeout: 3\n"
             "max_connections_per_peer: 9\n"
             "nat_if: eth0\n"
             "zfs_root: tank/k8e.v1/kleene\n"
             "pf_anchor: kleene-2\n"
             "api_listening_sockets:\n"
             "  - address: http:///run/k.sock\n"
             "  - address: http://[::1]:8080/\n",
             &c);
    assert_string_equal(c.kleene_root, "/srv/kleene");
    assert_string_equal(c.pf_config_template_path, "/x/pf.tmpl");
    assert_string_equal(c.pf_config_path, "/x/pf.conf");
    assert_true(c.enable_logging);
    assert_int_equal(c.log_level, KL_LOG_DEBUG);
    assert_string_equal(c.log_file, "/tmp/k.log");
    assert_string_equal(c.pidfile, "/run/k.pid");
    assert_string_equal(c.run_root, "/run/kleene");
    assert_int_equal(c.max_body_bytes, 2048);
    assert_int_equal(c.max_header_bytes, 8192);
    assert_int_equal(c.request_timeout, 5);
    assert_int_equal(c.websocket_idle_timeout, 7);
    assert_int_equal(c.request_head_timeout, 3);
    assert_int_equal(c.max_connections_per_peer, 9);
    assert_string_equal(c.nat_if, "eth0");
    assert_string_equal(c.zfs_root, "tank/k8e.v1/kleene");
    assert_string_equal(c.pf_anchor, "kleene-2");
    assert_int_equal(c.n_listeners, 2);
    assert_int_equal(c.listeners[0].kind, KL_LISTEN_UNIX);
    assert_string_equal(c.listeners[0].path, "/run/k.sock");
    assert_int_equal(c.listeners[1].kind, KL_LISTEN_TCP6);
    assert_string_equal(c.listeners[1].host, "::1");
    assert_int_equal(c.listeners[1].port, 8080);
    /* plain TCP is allowed but warned about */
    assert_non_null(c.warnings);
    assert_int_equal(strv_len(c.warnings), 1);
    assert_string_equal(c.warnings[0],
                        "t.yaml:20: api_listening_sockets[1]: 'http://[::1]:8080/' is plain TCP "
                        "without TLS: anyone who can reach it controls kleened");
    kl_config_free(&c);
}

static void test_log_levels(void **state)
{
    (void)state;
    const char *names[] = {"debug", "info",     "notice", "warning",
                           "error", "critical", "alert",  "emergency"};
    const int levels[] = {KL_LOG_DEBUG, KL_LOG_INFO,     KL_LOG_NOTICE, KL_LOG_WARNING,
                          KL_LOG_ERROR, KL_LOG_CRITICAL, KL_LOG_ALERT,  KL_LOG_EMERGENCY};
    for (size_t i = 0; i < KL_ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *y = xasprintf("log_level: %s\n", names[i]);
        kl_config c;
        parse_ok(y, &c);
        assert_int_equal(c.log_level, levels[i]);
        kl_config_free(&c);
    }
    parse_err("log_level: verbose\n",
              "t.yaml:1: key 'log_level': unknown log level 'verbose' (expected one of debug, "
              "info, notice, warning, error, critical, alert, emergency)");
    parse_err("log_level: warn\n",
              "t.yaml:1: key 'log_level': unknown log level 'warn' (expected one of debug, "
              "info, notice, warning, error, critical, alert, emergency)");
    parse_err("log_level: [info]\n", "t.yaml:1: key 'log_level': expected a string, got a list");
}

/* ours: insecure_registries and registry_certs_dir (docs/config.md) */
static void test_registries(void **state)
{
    (void)state;
    kl_config c;
    parse_ok("insecure_registries:\n"
             "  - registry.lan:5000\n"
             "  - 10.0.0.0/8\n"
             "  - fd00::/8\n"
             "  - localhost\n"
             "  - '[fd00::1]:5000'\n"
             "registry_certs_dir: /srv/certs.d\n",
             &c);
    assert_int_equal(strv_len(c.insecure_registries), 5);
    assert_string_equal(c.insecure_registries[0], "registry.lan:5000");
    assert_string_equal(c.insecure_registries[1], "10.0.0.0/8");
    assert_string_equal(c.insecure_registries[4], "[fd00::1]:5000");
    assert_string_equal(c.registry_certs_dir, "/srv/certs.d");
    kl_config_free(&c);
    parse_ok("registry_push_chunk_size: 5242880\n", &c);
    assert_int_equal(c.registry_push_chunk_size, 5242880);
    kl_config_free(&c);
    parse_ok("registry_push_chunk_size: 0\n", &c);
    assert_int_equal(c.registry_push_chunk_size, 0);
    kl_config_free(&c);
    parse_err("registry_push_chunk_size: 10\n",
              "t.yaml:1: key 'registry_push_chunk_size': must be between 1024 and 1099511627776");
    parse_ok("insecure_registries: []\n", &c);
    assert_null(c.insecure_registries);
    kl_config_free(&c);
    parse_err("insecure_registries: registry.lan\n",
              "t.yaml:1: key 'insecure_registries': expected a list, got a scalar");
    parse_err("insecure_registries:\n  - 10.0.0.0/33\n",
              "t.yaml:2: insecure_registries[0]: '10.0.0.0/33' is neither a registry (host[:port]) "
              "nor an IP prefix (10.0.0.0/8)");
    parse_err("insecure_registries:\n  - ok.lan\n  - 'http://x.lan'\n",
              "t.yaml:3: insecure_registries[1]: 'http://x.lan' is neither a registry "
              "(host[:port]) nor an IP prefix (10.0.0.0/8)");
    parse_err("insecure_registries:\n  - [a]\n",
              "t.yaml:2: insecure_registries[0]: key 'entry': expected a string, got a list");
    parse_err("registry_certs_dir: certs\n",
              "t.yaml:1: key 'registry_certs_dir': must be an absolute path, got 'certs'");
}

static void test_errors(void **state)
{
    (void)state;
    parse_err("kleene_root: /a\nfoo: 1\n", "t.yaml:2: unknown key 'foo'");
    parse_err("log_level: info\nlog_level: debug\n", "t.yaml:2: duplicate key 'log_level'");
    parse_err("kleene_root: [a, b]\n",
              "t.yaml:1: key 'kleene_root': expected a string, got a list");
    parse_err("kleene_root: {a: b}\n",
              "t.yaml:1: key 'kleene_root': expected a string, got a mapping");
    parse_err("kleene_root: zroot/kleene\n",
              "t.yaml:1: key 'kleene_root': must be an absolute path, got 'zroot/kleene'");
    parse_err("run_root: run\n", "t.yaml:1: key 'run_root': must be an absolute path, got 'run'");
    parse_err("pidfile: ''\n", "t.yaml:1: key 'pidfile': must be an absolute path, got ''");
    parse_err("log_file: log\n", "t.yaml:1: key 'log_file': must be an absolute path, got 'log'");
    parse_err("kleene_root: \"/a\\0b\"\n", "t.yaml:1: key 'kleene_root': contains a NUL byte");
    parse_err("enable_logging: yes\n",
              "t.yaml:1: key 'enable_logging': expected a boolean (true or false), got 'yes'");
    parse_err("enable_logging: \"true\"\n",
              "t.yaml:1: key 'enable_logging': expected a boolean (true or false), got 'true'");
    parse_err("enable_logging: [true]\n",
              "t.yaml:1: key 'enable_logging': expected a boolean (true or false), got a list");
    parse_err("max_body_bytes: lots\n",
              "t.yaml:1: key 'max_body_bytes': expected a whole number, got 'lots'");
    parse_err("max_body_bytes: -1\n",
              "t.yaml:1: key 'max_body_bytes': expected a whole number, got '-1'");
    parse_err("max_body_bytes: '2048'\n",
              "t.yaml:1: key 'max_body_bytes': expected a whole number, got '2048'");
    parse_err("max_body_bytes: 10\n",
              "t.yaml:1: key 'max_body_bytes': must be between 1024 and 1073741824");
    parse_err("max_body_bytes: 99999999999999999999999\n",
              "t.yaml:1: key 'max_body_bytes': must be between 1024 and 1073741824");
    parse_err("max_header_bytes: 2000000\n",
              "t.yaml:1: key 'max_header_bytes': must be between 1024 and 1048576");
    parse_err("websocket_idle_timeout: 0\n",
              "t.yaml:1: key 'websocket_idle_timeout': must be between 1 and 86400");
    parse_err("request_head_timeout: 3601\n",
              "t.yaml:1: key 'request_head_timeout': must be between 1 and 3600");
    parse_err("max_connections_per_peer: 0\n",
              "t.yaml:1: key 'max_connections_per_peer': must be between 1 and 1024");
    parse_err("request_timeout: 0\n",
              "t.yaml:1: key 'request_timeout': must be between 1 and 86400");
    parse_err("request_timeout: {}\n",
              "t.yaml:1: key 'request_timeout': expected a whole number, got a mapping");
    parse_err("nat_if: this-name-is-too-long\n",
              "t.yaml:1: key 'nat_if': 'this-name-is-too-long' is not a valid interface name");
    parse_err("nat_if: a/b\n", "t.yaml:1: key 'nat_if': 'a/b' is not a valid interface name");
    /* FreeBSD's root dataset and pf anchor (docs/freebsd.md) */
    parse_err("zfs_root: /zroot/kleene\n",
              "t.yaml:1: key 'zfs_root': '/zroot/kleene' is not a valid ZFS dataset name");
    parse_err("zfs_root: zroot//kleene\n",
              "t.yaml:1: key 'zfs_root': 'zroot//kleene' is not a valid ZFS dataset name");
    parse_err("zfs_root: zroot/kleene/\n",
              "t.yaml:1: key 'zfs_root': 'zroot/kleene/' is not a valid ZFS dataset name");
    parse_err("zfs_root: zroot/../etc\n",
              "t.yaml:1: key 'zfs_root': 'zroot/../etc' is not a valid ZFS dataset name");
    parse_err("zfs_root: -rf\n", "t.yaml:1: key 'zfs_root': '-rf' is not a valid ZFS dataset name");
    parse_err("zfs_root: zroot/a@snap\n",
              "t.yaml:1: key 'zfs_root': 'zroot/a@snap' is not a valid ZFS dataset name");
    parse_err("zfs_root: 'zroot/a b'\n",
              "t.yaml:1: key 'zfs_root': 'zroot/a b' is not a valid ZFS dataset name");
    parse_err("zfs_root: ''\n", "t.yaml:1: key 'zfs_root': '' is not a valid ZFS dataset name");
    parse_err("zfs_root: [a]\n", "t.yaml:1: key 'zfs_root': expected a string, got a list");
    parse_err("pf_anchor: _kleene\n",
              "t.yaml:1: key 'pf_anchor': '_kleene' is not a valid pf anchor name");
    parse_err("pf_anchor: a/b\n", "t.yaml:1: key 'pf_anchor': 'a/b' is not a valid pf anchor name");
    parse_err("pf_anchor: 'a\"b'\n",
              "t.yaml:1: key 'pf_anchor': 'a\"b' is not a valid pf anchor name");
    parse_err("pf_anchor: "
              "a234567890123456789012345678901234567890123456789012345678901234\n",
              "t.yaml:1: key 'pf_anchor': "
              "'a234567890123456789012345678901234567890123456789012345678901234' is not a "
              "valid pf anchor name");
    parse_err("- a\n- b\n", "t.yaml:1: the top level must be a mapping of keys, got a list");
    parse_err("just a string\n", "t.yaml:1: the top level must be a mapping of keys, got a scalar");
    parse_err("? [a]\n: b\n", "t.yaml:1: keys must be strings");
    parse_err("kleene_root: /a\n---\nlog_level: info\n",
              "t.yaml:2: only one YAML document is allowed");
    parse_err("<<: {log_level: info}\n", "t.yaml:1: unknown key '<<'");
}

static void test_yaml_syntax_errors(void **state)
{
    (void)state;
    parse_err("log_level: info\nkleene_root: \"/a\n",
              "t.yaml:3: YAML syntax error: while scanning a quoted scalar: found unexpected end "
              "of stream");
    parse_err("a: b: c\n",
              "t.yaml:1: YAML syntax error: mapping values are not allowed in this context");
    parse_err("log_level: info\n  bad: indent\n",
              "t.yaml:2: YAML syntax error: mapping values are not allowed in this context");
    parse_err("x: *nope\n", "t.yaml:1: YAML syntax error: found undefined alias");
    /* a syntax error in a second document is still reported */
    kl_error err = KL_ERROR_INIT;
    kl_config c;
    const char *y = "log_level: info\n---\n[\n";
    assert_int_equal(kl_config_parse(y, strlen(y), "t.yaml", &c, &err), -1);
    assert_non_null(strstr(err.msg, "YAML syntax error"));
}

/* docker_listening_sockets: the forms of api_listening_sockets, [] turns the door off, no
 * address in both lists. */
static void test_docker_listeners(void **state)
{
    (void)state;
    kl_config c;
    parse_ok("docker_listening_sockets:\n  - address: http:///run/d.sock\n"
             "  - address: http://127.0.0.1:2375\n",
             &c);
    assert_int_equal(c.n_docker_listeners, 2);
    assert_int_equal(c.docker_listeners[0].kind, KL_LISTEN_UNIX);
    assert_string_equal(c.docker_listeners[0].path, "/run/d.sock");
    assert_int_equal(c.docker_listeners[1].kind, KL_LISTEN_TCP4);
    assert_int_equal(c.docker_listeners[1].port, 2375);
    assert_int_equal(c.n_listeners, 1); /* the Kleene default stays */
    kl_config_free(&c);
    parse_ok("docker_listening_sockets: []\n", &c);
    assert_int_equal(c.n_docker_listeners, 0);
    kl_config_free(&c);
    parse_ok("docker_listening_sockets:\n", &c); /* null: the default */
    assert_int_equal(c.n_docker_listeners, 1);
    kl_config_free(&c);
    parse_err("docker_listening_sockets: http:///a.sock\n",
              "t.yaml:1: key 'docker_listening_sockets': expected a list, got a scalar");
    parse_err("docker_listening_sockets:\n  - address: ftp:///a.sock\n",
              "t.yaml:2: docker_listening_sockets[0]: key 'address': invalid address "
              "'ftp:///a.sock': must start with http:// or https://");
    parse_err("docker_listening_sockets:\n  - address: http:///a.sock\n"
              "  - address: http:///a.sock\n",
              "t.yaml:3: docker_listening_sockets[1]: 'http:///a.sock' is the same address as "
              "docker_listening_sockets[0]");
    parse_err("api_listening_sockets:\n  - address: http:///a.sock\n"
              "docker_listening_sockets:\n  - address: http:///a.sock\n",
              "t.yaml: docker_listening_sockets[0]: 'http:///a.sock' is the same address as "
              "api_listening_sockets[0]");
}

static void test_listener_errors(void **state)
{
    (void)state;
    {
        /* 64 listeners are fine, 65 are refused */
        _cleanup_free_ char *many = xstrdup("api_listening_sockets:\n");
        for (int i = 0; i < 64; i++) {
            char *next = xasprintf("%s  - address: http:///run/k%d.sock\n", many, i);
            free(many);
            many = next;
        }
        kl_config c;
        parse_ok(many, &c);
        assert_int_equal(c.n_listeners, 64);
        assert_string_equal(c.listeners[63].path, "/run/k63.sock");
        kl_config_free(&c);
        _cleanup_free_ char *too_many = xasprintf("%s  - address: http:///run/k64.sock\n", many);
        parse_err(too_many, "t.yaml:2: key 'api_listening_sockets': at most 64 listeners");
    }
    parse_err("api_listening_sockets: http:///a.sock\n",
              "t.yaml:1: key 'api_listening_sockets': expected a list, got a scalar");
    parse_err("api_listening_sockets: []\n",
              "t.yaml:1: key 'api_listening_sockets': at least one listener is required");
    parse_err("api_listening_sockets:\n  - http:///a.sock\n",
              "t.yaml:2: api_listening_sockets[0]: expected a mapping with an 'address' key, got "
              "a scalar");
    parse_err("api_listening_sockets:\n  - tlsverify: false\n",
              "t.yaml:2: api_listening_sockets[0]: key 'address' is required");
    parse_err("api_listening_sockets:\n  - address:\n",
              "t.yaml:2: api_listening_sockets[0]: key 'address' is required");
    parse_err("api_listening_sockets:\n  - address: http:///a.sock\n    port: 80\n",
              "t.yaml:3: api_listening_sockets[0]: unknown key 'port'");
    parse_err("api_listening_sockets:\n  - address: http:///a.sock\n    address: http:///b.sock\n",
              "t.yaml:3: api_listening_sockets[0]: duplicate key 'address'");
    parse_err(
        "api_listening_sockets:\n  - address: http:///a.sock\n  - address: http://localhost:80\n",
        "t.yaml:3: api_listening_sockets[1]: key 'address': invalid address "
        "'http://localhost:80': hostnames are not accepted, use an IPv4 or [IPv6] address");
    parse_err("api_listening_sockets:\n  - address: [x]\n",
              "t.yaml:2: api_listening_sockets[0]: key 'address': expected a string, got a list");
    parse_err("api_listening_sockets:\n  - address: http:///a.sock\n  - address: http:///a.sock\n",
              "t.yaml:3: api_listening_sockets[1]: 'http:///a.sock' is the same address as "
              "api_listening_sockets[0]");
    parse_err("api_listening_sockets:\n  - address: http://127.0.0.1:80\n"
              "  - address: https://127.0.0.1:80/\n    tlscert: /nonexistent\n",
              "t.yaml:4: api_listening_sockets[1]: key 'tlscert': /nonexistent: No such file or "
              "directory");
    parse_err(
        "api_listening_sockets:\n  - address: http://[::1]:80\n  - address: http://[0::1]:80\n",
        "t.yaml:3: api_listening_sockets[1]: 'http://[0::1]:80' is the same address as "
        "api_listening_sockets[0]");
    parse_err("api_listening_sockets:\n  - address: http:///a.sock\n    tlsverify: 1\n",
              "t.yaml:3: api_listening_sockets[0]: key 'tlsverify': expected a boolean (true or "
              "false), got '1'");
    parse_err("api_listening_sockets:\n  - address: http:///a.sock\n    tlscert: ''\n",
              "t.yaml:3: api_listening_sockets[0]: key 'tlscert': must not be empty");
}

/* ---- addresses -------------------------------------------------------------------------- */

static void test_address_forms(void **state)
{
    (void)state;
    struct {
        const char *uri;
        kl_listen_kind kind;
        bool tls;
        const char *path, *host;
        int port;
    } ok[] = {
        {"http:///var/run/kleened.sock", KL_LISTEN_UNIX, false, "/var/run/kleened.sock", NULL, 0},
        {"https:///var/run/kleened.tlssock", KL_LISTEN_UNIX, true, "/var/run/kleened.tlssock", NULL,
         0},
        {"http://127.0.0.1:8080", KL_LISTEN_TCP4, false, NULL, "127.0.0.1", 8080},
        {"http://0.0.0.0:1/", KL_LISTEN_TCP4, false, NULL, "0.0.0.0", 1},
        {"https://127.0.0.1:8085", KL_LISTEN_TCP4, true, NULL, "127.0.0.1", 8085},
        {"http://[::1]:8080/", KL_LISTEN_TCP6, false, NULL, "::1", 8080},
        {"https://[fe80::1:2]:65535", KL_LISTEN_TCP6, true, NULL, "fe80::1:2", 65535},
        {"http://[::ffff:10.0.0.1]:80", KL_LISTEN_TCP6, false, NULL, "::ffff:10.0.0.1", 80},
        {"HTTP://10.1.2.3:443", KL_LISTEN_TCP4, false, NULL, "10.1.2.3", 443},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(ok); i++) {
        kl_listener_config l;
        kl_error err = KL_ERROR_INIT;
        if (kl_listen_address_parse(ok[i].uri, &l, &err) < 0)
            fail_msg("%s: %s", ok[i].uri, err.msg);
        assert_string_equal(l.address, ok[i].uri);
        assert_int_equal(l.kind, ok[i].kind);
        assert_int_equal(l.tls, ok[i].tls);
        if (ok[i].path)
            assert_string_equal(l.path, ok[i].path);
        else
            assert_null(l.path);
        if (ok[i].host)
            assert_string_equal(l.host, ok[i].host);
        else
            assert_null(l.host);
        assert_int_equal(l.port, ok[i].port);
        assert_null(l.tlscert);
        assert_false(l.tlsverify);
        kl_listener_config_clear(&l);
        assert_null(l.address);
    }
}

static void test_address_refusals(void **state)
{
    (void)state;
    struct {
        const char *uri, *why;
    } bad[] = {
        {"", NULL},
        {"/var/run/kleened.sock", "must start with http:// or https://"},
        {"unix:///var/run/kleened.sock", "must start with http:// or https://"},
        {"tcp://127.0.0.1:80", "must start with http:// or https://"},
        {"http:/var/run/k.sock", "must start with http:// or https://"},
        {"http://", "missing an IP address or an absolute socket path"},
        {"http://localhost:8080", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://localhost", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://example.com:80/", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://relative/path.sock", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://./k.sock", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://1.2.3:80", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://127.0.0.01:80", "hostnames are not accepted, use an IPv4 or [IPv6] address"},
        {"http://127.0.0.1", "a port is required for TCP"},
        {"http://127.0.0.1:", "a port is required for TCP"},
        {"http://127.0.0.1:/", "a port is required for TCP"},
        {"http://[::1]", "a port is required for TCP"},
        {"http://[::1]/", "a port is required for TCP"},
        {"http://[::1]:", "a port is required for TCP"},
        {"http://[::1]8080", "expected ':PORT' after the IPv6 address"},
        {"http://[::1:8080", "missing ']' after the IPv6 address"},
        {"http://[nothex]:80", "not a valid IPv6 address"},
        {"http://[fe80::1%eth0]:80", "not a valid IPv6 address"},
        {"http://[127.0.0.1]:80", "not a valid IPv6 address"},
        {"http://::1:80", "an IPv6 address must be written in brackets: [::1]:PORT"},
        {"http://127.0.0.1:0", "the port must be between 1 and 65535"},
        {"http://127.0.0.1:65536", "the port must be between 1 and 65535"},
        {"http://127.0.0.1:99999999999999999999", "the port must be between 1 and 65535"},
        {"http://127.0.0.1:8o", "the port must be a number"},
        {"http://127.0.0.1:-1", "the port must be a number"},
        {"http://127.0.0.1:+80", "the port must be a number"},
        {"http://user@127.0.0.1:80", "user information is not allowed"},
        {"http://user:pw@[::1]:80", "user information is not allowed"},
        {"http://127.0.0.1:80?x=1", "a query is not allowed"},
        {"http://127.0.0.1:80/?x=1", "a query is not allowed"},
        {"http://127.0.0.1:80#frag", "a fragment is not allowed"},
        {"http://127.0.0.1:80/#frag", "a fragment is not allowed"},
        {"http://127.0.0.1:80/api", "a TCP address takes no path"},
        {"http://127.0.0.1:80//", "a TCP address takes no path"},
        {"http:///var/run/k.sock?x=1", "a query is not allowed"},
        {"http:///var/run/k.sock#f", "a fragment is not allowed"},
        {"http:///", "the socket path must name a file, not a directory"},
        {"http:///var/run/", "the socket path must name a file, not a directory"},
        {"http:///a\nb.sock", "control characters are not allowed"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
        kl_listener_config l;
        memset(&l, 0, sizeof(l));
        kl_error err = KL_ERROR_INIT;
        if (kl_listen_address_parse(bad[i].uri, &l, &err) == 0)
            fail_msg("accepted '%s'", bad[i].uri);
        assert_int_equal(err.code, EINVAL);
        if (bad[i].why) {
            _cleanup_free_ char *want =
                xasprintf("invalid address '%s': %s", bad[i].uri, bad[i].why);
            assert_string_equal(err.msg, want);
        } else {
            assert_string_equal(err.msg, "invalid address '': empty");
        }
        assert_null(l.address); /* nothing allocated on failure */
    }

    /* sun_path holds 107 bytes and a NUL */
    char longp[120];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    kl_listener_config l;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *u107 = xasprintf("http://%.*s", 107, longp);
    _cleanup_free_ char *u108 = xasprintf("http://%.*s", 108, longp);
    assert_int_equal(kl_listen_address_parse(u107, &l, &err), 0);
    kl_listener_config_clear(&l);
    assert_int_equal(kl_listen_address_parse(u108, &l, &err), -1);
    assert_non_null(strstr(err.msg, "the socket path is too long (at most 107 bytes)"));
}

/* ---- TLS ---------------------------------------------------------------------------------- */

/* One https listener at 127.0.0.1:8085 with `extra` lines (already indented). */
static char *https_yaml(const char *extra)
{
    return xasprintf("api_listening_sockets:\n  - address: https://127.0.0.1:8085\n%s", extra);
}

static void test_tls_ok(void **state)
{
    (void)state;
    kl_config c;
    _cleanup_free_ char *y =
        xasprintf("api_listening_sockets:\n"
                  "  - address: https://127.0.0.1:8085\n"
                  "    tlscert: %1$s/cert.pem\n    tlskey: %1$s/key.pem\n"
                  "    tlsdh: %1$s/dh.pem\n    tlscacert: %1$s/ca.pem\n    tlsverify: true\n"
                  "  - address: https:///run/k.tlssock\n    tlscert: %1$s/combined.pem\n"
                  "  - address: https://[::1]:8086\n    tlscert: %1$s/combined-rsa.pem\n",
                  tmpdir);
    parse_ok(y, &c);
    assert_int_equal(c.n_listeners, 3);
    kl_listener_config *l = &c.listeners[0];
    _cleanup_free_ char *cert = tpath("cert.pem"), *key = tpath("key.pem"), *dh = tpath("dh.pem"),
                        *ca = tpath("ca.pem"), *comb = tpath("combined.pem");
    assert_true(l->tls);
    assert_string_equal(l->tlscert, cert);
    assert_string_equal(l->tlskey, key);
    assert_string_equal(l->tlsdh, dh);
    assert_string_equal(l->tlscacert, ca);
    assert_true(l->tlsverify);
    assert_false(l->key_in_cert);
    l = &c.listeners[1];
    assert_int_equal(l->kind, KL_LISTEN_UNIX);
    assert_true(l->tls);
    assert_string_equal(l->tlscert, comb);
    assert_null(l->tlskey);
    assert_true(l->key_in_cert);
    assert_false(l->tlsverify);
    assert_true(c.listeners[2].key_in_cert);
    assert_null(c.warnings);
    kl_config_free(&c);
}

static void test_tls_errors(void **state)
{
    (void)state;
    _cleanup_free_ char *y1 = https_yaml("");
    parse_err(y1, "t.yaml:2: api_listening_sockets[0]: key 'tlscert' is required for https "
                  "('https://127.0.0.1:8085')");

    _cleanup_free_ char *e2 =
        xasprintf("    tlscert: %s/missing.pem\n    tlskey: %s/key.pem\n", tmpdir, tmpdir);
    _cleanup_free_ char *y2 = https_yaml(e2);
    _cleanup_free_ char *m2 =
        xasprintf("t.yaml:3: api_listening_sockets[0]: key 'tlscert': %s/missing.pem: No such "
                  "file or directory",
                  tmpdir);
    parse_err(y2, m2);

    _cleanup_free_ char *e3 = xasprintf("    tlscert: %s/cert.pem\n", tmpdir);
    _cleanup_free_ char *y3 = https_yaml(e3);
    _cleanup_free_ char *m3 = xasprintf("t.yaml:2: api_listening_sockets[0]: key 'tlskey' is "
                                        "required for https unless 'tlscert' (%s/cert.pem) "
                                        "contains the private key",
                                        tmpdir);
    parse_err(y3, m3);

    /* an encrypted key cannot be used without a passphrase: not "in the cert" */
    _cleanup_free_ char *e4 = xasprintf("    tlscert: %s/combined-enc.pem\n", tmpdir);
    _cleanup_free_ char *y4 = https_yaml(e4);
    _cleanup_free_ char *m4 = xasprintf("t.yaml:2: api_listening_sockets[0]: key 'tlskey' is "
                                        "required for https unless 'tlscert' "
                                        "(%s/combined-enc.pem) contains the private key",
                                        tmpdir);
    parse_err(y4, m4);

    _cleanup_free_ char *e5 =
        xasprintf("    tlscert: %s/combined.pem\n    tlsverify: true\n", tmpdir);
    _cleanup_free_ char *y5 = https_yaml(e5);
    parse_err(y5, "t.yaml:4: api_listening_sockets[0]: key 'tlscacert' is required when "
                  "'tlsverify' is true");

    _cleanup_free_ char *e6 =
        xasprintf("    tlscert: %s/combined.pem\n    tlsverify: yes\n", tmpdir);
    _cleanup_free_ char *y6 = https_yaml(e6);
    parse_err(y6, "t.yaml:4: api_listening_sockets[0]: key 'tlsverify': expected a boolean (true "
                  "or false), got 'yes'");

    _cleanup_free_ char *e7 =
        xasprintf("    tlscert: %1$s/combined.pem\n    tlsdh: %1$s/nodh.pem\n", tmpdir);
    _cleanup_free_ char *y7 = https_yaml(e7);
    _cleanup_free_ char *m7 = xasprintf("t.yaml:4: api_listening_sockets[0]: key 'tlsdh': "
                                        "%s/nodh.pem: No such file or directory",
                                        tmpdir);
    parse_err(y7, m7);

    _cleanup_free_ char *e8 =
        xasprintf("    tlscert: %1$s/cert.pem\n    tlskey: %1$s/adir\n", tmpdir);
    _cleanup_free_ char *y8 = https_yaml(e8);
    _cleanup_free_ char *m8 = xasprintf(
        "t.yaml:4: api_listening_sockets[0]: key 'tlskey': %s/adir: not a regular file", tmpdir);
    parse_err(y8, m8);

    /* a FIFO is refused, and opening it does not hang */
    _cleanup_free_ char *e9 = xasprintf("    tlscert: %s/fifo\n", tmpdir);
    _cleanup_free_ char *y9 = https_yaml(e9);
    _cleanup_free_ char *m9 = xasprintf(
        "t.yaml:3: api_listening_sockets[0]: key 'tlscert': %s/fifo: not a regular file", tmpdir);
    parse_err(y9, m9);

    _cleanup_free_ char *e10 = xasprintf("    tlscert: %1$s/combined.pem\n    tlscacert: "
                                         "%1$s/noca.pem\n    tlsverify: true\n",
                                         tmpdir);
    _cleanup_free_ char *y10 = https_yaml(e10);
    _cleanup_free_ char *m10 = xasprintf("t.yaml:4: api_listening_sockets[0]: key 'tlscacert': "
                                         "%s/noca.pem: No such file or directory",
                                         tmpdir);
    parse_err(y10, m10);

    _cleanup_free_ char *e11 = xasprintf("    tlscert: [%s/combined.pem]\n", tmpdir);
    _cleanup_free_ char *y11 = https_yaml(e11);
    parse_err(y11, "t.yaml:3: api_listening_sockets[0]: key 'tlscert': expected a string, got a "
                   "list");
}

static void test_tls_unreadable(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root reads a mode-000 file anyway */
    _cleanup_free_ char *p = tpath("cert.pem");
    assert_int_equal(chmod(p, 0), 0);
    _cleanup_free_ char *e = xasprintf("    tlscert: %s\n    tlskey: %s/key.pem\n", p, tmpdir);
    _cleanup_free_ char *y = https_yaml(e);
    _cleanup_free_ char *m =
        xasprintf("t.yaml:3: api_listening_sockets[0]: key 'tlscert': %s: Permission denied", p);
    parse_err(y, m);
    assert_int_equal(chmod(p, 0600), 0);
}

static void test_tls_warnings(void **state)
{
    (void)state;
    kl_config c;
    /* TLS keys on http:// are dropped with a warning, and the files are not even checked */
    parse_ok("api_listening_sockets:\n  - address: http:///run/k.sock\n"
             "    tlscert: /nonexistent/cert.pem\n    tlsverify: true\n",
             &c);
    assert_true(c.listeners[0].tls_ignored);
    assert_null(c.listeners[0].tlscert);
    assert_false(c.listeners[0].tlsverify);
    assert_int_equal(strv_len(c.warnings), 1);
    assert_string_equal(c.warnings[0], "t.yaml:2: api_listening_sockets[0]: TLS settings are "
                                       "ignored on the http:// listener 'http:///run/k.sock'");
    kl_config_free(&c);

    /* tlsverify: false alone is not a TLS setting worth a warning */
    parse_ok("api_listening_sockets:\n  - address: http:///run/k.sock\n    tlsverify: false\n", &c);
    assert_false(c.listeners[0].tls_ignored);
    assert_null(c.warnings);
    kl_config_free(&c);

    /* a CA bundle without tlsverify verifies nothing: say so */
    _cleanup_free_ char *e =
        xasprintf("    tlscert: %1$s/combined.pem\n    tlscacert: %1$s/ca.pem\n", tmpdir);
    _cleanup_free_ char *y = https_yaml(e);
    parse_ok(y, &c);
    assert_int_equal(strv_len(c.warnings), 1);
    assert_string_equal(c.warnings[0],
                        "t.yaml:4: api_listening_sockets[0]: 'tlscacert' is given but 'tlsverify' "
                        "is false: client certificates are not checked on "
                        "'https://127.0.0.1:8085'");
    kl_config_free(&c);
}

/* ---- loading files -------------------------------------------------------------------------- */

static void test_load(void **state)
{
    (void)state;
    kl_config c;
    kl_error err = KL_ERROR_INIT;

    write_file("config.yaml", "log_level: error\nenable_logging: true\n");
    _cleanup_free_ char *p = tpath("config.yaml");
    assert_int_equal(kl_config_load(p, &c, &err), 0);
    assert_string_equal(c.source, p);
    assert_int_equal(c.log_level, KL_LOG_ERROR);
    assert_true(c.enable_logging);
    assert_string_equal(c.kleene_root, "/var/lib/kleene");
    kl_config_free(&c);

    /* errors name the file */
    write_file("config.yaml", "log_level: info\nbogus: 1\n");
    assert_int_equal(kl_config_load(p, &c, &err), -1);
    _cleanup_free_ char *m1 = xasprintf("%s:2: unknown key 'bogus'", p);
    assert_string_equal(err.msg, m1);
    assert_null(c.source);

    /* an explicit path that is missing is an error */
    _cleanup_free_ char *missing = tpath("nope.yaml");
    kl_error_clear(&err);
    assert_int_equal(kl_config_load(missing, &c, &err), -1);
    assert_int_equal(err.code, ENOENT);
    _cleanup_free_ char *m2 =
        xasprintf("config file %s (given with -c) does not exist; without -c kleened reads "
                  "/etc/kleened/config.yaml and uses its defaults when that is missing",
                  missing);
    assert_string_equal(err.msg, m2);

    _cleanup_free_ char *d = tpath("adir");
    kl_error_clear(&err);
    assert_int_equal(kl_config_load(d, &c, &err), -1);
    _cleanup_free_ char *m3 = xasprintf("config file %s: not a regular file", d);
    assert_string_equal(err.msg, m3);

    /* a FIFO does not hang the load */
    _cleanup_free_ char *fifo = tpath("fifo");
    kl_error_clear(&err);
    assert_int_equal(kl_config_load(fifo, &c, &err), -1);
    assert_int_equal(err.code, EINVAL);

    /* too large */
    _cleanup_free_ char *big = tpath("big.yaml");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)KL_CONFIG_MAX_FILE_BYTES + 1), 0);
    close(fd);
    kl_error_clear(&err);
    assert_int_equal(kl_config_load(big, &c, &err), -1);
    assert_int_equal(err.code, EFBIG);
    assert_non_null(strstr(err.msg, "larger than 1048576 bytes"));
}

static void test_load_default_path(void **state)
{
    (void)state;
    if (access(KL_CONFIG_DEFAULT_PATH, F_OK) == 0 || errno != ENOENT)
        skip(); /* this host has a real config; the missing-file case cannot be shown */
    kl_config c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_config_load(NULL, &c, &err), 0);
    assert_null(c.source);
    assert_defaults(&c);
    kl_config_free(&c);
}

/* The source tree: $KL_SOURCE_ROOT, else found from __FILE__ ("../tests/unit/test_config.c",
 * relative to the build root, which is three levels above this executable). */
static char *source_root(void)
{
    const char *env = getenv("KL_SOURCE_ROOT");
    if (env)
        return xstrdup(env);
    const char *me = __FILE__;
    const char *tail = strstr(me, "tests/unit/test_config.c");
    _cleanup_free_ char *prefix = xstrndup(me, tail ? (size_t)(tail - me) : 0);
    if (prefix[0] == '/')
        return xasprintf("%s.", prefix);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return xasprintf("%s.", prefix);
    exe[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
    }
    return xasprintf("%s/%s.", exe, prefix);
}

static void test_shipped_example(void **state)
{
    (void)state;
    /* etc/kleened/config.yaml must parse and say exactly the defaults. */
    _cleanup_free_ char *root = source_root();
    _cleanup_free_ char *p = xasprintf("%s/etc/kleened/config.yaml", root);
    if (access(p, R_OK) < 0)
        fail_msg("cannot read %s (set KL_SOURCE_ROOT)", p);
    kl_config c;
    kl_error err = KL_ERROR_INIT;
    if (kl_config_load(p, &c, &err) < 0)
        fail_msg("%s", err.msg);
    free(c.source);
    c.source = NULL;
    assert_defaults(&c);
    kl_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_null_values_keep_defaults),
        cmocka_unit_test(test_original_example),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_registries),
        cmocka_unit_test(test_yaml_syntax_errors),
        cmocka_unit_test(test_listener_errors),
        cmocka_unit_test(test_docker_listeners),
        cmocka_unit_test(test_address_forms),
        cmocka_unit_test(test_address_refusals),
        cmocka_unit_test(test_tls_ok),
        cmocka_unit_test(test_tls_errors),
        cmocka_unit_test(test_tls_unreadable),
        cmocka_unit_test(test_tls_warnings),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_default_path),
        cmocka_unit_test(test_shipped_example),
    };
    return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
