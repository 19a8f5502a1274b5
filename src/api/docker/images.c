/* The Docker door's image endpoints (docs/docker-api.md "Images"): list (filters), inspect,
 * history, tag, remove, prune, onto engine/images.h. An image's Docker id is "sha256:" and
 * the 64-hex id of its Kleene id (dk_long_id); a reference is a name[:tag], an id (with or
 * without "sha256:") or a unique prefix, as the engine resolves it. Pull, build, save and load
 * are elsewhere. */
#include "api/docker/dk.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/imageref.h"
#include "engine/images.h"
#include "engine/usage.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static void image_long_id(const char *id12, char out[7 + DK_ID_LEN + 1])
{
    char lid[DK_ID_LEN + 1];
    dk_long_id("image", id12, lid);
    snprintf(out, 7 + DK_ID_LEN + 1, "sha256:%s", lid);
}

/* Unix seconds of a Kleene time ("2026-12-07T10:13:01.123456Z"); 0 when unreadable. */
static long long unix_time(const char *iso)
{
    struct tm tm = {0};
    const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    return end ? (long long)timegm(&tm) : 0;
}

/* Every name:tag of the image (the engine's `names`: Docker's RepoTags). */
static json_t *repo_tags(const json_t *img)
{
    json_t *names = json_object_get(img, "names");
    if (json_is_array(names))
        return json_deep_copy(names);
    const char *name = jx_str(img, "name", ""), *tag = jx_str(img, "tag", "");
    json_t *a = json_array();
    if (name[0])
        json_array_append_new(a, json_pack("s+++", name, ":", tag[0] ? tag : "latest", ""));
    return a;
}

/* A pulled (or loaded) image's registry digest under each of its repositories: Docker's
 * RepoDigests. */
static json_t *repo_digests(const json_t *img)
{
    const char *digest = jx_str(img, "digest", "");
    json_t *a = json_array();
    if (!digest[0])
        return a;
    _cleanup_json_ json_t *tags = repo_tags(img);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *nt = json_string_value(t);
        const char *colon = imageref_tag_colon(nt);
        _cleanup_free_ char *rd =
            xasprintf("%.*s@%s", (int)(colon ? colon - nt : (long)strlen(nt)), nt, digest);
        bool seen = false;
        size_t k;
        json_t *v;
        json_array_foreach(a, k, v) seen |= !strcmp(json_string_value(v), rd);
        if (!seen)
            json_array_append_new(a, json_string(rd));
    }
    return a;
}

/* The engine's identifier of a Docker image reference: "sha256:" dropped, a 13-64 hex id cut
 * to its Kleene id (check_full then says the rest must be compared). */
static const char *image_ident(const char *ref, char buf[16], bool *check_full)
{
    if (!strncmp(ref, "sha256:", 7))
        ref += 7;
    return dk_ident(ref, buf, check_full);
}

/* The Kleene Image a Docker reference names; NULL after a 404/500 in res. */
static json_t *image_find(kl_engine *e, const char *ref, api_response *res)
{
    char buf[16];
    bool check_full;
    const char *ident = image_ident(ref, buf, &check_full);
    kl_error err = KL_ERROR_INIT;
    json_t *img = images_inspect(e, ident, &err);
    if (img && check_full) {
        char lid[7 + DK_ID_LEN + 1];
        image_long_id(jx_str(img, "id", ""), lid);
        const char *hex = !strncmp(ref, "sha256:", 7) ? ref + 7 : ref;
        if (strncmp(lid + 7, hex, strlen(hex)) != 0) {
            json_decref(img);
            img = NULL;
            err.code = ENOENT;
        }
    }
    if (!img) {
        if (err.code == ENOENT || err.code == EINVAL || err.code == 0)
            dk_error(res, 404, "No such image: %s", ref);
        else
            dk_error(res, 500, "%s", err.msg);
    }
    return img;
}

