/*
 * err.c - error detail helpers. Kept free of allocation so that an error
 * can always be reported, even when memory has run out.
 */
#include "err.h"
#include "log.h"

void sg_err_init(struct sg_err *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->retry_after_ms = -1;
}

int sg_err_set(struct sg_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    err->retryable =
        code == SG_EBUSY || code == SG_ETIMEDOUT || code == SG_EFULL;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

const char *sg_err_name(int code)
{
    switch (code) {
    case SG_OK:
        return "ok";
    case SG_ENOMEM:
        return "out_of_memory";
    case SG_EINVAL:
        return "invalid";
    case SG_ENOTFOUND:
        return "not_found";
    case SG_EEXISTS:
        return "exists";
    case SG_EIO:
        return "io_error";
    case SG_EBUSY:
        return "busy";
    case SG_ETIMEDOUT:
        return "timed_out";
    case SG_EDECLINED:
        return "declined";
    case SG_EAUTH:
        return "unauthorized";
    case SG_EFORBIDDEN:
        return "forbidden";
    case SG_ELIMIT:
        return "limit";
    case SG_EFULL:
        return "storage_full";
    case SG_EREMOTE:
        return "remote_error";
    case SG_ECONFIG:
        return "config";
    case SG_ESTATE:
        return "bad_state";
    case SG_ESTALE:
        return "stale";
    default:
        return "unknown";
    }
}

void sg_assert_fail(const char *expr, const char *file, int line)
{
    sg_log(SG_LOG_ERR, "assert", "msg=\"assertion failed\" expr=\"%s\" at=%s:%d",
           expr, file, line);
    abort();
}
