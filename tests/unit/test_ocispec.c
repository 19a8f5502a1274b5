/* config.json parsing of kleene-runtime (src/ociruntime/ocispec.c): valid configs, and for bad
 * ones an error that names the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "ociruntime/ocispec.h"

#define MINIMAL                                                                                    \
    "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},\"process\":{\"user\":{\"uid\":0,"   \
    "\"gid\":0},\"args\":[\"sh\"],\"cwd\":\"/\"}"

static int parse(const char *text, oci_config *c, kl_error *err)
{
    return oci_config_parse(text, strlen(text), c, err);
}

/* Parse must fail with a message containing `needle`. */
static void expect_error(const char *text, const char *needle)
{
    oci_config c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(parse(text, &c, &err), -1);
    assert_int_not_equal(err.code, 0);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not contain '%s'", err.msg, needle);
}

static void test_default_spec_parses(void **state)
{
    (void)state;
    char *text = oci_config_default_json();
    oci_config c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(parse(text, &c, &err), 0);
    assert_string_equal(c.oci_version, "1.0.2");
    assert_string_equal(c.root_path, "rootfs");
    assert_true(c.root_readonly);
    assert_true(c.has_process);
    assert_string_equal(c.process.args[0], "sh");
    assert_true(c.process.has_caps);
    assert_string_equal(c.process.caps[OCI_CAP_BOUNDING][0], "CAP_AUDIT_WRITE");
    assert_int_equal(c.process.n_rlimits, 1);
    assert_int_equal(c.process.rlimits[0].soft, 1024);
    assert_true(c.n_mounts >= 5);
    assert_string_equal(c.mounts[0].destination, "/proc");
    assert_string_equal(c.mounts[0].type, "proc");
    assert_non_null(oci_config_namespace(&c, "pid"));
    assert_null(oci_config_namespace(&c, "user"));
    assert_true(c.has_resources);
    assert_int_equal(c.resources.n_devices, 1);
    assert_false(c.resources.devices[0].allow);
    assert_int_equal(c.resources.devices[0].major, -1);
    assert_string_equal(c.masked_paths[0], "/proc/acpi");
    oci_config_free(&c);
    free(text);
}

