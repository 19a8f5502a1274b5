#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/images.h"
#include "host/host.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/xalloc.h"

typedef struct {
    char dir[64];
    char *root;
    char *sroot;
    kl_engine *e;
} fixture;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kl-test-images-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->root = xasprintf("%s/root", f->dir);
    kl_error err = KL_ERROR_INIT;
    f->e = engine_open(f->root, NULL, &err);
    if (!f->e) {
        fprintf(stderr, "engine_open: %s\n", err.msg);
        return -1;
    }
    f->sroot = images_storage_root(f->e);
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
    free(f);
    return 0;
}

static bool layer_exists(fixture *f, const char *id)
{
    _cleanup_free_ char *p = host_layer_path(f->sroot, id);
    struct stat st;
    return lstat(p, &st) == 0;
}

/* A new layer directory with one file named after it. */
static void make_layer(fixture *f, char id[KL_ID_LEN + 1])
{
    kl_error err = KL_ERROR_INIT;
    kl_id_new(id);
    assert_int_equal(host_layer_create(f->sroot, id, &err), 0);
    _cleanup_free_ char *p = xasprintf("%s/layers/%s/%s", f->sroot, id, id);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
}

/* A base image with one new layer; returns its id (static buffer per call site). */
static char *add_base(fixture *f, const char *id, const char *name, const char *tag)
{
    char layer[KL_ID_LEN + 1];
    make_layer(f, layer);
    const char *layers[] = {layer};
    images_record r = {
        .id = id, .name = name, .tag = tag, .layers = layers, .n_layers = 1, .n_new = 1};
    kl_error err = KL_ERROR_INIT;
    char *out = images_add(f->e, &r, &err);
    if (!out)
        fail_msg("images_add: %s", err.msg);
    return out;
}

/* A child of `parent` with n_new new snapshot layers on top of the parent's stack. */
static char *add_child(fixture *f, const char *parent, const char *name, size_t n_new,
                       char new_layers[][KL_ID_LEN + 1])
{
    kl_error err = KL_ERROR_INIT;
    images_stack ps;
    assert_int_equal(images_resolve_stack(f->e, parent, &ps, &err), 0);
    size_t n = ps.n + n_new;
    const char **layers = xcalloc(n, sizeof(char *));
    char **snaps = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < ps.n; i++)
        layers[i] = ps.layer_ids[i];
    for (size_t i = 0; i < n_new; i++) {
        make_layer(f, new_layers[i]);
        layers[ps.n + i] = new_layers[i];
        snaps[ps.n + i] = xasprintf("@%s", new_layers[i]);
    }
    images_record r = {.name = name,
                       .parent_id = ps.image_id,
                       .layers = layers,
                       .n_layers = n,
                       .n_new = n_new,
                       .snapshots = (const char *const *)snaps};
    char *out = images_add(f->e, &r, &err);
    if (!out)
        fail_msg("images_add child: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        free(snaps[i]);
    free(snaps);
    free(layers);
    images_stack_clear(&ps);
    return out;
}

static void fake_container(fixture *f, const char *cid, const char *image_id, const char *layer)
{
    _cleanup_free_ char *sql =
        xasprintf("INSERT INTO containers (id, image_id, layer_id, created) VALUES ('%s', '%s', "
                  "%s%s%s, '2024-01-01T00:00:00.000000Z')",
                  cid, image_id, layer ? "'" : "", layer ? layer : "NULL", layer ? "'" : "");
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(store_exec(f->e->store, sql, &err), 0);
}

static json_t *find_image(json_t *list, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i,
                       v) if (!strcmp(json_string_value(json_object_get(v, "id")), id)) return v;
    return NULL;
}

