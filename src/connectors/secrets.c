/*
 * secrets.c - load and create the token-sealing key file (secrets.h).
 * The mode check uses fstat on the open descriptor, so the file checked
 * is the file read.
 */
#include "core/sg.h"

#include "connectors/secrets.h"
#include "core/crypto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 256

int sg_secret_key_load(unsigned char key[SG_SECRET_KEY_LEN], const char *path,
                       struct sg_err *err)
{
    char buf[KEY_FILE_MAX + 1];
    struct stat st;
    ssize_t got;
    size_t a = 0, b;
    int fd, rc = 0;

    if (!path || !path[0])
        return sg_err_set(err, SG_ECONFIG, "[secrets] key_file is not set");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sg_err_set(err, errno == ENOENT ? SG_ENOTFOUND : SG_EIO,
                          "cannot open key file %s: %s", path,
                          strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = sg_err_set(err, SG_EIO, "cannot stat %s", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = sg_err_set(err, SG_EFORBIDDEN,
                        "key file %s is readable by group or others "
                        "(mode %03o); chmod 600 it",
                        path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    got = read(fd, buf, KEY_FILE_MAX);
    if (got < 0) {
        rc = sg_err_set(err, SG_EIO, "cannot read %s", path);
        goto out;
    }
    b = (size_t)got;
    while (a < b && (buf[a] == ' ' || buf[a] == '\n' || buf[a] == '\t' ||
                     buf[a] == '\r'))
        a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\n' ||
                     buf[b - 1] == '\t' || buf[b - 1] == '\r'))
        b--;
    if (b - a != 2 * SG_SECRET_KEY_LEN ||
        sg_hex_decode(buf + a, 2 * SG_SECRET_KEY_LEN, key) != 0)
        rc = sg_err_set(err, SG_EINVAL,
                        "key file %s must hold 64 hex digits", path);
out:
    memset(buf, 0, sizeof(buf));
    close(fd);
    return rc;
}

int sg_secret_key_create(const char *path, struct sg_err *err)
{
    unsigned char key[SG_SECRET_KEY_LEN];
    char hex[2 * SG_SECRET_KEY_LEN + 2];
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sg_err_set(err, errno == EEXIST ? SG_EEXISTS : SG_EIO,
                          "cannot create %s: %s", path, strerror(errno));
    if (sg_random_bytes(key, sizeof(key)) != 0) {
        rc = sg_err_set(err, SG_EIO, "no random bytes");
        goto out;
    }
    sg_hex_encode(key, sizeof(key), hex);
    hex[2 * SG_SECRET_KEY_LEN] = '\n';
    hex[2 * SG_SECRET_KEY_LEN + 1] = '\0';
    if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
        fsync(fd) != 0)
        rc = sg_err_set(err, SG_EIO, "cannot write %s", path);
out:
    memset(key, 0, sizeof(key));
    memset(hex, 0, sizeof(hex));
    close(fd);
    if (rc)
        unlink(path);
    return rc;
}
