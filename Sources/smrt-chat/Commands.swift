import ArgumentParser
import ChatAPI
import ChatClient
import Foundation
import SwiftProtobuf

// The readable subcommands: one per common task, a table or a short line for people, the response as JSON
// with --json. Everything else goes through `call`.

/// Text from an argument, or from stdin when the argument is `-`.
func textArgument(_ text: String) -> String {
    guard text == "-" else { return text }
    let data = FileHandle.standardInput.readDataToEndOfFile()
    var result = String(decoding: data, as: UTF8.self)
    if result.hasSuffix("\n") { result.removeLast() }
    return result
}

/// Page options of list subcommands.
struct PageOptions: ParsableArguments {
    @Option(help: "Page size (default 50, at most 200).") var limit: Int32?
    @Option(help: "Cursor of the next page, as printed after a page that has more.") var cursor: String?
}

// MARK: - call

/// Calls any operation with a proto3 JSON request and prints the response as JSON.
struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call any operation: the request as proto3 JSON in, the response as JSON out.",
        discussion: """
            The request is the argument, or stdin when it is '-' or absent (an empty request {} when stdin is a \
            terminal). Field names may be lowerCamel (roomId) or as in the .proto (room_id); enums are names \
            (ROOM_TYPE_PRIVATE); int64 values may be numbers or strings. 'smrt-chat call --list' lists the \
            operations.
            Example: smrt-chat call SendMessage '{"roomId": "…", "content": "hello"}'
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "List every operation with its request and response message types.") var list = false

    @Flag(help: "Print field names as in the .proto (snake_case) instead of lowerCamel.") var protoNames = false

    @Argument(help: "Operation name as in chat.proto, e.g. SendMessage (send-message also works).")
    var operation: String?

    @Argument(help: "The request as proto3 JSON ('-' or absent: read stdin).") var request: String?

    func validate() throws {
        if !list && operation == nil {
            throw ValidationError("give an operation name (smrt-chat call --list lists them)")
        }
    }

    func run() async throws {
        if list {
            Output.table(["OPERATION", "REQUEST", "RESPONSE", "KEY"], Operations.all.map {
                [$0.name, $0.requestType, $0.responseType, $0.needsKey ? "signed" : "none"]
            })
            return
        }
        guard let name = operation, let op = Operations.find(name) else {
            throw CLIError.usage("unknown operation '\(operation ?? "")' (smrt-chat call --list lists them)")
        }
        var json = request ?? "-"
        if json == "-" {
            json = isatty(STDIN_FILENO) != 0 ? "{}" : textArgument("-")
        }
        if json.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { json = "{}" }
        let client = try global.client(signed: op.needsKey)
        defer { client.close() }
        var encoding = JSONEncodingOptions()
        encoding.preserveProtoFieldNames = protoNames
        Output.line(try await op.invoke(client, json, JSONDecodingOptions(), encoding))
    }
}

// MARK: - server

/// Health: liveness, no credentials.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the server answers (no credentials).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try global.client(signed: false)
        defer { client.close() }
        let reply = try await client.health()
        if global.json { return try Output.json(reply) }
        Output.line("\(reply.status)  server time \(Output.time(reply.serverTimeUnixMs))")
    }
}

/// ServerInfo: version, limits and configuration.
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the server's version, limits and configuration (no credentials).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try global.client(signed: false)
        defer { client.close() }
        let r = try await client.serverInfo()
        if global.json { return try Output.json(r) }
        Output.fields([
            ("version", r.version), ("api", r.api), ("event payload mode", r.eventPayloadMode),
            ("events endpoint", r.eventsEndpoint), ("max frame bytes", "\(r.maxFrameBytes)"),
            ("signature window ms", "\(r.signatureWindowMs)"), ("event retention s", "\(r.eventRetentionSeconds)"),
            ("max page size", "\(r.maxPageSize)"), ("server time", Output.time(r.serverTimeUnixMs)),
        ])
    }
}

// MARK: - rooms

/// Readable details of a room.
func showRoom(_ room: Smrt_Chat_V1_Room, participant: Smrt_Chat_V1_Participant? = nil, unread: Int64? = nil) {
    var pairs: [(String, String)] = [
        ("id", room.id), ("name", room.name), ("type", Output.name(room.roomType)),
        ("status", Output.name(room.status)),
    ]
    if !room.topic.isEmpty { pairs.append(("topic", room.topic)) }
    if !room.description_p.isEmpty { pairs.append(("description", Output.truncate(room.description_p, 100))) }
    if room.maxParticipants > 0 { pairs.append(("max participants", "\(room.maxParticipants)")) }
    pairs.append(("created by", room.createdByProfileID))
    pairs.append(("created", Output.time(room.createdAt)))
    if room.hasLastMessageAt { pairs.append(("last message", Output.time(room.lastMessageAt))) }
    pairs.append(("last event seq", "\(room.lastEventSeq)"))
    if let participant {
        pairs.append(("your role", "\(Output.name(participant.role)) (\(Output.name(participant.status)))"))
    }
    if let unread { pairs.append(("unread", "\(unread)")) }
    Output.fields(pairs)
}

/// CreateRoom.
struct CreateRoom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-room", abstract: "Create a room; you become its owner.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Display name.") var name: String
    @Flag(name: .customLong("private"), help: "Private room (default public).") var isPrivate = false
    @Option(help: "Topic.") var topic: String?
    @Option(name: .customLong("description"), help: "Description.") var about: String?
    @Option(help: "Participant limit (0 = unlimited).") var maxParticipants: Int32?

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.createRoom(.with {
            $0.name = name
            $0.roomType = isPrivate ? .private : .public
            if let topic { $0.topic = topic }
            if let about { $0.description_p = about }
            if let maxParticipants { $0.maxParticipants = maxParticipants }
        })
        if global.json { return try Output.json(reply) }
        Output.line("created room \(reply.room.id)  \(reply.room.name) (\(Output.name(reply.room.roomType)))")
    }
}

/// ListMyRooms.
struct Rooms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List your rooms, newest activity first.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listMyRooms(.with {
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["ID", "NAME", "TYPE", "ROLE", "UNREAD", "LAST ACTIVITY"], reply.rooms.map { s in
            [s.room.id, Output.truncate(s.room.name, 40), Output.name(s.room.roomType), Output.name(s.participant.role),
             "\(s.unreadCount)", Output.time(s.room.hasLastMessageAt ? s.room.lastMessageAt : s.room.updatedAt)]
        })
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

/// GetRoom.
struct Room: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a room, your role in it and your unread count.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The room id.") var roomId: String

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.getRoom(.with { $0.roomID = roomId })
        if global.json { return try Output.json(reply) }
        showRoom(reply.room, participant: reply.hasParticipant ? reply.participant : nil, unread: reply.unreadCount)
    }
}

/// JoinRoom.
struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join a public room.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The room id.") var roomId: String

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.joinRoom(.with { $0.roomID = roomId })
        if global.json { return try Output.json(reply) }
        Output.line("joined \(reply.participant.roomID) as \(Output.name(reply.participant.role))")
    }
}

/// Parses `owner`, `admin`, `member` or `viewer`.
func parseRole(_ text: String) throws -> Smrt_Chat_V1_ParticipantRole {
    switch text.lowercased() {
    case "owner": return .owner
    case "admin": return .admin
    case "member": return .member
    case "viewer": return .viewer
    default: throw CLIError.usage("unknown role '\(text)': owner, admin, member or viewer")
    }
}

/// AddParticipant.
struct AddMember: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-member", abstract: "Add a profile to a room (admins).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The room id.") var roomId: String
    @Argument(help: "The profile to add.") var profileId: String
    @Option(help: "owner, admin, member or viewer (default member).") var role: String?

    func run() async throws {
        let role = try self.role.map(parseRole)
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.addParticipant(.with {
            $0.roomID = roomId
            $0.profileID = profileId
            if let role { $0.role = role }
        })
        if global.json { return try Output.json(reply) }
        let p = reply.participant
        Output.line("\(p.profileID) is \(Output.name(p.role)) of \(p.roomID) (\(Output.name(p.status)))")
    }
}

/// ListParticipants.
struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the participants of a room.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions
    @Argument(help: "The room id.") var roomId: String

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listParticipants(.with {
            $0.roomID = roomId
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["PROFILE", "ROLE", "STATUS", "ONLINE", "JOINED"], reply.participants.map { p in
            [p.profileID, Output.name(p.role), Output.name(p.status), Output.name(p.onlineStatus),
             Output.time(p.joinedAt)]
        })
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

// MARK: - messages

/// Table rows of messages: time, id, sender, content.
func messageRows(_ messages: [Smrt_Chat_V1_Message], room: Bool = false) -> [[String]] {
    messages.map { m in
        var content = m.hasDeletedAt ? "(deleted)" : Output.truncate(m.content, 70)
        if m.hasEditedAt && !m.hasDeletedAt { content += " (edited)" }
        if !m.threadID.isEmpty { content = "[thread \(Output.short(m.threadID))] " + content }
        return [Output.time(m.createdAt)] + (room ? [m.roomID] : []) + [m.id, m.senderProfileID, content]
    }
}

/// SendMessage.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a message to a room.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The room id.") var roomId: String
    @Argument(help: "The text ('-': read stdin).") var text: String
    @Option(help: "Post into this thread.") var thread: String?
    @Option(help: "Reply to this message.") var replyTo: String?
    @Option(help: "Idempotency key (client_request_id): sending again with it returns the same message.")
    var key: String?

    func run() async throws {
        let content = textArgument(text)
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.sendMessage(.with {
            $0.roomID = roomId
            $0.content = content
            if let thread { $0.threadID = thread }
            if let replyTo { $0.replyToMessageID = replyTo }
            if let key { $0.clientRequestID = key }
        })
        if global.json { return try Output.json(reply) }
        Output.line("sent \(reply.message.id) (seq \(reply.message.roomSeq))" + (reply.replayed ? " (replayed)" : ""))
    }
}

/// ListRoomMessages.
struct Messages: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a room's latest messages (oldest at the top; --json: the page as returned, newest first).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions
    @Argument(help: "The room id.") var roomId: String
    @Flag(help: "Include messages posted in threads.") var threadReplies = false
    @Flag(help: "Include tombstones of deleted messages.") var deleted = false

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listRoomMessages(.with {
            $0.roomID = roomId
            $0.includeThreadReplies = threadReplies
            $0.includeDeleted = deleted
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["TIME", "ID", "SENDER", "CONTENT"], messageRows(reply.messages.reversed()))
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

/// EditMessage.
struct Edit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Edit your message's text (its history is kept).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message id.") var messageId: String
    @Argument(help: "The new text ('-': read stdin).") var text: String

    func run() async throws {
        let content = textArgument(text)
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.editMessage(.with {
            $0.messageID = messageId
            $0.content = content
        })
        if global.json { return try Output.json(reply) }
        Output.line("edited \(reply.message.id) (version \(reply.message.version))")
    }
}

/// DeleteMessage.
struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a message (yours, or any as an admin).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message id.") var messageId: String

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.deleteMessage(.with { $0.messageID = messageId })
        if global.json { return try Output.json(reply) }
        Output.line("deleted \(reply.message.id)")
    }
}

/// SearchMessages.
struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Full-text search over your rooms, newest first.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions
    @Argument(help: "Words that must all occur.") var query: String
    @Option(help: "Only this room.") var room: String?
    @Option(help: "Only this sender.") var sender: String?

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.searchMessages(.with {
            $0.query = query
            if let room { $0.roomID = room }
            if let sender { $0.senderProfileID = sender }
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["TIME", "ROOM", "ID", "SENDER", "CONTENT"], messageRows(reply.messages, room: true))
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

/// AddReaction, or RemoveReaction with --remove.
struct React: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "React to a message with an emoji (--remove: take it back).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The message id.") var messageId: String
    @Argument(help: "The emoji (1-64 bytes, no whitespace).") var emoji: String
    @Flag(help: "Remove your reaction instead.") var remove = false

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        if remove {
            let reply = try await client.removeReaction(.with {
                $0.messageID = messageId
                $0.emoji = emoji
            })
            if global.json { return try Output.json(reply) }
            Output.line(reply.removed ? "removed \(emoji) from \(messageId)" : "no \(emoji) of yours on \(messageId)")
        } else {
            let reply = try await client.addReaction(.with {
                $0.messageID = messageId
                $0.emoji = emoji
            })
            if global.json { return try Output.json(reply) }
            Output.line(reply.added ? "reacted \(emoji) to \(messageId)" : "already reacted \(emoji) to \(messageId)")
        }
    }
}

/// GetOrCreateDM between the actor and a profile.
struct DM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dm", abstract: "Open (or create) the direct-message room between you and a profile.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The other profile (your own: notes to self).") var profileId: String

    func run() async throws {
        let actor = try global.requireActor()
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.getOrCreateDM(.with {
            $0.profileA = actor
            $0.profileB = profileId
        })
        if global.json { return try Output.json(reply) }
        Output.line("dm room \(reply.room.id)  (\(actor) ↔ \(profileId))")
    }
}

// MARK: - threads, unread, sessions, events

/// ListRoomThreads.
struct Threads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a room's threads, newest activity first.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions
    @Argument(help: "The room id.") var roomId: String
    @Flag(help: "Only threads that are not resolved.") var unresolved = false

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listRoomThreads(.with {
            $0.roomID = roomId
            $0.onlyUnresolved = unresolved
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["ID", "TITLE", "ROOT MESSAGE", "STATE", "MESSAGES", "LAST MESSAGE"], reply.threads.map { t in
            [t.id, Output.truncate(t.title, 40), t.rootMessageID, t.isResolved ? "resolved" : "open",
             "\(t.messageCount)", t.hasLastMessageAt ? Output.time(t.lastMessageAt) : "-"]
        })
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

/// GetUnreadCounts.
struct Unread: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show your unread counts per room and thread.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.getUnreadCounts()
        if global.json { return try Output.json(reply) }
        Output.table(["ROOM", "UNREAD"], reply.rooms.map { [$0.roomID, "\($0.unread)"] })
        if !reply.threads.isEmpty {
            Output.line()
            Output.table(["ROOM", "THREAD", "UNREAD"], reply.threads.map { [$0.roomID, $0.threadID, "\($0.unread)"] })
        }
        Output.line("total: \(reply.total)")
    }
}

/// ListAgentSessions.
struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List your agent sessions, newest first.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions
    @Option(help: "Only this agent.") var agent: String?
    @Flag(help: "Only active sessions.") var active = false

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listAgentSessions(.with {
            if let agent { $0.agentID = agent }
            $0.activeOnly = active
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["ID", "AGENT", "STATUS", "ROOM", "MESSAGES", "TOKENS", "CREATED"], reply.sessions.map { s in
            let status = s.isActive || s.inactiveReason == .unspecified
                ? Output.name(s.status) : "\(Output.name(s.status)) (\(Output.name(s.inactiveReason)))"
            return [s.id, s.agentID, status, s.roomID, "\(s.messageCount)", "\(s.totalTokensUsed)",
                    Output.time(s.createdAt)]
        })
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

/// ListRoomEvents.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a room's durable events after a seq (see 'tail' to follow them live).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var color: ColorOptions
    @Argument(help: "The room id.") var roomId: String
    @Option(help: "Events with a seq greater than this (default 0: from the start).") var afterSeq: Int64 = 0
    @Option(help: "Page size (default 50, at most 200).") var limit: Int32?

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listRoomEvents(.with {
            $0.roomID = roomId
            $0.afterSeq = afterSeq
            if let limit { $0.limit = limit }
        })
        if global.json { return try Output.json(reply) }
        let format = EventFormat(color: color.enabled)
        for event in reply.events { Output.line(format.line(event)) }
        if reply.hasMore_p, let last = reply.events.last {
            Output.line("(more: --after-seq \(last.seq); head seq \(reply.headSeq))")
        }
    }
}

// MARK: - Tool approvals (SPEC §13.2)

/// ListPendingToolCalls.
struct Pending: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tool calls waiting for your approval in your agent sessions, oldest first.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var page: PageOptions
    @Option(help: "Only this session.") var session: String?

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let reply = try await client.listPendingToolCalls(.with {
            if let session { $0.sessionID = session }
            if let limit = page.limit { $0.limit = limit }
            if let cursor = page.cursor { $0.cursor = cursor }
        })
        if global.json { return try Output.json(reply) }
        Output.table(["CALL", "TOOL", "SESSION", "MESSAGE", "REQUESTED"], reply.approvals.map {
            [$0.callID, $0.toolName, $0.sessionID, $0.messageID, Output.time($0.requestedAt)]
        })
        Output.more(reply.hasMore_p, reply.nextCursor)
    }
}

/// DecideToolCall: `approve` and `reject`.
struct Decide: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The call id (as 'pending' lists it).") var callId: String
    @Option(help: "The session (default: the one session whose pending calls include CALL_ID).") var session: String?
    @Option(help: "Why (kept with the decision).") var reason: String?

    func run(_ decision: Smrt_Chat_V1_ToolDecision) async throws {
        let client = try global.client()
        defer { client.close() }
        var sessionId = session
        if sessionId == nil {
            // Find the call among the pending ones; a call id is unique only within its session.
            var matches: [String] = []
            var cursor = ""
            repeat {
                let page = try await client.listPendingToolCalls(.with { $0.cursor = cursor; $0.limit = 200 })
                matches += page.approvals.filter { $0.callID == callId }.map(\.sessionID)
                cursor = page.hasMore_p ? page.nextCursor : ""
            } while !cursor.isEmpty
            guard matches.count == 1 else {
                throw (matches.isEmpty ? CLIError.failure : CLIError.usage)(matches.isEmpty
                    ? "no pending tool call '\(callId)' in your sessions (give --session for a decided one)"
                    : "tool call '\(callId)' is pending in \(matches.count) sessions: give --session")
            }
            sessionId = matches[0]
        }
        let reply = try await client.decideToolCall(.with {
            $0.sessionID = sessionId ?? ""
            $0.callID = callId
            $0.decision = decision
            if let reason { $0.reason = reason }
        })
        if global.json { return try Output.json(reply) }
        let a = reply.approval
        Output.line("\(a.callID) \(a.toolName): \(Output.name(a.approvalState)) (session \(a.sessionID))")
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Approve a pending tool call: the agent may then run it once.")
    @OptionGroup var decide: Decide
    func run() async throws { try await decide.run(.approve) }
}

struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reject a pending tool call: it never runs.")
    @OptionGroup var decide: Decide
    func run() async throws { try await decide.run(.reject) }
}

// MARK: - Export (SPEC §14)

/// ExportTenant / ExportRoom / ExportProfile, then every ExportPage, into a file (or stdout).
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the tenant, a room or a profile's data as NDJSON (an admin key).",
        discussion: "The format is in docs/export-format.md; 'smrt-chatd import' recreates it in an empty database.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Export this room (default: the whole tenant).") var room: String?
    @Option(help: "Export what this profile authored or took part in.") var profile: String?
    @Option(name: .shortAndLong, help: "Write to this file (default: stdout).") var output: String?

    func validate() throws {
        if room != nil && profile != nil { throw ValidationError("give --room or --profile, not both") }
    }

    func run() async throws {
        let client = try global.client()
        defer { client.close() }
        let exportId: String
        if let room {
            exportId = try await client.exportRoom(.with { $0.roomID = room }).exportID
        } else if let profile {
            exportId = try await client.exportProfile(.with { $0.profileID = profile }).exportID
        } else {
            exportId = try await client.exportTenant(.init()).exportID
        }
        var sink: FileHandle = .standardOutput
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: output) else {
                throw CLIError.failure("cannot write \(output)")
            }
            sink = handle
        }
        defer { if output != nil { try? sink.close() } }
        var cursor = ""
        var bytes = 0
        repeat {
            let page = try await client.exportPage(.with { $0.exportID = exportId; $0.cursor = cursor })
            let data = Data(page.data.utf8)
            sink.write(data)
            bytes += data.count
            cursor = page.hasMore_p ? page.nextCursor : ""
        } while !cursor.isEmpty
        if let output { Output.error("exported \(bytes) bytes to \(output) (export \(exportId))") }
    }
}