static void test_stack_and_snapshots(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *base = add_base(f, NULL, "base", NULL);
    char nl[2][KL_ID_LEN + 1];
    _cleanup_free_ char *child = add_child(f, "base", "child", 2, nl);

    images_stack s;
    assert_int_equal(images_resolve_stack(f->e, "child", &s, &err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.image_id, child);
    assert_null(s.layer_id);
    _cleanup_free_ char *top = host_layer_path(f->sroot, nl[1]);
    assert_string_equal(s.dirs[2], top);
    assert_null(s.dirs[3]);
    images_stack_clear(&s);

    /* IMAGE@SNAPSHOT: the prefix up to that layer */
    _cleanup_free_ char *ref = xasprintf("child:latest@%s", nl[0]);
    assert_int_equal(images_resolve_stack(f->e, ref, &s, &err), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.layer_id, nl[0]);
    _cleanup_free_ char *mid = host_layer_path(f->sroot, nl[0]);
    assert_string_equal(s.dirs[1], mid);
    images_stack_clear(&s);

    /* the base layer is not a snapshot; unknown snapshots and images are ENOENT */
    images_stack b;
    assert_int_equal(images_resolve_stack(f->e, "base", &b, &err), 0);
    _cleanup_free_ char *bad = xasprintf("child@%s", b.layer_ids[0]);
    images_stack_clear(&b);
    kl_error_clear(&err);
    assert_int_equal(images_resolve_stack(f->e, bad, &s, &err), -1);
    assert_int_equal(err.code, ENOENT);
    kl_error_clear(&err);
    assert_int_equal(images_resolve_stack(f->e, "nope", &s, &err), -1);
    assert_int_equal(err.code, ENOENT);
    kl_error_clear(&err);
    assert_int_equal(images_resolve_stack(f->e, "a:b:c", &s, &err), -1);
    assert_int_equal(err.code, EINVAL);

    /* inspect: the wire shape of API.md §5.9 */
    json_t *img = images_inspect(f->e, child, &err);
    assert_non_null(img);
    const char *keys[] = {"id", "name", "tag", "cmd", "env", "user", "instructions", "created",
                          "dataset",
                          /* optional fields of ours (docs/api.md), empty for this image */
                          "entrypoint", "labels", "exposed_ports", "workdir", "digest", "names"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(keys); i++)
        assert_non_null(json_object_get(img, keys[i]));
    assert_int_equal(json_object_size(img), KL_ARRAY_SIZE(keys));
    assert_string_equal(json_string_value(json_object_get(img, "dataset")), top);
    assert_string_equal(json_string_value(json_object_get(img, "user")), "root");
    assert_string_equal(json_string_value(json_object_get(img, "digest")), ""); /* not pulled */
    assert_int_equal(json_array_size(json_object_get(img, "entrypoint")), 0);
    assert_true(json_is_object(json_object_get(img, "labels")));
    assert_int_equal(json_object_size(json_object_get(img, "labels")), 0);
    assert_int_equal(json_array_size(json_object_get(img, "exposed_ports")), 0);
    json_decref(img);
    kl_error_clear(&err);
    assert_null(images_inspect(f->e, "testlol:inspect", &err));
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "image not found");
}

