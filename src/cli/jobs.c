/*
 * jobs.c - "surge jobs list|show|retry": the outbox and its dead letters,
 * read through the store's reader pool; retry is a write (DEAD -> QUEUED)
 * audited with actor "cli". Output is a table, or JSON with --json.
 */
#include "core/sg.h"

#include "cli/cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "store/store.h"

#define LIMIT_DEFAULT   50
#define LIMIT_MAX       1000
#define ERROR_SHOWN_MAX 48

/* A positive decimal int64, or -1. */
static int64_t parse_id(const char *s)
{
    int64_t v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v > 0 ? v : -1;
}

static void fmt_time(int64_t ms, char out[32])
{
    if (ms <= 0)
        snprintf(out, 32, "-");
    else
        sg_time_format(ms, out);
}

static json_t *job_json(const struct sg_job *j)
{
    char t[3][32];
    json_t *o;

    fmt_time(j->next_run_at, t[0]);
    fmt_time(j->created_at, t[1]);
    fmt_time(j->updated_at, t[2]);
    o = json_object();
    if (!o)
        return NULL;
    if (json_object_set_new(o, "id", json_integer(j->id)) ||
        json_object_set_new(o, "tenant_id", json_integer(j->tenant_id)) ||
        json_object_set_new(o, "kind", json_string(j->kind)) ||
        json_object_set_new(o, "state",
                            json_string(sg_job_state_name(j->state))) ||
        json_object_set_new(o, "attempts", json_integer(j->attempts)) ||
        json_object_set_new(o, "attempts_max", json_integer(j->attempts_max)) ||
        json_object_set_new(o, "priority", json_integer(j->priority)) ||
        json_object_set_new(o, "next_run_at", json_string(t[0])) ||
        json_object_set_new(o, "created_at", json_string(t[1])) ||
        json_object_set_new(o, "updated_at", json_string(t[2])) ||
        json_object_set_new(o, "platform", json_string(j->platform)) ||
        json_object_set_new(o, "shop", json_string(j->shop)) ||
        json_object_set_new(o, "endpoint_class",
                            json_string(j->endpoint_class)) ||
        json_object_set_new(o, "coalesce_key",
                            j->coalesce_key ? json_string(j->coalesce_key)
                                            : json_null()) ||
        json_object_set_new(o, "idempotency_key",
                            j->idempotency_key ? json_string(j->idempotency_key)
                                               : json_null()) ||
        json_object_set_new(o, "last_error",
                            j->last_error ? json_string(j->last_error)
                                          : json_null())) {
        json_decref(o);
        return NULL;
    }
    /* The payload is JSON text; show it as JSON when it parses. */
    if (j->payload) {
        json_t *p = sg_json_loads(j->payload, JSON_REJECT_DUPLICATES, NULL);
        if (!p)
            p = json_string(j->payload);
        if (json_object_set_new(o, "payload", p)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int print_json(json_t *j)
{
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
        json_decref(j);
        sg_cli_errorf("out of memory");
        return SG_EXIT_FAIL;
    }
    json_decref(j);
    putchar('\n');
    return SG_EXIT_OK;
}

/* Shared start of every jobs command: config and store. */
static int open_all(struct sg_config *cfg, struct sg_store **store,
                    const char *config)
{
    int status = sg_cli_load_config(cfg, config);

    if (status != 0)
        return status;
    sg_cli_quiet_logs(cfg);
    return sg_cli_open_store(store, cfg);
}

int sg_cli_jobs_list(int argc, char **argv)
{
    const char *config = NULL, *state_s = NULL, *tenant = NULL;
    const char *limit_s = NULL;
    bool as_json = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL}, {"--state", &state_s, NULL},
        {"--tenant", &tenant, NULL}, {"--limit", &limit_s, NULL},
        {"--json", NULL, &as_json},
    };
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_job *jobs = NULL;
    struct sg_tenant t;
    struct sg_err err;
    int64_t tenant_id = 0, limit = LIMIT_DEFAULT;
    size_t n_pos, n = 0;
    int rc, status, state = -1;

    rc = sg_cli_parse("jobs list", argc, argv, opts, SG_ARRAY_SIZE(opts), NULL,
                      0, 0, &n_pos);
    if (rc >= 0)
        return rc;
    if (state_s) {
        state = sg_job_state_parse(state_s);
        if (state < 0)
            return sg_cli_usage_error("jobs list",
                                      "bad --state \"%.32s\": expected "
                                      "queued, running, done or dead",
                                      state_s);
    }
    if (limit_s) {
        limit = parse_id(limit_s);
        if (limit < 1 || limit > LIMIT_MAX)
            return sg_cli_usage_error("jobs list",
                                      "bad --limit \"%.32s\": expected "
                                      "1..%d",
                                      limit_s, LIMIT_MAX);
    }
    status = open_all(&cfg, &store, config);
    if (status != 0)
        goto out;
    status = SG_EXIT_FAIL;
    if (tenant) {
        sg_err_init(&err);
        rc = sg_store_tenant_get(store, tenant, &t, &err);
        if (rc == SG_ENOTFOUND) {
            sg_cli_errorf("no tenant named \"%.64s\"", tenant);
            goto out;
        }
        if (rc < 0) {
            sg_cli_errorf("cannot read tenant: %s", err.msg);
            goto out;
        }
        tenant_id = t.id;
    }
    sg_err_init(&err);
    rc = sg_store_job_list(store, tenant_id, state, 0, (size_t)limit, &jobs, &n,
                           &err);
    if (rc < 0) {
        sg_cli_errorf("cannot list jobs: %s", err.msg);
        goto out;
    }
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, job_json(&jobs[i])) < 0) {
                json_decref(arr);
                arr = NULL;
            }
        status = print_json(arr);
        goto out;
    }
    if (n == 0) {
        printf("no jobs\n");
        status = SG_EXIT_OK;
        goto out;
    }
    printf("%-8s %-8s %-7s %-20s %-8s %-24s %s\n", "ID", "STATE", "TENANT",
           "KIND", "ATTEMPTS", "NEXT RUN", "LAST ERROR");
    for (size_t i = 0; i < n; i++) {
        const struct sg_job *j = &jobs[i];
        char when[32], tries[24];
        fmt_time(j->next_run_at, when);
        snprintf(tries, sizeof(tries), "%d/%d", j->attempts, j->attempts_max);
        printf("%-8" PRId64 " %-8s %-7" PRId64 " %-20s %-8s %-24s %.*s\n",
               j->id, sg_job_state_name(j->state), j->tenant_id, j->kind, tries,
               when, ERROR_SHOWN_MAX, j->last_error ? j->last_error : "-");
    }
    status = SG_EXIT_OK;
