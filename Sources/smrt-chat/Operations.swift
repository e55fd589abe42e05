import ChatAPI
import ChatClient
import SwiftProtobuf

/// One operation of `service ChatService`: its name and how to call it with a proto3 JSON request.
struct Operation: Sendable {
    /// The method name as in chat.proto, e.g. `SendMessage`.
    let name: String
    /// Whether the call must be signed (every operation but Health and ServerInfo).
    let needsKey: Bool
    /// Full proto names of the request and response messages.
    let requestType: String
    let responseType: String
    /// Decodes `json` as the request, calls, and returns the response as proto3 JSON.
    let invoke: @Sendable (ChatClient, String, JSONDecodingOptions, JSONEncodingOptions) async throws -> String

    init<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ name: String, _: Request.Type, _: Response.Type
    ) {
        self.name = name
        needsKey = name != "Health" && name != "ServerInfo"
        requestType = Request.protoMessageName
        responseType = Response.protoMessageName
        invoke = { client, json, decoding, encoding in
            let request: Request
            do {
                request = try Request(jsonString: json, options: decoding)
            } catch {
                throw CLIError.usage("the request is not a valid \(Request.protoMessageName) in proto3 JSON: \(error)")
            }
            let response: Response = try await client.call(name, request, as: Response.self)
            return try response.jsonString(options: encoding)
        }
    }
}

