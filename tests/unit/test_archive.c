/* Safe archive extraction: every compression filter, metadata, and hostile archives.
 * Archives are written at test time with libarchive's writer. Runs as root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "host/storage.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* ---- building archives ---- */

typedef struct ent {
    const char *path;
    char type;        /* f file, d dir, l symlink, h hardlink, p fifo, c char device */
    const char *data; /* file contents, link target */
    int mode;
    int uid;
} ent;

typedef struct blob {
    char *data;
    size_t len;
} blob;

static blob make_archive(const ent *ents, size_t n, int filter)
{
    size_t cap = 4 << 20;
    blob b = {xmalloc(cap), 0};
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (filter != ARCHIVE_FILTER_NONE)
        assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, b.data, cap, &b.len), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].path);
        archive_entry_set_perm(e, ents[i].mode ? (mode_t)ents[i].mode : 0644);
        archive_entry_set_uid(e, (la_int64_t)ents[i].uid);
        archive_entry_set_gid(e, (la_int64_t)ents[i].uid);
        archive_entry_set_mtime(e, 1600000000, 0);
        size_t size = 0;
        switch (ents[i].type) {
        case 'f':
            archive_entry_set_filetype(e, AE_IFREG);
            size = strlen(ents[i].data);
            break;
        case 'x': /* a file with an xattr */
            archive_entry_set_filetype(e, AE_IFREG);
            size = strlen(ents[i].data);
            archive_entry_xattr_add_entry(e, "user.kleene", "v1", 2);
            break;
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, ents[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, ents[i].data);
            break;
        case 'p':
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        case 'c':
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdev(e, makedev(1, 3));
            break;
        }
        archive_entry_set_size(e, (la_int64_t)size);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (size)
            assert_int_equal(archive_write_data(a, ents[i].data, size), (la_ssize_t)size);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return b;
}

/* ---- a chunked memory source ---- */

typedef struct memsrc {
    blob b;
    size_t off, chunk;
    bool fail;
} memsrc;

static ssize_t mem_read(void *ctx, const void **buf, kl_error *err)
{
    memsrc *m = ctx;
    if (m->fail && m->off >= m->b.len / 2)
        return kl_error_set(err, ECONNRESET, "source broke");
    size_t n = m->b.len - m->off < m->chunk ? m->b.len - m->off : m->chunk;
    *buf = m->b.data + m->off;
    m->off += n;
    return (ssize_t)n;
}

static char tmpdir[] = "/tmp/kl-archive-XXXXXX";
static int tmpfd = -1;

static int extract_blob(blob b, const char *name, host_extract_stats *st, kl_error *err)
{
    memsrc m = {b, 0, 1000, false};
    return host_archive_extract(mem_read, &m, tmpfd, name, NULL, st, err);
}

static char *path(const char *rel)
{
    return xasprintf("%s/%s", tmpdir, rel);
}

static bool exists(const char *rel)
{
    char *p = path(rel);
    struct stat st;
    bool r = lstat(p, &st) == 0;
    free(p);
    return r;
}

static char *slurp(const char *rel)
{
    char *p = path(rel);
    FILE *f = fopen(p, "r");
    free(p);
    if (!f)
        return NULL;
    char *buf = xcalloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_no_staging(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, ".staging-", 9))
            fail_msg("staging directory left behind: %s", de->d_name);
    closedir(d);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpdir));
    tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *o = path("outside");
    mkdir(o, 0755);
    free(o);
    return tmpfd < 0;
}

static int teardown(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    close(tmpfd);
    return host_tree_remove(tmpdir, &err);
}

/* ---- tests ---- */

static const ent good[] = {
    {"./", 'd', NULL, 0755, 0},
    {"./etc/", 'd', NULL, 0755, 0},
    {"./etc/passwd", 'f', "root:x:0:0::/root:/bin/sh\n", 0644, 0},
    {"./home/www/notes", 'f', "secret", 0600, 1000}, /* parents not in the archive */
    {"./bin/sh", 'l', "/bin/busybox", 0777, 0},      /* absolute target: normal */
    {"./etc/passwd.hard", 'h', "./etc/passwd", 0644, 0},
    {"./run/fifo", 'p', NULL, 0620, 0},
    {"./usr/bin/ping", 'x', "ELF", 04755, 0},
    {"./dev/null", 'c', NULL, 0666, 0}, /* never created */
    {"./usr/lib/", 'd', NULL, 0755, 0},
    {"./lib", 'l', "usr/lib", 0777, 0},
    {"./lib/libc.so", 'f', "libc", 0755, 0}, /* through an in-tree symlink */
};

