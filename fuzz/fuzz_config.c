/* libFuzzer target for daemon/config: arbitrary bytes as a config file, and as a listener
 * address. Beyond "no crash, no leak", it checks the promises of config.h on every input:
 * a success is a complete, consistent config; a failure leaves `out` zeroed with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "lib/xalloc.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void check_listener(const kl_listener_config *l)
{
    CHECK(l->address);
    if (l->kind == KL_LISTEN_UNIX) {
        CHECK(l->path && l->path[0] == '/' && !l->host && l->port == 0);
        CHECK(strlen(l->path) < 108);
    } else {
        CHECK(l->kind == KL_LISTEN_TCP4 || l->kind == KL_LISTEN_TCP6);
        CHECK(l->host && !l->path && l->port >= 1 && l->port <= 65535);
    }
}

static void check_config(const kl_config *c)
{
    CHECK(c->kleene_root && c->kleene_root[0] == '/');
    CHECK(c->run_root && c->run_root[0] == '/');
    CHECK(c->pidfile && c->pidfile[0] == '/');
    CHECK(c->log_file && c->log_file[0] == '/');
    CHECK(c->nat_if && strlen(c->nat_if) <= 15);
    CHECK(c->pf_config_template_path && c->pf_config_path);
    CHECK(c->log_level >= 0 && c->log_level <= 7);
    CHECK(c->max_body_bytes >= 1024 && c->max_header_bytes >= 1024 && c->request_timeout >= 1);
    CHECK(c->n_listeners >= 1 && c->listeners);
    for (size_t i = 0; i < c->n_listeners; i++) {
        const kl_listener_config *l = &c->listeners[i];
        check_listener(l);
        if (l->tls)
            CHECK(l->tlscert && (l->tlskey || l->key_in_cert));
        else
            CHECK(!l->tlscert && !l->tlskey && !l->tlsdh && !l->tlscacert && !l->tlsverify);
        if (l->tlsverify)
            CHECK(l->tlscacert);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kl_config c;
    kl_error err = KL_ERROR_INIT;
    if (kl_config_parse((const char *)data, size, "fuzz", &c, &err) == 0) {
        CHECK(!kl_error_is_set(&err));
        check_config(&c);
        kl_config_free(&c);
    } else {
        CHECK(err.code != 0 && err.msg[0] != '\0');
        CHECK(!c.listeners && !c.kleene_root && !c.warnings);
    }

    char *uri = xstrndup((const char *)data, size);
    kl_listener_config l;
    kl_error aerr = KL_ERROR_INIT;
    if (kl_listen_address_parse(uri, &l, &aerr) == 0) {
        check_listener(&l);
        CHECK(!strcmp(l.address, uri));
        kl_listener_config_clear(&l);
    } else {
        CHECK(aerr.code != 0);
    }
    free(uri);
    return 0;
}