out:
    sg_job_list_free(jobs, n);
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}

/* Read job ID (from pos) or print why not; 0 or an exit status. */
static int get_job(struct sg_store *store, int64_t id, struct sg_job *job)
{
    struct sg_err err;
    int rc;

    sg_err_init(&err);
    rc = sg_store_job_get(store, 0, id, job, &err);
    if (rc == SG_ENOTFOUND) {
        sg_cli_errorf("no job %" PRId64, id);
        return SG_EXIT_FAIL;
    }
    if (rc < 0) {
        sg_cli_errorf("cannot read job %" PRId64 ": %s", id, err.msg);
        return SG_EXIT_FAIL;
    }
    return 0;
}

int sg_cli_jobs_show(int argc, char **argv)
{
    const char *config = NULL;
    bool as_json = false;
    struct sg_cli_opt opts[] = {
        {"--config", &config, NULL},
        {"--json", NULL, &as_json},
    };
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct sg_job job;
    char *pos[1], t[3][32];
    size_t n_pos;
    int64_t id;
    int rc, status;
    bool have_job = false;

    rc = sg_cli_parse("jobs show", argc, argv, opts, SG_ARRAY_SIZE(opts), pos,
                      1, 1, &n_pos);
    if (rc >= 0)
        return rc;
    id = parse_id(pos[0]);
    if (id < 0)
        return sg_cli_usage_error("jobs show",
                                  "bad job id \"%.32s\": expected a "
                                  "positive integer",
                                  pos[0]);
    memset(&job, 0, sizeof(job));
    status = open_all(&cfg, &store, config);
    if (status != 0)
        goto out;
    status = get_job(store, id, &job);
    if (status != 0)
        goto out;
    have_job = true;
    if (as_json) {
        status = print_json(job_json(&job));
        goto out;
    }
    fmt_time(job.next_run_at, t[0]);
    fmt_time(job.created_at, t[1]);
    fmt_time(job.updated_at, t[2]);
    printf("id:              %" PRId64 "\n"
           "tenant_id:       %" PRId64 "\n"
           "kind:            %s\n"
           "state:           %s\n"
           "attempts:        %d of %d\n"
           "priority:        %d\n"
           "next_run_at:     %s\n"
           "created_at:      %s\n"
           "updated_at:      %s\n"
           "platform:        %s\n"
           "shop:            %s\n"
           "endpoint_class:  %s\n"
           "coalesce_key:    %s\n"
           "idempotency_key: %s\n"
           "last_error:      %s\n"
           "payload:         %s\n",
           job.id, job.tenant_id, job.kind, sg_job_state_name(job.state),
           job.attempts, job.attempts_max, job.priority, t[0], t[1], t[2],
           job.platform[0] ? job.platform : "-", job.shop[0] ? job.shop : "-",
           job.endpoint_class[0] ? job.endpoint_class : "-",
           job.coalesce_key ? job.coalesce_key : "-",
           job.idempotency_key ? job.idempotency_key : "-",
           job.last_error ? job.last_error : "-",
           job.payload ? job.payload : "-");
    status = SG_EXIT_OK;
out:
    if (have_job)
        sg_job_free(&job);
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}

