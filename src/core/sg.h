/*
 * sg.h - the first include of every Surge source file.
 *
 * It pulls in the standard headers every file relies on and the
 * project-wide macros (assertions, attributes, array helpers).
 */
#ifndef SG_SG_H
#define SG_SG_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_VERSION "0.1.0"

#define SG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SG_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define SG_MAX(a, b)     ((a) > (b) ? (a) : (b))
#define SG_UNUSED(x)     ((void)(x))

#if defined(__GNUC__)
#define SG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SG_NORETURN     __attribute__((noreturn))
#else
#define SG_PRINTF(f, a)
#define SG_NORETURN
#endif

SG_NORETURN void sg_assert_fail(const char *expr, const char *file, int line);

/* Cheap invariants: stay on in release builds. */
#define SG_ASSERT(e)                                                           \
    ((e) ? (void)0 : sg_assert_fail(#e, __FILE__, __LINE__))

/* Expensive invariants: only in debug builds. */
#ifdef NDEBUG
#define SG_DEBUG_ASSERT(e) ((void)0)
#else
#define SG_DEBUG_ASSERT(e) SG_ASSERT(e)
#endif

/*
 * Banned functions (strcpy, strcat, sprintf, vsprintf, gets, atoi, atol,
 * strtok, gmtime, localtime, rand, system, bare malloc/free) are enforced
 * by scripts/check-banned.sh, which runs as a test. They are not
 * #pragma-poisoned here because sg.h comes first and system and OpenSSL
 * headers included after it mention some of those names.
 */

#endif
