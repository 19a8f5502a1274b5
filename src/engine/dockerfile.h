/* Dockerfile parsing, variable substitution and the pure parts of a build's state
 * (API.md §8.3, KLEENE-GUIDE §2.2, docs/dockerfile.md).
 *
 * Parses untrusted text: every malformed input is a clean error, never a crash. Nothing here
 * does I/O, runs a shell or touches the host: substitution is done in-process (unlike the
 * original, which ran /bin/sh on the host as root, API.md §12 item 11). The build runner
 * drives the state helpers below; it owns containers, layers and the WebSocket. */
#ifndef KL_ENGINE_DOCKERFILE_H
#define KL_ENGINE_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

typedef enum dockerfile_kind {
    DOCKERFILE_FROM,
    DOCKERFILE_ARG,
    DOCKERFILE_ENV,
    DOCKERFILE_RUN,
    DOCKERFILE_CMD,
    DOCKERFILE_ENTRYPOINT,
    DOCKERFILE_COPY,
    DOCKERFILE_USER,
    DOCKERFILE_WORKDIR,
    DOCKERFILE_EXPOSE,
    DOCKERFILE_LABEL,
    DOCKERFILE_STOPSIGNAL,
} dockerfile_kind;

/* A key/value pair of ENV, ARG or LABEL exactly as written (quotes and escapes still in;
 * dockerfile_expand_pairs() processes them). value is NULL for `ARG name` without default. */
typedef struct dockerfile_kv {
    char *key;
    char *value;
} dockerfile_kv;

typedef struct dockerfile_instr {
    dockerfile_kind kind;
    char *line;      /* the instruction as written, continuations joined (`Step i/N : <line>`) */
    unsigned lineno; /* 1-based number of its first physical line */
    /* The arguments, NULL-terminated:
     *  RUN/CMD/ENTRYPOINT: exec form: the JSON strings; shell form: {"/bin/sh","-c",<text>}
     *  COPY: sources then destination (without flags), both forms
     *  FROM: {ref} or {ref,"AS",name}; USER, WORKDIR: {trimmed text}
     *  EXPOSE, ENV, ARG, LABEL: the whitespace-separated words (quotes respected) */
    char **args;
    size_t n_args;
    bool is_exec_form; /* RUN/CMD/ENTRYPOINT/COPY written as a JSON array */
    /* ENV, ARG, LABEL */
    dockerfile_kv *kv;
    size_t n_kv;
    bool is_kv_malformed; /* ENV/LABEL: a later word lacks '=' (fails at build time, like
                           * the original's "failed environment substition of: <line>") */
    /* FROM */
    char *from_ref;   /* unsubstituted image reference */
    char *from_stage; /* AS name, or NULL */
    /* COPY */
    char *copy_from;     /* --from=, or NULL */
    char *copy_chown;    /* --chown=, or NULL (parsed; the runner decides) */
    char **copy_sources; /* NULL-terminated, at least one */
    char *copy_dest;
} dockerfile_instr;

typedef struct dockerfile {
    dockerfile_instr *instrs;
    size_t n;
} dockerfile;

/* Parse a whole Dockerfile. On failure returns -1 (EINVAL), sets *err_line (if not NULL) to
 * the 1-based line number of the offending instruction (0 when no line is to blame), and the
 * message is one of the original's byte-exact wire strings (API.md §7.4):
 *   error in '<line>': invalid instruction
 *   '<line>' not permitted before a FROM instruction
 *   ENV/ARG variable name is invalid on line: <line>
 * or, for what the original crashed on or did not have, `line <n>: error in '<line>': <why>`. */
int dockerfile_parse(const char *text, dockerfile *out, unsigned *err_line, kl_error *err);
void dockerfile_clear(dockerfile *df);

const char *dockerfile_kind_name(dockerfile_kind kind);

/* ENV/ARG names: ^[A-Za-z_][A-Za-z0-9_]*$ (one letter is enough, unlike the original). */
bool dockerfile_name_is_valid(const char *name);

/* --- substitution ------------------------------------------------------------------- */

/* The value of a variable, or NULL when it is unset. */
typedef const char *(*dockerfile_lookup_fn)(const char *name, void *ctx);

/* Process one word the way Docker's shell lexer does: `$v`, `${v}`, `${v:-w}`, `${v-w}`,
 * `${v:+w}`, `${v+w}` (w processed recursively, so `${a:-${b}}` nests), undefined → "";
 * `\x` → x outside quotes; '...' literal; "..." substitutes, `\"`, `\\`, `\$` escape.
 * Quotes are removed, whitespace is kept. Errors (EINVAL) for an unterminated `${`, quote,
 * a bad name or an unknown modifier; the message says which. */
char *dockerfile_substitute(const char *s, dockerfile_lookup_fn lookup, void *ctx, kl_error *err);

/* Substitute the arguments of an instruction that Docker substitutes (FROM: the reference
 * only, COPY: sources and destination, USER, WORKDIR, EXPOSE); any other kind is returned
 * copied unchanged (RUN/CMD/ENTRYPOINT are left to the container's shell). Returns a
 * NULL-terminated vector; on failure `failed environment substition of: <line>` (sic). */
char **dockerfile_expand_args(const dockerfile_instr *in, dockerfile_lookup_fn lookup, void *ctx,
                              kl_error *err);

