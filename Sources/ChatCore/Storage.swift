import Dispatch
import Synchronization

/// The result of a committed write: the operation's value and the events it appended, in log order.
public struct Committed<Value: Sendable>: Sendable {
    public var value: Value
    public var events: [RoomEvent]

    public init(value: Value, events: [RoomEvent]) {
        self.value = value
        self.events = events
    }
}

/// A room and the profile whose participant row a write reads with it.
public struct RoomAccess: Hashable, Sendable {
    public let tenantId: String
    public let roomId: String
    public let profileId: String

    public init(tenantId: String, roomId: String, profileId: String) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.profileId = profileId
    }
}

/// How a queued write is run.
public struct WriteOptions: Sendable {
    /// A caller waits for it: the write path starts a commit at once (else it is bookkeeping nobody waits for,
    /// a read's request id, which may wait a few milliseconds to share a commit).
    public var urgent: Bool
    /// The call the write answers and records (SPEC §7.4): the write path reads the records of a batch's calls
    /// together, before running them.
    public var call: CallKey?
    /// The room the write reads first, with the caller's participant row: the write path reads (PostgreSQL: and
    /// locks) a batch's rooms together before running it.
    public var room: RoomAccess?
    /// The caller's thread is a dedicated one (an RPC worker) that may run the commit itself, completion included,
    /// when the write path is idle: one thread wake-up less for a lone call. Such a commit's events go out after its
    /// completion (its reply). Never a thread of Swift's cooperative pool, nor one holding a lock the completion takes.
    public var mayCommitOnCallerThread: Bool

    public init(urgent: Bool = true, call: CallKey? = nil, room: RoomAccess? = nil, mayCommitOnCallerThread: Bool = false) {
        self.urgent = urgent
        self.call = call
        self.room = room
        self.mayCommitOnCallerThread = mayCommitOnCallerThread
    }

    public static let urgent = WriteOptions()
    public static let background = WriteOptions(urgent: false)
}

/// A call's identity in the replay window: its key and request id.
public struct CallKey: Hashable, Sendable {
    public let keyId: String, requestId: String
    public init(keyId: String, requestId: String) {
        self.keyId = keyId
        self.requestId = requestId
    }
}

/// A storage engine for the chat domain. Engine-neutral: no engine types cross this boundary.
///
/// Two entry points, used alike by the server and by the tests: a read on a snapshot, and a write queued
/// on the engine's single write path (which may batch several writes into one commit, each in its own
/// savepoint). Bodies are synchronous. Events leave only through the engine's commit callback (its
/// configuration's `onCommit`), called once per commit in log order before any completion of that commit; a
/// write committed on its caller's thread (`WriteOptions.mayCommitOnCallerThread`) publishes right after its
/// completion instead, still before the next commit.
public protocol ChatStorage: Sendable {
    /// Runs `body` on a read-only snapshot, on the calling thread, which it blocks: callers are dedicated
    /// threads (the RPC workers), never Swift's cooperative pool.
    func read<T>(_ body: (any ChatTransaction) throws -> T) throws -> T

    /// Queues `body` on the write path; `completion` runs after its commit (or failure) on a thread of the
    /// engine's. A body that throws is rolled back alone; a refusal that must still commit (a returned
    /// `Committing.refused`) is a value like any other.
    func submitWrite<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T, options: WriteOptions,
        completion: @escaping @Sendable (Result<T, Error>) -> Void)

    /// Lets queued writes commit, then releases the engine's connections and threads.
    func close()

    /// Gives space freed by deletions back to the file system, after what was queued before it committed (SQLite:
    /// an incremental vacuum and a truncating WAL checkpoint; with `fullText`, the search index merged first so no
    /// old segment keeps a removed word; PostgreSQL: its autovacuum does this).
    func reclaimSpace(fullText: Bool) throws

    /// Blocks until every committed message is in the full-text index; a search snapshot opened afterwards finds them
    /// (SQLite indexes new messages every 100 ms of writes, or now when a search asks; PostgreSQL within each
    /// write: nothing to wait for).
    func awaitSearchIndex() throws

    /// Blocks while writes somebody waits for are queued or committing, at most `timeout` (SQLite: the one write path
    /// of the node; PostgreSQL: nothing to wait for): how a read that can wait gives way to writes.
    func yieldToWrites(upTo timeout: Double)
}

