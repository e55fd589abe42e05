import ChatCore
import ChatPostgres
import ChatStore
import Foundation
import Logging

/// Which storage engine to build and how: the only place that knows both engines.
struct StorageSettings: Sendable {
    /// SQLite database file (used when `postgresURL` is nil).
    var databasePath = "./data/chat.sqlite"
    /// A PostgreSQL database (`postgres://user@host:port/db`) shared by several instances; nil: SQLite.
    var postgresURL: String?
    /// Connections each instance keeps to PostgreSQL at most.
    var postgresPoolSize = 12
    var durability: SQLiteConfiguration.Durability = .normal

    /// `sqlite:PATH`, a PostgreSQL URL, or (when `plainPath` allows it, as `--db` does) a bare SQLite path.
    ///
    /// - Throws: `ConfigError` for anything else.
    mutating func select(_ value: String, plainPath: Bool) throws {
        if PostgresConfiguration.isURL(value) {
            postgresURL = value
        } else if value.hasPrefix("sqlite:") || plainPath {
            postgresURL = nil
            databasePath = value.hasPrefix("sqlite:") ? String(value.dropFirst("sqlite:".count)) : value
        } else {
            throw ConfigError("storage: sqlite:PATH or postgres://user@host:port/database")
        }
    }

    /// The storage in use, for logs and banners (never a password).
    var description: String {
        postgresURL.map { PostgresConfiguration(url: $0).redactedURL } ?? databasePath
    }
}

/// An open engine behind the neutral storage protocol, with the engine's own maintenance check.
struct Engine {
    let storage: any ChatStorage
    let checkConsistency: () throws -> ConsistencyReport

    /// Opens (creating and migrating) the engine `settings` name; `onCommit` receives every commit's events and
    /// `onStream` its reply deltas.
    static func open(_ settings: StorageSettings, onCommit: (@Sendable ([RoomEvent]) -> Void)? = nil,
                     onStream: (@Sendable ([ReplyDelta]) -> Void)? = nil,
                     logger: Logger = Logger(label: "smrt.chat.store")) throws -> Engine {
        if let url = settings.postgresURL {
            var configuration = PostgresConfiguration(url: url)
            configuration.poolSize = settings.postgresPoolSize
            configuration.onCommit = onCommit
            configuration.onStream = onStream
            let postgres = try PostgresStorage(configuration, logger: logger)
            return Engine(storage: postgres, checkConsistency: postgres.checkConsistency)
        }
        var configuration = SQLiteConfiguration(path: settings.databasePath)
        configuration.durability = settings.durability
        configuration.onCommit = onCommit
        configuration.onStream = onStream
        let sqlite = try SQLiteStorage(configuration, logger: logger)
        return Engine(storage: sqlite, checkConsistency: sqlite.checkConsistency)
    }

    /// An online copy of a SQLite database (`smrt-chatd backup`); returns its page count.
    static func backup(_ settings: StorageSettings, to destination: String) throws -> Int {
        try SQLiteStorage.backup(path: settings.databasePath, to: destination)
    }

    /// Applies pending migrations and returns the applied migration names.
    static func migrate(_ settings: StorageSettings) throws -> [String] {
        if let url = settings.postgresURL { return try PostgresStorage.migrate(url: url) }
        return try SQLiteStorage.migrate(path: settings.databasePath)
    }
}
