import ChatCore
import ChatSQL
import Foundation
import GRDB
import GRDBSQLite

/// The shared `SQLTransaction` over one GRDB connection: cached statements, rows read in place.
final class SQLiteConnection: SQLConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }
    var totalChanges: Int { db.totalChangesCount }

    init(_ db: Database) { self.db = db }

    /// GRDB's cached statement for `sql` with `arguments` bound (see `SQLiteStatement`).
    private func prepared(_ sql: String, _ arguments: [any SQLBindable]) throws -> OpaquePointer {
        let handle = try db.cachedStatement(sql: sql).sqliteStatement
        try SQLiteStatement.bind(handle, arguments, sql: sql, connection: db.sqliteConnection)
        return handle
    }

    private func run(_ handle: OpaquePointer, _ sql: String, _ each: (any SQLRow) throws -> Void = { _ in }) throws {
        try SQLiteStatement.run(handle, sql: sql, connection: db.sqliteConnection, each)
    }

    func query(_ statement: SQLStatement, _ arguments: [any SQLBindable], _ each: (any SQLRow) throws -> Void) throws {
        switch statement.sqliteReturning {
        case nil:
            try run(prepared(statement.sqlite, arguments), statement.sqlite, each)
        case .rowid(let insert)?:
            try run(prepared(insert, arguments), insert)
            if sqlite3_changes(db.sqliteConnection) > 0 { try each(RowidRow(rowid: sqlite3_last_insert_rowid(db.sqliteConnection))) }
        case .reread(let update, let select)?:
            try run(prepared(update, arguments), update)
            guard sqlite3_changes(db.sqliteConnection) > 0 else { return }
            let handle = try db.cachedStatement(sql: select).sqliteStatement
            let leading = Array(arguments.prefix(Int(sqlite3_bind_parameter_count(handle))))
            try SQLiteStatement.bind(handle, leading, sql: select, connection: db.sqliteConnection)
            try run(handle, select, each)
        }
    }

    func execute(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int {
        try run(prepared(statement.sqlite, arguments), statement.sqlite)
        return Int(sqlite3_changes(db.sqliteConnection))
    }

    func execute(raw sql: String) throws {
        try db.cachedStatement(sql: sql).execute()
    }

    /// Indexes the messages queued by this transaction for full-text search (see `Migrations.deferredFTS`). The
    /// write path calls it once per batch, outside every savepoint, right before the commit.
    func indexPendingMessages() throws {
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM messages_fts_pending)")) == true
        else { return }
        try execute(raw: """
            INSERT INTO messages_fts(rowid, content)
            SELECT m.pk, m.content FROM messages_fts_pending p JOIN messages m ON m.pk = p.pk
            """)
        try execute(raw: "DELETE FROM messages_fts_pending")
    }
}

/// Statements bound and stepped through SQLite's C API, on GRDB's cached statements (the write connection) or on a
/// reader's own (`SQLiteReader`): GRDB's `StatementArguments`, argument validation and row cursor were a fifth of the
/// writer's time per send (perf, 64 clients), more than SQLite's own work for some statements.
enum SQLiteStatement {
    /// Resets `handle` and binds `arguments` to it.
    static func bind(_ handle: OpaquePointer, _ arguments: [any SQLBindable], sql: String, connection: OpaquePointer?) throws {
        sqlite3_reset(handle)  // its result is the previous step's, reported then
        guard Int(sqlite3_bind_parameter_count(handle)) == arguments.count else {
            throw DatabaseError(resultCode: .SQLITE_RANGE, message: "\(arguments.count) arguments for "
                                + "\(sqlite3_bind_parameter_count(handle)) parameters", sql: sql)
        }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            switch argument.sqlValue {
            case .null: code = sqlite3_bind_null(handle, index)
            case .int(let value): code = sqlite3_bind_int64(handle, index, value)
            case .bool(let value): code = sqlite3_bind_int64(handle, index, value ? 1 : 0)
            case .text(var value):
                code = value.withUTF8 { bytes in
                    // An empty buffer may have no address, and a NULL pointer would bind NULL.
                    sqlite3_bind_text(handle, index, bytes.baseAddress.map { UnsafeRawPointer($0) } ?? empty,
                                      Int32(bytes.count), transient)
                }
            case .blob(let value):
                code = value.withUnsafeBytes { bytes in
                    sqlite3_bind_blob(handle, index, bytes.baseAddress ?? empty, Int32(bytes.count), transient)
                }
            }
            guard code == SQLITE_OK else { throw error(code, sql, connection) }
        }
    }

    /// Steps `handle` to its end, handing each row to `each`, and resets it (also when `each` throws).
    static func run(_ handle: OpaquePointer, sql: String, connection: OpaquePointer?,
                    _ each: (any SQLRow) throws -> Void) throws {
        defer { sqlite3_reset(handle) }
        let row = StatementRow(handle: handle)
        while true {
            switch sqlite3_step(handle) {
            case SQLITE_ROW: try each(row)
            case SQLITE_DONE: return
            case let code: throw error(code, sql, connection)
            }
        }
    }

    /// SQLite copies the bytes it is given (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    private static var empty: UnsafeRawPointer { UnsafeRawPointer(("" as StaticString).utf8Start) }

    static func error(_ code: Int32, _ sql: String?, _ connection: OpaquePointer?) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code),
                      message: connection.map { String(cString: sqlite3_errmsg($0)) }, sql: sql)
    }
}

