import ChatCore
import Foundation

/// What really differs between the engines' SQL: placeholders, casts of nullable parameters, case-folding
/// `LIKE`, and full-text search (whole statements, see `SQLStatement(sqlite:postgres:)`).
package enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// One statement of the catalog, written once in SQLite's syntax and rendered for PostgreSQL.
///
/// The catalog writes numbered parameters `?1`, `?2`… (or bare `?`, numbered in order); a parameter that
/// may be NULL where nothing else fixes its type carries its type, `?3:text`, `?5:int` or `?4:bool`
/// (PostgreSQL types an untyped NULL from its context, and `?3 IS NULL` alone is no context). `{like}` is
/// the case-insensitive `LIKE` of each engine.
package struct SQLStatement: Sendable {
    package let sqlite: String
    package let postgres: String
    /// How an engine that defers writes to the end of a batch may treat the statement (see `Deferral`).
    package var deferral = Deferral.none
    /// The PostgreSQL text inside a write transaction when the statement reads a row the operation may then
    /// change: the row is locked (`FOR NO KEY UPDATE`) until the commit, so another instance's writer waits.
    package var postgresLocking: String?
    /// Whether the same text recurs (the catalog's statements): an engine may prepare it once. False for a
    /// statement built for one batch (its text depends on how many rows it names).
    package var reusable = true
    /// Whether the statement reads or writes the event log (an engine writes its buffered events first).
    package let touchesEvents: Bool
    /// How SQLite may answer the statement's `RETURNING` value without the clause; nil: its text runs as written.
    package private(set) var sqliteReturning: SQLiteReturning?

    /// How SQLite answers a statement's one returned integer without its `RETURNING` clause. SQLite gathers a
    /// RETURNING statement's rows in a temporary b-tree that it opens and drops on every call (a pager, a b-tree and
    /// their allocations): with the two such statements of a send, 6% of the server's CPU per send at 64 clients
    /// (perf). Both forms yield the row RETURNING would, or none.
    package enum SQLiteReturning: Sendable {
        /// An insert of one row returning its INTEGER PRIMARY KEY: `insert` (the text without RETURNING), then the
        /// connection's last inserted rowid when it inserted a row.
        case rowid(insert: String)
        /// An update of at most one row: `update` (the text without RETURNING), then, when it changed a row,
        /// `select`, bound with the update's leading arguments (as many as it has parameters).
        case reread(update: String, select: String)
    }

    /// What a statement means for an engine that buffers inserts until the end of the batch (PostgreSQL:
    /// one multi-row statement instead of one per operation).
    package enum Deferral: Sendable {
        /// Reads or writes that may depend on buffered rows: the buffers are written first.
        case none
        /// Touches nothing that buffered rows could change (rooms, participants, keys…): runs at once.
        case independent
        /// An insert of one row that may be buffered; `prefix` is `INSERT INTO t (columns) VALUES`, each row
        /// has `width` parameters, `suffix` follows the rows.
        case buffered(table: String, prefix: String, width: Int, suffix: String)
    }

    package init(_ template: String, deferral: Deferral = .none, locking: Bool = false) {
        sqlite = Self.render(template, .sqlite)
        postgres = Self.render(template, .postgres)
        touchesEvents = template.contains("room_events")
        self.deferral = deferral
        if locking { postgresLocking = postgres + " FOR NO KEY UPDATE" }
    }

    /// This statement, with templates of the form SQLite runs instead of its `RETURNING` clause.
    package func returningInSQLite(_ form: SQLiteReturning) -> SQLStatement {
        var statement = self
        switch form {
        case .rowid(let insert): statement.sqliteReturning = .rowid(insert: Self.render(insert, .sqlite))
        case .reread(let update, let select):
            statement.sqliteReturning = .reread(update: Self.render(update, .sqlite), select: Self.render(select, .sqlite))
        }
        return statement
    }

    /// A statement that differs beyond the dialect's rendering (full-text search, engine functions).
    package init(sqlite: String, postgres: String) {
        self.sqlite = Self.render(sqlite, .sqlite)
        self.postgres = Self.render(postgres, .postgres)
        touchesEvents = postgres.contains("room_events")
    }

    private static let types = ["text": "text", "int": "bigint", "bool": "boolean"]

    package static func render(_ template: String, _ dialect: SQLDialect) -> String {
        let chars = Array(template.replacingOccurrences(of: "{like}", with: dialect == .sqlite ? "LIKE" : "ILIKE")) + ["\0"]
        var out = ""
        var i = 0
        var next = 0
        var inString = false
        while i < chars.count - 1 {
            let c = chars[i]
            i += 1
            if c == "'" { inString.toggle() }
            guard !inString, c == "?" else {
                out.append(c)
                continue
            }
            var digits = ""
            while chars[i].isASCII && chars[i].isNumber {
                digits.append(chars[i])
                i += 1
            }
            let number = digits.isEmpty ? next + 1 : Int(digits)!
            next = max(next, number)
            var type: String?
            if chars[i] == ":" {
                var name = ""
                var j = i + 1
                while chars[j].isLetter {
                    name.append(chars[j])
                    j += 1
                }
                if let sqlType = types[name] {
                    type = sqlType
                    i = j
                }
            }
            out += dialect == .sqlite ? "?\(number)" : "$\(number)" + (type.map { "::\($0)" } ?? "")
        }
        return out
    }
}