extension ChatStorage {
    public func awaitSearchIndex() throws {}
    public func yieldToWrites(upTo timeout: Double) {}

    /// Queues an urgent write.
    public func submitWrite<T: Sendable>(
        _ body: @escaping @Sendable (any ChatTransaction) throws -> T,
        completion: @escaping @Sendable (Result<T, Error>) -> Void
    ) {
        submitWrite(body, options: .urgent, completion: completion)
    }

    /// Queues a write and suspends until its commit.
    public func write<T: Sendable>(_ body: @escaping @Sendable (any ChatTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submitWrite(body) { continuation.resume(with: $0) }
        }
    }

    /// Queues a write and blocks the calling thread (a dedicated one: a command, a job) until its commit.
    public func writeBlocking<T: Sendable>(_ body: @escaping @Sendable (any ChatTransaction) throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<T, Error>?>(nil)
        submitWrite(body) { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}

/// The outcome of an operation that commits either way: its value, or a refusal whose audit trail (a
/// TOOL_CALL_DENIED event, SPEC §12.5) commits with it.
public enum Committing<Value: Sendable>: Sendable {
    case value(Value)
    case refused(ChatError)

    /// The value, or the refusal thrown (for callers that treat a refusal as any other error, after the commit).
    public func get() throws -> Value {
        switch self {
        case .value(let value): return value
        case .refused(let error): throw error
        }
    }

    public func map<U: Sendable>(_ transform: (Value) throws -> U) rethrows -> Committing<U> {
        switch self {
        case .value(let value): return .value(try transform(value))
        case .refused(let error): return .refused(error)
        }
    }
}

/// Filters of a room message page, in the room's sequence order.
public struct MessageQuery: Sendable, Equatable {
    public enum Order: Sendable { case newestFirst, oldestFirst }
    public var tenantId: String
    public var roomId: String
    /// Only messages of this thread (nil: root messages unless `includeThreadReplies`).
    public var threadId: String?
    public var includeThreadReplies: Bool
    public var includeDeleted: Bool
    /// Exclusive lower bound on room_seq.
    public var afterSeq: Int64?
    /// Exclusive upper bound on room_seq.
    public var beforeSeq: Int64?
    /// Only replies to this message.
    public var replyToMessageId: String?
    public var order: Order
    public var limit: Int

    public init(
        tenantId: String, roomId: String, threadId: String? = nil, includeThreadReplies: Bool = false,
        includeDeleted: Bool = false, afterSeq: Int64? = nil, beforeSeq: Int64? = nil,
        replyToMessageId: String? = nil, order: Order = .newestFirst, limit: Int
    ) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.threadId = threadId
        self.includeThreadReplies = includeThreadReplies
        self.includeDeleted = includeDeleted
        self.afterSeq = afterSeq
        self.beforeSeq = beforeSeq
        self.replyToMessageId = replyToMessageId
        self.order = order
        self.limit = limit
    }
}

/// A full-text message search over the rooms a profile is an active member of, newest first.
public struct MessageSearch: Sendable, Equatable {
    public var tenantId: String
    public var memberProfileId: String
    /// Plain words; every word must match (engines quote them: no query syntax reaches the engine).
    public var terms: [String]
    public var roomId: String?
    public var senderProfileId: String?
    public var messageType: MessageType?
    public var role: MessageRole?
    public var since: Int64?
    public var until: Int64?
    public var hasAttachments: Bool?
    /// Continue after this (created_at, id) position, exclusive.
    public var after: (createdAt: Int64, id: String)?
    public var limit: Int

    public init(tenantId: String, memberProfileId: String, terms: [String], limit: Int) {
        self.tenantId = tenantId
        self.memberProfileId = memberProfileId
        self.terms = terms
        self.limit = limit
    }