/* Bytes of every layer of the image (its whole stack); dirs (may be NULL) gets the layer
 * directories and their sizes, {dir: bytes}. */
static long long image_size(kl_engine *e, const char *id, json_t *dirs)
{
    images_stack st = {0};
    kl_error err = KL_ERROR_INIT;
    if (images_resolve_stack(e, id, &st, &err) < 0)
        return 0;
    long long total = 0;
    for (size_t i = 0; st.dirs && st.dirs[i]; i++) {
        json_t *known = json_object_get(dirs, st.dirs[i]);
        long long n = known ? json_integer_value(known) : usage_dir_bytes(st.dirs[i]);
        if (dirs && !known)
            json_object_set_new(dirs, st.dirs[i], json_integer(n));
        total += n;
    }
    images_stack_clear(&st);
    return total;
}

static json_t *summary_json(kl_engine *e, const json_t *img)
{
    char lid[7 + DK_ID_LEN + 1];
    image_long_id(jx_str(img, "id", ""), lid);
    long long size = image_size(e, jx_str(img, "id", ""), NULL);
    json_t *labels = json_object_get(img, "labels");
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:I}", "Id", lid, "ParentId",
                     "", "RepoTags", repo_tags(img), "RepoDigests", repo_digests(img), "Created",
                     (json_int_t)unix_time(jx_str(img, "created", "")), "Size", (json_int_t)size,
                     "SharedSize", (json_int_t)-1, "VirtualSize", (json_int_t)size, "Labels",
                     json_is_object(labels) ? json_deep_copy(labels) : json_object(), "Containers",
                     (json_int_t)-1);
}

/* Whether the name:tag `full` matches the `reference` filter's glob `pattern` (on the name, or
 * on name:tag when the pattern has a tag: a ':' after its last '/', since the one before may
 * be a registry's port). */
static bool reference_matches(const char *full, const char *pattern)
{
    bool has_tag = imageref_tag_colon(pattern) != NULL;
    const char *colon = imageref_tag_colon(full);
    _cleanup_free_ char *name = xstrndup(full, colon ? (size_t)(colon - full) : strlen(full));
    return fnmatch(pattern, has_tag ? full : name, 0) == 0;
}

/* As dockerd: with `reference` filters, RepoTags and RepoDigests keep the matching ones (a
 * digest by its repository, for patterns without a tag); false when nothing matches. */
static bool keep_matching_refs(json_t *summary, const json_t *patterns)
{
    static const char *const keys[] = {"RepoTags", "RepoDigests"};
    bool any = false;
    for (size_t k = 0; k < 2; k++) {
        json_t *kept = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(summary, keys[k]), i, t)
        {
            const char *v = json_string_value(t);
            _cleanup_free_ char *asname = k ? xstrndup(v, strcspn(v, "@")) : xstrdup(v);
            size_t j;
            json_t *p;
            bool m = false;
            json_array_foreach(patterns, j, p)
            {
                const char *pat = json_string_value(p);
                if (k && imageref_tag_colon(pat))
                    continue; /* a tag never matches a digest */
                m |= reference_matches(asname, pat);
            }
            if (m)
                json_array_append(kept, t);
        }
        any |= k == 0 && json_array_size(kept) > 0;
        json_object_set_new(summary, keys[k], kept);
    }
    return any;
}

