/// The data lifecycle (SPEC §14): retention policies and the purge that applies them.
extension ChatDomain {
    /// The longest retention a policy may give: 100 years.
    static let maxRetentionDays: Int64 = 36_500

    /// Sets a room's retention override (`admin`, or `chat` as the room's owner) or, without a room, the tenant
    /// default (`admin`); nil days removes it. Returns the effective policy.
    public func setRetentionPolicy(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String?, days: Int64?
    ) throws -> RetentionPolicy {
        let roomId = try Validate.optionalReference(roomId, "room_id")
        if let days, days < 0 || days > Self.maxRetentionDays {
            throw ChatError.validation("message_retention_days", "must be between 0 and \(Self.maxRetentionDays)")
        }
        if let roomId {
            try authorizeRoomRetention(tx, actor, roomId)
        } else {
            try actor.require(.admin)
        }
        let now = clock()
        try tx.setRetentionDays(tenantId: actor.tenantId, roomId: roomId, days: days, at: now)
        try tx.appendAudit(AuditEntry(at: now, actor: actor.auditName, action: .retentionSet, tenantId: actor.tenantId,
                                      subject: roomId ?? "tenant",
                                      detail: AuditEntry.detail(["message_retention_days": days])))
        return try effectiveRetention(tx, tenantId: actor.tenantId, roomId: roomId)
    }

    /// A room's effective retention and where it comes from (same access as reading the room, or `admin`);
    /// without a room, the tenant default (`admin`).
    public func getRetentionPolicy(_ tx: any ChatTransaction, _ actor: CallActor, roomId: String?) throws
        -> RetentionPolicy {
        let roomId = try Validate.optionalReference(roomId, "room_id")
        if let roomId {
            if actor.has(.admin) {
                guard let room = try tx.room(tenantId: actor.tenantId, id: roomId), room.status != .deleted else {
                    throw ChatError.notFound("room")
                }
            } else {
                try actor.require(.chat, .admin)
                _ = try visibleRoom(tx, actor, roomId)
            }
        } else {
            try actor.require(.admin)
        }
        return try effectiveRetention(tx, tenantId: actor.tenantId, roomId: roomId)
    }

    private func authorizeRoomRetention(_ tx: any ChatTransaction, _ actor: CallActor, _ roomId: String) throws {
        if actor.has(.admin) {
            guard let room = try tx.room(tenantId: actor.tenantId, id: roomId), room.status != .deleted else {
                throw ChatError.notFound("room")
            }
            return
        }
        try actor.require(.chat, .admin)
        let (_, participant) = try visibleRoom(tx, actor, roomId)
        guard let participant, participant.isActive, participant.role == .owner else {
            throw ChatError.denied(.notRoomOwner, "only a room owner (or an admin key) may set its retention")
        }
    }

    func effectiveRetention(_ tx: any ChatTransaction, tenantId: String, roomId: String?) throws -> RetentionPolicy {
        if let roomId, let days = try tx.retentionDays(tenantId: tenantId, roomId: roomId) {
            return RetentionPolicy(roomId: roomId, messageRetentionDays: days, source: .room)
        }
        if let days = try tx.retentionDays(tenantId: tenantId, roomId: nil) {
            return RetentionPolicy(roomId: roomId, messageRetentionDays: days, source: .tenant)
        }
        return RetentionPolicy(roomId: roomId, messageRetentionDays: 0, source: .default)
    }

    /// Deletes up to `limit` of a room's messages older than its retention at `now`, for good, and appends one
    /// ROOM_MESSAGES_PURGED (no actor) when it deleted any. Returns how many it deleted (`limit`: run again).
    /// The room is read first: on PostgreSQL that locks it, so two instances never purge a room at once.
    public func purgeExpiredMessages(_ tx: any ChatTransaction, _ target: RoomRetention, now: Int64, limit: Int) throws
        -> Int {
        guard target.days > 0, let room = try tx.room(tenantId: target.tenantId, id: target.roomId),
              room.status != .deleted else { return 0 }
        let cutoff = now - target.days * 86_400_000
        let ids = try tx.expiredMessageIds(tenantId: room.tenantId, roomId: room.id, createdBefore: cutoff, limit: limit)
        let count = try tx.purgeMessages(tenantId: room.tenantId, roomId: room.id, ids: ids, purgedBefore: cutoff)
        guard count > 0 else { return 0 }
        try emit(tx, .roomMessagesPurged, tenantId: room.tenantId, roomId: room.id, actor: "", subject: room.id, at: now,
                 entity: .messagesPurged(MessagesPurged(count: Int64(count), purgedBeforeMs: cutoff)))
        return count
    }
}

