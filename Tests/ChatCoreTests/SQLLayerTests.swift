@testable import ChatSQL
import ChatCore
import GRDBSQLite
import Testing

/// The SQL written once for both engines: how a catalog statement renders for each, and the one migration list.
@Suite("SQL written once: dialect rendering and the migration list")
struct SQLLayerTests {
    @Test("numbered and bare placeholders, typed NULL parameters, LIKE and string literals render per dialect")
    func rendering() {
        let statement = SQLStatement("""
            SELECT a FROM t WHERE b = ?2 AND (?1:text IS NULL OR c = ?1:text) AND d {like} ?3 AND e = '?9:int'
              AND f = ? AND g = ?::bigint
            """)
        #expect(statement.sqlite == """
            SELECT a FROM t WHERE b = ?2 AND (?1 IS NULL OR c = ?1) AND d LIKE ?3 AND e = '?9:int'
              AND f = ?4 AND g = ?5::bigint
            """)
        #expect(statement.postgres == """
            SELECT a FROM t WHERE b = $2 AND ($1::text IS NULL OR c = $1::text) AND d ILIKE $3 AND e = '?9:int'
              AND f = $4 AND g = $5::bigint
            """)
        #expect(SQLStatement("SELECT ?1:int, ?2:bool").postgres == "SELECT $1::bigint, $2::boolean")
    }

    @Test("inserts built from a column list number every column and can be buffered; reads that change rows lock")
    func catalogShapes() {
        #expect(Catalog.insertReaction.sqlite == """
            INSERT INTO reactions (\(Rows.reactionColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            """)
        guard case .buffered(let table, _, let width, _) = Catalog.insertMessage.deferral else {
            Issue.record("messages are buffered by engines that defer writes")
            return
        }
        #expect(table == "messages" && width == Rows.messageColumns.split(separator: ",").count)
        #expect(Catalog.room.postgresLocking?.hasSuffix("FOR NO KEY UPDATE") == true)
        #expect(Catalog.roomAndParticipant.postgresLocking?.contains("LATERAL") == true)
        #expect(Catalog.messages.flatMap { $0 }.allSatisfy { !$0.postgres.contains("?") })
    }

    @Test("one ordered migration list: unique names, each dialect's own types, engine DDL only where it differs")
    func migrations() {
        let names = Migrations.all.map(\.name)
        #expect(names == ["v1-chat-core", "v2-rpc-service", "v3-deferred-fts", "v4-redact-session-events", "v5-audit-log", "v6-streams-and-approvals", "v7-data-lifecycle", "v8-unread-roots", "v9-check-lists"])
        let sqlite = Migrations.all.flatMap { $0.statements(.sqlite) }.joined(separator: "\n")
        let postgres = Migrations.all.flatMap { $0.statements(.postgres) }.joined(separator: "\n")
        #expect(sqlite.contains("USING fts5") && !sqlite.contains("BIGINT") && !sqlite.contains("BOOLEAN"))
        #expect(postgres.contains("TSVECTOR") && !postgres.contains("WITHOUT ROWID") && !postgres.contains("fts5")
                && !postgres.contains("INTEGER PRIMARY KEY"))
        #expect(Migrations.all[2].statements(.postgres).isEmpty, "the deferred FTS index is SQLite's alone")
        #expect(Migrations.all[8].statements(.postgres).isEmpty, "PostgreSQL's lists of allowed values stay as they are")
    }

    @Test("a room's unread count reads only the index of its root messages that are not deleted, in seq order")
    func unreadCountPlan() throws {
        let chat = try TestChat()
        let db = try WALCoalescingTests.Connection(chat.directory.appendingPathComponent("chat.sqlite").path, readOnly: true)
        let (room, thread) = (try db.plan(Catalog.unreadCount[0].sqlite), try db.plan(Catalog.unreadCount[1].sqlite))
        #expect(room.contains("COVERING INDEX messages_unread_roots"), "\(room)")
        #expect(thread.contains("INDEX messages_by_thread"), "\(thread)")
        #expect(!room.contains("TEMP B-TREE") && !thread.contains("TEMP B-TREE"), "the window is taken in index order")
    }

    @Test("a table's lists of allowed values are checked by comparisons, not a temporary b-tree per insert (v9)")
    func checkLists() async throws {
        let chat = try TestChat()
        _ = try await chat.room()
        // Read-write: SQLite leaves the constraints out of a read-only connection's programs.
        let db = try WALCoalescingTests.Connection(chat.directory.appendingPathComponent("chat.sqlite").path)
        guard case .rowid(let appendEvent)? = Catalog.appendEvent.sqliteReturning else {
            Issue.record("appendEvent runs RETURNING in SQLite")
            return
        }
        for sql in [Catalog.insertRoom.sqlite, Catalog.insertMessage.sqlite, appendEvent, Catalog.insertThread.sqlite,
                    Catalog.insertReaction.sqlite, Catalog.insertSession.sqlite, Catalog.insertReplyDelta.sqlite,
                    Catalog.insertToolCall.sqlite, Catalog.insertReplayEntry.sqlite] {
            #expect(try !db.opensTemporaryTable(sql), "\(sql)")
        }
        // No list of more than two constants is left in a table's definition.
        let definitions = try db.texts("SELECT sql FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL")
        let lists = definitions.flatMap { $0.components(separatedBy: " IN (").dropFirst().map { $0.prefix { $0 != ")" } } }
            .filter { $0.split(separator: ",").count > 2 }
        #expect(lists.isEmpty, "\(lists)")
        #expect(definitions.contains { $0.contains("kind = 'PROFILE_ERASED'") })

        // The rule holds: a value outside the list is refused.
        try db.exec("BEGIN")
        defer { try? db.exec("ROLLBACK") }
        #expect(throws: WALCoalescingTests.Failure.self) {
            try db.exec("UPDATE rooms SET room_type = 'lobby'")
        }
    }

    /// What a write computes through the counters, then undoes (the error rolls its transaction back).
    private struct Counted: Error { let first, second, third: Int64; let messageAt: Int64?; let missing: Bool }

    @Test("SQLite counts a room's seq and appends an event without RETURNING's temporary b-tree, with its answers")
    func returningInSQLite() async throws {
        let chat = try TestChat()
        let db = try WALCoalescingTests.Connection(chat.directory.appendingPathComponent("chat.sqlite").path, readOnly: true)
        for statement in [Catalog.nextRoomSeq, Catalog.nextMessageSeq, Catalog.appendEvent] {
            #expect(try db.opensTemporaryTable(statement.sqlite), "RETURNING: \(statement.sqlite)")
            switch statement.sqliteReturning {
            case .rowid(let insert)?: #expect(try !db.opensTemporaryTable(insert), "\(insert)")
            case .reread(let update, let select)?:
                #expect(try !db.opensTemporaryTable(update) && !db.opensTemporaryTable(select), "\(update)")
            case nil: Issue.record("SQLite runs RETURNING for \(statement.sqlite)")
            }
        }

        let room = try await chat.room()
        do {
            try await chat.w(alice) { _, tx, actor in
                let first = try tx.nextRoomSeq(tenantId: actor.tenantId, roomId: room.id)
                let second = try tx.nextMessageSeq(tenantId: actor.tenantId, roomId: room.id, at: 42)
                let third = try tx.nextRoomSeq(tenantId: actor.tenantId, roomId: room.id)
                let missing = (try? tx.nextRoomSeq(tenantId: actor.tenantId, roomId: "no-such-room")) == nil
                let messageAt = try tx.room(tenantId: actor.tenantId, id: room.id)?.lastMessageAt
                throw Counted(first: first, second: second, third: third, messageAt: messageAt, missing: missing)
            }
            Issue.record("the write was not undone")
        } catch let counted as Counted {
            #expect(counted.first == room.lastEventSeq + 1 && counted.second == counted.first + 1
                     && counted.third == counted.second + 1)
            #expect(counted.messageAt == 42)
            #expect(counted.missing, "a room that does not exist yields no seq")
        }

        var ids: [Int64] = []
        for _ in 0..<2 {
            let sent = try await chat.wc(alice) { try $0.sendMessage($1, $2, roomId: room.id, content: "hi") }
            ids += sent.events.map(\.eventId)
        }
        #expect(ids.count == 2 && ids[1] > ids[0], "\(ids)")
        #expect(try chat.scalar("SELECT max(event_id) FROM room_events") == ids.last)
        #expect(try chat.events(room.id).suffix(2).map(\.eventId) == ids)
    }
}

extension WALCoalescingTests.Connection {
    /// Column `column` of each row of `sql`, as text.
    func texts(_ sql: String, column: Int32 = 0) throws -> [String] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { throw WALCoalescingTests.Failure(sql) }
        defer { sqlite3_finalize(statement) }
        var rows: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            if let text = sqlite3_column_text(statement, column) { rows.append(String(cString: text)) }
        }
        return rows
    }

    /// What EXPLAIN QUERY PLAN says of `sql`, its steps joined by " | ".
    func plan(_ sql: String) throws -> String { try texts("EXPLAIN QUERY PLAN " + sql, column: 3).joined(separator: " | ") }

    /// Whether SQLite's program for `sql` opens a temporary b-tree (`OpenEphemeral`).
    func opensTemporaryTable(_ sql: String) throws -> Bool { try texts("EXPLAIN " + sql, column: 1).contains("OpenEphemeral") }
}
