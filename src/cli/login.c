/* `klee login` / `klee logout` (ours: docs/klee-differences.md "login, logout") and the
 * credentials pull and push send: Docker's CLI store (dockercfg.h), checked against the
 * registry by kleened (POST /auth, docs/api.md "Registry credentials"). */
#include "cli/cli.h"
#include "cli/dockercfg.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"
#include "registry/reference.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#define SECRET_MAX 16384

int cli_registry_auth(cli_ctx *ctx, const char *reference, json_t *config)
{
    oci_ref r;
    if (!reference || oci_ref_parse(reference, &r, NULL) < 0)
        return 0; /* kleened says what is wrong with it */
    dockercfg_cred c;
    kl_error err = KL_ERROR_INIT;
    int found = dockercfg_get(r.domain, &c, &err);
    oci_ref_clear(&r);
    if (found < 0) {
        cli_error(ctx, "%s", err.msg);
        return -1;
    }
    if (found > 0)
        json_object_set_new(
            config, "auth",
            json_pack("{s:s, s:s}", "username", c.username, "password", c.password));
    dockercfg_cred_clear(&c);
    return 0;
}

/* One line from stdin without its newline (at most SECRET_MAX bytes), echo off when it is a
 * terminal and `secret`. NULL at end of input. */
static char *read_line(bool secret)
{
    struct termios old, quiet;
    bool tty = secret && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    kl_buf b = KL_BUF_INIT;
    bool got = false;
    for (;;) {
        char ch;
        ssize_t n = read(STDIN_FILENO, &ch, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got = true;
        if (ch == '\n')
            break;
        if (b.len < SECRET_MAX)
            kl_buf_append(&b, &ch, 1);
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (!got) {
        kl_buf_free(&b);
        return NULL;
    }
    while (b.len && b.data[b.len - 1] == '\r')
        b.len--;
    char *s = xstrndup(b.data ? b.data : "", b.len);
    if (b.data)
        explicit_bzero(b.data, b.len);
    kl_buf_free(&b);
    return s;
}

/* All of stdin (--password-stdin), trailing newlines dropped. */
static char *read_all_stdin(void)
{
    kl_buf b = KL_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || b.len + (size_t)n > SECRET_MAX)
            break;
        kl_buf_append(&b, buf, (size_t)n);
    }
    explicit_bzero(buf, sizeof(buf));
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.len--;
    char *s = xstrndup(b.data ? b.data : "", b.len);
    if (b.data)
        explicit_bzero(b.data, b.len);
    kl_buf_free(&b);
    return s;
}

static void secret_free(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
    }
}

static const cli_option login_options[] = {
    {"username", 'u', "TEXT", "Username", NULL},
    {"password", 'p', "TEXT",
     "Password (insecure: it shows in the process list; prefer --password-stdin)", NULL},
    {"password-stdin", 0, NULL, "Take the password from stdin", NULL},
    {0},
};

static int login(cli_ctx *ctx, const cli_args *a)
{
    const char *server = a->npos ? a->pos[0] : OCI_REF_DEFAULT_DOMAIN;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *domain = oci_registry_normalize(server, &err);
    if (!domain) {
        cli_error(ctx, "%s", err.msg);
        return CLI_EXIT_USAGE;
    }
    const char *given_pass = cli_value(a, "password");
    bool from_stdin = cli_flag(a, "password-stdin");
    if (given_pass && from_stdin) {
        cli_error(ctx, "--password and --password-stdin are mutually exclusive");
        return CLI_EXIT_USAGE;
    }
    _cleanup_free_ char *user = cli_value(a, "username") ? xstrdup(cli_value(a, "username")) : NULL;
    if (from_stdin && !user) {
        cli_error(ctx, "--password-stdin needs --username");
        return CLI_EXIT_USAGE;
    }
    if (!user) {
        if (!isatty(STDIN_FILENO)) {
            cli_error(ctx, "cannot ask for a username: stdin is not a terminal (use --username)");
            return CLI_EXIT_FAILURE;
        }
        printf("Username: ");
        fflush(stdout);
        user = read_line(false);
    }
    if (!user || !*user) {
        cli_error(ctx, "a username is needed");
        return CLI_EXIT_FAILURE;
    }
    __attribute__((cleanup(secret_free))) char *pass = NULL;
    if (given_pass) {
        fprintf(stderr,
                "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
        pass = xstrdup(given_pass);
    } else if (from_stdin) {
        pass = read_all_stdin();
    } else {
        if (!isatty(STDIN_FILENO)) {
            cli_error(ctx, "cannot ask for a password: stdin is not a terminal "
                           "(use --password-stdin)");
            return CLI_EXIT_FAILURE;
        }
        printf("Password: ");
        fflush(stdout);
        pass = read_line(true);
    }
    if (!pass || !*pass) {
        cli_error(ctx, "a password is needed");
        return CLI_EXIT_FAILURE;
    }
    /* kleened asks the registry */
    _cleanup_json_ json_t *body =
        json_pack("{s:s, s:s, s:s}", "server_address", domain, "username", user, "password", pass);
    if (!body) {
        cli_error(ctx, "the username and password must be UTF-8");
        return CLI_EXIT_FAILURE;
    }
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "POST", "/auth", body, &resp);
    const char *p = jx_str(body, "password", NULL);
    if (p)
        explicit_bzero((char *)p, strlen(p));
    int rc = CLI_EXIT_OK;
    if (status == 404) {
        cli_error(ctx, "this kleened cannot check registry credentials (no POST /auth): "
                       "nothing was stored");
        rc = CLI_EXIT_FAILURE;
    } else if (status != 200) {
        rc = status < 0 ? CLI_EXIT_FAILURE : cli_print_server_error(ctx, &resp);
    }
    http_response_free(&resp);
    if (rc != CLI_EXIT_OK)
        return rc;
    _cleanup_free_ char *where = NULL;
    if (dockercfg_store(domain, user, pass, &where, &err) < 0) {
        cli_error(ctx, "the login worked, but storing the credentials failed: %s", err.msg);
        return CLI_EXIT_FAILURE;
    }
    if (where[0] == '/')
        fprintf(stderr, "WARNING! Your password will be stored unencrypted in %s.\n", where);
    else
        printf("Credentials stored in %s.\n", where);
    printf("Login Succeeded\n");
    return CLI_EXIT_OK;
}