struct job_retry {
    int64_t tenant_id;
    int64_t id;
};

static int job_retry_write(struct sg_store_tx *tx, void *arg,
                           struct sg_err *err)
{
    struct job_retry *jr = arg;
    struct sg_audit a;
    char object[48];
    int rc;

    rc = sg_store_tx_job_retry(tx, 0, jr->id, err);
    if (rc < 0)
        return rc;
    snprintf(object, sizeof(object), "job:%" PRId64, jr->id);
    sg_cli_audit_fill(&a, jr->tenant_id, "job.retry", object, "ok");
    return sg_store_tx_audit(tx, &a, err);
}

int sg_cli_jobs_retry(int argc, char **argv)
{
    const char *config = NULL;
    struct sg_cli_opt opts[] = {{"--config", &config, NULL}};
    struct sg_config cfg = {0};
    struct sg_store *store = NULL;
    struct job_retry jr = {0};
    struct sg_job job;
    struct sg_err err;
    char *pos[1], object[48];
    size_t n_pos;
    int rc, status, state;

    rc = sg_cli_parse("jobs retry", argc, argv, opts, SG_ARRAY_SIZE(opts), pos,
                      1, 1, &n_pos);
    if (rc >= 0)
        return rc;
    jr.id = parse_id(pos[0]);
    if (jr.id < 0)
        return sg_cli_usage_error("jobs retry",
                                  "bad job id \"%.32s\": expected a "
                                  "positive integer",
                                  pos[0]);
    status = open_all(&cfg, &store, config);
    if (status != 0)
        goto out;
    /* Read first, for the tenant (audit) and a precise message. */
    status = get_job(store, jr.id, &job);
    if (status != 0)
        goto out;
    jr.tenant_id = job.tenant_id;
    state = job.state;
    sg_job_free(&job);

    snprintf(object, sizeof(object), "job:%" PRId64, jr.id);
    /* The store also accepts a queued job (idempotent); the CLI is
     * stricter so that an operator's typo does not reset a live job. */
    if (state != SG_JOB_DEAD) {
        sg_cli_audit_failure(store, jr.tenant_id, "job.retry", object,
                             SG_ESTATE);
        sg_cli_errorf("job %" PRId64 " is %s, not dead; only dead jobs can "
                      "be retried",
                      jr.id, sg_job_state_name(state));
        status = SG_EXIT_FAIL;
        goto out;
    }
    sg_err_init(&err);
    rc = sg_store_write(store, job_retry_write, &jr, &err);
    if (rc < 0) {
        sg_cli_audit_failure(store, jr.tenant_id, "job.retry", object, rc);
        if (rc == SG_ESTATE)
            sg_cli_errorf("job %" PRId64 " is not dead; only dead jobs "
                          "can be retried",
                          jr.id);
        else if (rc == SG_ENOTFOUND)
            sg_cli_errorf("no job %" PRId64, jr.id);
        else
            sg_cli_errorf("cannot retry job %" PRId64 ": %s", jr.id, err.msg);
        status = SG_EXIT_FAIL;
        goto out;
    }
    printf("job %" PRId64 " queued again\n", jr.id);
    status = SG_EXIT_OK;
out:
    sg_store_free(store);
    sg_config_release(&cfg);
    return status;
}
