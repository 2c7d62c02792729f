/*
 * main.c - the surge binary's entry point. Deliberately thin: every
 * command lives in src/cli/ and every mechanism in the libraries, so the
 * tests link exactly what ships.
 */
#include "core/sg.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/cli.h"
#include "core/json.h"

/*
 * glibc's defaults hand large blocks (a 1,000-event request body, its
 * results, a batch's joined JSON: hundreds of KB each, several per
 * request) back to the kernel on free, by munmap or by trimming the heap
 * top, and fault fresh zeroed pages in for the next request. Keeping up
 * to 64 MB of freed heap and serving blocks below 32 MB from it cut the
 * store stage's CPU per event by about a quarter (surge events
 * bench-store; docs/events.md "Throughput").
 *
 * The main heap grows by M_TOP_PAD at a time (128 KB by default: a
 * trip through sysmalloc per step for a heap that keeps growing, as the
 * sandbox's does; it runs on the main heap only, cli/sandbox.c). 16 MB
 * costs no resident memory: pages are only faulted in when used.
 */
static void malloc_tune(void)
{
#ifdef __GLIBC__
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
    (void)mallopt(M_TOP_PAD, 16 << 20);
#endif
}

int main(int argc, char **argv)
{
    malloc_tune();
    sg_json_init();
    return sg_cli_main(argc, argv);
}
