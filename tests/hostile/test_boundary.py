"""Boundary suite generated from the ChatService descriptor (the Python client's chat_pb2).

Every method of the service, every integer, enum and string field of its request message (recursively
into nested messages), each set alone to boundary values on top of a valid baseline request: integers
{min, -1, 0, 1, max} of their type, enums those plus an unknown number, strings {"", 300 KiB, a NUL,
invalid UTF-8 (patched into the serialized bytes: protobuf refuses to encode it)}, and JSON-holding
strings also nesting as deep as fits 900 KiB, deep nesting inside the size limit, a BOM, a trailing
comma, duplicate keys, an escaped U+0000, and objects exactly at and one byte over their size limit.
The envelope's timestamp and deadline get {INT64_MIN, -1, 0, 1, INT64_MAX}, its request id 0, 64
and 65 bytes, and its traceparent a valid, a malformed, an all-zero, an uppercase and a 512 KiB value, on a read, a list,
a mutation and Health.

Every call is correctly signed by a key holding every scope, acting as the owner of real fixtures (a
public room with messages, a thread, agent sessions), so ids in the baselines point at real things;
a method whose success would change the shared fixtures gets fresh ones per case.

Per case: a reply within 10 s, its code OK or a documented error (never INTERNAL or UNKNOWN), and the
server still running. A crash or a stall is recorded and the server restarted on the same database,
so one run lists every failure. Meanwhile a prober process calls Health every 20 ms: every answer must
come within 100 ms (probes while the server was down after a crash are left out).

The server runs with --no-rate-limits. The summary follows pytest's; $BOUNDARY_RESULTS, when set, gets
boundary_cases, boundary_failures (cases that failed; Health latency is health_max_ms) and health_max_ms.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import re
import time
import uuid

import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor

import harness
import smrtchat
from smrtchat.v1 import chat_pb2

SERVICE = chat_pb2.DESCRIPTOR.services_by_name["ChatService"]
CASE_TIMEOUT_MS = 10_000
HEALTH_LIMIT_MS = 100.0
TENANT, ACTOR = "t-boundary", "alice"
#: Codes the README's error table documents (INTERNAL excepted), plus OK.
DOCUMENTED_CODES = {0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16}
OVER_LIMIT_BYTES = 300 * 1024
DEEP_BUDGET_BYTES = 900 * 1024
#: SPEC §8: metadata ≤ 16 KiB; session context and tool payloads ≤ 64 KiB.
METADATA_LIMIT, CONTEXT_LIMIT = 16 * 1024, 64 * 1024
#: Field names that hold JSON text (SPEC §7.5); fields whose proto comment says JSON are added.
JSON_FIELD_NAMES = {"metadata", "session_context", "arguments", "result", "merge_patch", "replace"}
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (harness.INT32_MIN, harness.INT32_MAX),
    FieldDescriptor.TYPE_SINT32: (harness.INT32_MIN, harness.INT32_MAX),
    FieldDescriptor.TYPE_SFIXED32: (harness.INT32_MIN, harness.INT32_MAX),
    FieldDescriptor.TYPE_INT64: (harness.INT64_MIN, harness.INT64_MAX),
    FieldDescriptor.TYPE_SINT64: (harness.INT64_MIN, harness.INT64_MAX),
    FieldDescriptor.TYPE_SFIXED64: (harness.INT64_MIN, harness.INT64_MAX),
    FieldDescriptor.TYPE_UINT32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_FIXED32: (0, (1 << 32) - 1),
    FieldDescriptor.TYPE_UINT64: (0, (1 << 64) - 1),
    FieldDescriptor.TYPE_FIXED64: (0, (1 << 64) - 1),
}
#: Envelope variations run on a read, a list (low-priority worker), a mutation and Health.
ENVELOPE_METHODS = ("Health", "GetRoom", "ListRoomMessages", "SendMessage")
#: Baselines of nested messages a request does not carry by default.
NESTED_BASELINES = {
    "Attachment": {"id": "att-1", "filename": "notes.txt", "content_type": "text/plain", "size": 12,
                   "url": "https://example.com/notes.txt"},
    "ToolList": {"tools": ["search.*"]},
}


# --- cases -------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    """One call: a method's baseline with one request field (`path`) or one envelope field changed."""
    method: str
    field: str
    kind: str
    path: tuple[str, ...] = ()
    value: object = None
    #: (placeholder, replacement) patched into the serialized payload (invalid UTF-8).
    patch: tuple[bytes, bytes] | None = None
    #: harness.Signer.frame overrides (envelope cases).
    envelope: dict = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        shown = f" ({self.value})" if self.kind in ("min", "max", "unknown") else ""
        if self.envelope:
            shown = f" ({next(iter(self.envelope.values()))!r:.40})"
        return f"{self.method} {self.field}={self.kind}{shown}"