/* entrypoint, labels and exposed_ports are stored apart from cmd and shown by inspect and list */
static void test_metadata_fields(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    char layer[KL_ID_LEN + 1];
    make_layer(f, layer);
    const char *layers[] = {layer};
    json_t *cmd = json_pack("[s]", "world");
    json_t *ep = json_pack("[s,s]", "echo", "hello");
    json_t *labels = json_pack("{s:s, s:s}", "a", "b", "with space", "x y");
    json_t *ports = json_pack("[s,s]", "80/tcp", "53/udp");
    images_record r = {.name = "meta",
                       .cmd = cmd,
                       .entrypoint = ep,
                       .labels = labels,
                       .exposed_ports = ports,
                       .layers = layers,
                       .n_layers = 1,
                       .n_new = 1};
    _cleanup_free_ char *id = images_add(f->e, &r, &err);
    assert_non_null(id);
    json_decref(cmd);
    json_decref(ep);
    json_decref(labels);
    json_decref(ports);

    json_t *img = images_inspect(f->e, "meta", &err);
    assert_non_null(img);
    json_t *list = images_list(f->e, &err);
    assert_non_null(list);
    json_t *views[] = {img, find_image(list, id)};
    for (size_t i = 0; i < KL_ARRAY_SIZE(views); i++) {
        json_t *v = views[i];
        assert_non_null(v);
        json_t *c = json_object_get(v, "cmd");
        assert_int_equal(json_array_size(c), 1); /* the CMD alone, not entrypoint + cmd */
        assert_string_equal(json_string_value(json_array_get(c, 0)), "world");
        json_t *e = json_object_get(v, "entrypoint");
        assert_int_equal(json_array_size(e), 2);
        assert_string_equal(json_string_value(json_array_get(e, 0)), "echo");
        assert_string_equal(json_string_value(json_array_get(e, 1)), "hello");
        json_t *l = json_object_get(v, "labels");
        assert_int_equal(json_object_size(l), 2);
        assert_string_equal(json_string_value(json_object_get(l, "a")), "b");
        assert_string_equal(json_string_value(json_object_get(l, "with space")), "x y");
        json_t *p = json_object_get(v, "exposed_ports");
        assert_int_equal(json_array_size(p), 2);
        assert_string_equal(json_string_value(json_array_get(p, 0)), "80/tcp");
        assert_string_equal(json_string_value(json_array_get(p, 1)), "53/udp");
    }
    json_decref(img);
    json_decref(list);

    /* NULL members: the empty values (what base images get) */
    _cleanup_free_ char *base = add_base(f, NULL, "plain", NULL);
    img = images_inspect(f->e, base, &err);
    assert_non_null(img);
    assert_true(json_is_array(json_object_get(img, "entrypoint")));
    assert_int_equal(json_array_size(json_object_get(img, "entrypoint")), 0);
    assert_true(json_is_object(json_object_get(img, "labels")));
    assert_int_equal(json_object_size(json_object_get(img, "labels")), 0);
    assert_true(json_is_array(json_object_get(img, "exposed_ports")));
    assert_int_equal(json_array_size(json_object_get(img, "exposed_ports")), 0);
    json_decref(img);
}

static void test_tag_uniqueness(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *a = add_base(f, NULL, "x", "latest");
    _cleanup_free_ char *b = add_base(f, NULL, "x", NULL); /* takes x:latest */
    json_t *list = images_list(f->e, &err);
    assert_int_equal(json_array_size(list), 2);
    /* created desc: b first */
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), b);
    json_t *ia = find_image(list, a);
    assert_string_equal(json_string_value(json_object_get(ia, "name")), "");
    assert_string_equal(json_string_value(json_object_get(ia, "tag")), "");
    json_decref(list);

    _cleanup_free_ char *t = images_tag(f->e, a, "x:latest", &err);
    assert_non_null(t);
    assert_string_equal(t, a);
    list = images_list(f->e, &err);
    assert_string_equal(json_string_value(json_object_get(find_image(list, b), "name")), "");
    assert_string_equal(json_string_value(json_object_get(find_image(list, a), "tag")), "latest");
    json_decref(list);

    assert_null(images_tag(f->e, a, "a:b:c", &err));
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_null(images_tag(f->e, a, "-bad", &err));
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_null(images_tag(f->e, "notexist", "y", &err));
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "image not found");
    _cleanup_free_ char *u = images_tag(f->e, "x", "", &err); /* untag */
    assert_non_null(u);
    kl_error_clear(&err);
    _cleanup_free_ char *gone = images_resolve(f->e, "x", &err);
    assert_null(gone);
    assert_int_equal(err.code, ENOENT);
}

static const char *name_at(json_t *img, size_t i)
{
    return json_string_value(json_array_get(json_object_get(img, "names"), i));
}

/* Docker's names: images_name_add adds, images_name_remove takes one off, a name:tag stays
 * one image's, the first name is the row's. */
