/// One profile's emoji on one message. Unique per (tenant, message, profile, emoji).
public struct Reaction: Sendable, Codable, Equatable {
    public var tenantId: String
    public var roomId: String
    public var messageId: String
    public var profileId: String
    public var emoji: String
    public var createdAt: Int64

    public init(tenantId: String, roomId: String, messageId: String, profileId: String, emoji: String, createdAt: Int64) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.messageId = messageId
        self.profileId = profileId
        self.emoji = emoji
        self.createdAt = createdAt
    }
}

/// Reactions of a message aggregated per emoji.
public struct ReactionGroup: Sendable, Codable, Equatable {
    public var emoji: String
    public var count: Int64
    public var reactedByActor: Bool
    /// The reacting profiles, oldest first, capped.
    public var profileIds: [String]

    public init(emoji: String, count: Int64, reactedByActor: Bool, profileIds: [String]) {
        self.emoji = emoji
        self.count = count
        self.reactedByActor = reactedByActor
        self.profileIds = profileIds
    }
}
