@testable import ChatCore
import ChatStore
import Foundation
import GRDB
import Synchronization
import Testing

/// What the storage's commit callback delivered, in log order.
final class CommittedEvents: Sendable {
    let events = Mutex<[RoomEvent]>([])
}

/// A controllable clock in Unix milliseconds.
final class TestClock: Sendable {
    private let value = Atomic<Int64>(1_764_000_000_000)
    var now: Int64 { value.load(ordering: .relaxed) }
    func advance(ms: Int64) { value.add(ms, ordering: .relaxed) }
    func advance(seconds: Int64) { advance(ms: seconds * 1000) }
}

let tenant = "tenant-1"
let alice = CallActor(tenantId: tenant, profileId: "alice")
let bob = CallActor(tenantId: tenant, profileId: "bob")
let carol = CallActor(tenantId: tenant, profileId: "carol")
let dave = CallActor(tenantId: tenant, profileId: "dave")
/// Same profile name as alice, other tenant.
let mallory = CallActor(tenantId: "tenant-2", profileId: "alice")
/// An agent runtime's key acting in tenant-1.
let agentKey = CallActor(tenantId: tenant, profileId: "agent-runtime", scopes: [.agent])
let eventsKey = CallActor(tenantId: tenant, profileId: "indexer", scopes: [.events])
let adminKey = CallActor(tenantId: tenant, profileId: "ops", scopes: [.admin])

/// A chat service over a fresh SQLite database file in a temporary directory.
final class TestChat: @unchecked Sendable {
    let directory: URL
    let storage: SQLiteStorage
    let service: ChatService
    let clock = TestClock()
    /// Every event committed so far, in log order, as the storage's commit callback delivered them.
    private let committed = CommittedEvents()

    init(limits: ChatLimits = ChatLimits(), durability: SQLiteConfiguration.Durability = .normal) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("smrtchat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var config = SQLiteConfiguration(path: directory.appendingPathComponent("chat.sqlite").path)
        config.durability = durability
        let committed = self.committed
        config.onCommit = { events in committed.events.withLock { $0 += events } }
        storage = try SQLiteStorage(config)
        let clock = self.clock
        service = ChatService(domain: ChatDomain(limits: limits, clock: { clock.now }), storage: storage)
    }