static void test_names(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *a = add_base(f, NULL, "x", "v1");
    _cleanup_free_ char *b = add_base(f, NULL, "y", NULL);
    _cleanup_free_ char *t1 = images_name_add(f->e, a, "x:v2", &err);
    assert_non_null(t1);
    _cleanup_free_ char *t2 = images_name_add(f->e, "x:v1", "127.0.0.1:5000/team/x:v3", &err);
    assert_non_null(t2);
    _cleanup_free_ char *t3 = images_name_add(f->e, a, "x:v2", &err); /* again: no change */
    assert_non_null(t3);
    json_t *img = images_inspect(f->e, a, &err);
    assert_string_equal(json_string_value(json_object_get(img, "name")), "x");
    assert_int_equal(json_array_size(json_object_get(img, "names")), 3);
    assert_string_equal(name_at(img, 0), "x:v1");
    assert_string_equal(name_at(img, 1), "x:v2");
    assert_string_equal(name_at(img, 2), "127.0.0.1:5000/team/x:v3");
    json_decref(img);
    /* every name finds it */
    _cleanup_free_ char *r1 = images_resolve(f->e, "x:v2", &err);
    assert_string_equal(r1, a);
    _cleanup_free_ char *r2 = images_resolve(f->e, "127.0.0.1:5000/team/x:v3", &err);
    assert_string_equal(r2, a);
    /* a name another image has moves (y keeps none: untagged) */
    _cleanup_free_ char *t4 = images_name_add(f->e, a, "y", &err);
    assert_non_null(t4);
    img = images_inspect(f->e, b, &err);
    assert_string_equal(json_string_value(json_object_get(img, "name")), "");
    assert_int_equal(json_array_size(json_object_get(img, "names")), 0);
    json_decref(img);
    /* the Kleene tag moves x:v2 to b: a keeps its others */
    _cleanup_free_ char *t5 = images_tag(f->e, b, "x:v2", &err);
    assert_non_null(t5);
    img = images_inspect(f->e, a, &err);
    assert_int_equal(json_array_size(json_object_get(img, "names")), 3);
    assert_string_equal(name_at(img, 0), "x:v1");
    assert_string_equal(name_at(img, 1), "127.0.0.1:5000/team/x:v3");
    assert_string_equal(name_at(img, 2), "y:latest");
    json_decref(img);
    /* taking the first name off: the oldest other becomes first */
    char *id = NULL;
    assert_int_equal(images_name_remove(f->e, "x:v1", &id, &err), 0);
    assert_string_equal(id, a);
    free(id);
    img = images_inspect(f->e, a, &err);
    assert_string_equal(json_string_value(json_object_get(img, "name")), "127.0.0.1:5000/team/x");
    assert_string_equal(json_string_value(json_object_get(img, "tag")), "v3");
    assert_int_equal(json_array_size(json_object_get(img, "names")), 2);
    json_decref(img);
    assert_null(images_resolve(f->e, "x:v1", &err));
    assert_int_equal(err.code, ENOENT);
    kl_error_clear(&err);
    assert_int_equal(images_name_remove(f->e, "y", &id, &err), 0);
    free(id);
    /* the last name: nothing done, 1 */
    assert_int_equal(images_name_remove(f->e, "127.0.0.1:5000/team/x:v3", &id, &err), 1);
    assert_string_equal(id, a);
    free(id);
    assert_int_equal(images_name_remove(f->e, "nosuch:v1", &id, &err), -1);
    assert_int_equal(err.code, ENOENT);
    kl_error_clear(&err);
    assert_null(images_name_add(f->e, a, "", &err));
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    /* untag with "": every name goes; then images_name_add gives a first name */
    _cleanup_free_ char *t6 = images_name_add(f->e, a, "z:1", &err);
    _cleanup_free_ char *u = images_tag(f->e, a, "", &err);
    assert_non_null(u);
    img = images_inspect(f->e, a, &err);
    assert_int_equal(json_array_size(json_object_get(img, "names")), 0);
    json_decref(img);
    _cleanup_free_ char *t7 = images_name_add(f->e, a, "w:2", &err);
    img = images_inspect(f->e, a, &err);
    assert_string_equal(json_string_value(json_object_get(img, "name")), "w");
    assert_int_equal(json_array_size(json_object_get(img, "names")), 1);
    json_decref(img);
    /* removing the image takes its names with it */
    _cleanup_free_ char *t8 = images_name_add(f->e, a, "w:3", &err);
    assert_int_equal(images_remove(f->e, a, &err), 0);
    assert_null(images_resolve(f->e, "w:3", &err));
}

