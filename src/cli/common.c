/* Helpers shared by every klee command: the HTTP client of the context, requests with
 * the original's connection/timeout messages, and printing of ids, lists, JSON, tables,
 * errors and the prune confirmation. Command files should not print errors themselves. */
#include "cli/cli.h"
#include "cli/format.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

static void vline(FILE *f, bool styled, const char *style, const char *fmt, va_list ap)
{
    if (styled)
        fprintf(f, "\033[%sm", style);
    vfprintf(f, fmt, ap);
    if (styled)
        fputs("\033[0m", f);
    fputc('\n', f);
}

void cli_error(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    vline(stderr, ctx && ctx->err_color, "1;31", fmt, ap);
    va_end(ap);
}

void cli_message(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(stdout, ctx && ctx->out.color, "1", fmt, ap);
    va_end(ap);
}

http_client *cli_http(cli_ctx *ctx)
{
    if (ctx->http)
        return ctx->http;
    http_target t = {0};
    kl_error err = KL_ERROR_INIT;
    const char *host = ctx->config.host ? ctx->config.host : CLI_DEFAULT_HOST;
    if (http_target_parse(host, &t, &err) < 0) {
        if (err.code == EPROTONOSUPPORT)
            cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        else
            cli_error(ctx, "%s", err.msg);
        return NULL;
    }
    http_tls tls = {
        .verify = ctx->config.tlsverify,
        .cacert = ctx->config.tlscacert,
        .cert = ctx->config.tlscert,
        .key = ctx->config.tlskey,
    };
    ctx->http = http_client_new(&t, &tls, ctx->timeout_s, &err);
    http_target_free(&t);
    if (!ctx->http)
        cli_error(ctx, "%s", err.msg);
    return ctx->http;
}

long cli_request(cli_ctx *ctx, const char *method, const char *path, const json_t *body,
                 http_response *resp)
{
    http_client *c = cli_http(ctx);
    if (!c)
        return -1;
    _cleanup_free_ char *json = body ? jx_dump(body) : NULL;
    kl_error err = KL_ERROR_INIT;
    if (http_request(c, method, path, json, resp, &err) < 0) {
        if (err.code == ETIMEDOUT)
            cli_error(ctx, "Error! Timed out while waiting for Kleene to respond.");
        else
            cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        return -1;
    }
    return resp->status;
}

json_t *cli_response_json(const http_response *resp)
{
    if (!resp->body || resp->len == 0)
        return NULL;
    return json_loadb(resp->body, resp->len, JSON_DECODE_ANY, NULL);
}

int cli_call(cli_ctx *ctx, const char *method, const char *path, const json_t *body, long ok_status,
             cli_printer print)
{
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, method, path, body, &resp);
    int rc = status < 0            ? CLI_EXIT_FAILURE
             : status != ok_status ? cli_print_server_error(ctx, &resp)
             : print               ? print(ctx, &resp)
                                   : CLI_EXIT_OK;
    http_response_free(&resp);
    return rc;
}

int cli_remove_each(cli_ctx *ctx, const char *prefix, char *const *idents, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *ident = cli_path_escape(idents[i]);
        _cleanup_free_ char *path = xasprintf("%s/%s", prefix, ident);
        int rc = cli_call(ctx, "DELETE", path, NULL, 200, cli_print_id);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    return CLI_EXIT_OK;
}

int cli_print_server_error(cli_ctx *ctx, const http_response *resp)
{
    _cleanup_json_ json_t *j = cli_response_json(resp);
    const char *msg = jx_str(j, "message", NULL);
    json_t *errors = json_is_object(j) ? json_object_get(j, "errors") : NULL;
    if (msg) {
        cli_error(ctx, "%s", msg);
    } else if (json_is_array(errors) && json_array_size(errors) > 0) {
        /* 422 validation errors: {"errors":[{"title","source":{"pointer"},"detail"}]} */
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            const char *ptr = jx_str(json_object_get(e, "source"), "pointer", NULL);
            const char *detail = jx_str(e, "detail", jx_str(e, "title", "invalid request"));
            if (ptr)
                cli_error(ctx, "%s: %s", ptr, detail);
            else
                cli_error(ctx, "%s", detail);
        }
    } else if (resp->status >= 500) {
        cli_error(ctx, "unknown backend error");
    } else {
        cli_error(ctx, "unrecognized status-code received from kleened: %ld", resp->status);
    }
    return CLI_EXIT_FAILURE;
}

