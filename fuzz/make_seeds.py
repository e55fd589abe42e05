#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets (fuzz/corpus/<target>/).

frame: a valid signed RpcRequest of every method of chat.proto (payload fields filled from the descriptors),
signed with the fuzz harness's key (sk_fuzz, secret 32 x 0x07, tenant-1, clock 1764000000000), plus edge
cases. cursor, json, allowlist: hand-picked inputs in each harness's format (see FuzzEntryPoints).

Run with the Python client's venv (it has protobuf): clients/python/.venv/bin/python fuzz/make_seeds.py
"""
import base64, hashlib, hmac, os, shutil, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python", "src"))
from google.protobuf import descriptor as D, message_factory  # noqa: E402
from smrtchat.v1 import chat_pb2, rpc_pb2  # noqa: E402

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


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    for target in ("frame", "cursor", "json", "allowlist"):
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


if __name__ == "__main__":
    main()
