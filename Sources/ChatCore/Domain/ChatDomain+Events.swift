/// A page of the durable event log and the log's current head.
public struct EventPage: Sendable, Equatable {
    public var events: [RoomEvent]
    /// The room's last seq (room log) or the tenant's newest event id (tenant log).
    public var head: Int64
    public var hasMore: Bool
}

/// Reading and trimming the durable event log (SPEC §6).
extension ChatDomain {
    /// A room's events after `afterSeq`, in order: for `events` keys (any room of the tenant, deleted
    /// ones included) or active members. OUT_OF_RANGE RESYNC_REQUIRED when events after `afterSeq`
    /// were purged by retention.
    public func listRoomEvents(
        _ tx: any ChatTransaction, _ actor: CallActor, roomId: String, afterSeq: Int64, limit: Int = 0
    ) throws -> EventPage {
        try actor.require(.events, .chat)
        try Validate.reference(roomId, "room_id")
        guard afterSeq >= 0 else { throw ChatError.validation("after_seq", "must not be negative") }
        let limit = try Validate.pageSize(limit, limits: limits)
        let room: Room
        if actor.has(.events) {
            guard let r = try tx.room(tenantId: actor.tenantId, id: roomId) else { throw ChatError.notFound("room") }
            room = r
        } else {
            room = try memberRoom(tx, actor, roomId).0
        }
        if afterSeq < room.lastEventSeq {
            let oldest = try tx.oldestRetainedSeq(tenantId: actor.tenantId, roomId: roomId)
            if oldest == nil || oldest! > afterSeq + 1 {
                throw ChatError(.outOfRange, .resyncRequired,
                                "events after seq \(afterSeq) were purged by retention: reload the room's state",
                                metadata: ["oldest_seq": String(oldest ?? room.lastEventSeq + 1)])
            }
        }
        let rows = try tx.roomEvents(tenantId: actor.tenantId, roomId: roomId, afterSeq: afterSeq, limit: limit + 1)
        let fit = limits.fitting(rows, limit: limit)
        return EventPage(events: Array(rows.prefix(fit)), head: room.lastEventSeq, hasMore: rows.count > fit)
    }

    /// The tenant's events after `afterEventId`, in order (`events` keys).
    public func listTenantEvents(
        _ tx: any ChatTransaction, _ actor: CallActor, afterEventId: Int64, limit: Int = 0
    ) throws -> EventPage {
        try actor.require(.events)
        guard afterEventId >= 0 else { throw ChatError.validation("after_event_id", "must not be negative") }
        let limit = try Validate.pageSize(limit, limits: limits)
        let purged = try tx.purgedThroughEventId(tenantId: actor.tenantId)
        if afterEventId < purged {
            throw ChatError(.outOfRange, .resyncRequired,
                            "events after \(afterEventId) were purged by retention: reload the tenant's state",
                            metadata: ["purged_through_event_id": String(purged)])
        }
        let rows = try tx.tenantEvents(tenantId: actor.tenantId, afterEventId: afterEventId, limit: limit + 1)
        let fit = limits.fitting(rows, limit: limit)
        return EventPage(events: Array(rows.prefix(fit)), head: try tx.headEventId(tenantId: actor.tenantId),
                         hasMore: rows.count > fit)
    }

    /// Deletes events older than `retentionSeconds` from every tenant's log; returns how many.
    public func purgeEvents(_ tx: any ChatTransaction, retentionSeconds: Int64) throws -> Int {
        guard retentionSeconds > 0 else { throw ChatError.validation("retention_seconds", "must be positive") }
        return try tx.purgeEvents(createdBefore: clock() - retentionSeconds * 1000)
    }
}
