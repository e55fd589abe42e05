"""Error reasons and metadata (SPEC §7.2, §12.1, §12.2, §12.8)."""
import uuid

import pytest

import smrtchat
from smrtchat import ChatError


def err(fn, **kw):
    with pytest.raises(ChatError) as ei:
        fn(**kw)
    return ei.value


def test_not_member_and_not_found(alice):
    bob = alice.with_actor("bob")
    public = alice.create_room(name="lobby", room_type="public").room
    private = alice.create_room(name="secret", room_type="private").room
    msg = alice.send_message(room_id=private.id, content="hidden").message

    e = err(bob.list_room_messages, room_id=public.id)
    assert (e.code_name, e.reason) == ("PERMISSION_DENIED", "NOT_MEMBER")
    assert bob.get_room(room_id=public.id).room.id == public.id      # visible, readable as a room
    e = err(bob.send_message, room_id=public.id, content="hi")
    assert e.reason == "NOT_MEMBER"
    bob.join_room(room_id=public.id)
    bob.send_message(room_id=public.id, content="hi")

    # A private room, and what is in it, do not exist for a non-member; nor does a missing one.
    hidden = err(bob.get_room, room_id=private.id)
    missing = err(bob.get_room, room_id=str(uuid.uuid4()))
    for e in (hidden, missing):
        assert (e.code_name, e.reason, e.metadata.get("resource")) == ("NOT_FOUND", "NOT_FOUND", "room")
    assert hidden.message == missing.message
    e = err(bob.get_message, message_id=msg.id)
    assert (e.code_name, e.metadata.get("resource")) == ("NOT_FOUND", "message")
    e = err(alice.get_thread, thread_id=str(uuid.uuid4()))
    assert (e.code_name, e.metadata.get("resource")) == ("NOT_FOUND", "thread")
    # Another tenant's room is a missing one.
    e = err(alice.with_tenant(alice.tenant_id + "-b").get_room, room_id=public.id)
    assert (e.code_name, e.reason) == ("NOT_FOUND", "NOT_FOUND")


def test_validation_names_the_field(alice):
    e = err(alice.create_room, name="", room_type="public")
    assert (e.code_name, e.reason, e.metadata.get("field")) == ("INVALID_ARGUMENT", "VALIDATION", "name")
    e = err(alice.create_room, name="x", room_type="public", metadata="[1, 2]")
    assert (e.code_name, e.reason, e.metadata.get("field")) == ("INVALID_ARGUMENT", "VALIDATION", "metadata")
    e = err(alice.create_room, name="x" * 257, room_type="public")
    assert (e.reason, e.metadata.get("field")) == ("VALIDATION", "name")
    e = err(alice.create_room, name="dm", room_type="dm")
    assert e.code_name == "INVALID_ARGUMENT"
    room = alice.create_room(name="x", room_type="public").room
    e = err(alice.add_reaction, message_id=alice.send_message(room_id=room.id, content="m").message.id,
            emoji="a b")
    assert (e.code_name, e.reason) == ("INVALID_ARGUMENT", "VALIDATION")


def test_malformed_envelopes(alice):
    env = alice.build_envelope("Health")
    env.method = "/smrt.chat.v1.ChatService/NoSuchThing"
    assert smrtchat.code_name(alice.send_frame(env).status.code) == "UNIMPLEMENTED"
    env = alice.build_envelope("CreateRoom", name="x", room_type="public", request_id="r" * 65)
    st = alice.send_frame(env).status
    assert (smrtchat.code_name(st.code), st.reason) == ("INVALID_ARGUMENT", "VALIDATION")
    # A payload that is not the method's message (signed, so only the payload is at fault).
    c = alice
    payload = b"\xff\xff\xff"
    env = c.build_envelope("CreateRoom")
    env.payload = payload
    env.auth.signature = smrtchat.sign(c.secret, env.method, c.tenant_id, c.actor_profile_id,
                                       env.context.request_id, env.auth.timestamp_unix_ms, payload)
    assert smrtchat.code_name(alice.send_frame(env).status.code) == "INVALID_ARGUMENT"
    # Not an RpcRequest at all: an answer, never silence.
    resp = alice.send_frame(b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert smrtchat.code_name(resp.status.code) == "INVALID_ARGUMENT"
    assert alice.health().status == "SERVING"


def test_deadline_passed(alice):
    import time
    env = alice.build_envelope("CreateRoom", name="late", room_type="public",
                               deadline_unix_ms=int(time.time() * 1000) - 1000)
    st = alice.send_frame(env).status
    assert smrtchat.code_name(st.code) == "DEADLINE_EXCEEDED"
    assert not any(s.room.name == "late" for s in alice.list_my_rooms().rooms)


def test_each_endpoint_alone(server, make_client, chat_key, tenant):
    for ep in server.rpc:                       # tcp and ipc
        c = make_client(chat_key, tenant, "alice")
        c.close()
        c = smrtchat.Client(ep, chat_key[0], chat_key[1], tenant, "alice", timeout_ms=3000)
        try:
            assert c.health().status == "SERVING"
            assert c.create_room(name=ep, room_type="public").room.name == ep
        finally:
            c.close()
