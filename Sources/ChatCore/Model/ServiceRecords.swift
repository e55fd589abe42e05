/// A service credential (SPEC §2): the tenants it may act in and its scopes. The secret is kept so
/// signatures can be verified; it is shown once, when the key is created.
public struct ApiKey: Sendable, Equatable {
    public var keyId: String
    public var secret: [UInt8]
    /// Tenants the key may act in; ignored when `allTenants`.
    public var tenants: [String]
    public var allTenants: Bool
    public var scopes: Set<Scope>
    public var createdAt: Int64
    public var revokedAt: Int64?

    public init(
        keyId: String, secret: [UInt8], tenants: [String], allTenants: Bool, scopes: Set<Scope>, createdAt: Int64,
        revokedAt: Int64? = nil
    ) {
        self.keyId = keyId
        self.secret = secret
        self.tenants = tenants
        self.allTenants = allTenants
        self.scopes = scopes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether the key may act in `tenantId`.
    public func grants(tenant tenantId: String) -> Bool { allTenants || tenants.contains(tenantId) }
}

/// One remembered call of the replay window (SPEC §7.4): the frame's hash, and for mutations the
/// encoded response that a byte-identical resend is answered with.
public struct ReplayEntry: Sendable, Equatable {
    public var keyId: String
    public var requestId: String
    /// SHA-256 of the request frame.
    public var frameHash: [UInt8]
    /// The encoded response of a mutation (nil for reads).
    public var response: [UInt8]?
    public var createdAt: Int64
    /// Whose call it answered (recorded, never read back: erasure deletes a profile's stored responses).
    public var tenantId: String?
    public var actorProfileId: String?

    public init(keyId: String, requestId: String, frameHash: [UInt8], response: [UInt8]?, createdAt: Int64,
                tenantId: String? = nil, actorProfileId: String? = nil) {
        self.keyId = keyId
        self.requestId = requestId
        self.frameHash = frameHash
        self.response = response
        self.createdAt = createdAt
        self.tenantId = tenantId
        self.actorProfileId = actorProfileId
    }
}

/// One line of the audit trail (append-only): who did what, when, through which key, and how it ended.
/// Never holds contents or secrets.
public struct AuditEntry: Sendable, Equatable {
    /// What was done.
    public enum Action: String, Sendable, CaseIterable {
        case keyCreate = "key.create"
        case keyRevoke = "key.revoke"
        case sessionsExpire = "sessions.expire"
        case retentionSet = "retention.set"
        case messagesPurge = "messages.purge"
        case exportCreate = "export.create"
        case profileErase = "profile.erase"
        /// An authenticated call to an admin operation refused (scope or tenant).
        case adminDenied = "admin.denied"
    }

    public enum Outcome: String, Sendable, CaseIterable {
        case ok, denied, failed
    }

    /// Assigned by the database, increasing (0 before it is stored).
    public var id: Int64
    public var at: Int64
    /// `key:KEY_ID` for a call, `cli:USER` for an smrt-chatd command, `job` for a periodic job.
    public var actor: String
    public var action: Action
    public var tenantId: String?
    /// What it acted on: a key id, an agent id, a method.
    public var subject: String?
    public var outcome: Outcome
    /// A compact JSON object with the particulars (counts, reasons).
    public var detail: String

    /// A detail object of counts and names (`nil`: JSON null), keys in the order given.
    public static func detail(_ members: KeyValuePairs<String, (any Sendable)?>) -> String {
        var text = JSONText(capacity: 96)
        text.beginObject()
        for (key, value) in members {
            text.key(key)
            switch value {
            case let n as Int: text.int(Int64(n))
            case let n as Int64: text.int(n)
            case let s as String: text.string(s)
            default: text.null()
            }
        }
        text.endObject()
        return text.text
    }

    public init(id: Int64 = 0, at: Int64, actor: String, action: Action, tenantId: String? = nil, subject: String? = nil,
                outcome: Outcome = .ok, detail: String = "{}") {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.tenantId = tenantId
        self.subject = subject
        self.outcome = outcome
        self.detail = detail
    }
}

/// Where a room's effective message retention comes from (SPEC §14).
public enum RetentionSource: String, Sendable, CaseIterable {
    case room, tenant, `default`
}

/// A room's (or, without a room, the tenant's) effective message retention in days (0: keep forever).
public struct RetentionPolicy: Sendable, Equatable {
    public var roomId: String?
    public var messageRetentionDays: Int64
    public var source: RetentionSource

