/*
 * testvfs.h - a SQLite VFS for the store's durability tests (D2 power
 * loss, D4 I/O errors). A child process installs it as the default VFS
 * before it opens the store, so the store's own WAL gatherer
 * (src/store/sqlite/walbuf.c) sits on top of it, as in production. It
 * watches the database file and its WAL (not the WAL index or temporary
 * files) and passes everything through to SQLite's default VFS, plus:
 *
 * - Undo log (D2): before each write or truncation of a watched file,
 *   the bytes about to be overwritten (and the file's size) are appended
 *   to "<file>-undo"; a successful sync of the file empties its log. So
 *   the log always holds what the disk might still have held had the
 *   power gone at that moment. Records: struct sgt_undo_hdr, then the old
 *   bytes that existed (up to old_size).
 * - Faults (D4): the k-th write, or the k-th sync, to a watched file
 *   since sgt_vfs_arm fails (SQLITE_IOERR_WRITE / SQLITE_IOERR_FSYNC)
 *   without touching the file; with persist, every one after it fails
 *   too (a disk that has gone bad).
 *
 * Never install it in the test process itself: the WAL gatherer binds to
 * whatever VFS is the default when the first store opens.
 */
#ifndef SGT_TESTVFS_H
#define SGT_TESTVFS_H

#include <stdbool.h>
#include <stdint.h>

#define SGT_UNDO_MAGIC 0x53475544u /* "SGUD" */

enum { SGT_UNDO_WRITE = 1, SGT_UNDO_TRUNCATE = 2 };

struct sgt_undo_hdr {
    uint32_t magic;
    uint32_t type;
    int64_t off;
    int64_t len;
    int64_t old_size;
};

struct sgt_vfs_faults {
    long write_at; /* 1-based; 0 = no write fails */
    long sync_at;  /* 1-based; 0 = no sync fails */
    bool persist;  /* every later one fails too */
};

/* Make it the default VFS; exits the process (status 3) if it cannot. */
void sgt_vfs_install(bool undo_log);
/* Count (and fail) from now on. */
void sgt_vfs_arm(const struct sgt_vfs_faults *f);
/* Writes and syncs of watched files since the last arm; faults injected. */
long sgt_vfs_writes(void);
long sgt_vfs_syncs(void);
long sgt_vfs_failed(void);

#endif
