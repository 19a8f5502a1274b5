#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/images.h"
#include "engine/volumes.h"
#include "host/host.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

typedef struct {
    char dir[64];
    char *root;
    char *sroot;
    kl_engine *e;
    char *image;     /* "base:1": layers L0 (bottom) and L1 (snapshot) */
    char snap[13];   /* L1's id: base:1@<snap> */
    char bottom[13]; /* L0's id */
} fixture;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return xstrdup(buf);
}

static void mkdirs(const char *base, const char *rel)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", base, rel);
    for (char *s = p + strlen(base) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

/* The test image "base:1": bottom layer with /etc/defaults/{a,b,c} and /data/x; a snapshot
 * layer on top that replaces a, whites out b and makes /opq an opaque directory. */
static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kl-test-ctr-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->root = xasprintf("%s/root", f->dir);
    _cleanup_free_ char *run = xasprintf("%s/run", f->dir);
    kl_error err = KL_ERROR_INIT;
    f->e = engine_open(f->root, run, &err);
    if (!f->e) {
        fprintf(stderr, "engine_open: %s\n", err.msg);
        return -1;
    }
    f->sroot = images_storage_root(f->e);

    kl_id_new(f->bottom);
    kl_id_new(f->snap);
    if (host_layer_create(f->sroot, f->bottom, &err) < 0 ||
        host_layer_create(f->sroot, f->snap, &err) < 0)
        return -1;
    _cleanup_free_ char *l0 = host_layer_path(f->sroot, f->bottom);
    _cleanup_free_ char *l1 = host_layer_path(f->sroot, f->snap);
    mkdirs(l0, "etc/defaults");
    mkdirs(l0, "data");
    mkdirs(l0, "opq");
    mkdirs(l1, "etc/defaults");
    mkdirs(l1, "opq");
    _cleanup_free_ char *p = NULL;
    write_file((p = xasprintf("%s/etc/defaults/a", l0)), "a0");
    free(p);
    write_file((p = xasprintf("%s/etc/defaults/b", l0)), "b0");
    free(p);
    write_file((p = xasprintf("%s/etc/defaults/c", l0)), "c0");
    free(p);
    write_file((p = xasprintf("%s/data/x", l0)), "x0");
    free(p);
    write_file((p = xasprintf("%s/opq/old", l0)), "old");
    free(p);
    write_file((p = xasprintf("%s/etc/defaults/a", l1)), "a1");
    free(p);
    write_file((p = xasprintf("%s/opq/new", l1)), "new");
    free(p);
    p = xasprintf("%s/etc/defaults/b", l1);
    if (mknod(p, S_IFCHR | 0600, makedev(0, 0)) < 0)
        return -1;
    free(p);
    p = xasprintf("%s/opq", l1);
    if (setxattr(p, "trusted.overlay.opaque", "y", 1, 0) < 0)
        return -1;
    free(p);
    p = NULL;

    const char *layers[] = {f->bottom, f->snap};
    _cleanup_free_ char *s1 = xasprintf("@%s", f->snap);
    const char *snaps[] = {NULL, s1};
    _cleanup_json_ json_t *cmd = json_pack("[s,s]", "/bin/sh", "-c");
    _cleanup_json_ json_t *env = json_pack("[s,s]", "A=image", "B=image");
    images_record r = {.name = "base",
                       .tag = "1",
                       .cmd = cmd,
                       .env = env,
                       .user = "imguser",
                       .layers = layers,
                       .n_layers = 2,
                       .n_new = 2,
                       .snapshots = snaps};
    f->image = images_add(f->e, &r, &err);
    if (!f->image) {
        fprintf(stderr, "images_add: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    engine_close(f->e);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f->root);
    free(f->sroot);
    free(f->image);
    free(f);
    return 0;
}

/* Create from a JSON text (as the API layer would after casting); NULL on failure with err. */
static char *create(fixture *f, const char *json, kl_error *err)
{
    _cleanup_json_ json_t *c = json_loads(json, 0, NULL);
    assert_non_null(c);
    if (!json_object_get(c, "image"))
        json_object_set_new(c, "image", json_string("base:1"));
    return containers_create(f->e, c, err);
}

static char *create_ok(fixture *f, const char *json)
{
    kl_error err = KL_ERROR_INIT;
    char *id = create(f, json, &err);
    if (!id)
        fail_msg("create %s: %s", json, err.msg);
    return id;
}

static void create_fails(fixture *f, const char *json, const char *msg)
{
    kl_error err = KL_ERROR_INIT;
    char *id = create(f, json, &err);
    if (id)
        fail_msg("create %s succeeded", json);
    if (strcmp(err.msg, msg) != 0)
        fail_msg("create %s: got '%s', expected '%s'", json, err.msg, msg);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static size_t count_containers(fixture *f)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *l = containers_list(f->e, true, &err);
    assert_non_null(l);
    return json_array_size(l);
}

static json_t *inspect(fixture *f, const char *ident)
{
    kl_error err = KL_ERROR_INIT;
    json_t *j = containers_inspect(f->e, ident, &err);
    if (!j)
        fail_msg("inspect %s: %s", ident, err.msg);
    return j;
}

static void assert_json_text(const json_t *j, const char *expected)
{
    _cleanup_json_ json_t *e = json_loads(expected, 0, NULL);
    assert_non_null(e);
    if (!json_equal((json_t *)j, e)) {
        _cleanup_free_ char *g = jx_dump(j);
        fail_msg("got %s, expected %s", g, expected);
    }
}

/* ---- create ------------------------------------------------------------------------------ */

static void test_create_defaults_and_shape(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *id = create_ok(f, "{\"env\":[\"B=mine\",\"C=mine\"]}");
    assert_true(kl_id_is_valid(id));
    _cleanup_json_ json_t *j = inspect(f, id);
    json_t *c = json_object_get(j, "container");
    /* every field of Container and ours, and nothing else */
    static const char *const keys[] = {
        "id",         "name",           "image_id",     "cmd",          "user",
        "env",        "network_driver", "public_ports", "jail_param",   "restart_policy",
        "persist",    "created",        "dataset",      "running",      "memory",
        "cpus",       "pids_limit",     "auto_remove",  "stop_timeout", "workdir",
        "init",       "stop_cmd",       "labels",       "extra_hosts",  "dns",
        "dns_search", "dns_options",    "stop_signal"};
    assert_int_equal(json_object_size(c), KL_ARRAY_SIZE(keys));
    for (size_t i = 0; i < KL_ARRAY_SIZE(keys); i++)
        if (!json_object_get(c, keys[i]))
            fail_msg("missing %s", keys[i]);
    /* a generated adjective_surname name */
    regex_t re;
    assert_int_equal(regcomp(&re, "^[a-z]+_[a-z]+$", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&re, jx_str(c, "name", ""), 0, NULL, 0), 0);
    regfree(&re);
    assert_string_equal(jx_str(c, "image_id", ""), f->image);
    /* the image's defaults, env merged with the container's winning */
    assert_json_text(json_object_get(c, "cmd"), "[\"/bin/sh\",\"-c\"]");
    assert_string_equal(jx_str(c, "user", ""), "imguser");
    assert_json_text(json_object_get(c, "env"), "[\"A=image\",\"B=mine\",\"C=mine\"]");
    assert_string_equal(jx_str(c, "network_driver", ""), "ipnet");
    assert_string_equal(jx_str(c, "restart_policy", ""), "no");
    assert_false(jx_bool(c, "persist", true));
    assert_false(jx_bool(c, "running", true));
    assert_true(json_is_null(json_object_get(c, "memory")));
    assert_true(json_is_null(json_object_get(c, "cpus")));
    assert_true(json_is_null(json_object_get(c, "pids_limit")));
    assert_string_equal(jx_str(c, "init", ""), "auto");
    assert_true(json_is_null(json_object_get(c, "stop_cmd")));
    _cleanup_free_ char *dataset = xasprintf("%s/container/%s", f->root, id);
    assert_string_equal(jx_str(c, "dataset", ""), dataset);
    assert_json_text(json_object_get(j, "container_endpoints"), "[]");
    assert_json_text(json_object_get(j, "container_mountpoints"), "[]");
    static const char *const subs[] = {"upper", "work", "rootfs"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dataset, subs[i]);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
    }

    /* the record for the start side keeps own and image values apart */
    container_record r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(containers_get(f->e, id, &r, &err), 0);
    assert_int_equal(strv_len(r.cmd), 0);
    assert_string_equal(r.user, "");
    assert_int_equal(strv_len(r.env), 2);
    assert_string_equal(r.image_user, "imguser");
    assert_int_equal(strv_len(r.image_env), 2);
    assert_string_equal(r.image_ref, f->image);
    container_record_clear(&r);
}

/* A published port without "interfaces" (a caller other than the API, whose schema requires
 * it) gets []; the array made for it was leaked (LeakSanitizer, found by the API fuzzer's
 * review of the json_pack "O" pattern, issue 12). */
static void test_port_without_interfaces(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *id =
        create_ok(f, "{\"name\":\"noifs\",\"network_driver\":\"vnet\","
                     "\"public_ports\":[{\"host_port\":\"8081\",\"container_port\":\"81\"}]}");
    _cleanup_json_ json_t *j = inspect(f, "noifs");
    assert_json_text(json_object_get(json_object_get(j, "container"), "public_ports"),
                     "[{\"interfaces\":[],\"host_port\":\"8081\",\"container_port\":"
                     "\"81\",\"protocol\":\"tcp\",\"ip_address\":\"\",\"ip_address6\":\"\"}]");
}

static void test_create_every_field(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *vol = xasprintf("%s/hostdir", f->dir);
    mkdir(vol, 0755);
    _cleanup_free_ char *json = xasprintf(
        "{\"name\":\"/web\",\"cmd\":[\"/bin/echo\",\"hi\"],\"user\":\"nobody\","
        "\"env\":[\"X=1\"],\"jail_param\":[\"host.hostname=web.local\",\"mount.nodevfs\"],"
        "\"network_driver\":\"vnet\",\"restart_policy\":\"on-startup\",\"persist\":true,"
        "\"public_ports\":[{\"interfaces\":[\"eth0\"],\"host_port\":\"8080\","
        "\"container_port\":\"80\",\"protocol\":\"udp\"}],"
        "\"mounts\":[{\"type\":\"nullfs\",\"source\":\"%s\",\"destination\":\"/mnt//x/./\","
        "\"read_only\":true}],"
        "\"memory\":67108864,\"cpus\":0.5,\"pids_limit\":100,\"init\":\"systemd\","
        "\"stop_cmd\":\"/bin/sh /etc/rc.shutdown\",\"stop_signal\":\"rtmin+3\"}",
        vol);
    _cleanup_free_ char *id = create_ok(f, json);
    _cleanup_json_ json_t *j = inspect(f, "web");
    json_t *c = json_object_get(j, "container");
    assert_string_equal(jx_str(c, "id", ""), id);
    assert_string_equal(jx_str(c, "name", ""), "web");
    assert_json_text(json_object_get(c, "cmd"), "[\"/bin/echo\",\"hi\"]");
    assert_string_equal(jx_str(c, "user", ""), "nobody");
    assert_json_text(json_object_get(c, "jail_param"),
                     "[\"host.hostname=web.local\",\"mount.nodevfs\"]");
    assert_string_equal(jx_str(c, "network_driver", ""), "vnet");
    assert_string_equal(jx_str(c, "restart_policy", ""), "on-startup");
    assert_true(jx_bool(c, "persist", false));
    assert_string_equal(jx_str(c, "init", ""), "systemd");
    assert_string_equal(jx_str(c, "stop_cmd", ""), "/bin/sh /etc/rc.shutdown");
    assert_string_equal(jx_str(c, "stop_signal", ""), "SIGRTMIN+3");
    assert_json_text(json_object_get(c, "public_ports"),
                     "[{\"interfaces\":[\"eth0\"],\"host_port\":\"8080\",\"container_port\":"
                     "\"80\",\"protocol\":\"udp\",\"ip_address\":\"\",\"ip_address6\":\"\"}]");
    assert_int_equal(jx_int(c, "memory", 0), 67108864);
    assert_true(json_real_value(json_object_get(c, "cpus")) == 0.5);
    assert_int_equal(jx_int(c, "pids_limit", 0), 100);
    _cleanup_free_ char *mps = xasprintf("[{\"type\":\"nullfs\",\"container_id\":\"%s\","
                                         "\"destination\":\"/mnt/x\",\"source\":\"%s\","
                                         "\"read_only\":true}]",
                                         id, vol);
    assert_json_text(json_object_get(j, "container_mountpoints"), mps);

    container_record r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(containers_get(f->e, "/web", &r, &err), 0);
    assert_int_equal(r.memory_bytes, 67108864);
    assert_int_equal(r.cpu_millis, 500);
    assert_int_equal(r.pids_max, 100);
    assert_int_equal(r.n_mounts, 1);
    assert_string_equal(r.mounts[0].destination, "/mnt/x");
    assert_true(r.mounts[0].read_only);
    container_record_clear(&r);
}

static void test_create_validation_messages_leave_nothing(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *cdir = xasprintf("%s/container", f->root);
    _cleanup_free_ char *taken = create_ok(f, "{\"name\":\"taken\"}");
    size_t dirs = count_entries(cdir);

    create_fails(f, "{\"name\":\"a\"}", "a does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
    create_fails(f, "{\"name\":\"-ab\"}", "-ab does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
    create_fails(f, "{\"name\":\"a b\"}", "a b does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
    create_fails(f, "{\"name\":\"taken\"}", "container name 'taken' is already taken");
    create_fails(f, "{\"name\":\"/taken\"}", "container name 'taken' is already taken");
    create_fails(f, "{\"image\":\"nonexisting\"}", "no such image 'nonexisting'");
    create_fails(f,
                 "{\"public_ports\":[{\"interfaces\":[],\"host_port\":\"1:2:3\","
                 "\"container_port\":\"80\"}]}",
                 "could not decode port publishing specification");
    create_fails(f,
                 "{\"public_ports\":[{\"interfaces\":[],\"host_port\":\"70000\","
                 "\"container_port\":\"80\"}]}",
                 "invalid port value (should be in the range 0 - 65535)");
    create_fails(f,
                 "{\"network_driver\":\"host\",\"public_ports\":[{\"interfaces\":[],"
                 "\"host_port\":\"80\",\"container_port\":\"80\"}]}",
                 "cannot publish ports of a container using the 'host' network driver");
    create_fails(f,
                 "{\"network_driver\":\"disabled\",\"public_ports\":[{\"interfaces\":[],"
                 "\"host_port\":\"80\",\"container_port\":\"80\"}]}",
                 "cannot publish ports of a container using the 'disabled' network driver");
    create_fails(f, "{\"memory\":10}",
                 "invalid memory limit: must be 0 (no limit) or at least 1048576 bytes");
    create_fails(f, "{\"cpus\":-1}",
                 "invalid cpus limit: must be 0 (no limit) or between 0.001 and 1024");
    create_fails(f, "{\"pids_limit\":-1}", "invalid pids_limit: must be 0 (no limit) or more");
    create_fails(f, "{\"stop_signal\":\"SIGNOPE\"}", "invalid stop_signal 'SIGNOPE'");
    create_fails(f, "{\"stop_signal\":\"0\"}", "invalid stop_signal '0'");
    create_fails(f,
                 "{\"mounts\":[{\"type\":\"nullfs\",\"source\":\"/nonexistent-kl-path\","
                 "\"destination\":\"/x\"}]}",
                 "invalid mount source '/nonexistent-kl-path': No such file or directory");
    create_fails(f,
                 "{\"mounts\":[{\"type\":\"nullfs\",\"source\":\"/dev/null\","
                 "\"destination\":\"/x\"}]}",
                 "could not determine source type, must be either directory or regular file");
    create_fails(f,
                 "{\"mounts\":[{\"type\":\"nullfs\",\"source\":\"rel\",\"destination\":\"/x\"}]}",
                 "invalid mount source 'rel': a nullfs mount needs an absolute host path");
    create_fails(f, "{\"mounts\":[{\"type\":\"volume\",\"source\":\"v\",\"destination\":\"x\"}]}",
                 "invalid mount destination 'x': it must be an absolute path");
    create_fails(
        f, "{\"mounts\":[{\"type\":\"volume\",\"source\":\"v\",\"destination\":\"/a/../b\"}]}",
        "invalid mount destination '/a/../b': '..' is not allowed");
    create_fails(f, "{\"mounts\":[{\"type\":\"volume\",\"source\":\"v\",\"destination\":\"//\"}]}",
                 "invalid mount destination '//': cannot mount over the container's root");
    create_fails(f,
                 "{\"mounts\":[{\"type\":\"volume\",\"source\":\"../v\",\"destination\":\"/x\"}]}",
                 "invalid volume name '../v': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    create_fails(f, "{\"mounts\":[{\"source\":\"v\",\"destination\":\"/x\"}]}",
                 "invalid mount: its type must be 'volume' or 'nullfs'");
    /* jail parameters go through the host's parser: an unknown one is a clean error */
    kl_error err = KL_ERROR_INIT;
    char *id = create(f, "{\"jail_param\":[\"no.such.param=1\"]}", &err);
    assert_null(id);
    assert_non_null(strstr(err.msg, "no.such.param"));

    assert_int_equal(count_containers(f), 1);
    assert_int_equal(count_entries(cdir), dirs);
    _cleanup_free_ char *vdir = xasprintf("%s/volumes", f->root);
    assert_int_equal(count_entries(vdir), 0); /* validation fails before any volume is made */
}

static void test_create_from_snapshot(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *ref = xasprintf("base:1@%s", f->snap);
    _cleanup_free_ char *json = xasprintf("{\"image\":\"%s\"}", ref);
    _cleanup_free_ char *id = create_ok(f, json);
    container_record r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(containers_get(f->e, id, &r, &err), 0);
    _cleanup_free_ char *want = xasprintf("%s@%s", f->image, f->snap);
    assert_string_equal(r.image_ref, want);
    container_record_clear(&r);
    /* an image used by a container cannot be removed */
    assert_int_equal(images_remove(f->e, "base:1", &err), -1);
}

static void test_generated_names_are_unique(void **state)
{
    fixture *f = *state;
    char *ids[30];
    for (size_t i = 0; i < 30; i++)
        ids[i] = create_ok(f, "{}");
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *l = containers_list(f->e, true, &err);
    assert_int_equal(json_array_size(l), 30);
    for (size_t i = 0; i < 30; i++)
        for (size_t k = i + 1; k < 30; k++)
            assert_string_not_equal(jx_str(json_array_get(l, i), "name", ""),
                                    jx_str(json_array_get(l, k), "name", "a"));
    for (size_t i = 0; i < 30; i++)
        free(ids[i]);
}

/* ---- mounts and volumes -------------------------------------------------------------------- */

static void test_volume_created_and_prefilled(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *id = create_ok(
        f,
        "{\"mounts\":[{\"type\":\"volume\",\"source\":\"defs\",\"destination\":\"/etc/defaults\"},"
        "{\"type\":\"volume\",\"source\":\"opq\",\"destination\":\"/opq\"},"
        "{\"type\":\"volume\",\"source\":\"fresh\",\"destination\":\"/not/in/image\"},"
        "{\"type\":\"volume\",\"source\":\"onfile\",\"destination\":\"/data/x\"}]}");
    _cleanup_free_ char *a = xasprintf("%s/volumes/defs/a", f->root);
    _cleanup_free_ char *b = xasprintf("%s/volumes/defs/b", f->root);
    _cleanup_free_ char *c = xasprintf("%s/volumes/defs/c", f->root);
    _cleanup_free_ char *ta = read_file(a);
    _cleanup_free_ char *tc = read_file(c);
    assert_string_equal(ta, "a1");         /* the top layer wins */
    assert_string_equal(tc, "c0");         /* the bottom layer shows through */
    assert_int_equal(access(b, F_OK), -1); /* whited out */
    struct stat st;
    assert_int_equal(lstat(b, &st), -1);
    _cleanup_free_ char *old = xasprintf("%s/volumes/opq/old", f->root);
    _cleanup_free_ char *new = xasprintf("%s/volumes/opq/new", f->root);
    assert_int_equal(access(old, F_OK), -1); /* hidden by the opaque directory */
    assert_int_equal(access(new, F_OK), 0);
    _cleanup_free_ char *fresh = xasprintf("%s/volumes/fresh", f->root);
    _cleanup_free_ char *onfile = xasprintf("%s/volumes/onfile", f->root);
    assert_int_equal(count_entries(fresh), 0);
    assert_int_equal(count_entries(onfile), 0);
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *v = volumes_inspect(f->e, "defs", &err);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "mountpoints")), 1);

    /* a non-empty volume is not touched */
    write_file(c, "mine");
    unlink(a);
    _cleanup_free_ char *id2 = create_ok(
        f,
        "{\"mounts\":[{\"type\":\"volume\",\"source\":\"defs\",\"destination\":\"/etc/defaults\","
        "\"read_only\":true}]}");
    assert_int_equal(access(a, F_OK), -1);
    _cleanup_free_ char *tc2 = read_file(c);
    assert_string_equal(tc2, "mine");

    /* removing the containers keeps the volumes */
    char rid[13];
    assert_int_equal(containers_remove(f->e, id, rid, &err), 0);
    assert_int_equal(containers_remove(f->e, id2, rid, &err), 0);
    _cleanup_json_ json_t *vl = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(vl), 4);
    /* and they are no longer in use */
    assert_int_equal(volumes_remove(f->e, "defs", &err), 0);
}

static void test_nullfs_file_and_dir(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *file = xasprintf("%s/hostfile", f->dir);
    write_file(file, "x");
    _cleanup_free_ char *json = xasprintf(
        "{\"mounts\":[{\"type\":\"nullfs\",\"source\":\"%s\",\"destination\":\"/etc/hostfile\"},"
        "{\"type\":\"nullfs\",\"source\":\"%s\",\"destination\":\"/host\"}]}",
        file, f->dir);
    _cleanup_free_ char *id = create_ok(f, json);
    container_record r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(containers_get(f->e, id, &r, &err), 0);
    assert_int_equal(r.n_mounts, 2);
    assert_string_equal(r.mounts[0].type, "nullfs");
    assert_string_equal(r.mounts[0].source, file);
    assert_string_equal(r.mounts[1].destination, "/host");
    assert_false(r.mounts[1].read_only);
    container_record_clear(&r);
}

/* ---- lookup ------------------------------------------------------------------------------ */

static void test_lookup_order_and_ambiguity(void **state)
{
    fixture *f = *state;
    char *ids[17];
    for (size_t i = 0; i < 17; i++)
        ids[i] = create_ok(f, "{}");
    /* 17 ids over 16 first characters: two share one */
    size_t a = 0, b = 0;
    for (size_t i = 0; i < 17 && !b; i++)
        for (size_t k = i + 1; k < 17; k++)
            if (ids[i][0] == ids[k][0]) {
                a = i, b = k;
                break;
            }
    assert_true(b > 0);
    char prefix[2] = {ids[a][0], 0};
    container_record r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(containers_get(f->e, prefix, &r, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, ids[a]));
    assert_non_null(strstr(err.msg, ids[b]));
    /* a removal by an ambiguous prefix removes nothing */
    kl_error_clear(&err);
    assert_int_equal(containers_remove(f->e, prefix, NULL, &err), -1);
    assert_int_equal(count_containers(f), 17);

    /* a unique prefix */
    kl_error_clear(&err);
    char p8[9];
    snprintf(p8, sizeof(p8), "%s", ids[3]);
    assert_int_equal(containers_get(f->e, p8, &r, &err), 0);
    assert_string_equal(r.id, ids[3]);
    container_record_clear(&r);

    /* a name equal to another container's id prefix: the exact name wins over the prefix,
     * and an exact id wins over a name */
    _cleanup_free_ char *json = xasprintf("{\"name\":\"%s\"}", p8);
    _cleanup_free_ char *named = create_ok(f, json);
    assert_int_equal(containers_get(f->e, p8, &r, &err), 0);
    assert_string_equal(r.id, named);
    container_record_clear(&r);
    _cleanup_free_ char *json2 = xasprintf("{\"name\":\"%s\"}", ids[5]);
    _cleanup_free_ char *named2 = create_ok(f, json2);
    assert_int_equal(containers_get(f->e, ids[5], &r, &err), 0);
    assert_string_equal(r.id, ids[5]);
    container_record_clear(&r);

    kl_error_clear(&err);
    assert_int_equal(containers_get(f->e, "nothere", &r, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "container not found");
    for (size_t i = 0; i < 17; i++)
        free(ids[i]);
}

/* ---- update ------------------------------------------------------------------------------ */

static char *update(fixture *f, const char *ident, const char *json, kl_error *err)
{
    _cleanup_json_ json_t *c = json_loads(json, 0, NULL);
    assert_non_null(c);
    return containers_update(f->e, ident, c, err);
}

/* Labels (ours): kept with the record, in inspect and list; an update naming them replaces
 * them, one that does not keeps them; bad ones are refused by create and update. */
static void test_labels(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *id = create_ok(f, "{\"name\":\"l1\",\"labels\":{\"a\":\"1\",\"b\":\"\"}}");
    _cleanup_json_ json_t *j = inspect(f, id);
    assert_json_text(json_object_get(json_object_get(j, "container"), "labels"),
                     "{\"a\":\"1\",\"b\":\"\"}");
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *l = containers_list(f->e, true, &err);
    assert_json_text(json_object_get(json_array_get(l, 0), "labels"), "{\"a\":\"1\",\"b\":\"\"}");
    create_fails(f, "{\"name\":\"l2\",\"labels\":{\"a=b\":\"1\"}}",
                 "label key 'a=b': only printable ASCII characters other than space and '=' are "
                 "allowed");
    _cleanup_free_ char *r1 = update(f, "l1", "{\"user\":\"x\"}", &err);
    assert_non_null(r1);
    _cleanup_json_ json_t *j2 = inspect(f, id);
    assert_json_text(json_object_get(json_object_get(j2, "container"), "labels"),
                     "{\"a\":\"1\",\"b\":\"\"}");
    _cleanup_free_ char *r2 = update(f, "l1", "{\"labels\":{\"c\":\"3\"}}", &err);
    assert_non_null(r2);
    _cleanup_json_ json_t *j3 = inspect(f, id);
    assert_json_text(json_object_get(json_object_get(j3, "container"), "labels"), "{\"c\":\"3\"}");
    _cleanup_json_ json_t *l2 = containers_list(f->e, true, &err);
    assert_json_text(json_object_get(json_array_get(l2, 0), "labels"), "{\"c\":\"3\"}");
    assert_null(update(f, "l1", "{\"labels\":{\"k\":\"\\u001b\"}}", &err));
    assert_int_equal(err.code, EINVAL);
    _cleanup_json_ json_t *j4 = inspect(f, id);
    assert_json_text(json_object_get(json_object_get(j4, "container"), "labels"), "{\"c\":\"3\"}");
}

static void test_update_semantics(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *id = create_ok(
        f, "{\"name\":\"u1\",\"cmd\":[\"/bin/true\"],\"user\":\"nobody\",\"env\":[\"X=1\"],"
           "\"jail_param\":[\"mount.nodevfs\"],\"restart_policy\":\"on-startup\","
           "\"persist\":true,\"memory\":2097152}");
    _cleanup_free_ char *other = create_ok(f, "{\"name\":\"u2\"}");
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *before = inspect(f, id);

    /* all null: nothing changes */
    _cleanup_free_ char *r1 =
        update(f, "u1",
               "{\"name\":null,\"cmd\":null,\"user\":null,\"env\":null,\"jail_param\":null,"
               "\"restart_policy\":null,\"persist\":null,\"memory\":null,\"cpus\":null,"
               "\"pids_limit\":null,\"image\":\"ignored\",\"network_driver\":\"host\"}",
               &err);
    assert_non_null(r1);
    assert_string_equal(r1, id);
    _cleanup_json_ json_t *after = inspect(f, id);
    assert_true(json_equal(before, after));

    /* what the casted defaults mean: omitted fields are reset (API.md §8.1) */
    _cleanup_free_ char *r2 =
        update(f, id,
               "{\"name\":null,\"cmd\":[],\"user\":\"\",\"env\":[],\"jail_param\":[],"
               "\"restart_policy\":\"no\",\"persist\":false,\"network_driver\":\"host\"}",
               &err);
    assert_non_null(r2);
    container_record r;
    assert_int_equal(containers_get(f->e, id, &r, &err), 0);
    assert_int_equal(strv_len(r.cmd), 0);
    assert_string_equal(r.user, "");
    assert_int_equal(strv_len(r.env), 0);
    assert_int_equal(strv_len(r.jail_param), 0);
    assert_string_equal(r.restart_policy, "no");
    assert_false(r.persist);
    assert_string_equal(r.network_driver, "ipnet"); /* ignored */
    assert_int_equal(r.memory_bytes, 2097152);      /* null keeps it */
    container_record_clear(&r);

    /* rename, to its own name, to a taken or an invalid one */
    _cleanup_free_ char *r3 = update(f, id, "{\"name\":\"/renamed\"}", &err);
    assert_non_null(r3);
    _cleanup_free_ char *r4 = update(f, "renamed", "{\"name\":\"renamed\"}", &err);
    assert_non_null(r4);
    assert_null(update(f, id, "{\"name\":\"u2\"}", &err));
    assert_int_equal(err.code, EEXIST);
    assert_string_equal(err.msg, "container name 'u2' is already taken");
    kl_error_clear(&err);
    assert_null(update(f, id, "{\"name\":\"x\"}", &err));
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, "x does not match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
    kl_error_clear(&err);
    assert_null(update(f, id, "{\"jail_param\":[\"bogus.param\"]}", &err));
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_null(update(f, "nosuch", "{}", &err));
    assert_int_equal(err.code, ENOENT);
    /* the failed updates saved nothing */
    assert_int_equal(containers_get(f->e, "renamed", &r, &err), 0);
    assert_int_equal(strv_len(r.jail_param), 0);
    container_record_clear(&r);

    /* limits: 0 clears */
    _cleanup_free_ char *r5 = update(f, id, "{\"memory\":0,\"cpus\":1.25,\"pids_limit\":7}", &err);
    assert_non_null(r5);
    assert_int_equal(containers_get(f->e, id, &r, &err), 0);
    assert_int_equal(r.memory_bytes, 0);
    assert_int_equal(r.cpu_millis, 1250);
    assert_int_equal(r.pids_max, 7);
    container_record_clear(&r);
    (void)other;
}

/* ---- running, remove, prune ---------------------------------------------------------------- */

/* Make the container look running to containers_is_running: a monitor socket file and a
 * state with our own (live) pid. */
/* Ours: auto_remove, stop_timeout, workdir (docs/api.md). */
static void test_settings(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *id =
        create_ok(f, "{\"name\":\"s1\",\"auto_remove\":true,\"stop_timeout\":3,"
                     "\"workdir\":\"/srv/app\"}");
    {
        _cleanup_json_ json_t *j = inspect(f, id);
        json_t *c = json_object_get(j, "container");
        assert_true(json_is_true(json_object_get(c, "auto_remove")));
        assert_int_equal(json_integer_value(json_object_get(c, "stop_timeout")), 3);
        assert_string_equal(json_string_value(json_object_get(c, "workdir")), "/srv/app");
    }
    /* never started: auto_remove leaves it */
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(containers_auto_remove(f->e, id, 0, &err), 0);
    assert_int_equal(count_containers(f), 1);
    _cleanup_strv_ char **ids = NULL;
    assert_int_equal(containers_auto_remove_ids(f->e, &ids, &err), 0);
    assert_int_equal(strv_len(ids), 1);
    assert_string_equal(ids[0], id);
    /* update: "" is the image's workdir again, -1 the default timeout, false keeps it */
    _cleanup_free_ char *u =
        update(f, id, "{\"workdir\":\"\",\"stop_timeout\":-1,\"auto_remove\":false}", &err);
    assert_non_null(u);
    {
        _cleanup_json_ json_t *j = inspect(f, id);
        json_t *c = json_object_get(j, "container");
        assert_true(json_is_false(json_object_get(c, "auto_remove")));
        assert_true(json_is_null(json_object_get(c, "stop_timeout")));
        assert_string_equal(json_string_value(json_object_get(c, "workdir")), "/");
    }
    err = (kl_error)KL_ERROR_INIT;
    assert_null(update(f, id, "{\"workdir\":\"tmp\"}", &err));
    assert_string_equal(err.msg, "invalid workdir 'tmp': it must be an absolute path");
    create_fails(f, "{\"workdir\":\"rel/dir\"}",
                 "invalid workdir 'rel/dir': it must be an absolute path");
    create_fails(f, "{\"stop_timeout\":-5}",
                 "invalid stop_timeout: must be between 0 and 86400 seconds (or -1 for the "
                 "default)");
    create_fails(f, "{\"auto_remove\":true,\"restart_policy\":\"on-startup\"}",
                 "a container cannot be removed automatically (auto_remove) and restarted by "
                 "kleened (restart policy 'on-startup') at once");
    assert_int_equal(count_containers(f), 1);
}

static void fake_running(fixture *f, const char *id, bool running)
{
    _cleanup_free_ char *rd = containers_run_dir(f->e, id);
    _cleanup_free_ char *parent = xasprintf("%s/run/containers", f->dir);
    mkdir(parent, 0700);
    mkdir(rd, 0700);
    _cleanup_free_ char *sock = xasprintf("%s/monitor.sock", rd);
    _cleanup_free_ char *state = xasprintf("%s/state.json", rd);
    _cleanup_free_ char *text =
        xasprintf("{\"running\":%s,\"monitor_pid\":%d}", running ? "true" : "false", (int)getpid());
    write_file(sock, "");
    write_file(state, text);
}

static void test_running_remove_prune(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *old = create_ok(f, "{\"name\":\"old\"}");
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    _cleanup_free_ char *run = create_ok(f, "{\"name\":\"run\"}");
    nanosleep(&ts, NULL);
    _cleanup_free_ char *keep = create_ok(f, "{\"name\":\"keep\",\"persist\":true}");
    nanosleep(&ts, NULL);
    _cleanup_free_ char *young =
        create_ok(f, "{\"name\":\"young\",\"mounts\":[{\"type\":\"volume\",\"source\":\"pv\","
                     "\"destination\":\"/data\"}]}");
    fake_running(f, run, true);
    assert_true(containers_is_running(f->e, run));
    assert_false(containers_is_running(f->e, old));

    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *l = containers_list(f->e, false, &err);
    assert_int_equal(json_array_size(l), 1);
    json_t *c = json_array_get(l, 0);
    assert_string_equal(jx_str(c, "id", ""), run);
    assert_true(jx_bool(c, "running", false));
    assert_string_equal(jx_str(c, "image_name", ""), "base");
    assert_string_equal(jx_str(c, "image_tag", ""), "1");
    assert_true(json_is_null(json_object_get(c, "jid")));
    _cleanup_json_ json_t *all = containers_list(f->e, true, &err);
    assert_int_equal(json_array_size(all), 4);
    assert_string_equal(jx_str(json_array_get(all, 0), "id", ""), young); /* newest first */
    assert_string_equal(jx_str(json_array_get(all, 3), "id", ""), old);

    assert_int_equal(containers_remove(f->e, "run", NULL, &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_string_equal(err.msg, "you cannot remove a running container");

    _cleanup_json_ json_t *pruned = containers_prune(f->e, &err);
    assert_non_null(pruned);
    _cleanup_free_ char *want = xasprintf("[\"%s\",\"%s\"]", old, young);
    assert_json_text(pruned, want);
    _cleanup_free_ char *odir = containers_dir(f->e, old);
    assert_int_equal(access(odir, F_OK), -1);
    assert_int_equal(count_containers(f), 2);
    /* the volume stays, unused */
    _cleanup_json_ json_t *v = volumes_inspect(f->e, "pv", &err);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "mountpoints")), 0);

    /* stopped (state says not running): removable; its run dir goes too */
    fake_running(f, run, false);
    assert_false(containers_is_running(f->e, run));
    char rid[13];
    assert_int_equal(containers_remove(f->e, run, rid, &err), 0);
    assert_string_equal(rid, run);
    _cleanup_free_ char *rd = containers_run_dir(f->e, run);
    assert_int_equal(access(rd, F_OK), -1);
    kl_error_clear(&err);
    assert_int_equal(containers_remove(f->e, run, rid, &err), -1);
    assert_int_equal(err.code, ENOENT);

    /* a dead monitor's leftover socket does not count as running */
    fake_running(f, keep, true);
    _cleanup_free_ char *krd = containers_run_dir(f->e, keep);
    _cleanup_free_ char *state_p = xasprintf("%s/state.json", krd);
    write_file(state_p, "{\"running\":true,\"monitor_pid\":999999999}");
    assert_false(containers_is_running(f->e, keep));
}

static void test_remove_refuses_mounted_rootfs(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0)
        skip();
    _cleanup_free_ char *id = create_ok(f, "{}");
    _cleanup_free_ char *dir = containers_dir(f->e, id);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
    _cleanup_free_ char *l0 = host_layer_path(f->sroot, f->bottom);
    const char *lowers[] = {l0};
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_rootfs_mount(lowers, 1, NULL, NULL, rootfs, &err), 0);
    assert_int_equal(containers_remove(f->e, id, NULL, &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_int_equal(access(dir, F_OK), 0);
    assert_int_equal(count_containers(f), 1);
    assert_int_equal(host_rootfs_unmount(rootfs, &err), 0);
    assert_int_equal(containers_remove(f->e, id, NULL, &err), 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Budget (DESIGN.md §8): 1000 containers listed in ≤ 2 ms median. Asserted loosely (shared,
 * sanitizer builds); the median is printed. */
static void test_list_1000_fast(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 1000; i++)
        free(create_ok(f, "{\"cmd\":[\"/bin/sh\",\"-c\",\"echo\"],\"env\":[\"A=1\"]}"));
    double t[21];
    for (int i = 0; i < 21; i++) {
        kl_error err = KL_ERROR_INIT;
        double t0 = now_ms();
        _cleanup_free_ char *text = containers_list_text(f->e, true, false, &err);
        t[i] = now_ms() - t0;
        assert_non_null(text);
        if (i == 0) {
            json_t *l = json_loads(text, 0, NULL);
            assert_int_equal(json_array_size(l), 1000);
            json_decref(l);
        }
    }
    qsort(t, 21, sizeof(double), cmp_double);
    fprintf(stderr, "containers_list_text of 1000: median %.2f ms\n", t[10]);
    assert_true(t[10] < 100);
}

int main(void)
{
    kl_log_set_level(KL_LOG_WARNING);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_defaults_and_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_without_interfaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_validation_messages_leave_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_from_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generated_names_are_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_volume_created_and_prefilled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nullfs_file_and_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_order_and_ambiguity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_remove_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_refuses_mounted_rootfs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_1000_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