    public static func == (l: MessageSearch, r: MessageSearch) -> Bool {
        l.tenantId == r.tenantId && l.memberProfileId == r.memberProfileId && l.terms == r.terms
            && l.roomId == r.roomId && l.senderProfileId == r.senderProfileId && l.messageType == r.messageType
            && l.role == r.role && l.since == r.since && l.until == r.until && l.hasAttachments == r.hasAttachments
            && l.after?.createdAt == r.after?.createdAt && l.after?.id == r.after?.id && l.limit == r.limit
    }
}

/// A position in an activity-ordered list (newest activity first): (activity time, id), exclusive.
public typealias ActivityPosition = (activityAt: Int64, id: String)

/// Primitive, tenant-bound reads and writes of one transaction. Every method takes the tenant and
/// never returns another tenant's rows. Domain rules live in `ChatDomain`, never in an engine.
public protocol ChatTransaction: AnyObject {
    /// Runs `body` in a nested savepoint, rolled back (with its events) when it throws.
    func savepoint<T>(_ body: () throws -> T) throws -> T

    // MARK: Rooms
    func room(tenantId: String, id: String) throws -> Room?
    /// Inserts `room`; false when a room with its id already exists (concurrent DM creation).
    func insertRoomIfAbsent(_ room: Room) throws -> Bool
    /// Writes the room's mutable columns (never `lastEventSeq`, which only `nextRoomSeq` moves).
    func updateRoom(_ room: Room) throws
    /// Rooms where the profile is an active participant, newest activity first.
    func roomsOfMember(
        tenantId: String, profileId: String, type: RoomType?, status: RoomStatus?, after: ActivityPosition?,
        limit: Int
    ) throws -> [Room]
    /// Non-deleted public rooms plus rooms where the profile is active, matching `query` (case-insensitive
    /// substring of name, description or topic), newest activity first.
    func searchRooms(tenantId: String, profileId: String, query: String, after: ActivityPosition?, limit: Int) throws
        -> [Room]

    // MARK: Participants
    func participant(tenantId: String, roomId: String, profileId: String) throws -> Participant?
    /// The room and one profile's participant row in it, read together (nil room: no such room).
    func roomAndParticipant(tenantId: String, roomId: String, profileId: String) throws -> (Room, Participant?)?
    /// Inserts or replaces the row of (tenant, room, profile).
    func upsertParticipant(_ participant: Participant) throws
    /// Active participants of a room, optionally of one role.
    func countActiveParticipants(tenantId: String, roomId: String, role: ParticipantRole?) throws -> Int
    /// Participants ordered by profile id.
    func participants(tenantId: String, roomId: String, status: ParticipantStatus?, afterProfileId: String?, limit: Int)
        throws -> [Participant]
    /// Every active participant row of a profile in rooms that are not deleted.
    func activeMemberships(tenantId: String, profileId: String) throws -> [Participant]
    /// Sets presence on every participant row of the profile; returns the number of rows.
    func setOnlineStatus(tenantId: String, profileId: String, status: OnlineStatus, at: Int64) throws -> Int

    // MARK: Messages
    /// A message; a streaming reply with its content so far (the concatenation of its stored deltas).
    func message(tenantId: String, id: String) throws -> Message?
    /// A message as its row stores it (a streaming reply: empty content, delta count 0).
    func messageRow(tenantId: String, id: String) throws -> Message?
    func insertMessage(_ message: Message) throws
    /// Writes content, attachments, metadata, edited_at, deleted_at and version.
    func updateMessage(_ message: Message) throws
    func insertMessageVersion(tenantId: String, _ version: MessageVersion) throws
    /// Earlier versions of a message, oldest first.
    /// At most `limit` earlier versions of a message, from its first (`oldestFirst`) or from its latest.
    func messageVersions(tenantId: String, messageId: String, oldestFirst: Bool, limit: Int) throws -> [MessageVersion]
    func messages(_ query: MessageQuery) throws -> [Message]
    func searchMessages(_ search: MessageSearch) throws -> [Message]
    /// Messages after `afterSeq` that are not deleted and not sent by `excludingProfileId`: root
    /// messages of the room (threadId nil) or the messages of one thread; `cap` when there are more. Counted among the
    /// first `2 × cap` messages past `afterSeq` (the actor's own, and a thread's deleted ones, among them): exact
    /// while at most `cap` of those are the actor's own (or deleted), a lower bound beyond.
    func unreadCount(tenantId: String, roomId: String, threadId: String?, afterSeq: Int64, excludingProfileId: String,
                     cap: Int64) throws -> Int64

