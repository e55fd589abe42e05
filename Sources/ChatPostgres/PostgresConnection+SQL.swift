import ChatCore
import ChatSQL
import Foundation
import Logging
import PostgresNIO

/// An error of the PostgreSQL engine itself (not a server error).
public struct PostgresStorageError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The shared `SQLTransaction` over one PostgreSQL connection inside an open transaction. Statements are
/// sent one at a time and waited for on the calling (engine-owned) thread, never on the event loop.
///
/// In a write transaction (a batch of the group-commit writer) it
/// - locks each row it reads that the operation may change (`SQLStatement.postgresLocking`), so writers of
///   other instances that touch the same room, session, thread, message or participant wait for the commit;
/// - buffers the batch's message, event and replay-cache inserts and writes each table's rows in one
///   statement: before any statement that could see or depend on them, and at the end of the batch;
/// - writes the events last, after taking a transaction-scoped advisory lock per tenant
///   (`pg_advisory_xact_lock(7450, hashtext(tenant))`): event ids come from the table's identity, and a
///   tenant's ids are taken under that lock, held until the commit, so they commit in increasing order (a
///   `ListTenantEvents` consumer never skips an event that commits later with a smaller id) while the rest of
///   the batch runs in parallel with the tenant's other writers.
final class PGConnection: SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    let writable: Bool
    var dialect: SQLDialect { .postgres }
    private(set) var totalChanges = 0
    private var depth = 0
    /// Buffered inserts by table, in order, with the savepoint depth that buffered each.
    private var buffered: [String: [BufferedRow]] = [:]
    private var bufferedStatements: [String: SQLStatement] = [:]
    /// Rows written inside a savepoint that an outer level buffered: a rollback of that savepoint undoes
    /// the insert, so they go back to the buffer.
    private var writtenInSavepoint: [(table: String, row: BufferedRow, depth: Int)] = []
    /// The ids of the events written so far, by position.
    private(set) var eventIds: [EventPosition: Int64] = [:]

    private struct BufferedRow {
        let arguments: [any SQLBindable]
        var depth: Int
    }

    init(_ connection: PostgresConnection, writable: Bool, logger: Logger) {
        self.connection = connection
        self.writable = writable
        self.logger = logger
    }

    private func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.sqlValue {
            case .null: bindings.appendNull()
            case .int(let n): bindings.append(n)
            case .text(let s): bindings.append(s)
            case .bool(let b): bindings.append(b)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        let result = try connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).wait()
        if writable, !sql.hasPrefix("SELECT") { totalChanges += result.metadata.rows ?? 0 }
        return result
    }

    /// Runs `statement` now, after the buffered rows it may depend on; buffers it when it is a buffered insert.
    /// Returns nil when buffered.
    private func send(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult? {
        guard writable else { return try run(statement.postgres, arguments) }
        switch statement.deferral {
        case .buffered(let table, _, _, _):
            buffered[table, default: []].append(BufferedRow(arguments: arguments, depth: depth))
            bufferedStatements[table] = statement
            totalChanges += 1
            return nil
        case .independent:
            break
        case .none:
            try flush(events: statement.postgres.contains("room_events"))
        }
        return try run(statement.postgresLocking ?? statement.postgres, arguments)
    }

    func query<T>(_ statement: SQLStatement, _ arguments: [any SQLBindable], _ decode: (PGRow) throws -> T) throws -> [T] {
        try send(statement, arguments)?.rows.map { try decode(PGRow($0)) } ?? []
    }

    func execute(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int {
        guard let result = try send(statement, arguments) else { return 1 }
        return result.metadata.rows ?? 0
    }

    func execute(raw sql: String) throws {
        _ = try run(sql, [])
    }

    /// Runs `sql` and returns the first column of each row as text (migrations, maintenance).
    func texts(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [String?] {
        try run(sql, arguments).rows.map { try PGRow($0).optionalText(0) }
    }

    func isConflict(_ error: Error) -> Bool { Self.isConflict(error) }

    /// Serialization failures, deadlocks, unique-key races and calls recorded twice.
    static func isConflict(_ error: Error) -> Bool {
        if error is ReplayRace { return true }
        guard let error = error as? PSQLError, error.code == .server,
              let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01" || state == "23505"
    }

    func abortsTransaction(_ error: Error) -> Bool { error is PSQLError || error is ReplayRace }

    func depthChanged(_ depth: Int) {
        if depth < self.depth {
            // A released savepoint's rows and writes belong to its parent from now on.
            for table in buffered.keys {
                for i in buffered[table]!.indices where buffered[table]![i].depth > depth { buffered[table]![i].depth = depth }
            }
            for i in writtenInSavepoint.indices where writtenInSavepoint[i].depth > depth { writtenInSavepoint[i].depth = depth }
            writtenInSavepoint.removeAll { $0.depth == 0 }
        }
        self.depth = depth
    }

    func rolledBack(toDepth depth: Int) {
        for table in buffered.keys { buffered[table]?.removeAll { $0.depth >= depth } }
        for written in writtenInSavepoint where written.depth >= depth && written.row.depth < depth {
            buffered[written.table, default: []].append(written.row)
        }
        writtenInSavepoint.removeAll { $0.depth >= depth }
    }

    /// Takes the buffered rows of `table` to write them now.
    private func take(_ table: String) -> [BufferedRow] {
        let rows = buffered.removeValue(forKey: table) ?? []
        if depth > 0 { writtenInSavepoint += rows.map { (table, $0, depth) } }
        return rows
    }

    /// Writes the buffered messages and replay entries (and, with `events`, the events: see the type's
    /// documentation, and `eventIds`).
    ///
    /// - Throws: `ReplayRace` when another instance recorded one of this batch's calls meanwhile.
    func flush(events: Bool) throws {
        if case let rows = take("messages"), !rows.isEmpty {
            _ = try insert("messages", rows.map(\.arguments))
        }
        if case let rows = take("replay_cache"), !rows.isEmpty {
            var written = Set<String>()
            for row in try insert("replay_cache", rows.map(\.arguments), then: " RETURNING key_id, request_id") {
                written.insert(try row.text(0) + " " + row.text(1))
            }
            // A recorded mutation (it carries its response) that another writer recorded first: this batch ran it
            // again. Reads' request ids (no response) may be recorded twice; the first one stands.
            for row in rows where !written.contains("\(row.arguments[0] as? String ?? "") \(row.arguments[1] as? String ?? "")") {
                if case .blob = row.arguments[3].sqlValue { throw ReplayRace() }
            }
        }
        guard events, case let rows = take("room_events"), !rows.isEmpty else { return }
        let tenants = Set(rows.compactMap { $0.arguments[0] as? String })
        for tenant in tenants.sorted() {
            _ = try run("SELECT pg_advisory_xact_lock(7450, hashtext($1))", [tenant])
        }
        for row in try insert("room_events", rows.map(\.arguments), then: ", tenant_id, room_id, seq") {
            eventIds[EventPosition(tenantId: try row.text(1), roomId: try row.text(2), seq: try row.int(3))] = try row.int(0)
        }
    }

    /// One multi-row INSERT of `rows` into `table` (in chunks below PostgreSQL's 65,535 parameters), with the
    /// statement's suffix followed by `then`.
    private func insert(_ table: String, _ rows: [[any SQLBindable]], then extra: String = "") throws -> [PGRow] {
        guard let statement = bufferedStatements[table],
              case .buffered(_, let prefix, let width, let suffix) = statement.deferral else { return [] }
        var written: [PGRow] = []
        let perStatement = max(1, 60_000 / width)
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            let chunk = rows[start..<min(rows.count, start + perStatement)]
            let values = chunk.indices.map { i in
                "(" + (0..<width).map { "$\((i - start) * width + $0 + 1)" }.joined(separator: ", ") + ")"
            }.joined(separator: ", ")
            written += try run("\(prefix) \(values) \(suffix)\(extra)", Array(chunk.joined())).rows.map(PGRow.init)
        }
        return written
    }
}

/// Another instance recorded a call of this batch first: the batch runs again and answers it from the record.
struct ReplayRace: Error {}

/// A row read by column position.
struct PGRow: SQLRow {
    let row: PostgresRandomAccessRow
    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    private func value<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T {
        try row[index].decode(T.self, context: .default)
    }

    func text(_ index: Int) throws -> String { try value(index, String.self) }
    func optionalText(_ index: Int) throws -> String? { try value(index, String?.self) }
    func int(_ index: Int) throws -> Int64 { try value(index, Int64.self) }
    func optionalInt(_ index: Int) throws -> Int64? { try value(index, Int64?.self) }
    func bool(_ index: Int) throws -> Bool { try value(index, Bool.self) }
    func optionalBlob(_ index: Int) throws -> [UInt8]? { try value(index, ByteBuffer?.self).map { Array($0.readableBytesView) } }
}
