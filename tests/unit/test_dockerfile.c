/* Dockerfile parser, substitution and build-state helpers (CONFORMANCE §12 and §4 parse
 * cases, API.md §8.3 and decisions 11-13). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dockerfile.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void assert_strv(char *const *v, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        if (!v || !v[i])
            fail_msg("vector too short at %zu (want '%s')", i, want[i]);
        assert_string_equal(v[i], want[i]);
    }
    if (v && v[i])
        fail_msg("vector too long: extra '%s'", v[i]);
}
#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})

static dockerfile parse_ok(const char *text)
{
    dockerfile df;
    kl_error err = KL_ERROR_INIT;
    unsigned line = 99;
    if (dockerfile_parse(text, &df, &line, &err) != 0)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(line, 0);
    return df;
}

static void parse_bad(const char *text, const char *msg, unsigned want_line)
{
    dockerfile df;
    kl_error err = KL_ERROR_INIT;
    unsigned line = 99;
    assert_int_equal(dockerfile_parse(text, &df, &line, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, msg);
    assert_int_equal(line, want_line);
    assert_int_equal(df.n, 0);
}

/* CONFORMANCE §12 "from instruction" */
static void test_from(void **state)
{
    (void)state;
    dockerfile df =
        parse_ok("# a comment\nFROM lol\n#another\nFROM lol AS maxlol\nFROM a:b@c as x\n");
    assert_int_equal(df.n, 3);
    assert_int_equal(df.instrs[0].kind, DOCKERFILE_FROM);
    assert_string_equal(df.instrs[0].from_ref, "lol");
    assert_null(df.instrs[0].from_stage);
    assert_string_equal(df.instrs[0].line, "FROM lol");
    assert_int_equal(df.instrs[0].lineno, 2);
    assert_string_equal(df.instrs[1].from_ref, "lol");
    assert_string_equal(df.instrs[1].from_stage, "maxlol");
    assert_string_equal(df.instrs[1].line, "FROM lol AS maxlol");
    assert_int_equal(df.instrs[1].lineno, 4);
    assert_string_equal(df.instrs[2].from_ref, "a:b@c");
    assert_string_equal(df.instrs[2].from_stage, "x");
    dockerfile_clear(&df);
    parse_bad("FROM a b\n", "line 1: error in 'FROM a b': expected FROM <image> [AS <name>]", 1);
    parse_bad("FROM --platform=x a\n",
              "line 1: error in 'FROM --platform=x a': FROM flags are not "
              "supported",
              1);
    parse_bad(
        "FROM a AS 1x\n",
        "line 1: error in 'FROM a AS 1x': invalid stage name (letters, digits, '_', '.', '-', "
        "starting with a letter)",
        1);
}

/* CONFORMANCE §12 "run instruction" / "cmd instruction" */
static void test_run_cmd_forms(void **state)
{
    (void)state;
    dockerfile df = parse_ok("FROM x\nRUN cat lol.txt\nRUN [\"/bin/sh\", \"-c\", \"echo 1\"]\n"
                             "CMD  echo -n \"lol\"\nCMD [\"/bin/ls\"]\nENTRYPOINT [\"a\",\"b\"]\n"
                             "ENTRYPOINT exec top\nCMD []\n");
    assert_int_equal(df.n, 8);
    assert_strv(df.instrs[1].args, STRV("/bin/sh", "-c", "cat lol.txt"));
    assert_false(df.instrs[1].is_exec_form);
    assert_strv(df.instrs[2].args, STRV("/bin/sh", "-c", "echo 1"));
    assert_true(df.instrs[2].is_exec_form);
    assert_int_equal(df.instrs[3].kind, DOCKERFILE_CMD);
    assert_strv(df.instrs[3].args, STRV("/bin/sh", "-c", "echo -n \"lol\""));
    assert_string_equal(df.instrs[3].line, "CMD  echo -n \"lol\"");
    assert_strv(df.instrs[4].args, STRV("/bin/ls"));
    assert_true(df.instrs[4].is_exec_form);
    assert_int_equal(df.instrs[5].kind, DOCKERFILE_ENTRYPOINT);
    assert_strv(df.instrs[5].args, STRV("a", "b"));
    assert_strv(df.instrs[6].args, STRV("/bin/sh", "-c", "exec top"));
    assert_true(df.instrs[7].is_exec_form);
    assert_int_equal(df.instrs[7].n_args, 0);
    dockerfile_clear(&df);
}

