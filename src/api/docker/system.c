/* The Docker door's system endpoints: /_ping (GET, HEAD), /version, /info. */
#include "api/docker/dk.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/images.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Go's name of the machine (what docker clients compare with image platforms). */
static const char *go_arch(const char *machine)
{
    if (!strcmp(machine, "x86_64"))
        return "amd64";
    if (!strcmp(machine, "aarch64"))
        return "arm64";
    if (!strncmp(machine, "armv", 4))
        return "arm";
    if (!strcmp(machine, "i686") || !strcmp(machine, "i386"))
        return "386";
    return machine;
}

void dk_ping(dk_request *r, api_response *res)
{
    (void)r;
    api_response_clear(res);
    res->status = 200;
    res->text = xstrdup("OK");
    res->content_type = "text/plain; charset=utf-8";
    char *h = xasprintf("%sBuilder-Version: 1\r\nCache-Control: no-cache, no-store, "
                        "must-revalidate\r\nPragma: no-cache\r\n",
                        res->headers ? res->headers : "");
    free(res->headers);
    res->headers = h;
}

void dk_version(dk_request *r, api_response *res)
{
    (void)r;
    struct utsname u;
    uname(&u);
    json_t *details = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ApiVersion", DK_API_VERSION,
                                "MinAPIVersion", DK_API_MIN_VERSION, "Os", "linux", "Arch",
                                go_arch(u.machine), "KernelVersion", u.release);
    json_t *engine = json_pack("{s:s, s:s, s:o}", "Name", "Engine", "Version", KLEENE_VERSION,
                               "Details", details);
    api_reply_json(res, 200,
                   json_pack("{s:{s:s}, s:[o], s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                             "Platform", "Name", "Kleene", "Components", engine, "Version",
                             KLEENE_VERSION, "ApiVersion", DK_API_VERSION, "MinAPIVersion",
                             DK_API_MIN_VERSION, "GitCommit", "", "GoVersion", "", "Os", "linux",
                             "Arch", go_arch(u.machine), "KernelVersion", u.release, "BuildTime",
                             ""));
}

void dk_info(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *cs = containers_list(e, true, &err);
    if (!cs)
        return dk_error(res, 500, "%s", err.msg);
    _cleanup_json_ json_t *imgs = images_list(e, &err);
    if (!imgs)
        return dk_error(res, 500, "%s", err.msg);
    size_t running = 0, i;
    json_t *c;
    json_array_foreach(cs, i, c) running += jx_bool(c, "running", false);
    struct utsname u;
    uname(&u);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long long mem = (long long)sysconf(_SC_PHYS_PAGES) * (long long)sysconf(_SC_PAGESIZE);
    char id[DK_ID_LEN + 1];
    dk_long_id("daemon", "000000000000", id);
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:[], s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s,"
        " s:s, s:s, s:s, s:b, s:b, s:b, s:b}",
        "ID", id, "Containers", (json_int_t)json_array_size(cs), "ContainersRunning",
        (json_int_t)running, "ContainersPaused", (json_int_t)0, "ContainersStopped",
        (json_int_t)(json_array_size(cs) - running), "Images", (json_int_t)json_array_size(imgs),
        "Driver", "overlay", "DriverStatus", "Name", host, "ServerVersion", KLEENE_VERSION,
        "OperatingSystem", "Kleene (kleened)", "OSType", "linux", "Architecture", u.machine,
        "KernelVersion", u.release, "NCPU", (json_int_t)ncpu, "MemTotal", (json_int_t)mem,
        "DockerRootDir", e->root, "LoggingDriver", "json-file", "CgroupDriver", "cgroupfs",
        "DefaultRuntime", "kleene", "MemoryLimit", 1, "SwapLimit", 0, "Debug", 0,
        "ExperimentalBuild", 0);
    json_object_set_new(j, "Plugins",
                        json_pack("{s:[s], s:[s,s,s], s:[s], s:[]}", "Volume", "local", "Network",
                                  "bridge", "host", "null", "Log", "json-file", "Authorization"));
    json_object_set_new(j, "Runtimes", json_pack("{s:{s:s}}", "kleene", "path", "kleened"));
    json_object_set_new(j, "Swarm",
                        json_pack("{s:s, s:s, s:b}", "LocalNodeState", "inactive", "NodeID", "",
                                  "ControlAvailable", 0));
    json_object_set_new(j, "SecurityOptions", json_pack("[s]", "name=seccomp,profile=default"));
    json_object_set_new(j, "Labels", json_array());
    json_object_set_new(j, "Warnings", json_array());
    api_reply_json(res, 200, j);
}
