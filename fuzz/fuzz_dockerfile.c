/* libFuzzer target for the Dockerfile parser, the substitution and the .dockerignore matcher:
 * any input must give a clean result or a clean error (never a crash, leak or hang), and a
 * parsed Dockerfile's pieces must be consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dockerfile.h"
#include "lib/dockerignore.h"
#include "lib/xalloc.h"

static const char *lookup(const char *name, void *ctx)
{
    (void)ctx;
    return name[0] == 'a' ? "va$lue" : name[0] == 'e' ? "" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    dockerfile df;
    kl_error err = KL_ERROR_INIT;
    unsigned line = 0;
    if (dockerfile_parse(s, &df, &line, &err) == 0) {
        dockerfile_state st;
        char *bargs[] = {"a=1", "b", NULL};
        dockerfile_state_init(&st, bargs);
        for (size_t i = 0; i < df.n; i++) {
            const dockerfile_instr *in = &df.instrs[i];
            if (!in->line || !in->args || in->lineno == 0 || strv_len(in->args) != in->n_args)
                abort();
            if (in->kind == DOCKERFILE_COPY && (!in->copy_dest || !in->copy_sources[0]))
                abort();
            if (in->kind == DOCKERFILE_FROM && !in->from_ref)
                abort();
            kl_error e = KL_ERROR_INIT;
            char **v = dockerfile_expand_args(in, dockerfile_state_lookup, &st, &e);
            if (!v && !strstr(e.msg, "failed environment substition of: "))
                abort();
            size_t n = 0;
            dockerfile_kv *kv = dockerfile_expand_pairs(in, dockerfile_state_lookup, &st, &n, &e);
            for (size_t k = 0; kv && k < n; k++) {
                if (in->kind == DOCKERFILE_ARG)
                    dockerfile_state_declare_arg(&st, kv[k].key, kv[k].value);
                else if (in->kind == DOCKERFILE_ENV)
                    dockerfile_state_set_env(&st, kv[k].key, kv[k].value);
            }
            dockerfile_kv_free(kv, n);
            if (in->kind == DOCKERFILE_FROM)
                dockerfile_state_begin_stage(&st, NULL, NULL);
            if (v && in->kind == DOCKERFILE_WORKDIR) {
                dockerfile_state_set_workdir(&st, v[0]);
                if (st.workdir[0] != '/')
                    abort();
            }
            if (v && in->kind == DOCKERFILE_COPY) {
                char *d = dockerfile_copy_dest(st.workdir, v[in->n_args - 1]);
                if (d[0] != '/')
                    abort();
                free(d);
            }
            if (in->kind == DOCKERFILE_CMD)
                dockerfile_state_set_cmd(&st, in->args);
            if (in->kind == DOCKERFILE_ENTRYPOINT)
                dockerfile_state_set_entrypoint(&st, in->args, in->is_exec_form);
            strv_free(v);
        }
        strv_free(dockerfile_state_run_env(&st));
        strv_free(dockerfile_effective_cmd(st.entrypoint, st.is_entrypoint_shell, st.cmd, NULL));
        dockerfile_state_clear(&st);
        dockerfile_clear(&df);
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }

    kl_error e2 = KL_ERROR_INIT;
    char *sub = dockerfile_substitute(s, lookup, NULL, &e2);
    if (!sub && (e2.code == 0 || !e2.msg[0]))
        abort();
    free(sub);

    /* the input as a .dockerignore, matched against its own lines */
    kl_error e3 = KL_ERROR_INIT;
    dockerignore *di = dockerignore_parse(s, &e3);
    if (di) {
        char *p = s;
        for (int k = 0; k < 8 && p; k++) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            (void)dockerignore_is_excluded(di, p);
            p = nl ? nl + 1 : NULL;
        }
        dockerignore_free(di);
    } else if (e3.code == 0 || !e3.msg[0]) {
        abort();
    }
    free(s);
    return 0;
}