static void check_good(const char *name, const host_extract_stats *st)
{
    char rel[256];
    struct stat s1, s2;
    snprintf(rel, sizeof(rel), "%s/etc/passwd", name);
    char *c = slurp(rel);
    assert_non_null(c);
    assert_string_equal(c, "root:x:0:0::/root:/bin/sh\n");
    free(c);
    char *p = path(rel);
    assert_int_equal(stat(p, &s1), 0);
    free(p);
    snprintf(rel, sizeof(rel), "%s/etc/passwd.hard", name);
    p = path(rel);
    assert_int_equal(stat(p, &s2), 0);
    free(p);
    assert_int_equal(s1.st_ino, s2.st_ino);
    assert_int_equal(s1.st_nlink, 2);

    snprintf(rel, sizeof(rel), "%s/home/www/notes", name);
    p = path(rel);
    assert_int_equal(stat(p, &s1), 0);
    free(p);
    assert_int_equal(s1.st_mode & 07777, 0600);
    assert_int_equal(s1.st_uid, 1000);
    assert_int_equal(s1.st_mtime, 1600000000);

    snprintf(rel, sizeof(rel), "%s/bin/sh", name);
    p = path(rel);
    char target[64] = {0};
    assert_int_equal(readlink(p, target, sizeof(target) - 1), 12);
    free(p);
    assert_string_equal(target, "/bin/busybox");

    snprintf(rel, sizeof(rel), "%s/run/fifo", name);
    p = path(rel);
    assert_int_equal(lstat(p, &s1), 0);
    free(p);
    assert_true(S_ISFIFO(s1.st_mode));
    assert_int_equal(s1.st_mode & 07777, 0620);

    snprintf(rel, sizeof(rel), "%s/usr/bin/ping", name);
    p = path(rel);
    assert_int_equal(stat(p, &s1), 0);
    assert_int_equal(s1.st_mode & 07777, 04755);
    char v[8] = {0};
    assert_int_equal(getxattr(p, "user.kleene", v, sizeof(v)), 2);
    assert_string_equal(v, "v1");
    free(p);

    snprintf(rel, sizeof(rel), "%s/usr/lib/libc.so", name);
    assert_true(exists(rel));
    snprintf(rel, sizeof(rel), "%s/dev/null", name);
    assert_false(exists(rel));
    assert_int_equal(st->skipped_devices, 1);
    assert_int_equal(st->entries, KL_ARRAY_SIZE(good) - 2); /* minus the root and the device */
    assert_no_staging();
}

static void test_formats(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int filter;
    } filters[] = {{"plain", ARCHIVE_FILTER_NONE},
                   {"gzip", ARCHIVE_FILTER_GZIP},
                   {"xz", ARCHIVE_FILTER_XZ},
                   {"zstd", ARCHIVE_FILTER_ZSTD},
                   {"bzip2", ARCHIVE_FILTER_BZIP2}};
    for (size_t i = 0; i < KL_ARRAY_SIZE(filters); i++) {
        blob b = make_archive(good, KL_ARRAY_SIZE(good), filters[i].filter);
        host_extract_stats st;
        kl_error err = KL_ERROR_INIT;
        if (extract_blob(b, filters[i].name, &st, &err) < 0)
            fail_msg("%s: %s", filters[i].name, err.msg);
        check_good(filters[i].name, &st);
        free(b.data);
    }
}

static void test_file_and_progress_and_exists(void **state)
{
    (void)state;
    blob b = make_archive(good, KL_ARRAY_SIZE(good), ARCHIVE_FILTER_GZIP);
    char *f = path("good.tar.gz");
    FILE *fp = fopen(f, "w");
    fwrite(b.data, 1, b.len, fp);
    fclose(fp);
    free(b.data);
    kl_error err = KL_ERROR_INIT;
    host_extract_stats st;
    assert_int_equal(host_archive_extract_file(f, tmpfd, "fromfile", NULL, &st, &err), 0);
    check_good("fromfile", &st);
    /* the destination must not exist */
    assert_int_equal(host_archive_extract_file(f, tmpfd, "fromfile", NULL, &st, &err), -1);
    assert_int_equal(err.code, EEXIST);
    free(f);
}

typedef struct hostile {
    const char *what;
    ent ents[4];
    size_t n;
    const char *msg; /* part of the error */
} hostile;

