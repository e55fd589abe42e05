/// A profile's membership row in a room (SPEC §3). Unique per (tenant, room, profile).
public struct Participant: Sendable, Codable, Equatable {
    public var tenantId: String
    public var roomId: String
    public var profileId: String
    public var role: ParticipantRole
    public var status: ParticipantStatus
    public var onlineStatus: OnlineStatus
    /// The room_seq of the newest root message the profile has read (0 = none).
    public var lastReadSeq: Int64
    public var lastReadMessageId: String?
    public var lastSeenAt: Int64?
    public var joinedAt: Int64
    public var nickname: String
    public var isMuted: Bool
    public var isPinned: Bool

    public init(
        tenantId: String, roomId: String, profileId: String, role: ParticipantRole,
        status: ParticipantStatus = .active, onlineStatus: OnlineStatus = .offline, lastReadSeq: Int64 = 0,
        lastReadMessageId: String? = nil, lastSeenAt: Int64? = nil, joinedAt: Int64, nickname: String = "",
        isMuted: Bool = false, isPinned: Bool = false
    ) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.profileId = profileId
        self.role = role
        self.status = status
        self.onlineStatus = onlineStatus
        self.lastReadSeq = lastReadSeq
        self.lastReadMessageId = lastReadMessageId
        self.lastSeenAt = lastSeenAt
        self.joinedAt = joinedAt
        self.nickname = nickname
        self.isMuted = isMuted
        self.isPinned = isPinned
    }

    /// Whether this row is an active membership.
    public var isActive: Bool { status == .active }
}
