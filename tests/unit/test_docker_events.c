/* The Docker door's rendering of engine events (src/api/docker/events.c dk_event_json): Docker's
 * message shape, 64-hex ids of containers and networks, "sha256:" image ids (a pulled
 * reference kept as it is), 64-hex container and exec ids in attributes, "/" before an old
 * name, the exec action texts, and the legacy fields only for containers and images. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/docker/dk.h"
#include "engine/events.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

static json_t *render(const char *type, const char *action, const char *actor, ...)
{
    event ev = {.seq = 1, .time_ns = 1796660015076456289LL};
    snprintf(ev.type, sizeof(ev.type), "%s", type);
    snprintf(ev.action, sizeof(ev.action), "%s", action);
    ev.actor = xstrdup(actor);
    va_list ap;
    va_start(ap, actor);
    for (const char *k; (k = va_arg(ap, const char *));) {
        strv_push(&ev.attrs, k);
        strv_push(&ev.attrs, va_arg(ap, const char *));
    }
    va_end(ap);
    if (!ev.attrs)
        ev.attrs = xcalloc(1, sizeof(char *));
    json_t *j = dk_event_json(&ev);
    event_clear(&ev);
    return j;
}

static const char *attr(const json_t *j, const char *k)
{
    return jx_str(json_object_get(json_object_get(j, "Actor"), "Attributes"), k, NULL);
}

static void test_container_event(void **state)
{
    (void)state;
    _cleanup_json_ json_t *j = render("container", "die", "0123456789ab", "name", "web", "image",
                                      "bb", "exitCode", "3", NULL);
    char lid[DK_ID_LEN + 1];
    dk_long_id("container", "0123456789ab", lid);
    assert_string_equal(jx_str(j, "Type", ""), "container");
    assert_string_equal(jx_str(j, "Action", ""), "die");
    assert_string_equal(jx_str(json_object_get(j, "Actor"), "ID", ""), lid);
    assert_string_equal(attr(j, "exitCode"), "3");
    assert_string_equal(jx_str(j, "scope", ""), "local");
    assert_int_equal(jx_int(j, "time", 0), 1796660015);
    assert_true(jx_int(j, "timeNano", 0) == 1796660015076456289LL);
    assert_string_equal(jx_str(j, "status", ""), "die");
    assert_string_equal(jx_str(j, "id", ""), lid);
    assert_string_equal(jx_str(j, "from", ""), "bb");
}

static void test_exec_and_rename(void **state)
{
    (void)state;
    _cleanup_json_ json_t *x = render("container", "exec_create", "0123456789ab", "execID",
                                      "ba9876543210", "exec_cmd", "sh -c ls", NULL);
    assert_string_equal(jx_str(x, "Action", ""), "exec_create: sh -c ls");
    assert_string_equal(jx_str(x, "status", ""), "exec_create: sh -c ls");
    assert_null(attr(x, "exec_cmd"));
    char lid[DK_ID_LEN + 1];
    dk_long_id("exec", "ba9876543210", lid);
    assert_string_equal(attr(x, "execID"), lid);
    _cleanup_json_ json_t *d = render("container", "exec_die", "0123456789ab", "execID",
                                      "ba9876543210", "exec_cmd", "sh", "exitCode", "2", NULL);
    assert_string_equal(jx_str(d, "Action", ""), "exec_die");
    _cleanup_json_ json_t *r =
        render("container", "rename", "0123456789ab", "name", "new", "oldName", "old", NULL);
    assert_string_equal(attr(r, "oldName"), "/old");
}

static void test_other_types(void **state)
{
    (void)state;
    char lid[DK_ID_LEN + 1];
    _cleanup_json_ json_t *i = render("image", "tag", "0123456789ab", "name", "bb:v1", NULL);
    dk_long_id("image", "0123456789ab", lid);
    _cleanup_free_ char *sha = xasprintf("sha256:%s", lid);
    assert_string_equal(jx_str(json_object_get(i, "Actor"), "ID", ""), sha);
    assert_string_equal(jx_str(i, "id", ""), sha);
    assert_null(json_object_get(i, "from"));
    _cleanup_json_ json_t *p = render("image", "pull", "busybox:latest", "name", "busybox:latest",
                                      "id", "0123456789ab", NULL);
    assert_string_equal(jx_str(json_object_get(p, "Actor"), "ID", ""), "busybox:latest");
    assert_null(attr(p, "id"));
    _cleanup_json_ json_t *n = render("network", "connect", "0123456789ab", "container",
                                      "ba9876543210", "name", "net", NULL);
    dk_long_id("network", "0123456789ab", lid);
    assert_string_equal(jx_str(json_object_get(n, "Actor"), "ID", ""), lid);
    dk_long_id("container", "ba9876543210", lid);
    assert_string_equal(attr(n, "container"), lid);
    assert_null(json_object_get(n, "status"));
    _cleanup_json_ json_t *v = render("volume", "create", "data", "driver", "local", NULL);
    assert_string_equal(jx_str(json_object_get(v, "Actor"), "ID", ""), "data");
    assert_null(json_object_get(v, "id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_event),
        cmocka_unit_test(test_exec_and_rename),
        cmocka_unit_test(test_other_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
