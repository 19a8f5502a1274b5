/* Registry access settings and credentials (registry.h). */
#include "engine/registry.h"

#include <errno.h>
#include <string.h>

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int registry_credentials_check(const char *username, const char *password, kl_error *err)
{
    bool user = username && *username, pass = password && *password;
    if (!user && pass)
        return kl_error_set(err, EINVAL, "registry credentials: a password without a username");
    if (!user)
        return 0;
    if (strlen(username) > REGISTRY_USERNAME_MAX)
        return kl_error_set(err, EINVAL, "registry credentials: the username is longer than %d",
                            REGISTRY_USERNAME_MAX);
    if (strchr(username, ':'))
        return kl_error_set(err, EINVAL, "registry credentials: the username contains ':'");
    if (has_control(username))
        return kl_error_set(err, EINVAL,
                            "registry credentials: the username contains control characters");
    if (pass && strlen(password) > REGISTRY_PASSWORD_MAX)
        return kl_error_set(err, EINVAL, "registry credentials: the password is longer than %d",
                            REGISTRY_PASSWORD_MAX);
    if (pass && has_control(password))
        return kl_error_set(err, EINVAL,
                            "registry credentials: the password contains control characters");
    return 0;
}