static void test_lookup_order(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *a = add_base(f, "aaaa00000001", "aaaa00000002", NULL);
    _cleanup_free_ char *b = add_base(f, "aaaa00000002", "bee", "v1");
    _cleanup_free_ char *c = add_base(f, "cccc00000003", "aaaa", NULL);

    _cleanup_free_ char *r1 = images_resolve(f->e, "aaaa00000002", &err); /* exact id first */
    assert_string_equal(r1, b);
    _cleanup_free_ char *r2 = images_resolve(f->e, "aaaa00000002:latest", &err); /* name:tag */
    assert_string_equal(r2, a);
    _cleanup_free_ char *r3 = images_resolve(f->e, "aaaa", &err); /* exact name before prefix */
    assert_string_equal(r3, c);
    _cleanup_free_ char *r4 = images_resolve(f->e, "cc", &err); /* unique prefix */
    assert_string_equal(r4, c);
    _cleanup_free_ char *r5 = images_resolve(f->e, "bee:v1", &err);
    assert_string_equal(r5, b);
    _cleanup_free_ char *r6 = images_resolve(f->e, "aaaa0", &err); /* ambiguous */
    assert_null(r6);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "aaaa00000001"));
    assert_non_null(strstr(err.msg, "aaaa00000002"));
    kl_error_clear(&err);
    assert_int_equal(images_remove(f->e, "aaaa0", &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "ambiguous"));
    /* nothing was removed */
    json_t *list = images_list(f->e, &err);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
}

static void test_remove_rules(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *base = add_base(f, NULL, "base", NULL);
    images_stack bs;
    assert_int_equal(images_resolve_stack(f->e, base, &bs, &err), 0);
    char base_layer[KL_ID_LEN + 1];
    strcpy(base_layer, bs.layer_ids[0]);
    images_stack_clear(&bs);
    char nl[2][KL_ID_LEN + 1];
    _cleanup_free_ char *child = add_child(f, "base", "", 2, nl);

    assert_int_equal(images_remove(f->e, "base", &err), -1);
    assert_int_equal(err.code, EBUSY);
    _cleanup_free_ char *m1 =
        xasprintf("could not remove image %s since it is used for images:\n%s", base, child);
    assert_string_equal(err.msg, m1);

    fake_container(f, "c0ffee000001", child, NULL);
    fake_container(f, "c0ffee000002", child, NULL);
    kl_error_clear(&err);
    assert_int_equal(images_remove(f->e, child, &err), -1);
    _cleanup_free_ char *m2 = xasprintf(
        "could not remove image %s since it is used for containers:\nc0ffee000001\nc0ffee000002",
        child);
    assert_string_equal(err.msg, m2);
    assert_int_equal(store_exec(f->e->store, "DELETE FROM containers", &err), 0);

    /* a prefix of the id removes it; its own layers go, the base's stays */
    char prefix[5];
    memcpy(prefix, child, 4);
    prefix[4] = '\0';
    /* (the base could share the prefix: then use the full id) */
    const char *ident = strncmp(base, child, 4) ? prefix : child;
    kl_error_clear(&err);
    assert_int_equal(images_remove(f->e, ident, &err), 0);
    assert_false(layer_exists(f, nl[0]));
    assert_false(layer_exists(f, nl[1]));
    assert_true(layer_exists(f, base_layer));

    assert_int_equal(images_remove(f->e, child, &err), -1);
    assert_int_equal(err.code, ENOENT);
    _cleanup_free_ char *m3 = xasprintf("Error: No such image: %s\n", child);
    assert_string_equal(err.msg, m3);
    kl_error_clear(&err);
    assert_int_equal(images_remove(f->e, "a:b:c", &err), -1);
    assert_string_equal(err.msg, "Error: No such image: a:b:c\n");

    kl_error_clear(&err);
    assert_int_equal(images_remove(f->e, "base", &err), 0);
    assert_false(layer_exists(f, base_layer));
}

/* A container made from child@snapshot keeps that layer and those below even when another
 * image sharing them goes. */
