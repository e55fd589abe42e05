"""The shared compatibility vectors (SPEC §9, testdata/vectors.json), offline and against the server."""
import hashlib
import json
import pathlib

import pytest

import smrtchat
from smrtchat import ChatError

VECTORS = json.loads((pathlib.Path(__file__).resolve().parent / "../../../testdata/vectors.json").read_text("utf-8"))


@pytest.mark.parametrize("v", VECTORS["signatures"], ids=lambda v: v["method"].rsplit("/", 1)[1])
def test_signature_vectors(v):
    payload = bytes.fromhex(v["payload_hex"])
    assert hashlib.sha256(payload).hexdigest() == v["payload_sha256_hex"]
    args = (v["method"], v["tenant_id"], v["actor_profile_id"], v["request_id"], v["timestamp_unix_ms"], payload)
    assert smrtchat.canonical_string(*args) == v["canonical"]
    assert smrtchat.sign(bytes.fromhex(v["secret_hex"]), *args).hex() == v["signature_hex"]


def test_envelope_signature_matches_vector():
    """Client.build_envelope signs exactly like the vector (same secret, ids, timestamp, payload)."""
    v = VECTORS["signatures"][0]
    c = smrtchat.Client("tcp://127.0.0.1:1", "k", v["secret_hex"], v["tenant_id"], v["actor_profile_id"])
    try:
        req = smrtchat.chat_pb2.SendMessageRequest(room_id="room-1", content="hello")
        env = c.build_envelope("SendMessage", req, request_id=v["request_id"], timestamp_ms=v["timestamp_unix_ms"])
        assert env.payload.hex() == v["payload_hex"]
        assert env.method == v["method"]
        assert env.auth.signature.hex() == v["signature_hex"]
    finally:
        c.close()


@pytest.mark.parametrize("v", VECTORS["dm_room_ids"], ids=lambda v: f'{v["tenant_id"]}-{v["profile_a"]}-{v["profile_b"]}')
def test_dm_room_id_vectors(v):
    assert smrtchat.dm_room_id(v["tenant_id"], v["profile_a"], v["profile_b"]) == v["room_id"]


@pytest.mark.parametrize("v", VECTORS["dm_room_ids"], ids=lambda v: f'{v["tenant_id"]}-{v["profile_a"]}-{v["profile_b"]}')
def test_dm_room_id_vectors_on_server(make_client, chat_key, v):
    c = make_client(chat_key, v["tenant_id"], v["profile_a"])
    room = c.get_or_create_dm(profile_a=v["profile_a"], profile_b=v["profile_b"]).room
    assert room.id == v["room_id"]
    assert room.room_type == smrtchat.entities_pb2.ROOM_TYPE_DM


@pytest.mark.parametrize("v", VECTORS["client_request_message_ids"], ids=lambda v: v["client_request_id"] + "-" + str(v["thread_id"]))
def test_client_request_id_vectors(v):
    got = smrtchat.client_request_message_id(v["tenant_id"], v["room_id"], v["thread_id"],
                                             v["actor_profile_id"], v["client_request_id"])
    assert got == v["message_id"]


@pytest.mark.parametrize("crid", ["req-1", "ключ-✓"])
@pytest.mark.parametrize("in_thread", [False, True])
def test_client_request_ids_on_server(alice, tenant, crid, in_thread):
    """The vectors name rooms the server cannot have (its room ids are UUIDs), so the server is checked
    against the same derivation with its real room and thread ids."""
    room = alice.create_room(name="ids", room_type="private").room
    thread_id = alice.start_thread(room_id=room.id, title="t").thread.id if in_thread else ""
    sent = alice.send_message(room_id=room.id, content="hello", thread_id=thread_id, client_request_id=crid)
    expected = smrtchat.client_request_message_id(tenant, room.id, thread_id or None, "alice", crid)
    assert sent.message.id == expected
    assert not sent.replayed
    # Same key, same content: the original message, replayed, no new message.
    again = alice.send_message(room_id=room.id, content="hello", thread_id=thread_id, client_request_id=crid)
    assert again.replayed and again.message.id == expected
    # Same key, different content: conflict naming the existing message.
    with pytest.raises(ChatError) as ei:
        alice.send_message(room_id=room.id, content="other", thread_id=thread_id, client_request_id=crid)
    assert ei.value.code_name == "ALREADY_EXISTS"
    assert ei.value.reason == "CLIENT_REQUEST_CONFLICT"
    assert ei.value.metadata.get("existing_message_id") == expected
    msgs = alice.list_room_messages(room_id=room.id, include_thread_replies=True).messages
    assert [m.id for m in msgs] == [expected]