static void test_hostile(void **state)
{
    (void)state;
    char *outside = path("outside");
    char *secret_target = xasprintf("%s/secret", outside);
    const hostile cases[] = {
        {"dotdot", {{"../x", 'f', "evil", 0, 0}}, 1, "'..' refused"},
        {"dotdot-inner", {{"a/../../x", 'f', "evil", 0, 0}}, 1, "'..' refused"},
        {"absolute", {{"/etc/kleene-test-x", 'f', "evil", 0, 0}}, 1, "absolute path refused"},
        {"symlink-etc",
         {{"a", 'l', "/etc", 0, 0}, {"a/kleene-test-x", 'f', "evil", 0, 0}},
         2,
         "leads outside"},
        {"symlink-outside",
         {{"a", 'l', outside, 0, 0}, {"a/passwd", 'f', "evil", 0, 0}},
         2,
         "leads outside"},
        {"symlink-relative",
         {{"b", 'l', "../../../../../../tmp", 0, 0}, {"b/kleene-test-x", 'f', "evil", 0, 0}},
         2,
         "leads outside"},
        {"symlink-chain",
         {{"d", 'd', NULL, 0755, 0},
          {"d/up", 'l', "..", 0, 0},
          {"d/up2", 'l', "up/..", 0, 0},
          {"d/up2/x", 'f', "evil", 0, 0}},
         4,
         "leads outside"},
        {"hardlink-out", {{"h", 'h', "../../etc/passwd", 0, 0}}, 1, "'..' refused"},
        {"hardlink-abs", {{"h", 'h', "/etc/passwd", 0, 0}}, 1, "absolute path refused"},
        {"hardlink-via-symlink",
         {{"e", 'l', "/etc", 0, 0}, {"h", 'h', "e/passwd", 0, 0}},
         2,
         "leads outside"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(cases); i++) {
        blob b = make_archive(cases[i].ents, cases[i].n, ARCHIVE_FILTER_NONE);
        kl_error err = KL_ERROR_INIT;
        host_extract_stats st;
        if (extract_blob(b, "hostile", &st, &err) != -1)
            fail_msg("%s: extraction succeeded", cases[i].what);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].what, err.msg, cases[i].msg);
        assert_true(strncmp(err.msg, "extracting archive: ", 20) == 0);
        assert_false(exists("hostile"));
        assert_false(exists("x"));
        assert_false(exists("outside/passwd"));
        assert_int_equal(access("/etc/kleene-test-x", F_OK), -1);
        assert_int_equal(access("/tmp/kleene-test-x", F_OK), -1);
        assert_no_staging();
        free(b.data);
    }

    /* replacing an in-tree symlink that points outside replaces the link, never writes
     * through it, also via a hard link to the symlink */
    FILE *fp = fopen(secret_target, "w");
    fputs("untouched", fp);
    fclose(fp);
    const ent over[] = {{"s", 'l', secret_target, 0, 0},
                        {"h", 'h', "s", 0, 0},
                        {"s", 'f', "evil", 0644, 0},
                        {"h", 'f', "evil2", 0644, 0}};
    blob b = make_archive(over, 4, ARCHIVE_FILTER_NONE);
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(extract_blob(b, "over", NULL, &err), 0);
    char *c = slurp("outside/secret");
    assert_string_equal(c, "untouched");
    free(c);
    c = slurp("over/s");
    assert_string_equal(c, "evil");
    free(c);
    free(b.data);
    free(secret_target);
    free(outside);
}

static void test_corrupt_and_broken_source(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    blob junk = {xstrdup("<html>404 Not Found</html>\n"), 27};
    assert_int_equal(extract_blob(junk, "junk", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "reading archive"));
    assert_false(exists("junk"));
    free(junk.data);

    blob empty = {xstrdup(""), 0};
    kl_error_clear(&err);
    assert_int_equal(extract_blob(empty, "empty", NULL, &err), -1);
    assert_false(exists("empty"));
    free(empty.data);

    /* a truncated xz stream: some entries were written, then the failure removes them */
    blob b = make_archive(good, KL_ARRAY_SIZE(good), ARCHIVE_FILTER_XZ);
    blob cut = {b.data, b.len * 2 / 3};
    kl_error_clear(&err);
    assert_int_equal(extract_blob(cut, "cut", NULL, &err), -1);
    assert_false(exists("cut"));

    /* the source reports an error: its message comes through */
    memsrc m = {b, 0, 100, true};
    kl_error_clear(&err);
    assert_int_equal(host_archive_extract(mem_read, &m, tmpfd, "broken", NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "source broke"));
    assert_int_equal(err.code, ECONNRESET);
    assert_false(exists("broken"));
    assert_no_staging();
    free(b.data);
}

static void count_progress(const host_extract_stats *st, void *ctx)
{
    (void)st;
    (*(int *)ctx)++;
}

static void test_progress(void **state)
{
    (void)state;
    ent many[250];
    char names[250][16];
    for (int i = 0; i < 250; i++) {
        snprintf(names[i], sizeof(names[i]), "f%03d", i);
        many[i] = (ent){names[i], 'f', "x", 0644, 0};
    }
    blob b = make_archive(many, 250, ARCHIVE_FILTER_GZIP);
    int calls = 0;
    host_extract_opts o = {.progress = count_progress, .progress_ctx = &calls, .every = 100};
    memsrc m = {b, 0, 4096, false};
    kl_error err = KL_ERROR_INIT;
    host_extract_stats st;
    assert_int_equal(host_archive_extract(mem_read, &m, tmpfd, "many", &o, &st, &err), 0);
    assert_int_equal(calls, 3); /* at 100, at 200, at the end */
    assert_int_equal(st.entries, 250);
    assert_int_equal(st.bytes, 250);
    free(b.data);
}

