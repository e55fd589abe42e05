import ChatCore
import Foundation
import Logging
import PostgresNIO

/// Configuration of the PostgreSQL engine.
public struct PostgresConfiguration: Sendable {
    /// `postgres://user[:password]@host[:port]/database` (also `postgresql://`); a `host=/dir` query
    /// parameter selects a unix socket directory instead of TCP.
    public var url: String
    /// Connections this instance keeps at most (each serves one transaction at a time).
    public var poolSize = 12
    /// Attempts of a write that hit a serialization failure, a deadlock or a unique-key race.
    public var maxAttempts = 5
    /// Called after each commit with the transaction's events in log order (must not block).
    public var onCommit: (@Sendable ([RoomEvent]) -> Void)?

    public init(url: String) { self.url = url }

    /// Whether `string` names a PostgreSQL database.
    public static func isURL(_ string: String) -> Bool {
        string.hasPrefix("postgres://") || string.hasPrefix("postgresql://")
    }

    /// The driver configuration of `url`.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        guard Self.isURL(url), let components = URLComponents(string: url) else {
            throw PostgresStorageError("not a PostgreSQL URL: \(url)")
        }
        let user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        let password = components.password.flatMap { $0.removingPercentEncoding }
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        var configuration: PostgresConnection.Configuration
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user,
                                  password: password, database: database.isEmpty ? nil : database)
        } else {
            configuration = .init(host: components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1", port: port,
                                  username: user, password: password, database: database.isEmpty ? nil : database,
                                  tls: .disable)
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// `url` without its password (for logs and banners).
    public var redactedURL: String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}

/// A fixed-size pool of connections handed to one engine thread at a time (blocking checkout).
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is touched with `condition` locked.
    private let configuration: PostgresConnection.Configuration
    private let maxSize: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var nextId = 0
    private var closed = false

    init(configuration: PostgresConnection.Configuration, maxSize: Int, logger: Logger) {
        self.configuration = configuration
        self.maxSize = max(1, maxSize)
        self.logger = logger
    }

    func checkout() throws -> PostgresConnection {
        condition.lock()
        while true {
            if closed {
                condition.unlock()
                throw ChatError(.unavailable, .internal, "the store is closing")
            }
            if let connection = idle.popLast() {
                if connection.isClosed {
                    open -= 1
                    continue
                }
                condition.unlock()
                return connection
            }
            if open < maxSize {
                open += 1
                nextId += 1
                let id = nextId
                condition.unlock()
                do {
                    return try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(),
                                                          configuration: configuration, id: id, logger: logger).wait()
                } catch {
                    condition.lock()
                    open -= 1
                    condition.signal()
                    condition.unlock()
                    throw error
                }
            }
            condition.wait()
        }
    }

    /// Returns a connection; a broken one (or any after `close`) is closed and forgotten.
    func checkin(_ connection: PostgresConnection, broken: Bool) {
        condition.lock()
        if broken || closed || connection.isClosed {
            open -= 1
            condition.signal()
            condition.unlock()
            // The closure keeps the connection alive until it is closed (the driver asserts on that).
            connection.close().whenComplete { _ in _ = connection }
            return
        }
        idle.append(connection)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        let connections = idle
        open -= idle.count
        idle = []
        condition.broadcast()
        condition.unlock()
        // Waited for a bounded time: a shutdown must not hang on a peer that stopped answering.
        let closing = DispatchGroup()
        for connection in connections {
            closing.enter()
            connection.close().whenComplete { _ in
                _ = connection
                closing.leave()
            }
        }
        _ = closing.wait(timeout: .now() + 5)
    }
}

/// The PostgreSQL engine: several `smrt-chatd` instances share one database.
///
/// Each write is its own transaction on a pooled connection (READ COMMITTED, writes of one tenant
/// serialized by a transaction-scoped advisory lock, see `PostgresTransaction`); each read runs on a
/// REPEATABLE READ, READ ONLY snapshot. Bodies run synchronously on the calling thread (the RPC
/// workers) or on the engine's own dispatch queue (the async entry points), which block on the driver's
/// futures, never on the caller's executor. A write that hits a serialization failure, a deadlock or a
/// unique-key race with another instance is rolled back and run again (its body is pure apart from
/// the transaction), up to `maxAttempts`.
public final class PostgresStorage: ChatStorage, @unchecked Sendable {
    // @unchecked Sendable: the pool is thread-safe; the rest is immutable.
    private let pool: ConnectionPool
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private let queue = DispatchQueue(label: "smrt.chat.postgres", attributes: .concurrent)
    private let inFlight = DispatchGroup()

