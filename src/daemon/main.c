/* kleened: reads its config, takes the pidfile, opens the engine, serves the API on every
 * configured socket, and shuts down cleanly on SIGTERM/SIGINT. */
#include "api/docker/docker.h"
#include "api/server.h"
#include "daemon/config.h"
#include "engine/endwatch.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/networks.h"
#include "host/host.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: kleened [-c CONFIG] [-d]\n"
               "\n"
               "The Kleene daemon: serves the Kleene API on the sockets of its config.\n"
               "\n"
               "Options:\n"
               "  -c, --config PATH  config file (default " KL_CONFIG_DEFAULT_PATH
               "; a missing default file means all defaults)\n"
               "  -d, --debug        log at debug level, whatever the config says\n"
               "  -h, --help         this help\n"
               "  -V, --version      print the version\n");
}

/* The pidfile is taken with an exclusive lock held for the daemon's life, so a second kleened
 * on the same pidfile refuses to start, and a stale file from a crash is simply reused. */
static int pidfile_take(const char *path, kl_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening pidfile %s", path);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n > 0)
            buf[strcspn(buf, "\n")] = '\0';
        return kl_error_set(err, EBUSY, "another kleened holds %s (pid %s)", path,
                            n > 0 ? buf : "?");
    }
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len)
        return kl_error_errno(err, errno, "writing pidfile %s", path);
    return steal_fd(&fd);
}

