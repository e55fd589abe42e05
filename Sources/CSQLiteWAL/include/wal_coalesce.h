#ifndef SMRT_WAL_COALESCE_H
#define SMRT_WAL_COALESCE_H

/// Registers, once per process, a VFS that wraps SQLite's default one and makes it the default: every connection
/// opened afterwards writes its WAL through it. SQLite writes each WAL frame with two calls (its 24-byte header, then
/// the page); the wrapper gathers a transaction's frames and writes them together, at most 124 KiB per call, before
/// the commit becomes visible. Returns SQLITE_OK (0) or SQLite's error code.
int smrt_wal_coalesce_register(void);

/// Write calls SQLite made on WAL files through the wrapper, and write calls the wrapper made for them, since the
/// process started.
void smrt_wal_coalesce_counts(long long *received, long long *issued);

#endif
