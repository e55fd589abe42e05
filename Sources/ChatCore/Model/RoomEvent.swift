/// The changed entity carried by a room event (`full` payload mode).
public enum EventEntity: Sendable, Codable, Equatable {
    case room(Room)
    case participant(Participant)
    case message(Message)
    case reaction(Reaction)
    case thread(ChatThread)
    case session(AgentSession)
    case toolCallDenied(ToolCallDenied)
    case toolCallApproval(ToolCallApproval)
    case messagesPurged(MessagesPurged)
    case profileErased(ProfileErased)
}

/// One entry of the durable, gap-free per-room event log (SPEC §6, §12.4).
public struct RoomEvent: Sendable, Codable, Equatable {
    public var tenantId: String
    public var roomId: String
    /// Per-room position: starts at 1, no gaps.
    public var seq: Int64
    /// Global monotonic position across the database.
    public var eventId: Int64
    public var kind: EventKind
    /// The profile that acted; empty for the server's own jobs.
    public var actorProfileId: String
    /// Id of the changed thing (for a reaction: its message id; for a denied tool call: the session id).
    public var subjectId: String
    public var createdAt: Int64
    public var entity: EventEntity?

    public init(
        tenantId: String, roomId: String, seq: Int64, eventId: Int64, kind: EventKind, actorProfileId: String,
        subjectId: String, createdAt: Int64, entity: EventEntity?
    ) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.seq = seq
        self.eventId = eventId
        self.kind = kind
        self.actorProfileId = actorProfileId
        self.subjectId = subjectId
        self.createdAt = createdAt
        self.entity = entity
    }

    /// The pub/sub topic of this event: `smrt.chat.v1/<tenant>/<room>/`.
    public var topic: String { "smrt.chat.v1/\(tenantId)/\(roomId)/" }
}