    deinit {
        storage.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs a write and returns its value.
    @discardableResult
    func w<T: Sendable>(
        _ actor: CallActor, _ op: @escaping @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> T
    ) async throws -> T {
        try await service.write(actor) { try op($0, $1, actor) }
    }

    /// Runs a write and returns its value and committed events.
    func wc<T: Sendable>(
        _ actor: CallActor, _ op: @escaping @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> T
    ) async throws -> Committed<T> {
        let mark = committedEventCount
        let value = try await service.write(actor) { try op($0, $1, actor) }
        return Committed(value: value, events: committedEvents(since: mark))
    }

    /// How many events were committed so far (a mark for `committedEvents(since:)`).
    var committedEventCount: Int { committed.events.withLock { $0.count } }

    /// The events committed after `mark` (the commit callback runs before the write's completion).
    func committedEvents(since mark: Int) -> [RoomEvent] { committed.events.withLock { Array($0[mark...]) } }

    /// Runs a read, after the search index caught up with every commit as the server does before a search (a
    /// read that does not search sees the same either way).
    func r<T: Sendable>(
        _ actor: CallActor, _ op: @escaping @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> T
    ) async throws -> T {
        try storage.awaitSearchIndex()
        return try service.read(actor) { try op($0, $1, actor) }
    }

    // MARK: Fixtures

    func room(_ owner: CallActor = alice, _ type: RoomType = .public, name: String = "General", max: Int? = nil)
        async throws -> Room {
        try await w(owner) { try $0.createRoom($1, $2, name: name, roomType: type, maxParticipants: max) }
    }

    @discardableResult
    func add(_ admin: CallActor, _ room: Room, _ profile: String, _ role: ParticipantRole? = nil) async throws
        -> Participant {
        try await w(admin) { try $0.addParticipant($1, $2, roomId: room.id, profileId: profile, role: role) }
    }

    @discardableResult
    func send(_ actor: CallActor, _ room: Room, _ content: String = "hello", thread: String? = nil,
              reply: String? = nil, key: String? = nil, metadata: String? = nil) async throws -> Message {
        try await w(actor) {
            try $0.sendMessage($1, $2, roomId: room.id, content: content, threadId: thread, replyToMessageId: reply,
                               metadata: metadata, clientRequestId: key).message
        }
    }

    // MARK: Inspection

    /// Row counts of every table plus the sum of room seqs: equal before and after means nothing was written.
    func footprint() throws -> [String: Int64] {
        try storage.withSnapshot { db in
            var counts: [String: Int64] = [:]
            for table in ["rooms", "participants", "messages", "message_versions", "threads", "thread_senders",
                          "thread_reads", "reactions", "agent_sessions", "tool_calls", "turn_states", "room_events"] {
                counts[table] = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
            }
            counts["seq_sum"] = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(last_event_seq), 0) FROM rooms")
            counts["fingerprint"] = try Int64.fetchOne(db, sql: """
                SELECT coalesce(sum(length(status) + length(role) + last_read_seq), 0) FROM participants
                """)
            counts["messages_fp"] = try Int64.fetchOne(db, sql: """
                SELECT coalesce(sum(version + length(content) + ifnull(deleted_at, 0) % 7), 0) FROM messages
                """)
            counts["sessions_fp"] = try Int64.fetchOne(db, sql: """
                SELECT coalesce(sum(message_count + total_tokens_used + context_version + length(status)), 0)
                FROM agent_sessions
                """)
            counts["threads_fp"] = try Int64.fetchOne(db, sql: """
                SELECT coalesce(sum(message_count + participant_count + is_resolved), 0) FROM threads
                """)
            return counts
        }
    }

    /// Every event of a room, in seq order.
    func events(_ roomId: String) throws -> [RoomEvent] {
        try storage.withSnapshot { db in
            try Row.fetchAll(db, sql: "SELECT kind, seq, event_id FROM room_events WHERE room_id = ? ORDER BY seq",
                             arguments: [roomId]).map {
                RoomEvent(tenantId: "", roomId: roomId, seq: $0["seq"], eventId: $0["event_id"],
                          kind: EventKind(rawValue: $0["kind"])!, actorProfileId: "", subjectId: "", createdAt: 0,
                          entity: nil)
            }
        }
    }

    func eventKinds(_ roomId: String) throws -> [EventKind] { try events(roomId).map(\.kind) }

    func scalar(_ sql: String, _ arguments: StatementArguments = []) throws -> Int64 {
        try storage.withSnapshot { try Int64.fetchOne($0, sql: sql, arguments: arguments) ?? 0 }
    }
}

/// Expects `body` to fail with a ChatError of `reason` (and `code` when given); returns the error.
@discardableResult
func expectFailure(
    _ reason: ErrorReason, _ code: StatusCode? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> ChatError? {
    do {
        try await body()
        Issue.record("expected \(reason.rawValue) but the call succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as ChatError {
        #expect(error.reason == reason, "expected \(reason.rawValue), got \(error)", sourceLocation: sourceLocation)
        if let code { #expect(error.code == code, "expected \(code), got \(error)", sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record("expected \(reason.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects `body` to fail with `reason` and to leave the database exactly as it was.
@discardableResult
func expectRefusedWithoutWrites(
    _ chat: TestChat, _ reason: ErrorReason, _ code: StatusCode? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async throws -> ChatError? {
    let before = try chat.footprint()
    let error = await expectFailure(reason, code, sourceLocation: sourceLocation, body)
    #expect(try chat.footprint() == before, "a refused call changed the database", sourceLocation: sourceLocation)
    return error
}
