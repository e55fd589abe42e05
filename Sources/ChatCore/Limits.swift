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
    /// Profile ids listed per emoji in ListReactions.
    public var reactionProfileCap = 50
    /// Whether MarkRead appends PARTICIPANT_READ events.
    public var emitReadEvents = false

    public init() {}
}
