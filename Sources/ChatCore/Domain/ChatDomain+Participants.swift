/// Unread counts of one actor (SPEC §4.2).
public struct UnreadCounts: Sendable, Equatable {
    public struct RoomCount: Sendable, Equatable {
        public var roomId: String
        public var unread: Int64
    }
    public struct ThreadCount: Sendable, Equatable {
        public var roomId: String
        public var threadId: String
        public var unread: Int64
    }
    public var rooms: [RoomCount]
    public var threads: [ThreadCount]
    /// Sum of the room counts (root messages only; thread replies are counted per thread).
    public var total: Int64
}

/// Participants, roles, bans, presence and read state (SPEC §4.2).
extension ChatDomain {
    /// Adds or re-activates a participant (admins; only owners grant `owner`).
    public func addParticipant(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, profileId: String, role: ParticipantRole? = nil
    ) throws -> Participant {
        try Validate.reference(roomId, "room_id")
        try Validate.identifier(profileId, "profile_id")
        let (room, me) = try memberRoom(tx, actor, roomId)
        try requireAdmin(me)
        if role == .owner { try requireOwner(me, "grant the owner role") }
        try requireNotArchived(room)
        guard room.roomType == .public || room.roomType == .private else {
            throw ChatError.precondition(.roomType, "\(room.roomType.rawValue) rooms do not accept added participants")
        }
        let existing = try tx.participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId)
        if existing?.status == .banned {
            throw ChatError.precondition(.participantBanned, "the profile is banned from the room")
        }
        if let existing, existing.isActive { return existing }
        try requireRoomHasSpace(tx, room)
        let now = clock()
        var participant = existing ?? Participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId,
                                                  role: role ?? .member, joinedAt: now)
        if let role { participant.role = role }
        participant.status = .active
        participant.joinedAt = now
        try tx.upsertParticipant(participant)
        try emit(tx, .participantJoined, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: profileId, at: now, entity: .participant(participant))
        return participant
    }

    /// Leaves (self) or kicks (another, admins only) a participant.
    public func removeParticipant(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, profileId: String
    ) throws -> Participant {
        try Validate.reference(roomId, "room_id")
        try Validate.identifier(profileId, "profile_id")
        let (room, me) = try memberRoom(tx, actor, roomId)
        let isSelf = profileId == actor.profileId
        var target = me
        if !isSelf {
            guard let row = try tx.participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId),
                  row.isActive else { throw ChatError.notFound("participant") }
            target = row
            try requireAdmin(me)
            if target.role == .owner { try requireOwner(me, "remove an owner") }
        }
        try requireNotArchived(room)
        try requireNotLastOwner(tx, room, target)
        let now = clock()
        target.status = isSelf ? .left : .kicked
        try tx.upsertParticipant(target)
        try emit(tx, isSelf ? .participantLeft : .participantKicked, tenantId: room.tenantId, roomId: room.id,
                 actor: actor.profileId, subject: profileId, at: now, entity: .participant(target))
        return target
    }

    /// LAST_OWNER when `target` is the room's only active owner and other active members remain.
    func requireNotLastOwner(_ tx: any ChatTransaction, _ room: Room, _ target: Participant) throws {
        guard target.role == .owner, target.isActive else { return }
        let owners = try tx.countActiveParticipants(tenantId: room.tenantId, roomId: room.id, role: .owner)
        let everyone = try tx.countActiveParticipants(tenantId: room.tenantId, roomId: room.id, role: nil)
        if owners <= 1 && everyone > 1 {
            throw ChatError.precondition(.lastOwner, "the last owner cannot leave a populated room: transfer ownership first")
        }
    }

    /// Changes an active participant's role (admins; owner changes need an owner; the last owner stays).
    public func setParticipantRole(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, profileId: String, role: ParticipantRole
    ) throws -> Participant {
        try Validate.reference(roomId, "room_id")
        try Validate.identifier(profileId, "profile_id")
        let (room, me) = try memberRoom(tx, actor, roomId)
        guard var target = try tx.participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId),
              target.isActive else { throw ChatError.notFound("participant") }
        try requireAdmin(me)
        if role == .owner || target.role == .owner { try requireOwner(me, "grant or take the owner role") }
        try requireNotArchived(room)
        guard target.role != role else { return target }
        if target.role == .owner && role != .owner {
            let owners = try tx.countActiveParticipants(tenantId: room.tenantId, roomId: room.id, role: .owner)
            if owners <= 1 { throw ChatError.precondition(.lastOwner, "the last owner cannot be demoted") }
        }
        let now = clock()
        target.role = role
        try tx.upsertParticipant(target)
        try emit(tx, .participantRoleChanged, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: profileId, at: now, entity: .participant(target))
        return target
    }

    /// Bans a profile from the room (admins; an admin may not ban an owner). The profile need not have joined.
    public func banParticipant(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, profileId: String
    ) throws -> Participant {
        try Validate.reference(roomId, "room_id")
        try Validate.identifier(profileId, "profile_id")
        let (room, me) = try memberRoom(tx, actor, roomId)
        let existing = try tx.participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId)
        try requireAdmin(me)
        if existing?.role == .owner { try requireOwner(me, "ban an owner") }
        try requireNotArchived(room)
        if let existing, existing.status == .banned { return existing }
        if let existing { try requireNotLastOwner(tx, room, existing) }
        let now = clock()
        var target = existing ?? Participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId,
                                             role: .member, joinedAt: now)
        target.status = .banned
        try tx.upsertParticipant(target)
        try emit(tx, .participantBanned, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: profileId, at: now, entity: .participant(target))
        return target
    }

    /// Lifts a ban (admins). The profile becomes `left`: it may join or be added again.
    public func unbanParticipant(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, profileId: String
    ) throws -> Participant {
        try Validate.reference(roomId, "room_id")
        try Validate.identifier(profileId, "profile_id")
        let (room, me) = try memberRoom(tx, actor, roomId)
        guard var target = try tx.participant(tenantId: actor.tenantId, roomId: roomId, profileId: profileId) else {
            throw ChatError.notFound("participant")
        }
        try requireAdmin(me)
        if target.role == .owner { try requireOwner(me, "unban an owner") }
        try requireNotArchived(room)
        guard target.status == .banned else { return target }
        let now = clock()
        target.status = .left
        try tx.upsertParticipant(target)
        try emit(tx, .participantUnbanned, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: profileId, at: now, entity: .participant(target))
        return target
    }

    /// Participants of a room ordered by profile id (members only).
    public func listParticipants(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, status: ParticipantStatus? = nil,
        cursor: String? = nil, limit: Int = 0
    ) throws -> Page<Participant> {
        try Validate.reference(roomId, "room_id")
        let limit = try Validate.pageSize(limit, limits: limits)
        let scope = "\(actor.tenantId)/participants:\(roomId)"
        _ = try memberRoom(tx, actor, roomId)
        let after = try PageCursor.decode(cursor, scope: scope)
        let rows = try tx.participants(tenantId: actor.tenantId, roomId: roomId, status: status,
                                       afterProfileId: after?.tiebreak, limit: limit + 1)
        return page(rows, limit: limit, scope: scope) { (0, $0.profileId) }
    }

    /// Sets the actor's presence on all of its participant rows; returns how many rows changed.
    /// Presence is not a room event (it is not part of any room's history).
    public func setOnlineStatus(_ tx: any ChatTransaction, _ actor: CallActor, status: OnlineStatus) throws -> Int {
        try tx.setOnlineStatus(tenantId: actor.tenantId, profileId: actor.profileId, status: status, at: clock())
    }

    /// Moves the actor's read cursor forward (never backward) to a message, or to the newest message
    /// when none is given, in the room or in one of its threads; returns the new unread count.
    /// Read state is the reader's own, so it may move in archived rooms and for viewers.
    public func markRead(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, messageId: String? = nil,
        threadId: String? = nil
    ) throws -> Int64 {
        try Validate.reference(roomId, "room_id")
        let messageId = try Validate.optionalReference(messageId, "message_id")
        let threadId = try Validate.optionalReference(threadId, "thread_id")
        var (room, me) = try memberRoom(tx, actor, roomId)
        var thread: ChatThread?
        if let threadId {
            guard let t = try tx.thread(tenantId: actor.tenantId, id: threadId), t.roomId == roomId else {
                throw ChatError.precondition(.foreignReference, "thread_id is not a thread of this room",
                                             metadata: ["field": "thread_id"])
            }
            thread = t
        }
        var target: Int64
        if let messageId {
            guard let m = try tx.message(tenantId: actor.tenantId, id: messageId), m.roomId == roomId,
                  threadId == nil || m.threadId == threadId else {
                throw ChatError.precondition(.foreignReference, "message_id is not a message of this room or thread",
                                             metadata: ["field": "message_id"])
            }
            target = m.roomSeq
        } else {
            room = try tx.room(tenantId: room.tenantId, id: room.id) ?? room
            target = room.lastEventSeq
        }
        let now = clock()
        if let thread {
            let current = try tx.threadReadSeq(tenantId: actor.tenantId, threadId: thread.id, profileId: actor.profileId)
            if target > current {
                try tx.setThreadReadSeq(tenantId: actor.tenantId, threadId: thread.id, profileId: actor.profileId,
                                        seq: target)
            }
            return try unread(tx, actor, roomId: roomId, threadId: thread.id, after: max(target, current))
        }
        if target > me.lastReadSeq {
            me.lastReadSeq = target
            me.lastReadMessageId = messageId ?? me.lastReadMessageId
            me.lastSeenAt = now
            try tx.upsertParticipant(me)
            if limits.emitReadEvents {
                try emit(tx, .participantRead, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                         subject: actor.profileId, at: now, entity: .participant(me))
            }
        }
        return try unread(tx, actor, roomId: roomId, after: me.lastReadSeq)
    }

    /// The actor's unread count in a room (root messages) or one of its threads after `seq`, at most the cap
    /// (`ChatTransaction.unreadCount`).
    func unread(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String, threadId: String? = nil, after seq: Int64)
        throws -> Int64 {
        try tx.unreadCount(tenantId: actor.tenantId, roomId: roomId, threadId: threadId, afterSeq: seq,
                           excludingProfileId: actor.profileId, cap: limits.unreadCountCap)
    }

    /// Unread counts per room the actor is a member of, per thread it took part in, and the total.
    public func getUnreadCounts(_ tx: any ChatTransaction, _ actor: CallActor) throws -> UnreadCounts {
        var rooms: [UnreadCounts.RoomCount] = []
        var total: Int64 = 0
        for p in try tx.activeMemberships(tenantId: actor.tenantId, profileId: actor.profileId) {
            let n = try unread(tx, actor, roomId: p.roomId, after: p.lastReadSeq)
            rooms.append(.init(roomId: p.roomId, unread: n))
            total += n
        }
        var threads: [UnreadCounts.ThreadCount] = []
        for t in try tx.threadsTakenPartIn(tenantId: actor.tenantId, profileId: actor.profileId) {
            let seq = try tx.threadReadSeq(tenantId: actor.tenantId, threadId: t.id, profileId: actor.profileId)
            let n = try unread(tx, actor, roomId: t.roomId, threadId: t.id, after: seq)
            threads.append(.init(roomId: t.roomId, threadId: t.id, unread: n))
        }
        return UnreadCounts(rooms: rooms, threads: threads, total: total)
    }
}
