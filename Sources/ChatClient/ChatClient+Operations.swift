import ChatAPI

// One typed method per operation of `service ChatService` (chat.proto), in the same order.
// Generated from the service block by hand-run script; keep in step with chat.proto.
extension ChatClient {
    /// Liveness (no credentials).
    public func health(_ request: Smrt_Chat_V1_HealthRequest = .init()) async throws -> Smrt_Chat_V1_HealthResponse {
        try await call("Health", request)
    }

    /// Version, limits and configuration a client needs (no credentials).
    public func serverInfo(_ request: Smrt_Chat_V1_ServerInfoRequest = .init()) async throws -> Smrt_Chat_V1_ServerInfoResponse {
        try await call("ServerInfo", request)
    }

    /// Creates a public or private room; the actor becomes its owner. Scope: chat.
    public func createRoom(_ request: Smrt_Chat_V1_CreateRoomRequest = .init()) async throws -> Smrt_Chat_V1_CreateRoomResponse {
        try await call("CreateRoom", request)
    }

    /// A room the actor can see, its participant row and unread count. Scope: chat.
    public func getRoom(_ request: Smrt_Chat_V1_GetRoomRequest = .init()) async throws -> Smrt_Chat_V1_GetRoomResponse {
        try await call("GetRoom", request)
    }

    /// Rooms the actor is a member of, newest activity first. Scope: chat.
    public func listMyRooms(_ request: Smrt_Chat_V1_ListMyRoomsRequest = .init()) async throws -> Smrt_Chat_V1_ListMyRoomsResponse {
        try await call("ListMyRooms", request)
    }

    /// Changes the supplied room fields (admins). Scope: chat.
    public func updateRoom(_ request: Smrt_Chat_V1_UpdateRoomRequest = .init()) async throws -> Smrt_Chat_V1_UpdateRoomResponse {
        try await call("UpdateRoom", request)
    }

    /// Makes a room read-only (admins). Scope: chat.
    public func archiveRoom(_ request: Smrt_Chat_V1_ArchiveRoomRequest = .init()) async throws -> Smrt_Chat_V1_ArchiveRoomResponse {
        try await call("ArchiveRoom", request)
    }

    /// Makes an archived room writable (admins). Scope: chat.
    public func unarchiveRoom(_ request: Smrt_Chat_V1_UnarchiveRoomRequest = .init()) async throws -> Smrt_Chat_V1_UnarchiveRoomResponse {
        try await call("UnarchiveRoom", request)
    }

    /// Deletes a room for everyone (owners). Scope: chat.
    public func deleteRoom(_ request: Smrt_Chat_V1_DeleteRoomRequest = .init()) async throws -> Smrt_Chat_V1_DeleteRoomResponse {
        try await call("DeleteRoom", request)
    }

    /// Public rooms and the actor's rooms matching a text. Scope: chat.
    public func searchRooms(_ request: Smrt_Chat_V1_SearchRoomsRequest = .init()) async throws -> Smrt_Chat_V1_SearchRoomsResponse {
        try await call("SearchRooms", request)
    }

    /// Joins a public room. Scope: chat.
    public func joinRoom(_ request: Smrt_Chat_V1_JoinRoomRequest = .init()) async throws -> Smrt_Chat_V1_JoinRoomResponse {
        try await call("JoinRoom", request)
    }

    /// Adds or re-activates a participant (admins). Scope: chat.
    public func addParticipant(_ request: Smrt_Chat_V1_AddParticipantRequest = .init()) async throws -> Smrt_Chat_V1_AddParticipantResponse {
        try await call("AddParticipant", request)
    }

    /// Leaves (self) or kicks (admins). Scope: chat.
    public func removeParticipant(_ request: Smrt_Chat_V1_RemoveParticipantRequest = .init()) async throws -> Smrt_Chat_V1_RemoveParticipantResponse {
        try await call("RemoveParticipant", request)
    }

