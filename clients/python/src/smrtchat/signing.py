"""Request signing (SPEC §7.3) and the deterministic ids of SPEC §9."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid

SIGNATURE_PREFIX = "SMRTCHAT-HMAC-V1"
CLIENT_REQUEST_NAMESPACE = uuid.UUID("b7e2f1c4-5a3d-4e8f-9b6a-2c1d0e9f8a7b")


def canonical_string(method: str, tenant_id: str, actor_profile_id: str, request_id: str,
                     timestamp_unix_ms: int, payload: bytes) -> str:
    """The canonical string that is signed: see SPEC §7.3."""
    return "\n".join([
        SIGNATURE_PREFIX, method, tenant_id, actor_profile_id, request_id,
        str(int(timestamp_unix_ms)), hashlib.sha256(payload).hexdigest(),
    ])


def sign(secret: bytes, method: str, tenant_id: str, actor_profile_id: str, request_id: str,
         timestamp_unix_ms: int, payload: bytes) -> bytes:
    """HMAC-SHA256 of the canonical string with the key's secret (raw bytes, 32 long)."""
    canon = canonical_string(method, tenant_id, actor_profile_id, request_id, timestamp_unix_ms, payload)
    return hmac.new(secret, canon.encode("utf-8"), hashlib.sha256).digest()


def dm_room_id(tenant_id: str, profile_a: str, profile_b: str) -> str:
    """The DM room id of two profiles (SPEC §9.1, same as the original package)."""
    a, b = sorted([profile_a.encode("utf-8"), profile_b.encode("utf-8")])
    h = hashlib.sha1(b"dm " + tenant_id.encode("utf-8") + b" " + a + b" " + b).hexdigest()
    variant = (int(h[16:18], 16) & 0x3F) | 0x80
    return f"{h[0:8]}-{h[8:12]}-5{h[13:16]}-{variant:02x}{h[18:20]}-{h[20:32]}"


def client_request_message_id(tenant_id: str, room_id: str, thread_id: str | None,
                              actor_profile_id: str, client_request_id: str) -> str:
    """The message id SendMessage gives a message sent with a client_request_id (SPEC §9.2)."""
    name = json.dumps(["smrt-chat:client-request", tenant_id, room_id, thread_id or None,
                       actor_profile_id, client_request_id],
                      separators=(",", ":"), ensure_ascii=False)
    return str(uuid.uuid5(CLIENT_REQUEST_NAMESPACE, name))