/* Malformed JSON crashed the original (§12 item 13); Docker runs it as the shell form. */
static void test_malformed_json(void **state)
{
    (void)state;
    dockerfile df = parse_ok("FROM x\nRUN [\"echo\", \nCMD [oops]\nCOPY [\"a\" b\n");
    assert_false(df.instrs[1].is_exec_form);
    assert_strv(df.instrs[1].args, STRV("/bin/sh", "-c", "[\"echo\","));
    assert_strv(df.instrs[2].args, STRV("/bin/sh", "-c", "[oops]"));
    assert_false(df.instrs[3].is_exec_form);
    assert_strv(df.instrs[3].args, STRV("[\"a\"", "b"));
    dockerfile_clear(&df);
    parse_bad("FROM x\n\nRUN [\"echo\", 1]\n",
              "line 3: error in 'RUN [\"echo\", 1]': JSON arrays of the exec form must contain "
              "only strings",
              3);
    parse_bad("FROM x\nCOPY [\"a\", null]\n",
              "line 2: error in 'COPY [\"a\", null]': JSON arrays of the exec form must contain "
              "only strings",
              2);
    parse_bad("FROM x\nRUN []\n", "line 2: error in 'RUN []': RUN needs a command", 2);
}

/* CONFORMANCE §12 "copy instruction" */
static void test_copy(void **state)
{
    (void)state;
    dockerfile df =
        parse_ok("FROM x\nCOPY [\"lol1\",\"lol2\",\"lol3\"]\nCOPY lol1  lol2\tlol3\n"
                 "COPY --from=build --chown=1:2 a /b/\nCOPY --from=s [\"x y\", \"/z\"]\n");
    assert_strv(df.instrs[1].args, STRV("lol1", "lol2", "lol3"));
    assert_true(df.instrs[1].is_exec_form);
    assert_strv(df.instrs[2].args, STRV("lol1", "lol2", "lol3"));
    assert_strv(df.instrs[2].copy_sources, STRV("lol1", "lol2"));
    assert_string_equal(df.instrs[2].copy_dest, "lol3");
    assert_null(df.instrs[2].copy_from);
    assert_string_equal(df.instrs[3].copy_from, "build");
    assert_string_equal(df.instrs[3].copy_chown, "1:2");
    assert_strv(df.instrs[3].args, STRV("a", "/b/"));
    assert_string_equal(df.instrs[4].copy_from, "s");
    assert_strv(df.instrs[4].copy_sources, STRV("x y"));
    assert_string_equal(df.instrs[4].copy_dest, "/z");
    dockerfile_clear(&df);
    parse_bad("FROM x\nCOPY a\n",
              "line 2: error in 'COPY a': COPY needs at least one source and a destination", 2);
    parse_bad("FROM x\nCOPY --link a b\n",
              "line 2: error in 'COPY --link a b': unknown flag --link", 2);
    parse_bad("FROM x\nCOPY --from= a b\n",
              "line 2: error in 'COPY --from= a b': empty value of "
              "--from=",
              2);
}

/* CONFORMANCE §12 "user instruction"; WORKDIR, EXPOSE, LABEL */
static void test_user_workdir_expose_label(void **state)
{
    (void)state;
    dockerfile df =
        parse_ok("FROM x\nUSER  testuser  \nWORKDIR /a b\nEXPOSE 80 53/udp 8000-8010/tcp "
                 "$P\nLABEL a=b \"c.d\"=\"e f\"\nLABEL legacy some value\n");
    assert_strv(df.instrs[1].args, STRV("testuser"));
    assert_string_equal(df.instrs[1].line, "USER  testuser  ");
    assert_strv(df.instrs[2].args, STRV("/a b"));
    assert_strv(df.instrs[3].args, STRV("80", "53/udp", "8000-8010/tcp", "$P"));
    assert_int_equal(df.instrs[4].n_kv, 2);
    assert_string_equal(df.instrs[4].kv[1].key, "\"c.d\"");
    assert_string_equal(df.instrs[4].kv[1].value, "\"e f\"");
    assert_string_equal(df.instrs[5].kv[0].key, "legacy");
    assert_string_equal(df.instrs[5].kv[0].value, "some value");
    dockerfile_clear(&df);
    parse_bad("FROM x\nEXPOSE 80/icmp\n",
              "line 2: error in 'EXPOSE 80/icmp': invalid port '80/icmp' (expected "
              "<port>[-<port>][/tcp|udp|sctp])",
              2);
    /* STOPSIGNAL: one signal as kill takes it, checked unless substituted */
    df = parse_ok("FROM x\nSTOPSIGNAL SIGQUIT\nSTOPSIGNAL rtmin+3\nSTOPSIGNAL $SIG\n");
    assert_int_equal(df.instrs[1].kind, DOCKERFILE_STOPSIGNAL);
    assert_strv(df.instrs[1].args, STRV("SIGQUIT"));
    assert_strv(df.instrs[2].args, STRV("rtmin+3"));
    assert_strv(df.instrs[3].args, STRV("$SIG"));
    dockerfile_clear(&df);
    parse_bad("FROM x\nSTOPSIGNAL SIGNOPE\n",
              "line 2: error in 'STOPSIGNAL SIGNOPE': invalid signal 'SIGNOPE'", 2);
    parse_bad("FROM x\nSTOPSIGNAL INT QUIT\n",
              "line 2: error in 'STOPSIGNAL INT QUIT': STOPSIGNAL needs exactly one signal", 2);
    parse_bad("FROM x\nEXPOSE 0\n",
              "line 2: error in 'EXPOSE 0': invalid port '0' (expected "
              "<port>[-<port>][/tcp|udp|sctp])",
              2);
    parse_bad("FROM x\nLABEL =v\n", "line 2: error in 'LABEL =v': empty label key", 2);
}