    /// Changes a participant's role (admins; owner changes need an owner). Scope: chat.
    public func setParticipantRole(_ request: Smrt_Chat_V1_SetParticipantRoleRequest = .init()) async throws -> Smrt_Chat_V1_SetParticipantRoleResponse {
        try await call("SetParticipantRole", request)
    }

    /// Bans a profile from a room (admins). Scope: chat.
    public func banParticipant(_ request: Smrt_Chat_V1_BanParticipantRequest = .init()) async throws -> Smrt_Chat_V1_BanParticipantResponse {
        try await call("BanParticipant", request)
    }

    /// Lifts a ban (admins). Scope: chat.
    public func unbanParticipant(_ request: Smrt_Chat_V1_UnbanParticipantRequest = .init()) async throws -> Smrt_Chat_V1_UnbanParticipantResponse {
        try await call("UnbanParticipant", request)
    }

    /// Participants of a room (members). Scope: chat.
    public func listParticipants(_ request: Smrt_Chat_V1_ListParticipantsRequest = .init()) async throws -> Smrt_Chat_V1_ListParticipantsResponse {
        try await call("ListParticipants", request)
    }

    /// Sets the actor's presence. Scope: chat.
    public func setOnlineStatus(_ request: Smrt_Chat_V1_SetOnlineStatusRequest = .init()) async throws -> Smrt_Chat_V1_SetOnlineStatusResponse {
        try await call("SetOnlineStatus", request)
    }

    /// Moves the actor's read cursor forward. Scope: chat.
    public func markRead(_ request: Smrt_Chat_V1_MarkReadRequest = .init()) async throws -> Smrt_Chat_V1_MarkReadResponse {
        try await call("MarkRead", request)
    }

    /// Unread counts per room and thread. Scope: chat.
    public func getUnreadCounts(_ request: Smrt_Chat_V1_GetUnreadCountsRequest = .init()) async throws -> Smrt_Chat_V1_GetUnreadCountsResponse {
        try await call("GetUnreadCounts", request)
    }

    /// Sends a message (idempotent with client_request_id). Scope: chat.
    public func sendMessage(_ request: Smrt_Chat_V1_SendMessageRequest = .init()) async throws -> Smrt_Chat_V1_SendMessageResponse {
        try await call("SendMessage", request)
    }

    /// One message (members). Scope: chat.
    public func getMessage(_ request: Smrt_Chat_V1_GetMessageRequest = .init()) async throws -> Smrt_Chat_V1_GetMessageResponse {
        try await call("GetMessage", request)
    }

    /// A page of a room's messages, newest first (members). Scope: chat.
    public func listRoomMessages(_ request: Smrt_Chat_V1_ListRoomMessagesRequest = .init()) async throws -> Smrt_Chat_V1_ListRoomMessagesResponse {
        try await call("ListRoomMessages", request)
    }

    /// Edits a message's text, keeping its history (the sender). Scope: chat (agent replies: agent).
    public func editMessage(_ request: Smrt_Chat_V1_EditMessageRequest = .init()) async throws -> Smrt_Chat_V1_EditMessageResponse {
        try await call("EditMessage", request)
    }

    /// All versions of a message, oldest first (members). Scope: chat.
    public func getMessageHistory(_ request: Smrt_Chat_V1_GetMessageHistoryRequest = .init()) async throws -> Smrt_Chat_V1_GetMessageHistoryResponse {
        try await call("GetMessageHistory", request)
    }

    /// Soft-deletes a message (the sender or an admin). Scope: chat.
    public func deleteMessage(_ request: Smrt_Chat_V1_DeleteMessageRequest = .init()) async throws -> Smrt_Chat_V1_DeleteMessageResponse {
        try await call("DeleteMessage", request)
    }

    /// Full-text search over the actor's rooms, newest first. Scope: chat.
    public func searchMessages(_ request: Smrt_Chat_V1_SearchMessagesRequest = .init()) async throws -> Smrt_Chat_V1_SearchMessagesResponse {
        try await call("SearchMessages", request)
    }

    /// Starts a thread (members, not viewers). Scope: chat.
    public func startThread(_ request: Smrt_Chat_V1_StartThreadRequest = .init()) async throws -> Smrt_Chat_V1_StartThreadResponse {
        try await call("StartThread", request)
    }

