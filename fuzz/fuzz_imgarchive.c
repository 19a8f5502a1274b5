/* libFuzzer target for image archives (src/host/linux/imgarchive.c, kleene-fetch --load): any
 * input either loads or fails with an error message, and leaves nothing in the destination
 * directory when it fails (no staging directory, no spool, no half image). Writes to a
 * private temporary directory, removed at exit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/linux/fsutil.h"
#include "host/linux/imgarchive.h"
#include "lib/log.h"

static int root = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (root < 0) {
        char tmpl[] = "/tmp/fuzz-imgarchive-XXXXXX";
        if (!mkdtemp(tmpl))
            abort();
        root = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        kl_log_set_level(KL_LOG_ERROR);
    }
    int fd = memfd_create("archive", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) < 0)
        abort();
    host_load_opts o = {.in_fd = fd};
    kl_error err = KL_ERROR_INIT;
    int rc = host_load(&o, root, "out", &err);
    close(fd);
    if (rc < 0 && !err.msg[0])
        abort();
    kl_error rerr = KL_ERROR_INIT;
    if (rc == 0 && fs_remove_at(root, "out", &rerr) < 0)
        abort();
    /* nothing else may be left, success or not */
    DIR *d = fdopendir(openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d)
        abort();
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            abort();
    closedir(d);
    return 0;
}
