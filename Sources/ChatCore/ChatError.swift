/// Status codes, numbered like gRPC's canonical codes (SPEC §7.2).
public enum StatusCode: Int, Sendable, Codable, CaseIterable {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16
}

/// Machine-readable reasons of failures (SPEC §4–§5, §12).
public enum ErrorReason: String, Sendable, Codable, CaseIterable {
    case validation = "VALIDATION"
    case notFound = "NOT_FOUND"
    case notMember = "NOT_MEMBER"
    case viewerReadOnly = "VIEWER_READ_ONLY"
    case notRoomAdmin = "NOT_ROOM_ADMIN"
    case notRoomOwner = "NOT_ROOM_OWNER"
    case notMessageSender = "NOT_MESSAGE_SENDER"
    case notSessionParticipant = "NOT_SESSION_PARTICIPANT"
    case notSessionOwner = "NOT_SESSION_OWNER"
    case notDMParticipant = "NOT_DM_PARTICIPANT"
    case toolNotAllowed = "TOOL_NOT_ALLOWED"
    case toolNameMissing = "TOOL_NAME_MISSING"
    case roomArchived = "ROOM_ARCHIVED"
    case roomType = "ROOM_TYPE"
    case roomFull = "ROOM_FULL"
    case participantBanned = "PARTICIPANT_BANNED"
    case lastOwner = "LAST_OWNER"
    case sessionInactive = "SESSION_INACTIVE"
    case foreignReference = "FOREIGN_REFERENCE"
    case unknownToolCall = "UNKNOWN_TOOL_CALL"
    case toolCallAlreadyAnswered = "TOOL_CALL_ALREADY_ANSWERED"
    case clientRequestConflict = "CLIENT_REQUEST_CONFLICT"
    case duplicateCallId = "DUPLICATE_CALL_ID"
    case versionMismatch = "VERSION_MISMATCH"
    case agentProfileInvalid = "AGENT_PROFILE_INVALID"
    case messageDeleted = "MESSAGE_DELETED"
    case reactionLimit = "REACTION_LIMIT"
    case overloaded = "OVERLOADED"
    case resyncRequired = "RESYNC_REQUIRED"
    case deltaConflict = "DELTA_CONFLICT"
    case deltaOutOfOrder = "DELTA_OUT_OF_ORDER"
    case replyFinished = "REPLY_FINISHED"
    case replyStopped = "REPLY_STOPPED"
    case replyStreaming = "REPLY_STREAMING"
    case notStreamed = "NOT_STREAMED"
    case sessionBusy = "SESSION_BUSY"
    case toolCallAlreadyDecided = "TOOL_CALL_ALREADY_DECIDED"
    case toolCallExpired = "TOOL_CALL_EXPIRED"
    case toolCallNoApprovalNeeded = "TOOL_CALL_NO_APPROVAL_NEEDED"
    case toolCallAlreadyClaimed = "TOOL_CALL_ALREADY_CLAIMED"
    case toolCallNotApproved = "TOOL_CALL_NOT_APPROVED"
    case toolCallNotClaimed = "TOOL_CALL_NOT_CLAIMED"
    case scopeMissing = "SCOPE_MISSING"
    case tenantNotGranted = "TENANT_NOT_GRANTED"
    case missingCredentials = "MISSING_CREDENTIALS"
    case invalidKey = "INVALID_KEY"
    case badSignature = "BAD_SIGNATURE"
    case staleTimestamp = "STALE_TIMESTAMP"
    case requestIdReused = "REQUEST_ID_REUSED"
    case rateLimited = "RATE_LIMITED"
    case deadlineExceeded = "DEADLINE_EXCEEDED"
    case unimplemented = "UNIMPLEMENTED"
    case `internal` = "INTERNAL"
}

/// A failure with a wire meaning: code, reason, a human message naming the field or rule, and metadata.
public struct ChatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: StatusCode
    public var reason: ErrorReason
    public var message: String
    public var metadata: [String: String]

    public init(_ code: StatusCode, _ reason: ErrorReason, _ message: String, metadata: [String: String] = [:]) {
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = metadata
    }

    public var description: String { "\(code) \(reason.rawValue): \(message)" }

    /// INVALID_ARGUMENT VALIDATION naming `field`.
    public static func validation(_ field: String, _ message: String) -> ChatError {
        ChatError(.invalidArgument, .validation, "\(field): \(message)", metadata: ["field": field])
    }

    /// NOT_FOUND for a resource kind; hidden and missing things get identical replies.
    public static func notFound(_ resource: String) -> ChatError {
        ChatError(.notFound, .notFound, "\(resource) not found", metadata: ["resource": resource])
    }

    /// PERMISSION_DENIED with a reason.
    public static func denied(_ reason: ErrorReason, _ message: String) -> ChatError {
        ChatError(.permissionDenied, reason, message)
    }

    /// FAILED_PRECONDITION with a reason.
    public static func precondition(_ reason: ErrorReason, _ message: String, metadata: [String: String] = [:]) -> ChatError {
        ChatError(.failedPrecondition, reason, message, metadata: metadata)
    }

    /// PERMISSION_DENIED SCOPE_MISSING naming the first accepted scope.
    public static func scopeMissing(_ scope: Scope) -> ChatError {
        ChatError(.permissionDenied, .scopeMissing, "the key lacks the '\(scope.rawValue)' scope",
                  metadata: ["scope": scope.rawValue])
    }

    /// INTERNAL; the detail stays in the server log.
    public static let `internal` = ChatError(.internal, .internal, "internal error")
}
