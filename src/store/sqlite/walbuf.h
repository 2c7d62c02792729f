/*
 * walbuf.h - the VFS that writes a transaction's WAL frames with one
 * pwrite (walbuf.c). Its name for sqlite3_open_v2, registered on first
 * use; NULL (SQLite's default VFS) if it could not be registered.
 */
#ifndef SG_STORE_SQLITE_WALBUF_H
#define SG_STORE_SQLITE_WALBUF_H

const char *sg_sqlite_walbuf_vfs(void);

#endif
