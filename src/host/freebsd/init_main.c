/* kleene-init: `kleened init` of a FreeBSD host (init.h), run by `service kleened init`.
 *
 *   kleene-init [-n|--dry-run] [-y|--yes] [--root DATASET] [--pf-conf PATH] [--anchor NAME]
 *               [--replay GOLDEN]
 *
 * Looks at the host, prints what it would change, asks for a confirmation (unless --yes)
 * and does it. --dry-run stops after the plan (the original's `dryinit`). --replay runs
 * against a golden file of the layer's tests instead of the host (tests/freebsd).
 * Exit status: 0 done or nothing to do, 1 error, 3 declined. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host/freebsd/init.h"
#include "host/freebsd/replay.h"

static int usage(void)
{
    fprintf(stderr, "usage: kleene-init [-n|--dry-run] [-y|--yes] [--root DATASET] "
                    "[--pf-conf PATH] [--anchor NAME]\n");
    return 1;
}

int main(int argc, char **argv)
{
    bool dry = false, yes = false;
    const char *root = "zroot/kleene", *pf_conf = "/etc/pf.conf", *anchor = "kleene";
    const char *replay = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-n") || !strcmp(a, "--dry-run"))
            dry = true;
        else if (!strcmp(a, "-y") || !strcmp(a, "--yes"))
            yes = true;
        else if (!strcmp(a, "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(a, "--pf-conf") && i + 1 < argc)
            pf_conf = argv[++i];
        else if (!strcmp(a, "--anchor") && i + 1 < argc)
            anchor = argv[++i];
        else if (!strcmp(a, "--replay") && i + 1 < argc)
            replay = argv[++i];
        else
            return usage();
    }
    if (!fb_dataset_is_valid(root) || !fb_component_is_valid(anchor) || pf_conf[0] != '/') {
        fprintf(stderr, "kleene-init: invalid --root, --anchor or --pf-conf\n");
        return 1;
    }
    kl_error err = KL_ERROR_INIT;
    fb_runner *run = replay ? fb_replay_new(replay, &err) : fb_runner_spawn_new();
    if (!run) {
        fprintf(stderr, "kleene-init: %s\n", err.msg);
        return 1;
    }
    fb_host h = {.run = run, .root = root, .pf_anchor = anchor};
    fb_init_plan plan;
    printf("Verifying the host for Kleene (root dataset %s, pf anchor \"%s\")...\n", root, anchor);
    int rc = 0;
    if (fb_init_check(&h, pf_conf, &plan, &err) < 0) {
        fprintf(stderr, "kleene-init: %s\n", err.msg);
        rc = 1;
    } else if (plan.n == 0) {
        printf("Nothing to do: the host is ready for Kleene.\n");
    } else {
        printf("kleene-init would:\n");
        for (size_t i = 0; i < plan.n; i++)
            printf("  %zu. %s\n", i + 1, plan.steps[i].what);
        if (!dry) {
            char answer[16] = "";
            if (!yes) {
                printf("Apply these changes? [y/N] ");
                fflush(stdout);
                if (!fgets(answer, sizeof(answer), stdin))
                    answer[0] = '\0';
            }
            if (yes || answer[0] == 'y' || answer[0] == 'Y') {
                if (fb_init_apply(&h, &plan, &err) < 0) {
                    fprintf(stderr, "kleene-init: %s\n", err.msg);
                    rc = 1;
                } else {
                    printf("Done.\n");
                }
            } else {
                printf("Nothing changed.\n");
                rc = 3;
            }
        }
        fb_init_plan_free(&plan);
    }
    if (replay && rc != 1) {
        if (fb_replay_finish(run, &err) < 0) {
            fprintf(stderr, "kleene-init: %s\n", err.msg);
            rc = 1;
        }
    }
    fb_runner_free(run);
    return rc;
}
