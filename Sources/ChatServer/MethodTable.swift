import ChatAPI
import ChatCore
import Foundation
import SwiftProtobuf

/// A decoded request bound to its handler, ready to run inside a transaction.
struct PreparedCall: Sendable {
    /// The serialized response, or a refusal that commits what the operation wrote (SPEC §12.5).
    let run: @Sendable (ChatDomain, any ChatTransaction, CallActor) throws -> Committing<Data>
    /// The room the request names, which the operation reads first with the caller's participant row.
    var roomId: String?
}

/// One operation of the service: how to decode its request, which scopes it accepts, whether it
/// mutates (mutations run in the write path and their responses are kept for replays).
struct MethodSpec: Sendable {
    /// Short name, e.g. "SendMessage".
    let name: String
    let mutates: Bool
    /// Accepted scopes (any one suffices); SCOPE_MISSING names the first. Empty: no credentials needed.
    let scopes: [Scope]
    /// Decodes the payload; INVALID_ARGUMENT when it is not this method's request.
    let prepare: @Sendable (Data) throws -> PreparedCall

    /// A page of a list or a search (not the event log, which event followers wait on), or GetUnreadCounts (a count for
    /// every room and thread of the caller's: its cost grows with them): run at a lower priority than everything else
    /// (`RequestHandler.bulkReads`).
    var isBulkRead: Bool {
        !mutates && ((name.hasPrefix("List") || name.hasPrefix("Search")) && !name.hasSuffix("Events")
                     || name == "GetUnreadCounts")
    }

    /// A read of one entity and what hangs on it (GetRoom, CheckToolCall): short, answered by the worker that received it.
    var isPointRead: Bool { !mutates && (name.hasPrefix("Get") || name.hasPrefix("Check")) && !isBulkRead }

    /// Reads the full-text index, which must first hold every committed message (`ChatStorage.awaitSearchIndex`).
    var searchesMessages: Bool { name == "SearchMessages" }
}

private typealias Tx = any ChatTransaction

private func spec<Req: SwiftProtobuf.Message, Res: SwiftProtobuf.Message>(
    _ name: String, mutates: Bool, _ scopes: [Scope] = [.chat], room: (@Sendable (Req) -> String)? = nil,
    _ body: @escaping @Sendable (ChatDomain, Tx, CallActor, Req) throws -> Committing<Res>
) -> MethodSpec {
    MethodSpec(name: name, mutates: mutates, scopes: scopes) { payload in
        let request: Req
        do {
            request = try Req(serializedBytes: payload)
        } catch {
            throw ChatError.validation("payload", "is not a \(Req.protoMessageName)")
        }
        // Fields this server does not know mean the payload is another message or a newer schema.
        guard request.unknownFields.data.isEmpty else {
            throw ChatError.validation("payload", "has fields unknown to \(Req.protoMessageName)")
        }
        return PreparedCall(run: { domain, tx, actor in try body(domain, tx, actor, request).map { try $0.serializedData() } },
                            roomId: room.map { $0(request) })
    }
}

private func write<Req: SwiftProtobuf.Message, Res: SwiftProtobuf.Message>(
    _ name: String, _ type: Req.Type, _ scopes: [Scope] = [.chat], room: (@Sendable (Req) -> String)? = nil,
    _ body: @escaping @Sendable (ChatDomain, Tx, CallActor, Req) throws -> Res
) -> MethodSpec { spec(name, mutates: true, scopes, room: room) { .value(try body($0, $1, $2, $3)) } }

/// A mutation whose refusal still commits (the tool gate's audit event).
private func committing<Req: SwiftProtobuf.Message, Res: SwiftProtobuf.Message>(
    _ name: String, _ type: Req.Type, _ scopes: [Scope],
    _ body: @escaping @Sendable (ChatDomain, Tx, CallActor, Req) throws -> Committing<Res>
) -> MethodSpec { spec(name, mutates: true, scopes, body) }

private func read<Req: SwiftProtobuf.Message, Res: SwiftProtobuf.Message>(
    _ name: String, _ type: Req.Type, _ scopes: [Scope] = [.chat], room: (@Sendable (Req) -> String)? = nil,
    _ body: @escaping @Sendable (ChatDomain, Tx, CallActor, Req) throws -> Res
) -> MethodSpec { spec(name, mutates: false, scopes, room: room) { .value(try body($0, $1, $2, $3)) } }

private func opt(_ s: String) -> String? { s.isEmpty ? nil : s }

private func pageFields<T>(_ page: Page<T>) -> (String, Bool) { (page.nextCursor, page.hasMore) }

