@testable import ChatSQL
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
        #expect(names == ["v1-chat-core", "v2-rpc-service", "v3-deferred-fts", "v4-redact-session-events", "v5-audit-log", "v6-streams-and-approvals", "v7-data-lifecycle", "v8-unread-roots"])
        let sqlite = Migrations.all.flatMap { $0.statements(.sqlite) }.joined(separator: "\n")
        let postgres = Migrations.all.flatMap { $0.statements(.postgres) }.joined(separator: "\n")
        #expect(sqlite.contains("USING fts5") && !sqlite.contains("BIGINT") && !sqlite.contains("BOOLEAN"))
        #expect(postgres.contains("TSVECTOR") && !postgres.contains("WITHOUT ROWID") && !postgres.contains("fts5")
                && !postgres.contains("INTEGER PRIMARY KEY"))
        #expect(Migrations.all[2].statements(.postgres).isEmpty, "the deferred FTS index is SQLite's alone")
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
}

extension WALCoalescingTests.Connection {
    /// What EXPLAIN QUERY PLAN says of `sql`, its steps joined by " | ".
    func plan(_ sql: String) throws -> String {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, "EXPLAIN QUERY PLAN " + sql, -1, &statement, nil) == SQLITE_OK else {
            throw WALCoalescingTests.Failure(sql)
        }
        defer { sqlite3_finalize(statement) }
        var steps: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            if let detail = sqlite3_column_text(statement, 3) { steps.append(String(cString: detail)) }
        }
        return steps.joined(separator: " | ")
    }
}