def json_fields_from_comments() -> set[tuple[str, str]]:
    """(message, field) pairs whose comment in proto/smrt/chat/v1/*.proto mentions JSON."""
    found: set[tuple[str, str]] = set()
    for proto in sorted((harness.REPO / "proto/smrt/chat/v1").glob("*.proto")):
        message, comment = None, ""
        for line in proto.read_text().splitlines():
            line = line.strip()
            if m := re.match(r"message (\w+) \{", line):
                message, comment = m.group(1), ""
            elif line.startswith("//"):
                comment += line
            elif m := re.match(r"(?:optional |repeated )?[\w.]+ (\w+) = \d+;", line):
                if message and "JSON" in comment:
                    found.add((message, m.group(1)))
                comment = ""
            else:
                comment = ""
    return found


JSON_FIELDS_BY_COMMENT = json_fields_from_comments()


def is_json_field(message: str, field: str) -> bool:
    return field in JSON_FIELD_NAMES or (message, field) in JSON_FIELDS_BY_COMMENT


def integer_values(low: int, high: int) -> list[tuple[str, int]]:
    """{min, -1, 0, 1, max} within [low, high], without repeats."""
    picked = {}
    for kind, value in (("min", low), ("-1", -1), ("0", 0), ("1", 1), ("max", high)):
        if low <= value <= high and value not in picked.values():
            picked[kind] = value
    return list(picked.items())


def invalid_utf8() -> tuple[str, tuple[bytes, bytes]]:
    """A unique ASCII placeholder and the invalid UTF-8 bytes of the same length that replace it after
    serialization (so every length prefix stays right): a stray 0xFF, an overlong '/', a lone surrogate."""
    placeholder = f"utf8-placeholder-{uuid.uuid4().hex}"
    bad = b"\xff\xfe\xc0\xaf\xed\xa0\x80"
    return placeholder, (placeholder.encode(), bad + b"z" * (len(placeholder) - len(bad)))


_json_cache: dict[tuple[str, int], str] = {}


def json_values(limit: int) -> list[tuple[str, str]]:
    """The JSON-specific values of a field whose documents may be `limit` bytes."""
    def sized(n: int) -> str:  # a valid object of exactly n bytes
        return '{"a":"' + "x" * (n - 8) + '"}'

    def cached(kind: str, make) -> str:
        if (kind, limit) not in _json_cache:
            _json_cache[(kind, limit)] = make()
        return _json_cache[(kind, limit)]

    deep_arrays = DEEP_BUDGET_BYTES // 2
    deep_objects = (DEEP_BUDGET_BYTES - 1) // 6
    arrays_in_limit = (limit - 6) // 2
    objects_in_limit = (limit - 1) // 6
    return [
        ("deep_array", cached("deep_array", lambda: "[" * deep_arrays + "]" * deep_arrays)),
        ("deep_object", cached("deep_object", lambda: '{"a":' * deep_objects + "1" + "}" * deep_objects)),
        ("deep_array_in_limit",
         cached("deep_array_in_limit", lambda: '{"a":' + "[" * arrays_in_limit + "]" * arrays_in_limit + "}")),
        ("deep_object_in_limit",
         cached("deep_object_in_limit", lambda: '{"a":' * objects_in_limit + "1" + "}" * objects_in_limit)),
        ("bom", '\ufeff{"a":1}'),
        ("trailing_comma", '{"a":1,}'),
        ("duplicate_keys", '{"a":1,"a":2}'),
        ("escaped_nul", '{"a":"x\\u0000y"}'),
        ("at_limit", cached("at_limit", lambda: sized(limit))),
        ("over_limit_by_1", cached("over_limit_by_1", lambda: sized(limit + 1))),
    ]