void dk_images_list(dk_request *r, api_response *res)
{
    static const char *const known[] = {"before",    "dangling", "label", "label!",
                                        "reference", "since",    NULL};
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *f = dk_filters(r, known, res);
    if (!f)
        return;
    const char *key;
    json_t *vals;
    json_object_foreach(f, key, vals)
    {
        size_t i;
        json_t *v;
        json_array_foreach(vals, i, v)
        {
            const char *s = json_string_value(v);
            if (!strcmp(key, "dangling") && strcmp(s, "true") && strcmp(s, "false") &&
                strcmp(s, "1") && strcmp(s, "0"))
                return dk_error(res, 400, "invalid filter 'dangling=%s'", s);
        }
    }
    /* before/since: times of the images they name */
    const char *before = NULL, *since = NULL;
    _cleanup_json_ json_t *bimg = NULL, *simg = NULL;
    if (json_array_size(json_object_get(f, "before"))) {
        bimg =
            image_find(e, json_string_value(json_array_get(json_object_get(f, "before"), 0)), res);
        if (!bimg)
            return;
        before = jx_str(bimg, "created", "");
    }
    if (json_array_size(json_object_get(f, "since"))) {
        simg =
            image_find(e, json_string_value(json_array_get(json_object_get(f, "since"), 0)), res);
        if (!simg)
            return;
        since = jx_str(simg, "created", "");
    }
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = images_list(e, &err);
    if (!list)
        return dk_error(res, 500, "%s", err.msg);
    json_t *out = json_array();
    size_t i;
    json_t *img;
    json_array_foreach(list, i, img)
    {
        bool tagged = jx_str(img, "name", "")[0] != '\0';
        json_t *d = json_object_get(f, "dangling");
        if (json_array_size(d)) {
            const char *s = json_string_value(json_array_get(d, 0));
            bool want_dangling = !strcmp(s, "true") || !strcmp(s, "1");
            if (want_dangling == tagged)
                continue;
        }
        if (!kl_labels_match_filters(json_object_get(img, "labels"), json_object_get(f, "label"),
                                     json_object_get(f, "label!")))
            continue;
        const char *created = jx_str(img, "created", "");
        if ((before && strcmp(created, before) >= 0) || (since && strcmp(created, since) <= 0))
            continue;
        json_t *sum = summary_json(e, img);
        json_t *refs = json_object_get(f, "reference");
        if (json_array_size(refs) && !keep_matching_refs(sum, refs)) {
            json_decref(sum);
            continue;
        }
        json_array_append_new(out, sum);
    }
    api_reply_json(res, 200, out);
}

/* Go's name of the machine, as image platforms say it. */
static const char *go_arch(void)
{
    static struct utsname u;
    uname(&u);
    if (!strcmp(u.machine, "x86_64"))
        return "amd64";
    if (!strcmp(u.machine, "aarch64"))
        return "arm64";
    return u.machine;
}

