/* Published port conflicts: which PublishedPort pairs claim a common host port, the holder of
 * a port bound on the host (a socket of this test), and the /proc/net line parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/portclaim.h"
#include "host/net.h"
#include "lib/cleanup.h"

static json_t *port(const char *ifs, const char *host, const char *proto)
{
    return json_pack("{s:o, s:s, s:s, s:s}", "interfaces", json_loads(ifs, 0, NULL), "host_port",
                     host, "container_port", "80", "protocol", proto);
}

static bool overlap(const char *ifa, const char *ha, const char *pa, const char *ifb,
                    const char *hb, const char *pb)
{
    _cleanup_json_ json_t *a = port(ifa, ha, pa);
    _cleanup_json_ json_t *b = port(ifb, hb, pb);
    bool r = portclaim_overlap(a, b);
    assert_int_equal(r, portclaim_overlap(b, a)); /* symmetric */
    return r;
}

static void test_overlap(void **state)
{
    (void)state;
    assert_true(overlap("[]", "8080", "tcp", "[]", "8080", "tcp"));
    assert_false(overlap("[]", "8080", "tcp", "[]", "8080", "udp"));
    assert_false(overlap("[]", "8080", "tcp", "[]", "8081", "tcp"));
    /* ranges */
    assert_true(overlap("[]", "8000:8010", "tcp", "[]", "8010", "tcp"));
    assert_false(overlap("[]", "8000:8010", "tcp", "[]", "8011:8020", "tcp"));
    /* interfaces: [] is every interface */
    assert_true(overlap("[\"eth0\"]", "80", "tcp", "[]", "80", "tcp"));
    assert_true(overlap("[\"eth0\",\"eth1\"]", "80", "tcp", "[\"eth1\"]", "80", "tcp"));
    assert_false(overlap("[\"eth0\"]", "80", "tcp", "[\"eth1\"]", "80", "tcp"));
    /* malformed: no claim */
    assert_false(overlap("[]", "x", "tcp", "[]", "80", "tcp"));
}

static void test_proc_line(void **state)
{
    (void)state;
    unsigned long ino = 0;
    const char *l4 = "   3: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
                     "00000000     0        0 123456 1 0000000000000000 100 0 0 10 0";
    assert_int_equal(host_proc_net_inode(l4, 8080, &ino), 1);
    assert_int_equal(ino, 123456);
    assert_int_equal(host_proc_net_inode(l4, 8081, &ino), 0);
    const char *l6 = "   0: 00000000000000000000000000000000:0035 "
                     "00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 "
                     "00000000     0        0 777 2 0000000000000000 0";
    assert_int_equal(host_proc_net_inode(l6, 53, &ino), 1);
    assert_int_equal(ino, 777);
    assert_int_equal(host_proc_net_inode("  sl  local_address rem_address   st", 0, &ino), 0);
    assert_int_equal(host_proc_net_inode("", 80, &ino), 0);
}

static void test_holder_is_named(void **state)
{
    (void)state;
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    uint16_t p = ntohs(a.sin_port);
    char who[128];
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_port_holder("tcp", p, who, sizeof(who), &err), 1);
    char want[64];
    snprintf(want, sizeof(want), "(pid %d)", (int)getpid());
    if (!strstr(who, want))
        fail_msg("holder '%s' does not name this test (%s)", who, want);
    /* udp on the same number is another port */
    int r = host_port_holder("udp", p, who, sizeof(who), &err);
    assert_true(r == 0 || r == 1); /* someone else may hold it; no error */
    close(fd);
    fd = -1;
    assert_int_equal(host_port_holder("tcp", p, who, sizeof(who), &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_proc_line),
        cmocka_unit_test(test_holder_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
