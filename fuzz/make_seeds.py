#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets (fuzz/corpus/<target>/).

frame: a valid signed RpcRequest of every method of chat.proto (payload fields filled from the descriptors),
signed with the fuzz harness's key (sk_fuzz, secret 32 x 0x07, tenant-1, clock 1764000000000), plus edge
cases. cursor, json, allowlist: hand-picked inputs in each harness's format (see FuzzEntryPoints).
signed: call descriptions (8 header bytes, then the request message; FuzzEntryPoints+Signed.swift) of every
method that succeed against the harness's fixtures (`valid-<Method>`, ids as `@r0`-style tokens), the same with
descriptor-filled and with empty payloads, and edge cases of the header (keys, tenants, actors, request ids,
timestamps, deadlines, signatures).

Run with the Python client's venv (it has protobuf): clients/python/.venv/bin/python fuzz/make_seeds.py [TARGET...]
(default: every target). A target's folder is emptied first, so name only the targets to regenerate: e.g.
`fuzz/make_seeds.py signed` keeps the inputs libFuzzer added to corpus/frame.
"""
import base64, hashlib, hmac, os, shutil, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python", "src"))
from google.protobuf import descriptor as D, message_factory  # noqa: E402
from smrtchat.v1 import chat_pb2, entities_pb2, rpc_pb2  # noqa: E402

SECRET = bytes([7] * 32)
KEY_ID, TENANT, ACTOR, NOW = "sk_fuzz", "tenant-1", "alice", 1764000000000
CORPUS = os.path.join(HERE, "corpus")


def cursor(scope, position, tiebreak=""):
    return base64.urlsafe_b64encode(f"v1|{scope}|{position}|{tiebreak}".encode()).decode().rstrip("=")


def value_for(field, depth):
    name = field.name
    t = field.type
    if t == D.FieldDescriptor.TYPE_STRING:
        if name in ("metadata", "context", "context_patch", "patch", "arguments", "result"):
            return '{"a":1,"b":{"c":[1,2,"x"]}}'
        if name == "cursor" or name.endswith("_cursor"):
            return cursor("messages:room-1", 42, "msg-1")
        if name.endswith("tools") or name == "tool_name":
            return "notes.search"
        if name == "emoji":
            return "\U0001F44D"
        if name.endswith("_id") or name == "id":
            return name.replace("_", "-") + "-1"
        if name in ("name", "topic", "title"):
            return "General"
        return "hello"
    if t == D.FieldDescriptor.TYPE_BYTES:
        return b"\x01\x02"
    if t == D.FieldDescriptor.TYPE_BOOL:
        return True
    if t == D.FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values
        return values[1].number if len(values) > 1 else values[0].number
    if t in (D.FieldDescriptor.TYPE_DOUBLE, D.FieldDescriptor.TYPE_FLOAT):
        return 0.5
    if t == D.FieldDescriptor.TYPE_MESSAGE:
        return None
    return 10  # integers


def fill(msg, depth=0):
    for field in msg.DESCRIPTOR.fields:
        if field.containing_oneof is not None and field.containing_oneof.name.startswith("_") is False \
                and msg.WhichOneof(field.containing_oneof.name) is not None:
            continue  # one member of a real oneof is enough
        repeated = field.label == D.FieldDescriptor.LABEL_REPEATED
        if field.type == D.FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                getattr(msg, field.name)["k"] = "v" if field.message_type.fields_by_name["value"].type == 9 else 1 \
                    if field.message_type.fields_by_name["value"].type != 11 else None
                continue
            if depth >= 2:
                continue
            if repeated:
                fill(getattr(msg, field.name).add(), depth + 1)
            else:
                fill(getattr(msg, field.name), depth + 1)
            continue
        v = value_for(field, depth)
        if repeated:
            getattr(msg, field.name).append(v)
        else:
            setattr(msg, field.name, v)
    return msg


def frame(method, payload, *, key_id=KEY_ID, secret=SECRET, tenant=TENANT, actor=ACTOR, request_id=None,
          ts=NOW, deadline=0, sign=True, full_name=None):
    full = full_name or f"/smrt.chat.v1.ChatService/{method}"
    rid = request_id if request_id is not None else f"req-{method}"
    req = rpc_pb2.RpcRequest(method=full, payload=payload)
    req.context.tenant_id = tenant
    req.context.actor_profile_id = actor
    req.context.request_id = rid
    req.context.deadline_unix_ms = deadline
    if sign:
        canonical = "\n".join(["SMRTCHAT-HMAC-V1", full, tenant, actor, rid, str(ts),
                               hashlib.sha256(payload).hexdigest()])
        req.auth.key_id = key_id
        req.auth.timestamp_unix_ms = ts
        req.auth.signature = hmac.new(secret, canonical.encode(), hashlib.sha256).digest()
    return req.SerializeToString()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


TARGETS = ("frame", "cursor", "json", "allowlist", "signed")
SELECTED = set(sys.argv[1:]) or set(TARGETS)


def write(target, name, data):
    if target not in SELECTED:
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def enum(name):
    """An enum value by its full name, e.g. ROOM_TYPE_PUBLIC."""
    for f in (entities_pb2, chat_pb2):
        try:
            return getattr(f, name)
        except AttributeError:
            pass
    raise KeyError(name)


# signed: the harness's header (see FuzzEntryPoints+Signed.swift): method, key, tenant, actor, request id,
# timestamp, deadline, signature. These byte values pick the common case of each.
ALICE, BOB, AGENT, CAROL, DAVE = 0, 96, 144, 176, 200
KEY_ALL, KEY_CHAT, KEY_AGENT, KEY_EVENTS, KEY_ADMIN, KEY_REVOKED, KEY_MISSING = 0, 128, 129, 130, 131, 132, 133


def signed_methods():
    """The method order of the signed harness: sorted full names of every ChatService method."""
    service = chat_pb2.DESCRIPTOR.services_by_name["ChatService"]
    return sorted(f"/smrt.chat.v1.ChatService/{m.name}" for m in service.methods)


def described(method, payload=b"", *, key=KEY_ALL, tenant=0, actor=ALICE, rid=0, ts=100, deadline=0, sig=0):
    index = signed_methods().index(f"/smrt.chat.v1.ChatService/{method}")
    return bytes([index, key, tenant, actor, rid, ts, deadline, sig]) + payload


def signed_seeds():
    """(name, bytes) of the signed target's seeds."""
    m = chat_pb2
    valid = {
        "AddParticipant": (m.AddParticipantRequest(room_id="@r0", profile_id="carol",
                                                   role=enum("PARTICIPANT_ROLE_MEMBER")), {}),
        "AddReaction": (m.AddReactionRequest(message_id="@m1", emoji="\U0001F389"), {}),
        "BeginAgentReply": (m.BeginAgentReplyRequest(session_id="@s0", client_request_id="b-1"), {}),
        "AppendReplyDelta": (m.AppendReplyDeltaRequest(message_id="@m7", index=0, text="tok"), {}),
        "FinishAgentReply": (m.FinishAgentReplyRequest(message_id="@m7", status=enum("STREAM_STATE_COMPLETED"),
                                                       tokens_used=3), {}),
        "StopReply": (m.StopReplyRequest(message_id="@m7"), {}),
        "ListReplyDeltas": (m.ListReplyDeltasRequest(message_id="@m7", from_index=0, limit=10), {}),
        "DecideToolCall": (m.DecideToolCallRequest(session_id="@s0", call_id="call-2",
                                                   decision=enum("TOOL_DECISION_APPROVE"), reason="fine"), {}),
        "ClaimToolCall": (m.ClaimToolCallRequest(session_id="@s0", call_id="call-1"), {}),
        "ListPendingToolCalls": (m.ListPendingToolCallsRequest(limit=10), {}),
        "SetRetentionPolicy": (m.SetRetentionPolicyRequest(room_id="@r0", message_retention_days=30), {}),
        "GetRetentionPolicy": (m.GetRetentionPolicyRequest(room_id="@r0"), {}),
        "ExportTenant": (m.ExportTenantRequest(), {}),
        "ExportRoom": (m.ExportRoomRequest(room_id="@r0"), {}),
        "ExportProfile": (m.ExportProfileRequest(profile_id="bob"), {}),
        "ExportPage": (m.ExportPageRequest(export_id="@e0"), {}),
        "EraseProfile": (m.EraseProfileRequest(profile_id="dave"), {}),
        "ArchiveRoom": (m.ArchiveRoomRequest(room_id="@r0"), {}),
        "BanParticipant": (m.BanParticipantRequest(room_id="@r0", profile_id="bob"), {}),
        "CheckToolCall": (m.CheckToolCallRequest(session_id="@s0", tool_name="notes.search"), {}),
        "CloseAgentSession": (m.CloseAgentSessionRequest(session_id="@s0"), {}),
        "CreateAgentSession": (m.CreateAgentSessionRequest(
            agent_id="bot-3", allowed_tools=["notes.*", "web.fetch"], system_prompt="be brief", max_tokens=1000,
            max_messages=50, ttl_seconds=600, session_key="k2"), {}),
        "CreateRoom": (m.CreateRoomRequest(name="Design", room_type=enum("ROOM_TYPE_PUBLIC"), description="d",
                                           topic="t", avatar_url="https://x/a.png", metadata='{"a":{"b":[1,2]}}',
                                           max_participants=10), {}),
        "DeleteMessage": (m.DeleteMessageRequest(message_id="@m0"), {}),
        "DeleteRoom": (m.DeleteRoomRequest(room_id="@r0"), {}),
        "EditMessage": (m.EditMessageRequest(message_id="@m0", content="edited"), {}),
        "ExpireStaleSessions": (m.ExpireStaleSessionsRequest(older_than_seconds=0, agent_id="bot-1"), {}),
        "GetAgentSession": (m.GetAgentSessionRequest(session_id="@s0"), {}),
        "GetMessage": (m.GetMessageRequest(message_id="@m0"), {}),
        "GetMessageHistory": (m.GetMessageHistoryRequest(message_id="@m0"), {}),
        "GetOrCreateDM": (m.GetOrCreateDMRequest(profile_a="alice", profile_b="carol"), {}),
        "GetRoom": (m.GetRoomRequest(room_id="@r0"), {}),
        "GetSessionContext": (m.GetSessionContextRequest(session_id="@s0"), {}),
        "GetThread": (m.GetThreadRequest(thread_id="@t0"), {}),
        "GetUnreadCounts": (m.GetUnreadCountsRequest(), {}),
        "Health": (m.HealthRequest(), {}),
        "JoinRoom": (m.JoinRoomRequest(room_id="@r0"), {"actor": CAROL}),
        "ListAgentSessions": (m.ListAgentSessionsRequest(agent_id="bot-1", active_only=True, limit=10), {}),
        "ListMyRooms": (m.ListMyRoomsRequest(limit=10), {}),
        "ListParticipants": (m.ListParticipantsRequest(room_id="@r0", limit=10), {}),
        "ListReactions": (m.ListReactionsRequest(message_id="@m0"), {}),
        "ListReplies": (m.ListRepliesRequest(thread_id="@t0", message_id="@m0", limit=10), {}),
        "ListRoomEvents": (m.ListRoomEventsRequest(room_id="@r0", after_seq=0, limit=50), {}),
        "ListRoomMessages": (m.ListRoomMessagesRequest(room_id="@r0", limit=20, include_thread_replies=True), {}),
        "ListRoomThreads": (m.ListRoomThreadsRequest(room_id="@r0", limit=10), {}),
        "ListTenantEvents": (m.ListTenantEventsRequest(after_event_id=0, limit=50), {}),
        "ListThreadMessages": (m.ListThreadMessagesRequest(thread_id="@t0", limit=10), {}),
        "MarkRead": (m.MarkReadRequest(room_id="@r0", message_id="@m1"), {}),
        "RecordTurnOutcome": (m.RecordTurnOutcomeRequest(message_id="@m3", outcome=enum("TURN_OUTCOME_RUNNING")), {}),
        "RemoveParticipant": (m.RemoveParticipantRequest(room_id="@r0", profile_id="bob"), {}),
        "RemoveReaction": (m.RemoveReactionRequest(message_id="@m0", emoji="\U0001F44D"), {"actor": BOB}),
        "ReopenThread": (m.ReopenThreadRequest(thread_id="@t1"), {}),
        "ResolveThread": (m.ResolveThreadRequest(thread_id="@t0"), {}),
        "SearchMessages": (m.SearchMessagesRequest(query="hello", limit=10), {}),
        "SearchRooms": (m.SearchRoomsRequest(query="Gen", limit=10), {}),
        "SendAgentReply": (m.SendAgentReplyRequest(session_id="@s0", content="a reply", tokens_used=5,
                                                   client_request_id="c-9", metadata='{"m":1}'), {"actor": AGENT}),
        "SendAgentUserMessage": (m.SendAgentUserMessageRequest(session_id="@s0", content="more", metadata='{"x":1}'),
                                 {}),
        "SendMessage": (m.SendMessageRequest(room_id="@r0", content="hi there", thread_id="@t0",
                                             reply_to_message_id="@m0", client_request_id="c-2",
                                             metadata='{"k":"v"}'), {}),
        "ServerInfo": (m.ServerInfoRequest(), {}),
        "SetOnlineStatus": (m.SetOnlineStatusRequest(online_status=enum("ONLINE_STATUS_AWAY")), {}),
        "SetParticipantRole": (m.SetParticipantRoleRequest(room_id="@r0", profile_id="bob",
                                                           role=enum("PARTICIPANT_ROLE_ADMIN")), {}),
        "StartThread": (m.StartThreadRequest(room_id="@r0", root_message_id="@m1", title="New topic"), {}),
        "UnarchiveRoom": (m.UnarchiveRoomRequest(room_id="@r4"), {}),
        "UnbanParticipant": (m.UnbanParticipantRequest(room_id="@r0", profile_id="dave"), {}),
        "UpdateAgentSessionConfig": (m.UpdateAgentSessionConfigRequest(
            session_id="@s0", allowed_tools=m.ToolList(tools=["notes.*"]), system_prompt="p", max_tokens=10,
            max_messages=20, ttl_seconds=60), {}),
        "UpdateRoom": (m.UpdateRoomRequest(room_id="@r0", name="General 2", topic="", metadata='{"a":null}'), {}),
        "UpdateSessionContext": (m.UpdateSessionContextRequest(session_id="@s0", merge_patch='{"step":2,"x":{"y":1}}'),
                                 {}),
    }
    names = [n.rsplit("/", 1)[1] for n in signed_methods()]
    missing = sorted(set(names) - set(valid))
    assert not missing, f"signed seeds: no valid request for {missing}"
    seeds = []
    service = chat_pb2.DESCRIPTOR.services_by_name["ChatService"]
    for method in names:
        request, header = valid[method]
        seeds.append((f"valid-{method}", described(method, request.SerializeToString(), **header)))
        seeds.append((f"empty-{method}", described(method)))
        cls = message_factory.GetMessageClass(service.methods_by_name[method].input_type)
        filled = fill(cls())
        for field in filled.DESCRIPTOR.fields:  # ids the fixtures have
            if field.type == D.FieldDescriptor.TYPE_STRING and field.label != D.FieldDescriptor.LABEL_REPEATED:
                token = {"room_id": "@r1", "message_id": "@m2", "thread_id": "@t0", "session_id": "@s2",
                         "root_message_id": "@m0", "reply_to_message_id": "@m1", "agent_session_id": "@s0"}
                if field.name in token:
                    setattr(filled, field.name, token[field.name])
        seeds.append((f"filled-{method}", described(method, filled.SerializeToString(), actor=BOB)))

    send = valid["SendMessage"][0].SerializeToString()
    get = valid["GetRoom"][0].SerializeToString()
    for name, (method, payload, header) in {
        "twice-SendMessage": ("SendMessage", send, {"rid": 176}),
        "twice-CreateRoom": ("CreateRoom", valid["CreateRoom"][0].SerializeToString(), {"rid": 176}),
        "twice-GetRoom": ("GetRoom", get, {"rid": 176}),
        "fixed-request-id": ("SendMessage", send, {"rid": 208}),
        "empty-request-id": ("SendMessage", send, {"rid": 224}),
        "long-request-id": ("SendMessage", send, {"rid": 232}),
        "max-request-id": ("GetRoom", get, {"rid": 240}),
        "unicode-request-id": ("GetRoom", get, {"rid": 255}),
        "key-chat": ("SendMessage", send, {"key": KEY_CHAT}),
        "key-agent": ("SendAgentReply", valid["SendAgentReply"][0].SerializeToString(),
                      {"key": KEY_AGENT, "actor": AGENT}),
        "key-events": ("ListTenantEvents", valid["ListTenantEvents"][0].SerializeToString(), {"key": KEY_EVENTS}),
        "key-admin": ("ExpireStaleSessions", valid["ExpireStaleSessions"][0].SerializeToString(), {"key": KEY_ADMIN}),
        "key-revoked": ("SendMessage", send, {"key": KEY_REVOKED}),
        "key-missing": ("GetRoom", get, {"key": KEY_MISSING}),
        "tenant-2": ("GetRoom", described("GetRoom", b"\x0a\x03@r5")[8:], {"tenant": 192}),
        "tenant-not-granted": ("GetRoom", get, {"tenant": 224}),
        "tenant-invalid": ("SendMessage", send, {"tenant": 226}),
        "actor-not-member": ("SendMessage", send, {"actor": CAROL}),
        "actor-banned": ("GetRoom", get, {"actor": DAVE}),
        "actor-invalid": ("SendMessage", send, {"actor": 218}),
        "ts-window-edge": ("SendMessage", send, {"ts": 200}),
        "ts-stale": ("SendMessage", send, {"ts": 202}),
        "ts-zero": ("GetRoom", get, {"ts": 206}),
        "ts-min": ("GetRoom", get, {"ts": 209}),
        "ts-max": ("SendMessage", send, {"ts": 210}),
        "deadline-future": ("SendMessage", send, {"deadline": 140}),
        "deadline-now": ("SendMessage", send, {"deadline": 192}),
        "deadline-passed": ("GetRoom", get, {"deadline": 193}),
        "deadline-min": ("GetRoom", get, {"deadline": 197}),
        "deadline-max": ("SendMessage", send, {"deadline": 198}),
        "sig-wrong-secret": ("SendMessage", send, {"sig": 240}),
        "sig-empty": ("GetRoom", get, {"sig": 248}),
        "no-auth": ("SendMessage", send, {"sig": 252}),
        "no-auth-health": ("Health", b"", {"sig": 252}),
        "payload-garbage": ("SendMessage", b"\xff\xff\xff\xff", {}),
        "payload-unknown-field": ("SendMessage", send + b"\xf8\x07\x01", {}),
        "payload-other-message": ("SendMessage", valid["CreateRoom"][0].SerializeToString(), {}),
        "payload-cross-tenant-ids": ("SendMessage", m.SendMessageRequest(room_id="@r5", content="x").SerializeToString(),
                                     {}),
        "payload-deep-json": ("SendMessage", m.SendMessageRequest(room_id="@r0", content="x",
                                                                  metadata='{"a":' * 60 + "1" + "}" * 60)
                              .SerializeToString(), {}),
        "payload-tool-call": ("SendAgentReply", m.SendAgentReplyRequest(
            session_id="@s0", kind=enum("AGENT_REPLY_KIND_TOOL"),
            tool_call=entities_pb2.ToolCall(call_id="call-2", name="notes.search", arguments='{"q":"y"}'))
            .SerializeToString(), {"actor": AGENT}),
        "payload-tool-denied": ("SendAgentReply", m.SendAgentReplyRequest(
            session_id="@s0", kind=enum("AGENT_REPLY_KIND_TOOL"),
            tool_call=entities_pb2.ToolCall(call_id="call-3", name="shell.exec", arguments="{}"))
            .SerializeToString(), {"actor": AGENT}),
        "payload-tool-result": ("SendAgentReply", m.SendAgentReplyRequest(
            session_id="@s0", kind=enum("AGENT_REPLY_KIND_TOOL"), message_type=enum("MESSAGE_TYPE_TOOL_RESULT"),
            tool_call=entities_pb2.ToolCall(call_id="call-1", name="notes.search", result='{"hits":[]}'))
            .SerializeToString(), {"actor": AGENT}),
        "payload-context-replace": ("UpdateSessionContext", m.UpdateSessionContextRequest(
            session_id="@s0", replace='{"a":[1,{"b":null}]}', expected_version=1).SerializeToString(), {}),
        "payload-around": ("ListRoomMessages", m.ListRoomMessagesRequest(
            room_id="@r0", around_message_id="@m1", limit=3, include_deleted=True).SerializeToString(), {}),
        "payload-suspended": ("RecordTurnOutcome", m.RecordTurnOutcomeRequest(
            message_id="@m3", outcome=enum("TURN_OUTCOME_SUSPENDED"), continuation_id="cont-1").SerializeToString(),
            {"actor": AGENT}),
        "payload-search-filters": ("SearchMessages", m.SearchMessagesRequest(
            query="hello world", room_id="@r0", sender_profile_id="alice", message_type=enum("MESSAGE_TYPE_TEXT"),
            role=enum("MESSAGE_ROLE_USER"), since=0, until=9_000_000_000_000, has_attachments=False, limit=5)
            .SerializeToString(), {}),
    }.items():
        seeds.append((f"edge-{name}", described(method, payload, **header)))
    return seeds


