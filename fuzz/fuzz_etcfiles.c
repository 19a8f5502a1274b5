/* libFuzzer target for etcfiles (engine/etcfiles.h): the input as an extra host, an alias, a
 * nameserver, an option and as the host's resolv.conf text. Any input gives a clean answer;
 * what the checks accept never puts a line break (a second line) into /etc/hosts or
 * /etc/resolv.conf. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/etcfiles.h"

static size_t lines(const char *t)
{
    size_t n = 0;
    for (; *t; t++)
        n += *t == '\n';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    kl_error err = KL_ERROR_INIT;
    size_t nlen;
    const char *addr;
    etcfiles_hosts base = {.hostname = "h"};
    char *plain = etcfiles_hosts_text(&base);
    size_t base_lines = lines(plain);
    free(plain);
    if (etcfiles_check_extra_host(s, &nlen, &addr, &err) == 0) {
        if (addr < s || addr > s + size || nlen == 0 || s[nlen] != ':')
            abort();
        char *extra[] = {s, NULL};
        etcfiles_hosts in = {.hostname = "h", .extra = extra};
        char *t = etcfiles_hosts_text(&in);
        if (lines(t) != base_lines + 1)
            abort();
        free(t);
    }
    err = (kl_error)KL_ERROR_INIT;
    if (etcfiles_check_name("alias", s, &err) == 0) {
        char *names[] = {s, NULL};
        etcfiles_peer p = {.ip = "10.0.0.2", .ip6 = "", .names = names};
        etcfiles_hosts in = {.hostname = s, .ip = "10.0.0.3", .peers = &p, .n_peers = 1};
        char *t = etcfiles_hosts_text(&in);
        if (lines(t) != base_lines + 2)
            abort();
        free(t);
    }
    err = (kl_error)KL_ERROR_INIT;
    bool ns_ok = etcfiles_check_nameserver(s, &err) == 0;
    err = (kl_error)KL_ERROR_INIT;
    bool opt_ok = etcfiles_check_option(s, &err) == 0;
    char *ns[] = {s, NULL}, *none[] = {NULL};
    char *t = etcfiles_resolv_text(s, ns_ok ? ns : NULL, NULL, opt_ok ? ns : none);
    (void)t;
    free(t);
    free(s);
    return 0;
}
