/* libFuzzer target for klee's tar extractor (src/cli/untar.c, `klee container cp` out of a
 * container): any input extracts or fails with a message, and nothing is ever written
 * outside the destination: after each input the sandbox holds only the destination
 * directory and a canary file, unchanged. The first byte picks the piece size the input is
 * fed in and the rename applied (as klee cp does). Writes to a private temporary
 * directory. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/untar.h"

static char top[64], dest[128], canary[128];

/* Empty the directory dfd by fds: never through a symlink the archive made (a chmod or
 * remove by path would follow one: that once made the host's /etc/passwd and /tmp 0700). */
static void empty_at(int dfd)
{
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            abort();
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                abort();
            fchmod(sub, 0700); /* the fd is the directory itself: left read-only by the archive */
            empty_at(sub);
            close(sub);
            if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) != 0)
                abort();
        } else if (unlinkat(dfd, de->d_name, 0) != 0) {
            abort();
        }
    }
    closedir(d);
}

/* Host paths an extraction that went astray would touch first: their modes must not change. */
static const char *const watched[] = {"/", "/tmp", "/etc", "/etc/passwd"};
static mode_t watched_mode[sizeof(watched) / sizeof(watched[0])];

static mode_t mode_of(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? st.st_mode : 0;
}

/* Only dest/ and the canary at the top, the canary as written. */
static void check_sandbox(void)
{
    int n = 0;
    DIR *dir = opendir(top);
    if (!dir)
        abort();
    struct dirent *de;
    while ((de = readdir(dir)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(dir);
    if (n != 2)
        abort();
    FILE *c = fopen(canary, "r");
    char buf[16] = {0};
    if (!c || fread(buf, 1, sizeof(buf) - 1, c) != 4 || strcmp(buf, "safe") != 0)
        abort();
    fclose(c);
    struct stat st;
    if (lstat(dest, &st) != 0 || !S_ISDIR(st.st_mode))
        abort();
    for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
        if (mode_of(watched[i]) != watched_mode[i])
            abort();
}

/* At exit: the sandbox goes (by fds below the top, as after each input). */
static void remove_sandbox(void)
{
    int d = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d >= 0) {
        empty_at(d);
        close(d);
    }
    rmdir(dest);
    unlink(canary);
    rmdir(top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!top[0]) {
        snprintf(top, sizeof(top), "/tmp/fuzz-untar-XXXXXX");
        if (!mkdtemp(top))
            abort();
        snprintf(dest, sizeof(dest), "%s/dest", top);
        snprintf(canary, sizeof(canary), "%s/canary", top);
        if (mkdir(dest, 0755) != 0)
            abort();
        for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
            watched_mode[i] = mode_of(watched[i]);
        atexit(remove_sandbox);
        FILE *c = fopen(canary, "w");
        if (!c || fputs("safe", c) < 0)
            abort();
        fclose(c);
    }
    if (size < 1)
        return 0;
    static const size_t steps[] = {1, 7, 512, 100000};
    static const untar_opts opts[] = {
        {NULL, NULL, false}, {"d", "new", false}, {".", ".", false}, {"d", ".", true}};
    size_t step = steps[data[0] & 3];
    const untar_opts *o = &opts[(data[0] >> 2) & 3];
    data++, size--;
    int d = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        abort();
    untar *u = untar_new(d, o);
    close(d);
    kl_error err = KL_ERROR_INIT;
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < size; at += step) {
        size_t k = size - at < step ? size - at : step;
        rc = untar_feed(u, data + at, k, &err);
    }
    if (rc == 0)
        rc = untar_finish(u, &err);
    if (rc < 0 && !err.msg[0])
        abort();
    untar_free(u);
    check_sandbox();
    d = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0)
        abort();
    empty_at(d);
    close(d);
    check_sandbox();
    return 0;
}
