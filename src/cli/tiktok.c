/*
 * tiktok.c - `surge tiktok`: the signature doctor. `sign` prints the base
 * string and the signature of a request (reference 1.3); `verify-webhook`
 * checks a webhook's Authorization value (reference 1.9) and, when it does
 * not match, shows what was signed. Exit 0 valid, 1 invalid, 2 usage.
 */
#include "core/sg.h"
#include "cli/cli.h"
#include "connectors/tiktok_shop/sign.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

#define CMD "tiktok"
#define QUERY_MAX 64
#define FILE_MAX (64u << 20)

static int usage(const char *why)
{
    fprintf(stderr,
            "surge: %s\n"
            "usage: surge tiktok sign --app-secret S --path P "
            "[--query k=v ...] [--body-file F] [--multipart]\n"
            "       surge tiktok verify-webhook --app-key K --app-secret S "
            "--signature HEX --body-file F\n",
            why);
    return SG_EXIT_USAGE;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct sg_buf b;
    char chunk[8192];
    size_t n;

    *len = 0;
    if (!f)
        return NULL;
    sg_buf_init(&b, FILE_MAX);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (sg_buf_append(&b, chunk, n)) {
            sg_buf_release(&b);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    if (!b.data)
        return sg_strdup("");
    return sg_buf_detach(&b, len);
}

/* The value after argv[*i] for a "--name" or "--name=value" option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int cmd_sign(int argc, char **argv)
{
    const char *secret = NULL, *path = NULL, *body_file = NULL, *v;
    struct sg_tts_kv kv[QUERY_MAX];
    size_t n = 0, body_len = 0;
    bool multipart = false;
    struct sg_buf base;
    char *body = NULL, sig[65];
    int rc = SG_EXIT_OK;

    for (int i = 1; i < argc; i++) {
        if ((v = opt_value(argc, argv, &i, "--app-secret"))) {
            secret = v;
        } else if ((v = opt_value(argc, argv, &i, "--path"))) {
            path = v;
        } else if ((v = opt_value(argc, argv, &i, "--body-file"))) {
            body_file = v;
        } else if ((v = opt_value(argc, argv, &i, "--query"))) {
            const char *eq = strchr(v, '=');

            if (!eq || n == QUERY_MAX)
                return usage("--query takes key=value");
            kv[n].key = v;
            kv[n].key_len = (size_t)(eq - v);
            kv[n].val = eq + 1;
            kv[n].val_len = strlen(eq + 1);
            n++;
        } else if (strcmp(argv[i], "--multipart") == 0) {
            multipart = true;
        } else {
            return usage("unknown or incomplete option");
        }
    }
    if (!secret || !path)
        return usage("sign needs --app-secret and --path");
    if (body_file && !(body = read_file(body_file, &body_len))) {
        fprintf(stderr, "surge: cannot read %s\n", body_file);
        return SG_EXIT_FAIL;
    }
    sg_buf_init(&base, FILE_MAX + 65536);
    if (sg_tts_sign_base(&base, path, kv, n, multipart ? NULL : body,
                         multipart ? 0 : body_len) ||
        sg_tts_sign_wrap(sig, secret, base.data ? base.data : "",
                         base.len)) {
        fprintf(stderr, "surge: out of memory\n");
        rc = SG_EXIT_FAIL;
    } else {
        printf("base string: %.*s\n", (int)base.len,
               base.data ? base.data : "");
        printf("signed string: <app_secret>%.*s<app_secret>\n",
               (int)base.len, base.data ? base.data : "");
        printf("sign: %s\n", sig);
    }
    sg_buf_release(&base);
    sg_free(body);
    return rc;
}

static int cmd_verify(int argc, char **argv)
{
    const char *key = NULL, *secret = NULL, *sig = NULL, *file = NULL, *v;
    char *body;
    size_t len;
    char want[65];
    int rc;

    for (int i = 1; i < argc; i++) {
        if ((v = opt_value(argc, argv, &i, "--app-key")))
            key = v;
        else if ((v = opt_value(argc, argv, &i, "--app-secret")))
            secret = v;
        else if ((v = opt_value(argc, argv, &i, "--signature")))
            sig = v;
        else if ((v = opt_value(argc, argv, &i, "--body-file")))
            file = v;
        else
            return usage("unknown or incomplete option");
    }
    if (!key || !secret || !sig || !file)
        return usage("verify-webhook needs --app-key, --app-secret, "
                     "--signature and --body-file");
    if (!(body = read_file(file, &len))) {
        fprintf(stderr, "surge: cannot read %s\n", file);
        return SG_EXIT_USAGE;
    }
    if (sg_tts_webhook_verify(key, secret, sig, strlen(sig), body, len)) {
        printf("valid\n");
        rc = SG_EXIT_OK;
    } else {
        sg_tts_webhook_sign(want, key, secret, body, len);
        printf("invalid\n");
        printf("signed string: app_key + raw body (%zu bytes): %s%.*s\n",
               strlen(key) + len, key, (int)len, body);
        printf("expected: %s\n", want);
        printf("received: %s\n", sig);
        rc = SG_EXIT_FAIL;
    }
    sg_free(body);
    return rc;
}

int sg_cli_tiktok(int argc, char **argv)
{
    if (argc < 2)
        return usage("missing subcommand");
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify-webhook") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage("help");
        return SG_EXIT_OK;
    }
    return usage("unknown subcommand");
}
