import ChatCore
import ChatSQL
import CSQLiteWAL
import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization

/// Configuration of the SQLite engine.
public struct SQLiteConfiguration: Sendable {
    /// How durable an acknowledged write is (SQLite `synchronous`): `normal` survives a process crash,
    /// `full` also a power loss (each commit waits for fsync of the WAL).
    public enum Durability: String, Sendable, CaseIterable { case normal, full }

    public var path: String
    public var durability: Durability = .normal
    /// Most operations one commit may carry (group commit).
    public var maxBatch = 256
    /// How long a connection waits for a lock held by another process (the `keys` command).
    public var busyTimeout: TimeInterval = 5
    /// Called on the writer thread after each commit with the batch's events in log order (the
    /// publisher hands them to its own thread; it must not block).
    public var onCommit: (@Sendable ([RoomEvent]) -> Void)?
    /// Called after each commit (after `onCommit`) with the reply deltas it stored, in append order (SPEC §13.1).
    public var onStream: (@Sendable ([ReplyDelta]) -> Void)?

    public init(path: String) { self.path = path }
}

/// The SQLite engine: WAL mode, concurrent snapshot reads from a pool, and a single write path.
///
/// Writes go through one writer thread. It takes every operation waiting when it becomes free and
/// commits them in one transaction, each inside its own savepoint, so a failing operation rolls back
/// alone and concurrent writers share one commit (group commit) without waiting on a timer.
public final class SQLiteStorage: ChatStorage {
    let pool: DatabasePool
    /// The reading threads' own connections (`read`); GRDB's pool serves maintenance and nested reads.
    private let readers: SQLiteReaders
    private let writer: GroupCommitWriter
    private let writeEngine: SQLiteWriteEngine
    private let logger: Logger