static void test_full_config(void **state)
{
    (void)state;
    const char *text =
        "{\"ociVersion\":\"1.1.0-rc.1\",\"root\":{\"path\":\"/abs/root\",\"readonly\":false},"
        "\"hostname\":\"h\",\"domainname\":\"d\",\"unknownField\":{\"x\":[1,2]},"
        "\"process\":{\"terminal\":true,\"consoleSize\":{\"height\":24,\"width\":80},"
        "\"user\":{\"uid\":1000,\"gid\":100,\"umask\":18,\"additionalGids\":[5,6]},"
        "\"args\":[\"a\",\"b\"],\"env\":[\"A=1\"],\"cwd\":\"/w\",\"noNewPrivileges\":true,"
        "\"oomScoreAdj\":-500},"
        "\"mounts\":[{\"destination\":\"/m\",\"type\":\"bind\",\"source\":\"/s\","
        "\"options\":[\"rbind\",\"ro\"]}],"
        "\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\",\"args\":[\"true\"],\"timeout\":5}],"
        "\"poststop\":[{\"path\":\"/bin/false\"}]},"
        "\"annotations\":{\"k\":\"v\"},"
        "\"linux\":{\"namespaces\":[{\"type\":\"user\"},{\"type\":\"network\","
        "\"path\":\"/run/netns/x\"},{\"type\":\"mount\"}],"
        "\"uidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}],"
        "\"gidMappings\":[{\"containerID\":0,\"hostID\":100000,\"size\":65536}],"
        "\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229,"
        "\"fileMode\":438,\"uid\":0,\"gid\":0}],"
        "\"cgroupsPath\":\"/a/b\",\"sysctl\":{\"net.ipv4.ip_forward\":\"1\"},"
        "\"resources\":{\"memory\":{\"limit\":1048576,\"swappiness\":10},\"cpu\":{\"shares\":"
        "512,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\"},\"pids\":{\"limit\":10},"
        "\"blockIO\":{\"weight\":500},\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}],"
        "\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}]},"
        "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":"
        "[\"SCMP_ARCH_X86_64\"],\"syscalls\":[{\"names\":[\"getcwd\"],\"action\":"
        "\"SCMP_ACT_ERRNO\",\"errnoRet\":1,\"args\":[{\"index\":0,\"value\":1,\"op\":"
        "\"SCMP_CMP_EQ\"}]}]},"
        "\"rootfsPropagation\":\"rslave\",\"maskedPaths\":[\"/proc/kcore\"],"
        "\"readonlyPaths\":[\"/proc/sys\"],\"personality\":{\"domain\":\"LINUX\"}}}";
    oci_config c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(parse(text, &c, &err), 0);
    assert_string_equal(c.hostname, "h");
    assert_string_equal(c.domainname, "d");
    assert_true(c.process.terminal);
    assert_int_equal(c.process.console_width, 80);
    assert_int_equal(c.process.user.uid, 1000);
    assert_int_equal(c.process.user.umask, 18);
    assert_int_equal(c.process.user.n_additional_gids, 2);
    assert_int_equal(c.process.oom_score_adj, -500);
    assert_true(c.process.no_new_privileges);
    assert_string_equal(c.mounts[0].options[0], "rbind");
    assert_int_equal(c.hooks[OCI_HOOK_PRESTART].n, 1);
    assert_int_equal(c.hooks[OCI_HOOK_PRESTART].hooks[0].timeout, 5);
    assert_int_equal(c.hooks[OCI_HOOK_POSTSTOP].n, 1);
    assert_string_equal(c.annotation_keys[0], "k");
    assert_string_equal(c.annotation_values[0], "v");
    assert_string_equal(oci_config_namespace(&c, "network")->path, "/run/netns/x");
    assert_int_equal(c.uid_mappings[0].host_id, 100000);
    assert_int_equal(c.devices[0].minor, 229);
    assert_string_equal(c.cgroups_path, "/a/b");
    assert_string_equal(c.sysctl_keys[0], "net.ipv4.ip_forward");
    assert_int_equal(c.resources.memory_limit, 1048576);
    assert_int_equal(c.resources.cpu_shares, 512);
    assert_string_equal(c.resources.cpu_cpus, "0-1");
    assert_int_equal(c.resources.pids_limit, 10);
    assert_int_equal(c.resources.blkio_weight, 500);
    assert_string_equal(c.resources.hugepages[0].page_size, "2MB");
    assert_string_equal(c.resources.devices[0].access, "rw");
    assert_string_equal(c.seccomp->rules[0].names[0], "getcwd");
    assert_int_equal(c.seccomp->rules[0].errno_ret, 1);
    assert_string_equal(c.seccomp->rules[0].args[0].op, "SCMP_CMP_EQ");
    assert_string_equal(c.personality_domain, "LINUX");
    char *root = oci_config_root(&c, "/bundle", &err);
    assert_string_equal(root, "/abs/root");
    free(root);
    oci_config_free(&c);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("{", "invalid JSON");
    expect_error("[]", "expected a JSON object");
    expect_error("{\"root\":{\"path\":\"r\"}}", "ociVersion: required");
    expect_error("{\"ociVersion\":\"2.0.0\",\"root\":{\"path\":\"r\"}}", "2.0.0 is not supported");
    expect_error("{\"ociVersion\":\"banana\",\"root\":{\"path\":\"r\"}}", "not a version");
    expect_error("{\"ociVersion\":1,\"root\":{\"path\":\"r\"}}", "ociVersion: expected a string");
    expect_error("{\"ociVersion\":\"1.0.0\"}", "root: required");
    expect_error("{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":7}}",
                 "root.path: expected a string");
    expect_error(MINIMAL ",\"hostname\":3}", "hostname: expected a string");
    expect_error("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":"
                 "{\"uid\":\"0\",\"gid\":0},\"args\":[\"sh\"],\"cwd\":\"/\"}}",
                 "process.user.uid: expected an integer");
    expect_error("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":"
                 "{\"uid\":-1,\"gid\":0},\"args\":[\"sh\"],\"cwd\":\"/\"}}",
                 "process.user.uid");
    expect_error("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":"
                 "{\"uid\":0,\"gid\":0},\"args\":[],\"cwd\":\"/\"}}",
                 "process.args");
    expect_error("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":"
                 "{\"uid\":0,\"gid\":0},\"args\":[\"sh\",1],\"cwd\":\"/\"}}",
                 "process.args[1]");
    expect_error("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":"
                 "{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],\"cwd\":\"rel\"}}",
                 "process.cwd");
    expect_error(MINIMAL ",\"mounts\":[{\"destination\":\"rel\"}]}", "mounts[0].destination");
    expect_error(MINIMAL ",\"mounts\":[{\"type\":\"tmpfs\"}]}", "mounts[0].destination: required");
    expect_error(MINIMAL ",\"mounts\":{}}", "mounts: expected an array");
    expect_error(MINIMAL ",\"linux\":{\"namespaces\":[{\"type\":\"bogus\"}]}}",
                 "linux.namespaces[0].type: unknown namespace");
    expect_error(MINIMAL ",\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}",
                 "given twice");
    expect_error(MINIMAL ",\"linux\":{\"uidMappings\":[{\"containerID\":0,\"hostID\":1,"
                         "\"size\":1}]}}",
                 "need a user namespace");
    expect_error(MINIMAL ",\"linux\":{\"resources\":{\"memory\":{\"limit\":\"1g\"}}}}",
                 "linux.resources.memory.limit");
    expect_error(MINIMAL ",\"linux\":{\"sysctl\":{\"../x\":\"1\"}}}", "invalid key");
    expect_error(MINIMAL ",\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_MAYBE\"}}}",
                 "linux.seccomp.defaultAction");
    expect_error(MINIMAL ",\"hooks\":{\"poststart\":[{\"path\":\"rel\"}]}}",
                 "hooks.poststart[0].path");
    expect_error(MINIMAL ",\"linux\":{\"rootfsPropagation\":\"sideways\"}}", "rootfsPropagation");
    expect_error("{\"ociVersion\":\"1.0.2\",\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"}}",
                 "invalid JSON");
    expect_error("{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"process\":{\"user\":"
                 "{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":"
                 "\"RLIMIT_BOGUS\",\"soft\":1,\"hard\":1}]}}",
                 "unknown resource limit");
}

