/* TLS for kleened's https listeners, over GnuTLS loaded with dlopen the first time an https
 * listener is configured: a daemon without one never maps GnuTLS and its libraries (about
 * 2.3 MB of resident memory). With tlsverify, a client must present a certificate that
 * verifies against tlscacert, or the handshake fails (the client gets a TLS alert, never an
 * HTTP answer). */
#ifndef KL_API_TLS_H
#define KL_API_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

typedef struct api_tls_server api_tls_server;
typedef struct api_tls_conn api_tls_conn;

typedef struct api_tls_config {
    const char *cert;   /* PEM certificate (chain) */
    const char *key;    /* PEM key; NULL: the key is in the cert file */
    const char *cacert; /* trusted CAs for client certificates */
    const char *dh;     /* PKCS#3 DH parameters, optional */
    bool verify;        /* require a client certificate that verifies against cacert */
} api_tls_config;

/* Load GnuTLS (once) and the listener's credentials. Errors name the file at fault. */
api_tls_server *api_tls_server_new(const api_tls_config *conf, kl_error *err);
void api_tls_server_free(api_tls_server *s);

/* Run the server handshake on a connected non-blocking socket, for at most timeout_ms.
 * The fd stays the caller's. */
api_tls_conn *api_tls_accept(api_tls_server *s, int fd, int timeout_ms, kl_error *err);

/* Non-blocking record I/O: the byte count (read: 0 at the peer's close), or -1 with errno
 * (EAGAIN: poll the fd, then call again with the same arguments; ECONNRESET, EIO ...). */
ssize_t api_tls_read(api_tls_conn *c, void *buf, size_t n);
ssize_t api_tls_write(api_tls_conn *c, const void *buf, size_t n);
/* Decrypted bytes buffered inside GnuTLS (poll would not see them). */
bool api_tls_pending(api_tls_conn *c);
/* Send close_notify (without waiting) and free the session. */
void api_tls_close(api_tls_conn *c);

#endif