void dk_images_inspect(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *img = image_find(e, r->params[0], res);
    if (!img)
        return;
    const char *id = jx_str(img, "id", "");
    char lid[7 + DK_ID_LEN + 1];
    image_long_id(id, lid);
    json_t *ports = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(img, "exposed_ports"), i, p)
        json_object_set_new(ports, json_string_value(p), json_object());
    json_t *cmd = json_object_get(img, "cmd"), *ep = json_object_get(img, "entrypoint");
    json_t *labels = json_object_get(img, "labels");
    const char *user = jx_str(img, "user", "");
    json_t *config = json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:b, s:b, s:b, s:O, s:o, s:s, s:n, s:s, s:o, s:n, "
        "s:o}",
        "Hostname", "", "Domainname", "", "User", strcmp(user, "root") ? user : "", "AttachStdin",
        0, "AttachStdout", 0, "AttachStderr", 0, "ExposedPorts",
        json_object_size(ports) ? ports : (json_decref(ports), json_null()), "Tty", 0, "OpenStdin",
        0, "StdinOnce", 0, "Env", json_object_get(img, "env"), "Cmd",
        json_array_size(cmd) ? json_incref(cmd) : json_null(), "Image", "", "Volumes", "WorkingDir",
        strcmp(jx_str(img, "workdir", "/"), "/") ? jx_str(img, "workdir", "/") : "", "Entrypoint",
        json_array_size(ep) ? json_incref(ep) : json_null(), "OnBuild", "Labels",
        json_is_object(labels) ? json_deep_copy(labels) : json_object());
    const char *stop_signal = jx_str(img, "stop_signal", NULL);
    if (config && stop_signal)
        json_object_set_new(config, "StopSignal", json_string(stop_signal));
    images_stack st = {0};
    kl_error err = KL_ERROR_INIT;
    json_t *layers = json_array();
    long long size = 0;
    if (images_resolve_stack(e, id, &st, &err) == 0) {
        for (size_t k = 0; st.layer_ids && st.layer_ids[k]; k++) {
            char l[DK_ID_LEN + 1];
            dk_long_id("layer", st.layer_ids[k], l);
            json_array_append_new(layers, json_pack("s+", "sha256:", l));
            size += usage_dir_bytes(st.dirs[k]);
        }
        images_stack_clear(&st);
    }
    json_t *out =
        json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:{}, s:s, s:s, s:o, s:s, s:s, s:I, s:I, "
                  "s:{s:s, s:{}}, s:{s:s, s:o}, s:{s:s}}",
                  "Id", lid, "RepoTags", repo_tags(img), "RepoDigests", repo_digests(img), "Parent",
                  "", "Comment", "", "Created", dk_time(jx_str(img, "created", "")), "Container",
                  "", "ContainerConfig", "DockerVersion", "", "Author", "", "Config", config,
                  "Architecture", go_arch(), "Os", "linux", "Size", (json_int_t)size, "VirtualSize",
                  (json_int_t)size, "GraphDriver", "Name", "overlay", "Data", "RootFS", "Type",
                  "layers", "Layers", layers, "Metadata", "LastTagTime", "0001-01-01T00:00:00Z");
    api_reply_json(res, 200, out);
}

void dk_images_history(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *img = image_find(e, r->params[0], res);
    if (!img)
        return;
    const char *id = jx_str(img, "id", "");
    long long created = unix_time(jx_str(img, "created", ""));
    images_stack st = {0};
    kl_error err = KL_ERROR_INIT;
    if (images_resolve_stack(e, id, &st, &err) < 0)
        return dk_error(res, 500, "%s", err.msg);
    /* each layer's size; the instructions that made a snapshot take their layer's */
    size_t n = 0;
    while (st.layer_ids && st.layer_ids[n])
        n++;
    bool *claimed = xcalloc(n + 1, sizeof(bool));
    json_t *entries = json_array(); /* bottom first, reversed at the end */
    size_t i;
    json_t *ins;
    json_t *steps = json_array();
    json_array_foreach(json_object_get(img, "instructions"), i, ins)
    {
        const char *line = json_string_value(json_array_get(ins, 0));
        const char *snap = json_string_value(json_array_get(ins, 1));
        long long size = 0;
        if (snap && snap[0]) {
            _cleanup_free_ char *ref = xasprintf("%s%s", id, snap);
            images_stack ss = {0};
            kl_error e2 = KL_ERROR_INIT;
            if (images_resolve_stack(e, ref, &ss, &e2) == 0 && ss.layer_id) {
                for (size_t k = 0; k < n; k++)
                    if (!strcmp(st.layer_ids[k], ss.layer_id) && !claimed[k]) {
                        claimed[k] = true;
                        size = usage_dir_bytes(st.dirs[k]);
                    }
            }
            images_stack_clear(&ss);
        }
        json_array_append_new(steps, json_pack("{s:s, s:I}", "CreatedBy", line ? line : "", "Size",
                                               (json_int_t)size));
    }
    /* the layers no instruction of this image made: its base (or parent) */
    for (size_t k = 0; k < n; k++)
        if (!claimed[k])
            json_array_append_new(entries, json_pack("{s:s, s:I}", "CreatedBy", "", "Size",
                                                     (json_int_t)usage_dir_bytes(st.dirs[k])));
    json_array_extend(entries, steps);
    json_decref(steps);
    free(claimed);
    images_stack_clear(&st);
    json_t *out = json_array();
    char lid[7 + DK_ID_LEN + 1];
    image_long_id(id, lid);
    for (size_t k = json_array_size(entries); k-- > 0;) {
        json_t *en = json_array_get(entries, k);
        bool top = k + 1 == json_array_size(entries);
        json_array_append_new(out,
                              json_pack("{s:s, s:I, s:O, s:o, s:O, s:s}", "Id",
                                        top ? lid : "<missing>", "Created", (json_int_t)created,
                                        "CreatedBy", json_object_get(en, "CreatedBy"), "Tags",
                                        top ? repo_tags(img) : json_null(), "Size",
                                        json_object_get(en, "Size"), "Comment", ""));
    }
    json_decref(entries);
    api_reply_json(res, 200, out);
}