/// Every operation of chat.proto, in its order (67).
enum Operations {
    static let all: [Operation] = [
        Operation("Health", Smrt_Chat_V1_HealthRequest.self, Smrt_Chat_V1_HealthResponse.self),
        Operation("ServerInfo", Smrt_Chat_V1_ServerInfoRequest.self, Smrt_Chat_V1_ServerInfoResponse.self),
        Operation("CreateRoom", Smrt_Chat_V1_CreateRoomRequest.self, Smrt_Chat_V1_CreateRoomResponse.self),
        Operation("GetRoom", Smrt_Chat_V1_GetRoomRequest.self, Smrt_Chat_V1_GetRoomResponse.self),
        Operation("ListMyRooms", Smrt_Chat_V1_ListMyRoomsRequest.self, Smrt_Chat_V1_ListMyRoomsResponse.self),
        Operation("UpdateRoom", Smrt_Chat_V1_UpdateRoomRequest.self, Smrt_Chat_V1_UpdateRoomResponse.self),
        Operation("ArchiveRoom", Smrt_Chat_V1_ArchiveRoomRequest.self, Smrt_Chat_V1_ArchiveRoomResponse.self),
        Operation("UnarchiveRoom", Smrt_Chat_V1_UnarchiveRoomRequest.self, Smrt_Chat_V1_UnarchiveRoomResponse.self),
        Operation("DeleteRoom", Smrt_Chat_V1_DeleteRoomRequest.self, Smrt_Chat_V1_DeleteRoomResponse.self),
        Operation("SearchRooms", Smrt_Chat_V1_SearchRoomsRequest.self, Smrt_Chat_V1_SearchRoomsResponse.self),
        Operation("JoinRoom", Smrt_Chat_V1_JoinRoomRequest.self, Smrt_Chat_V1_JoinRoomResponse.self),
        Operation("AddParticipant", Smrt_Chat_V1_AddParticipantRequest.self, Smrt_Chat_V1_AddParticipantResponse.self),
        Operation("RemoveParticipant", Smrt_Chat_V1_RemoveParticipantRequest.self,
                  Smrt_Chat_V1_RemoveParticipantResponse.self),
        Operation("SetParticipantRole", Smrt_Chat_V1_SetParticipantRoleRequest.self,
                  Smrt_Chat_V1_SetParticipantRoleResponse.self),
        Operation("BanParticipant", Smrt_Chat_V1_BanParticipantRequest.self, Smrt_Chat_V1_BanParticipantResponse.self),
        Operation("UnbanParticipant", Smrt_Chat_V1_UnbanParticipantRequest.self,
                  Smrt_Chat_V1_UnbanParticipantResponse.self),
        Operation("ListParticipants", Smrt_Chat_V1_ListParticipantsRequest.self,
                  Smrt_Chat_V1_ListParticipantsResponse.self),
        Operation("SetOnlineStatus", Smrt_Chat_V1_SetOnlineStatusRequest.self,
                  Smrt_Chat_V1_SetOnlineStatusResponse.self),
        Operation("MarkRead", Smrt_Chat_V1_MarkReadRequest.self, Smrt_Chat_V1_MarkReadResponse.self),
        Operation("GetUnreadCounts", Smrt_Chat_V1_GetUnreadCountsRequest.self,
                  Smrt_Chat_V1_GetUnreadCountsResponse.self),
        Operation("SendMessage", Smrt_Chat_V1_SendMessageRequest.self, Smrt_Chat_V1_SendMessageResponse.self),
        Operation("GetMessage", Smrt_Chat_V1_GetMessageRequest.self, Smrt_Chat_V1_GetMessageResponse.self),
        Operation("ListRoomMessages", Smrt_Chat_V1_ListRoomMessagesRequest.self,
                  Smrt_Chat_V1_ListRoomMessagesResponse.self),
        Operation("EditMessage", Smrt_Chat_V1_EditMessageRequest.self, Smrt_Chat_V1_EditMessageResponse.self),
        Operation("GetMessageHistory", Smrt_Chat_V1_GetMessageHistoryRequest.self,
                  Smrt_Chat_V1_GetMessageHistoryResponse.self),
        Operation("DeleteMessage", Smrt_Chat_V1_DeleteMessageRequest.self, Smrt_Chat_V1_DeleteMessageResponse.self),
        Operation("SearchMessages", Smrt_Chat_V1_SearchMessagesRequest.self, Smrt_Chat_V1_SearchMessagesResponse.self),
        Operation("StartThread", Smrt_Chat_V1_StartThreadRequest.self, Smrt_Chat_V1_StartThreadResponse.self),
        Operation("GetThread", Smrt_Chat_V1_GetThreadRequest.self, Smrt_Chat_V1_GetThreadResponse.self),
        Operation("ListRoomThreads", Smrt_Chat_V1_ListRoomThreadsRequest.self,
                  Smrt_Chat_V1_ListRoomThreadsResponse.self),
        Operation("ListThreadMessages", Smrt_Chat_V1_ListThreadMessagesRequest.self,
                  Smrt_Chat_V1_ListThreadMessagesResponse.self),
        Operation("ListReplies", Smrt_Chat_V1_ListRepliesRequest.self, Smrt_Chat_V1_ListRepliesResponse.self),
        Operation("ResolveThread", Smrt_Chat_V1_ResolveThreadRequest.self, Smrt_Chat_V1_ResolveThreadResponse.self),
        Operation("ReopenThread", Smrt_Chat_V1_ReopenThreadRequest.self, Smrt_Chat_V1_ReopenThreadResponse.self),
        Operation("AddReaction", Smrt_Chat_V1_AddReactionRequest.self, Smrt_Chat_V1_AddReactionResponse.self),
        Operation("RemoveReaction", Smrt_Chat_V1_RemoveReactionRequest.self, Smrt_Chat_V1_RemoveReactionResponse.self),
        Operation("ListReactions", Smrt_Chat_V1_ListReactionsRequest.self, Smrt_Chat_V1_ListReactionsResponse.self),
        Operation("GetOrCreateDM", Smrt_Chat_V1_GetOrCreateDMRequest.self, Smrt_Chat_V1_GetOrCreateDMResponse.self),
        Operation("CreateAgentSession", Smrt_Chat_V1_CreateAgentSessionRequest.self,
                  Smrt_Chat_V1_CreateAgentSessionResponse.self),
        Operation("GetAgentSession", Smrt_Chat_V1_GetAgentSessionRequest.self,
                  Smrt_Chat_V1_GetAgentSessionResponse.self),
        Operation("ListAgentSessions", Smrt_Chat_V1_ListAgentSessionsRequest.self,
                  Smrt_Chat_V1_ListAgentSessionsResponse.self),
        Operation("SendAgentUserMessage", Smrt_Chat_V1_SendAgentUserMessageRequest.self,
                  Smrt_Chat_V1_SendAgentUserMessageResponse.self),
        Operation("SendAgentReply", Smrt_Chat_V1_SendAgentReplyRequest.self, Smrt_Chat_V1_SendAgentReplyResponse.self),
        Operation("CheckToolCall", Smrt_Chat_V1_CheckToolCallRequest.self, Smrt_Chat_V1_CheckToolCallResponse.self),
        Operation("UpdateAgentSessionConfig", Smrt_Chat_V1_UpdateAgentSessionConfigRequest.self,
                  Smrt_Chat_V1_UpdateAgentSessionConfigResponse.self),
        Operation("GetSessionContext", Smrt_Chat_V1_GetSessionContextRequest.self,
                  Smrt_Chat_V1_GetSessionContextResponse.self),
        Operation("UpdateSessionContext", Smrt_Chat_V1_UpdateSessionContextRequest.self,
                  Smrt_Chat_V1_UpdateSessionContextResponse.self),
        Operation("CloseAgentSession", Smrt_Chat_V1_CloseAgentSessionRequest.self,
                  Smrt_Chat_V1_CloseAgentSessionResponse.self),
        Operation("ExpireStaleSessions", Smrt_Chat_V1_ExpireStaleSessionsRequest.self,
                  Smrt_Chat_V1_ExpireStaleSessionsResponse.self),
        Operation("RecordTurnOutcome", Smrt_Chat_V1_RecordTurnOutcomeRequest.self,
                  Smrt_Chat_V1_RecordTurnOutcomeResponse.self),
        Operation("BeginAgentReply", Smrt_Chat_V1_BeginAgentReplyRequest.self, Smrt_Chat_V1_BeginAgentReplyResponse.self),
        Operation("AppendReplyDelta", Smrt_Chat_V1_AppendReplyDeltaRequest.self, Smrt_Chat_V1_AppendReplyDeltaResponse.self),
        Operation("FinishAgentReply", Smrt_Chat_V1_FinishAgentReplyRequest.self, Smrt_Chat_V1_FinishAgentReplyResponse.self),
        Operation("StopReply", Smrt_Chat_V1_StopReplyRequest.self, Smrt_Chat_V1_StopReplyResponse.self),
        Operation("ListReplyDeltas", Smrt_Chat_V1_ListReplyDeltasRequest.self, Smrt_Chat_V1_ListReplyDeltasResponse.self),
        Operation("DecideToolCall", Smrt_Chat_V1_DecideToolCallRequest.self, Smrt_Chat_V1_DecideToolCallResponse.self),
        Operation("ClaimToolCall", Smrt_Chat_V1_ClaimToolCallRequest.self, Smrt_Chat_V1_ClaimToolCallResponse.self),
        Operation("ListPendingToolCalls", Smrt_Chat_V1_ListPendingToolCallsRequest.self, Smrt_Chat_V1_ListPendingToolCallsResponse.self),
        Operation("SetRetentionPolicy", Smrt_Chat_V1_SetRetentionPolicyRequest.self, Smrt_Chat_V1_SetRetentionPolicyResponse.self),
        Operation("GetRetentionPolicy", Smrt_Chat_V1_GetRetentionPolicyRequest.self, Smrt_Chat_V1_GetRetentionPolicyResponse.self),
        Operation("ExportTenant", Smrt_Chat_V1_ExportTenantRequest.self, Smrt_Chat_V1_ExportTenantResponse.self),
        Operation("ExportRoom", Smrt_Chat_V1_ExportRoomRequest.self, Smrt_Chat_V1_ExportRoomResponse.self),
        Operation("ExportProfile", Smrt_Chat_V1_ExportProfileRequest.self, Smrt_Chat_V1_ExportProfileResponse.self),
        Operation("ExportPage", Smrt_Chat_V1_ExportPageRequest.self, Smrt_Chat_V1_ExportPageResponse.self),
        Operation("EraseProfile", Smrt_Chat_V1_EraseProfileRequest.self, Smrt_Chat_V1_EraseProfileResponse.self),
        Operation("ListRoomEvents", Smrt_Chat_V1_ListRoomEventsRequest.self, Smrt_Chat_V1_ListRoomEventsResponse.self),
        Operation("ListTenantEvents", Smrt_Chat_V1_ListTenantEventsRequest.self,
                  Smrt_Chat_V1_ListTenantEventsResponse.self),
    ]

    /// The operation named `name`: exact, case-insensitive, or kebab/snake case (`send-message`).
    static func find(_ name: String) -> Operation? {
        let wanted = normalized(name.split(separator: "/").last.map(String.init) ?? name)
        return all.first { normalized($0.name) == wanted }
    }

    private static func normalized(_ name: String) -> String {
        name.lowercased().filter { $0 != "-" && $0 != "_" }
    }
}
