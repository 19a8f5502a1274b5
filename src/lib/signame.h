/* Signal names: the one table of the host's signals by name, for every door (the Kleene API's
 * kill, the Docker door's kill, klee) and the engine's check of a signal number.
 *
 * A signal is given as dockerd takes it: a name of the table with or without "SIG", in any
 * case ("KILL", "SIGkill", "winch"); a decimal number; RTMIN, RTMIN+n, RTMAX, RTMAX-n (n ≥ 1,
 * inside the real-time range). Numbers are the host's (on Linux 1..64: the kernel's 32 and 33
 * too, which glibc keeps for itself and names none).
 *
 * Pure functions: no I/O, no state. */
#ifndef KL_SIGNAME_H
#define KL_SIGNAME_H

#include <stdbool.h>

/* The length of the longest text kl_signal_name writes ("RTMIN+15", "VTALRM"), with its NUL. */
#define KL_SIGNAME_MAX 16

/* The host signal number of `s`, or -1 when `s` names no signal of this host (NULL, "", "0",
 * "65", "SIG9", "FOO", "RTMIN+99"). */
int kl_signal_parse(const char *s);

/* Whether `sig` is a signal number of this host. */
bool kl_signal_is_valid(int sig);

/* The name of `sig` without "SIG" ("KILL", "WINCH", "RTMIN+3", "RTMAX"), written to `buf`;
 * its decimal number when it has no name (Linux's 32 and 33); NULL when not a signal. */
const char *kl_signal_name(int sig, char buf[KL_SIGNAME_MAX]);

/* `s` as it is kept (a container's or an image's stop signal): "SIG<NAME>" ("SIGINT",
 * "SIGRTMIN+3"), the number for a signal without a name ("32"); NULL (nothing allocated) when
 * `s` is NULL or no signal. xmalloc'ed. */
char *kl_signal_canonical(const char *s);

#endif
