/* Docker-style random names. The word lists are ours, in Docker's spirit: cheerful adjectives
 * and notable scientists, engineers and hackers. Keep every entry [a-z]+ so that a name always
 * matches the container name rule of API.md §4.2. */
#include "lib/names.h"

#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/id.h"

static const char *const adjectives[] = {
    "admiring", "adoring",    "affectionate", "agitated",      "amazing",     "angry",
    "awesome",  "beautiful",  "blissful",     "bold",          "boring",      "brave",
    "busy",     "charming",   "clever",       "compassionate", "competent",   "confident",
    "cool",     "cranky",     "crazy",        "dazzling",      "determined",  "distracted",
    "dreamy",   "eager",      "ecstatic",     "elastic",       "elated",      "elegant",
    "epic",     "exciting",   "fervent",      "festive",       "flamboyant",  "focused",
    "friendly", "frosty",     "funny",        "gallant",       "gifted",      "goofy",
    "gracious", "great",      "happy",        "hardcore",      "heuristic",   "hopeful",
    "hungry",   "infallible", "inspiring",    "intelligent",   "jolly",       "jovial",
    "keen",     "kind",       "laughing",     "loving",        "lucid",       "magical",
    "modest",   "musing",     "mystifying",   "naughty",       "nervous",     "nice",
    "nifty",    "nostalgic",  "objective",    "optimistic",    "peaceful",    "pedantic",
    "pensive",  "practical",  "priceless",    "quirky",        "quizzical",   "relaxed",
    "reverent", "romantic",   "sad",          "serene",        "sharp",       "silly",
    "sleepy",   "stoic",      "strange",      "stupefied",     "suspicious",  "sweet",
    "tender",   "thirsty",    "trusting",     "unruffled",     "upbeat",      "vibrant",
    "vigilant", "vigorous",   "wizardly",     "wonderful",     "xenodochial", "youthful",
    "zealous",  "zen",
};

static const char *const surnames[] = {
    "agnesi",     "albattani",     "allen",      "archimedes", "babbage",   "banach",
    "bardeen",    "bartik",        "bell",       "bhabha",     "blackwell", "bohr",
    "boole",      "borg",          "brattain",   "burnell",    "cannon",    "carson",
    "cerf",       "chandrasekhar", "clarke",     "curie",      "darwin",    "davinci",
    "dijkstra",   "dirac",         "easley",     "einstein",   "elion",     "engelbart",
    "euclid",     "euler",         "faraday",    "fermat",     "fermi",     "feynman",
    "franklin",   "galileo",       "gauss",      "goldberg",   "goodall",   "hamilton",
    "hawking",    "heisenberg",    "hodgkin",    "hofstadter", "hopper",    "hypatia",
    "jackson",    "johnson",       "kalam",      "kepler",     "knuth",     "kowalevski",
    "lamarr",     "lamport",       "leakey",     "liskov",     "lovelace",  "lumiere",
    "mayer",      "mccarthy",      "mcclintock", "meitner",    "mendel",    "minsky",
    "mirzakhani", "montalcini",    "moore",      "morse",      "napier",    "newton",
    "noether",    "noyce",         "pascal",     "pasteur",    "payne",     "perlman",
    "pike",       "poincare",      "ptolemy",    "raman",      "ramanujan", "ride",
    "ritchie",    "rosalind",      "sammet",     "shannon",    "shockley",  "sinoussi",
    "stallman",   "stonebraker",   "swartz",     "tesla",      "thompson",  "torvalds",
    "turing",     "varahamihira",  "villani",    "wescoff",    "wiles",     "williams",
    "wilson",     "wing",          "wozniak",    "wright",     "yalow",     "yonath",
};

void kl_name_random(char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    for (;;) {
        const char *adj = adjectives[kl_random_uniform(KL_ARRAY_SIZE(adjectives))];
        const char *sur = surnames[kl_random_uniform(KL_ARRAY_SIZE(surnames))];
        if (strcmp(adj, "boring") == 0 && strcmp(sur, "wozniak") == 0)
            continue;
        snprintf(out, outlen, "%s_%s", adj, sur);
        return;
    }
}

bool kl_name_is_valid(const char *s)
{
    size_t n = s ? strnlen(s, KL_OBJECT_NAME_MAX + 1) : 0;
    if (n == 0 || n > KL_OBJECT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}
