/* libFuzzer target for the kleene-fetch wire (src/host/linux/fetchproto.h): what a helper
 * subverted by a hostile download could send kleened. Any input parses cleanly or gives a
 * clean EPROTO; a parsed message has its fields in range and encodes back to a line that
 * parses to the same message. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/linux/fetchproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fetchproto_msg m;
    kl_error err = KL_ERROR_INIT;
    if (fetchproto_parse((const char *)data, size, &m, &err) < 0) {
        if (err.code != EPROTO || !err.msg[0])
            abort();
        fetchproto_msg_clear(&m);
        return 0;
    }
    if (m.fetch.percent < -1 || m.fetch.percent > 100 || m.level < 0 || m.level > 7)
        abort();
    if (m.type == FETCHPROTO_RESULT && !m.ok &&
        (m.code < 1 || m.code > 4095 || !m.text ||
         (m.stage != HOST_FETCH_STAGE_FETCH && m.stage != HOST_FETCH_STAGE_EXTRACT)))
        abort();
    if (m.type != FETCHPROTO_UNKNOWN) {
        size_t n;
        char *line = fetchproto_encode(&m, &n);
        if (line) { /* a long log text may not fit */
            fetchproto_msg again;
            if (fetchproto_parse(line, n - 1, &again, &err) < 0 || again.type != m.type)
                abort();
            fetchproto_msg_clear(&again);
            free(line);
        } else if (m.type != FETCHPROTO_LOG) {
            abort();
        }
    }
    fetchproto_msg_clear(&m);
    return 0;
}