/// The current row of a statement being stepped, read through SQLite's C API (valid until the next step).
private struct StatementRow: SQLRow {
    let handle: OpaquePointer

    private func isNull(_ index: Int) -> Bool { sqlite3_column_type(handle, Int32(index)) == SQLITE_NULL }

    func text(_ index: Int) throws -> String {
        guard let value = optionalText(index) else { throw StorageCorruption("column \(index) is NULL") }
        return value
    }
    func optionalText(_ index: Int) -> String? {
        guard let text = sqlite3_column_text(handle, Int32(index)) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }
    func int(_ index: Int) throws -> Int64 {
        guard !isNull(index) else { throw StorageCorruption("column \(index) is NULL") }
        return sqlite3_column_int64(handle, Int32(index))
    }
    func optionalInt(_ index: Int) -> Int64? { isNull(index) ? nil : sqlite3_column_int64(handle, Int32(index)) }
    func bool(_ index: Int) throws -> Bool { try int(index) != 0 }
    func optionalBlob(_ index: Int) -> [UInt8]? {
        guard !isNull(index) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, Int32(index)))
        guard count > 0, let bytes = sqlite3_column_blob(handle, Int32(index)) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: bytes, count: count))
    }
}

/// The one column an insert's `RETURNING` would have given: the row's INTEGER PRIMARY KEY, read as an integer only.
private struct RowidRow: SQLRow {
    let rowid: Int64
    func int(_ index: Int) throws -> Int64 {
        guard index == 0 else { throw StorageCorruption("column \(index) of a rowid") }
        return rowid
    }
    func optionalInt(_ index: Int) throws -> Int64? { try int(index) }
    func text(_ index: Int) throws -> String { throw StorageCorruption("a rowid is read as an integer") }
    func optionalText(_ index: Int) throws -> String? { try text(index) }
    func bool(_ index: Int) throws -> Bool { throw StorageCorruption("a rowid is read as an integer") }
    func optionalBlob(_ index: Int) throws -> [UInt8]? { throw StorageCorruption("a rowid is read as an integer") }
}

extension Row: SQLRow {
    package func text(_ index: Int) throws -> String {
        guard let value: String = self[index] else { throw StorageCorruption("column \(index) is NULL") }
        return value
    }
    package func optionalText(_ index: Int) throws -> String? { self[index] }
    package func int(_ index: Int) throws -> Int64 {
        guard let value: Int64 = self[index] else { throw StorageCorruption("column \(index) is NULL") }
        return value
    }
    package func optionalInt(_ index: Int) throws -> Int64? { self[index] }
    package func bool(_ index: Int) throws -> Bool {
        guard let value: Bool = self[index] else { throw StorageCorruption("column \(index) is NULL") }
        return value
    }
    package func optionalBlob(_ index: Int) throws -> [UInt8]? { (self[index] as Data?).map { [UInt8]($0) } }
}