    // MARK: Threads
    func thread(tenantId: String, id: String) throws -> ChatThread?
    func insertThread(_ thread: ChatThread) throws
    /// Writes is_resolved, resolved_at, message_count, participant_count, last_message_at, title.
    func updateThread(_ thread: ChatThread) throws
    /// Threads of a room, newest activity first.
    func threads(tenantId: String, roomId: String, onlyUnresolved: Bool, after: ActivityPosition?, limit: Int) throws
        -> [ChatThread]
    /// Records `profileId` as a sender in the thread; true when it was not one before.
    func addThreadSender(tenantId: String, threadId: String, profileId: String) throws -> Bool
    /// Threads the profile started or sent a message in, in rooms where it is an active member.
    func threadsTakenPartIn(tenantId: String, profileId: String) throws -> [ChatThread]
    func threadReadSeq(tenantId: String, threadId: String, profileId: String) throws -> Int64
    func setThreadReadSeq(tenantId: String, threadId: String, profileId: String, seq: Int64) throws

    // MARK: Reactions
    func reaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Reaction?
    func insertReaction(_ reaction: Reaction) throws
    /// Deletes one reaction; true when it existed.
    func deleteReaction(tenantId: String, messageId: String, profileId: String, emoji: String) throws -> Bool
    func deleteReactions(tenantId: String, messageId: String) throws
    /// A message's reactions as (emoji, profile) pairs, oldest first.
    func reactionPairs(tenantId: String, messageId: String) throws -> [(emoji: String, profileId: String)]
    /// The profiles that reacted to a message with `emoji`, by profile id, after `afterProfileId`.
    func reactionProfiles(tenantId: String, messageId: String, emoji: String, afterProfileId: String?, limit: Int) throws
        -> [String]
    /// How many profiles reacted to a message with `emoji`, and whether `profileId` is one of them.
    func reactionCount(tenantId: String, messageId: String, emoji: String, profileId: String) throws
        -> (count: Int64, includesProfile: Bool)
    /// How many distinct emoji other than `emoji` a message carries (the per-message emoji cap).
    func otherReactionEmojiCount(tenantId: String, messageId: String, emoji: String) throws -> Int

    // MARK: Agent sessions
    func session(tenantId: String, id: String) throws -> AgentSession?
    func insertSession(_ session: AgentSession) throws
    func updateSession(_ session: AgentSession) throws
    /// The status-`active` session of (agent, participant, key); a nil key matches keyless sessions only.
    func activeSession(tenantId: String, agentId: String, participantProfileId: String, sessionKey: String?) throws
        -> AgentSession?
    /// A participant's sessions, newest first.
    func sessions(tenantId: String, participantProfileId: String, agentId: String?, statusActiveOnly: Bool,
                  after: ActivityPosition?, limit: Int) throws -> [AgentSession]
    /// Tenants that have status-`active` sessions (for the server's expiry job).
    func tenantsWithActiveSessions() throws -> [String]
    /// Every status-`active` session of the tenant (optionally of one agent).
    func statusActiveSessions(tenantId: String, agentId: String?) throws -> [AgentSession]
    func toolCall(tenantId: String, sessionId: String, callId: String) throws -> ToolCallRecord?
    func insertToolCall(_ call: ToolCallRecord) throws
    func setToolCallResult(tenantId: String, sessionId: String, callId: String, resultMessageId: String) throws
    /// Writes a call's approval state, decision and claim.
    func updateToolCall(_ call: ToolCallRecord) throws
    /// Pending calls of the sessions whose participant is `participantProfileId`, oldest first (position:
    /// requested_at, tiebreak: the call's message id).
    func pendingToolCalls(tenantId: String, participantProfileId: String, sessionId: String?, after: ActivityPosition?,
                          limit: Int) throws -> [ToolCallRecord]
    /// Pending calls of every tenant requested before `cutoff`, oldest first (for the server's expiry job).
    func expiredApprovals(requestedBefore cutoff: Int64, limit: Int) throws -> [ToolCallRecord]
    func turnState(tenantId: String, messageId: String) throws -> TurnState?
    func upsertTurnState(_ state: TurnState) throws

