/* Logger: timestamped lines to stderr and optionally a file, filtered by level. */
#include "lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info",     "notice", "warning",
                                          "error", "critical", "alert",  "emergency"};

static kl_log_level current_level = KL_LOG_INFO;
static int to_stderr = 1;
static FILE *log_file;
static kl_log_hook log_hook;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

int kl_log_level_parse(const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(s, "warn") == 0)
        return KL_LOG_WARNING;
    return -1;
}

const char *kl_log_level_name(kl_log_level l)
{
    if ((unsigned)l >= sizeof(level_names) / sizeof(level_names[0]))
        return "?";
    return level_names[l];
}

void kl_log_set_level(kl_log_level l)
{
    current_level = l;
}

kl_log_level kl_log_get_level(void)
{
    return current_level;
}

void kl_log_set_stderr(int on)
{
    to_stderr = on;
}

void kl_log_set_hook(kl_log_hook hook)
{
    log_hook = hook;
}

int kl_log_set_file(const char *path, kl_error *err)
{
    FILE *f = NULL;
    if (path) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return kl_error_errno(err, errno, "opening log file %s", path);
        f = fdopen(fd, "a");
        if (!f) {
            close(fd);
            return kl_error_errno(err, errno, "opening log file %s", path);
        }
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = f;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void kl_log(kl_log_level l, const char *fmt, ...)
{
    if (l < current_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_hook)
        log_hook(l, msg);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    if (to_stderr)
        fprintf(stderr, "%s.%03ldZ [%s] %s\n", ts, (long)tv.tv_usec / 1000, kl_log_level_name(l),
                msg);
    if (log_file)
        fprintf(log_file, "%s.%03ldZ [%s] %s\n", ts, (long)tv.tv_usec / 1000, kl_log_level_name(l),
                msg);
    pthread_mutex_unlock(&log_lock);
}
