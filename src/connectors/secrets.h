/*
 * secrets.h - the key that seals channel tokens at rest ([secrets]
 * key_file): 32 random bytes written as 64 hex characters. A key file
 * that group or others may read is refused, so a token is never more
 * readable than the key that protects it.
 */
#ifndef SG_CONNECTORS_SECRETS_H
#define SG_CONNECTORS_SECRETS_H

#include "core/sg.h"
#include "core/err.h"

#define SG_SECRET_KEY_LEN 32

/*
 * Read the key. SG_ENOTFOUND when the file does not exist, SG_EFORBIDDEN
 * when its mode allows group/other access, SG_EINVAL when it is not 64
 * hex digits (surrounding white space allowed), SG_EIO otherwise.
 */
int sg_secret_key_load(unsigned char key[SG_SECRET_KEY_LEN], const char *path,
                       struct sg_err *err);
/*
 * Create a new random key file, mode 0600, refusing to replace one:
 * SG_EEXISTS when path exists, SG_EIO on failure.
 */
int sg_secret_key_create(const char *path, struct sg_err *err);

#endif