    // MARK: Streamed replies (SPEC §13.1)
    /// Writes a streamed message's content, delta count and stream state.
    func updateMessageStream(_ message: Message) throws
    func insertReplyDelta(_ delta: ReplyDelta) throws
    /// The delta with the highest index of a message (nil: none stored).
    func lastReplyDelta(tenantId: String, roomId: String, messageId: String) throws -> ReplyDelta?
    func replyDelta(tenantId: String, roomId: String, messageId: String, index: Int64) throws -> ReplyDelta?
    /// Stored deltas from `fromIndex` on, in index order.
    func replyDeltas(tenantId: String, roomId: String, messageId: String, fromIndex: Int64, limit: Int) throws -> [ReplyDelta]
    /// A session's replies that are streaming.
    func streamingReplies(tenantId: String, sessionId: String) throws -> [Message]
    /// Streaming replies of every tenant (for the server's stream job).
    func streamingReplies(limit: Int) throws -> [Message]
    /// Deletes the stored deltas of replies finished before `cutoff`; returns how many.
    func dropReplyDeltas(finishedBefore cutoff: Int64) throws -> Int
    /// Publishes a delta on its stream topic after the commit (not a room event; rolled back with its savepoint).
    func publish(_ delta: ReplyDelta)

    // MARK: Event log
    /// Reserves the room's next event seq (increments the room's `last_event_seq`, serialising writers of the room).
    func nextRoomSeq(tenantId: String, roomId: String) throws -> Int64
    /// `nextRoomSeq` for a new message: also sets the room's `last_message_at` to `at`, in one statement.
    func nextMessageSeq(tenantId: String, roomId: String, at: Int64) throws -> Int64
    /// Appends an event whose seq came from `nextRoomSeq`; assigns and returns its global `eventId`.
    func appendEvent(_ event: RoomEvent) throws -> RoomEvent
    func roomEvents(tenantId: String, roomId: String, afterSeq: Int64, limit: Int) throws -> [RoomEvent]
    func tenantEvents(tenantId: String, afterEventId: Int64, limit: Int) throws -> [RoomEvent]
    /// The smallest retained seq of a room's log, or nil when none is retained.
    func oldestRetainedSeq(tenantId: String, roomId: String) throws -> Int64?
    /// The largest event id purged from the tenant's log (0 when nothing was purged).
    func purgedThroughEventId(tenantId: String) throws -> Int64
    /// The newest event id of the tenant's log (0 when empty).
    func headEventId(tenantId: String) throws -> Int64
    /// Deletes events created before `cutoff` in every tenant; returns how many.
    func purgeEvents(createdBefore cutoff: Int64) throws -> Int

