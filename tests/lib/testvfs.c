/*
 * testvfs.c - the durability tests' VFS (see testvfs.h): undo logs for
 * power cuts, and write and sync failures on cue.
 */
#include "testvfs.h"
#include "core/sg.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tv_file {
    sqlite3_file base;
    bool watched;       /* the database or its WAL */
    int undo;           /* -1: no undo log */
    sqlite3_file *real; /* the default VFS's file, right after us */
};

static sqlite3_vfs tv_vfs;
static sqlite3_vfs *tv_base;
static sqlite3_io_methods tv_io;
static bool tv_undo;
static struct sgt_vfs_faults tv_faults;
static atomic_long tv_writes, tv_syncs, tv_failed;

void sgt_vfs_arm(const struct sgt_vfs_faults *f)
{
    tv_faults = *f;
    atomic_store(&tv_writes, 0);
    atomic_store(&tv_syncs, 0);
    atomic_store(&tv_failed, 0);
}

long sgt_vfs_writes(void)
{
    return atomic_load(&tv_writes);
}

long sgt_vfs_syncs(void)
{
    return atomic_load(&tv_syncs);
}

long sgt_vfs_failed(void)
{
    return atomic_load(&tv_failed);
}

/* Whether the n-th operation of a kind whose fault is at k fails. */
static bool tv_fails(long n, long k)
{
    bool fail = k > 0 && (n == k || (tv_faults.persist && n > k));

    if (fail)
        atomic_fetch_add(&tv_failed, 1);
    return fail;
}

/* Append what [off, off + len) holds now (and the size) to the undo log. */
static int undo_append(struct tv_file *f, uint32_t type, int64_t off,
                       int64_t len)
{
    struct sgt_undo_hdr h = {SGT_UNDO_MAGIC, type, off, len, 0};
    sqlite3_int64 size = 0;
    int64_t have;
    char *rec;
    size_t n;
    ssize_t w;
    int rc;

    rc = f->real->pMethods->xFileSize(f->real, &size);
    if (rc != SQLITE_OK)
        return rc;
    h.old_size = size;
    have = size > off ? SG_MIN(len, size - off) : 0;
    n = sizeof(h) + (size_t)have;
    rec = malloc(n);
    if (!rec)
        return SQLITE_IOERR_NOMEM;
    memcpy(rec, &h, sizeof(h));
    if (have > 0) {
        rc = f->real->pMethods->xRead(f->real, rec + sizeof(h), (int)have,
                                      off);
        if (rc != SQLITE_OK) {
            free(rec);
            return rc;
        }
    }
    /* One write call for header and bytes: O_APPEND keeps it whole. */
    w = write(f->undo, rec, n);
    free(rec);
    return w == (ssize_t)n ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int tv_close(sqlite3_file *file)
{
    struct tv_file *f = (struct tv_file *)file;
    int rc = f->real->pMethods->xClose(f->real);

    if (f->undo >= 0)
        close(f->undo);
    return rc;
}

static int tv_read(sqlite3_file *file, void *buf, int n, sqlite3_int64 off)
{
    struct tv_file *f = (struct tv_file *)file;

    return f->real->pMethods->xRead(f->real, buf, n, off);
}

static int tv_write(sqlite3_file *file, const void *buf, int n,
                    sqlite3_int64 off)
{
    struct tv_file *f = (struct tv_file *)file;

    if (f->watched &&
        tv_fails(atomic_fetch_add(&tv_writes, 1) + 1, tv_faults.write_at))
        return SQLITE_IOERR_WRITE;
    if (f->undo >= 0) {
        int rc = undo_append(f, SGT_UNDO_WRITE, off, n);

        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xWrite(f->real, buf, n, off);
}

static int tv_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct tv_file *f = (struct tv_file *)file;
    sqlite3_int64 now = 0;

    if (f->undo >= 0 &&
        f->real->pMethods->xFileSize(f->real, &now) == SQLITE_OK &&
        now > size) {
        int rc = undo_append(f, SGT_UNDO_TRUNCATE, size, now - size);

        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xTruncate(f->real, size);
}

/* What the sync made durable is no longer the power cut's to take. */
static int tv_sync(sqlite3_file *file, int flags)
{
    struct tv_file *f = (struct tv_file *)file;
    int rc;

    if (f->watched &&
        tv_fails(atomic_fetch_add(&tv_syncs, 1) + 1, tv_faults.sync_at))
        return SQLITE_IOERR_FSYNC;
    rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK && f->undo >= 0 && ftruncate(f->undo, 0) != 0)
        rc = SQLITE_IOERR_FSYNC;
    return rc;
}

#define TV_FWD(name, args, call)                                               \
    static int tv_##name args                                                  \
    {                                                                          \
        struct tv_file *f = (struct tv_file *)file;                            \
        return f->real->pMethods->x##call;                                     \
    }

TV_FWD(size, (sqlite3_file * file, sqlite3_int64 *out), FileSize(f->real, out))
TV_FWD(lock, (sqlite3_file * file, int l), Lock(f->real, l))
TV_FWD(unlock, (sqlite3_file * file, int l), Unlock(f->real, l))
TV_FWD(check, (sqlite3_file * file, int *out),
       CheckReservedLock(f->real, out))
TV_FWD(fcntl, (sqlite3_file * file, int op, void *arg),
       FileControl(f->real, op, arg))
TV_FWD(sector, (sqlite3_file * file), SectorSize(f->real))
TV_FWD(caps, (sqlite3_file * file), DeviceCharacteristics(f->real))
TV_FWD(shm_map,
       (sqlite3_file * file, int pg, int pgsz, int extend, void volatile **pp),
       ShmMap(f->real, pg, pgsz, extend, pp))
TV_FWD(shm_lock, (sqlite3_file * file, int ofs, int n, int flags),
       ShmLock(f->real, ofs, n, flags))
TV_FWD(shm_unmap, (sqlite3_file * file, int del), ShmUnmap(f->real, del))
TV_FWD(fetch, (sqlite3_file * file, sqlite3_int64 off, int n, void **pp),
       Fetch(f->real, off, n, pp))
TV_FWD(unfetch, (sqlite3_file * file, sqlite3_int64 off, void *p),
       Unfetch(f->real, off, p))

static void tv_shm_barrier(sqlite3_file *file)
{
    struct tv_file *f = (struct tv_file *)file;

    f->real->pMethods->xShmBarrier(f->real);
}

static int tv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                   int flags, int *out_flags)
{
    struct tv_file *f = (struct tv_file *)file;
    int rc;

    SG_UNUSED(vfs);
    memset(f, 0, sizeof(*f));
    f->undo = -1;
    f->real = (sqlite3_file *)(f + 1);
    rc = tv_base->xOpen(tv_base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->base.pMethods = NULL;
        return rc;
    }
    f->watched = name && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL));
    if (f->watched && tv_undo) {
        char path[600];

        snprintf(path, sizeof(path), "%s-undo", name);
        f->undo = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (f->undo < 0) {
            f->real->pMethods->xClose(f->real);
            f->base.pMethods = NULL;
            return SQLITE_CANTOPEN;
        }
    }
    f->base.pMethods = &tv_io;
    return SQLITE_OK;
}