static int extract_layer(blob b, const char *name, host_extract_stats *st, kl_error *err)
{
    memsrc m = {b, 0, 700, false};
    host_extract_opts o = {.oci_layer = true};
    return host_archive_extract(mem_read, &m, tmpfd, name, &o, st, err);
}

static bool is_whiteout(const char *rel)
{
    char *p = path(rel);
    struct stat st;
    bool r = lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
    free(p);
    return r;
}

/* OCI layers: .wh.NAME -> a 0/0 character device, .wh..wh..opq -> an opaque directory, and
 * an empty layer is fine; without the option the same names are ordinary files. */
static void test_oci_whiteouts(void **state)
{
    (void)state;
    static const ent layer[] = {
        {"etc/", 'd', NULL, 0755, 0},
        {"etc/.wh.passwd", 'f', "", 0644, 0},
        {"etc/motd", 'f', "hi", 0644, 0},
        {"var/cache/.wh..wh..opq", 'f', "", 0644, 0}, /* parent not in the archive */
        {"var/cache/kept", 'f', "k", 0644, 0},
        {".wh.bin", 'f', "", 0644, 0},
        {"usr/.wh.lib", 'f', "", 0644, 0},
        {"usr/lib", 'f', "replaced by a later entry? no: whiteout then file", 0644, 0},
    };
    blob b = make_archive(layer, KL_ARRAY_SIZE(layer), ARCHIVE_FILTER_GZIP);
    kl_error err = KL_ERROR_INIT;
    host_extract_stats st;
    if (extract_layer(b, "oci1", &st, &err) != 0)
        fail_msg("%s", err.msg);
    assert_true(is_whiteout("oci1/etc/passwd"));
    assert_false(exists("oci1/etc/.wh.passwd"));
    assert_true(is_whiteout("oci1/bin"));
    assert_false(is_whiteout("oci1/usr/lib")); /* the later entry wins */
    char *motd = slurp("oci1/etc/motd");
    assert_string_equal(motd, "hi");
    free(motd);
    char *cache = path("oci1/var/cache");
    char v[4] = "";
    assert_int_equal(getxattr(cache, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    free(cache);
    assert_false(exists("oci1/var/cache/.wh..wh..opq"));
    assert_true(exists("oci1/var/cache/kept"));

    /* the same archive as a plain one: names kept as files */
    assert_int_equal(extract_blob(b, "plain1", &st, &err), 0);
    assert_true(exists("plain1/etc/.wh.passwd"));
    assert_false(exists("plain1/etc/passwd"));
    free(b.data);

    /* an invalid whiteout name fails and leaves nothing */
    static const ent bad[] = {{"a/.wh..wh.x", 'f', "", 0644, 0}};
    b = make_archive(bad, 1, ARCHIVE_FILTER_NONE);
    kl_error_clear(&err);
    assert_int_equal(extract_layer(b, "oci2", &st, &err), -1);
    assert_non_null(strstr(err.msg, "invalid whiteout"));
    assert_false(exists("oci2"));
    assert_no_staging();
    free(b.data);

    /* an empty layer (a tar of only its end blocks, gzip'ed) is a valid empty layer */
    b = make_archive(NULL, 0, ARCHIVE_FILTER_GZIP);
    kl_error_clear(&err);
    if (extract_layer(b, "oci3", &st, &err) != 0)
        fail_msg("%s", err.msg);
    assert_true(exists("oci3"));
    assert_int_equal(st.entries, 0);
    /* but not an empty plain archive */
    assert_int_equal(extract_blob(b, "plain3", &st, &err), -1);
    free(b.data);
}

/* host_layer_pack of an empty layer directory (an image's empty layer): a valid tar of no
 * entries (two zero blocks at least), no crash (the API fuzzer found qsort(NULL) there). */
static int count_bytes(const void *data, size_t n, void *ctx, kl_error *err)
{
    (void)data;
    (void)err;
    *(size_t *)ctx += n;
    return 0;
}

static void test_pack_empty_layer(void **state)
{
    (void)state;
    char *d = path("emptylayer");
    assert_int_equal(mkdir(d, 0755), 0);
    size_t total = 0;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_layer_pack(d, count_bytes, &total, &err), 0);
    assert_true(total >= 1024);
    assert_int_equal(total % 512, 0);
    rmdir(d);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_file_and_progress_and_exists),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_corrupt_and_broken_source),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_oci_whiteouts),
        cmocka_unit_test(test_pack_empty_layer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