    /// One thread (members). Scope: chat.
    public func getThread(_ request: Smrt_Chat_V1_GetThreadRequest = .init()) async throws -> Smrt_Chat_V1_GetThreadResponse {
        try await call("GetThread", request)
    }

    /// A room's threads, newest activity first (members). Scope: chat.
    public func listRoomThreads(_ request: Smrt_Chat_V1_ListRoomThreadsRequest = .init()) async throws -> Smrt_Chat_V1_ListRoomThreadsResponse {
        try await call("ListRoomThreads", request)
    }

    /// A thread's messages in conversation order (members). Scope: chat.
    public func listThreadMessages(_ request: Smrt_Chat_V1_ListThreadMessagesRequest = .init()) async throws -> Smrt_Chat_V1_ListThreadMessagesResponse {
        try await call("ListThreadMessages", request)
    }

    /// Messages of a thread replying to one message (members). Scope: chat.
    public func listReplies(_ request: Smrt_Chat_V1_ListRepliesRequest = .init()) async throws -> Smrt_Chat_V1_ListRepliesResponse {
        try await call("ListReplies", request)
    }

    /// Resolves a thread (its starter or an admin). Scope: chat.
    public func resolveThread(_ request: Smrt_Chat_V1_ResolveThreadRequest = .init()) async throws -> Smrt_Chat_V1_ResolveThreadResponse {
        try await call("ResolveThread", request)
    }

    /// Reopens a thread (its starter or an admin). Scope: chat.
    public func reopenThread(_ request: Smrt_Chat_V1_ReopenThreadRequest = .init()) async throws -> Smrt_Chat_V1_ReopenThreadResponse {
        try await call("ReopenThread", request)
    }

    /// Adds the actor's emoji to a message (idempotent). Scope: chat.
    public func addReaction(_ request: Smrt_Chat_V1_AddReactionRequest = .init()) async throws -> Smrt_Chat_V1_AddReactionResponse {
        try await call("AddReaction", request)
    }

    /// Removes the actor's own emoji. Scope: chat.
    public func removeReaction(_ request: Smrt_Chat_V1_RemoveReactionRequest = .init()) async throws -> Smrt_Chat_V1_RemoveReactionResponse {
        try await call("RemoveReaction", request)
    }

    /// A message's reactions aggregated per emoji (members). Scope: chat.
    public func listReactions(_ request: Smrt_Chat_V1_ListReactionsRequest = .init()) async throws -> Smrt_Chat_V1_ListReactionsResponse {
        try await call("ListReactions", request)
    }

    /// The DM room of two profiles, created on first use (the actor must be one of them). Scope: chat.
    public func getOrCreateDM(_ request: Smrt_Chat_V1_GetOrCreateDMRequest = .init()) async throws -> Smrt_Chat_V1_GetOrCreateDMResponse {
        try await call("GetOrCreateDM", request)
    }

    /// Creates an agent session and its room, or reuses the active one with the same key. Scope: chat.
    public func createAgentSession(_ request: Smrt_Chat_V1_CreateAgentSessionRequest = .init()) async throws -> Smrt_Chat_V1_CreateAgentSessionResponse {
        try await call("CreateAgentSession", request)
    }

    /// One session. Scope: chat (its participant) or agent.
    public func getAgentSession(_ request: Smrt_Chat_V1_GetAgentSessionRequest = .init()) async throws -> Smrt_Chat_V1_GetAgentSessionResponse {
        try await call("GetAgentSession", request)
    }

    /// The actor's own sessions, newest first. Scope: chat.
    public func listAgentSessions(_ request: Smrt_Chat_V1_ListAgentSessionsRequest = .init()) async throws -> Smrt_Chat_V1_ListAgentSessionsResponse {
        try await call("ListAgentSessions", request)
    }

