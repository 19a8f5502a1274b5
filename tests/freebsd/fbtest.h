/* Shared by the golden tests of the FreeBSD layer: a host context on a replaying runner. */
#ifndef KL_FBTEST_H
#define KL_FBTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "host/freebsd/fbhost.h"
#include "host/freebsd/replay.h"

/* A host with root "zroot/kleene", anchor "kleene", gateway em0, /etc/localtime present,
 * on the replay of golden/<name>.golden. */
fb_host fbt_host(const char *name);
/* The same on the golden file at `path`. */
fb_host fbt_host_path(const char *path);
/* The golden file was followed exactly (fails the test with the difference otherwise);
 * frees the runner. */
void fbt_done(fb_host *h);
/* rc must be 0; on failure the error is printed. */
void fbt_ok(int rc, const kl_error *err);
/* rc must be -1 with exactly this error message. */
void fbt_fails(int rc, const kl_error *err, const char *msg);

/* Collects info messages. */
typedef struct fbt_info {
    char text[4096];
} fbt_info;
void fbt_info_cb(const char *msg, void *ctx);

extern bool fbt_localtime_exists;

#endif