/// A value bound to a parameter.
package enum SQLValue: Sendable {
    case null, int(Int64), text(String), bool(Bool), blob([UInt8])
}

/// Something bindable to a parameter.
package protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { package var sqlValue: SQLValue { .text(self) } }
extension Int64: SQLBindable { package var sqlValue: SQLValue { .int(self) } }
extension Int: SQLBindable { package var sqlValue: SQLValue { .int(Int64(self)) } }
extension Bool: SQLBindable { package var sqlValue: SQLValue { .bool(self) } }
extension Array: SQLBindable where Element == UInt8 { package var sqlValue: SQLValue { .blob(self) } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    package var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// A result row read by column position (every statement selects explicit columns).
package protocol SQLRow {
    func text(_ index: Int) throws -> String
    func optionalText(_ index: Int) throws -> String?
    func int(_ index: Int) throws -> Int64
    func optionalInt(_ index: Int) throws -> Int64?
    func bool(_ index: Int) throws -> Bool
    func optionalBlob(_ index: Int) throws -> [UInt8]?
}

extension SQLRow {
    package func blob(_ index: Int) throws -> [UInt8] {
        guard let bytes = try optionalBlob(index) else { throw StorageCorruption("column \(index) is NULL") }
        return bytes
    }

    package func enumValue<E: RawRepresentable>(_ index: Int, _ column: String) throws -> E where E.RawValue == String {
        let raw = try text(index)
        guard let value = E(rawValue: raw) else { throw StorageCorruption("unexpected \(column) '\(raw)'") }
        return value
    }
}

/// The columns of `row` from `offset` on (a joined row decoded as two entities).
package struct Offset: SQLRow {
    let row: any SQLRow, offset: Int
    package init(_ row: any SQLRow, by offset: Int) {
        self.row = row
        self.offset = offset
    }
    package func text(_ index: Int) throws -> String { try row.text(offset + index) }
    package func optionalText(_ index: Int) throws -> String? { try row.optionalText(offset + index) }
    package func int(_ index: Int) throws -> Int64 { try row.int(offset + index) }
    package func optionalInt(_ index: Int) throws -> Int64? { try row.optionalInt(offset + index) }
    package func bool(_ index: Int) throws -> Bool { try row.bool(offset + index) }
    package func optionalBlob(_ index: Int) throws -> [UInt8]? { try row.optionalBlob(offset + index) }
}

/// A stored value the domain cannot read back (a corrupt or foreign row).
package struct StorageCorruption: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// One engine connection inside an open transaction: the plumbing the shared `SQLTransaction` runs on.
///
/// `SQLTransaction` holds it as an existential: the engines live in other modules, where a generic transaction
/// would run unspecialized (generic metadata looked up at run time on every statement, measurably slower on
/// SQLite than a witness call per statement and per column).
package protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Rows changed by this connection's statements so far (the optimistic write path compares it).
    var totalChanges: Int { get }
    /// Whether this connection buffers `buffered` statements until its batch ends (then the transaction also
    /// counts the seqs of the rooms it locked in memory).
    var defersWrites: Bool { get }
    /// Runs a query and hands each row to `each` (a row is valid only during the call).
    func query(_ statement: SQLStatement, _ arguments: [any SQLBindable], _ each: (any SQLRow) throws -> Void) throws
    /// Runs independent queries (`Deferral.independent`), in order; an engine whose statements are round trips
    /// sends them all before waiting for the first answer.
    func query(_ reads: [SQLRead]) throws
    /// Runs a statement and returns the rows it changed.
    @discardableResult
    func execute(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int
    /// Runs SQL without parameters (savepoints, transaction control, migrations).
    func execute(raw sql: String) throws
    /// The savepoint depth statements now run at, and the depth a rollback returned to (an engine that
    /// buffers writes drops what the rolled-back savepoints buffered).
    func depthChanged(_ depth: Int)
    func rolledBack(toDepth depth: Int)
    /// Whether `error` means another writer got there first (a deadlock, a serialization failure, a unique
    /// key or a call recorded meanwhile): the whole batch runs again and sees the other writer's work.
    func isConflict(_ error: Error) -> Bool
    /// Whether `error` left the transaction unusable outside a savepoint (any PostgreSQL error does).
    func abortsTransaction(_ error: Error) -> Bool
}

/// A query with its arguments and what to do with each of its rows.
package struct SQLRead {
    package let statement: SQLStatement
    package let arguments: [any SQLBindable]
    package let each: (any SQLRow) throws -> Void

    package init(_ statement: SQLStatement, _ arguments: [any SQLBindable], each: @escaping (any SQLRow) throws -> Void) {
        self.statement = statement
        self.arguments = arguments
        self.each = each
    }
}

extension SQLConnection {
    package func query(_ reads: [SQLRead]) throws {
        for read in reads { try query(read.statement, read.arguments, read.each) }
    }
    package var defersWrites: Bool { false }
    package func depthChanged(_ depth: Int) {}
    package func rolledBack(toDepth depth: Int) {}
    package func isConflict(_ error: Error) -> Bool { false }
    package func abortsTransaction(_ error: Error) -> Bool { false }
}
