/*
 * fuzz_retry_after.c - the Retry-After and HTTP-date parsers (N4): every
 * value a remote server sends lands here.
 *
 * Invariants: an accepted value gives a delay in [0, cap]; parsing is
 * deterministic; an HTTP-date the parser accepts as Retry-After in the
 * future gives the same delay as the date itself.
 */
#include "fuzz.h"
#include "core/err.h"
#include "jobs/backoff.h"

#define NOW_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define CAP_MS INT64_C(600000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v = (const char *)data;
    int64_t d1 = -1, d2 = -1, at = 0;
    int rc1, rc2;

    rc1 = sg_retry_after_parse(size ? v : NULL, size, NOW_MS, CAP_MS, &d1);
    rc2 = sg_retry_after_parse(size ? v : NULL, size, NOW_MS, CAP_MS, &d2);
    SG_FUZZ_CHECK(rc1 == rc2);
    SG_FUZZ_CHECK(rc1 == 0 || rc1 == SG_EINVAL);
    if (rc1 == 0) {
        SG_FUZZ_CHECK(d1 >= 0 && d1 <= CAP_MS);
        SG_FUZZ_CHECK(d1 == d2);
    }
    if (sg_http_date_parse(v, size, NOW_MS, &at) == 0 && rc1 == 0 &&
        at > NOW_MS && at - NOW_MS < CAP_MS)
        SG_FUZZ_CHECK(d1 == at - NOW_MS);
    /* A tiny cap and a zero cap bound the result just the same. */
    if (sg_retry_after_parse(size ? v : NULL, size, NOW_MS, 0, &d1) == 0)
        SG_FUZZ_CHECK(d1 == 0);
    return 0;
}