/* The Kleene API's listeners, then the Docker door's (docker_listening_sockets). */
static api_listener *listeners_from_config(const kl_config *c, size_t *n)
{
    *n = c->n_listeners + c->n_docker_listeners;
    api_listener *ls = xcalloc(*n ? *n : 1, sizeof(*ls));
    for (size_t i = 0; i < *n; i++) {
        bool docker = i >= c->n_listeners;
        const kl_listener_config *l =
            docker ? &c->docker_listeners[i - c->n_listeners] : &c->listeners[i];
        ls[i] = (api_listener){
            .address = l->address,
            .kind = l->kind == KL_LISTEN_UNIX   ? API_LISTEN_UNIX
                    : l->kind == KL_LISTEN_TCP6 ? API_LISTEN_TCP6
                                                : API_LISTEN_TCP4,
            .path = l->path,
            .host = l->host,
            .port = l->port,
            .tls = l->tls,
            .tlscert = l->tlscert,
            .tlskey = l->tlskey,
            .tlscacert = l->tlscacert,
            .tlsdh = l->tlsdh,
            .tlsverify = l->tlsverify,
            .door = docker ? docker_serve : NULL,
            .door_streams = docker ? docker_streams_body : NULL,
        };
    }
    return ls;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool debug = false;
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"debug", no_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:dhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'd':
            debug = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("kleened %s\n", KLEENE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kleened: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    /* A daemon keeps no descriptor it did not open itself: an inherited pipe (a test runner's,
     * a shell's) would otherwise stay open as long as kleened and its monitors live. */
    close_range(3, ~0U, 0);
    /* One thread per connection would otherwise give each a malloc arena of its own, whose
     * pages stay resident after the connection is gone. One arena: malloc_trim() gives back
     * the free top of the main heap only (another arena's top stays resident up to the trim
     * threshold), and kleened's threads spend their time in syscalls and SQLite, not in
     * malloc. Fixed thresholds: glibc would otherwise raise both after a large block is freed
     * (up to 32 MB kept at the top of the heap). Measured in issue 12 item 9 (docs/api.md,
     * "Memory after load"). */
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
    mallopt(M_TRIM_THRESHOLD, 256 << 10);
#endif

    kl_error err = KL_ERROR_INIT;
    kl_config config = {0};
    if (kl_config_load(config_path, &config, &err) < 0) {
        fprintf(stderr, "kleened: %s\n", err.msg);
        return 1;
    }
    kl_log_set_level(debug ? KL_LOG_DEBUG : (kl_log_level)config.log_level);
    if (config.enable_logging && kl_log_set_file(config.log_file, &err) < 0) {
        fprintf(stderr, "kleened: %s\n", err.msg);
        kl_config_free(&config);
        return 1;
    }
    log_info("config: %s", config.source ? config.source : "none found, using defaults");
    for (char **w = config.warnings; w && *w; w++)
        log_warn("config: %s", *w);

    /* Signals are taken synchronously by the main thread; every other thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    int pidfd = pidfile_take(config.pidfile, &err);
    if (pidfd < 0) {
        log_error("%s", err.msg);
        kl_config_free(&config);
        return 1;
    }
    host_layer_config hcfg = {.zfs_root = config.zfs_root, .pf_anchor = config.pf_anchor};
    kl_engine *engine = host_layer_setup(&hcfg, &err) < 0
                            ? NULL
                            : engine_open(config.kleene_root, config.run_root, &err);
    if (!engine) {
        log_error("opening %s: %s", config.kleene_root, err.msg);
    } else {
        /* Networks before the API: bridges, forwarding and the firewall as stored. */
        networks_set_nat_if(engine, config.nat_if);
        engine->dataset_root = xstrdup(config.zfs_dataset_root);
        engine->registry_certs_dir = xstrdup(config.registry_certs_dir);
        engine->registry_push_chunk_size = config.registry_push_chunk_size;
        for (size_t i = 0; config.insecure_registries && config.insecure_registries[i]; i++)
            strv_push(&engine->insecure_registries, config.insecure_registries[i]);
        kl_error nerr = KL_ERROR_INIT;
        if (networks_init(engine, &nerr) < 0)
            log_warn("networks: %s", nerr.msg);
        kl_error werr = KL_ERROR_INIT;
        engine->endwatch = endwatch_start(engine, exec_container_gone, &werr);
        if (!engine->endwatch)
            log_warn("%s: detached containers that end by themselves keep their published "
                     "ports until the next firewall change",
                     werr.msg);
        api_ctx ctx = {.engine = engine,
                       .max_body_bytes = config.max_body_bytes,
                       .ws_idle_timeout = config.websocket_idle_timeout,
                       .on_idle = engine_release_memory};
        size_t n_ls;
        _cleanup_free_ api_listener *ls = listeners_from_config(&config, &n_ls);
        api_server_limits limits = {.max_header_bytes = config.max_header_bytes,
                                    .request_timeout = config.request_timeout,
                                    .request_head_timeout = config.request_head_timeout,
                                    .max_connections_per_peer = config.max_connections_per_peer};
        api_server *srv = api_server_start(ls, n_ls, &ctx, &limits, &err);
        if (!srv) {
            log_error("%s", err.msg);
        } else {
            log_info("kleened %s started (pid %d, root %s)", KLEENE_VERSION, (int)getpid(),
                     config.kleene_root);
            if (!config_path && access(KL_CONFIG_DEFAULT_PATH, F_OK) != 0)
                log_info("no " KL_CONFIG_DEFAULT_PATH ": using the built-in defaults");
            /* Containers whose monitors outlived a previous kleened run on; their ended execs
             * are marked, and restart_policy on-startup containers are started (API.md 2.1
             * step 8). Monitors are double-forked away and their intermediate children reaped
             * by host_monitor_start, so kleened is no subreaper: containers survive it. */
            if (exec_recover(engine, &err) < 0)
                log_error("recovering containers: %s", err.msg);
            int sig = 0;
            for (;;) {
                if (sigwait(&sigs, &sig) != 0)
                    continue;
                if (sig == SIGHUP) {
                    log_info("SIGHUP: nothing to reload yet; restart kleened to apply config");
                    continue;
                }
                break;
            }
            log_info("received %s, shutting down", strsignal(sig));
            api_server_stop(srv);
            networks_shutdown(engine);
            rc = 0;
        }
        engine_close(engine);
    }
    unlink(config.pidfile);
    close(pidfd);
    kl_config_free(&config);
    log_info("kleened stopped");
    return rc;
}
