@testable import ChatSQL
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
        #expect(names == ["v1-chat-core", "v2-rpc-service", "v3-deferred-fts", "v4-redact-session-events", "v5-audit-log", "v6-streams-and-approvals", "v7-data-lifecycle"])
        let sqlite = Migrations.all.flatMap { $0.statements(.sqlite) }.joined(separator: "\n")
        let postgres = Migrations.all.flatMap { $0.statements(.postgres) }.joined(separator: "\n")
        #expect(sqlite.contains("USING fts5") && !sqlite.contains("BIGINT") && !sqlite.contains("BOOLEAN"))
        #expect(postgres.contains("TSVECTOR") && !postgres.contains("WITHOUT ROWID") && !postgres.contains("fts5")
                && !postgres.contains("INTEGER PRIMARY KEY"))
        #expect(Migrations.all[2].statements(.postgres).isEmpty, "the deferred FTS index is SQLite's alone")
    }
}
