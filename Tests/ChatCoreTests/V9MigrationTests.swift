import CSQLiteWAL
@testable import ChatStore
import Foundation
import GRDB
import Testing

/// Migration v9-check-lists edits table definitions in `sqlite_schema`: on an older file with rows, and where SQLite's
/// defensive mode (which forbids writing `sqlite_schema`) is on; the mode is put back after.
@Suite("Migration v9 on older files and under SQLite's defensive mode")
struct V9MigrationTests {
    @Test("v9 on a file migrated to v8 with rows: rows kept, lists rewritten, the file sound, the rule still enforced")
    func upgradesOlderFile() throws {
        try withScratchDatabase { queue in
            try SQLiteStorage.migrator.migrate(queue, upTo: "v8-unread-roots")
            try queue.write { db in
                for (i, type) in ["public", "private", "dm", "agent"].enumerated() {
                    try db.execute(sql: """
                        INSERT INTO rooms (id, tenant_id, name, room_type, status, created_by_profile_id, created_at, updated_at)
                        VALUES (?, 't', 'r', ?, 'active', 'alice', 1, 1)
                        """, arguments: ["room-\(i)", type])
                }
            }
            try SQLiteStorage.migrator.migrate(queue)
            try queue.read { db in
                #expect(try SQLiteStorage.migrator.appliedMigrations(db).last == "v9-check-lists")
                #expect(try String.fetchAll(db, sql: "SELECT room_type FROM rooms ORDER BY id") == ["public", "private", "dm", "agent"])
                let rooms = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'rooms'"))
                #expect(rooms.contains("(room_type = 'public' OR room_type = 'private' OR room_type = 'dm' OR room_type = 'agent')"))
                #expect(!rooms.contains("room_type IN ("))
                #expect(try String.fetchOne(db, sql: "PRAGMA quick_check") == "ok")
            }
            #expect(throws: DatabaseError.self) {
                try queue.write { db in try db.execute(sql: "UPDATE rooms SET room_type = 'lobby' WHERE id = 'room-0'") }
            }
        }
    }

    @Test("every migration runs on a connection in defensive mode, which is on again after")
    func migratesInDefensiveMode() throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            guard smrt_sqlite_set_defensive(db.sqliteConnection, 1) == 0 else { throw DatabaseError(message: "defensive mode not set") }
        }
        try withScratchDatabase(configuration) { queue in
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

    /// Runs `body` on a new database file in a directory of its own, removed after.
    private func withScratchDatabase(_ configuration: Configuration = Configuration(), _ body: (DatabaseQueue) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-v9-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(try DatabaseQueue(path: directory.appendingPathComponent("chat.sqlite").path, configuration: configuration))
    }
}
