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
    let pooled: PooledConnection
    var connection: PostgresConnection { pooled.connection }
    let logger: Logger
    let writable: Bool
    var dialect: SQLDialect { .postgres }
    var defersWrites: Bool { writable }
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
    /// The transaction's BEGIN, sent and not yet waited for (see `begin`).
    private var pendingBegin: EventLoopFuture<PostgresQueryResult>?

    private struct BufferedRow {
        let arguments: [any SQLBindable]
        var depth: Int
    }

    init(_ pooled: PooledConnection, writable: Bool, logger: Logger) {
        self.pooled = pooled
        self.writable = writable
        self.logger = logger
    }

    /// The rows of a statement and how many rows it changed.
    struct Outcome {
        var rows: [PostgresRow]
        var changed: Int
        /// The rows of a prepared statement: see `PGRow.binaryLabeledText`.
        var prepared = false
    }

    /// Runs `sql`. A statement that returns rows and no count (`prepared`: the catalog's queries, the small
    /// writes of buffered rows) runs as a statement prepared once on this connection, so PostgreSQL neither
    /// parses nor plans it again (most of its cost for the hot lookups).
    private func run(_ sql: String, _ arguments: [any SQLBindable], prepared: Bool = false) throws -> Outcome {
        if prepared, !arguments.isEmpty, let statement = try preparedStatement(sql) {
            let rows = statement.execute(arguments.map(\.postgresData))
            try settleBegin()
            return Outcome(rows: try rows.wait(), changed: 0, prepared: true)
        }
        let query = connection.query(PostgresQuery(unsafeSQL: sql, binds: Self.bindings(arguments)), logger: logger)
        try settleBegin()
        let result = try query.wait()
        let changed = sql.hasPrefix("SELECT") ? 0 : result.metadata.rows ?? 0
        if writable { totalChanges += changed }
        return Outcome(rows: result.rows, changed: changed)
    }

    private static func bindings(_ arguments: [any SQLBindable]) -> PostgresBindings {
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
        return bindings
    }

    /// Opens the transaction without waiting for PostgreSQL's answer: the connection runs its statements in
    /// order, so the first statement is sent right behind it and the engine thread waits once for both (the
    /// answer is checked before the first statement's). A BEGIN that fails has a broken connection behind it,
    /// and the statement queued behind it fails too.
    func begin(_ sql: String) {
        pendingBegin = connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    private func settleBegin() throws {
        guard let begin = pendingBegin else { return }
        pendingBegin = nil
        _ = try begin.wait()
    }

    /// `sql` prepared on this connection (prepared now if it is not yet), or nil once the connection holds
    /// `PooledConnection.maxPrepared` statements.
    private func preparedStatement(_ sql: String) throws -> PreparedQuery? {
        if let statement = pooled.prepared[sql] { return statement }
        guard pooled.prepared.count < PooledConnection.maxPrepared else { return nil }
        let statement = try connection.prepare(query: sql).wait()
        pooled.prepared[sql] = statement
        return statement
    }

    /// Runs `statement` now, after the buffered rows it may depend on; buffers it when it is a buffered insert.
    /// Returns nil when buffered.
    private func send(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Outcome? {
        guard writable else { return try run(statement.postgres, arguments, prepared: statement.postgres.hasPrefix("SELECT")) }
        switch statement.deferral {
        case .buffered(let table, _, _, _):
            buffered[table, default: []].append(BufferedRow(arguments: arguments, depth: depth))
            bufferedStatements[table] = statement
            totalChanges += 1
            return nil
        case .independent:
            break
        case .none:
            try flush(events: statement.touchesEvents)
        }
        let sql = statement.postgresLocking ?? statement.postgres
        return try run(sql, arguments, prepared: sql.hasPrefix("SELECT"))
    }

    func query(_ statement: SQLStatement, _ arguments: [any SQLBindable], _ each: (any SQLRow) throws -> Void) throws {
        guard let outcome = try send(statement, arguments) else { return }
        for row in outcome.rows { try each(PGRow(row, binaryLabeledText: outcome.prepared)) }
    }

    /// Sends every query before waiting for the first answer (the connection runs them in order): one wait of
    /// the engine thread instead of one per query.
    ///
    /// The first error in statement order is the one thrown: once a statement fails, PostgreSQL refuses the
    /// ones behind it ("current transaction is aborted"), and that refusal must not hide the cause (a deadlock,
    /// say, which reruns the batch). Statements built for one batch (`SQLStatement.reusable` false) are not
    /// prepared.
    func query(_ reads: [SQLRead]) throws {
        var pending: [(EventLoopFuture<[PostgresRow]>, prepared: Bool, SQLRead)] = []
        var failure: Error?
        for read in reads {
            let sql = writable ? read.statement.postgresLocking ?? read.statement.postgres : read.statement.postgres
            do {
                if read.statement.reusable, let statement = try preparedStatement(sql) {
                    pending.append((statement.execute(read.arguments.map(\.postgresData)), true, read))
                } else {
                    let query = connection.query(PostgresQuery(unsafeSQL: sql, binds: Self.bindings(read.arguments)), logger: logger)
                    pending.append((query.map(\.rows), false, read))
                }
            } catch {
                failure = error
                break
            }
        }
        var first: Error?
        do { try settleBegin() } catch { first = error }
        for (rows, prepared, read) in pending {
            do {
                for row in try rows.wait() where first == nil { try read.each(PGRow(row, binaryLabeledText: prepared)) }
            } catch {
                first = first ?? error
            }
        }
        if let error = first ?? failure { throw error }
    }

    func execute(_ statement: SQLStatement, _ arguments: [any SQLBindable]) throws -> Int {
        guard let result = try send(statement, arguments) else { return 1 }
        return result.changed
    }

    func execute(raw sql: String) throws {
        _ = try run(sql, [])
    }

    /// Runs `sql` and returns the first column of each row as text (migrations, maintenance).
    func texts(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [String?] {
        try run(sql, arguments).rows.map { try PGRow($0).optionalText(0) }
    }

    func isConflict(_ error: Error) -> Bool { Self.isConflict(error) }

    /// Serialization failures, deadlocks, unique-key races, calls recorded twice, and statements refused in a
    /// transaction an earlier failure aborted.
    static func isConflict(_ error: Error) -> Bool {
        if error is ReplayRace { return true }
        guard let state = sqlState(error) else { return false }
        // 25P02: a statement ran after an earlier one failed in the same transaction; whatever that was, the
        // batch can only run again.
        return state == "40001" || state == "40P01" || state == "23505" || state == "25P02"
    }

    /// The SQLSTATE of an error the server sent. PostgresNIO reports it as `PSQLError` from its async API and as
    /// the older `PostgresError.server` from its future-based one (prepared statements' `execute`, `query(...)` that
    /// returns a future): a deadlock in a pipelined read came as the latter, was not seen as a conflict, and failed
    /// its call and then, in the aborted transaction, the batch.
    static func sqlState(_ error: Error) -> String? {
        if let error = error as? PSQLError, error.code == .server { return error.serverInfo?[.sqlState] }
        if case .server(let message)? = error as? PostgresError { return message.fields[.sqlState] }
        return nil
    }

    /// Any error the server sent ends the transaction's usefulness outside a savepoint.
    static func isServerError(_ error: Error) -> Bool { sqlState(error) != nil || error is ReplayRace }

    func abortsTransaction(_ error: Error) -> Bool { error is PSQLError || Self.isServerError(error) }

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

    /// Writes what is buffered in one statement (one data-modifying CTE per table): the rooms' counters, the
    /// messages, the replay entries and, with `events`, the events, after the tenants' locks (see the type's
    /// documentation; their ids land in `eventIds`).
    ///
    /// - Throws: `ReplayRace` when another instance recorded one of this batch's calls meanwhile.
    func flush(events: Bool) throws {
        var parts: [Part] = []
        if case let rows = take("rooms"), !rows.isEmpty {
            // The counters as last counted, per room (arguments: tenant, room, seq, last message time).
            var last: [String: [any SQLBindable]] = [:]
            for row in rows { last["\(row.arguments[0] as? String ?? "")\u{0}\(row.arguments[1] as? String ?? "")"] = row.arguments }
            parts.append(Part(arguments: Array(last.values)) { values, _ in """
                rooms_written AS (UPDATE rooms r SET last_event_seq = v.seq, last_message_at = v.at
                    FROM (VALUES \(values(["text", "text", "bigint", "bigint"]))) v(tenant_id, id, seq, at)
                    WHERE r.tenant_id = v.tenant_id AND r.id = v.id RETURNING 1)
                """ })
        }
        for (table, returning) in [("messages", "1"), ("replay_cache", "key_id, request_id")] {
            guard case let rows = take(table), !rows.isEmpty, let statement = bufferedStatements[table],
                  case .buffered(_, let prefix, _, let suffix) = statement.deferral else { continue }
            let select = table == "replay_cache" ? "SELECT 'r', key_id, request_id, 0::bigint, 0::bigint FROM \(table)_written" : nil
            parts.append(Part(arguments: rows.map(\.arguments), select: select) { values, _ in
                "\(table)_written AS (\(prefix) \(values(nil)) \(suffix) RETURNING \(returning))"
            })
            if table == "replay_cache" { parts[parts.count - 1].replays = rows }
        }
        if events, case let rows = take("room_events"), !rows.isEmpty {
            let tenants = Set(rows.compactMap { $0.arguments[0] as? String }).sorted().map { [$0] as [any SQLBindable] }
            var lock = Part(arguments: tenants) { values, _ in """
                tenants_locked AS (SELECT pg_advisory_xact_lock(7450, hashtext(t.id)) FROM (VALUES \(values(["text"]))) t(id))
                """ }
            lock.takesLocks = true
            parts.append(lock)
            // In the lock's statement the inserted rows are filtered on the lock count: an init plan, so the locks
            // come before any event id. Written apart (a batch too big for one statement), the locks come first.
            parts.append(Part(arguments: rows.map(\.arguments),
                              select: "SELECT 'e', tenant_id, room_id, seq, event_id FROM events_written") { values, afterLocks in """
                events_written AS (INSERT INTO room_events (\(Rows.eventColumns))
                    SELECT * FROM (VALUES \(values(["text", "text", "bigint", "text", "text", "text", "bigint", "text"]))) v
                    \(afterLocks) RETURNING event_id, tenant_id, room_id, seq)
                """ })
        }
        guard !parts.isEmpty else { return }
        var recorded = Set<String>()
        // One statement when its parameters fit (PostgreSQL takes 65,535); else each part in chunks, in order.
        let total = parts.reduce(0) { $0 + $1.arguments.reduce(0) { $0 + $1.count } }
        let statements = total <= Self.maxParameters ? [parts] : parts.flatMap { $0.chunks(Self.maxParameters).map { [$0] } }
        for statement in statements {
            for row in try write(statement) {
                switch try row.text(0) {
                case "r": recorded.insert(try row.text(1) + " " + row.text(2))
                case "e": eventIds[EventPosition(tenantId: try row.text(1), roomId: try row.text(2), seq: try row.int(3))] = try row.int(4)
                default: break
                }
            }
        }
        // A recorded mutation (it carries its response) that another writer recorded first: this batch ran it
        // again. Reads' request ids (no response) may be recorded twice; the first one stands.
        for row in parts.flatMap(\.replays) where !recorded.contains("\(row.arguments[0] as? String ?? "") \(row.arguments[1] as? String ?? "")") {
            if case .blob = row.arguments[3].sqlValue { throw ReplayRace() }
        }
    }

    /// Most parameters of a `flush` statement that is prepared (about three sends).
    static let maxPreparedFlushParameters = 128

    /// Most parameters one statement of `flush` binds.
    static let maxParameters = 30_000

    /// One statement of data-modifying CTEs; its result rows are ('r', key, request id) for each replay entry
    /// written and ('e', tenant, room, seq, event id) for each event.
    private func write(_ parts: [Part]) throws -> [PGRow] {
        var arguments: [any SQLBindable] = []
        let locks = parts.contains(where: \.takesLocks)
        let ctes = parts.map { part in
            part.sql({ types in
                part.arguments.map { row in
                    "(" + row.indices.map { i in
                        arguments.append(row[i])
                        return "$\(arguments.count)" + (types.map { "::" + $0[i] } ?? "")
                    }.joined(separator: ", ") + ")"
                }.joined(separator: ", ")
            }, locks ? "WHERE (SELECT count(*) FROM tenants_locked) >= 0" : "")
        }
        let selects = parts.compactMap(\.select) + (locks && parts.count == 1 ? ["SELECT '', '', '', count(*), 0::bigint FROM tenants_locked"] : [])
        let main = selects.isEmpty ? "SELECT '', '', '', 0::bigint, 0::bigint" : selects.joined(separator: " UNION ALL ")
        // The shapes of small batches repeat (one send: always the same statement): those are prepared.
        let outcome = try run("WITH \(ctes.joined(separator: ",\n")) \(main)", arguments,
                              prepared: arguments.count <= Self.maxPreparedFlushParameters)
        return outcome.rows.map { PGRow($0, binaryLabeledText: outcome.prepared) }
    }

    /// One CTE of `flush`: its rows, its SQL given a renderer of its VALUES rows (with column types, or nil where
    /// the insert's target types them), and what it adds to the statement's result.
    private struct Part {
        var arguments: [[any SQLBindable]]
        var select: String?
        var replays: [BufferedRow] = []
        /// The tenants' advisory locks (the events of its statement are taken after them).
        var takesLocks = false

        /// This part in pieces of at most `maxParameters` parameters each (the same SQL, fewer rows).
        func chunks(_ maxParameters: Int) -> [Part] {
            let perChunk = max(1, maxParameters / max(1, arguments.first?.count ?? 1))
            return stride(from: 0, to: arguments.count, by: perChunk).map { start in
                var chunk = self
                chunk.arguments = Array(arguments[start..<min(arguments.count, start + perChunk)])
                if start > 0 { chunk.replays = [] }
                return chunk
            }
        }
        /// Given the renderer of its VALUES rows and the condition that puts its rows after the statement's locks.
        let sql: (_ values: ([String]?) -> String, _ afterLocks: String) -> String

        init(arguments: [[any SQLBindable]], select: String? = nil,
             sql: @escaping (_ values: ([String]?) -> String, _ afterLocks: String) -> String) {
            self.arguments = arguments
            self.select = select
            self.sql = sql
        }
    }
}

extension SQLBindable {
    /// The value as the driver's prepared statements bind it.
    var postgresData: PostgresData {
        switch sqlValue {
        case .null: .null
        case .int(let n): PostgresData(int64: n)
        case .text(let s): PostgresData(string: s)
        case .bool(let b): PostgresData(bool: b)
        case .blob(let bytes): PostgresData(bytes: bytes)
        }
    }
}

/// Another instance recorded a call of this batch first: the batch runs again and answers it from the record.
struct ReplayRace: Error {}

/// A row read by column position.
struct PGRow: SQLRow {
    let row: PostgresRandomAccessRow
    /// The driver labels a prepared statement's columns with the formats of the statement's description (text),
    /// though it asks for, and PostgreSQL sends, binary values: those cells are decoded as binary.
    let binaryLabeledText: Bool

    init(_ row: PostgresRow, binaryLabeledText: Bool = false) {
        self.row = row.makeRandomAccess()
        self.binaryLabeledText = binaryLabeledText
    }

    private func value<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T {
        var cell = row[index]
        if binaryLabeledText { cell.format = .binary }
        return try cell.decode(T.self, context: .default)
    }

    func text(_ index: Int) throws -> String { try value(index, String.self) }
    func optionalText(_ index: Int) throws -> String? { try value(index, String?.self) }
    func int(_ index: Int) throws -> Int64 { try value(index, Int64.self) }
    func optionalInt(_ index: Int) throws -> Int64? { try value(index, Int64?.self) }
    func bool(_ index: Int) throws -> Bool { try value(index, Bool.self) }
    func optionalBlob(_ index: Int) throws -> [UInt8]? { try value(index, ByteBuffer?.self).map { Array($0.readableBytesView) } }
}
