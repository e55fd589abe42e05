import CSQLiteWAL
import Foundation
import GRDBSQLite
import Testing

/// The VFS that writes a WAL transaction's frames together (Sources/CSQLiteWAL): fewer write calls, and nothing a
/// reader or a later transaction could tell apart from SQLite's own writes. Raw SQLite connections on this thread (the
/// wrapper's counts are per process, so each check reads them around synchronous work only it does).
@Suite("WAL writes coalesced (issue 12)")
struct WALCoalescingTests {
    /// A connection to `path` through the default VFS (the wrapper, once registered) with the service's journal mode.
    final class Connection {
        let handle: OpaquePointer
        init(_ path: String, readOnly: Bool = false, synchronous: String = "NORMAL") throws {
            var db: OpaquePointer?
            let flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
            guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else { throw Failure("open \(path)") }
            handle = db
            if !readOnly {
                try exec("PRAGMA journal_mode = WAL")
                try exec("PRAGMA synchronous = \(synchronous)")
                try exec("PRAGMA wal_autocheckpoint = 0")
            }
        }
        deinit { sqlite3_close_v2(handle) }
        func exec(_ sql: String) throws {
            var message: UnsafeMutablePointer<CChar>?
            guard sqlite3_exec(handle, sql, nil, nil, &message) == SQLITE_OK else {
                defer { sqlite3_free(message) }
                throw Failure("\(sql): \(message.map { String(cString: $0) } ?? "?")")
            }
        }
        func int(_ sql: String) throws -> Int64 {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { throw Failure(sql) }
            defer { sqlite3_finalize(statement) }
            guard sqlite3_step(statement) == SQLITE_ROW else { throw Failure(sql) }
            return sqlite3_column_int64(statement, 0)
        }
        func text(_ sql: String) throws -> String {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { throw Failure(sql) }
            defer { sqlite3_finalize(statement) }
            guard sqlite3_step(statement) == SQLITE_ROW, let text = sqlite3_column_text(statement, 0) else { throw Failure(sql) }
            return String(cString: text)
        }
        /// Inserts `rows` rows of `bytes` bytes each in one transaction (committed, or rolled back when `commit` is false).
        func insert(_ rows: Int, bytes: Int, commit: Bool = true) throws {
            try exec("BEGIN IMMEDIATE")
            try exec("""
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows))
                INSERT INTO t (body) SELECT randomblob(\(bytes)) FROM n
                """)
            try exec(commit ? "COMMIT" : "ROLLBACK")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func counts() -> (received: Int64, issued: Int64) {
        var received: Int64 = 0
        var issued: Int64 = 0
        smrt_wal_coalesce_counts(&received, &issued)
        return (received, issued)
    }

    static func database() throws -> String {
        #expect(smrt_wal_coalesce_register() == SQLITE_OK)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("t.sqlite").path
    }

    @Test("a commit's frames reach the WAL in one write call instead of two per frame", arguments: ["NORMAL", "FULL"])
    func oneCallPerCommit(synchronous: String) throws {
        let path = try Self.database()
        let writer = try Connection(path, synchronous: synchronous)
        try writer.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        try writer.insert(1, bytes: 10)
        // Another test's connection may write meanwhile (the counts are the process's): the smallest of a few tries.
        var issuedPerCommit = Int64.max
        var receivedPerCommit: Int64 = 0
        for _ in 0..<5 {
            let before = Self.counts()
            try writer.insert(20, bytes: 2000)  // 20 rows of 2 KB: ~12 pages, 2 calls each without the wrapper
            let after = Self.counts()
            if after.issued - before.issued < issuedPerCommit {
                issuedPerCommit = after.issued - before.issued
                receivedPerCommit = after.received - before.received
            }
        }
        #expect(receivedPerCommit >= 20, "SQLite made \(receivedPerCommit) write calls on the WAL")
        #expect(issuedPerCommit == 1, "the wrapper made \(issuedPerCommit) write calls for them")
        let reader = try Connection(path, readOnly: true)
        #expect(try reader.int("SELECT count(*) FROM t") == 101)
    }

    @Test("large and spilling transactions, rollbacks and checkpoints read back intact from another connection")
    func largeTransactions() throws {
        let path = try Self.database()
        let writer = try Connection(path)
        try writer.exec("PRAGMA cache_size = 8")  // 8 pages: the transaction spills and reads its own frames back
        try writer.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        let reader = try Connection(path, readOnly: true)
        try writer.insert(2000, bytes: 1000)  // ~2 MB of frames: buffered, written in 124 KiB calls as it goes
        #expect(try reader.int("SELECT count(*) FROM t") == 2000)
        try writer.insert(3000, bytes: 1000, commit: false)
        #expect(try reader.int("SELECT count(*) FROM t") == 2000)
        try writer.exec("UPDATE t SET body = randomblob(900) WHERE id % 3 = 0")
        try writer.exec("DELETE FROM t WHERE id % 5 = 0")
        #expect(try reader.int("SELECT count(*) FROM t") == 1600)
        #expect(try writer.int("PRAGMA wal_checkpoint(RESTART)") == 0)
        try writer.insert(10, bytes: 100)  // the WAL starts again from its header
        #expect(try reader.int("SELECT count(*) FROM t") == 1610)
        #expect(try reader.text("PRAGMA integrity_check") == "ok")
        #expect(try reader.int("SELECT sum(length(body)) FROM t") == 533 * 900 + 1067 * 1000 + 10 * 100)
    }
}
