"""SPEC §13 behaviour the periodic job drives, against a server whose stream job runs every second with
one-second limits: dropped deltas (the reader falls back to GetMessage), idle replies interrupted,
stopped replies finished, pending approvals expiring."""
import time
import uuid

import pytest

import smrtchat
from smrtchat import ChatError, ResyncRequired
from smrtchat.v1 import entities_pb2 as E
from smrtchat.v1 import events_pb2 as EV

from conftest import run_server

FAST = {"stream_job_interval": 1, "stream_idle_seconds": 1, "delta_retention_seconds": 1,
        "approval_ttl_seconds": 1, "retention_interval": 0, "session_expiry_interval": 0}


@pytest.fixture(scope="module")
def jobs_server():
    yield from run_server(FAST)


@pytest.fixture
def env(jobs_server):
    tenant = "t-" + uuid.uuid4().hex[:12]
    chat = jobs_server.create_key([tenant], ("chat",))
    agent_key = jobs_server.create_key([tenant], ("agent",))
    alice = smrtchat.Client(jobs_server.rpc, chat[0], chat[1], tenant, "alice", timeout_ms=3000)
    s = alice.create_agent_session(agent_id="slow", allowed_tools=["x.*"], approval_tools=["x.run"]).session
    agent = smrtchat.Client(jobs_server.rpc, agent_key[0], agent_key[1], tenant, s.agent_profile_id,
                            timeout_ms=3000)
    yield jobs_server, alice, agent, s
    alice.close()
    agent.close()


def wait_for(fn, timeout=15.0, step=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def kinds_for(alice, room_id, subject):
    return [e.kind for e in alice.list_room_events(room_id=room_id, limit=200).events if e.subject_id == subject]


def test_reader_falls_back_to_get_message_after_deltas_were_dropped(env):
    srv, alice, agent, s = env
    mid = agent.begin_agent_reply(session_id=s.id).message.id
    pieces = [f"part {i} ✓ " for i in range(10)]
    for i, p in enumerate(pieces):
        agent.append_reply_delta(message_id=mid, index=i, text=p)
    content = agent.finish_agent_reply(message_id=mid, status="completed").message.content
    assert content == "".join(pieces)

    def dropped():
        try:
            alice.list_reply_deltas(message_id=mid)
            return False
        except ChatError as e:
            assert (e.code_name, e.reason) == ("OUT_OF_RANGE", "RESYNC_REQUIRED")
            return True
    wait_for(dropped)
    assert alice.get_message(message_id=mid).message.content == content

    with alice.stream_reply(mid, srv.events, timeout_ms=10_000) as rs:
        got = list(rs)
    assert rs.resynced and [d.text for d in got] == [content] and rs.stream_state == E.STREAM_STATE_COMPLETED
    with pytest.raises(ResyncRequired):
        alice.stream_reply(mid, srv.events, from_index=4)
    offset = len("".join(pieces[:4]).encode())
    with alice.stream_reply(mid, srv.events, from_index=4, from_offset=offset) as rs:
        assert rs.text() == "".join(pieces[4:])


def test_idle_reply_is_interrupted_and_the_reader_ends(env):
    srv, alice, agent, s = env
    mid = agent.begin_agent_reply(session_id=s.id).message.id
    agent.append_reply_delta(message_id=mid, index=0, text="thinking")
    agent.append_reply_delta(message_id=mid, index=1, text=" hard")
    t0 = time.monotonic()
    with alice.stream_reply(mid, srv.events, timeout_ms=15_000) as rs:
        assert rs.text() == "thinking hard"
    assert rs.stream_state == E.STREAM_STATE_INTERRUPTED and rs.finish_event is not None
    assert time.monotonic() - t0 < 10
    m = alice.get_message(message_id=mid).message
    assert m.stream_state == E.STREAM_STATE_INTERRUPTED and m.content == "thinking hard" and m.delta_count == 2
    e = pytest.raises(ChatError, agent.append_reply_delta, message_id=mid, index=2, text="!").value
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "REPLY_FINISHED")


def test_stopped_reply_is_finished_by_the_job(env):
    srv, alice, agent, s = env
    mid = agent.begin_agent_reply(session_id=s.id).message.id
    agent.append_reply_delta(message_id=mid, index=0, text="la la")
    alice.stop_reply(message_id=mid)
    m = wait_for(lambda: (lambda m: m if m.stream_state != E.STREAM_STATE_STREAMING else None)(
        alice.get_message(message_id=mid).message))
    assert m.stream_state == E.STREAM_STATE_STOPPED and m.content == "la la"
    assert kinds_for(alice, s.room_id, mid) == [EV.EVENT_KIND_MESSAGE_CREATED, EV.EVENT_KIND_REPLY_STOP_REQUESTED,
                                                EV.EVENT_KIND_MESSAGE_STREAM_FINISHED]


def test_pending_approval_expires(env):
    srv, alice, agent, s = env
    agent.send_agent_reply(session_id=s.id, kind="tool", message_type="tool_call",
                           tool_call={"call_id": "e1", "name": "x.run", "arguments": "{}"})
    assert [a.call_id for a in alice.list_pending_tool_calls(session_id=s.id).approvals] == ["e1"]
    wait_for(lambda: EV.EVENT_KIND_TOOL_CALL_EXPIRED in kinds_for(alice, s.room_id, "e1"))
    assert kinds_for(alice, s.room_id, "e1") == [EV.EVENT_KIND_TOOL_APPROVAL_REQUESTED,
                                                 EV.EVENT_KIND_TOOL_CALL_EXPIRED]
    assert alice.list_pending_tool_calls(session_id=s.id).approvals == []
    e = pytest.raises(ChatError, alice.decide_tool_call, session_id=s.id, call_id="e1", decision="approve").value
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_EXPIRED")
    e = pytest.raises(ChatError, agent.claim_tool_call, session_id=s.id, call_id="e1").value
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_APPROVED")
    e = pytest.raises(ChatError, agent.send_agent_reply, session_id=s.id, kind="tool", message_type="tool_result",
                      tool_call={"call_id": "e1", "name": "x.run", "result": "{}"}).value
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_APPROVED")