static void test_shared_layers(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *base = add_base(f, NULL, "base", NULL);
    char l1[1][KL_ID_LEN + 1], l2[1][KL_ID_LEN + 1];
    _cleanup_free_ char *c1 = add_child(f, "base", "c1", 1, l1);
    _cleanup_free_ char *ref = xasprintf("c1@%s", l1[0]);
    _cleanup_free_ char *c2 = add_child(f, ref, "c2", 1, l2);
    /* c2 is a child of c1: c1 can not go */
    assert_int_equal(images_remove(f->e, "c1", &err), -1);
    assert_int_equal(err.code, EBUSY);
    kl_error_clear(&err);
    assert_int_equal(images_remove(f->e, "c2", &err), 0);
    assert_false(layer_exists(f, l2[0]));
    assert_true(layer_exists(f, l1[0])); /* c1's, still used */
}

static void test_prune(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *base = add_base(f, NULL, "base", NULL);
    char l[4][KL_ID_LEN + 1];
    _cleanup_free_ char *untagged_leaf = add_child(f, "base", "", 1, &l[0]);
    _cleanup_free_ char *tagged_leaf = add_child(f, "base", "tagged", 1, &l[1]);
    _cleanup_free_ char *untagged_parent = add_child(f, "base", "", 1, &l[2]);
    _cleanup_free_ char *child_of_untagged = add_child(f, untagged_parent, "kid", 1, &l[3]);

    json_t *removed = images_prune(f->e, false, &err);
    assert_non_null(removed);
    assert_int_equal(json_array_size(removed), 1);
    assert_string_equal(json_string_value(json_array_get(removed, 0)), untagged_leaf);
    json_decref(removed);
    assert_false(layer_exists(f, l[0]));

    /* all=true, but a container on tagged_leaf keeps it and (as its parent) the base */
    fake_container(f, "c0ffee000003", tagged_leaf, NULL);
    removed = images_prune(f->e, true, &err);
    assert_non_null(removed);
    /* round 1: child_of_untagged; round 2: untagged_parent */
    assert_int_equal(json_array_size(removed), 2);
    assert_string_equal(json_string_value(json_array_get(removed, 0)), child_of_untagged);
    assert_string_equal(json_string_value(json_array_get(removed, 1)), untagged_parent);
    json_decref(removed);
    json_t *list = images_list(f->e, &err);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);

    assert_int_equal(store_exec(f->e->store, "DELETE FROM containers", &err), 0);
    removed = images_prune(f->e, true, &err);
    assert_int_equal(json_array_size(removed), 2);
    json_decref(removed);
    list = images_list(f->e, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    removed = images_prune(f->e, true, &err);
    assert_int_equal(json_array_size(removed), 0);
    json_decref(removed);
}

/* ---- images_create --------------------------------------------------------------------- */

static void collect(const char *text, void *ctx)
{
    kl_buf_puts(ctx, text);
}

