/// Configurable limits of the domain (SPEC §8). Defaults are the spec's.
public struct ChatLimits: Sendable, Equatable {
    public var maxContentBytes = 64 * 1024
    public var maxNameBytes = 256
    public var maxDescriptionBytes = 4 * 1024
    public var maxUrlBytes = 2 * 1024
    public var maxMetadataBytes = 16 * 1024
    public var maxContextBytes = 64 * 1024
    public var maxAttachments = 32
    public var maxAllowedTools = 256
    public var maxToolNameBytes = 128
    public var maxSystemPromptBytes = 64 * 1024
    public var maxToolPayloadBytes = 64 * 1024
    public var defaultPageSize = 50
    public var maxPageSize = 200
    /// The longest duration a call may give (ttl_seconds, older_than_seconds): 100 years, so that
    /// `now + seconds × 1000` can never overflow.
    public var maxDurationSeconds: Int64 = 3_153_600_000
    /// The most tokens one agent reply may report; a session's total can then not overflow for ~9e9 replies,
    /// and a reply that would make it overflow is refused.
    public var maxTokensPerReply: Int64 = 1_000_000_000
    /// Distinct emoji one message may carry (a new emoji beyond it: FAILED_PRECONDITION REACTION_LIMIT).
    public var maxReactionEmojiPerMessage = 64
    /// The largest reply a page may grow to: a page ends early (`has_more`) rather than pass it. Clients
    /// accept replies of at least twice this.
    public var maxReplyBytes = 4 << 20
    /// Profile ids listed per emoji in ListReactions.
    public var reactionProfileCap = 50
    /// Unread counts report this when there are more (a client shows "999+"), and look at most twice this many
    /// messages past the read cursor: counting visits the messages, so without a bound one member's backlog of sends
    /// (or its own, never read) made GetRoom, ListMyRooms and GetUnreadCounts slower without bound.
    public var unreadCountCap: Int64 = 1_000
    /// Whether MarkRead appends PARTICIPANT_READ events.
    public var emitReadEvents = false
    /// The longest text of one AppendReplyDelta (SPEC §13.1).
    public var maxDeltaBytes = 16 * 1024
    /// The longest reason given with a tool call decision.
    public var maxDecisionReasonBytes = 1024
    /// A pending tool call approval expires this long after it was requested (SPEC §13.2).
    public var approvalTtlSeconds: Int64 = 86_400
    /// A streaming reply without a delta (or a stopped one not finished) this long is finished by the job.
    public var streamIdleSeconds: Int64 = 60
    /// How long an export's lines are kept for ExportPage (SPEC §14).
    public var exportTtlSeconds: Int64 = 3_600
    /// Stored deltas of a finished reply are dropped this long after it finished.
    public var deltaRetentionSeconds: Int64 = 3_600

    public init() {}
}
