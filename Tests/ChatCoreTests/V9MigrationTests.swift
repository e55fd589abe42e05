import CSQLiteWAL
@testable import ChatStore
import Foundation
import GRDB
import Testing

/// SQLite's defensive mode forbids writing `sqlite_schema`, which migration v9-check-lists does: an SQLite that
/// starts its connections in that mode must still migrate (and the mode is put back after).
@Suite("Migrations under SQLite's defensive mode")
struct DefensiveModeTests {
    @Test("every migration runs on a connection in defensive mode, which is on again after")
    func migratesInDefensiveMode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-defensive-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            guard smrt_sqlite_set_defensive(db.sqliteConnection, 1) == 0 else { throw DatabaseError(message: "defensive mode not set") }
        }
        let queue = try DatabaseQueue(path: directory.appendingPathComponent("chat.sqlite").path, configuration: configuration)
        // The mode holds: a write to sqlite_schema is refused on this connection.
        #expect(throws: DatabaseError.self) {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA writable_schema = ON")
                defer { try? db.execute(sql: "PRAGMA writable_schema = RESET") }
                try db.execute(sql: "CREATE TABLE probe (x)")
                try db.execute(sql: "UPDATE sqlite_schema SET sql = sql WHERE name = 'probe'")
            }
        }
        try SQLiteStorage.migrator.migrate(queue)
        try queue.read { db in
            #expect(try SQLiteStorage.migrator.appliedMigrations(db).last == "v9-check-lists")
            let events = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'room_events'"))
            #expect(events.contains("kind = 'PROFILE_ERASED'") && !events.contains("kind IN ("))
            #expect(smrt_sqlite_set_defensive(db.sqliteConnection, 1) == 1, "defensive mode put back after the migrations")
        }
    }
}
