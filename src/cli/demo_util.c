/*
 * demo_util.c - small helpers for surge demo: plain output, one blocking
 * HTTP request with a JSON answer, running a surge subcommand, and
 * percentiles. Every request has a timeout and a body cap.
 */
#include "cli/demo.h"
#include "core/alloc.h"
#include "core/json.h"
#include "http/client.h"

#include <stdarg.h>

/* execv wants char *const[]; our argument strings are not modified. */
#define ARG(s) ((char *)(uintptr_t)(s))

/* Sandbox state dumps of a few thousand orders are ~4 KB an order. */
#define BODY_MAX (256u << 20)

void sg_demo__say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

long sg_demo__http(json_t **out, const char *method, const char *base,
                   const char *path, const char *body, const char *key)
{
    struct sg_http_client_cfg cfg;
    struct sg_http_response resp;
    char url[1024], auth[200];
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    struct sg_http_request req = {.method = method, .url = url,
                                  .headers = headers, .body = body,
                                  .body_len = body ? strlen(body) : 0,
                                  .timeout_ms = 30000};
    long status;

    if (out)
        *out = NULL;
    snprintf(url, sizeof(url), "%s%s", base, path);
    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        headers[1] = auth;
    }
    sg_http_client_cfg_defaults(&cfg);
    cfg.body_max = BODY_MAX;
    memset(&resp, 0, sizeof(resp));
    if (sg_http_client_do(&resp, &req, &cfg, NULL) != 0) {
        sg_http_response_release(&resp);
        return 0;
    }
    status = resp.status;
    if (out && resp.body && resp.body_len)
        *out = sg_json_loadb(resp.body, resp.body_len, 0, NULL, NULL);
    sg_http_response_release(&resp);
    return status;
}

int sg_demo__surge(struct sg_demo *d, char **out, const char *const *words)
{
    char *argv[12] = {ARG(sg_proc_self())};
    size_t n = 1;

    for (size_t i = 0; words[i] && n < 9; i++)
        argv[n++] = ARG(words[i]);
    argv[n++] = ARG("--config");
    argv[n++] = d->conf;
    argv[n] = NULL;
    return sg_proc_run(argv, d->log, out, 120000);
}

int64_t sg_demo__pct(const int64_t *v, size_t n, unsigned q)
{
    size_t i;

    if (n == 0)
        return 0;
    /* Nearest rank: the smallest value with at least q% at or below. */
    i = (n * q + 99) / 100;
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return v[i];
}

void sg_demo__money(char *out, size_t n, long minor)
{
    char digits[32], grouped[48];
    long whole = (minor < 0 ? -minor : minor) / 100;
    size_t len, k = 0;

    snprintf(digits, sizeof(digits), "%ld", whole);
    len = strlen(digits);
    for (size_t i = 0; i < len && k + 2 < sizeof(grouped); i++) {
        if (i > 0 && (len - i) % 3 == 0)
            grouped[k++] = ',';
        grouped[k++] = digits[i];
    }
    grouped[k] = '\0';
    snprintf(out, n, "%s%s.%02ld", minor < 0 ? "-" : "", grouped,
             (minor < 0 ? -minor : minor) % 100);
}
