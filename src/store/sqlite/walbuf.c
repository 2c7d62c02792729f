/*
 * walbuf.c - a VFS over SQLite's default one that gathers a transaction's
 * WAL frames into a few large writes.
 *
 * SQLite writes each WAL frame as two pwrite calls (its 24-byte header,
 * then the page) at consecutive offsets; a group commit of a few dozen
 * orders writes a few hundred frames, and under bench/spike's order flood
 * those calls (the system call entry is dear on this kind of VM) were
 * about a tenth of surge's CPU. Here the WAL file's writes that follow
 * each other are kept in a buffer and written with a few large pwrites
 * (124 KB each) when the transaction's commit frame is complete, and before anything else
 * touches the file: a read (the writer reading back a page it spilled),
 * a write elsewhere (a frame rewritten in place), truncate, sync, size,
 * file control, close. So every frame is in the file before SQLite
 * syncs it or publishes it in the WAL index, which is when another
 * connection (a reader, the checkpointer) can first look for it: what
 * the file holds at those moments is what it held before, byte for byte.
 *
 * A commit frame is the one whose header carries the database size
 * (bytes 4..7, non-zero; zero for the other frames of a transaction), as
 * the WAL format defines. A failed flush drops the buffer and returns
 * the error for the write in hand, so SQLite fails that transaction as it
 * would have failed on the frame's own write (a full disk is still
 * SQLITE_FULL). Without memory for the buffer the WAL cannot be opened
 * (SQLITE_NOMEM, the store's SG_ENOMEM). Every other file (the database, its shared memory, temporary
 * files) is the default VFS's own file, untouched.
 */
#include "core/sg.h"

#include <pthread.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "store/sqlite/walbuf.h"

#define WB_NAME     "sg-walbuf"
#define WB_BUF_SIZE (1u << 20)
#define WB_HDR      24 /* a WAL frame's header */
#define WB_WRITE_MAX (124u << 10)

struct wb_file {
    sqlite3_file base;   /* pMethods = &wb_io */
    sqlite3_file *real;  /* the default VFS's file, right after us */
    unsigned char *buf;  /* NULL: write through (an old method table) */
    size_t len;          /* bytes held */
    sqlite3_int64 start; /* file offset of buf[0] */
    bool commit_hdr;     /* the last write was a commit frame's header */
};

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *wb_base;
static sqlite3_io_methods wb_io;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static bool wb_ok;

/*
 * Write what is held, in pieces the default VFS takes whole (its write
 * keeps only the low 17 bits of a length: SQLite itself never writes
 * more than 128 KB at once). The buffer is empty afterwards, whatever
 * happened.
 */
static int wb_flush(struct wb_file *f)
{
    int rc = SQLITE_OK;

    for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
        size_t n = SG_MIN(f->len - done, (size_t)WB_WRITE_MAX);

        rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n,
                                       f->start + (sqlite3_int64)done);
        done += n;
    }
    f->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f), crc;

    crc = f->real->pMethods->xClose(f->real);
    sg_free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : crc;
}

static int wb_read(sqlite3_file *file, void *out, int n, sqlite3_int64 off)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc
                           : f->real->pMethods->xRead(f->real, out, n, off);
}

static bool commit_header(const void *data, int n)
{
    const unsigned char *p = data;

    return n == WB_HDR && (p[4] | p[5] | p[6] | p[7]) != 0;
}

static int wb_write(sqlite3_file *file, const void *data, int n,
                    sqlite3_int64 off)
{
    struct wb_file *f = (struct wb_file *)file;
    bool was_commit_hdr = f->commit_hdr;
    int rc;

    f->commit_hdr = commit_header(data, n);
    if (f->buf == NULL || n <= 0 || (size_t)n > WB_BUF_SIZE) {
        rc = wb_flush(f);
        return rc != SQLITE_OK
                   ? rc
                   : f->real->pMethods->xWrite(f->real, data, n, off);
    }
    /* Only a write that carries on where the held bytes end joins them. */
    if (f->len > 0 && (off != f->start + (sqlite3_int64)f->len ||
                       f->len + (size_t)n > WB_BUF_SIZE)) {
        rc = wb_flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (f->len == 0)
        f->start = off;
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += (size_t)n;
    /* The page after a commit frame's header ends the transaction. */
    if (was_commit_hdr && !f->commit_hdr)
        return wb_flush(f);
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc
                           : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc
                           : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int level)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *file, int level)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xUnlock(f->real, level);
}

