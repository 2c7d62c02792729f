/*
 * fuzz_config.c - sg_config_load on an arbitrary INI file: the file is
 * written by operators, but a config parser that crashes on a typo or a
 * hostile file is still a bug.
 *
 * The input goes to one private temporary file (mode 0600), rewritten for
 * each input. Invariants: the result is 0 or SG_ECONFIG/SG_ENOMEM; an
 * error message is one line; a loaded config satisfies its schema's
 * ranges for the keys checked here.
 */
#include "fuzz.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char conf_path[256];

static void cleanup(void)
{
    if (conf_path[0])
        unlink(conf_path);
}

static int conf_file(void)
{
    const char *base = getenv("TMPDIR");
    int fd;

    if (conf_path[0])
        return 0;
    snprintf(conf_path, sizeof(conf_path), "%s/sg-fuzz-conf-XXXXXX",
             base && base[0] ? base : "/tmp");
    fd = mkstemp(conf_path);
    if (fd < 0) {
        conf_path[0] = '\0';
        return -1;
    }
    close(fd);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sg_config cfg;
    struct sg_err err;
    FILE *f;
    int rc;

    if (conf_file() != 0)
        abort();
    f = fopen(conf_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    chmod(conf_path, 0600);

    memset(&cfg, 0, sizeof(cfg));
    sg_err_init(&err);
    rc = sg_config_load(&cfg, conf_path, &err);
    SG_FUZZ_CHECK(rc == 0 || rc == SG_ECONFIG || rc == SG_ENOMEM);
    if (rc) {
        SG_FUZZ_CHECK(err.msg[0] != '\0');
        SG_FUZZ_CHECK(strchr(err.msg, '\n') == NULL);
    } else {
        SG_FUZZ_CHECK(cfg.server.listen != NULL);
        SG_FUZZ_CHECK(cfg.server.threads >= 1);
        SG_FUZZ_CHECK(cfg.store.path != NULL);
    }
    sg_config_release(&cfg);
    /* Loaded secrets register with the logger; start each input afresh. */
    sg_log_clear_secrets();
    return 0;
}
