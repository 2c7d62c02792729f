/*
 * pgserver.h - a throwaway PostgreSQL server for tests labelled "pg".
 *
 * sgt_pg_start runs initdb into a fresh temporary folder and starts
 * `postgres` on it, listening only on a unix socket inside that folder
 * (no TCP port to collide on), fsync on. As root (CI) both run as the
 * postgres user through runuser, since PostgreSQL refuses to run as root.
 * A guardian process owns the server: it stops it and removes the folder
 * when the test calls sgt_pg_stop or when the test process dies in any
 * way (its pipe closes), so a failed test leaves nothing running.
 */
#ifndef SG_TESTS_PGSERVER_H
#define SG_TESTS_PGSERVER_H

#include <stddef.h>

struct sgt_pg;

/* sgt_pg_start's answer when PostgreSQL's server programs are not installed. */
#define SGT_PG_MISSING 1

/*
 * Start a server. 0 and *out on success; SGT_PG_MISSING (message printed)
 * when initdb/pg_ctl cannot be found; -1 on any other failure (the
 * server's log is printed).
 */
int sgt_pg_start(struct sgt_pg **out);

/*
 * For a pg test's main(): start the server or decide what the program
 * should exit with. Returns 0 with *out set, else the exit code: 77 (skip,
 * loudly) when PostgreSQL is not installed outside CI, 1 in CI (CI=true)
 * or on any other failure.
 */
int sgt_pg_main_start(struct sgt_pg **out);

/*
 * A fresh empty database for one test: a new schema, which the DSN written
 * to dsn puts first on the search path, so the test's tables are its own.
 */
int sgt_pg_createdb(struct sgt_pg *pg, char *dsn, size_t cap);

/*
 * Crash the server and start it again on the same data: every server
 * process quits at once (pg_ctl stop -m immediate, no checkpoint), and
 * the start replays the WAL as after a power cut or an OOM kill. Clients'
 * connections are gone; what was committed must still be there. 0 or -1.
 */
int sgt_pg_crash_restart(struct sgt_pg *pg);

/*
 * The server's temporary folder: its data directory (tables, WAL), its
 * unix socket and its logs. Valid until sgt_pg_stop.
 */
const char *sgt_pg_dir(const struct sgt_pg *pg);

/*
 * End the server's client sessions whose application_name matches the
 * LIKE pattern app (Surge's are "surge writer" and "surge reader"):
 * what a restart, a failover or an administrator's pg_terminate_backend
 * does to a client's connections. Connects with dsn and waits (up to
 * 5 s) until those sessions are gone. Returns how many were ended, or -1
 * if that could not be done.
 */
long sgt_pg_end_sessions(const char *dsn, const char *app);

/* Stop the server and remove its folder; NULL-safe. */
void sgt_pg_stop(struct sgt_pg *pg);

#endif
