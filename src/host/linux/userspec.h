/* Resolve a container user spec ("name", "name:group", "uid", "uid:gid", "") against the
 * container's OWN /etc/passwd and /etc/group, parsed here (never getpwnam(), which would read
 * the host's files or load NSS modules into a process that sits inside the container).
 *
 * Rules (Docker's): "" = root. A name must exist in passwd; a numeric uid need not (then gid 0,
 * home "/"). A group part replaces the primary gid (name looked up in group, or numeric).
 * Supplementary groups: every group in /etc/group that lists the user's name as a member.
 * Ids are 0..4294967294. Files larger than USERSPEC_MAX_FILE are refused. */
#ifndef KL_HOST_LINUX_USERSPEC_H
#define KL_HOST_LINUX_USERSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define USERSPEC_MAX_FILE (4 * 1024 * 1024)
#define USERSPEC_MAX_GROUPS 64

typedef struct userspec_result {
    uint32_t uid, gid;
    uint32_t groups[USERSPEC_MAX_GROUPS]; /* supplementary, without duplicates */
    size_t n_groups;
    char name[256];  /* "" when the uid has no passwd entry */
    char home[1024]; /* "/" when unknown */
    char shell[256]; /* "/bin/sh" when unknown */
} userspec_result;

/* Pure: `passwd`/`group` are file contents (NULL = file missing). */
int userspec_resolve_text(const char *spec, const char *passwd, const char *group,
                          userspec_result *out, kl_error *err);

/* Read etc/passwd and etc/group below `rootfd` (resolved inside it: RESOLVE_IN_ROOT). */
int userspec_resolve_at(int rootfd, const char *spec, userspec_result *out, kl_error *err);

#endif