static void test_env_arg_forms(void **state)
{
    (void)state;
    dockerfile df = parse_ok("ARG a\nARG B=\"x y\"\nFROM x\nENV TEST1=lol\nENV TEST2=\"testing "
                             "test\"\nENV TEST3=test\\ test\nENV k v w\nENV a=\"x y\" b=z\n"
                             "ARG one=1 two\n");
    assert_int_equal(df.instrs[0].kind, DOCKERFILE_ARG);
    assert_string_equal(df.instrs[0].kv[0].key, "a");
    assert_null(df.instrs[0].kv[0].value);
    assert_string_equal(df.instrs[1].kv[0].value, "\"x y\"");
    assert_string_equal(df.instrs[4].kv[0].value, "\"testing test\"");
    assert_string_equal(df.instrs[5].kv[0].value, "test\\ test");
    assert_int_equal(df.instrs[6].n_kv, 1);
    assert_string_equal(df.instrs[6].kv[0].key, "k");
    assert_string_equal(df.instrs[6].kv[0].value, "v w");
    assert_int_equal(df.instrs[7].n_kv, 2);
    assert_string_equal(df.instrs[7].kv[0].value, "\"x y\"");
    assert_string_equal(df.instrs[7].kv[1].key, "b");
    assert_int_equal(df.instrs[8].n_kv, 2);
    assert_string_equal(df.instrs[8].kv[0].value, "1");
    assert_null(df.instrs[8].kv[1].value);
    dockerfile_clear(&df);
    /* the original's wire strings (CONFORMANCE §4) */
    parse_bad("FROM x\nARG TEST-VAR=\"this should fail\"\n",
              "ENV/ARG variable name is invalid on line: ARG TEST-VAR=\"this should fail\"", 2);
    parse_bad("FROM x\nENV TEST-VAR=\"this should fail\"\n",
              "ENV/ARG variable name is invalid on line: ENV TEST-VAR=\"this should fail\"", 2);
    parse_bad("FROM x\nENV 1A=b\n", "ENV/ARG variable name is invalid on line: ENV 1A=b", 2);
    parse_bad("FROM x\nENV a=1 b-c=2\n", "ENV/ARG variable name is invalid on line: ENV a=1 b-c=2",
              2);
    parse_bad("FROM x\nENV NAME\n",
              "line 2: error in 'ENV NAME': ENV needs a value: ENV "
              "<name>=<value>",
              2);
    assert_true(dockerfile_name_is_valid("a"));
    assert_true(dockerfile_name_is_valid("_"));
    assert_true(dockerfile_name_is_valid("A_1"));
    assert_false(dockerfile_name_is_valid("1"));
    assert_false(dockerfile_name_is_valid(""));
    assert_false(dockerfile_name_is_valid("a.b"));
}

/* The original's illegal-comment case is a build-time failure, after its Step line. */
static void test_trailing_comment_fails_at_build(void **state)
{
    (void)state;
    const char *line = "ENV TEST=\"something\" # You cannot make comments like this.";
    char *text = xasprintf("FROM FreeBSD:testing\n%s\n", line);
    dockerfile df = parse_ok(text);
    free(text);
    assert_int_equal(df.n, 2);
    assert_string_equal(df.instrs[1].line, line);
    assert_true(df.instrs[1].is_kv_malformed);
    size_t n = 7;
    kl_error err = KL_ERROR_INIT;
    assert_null(dockerfile_expand_pairs(&df.instrs[1], NULL, NULL, &n, &err));
    assert_int_equal(n, 0);
    char want[256];
    snprintf(want, sizeof(want), "failed environment substition of: %s", line);
    assert_string_equal(err.msg, want);
    dockerfile_clear(&df);
}

