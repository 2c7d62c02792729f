/*
 * fuzz.h - the one entry point every tests/fuzz/fuzz_<target>.c defines.
 *
 * The same file builds two ways: with clang -fsanitize=fuzzer (the "fuzz"
 * preset; libFuzzer supplies main) and with any compiler plus
 * standalone.c, which replays each corpus file once (ctest label
 * "fuzz-replay"). A target must be deterministic, must not keep state
 * that grows from one input to the next, and must abort() when an
 * invariant it checks does not hold, so both drivers see the failure.
 */
#ifndef SG_FUZZ_H
#define SG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the target proves on every input; failing it aborts. */
#define SG_FUZZ_CHECK(cond)                                                 \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
