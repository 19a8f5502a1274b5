/* Error filling and context prefixing for kl_error. */
#include "lib/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kl_error_set(kl_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->code = code ? code : EIO;
    return -1;
}

int kl_error_errno(kl_error *err, int errno_value, const char *fmt, ...)
{
    if (!err)
        return -1;
    char head[KL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    snprintf(err->msg, sizeof(err->msg), "%s: %s", head, strerror(errno_value));
    err->code = errno_value ? errno_value : EIO;
    return -1;
}

int kl_error_prefix(kl_error *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char head[KL_ERROR_MSG_MAX];
    char old[KL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", head, old);
    if (!err->code)
        err->code = EIO;
    return -1;
}
