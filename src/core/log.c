/*
 * log.c - the logger. Each line is formatted into a stack buffer, secrets
 * are masked there, then written with one fwrite under a lock, so lines
 * from different threads never interleave.
 */
#include "log.h"
#include "crypto.h"
#include "err.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>

#define SECRETS_MAX 64
#define SECRET_LEN_MAX 512
#define LINE_MAX_BYTES 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_level = SG_LOG_INFO;
static FILE *log_file;
static char log_secrets[SECRETS_MAX][SECRET_LEN_MAX];
static size_t log_secrets_n;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void sg_log_set_level(int level)
{
    if (level >= SG_LOG_ERR && level <= SG_LOG_DEBUG)
        log_level = level;
}

int sg_log_level(void)
{
    return log_level;
}

int sg_log_level_parse(const char *name)
{
    for (size_t i = 0; i < SG_ARRAY_SIZE(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void sg_log_set_file(FILE *f)
{
    pthread_mutex_lock(&log_lock);
    log_file = f;
    pthread_mutex_unlock(&log_lock);
}

int sg_log_add_secret(const char *secret)
{
    size_t len = secret ? strlen(secret) : 0;
    int rc = 0;

    if (len < 6 || len >= SECRET_LEN_MAX)
        return 0;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_secrets_n; i++)
        if (sg_ct_equal(log_secrets[i], strlen(log_secrets[i]), secret, len))
            goto out;
    if (log_secrets_n == SECRETS_MAX) {
        rc = SG_ELIMIT;
        goto out;
    }
    memcpy(log_secrets[log_secrets_n++], secret, len + 1);
out:
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void sg_log_clear_secrets(void)
{
    pthread_mutex_lock(&log_lock);
    log_secrets_n = 0;
    pthread_mutex_unlock(&log_lock);
}

/* Replace every registered secret in line with "***". Caller holds the lock. */
static void mask_secrets(char *line, size_t *len)
{
    for (size_t i = 0; i < log_secrets_n; i++) {
        const char *s = log_secrets[i];
        size_t slen = strlen(s);
        char *hit;

        while ((hit = strstr(line, s)) != NULL) {
            size_t tail = *len - (size_t)(hit - line) - slen;

            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + slen, tail + 1);
            *len -= slen - 3;
        }
    }
}

void sg_log(int level, const char *component, const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    struct timespec ts;
    struct tm tm;
    size_t len;
    int n;
    va_list ap;

    if (level > log_level)
        return;
    if (level < SG_LOG_ERR)
        level = SG_LOG_ERR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                 level_names[level], component);
    if (n < 0)
        return;
    len = (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        len = SG_MIN(len + (size_t)n, sizeof(line) - 2);
    line[len] = '\0';
    pthread_mutex_lock(&log_lock);
    mask_secrets(line, &len);
    line[len++] = '\n';
    fwrite(line, 1, len, log_file ? log_file : stderr);
    fflush(log_file ? log_file : stderr);
    pthread_mutex_unlock(&log_lock);
}

void sg_thread_set_name(const char *name)
{
    char n[16];

    snprintf(n, sizeof(n), "%s", name ? name : "");
    (void)prctl(PR_SET_NAME, (unsigned long)n, 0UL, 0UL, 0UL);
}
