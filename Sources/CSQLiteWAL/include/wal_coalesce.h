#ifndef SMRT_WAL_COALESCE_H
#define SMRT_WAL_COALESCE_H

/// Registers, once per process, a VFS that wraps SQLite's default one and makes it the default: every connection
/// opened afterwards writes its WAL through it. SQLite writes each WAL frame with two calls (its 24-byte header, then
/// the page); the wrapper gathers a transaction's frames and writes them together, at most 124 KiB per call, before
/// the commit becomes visible. Returns SQLITE_OK (0) or SQLite's error code. First, while SQLite is not yet
/// initialized, it turns SQLite's memory statistics off (`smrt_sqlite_memstatus_off`).
int smrt_wal_coalesce_register(void);

/// Whether the registration (the process's first use of SQLite, then) turned SQLite's memory statistics off: they
/// take a process-wide mutex on every allocation and free. 0 when SQLite was initialized before it.
int smrt_sqlite_memstatus_off(void);

/// Write calls SQLite made on WAL files through the wrapper, and write calls the wrapper made for them, since the
/// process started.
void smrt_wal_coalesce_counts(long long *received, long long *issued);

struct sqlite3;

/// Sets `db`'s defensive mode (SQLITE_DBCONFIG_DEFENSIVE: no writes to sqlite_schema, among others) on (1) or off (0);
/// returns what it was (0 or 1), or -1 when SQLite refused. Migrations run with it off: v9-check-lists edits table
/// definitions in sqlite_schema, and an SQLite built or configured to start connections in defensive mode would
/// otherwise refuse it, and the server would not start.
int smrt_sqlite_set_defensive(struct sqlite3 *db, int on);

#endif
