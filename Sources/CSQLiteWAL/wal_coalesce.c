/* A VFS over SQLite's default (unix) VFS that writes a WAL transaction's frames with as few write calls as possible.
 *
 * SQLite's WAL writer (sqlite3WalFrames) writes every frame as two calls at consecutive offsets: the 24-byte frame
 * header, then the page. A send's commit is ~17 frames, so 34 pwrite calls, a third of SQLite's time in that commit on
 * this machine. Here the calls on a WAL file are appended to a buffer while they continue each other, and the buffer
 * is written:
 *   - right after the write that follows a commit frame's header (a header whose "database size after commit" field is
 *     not 0), and after every write until the next non-commit header: SQLite makes a commit visible to readers only
 *     in shared memory, after its last frame was written, so every frame is in the file before any reader can use it;
 *   - before anything that reads, sizes, syncs, truncates, maps or controls the file, and before a write that does not
 *     continue the buffer (SQLite rewriting an earlier frame's checksum);
 *   - when it holds 256 KiB (a large transaction's frames are written as it goes, as SQLite would).
 * A process that dies with frames still buffered loses a transaction that was not committed: the same as dying before
 * SQLite's own calls. Other files (the database, its shared memory) are passed through unchanged. */
#include "wal_coalesce.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  sqlite3_file base;
  sqlite3_file *real; /* the default VFS's file, right after this struct */
  int wal;
  int after_commit; /* the last header written was a commit frame's */
  unsigned char *buffer;
  size_t length, capacity;
  sqlite3_int64 offset; /* of buffer[0] */
} WalFile;

static sqlite3_vfs *base_vfs;
static sqlite3_vfs vfs;
static sqlite3_io_methods io;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered = SQLITE_ERROR;
static int memstatus_off = 0;
static _Atomic long long received, issued;

enum { FRAME_HEADER = 24, WAL_HEADER = 32, FLUSH_AT = 256 * 1024, MAX_CALL = 124 * 1024 };

#define REAL(f) (((WalFile *)(f))->real)

static int flush(WalFile *p) {
  int rc = SQLITE_OK;
  /* The unix VFS writes at most 128 KiB - 1 bytes per call (it masks the count with 0x1ffff). */
  for (size_t done = 0; done < p->length && rc == SQLITE_OK;) {
    size_t n = p->length - done < MAX_CALL ? p->length - done : MAX_CALL;
    rc = p->real->pMethods->xWrite(p->real, p->buffer + done, (int)n, p->offset + (sqlite3_int64)done);
    atomic_fetch_add_explicit(&issued, 1, memory_order_relaxed);
    done += n;
  }
  p->length = 0;
  return rc;
}

