/// Rooms (SPEC §4.1).
extension ChatDomain {
    /// Creates a public or private room; the actor becomes its owner.
    ///
    /// - Throws: VALIDATION for a bad name, type (`dm`/`agent` come from their own operations), text
    ///   sizes, metadata or max_participants.
    public func createRoom(
        _ tx: any ChatTransaction, _ actor: CallActor, name: String, roomType: RoomType,
        description: String? = nil, topic: String? = nil, avatarUrl: String? = nil, metadata: String? = nil,
        maxParticipants: Int? = nil
    ) throws -> Room {
        try Validate.text(name, "name", max: limits.maxNameBytes, required: true)
        guard roomType == .public || roomType == .private else {
            throw ChatError.validation("room_type", "must be public or private (dm and agent rooms have their own operations)")
        }
        try Validate.text(description ?? "", "description", max: limits.maxDescriptionBytes)
        try Validate.text(topic ?? "", "topic", max: limits.maxNameBytes)
        try Validate.text(avatarUrl ?? "", "avatar_url", max: limits.maxUrlBytes)
        let metadata = try Validate.jsonObject(metadata, "metadata", max: limits.maxMetadataBytes)
        let max = maxParticipants ?? 0
        guard max >= 0 else { throw ChatError.validation("max_participants", "must not be negative") }

        let now = clock()
        let room = Room(
            id: Identifiers.newUUID(), tenantId: actor.tenantId, name: name, description: description ?? "",
            topic: topic ?? "", avatarUrl: avatarUrl ?? "", roomType: roomType, maxParticipants: max,
            metadata: metadata, createdByProfileId: actor.profileId, createdAt: now, updatedAt: now)
        _ = try tx.insertRoomIfAbsent(room)
        let owner = Participant(tenantId: actor.tenantId, roomId: room.id, profileId: actor.profileId, role: .owner,
                                joinedAt: now)
        try tx.upsertParticipant(owner)
        try emit(tx, .roomCreated, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId, subject: room.id,
                 at: now, entity: .room(room))
        try emit(tx, .participantJoined, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: actor.profileId, at: now, entity: .participant(owner))
        return try tx.room(tenantId: room.tenantId, id: room.id) ?? room
    }

    /// A room the actor can see, with the actor's participant row and (for members) the unread count.
    public func getRoom(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String) throws -> RoomView {
        try Validate.reference(roomId, "room_id")
        let (room, participant) = try visibleRoom(tx, actor, roomId)
        var unread: Int64 = 0
        if let participant, participant.isActive {
            unread = try self.unread(tx, actor, roomId: room.id, after: participant.lastReadSeq)
        }
        return RoomView(room: room, participant: participant, unreadCount: unread, lastMessage: nil)
    }

    /// The rooms the actor is an active member of, newest activity first, with unread counts and the last
    /// message as a preview. Deleted rooms are never listed.
    public func listMyRooms(
        _ tx: any ChatTransaction, _ actor: CallActor, type: RoomType? = nil, status: RoomStatus? = nil,
        cursor: String? = nil, limit: Int = 0
    ) throws -> Page<RoomView> {
        let limit = try Validate.pageSize(limit, limits: limits)
        if status == .deleted { return Page(items: [], nextCursor: "", hasMore: false) }
        let scope = "\(actor.tenantId)/rooms:\(actor.profileId)"
        let after = try activityCursor(cursor, scope: scope)
        let rooms = try tx.roomsOfMember(tenantId: actor.tenantId, profileId: actor.profileId, type: type,
                                         status: status, after: after, limit: limit + 1)
        let page = page(rooms, limit: limit, scope: scope) { ($0.activityAt, $0.id) }
        // Each view carries its room's last message too: stop building views (three reads each) once they
        // would pass the reply budget, and end the page there.
        var views: [RoomView] = []
        var bytes = 0
        for room in page.items {
            let participant = try tx.participant(tenantId: room.tenantId, roomId: room.id, profileId: actor.profileId)
            let unread = try self.unread(tx, actor, roomId: room.id, after: participant?.lastReadSeq ?? 0)
            let last = try tx.messages(MessageQuery(tenantId: room.tenantId, roomId: room.id, limit: 1)).first
            let view = RoomView(room: room, participant: participant, unreadCount: unread, lastMessage: last)
            bytes += view.replyBytes
            if !views.isEmpty && bytes > limits.maxReplyBytes { break }
            views.append(view)
        }
        guard views.count < page.items.count, let end = views.last?.room else {
            return Page(items: views, nextCursor: page.nextCursor, hasMore: page.hasMore)
        }
        return Page(items: views, nextCursor: PageCursor(scope: scope, position: end.activityAt, tiebreak: end.id).text,
                    hasMore: true)
    }

