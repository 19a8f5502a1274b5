/* TLS over GnuTLS loaded on demand (see tls.h). Only GnuTLS's headers are used at build time;
 * every function is reached through the table below, resolved once with dlsym. */
#include "api/tls.h"
#include "lib/dl.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

static struct {
    int (*global_init)(void);
    const char *(*strerror)(int);
    int (*error_is_fatal)(int);
    int (*certificate_allocate_credentials)(gnutls_certificate_credentials_t *);
    void (*certificate_free_credentials)(gnutls_certificate_credentials_t);
    int (*certificate_set_x509_key_file)(gnutls_certificate_credentials_t, const char *,
                                         const char *, gnutls_x509_crt_fmt_t);
    int (*certificate_set_x509_trust_file)(gnutls_certificate_credentials_t, const char *,
                                           gnutls_x509_crt_fmt_t);
    void (*certificate_set_verify_function)(gnutls_certificate_credentials_t,
                                            gnutls_certificate_verify_function *);
    int (*certificate_verify_peers2)(gnutls_session_t, unsigned int *);
    void (*certificate_server_set_request)(gnutls_session_t, gnutls_certificate_request_t);
    void (*certificate_set_dh_params)(gnutls_certificate_credentials_t, gnutls_dh_params_t);
    int (*dh_params_init)(gnutls_dh_params_t *);
    void (*dh_params_deinit)(gnutls_dh_params_t);
    int (*dh_params_import_pkcs3)(gnutls_dh_params_t, const gnutls_datum_t *,
                                  gnutls_x509_crt_fmt_t);
    int (*load_file)(const char *, gnutls_datum_t *);
    int (*init)(gnutls_session_t *, unsigned int);
    void (*deinit)(gnutls_session_t);
    int (*set_default_priority)(gnutls_session_t);
    int (*credentials_set)(gnutls_session_t, gnutls_credentials_type_t, void *);
    void (*transport_set_int2)(gnutls_session_t, int, int);
    int (*handshake)(gnutls_session_t);
    int (*record_get_direction)(gnutls_session_t);
    ssize_t (*record_recv)(gnutls_session_t, void *, size_t);
    ssize_t (*record_send)(gnutls_session_t, const void *, size_t);
    size_t (*record_check_pending)(gnutls_session_t);
    int (*bye)(gnutls_session_t, gnutls_close_request_t);
    int (*alert_send_appropriate)(gnutls_session_t, int);
} G;
/* gnutls_free is a variable that holds a function pointer: its address. */
static gnutls_free_function *gnutls_free_var;

static const kl_dl_sym syms[] = {
    {"gnutls_global_init", (void **)&G.global_init},
    {"gnutls_strerror", (void **)&G.strerror},
    {"gnutls_error_is_fatal", (void **)&G.error_is_fatal},
    {"gnutls_certificate_allocate_credentials", (void **)&G.certificate_allocate_credentials},
    {"gnutls_certificate_free_credentials", (void **)&G.certificate_free_credentials},
    {"gnutls_certificate_set_x509_key_file", (void **)&G.certificate_set_x509_key_file},
    {"gnutls_certificate_set_x509_trust_file", (void **)&G.certificate_set_x509_trust_file},
    {"gnutls_certificate_set_verify_function", (void **)&G.certificate_set_verify_function},
    {"gnutls_certificate_verify_peers2", (void **)&G.certificate_verify_peers2},
    {"gnutls_certificate_server_set_request", (void **)&G.certificate_server_set_request},
    {"gnutls_certificate_set_dh_params", (void **)&G.certificate_set_dh_params},
    {"gnutls_dh_params_init", (void **)&G.dh_params_init},
    {"gnutls_dh_params_deinit", (void **)&G.dh_params_deinit},
    {"gnutls_dh_params_import_pkcs3", (void **)&G.dh_params_import_pkcs3},
    {"gnutls_load_file", (void **)&G.load_file},
    {"gnutls_init", (void **)&G.init},
    {"gnutls_deinit", (void **)&G.deinit},
    {"gnutls_set_default_priority", (void **)&G.set_default_priority},
    {"gnutls_credentials_set", (void **)&G.credentials_set},
    {"gnutls_transport_set_int2", (void **)&G.transport_set_int2},
    {"gnutls_handshake", (void **)&G.handshake},
    {"gnutls_record_get_direction", (void **)&G.record_get_direction},
    {"gnutls_record_recv", (void **)&G.record_recv},
    {"gnutls_record_send", (void **)&G.record_send},
    {"gnutls_record_check_pending", (void **)&G.record_check_pending},
    {"gnutls_bye", (void **)&G.bye},
    {"gnutls_alert_send_appropriate", (void **)&G.alert_send_appropriate},
    {"gnutls_free", (void **)&gnutls_free_var},
};

static int init(kl_error *err)
{
    int r = G.global_init();
    if (r < 0)
        return kl_error_set(err, EIO, "initialising GnuTLS: %s", G.strerror(r));
    return 0;
}

static kl_dl_lib lib = KL_DL_LIB("libgnutls.so.30", "libgnutls30", syms, init);

struct api_tls_server {
    gnutls_certificate_credentials_t cred;
    gnutls_dh_params_t dh;
    bool verify;
};

struct api_tls_conn {
    gnutls_session_t session;
};

/* Called by GnuTLS when the client's certificate arrives: a certificate that does not verify
 * against the trusted CAs fails the handshake. */
