/*
 * utf8.h - UTF-8 checks for text that arrives outside JSON (CSV imports,
 * headers). JSON text is checked by the parser; text from other sources
 * must be checked before it reaches a JSON view, where jansson would
 * refuse it and the field would silently vanish.
 */
#ifndef SG_CORE_UTF8_H
#define SG_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether s[0..len) is well-formed UTF-8 (RFC 3629): no overlong forms,
 * no surrogates, nothing above U+10FFFF, no NUL byte inside.
 */
bool sg_utf8_valid(const char *s, size_t len);

#endif