def main():
    unknown = SELECTED - set(TARGETS)
    if unknown:
        sys.exit(f"make_seeds.py: unknown targets {sorted(unknown)}; targets: {' '.join(TARGETS)}")
    for target in SELECTED:
        shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)

    service = chat_pb2.DESCRIPTOR.services_by_name["ChatService"]
    for m in service.methods:
        cls = message_factory.GetMessageClass(m.input_type)
        write("frame", f"valid-{m.name}", frame(m.name, fill(cls()).SerializeToString()))
        write("frame", f"valid-empty-{m.name}", frame(m.name, b""))

    send = chat_pb2.SendMessageRequest(room_id="room-1", content="hi", client_request_id="c-1").SerializeToString()
    good = frame("SendMessage", send)
    edge = {
        "edge-empty": b"",
        "edge-truncated-half": good[: len(good) // 2],
        "edge-truncated-last-byte": good[:-1],
        "edge-unknown-method": frame("NoSuchMethod", send),
        "edge-method-not-full-name": frame("SendMessage", send, full_name="SendMessage"),
        "edge-unsigned": frame("SendMessage", send, sign=False),
        "edge-unknown-key": frame("SendMessage", send, key_id="sk_other"),
        "edge-bad-signature": frame("SendMessage", send, secret=bytes(32)),
        "edge-stale-timestamp": frame("SendMessage", send, ts=NOW - 3_600_000),
        "edge-future-timestamp": frame("SendMessage", send, ts=NOW + 3_600_000),
        "edge-other-tenant": frame("SendMessage", send, tenant="tenant-2"),
        "edge-bad-tenant-chars": frame("SendMessage", send, tenant="ten ant/1"),
        "edge-empty-actor": frame("SendMessage", send, actor=""),
        "edge-empty-request-id": frame("SendMessage", send, request_id=""),
        "edge-long-request-id": frame("SendMessage", send, request_id="r" * 65),
        "edge-deadline-passed": frame("SendMessage", send, deadline=NOW - 1),
        "edge-deadline-future": frame("SendMessage", send, deadline=NOW + 60_000),
        "edge-payload-of-other-method": frame("SendMessage", chat_pb2.CreateRoomRequest(name="x").SerializeToString()),
        "edge-payload-unknown-field": frame("SendMessage", send + b"\xf8\x07\x01"),  # field 127 varint
        "edge-payload-garbage": frame("SendMessage", b"\xff\xff\xff\xff"),
        "edge-huge-length-envelope": b"\x0a" + varint(0xFFFFFFFF) + b"/smrt",
        "edge-huge-length-payload": b"\x12" + varint(1 << 62) + b"x",
        "edge-max-varint": b"\x20" + b"\xff" * 9 + b"\x01",
        "edge-overlong-varint": b"\x20" + b"\xff" * 11,
        "edge-wrong-wire-type-method": b"\x08\x05" + good,  # method as a varint
        "edge-wrong-wire-type-context": b"\x1d\x00\x00\x00\x00" + good,  # context as fixed32
        "edge-group-wire-type": b"\x0b\x0c",
        "edge-field-zero": b"\x00\x00",
        "edge-duplicate-fields": good + good,
        "edge-invalid-utf8-method": b"\x0a\x03\xff\xfe\xfd",
        "edge-deep-nesting": b"\x1a\x02\x1a\x00" * 50,
    }
    for name, data in edge.items():
        write("frame", name, data)

    scope = "messages:room-1"
    for name, text in {
        "valid": cursor(scope, 42, "msg-1"),
        "valid-no-tiebreak": cursor(scope, 0),
        "valid-negative": cursor(scope, -5, "a|b"),
        "valid-max": cursor(scope, 2**63 - 1, "z"),
        "padded": cursor(scope, 7, "x") + "==",
        "std-base64": base64.b64encode(f"v1|{scope}|1|\xff?>".encode()).decode(),
        "other-scope": cursor("messages:room-2", 1),
        "overflow": cursor(scope, 2**64),
        "plus-position": cursor(scope, "+3"),
        "v2": base64.urlsafe_b64encode(f"v2|{scope}|1|".encode()).decode(),
        "three-parts": base64.urlsafe_b64encode(f"v1|{scope}|1".encode()).decode(),
        "not-base64": "!!!not base64!!!",
        "empty": "",
        "long": "A" * 1100,
        "invalid-utf8-inside": base64.urlsafe_b64encode(b"v1|messages:room-1|1|\xff\xfe").decode(),
    }.items():
        write("cursor", name, text)

    def json_seed(target, patch):
        t = target.encode()
        return bytes([len(t)]) + t + patch.encode() if len(t) < 256 else None

    for name, (t, p) in {
        "rfc7396-example": ('{"a":"b","c":{"d":"e","f":"g"}}', '{"a":"z","c":{"f":null}}'),
        "null-removes": ('{"a":1}', '{"a":null}'),
        "array-replaces": ('{"a":[1,2]}', '{"a":[null,{"b":null}]}'),
        "non-object-patch": ('{"a":1}', '[1,2,3]'),
        "scalar-target": ('5', '{"a":{"b":null}}'),
        "nested-create": ('{}', '{"a":{"b":{"c":null,"d":1}}}'),
        "unicode": ('{"\\u00e9":"\\ud83d\\ude00"}', '{"e\\u0301":true}'),
        "numbers": ('{"n":1e308,"m":-0.0,"i":12345678901234567890}', '{"n":1E-400,"m":0}'),
        "empty-both": ('', ''),
        "strings": ('"x"', 'null'),
        "deep": ('[' * 40 + ']' * 40, '{"a":' * 30 + '1' + '}' * 30),
        "dup-keys": ('{"a":1,"a":2}', '{"a":null,"a":3}'),
        "bad-json": ('{"a":', '{]'),
    }.items():
        write("json", name, json_seed(t, p))

    for name, text in {
        "exact": "notes.search\nweb.fetch\nnotes.search",
        "namespace": "notes.*\nnotes.search",
        "namespace-needs-more": "notes.*\nnotes.",
        "namespace-other": "notes.*\nnotesx.search",
        "nested-namespace": "a.b.*\na.b.c.d",
        "no-match": "a\nb",
        "empty-name": "notes.*\n",
        "empty-entry": "\nnotes.search",
        "bad-star": "no*tes\nnotes",
        "only-star": ".*\nx",
        "whitespace": "bad tool\nbad tool",
        "unicode": "outils.\u00e9*\noutils.\u00e9t\u00e9",
        "combining": "a.*\na.\u0301",
        "many": "\n".join(f"t{i}.*" for i in range(70)) + "\nt69.x",
        "control": "a\x01b\na\x01b",
    }.items():
        write("allowlist", name, text)

    for name, data in signed_seeds():
        write("signed", name, data)


if __name__ == "__main__":
    main()