static int wb_reserved(sqlite3_file *file, int *out)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_fcntl(sqlite3_file *file, int op, void *arg)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f);

    return rc != SQLITE_OK
               ? rc
               : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector(sqlite3_file *file)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_devchar(sqlite3_file *file)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* The WAL file has no shared memory or mapping of its own (the database
 * file has); these only forward, for a complete method table. */
static int wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend,
                      void volatile **pp)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *file)
{
    struct wb_file *f = (struct wb_file *)file;

    f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *file, int del)
{
    struct wb_file *f = (struct wb_file *)file;

    return f->real->pMethods->xShmUnmap(f->real, del);
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = wb_flush(f);

    *pp = NULL;
    if (rc != SQLITE_OK || f->real->pMethods->iVersion < 3)
        return rc;
    return f->real->pMethods->xFetch(f->real, off, n, pp);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    struct wb_file *f = (struct wb_file *)file;

    if (f->real->pMethods->iVersion < 3)
        return SQLITE_OK;
    return f->real->pMethods->xUnfetch(f->real, off, p);
}

/*
 * A WAL file gets the buffering wrapper; any other file is opened by the
 * default VFS in place (our size covers the wrapper plus its file, more
 * than the default's own), so SQLite calls the default methods directly.
 */
static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                   int flags, int *out_flags)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc;

    SG_UNUSED(vfs);
    if (!(flags & SQLITE_OPEN_WAL))
        return wb_base->xOpen(wb_base, name, file, flags, out_flags);
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    rc = wb_base->xOpen(wb_base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || f->real->pMethods == NULL) {
        /* As the default VFS leaves it: nothing for SQLite to close. */
        f->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    /* A method table older than the one forwarded to: write through. */
    if (f->real->pMethods->iVersion >= 3) {
        f->buf = sg_alloc(WB_BUF_SIZE);
        if (f->buf == NULL) {
            /* Out of memory is an error here as anywhere else in the
             * store (the D5 sweeps): no quiet fallback. */
            f->real->pMethods->xClose(f->real);
            f->base.pMethods = NULL;
            return SQLITE_NOMEM;
        }
    }
    f->base.pMethods = &wb_io;
    return SQLITE_OK;
}

static void wb_init(void)
{
    wb_base = sqlite3_vfs_find(NULL);
    if (wb_base == NULL || wb_base->iVersion < 1)
        return;
    wb_vfs = *wb_base;
    wb_vfs.zName = WB_NAME;
    wb_vfs.szOsFile = (int)sizeof(struct wb_file) + wb_base->szOsFile;
    wb_vfs.xOpen = wb_open; /* the rest are the default's, app data too */
    wb_vfs.pNext = NULL;
    wb_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = wb_close,
        .xRead = wb_read,
        .xWrite = wb_write,
        .xTruncate = wb_truncate,
        .xSync = wb_sync,
        .xFileSize = wb_size,
        .xLock = wb_lock,
        .xUnlock = wb_unlock,
        .xCheckReservedLock = wb_reserved,
        .xFileControl = wb_fcntl,
        .xSectorSize = wb_sector,
        .xDeviceCharacteristics = wb_devchar,
        .xShmMap = wb_shm_map,
        .xShmLock = wb_shm_lock,
        .xShmBarrier = wb_shm_barrier,
        .xShmUnmap = wb_shm_unmap,
        .xFetch = wb_fetch,
        .xUnfetch = wb_unfetch,
    };
    wb_ok = sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK;
}

const char *sg_sqlite_walbuf_vfs(void)
{
    pthread_once(&wb_once, wb_init);
    return wb_ok ? WB_NAME : NULL;
}
