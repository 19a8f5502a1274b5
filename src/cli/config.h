/* klee connection configuration (KLEE-CLI.md §3): flags, environment, config file.
 *
 * Precedence: command-line flag > environment variable > config file > default. Each
 * layer is read into its own cli_config (unset fields NULL / -1) and merged with
 * config_merge(), which only fills what is still unset. Nothing here talks to the daemon. */
#ifndef KLEE_CONFIG_H
#define KLEE_CONFIG_H

#include "lib/error.h"

#define CLI_DEFAULT_HOST "http:///var/run/kleened.sock"
#define CLI_DEFAULT_THEME "fancy"

typedef struct cli_config {
    char *host;
    int tlsverify; /* -1 unset, 0 false, 1 true */
    char *tlscert;
    char *tlskey;
    char *tlscacert;
    char *theme; /* "fancy" or "simple" once validated */
} cli_config;

#define CLI_CONFIG_INIT                                                                            \
    {                                                                                              \
        NULL, -1, NULL, NULL, NULL, NULL                                                           \
    }

void config_free(cli_config *c);

/* Fill `dst`'s unset fields from `src` (copies). */
void config_merge(cli_config *dst, const cli_config *src);

/* Read KLEE_HOST, KLEE_THEME, KLEE_TLS_VERIFY ("true" in any case → 1, anything else 0),
 * KLEE_TLS_CACERT, KLEE_TLS_CERT (client cert), KLEE_TLS_KEY (and the original's
 * misspelling KLEE_TLS_KERY, used when KLEE_TLS_KEY is not set). */
void config_from_env(cli_config *out);

/* Parse one YAML config file (a mapping of host, tlsverify, tlscert, tlskey, tlscacert,
 * theme). Errors: ENOENT the file does not exist; EBADMSG not YAML or not a mapping
 * ("Error! Could not parse config at <path>"); EINVAL an unknown key, with the
 * original's message "Error! Config file <path> is not valid: parameter name '<key>'
 * unknown"; EIO unreadable. On error `out` is left untouched. */
int config_parse_file(const char *path, cli_config *out, kl_error *err);

/* The file search: with `explicit_path` (--config or KLEE_CONFIG) only that file;
 * otherwise the first existing file of `locations` (NULL-terminated; "~/" is expanded
 * with $HOME). A file that does not parse is reported in `*warnings` (strv, may be NULL
 * on entry) and the next one is tried. Returns 1 if a file was loaded (its path in
 * *used_path if non-NULL), 0 if none, -1 on an unknown key (EINVAL) or unreadable file. */
int config_load(const char *explicit_path, const char *const *locations, cli_config *out,
                char **used_path, char ***warnings, kl_error *err);

/* The default search list: ./klee_config.yaml, ~/.klee/klee_config.yaml,
 * /etc/klee/klee_config.yaml (Linux; /usr/local/etc/klee on the BSDs). */
extern const char *const config_default_locations[];

/* Parse a boolean the way YAML 1.1 does (true/false/yes/no/on/off, any case).
 * Returns 1, 0 or -1 if not a boolean. */
int config_parse_bool(const char *s);

/* 0 if theme is "fancy" or "simple", else -1 with an error. */
int config_check_theme(const char *theme, kl_error *err);

#endif
