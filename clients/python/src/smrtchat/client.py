"""The SmrtChat RPC client: signed protobuf calls over a nanomsg REQ socket (pynng Req0)."""
from __future__ import annotations

import re
import secrets
import threading
import time
from typing import Any, Iterable

import pynng
from google.protobuf import message as _message

from smrtchat.errors import ChatError, ChatTimeout
from smrtchat.signing import sign
from smrtchat.v1 import chat_pb2, rpc_pb2

SERVICE = "smrt.chat.v1.ChatService"
_SERVICE_DESC = chat_pb2.DESCRIPTOR.services_by_name["ChatService"]


def snake_case(name: str) -> str:
    """CreateRoom -> create_room, GetOrCreateDM -> get_or_create_dm."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class _Op:
    __slots__ = ("name", "snake", "method", "request_cls", "response_cls")

    def __init__(self, mdesc):
        self.name = mdesc.name
        self.snake = snake_case(mdesc.name)
        self.method = f"/{SERVICE}/{mdesc.name}"
        self.request_cls = getattr(chat_pb2, mdesc.input_type.name)
        self.response_cls = getattr(chat_pb2, mdesc.output_type.name)


#: Every operation of ``service ChatService``, by proto name and by snake_case name.
OPERATIONS: dict[str, _Op] = {}
for _m in _SERVICE_DESC.methods:
    _entry = _Op(_m)
    OPERATIONS[_entry.name] = _entry
    OPERATIONS[_entry.snake] = _entry


def _op(op_name: str) -> _Op:
    try:
        return OPERATIONS[op_name]
    except KeyError:
        raise ValueError(f"unknown operation {op_name!r}") from None


def _enum_value(enum_desc, value):
    if not isinstance(value, str):
        return value
    if value in enum_desc.values_by_name:
        return enum_desc.values_by_name[value].number
    prefix = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", enum_desc.name).upper() + "_"
    name = prefix + value.upper()
    if name in enum_desc.values_by_name:
        return enum_desc.values_by_name[name].number
    raise ValueError(f"{value!r} is not a value of {enum_desc.full_name}")


def _coerce(desc, fields: dict) -> dict:
    """Lets keyword args use short enum names ('public'), dicts for messages, and a plain list for
    a wrapper message holding one repeated field (UpdateAgentSessionConfig's allowed_tools)."""
    out = {}
    for key, value in fields.items():
        fd = desc.fields_by_name.get(key)
        if fd is None:
            raise TypeError(f"{desc.name} has no field {key!r}")
        repeated = fd.label == fd.LABEL_REPEATED
        if fd.enum_type is not None:
            value = [_enum_value(fd.enum_type, v) for v in value] if repeated else _enum_value(fd.enum_type, value)
        elif fd.message_type is not None and not (fd.message_type.GetOptions().map_entry):
            mt = fd.message_type
            if repeated:
                value = [_coerce(mt, v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                value = _coerce(mt, value)
            elif isinstance(value, (list, tuple)):
                rep = [f for f in mt.fields if f.label == f.LABEL_REPEATED]
                if len(mt.fields) == 1 and len(rep) == 1:
                    value = {rep[0].name: list(value)}
        out[key] = value
    return out


def new_request_id() -> str:
    """A fresh request id: 12 hex digits of Unix milliseconds, then 20 random ones. Ids sort by time, so
    the server's replay cache (keyed by key id and request id) appends instead of touching a random page."""
    return f"{_now_ms() & 0xFFFFFFFFFFFF:012x}{secrets.token_hex(10)}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Transport:
    """One Req0 socket dialed to every endpoint, shared by a client and its with_actor()/with_tenant()
    copies. Each call uses its own nng context, so calls from several threads can be in flight."""

    def __init__(self, endpoints: list[str], resend_ms: int | None, recv_max_size: int):
        self.sock = pynng.Req0(recv_max_size=recv_max_size)
        if resend_ms is not None:
            self.sock.resend_time = resend_ms
        self.resend_ms = resend_ms
        for ep in endpoints:
            self.sock.dial(ep, block=False)
        self.refs = 1
        self.lock = threading.Lock()

    def roundtrip(self, frame: bytes, timeout_ms: int) -> bytes:
        ctx = self.sock.new_context()
        try:
            ctx_ptr = ctx.context
            end = time.monotonic() + timeout_ms / 1000
            # A REQ send waits for a connected peer: bound it too, then give recv what is left.
            pynng.lib.nng_ctx_set_ms(ctx_ptr, b"send-timeout", int(timeout_ms))
            if self.resend_ms is not None:
                pynng.lib.nng_ctx_set_ms(ctx_ptr, b"req:resend-time", int(self.resend_ms))
            ctx.send(frame)
            left = max(1, int((end - time.monotonic()) * 1000))
            pynng.lib.nng_ctx_set_ms(ctx_ptr, b"recv-timeout", left)
            return ctx.recv()
        finally:
            ctx.close()

    def acquire(self):
        with self.lock:
            self.refs += 1
        return self

    def release(self):
        with self.lock:
            self.refs -= 1
            last = self.refs == 0
        if last:
            self.sock.close()


class Client:
    """A SmrtChat client acting as one profile of one tenant with one service key.

    ``Client(rpc_endpoints, key_id, secret, tenant_id, actor_profile_id)`` then one method per
    operation, named in snake_case (``create_room``, ``send_message``, ``get_or_create_dm`` ...). Each
    takes either a request message or the request's fields as keyword arguments (enum values may be
    short names: ``room_type="public"``) and returns the response message, or raises ``ChatError``.

    Every call gets a fresh request id (time-ordered hex, see ``new_request_id``) unless ``request_id=`` is given. A call that gets no
    reply within ``timeout_ms`` is sent again, byte-identical (same request id, timestamp and
    signature), up to ``max_attempts`` times; the server answers a resent mutation from its replay cache,
    so it runs at most once. Inside an attempt, nng itself resends the frame every ``resend_ms``.
    """

    def __init__(self, rpc_endpoints: list[str] | str, key_id: str, secret: bytes | str,
                 tenant_id: str, actor_profile_id: str, timeout_ms: int = 5000,
                 resend_ms: int | None = 1000, max_attempts: int = 3, deadline_ms: int | None = None,
                 recv_max_size: int = 16 * 1024 * 1024, _transport: _Transport | None = None):
        if isinstance(rpc_endpoints, str):
            rpc_endpoints = [e for e in rpc_endpoints.split(",") if e]
        self.rpc_endpoints = list(rpc_endpoints)
        self.key_id = key_id
        self.secret = bytes.fromhex(secret) if isinstance(secret, str) else bytes(secret)
        self.tenant_id = tenant_id
        self.actor_profile_id = actor_profile_id
        self.timeout_ms = timeout_ms
        self.resend_ms = resend_ms
        self.max_attempts = max(1, max_attempts)
        #: Deadline put in the CallContext, relative to signing time (default: all attempts' time).
        self.deadline_ms = deadline_ms
        self._recv_max_size = recv_max_size
        self._transport = _transport.acquire() if _transport else _Transport(self.rpc_endpoints, resend_ms, recv_max_size)
        self._closed = False

    # -- copies ------------------------------------------------------------------------------------
    def _copy(self, tenant_id: str, actor_profile_id: str) -> "Client":
        return Client(self.rpc_endpoints, self.key_id, self.secret, tenant_id, actor_profile_id,
                      self.timeout_ms, self.resend_ms, self.max_attempts, self.deadline_ms,
                      self._recv_max_size, _transport=self._transport)

    def with_actor(self, actor_profile_id: str) -> "Client":
        """The same key and socket, acting as another profile."""
        return self._copy(self.tenant_id, actor_profile_id)

    def with_tenant(self, tenant_id: str, actor_profile_id: str | None = None) -> "Client":
        """The same key and socket, acting in another tenant (the key must be granted it)."""
        return self._copy(tenant_id, actor_profile_id or self.actor_profile_id)

    def close(self):
        if not self._closed:
            self._closed = True
            self._transport.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- building frames ---------------------------------------------------------------------------
    @staticmethod
    def method_name(op_name: str) -> str:
        """'/smrt.chat.v1.ChatService/CreateRoom' for 'CreateRoom' or 'create_room'."""
        return _op(op_name).method

    @staticmethod
    def new_request(op_name: str, request: _message.Message | None = None, **fields) -> _message.Message:
        """The request message of an operation built from keyword args (or checked, if given)."""
        op = _op(op_name)
        if request is not None:
            if fields:
                raise TypeError("give a request message or keyword fields, not both")
            if not isinstance(request, op.request_cls):
                raise TypeError(f"{op.name} takes {op.request_cls.__name__}, not {type(request).__name__}")
            return request
        return op.request_cls(**_coerce(op.request_cls.DESCRIPTOR, fields))

    def build_envelope(self, op_name: str, request: _message.Message | None = None, *,
                       request_id: str | None = None, timestamp_ms: int | None = None,
                       deadline_unix_ms: int | None = None, sign_request: bool = True,
                       **fields) -> rpc_pb2.RpcRequest:
        """The signed RpcRequest of one call (not sent). ``send_frame(env.SerializeToString())``
        sends it; resending the same bytes is a retry."""
        op = _op(op_name)
        req = self.new_request(op_name, request, **fields)
        payload = req.SerializeToString()
        request_id = request_id or new_request_id()
        ts = _now_ms() if timestamp_ms is None else int(timestamp_ms)
        if deadline_unix_ms is None:
            rel = self.deadline_ms if self.deadline_ms is not None else self.timeout_ms * self.max_attempts
            deadline_unix_ms = ts + rel if rel else 0
        env = rpc_pb2.RpcRequest(
            method=op.method, payload=payload,
            context=rpc_pb2.CallContext(tenant_id=self.tenant_id, actor_profile_id=self.actor_profile_id,
                                        request_id=request_id, deadline_unix_ms=deadline_unix_ms))
        if sign_request:
            env.auth.key_id = self.key_id
            env.auth.timestamp_unix_ms = ts
            env.auth.signature = sign(self.secret, op.method, self.tenant_id, self.actor_profile_id,
                                      request_id, ts, payload)
        return env

    # -- sending -----------------------------------------------------------------------------------
    def send_frame(self, frame: bytes | rpc_pb2.RpcRequest, *, timeout_ms: int | None = None,
                   max_attempts: int | None = None) -> rpc_pb2.RpcResponse:
        """Sends a frame as is (retrying it unchanged on timeout) and returns the raw RpcResponse."""
        if isinstance(frame, rpc_pb2.RpcRequest):
            frame = frame.SerializeToString()
        if self._closed:
            raise RuntimeError("client is closed")
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        attempts = self.max_attempts if max_attempts is None else max(1, max_attempts)
        for _ in range(attempts):
            try:
                data = self._transport.roundtrip(frame, timeout_ms)
            except pynng.Timeout:
                continue
            resp = rpc_pb2.RpcResponse()
            resp.ParseFromString(data)
            return resp
        env = rpc_pb2.RpcRequest()
        try:
            env.ParseFromString(frame)
        except Exception:  # noqa: BLE001 - a deliberately malformed frame
            pass
        raise ChatTimeout(env.method, env.context.request_id, attempts)

    def call(self, op_name: str, request: _message.Message | None = None, request_id: str | None = None,
             **fields) -> _message.Message:
        """Calls any operation by name ('SendMessage' or 'send_message'); returns its response message
        or raises ChatError."""
        op = _op(op_name)
        env = self.build_envelope(op_name, request, request_id=request_id, **fields)
        resp = self.send_frame(env)
        return self.decode_response(op_name, resp, env.context.request_id)

    @staticmethod
    def decode_response(op_name: str, resp: rpc_pb2.RpcResponse, request_id: str = "") -> _message.Message:
        op = _op(op_name)
        if resp.status.code != rpc_pb2.CODE_OK:
            raise ChatError.from_status(resp.status, op.method, resp.request_id or request_id)
        if request_id and resp.request_id and resp.request_id != request_id:
            raise ChatError(rpc_pb2.CODE_INTERNAL, "REQUEST_ID_MISMATCH",
                            f"reply for {resp.request_id!r}, expected {request_id!r}", {}, op.method, request_id)
        out = op.response_cls()
        out.ParseFromString(resp.payload)
        return out

    def stream_reply(self, message_id: str, events_endpoints: list[str] | str, from_index: int = 0, **kw):
        """A ``ReplyStream`` of a streamed reply (SPEC §13.1): iterate it for its deltas (``index``,
        ``text``) in order from ``from_index``, without loss or duplicates, until the reply finished.
        ``events_endpoints`` is the server's PUB endpoint(s); other options as ``ReplyStream``."""
        from smrtchat.streaming import ReplyStream
        return ReplyStream(self, events_endpoints, message_id, from_index=from_index, **kw)

    def operations(self) -> list[str]:
        """snake_case names of every operation."""
        return [m for m in OPERATIONS if m == snake_case(m)]


def _make_method(op: _Op):
    def method(self, request=None, /, *, request_id: str | None = None, **fields):
        return self.call(op.name, request, request_id=request_id, **fields)
    method.__name__ = op.snake
    method.__qualname__ = f"Client.{op.snake}"
    method.__doc__ = (f"ChatService/{op.name}: takes a {op.request_cls.__name__} (or its fields as keyword "
                      f"args), returns a {op.response_cls.__name__}; raises ChatError.")
    return method


for _m in _SERVICE_DESC.methods:
    _o = OPERATIONS[_m.name]
    setattr(Client, _o.snake, _make_method(_o))
del _m, _o, _entry