    /// The participant writes a user message into the session. Scope: chat.
    public func sendAgentUserMessage(_ request: Smrt_Chat_V1_SendAgentUserMessageRequest = .init()) async throws -> Smrt_Chat_V1_SendAgentUserMessageResponse {
        try await call("SendAgentUserMessage", request)
    }

    /// The agent replies (tool messages pass the fail-closed tool gate). Scope: agent.
    public func sendAgentReply(_ request: Smrt_Chat_V1_SendAgentReplyRequest = .init()) async throws -> Smrt_Chat_V1_SendAgentReplyResponse {
        try await call("SendAgentReply", request)
    }

    /// Asks whether a tool may run now. Scope: chat (participant) or agent.
    public func checkToolCall(_ request: Smrt_Chat_V1_CheckToolCallRequest = .init()) async throws -> Smrt_Chat_V1_CheckToolCallResponse {
        try await call("CheckToolCall", request)
    }

    /// Replaces supplied configuration fields (the participant). Scope: chat.
    public func updateAgentSessionConfig(_ request: Smrt_Chat_V1_UpdateAgentSessionConfigRequest = .init()) async throws -> Smrt_Chat_V1_UpdateAgentSessionConfigResponse {
        try await call("UpdateAgentSessionConfig", request)
    }

    /// The session context and its version. Scope: chat (participant) or agent.
    public func getSessionContext(_ request: Smrt_Chat_V1_GetSessionContextRequest = .init()) async throws -> Smrt_Chat_V1_GetSessionContextResponse {
        try await call("GetSessionContext", request)
    }

    /// Merge-patches or replaces the context, optionally guarded by version. Scope: chat (participant) or agent.
    public func updateSessionContext(_ request: Smrt_Chat_V1_UpdateSessionContextRequest = .init()) async throws -> Smrt_Chat_V1_UpdateSessionContextResponse {
        try await call("UpdateSessionContext", request)
    }

    /// Closes a session. Scope: chat (participant) or agent.
    public func closeAgentSession(_ request: Smrt_Chat_V1_CloseAgentSessionRequest = .init()) async throws -> Smrt_Chat_V1_CloseAgentSessionResponse {
        try await call("CloseAgentSession", request)
    }

    /// Expires inactive or idle sessions of the call's tenant. Scope: admin.
    public func expireStaleSessions(_ request: Smrt_Chat_V1_ExpireStaleSessionsRequest = .init()) async throws -> Smrt_Chat_V1_ExpireStaleSessionsResponse {
        try await call("ExpireStaleSessions", request)
    }

    /// Records an agent turn's outcome on its user message. Scope: chat (the sender) or agent.
    public func recordTurnOutcome(_ request: Smrt_Chat_V1_RecordTurnOutcomeRequest = .init()) async throws -> Smrt_Chat_V1_RecordTurnOutcomeResponse {
        try await call("RecordTurnOutcome", request)
    }

    /// Starts a streamed assistant reply of the session's agent profile. Scope: agent.
    public func beginAgentReply(_ request: Smrt_Chat_V1_BeginAgentReplyRequest = .init()) async throws -> Smrt_Chat_V1_BeginAgentReplyResponse {
        try await call("BeginAgentReply", request)
    }

    /// Appends delta `index` to a streaming reply; published live on the reply's stream topic. Scope: agent.
    public func appendReplyDelta(_ request: Smrt_Chat_V1_AppendReplyDeltaRequest = .init()) async throws -> Smrt_Chat_V1_AppendReplyDeltaResponse {
        try await call("AppendReplyDelta", request)
    }

    /// Finishes a streaming reply as completed or failed (stopped when a stop was requested). Scope: agent.
    public func finishAgentReply(_ request: Smrt_Chat_V1_FinishAgentReplyRequest = .init()) async throws -> Smrt_Chat_V1_FinishAgentReplyResponse {
        try await call("FinishAgentReply", request)
    }

    /// The session's participant asks a streaming reply to stop. Scope: chat.
    public func stopReply(_ request: Smrt_Chat_V1_StopReplyRequest = .init()) async throws -> Smrt_Chat_V1_StopReplyResponse {
        try await call("StopReply", request)
    }