/// What one purge run removed.
public struct PurgeReport: Sendable, Equatable {
    public var messages = 0
    public var rooms = 0
    public var events = 0
    public var replayEntries = 0

    public init() {}
}

extension ChatService {
    /// One run of the retention job: messages past their room's retention (one transaction per room, with one
    /// ROOM_MESSAGES_PURGED, of at most `perRoom` messages so the write path stays responsive: a room with more
    /// goes on at the next run), the event log past `eventRetentionSeconds`, request ids recorded before
    /// `replayCutoff`, expired exports; then the freed space is given back to the file system.
    public func purge(eventRetentionSeconds: Int64, replayCutoff: Int64, perRoom: Int = 20_000) async throws -> PurgeReport {
        let domain = self.domain
        var report = PurgeReport()
        let rooms = try storage.read { try $0.roomsWithRetention() }
        for room in rooms {
            let now = domain.clock()
            let count = try await storage.write { tx in try domain.purgeExpiredMessages(tx, room, now: now, limit: perRoom) }
            if count > 0 {
                report.messages += count
                report.rooms += 1
            }
        }
        let purged = report
        (report.events, report.replayEntries) = try await storage.write { tx in
            let events = try domain.purgeEvents(tx, retentionSeconds: eventRetentionSeconds)
            let replays = try tx.purgeReplayEntries(createdBefore: replayCutoff)
            _ = try tx.dropExpiredExports(now: domain.clock())
            if purged.messages > 0 {
                try tx.appendAudit(AuditEntry(at: domain.clock(), actor: "job", action: .messagesPurge,
                                              detail: AuditEntry.detail(["messages": purged.messages, "rooms": purged.rooms])))
            }
            return (events, replays)
        }
        if report.messages > 0 || report.events > 0 { try storage.reclaimSpace(fullText: report.messages > 0) }
        return report
    }
}

/// What EraseProfile erased.
public struct ErasureReport: Sendable, Equatable {
    public var messagesErased = 0
    public var rooms = 0
    public var sessionsErased = 0

    public init() {}
}

extension ChatDomain {
    /// Erases a profile's personal data everywhere, in one transaction (`admin`): its messages and every message of
    /// the sessions it is the participant of become erased tombstones, its sessions are closed and emptied, its
    /// reactions, participations and read state are deleted, events carrying any of it lose their payload, and the
    /// stored responses of its calls are deleted. Rooms and threads it created keep their names and titles. One
    /// PROFILE_ERASED per room where it had data (actor: the caller).
    public func eraseProfile(_ tx: any ChatTransaction, _ actor: CallActor, profileId: String) throws -> ErasureReport {
        try actor.require(.admin)
        try Validate.identifier(profileId, "profile_id")
        let tenant = actor.tenantId
        let now = clock()
        let sessions = try tx.sessionsOfParticipant(tenantId: tenant, profileId: profileId)
        let messages = try tx.messagesToErase(tenantId: tenant, profileId: profileId)
        var perRoom: [String: Int64] = [:]
        for message in messages { perRoom[message.roomId, default: 0] += 1 }
        for room in try tx.roomsWithProfileRows(tenantId: tenant, profileId: profileId) where perRoom[room] == nil {
            perRoom[room] = 0
        }
        try tx.eraseProfileData(tenantId: tenant, profileId: profileId, messageIds: messages.map(\.id), sessions: sessions,
                                at: now)
        // Closed and stopped after the erasure, so their events (published as appended) carry nothing erased.
        for session in sessions where session.status == .active {
            guard let emptied = try tx.session(tenantId: tenant, id: session.id) else { continue }
            _ = try close(tx, emptied, now: now, actor: actor.profileId)
        }
        for session in sessions {
            for reply in try tx.streamingReplies(tenantId: tenant, sessionId: session.id) {
                _ = try finish(tx, reply, as: .stopped, now: now, actor: actor.profileId)
            }
        }
        for (room, count) in perRoom.sorted(by: { $0.key < $1.key }) {
            guard let r = try tx.room(tenantId: tenant, id: room) else { continue }
            try emit(tx, .profileErased, tenantId: tenant, roomId: r.id, actor: actor.profileId, subject: profileId, at: now,
                     entity: .profileErased(ProfileErased(profileId: profileId, messagesErased: count)))
        }
        var report = ErasureReport()
        report.messagesErased = messages.count
        report.rooms = perRoom.count
        report.sessionsErased = sessions.count
        try tx.appendAudit(AuditEntry(at: now, actor: actor.auditName, action: .profileErase, tenantId: tenant,
                                      subject: profileId,
                                      detail: AuditEntry.detail(["messages": report.messagesErased, "rooms": report.rooms,
                                                                 "sessions": report.sessionsErased])))
        return report
    }
}