int cli_print_id(cli_ctx *ctx, const http_response *resp)
{
    _cleanup_json_ json_t *j = cli_response_json(resp);
    const char *id = jx_str(j, "id", NULL);
    if (!id) {
        cli_error(ctx, "unexpected reply from kleened: %s", resp->body ? resp->body : "");
        return CLI_EXIT_FAILURE;
    }
    cli_message(ctx, "%s", id);
    return CLI_EXIT_OK;
}

int cli_print_id_list(cli_ctx *ctx, const http_response *resp)
{
    _cleanup_json_ json_t *j = cli_response_json(resp);
    if (!json_is_array(j)) {
        cli_error(ctx, "unexpected reply from kleened: %s", resp->body ? resp->body : "");
        return CLI_EXIT_FAILURE;
    }
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        if (json_is_string(v))
            printf("%s\n", json_string_value(v));
    }
    return CLI_EXIT_OK;
}

int cli_print_json(cli_ctx *ctx, const http_response *resp)
{
    _cleanup_json_ json_t *j = cli_response_json(resp);
    if (!j) {
        cli_error(ctx, "unexpected reply from kleened: %s", resp->body ? resp->body : "");
        return CLI_EXIT_FAILURE;
    }
    _cleanup_free_ char *s = render_json_pretty(j);
    fputs(s, stdout);
    return CLI_EXIT_OK;
}

void cli_print_table(cli_ctx *ctx, const render_column *cols, size_t ncols, char *const *cells,
                     size_t nrows)
{
    _cleanup_free_ char *s = render_table(cols, ncols, cells, nrows, &ctx->out);
    fputs(s, stdout);
}

bool cli_confirm(cli_ctx *ctx, const char *warning)
{
    printf("%s\n", warning);
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    for (;;) {
        printf("Are you sure you want to continue? [y/N]: ");
        fflush(stdout);
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            fputc('\n', stdout);
            break;
        }
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            line[--n] = '\0';
        if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0)
            return true;
        if (n == 0 || strcasecmp(line, "n") == 0 || strcasecmp(line, "no") == 0)
            break;
        printf("Error: invalid input\n");
    }
    fflush(stdout);
    fprintf(stderr, "Aborted!\n");
    return false;
}

int cli_prune(cli_ctx *ctx, const char *path, const char *warning, bool force)
{
    if (!force && !cli_confirm(ctx, warning))
        return CLI_EXIT_FAILURE;
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "POST", path, NULL, &resp);
    int rc;
    if (status < 0)
        rc = CLI_EXIT_FAILURE;
    else if (status == 200)
        rc = cli_print_id_list(ctx, &resp);
    else
        rc = cli_print_server_error(ctx, &resp);
    http_response_free(&resp);
    return rc;
}

char *cli_path_escape(const char *segment)
{
    static const char hex[] = "0123456789ABCDEF";
    kl_buf b = KL_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)segment; *p; p++) {
        if (isalnum(*p) || strchr("-._~:@", *p)) {
            kl_buf_append(&b, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            kl_buf_append(&b, esc, 3);
        }
    }
    return kl_buf_steal(&b);
}

double cli_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- listings ---- */