static void test_root_stays_in_bundle(void **state)
{
    (void)state;
    const char *ok[] = {"rootfs", "./rootfs", "a/../rootfs", "a/b/../../c"};
    const char *bad[] = {"..", "../rootfs", "a/../../x", "./../x"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        oci_config c = {.root_path = (char *)ok[i]};
        kl_error err = KL_ERROR_INIT;
        char *r = oci_config_root(&c, "/b", &err);
        assert_non_null(r);
        free(r);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        oci_config c = {.root_path = (char *)bad[i]};
        kl_error err = KL_ERROR_INIT;
        assert_null(oci_config_root(&c, "/b", &err));
        assert_non_null(strstr(err.msg, "outside the bundle"));
    }
}

static void test_process_and_resources_alone(void **state)
{
    (void)state;
    const char *p = "{\"user\":{\"uid\":1,\"gid\":2},\"args\":[\"ls\"],\"cwd\":\"/\","
                    "\"terminal\":true}";
    oci_process proc;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_process_parse(p, strlen(p), &proc, &err), 0);
    assert_int_equal(proc.user.gid, 2);
    assert_true(proc.terminal);
    oci_process_free(&proc);
    assert_int_equal(oci_process_parse("{\"args\":[\"ls\"]}", 15, &proc, &err), -1);
    assert_non_null(strstr(err.msg, "process.user"));
    const char *r = "{\"memory\":{\"limit\":2000000},\"pids\":{\"limit\":5}}";
    oci_resources res;
    assert_int_equal(oci_resources_parse(r, strlen(r), &res, &err), 0);
    assert_true(res.has_memory_limit);
    assert_int_equal(res.pids_limit, 5);
    assert_false(res.has_cpu_shares);
    oci_resources_free(&res);
}

/* dockerd sends "blockIO": {"weight": 0} and "cpu": {"shares": 0} for "not set". */
static void test_zero_weight_is_unset(void **state)
{
    (void)state;
    const char *r = "{\"blockIO\":{\"weight\":0,\"leafWeight\":0},\"cpu\":{\"shares\":0}}";
    oci_resources res;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_resources_parse(r, strlen(r), &res, &err), 0);
    assert_false(res.has_blkio_weight);
    assert_false(res.has_blkio_leaf_weight);
    oci_resources_free(&res);
    const char *bad = "{\"blockIO\":{\"weight\":5}}";
    assert_int_equal(oci_resources_parse(bad, strlen(bad), &res, &err), -1);
}

static void test_size_limit(void **state)
{
    (void)state;
    size_t n = OCI_CONFIG_MAX + 1;
    char *big = xmalloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    oci_config c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_config_parse(big, n, &c, &err), -1);
    assert_int_equal(err.code, EFBIG);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_spec_parses),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_root_stays_in_bundle),
        cmocka_unit_test(test_process_and_resources_alone),
        cmocka_unit_test(test_zero_weight_is_unset),
        cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