static int wal_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset) {
  WalFile *p = (WalFile *)f;
  if (!p->wal) return p->real->pMethods->xWrite(p->real, data, amount, offset);
  atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
  int rc;
  if (p->length && offset != p->offset + (sqlite3_int64)p->length && (rc = flush(p)) != SQLITE_OK) return rc;
  if (p->length + (size_t)amount > p->capacity) {
    size_t capacity = p->capacity ? p->capacity : 64 * 1024;
    while (capacity < p->length + (size_t)amount) capacity *= 2;
    unsigned char *grown = realloc(p->buffer, capacity);
    if (!grown) { /* no memory for the buffer: write as SQLite asked */
      if ((rc = flush(p)) != SQLITE_OK) return rc;
      atomic_fetch_add_explicit(&issued, 1, memory_order_relaxed);
      return p->real->pMethods->xWrite(p->real, data, amount, offset);
    }
    p->buffer = grown;
    p->capacity = capacity;
  }
  if (offset < WAL_HEADER) p->after_commit = 0; /* the WAL starts again: a new transaction */
  if (!p->length) p->offset = offset;
  memcpy(p->buffer + p->length, data, (size_t)amount);
  p->length += (size_t)amount;
  if (amount == FRAME_HEADER && offset >= WAL_HEADER) {
    const unsigned char *h = data; /* bytes 4-7: the database's size in pages after a commit, 0 in other frames */
    p->after_commit = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  return p->after_commit || p->length >= FLUSH_AT ? flush(p) : SQLITE_OK;
}

static int wal_close(sqlite3_file *f) {
  WalFile *p = (WalFile *)f;
  int rc = flush(p);
  int closed = p->real->pMethods->xClose(p->real);
  free(p->buffer);
  p->buffer = NULL;
  p->capacity = 0;
  return rc != SQLITE_OK ? rc : closed;
}

/* Everything that observes the file sees the buffered frames first. */
#define FLUSHED(call) do { int rc_ = flush((WalFile *)f); if (rc_ != SQLITE_OK) return rc_; return (call); } while (0)
static int wal_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { FLUSHED(REAL(f)->pMethods->xRead(REAL(f), b, n, o)); }
static int wal_truncate(sqlite3_file *f, sqlite3_int64 s) { FLUSHED(REAL(f)->pMethods->xTruncate(REAL(f), s)); }
static int wal_sync(sqlite3_file *f, int flags) { FLUSHED(REAL(f)->pMethods->xSync(REAL(f), flags)); }
static int wal_size(sqlite3_file *f, sqlite3_int64 *s) { FLUSHED(REAL(f)->pMethods->xFileSize(REAL(f), s)); }
static int wal_control(sqlite3_file *f, int op, void *a) { FLUSHED(REAL(f)->pMethods->xFileControl(REAL(f), op, a)); }
static int wal_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) {
  if (REAL(f)->pMethods->iVersion < 3) {
    *pp = NULL;
    return SQLITE_OK;
  }
  FLUSHED(REAL(f)->pMethods->xFetch(REAL(f), o, n, pp));
}

/* Passed through. */
static int wal_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int wal_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int wal_reserved(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int wal_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int wal_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int wal_shm_map(sqlite3_file *f, int i, int size, int extend, void volatile **pp) {
  return REAL(f)->pMethods->xShmMap(REAL(f), i, size, extend, pp);
}
static int wal_shm_lock(sqlite3_file *f, int o, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, flags); }
static void wal_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int wal_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int wal_unfetch(sqlite3_file *f, sqlite3_int64 o, void *page) {
  return REAL(f)->pMethods->iVersion < 3 ? SQLITE_OK : REAL(f)->pMethods->xUnfetch(REAL(f), o, page);
}

static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
  (void)v;
  WalFile *p = (WalFile *)f;
  memset(p, 0, sizeof *p);
  p->real = (sqlite3_file *)&p[1];
  int rc = base_vfs->xOpen(base_vfs, name, p->real, flags, out);
  /* SQLite calls xClose whenever pMethods is set, even after a failed open: set it exactly when the real file's is. */
  if (p->real->pMethods) {
    p->wal = (flags & SQLITE_OPEN_WAL) != 0;
    p->base.pMethods = &io;
  }
  return rc;
}

