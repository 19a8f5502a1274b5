/* Framing of the monitor's control socket (docs/monitor.md): 1 byte type, 4 bytes big-endian
 * payload length (at most MON_MSG_MAX), payload. Shared by the monitor and its client; not part
 * of host/monitor.h. */
#ifndef KL_HOST_MONITOR_PROTO_H
#define KL_HOST_MONITOR_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define MON_MSG_MAX (1u << 20)
#define MON_HDR 5
#define MON_SOCK_NAME "monitor.sock"
#define MON_STATE_NAME "state.json"
#define MON_LOG_NAME "container.log"

enum {
    MON_STATUS = 'S',
    MON_EXEC = 'E',
    MON_ATTACH = 'A',
    MON_KILL = 'K',
    MON_STOP = 'T',
    MON_LOG = 'L',
    MON_REPLY = 'R',
    MON_ERROR = 'X',
    MON_OUTPUT = 'O',     /* stdout (or the pty) of a stream; log content on a LOG connection */
    MON_OUTPUT_ERR = 'e', /* stderr of a stream (processes without a tty) */
    MON_END = 'Z',
    MON_INPUT = 'I',
    MON_RESIZE = 'W',
    MON_CLOSE_INPUT = 'C',
    /* only on the status socket, from kleened to the kleene-monitor it spawned: the spec
     * record (monitor_spec.h) */
    MON_SPEC = 'P',
    /* kleened to a monitor of a runtime that wires networks itself (kleene-jailmon): an
     * endpoint of the running container added or removed (host_monitor_network) */
    MON_NETWORK = 'N',
};

struct host_monitor;
/* Client side (monitor_client.c): wrap a connected fd; receive one whole message (payload valid
 * until the next call). -1 with ETIMEDOUT when nothing arrived within timeout_ms (<0: wait),
 * with ECONNRESET when the monitor closed the connection. */
struct host_monitor *host_monitor_wrap_fd_(int fd, const char *run_dir);
int host_monitor_recv_(struct host_monitor *m, char *type, const unsigned char **payload,
                       size_t *len, int timeout_ms, kl_error *err);

/* Spawn a monitor program `prog` (argv) in a new session with an empty environment, every
 * signal at its default and none blocked, its status socket on fd 3; the program forks the
 * monitor and exits (the double fork), which is waited for. Returns our end of the status
 * socket (monitor_launch.c). */
int host_monitor_launch_(const char *prog, char *const argv[], kl_error *err);

static inline void mon_hdr_put(unsigned char h[MON_HDR], char type, size_t len)
{
    h[0] = (unsigned char)type;
    h[1] = (unsigned char)(len >> 24);
    h[2] = (unsigned char)(len >> 16);
    h[3] = (unsigned char)(len >> 8);
    h[4] = (unsigned char)len;
}

static inline size_t mon_hdr_len(const unsigned char h[MON_HDR])
{
    return ((size_t)h[1] << 24) | ((size_t)h[2] << 16) | ((size_t)h[3] << 8) | (size_t)h[4];
}

#endif