static void write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return NULL;
    char *buf = xcalloc(1, 4096);
    size_t n = fread(buf, 1, 4095, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static size_t count_layers(fixture *f)
{
    _cleanup_free_ char *p = xasprintf("%s/layers", f->sroot);
    DIR *d = opendir(p);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
            n++;
    closedir(d);
    return n;
}

static void test_create_copy_and_clone(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *src = xasprintf("%s/src", f->dir);
    _cleanup_free_ char *hetc = xasprintf("%s/hostetc", f->dir);
    mkdir(src, 0755);
    mkdir(hetc, 0755);
    _cleanup_free_ char *srcetc = xasprintf("%s/etc", src);
    mkdir(srcetc, 0755);
    _cleanup_free_ char *p = xasprintf("%s/etc/rc", src);
    write_file(p, "#!/bin/sh\n");
    _cleanup_free_ char *rc = xasprintf("%s/resolv.conf", hetc);
    write_file(rc, "nameserver 192.0.2.1\n");

    _cleanup_buf_ kl_buf out = KL_BUF_INIT;
    images_create_opts o = {.method = "zfs-copy",
                            .dataset = src,
                            .tag = "copy:v1",
                            .dns = true,
                            .localtime = true,
                            .update = true,
                            .host_etc = hetc,
                            .output = collect,
                            .output_ctx = &out};
    _cleanup_free_ char *id = images_create(f->e, &o, &err);
    if (!id)
        fail_msg("create: %s", err.msg);
    assert_non_null(strstr(out.data, "copying dataset into the new image"));
    assert_non_null(strstr(out.data, "/localtime not found on host, skipping...\n"));
    assert_non_null(strstr(out.data, "update is not supported on this host, skipping..."));
    json_t *img = images_inspect(f->e, "copy:v1", &err);
    assert_non_null(img);
    assert_string_equal(json_string_value(json_array_get(json_object_get(img, "cmd"), 1)),
                        "/etc/rc");
    _cleanup_free_ char *copied = xasprintf("%s/layers/%s/etc/resolv.conf", f->sroot, id);
    struct stat st;
    assert_int_equal(stat(copied, &st), 0);
    assert_int_equal(st.st_size, strlen("nameserver 192.0.2.1\n"));
    json_decref(img);
    /* the source is untouched */
    _cleanup_free_ char *srcrc = xasprintf("%s/etc/resolv.conf", src);
    assert_int_equal(stat(srcrc, &st), -1);

    /* clone: the host dir is the bottom layer, the dns file goes to a thin layer on top */
    unlink(p); /* no /etc/rc: cmd is /bin/sh alone */
    o.method = "zfs-clone";
    o.tag = "";
    o.update = false;
    _cleanup_free_ char *cid = images_create(f->e, &o, &err);
    assert_non_null(cid);
    images_stack s;
    assert_int_equal(images_resolve_stack(f->e, cid, &s, &err), 0);
    assert_int_equal(s.n, 2);
    assert_true(host_layer_is_external(f->sroot, s.layer_ids[0]));
    _cleanup_free_ char *thinrc = xasprintf("%s/etc/resolv.conf", s.dirs[1]);
    assert_int_equal(stat(thinrc, &st), 0);
    assert_int_equal(stat(srcrc, &st), -1); /* not written into the host directory */
    images_stack_clear(&s);
    img = images_inspect(f->e, cid, &err);
    assert_int_equal(json_array_size(json_object_get(img, "cmd")), 1);
    json_decref(img);
    /* removing the clone image removes the link, never the host directory */
    assert_int_equal(images_remove(f->e, cid, &err), 0);
    assert_int_equal(stat(src, &st), 0);
    assert_int_equal(stat(srcetc, &st), 0);
}

static void test_create_failures(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    size_t before = count_layers(f);
    const char *bad[] = {"", "relative/dir", "/nonexistent/dir", "/etc/passwd", f->root, "/"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
        for (int clone = 0; clone < 2; clone++) {
            images_create_opts o = {.method = clone ? "zfs-clone" : "zfs-copy", .dataset = bad[i]};
            kl_error_clear(&err);
            assert_null(images_create(f->e, &o, &err));
            /* the original's words, with what is missing when it is a path or a name */
            assert_int_equal(strncmp(err.msg, "invalid dataset", 15), 0);
        }
    }
    /* an image whose etc is a symlink out of the tree: the dns copy must not follow it */
    _cleanup_free_ char *src = xasprintf("%s/evil", f->dir);
    _cleanup_free_ char *outside = xasprintf("%s/outside", f->dir);
    mkdir(src, 0755);
    mkdir(outside, 0755);
    _cleanup_free_ char *link = xasprintf("%s/etc", src);
    assert_int_equal(symlink(outside, link), 0);
    _cleanup_free_ char *hetc = xasprintf("%s/hostetc2", f->dir);
    mkdir(hetc, 0755);
    _cleanup_free_ char *rc = xasprintf("%s/resolv.conf", hetc);
    write_file(rc, "nameserver 192.0.2.1\n");
    images_create_opts o = {.method = "zfs-copy", .dataset = src, .dns = true, .host_etc = hetc};
    kl_error_clear(&err);
    assert_null(images_create(f->e, &o, &err));
    _cleanup_free_ char *leaked = xasprintf("%s/resolv.conf", outside);
    struct stat st;
    assert_int_equal(stat(leaked, &st), -1);

    /* fetch of a missing file and of a non-archive */
    o = (images_create_opts){.method = "fetch", .url = "file:///nonexistent/base.txz"};
    kl_error_clear(&err);
    assert_null(images_create(f->e, &o, &err));
    assert_non_null(strstr(err.msg, "could not fetch file from url"));
    o.url = xasprintf("file://%s", rc);
    kl_error_clear(&err);
    assert_null(images_create(f->e, &o, &err));
    assert_non_null(strstr(err.msg, "could not extract tar archive"));
    free((char *)o.url);
    /* invalid tag */
    o = (images_create_opts){.method = "zfs-copy", .dataset = hetc, .tag = "a:b:c"};
    kl_error_clear(&err);
    assert_null(images_create(f->e, &o, &err));
    assert_int_equal(err.code, EINVAL);

    /* fetch-auto without debootstrap on PATH */
    _cleanup_free_ char *oldpath = xstrdup(getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", f->dir, 1);
    o = (images_create_opts){.method = "fetch-auto"};
    kl_error_clear(&err);
    assert_null(images_create(f->e, &o, &err));
    assert_string_equal(err.msg, "fetch-auto needs debootstrap on this host");
    /* include: the packages go to debootstrap as one --include (a stand-in records its
     * arguments and fails, so nothing is committed); a bad name never reaches it */
    {
        _cleanup_free_ char *args = xasprintf("%s/debootstrap.args", f->dir);
        _cleanup_free_ char *prog = xasprintf("%s/debootstrap", f->dir);
        _cleanup_free_ char *script = xasprintf("#!/bin/sh\necho \"$@\" >%s\nexit 3\n", args);
        write_file(prog, script);
        chmod(prog, 0755);
        _cleanup_free_ char *osr = xasprintf("%s/os-release", hetc);
        write_file(osr, "ID=debian\nVERSION_CODENAME=bookworm\n");
        char *pkgs[] = {"systemd", "systemd-sysv", NULL};
        o = (images_create_opts){.method = "fetch-auto", .host_etc = hetc, .include = pkgs};
        kl_error_clear(&err);
        assert_null(images_create(f->e, &o, &err));
        assert_non_null(strstr(err.msg, "debootstrap failed (exit status 3)"));
        _cleanup_free_ char *got = read_file(args);
        assert_non_null(got);
        assert_non_null(strstr(got, "--variant=minbase --include=systemd,systemd-sysv bookworm /"));
        char *badpkgs[] = {"systemd", "x;rm -rf /", NULL};
        o.include = badpkgs;
        kl_error_clear(&err);
        assert_null(images_create(f->e, &o, &err));
        assert_int_equal(err.code, EINVAL);
        assert_non_null(strstr(err.msg, "invalid package name 'x;rm -rf /'"));
        unlink(prog);
    }
    setenv("PATH", oldpath, 1);

    /* a cancelled create leaves nothing */
    atomic_bool cancel = true;
    o = (images_create_opts){.method = "zfs-copy", .dataset = hetc, .cancel = &cancel};
    kl_error_clear(&err);
    assert_null(images_create(f->e, &o, &err));
    assert_int_equal(err.code, ECANCELED);

    assert_int_equal(count_layers(f), before);
    json_t *list = images_list(f->e, &err);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

static void test_distro_tag(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *p = xasprintf("%s/os-release", f->dir);
    write_file(p, "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
                  "VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n");
    _cleanup_free_ char *t = images_distro_tag(p, &err);
    assert_string_equal(t, "Debian-12");
    write_file(p, "ID=ubuntu\nVERSION_ID='22.04'\n");
    _cleanup_free_ char *u = images_distro_tag(p, &err);
    assert_string_equal(u, "Ubuntu-22.04");
    write_file(p, "ID=arch\n");
    assert_null(images_distro_tag(p, &err));
    assert_int_equal(err.code, EINVAL);
}

/* Layer directories no row knows are removed at start; known ones are kept. */
static void test_init_sweeps_orphans(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *base = add_base(f, NULL, "keep", NULL);
    char orphan[KL_ID_LEN + 1];
    make_layer(f, orphan);
    engine_close(f->e);
    f->e = engine_open(f->root, NULL, &err);
    assert_non_null(f->e);
    assert_false(layer_exists(f, orphan));
    images_stack s;
    assert_int_equal(images_resolve_stack(f->e, "keep", &s, &err), 0);
    assert_true(layer_exists(f, s.layer_ids[0]));
    images_stack_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stack_and_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tag_uniqueness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_copy_and_clone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_distro_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_sweeps_orphans, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