    /// Changes the supplied fields of a room (admins only). No event when nothing changes.
    public func updateRoom(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, name: String? = nil,
        description: String? = nil, topic: String? = nil, avatarUrl: String? = nil, metadata: String? = nil
    ) throws -> Room {
        try Validate.reference(roomId, "room_id")
        if let name { try Validate.text(name, "name", max: limits.maxNameBytes, required: true) }
        if let description { try Validate.text(description, "description", max: limits.maxDescriptionBytes) }
        if let topic { try Validate.text(topic, "topic", max: limits.maxNameBytes) }
        if let avatarUrl { try Validate.text(avatarUrl, "avatar_url", max: limits.maxUrlBytes) }
        let metadata = try metadata.map { try Validate.jsonObject($0, "metadata", max: limits.maxMetadataBytes) }

        var (room, participant) = try memberRoom(tx, actor, roomId)
        try requireAdmin(participant)
        try requireNotArchived(room)
        let before = room
        if let name { room.name = name }
        if let description { room.description = description }
        if let topic { room.topic = topic }
        if let avatarUrl { room.avatarUrl = avatarUrl }
        if let metadata { room.metadata = metadata }
        guard room != before else { return room }
        let now = clock()
        room.updatedAt = now
        try tx.updateRoom(room)
        try emit(tx, .roomUpdated, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId, subject: room.id,
                 at: now, entity: .room(room))
        return room
    }

    /// Makes a room read-only (admins). Archiving an archived room changes nothing.
    public func archiveRoom(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String) throws -> Room {
        try setRoomStatus(tx, actor, roomId: roomId, to: .archived, kind: .roomArchived)
    }

    /// Makes an archived room writable again (admins).
    public func unarchiveRoom(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String) throws -> Room {
        try setRoomStatus(tx, actor, roomId: roomId, to: .active, kind: .roomUnarchived)
    }

    /// Deletes a room (owners): afterwards it and everything in it is NOT_FOUND for everyone.
    public func deleteRoom(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String) throws -> Room {
        try setRoomStatus(tx, actor, roomId: roomId, to: .deleted, kind: .roomDeleted)
    }

    private func setRoomStatus(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, to status: RoomStatus, kind: EventKind
    ) throws -> Room {
        try Validate.reference(roomId, "room_id")
        var (room, participant) = try memberRoom(tx, actor, roomId)
        if status == .deleted { try requireOwner(participant, "delete the room") } else { try requireAdmin(participant) }
        guard room.status != status else { return room }
        let now = clock()
        room.status = status
        room.updatedAt = now
        if status == .deleted && room.roomType == .agent {
            // A deleted agent room takes its session with it, in the same commit (closed before the room's
            // last event, so the log reads session closed, then room deleted).
            for session in try tx.statusActiveSessions(tenantId: room.tenantId, agentId: nil) where session.roomId == room.id {
                _ = try close(tx, session, now: now, actor: actor.profileId)
            }
        }
        try tx.updateRoom(room)
        try emit(tx, kind, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId, subject: room.id,
                 at: now, entity: .room(room))
        return room
    }

    /// Public rooms of the tenant and rooms the actor is a member of whose name, description or topic
    /// contains `query` (case-insensitive), newest activity first.
    public func searchRooms(
        _ tx: any ChatTransaction, _ actor: CallActor, query: String, cursor: String? = nil, limit: Int = 0
    ) throws -> Page<Room> {
        try Validate.text(query, "query", max: limits.maxNameBytes, required: true)
        let limit = try Validate.pageSize(limit, limits: limits)
        let scope = "\(actor.tenantId)/roomsearch:\(actor.profileId)"
        let after = try activityCursor(cursor, scope: scope)
        let rooms = try tx.searchRooms(tenantId: actor.tenantId, profileId: actor.profileId,
                                       query: String(query.trimmingWhitespace), after: after, limit: limit + 1)
        return page(rooms, limit: limit, scope: scope) { ($0.activityAt, $0.id) }
    }

    /// Joins a public room as a `member` (SPEC §4.1, §12.8). An active member is returned unchanged.
    public func joinRoom(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String) throws -> Participant {
        try Validate.reference(roomId, "room_id")
        let (room, existing) = try visibleRoom(tx, actor, roomId)
        try requireNotArchived(room)
        if let existing, existing.isActive { return existing }
        guard room.roomType == .public else {
            throw ChatError.precondition(.roomType, "only public rooms can be joined")
        }
        if existing?.status == .banned { throw ChatError.precondition(.participantBanned, "the profile is banned") }
        try requireRoomHasSpace(tx, room)
        let now = clock()
        var participant = existing ?? Participant(tenantId: actor.tenantId, roomId: room.id,
                                                  profileId: actor.profileId, role: .member, joinedAt: now)
        participant.status = .active
        participant.joinedAt = now
        try tx.upsertParticipant(participant)
        try emit(tx, .participantJoined, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: actor.profileId, at: now, entity: .participant(participant))
        return participant
    }

    /// ROOM_FULL when the room holds max_participants active participants.
    func requireRoomHasSpace(_ tx: any ChatTransaction, _ room: Room) throws {
        guard room.maxParticipants > 0 else { return }
        let count = try tx.countActiveParticipants(tenantId: room.tenantId, roomId: room.id, role: nil)
        if count >= room.maxParticipants { throw ChatError.precondition(.roomFull, "the room is full") }
    }
}