static void test_lines(void **state)
{
    (void)state;
    /* continuations joined as the original does; comments inside removed first; blank lines
     * (also inside a continuation) dropped; CRLF accepted; a trailing "\\  " continues */
    dockerfile df = parse_ok("FROM x\r\n\r\nRUN echo \\\n# inside\n  hello \\\n\n   world\n\n\n"
                             "RUN a \\  \nb\nRUN end \\");
    assert_int_equal(df.n, 4);
    assert_string_equal(df.instrs[0].line, "FROM x");
    assert_string_equal(df.instrs[1].line, "RUN echo   hello    world");
    assert_int_equal(df.instrs[1].lineno, 3);
    assert_strv(df.instrs[1].args, STRV("/bin/sh", "-c", "echo   hello    world"));
    assert_string_equal(df.instrs[2].line, "RUN a b");
    assert_int_equal(df.instrs[2].lineno, 10);
    assert_string_equal(df.instrs[3].line, "RUN end ");
    assert_int_equal(df.instrs[3].lineno, 12);
    dockerfile_clear(&df);
    /* a trailing # is part of the instruction */
    df = parse_ok("FROM x\nRUN echo 1 # not a comment\n");
    assert_strv(df.instrs[1].args, STRV("/bin/sh", "-c", "echo 1 # not a comment"));
    dockerfile_clear(&df);
}

/* Docker accepts instructions in any case and indented lines (and indented comments); the
 * Step line shows the instruction without its indentation. */
static void test_case_and_indent(void **state)
{
    (void)state;
    dockerfile df = parse_ok("from x as base\n  # an indented comment\n\t run echo \\\n"
                             "    # inside\n    hi\nCmd [\"a\"]\n  WorkDir /w\n");
    assert_int_equal(df.n, 4);
    assert_int_equal(df.instrs[0].kind, DOCKERFILE_FROM);
    assert_string_equal(df.instrs[0].from_stage, "base");
    assert_int_equal(df.instrs[1].kind, DOCKERFILE_RUN);
    assert_string_equal(df.instrs[1].line, "run echo     hi");
    assert_int_equal(df.instrs[1].lineno, 3);
    assert_strv(df.instrs[1].args, STRV("/bin/sh", "-c", "echo     hi"));
    assert_int_equal(df.instrs[2].kind, DOCKERFILE_CMD);
    assert_true(df.instrs[2].is_exec_form);
    assert_int_equal(df.instrs[3].kind, DOCKERFILE_WORKDIR);
    assert_string_equal(df.instrs[3].line, "WorkDir /w");
    assert_int_equal(df.instrs[3].lineno, 7);
    dockerfile_clear(&df);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    /* CONFORMANCE §4 "invalid Dockerfile (no linebreak)" */
    parse_bad("FROM x\nRUN echo \\\n  \"lol\"\n  \"this should faile because we omitted the '\\' "
              "above\"\n",
              "error in '  \"this should faile because we omitted the '\\' above\"': invalid "
              "instruction",
              4);
    parse_bad("FROM x\nRUN\n", "error in 'RUN': invalid instruction", 2);
    parse_bad("FROM x\nFOO bar\n", "error in 'FOO bar': invalid instruction", 2);
    parse_bad("FROM x\n  FOO x\n", "error in '  FOO x': invalid instruction", 2);
    parse_bad("FROM x\nadd a b\n", "error in 'add a b': invalid instruction (ADD is not supported)",
              2);
    parse_bad("FROM x\nADD a b\n", "error in 'ADD a b': invalid instruction (ADD is not supported)",
              2);
    parse_bad("FROM x\nRUN  \t\n", "line 2: error in 'RUN  \t': RUN needs an argument", 2);
    /* CONFORMANCE §4 "non-ARG before FROM" */
    parse_bad("ARG a\nENV testvar=lol\nFROM x\n",
              "'ENV testvar=lol' not permitted before a FROM instruction", 2);
    parse_bad("ARG a\n# only args\n", "the Dockerfile has no FROM instruction", 0);
    parse_bad("", "the Dockerfile has no FROM instruction", 0);
    /* a parse error is reported before the order error, as the original does */
    parse_bad("RUN x\nFOO y\nFROM z\n", "error in 'FOO y': invalid instruction", 2);
}