static int vfs_delete(sqlite3_vfs *v, const char *n, int s) { (void)v; return base_vfs->xDelete(base_vfs, n, s); }
static int vfs_access(sqlite3_vfs *v, const char *n, int fl, int *o) { (void)v; return base_vfs->xAccess(base_vfs, n, fl, o); }
static int vfs_full_path(sqlite3_vfs *v, const char *n, int m, char *o) { (void)v; return base_vfs->xFullPathname(base_vfs, n, m, o); }
static void *vfs_dl_open(sqlite3_vfs *v, const char *n) { (void)v; return base_vfs->xDlOpen(base_vfs, n); }
static void vfs_dl_error(sqlite3_vfs *v, int n, char *o) { (void)v; base_vfs->xDlError(base_vfs, n, o); }
static void (*vfs_dl_sym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return base_vfs->xDlSym(base_vfs, h, s); }
static void vfs_dl_close(sqlite3_vfs *v, void *h) { (void)v; base_vfs->xDlClose(base_vfs, h); }
static int vfs_random(sqlite3_vfs *v, int n, char *o) { (void)v; return base_vfs->xRandomness(base_vfs, n, o); }
static int vfs_sleep(sqlite3_vfs *v, int us) { (void)v; return base_vfs->xSleep(base_vfs, us); }
static int vfs_time(sqlite3_vfs *v, double *t) { (void)v; return base_vfs->xCurrentTime(base_vfs, t); }
static int vfs_last_error(sqlite3_vfs *v, int n, char *o) { (void)v; return base_vfs->xGetLastError(base_vfs, n, o); }
static int vfs_time64(sqlite3_vfs *v, sqlite3_int64 *t) { (void)v; return base_vfs->xCurrentTimeInt64(base_vfs, t); }
static int vfs_set_call(sqlite3_vfs *v, const char *n, sqlite3_syscall_ptr p) { (void)v; return base_vfs->xSetSystemCall(base_vfs, n, p); }
static sqlite3_syscall_ptr vfs_get_call(sqlite3_vfs *v, const char *n) { (void)v; return base_vfs->xGetSystemCall(base_vfs, n); }
static const char *vfs_next_call(sqlite3_vfs *v, const char *n) { (void)v; return base_vfs->xNextSystemCall(base_vfs, n); }

static void register_once(void) {
  /* Before SQLite initializes (finding the VFS does): no global allocation statistics. With them on (Debian's
     default) every allocation and free SQLite makes takes a process-wide mutex to count it; Debian's build has no
     lookaside, so a send makes hundreds. */
  memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  base_vfs = sqlite3_vfs_find(NULL);
  if (!base_vfs || base_vfs->iVersion < 3) return; /* the unix VFS is version 3 */
  io = (sqlite3_io_methods){3, wal_close, wal_read, wal_write, wal_truncate, wal_sync, wal_size, wal_lock, wal_unlock,
                            wal_reserved, wal_control, wal_sector, wal_device, wal_shm_map, wal_shm_lock, wal_shm_barrier,
                            wal_shm_unmap, wal_fetch, wal_unfetch};
  vfs = *base_vfs;
  vfs.zName = "smrt-wal-coalesce";
  vfs.szOsFile = (int)sizeof(WalFile) + base_vfs->szOsFile;
  vfs.pNext = NULL;
  vfs.pAppData = NULL;
  vfs.xOpen = vfs_open;
  vfs.xDelete = vfs_delete;
  vfs.xAccess = vfs_access;
  vfs.xFullPathname = vfs_full_path;
  vfs.xDlOpen = vfs_dl_open;
  vfs.xDlError = vfs_dl_error;
  vfs.xDlSym = vfs_dl_sym;
  vfs.xDlClose = vfs_dl_close;
  vfs.xRandomness = vfs_random;
  vfs.xSleep = vfs_sleep;
  vfs.xCurrentTime = vfs_time;
  vfs.xGetLastError = vfs_last_error;
  vfs.xCurrentTimeInt64 = vfs_time64;
  vfs.xSetSystemCall = vfs_set_call;
  vfs.xGetSystemCall = vfs_get_call;
  vfs.xNextSystemCall = vfs_next_call;
  registered = sqlite3_vfs_register(&vfs, 1);
}

int smrt_wal_coalesce_register(void) {
  pthread_once(&once, register_once);
  return registered;
}

int smrt_sqlite_memstatus_off(void) {
  pthread_once(&once, register_once);
  return memstatus_off;
}

void smrt_wal_coalesce_counts(long long *r, long long *i) {
  *r = atomic_load_explicit(&received, memory_order_relaxed);
  *i = atomic_load_explicit(&issued, memory_order_relaxed);
}

int smrt_sqlite_set_defensive(sqlite3 *db, int on) {
  int before = -1, after = -1;
  if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &before) != SQLITE_OK) return -1;
  if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, &after) != SQLITE_OK || after != on) return -1;
  return before;
}