static int verify_peer(gnutls_session_t session)
{
    unsigned int status = 0;
    int r = G.certificate_verify_peers2(session, &status);
    if (r < 0 || status != 0) {
        log_info("TLS: refused a client certificate that does not verify (status 0x%x)", status);
        return -1;
    }
    return 0;
}

api_tls_server *api_tls_server_new(const api_tls_config *conf, kl_error *err)
{
    if (kl_dl_load(&lib, "https listeners need GnuTLS", err) < 0)
        return NULL;
    int r;

    api_tls_server *s = xcalloc(1, sizeof(*s));
    s->verify = conf->verify;
    if ((r = G.certificate_allocate_credentials(&s->cred)) < 0) {
        kl_error_set(err, ENOMEM, "TLS credentials: %s", G.strerror(r));
        free(s);
        return NULL;
    }
    const char *key = conf->key ? conf->key : conf->cert;
    r = G.certificate_set_x509_key_file(s->cred, conf->cert, key, GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        kl_error_set(err, EINVAL, "loading certificate %s and key %s: %s", conf->cert, key,
                     G.strerror(r));
        goto fail;
    }
    if (conf->cacert) {
        r = G.certificate_set_x509_trust_file(s->cred, conf->cacert, GNUTLS_X509_FMT_PEM);
        if (r <= 0) {
            kl_error_set(err, EINVAL, "loading CA certificates from %s: %s", conf->cacert,
                         r < 0 ? G.strerror(r) : "no certificate found");
            goto fail;
        }
    }
    if (conf->verify)
        G.certificate_set_verify_function(s->cred, verify_peer);
    if (conf->dh) {
        gnutls_datum_t data = {0};
        if ((r = G.load_file(conf->dh, &data)) < 0) {
            kl_error_set(err, EINVAL, "reading %s: %s", conf->dh, G.strerror(r));
            goto fail;
        }
        G.dh_params_init(&s->dh);
        r = G.dh_params_import_pkcs3(s->dh, &data, GNUTLS_X509_FMT_PEM);
        (*gnutls_free_var)(data.data);
        if (r < 0) {
            kl_error_set(err, EINVAL, "DH parameters in %s: %s", conf->dh, G.strerror(r));
            goto fail;
        }
        G.certificate_set_dh_params(s->cred, s->dh);
    }
    return s;
fail:
    api_tls_server_free(s);
    return NULL;
}

void api_tls_server_free(api_tls_server *s)
{
    if (!s)
        return;
    if (s->cred)
        G.certificate_free_credentials(s->cred);
    if (s->dh)
        G.dh_params_deinit(s->dh);
    free(s);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

api_tls_conn *api_tls_accept(api_tls_server *s, int fd, int timeout_ms, kl_error *err)
{
    gnutls_session_t session;
    int r = G.init(&session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (r < 0) {
        kl_error_set(err, ENOMEM, "TLS session: %s", G.strerror(r));
        return NULL;
    }
    if ((r = G.set_default_priority(session)) < 0 ||
        (r = G.credentials_set(session, GNUTLS_CRD_CERTIFICATE, s->cred)) < 0) {
        kl_error_set(err, EIO, "TLS session: %s", G.strerror(r));
        G.deinit(session);
        return NULL;
    }
    G.certificate_server_set_request(session, s->verify ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_IGNORE);
    G.transport_set_int2(session, fd, fd);

    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        r = G.handshake(session);
        if (r == GNUTLS_E_SUCCESS)
            break;
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED && G.error_is_fatal(r)) {
            kl_error_set(err, EPROTO, "TLS handshake: %s", G.strerror(r));
            /* Tell the client why (certificate required, unknown CA ...), best effort. */
            G.alert_send_appropriate(session, r);
            G.deinit(session);
            return NULL;
        }
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd,
                             .events = G.record_get_direction(session) ? POLLOUT : POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            kl_error_set(err, ETIMEDOUT, "TLS handshake: timed out");
            G.deinit(session);
            return NULL;
        }
    }
    api_tls_conn *c = xcalloc(1, sizeof(*c));
    c->session = session;
    return c;
}

static ssize_t map_error(ssize_t r)
{
    if (r >= 0)
        return r;
    switch (r) {
    case GNUTLS_E_AGAIN:
    case GNUTLS_E_INTERRUPTED:
        errno = EAGAIN;
        break;
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_PUSH_ERROR:
    case GNUTLS_E_PULL_ERROR:
        errno = ECONNRESET;
        break;
    default:
        errno = EIO;
        break;
    }
    return -1;
}

ssize_t api_tls_read(api_tls_conn *c, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = G.record_recv(c->session, buf, n);
        /* A warning alert is not the end of the stream; renegotiation is refused (EIO). */
        if (r == GNUTLS_E_WARNING_ALERT_RECEIVED)
            continue;
        return map_error(r);
    }
}

ssize_t api_tls_write(api_tls_conn *c, const void *buf, size_t n)
{
    return map_error(G.record_send(c->session, buf, n));
}

bool api_tls_pending(api_tls_conn *c)
{
    return G.record_check_pending(c->session) > 0;
}

void api_tls_close(api_tls_conn *c)
{
    if (!c)
        return;
    G.bye(c->session, GNUTLS_SHUT_WR); /* non-blocking: best effort */
    G.deinit(c->session);
    free(c);
}