/* CONFORMANCE §12 "a real dockerfile" */
static void test_real_dockerfile(void **state)
{
    (void)state;
    const char *text =
        "#\n# example Dockerfile for https://docs.docker.com/engine/examples/postgresql_service/\n"
        "#\n\nFROM FreeBSD:13.2-RELEASE\n\n# Add the PostgreSQL PGP key to verify their Debian "
        "packages.\nRUN pkg install -y postgresql15-server postgresql15-client &&\\\n"
        "    sysrc postgres_enable=YES\n\n"
        "# Note: The official Debian and Ubuntu images automatically ``apt-get clean``\n"
        "USER postgres\n\n"
        "RUN    /etc/rc.d/postgresql start &&\\\n"
        "    psql --command \"CREATE USER docker WITH SUPERUSER PASSWORD 'docker';\" &&\\\n"
        "    createdb -O docker docker\n\n"
        "# Adjust PostgreSQL configuration so that remote connections to the\n"
        "RUN echo \"host all  all    0.0.0.0/0  md5\" >> /var/db/postgres/data15/pg_hba.conf\n"
        "EXPOSE 5432\n"
        "CMD [\"/usr/local/bin/postgres\", \"-D\", \"/var/db/postgres/data15\"]\n";
    dockerfile df = parse_ok(text);
    assert_int_equal(df.n, 7);
    assert_int_equal(df.instrs[0].kind, DOCKERFILE_FROM);
    assert_int_equal(df.instrs[0].lineno, 5);
    assert_string_equal(df.instrs[1].line, "RUN pkg install -y postgresql15-server "
                                           "postgresql15-client &&    sysrc postgres_enable=YES");
    assert_int_equal(df.instrs[2].kind, DOCKERFILE_USER);
    assert_int_equal(df.instrs[3].lineno, 14);
    assert_int_equal(df.instrs[5].kind, DOCKERFILE_EXPOSE);
    assert_strv(df.instrs[6].args,
                STRV("/usr/local/bin/postgres", "-D", "/var/db/postgres/data15"));
    static const char *const kinds[] = {"FROM", "RUN", "USER", "RUN", "RUN", "EXPOSE", "CMD"};
    for (size_t i = 0; i < df.n; i++)
        assert_string_equal(dockerfile_kind_name(df.instrs[i].kind), kinds[i]);
    dockerfile_clear(&df);
}

/* --- substitution --- */

