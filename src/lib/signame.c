/* Signal names (lib/signame.h). The table lists what <signal.h> of the host defines; the
 * real-time signals are not in it but computed (SIGRTMIN is a function call under glibc). */
#include "lib/signame.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"SYS", SIGSYS},
#ifdef SIGIO
    {"IO", SIGIO},
#endif
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
#ifdef SIGEMT
    {"EMT", SIGEMT},
#endif
#ifdef SIGINFO
    {"INFO", SIGINFO},
#endif
#ifdef SIGTHR
    {"THR", SIGTHR},
#endif
#ifdef SIGLIBRT
    {"LIBRT", SIGLIBRT},
#endif
/* Aliases after the names they stand for, so that kl_signal_name gives the usual one. */
#ifdef SIGIOT
    {"IOT", SIGIOT},
#endif
#ifdef SIGCLD
    {"CLD", SIGCLD},
#endif
#ifdef SIGPOLL
    {"POLL", SIGPOLL},
#endif
};

bool kl_signal_is_valid(int sig)
{
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        return true;
#ifdef __linux__
    /* The kernel's real-time signals start at 32; glibc keeps 32 and 33 for itself. */
    if (sig >= 1 && sig <= SIGRTMAX)
        return true;
#endif
    for (size_t i = 0; i < KL_ARRAY_SIZE(signals); i++)
        if (signals[i].sig == sig)
            return true;
    return false;
}

/* A decimal number without sign of at most 9 digits at s (all of it), or -1. */
static int decimal(const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || s[n] || n > 9)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int kl_signal_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    if (s[0] >= '0' && s[0] <= '9') {
        int v = decimal(s);
        return v > 0 && kl_signal_is_valid(v) ? v : -1;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < KL_ARRAY_SIZE(signals); i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].sig;
    if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
        bool is_min = strncasecmp(s, "RTMIN", 5) == 0;
        const char *t = s + 5;
        if (!*t)
            return is_min ? SIGRTMIN : SIGRTMAX;
        if (*t != (is_min ? '+' : '-'))
            return -1;
        int n = decimal(t + 1);
        if (n < 1 || n > SIGRTMAX - SIGRTMIN)
            return -1;
        return is_min ? SIGRTMIN + n : SIGRTMAX - n;
    }
    return -1;
}

const char *kl_signal_name(int sig, char buf[KL_SIGNAME_MAX])
{
    if (!kl_signal_is_valid(sig))
        return NULL;
    for (size_t i = 0; i < KL_ARRAY_SIZE(signals); i++)
        if (signals[i].sig == sig) {
            snprintf(buf, KL_SIGNAME_MAX, "%s", signals[i].name);
            return buf;
        }
    if (sig == SIGRTMIN)
        snprintf(buf, KL_SIGNAME_MAX, "RTMIN");
    else if (sig == SIGRTMAX)
        snprintf(buf, KL_SIGNAME_MAX, "RTMAX");
    else if (sig > SIGRTMIN && sig - SIGRTMIN <= SIGRTMAX - sig)
        snprintf(buf, KL_SIGNAME_MAX, "RTMIN+%d", sig - SIGRTMIN);
    else if (sig > SIGRTMIN)
        snprintf(buf, KL_SIGNAME_MAX, "RTMAX-%d", SIGRTMAX - sig);
    else
        snprintf(buf, KL_SIGNAME_MAX, "%d", sig);
    return buf;
}

char *kl_signal_canonical(const char *s)
{
    char name[KL_SIGNAME_MAX];
    int sig = kl_signal_parse(s);
    if (sig < 0 || !kl_signal_name(sig, name))
        return NULL;
    return name[0] >= '0' && name[0] <= '9' ? xstrdup(name) : xasprintf("SIG%s", name);
}
