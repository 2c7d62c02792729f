/*
 * fuzz_sbx_events.c - differential: the sandbox's Events API judges a
 * valid track call in one pass over the raw bytes (fast_check) and
 * anything else with jansson and the full checks. The fast path exists
 * for speed only, so it must never accept a body the full path would
 * refuse or answer 20001 for, nor count its events differently.
 *
 * Input: a request body. Invariant: fast accepted => full code 0 with the
 * same number of events.
 */
#include "fuzz.h"
#include "sandbox/tiktok_events/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool fast = false;
    size_t n = 0;
    long code = sg_sbx_events_judge((const char *)data, size, &fast, &n);

    SG_FUZZ_CHECK(code != -2);
    if (fast && code != -1)
        SG_FUZZ_CHECK(code == 0 && n >= 1);
    return 0;
}
