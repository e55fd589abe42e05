/// A thread of messages inside a room (SPEC §3).
public struct ChatThread: Sendable, Codable, Equatable {
    public var id: String
    public var tenantId: String
    public var roomId: String
    public var rootMessageId: String?
    public var title: String
    public var startedByProfileId: String
    public var isResolved: Bool
    public var resolvedAt: Int64?
    public var messageCount: Int64
    /// Distinct senders of messages in the thread.
    public var participantCount: Int64
    public var lastMessageAt: Int64?
    public var createdAt: Int64

    public init(
        id: String, tenantId: String, roomId: String, rootMessageId: String?, title: String,
        startedByProfileId: String, isResolved: Bool = false, resolvedAt: Int64? = nil, messageCount: Int64 = 0,
        participantCount: Int64 = 0, lastMessageAt: Int64? = nil, createdAt: Int64
    ) {
        self.id = id
        self.tenantId = tenantId
        self.roomId = roomId
        self.rootMessageId = rootMessageId
        self.title = title
        self.startedByProfileId = startedByProfileId
        self.isResolved = isResolved
        self.resolvedAt = resolvedAt
        self.messageCount = messageCount
        self.participantCount = participantCount
        self.lastMessageAt = lastMessageAt
        self.createdAt = createdAt
    }

    /// Time of the newest activity, used to order thread lists.
    public var activityAt: Int64 { lastMessageAt ?? createdAt }
}