/// Every operation of `ChatService` (chat.proto), keyed by its full method name.
enum MethodTable {
    /// The table; `includeEntities` false serves event pages in the `ids` payload mode; with `historyCache`,
    /// ListRoomMessages pages are served through it.
    static func build(includeEntities: Bool, historyCache: HistoryCache? = nil) -> [String: MethodSpec] {
        var table: [String: MethodSpec] = [:]
        for method in rooms + participants + messages + threads + reactions + sessions + streams + lifecycle
            + events(includeEntities: includeEntities) {
            table[RequestSigning.methodName(method.name)] = method
        }
        let history = RequestSigning.methodName("ListRoomMessages")
        if let historyCache, let plain = table[history] { table[history] = historyCache.wrap(plain) }
        return table
    }

    static let rooms: [MethodSpec] = [
        write("CreateRoom", Smrt_Chat_V1_CreateRoomRequest.self) { d, tx, a, r in
            let room = try d.createRoom(
                tx, a, name: r.name, roomType: try domainEnum(r.roomType, "room_type"),
                description: r.hasDescription_p ? r.description_p : nil, topic: r.hasTopic ? r.topic : nil,
                avatarUrl: r.hasAvatarURL ? r.avatarURL : nil, metadata: r.hasMetadata ? r.metadata : nil,
                maxParticipants: r.hasMaxParticipants ? Int(r.maxParticipants) : nil)
            return Smrt_Chat_V1_CreateRoomResponse.with { $0.room = room.wire }
        },
        read("GetRoom", Smrt_Chat_V1_GetRoomRequest.self) { d, tx, a, r in
            let view = try d.getRoom(tx, a, roomId: r.roomID)
            return Smrt_Chat_V1_GetRoomResponse.with {
                $0.room = view.room.wire
                if let p = view.participant { $0.participant = p.wire }
                $0.unreadCount = view.unreadCount
            }
        },
        read("ListMyRooms", Smrt_Chat_V1_ListMyRoomsRequest.self) { d, tx, a, r in
            let page = try d.listMyRooms(
                tx, a, type: r.hasRoomType ? try domainEnum(r.roomType, "room_type") : nil,
                status: r.hasStatus ? try domainEnum(r.status, "status") : nil, cursor: r.cursor, limit: Int(r.limit))
            return Smrt_Chat_V1_ListMyRoomsResponse.with {
                $0.rooms = page.items.map { view in
                    Smrt_Chat_V1_RoomSummary.with {
                        $0.room = view.room.wire
                        if let p = view.participant { $0.participant = p.wire }
                        $0.unreadCount = view.unreadCount
                        if let m = view.lastMessage { $0.lastMessage = m.wire }
                    }
                }
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("UpdateRoom", Smrt_Chat_V1_UpdateRoomRequest.self) { d, tx, a, r in
            let room = try d.updateRoom(
                tx, a, roomId: r.roomID, name: r.hasName ? r.name : nil,
                description: r.hasDescription_p ? r.description_p : nil, topic: r.hasTopic ? r.topic : nil,
                avatarUrl: r.hasAvatarURL ? r.avatarURL : nil, metadata: r.hasMetadata ? r.metadata : nil)
            return Smrt_Chat_V1_UpdateRoomResponse.with { $0.room = room.wire }
        },
        write("ArchiveRoom", Smrt_Chat_V1_ArchiveRoomRequest.self) { d, tx, a, r in
            let room = try d.archiveRoom(tx, a, roomId: r.roomID)
            return Smrt_Chat_V1_ArchiveRoomResponse.with { $0.room = room.wire }
        },
        write("UnarchiveRoom", Smrt_Chat_V1_UnarchiveRoomRequest.self) { d, tx, a, r in
            let room = try d.unarchiveRoom(tx, a, roomId: r.roomID)
            return Smrt_Chat_V1_UnarchiveRoomResponse.with { $0.room = room.wire }
        },
        write("DeleteRoom", Smrt_Chat_V1_DeleteRoomRequest.self) { d, tx, a, r in
            let room = try d.deleteRoom(tx, a, roomId: r.roomID)
            return Smrt_Chat_V1_DeleteRoomResponse.with { $0.room = room.wire }
        },
        read("SearchRooms", Smrt_Chat_V1_SearchRoomsRequest.self) { d, tx, a, r in
            let page = try d.searchRooms(tx, a, query: r.query, cursor: r.cursor, limit: Int(r.limit))
            return Smrt_Chat_V1_SearchRoomsResponse.with {
                $0.rooms = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("JoinRoom", Smrt_Chat_V1_JoinRoomRequest.self) { d, tx, a, r in
            let p = try d.joinRoom(tx, a, roomId: r.roomID)
            return Smrt_Chat_V1_JoinRoomResponse.with { $0.participant = p.wire }
        },
    ]

    static let participants: [MethodSpec] = [
        write("AddParticipant", Smrt_Chat_V1_AddParticipantRequest.self) { d, tx, a, r in
            let p = try d.addParticipant(tx, a, roomId: r.roomID, profileId: r.profileID,
                                         role: r.hasRole ? try optionalDomainEnum(r.role, "role") : nil)
            return Smrt_Chat_V1_AddParticipantResponse.with { $0.participant = p.wire }
        },
        write("RemoveParticipant", Smrt_Chat_V1_RemoveParticipantRequest.self) { d, tx, a, r in
            let p = try d.removeParticipant(tx, a, roomId: r.roomID, profileId: r.profileID)
            return Smrt_Chat_V1_RemoveParticipantResponse.with { $0.participant = p.wire }
        },
        write("SetParticipantRole", Smrt_Chat_V1_SetParticipantRoleRequest.self) { d, tx, a, r in
            let p = try d.setParticipantRole(tx, a, roomId: r.roomID, profileId: r.profileID,
                                             role: try domainEnum(r.role, "role"))
            return Smrt_Chat_V1_SetParticipantRoleResponse.with { $0.participant = p.wire }
        },
        write("BanParticipant", Smrt_Chat_V1_BanParticipantRequest.self) { d, tx, a, r in
            let p = try d.banParticipant(tx, a, roomId: r.roomID, profileId: r.profileID)
            return Smrt_Chat_V1_BanParticipantResponse.with { $0.participant = p.wire }
        },
        write("UnbanParticipant", Smrt_Chat_V1_UnbanParticipantRequest.self) { d, tx, a, r in
            let p = try d.unbanParticipant(tx, a, roomId: r.roomID, profileId: r.profileID)
            return Smrt_Chat_V1_UnbanParticipantResponse.with { $0.participant = p.wire }
        },
        read("ListParticipants", Smrt_Chat_V1_ListParticipantsRequest.self) { d, tx, a, r in
            let page = try d.listParticipants(tx, a, roomId: r.roomID,
                                              status: r.hasStatus ? try domainEnum(r.status, "status") : nil,
                                              cursor: r.cursor, limit: Int(r.limit))
            return Smrt_Chat_V1_ListParticipantsResponse.with {
                $0.participants = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("SetOnlineStatus", Smrt_Chat_V1_SetOnlineStatusRequest.self) { d, tx, a, r in
            let n = try d.setOnlineStatus(tx, a, status: try domainEnum(r.onlineStatus, "online_status"))
            return Smrt_Chat_V1_SetOnlineStatusResponse.with { $0.updatedRooms = Int32(clamping: n) }
        },
        write("MarkRead", Smrt_Chat_V1_MarkReadRequest.self) { d, tx, a, r in
            let n = try d.markRead(tx, a, roomId: r.roomID, messageId: r.messageID, threadId: r.threadID)
            return Smrt_Chat_V1_MarkReadResponse.with { $0.unreadCount = n }
        },
        read("GetUnreadCounts", Smrt_Chat_V1_GetUnreadCountsRequest.self) { d, tx, a, _ in
            let counts = try d.getUnreadCounts(tx, a)
            return Smrt_Chat_V1_GetUnreadCountsResponse.with {
                $0.rooms = counts.rooms.map { c in .with { $0.roomID = c.roomId; $0.unread = c.unread } }
                $0.threads = counts.threads.map { c in
                    .with { $0.roomID = c.roomId; $0.threadID = c.threadId; $0.unread = c.unread }
                }
                $0.total = counts.total
            }
        },
    ]

    static let messages: [MethodSpec] = [
        write("SendMessage", Smrt_Chat_V1_SendMessageRequest.self, room: { $0.roomID }) { d, tx, a, r in
            let sent = try d.sendMessage(
                tx, a, roomId: r.roomID, content: r.content,
                messageType: try optionalDomainEnum(r.messageType, "message_type") ?? .text,
                threadId: r.threadID, replyToMessageId: r.replyToMessageID, agentSessionId: r.agentSessionID,
                attachments: r.attachments.map(Attachment.init(wire:)), metadata: r.hasMetadata ? r.metadata : nil,
                clientRequestId: r.clientRequestID)
            return Smrt_Chat_V1_SendMessageResponse.with { $0.message = sent.message.wire; $0.replayed = sent.replayed }
        },
        read("GetMessage", Smrt_Chat_V1_GetMessageRequest.self) { d, tx, a, r in
            let m = try d.getMessage(tx, a, messageId: r.messageID)
            return Smrt_Chat_V1_GetMessageResponse.with { $0.message = m.wire }
        },
        read("ListRoomMessages", Smrt_Chat_V1_ListRoomMessagesRequest.self, room: { $0.roomID }) { d, tx, a, r in
            let anchors = [r.beforeMessageID, r.afterMessageID, r.aroundMessageID].filter { !$0.isEmpty }
            guard anchors.count <= 1 else {
                throw ChatError.validation("before_message_id", "give at most one of before, after or around")
            }
            let anchor: MessageAnchor? = !r.beforeMessageID.isEmpty ? .before(r.beforeMessageID)
                : !r.afterMessageID.isEmpty ? .after(r.afterMessageID)
                : !r.aroundMessageID.isEmpty ? .around(r.aroundMessageID) : nil
            let page = try d.listRoomMessages(tx, a, roomId: r.roomID, cursor: r.cursor, anchor: anchor,
                                              limit: Int(r.limit), includeThreadReplies: r.includeThreadReplies,
                                              includeDeleted: r.includeDeleted)
            return Smrt_Chat_V1_ListRoomMessagesResponse.with {
                $0.messages = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("EditMessage", Smrt_Chat_V1_EditMessageRequest.self, [.chat, .agent]) { d, tx, a, r in
            let m = try d.editMessage(tx, a, messageId: r.messageID, content: r.content)
            return Smrt_Chat_V1_EditMessageResponse.with { $0.message = m.wire }
        },
        read("GetMessageHistory", Smrt_Chat_V1_GetMessageHistoryRequest.self) { d, tx, a, r in
            let versions = try d.getMessageHistory(tx, a, messageId: r.messageID)
            return Smrt_Chat_V1_GetMessageHistoryResponse.with { $0.versions = versions.map(\.wire) }
        },
        write("DeleteMessage", Smrt_Chat_V1_DeleteMessageRequest.self, [.chat, .agent]) { d, tx, a, r in
            let m = try d.deleteMessage(tx, a, messageId: r.messageID)
            return Smrt_Chat_V1_DeleteMessageResponse.with { $0.message = m.wire }
        },
        read("SearchMessages", Smrt_Chat_V1_SearchMessagesRequest.self) { d, tx, a, r in
            let page = try d.searchMessages(
                tx, a, query: r.query, roomId: r.roomID, senderProfileId: r.senderProfileID,
                messageType: r.hasMessageType ? try domainEnum(r.messageType, "message_type") : nil,
                role: r.hasRole ? try domainEnum(r.role, "role") : nil, since: r.hasSince ? r.since : nil,
                until: r.hasUntil ? r.until : nil, hasAttachments: r.hasHasAttachments_p ? r.hasAttachments_p : nil,
                cursor: r.cursor, limit: Int(r.limit))
            return Smrt_Chat_V1_SearchMessagesResponse.with {
                $0.messages = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
    ]

    static let threads: [MethodSpec] = [
        write("StartThread", Smrt_Chat_V1_StartThreadRequest.self) { d, tx, a, r in
            let t = try d.startThread(tx, a, roomId: r.roomID, rootMessageId: r.rootMessageID,
                                      title: r.hasTitle ? r.title : nil)
            return Smrt_Chat_V1_StartThreadResponse.with { $0.thread = t.wire }
        },
        read("GetThread", Smrt_Chat_V1_GetThreadRequest.self) { d, tx, a, r in
            let t = try d.getThread(tx, a, threadId: r.threadID)
            return Smrt_Chat_V1_GetThreadResponse.with { $0.thread = t.wire }
        },
        read("ListRoomThreads", Smrt_Chat_V1_ListRoomThreadsRequest.self) { d, tx, a, r in
            let page = try d.listRoomThreads(tx, a, roomId: r.roomID, onlyUnresolved: r.onlyUnresolved,
                                             cursor: r.cursor, limit: Int(r.limit))
            return Smrt_Chat_V1_ListRoomThreadsResponse.with {
                $0.threads = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        read("ListThreadMessages", Smrt_Chat_V1_ListThreadMessagesRequest.self) { d, tx, a, r in
            let page = try d.listThreadMessages(tx, a, threadId: r.threadID, cursor: r.cursor, limit: Int(r.limit),
                                                latest: r.latest, includeDeleted: r.includeDeleted)
            return Smrt_Chat_V1_ListThreadMessagesResponse.with {
                $0.messages = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        read("ListReplies", Smrt_Chat_V1_ListRepliesRequest.self) { d, tx, a, r in
            let page = try d.listReplies(tx, a, threadId: r.threadID, messageId: r.messageID, cursor: r.cursor,
                                         limit: Int(r.limit), includeDeleted: r.includeDeleted)
            return Smrt_Chat_V1_ListRepliesResponse.with {
                $0.messages = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("ResolveThread", Smrt_Chat_V1_ResolveThreadRequest.self) { d, tx, a, r in
            let t = try d.resolveThread(tx, a, threadId: r.threadID)
            return Smrt_Chat_V1_ResolveThreadResponse.with { $0.thread = t.wire }
        },
        write("ReopenThread", Smrt_Chat_V1_ReopenThreadRequest.self) { d, tx, a, r in
            let t = try d.reopenThread(tx, a, threadId: r.threadID)
            return Smrt_Chat_V1_ReopenThreadResponse.with { $0.thread = t.wire }
        },
    ]

    static let reactions: [MethodSpec] = [
        write("AddReaction", Smrt_Chat_V1_AddReactionRequest.self) { d, tx, a, r in
            let result = try d.addReaction(tx, a, messageId: r.messageID, emoji: r.emoji)
            return Smrt_Chat_V1_AddReactionResponse.with { $0.reaction = result.reaction.wire; $0.added = result.added }
        },
        write("RemoveReaction", Smrt_Chat_V1_RemoveReactionRequest.self) { d, tx, a, r in
            let removed = try d.removeReaction(tx, a, messageId: r.messageID, emoji: r.emoji)
            return Smrt_Chat_V1_RemoveReactionResponse.with { $0.removed = removed }
        },
        read("ListReactions", Smrt_Chat_V1_ListReactionsRequest.self) { d, tx, a, r in
            guard !r.emoji.isEmpty else {
                let groups = try d.listReactions(tx, a, messageId: r.messageID)
                return Smrt_Chat_V1_ListReactionsResponse.with { $0.reactions = groups.map(\.wire) }
            }
            let page = try d.listReactionProfiles(tx, a, messageId: r.messageID, emoji: r.emoji, cursor: r.cursor,
                                                  limit: Int(r.limit))
            return Smrt_Chat_V1_ListReactionsResponse.with {
                $0.reactions = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("GetOrCreateDM", Smrt_Chat_V1_GetOrCreateDMRequest.self) { d, tx, a, r in
            let room = try d.getOrCreateDM(tx, a, profileA: r.profileA, profileB: r.profileB)
            return Smrt_Chat_V1_GetOrCreateDMResponse.with { $0.room = room.wire }
        },
    ]

    static let sessions: [MethodSpec] = [
        write("CreateAgentSession", Smrt_Chat_V1_CreateAgentSessionRequest.self) { d, tx, a, r in
            let c = try d.createAgentSession(
                tx, a, agentId: r.agentID, agentProfileId: r.agentProfileID, allowedTools: r.allowedTools,
                systemPrompt: r.hasSystemPrompt ? r.systemPrompt : nil, maxTokens: r.maxTokens,
                maxMessages: r.maxMessages, ttlSeconds: r.ttlSeconds, sessionKey: r.sessionKey,
                approvalTools: r.approvalTools, busyPolicy: try optionalDomainEnum(r.busyPolicy, "busy_policy") ?? .enqueue)
            return Smrt_Chat_V1_CreateAgentSessionResponse.with {
                $0.session = c.session.wire
                $0.room = c.room.wire
                $0.reused = c.reused
            }
        },
        read("GetAgentSession", Smrt_Chat_V1_GetAgentSessionRequest.self, [.chat, .agent]) { d, tx, a, r in
            let s = try d.getAgentSession(tx, a, sessionId: r.sessionID)
            return Smrt_Chat_V1_GetAgentSessionResponse.with { $0.session = s.wire }
        },
        read("ListAgentSessions", Smrt_Chat_V1_ListAgentSessionsRequest.self) { d, tx, a, r in
            let page = try d.listAgentSessions(tx, a, agentId: r.agentID, activeOnly: r.activeOnly, cursor: r.cursor,
                                               limit: Int(r.limit))
            return Smrt_Chat_V1_ListAgentSessionsResponse.with {
                $0.sessions = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
        write("SendAgentUserMessage", Smrt_Chat_V1_SendAgentUserMessageRequest.self) { d, tx, a, r in
            let sent = try d.sendAgentUserMessage(tx, a, sessionId: r.sessionID, content: r.content,
                                                  clientRequestId: r.clientRequestID,
                                                  attachments: r.attachments.map(Attachment.init(wire:)),
                                                  metadata: r.hasMetadata ? r.metadata : nil)
            return Smrt_Chat_V1_SendAgentUserMessageResponse.with {
                $0.message = sent.message.wire
                $0.replayed = sent.replayed
            }
        },
        committing("SendAgentReply", Smrt_Chat_V1_SendAgentReplyRequest.self, [.agent]) { d, tx, a, r in
            let tool = r.hasToolCall ? ToolCallInput(
                callId: r.toolCall.callID, name: r.toolCall.name,
                arguments: r.toolCall.hasArguments ? r.toolCall.arguments : nil,
                result: r.toolCall.hasResult ? r.toolCall.result : nil, isError: r.toolCall.isError) : nil
            return try d.sendAgentReply(
                tx, a, sessionId: r.sessionID, content: r.content,
                kind: try optionalDomainEnum(r.kind, "kind") ?? .assistant,
                messageType: r.hasMessageType ? try optionalDomainEnum(r.messageType, "message_type") : nil,
                toolCall: tool, threadId: r.threadID, replyToMessageId: r.replyToMessageID, tokensUsed: r.tokensUsed,
                clientRequestId: r.clientRequestID, metadata: r.hasMetadata ? r.metadata : nil
            ).map { sent in
                Smrt_Chat_V1_SendAgentReplyResponse.with { $0.message = sent.message.wire; $0.replayed = sent.replayed }
            }
        },
        read("CheckToolCall", Smrt_Chat_V1_CheckToolCallRequest.self, [.chat, .agent]) { d, tx, a, r in
            let check = try d.checkToolCall(tx, a, sessionId: r.sessionID, toolName: r.toolName)
            return Smrt_Chat_V1_CheckToolCallResponse.with {
                $0.allowed = check.allowed
                $0.matchedEntry = check.matchedEntry ?? ""
                $0.reason = check.reason?.rawValue ?? ""
                $0.requiresApproval = check.requiresApproval
            }
        },
        write("UpdateAgentSessionConfig", Smrt_Chat_V1_UpdateAgentSessionConfigRequest.self) { d, tx, a, r in
            let s = try d.updateAgentSessionConfig(
                tx, a, sessionId: r.sessionID, allowedTools: r.hasAllowedTools ? r.allowedTools.tools : nil,
                systemPrompt: r.hasSystemPrompt ? r.systemPrompt : nil, maxTokens: r.hasMaxTokens ? r.maxTokens : nil,
                maxMessages: r.hasMaxMessages ? r.maxMessages : nil, ttlSeconds: r.hasTtlSeconds ? r.ttlSeconds : nil,
                approvalTools: r.hasApprovalTools ? r.approvalTools.tools : nil,
                busyPolicy: r.hasBusyPolicy ? try optionalDomainEnum(r.busyPolicy, "busy_policy") ?? .enqueue : nil)
            return Smrt_Chat_V1_UpdateAgentSessionConfigResponse.with { $0.session = s.wire }
        },
        read("GetSessionContext", Smrt_Chat_V1_GetSessionContextRequest.self, [.chat, .agent]) { d, tx, a, r in
            let c = try d.getSessionContext(tx, a, sessionId: r.sessionID)
            return Smrt_Chat_V1_GetSessionContextResponse.with { $0.sessionContext = c.context; $0.contextVersion = c.version }
        },
        write("UpdateSessionContext", Smrt_Chat_V1_UpdateSessionContextRequest.self, [.chat, .agent]) { d, tx, a, r in
            let c = try d.updateSessionContext(tx, a, sessionId: r.sessionID,
                                               mergePatch: r.hasMergePatch ? r.mergePatch : nil,
                                               replace: r.hasReplace ? r.replace : nil,
                                               expectedVersion: r.hasExpectedVersion ? r.expectedVersion : nil)
            return Smrt_Chat_V1_UpdateSessionContextResponse.with {
                $0.sessionContext = c.context
                $0.contextVersion = c.version
                $0.sessionID = r.sessionID
            }
        },
        write("CloseAgentSession", Smrt_Chat_V1_CloseAgentSessionRequest.self, [.chat, .agent]) { d, tx, a, r in
            let s = try d.closeAgentSession(tx, a, sessionId: r.sessionID)
            return Smrt_Chat_V1_CloseAgentSessionResponse.with { $0.session = s.wire }
        },
        write("ExpireStaleSessions", Smrt_Chat_V1_ExpireStaleSessionsRequest.self, [.admin]) { d, tx, a, r in
            let n = try d.expireStaleSessions(tx, a, olderThanSeconds: r.olderThanSeconds, agentId: r.agentID)
            return Smrt_Chat_V1_ExpireStaleSessionsResponse.with { $0.expiredCount = Int32(clamping: n) }
        },
        write("RecordTurnOutcome", Smrt_Chat_V1_RecordTurnOutcomeRequest.self, [.chat, .agent]) { d, tx, a, r in
            let applied = try d.recordTurnOutcome(tx, a, messageId: r.messageID,
                                                  outcome: try domainEnum(r.outcome, "outcome"),
                                                  resumedFrom: r.resumedFrom, continuationId: r.continuationID)
            return Smrt_Chat_V1_RecordTurnOutcomeResponse.with { $0.applied = applied }
        },
    ]

    static let lifecycle: [MethodSpec] = [
        write("SetRetentionPolicy", Smrt_Chat_V1_SetRetentionPolicyRequest.self, [.admin, .chat]) { d, tx, a, r in
            let policy = try d.setRetentionPolicy(tx, a, roomId: r.roomID,
                                                  days: r.hasMessageRetentionDays ? Int64(r.messageRetentionDays) : nil)
            return Smrt_Chat_V1_SetRetentionPolicyResponse.with { $0.policy = policy.wire }
        },
        read("GetRetentionPolicy", Smrt_Chat_V1_GetRetentionPolicyRequest.self, [.chat, .admin]) { d, tx, a, r in
            let policy = try d.getRetentionPolicy(tx, a, roomId: r.roomID)
            return Smrt_Chat_V1_GetRetentionPolicyResponse.with { $0.policy = policy.wire }
        },
        write("ExportTenant", Smrt_Chat_V1_ExportTenantRequest.self, [.admin]) { d, tx, a, r in
            let now = d.clock()
            let started = try d.startExport(tx, a, scope: .tenant, subject: nil, header: ExportLines.header,
                                            line: { try ExportLines.line($0, now: now) })
            return Smrt_Chat_V1_ExportTenantResponse.with { $0.exportID = started.exportId; $0.expiresAt = started.expiresAt }
        },
        write("ExportRoom", Smrt_Chat_V1_ExportRoomRequest.self, [.admin]) { d, tx, a, r in
            let now = d.clock()
            let started = try d.startExport(tx, a, scope: .room, subject: r.roomID, header: ExportLines.header,
                                            line: { try ExportLines.line($0, now: now) })
            return Smrt_Chat_V1_ExportRoomResponse.with { $0.exportID = started.exportId; $0.expiresAt = started.expiresAt }
        },
        write("ExportProfile", Smrt_Chat_V1_ExportProfileRequest.self, [.admin]) { d, tx, a, r in
            let now = d.clock()
            let started = try d.startExport(tx, a, scope: .profile, subject: r.profileID, header: ExportLines.header,
                                            line: { try ExportLines.line($0, now: now) })
            return Smrt_Chat_V1_ExportProfileResponse.with { $0.exportID = started.exportId; $0.expiresAt = started.expiresAt }
        },
        read("ExportPage", Smrt_Chat_V1_ExportPageRequest.self, [.admin]) { d, tx, a, r in
            let chunk = try d.exportPage(tx, a, exportId: r.exportID, cursor: r.cursor)
            return Smrt_Chat_V1_ExportPageResponse.with {
                $0.data = chunk.data
                $0.nextCursor = chunk.nextCursor
                $0.hasMore_p = chunk.hasMore
            }
        },
        write("EraseProfile", Smrt_Chat_V1_EraseProfileRequest.self, [.admin]) { d, tx, a, r in
            let report = try d.eraseProfile(tx, a, profileId: r.profileID)
            return Smrt_Chat_V1_EraseProfileResponse.with {
                $0.messagesErased = Int64(report.messagesErased)
                $0.rooms = Int32(clamping: report.rooms)
                $0.sessionsErased = Int32(clamping: report.sessionsErased)
            }
        },
    ]

    static let streams: [MethodSpec] = [
        write("BeginAgentReply", Smrt_Chat_V1_BeginAgentReplyRequest.self, [.agent]) { d, tx, a, r in
            let sent = try d.beginAgentReply(tx, a, sessionId: r.sessionID, threadId: r.threadID,
                                             replyToMessageId: r.replyToMessageID, clientRequestId: r.clientRequestID)
            return Smrt_Chat_V1_BeginAgentReplyResponse.with { $0.message = sent.message.wire; $0.replayed = sent.replayed }
        },
        write("AppendReplyDelta", Smrt_Chat_V1_AppendReplyDeltaRequest.self, [.agent]) { d, tx, a, r in
            let appended = try d.appendReplyDelta(tx, a, messageId: r.messageID, index: r.index, text: r.text)
            return Smrt_Chat_V1_AppendReplyDeltaResponse.with {
                $0.delta = appended.delta.wire
                $0.delta.text = ""  // the caller has it; the kept reply must not (erasure)
                $0.deltaCount = appended.deltaCount
            }
        },
        write("FinishAgentReply", Smrt_Chat_V1_FinishAgentReplyRequest.self, [.agent]) { d, tx, a, r in
            let message = try d.finishAgentReply(tx, a, messageId: r.messageID,
                                                 status: try domainEnum(r.status, "status"), tokensUsed: r.tokensUsed)
            return Smrt_Chat_V1_FinishAgentReplyResponse.with { $0.message = message.wire }
        },
        write("StopReply", Smrt_Chat_V1_StopReplyRequest.self) { d, tx, a, r in
            let message = try d.stopReply(tx, a, messageId: r.messageID)
            return Smrt_Chat_V1_StopReplyResponse.with { $0.message = message.wire }
        },
        read("ListReplyDeltas", Smrt_Chat_V1_ListReplyDeltasRequest.self, [.chat, .events, .agent]) { d, tx, a, r in
            let page = try d.listReplyDeltas(tx, a, messageId: r.messageID, fromIndex: r.fromIndex, limit: Int(r.limit))
            return Smrt_Chat_V1_ListReplyDeltasResponse.with {
                $0.deltas = page.deltas.map(\.wire)
                $0.hasMore_p = page.hasMore
                $0.streamState = wireEnum(page.state)
                $0.deltaCount = page.deltaCount
            }
        },
        write("DecideToolCall", Smrt_Chat_V1_DecideToolCallRequest.self, [.chat]) { d, tx, a, r in
            let decision: Smrt_Chat_V1_ToolDecision = r.decision
            guard decision == .approve || decision == .reject else {
                throw ChatError.validation("decision", "must be APPROVE or REJECT")
            }
            let approval = try d.decideToolCall(tx, a, sessionId: r.sessionID, callId: r.callID,
                                                approve: decision == .approve, reason: r.hasReason ? r.reason : nil)
            return Smrt_Chat_V1_DecideToolCallResponse.with { $0.approval = approval.wire }
        },
        write("ClaimToolCall", Smrt_Chat_V1_ClaimToolCallRequest.self, [.agent]) { d, tx, a, r in
            let claimed = try d.claimToolCall(tx, a, sessionId: r.sessionID, callId: r.callID)
            return Smrt_Chat_V1_ClaimToolCallResponse.with {
                $0.approval = claimed.approval.wire
                $0.message = claimed.message.wire
            }
        },
        read("ListPendingToolCalls", Smrt_Chat_V1_ListPendingToolCallsRequest.self) { d, tx, a, r in
            let page = try d.listPendingToolCalls(tx, a, sessionId: r.sessionID, cursor: r.cursor, limit: Int(r.limit))
            return Smrt_Chat_V1_ListPendingToolCallsResponse.with {
                $0.approvals = page.items.map(\.wire)
                ($0.nextCursor, $0.hasMore_p) = pageFields(page)
            }
        },
    ]

    /// Event pages, with the payload mode applied.
    static func events(includeEntities: Bool) -> [MethodSpec] { [
        read("ListRoomEvents", Smrt_Chat_V1_ListRoomEventsRequest.self, [.events, .chat]) { d, tx, a, r in
            let page = try d.listRoomEvents(tx, a, roomId: r.roomID, afterSeq: r.afterSeq, limit: Int(r.limit))
            let now = d.clock()
            return Smrt_Chat_V1_ListRoomEventsResponse.with {
                $0.events = page.events.map { $0.wire(includeEntity: includeEntities, now: now) }
                $0.headSeq = page.head
                $0.hasMore_p = page.hasMore
            }
        },
        read("ListTenantEvents", Smrt_Chat_V1_ListTenantEventsRequest.self, [.events]) { d, tx, a, r in
            let page = try d.listTenantEvents(tx, a, afterEventId: r.afterEventID, limit: Int(r.limit))
            let now = d.clock()
            return Smrt_Chat_V1_ListTenantEventsResponse.with {
                $0.events = page.events.map { $0.wire(includeEntity: includeEntities, now: now) }
                $0.headEventID = page.head
                $0.hasMore_p = page.hasMore
            }
        },
    ] }
}
