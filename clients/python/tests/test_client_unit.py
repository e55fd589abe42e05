"""Offline checks of the client surface."""
import pytest

import smrtchat
from smrtchat.client import OPERATIONS, snake_case
from smrtchat.v1 import chat_pb2


def test_every_rpc_has_a_method():
    rpcs = [m.name for m in chat_pb2.DESCRIPTOR.services_by_name["ChatService"].methods]
    assert len(rpcs) >= 50
    for name in rpcs:
        method = getattr(smrtchat.Client, snake_case(name))
        assert callable(method)
        assert OPERATIONS[name].method == f"/smrt.chat.v1.ChatService/{name}"


@pytest.mark.parametrize("name,snake", [("CreateRoom", "create_room"), ("GetOrCreateDM", "get_or_create_dm"),
                                        ("ServerInfo", "server_info"), ("ListRoomEvents", "list_room_events")])
def test_snake_case(name, snake):
    assert snake_case(name) == snake


def test_keyword_coercion():
    req = smrtchat.Client.new_request("create_room", name="x", room_type="private", max_participants=3)
    assert req.room_type == smrtchat.entities_pb2.ROOM_TYPE_PRIVATE and req.HasField("max_participants")
    req = smrtchat.Client.new_request("send_agent_reply", session_id="s", kind="tool", message_type="tool_call",
                                      tool_call={"call_id": "c", "name": "n", "arguments": "{}"})
    assert req.kind == smrtchat.entities_pb2.AGENT_REPLY_KIND_TOOL and req.tool_call.name == "n"
    with pytest.raises(ValueError):
        smrtchat.Client.new_request("create_room", room_type="nope")
    with pytest.raises(TypeError):
        smrtchat.Client.new_request("create_room", bogus=1)


def test_timeout_raises_chat_timeout():
    c = smrtchat.Client("tcp://127.0.0.1:9", "k", "00", "t", "a", timeout_ms=50, max_attempts=2)
    try:
        with pytest.raises(smrtchat.ChatTimeout) as ei:
            c.health()
        assert ei.value.reason == "CLIENT_TIMEOUT" and ei.value.code == smrtchat.Code.CODE_DEADLINE_EXCEEDED
    finally:
        c.close()