    /// Connects to the database and applies pending migrations.
    ///
    /// - Throws: connection or migration errors.
    public init(_ configuration: PostgresConfiguration, logger: Logger = Logger(label: "smrt.chat.postgres")) throws {
        self.configuration = configuration
        self.logger = logger
        pool = ConnectionPool(configuration: try configuration.connectionConfiguration(),
                              maxSize: configuration.poolSize, logger: logger)
        do {
            _ = try migrate()
        } catch {
            pool.close()
            throw error
        }
    }

    /// Applies pending migrations to the database at `url` and returns the applied migration names.
    public static func migrate(url: String) throws -> [String] {
        let storage = try PostgresStorage(PostgresConfiguration(url: url))
        defer { storage.close() }
        return try storage.appliedMigrations()
    }

    /// Applies the pending migrations in one transaction, serialized across instances by an advisory lock.
    @discardableResult
    func migrate() throws -> [String] {
        try withConnection { connection in
            let tx = PostgresTransaction(connection, writable: true, logger: logger)
            try tx.execute("BEGIN")
            do {
                try tx.execute("SELECT pg_advisory_xact_lock(7450, 0)")
                try tx.execute("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)
                    """)
                let applied = Set(try tx.execute("SELECT name FROM schema_migrations").rows.map {
                    try $0.makeRandomAccess()[0].decode(String.self, context: .default)
                })
                var names: [String] = []
                for migration in PostgresSchema.migrations {
                    names.append(migration.name)
                    if applied.contains(migration.name) { continue }
                    for statement in migration.statements { try tx.execute(statement) }
                    try tx.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                                   [migration.name, ChatDomain.systemClock()])
                    logger.info("applied migration", metadata: ["chat.migration": "\(migration.name)"])
                }
                try tx.execute("COMMIT")
                return names
            } catch {
                _ = try? tx.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Names of the applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try withConnection { connection in
            try PostgresTransaction(connection, writable: false, logger: logger)
                .execute("SELECT name FROM schema_migrations ORDER BY applied_at, name").rows.map {
                    try $0.makeRandomAccess()[0].decode(String.self, context: .default)
                }
        }
    }

    private func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try pool.checkout()
        do {
            let value = try body(connection)
            pool.checkin(connection, broken: false)
            return value
        } catch {
            pool.checkin(connection, broken: connection.isClosed || !Self.isServerError(error))
            throw error
        }
    }

    static func isServerError(_ error: Error) -> Bool {
        (error as? PSQLError)?.code == .server
    }

    static func isRetryable(_ error: Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server,
              let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01" || state == "23505"
    }

    // MARK: ChatStorage

    public func read<T>(_ body: (any ChatTransaction) throws -> T) throws -> T {
        try withConnection { connection in
            let tx = PostgresTransaction(connection, writable: false, logger: logger)
            try tx.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            do {
                let value = try body(tx)
                try tx.execute("COMMIT")
                return value
            } catch {
                if !connection.isClosed { _ = try? tx.execute("ROLLBACK") }
                throw error
            }
        }
    }

    private func writeNow<T: Sendable>(_ body: (any ChatTransaction) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try writeOnce(body)
            } catch {
                guard attempt < configuration.maxAttempts, Self.isRetryable(error) else { throw error }
                logger.debug("write retried", metadata: ["error": "\(error)", "chat.attempt": "\(attempt)"])
                attempt += 1
            }
        }
    }

    /// One attempt: BEGIN, the body, COMMIT or ROLLBACK, then `onCommit`.
    private func writeOnce<T: Sendable>(_ body: (any ChatTransaction) throws -> T) throws -> T {
        let (outcome, events): (Result<T, Error>, [RoomEvent]) = try withConnection { connection in
            let tx = PostgresTransaction(connection, writable: true, logger: logger)
            try tx.execute("BEGIN")
            let outcome: Result<T, Error>
            do {
                outcome = .success(try body(tx))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success:
                do {
                    try tx.execute("COMMIT")
                } catch {
                    if !connection.isClosed { _ = try? tx.execute("ROLLBACK") }
                    throw error
                }
                return (outcome, tx.events)
            case .failure(let error):
                if !connection.isClosed { _ = try? tx.execute("ROLLBACK") }
                if Self.isRetryable(error) { throw error }
                return (outcome, [])
            }
        }
        if let onCommit = configuration.onCommit, !events.isEmpty { onCommit(events) }
        return try outcome.get()
    }

    public func submitWrite<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, priority: WritePriority,
        completion: @escaping @Sendable (Result<T, Error>) -> Void
    ) {
        inFlight.enter()
        queue.async { [self] in
            defer { inFlight.leave() }
            completion(Result { try writeNow(body) })
        }
    }

    /// Lets queued writes finish, then closes every connection.
    public func close() {
        if inFlight.wait(timeout: .now() + 10) == .timedOut {
            logger.warning("closing with asynchronous storage calls still running")
        }
        pool.close()
    }

    // MARK: Maintenance

    /// Runs raw SQL (tests and maintenance) and returns the first column of each row as text.
    public func query(_ sql: String) throws -> [String?] {
        try withConnection { connection in
            try PostgresTransaction(connection, writable: false, logger: logger).execute(sql).rows.map {
                try $0.makeRandomAccess()[0].decode(String?.self, context: .default)
            }
        }
    }

    /// The invariants of the write path (gap-free seqs matching their rows, exact counters) on one
    /// snapshot. PostgreSQL enforces its own constraints and page checksums: `integrity` is "ok".
    public func checkConsistency() throws -> ConsistencyReport {
        try withConnection { connection in
            let tx = PostgresTransaction(connection, writable: false, logger: logger)
            try tx.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? tx.execute("COMMIT") }
            var problems: [String] = []
            func collect(_ label: String, _ sql: String) throws {
                for row in try tx.execute("SELECT row_to_json(q)::text FROM (\(sql)) q").rows {
                    problems.append("\(label): " + (try row.makeRandomAccess()[0].decode(String.self, context: .default)))
                }
            }
            try collect("room seq", """
                SELECT r.tenant_id, r.id, r.last_event_seq, e.lo, e.hi, e.n FROM rooms r
                LEFT JOIN (SELECT tenant_id, room_id, min(seq) lo, max(seq) hi, count(*) n FROM room_events
                           GROUP BY tenant_id, room_id) e ON e.tenant_id = r.tenant_id AND e.room_id = r.id
                WHERE (e.n IS NULL AND r.last_event_seq <> 0 AND NOT EXISTS (SELECT 1 FROM event_log_state))
                   OR (e.n IS NOT NULL AND (e.hi <> r.last_event_seq OR e.n <> e.hi - e.lo + 1))
                """)
            try collect("message without its event", """
                SELECT m.id, m.room_id, m.room_seq FROM messages m
                WHERE NOT EXISTS (SELECT 1 FROM event_log_state)
                  AND NOT EXISTS (SELECT 1 FROM room_events e WHERE e.tenant_id = m.tenant_id AND e.room_id = m.room_id
                                  AND e.seq = m.room_seq AND e.kind = 'MESSAGE_CREATED' AND e.subject_id = m.id)
                """)
            try collect("thread counters", """
                SELECT * FROM (SELECT t.id, t.message_count, t.participant_count,
                       (SELECT count(*) FROM messages m WHERE m.tenant_id = t.tenant_id AND m.thread_id = t.id) AS messages,
                       (SELECT count(*) FROM thread_senders s WHERE s.tenant_id = t.tenant_id AND s.thread_id = t.id) AS senders
                FROM threads t) c WHERE c.message_count <> c.messages OR c.participant_count <> c.senders
                """)
            try collect("session counters", """
                SELECT * FROM (SELECT s.id, s.message_count,
                       (SELECT count(*) FROM messages m WHERE m.tenant_id = s.tenant_id AND m.agent_session_id = s.id) AS messages
                FROM agent_sessions s) c WHERE c.message_count <> c.messages
                """)
            try collect("room last_message_at", """
                SELECT * FROM (SELECT r.id, r.last_message_at,
                       (SELECT max(created_at) FROM messages m WHERE m.tenant_id = r.tenant_id AND m.room_id = r.id) AS newest
                FROM rooms r) c WHERE c.last_message_at IS DISTINCT FROM c.newest
                """)
            return ConsistencyReport(integrity: "ok", problems: problems)
        }
    }
}
