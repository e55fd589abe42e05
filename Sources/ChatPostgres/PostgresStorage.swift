import ChatCore
import ChatSQL
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
    /// Most operations one commit may carry (group commit).
    public var maxBatch = 256
    /// Called after each commit with the transaction's events in log order (must not block).
    public var onCommit: (@Sendable ([RoomEvent]) -> Void)?
    /// Called after each commit (after `onCommit`) with the reply deltas it stored, in append order (SPEC §13.1).
    public var onStream: (@Sendable ([ReplyDelta]) -> Void)?

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

/// A connection of the pool and the catalog statements prepared on it (parsed and planned once per connection
/// instead of on every call; at most `maxPrepared`, all from the fixed catalog).
final class PooledConnection: @unchecked Sendable {
    // @unchecked Sendable: used by one engine thread at a time, between checkout and checkin.
    let connection: PostgresConnection
    var prepared: [String: PreparedQuery] = [:]
    static let maxPrepared = 256

    init(_ connection: PostgresConnection) { self.connection = connection }
    var isClosed: Bool { connection.isClosed }
}

/// A fixed-size pool of connections handed to one engine thread at a time (blocking checkout).
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is touched with `condition` locked.
    private let configuration: PostgresConnection.Configuration
    private let maxSize: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var idle: [PooledConnection] = []
    private var open = 0
    private var nextId = 0
    private var closed = false

    init(configuration: PostgresConnection.Configuration, maxSize: Int, logger: Logger) {
        self.configuration = configuration
        self.maxSize = max(1, maxSize)
        self.logger = logger
    }

    func checkout() throws -> PooledConnection {
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
                    return PooledConnection(try PostgresConnection.connect(
                        on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration, id: id,
                        logger: logger).wait())
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
    func checkin(_ pooled: PooledConnection, broken: Bool) {
        condition.lock()
        if broken || closed || pooled.isClosed {
            open -= 1
            condition.signal()
            condition.unlock()
            // The closure keeps the connection alive until it is closed (the driver asserts on that).
            let connection = pooled.connection
            connection.close().whenComplete { _ in _ = connection }
            return
        }
        idle.append(pooled)
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
        for connection in connections.map(\.connection) {
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
/// Writes go through the group-commit writer, as on SQLite: one transaction (READ COMMITTED) carries every
/// operation queued when the writer becomes free, with the row locks, buffered inserts and tenant-ordered
/// event ids of `PGConnection`. A batch that conflicts with another instance (serialization failure,
/// deadlock, unique-key race, a call recorded twice) is rolled back and run again. Reads run on the calling
/// thread on a REPEATABLE READ, READ ONLY snapshot. Both block on the driver's futures on threads of their
/// own, never on the caller's executor.
public final class PostgresStorage: ChatStorage, @unchecked Sendable {
    // @unchecked Sendable: the pool and the writer are thread-safe; the rest is immutable.
    private let pool: ConnectionPool
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private var writer: GroupCommitWriter!

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
        writer = GroupCommitWriter(engine: PostgresWriteEngine(pool: pool, logger: logger), maxBatch: configuration.maxBatch,
                                   logger: logger, onCommit: configuration.onCommit,
                                   onStream: configuration.onStream)
    }

    /// Applies pending migrations to the database at `url` and returns the applied migration names.
    public static func migrate(url: String) throws -> [String] {
        let storage = try PostgresStorage(PostgresConfiguration(url: url))
        defer { storage.close() }
        return try storage.transaction(writable: true) { try $0.texts("SELECT name FROM schema_migrations ORDER BY applied_at, name") }
            .compactMap { $0 }
    }

    /// Applies the pending migrations in one transaction, serialized across instances by an advisory lock.
    @discardableResult
    func migrate() throws -> [String] {
        try transaction(writable: true) { connection in
            try connection.execute(raw: "SELECT pg_advisory_xact_lock(7450, 0)")
            try connection.execute(raw: """
                CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)
                """)
            let applied = Set(try connection.texts("SELECT name FROM schema_migrations").compactMap { $0 })
            for migration in Migrations.all where !applied.contains(migration.name) {
                for statement in migration.statements(.postgres) { try connection.execute(raw: statement) }
                _ = try connection.texts("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                                         [migration.name, ChatDomain.systemClock()])
                logger.info("applied migration", metadata: ["chat.migration": "\(migration.name)"])
            }
            return Migrations.all.map(\.name)
        }
    }

    /// Runs `body` in one transaction on a pooled connection: a write (READ COMMITTED) or a read-only
    /// REPEATABLE READ snapshot. Commits when `body` returns, rolls back when it throws.
    func transaction<T>(writable: Bool, _ body: (PGConnection) throws -> T) throws -> T {
        try Self.transaction(pool, writable: writable, logger: logger, body)
    }

    static func transaction<T>(_ pool: ConnectionPool, writable: Bool, logger: Logger,
                               _ body: (PGConnection) throws -> T) throws -> T {
        let connection = try pool.checkout()
        let sql = PGConnection(connection, writable: writable, logger: logger)
        do {
            sql.begin(writable ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let value: T
            do {
                value = try body(sql)
            } catch {
                if !connection.isClosed { try? sql.execute(raw: "ROLLBACK") }
                throw error
            }
            try sql.execute(raw: "COMMIT")
            pool.checkin(connection, broken: false)
            return value
        } catch {
            pool.checkin(connection, broken: connection.isClosed || !PGConnection.isServerError(error))
            throw error
        }
    }

    // MARK: ChatStorage

    public func read<T>(_ body: (any ChatTransaction) throws -> T) throws -> T {
        try transaction(writable: false) { try body(SQLTransaction($0)) }
    }

    public func submitWrite<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, options: WriteOptions,
        completion: @escaping @Sendable (Result<T, Error>) -> Void
    ) {
        writer.submit(body, options: options, completion: completion)
    }

    /// Lets queued writes commit, then closes every connection.
    /// Deleted rows are reclaimed by PostgreSQL's autovacuum; nothing to do here.
    public func reclaimSpace(fullText: Bool) throws {}

    public func close() {
        writer.stop()
        pool.close()
    }

    // MARK: Maintenance

    /// Runs raw SQL (tests and maintenance) and returns the first column of each row as text.
    public func query(_ sql: String) throws -> [String?] {
        try transaction(writable: false) { try $0.texts(sql) }
    }

    /// The invariants of the write path on one snapshot. PostgreSQL enforces its own constraints and page
    /// checksums: `integrity` is "ok".
    public func checkConsistency() throws -> ConsistencyReport {
        try transaction(writable: false) { ConsistencyReport(integrity: "ok", problems: try ConsistencyCheck.problems($0)) }
    }
}

/// The group-commit writer's transactions: one pooled connection per batch.
final class PostgresWriteEngine: WriteEngine {
    private let pool: ConnectionPool
    private let logger: Logger

    init(pool: ConnectionPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    func inWriteTransaction(_ body: (any SQLConnection) throws -> Void) throws {
        try PostgresStorage.transaction(pool, writable: true, logger: logger, body)
    }

    func finishBatch(_ transaction: SQLTransaction) throws {
        guard let connection = transaction.connection as? PGConnection else { return }
        try connection.flush(events: true)
        transaction.assignEventIds(connection.eventIds)
    }

    /// Serialization failures, deadlocks, unique-key races and calls recorded twice: another instance wrote
    /// first, and the batch sees its writes when it runs again.
    func isRetryable(_ error: Error) -> Bool { PGConnection.isConflict(error) }

    func afterCommit() {}
    var housekeepingDue: Bool { false }
}