    /// Stored deltas of a streamed reply in index order. Scope: chat (members), events or agent.
    public func listReplyDeltas(_ request: Smrt_Chat_V1_ListReplyDeltasRequest = .init()) async throws -> Smrt_Chat_V1_ListReplyDeltasResponse {
        try await call("ListReplyDeltas", request)
    }

    /// The session's participant approves or rejects a tool call waiting for approval. Scope: chat.
    public func decideToolCall(_ request: Smrt_Chat_V1_DecideToolCallRequest = .init()) async throws -> Smrt_Chat_V1_DecideToolCallResponse {
        try await call("DecideToolCall", request)
    }

    /// The agent claims an approved (or approval-free) tool call to run it; succeeds once per call. Scope: agent.
    public func claimToolCall(_ request: Smrt_Chat_V1_ClaimToolCallRequest = .init()) async throws -> Smrt_Chat_V1_ClaimToolCallResponse {
        try await call("ClaimToolCall", request)
    }

    /// Tool calls waiting for the actor's approval in its own sessions, oldest first. Scope: chat.
    public func listPendingToolCalls(_ request: Smrt_Chat_V1_ListPendingToolCallsRequest = .init()) async throws -> Smrt_Chat_V1_ListPendingToolCallsResponse {
        try await call("ListPendingToolCalls", request)
    }

    /// Sets the tenant default (admin) or a room's override (admin, or chat as the room's owner).
    public func setRetentionPolicy(_ request: Smrt_Chat_V1_SetRetentionPolicyRequest = .init()) async throws -> Smrt_Chat_V1_SetRetentionPolicyResponse {
        try await call("SetRetentionPolicy", request)
    }

    /// A room's effective retention and its source (as reading the room), or the tenant default (admin).
    public func getRetentionPolicy(_ request: Smrt_Chat_V1_GetRetentionPolicyRequest = .init()) async throws -> Smrt_Chat_V1_GetRetentionPolicyResponse {
        try await call("GetRetentionPolicy", request)
    }

    /// Snapshots every entity of the tenant into an export. Scope: admin.
    public func exportTenant(_ request: Smrt_Chat_V1_ExportTenantRequest = .init()) async throws -> Smrt_Chat_V1_ExportTenantResponse {
        try await call("ExportTenant", request)
    }

    /// Snapshots a room and everything in it into an export. Scope: admin.
    public func exportRoom(_ request: Smrt_Chat_V1_ExportRoomRequest = .init()) async throws -> Smrt_Chat_V1_ExportRoomResponse {
        try await call("ExportRoom", request)
    }

    /// Snapshots what a profile authored or took part in into an export. Scope: admin.
    public func exportProfile(_ request: Smrt_Chat_V1_ExportProfileRequest = .init()) async throws -> Smrt_Chat_V1_ExportProfileResponse {
        try await call("ExportProfile", request)
    }

    /// Up to 1 MiB of an export's NDJSON lines. Scope: admin.
    public func exportPage(_ request: Smrt_Chat_V1_ExportPageRequest = .init()) async throws -> Smrt_Chat_V1_ExportPageResponse {
        try await call("ExportPage", request)
    }

    /// Erases a profile's personal data everywhere, in one operation. Scope: admin.
    public func eraseProfile(_ request: Smrt_Chat_V1_EraseProfileRequest = .init()) async throws -> Smrt_Chat_V1_EraseProfileResponse {
        try await call("EraseProfile", request)
    }

    /// A room's durable events after a seq. Scope: events (any room) or chat (active members).
    public func listRoomEvents(_ request: Smrt_Chat_V1_ListRoomEventsRequest = .init()) async throws -> Smrt_Chat_V1_ListRoomEventsResponse {
        try await call("ListRoomEvents", request)
    }

    /// The tenant's durable events after an event id. Scope: events.
    public func listTenantEvents(_ request: Smrt_Chat_V1_ListTenantEventsRequest = .init()) async throws -> Smrt_Chat_V1_ListTenantEventsResponse {
        try await call("ListTenantEvents", request)
    }
}