    /// Opens (creating if needed) and migrates the database at `configuration.path`.
    ///
    /// - Throws: a database error when the file cannot be opened or migrated.
    public init(_ configuration: SQLiteConfiguration, logger: Logger = Logger(label: "smrt.chat.store")) throws {
        Self.coalesceWALWrites(logger)
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(configuration.busyTimeout)
        let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Every operation of a group commit runs in a savepoint, whose statement journal keeps the
            // original of each page it touches; on disk (the default past 64 KiB) that was a temp-file
            // write per page and the writer's largest cost. In memory it is a copy.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Deleted and overwritten content is zeroed in the file (erasure leaves no trace, SPEC §14). Measured with
            // bench/ab.py (9 rounds): the 64-client send rate is the same with ON as with FAST.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // SQLite's default page cache is 2 MiB; the writer's working set (index tails, FTS segments,
            // the replay cache) is larger, and a miss is a pread. The cache grows only as it is used.
            try db.execute(sql: "PRAGMA cache_size = \(db.configuration.readonly ? -8192 : -32768)")
            // The write path checkpoints on its own schedule (SQLiteWriteEngine.afterCommit).
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
                try db.execute(sql: "PRAGMA journal_size_limit = \(SQLiteWriteEngine.journalSizeLimit)")
            }
        }
        try Self.preparePrivateFile(configuration.path)
        pool = try DatabasePool(path: configuration.path, configuration: config)
        try Self.enableIncrementalVacuum(pool, logger: logger)
        try Self.migrator.migrate(pool)
        self.logger = logger
        readers = SQLiteReaders(path: configuration.path, busyTimeout: configuration.busyTimeout)
        writeEngine = SQLiteWriteEngine(pool: pool, busyTimeout: configuration.busyTimeout, logger: logger)
        writer = GroupCommitWriter(engine: writeEngine, maxBatch: configuration.maxBatch,
                                   logger: logger, onCommit: configuration.onCommit,
                                   onStream: configuration.onStream)
    }

    /// Makes every connection this process opens from now on write its WAL frames together (`wal_coalesce.c`): a
    /// lone send's commit made 34 write calls for its 17 frames, a sixth of its time (perf, strace). Once per
    /// process; without it (an SQLite whose default VFS is not the unix one) SQLite writes as usual.
    static func coalesceWALWrites(_ logger: Logger) {
        let code = smrt_wal_coalesce_register()
        if code != SQLITE_OK, !walCoalescingWarned.exchange(true, ordering: .relaxed) {
            logger.warning("WAL writes not coalesced", metadata: ["chat.sqlite_code": "\(code)"])
        }
        if smrt_sqlite_memstatus_off() == 0 {
            logger.debug("SQLite's memory statistics stay on: SQLite was in use before the storage opened")
        }
    }
    private static let walCoalescingWarned = Atomic<Bool>(false)

    /// The database holds the key secrets: a new one is created 0600 in a folder created 0700, and an
    /// existing one that its group or others may read or write is refused (SQLite gives its -wal and -shm
    /// files the database file's permissions).
    ///
    /// - Throws: `SQLiteStorage.UnsafePermissions` naming the file and the fix.
    static func preparePrivateFile(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            Glibc.close(fd)
            return
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return }  // SQLite reports what is wrong with the path
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 { throw UnsafePermissions(path: path, mode: mode) }
    }

    /// An existing database file that others than its owner may read or write.
    public struct UnsafePermissions: Error, CustomStringConvertible {
        public let path: String
        public let mode: mode_t
        public var description: String {
            "the database \(path) holds key secrets but has mode \(String(mode, radix: 8)): "
                + "run 'chmod 600 \(path)' (and its -wal and -shm files) before starting"
        }
    }

    /// Purges must give space back (SPEC §14): the file uses `auto_vacuum = INCREMENTAL`, and freed pages are
    /// zeroed (`secure_delete`, set per connection). An older file is converted once, by a VACUUM.
    static func enableIncrementalVacuum(_ pool: DatabasePool, logger: Logger) throws {
        try pool.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") != 2 else { return }
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            if pages > 64 { logger.info("converting the database to incremental vacuum (once)", metadata: ["chat.pages": "\(pages)"]) }
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            try db.execute(sql: "VACUUM")
        }
    }

    /// Copies the database at `path` to a new file `destination` with SQLite's backup API, from one read snapshot (a
    /// server may keep writing meanwhile); returns the copy's page count. The copy is 0600, like the original.
    public static func backup(path: String, to destination: String) throws -> Int {
        var config = Configuration()
        config.readonly = true
        let source = try DatabaseQueue(path: path, configuration: config)
        try preparePrivateFile(destination)
        let copy = try DatabaseQueue(path: destination)
        try source.backup(to: copy)
        return try copy.read { try Int.fetchOne($0, sql: "PRAGMA page_count") ?? 0 }
    }

    /// The shared migration list, recorded by GRDB's migrator (`grdb_migrations`). Each runs with SQLite's defensive
    /// mode off, put back as it was after (v9 edits table definitions in `sqlite_schema`, which that mode forbids).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in Migrations.all {
            migrator.registerMigration(migration.name) { db in
                let defensive = smrt_sqlite_set_defensive(db.sqliteConnection, 0)
                defer { if defensive == 1 { _ = smrt_sqlite_set_defensive(db.sqliteConnection, 1) } }
                for statement in migration.statements(.sqlite) { try db.execute(sql: statement) }
            }
        }
        return migrator
    }

    /// Applies pending migrations to the database at `path` and returns the applied migration names.
    public static func migrate(path: String) throws -> [String] {
        let storage = try SQLiteStorage(SQLiteConfiguration(path: path))
        defer { storage.close() }
        return try storage.pool.read { try migrator.appliedMigrations($0) }
    }

    /// One snapshot on the calling thread's reader connection (`SQLiteReader`): a deferred transaction opened and closed
    /// with prepared statements. A read inside a read on the same thread takes one from GRDB's pool instead. (GRDB's
    /// `read` also toggles `query_only` and wraps a savepoint: three more statements per call on the server's hottest
    /// path; reader connections are opened read-only already.)
    public func read<T>(_ body: (any ChatTransaction) throws -> T) throws -> T {
        if let reader = try readers.reader() {
            try reader.execute(raw: "BEGIN DEFERRED TRANSACTION")
            let result: Result<T, Error> = Result { try body(SQLTransaction(reader)) }
            try reader.execute(raw: "COMMIT TRANSACTION")
            return try result.get()
        }
        return try pool.unsafeRead { db in
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            let result: Result<T, Error> = Result { try body(SQLTransaction(SQLiteConnection(db))) }
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return try result.get()
        }
    }

    public func submitWrite<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, options: WriteOptions,
        completion: @escaping @Sendable (Result<T, Error>) -> Void
    ) {
        writer.submit(body, options: options, completion: completion)
    }

    /// Runs raw SQL on a snapshot (tests and maintenance: counts, integrity checks).
    public func withSnapshot<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    /// Merges the search index (with `fullText`), returns the free pages to the file system and truncates the WAL,
    /// on the write connection between two commits. With `secure_delete` on, freed pages were zeroed when freed.
    public func reclaimSpace(fullText: Bool) throws {
        try writeBlocking { _ in () }  // what was queued before commits first
        try pool.writeWithoutTransaction { db in
            if fullText { try db.execute(sql: "INSERT INTO messages_fts(messages_fts) VALUES ('optimize')") }
            try db.execute(sql: "PRAGMA incremental_vacuum")
            _ = try db.checkpoint(.truncate)
        }
    }

    public func yieldToWrites(upTo timeout: Double) {
        writer.waitWhileBusy(upTo: timeout)
    }

    /// Indexes the messages queued for search when there are any, in a commit of the write path (a search then opens
    /// its snapshot). Rarely more than once: a batch that ran again may have rolled the indexing back.
    public func awaitSearchIndex() throws {
        for _ in 0..<3 {
            guard try pool.read({ db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM messages_fts_pending)") })
                    == true else { return }
            writeEngine.indexNextBatch()
            try writeBlocking { _ in () }
        }
    }

    /// Finishes queued writes, indexes what waits for search, checkpoints the WAL into the database file and stops
    /// the writer.
    public func close() {
        writer.stop()
        readers.close()
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction {
                    try SQLiteConnection(db).indexPendingMessages()
                    return .commit
                }
                _ = try db.checkpoint(.truncate)
            }
        } catch {
            logger.warning("WAL checkpoint at close failed", metadata: ["error": "\(error)"])
        }
    }
}

