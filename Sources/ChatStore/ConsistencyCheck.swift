import ChatCore
import ChatSQL
import GRDB

extension SQLiteStorage {
    /// Checks the file (SQLite's integrity check, and that every message reached the search index) and the
    /// invariants of the write path on one snapshot.
    public func checkConsistency() throws -> ConsistencyReport {
        try awaitSearchIndex()
        return try pool.read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
            var problems = try ConsistencyCheck.problems(SQLiteConnection(db))
            problems += try Int64.fetchAll(db, sql: "SELECT pk FROM messages_fts_pending").map {
                "message never indexed for search: pk=\($0)"
            }
            return ConsistencyReport(integrity: integrity, problems: problems)
        }
    }
}