def field_cases(method: str, desc, path: tuple[str, ...] = (), shown: str = "", seen=()) -> list[Case]:
    """Cases for every integer, enum and string field of `desc`, recursing into message fields."""
    cases = []
    for fd in desc.fields:
        here = path + (fd.name,)
        repeated = fd.label == FieldDescriptor.LABEL_REPEATED
        label = f"{shown}{fd.name}" + ("[0]" if repeated else "")
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.message_type.full_name not in seen:
                cases += field_cases(method, fd.message_type, here, label + ".", (*seen, desc.full_name))
        elif fd.type == FieldDescriptor.TYPE_ENUM:
            values = integer_values(harness.INT32_MIN, harness.INT32_MAX)
            values.append(("unknown", max(v.number for v in fd.enum_type.values) + 1))
            cases += [Case(method, label, kind, here, value) for kind, value in values]
        elif fd.type in INT_RANGES:
            cases += [Case(method, label, kind, here, value) for kind, value in integer_values(*INT_RANGES[fd.type])]
        elif fd.type == FieldDescriptor.TYPE_STRING:
            placeholder, patch = invalid_utf8()
            cases += [Case(method, label, "empty", here, ""),
                      Case(method, label, "300KiB", here, "x" * OVER_LIMIT_BYTES),
                      Case(method, label, "nul", here, "a\x00b"),
                      Case(method, label, "invalid_utf8", here, placeholder, patch)]
            if is_json_field(desc.name, fd.name):
                limit = METADATA_LIMIT if fd.name == "metadata" else CONTEXT_LIMIT
                cases += [Case(method, label, kind, here, value) for kind, value in json_values(limit)]
    return cases