/* The ENV/ARG/LABEL pairs with quotes processed and variables substituted, every pair against
 * the same lookup (Docker: `ENV a=1 b=$a` sees the previous a). Keys of LABEL are processed
 * too. ARG without default keeps value NULL. Returns a new array (*n entries; free with
 * dockerfile_kv_free); failure: `failed environment substition of: <line>`. */
dockerfile_kv *dockerfile_expand_pairs(const dockerfile_instr *in, dockerfile_lookup_fn lookup,
                                       void *ctx, size_t *n, kl_error *err);
void dockerfile_kv_free(dockerfile_kv *kv, size_t n);

/* --- build state -------------------------------------------------------------------- */

typedef struct dockerfile_state {
    /* "name=value" pairs the client sent; they only set ARGs the Dockerfile declares */
    dockerfile_kv *buildargs;
    size_t n_buildargs;
    dockerfile_kv *meta_args; /* ARGs before the first FROM: visible in FROM only */
    size_t n_meta_args;
    dockerfile_kv *args; /* ARGs declared in the current stage (value NULL: declared, unset) */
    size_t n_args;
    dockerfile_kv *env; /* ENV of the current stage, starting with the parent image's */
    size_t n_env;
    bool is_in_stage; /* a FROM has been processed */
    char *workdir;    /* absolute, "/" at the start of a stage */
    char *user;       /* NULL: the parent image's */
    char **cmd;       /* NULL: none */
    bool is_cmd_inherited;
    char **entrypoint; /* NULL: none */
    bool is_entrypoint_shell;
} dockerfile_state;

/* buildargs: NULL-terminated "name=value" strings (may be NULL). */
void dockerfile_state_init(dockerfile_state *st, char *const *buildargs);
void dockerfile_state_clear(dockerfile_state *st);

/* A dockerfile_lookup_fn over a dockerfile_state (ctx): before the first FROM the meta ARGs;
 * in a stage ENV first, then the stage's ARGs (ENV wins over ARG of the same name). */
const char *dockerfile_state_lookup(const char *name, void *ctx);

/* Declare an ARG (default already expanded, NULL for none). Its value: the client's build
 * arg of that name, else the default, else (in a stage) the meta ARG of that name, else unset.
 * A re-declaration replaces the earlier value. */
void dockerfile_state_declare_arg(dockerfile_state *st, const char *name, const char *def);

/* Start a stage (at FROM): the stage's ARGs are dropped, the env becomes the parent image's
 * (NULL-terminated "K=V"), workdir "/", user NULL, cmd = the parent's (inherited), no
 * entrypoint. */
void dockerfile_state_begin_stage(dockerfile_state *st, char *const *parent_env,
                                  char *const *parent_cmd);

void dockerfile_state_set_env(dockerfile_state *st, const char *name, const char *value);

/* WORKDIR: absolute, or relative to the current workdir (see dockerfile_path_join). */
void dockerfile_state_set_workdir(dockerfile_state *st, const char *path);

/* CMD / ENTRYPOINT from a parsed instruction (argv as in dockerfile_instr.args). Setting an
 * ENTRYPOINT resets a CMD inherited from the parent image (Docker). */
void dockerfile_state_set_cmd(dockerfile_state *st, char *const *argv);
void dockerfile_state_set_entrypoint(dockerfile_state *st, char *const *argv, bool is_exec_form);

/* The environment of a RUN: the stage's ARG values (set ones only) merged with ENV, ENV
 * winning; "K=V", ARGs first in declaration order, then ENV in order. */
char **dockerfile_state_run_env(const dockerfile_state *st);

/* The image's env: ENV only, "K=V", in order. */
char **dockerfile_state_image_env(const dockerfile_state *st);

/* Lexically cleaned absolute path (like Go's path.Clean): `base` joined with `path` when
 * `path` is relative; "." and ".." resolved, never above "/", no trailing slash. */
char *dockerfile_path_join(const char *base, const char *path);

/* A COPY destination: relative to `workdir`; a trailing '/' (or a last component "." or
 * "..") is kept as a trailing '/', meaning "a directory". */
char *dockerfile_copy_dest(const char *workdir, const char *dest);

/* {"/bin/sh","-c",<shell>} with the original's `cd <workdir> && ` prefix when the workdir is
 * not "/" (the workdir single-quoted when it needs to be). */
char **dockerfile_shell_argv(const char *shell, const char *workdir);

/* An EXPOSE word after substitution as stored in the image: "<port>[-<port>]/<proto>", the
 * protocol lower-cased and "tcp" when none was given ("80" → "80/tcp", "53/UDP" → "53/udp").
 * NULL when it is not <port>[-<port>][/tcp|udp|sctp] (ports 1-65535, a range not reversed). */
char *dockerfile_port_normalize(const char *word);

/* What a container of the image runs (Docker's rules): no entrypoint → `override` if given
 * (non-empty), else cmd; exec-form entrypoint → entrypoint + (override or cmd); shell-form
 * entrypoint → the entrypoint alone. NULL when there is nothing to run. */
char **dockerfile_effective_cmd(char *const *entrypoint, bool is_entrypoint_shell, char *const *cmd,
                                char *const *override);

#endif