    // MARK: Data lifecycle (SPEC §14)
    /// The stored retention of a room (nil room: the tenant default); nil when none is set.
    func retentionDays(tenantId: String, roomId: String?) throws -> Int64?
    /// Sets (or with nil days removes) the retention of a room or, with a nil room, the tenant default.
    func setRetentionDays(tenantId: String, roomId: String?, days: Int64?, at: Int64) throws
    /// Rooms (not deleted) whose effective retention is limited, with it, in every tenant.
    func roomsWithRetention() throws -> [RoomRetention]
    /// Ids of a room's messages created before `cutoff`, oldest first.
    func expiredMessageIds(tenantId: String, roomId: String, createdBefore cutoff: Int64, limit: Int) throws -> [String]
    /// A page of one entity type of an export, in the export's order, after `after`.
    func exportPage(_ kind: ExportKind, scope: ExportFilter, after: ExportPosition, limit: Int) throws -> [ExportRow]
    func createExport(_ export: ExportRecord) throws
    func appendExportChunk(exportId: String, index: Int, data: String) throws
    func finishExport(exportId: String, chunks: Int, bytes: Int) throws
    /// The chunk count of a live export of the tenant and chunk `index` (nil data past the end); nil: no such export.
    func exportChunk(tenantId: String, exportId: String, index: Int, now: Int64) throws -> (chunks: Int, data: String?)?
    func dropExpiredExports(now: Int64) throws -> Int
    /// Whether the database holds any room (import needs an empty one).
    func holdsChatData() throws -> Bool
    /// Sets a thread's root message (import: threads are written before the messages they hang off).
    func setThreadRoot(tenantId: String, threadId: String, rootMessageId: String) throws
    /// After an import: rooms' seqs set, thread and session counters' purged parts and rooms' purges recorded, the
    /// tenant's log marked as trimmed (its events before the import are not in it).
    func finishImport(tenantId: String, roomSeqs: [String: Int64]) throws
    /// Ids and rooms of the profile's messages and of every message of the sessions it is the participant of.
    func messagesToErase(tenantId: String, profileId: String) throws -> [(id: String, roomId: String)]
    func sessionsOfParticipant(tenantId: String, profileId: String) throws -> [AgentSession]
    /// Rooms where the profile has a participant row or a reaction.
    func roomsWithProfileRows(tenantId: String, profileId: String) throws -> [String]
    /// Erases a profile's personal data (SPEC §14): `messageIds` become erased tombstones (content, metadata,
    /// attachments, tool data, history, reactions, deltas, turn outcomes gone); the profile's reactions,
    /// participations and read state are deleted; its sessions lose prompt, context and key; events about any of
    /// these lose their payload; stored responses of its calls and of its sessions are deleted, and the tenant's
    /// exports; the search index is merged so no old segment keeps a removed word.
    func eraseProfileData(tenantId: String, profileId: String, messageIds: [String], sessions: [AgentSession], at: Int64)
        throws
    /// Deletes messages of a room for good with what hangs off them (versions, reactions, deltas, tool calls,
    /// turn states; thread roots and reply links to them are cleared), keeps the thread and session counters
    /// exact (their purged part), and empties the payload of their events. Returns how many were deleted.
    func purgeMessages(tenantId: String, roomId: String, ids: [String], purgedBefore: Int64) throws -> Int

    // MARK: Service credentials and the replay window (shared by every server instance)
    func apiKey(id: String) throws -> ApiKey?
    /// Whether the key exists and is not revoked (one indexed lookup; the write path's revocation check).
    func apiKeyIsActive(id: String) throws -> Bool
    func insertApiKey(_ key: ApiKey) throws
    func apiKeys() throws -> [ApiKey]
    /// Marks a key revoked; false when no such key.
    func revokeApiKey(id: String, at: Int64) throws -> Bool
    /// The lowest and highest event ids the log holds (nil when it is empty): its retained start and its head.
    func eventLogBounds() throws -> (first: Int64, last: Int64)?
    /// Appends to the audit trail; the database refuses to change or delete its lines.
    func appendAudit(_ entry: AuditEntry) throws
    /// Audit lines at or after `since` (ms) with an id above `afterId`, oldest first, at most `limit`.
    func auditEntries(since: Int64, afterId: Int64, limit: Int) throws -> [AuditEntry]
    func replayEntry(keyId: String, requestId: String) throws -> ReplayEntry?
    /// Whether the key is active, and what is recorded for one of its request ids, read together.
    func callRecord(keyId: String, requestId: String) throws -> (keyActive: Bool, entry: ReplayEntry?)
    /// Records a call; false when (key, request id) is already recorded.
    func insertReplayEntry(_ entry: ReplayEntry) throws -> Bool
    /// Forgets calls recorded before `cutoff`; returns how many.
    func purgeReplayEntries(createdBefore cutoff: Int64) throws -> Int
}