def envelope_cases(method: str) -> list[Case]:
    cases = []
    for name, key in (("auth.timestamp_unix_ms", "timestamp_ms"), ("context.deadline_unix_ms", "deadline_ms")):
        cases += [Case(method, name, kind, envelope={key: value})
                  for kind, value in integer_values(harness.INT64_MIN, harness.INT64_MAX)]
    for length in (0, 64, 65):
        cases.append(Case(method, "context.request_id", f"{length}_bytes",
                          envelope={"request_id": uuid.uuid4().hex[:length].ljust(length, "r")}))
    # Unsigned and never refused: valid, malformed, all-zero ids, one character off, and half a MiB.
    for kind, value in (("valid", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("garbage", "not a trace"),
                        ("zero_ids", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"),
                        ("uppercase", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"),
                        ("512_KiB", "0" * (512 << 10))):
        cases.append(Case(method, "context.traceparent", kind, envelope={"traceparent": value}))
    return cases


def all_cases() -> list[Case]:
    """One baseline call per method first (each must be OK), then every variation."""
    cases = [Case(m.name, "(baseline)", "valid") for m in SERVICE.methods]
    for m in SERVICE.methods:
        cases += field_cases(m.name, m.input_type)
        if m.name in ENVELOPE_METHODS:
            cases += envelope_cases(m.name)
    return cases


# --- fixtures and baselines ----------------------------------------------------------------------------

class Fixtures:
    """Real things in the tenant, made through the Python client as alice (who owns all of them)."""

    def __init__(self, client: smrtchat.Client):
        self.c = client
        self._n = itertools.count()
        self.room = self.new_room()
        client.add_participant(room_id=self.room, profile_id="bob", role="member")
        self.message = self.new_message()
        self.thread = client.start_thread(room_id=self.room, root_message_id=self.message).thread.id
        self.thread_message = client.send_message(room_id=self.room, content="boundary reply",
                                                  thread_id=self.thread).message.id
        client.add_reaction(message_id=self.message, emoji="👍")
        self.session = self.new_session()
        self.streamed = self.new_streaming_reply(3)
        self.export_id = client.export_room(room_id=self.room).export_id

    def uniq(self, prefix: str) -> str:
        return f"{prefix}-{next(self._n)}"

    def new_room(self) -> str:
        return self.c.create_room(name=self.uniq("boundary room"), room_type="public").room.id

    def new_archived_room(self) -> str:
        room = self.new_room()
        self.c.archive_room(room_id=room)
        return room

    def new_message(self) -> str:
        return self.c.send_message(room_id=self.room, content="boundary message").message.id

    def new_member(self) -> str:
        profile = self.uniq("member")
        self.c.add_participant(room_id=self.room, profile_id=profile)
        return profile

    def new_banned(self) -> str:
        profile = self.uniq("banned")
        self.c.ban_participant(room_id=self.room, profile_id=profile)
        return profile

    def new_thread(self, resolved: bool = False) -> str:
        thread = self.c.start_thread(room_id=self.room, root_message_id=self.new_message()).thread.id
        if resolved:
            self.c.resolve_thread(thread_id=thread)
        return thread

    def new_session(self) -> str:
        return self.c.create_agent_session(agent_id="bot", allowed_tools=["search.*"], max_tokens=1_000_000,
                                           session_key=self.uniq("session")).session.id

    def new_session_with_pending_call(self) -> tuple[str, str]:
        """A session that has used tokens (so token sums can overflow) and has an unanswered tool call."""
        session, call = self.new_session(), self.uniq("call")
        self.c.send_agent_reply(session_id=session, kind="tool", message_type="tool_call", tokens_used=100,
                                tool_call={"call_id": call, "name": "search.web", "arguments": '{"q":"a"}'})
        return session, call

    def new_user_message(self) -> str:
        return self.c.send_agent_user_message(session_id=self.session, content="boundary question").message.id

    def new_streaming_reply(self, deltas: int = 0) -> str:
        """A reply of the fixture session's agent that is streaming, with `deltas` deltas."""
        message = self.c.begin_agent_reply(session_id=self.session).message.id
        for i in range(deltas):
            self.c.append_reply_delta(message_id=message, index=i, text=f"part {i} ")
        return message

    def new_pending_approval(self) -> tuple[str, str]:
        """A session whose tool call waits for the participant's approval."""
        session, call = self.c.create_agent_session(
            agent_id="approver", allowed_tools=["search.*"], approval_tools=["search.*"],
            session_key=self.uniq("approval")).session.id, self.uniq("call")
        self.c.send_agent_reply(session_id=session, kind="tool", message_type="tool_call",
                                tool_call={"call_id": call, "name": "search.web", "arguments": '{"q":"a"}'})
        return session, call


def send_agent_reply_baseline(fx: Fixtures, path: tuple[str, ...]) -> dict:
    """A gated tool call; varying the tool result answers the session's pending call instead."""
    session, pending = fx.new_session_with_pending_call()
    fields = {"session_id": session, "kind": "tool", "tokens_used": 5, "client_request_id": fx.uniq("reply")}
    if path[:2] == ("tool_call", "result"):
        fields.update(message_type="tool_result",
                      tool_call={"call_id": pending, "name": "search.web", "result": '{"hits":0}'})
    else:
        fields.update(message_type="tool_call",
                      tool_call={"call_id": fx.uniq("call"), "name": "search.web", "arguments": '{"q":"b"}'})
    return fields


#: A valid request per method, as client keyword fields, built per case (fresh ids where a success would
#: change the shared fixtures). Given the varied field's path, for requests whose fields exclude each other.
BASELINES = {
    "Health": lambda fx, p: {},
    "ServerInfo": lambda fx, p: {},
    "CreateRoom": lambda fx, p: {"name": fx.uniq("room"), "room_type": "public"},
    "GetRoom": lambda fx, p: {"room_id": fx.room},
    "ListMyRooms": lambda fx, p: {"limit": 10},
    "UpdateRoom": lambda fx, p: {"room_id": fx.room, "topic": "boundaries"},
    "ArchiveRoom": lambda fx, p: {"room_id": fx.new_room()},
    "UnarchiveRoom": lambda fx, p: {"room_id": fx.new_archived_room()},
    "DeleteRoom": lambda fx, p: {"room_id": fx.new_room()},
    "SearchRooms": lambda fx, p: {"query": "boundary", "limit": 10},
    "JoinRoom": lambda fx, p: {"room_id": fx.room},
    "AddParticipant": lambda fx, p: {"room_id": fx.room, "profile_id": fx.uniq("guest"), "role": "member"},
    "RemoveParticipant": lambda fx, p: {"room_id": fx.room, "profile_id": fx.new_member()},
    "SetParticipantRole": lambda fx, p: {"room_id": fx.room, "profile_id": "bob", "role": "member"},
    "BanParticipant": lambda fx, p: {"room_id": fx.room, "profile_id": fx.uniq("troll")},
    "UnbanParticipant": lambda fx, p: {"room_id": fx.room, "profile_id": fx.new_banned()},
    "ListParticipants": lambda fx, p: {"room_id": fx.room, "limit": 10},
    "SetOnlineStatus": lambda fx, p: {"online_status": "online"},
    "MarkRead": lambda fx, p: {"room_id": fx.room},
    "GetUnreadCounts": lambda fx, p: {},
    "SendMessage": lambda fx, p: {"room_id": fx.room, "content": "hi", "client_request_id": fx.uniq("send")},
    "GetMessage": lambda fx, p: {"message_id": fx.message},
    "ListRoomMessages": lambda fx, p: {"room_id": fx.room, "limit": 10},
    "EditMessage": lambda fx, p: {"message_id": fx.message, "content": fx.uniq("edited")},
    "GetMessageHistory": lambda fx, p: {"message_id": fx.message},
    "DeleteMessage": lambda fx, p: {"message_id": fx.new_message()},
    "SearchMessages": lambda fx, p: {"query": "boundary", "limit": 10},
    "StartThread": lambda fx, p: {"room_id": fx.room, "root_message_id": fx.new_message()},
    "GetThread": lambda fx, p: {"thread_id": fx.thread},
    "ListRoomThreads": lambda fx, p: {"room_id": fx.room, "limit": 10},
    "ListThreadMessages": lambda fx, p: {"thread_id": fx.thread, "limit": 10},
    "ListReplies": lambda fx, p: {"thread_id": fx.thread, "message_id": fx.thread_message, "limit": 10},
    "ResolveThread": lambda fx, p: {"thread_id": fx.new_thread()},
    "ReopenThread": lambda fx, p: {"thread_id": fx.new_thread(resolved=True)},
    "AddReaction": lambda fx, p: {"message_id": fx.message, "emoji": "👍"},
    "RemoveReaction": lambda fx, p: {"message_id": fx.message, "emoji": "🎉"},
    "ListReactions": lambda fx, p: {"message_id": fx.message, "emoji": "👍"},
    "GetOrCreateDM": lambda fx, p: {"profile_a": "alice", "profile_b": "bob"},
    "CreateAgentSession": lambda fx, p: {"agent_id": "bot", "allowed_tools": ["search.*"],
                                         "session_key": fx.uniq("key")},
    "GetAgentSession": lambda fx, p: {"session_id": fx.session},
    "ListAgentSessions": lambda fx, p: {"limit": 10},
    "SendAgentUserMessage": lambda fx, p: {"session_id": fx.session, "content": "question",
                                           "client_request_id": fx.uniq("ask")},
    "SendAgentReply": send_agent_reply_baseline,
    "CheckToolCall": lambda fx, p: {"session_id": fx.session, "tool_name": "search.web"},
    "UpdateAgentSessionConfig": lambda fx, p: {"session_id": fx.new_session(), "system_prompt": "be brief"},
    "GetSessionContext": lambda fx, p: {"session_id": fx.session},
    # Exactly one of merge_patch or replace.
    "UpdateSessionContext": lambda fx, p: {"session_id": fx.session,
                                           ("replace" if p[:1] == ("replace",) else "merge_patch"): '{"step":1}'},
    "CloseAgentSession": lambda fx, p: {"session_id": fx.new_session()},
    # Only an agent no session belongs to, so varying the age never expires the fixtures.
    "ExpireStaleSessions": lambda fx, p: {"older_than_seconds": 365 * 86400, "agent_id": "expiry-bot"},
    "RecordTurnOutcome": lambda fx, p: {"message_id": fx.new_user_message(), "outcome": "running"},
    "BeginAgentReply": lambda fx, p: {"session_id": fx.session, "client_request_id": fx.uniq("begin")},
    "AppendReplyDelta": lambda fx, p: {"message_id": fx.new_streaming_reply(), "index": 0, "text": "token"},
    "FinishAgentReply": lambda fx, p: {"message_id": fx.new_streaming_reply(1), "status": "completed",
                                       "tokens_used": 5},
    "StopReply": lambda fx, p: {"message_id": fx.new_streaming_reply()},
    "ListReplyDeltas": lambda fx, p: {"message_id": fx.streamed, "from_index": 0, "limit": 10},
    "DecideToolCall": lambda fx, p: dict(zip(("session_id", "call_id"), fx.new_pending_approval()),
                                         decision="approve", reason="fine"),
    "ClaimToolCall": lambda fx, p: dict(zip(("session_id", "call_id"), fx.new_session_with_pending_call())),
    "ListPendingToolCalls": lambda fx, p: {"limit": 10},
    "SetRetentionPolicy": lambda fx, p: {"room_id": fx.room, "message_retention_days": 30},
    "GetRetentionPolicy": lambda fx, p: {"room_id": fx.room},
    "ExportTenant": lambda fx, p: {},
    "ExportRoom": lambda fx, p: {"room_id": fx.room},
    "ExportProfile": lambda fx, p: {"profile_id": "bob"},
    "ExportPage": lambda fx, p: {"export_id": fx.export_id, "cursor": ""},
    # A profile of its own per case: never the fixtures' owner.
    "EraseProfile": lambda fx, p: {"profile_id": fx.uniq("erasable")},
    "ListRoomEvents": lambda fx, p: {"room_id": fx.room, "after_seq": 0, "limit": 10},
    "ListTenantEvents": lambda fx, p: {"after_event_id": 0, "limit": 10},
}


def nested_baseline(desc):
    return message_factory.GetMessageClass(desc)(**NESTED_BASELINES.get(desc.name, {}))


def apply(request, path: tuple[str, ...], value) -> None:
    """Sets the field at `path` (a repeated field becomes [value]; a missing nested message, or the
    first element of a repeated one, starts from its baseline)."""
    msg = request
    for name in path[:-1]:
        fd = msg.DESCRIPTOR.fields_by_name[name]
        if fd.label == FieldDescriptor.LABEL_REPEATED:
            items = getattr(msg, name)
            if not len(items):
                items.add().CopyFrom(nested_baseline(fd.message_type))
            msg = items[0]
        else:
            if not msg.HasField(name):
                getattr(msg, name).CopyFrom(nested_baseline(fd.message_type))
            msg = getattr(msg, name)
    fd = msg.DESCRIPTOR.fields_by_name[path[-1]]
    if fd.label == FieldDescriptor.LABEL_REPEATED:
        items = getattr(msg, path[-1])
        del items[:]
        items.append(value)
    else:
        setattr(msg, path[-1], value)


# --- running ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    case: Case
    start: float
    end: float
    #: The reply's code name, or NO_REPLY, CRASH, SETUP, UNDECODABLE.
    code: str
    detail: str = ""
    #: Why the case failed; None when it passed.
    failure: str | None = None


class Campaign:
    """Runs cases one at a time against the server, restarting it after a crash or a stall."""

    def __init__(self, server: harness.Server, key: tuple[str, str]):
        self.server = server
        self.signer = harness.Signer(key, TENANT, ACTOR)
        self.caller = harness.Caller(server.rpc)
        self.client = smrtchat.Client(server.rpc, key[0], key[1], TENANT, ACTOR, timeout_ms=CASE_TIMEOUT_MS,
                                      max_attempts=1)
        self.fixtures = Fixtures(self.client)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
        self.outcomes: list[Outcome] = []
        #: (start, end) monotonic intervals in which the server was down or being restarted.
        self.down: list[tuple[float, float]] = []

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        self.caller.close()

    def _restart(self, since: float) -> None:
        self.server.restart()
        self.caller.wait_ready()
        self.down.append((since, time.monotonic()))

    def _frame(self, case: Case) -> bytes:
        request = smrtchat.Client.new_request(case.method, **BASELINES[case.method](self.fixtures, case.path))
        if case.path:
            apply(request, case.path, case.value)
        payload = request.SerializeToString()
        if case.patch:
            placeholder, replacement = case.patch
            assert payload.count(placeholder) == 1, f"{case}: placeholder not found once in the payload"
            payload = payload.replace(placeholder, replacement)
        return self.signer.frame(case.method, payload, **case.envelope)

    def check_alive(self) -> None:
        """Pins a death noticed between cases on the previous case (it died in work done after the reply)
        and restarts the server."""
        if self.server.alive():
            return
        reason = f"server died after replying: {self._death()}"
        if self.outcomes:
            previous = self.outcomes[-1]
            previous.code, previous.failure = "CRASH", reason
        self._restart(self.outcomes[-1].end if self.outcomes else time.monotonic())

    def run(self, case: Case) -> Outcome:
        self.check_alive()
        try:
            frame = self._frame(case)
        except (smrtchat.ChatError, OSError) as exc:
            now = time.monotonic()
            outcome = Outcome(case, now, now, "SETUP", failure=f"baseline set-up failed: {exc}")
            if not self.server.alive():
                outcome.failure += f"; server died: {self._death()}"
                self._restart(now)
            return self._record(outcome)
        start = time.monotonic()
        future = self.pool.submit(self.caller.roundtrip, frame, CASE_TIMEOUT_MS)
        while True:
            try:
                reply = future.result(timeout=0.05)
                break
            except concurrent.futures.TimeoutError:
                if not self.server.alive():
                    outcome = Outcome(case, start, time.monotonic(), "CRASH", failure=f"server died: {self._death()}")
                    self._restart(start)
                    return self._record(outcome)
            except ValueError as exc:
                return self._record(Outcome(case, start, time.monotonic(), "UNDECODABLE", failure=str(exc)))
        end = time.monotonic()
        if reply is None:
            outcome = Outcome(case, start, end, "NO_REPLY", failure=f"no reply within {CASE_TIMEOUT_MS // 1000} s "
                                                                    f"(server {self.server.exit_status()}; restarted)")
            self._restart(end)
            return self._record(outcome)
        status = reply.status
        outcome = Outcome(case, start, end, harness.code_name(status.code), f"{status.reason}: {status.message}"[:160])
        if status.code not in DOCUMENTED_CODES:
            outcome.failure = f"{outcome.code} {outcome.detail}"
        elif case.field == "(baseline)" and status.code != 0:
            outcome.failure = f"baseline not OK: {outcome.code} {outcome.detail}"
        return self._record(outcome)

    def _record(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    def _death(self) -> str:
        self.server.proc.wait()
        return f"{self.server.exit_status()}; log: {self.server.crash_reason()[:300]}"


@dataclasses.dataclass
class Results:
    outcomes: list[Outcome]
    health_max_ms: float
    health_probes: int
    #: (latency ms, description of the cases running meanwhile) of every probe over the limit.
    slow_health: list[tuple[float, str]]
    seconds: float

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failure]


def health_results(samples, outcomes: list[Outcome], down) -> tuple[float, list[tuple[float, str]]]:
    """The largest Health latency outside the server's down intervals, and each slow probe with the
    cases that ran while it waited."""
    def overlaps(a0, a1, b0, b1):
        return a0 <= b1 and b0 <= a1

    worst, slow = 0.0, []
    for sent, latency in samples:
        answered = sent + latency / 1000
        if any(overlaps(sent, answered, d0, d1) for d0, d1 in down):
            continue
        worst = max(worst, latency)
        if latency > HEALTH_LIMIT_MS:
            during = [str(o.case) for o in outcomes if overlaps(sent, answered, o.start, o.end)]
            slow.append((latency, "; ".join(during) or "(between cases: building baselines)"))
    return worst, slow


def summarize(results: Results) -> list[str]:
    codes = collections.Counter(o.code for o in results.outcomes)
    lines = [f"boundary: {len(results.outcomes)} cases in {results.seconds:.0f} s, "
             f"{len(results.failures)} failures, Health max {results.health_max_ms:.1f} ms over "
             f"{results.health_probes} probes ({len(results.slow_health)} over {HEALTH_LIMIT_MS:.0f} ms)",
             "boundary replies by code: " + ", ".join(f"{c} {n}" for c, n in codes.most_common())]
    groups = collections.defaultdict(list)
    for o in results.failures:
        groups[(o.case.method, o.case.field, o.case.kind, o.code)].append(o)
    if groups:
        lines.append("boundary failures by (method, field, value kind, code):")
        for (method, field, kind, code), items in sorted(groups.items()):
            lines.append(f"  {method:24} {field:28} {kind:22} {code:12} x{len(items)}  {items[0].failure}")
    for latency, during in sorted(results.slow_health, reverse=True)[:20]:
        lines.append(f"  slow Health {latency:.0f} ms during: {during[:300]}")
    slowest = sorted(results.outcomes, key=lambda o: o.end - o.start, reverse=True)[:5]
    lines.append("boundary slowest cases: " + "; ".join(f"{o.case} {1000 * (o.end - o.start):.0f} ms"
                                                          for o in slowest))
    return lines


@pytest.fixture(scope="module")
def results():
    missing = sorted(m.name for m in SERVICE.methods if m.name not in BASELINES)
    assert not missing, f"no baseline request for {missing}: add them to BASELINES"
    server = harness.Server(extra_args=("--no-rate-limits",))
    server.start()
    campaign = probe = None
    try:
        key = server.create_key([TENANT], harness.ALL_SCOPES)
        campaign = Campaign(server, key)
        cases = all_cases()
        probe = harness.HealthProbe(server.rpc)
        started = time.monotonic()
        for case in cases:
            campaign.run(case)
        time.sleep(0.5)
        campaign.check_alive()
        seconds = time.monotonic() - started
        samples = probe.stop()
        probe = None
        health_max, slow = health_results(samples, campaign.outcomes, campaign.down)
        res = Results(campaign.outcomes, health_max, len(samples), slow, seconds)
    finally:
        if probe:
            probe.stop()
        if campaign:
            campaign.close()
        failed = campaign is None or any(o.failure for o in campaign.outcomes)
        server.cleanup(keep=failed)
    harness.report(*summarize(res))
    harness.write_results("BOUNDARY_RESULTS", {"boundary_cases": len(res.outcomes),
                                               "boundary_failures": len(res.failures),
                                               "health_max_ms": round(res.health_max_ms, 1)})
    return res


def test_every_case_gets_a_documented_reply_and_the_server_survives(results):
    lines = [f"{o.case}: {o.failure}" for o in results.failures]
    assert not lines, f"{len(lines)} of {len(results.outcomes)} boundary cases failed:\n" + "\n".join(lines)


def test_health_answers_within_100ms_throughout(results):
    lines = [f"{latency:.0f} ms during {during}" for latency, during in sorted(results.slow_health, reverse=True)]
    assert results.health_max_ms <= HEALTH_LIMIT_MS, (
        f"Health took up to {results.health_max_ms:.0f} ms (limit {HEALTH_LIMIT_MS:.0f}); "
        f"{len(lines)} slow probes:\n" + "\n".join(lines[:50]))
