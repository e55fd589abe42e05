/// Reactions (SPEC §4.5).
extension ChatDomain {
    /// Adds the actor's emoji to a message; adding it again returns the existing reaction (no event).
    public func addReaction(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, emoji: String
    ) throws -> (reaction: Reaction, added: Bool) {
        try Validate.reference(messageId, "message_id")
        try Validate.emoji(emoji)
        let (message, room, me) = try memberMessage(tx, actor, messageId)
        try requireWriter(me)
        try requireNotArchived(room)
        guard message.deletedAt == nil else {
            throw ChatError.precondition(.messageDeleted, "a deleted message cannot get reactions")
        }
        if let existing = try tx.reaction(tenantId: actor.tenantId, messageId: messageId, profileId: actor.profileId,
                                          emoji: emoji) {
            return (existing, false)
        }
        if try tx.otherReactionEmojiCount(tenantId: actor.tenantId, messageId: messageId, emoji: emoji)
            >= limits.maxReactionEmojiPerMessage {
            throw ChatError.precondition(.reactionLimit,
                                         "a message carries at most \(limits.maxReactionEmojiPerMessage) distinct emoji",
                                         metadata: ["limit": String(limits.maxReactionEmojiPerMessage)])
        }
        let now = clock()
        let reaction = Reaction(tenantId: actor.tenantId, roomId: room.id, messageId: messageId,
                                profileId: actor.profileId, emoji: emoji, createdAt: now)
        try tx.insertReaction(reaction)
        try emit(tx, .reactionAdded, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: messageId, at: now, entity: .reaction(reaction))
        return (reaction, true)
    }

    /// Removes the actor's own emoji from a message; returns whether one was removed.
    public func removeReaction(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, emoji: String
    ) throws -> Bool {
        try Validate.reference(messageId, "message_id")
        try Validate.emoji(emoji)
        let (_, room, me) = try memberMessage(tx, actor, messageId)
        try requireWriter(me)
        try requireNotArchived(room)
        guard let existing = try tx.reaction(tenantId: actor.tenantId, messageId: messageId,
                                             profileId: actor.profileId, emoji: emoji) else { return false }
        _ = try tx.deleteReaction(tenantId: actor.tenantId, messageId: messageId, profileId: actor.profileId,
                                  emoji: emoji)
        try emit(tx, .reactionRemoved, tenantId: room.tenantId, roomId: room.id, actor: actor.profileId,
                 subject: messageId, at: clock(), entity: .reaction(existing))
        return true
    }

    /// A message's reactions aggregated per emoji.
    public func listReactions(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String
    ) throws -> [ReactionGroup] {
        try Validate.reference(messageId, "message_id")
        _ = try memberMessage(tx, actor, messageId)
        // Per emoji, first reacted first; at most `reactionProfileCap` profile ids each, counts exact.
        var groups: [ReactionGroup] = []
        var index: [String: Int] = [:]
        for (emoji, profile) in try tx.reactionPairs(tenantId: actor.tenantId, messageId: messageId) {
            let i = index[emoji] ?? {
                groups.append(ReactionGroup(emoji: emoji, count: 0, reactedByActor: false, profileIds: []))
                index[emoji] = groups.count - 1
                return groups.count - 1
            }()
            groups[i].count += 1
            if profile == actor.profileId { groups[i].reactedByActor = true }
            if groups[i].profileIds.count < limits.reactionProfileCap { groups[i].profileIds.append(profile) }
        }
        return groups
    }

    /// One emoji's group on a message with every profile that used it, a page at a time (by profile id).
    public func listReactionProfiles(
        _ tx: any ChatTransaction, _ actor: CallActor, messageId: String, emoji: String, cursor: String? = nil,
        limit: Int = 0
    ) throws -> Page<ReactionGroup> {
        try Validate.reference(messageId, "message_id")
        try Validate.emoji(emoji)
        let limit = try Validate.pageSize(limit, limits: limits)
        _ = try memberMessage(tx, actor, messageId)
        let scope = "\(actor.tenantId)/reactions:\(messageId):\(emoji)"
        let after = try PageCursor.decode(cursor, scope: scope)
        let (count, mine) = try tx.reactionCount(tenantId: actor.tenantId, messageId: messageId, emoji: emoji,
                                                 profileId: actor.profileId)
        guard count > 0 else { return Page(items: [], nextCursor: "", hasMore: false) }
        let profiles = try tx.reactionProfiles(tenantId: actor.tenantId, messageId: messageId, emoji: emoji,
                                               afterProfileId: after?.tiebreak, limit: limit + 1)
        let items = Array(profiles.prefix(limit))
        let group = ReactionGroup(emoji: emoji, count: count, reactedByActor: mine, profileIds: items)
        guard profiles.count > limit, let last = items.last else { return Page(items: [group], nextCursor: "", hasMore: false) }
        return Page(items: [group], nextCursor: PageCursor(scope: scope, position: 0, tiebreak: last).text, hasMore: true)
    }
}