void dk_images_tag(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    const char *repo = dk_query_str(r, "repo", "");
    const char *tag = dk_query_str(r, "tag", "");
    if (!repo[0])
        return dk_error(res, 400, "repository name (repo) is required");
    _cleanup_json_ json_t *img = image_find(e, r->params[0], res);
    if (!img)
        return;
    _cleanup_free_ char *nametag = xasprintf("%s:%s", repo, tag[0] ? tag : "latest");
    kl_error err = KL_ERROR_INIT;
    /* Docker's tag adds a name; the image keeps the ones it has */
    _cleanup_free_ char *id = images_name_add(e, jx_str(img, "id", ""), nametag, &err);
    if (!id)
        return dk_error(res,
                        err.code == ENOENT   ? 404
                        : err.code == EINVAL ? 400
                                             : 500,
                        "%s", err.msg);
    api_reply_empty(res, 201);
}

/* The reference as one of the image's names ("name:tag", familiar form), or NULL when it
 * names the image by id (or is not one of its names). */
static char *ref_as_name(const json_t *img, const char *ref)
{
    _cleanup_free_ char *name = NULL, *tag = NULL;
    if (imageref_parse_nametag(ref, &name, &tag, NULL) < 0 || !name[0])
        return NULL;
    _cleanup_free_ char *full = xasprintf("%s:%s", name, tag);
    _cleanup_json_ json_t *tags = repo_tags(img);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) if (!strcmp(json_string_value(t), full)) return xstrdup(full);
    return NULL;
}

/* A container that uses image `id` (a running one when there is one), or NULL; *running
 * says whether it runs. */
static char *image_user(kl_engine *e, const char *id, bool *running)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = containers_list(e, true, &err);
    char *found = NULL;
    *running = false;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        if (strcmp(jx_str(c, "image_id", ""), id) != 0)
            continue;
        bool run = jx_bool(c, "running", false);
        if (!found || (run && !*running)) {
            free(found);
            found = xstrdup(jx_str(c, "id", ""));
            *running = run;
        }
    }
    return found;
}