    public init(roomId: String?, messageRetentionDays: Int64, source: RetentionSource) {
        self.roomId = roomId
        self.messageRetentionDays = messageRetentionDays
        self.source = source
    }
}

/// A room whose messages are kept `days` days.
public struct RoomRetention: Sendable, Equatable {
    public var tenantId: String
    public var roomId: String
    public var days: Int64

    public init(tenantId: String, roomId: String, days: Int64) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.days = days
    }
}

/// The payload of ROOM_MESSAGES_PURGED.
public struct MessagesPurged: Sendable, Codable, Equatable {
    public var count: Int64
    public var purgedBeforeMs: Int64

    public init(count: Int64, purgedBeforeMs: Int64) {
        self.count = count
        self.purgedBeforeMs = purgedBeforeMs
    }
}

/// The payload of PROFILE_ERASED.
public struct ProfileErased: Sendable, Codable, Equatable {
    public var profileId: String
    public var messagesErased: Int64

    public init(profileId: String, messagesErased: Int64) {
        self.profileId = profileId
        self.messagesErased = messagesErased
    }
}

/// What an export holds (SPEC §14).
public enum ExportScope: String, Sendable, CaseIterable {
    case tenant, room, profile
}

/// The entity types of an export, in the order its lines list them.
public enum ExportKind: String, Sendable, CaseIterable {
    case room, participant, thread, message, reaction
    case session = "agent_session"
    case toolCall = "tool_call"
    case turnState = "turn_outcome"
}

/// Which rows an export reads: a tenant's, one room's, or what one profile authored or took part in.
public struct ExportFilter: Sendable, Equatable {
    public var tenantId: String
    public var roomId: String?
    public var profileId: String?

    public init(tenantId: String, roomId: String? = nil, profileId: String? = nil) {
        self.tenantId = tenantId
        self.roomId = roomId
        self.profileId = profileId
    }
}

/// Where an export page of one entity type continues (exclusive): an id or (text, text) or (text, number) key.
public struct ExportPosition: Sendable, Equatable {
    public var text = ""
    public var text2 = ""
    public var number: Int64 = 0

    public init(text: String = "", text2: String = "", number: Int64 = 0) {
        self.text = text
        self.text2 = text2
        self.number = number
    }
}

/// One exported entity, with what is exported inside it.
public enum ExportRow: Sendable {
    case room(Room)
    case participant(Participant)
    case thread(ChatThread)
    /// A message with its earlier versions.
    case message(Message, [MessageVersion])
    case reaction(Reaction, position: Int64)
    case session(AgentSession)
    /// A call with the tool data of its call message and of its result message.
    case toolCall(ToolCallRecord, call: ToolCallData?, result: ToolCallData?)
    case turnState(TurnState)

    public var kind: ExportKind {
        switch self {
        case .room: .room
        case .participant: .participant
        case .thread: .thread
        case .message: .message
        case .reaction: .reaction
        case .session: .session
        case .toolCall: .toolCall
        case .turnState: .turnState
        }
    }

    /// Where the next page continues after this row.
    public var position: ExportPosition {
        switch self {
        case .room(let r): ExportPosition(text: r.id)
        case .participant(let p): ExportPosition(text: p.roomId, text2: p.profileId)
        case .thread(let t): ExportPosition(text: t.id)
        case .message(let m, _): ExportPosition(text: m.roomId, number: m.roomSeq)
        case .reaction(_, let position): ExportPosition(number: position)
        case .session(let s): ExportPosition(text: s.id)
        case .toolCall(let c, _, _): ExportPosition(text: c.sessionId, text2: c.callId)
        case .turnState(let s): ExportPosition(text: s.messageId)
        }
    }
}

/// A stored export: its NDJSON lines are kept in chunks until `expiresAt`.
public struct ExportRecord: Sendable, Equatable {
    public var exportId: String
    public var tenantId: String
    public var scope: ExportScope
    public var subject: String
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(exportId: String, tenantId: String, scope: ExportScope, subject: String, createdAt: Int64, expiresAt: Int64) {
        self.exportId = exportId
        self.tenantId = tenantId
        self.scope = scope
        self.subject = subject
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}