extension SQLiteStorage {
    /// Runs raw SQL in its own write transaction, outside the domain (tests of schema constraints).
    public func writeForTesting(_ body: (Database) throws -> Void) throws {
        try pool.write { db in
            try body(db)
            try SQLiteConnection(db).indexPendingMessages()
        }
    }
}

/// The write connection of the group-commit writer: IMMEDIATE transactions and the WAL's checkpoints.
final class SQLiteWriteEngine: WriteEngine, @unchecked Sendable {
    // @unchecked Sendable: `lastCheckpoint` is touched by the writer thread only; the pool is thread-safe.
    private let pool: DatabasePool
    private let logger: Logger
    /// When the writer last copied the WAL into the database file.
    private var lastCheckpoint = Date.distantPast
    private let checkpointInterval: TimeInterval = 0.1
    /// No RESTART checkpoint before this (set a second ahead when one found readers it could not wait out).
    private var nextRestart = Date.distantPast
    /// The connection's busy timeout, set back after a RESTART checkpoint's shorter one.
    private let busyTimeoutMs: Int

    init(pool: DatabasePool, busyTimeout: TimeInterval, logger: Logger) {
        self.pool = pool
        self.logger = logger
        busyTimeoutMs = Int(busyTimeout * 1000)
    }

    /// BEGIN and COMMIT are cached statements run through the C API, like the batch's own: GRDB's `inTransaction`
    /// compiled both on every commit and was a tenth of a lone send's CPU.
    func inWriteTransaction(_ body: (any SQLConnection) throws -> Void) throws {
        try inTransaction(body)
    }

    private func inTransaction(_ body: (SQLiteConnection) throws -> Void) throws {
        try pool.writeWithoutTransaction { db in
            let connection = SQLiteConnection(db)
            try connection.execute(raw: "BEGIN IMMEDIATE")
            do {
                try body(connection)
                try connection.execute(raw: "COMMIT")
            } catch {
                // SQLite may have rolled back already (a failed COMMIT or an I/O error can end the transaction).
                if db.isInsideTransaction { try? connection.execute(raw: "ROLLBACK") }
                throw error
            }
        }
    }

    var housekeepingDue: Bool { indexDue || checkpointDue }
    private var indexDue: Bool { DispatchTime.now().uptimeNanoseconds &- lastIndexed >= Self.indexInterval }
    private var checkpointDue: Bool { Date().timeIntervalSince(lastCheckpoint) >= checkpointInterval }

