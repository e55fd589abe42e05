import ChatCore
import ChatSQL
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// A read-only connection of one thread, with its statements prepared once: what `SQLiteStorage.read` runs on.
///
/// GRDB's pool checks a reader out per read (a semaphore, a lock, a dispatch onto the reader's queue) and reads the
/// schema version each time: 14% of an RPC worker's CPU per GetRoom (perf), as much as the call's own statements. A
/// thread that reads keeps a connection of its own instead; the statements are the catalog's, so the cache stays
/// small.
final class SQLiteReader: SQLConnection {
    private let handle: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    var dialect: SQLDialect { .sqlite }
    var totalChanges: Int { Int(sqlite3_total_changes(handle)) }

    init(path: String, busyTimeout: TimeInterval) throws {
        var connection: OpaquePointer?
        let code = sqlite3_open_v2(path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let connection else {
            let error = SQLiteStatement.error(code, nil, connection)
            sqlite3_close_v2(connection)
            throw error
        }
        handle = connection
        sqlite3_busy_timeout(handle, Int32(busyTimeout * 1000))
        do {
            // As the pool's readers were: a page cache of 8 MiB, filled on use; temporary b-trees in memory.
            try execute(raw: "PRAGMA cache_size = -8192")
            try execute(raw: "PRAGMA temp_store = MEMORY")
        } catch {
            sqlite3_close_v2(handle)
            throw error
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw SQLiteStatement.error(code, sql, handle) }
        statements[sql] = statement
        return statement
    }

    func query(_ statement: SQLStatement, _ arguments: [any SQLBindable], _ each: (any SQLRow) throws -> Void) throws {
        let prepared = try prepared(statement.sqlite)
        try SQLiteStatement.bind(prepared, arguments, sql: statement.sqlite, connection: handle)
        try SQLiteStatement.run(prepared, sql: statement.sqlite, connection: handle, each)
    }

    func execute(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int {
        try query(statement, arguments) { _ in }
        return Int(sqlite3_changes(handle))
    }

    func execute(raw sql: String) throws {
        let prepared = try prepared(sql)
        try SQLiteStatement.bind(prepared, [], sql: sql, connection: handle)
        try SQLiteStatement.run(prepared, sql: sql, connection: handle) { _ in }
    }

    /// Whether a transaction is open on this connection (a read inside a read on the same thread).
    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }
}

/// The readers of one database, one per thread that reads, opened on its first read and closed with the storage.
final class SQLiteReaders: Sendable {
    private let path: String
    private let busyTimeout: TimeInterval
    private let readers = Mutex<(open: [pthread_t: SQLiteReaderBox], closed: Bool)>(([:], false))

    init(path: String, busyTimeout: TimeInterval) {
        self.path = path
        self.busyTimeout = busyTimeout
    }

    /// The calling thread's reader, or nil once closed or when the thread is already inside a read (the caller falls
    /// back to GRDB's pool).
    func reader() throws -> SQLiteReader? {
        let thread = pthread_self()
        if let box = try readers.withLock({ state -> SQLiteReaderBox? in
            guard !state.closed else { return nil }
            if let box = state.open[thread] { return box }
            let box = SQLiteReaderBox(try SQLiteReader(path: path, busyTimeout: busyTimeout))
            state.open[thread] = box
            return box
        }) {
            return box.reader.inTransaction ? nil : box.reader
        }
        return nil
    }

    /// Closes every reader. A thread still reading keeps its connection until it is done (the box holds it).
    func close() {
        readers.withLock { state in
            state.closed = true
            state.open.removeAll()
        }
    }
}

/// A reader owned by one thread, passed around under the lock only to find it.
final class SQLiteReaderBox: @unchecked Sendable {
    // @unchecked Sendable: the reader is used by the thread it was opened for only.
    let reader: SQLiteReader
    init(_ reader: SQLiteReader) { self.reader = reader }
}
