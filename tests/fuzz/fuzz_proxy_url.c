/* libFuzzer target: core/proxy_url.c, the proxy URLs of host add
 * --via-proxy and backend_proxy, and the backend_proxy_bypass list. */
#include "core/proxy_url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_proxy_url url;
    char out[GW_PROXY_URL_MAX];
    char *text = malloc(size + 1);

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    if (gw_proxy_url_parse(text, &url) == 0) {
        struct gw_proxy_url again;
        gw_proxy_url_format(&url, out, sizeof(out));
        /* The canonical form parses to the same URL. */
        if (gw_proxy_url_parse(out, &again) != 0 ||
            memcmp(&url, &again, sizeof(url)) != 0) {
            abort();
        }
        gw_proxy_url_endpoint(&url, out, sizeof(out));
    }
    if (gw_proxy_bypass_check(text) == 0) {
        (void)gw_proxy_bypassed(text, "10.1.2.3");
        (void)gw_proxy_bypassed(text, "web1.internal");
    }
    free(text);
    return 0;
}
