"""Authentication and authorization failures (SPEC §2, §12.3, §12.8)."""
import time
import uuid

import pytest

import smrtchat
from smrtchat import ChatError


def reply(client, env):
    return client.send_frame(env).status


def expect(status, code, reason):
    assert (smrtchat.code_name(status.code), status.reason) == (code, reason), status


def test_health_needs_no_credentials(alice):
    env = alice.build_envelope("Health", sign_request=False)
    assert alice.send_frame(env).status.code == 0


def test_missing_credentials(alice):
    env = alice.build_envelope("CreateRoom", name="x", room_type="public", sign_request=False)
    expect(reply(alice, env), "UNAUTHENTICATED", "MISSING_CREDENTIALS")
    env = alice.build_envelope("CreateRoom", name="x", room_type="public")
    env.auth.signature = b""
    expect(reply(alice, env), "UNAUTHENTICATED", "MISSING_CREDENTIALS")


def test_unknown_key(make_client, tenant):
    c = make_client(("sk_does_not_exist", "00" * 32), tenant, "alice")
    with pytest.raises(ChatError) as ei:
        c.create_room(name="x", room_type="public")
    assert (ei.value.code_name, ei.value.reason) == ("UNAUTHENTICATED", "INVALID_KEY")


def test_bad_signature(make_client, chat_key, tenant):
    wrong = make_client((chat_key[0], "11" * 32), tenant, "alice")
    with pytest.raises(ChatError) as ei:
        wrong.create_room(name="x", room_type="public")
    assert (ei.value.code_name, ei.value.reason) == ("UNAUTHENTICATED", "BAD_SIGNATURE")
    # A correctly signed frame whose payload was changed afterwards.
    good = make_client(chat_key, tenant, "alice")
    env = good.build_envelope("CreateRoom", name="x", room_type="public")
    env.payload = smrtchat.chat_pb2.CreateRoomRequest(name="y", room_type=1).SerializeToString()
    expect(reply(good, env), "UNAUTHENTICATED", "BAD_SIGNATURE")
    # ... or whose actor was changed.
    env = good.build_envelope("CreateRoom", name="x", room_type="public")
    env.context.actor_profile_id = "mallory"
    expect(reply(good, env), "UNAUTHENTICATED", "BAD_SIGNATURE")


def test_stale_timestamp(alice):
    for skew in (-301_000, 301_000):
        env = alice.build_envelope("CreateRoom", name="x", room_type="public",
                                   timestamp_ms=int(time.time() * 1000) + skew, deadline_unix_ms=0)
        expect(reply(alice, env), "UNAUTHENTICATED", "STALE_TIMESTAMP")


def test_request_id_reused_with_a_different_frame(alice):
    rid = uuid.uuid4().hex
    alice.create_room(name="first", room_type="public", request_id=rid)
    with pytest.raises(ChatError) as ei:
        alice.create_room(name="second", room_type="public", request_id=rid)
    assert (ei.value.code_name, ei.value.reason) == ("UNAUTHENTICATED", "REQUEST_ID_REUSED")
    # A read resent byte-identical is simply answered again.
    env = alice.build_envelope("ListMyRooms")
    first, second = alice.send_frame(env), alice.send_frame(env)
    assert first.status.code == second.status.code == 0


def test_revoked_key(server, make_client, tenant):
    key = server.create_key([tenant], ("chat",))
    c = make_client(key, tenant, "alice")
    c.create_room(name="before", room_type="public")
    server.revoke_key(key[0])
    with pytest.raises(ChatError) as ei:
        c.create_room(name="after", room_type="public")
    assert (ei.value.code_name, ei.value.reason) == ("UNAUTHENTICATED", "INVALID_KEY")


def test_tenant_not_granted(server, make_client, tenant):
    key = server.create_key([tenant], ("chat",))
    c = make_client(key, tenant, "alice")
    c.list_my_rooms()
    with pytest.raises(ChatError) as ei:
        c.with_tenant(tenant + "-other").list_my_rooms()
    assert (ei.value.code_name, ei.value.reason) == ("PERMISSION_DENIED", "TENANT_NOT_GRANTED")


def test_scope_missing(server, make_client, chat_key, tenant):
    chat = make_client(chat_key, tenant, "alice")
    with pytest.raises(ChatError) as ei:
        chat.list_tenant_events()
    assert (ei.value.code_name, ei.value.reason) == ("PERMISSION_DENIED", "SCOPE_MISSING")
    assert ei.value.metadata["scope"] == "events"
    events_only = make_client(server.create_key([tenant], ("events",)), tenant, "alice")
    events_only.list_tenant_events()
    with pytest.raises(ChatError) as ei:
        events_only.create_room(name="x", room_type="public")
    assert (ei.value.code_name, ei.value.reason, ei.value.metadata.get("scope")) == \
        ("PERMISSION_DENIED", "SCOPE_MISSING", "chat")
