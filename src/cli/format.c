/* --format templates of klee's ls commands (see format.h). */
#include "cli/format.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

/* One {{...}} action: a field (NULL = the whole object, ".") and whether json was asked. */
typedef struct action {
    char field[128];
    bool is_whole;
    bool is_json;
} action;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Parse the text between "{{" and "}}". */
static int parse_action(const char *p, const char *end, action *a, kl_error *err)
{
    *a = (action){0};
    const char *start = p;
    p = skip_ws(p, end);
    if ((size_t)(end - p) > 4 && !strncmp(p, "json", 4) && (p[4] == ' ' || p[4] == '\t')) {
        a->is_json = true;
        p = skip_ws(p + 4, end);
    }
    if (p >= end || *p != '.')
        return kl_error_set(err, EINVAL, "template: '{{%.*s}}': expected {{.Field}}",
                            (int)(end - start), start);
    p++;
    const char *name = p;
    while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    size_t n = (size_t)(p - name);
    if (skip_ws(p, end) != end || n >= sizeof(a->field))
        return kl_error_set(err, EINVAL, "template: '{{%.*s}}': expected {{.Field}}",
                            (int)(end - start), start);
    a->is_whole = n == 0;
    memcpy(a->field, name, n);
    a->field[n] = '\0';
    return 0;
}

static const json_t *lookup(const json_t *o, const char *field)
{
    const json_t *v = json_object_get(o, field);
    if (v)
        return v;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)o, k, x)
    {
        if (!strcasecmp(k, field))
            return x;
    }
    return NULL;
}

static void put_value(kl_buf *b, const json_t *v, bool as_json)
{
    if (!as_json) {
        if (json_is_string(v)) {
            kl_buf_puts(b, json_string_value(v));
            return;
        }
        if (json_is_null(v))
            return;
        if (json_is_array(v)) {
            bool all_strings = true;
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) all_strings = all_strings && json_is_string(x);
            if (all_strings) {
                json_array_foreach(v, i, x)
                {
                    kl_buf_printf(b, "%s%s", i ? ", " : "", json_string_value(x));
                }
                return;
            }
        }
    }
    _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    kl_buf_puts(b, s ? s : "null");
}

/* Walk the template: literal text (escapes applied) goes to `b`; each action is handed to
 * `on_action`. */
typedef int (*action_fn)(kl_buf *b, const action *a, const json_t *o, kl_error *err);

static int walk(const char *t, kl_buf *b, action_fn on_action, const json_t *o, kl_error *err)
{
    for (const char *p = t; *p;) {
        if (p[0] == '{' && p[1] == '{') {
            const char *close = strstr(p + 2, "}}");
            if (!close)
                return kl_error_set(err, EINVAL, "template: unclosed '{{' in '%s'", t);
            action a;
            if (parse_action(p + 2, close, &a, err) < 0)
                return -1;
            if (on_action(b, &a, o, err) < 0)
                return -1;
            p = close + 2;
            continue;
        }
        if (p[0] == '\\' && (p[1] == 't' || p[1] == 'n' || p[1] == '\\')) {
            kl_buf_append(b, p[1] == 't' ? "\t" : p[1] == 'n' ? "\n" : "\\", 1);
            p += 2;
            continue;
        }
        kl_buf_append(b, p, 1);
        p++;
    }
    return 0;
}

static int check_action(kl_buf *b, const action *a, const json_t *o, kl_error *err)
{
    (void)b, (void)a, (void)o, (void)err;
    return 0;
}

static int render_action(kl_buf *b, const action *a, const json_t *o, kl_error *err)
{
    if (a->is_whole) {
        put_value(b, o, true);
        return 0;
    }
    const json_t *v = lookup(o, a->field);
    if (!v)
        return kl_error_set(err, ENOENT, "template: no field '%s'", a->field);
    put_value(b, v, a->is_json);
    return 0;
}

static int header_action(kl_buf *b, const action *a, const json_t *o, kl_error *err)
{
    (void)o, (void)err;
    if (a->is_whole) {
        kl_buf_puts(b, "OBJECT");
        return 0;
    }
    for (const char *p = a->field; *p; p++) {
        char c = (char)toupper((unsigned char)*p);
        kl_buf_append(b, c == '_' ? " " : &c, 1);
    }
    return 0;
}

int format_check(const char *tmpl, kl_error *err)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    const char *body;
    format_is_table(tmpl, &body);
    return walk(body, &b, check_action, NULL, err);
}

bool format_is_table(const char *tmpl, const char **body)
{
    if (!strncmp(tmpl, "table ", 6) || !strcmp(tmpl, "table")) {
        *body = tmpl[5] ? tmpl + 6 : tmpl + 5;
        return true;
    }
    *body = tmpl;
    return false;
}

char *format_render(const char *body, const json_t *object, kl_error *err)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    if (walk(body, &b, render_action, object, err) < 0)
        return NULL;
    kl_buf_append(&b, "", 1);
    return kl_buf_steal(&b);
}

char *format_header(const char *body)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    kl_error err = KL_ERROR_INIT;
    if (walk(body, &b, header_action, NULL, &err) < 0)
        return xstrdup("");
    kl_buf_append(&b, "", 1);
    return kl_buf_steal(&b);
}