    /// The search index and a checkpoint, when due, after the batch was answered: run before the replies, each took
    /// milliseconds out of every twentieth send at 200 sends/s (the checkpoint's fsync of the database file, the
    /// indexing of 100 ms of messages): the fan-out p99.
    func afterCommit() {
        if indexDue {
            lastIndexed = DispatchTime.now().uptimeNanoseconds
            do {
                try inTransaction { try $0.indexPendingMessages() }
            } catch {
                logger.warning("search indexing failed (retried in the next interval)", metadata: ["error": "\(error)"])
            }
        }
        if checkpointDue { pool.writeWithoutTransaction { db in checkpoint(db) } }
    }

    /// Indexes the messages queued for search (`messages_fts_pending`) in the next batch after `indexNextBatch()` (a
    /// search waits for that batch); otherwise every `indexInterval`, in a transaction of its own after a batch was
    /// answered (`afterCommit`), so no caller waits for it.
    ///
    /// Per commit, FTS5 writes a new segment (with its structure record, and merges every few): 6 of a lone send's 20
    /// WAL pages and a tenth of the writer's time. Every 100 ms of writes it writes one segment for all of them; a
    /// search first asks for the queue to be indexed (`SQLiteStorage.awaitSearchIndex`), so it still finds every
    /// committed message.
    func finishBatch(_ transaction: SQLTransaction) throws {
        guard indexRequested.exchange(false, ordering: .acquiringAndReleasing),
              let connection = transaction.connection as? SQLiteConnection else { return }
        lastIndexed = DispatchTime.now().uptimeNanoseconds
        try connection.indexPendingMessages()
    }

    /// Makes the next batch index the queued messages.
    func indexNextBatch() { indexRequested.store(true, ordering: .releasing) }

    private let indexRequested = Atomic<Bool>(false)
    /// When the writer last indexed the queue (writer thread only).
    private var lastIndexed: UInt64 = 0
    static let indexInterval: UInt64 = 100_000_000

    func isRetryable(_ error: Error) -> Bool { false }

    /// Copies the WAL into the database file (`afterCommit`, at most every `checkpointInterval`) and keeps the WAL
    /// file bounded while readers page.
    ///
    /// SQLite's own rule (the committing connection checkpoints once the WAL passes 1,000 pages) misfires
    /// while readers hold snapshots: the WAL cannot restart, stays past the threshold, and every commit
    /// checkpoints again with an fsync of the database file. With 4 clients paging history the writer
    /// made 90 fdatasync calls a second instead of 6 and sends fell by a third. The writer's connection has
    /// `wal_autocheckpoint = 0`; this keeps SQLite's behaviour otherwise (a PASSIVE checkpoint between two
    /// commits, so the next commit restarts the WAL when nothing holds it).
    ///
    /// A PASSIVE checkpoint never makes the WAL start again while some reader uses it, and with readers paging
    /// without a pause one always does: the file grew by hundreds of MB a minute. So once it holds
    /// `restartFrames`, the writer runs a RESTART checkpoint, which waits (up to `restartWait`) for the snapshots
    /// open now to end: readers that begin meanwhile find the WAL copied and read the database file, so the next
    /// commit writes the WAL from its start, and `journal_size_limit` cuts the file back. When readers outlast the
    /// wait, the writer goes on and tries again a second later.
    private func checkpoint(_ db: Database) {
        let now = Date()
        lastCheckpoint = now
        do {
            let (frames, _) = try db.checkpoint(.passive)
            guard frames >= Self.restartFrames, now >= nextRestart else { return }
            try db.execute(sql: "PRAGMA busy_timeout = \(Int(Self.restartWait * 1000))")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = \(busyTimeoutMs)") }
            do {
                _ = try db.checkpoint(.restart)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                nextRestart = now.addingTimeInterval(1)
                logger.debug("WAL restart postponed: readers outlasted the wait", metadata: ["chat.wal_frames": "\(frames)"])
            }
        } catch {
            logger.debug("checkpoint failed", metadata: ["error": "\(error)"])
        }
    }

    /// WAL frames (pages of 4 KiB) past which the writer restarts the WAL: 16 MiB. The writer's connection limits the
    /// file it leaves after a restart to this size (`journal_size_limit`).
    static let restartFrames = 4096
    static let journalSizeLimit = restartFrames * 4096
    /// How long a RESTART checkpoint holds the next commit back for the open snapshots to end.
    static let restartWait: TimeInterval = 0.05
}
