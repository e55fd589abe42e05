/// Direct messages (SPEC §4.6, §9.1).
extension ChatDomain {
    /// The DM room of two profiles (the actor must be one of them), created on first use with the
    /// canonical id, both enrolled as members (a `left` one re-activated, a `banned` one not).
    /// An archived DM is returned as it is.
    public func getOrCreateDM(
        _ tx: any ChatTransaction, _ actor: CallActor, profileA: String, profileB: String
    ) throws -> Room {
        try Validate.identifier(profileA, "profile_a")
        try Validate.identifier(profileB, "profile_b")
        guard actor.profileId == profileA || actor.profileId == profileB else {
            throw ChatError.denied(.notDMParticipant, "the actor must be one of the two profiles")
        }
        let tenant = actor.tenantId
        let id = Identifiers.dmRoomId(tenantId: tenant, profileA, profileB)
        let now = clock()
        var room = try tx.room(tenantId: tenant, id: id)
        if room == nil {
            let new = Room(id: id, tenantId: tenant, name: "", roomType: .dm, maxParticipants: 2,
                           createdByProfileId: actor.profileId, createdAt: now, updatedAt: now)
            if try tx.insertRoomIfAbsent(new) {
                try emit(tx, .roomCreated, tenantId: tenant, roomId: id, actor: actor.profileId, subject: id, at: now,
                         entity: .room(new))
            }
            room = try tx.room(tenantId: tenant, id: id)
        }
        guard let room, room.status != .deleted else { throw ChatError.notFound("room") }
        guard room.status == .active else { return room }
        for profile in Set([profileA, profileB]).sorted() {
            let existing = try tx.participant(tenantId: tenant, roomId: id, profileId: profile)
            if let existing, existing.isActive || existing.status == .banned { continue }
            var p = existing ?? Participant(tenantId: tenant, roomId: id, profileId: profile, role: .member, joinedAt: now)
            p.status = .active
            p.joinedAt = now
            try tx.upsertParticipant(p)
            try emit(tx, .participantJoined, tenantId: tenant, roomId: id, actor: actor.profileId, subject: profile,
                     at: now, entity: .participant(p))
        }
        return try tx.room(tenantId: tenant, id: id) ?? room
    }
}
