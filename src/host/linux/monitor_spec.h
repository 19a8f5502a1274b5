/* The monitor's spec (host_monitor_spec) as kleened hands it to the kleene-monitor program it
 * has just spawned: one frame on the status socket (monitor_proto.h framing, type MON_SPEC)
 * whose payload is a flat binary record, with the compiled seccomp filter. Binary rather than
 * JSON so that every C string round-trips exactly (NULL and "" differ; no UTF-8 constraint on
 * paths) and decoding needs no parser state: strings point into the received buffer.
 *
 * Record: the magic "KLMS", u32 version, then the fields in a fixed order. u32/u64 in host
 * byte order (both ends run on the same machine, from the same build). A string is u32 length
 * (UINT32_MAX: NULL), the bytes, a NUL; a string vector is u32 count (UINT32_MAX: NULL) and
 * its strings (none NULL); a byte string is u32 length and the bytes.
 *
 * It must not: trust the record (decoding checks every length against what is left). */
#ifndef KL_HOST_LINUX_MONITOR_SPEC_H
#define KL_HOST_LINUX_MONITOR_SPEC_H

#include <stddef.h>

#include "host/monitor.h"
#include "lib/buf.h"
#include "lib/error.h"

#define MON_SPEC_VERSION 4u
#define MON_SPEC_MAX (64u << 20) /* argv and env can be large; far above anything real */

/* Append the record of spec and filter (filter_len bytes of BPF instructions, may be 0). */
void monitor_spec_encode(const host_monitor_spec *spec, const void *filter, size_t filter_len,
                         kl_buf *out);

typedef struct monitor_spec_decoded {
    host_monitor_spec spec;
    const void *filter; /* into the buffer; NULL when filter_len is 0 */
    size_t filter_len;
    /* the arrays the spec points to, owned here (their strings are in the buffer) */
    char **argv, **env, **cap_add, **cap_drop, **unmount_on_exit, **denied_sources, **rootfs_layers;
    host_mount *mounts;
} monitor_spec_decoded;

/* Decode a record; the strings of out->spec point into data, which must outlive it. Stdio
 * fds of the container spec are set to -1. On error nothing needs freeing. */
int monitor_spec_decode(const unsigned char *data, size_t len, monitor_spec_decoded *out,
                        kl_error *err);
void monitor_spec_free(monitor_spec_decoded *d);

#endif