static int logout(cli_ctx *ctx, const cli_args *a)
{
    const char *server = a->npos ? a->pos[0] : OCI_REF_DEFAULT_DOMAIN;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *domain = oci_registry_normalize(server, &err);
    if (!domain) {
        cli_error(ctx, "%s", err.msg);
        return CLI_EXIT_USAGE;
    }
    int r = dockercfg_erase(domain, &err);
    if (r < 0) {
        cli_error(ctx, "%s", err.msg);
        return CLI_EXIT_FAILURE;
    }
    if (r == 0)
        printf("Not logged in to %s\n", domain);
    else
        printf("Removing login credentials for %s\n", domain);
    return CLI_EXIT_OK;
}

const cli_command cli_system_login = {
    .name = "login",
    .args_usage = "[SERVER]",
    .short_help = "Log in to a registry.",
    .help = "Log in to the registry SERVER (HOST[:PORT]; default: Docker Hub). kleened checks "
            "the credentials against the registry, then they are stored as Docker's CLI stores "
            "them ($DOCKER_CONFIG/config.json or ~/.docker/config.json, or the credential "
            "helper it names), so existing logins work both ways. pull and push send them.",
    .options = login_options,
    .max_args = 1,
    .run = login,
};

const cli_command cli_system_logout = {
    .name = "logout",
    .args_usage = "[SERVER]",
    .short_help = "Log out from a registry.",
    .help = "Remove the stored credentials of the registry SERVER (default: Docker Hub).",
    .max_args = 1,
    .run = logout,
};

/* ---- builds ----------------------------------------------------------------------------- */

static bool word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && !strncasecmp(w, kw, n);
}

char **cli_dockerfile_registries(const char *text)
{
    char **stages = NULL, **domains = NULL;
    _cleanup_buf_ kl_buf line = KL_BUF_INIT;
    const char *p = text ? text : "";
    while (*p) {
        /* one logical line: physical lines joined at a trailing backslash */
        kl_buf_reset(&line);
        for (;;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            const char *end = p + n;
            while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            bool cont = end > p && end[-1] == '\\';
            kl_buf_append(&line, p, (size_t)(end - p) - (cont ? 1 : 0));
            p = nl ? nl + 1 : p + n;
            if (!cont || !*p)
                break;
            kl_buf_append(&line, " ", 1);
        }
        kl_buf_append(&line, "", 1);
        /* words */
        char *words[16];
        size_t nw = 0;
        char *save = NULL;
        for (char *w = strtok_r(line.data, " \t", &save); w && nw < 16;
             w = strtok_r(NULL, " \t", &save))
            words[nw++] = w;
        if (nw < 2 || words[0][0] == '#')
            continue;
        const char *image = NULL;
        if (word_is(words[0], strlen(words[0]), "FROM")) {
            size_t i = 1;
            while (i < nw && !strncmp(words[i], "--", 2))
                i++;
            if (i < nw)
                image = words[i];
            if (i + 2 < nw && word_is(words[i + 1], strlen(words[i + 1]), "AS"))
                strv_push(&stages, words[i + 2]);
        } else if (word_is(words[0], strlen(words[0]), "COPY")) {
            for (size_t i = 1; i < nw && !strncmp(words[i], "--", 2); i++)
                if (!strncmp(words[i], "--from=", 7))
                    image = words[i] + 7;
        }
        if (!image || strchr(image, '$') || !strcasecmp(image, "scratch"))
            continue;
        bool is_stage = false;
        for (size_t i = 0; stages && stages[i]; i++)
            is_stage |= !strcasecmp(stages[i], image);
        if (is_stage || strspn(image, "0123456789") == strlen(image))
            continue;
        oci_ref r;
        if (oci_ref_parse(image, &r, NULL) < 0)
            continue;
        bool seen = false;
        for (size_t i = 0; domains && domains[i]; i++)
            seen |= !strcmp(domains[i], r.domain);
        if (!seen)
            strv_push(&domains, r.domain);
        oci_ref_clear(&r);
    }
    strv_free(stages);
    return domains;
}

int cli_registry_auths(cli_ctx *ctx, char *const *domains, json_t *config)
{
    json_t *auths = NULL;
    for (size_t i = 0; domains && domains[i]; i++) {
        dockercfg_cred c;
        kl_error err = KL_ERROR_INIT;
        int found = dockercfg_get(domains[i], &c, &err);
        if (found < 0) {
            cli_error(ctx, "%s", err.msg);
            json_decref(auths);
            return -1;
        }
        if (found > 0) {
            if (!auths)
                auths = json_object();
            json_object_set_new(
                auths, domains[i],
                json_pack("{s:s, s:s}", "username", c.username, "password", c.password));
        }
        dockercfg_cred_clear(&c);
    }
    if (auths)
        json_object_set_new(config, "registry_auth", auths);
    return 0;
}
