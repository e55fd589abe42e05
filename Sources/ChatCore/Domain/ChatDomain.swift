import Foundation

/// The chat domain's rules. Every operation is a synchronous function over one storage transaction,
/// so the caller decides the transaction boundary (and may add its own rows to it, such as the RPC
/// layer's replay cache). Operations validate first, then check in the order of SPEC §12.1.
public struct ChatDomain: Sendable {
    public var limits: ChatLimits
    /// Current time in Unix milliseconds.
    public var clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - limits: request limits (SPEC §8).
    ///   - clock: the time source; tests pass a controllable one.
    public init(limits: ChatLimits = ChatLimits(), clock: @escaping @Sendable () -> Int64 = ChatDomain.systemClock) {
        self.limits = limits
        self.clock = clock
    }

    /// The wall clock in Unix milliseconds.
    public static let systemClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Validates the call context's tenant and actor ids (SPEC §2).
    public func checkActor(_ actor: CallActor) throws {
        try Validate.identifier(actor.tenantId, "tenant_id")
        try Validate.identifier(actor.profileId, "actor_profile_id")
    }
}

// MARK: - Shared checks

extension ChatDomain {
    /// The room if the actor may see it (SPEC §12.2), with the actor's participant row; NOT_FOUND otherwise.
    func visibleRoom(_ tx: any ChatTransaction, _ actor: CallActor, _ roomId: String) throws -> (Room, Participant?) {
        guard let (room, participant) = try tx.roomAndParticipant(tenantId: actor.tenantId, roomId: roomId,
                                                                  profileId: actor.profileId),
              room.status != .deleted else {
            throw ChatError.notFound("room")
        }
        guard room.roomType == .public || participant != nil else { throw ChatError.notFound("room") }
        return (room, participant)
    }

    /// The visible room and the actor's active membership; NOT_MEMBER when not active.
    func memberRoom(_ tx: any ChatTransaction, _ actor: CallActor, _ roomId: String) throws -> (Room, Participant) {
        let (room, participant) = try visibleRoom(tx, actor, roomId)
        guard let participant, participant.isActive else {
            throw ChatError.denied(.notMember, "the actor is not a member of the room")
        }
        return (room, participant)
    }

    /// A membership that may write: not a viewer (VIEWER_READ_ONLY).
    func requireWriter(_ participant: Participant) throws {
        if participant.role == .viewer { throw ChatError.denied(.viewerReadOnly, "viewers are read-only") }
    }

    /// Room administration: owner or admin (NOT_ROOM_ADMIN).
    func requireAdmin(_ participant: Participant) throws {
        if !participant.role.isAdmin { throw ChatError.denied(.notRoomAdmin, "only a room owner or admin may do this") }
    }

    /// Ownership (NOT_ROOM_OWNER).
    func requireOwner(_ participant: Participant, _ what: String) throws {
        if participant.role != .owner { throw ChatError.denied(.notRoomOwner, "only a room owner may \(what)") }
    }

    /// Archived rooms are read-only (ROOM_ARCHIVED).
    func requireNotArchived(_ room: Room) throws {
        if room.status == .archived { throw ChatError.precondition(.roomArchived, "the room is archived") }
    }

    /// The message and its room if the actor may see them; NOT_FOUND otherwise.
    func visibleMessage(_ tx: any ChatTransaction, _ actor: CallActor, _ messageId: String) throws
        -> (Message, Room, Participant?) {
        guard let message = try tx.message(tenantId: actor.tenantId, id: messageId) else {
            throw ChatError.notFound("message")
        }
        do {
            let (room, participant) = try visibleRoom(tx, actor, message.roomId)
            return (message, room, participant)
        } catch let error as ChatError where error.code == .notFound {
            throw ChatError.notFound("message")
        }
    }

    /// The message, its room and the actor's active membership.
    func memberMessage(_ tx: any ChatTransaction, _ actor: CallActor, _ messageId: String) throws
        -> (Message, Room, Participant) {
        let (message, room, participant) = try visibleMessage(tx, actor, messageId)
        guard let participant, participant.isActive else {
            throw ChatError.denied(.notMember, "the actor is not a member of the room")
        }
        return (message, room, participant)
    }

    /// The thread and its room if visible; NOT_FOUND otherwise.
    func visibleThread(_ tx: any ChatTransaction, _ actor: CallActor, _ threadId: String) throws
        -> (ChatThread, Room, Participant?) {
        guard let thread = try tx.thread(tenantId: actor.tenantId, id: threadId) else { throw ChatError.notFound("thread") }
        do {
            let (room, participant) = try visibleRoom(tx, actor, thread.roomId)
            return (thread, room, participant)
        } catch let error as ChatError where error.code == .notFound {
            throw ChatError.notFound("thread")
        }
    }

    /// The thread, its room and the actor's active membership.
    func memberThread(_ tx: any ChatTransaction, _ actor: CallActor, _ threadId: String) throws
        -> (ChatThread, Room, Participant) {
        let (thread, room, participant) = try visibleThread(tx, actor, threadId)
        guard let participant, participant.isActive else {
            throw ChatError.denied(.notMember, "the actor is not a member of the room")
        }
        return (thread, room, participant)
    }

    /// Appends one event to a room's log with the room's next seq.
    @discardableResult
    func emit(
        _ tx: any ChatTransaction, _ kind: EventKind, tenantId: String, roomId: String, actor: String,
        subject: String, at now: Int64, entity: EventEntity?
    ) throws -> RoomEvent {
        let seq = try tx.nextRoomSeq(tenantId: tenantId, roomId: roomId)
        return try tx.appendEvent(RoomEvent(
            tenantId: tenantId, roomId: roomId, seq: seq, eventId: 0, kind: kind, actorProfileId: actor,
            subjectId: subject, createdAt: now, entity: entity))
    }

    /// Decodes an activity-ordered cursor (position = activity time, tiebreak = id).
    func activityCursor(_ text: String?, scope: String) throws -> ActivityPosition? {
        guard let cursor = try PageCursor.decode(text, scope: scope) else { return nil }
        return (cursor.position, cursor.tiebreak)
    }

    /// Builds a page from `limit + 1` fetched rows, ending it early when the reply would pass
    /// `limits.maxReplyBytes`.
    func page<T: ReplySized>(_ rows: [T], limit: Int, scope: String, position: (T) -> (Int64, String)) -> Page<T> {
        let limit = limits.fitting(rows, limit: limit)
        guard rows.count > limit else { return Page(items: rows, nextCursor: "", hasMore: false) }
        let items = Array(rows.prefix(limit))
        let (p, t) = position(items[items.count - 1])
        return Page(items: items, nextCursor: PageCursor(scope: scope, position: p, tiebreak: t).text, hasMore: true)
    }
}
