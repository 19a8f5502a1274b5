/* Capabilities of container processes: Docker's default set, bounding-set drop, no inheritable
 * or ambient capabilities. Must not be used outside the freshly forked container children. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "host/linux/internal.h"

static const int docker_default[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

uint64_t caps_default_mask(void)
{
    uint64_t m = 0;
    for (size_t i = 0; i < sizeof(docker_default) / sizeof(docker_default[0]); i++)
        m |= 1ULL << docker_default[i];
    return m;
}

static int cap_by_name(const char *name, int *cap, kl_error *err)
{
    char buf[64];
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    if (strlen(name) + 5 > sizeof(buf))
        return kl_error_set(err, EINVAL, "unknown capability '%s'", name);
    strcpy(buf, "cap_");
    for (size_t i = 0; name[i]; i++)
        buf[4 + i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    buf[4 + strlen(name)] = '\0';
    cap_value_t v;
    if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
        return kl_error_set(err, EINVAL, "unknown capability '%s'", name);
    *cap = v;
    return 0;
}

int caps_compute(char *const *add, char *const *drop, bool no_raw_sockets, uint64_t *mask,
                 kl_error *err)
{
    uint64_t m = caps_default_mask();
    uint64_t all = 0;
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        all |= 1ULL << c;
    for (char *const *p = drop; p && *p; p++) {
        int c;
        if (strcasecmp(*p, "ALL") == 0) {
            m = 0;
            continue;
        }
        if (cap_by_name(*p, &c, err) < 0)
            return -1;
        m &= ~(1ULL << c);
    }
    if (no_raw_sockets)
        m &= ~(1ULL << CAP_NET_RAW);
    for (char *const *p = add; p && *p; p++) {
        int c;
        if (strcasecmp(*p, "ALL") == 0) {
            m = all;
            continue;
        }
        if (cap_by_name(*p, &c, err) < 0)
            return -1;
        m |= 1ULL << c;
    }
    *mask = m & all;
    return 0;
}

int caps_limit_bounding(uint64_t mask, kl_error *err)
{
    /* Running kernels may know more capabilities than our headers: probe upwards. */
    for (int c = 0; c < 64; c++) {
        if (mask & (1ULL << c))
            continue;
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0)
            break; /* EINVAL: past the kernel's last capability */
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            return kl_error_errno(err, errno, "dropping capability %d from the bounding set", c);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return kl_error_errno(err, errno, "clearing ambient capabilities");
    return 0;
}

int caps_set_final(uint64_t mask, bool is_root, kl_error *err)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (is_root) {
        data[0].effective = data[0].permitted = (uint32_t)mask;
        data[1].effective = data[1].permitted = (uint32_t)(mask >> 32);
    }
    if (capset(&hdr, data) < 0)
        return kl_error_errno(err, errno, "setting capabilities");
    return 0;
}

/* ---- full containers: the five sets as given ---------------------------------------------- */

int full_caps_parse(const host_full_process *p, uint64_t masks[HOST_CAP_SETS], kl_error *err)
{
    static const char *const set_names[] = {"bounding", "effective", "permitted", "inheritable",
                                            "ambient"};
    for (int s = 0; s < HOST_CAP_SETS; s++) {
        masks[s] = 0;
        for (char *const *n = p->caps[s]; n && *n; n++) {
            int c;
            if (strncasecmp(*n, "CAP_", 4) != 0 || cap_by_name(*n, &c, err) < 0)
                return kl_error_set(err, EINVAL, "capabilities.%s: unknown capability '%.64s'",
                                    set_names[s], *n);
            masks[s] |= 1ULL << c;
        }
    }
    return 0;
}

int full_caps_apply(const uint64_t masks[HOST_CAP_SETS], kl_error *err)
{
    /* Only what the running kernel knows: a newer name in the config is no error. */
    uint64_t known = 0;
    for (int c = 0; c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
        known |= 1ULL << c;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    uint64_t e = masks[HOST_CAP_EFFECTIVE] & known, pm = masks[HOST_CAP_PERMITTED] & known,
             in = masks[HOST_CAP_INHERITABLE] & known;
    data[0].effective = (uint32_t)e;
    data[1].effective = (uint32_t)(e >> 32);
    data[0].permitted = (uint32_t)pm;
    data[1].permitted = (uint32_t)(pm >> 32);
    data[0].inheritable = (uint32_t)in;
    data[1].inheritable = (uint32_t)(in >> 32);
    if (capset(&hdr, data) < 0)
        return kl_error_errno(err, errno, "setting capabilities");
    for (int c = 0; c < 64; c++)
        if ((masks[HOST_CAP_AMBIENT] & known) & (1ULL << c))
            /* Only a capability both permitted and inheritable can be ambient; configs often
             * list ambient ones without the inheritable set (runc's default does): as runc,
             * those are skipped. */
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EPERM)
                return kl_error_errno(err, errno, "raising ambient capability %d", c);
    return 0;
}

int full_caps_check(const uint64_t masks[HOST_CAP_SETS], kl_error *err)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (capget(&hdr, data) < 0)
        return kl_error_errno(err, errno, "reading our capabilities");
    uint64_t have = data[0].permitted | ((uint64_t)data[1].permitted << 32);
    uint64_t known = 0;
    for (int c = 0; c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
        known |= 1ULL << c;
    static const int sets[] = {HOST_CAP_EFFECTIVE, HOST_CAP_PERMITTED, HOST_CAP_INHERITABLE,
                               HOST_CAP_AMBIENT};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        uint64_t missing = masks[sets[i]] & known & ~have;
        if (!missing)
            continue;
        int c = __builtin_ctzll(missing);
        char *name = cap_to_name(c);
        kl_error_set(err, EPERM,
                     "capability %s is not available: the runtime itself does not have it (its "
                     "bounding set lacks it)",
                     name ? name : "?");
        cap_free(name);
        return -1;
    }
    return 0;
}
