/*
 * err.h - error codes and the caller-supplied error detail.
 *
 * Fallible functions return 0 or a negative SG_E* code; the detail (message,
 * HTTP status, whether a retry may help) goes into a struct sg_err that the
 * caller owns. Messages are one line and never contain a secret.
 */
#ifndef SG_ERR_H
#define SG_ERR_H

#include "sg.h"

enum sg_errcode {
    SG_OK = 0,
    SG_ENOMEM = -1,    /* allocation failed */
    SG_EINVAL = -2,    /* bad input from the caller or the outside */
    SG_ENOTFOUND = -3, /* no such object (or not visible to this tenant) */
    SG_EEXISTS = -4,   /* already there (duplicate) */
    SG_EIO = -5,       /* storage or system I/O failed */
    SG_EBUSY = -6,     /* temporarily unavailable: retry later */
    SG_ETIMEDOUT = -7, /* gave up waiting */
    SG_EDECLINED = -8, /* "not mine / unsupported": a normal case */
    SG_EAUTH = -9,     /* missing or bad credentials */
    SG_EFORBIDDEN = -10, /* credentials lack the right */
    SG_ELIMIT = -11,   /* a size, count or rate limit was hit */
    SG_EFULL = -12,    /* storage is full */
    SG_EREMOTE = -13,  /* a remote platform answered with an error */
    SG_ECONFIG = -14,  /* configuration is invalid */
    SG_ESTATE = -15,   /* object is not in a state that allows this */
    SG_ESTALE = -16,   /* a lease or token no longer holds */
};

struct sg_err {
    int code;              /* SG_E* */
    int http_status;       /* HTTP status to answer or seen, 0 if none */
    bool retryable;        /* may a retry succeed? */
    int64_t retry_after_ms; /* remote's hint, -1 if none */
    char msg[256];
};

void sg_err_init(struct sg_err *err);

/*
 * Fill err (may be NULL) and return code, so callers can write
 * `return sg_err_set(err, SG_EINVAL, "...")`.
 */
int sg_err_set(struct sg_err *err, int code, const char *fmt, ...)
    SG_PRINTF(3, 4);

/* The stable lowercase name of a code, e.g. "not_found". */
const char *sg_err_name(int code);

#endif