static const char *vars(const char *name, void *ctx)
{
    (void)ctx;
    static const char *const kv[][2] = {{"a", "A"},    {"b", "B"},    {"empty", ""},
                                        {"sp", "x y"}, {"_1", "one"}, {"dollar", "$a"},
                                        {"q", "it's"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (!strcmp(kv[i][0], name))
            return kv[i][1];
    return NULL;
}

static void subst_ok(const char *in, const char *want)
{
    kl_error err = KL_ERROR_INIT;
    char *got = dockerfile_substitute(in, vars, NULL, &err);
    if (!got)
        fail_msg("'%s': %s", in, err.msg);
    if (strcmp(got, want))
        fail_msg("'%s' -> '%s', want '%s'", in, got, want);
    free(got);
}

static void subst_bad(const char *in, const char *msg_part)
{
    kl_error err = KL_ERROR_INIT;
    assert_null(dockerfile_substitute(in, vars, NULL, &err));
    assert_int_equal(err.code, EINVAL);
    if (!strstr(err.msg, msg_part))
        fail_msg("'%s': message '%s' lacks '%s'", in, err.msg, msg_part);
}

static void test_substitute(void **state)
{
    (void)state;
    subst_ok("plain text", "plain text");
    subst_ok("$a", "A");
    subst_ok("${a}", "A");
    subst_ok("$a$b-${a}x$_1", "AB-Axone");
    subst_ok("$undefined|${undefined}", "|");
    subst_ok("${undefined:-w}", "w");
    subst_ok("${empty:-w}", "w");
    subst_ok("${empty-w}", "");
    subst_ok("${undefined-w}", "w");
    subst_ok("${a:-w}", "A");
    subst_ok("${a:+w}", "w");
    subst_ok("${empty:+w}", "");
    subst_ok("${empty+w}", "w");
    subst_ok("${undefined+w}", "");
    subst_ok("${undefined:-${b}}", "B");
    subst_ok("${undefined:-${undefined2:-deep $a}}", "deep A");
    subst_ok("${testvar:-doesnotexist}", "doesnotexist");
    subst_ok("${a:-}", "A");
    subst_ok("${undefined:-}", "");
    subst_ok("\\$a", "$a");
    subst_ok("'$a'", "$a");
    subst_ok("\"$a\"", "A");
    subst_ok("\"testing test\"", "testing test");
    subst_ok("test\\ test", "test test");
    /* CONFORMANCE §4: ENV TEST="\$5\$2Fun7BK4thgtd4ao\$j1kidg9P" */
    subst_ok("\"\\$5\\$2Fun7BK4thgtd4ao\\$j1kidg9P\"", "$5$2Fun7BK4thgtd4ao$j1kidg9P");
    subst_ok("\"a\\\"b\\\\c\\n\"", "a\"b\\c\\n");
    subst_ok("$", "$");
    subst_ok("a$ b$-", "a$ b$-");
    subst_ok("$1x", "x");
    subst_ok("$dollar", "$a"); /* values are not substituted again */
    subst_ok("$sp", "x y");
    subst_ok("$q", "it's");
    subst_ok("${undefined:-'}'}", "}");
    subst_ok("end\\", "end");
    subst_bad("${a", "unterminated '${'");
    subst_bad("${", "unterminated '${'");
    subst_bad("${a:-b", "unterminated '${'");
    subst_bad("${a:-${b}", "unterminated '${'");
    subst_bad("${}", "bad substitution");
    subst_bad("${a b}", "unsupported modifier");
    subst_bad("${a:?x}", "unsupported modifier");
    subst_bad("'abc", "unterminated single quote");
    subst_bad("\"abc", "unterminated double quote");
    /* depth is bounded */
    char deep[400] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "${x:-");
    subst_bad(deep, "nested too deeply");
}

static void test_expand_args_and_pairs(void **state)
{
    (void)state;
    dockerfile df = parse_ok("FROM ${a:-x} AS st\nCOPY $a \"$sp\" /d/$b/\nUSER $a\nWORKDIR ~$a\n"
                             "RUN echo $a\nCMD echo $a\nENV x=$a y=\"$sp\" z='$a'\nLABEL $a=$b\n"
                             "ARG n m=$a\nEXPOSE $undefined\nENV bad=\"x\n");
    kl_error err = KL_ERROR_INIT;
    char **v = dockerfile_expand_args(&df.instrs[0], vars, NULL, &err);
    assert_strv(v, STRV("A", "AS", "st"));
    strv_free(v);
    v = dockerfile_expand_args(&df.instrs[1], vars, NULL, &err);
    assert_strv(v, STRV("A", "x y", "/d/B/"));
    strv_free(v);
    v = dockerfile_expand_args(&df.instrs[2], vars, NULL, &err);
    assert_strv(v, STRV("A"));
    strv_free(v);
    v = dockerfile_expand_args(&df.instrs[3], vars, NULL, &err);
    assert_strv(v, STRV("~A"));
    strv_free(v);
    /* RUN and CMD are left to the container's shell */
    v = dockerfile_expand_args(&df.instrs[4], vars, NULL, &err);
    assert_strv(v, STRV("/bin/sh", "-c", "echo $a"));
    strv_free(v);
    v = dockerfile_expand_args(&df.instrs[5], vars, NULL, &err);
    assert_strv(v, STRV("/bin/sh", "-c", "echo $a"));
    strv_free(v);
    size_t n;
    dockerfile_kv *kv = dockerfile_expand_pairs(&df.instrs[6], vars, NULL, &n, &err);
    assert_int_equal(n, 3);
    assert_string_equal(kv[0].key, "x");
    assert_string_equal(kv[0].value, "A");
    assert_string_equal(kv[1].value, "x y");
    assert_string_equal(kv[2].value, "$a");
    dockerfile_kv_free(kv, n);
    kv = dockerfile_expand_pairs(&df.instrs[7], vars, NULL, &n, &err);
    assert_int_equal(n, 1);
    assert_string_equal(kv[0].key, "A");
    assert_string_equal(kv[0].value, "B");
    dockerfile_kv_free(kv, n);
    kv = dockerfile_expand_pairs(&df.instrs[8], vars, NULL, &n, &err);
    assert_int_equal(n, 2);
    assert_null(kv[0].value);
    assert_string_equal(kv[1].value, "A");
    dockerfile_kv_free(kv, n);
    v = dockerfile_expand_args(&df.instrs[9], vars, NULL, &err);
    assert_strv(v, STRV(""));
    strv_free(v);
    assert_false(kl_error_is_set(&err));
    assert_null(dockerfile_expand_pairs(&df.instrs[10], vars, NULL, &n, &err));
    assert_string_equal(err.msg, "failed environment substition of: ENV bad=\"x");
    dockerfile_clear(&df);

    df = parse_ok("FROM ${a\n");
    kl_error_clear(&err);
    assert_null(dockerfile_expand_args(&df.instrs[0], vars, NULL, &err));
    assert_string_equal(err.msg, "failed environment substition of: FROM ${a");
    dockerfile_clear(&df);
}

/* --- build state --- */

static char *lookup_dup(dockerfile_state *st, const char *name)
{
    const char *v = dockerfile_state_lookup(name, st);
    return v ? xstrdup(v) : NULL;
}

static void test_state_args_env(void **state)
{
    (void)state;
    char *buildargs[] = {"testvar=FreeBSD:testing", "username=games", "undeclared=x", NULL};
    dockerfile_state st;
    dockerfile_state_init(&st, buildargs);
    assert_string_equal(st.workdir, "/");
    /* meta ARG: the build arg wins over the default; visible in FROM */
    dockerfile_state_declare_arg(&st, "testvar", "default");
    dockerfile_state_declare_arg(&st, "meta", "m");
    assert_string_equal(dockerfile_state_lookup("testvar", &st), "FreeBSD:testing");
    assert_null(dockerfile_state_lookup("undeclared", &st));
    char *parent_env[] = {"PATH=/bin", "TEST=parent", NULL};
    char *parent_cmd[] = {"/bin/sh", "/etc/rc", NULL};
    dockerfile_state_begin_stage(&st, parent_env, parent_cmd);
    /* meta ARGs are not visible in the stage until redeclared */
    assert_null(dockerfile_state_lookup("testvar", &st));
    assert_string_equal(dockerfile_state_lookup("TEST", &st), "parent");
    /* a build arg only sets a declared ARG (CONFORMANCE §4 "Client vs. Dockerfile") */
    assert_null(dockerfile_state_lookup("username", &st));
    dockerfile_state_declare_arg(&st, "username", NULL);
    assert_string_equal(dockerfile_state_lookup("username", &st), "games");
    /* ARG without value in a stage takes the meta ARG's value */
    dockerfile_state_declare_arg(&st, "meta", NULL);
    assert_string_equal(dockerfile_state_lookup("meta", &st), "m");
    /* re-declaring replaces the value (CONFORMANCE §4 "a second time") */
    dockerfile_state_declare_arg(&st, "testarg", "should_be_overwritten");
    dockerfile_state_declare_arg(&st, "testarg", NULL);
    assert_null(dockerfile_state_lookup("testarg", &st));
    /* ENV wins over ARG of the same name, whatever the order */
    dockerfile_state_declare_arg(&st, "CONT_IMG_VER", "v2.0.1");
    dockerfile_state_set_env(&st, "CONT_IMG_VER", "v1.0.0");
    dockerfile_state_declare_arg(&st, "CONT_IMG_VER", "v3");
    assert_string_equal(dockerfile_state_lookup("CONT_IMG_VER", &st), "v1.0.0");
    dockerfile_state_set_env(&st, "TEST", "new");
    char **run = dockerfile_state_run_env(&st);
    assert_strv(run,
                STRV("username=games", "meta=m", "PATH=/bin", "TEST=new", "CONT_IMG_VER=v1.0.0"));
    strv_free(run);
    char **img = dockerfile_state_image_env(&st);
    assert_strv(img, STRV("PATH=/bin", "TEST=new", "CONT_IMG_VER=v1.0.0"));
    strv_free(img);
    /* a value that came from lookup is stable across further updates */
    char *u = lookup_dup(&st, "username");
    assert_string_equal(u, "games");
    free(u);
    /* a new stage drops the stage ARGs and ENV */
    dockerfile_state_begin_stage(&st, NULL, NULL);
    assert_null(dockerfile_state_lookup("username", &st));
    assert_null(dockerfile_state_lookup("TEST", &st));
    run = dockerfile_state_run_env(&st);
    assert_strv(run, (const char *const[]){NULL});
    strv_free(run);
    dockerfile_state_clear(&st);
}

static void test_paths(void **state)
{
    (void)state;
    struct {
        const char *base, *path, *want;
    } j[] = {
        {"/", "/testdir", "/testdir"},
        {"/testdir", "/home/", "/home"},
        {"/a", "b", "/a/b"},
        {"/a/b", "c", "/a/b/c"},
        {"/a/b", "../c", "/a/c"},
        {"/", "../../x", "/x"},
        {"/a", ".", "/a"},
        {"/a", "./b//c/", "/a/b/c"},
        {"/", "", "/"},
        {"/a", "/", "/"},
        {NULL, "x", "/x"},
        {"/a", "b/..", "/a"},
    };
    for (size_t i = 0; i < sizeof(j) / sizeof(j[0]); i++) {
        char *got = dockerfile_path_join(j[i].base, j[i].path);
        assert_string_equal(got, j[i].want);
        free(got);
    }
    struct {
        const char *wd, *dest, *want;
    } c[] = {
        {"/home", ".", "/home/"},
        {"/", "/root/", "/root/"},
        {"/", "/root/lol/test.txt", "/root/lol/test.txt"},
        {"/etc", "x", "/etc/x"},
        {"/etc", "x/", "/etc/x/"},
        {"/", ".", "/"},
        {"/a/b", "..", "/a/"},
        {"/a", "sub/.", "/a/sub/"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char *got = dockerfile_copy_dest(c[i].wd, c[i].dest);
        if (strcmp(got, c[i].want))
            fail_msg("copy_dest(%s, %s) = %s, want %s", c[i].wd, c[i].dest, got, c[i].want);
        free(got);
    }
    /* CONFORMANCE §4: WORKDIR /a, b, c → /a/b/c; then /home */
    dockerfile_state st;
    dockerfile_state_init(&st, NULL);
    dockerfile_state_begin_stage(&st, NULL, NULL);
    dockerfile_state_set_workdir(&st, "/a");
    dockerfile_state_set_workdir(&st, "b");
    dockerfile_state_set_workdir(&st, "c");
    assert_string_equal(st.workdir, "/a/b/c");
    dockerfile_state_set_workdir(&st, "/home");
    assert_string_equal(st.workdir, "/home");
    dockerfile_state_clear(&st);
}

static void test_shell_argv(void **state)
{
    (void)state;
    char **v = dockerfile_shell_argv("ls notexist", "/");
    assert_strv(v, STRV("/bin/sh", "-c", "ls notexist"));
    strv_free(v);
    v = dockerfile_shell_argv("echo $(pwd)", "/etc");
    assert_strv(v, STRV("/bin/sh", "-c", "cd /etc && echo $(pwd)"));
    strv_free(v);
    v = dockerfile_shell_argv("pwd", "/a b/it's");
    assert_strv(v, STRV("/bin/sh", "-c", "cd '/a b/it'\\''s' && pwd"));
    strv_free(v);
}

static void test_cmd_entrypoint(void **state)
{
    (void)state;
    char *ep[] = {"/entry", "-x", NULL};
    char *ep_shell[] = {"/bin/sh", "-c", "exec top", NULL};
    char *cmd[] = {"arg1", NULL};
    char *cmd_shell[] = {"/bin/sh", "-c", "echo hi", NULL};
    char *over[] = {"ls", "-l", NULL};
    char *none[] = {NULL};
    char **v;
    v = dockerfile_effective_cmd(NULL, false, cmd_shell, NULL);
    assert_strv(v, STRV("/bin/sh", "-c", "echo hi"));
    strv_free(v);
    v = dockerfile_effective_cmd(NULL, false, cmd_shell, over);
    assert_strv(v, STRV("ls", "-l"));
    strv_free(v);
    v = dockerfile_effective_cmd(NULL, false, cmd, none); /* an empty override is no override */
    assert_strv(v, STRV("arg1"));
    strv_free(v);
    v = dockerfile_effective_cmd(ep, false, cmd, NULL);
    assert_strv(v, STRV("/entry", "-x", "arg1"));
    strv_free(v);
    v = dockerfile_effective_cmd(ep, false, cmd_shell, NULL);
    assert_strv(v, STRV("/entry", "-x", "/bin/sh", "-c", "echo hi"));
    strv_free(v);
    v = dockerfile_effective_cmd(ep, false, cmd, over);
    assert_strv(v, STRV("/entry", "-x", "ls", "-l"));
    strv_free(v);
    v = dockerfile_effective_cmd(ep_shell, true, cmd, over);
    assert_strv(v, STRV("/bin/sh", "-c", "exec top"));
    strv_free(v);
    v = dockerfile_effective_cmd(ep, false, NULL, NULL);
    assert_strv(v, STRV("/entry", "-x"));
    strv_free(v);
    assert_null(dockerfile_effective_cmd(NULL, false, NULL, NULL));

    /* ENTRYPOINT resets an inherited CMD, not one set in this Dockerfile */
    dockerfile_state st;
    dockerfile_state_init(&st, NULL);
    char *pcmd[] = {"/bin/sh", "/etc/rc", NULL};
    dockerfile_state_begin_stage(&st, NULL, pcmd);
    assert_strv(st.cmd, STRV("/bin/sh", "/etc/rc"));
    dockerfile_state_set_entrypoint(&st, ep, true);
    assert_null(st.cmd);
    assert_false(st.is_entrypoint_shell);
    dockerfile_state_begin_stage(&st, NULL, pcmd);
    dockerfile_state_set_cmd(&st, cmd);
    dockerfile_state_set_entrypoint(&st, ep_shell, false);
    assert_strv(st.cmd, STRV("arg1"));
    assert_true(st.is_entrypoint_shell);
    dockerfile_state_clear(&st);
}

static void test_port_normalize(void **state)
{
    (void)state;
    const char *ok[][2] = {{"80", "80/tcp"},
                           {"53/udp", "53/udp"},
                           {"53/UDP", "53/udp"},
                           {"8000-8010", "8000-8010/tcp"},
                           {"9/Sctp", "9/sctp"}};
    for (size_t i = 0; i < KL_ARRAY_SIZE(ok); i++) {
        char *p = dockerfile_port_normalize(ok[i][0]);
        assert_non_null(p);
        assert_string_equal(p, ok[i][1]);
        free(p);
    }
    const char *bad[] = {"", "0", "65536", "80/icmp", "90-80", "x", "$p", "80/", "-1", "80-"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++)
        assert_null(dockerfile_port_normalize(bad[i]));
    assert_null(dockerfile_port_normalize(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from),
        cmocka_unit_test(test_port_normalize),
        cmocka_unit_test(test_run_cmd_forms),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_user_workdir_expose_label),
        cmocka_unit_test(test_env_arg_forms),
        cmocka_unit_test(test_trailing_comment_fails_at_build),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_case_and_indent),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_real_dockerfile),
        cmocka_unit_test(test_substitute),
        cmocka_unit_test(test_expand_args_and_pairs),
        cmocka_unit_test(test_state_args_env),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_shell_argv),
        cmocka_unit_test(test_cmd_entrypoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
