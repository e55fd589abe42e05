/// A chat room (SPEC §3).
public struct Room: Sendable, Codable, Equatable {
    public var id: String
    public var tenantId: String
    public var name: String
    public var description: String
    public var topic: String
    public var avatarUrl: String
    public var roomType: RoomType
    public var status: RoomStatus
    /// 0 means unlimited; dm and agent rooms hold 2.
    public var maxParticipants: Int
    /// A JSON object, as text.
    public var metadata: String
    public var createdByProfileId: String
    public var createdAt: Int64
    public var updatedAt: Int64
    public var lastMessageAt: Int64?
    /// The seq of the room's newest event (0 before the first).
    public var lastEventSeq: Int64

    public init(
        id: String, tenantId: String, name: String, description: String = "", topic: String = "",
        avatarUrl: String = "", roomType: RoomType, status: RoomStatus = .active, maxParticipants: Int = 0,
        metadata: String = "{}", createdByProfileId: String, createdAt: Int64, updatedAt: Int64,
        lastMessageAt: Int64? = nil, lastEventSeq: Int64 = 0
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.description = description
        self.topic = topic
        self.avatarUrl = avatarUrl
        self.roomType = roomType
        self.status = status
        self.maxParticipants = maxParticipants
        self.metadata = metadata
        self.createdByProfileId = createdByProfileId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastMessageAt = lastMessageAt
        self.lastEventSeq = lastEventSeq
    }

    /// Time of the newest activity, used to order room lists.
    public var activityAt: Int64 { lastMessageAt ?? createdAt }
}

/// A room as seen by one actor: their participant row (if any) and unread count.
public struct RoomView: Sendable, Equatable {
    public var room: Room
    public var participant: Participant?
    public var unreadCount: Int64
    public var lastMessage: Message?
}
