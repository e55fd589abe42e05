"""Errors raised by the SmrtChat client."""
from __future__ import annotations

from smrtchat.v1 import rpc_pb2


def code_name(code: int) -> str:
    """'NOT_FOUND' for 5, etc. (the proto enum name without its CODE_ prefix)."""
    try:
        return rpc_pb2.Code.Name(code).removeprefix("CODE_")
    except ValueError:
        return str(code)


class ChatError(Exception):
    """A call answered with a non-OK Status (or that got no answer at all).

    Attributes: ``code`` (int, gRPC numbering, see ``smrtchat.Code``), ``code_name`` ('NOT_FOUND'),
    ``reason`` ('NOT_MEMBER', 'VALIDATION', ...), ``message`` (human text), ``metadata`` (dict),
    ``method`` and ``request_id`` of the call.
    """

    def __init__(self, code: int, reason: str = "", message: str = "", metadata: dict | None = None,
                 method: str = "", request_id: str = ""):
        self.code = int(code)
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})
        self.method = method
        self.request_id = request_id
        super().__init__(f"{self.code_name} {reason}: {message}" + (f" {self.metadata}" if self.metadata else ""))

    @property
    def code_name(self) -> str:
        return code_name(self.code)

    @classmethod
    def from_status(cls, status: "rpc_pb2.Status", method: str = "", request_id: str = "") -> "ChatError":
        return cls(status.code, status.reason, status.message, dict(status.metadata), method, request_id)


class ChatTimeout(ChatError):
    """No reply after every attempt (code DEADLINE_EXCEEDED, reason CLIENT_TIMEOUT).

    The call may or may not have run. To retry it safely later (within the server's replay window)
    resend the identical frame: build it with ``Client.build_envelope`` and send it with
    ``Client.send_frame``; a new call with only the same ``request_id`` is refused (REQUEST_ID_REUSED).
    """

    def __init__(self, method: str = "", request_id: str = "", attempts: int = 0):
        super().__init__(rpc_pb2.CODE_DEADLINE_EXCEEDED, "CLIENT_TIMEOUT",
                         f"no reply after {attempts} attempt(s)", {}, method, request_id)


class ResyncRequired(ChatError):
    """The event log no longer holds the position a subscriber must resume from (RESYNC_REQUIRED)."""
