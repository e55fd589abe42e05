import ChatCore
import ChatSQL
import Foundation
import GRDB

/// The shared `SQLTransaction` over one GRDB connection: cached statements, rows read in place.
final class SQLiteConnection: SQLConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }
    var totalChanges: Int { db.totalChangesCount }

    init(_ db: Database) { self.db = db }

    /// GRDB's arguments. Built from existentials: GRDB's initializer for a sequence of concrete values maps it with a
    /// key path that, unspecialized in this module, is instantiated at run time on every statement.
    private static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value.sqlValue {
            case .null: return nil
            case .int(let n): return n
            case .text(let s): return s
            case .bool(let b): return b
            case .blob(let bytes): return Data(bytes)
            }
        })
    }

    func query(_ statement: SQLStatement, _ arguments: [any SQLBindable], _ each: (any SQLRow) throws -> Void) throws {
        let rows = try Row.fetchCursor(db.cachedStatement(sql: statement.sqlite), arguments: Self.arguments(arguments))
        while let row = try rows.next() { try each(row) }
    }

    func execute(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int {
        try db.cachedStatement(sql: statement.sqlite).execute(arguments: Self.arguments(arguments))
        return db.changesCount
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