void dk_images_remove(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    const char *ref = r->params[0];
    bool force = dk_query_bool(r, "force", false);
    _cleanup_json_ json_t *img = image_find(e, ref, res);
    if (!img)
        return;
    const char *id = jx_str(img, "id", "");
    _cleanup_json_ json_t *tags = repo_tags(img);
    char lid[7 + DK_ID_LEN + 1];
    image_long_id(id, lid);
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *as_name = ref_as_name(img, ref);
    if (json_array_size(tags) > 1) {
        /* as dockerd: a name of an image with others is untagged; an id needs force */
        if (as_name) {
            _cleanup_free_ char *got = NULL;
            int u = images_name_remove(e, as_name, &got, &err);
            if (u < 0)
                return dk_error(res, dk_status(err.code), "%s", err.msg);
            if (u == 0)
                return api_reply_json(res, 200, json_pack("[{s:s}]", "Untagged", as_name));
            /* its only name after all (changed meanwhile): remove the image below */
        } else if (!force) {
            return dk_error(res, 409,
                            "conflict: unable to delete %.12s (must be forced) - image is "
                            "referenced in multiple repositories",
                            id);
        }
    }
    /* An image a container uses: dockerd's answers. Forced, it untags the image (the image
     * stays for the container; the engine never removes an image a container uses, where
     * dockerd deletes one only stopped containers use) */
    bool running;
    _cleanup_free_ char *user = image_user(e, id, &running);
    if (user && as_name && !force)
        return dk_error(res, 409,
                        "conflict: unable to remove repository reference \"%s\" (must force) - "
                        "container %.12s is using its referenced image %.12s",
                        ref, user, id);
    if (user && !as_name && (running || !force || !json_array_size(tags)))
        return dk_error(res, 409,
                        "conflict: unable to delete %.12s (%s) - image is being used by %s "
                        "container %.12s",
                        id, running || force ? "cannot be forced" : "must be forced",
                        running ? "running" : "stopped", user);
    if (user) {
        _cleanup_free_ char *kept = images_tag(e, id, "", &err);
        if (!kept)
            return dk_error(res, dk_status(err.code), "%s", err.msg);
        json_t *out = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t)
            json_array_append_new(out, json_pack("{s:O}", "Untagged", t));
        return api_reply_json(res, 200, out);
    }
    if (images_remove(e, id, &err) < 0) {
        if (err.code == EBUSY)
            return dk_error(res, 409, "conflict: unable to remove image %s: %s", ref, err.msg);
        if (err.code == ENOENT)
            return dk_error(res, 404, "No such image: %s", ref);
        return dk_error(res, 500, "%s", err.msg);
    }
    json_t *out = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) json_array_append_new(out, json_pack("{s:O}", "Untagged", t));
    json_array_append_new(out, json_pack("{s:s}", "Deleted", lid));
    api_reply_json(res, 200, out);
}

void dk_images_prune(dk_request *r, api_response *res)
{
    static const char *const known[] = {"dangling", "label", "label!", "until", NULL};
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *f = dk_filters(r, known, res);
    if (!f)
        return;
    char until[40];
    json_t *u = json_object_get(f, "until");
    if (json_array_size(u) > 1)
        return dk_error(res, 400, "the filter 'until' takes one value");
    if (json_array_size(u) && dk_until(json_string_value(json_array_get(u, 0)), until, res) < 0)
        return;
    bool all = false;
    json_t *d = json_object_get(f, "dangling");
    if (json_array_size(d)) {
        const char *s = json_string_value(json_array_get(d, 0));
        if (!strcmp(s, "false") || !strcmp(s, "0"))
            all = true;
        else if (strcmp(s, "true") && strcmp(s, "1"))
            return dk_error(res, 400, "invalid filter 'dangling=%s'", s);
    }
    /* the layer directories and their sizes before: what is gone after was reclaimed */
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = images_list(e, &err);
    if (!list)
        return dk_error(res, 500, "%s", err.msg);
    _cleanup_json_ json_t *dirs = json_object();
    size_t i;
    json_t *img;
    json_array_foreach(list, i, img) image_size(e, jx_str(img, "id", ""), dirs);
    _cleanup_json_ json_t *ids =
        images_prune_matching(e, all, json_object_get(f, "label"), json_object_get(f, "label!"),
                              json_array_size(u) ? until : NULL, &err);
    if (!ids)
        return dk_error(res, 500, "%s", err.msg);
    json_t *deleted = json_array();
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        char lid[7 + DK_ID_LEN + 1];
        image_long_id(json_string_value(v), lid);
        json_array_append_new(deleted, json_pack("{s:s}", "Deleted", lid));
    }
    json_int_t reclaimed = 0;
    const char *dir;
    json_object_foreach(dirs, dir, v) if (access(dir, F_OK) != 0) reclaimed +=
        json_integer_value(v);
    api_reply_json(res, 200,
                   json_pack("{s:o, s:I}", "ImagesDeleted", deleted, "SpaceReclaimed", reclaimed));
}