void sgt_vfs_install(bool undo_log)
{
    tv_undo = undo_log;
    tv_base = sqlite3_vfs_find(NULL);
    if (!tv_base)
        _exit(3);
    tv_vfs = *tv_base;
    tv_vfs.zName = "sg-testvfs";
    tv_vfs.szOsFile = (int)sizeof(struct tv_file) + tv_base->szOsFile;
    tv_vfs.xOpen = tv_open;
    tv_vfs.pNext = NULL;
    /* Version 3 (memory-mapped reads): walbuf gathers only over it. */
    tv_io.iVersion = 3;
    tv_io.xClose = tv_close;
    tv_io.xRead = tv_read;
    tv_io.xWrite = tv_write;
    tv_io.xTruncate = tv_truncate;
    tv_io.xSync = tv_sync;
    tv_io.xFileSize = tv_size;
    tv_io.xLock = tv_lock;
    tv_io.xUnlock = tv_unlock;
    tv_io.xCheckReservedLock = tv_check;
    tv_io.xFileControl = tv_fcntl;
    tv_io.xSectorSize = tv_sector;
    tv_io.xDeviceCharacteristics = tv_caps;
    tv_io.xShmMap = tv_shm_map;
    tv_io.xShmLock = tv_shm_lock;
    tv_io.xShmBarrier = tv_shm_barrier;
    tv_io.xShmUnmap = tv_shm_unmap;
    tv_io.xFetch = tv_fetch;
    tv_io.xUnfetch = tv_unfetch;
    /* The default, so the store's WAL gatherer sits on top of it. */
    if (sqlite3_vfs_register(&tv_vfs, 1) != SQLITE_OK)
        _exit(3);
}
