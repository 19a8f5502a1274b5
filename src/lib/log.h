/* One logger with levels and sinks (stderr, optional file). Thread-safe.
 * Messages carry their context ("container ab12cd34ef56: ..."). */
#ifndef KL_LOG_H
#define KL_LOG_H

#include "lib/error.h"

typedef enum {
    KL_LOG_DEBUG = 0,
    KL_LOG_INFO,
    KL_LOG_NOTICE,
    KL_LOG_WARNING,
    KL_LOG_ERROR,
    KL_LOG_CRITICAL,
    KL_LOG_ALERT,
    KL_LOG_EMERGENCY,
} kl_log_level;

/* Parse "debug", "info", ... "emergency" (and "warn"). Returns -1 if unknown. */
int kl_log_level_parse(const char *s);
const char *kl_log_level_name(kl_log_level l);

void kl_log_set_level(kl_log_level l);
kl_log_level kl_log_get_level(void);
/* Also write to this file (appending, mode 0600). NULL closes it. */
int kl_log_set_file(const char *path, kl_error *err);
/* Turn stderr output on or off (on by default). */
void kl_log_set_stderr(int on);
/* Also hand every message that passes the level to `hook` (NULL: none), e.g. to send it to
 * another process (a helper's log goes to kleened's). Called without the logger's lock. */
typedef void (*kl_log_hook)(kl_log_level l, const char *msg);
void kl_log_set_hook(kl_log_hook hook);

void kl_log(kl_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) kl_log(KL_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) kl_log(KL_LOG_INFO, __VA_ARGS__)
#define log_notice(...) kl_log(KL_LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) kl_log(KL_LOG_WARNING, __VA_ARGS__)
#define log_error(...) kl_log(KL_LOG_ERROR, __VA_ARGS__)

#endif
