/*
 * libFuzzer target for core/proxyproto: the input's first byte picks the
 * mode (v1, v2 or any), the rest is what a socket held. Besides ASan and
 * UBSan it checks the parser's promises: a header never claims more bytes
 * than it was given nor more than a header may have, every shorter
 * beginning of an accepted header asks for more (or is the same header),
 * and an address is one of the two families.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum gw_proxy_mode modes[] = {GW_PROXY_V1, GW_PROXY_V2,
                                               GW_PROXY_ANY};
    struct gw_proxy_header h;
    struct gw_proxy_header again;
    enum gw_proxy_mode mode;
    int rc;

    if (size == 0) {
        return 0;
    }
    mode = modes[data[0] % 3];
    data++;
    size--;
    rc = gw_proxy_parse(data, size, mode, &h);
    check(rc == GW_OK || rc == GW_AGAIN || rc == GW_ERR_INVALID);
    if (rc == GW_AGAIN) {
        check(size < GW_PROXY_MAX);
    }
    if (rc != GW_OK) {
        return 0;
    }
    check(h.len > 0 && h.len <= size && h.len <= GW_PROXY_MAX);
    check(h.version == 1 || h.version == 2);
    check(h.version != 1 || h.len <= GW_PROXY_V1_MAX);
    if (!h.local) {
        check(h.source.family == AF_INET || h.source.family == AF_INET6);
        check(h.dest.family == AF_INET || h.dest.family == AF_INET6);
    }
    /* The header alone parses to the same header; a byte less asks for
     * more, so that a reader that stops early never misreads one. */
    check(gw_proxy_parse(data, h.len, mode, &again) == GW_OK &&
          again.len == h.len);
    check(gw_proxy_parse(data, h.len - 1, mode, &again) == GW_AGAIN);
    return 0;
}