int cli_print_listing(cli_ctx *ctx, const cli_args *a, const json_t *list, const cli_listing *l)
{
    if (!json_is_array(list)) {
        cli_error(ctx, "unexpected reply from kleened: not a list");
        return CLI_EXIT_FAILURE;
    }
    const char *tmpl = cli_value(a, "format");
    size_t n = json_array_size(list);
    if (cli_flag(a, "quiet")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", jx_str(json_array_get(list, i), l->id_key, ""));
        return CLI_EXIT_OK;
    }
    double now = cli_now();
    if (tmpl && strcmp(tmpl, "json") != 0) {
        kl_error err = KL_ERROR_INIT;
        if (format_check(tmpl, &err) < 0) {
            cli_error(ctx, "Error: invalid --format: %s", err.msg);
            return CLI_EXIT_USAGE;
        }
        const char *body;
        if (format_is_table(tmpl, &body)) {
            _cleanup_free_ char *h = format_header(body);
            printf("%s\n", h);
        }
        _cleanup_free_ char **cells = xcalloc(l->stride + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            json_t *obj = json_array_get(list, i);
            l->row(obj, now, cells);
            _cleanup_json_ json_t *fields = json_deep_copy(obj);
            for (size_t c = 0; c < l->stride; c++) {
                json_object_set_new(fields, l->fields[c], json_string(cells[c] ? cells[c] : ""));
                free(cells[c]);
                cells[c] = NULL;
            }
            _cleanup_free_ char *line = format_render(body, fields, &err);
            if (!line) {
                cli_error(ctx, "%s", err.msg);
                return CLI_EXIT_FAILURE;
            }
            printf("%s\n", line);
        }
        return CLI_EXIT_OK;
    }
    if (tmpl) { /* json: one object per line, the API's fields and the table's */
        _cleanup_free_ char **cells = xcalloc(l->stride + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            json_t *obj = json_array_get(list, i);
            l->row(obj, now, cells);
            _cleanup_json_ json_t *fields = json_deep_copy(obj);
            for (size_t c = 0; c < l->stride; c++) {
                json_object_set_new(fields, l->fields[c], json_string(cells[c] ? cells[c] : ""));
                free(cells[c]);
                cells[c] = NULL;
            }
            _cleanup_free_ char *s = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
            printf("%s\n", s ? s : "{}");
        }
        return CLI_EXIT_OK;
    }
    char **all = xcalloc(l->stride * n + 1, sizeof(char *));
    char **shown = xcalloc(l->ncols * n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        l->row(json_array_get(list, i), now, all + l->stride * i);
        for (size_t c = 0; c < l->stride; c++) {
            if (c < l->ncols)
                shown[l->ncols * i + c] = all[l->stride * i + c];
            else
                free(all[l->stride * i + c]);
        }
    }
    free(all);
    cli_print_table(ctx, l->cols, l->ncols, shown, n);
    strv_free(shown);
    return CLI_EXIT_OK;
}

int cli_list(cli_ctx *ctx, const cli_args *a, const char *path, const cli_listing *l)
{
    http_response resp = HTTP_RESPONSE_INIT;
    long status = cli_request(ctx, "GET", path, NULL, &resp);
    int rc = CLI_EXIT_FAILURE;
    if (status == 200) {
        _cleanup_json_ json_t *list = cli_response_json(&resp);
        rc = cli_print_listing(ctx, a, list, l);
    } else if (status >= 0) {
        rc = cli_print_server_error(ctx, &resp);
    }
    http_response_free(&resp);
    return rc;
}

int cli_add_labels(const cli_args *a, const char *prog, const char *args_usage, json_t *body)
{
    char *const *v = cli_values(a, "label");
    if (!v || !v[0])
        return 0;
    _cleanup_json_ json_t *labels = json_object();
    for (size_t i = 0; v[i]; i++) {
        kl_error err = KL_ERROR_INIT;
        if (kl_labels_add_assignment(labels, v[i], &err) < 0)
            return cli_usage_error(prog, args_usage, "Invalid value for '--label': %s", err.msg);
    }
    json_object_set(body, "labels", labels);
    return 0;
}
