"""SPEC §13 against the real server: streamed replies read by a reader that joins mid-stream, delta
retries and refusals, stop requests, tool approvals claimed exactly once, busy sessions."""
import threading
import time

import pytest

from smrtchat import ChatError, EventSubscriber
from smrtchat.v1 import entities_pb2 as E
from smrtchat.v1 import events_pb2 as EV


def err(fn, **kw):
    with pytest.raises(ChatError) as ei:
        fn(**kw)
    return ei.value


@pytest.fixture
def agent_key(server, tenant):
    return server.create_key([tenant], ("agent",))


@pytest.fixture
def session(alice):
    return alice.create_agent_session(agent_id="writer", allowed_tools=["notes.*"],
                                      approval_tools=["notes.write", "notes.delete"]).session


@pytest.fixture
def agent(make_client, agent_key, tenant, session):
    return make_client(agent_key, tenant, session.agent_profile_id)


def room_events(client, room_id):
    out, after = [], 0
    while True:
        page = client.list_room_events(room_id=room_id, after_seq=after, limit=100)
        out += list(page.events)
        if not page.has_more:
            return out
        after = out[-1].seq


def piece(i):
    return f"w{i} é€ " if i % 7 == 3 else f"w{i} "      # some multi-byte text


# -- (a) a reader joining mid-stream ---------------------------------------------------------------------

def test_reader_joining_mid_stream_reads_every_delta_once(server, alice, agent, session):
    n, joined_at = 150, 40
    msg = agent.begin_agent_reply(session_id=session.id).message
    assert msg.stream_state == E.STREAM_STATE_STREAMING and msg.delta_count == 0 and msg.content == ""
    assert msg.sender_profile_id == session.agent_profile_id and msg.role == E.MESSAGE_ROLE_ASSISTANT
    length = 0
    for i in range(joined_at):
        r = agent.append_reply_delta(message_id=msg.id, index=i, text=piece(i))
        length += len(piece(i).encode())
        assert r.delta_count == i + 1 and r.delta.index == i and r.delta.content_length == length

    so_far = alice.get_message(message_id=msg.id).message
    assert so_far.stream_state == E.STREAM_STATE_STREAMING and so_far.delta_count == joined_at
    assert so_far.content == "".join(piece(i) for i in range(joined_at))

    got, failure, holder = [], [], {}
    started = threading.Event()

    def read():
        try:
            with alice.stream_reply(msg.id, server.events, room_id=session.room_id, timeout_ms=30_000) as rs:
                holder["stream"] = rs
                started.set()
                for d in rs:
                    got.append(d)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            failure.append(e)
            started.set()

    t = threading.Thread(target=read)
    t.start()
    assert started.wait(10)
    for i in range(joined_at, n):
        agent.append_reply_delta(message_id=msg.id, index=i, text=piece(i))
        if i % 10 == 0:
            time.sleep(0.01)
    final = agent.finish_agent_reply(message_id=msg.id, status="completed", tokens_used=n).message
    t.join(30)
    assert not t.is_alive() and not failure, failure

    content = alice.get_message(message_id=msg.id).message.content
    assert final.content == content == "".join(piece(i) for i in range(n))
    assert [d.index for d in got] == list(range(n))
    assert "".join(d.text for d in got) == content
    rs = holder["stream"]
    assert rs.done and not rs.resynced and rs.stream_state == E.STREAM_STATE_COMPLETED and rs.delta_count == n
    assert rs.live_received > 0                          # the live feed carried part of it
    assert final.stream_state == E.STREAM_STATE_COMPLETED and final.delta_count == n

    # Readers after the finish, from the start and from the middle.
    with alice.stream_reply(msg.id, server.events, timeout_ms=10_000) as rs2:
        assert rs2.text() == content
    with alice.stream_reply(msg.id, server.events, from_index=100, timeout_ms=10_000) as rs3:
        tail = list(rs3)
    assert [d.index for d in tail] == list(range(100, n))
    assert "".join(d.text for d in tail) == "".join(piece(i) for i in range(100, n))

    # Paging by hand.
    page = alice.list_reply_deltas(message_id=msg.id, from_index=10, limit=5)
    assert [d.index for d in page.deltas] == [10, 11, 12, 13, 14] and page.has_more
    assert page.stream_state == E.STREAM_STATE_COMPLETED and page.delta_count == n

    # Deltas are not room events: the room log has MESSAGE_CREATED and MESSAGE_STREAM_FINISHED.
    evs = [e for e in room_events(alice, session.room_id) if msg.id in (e.subject_id, e.message.id)]
    assert [e.kind for e in evs] == [EV.EVENT_KIND_MESSAGE_CREATED, EV.EVENT_KIND_MESSAGE_STREAM_FINISHED]
    assert evs[1].message.content == content and evs[1].message.stream_state == E.STREAM_STATE_COMPLETED
    assert alice.get_agent_session(session_id=session.id).session.total_tokens_used == n


def test_reader_fills_live_deltas_it_lost(server, alice, agent, session):
    """A one-message receive buffer and a reader that does not read while 80 deltas are appended: most
    live deltas are dropped; the reader reads the gaps from ListReplyDeltas."""
    msg = agent.begin_agent_reply(session_id=session.id).message
    with alice.stream_reply(msg.id, server.events, room_id=session.room_id, recv_buffer_size=1,
                            idle_poll_ms=60_000, timeout_ms=20_000) as rs:
        fills = rs.fills
        for i in range(80):
            agent.append_reply_delta(message_id=msg.id, index=i, text=piece(i))
        time.sleep(0.3)
        got = [rs.poll(5000) for _ in range(80)]
        agent.finish_agent_reply(message_id=msg.id, status="completed")
        got += list(rs)
    content = alice.get_message(message_id=msg.id).message.content
    assert [d.index for d in got] == list(range(80)) and "".join(d.text for d in got) == content
    assert rs.fills > fills and rs.live_received < 80 and not rs.resynced


def test_reader_of_a_message_that_never_streamed(server, alice, session):
    m = alice.send_agent_user_message(session_id=session.id, content="plain, not streamed").message
    with alice.stream_reply(m.id, server.events, timeout_ms=5000) as rs:
        got = list(rs)
    assert [(d.index, d.text) for d in got] == [(0, "plain, not streamed")] and rs.resynced


def test_event_subscribers_never_see_deltas(server, alice, agent, session):
    with EventSubscriber(alice, server.events, room_id=session.room_id) as sub:
        before = len(sub.take(1000, 500))
        msg = agent.begin_agent_reply(session_id=session.id).message
        for i in range(5):
            agent.append_reply_delta(message_id=msg.id, index=i, text=f"{i}")
        agent.finish_agent_reply(message_id=msg.id, status="completed")
        got = sub.take(1000, 1500)
    assert before >= 1
    assert [e.kind for e in got] == [EV.EVENT_KIND_MESSAGE_CREATED, EV.EVENT_KIND_MESSAGE_STREAM_FINISHED]


# -- (b) retries, conflicts, gaps, finish ----------------------------------------------------------------

def test_delta_retry_conflict_and_gap(alice, agent, session):
    msg = agent.begin_agent_reply(session_id=session.id, client_request_id="begin-1")
    assert not msg.replayed
    again = agent.begin_agent_reply(session_id=session.id, client_request_id="begin-1")
    assert again.replayed and again.message.id == msg.message.id
    mid = msg.message.id

    first = agent.append_reply_delta(message_id=mid, index=0, text="Hello")
    assert first.delta_count == 1 and first.delta.content_length == 5
    retry = agent.append_reply_delta(message_id=mid, index=0, text="Hello")         # a retry: OK
    assert retry.delta_count == 1 and retry.delta.text == "" and retry.delta.index == 0  # the kept reply holds no text

    e = err(agent.append_reply_delta, message_id=mid, index=0, text="Howdy")
    assert (e.code_name, e.reason) == ("ABORTED", "DELTA_CONFLICT")
    e = err(agent.append_reply_delta, message_id=mid, index=2, text=" world")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "DELTA_OUT_OF_ORDER")
    assert e.metadata.get("expected_index") == "1"
    e = err(agent.append_reply_delta, message_id=mid, index=1, text="")
    assert (e.code_name, e.reason) == ("INVALID_ARGUMENT", "VALIDATION")
    e = err(agent.append_reply_delta, message_id=mid, index=1, text="x" * (16 * 1024 + 1))
    assert e.code_name == "INVALID_ARGUMENT"
    agent.append_reply_delta(message_id=mid, index=1, text="x" * (16 * 1024))      # the limit itself
    agent.append_reply_delta(message_id=mid, index=2, text=", world")
    m = alice.get_message(message_id=mid).message
    assert m.content == "Hello" + "x" * 16384 + ", world" and m.delta_count == 3

    # Only the agent key appends; the chat participant cannot.
    e = err(alice.with_actor(session.agent_profile_id).append_reply_delta, message_id=mid, index=3, text="!")
    assert (e.code_name, e.reason) == ("PERMISSION_DENIED", "SCOPE_MISSING")

    done = agent.finish_agent_reply(message_id=mid, status="completed").message
    assert done.stream_state == E.STREAM_STATE_COMPLETED
    again = agent.finish_agent_reply(message_id=mid, status="completed").message    # same status: no-op
    assert again.stream_state == E.STREAM_STATE_COMPLETED and again.content == done.content
    e = err(agent.finish_agent_reply, message_id=mid, status="failed")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "REPLY_FINISHED")
    # State checks come before index checks: a finished reply refuses even a retry or a conflict.
    for index, text in ((3, "!"), (0, "Hello"), (0, "Howdy"), (9, "?")):
        e = err(agent.append_reply_delta, message_id=mid, index=index, text=text)
        assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "REPLY_FINISHED"), (index, text)


def test_failed_reply_keeps_its_partial_content(alice, agent, session):
    mid = agent.begin_agent_reply(session_id=session.id).message.id
    agent.append_reply_delta(message_id=mid, index=0, text="partial")
    m = agent.finish_agent_reply(message_id=mid, status="failed").message
    assert m.stream_state == E.STREAM_STATE_FAILED and m.content == "partial"
    assert alice.get_message(message_id=mid).message.stream_state == E.STREAM_STATE_FAILED


# -- (d) stop -------------------------------------------------------------------------------------------

def test_stop_reply(server, alice, agent, session):
    mid = agent.begin_agent_reply(session_id=session.id).message.id
    agent.append_reply_delta(message_id=mid, index=0, text="I will go on and on")
    with alice.stream_reply(mid, server.events, timeout_ms=10_000) as rs:
        assert rs.poll(3000).text == "I will go on and on"
        alice.stop_reply(message_id=mid)
        alice.stop_reply(message_id=mid)                                          # twice: a no-op
        e = err(agent.append_reply_delta, message_id=mid, index=1, text=" and on")
        assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "REPLY_STOPPED")
        fin = agent.finish_agent_reply(message_id=mid, status="completed").message
        assert fin.stream_state == E.STREAM_STATE_STOPPED and fin.content == "I will go on and on"
        assert list(rs) == []
        assert rs.stream_state == E.STREAM_STATE_STOPPED
    e = err(agent.append_reply_delta, message_id=mid, index=1, text=" and on")
    assert e.reason in ("REPLY_FINISHED", "REPLY_STOPPED")
    alice.stop_reply(message_id=mid)                                              # finished: a no-op
    kinds = [e.kind for e in room_events(alice, session.room_id) if mid in (e.subject_id, e.message.id)]
    assert kinds == [EV.EVENT_KIND_MESSAGE_CREATED, EV.EVENT_KIND_REPLY_STOP_REQUESTED,
                     EV.EVENT_KIND_MESSAGE_STREAM_FINISHED]
    # Only the session's participant stops a reply; an agent key cannot.
    mid2 = agent.begin_agent_reply(session_id=session.id).message.id
    e = err(alice.with_actor("bob").stop_reply, message_id=mid2)
    assert e.code_name in ("PERMISSION_DENIED", "NOT_FOUND")
    e = err(agent.stop_reply, message_id=mid2)
    assert (e.code_name, e.reason) == ("PERMISSION_DENIED", "SCOPE_MISSING")
    agent.finish_agent_reply(message_id=mid2, status="completed")


# -- busy sessions --------------------------------------------------------------------------------------

def test_busy_policies(make_client, agent_key, alice, tenant):
    s = alice.create_agent_session(agent_id="busy", busy_policy="reject").session
    assert s.busy_policy == E.BUSY_POLICY_REJECT
    agent = make_client(agent_key, tenant, s.agent_profile_id)
    mid = agent.begin_agent_reply(session_id=s.id).message.id
    e = err(alice.send_agent_user_message, session_id=s.id, content="are you done?")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "SESSION_BUSY")
    agent.finish_agent_reply(message_id=mid, status="completed")
    alice.send_agent_user_message(session_id=s.id, content="now?")

    s = alice.update_agent_session_config(session_id=s.id, busy_policy="interrupt").session
    assert s.busy_policy == E.BUSY_POLICY_INTERRUPT
    mid = agent.begin_agent_reply(session_id=s.id).message.id
    agent.append_reply_delta(message_id=mid, index=0, text="long answer")
    alice.send_agent_user_message(session_id=s.id, content="stop, new question")
    e = err(agent.append_reply_delta, message_id=mid, index=1, text=" continues")
    assert e.reason == "REPLY_STOPPED"
    assert agent.finish_agent_reply(message_id=mid, status="completed").message.stream_state == \
        E.STREAM_STATE_STOPPED

    s = alice.update_agent_session_config(session_id=s.id, busy_policy="enqueue").session
    assert s.busy_policy == E.BUSY_POLICY_ENQUEUE
    mid = agent.begin_agent_reply(session_id=s.id).message.id
    alice.send_agent_user_message(session_id=s.id, content="queued")
    agent.append_reply_delta(message_id=mid, index=0, text="fine")
    assert agent.finish_agent_reply(message_id=mid, status="completed").message.stream_state == \
        E.STREAM_STATE_COMPLETED


# -- (c) tool approvals ---------------------------------------------------------------------------------

def tool_call(agent, session, call_id, name, args='{"text": "hi"}'):
    return agent.send_agent_reply(session_id=session.id, kind="tool", message_type="tool_call",
                                  tool_call={"call_id": call_id, "name": name, "arguments": args}).message


def tool_result(agent, session, call_id, name, result='{"ok": true}'):
    return agent.send_agent_reply(session_id=session.id, kind="tool", message_type="tool_result",
                                  tool_call={"call_id": call_id, "name": name, "result": result}).message


def test_approval_claimed_exactly_once(make_client, agent_key, alice, agent, session, tenant):
    assert list(session.approval_tools) == ["notes.write", "notes.delete"]
    chk = agent.check_tool_call(session_id=session.id, tool_name="notes.write")
    assert chk.allowed and chk.requires_approval
    assert not agent.check_tool_call(session_id=session.id, tool_name="notes.read").requires_approval

    call = tool_call(agent, session, "w1", "notes.write")
    pending = alice.list_pending_tool_calls(session_id=session.id).approvals
    assert [(p.call_id, p.tool_name, p.approval_state, p.message_id) for p in pending] == \
        [("w1", "notes.write", E.APPROVAL_STATE_PENDING, call.id)]
    assert [p.call_id for p in alice.list_pending_tool_calls().approvals] == ["w1"]     # all my sessions
    assert alice.with_actor("bob").list_pending_tool_calls().approvals == []

    # Not yet approved: neither a claim nor a result.
    e = err(agent.claim_tool_call, session_id=session.id, call_id="w1")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_APPROVED")
    e = err(tool_result, agent=agent, session=session, call_id="w1", name="notes.write")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_APPROVED")
    # Only the participant decides (SPEC §13.2: "anyone else PERMISSION_DENIED NOT_SESSION_PARTICIPANT";
    # an agent never approves its own calls, not even through a chat key).
    for stranger in (alice.with_actor("bob"), alice.with_actor(session.agent_profile_id)):
        e = err(stranger.decide_tool_call, session_id=session.id, call_id="w1", decision="approve")
        assert (e.code_name, e.reason) == ("PERMISSION_DENIED", "NOT_SESSION_PARTICIPANT"), stranger.actor_profile_id
    e = err(agent.decide_tool_call, session_id=session.id, call_id="w1", decision="approve")
    assert (e.code_name, e.reason) == ("PERMISSION_DENIED", "SCOPE_MISSING")

    ok = alice.decide_tool_call(session_id=session.id, call_id="w1", decision="approve", reason="go ahead").approval
    assert ok.approval_state == E.APPROVAL_STATE_APPROVED and ok.decided_by_profile_id == "alice"
    assert ok.reason == "go ahead" and not ok.HasField("claimed_at")
    same = alice.decide_tool_call(session_id=session.id, call_id="w1", decision="approve").approval
    assert same.approval_state == E.APPROVAL_STATE_APPROVED                                # same: no-op
    e = err(alice.decide_tool_call, session_id=session.id, call_id="w1", decision="reject")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_ALREADY_DECIDED")
    assert alice.list_pending_tool_calls(session_id=session.id).approvals == []
    e = err(tool_result, agent=agent, session=session, call_id="w1", name="notes.write")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_CLAIMED")

    # Two agent runtimes race to claim it: exactly one wins.
    runtimes = [make_client(agent_key, tenant, session.agent_profile_id) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def claim(c):
        barrier.wait()
        try:
            outcomes.append(c.claim_tool_call(session_id=session.id, call_id="w1"))
        except ChatError as ex:
            outcomes.append(ex)
    threads = [threading.Thread(target=claim, args=(c,)) for c in runtimes]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    wins = [o for o in outcomes if not isinstance(o, ChatError)]
    losses = [o for o in outcomes if isinstance(o, ChatError)]
    assert len(wins) == 1 and len(losses) == 1, outcomes
    assert (losses[0].code_name, losses[0].reason) == ("FAILED_PRECONDITION", "TOOL_CALL_ALREADY_CLAIMED")
    won = wins[0]
    assert won.approval.HasField("claimed_at") and won.approval.approval_state == E.APPROVAL_STATE_APPROVED
    assert won.message.id == call.id and won.message.tool_call.arguments == '{"text":"hi"}'
    e = err(agent.claim_tool_call, session_id=session.id, call_id="w1")
    assert e.reason == "TOOL_CALL_ALREADY_CLAIMED"

    res = tool_result(agent, session, "w1", "notes.write")
    assert res.message_type == E.MESSAGE_TYPE_TOOL_RESULT
    e = err(agent.claim_tool_call, session_id=session.id, call_id="w1")
    assert e.reason in ("TOOL_CALL_ALREADY_CLAIMED", "TOOL_CALL_ALREADY_ANSWERED")

    evs = [e for e in room_events(alice, session.room_id) if e.subject_id == "w1"]
    assert [e.kind for e in evs] == [EV.EVENT_KIND_TOOL_APPROVAL_REQUESTED, EV.EVENT_KIND_TOOL_CALL_APPROVED,
                                     EV.EVENT_KIND_TOOL_CALL_CLAIMED]
    assert all(e.tool_call_approval.call_id == "w1" and e.tool_call_approval.session_id == session.id
               for e in evs)
    assert evs[-1].actor_profile_id == session.agent_profile_id


def test_rejected_and_approval_free_calls(alice, agent, session):
    tool_call(agent, session, "d1", "notes.delete")
    r = alice.decide_tool_call(session_id=session.id, call_id="d1", decision="reject", reason="no").approval
    assert r.approval_state == E.APPROVAL_STATE_REJECTED
    e = err(agent.claim_tool_call, session_id=session.id, call_id="d1")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_APPROVED")
    e = err(tool_result, agent=agent, session=session, call_id="d1", name="notes.delete")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NOT_APPROVED")
    e = err(alice.decide_tool_call, session_id=session.id, call_id="d1", decision="approve")
    assert e.reason == "TOOL_CALL_ALREADY_DECIDED"
    kinds = [e.kind for e in room_events(alice, session.room_id) if e.subject_id == "d1"]
    assert kinds == [EV.EVENT_KIND_TOOL_APPROVAL_REQUESTED, EV.EVENT_KIND_TOOL_CALL_REJECTED]

    # A call needing no approval: nothing to decide; it may be claimed once (or answered directly).
    tool_call(agent, session, "r1", "notes.read")
    e = err(alice.decide_tool_call, session_id=session.id, call_id="r1", decision="approve")
    assert (e.code_name, e.reason) == ("FAILED_PRECONDITION", "TOOL_CALL_NO_APPROVAL_NEEDED")
    assert agent.claim_tool_call(session_id=session.id, call_id="r1").message.tool_call.name == "notes.read"
    e = err(agent.claim_tool_call, session_id=session.id, call_id="r1")
    assert e.reason == "TOOL_CALL_ALREADY_CLAIMED"
    tool_result(agent, session, "r1", "notes.read")
    tool_call(agent, session, "r2", "notes.read")
    tool_result(agent, session, "r2", "notes.read")                               # no claim needed

    e = err(alice.decide_tool_call, session_id=session.id, call_id="nope", decision="approve")
    assert (e.code_name, e.metadata.get("resource")) == ("NOT_FOUND", "tool_call")
    e = err(agent.claim_tool_call, session_id=session.id, call_id="nope")
    assert (e.code_name, e.metadata.get("resource")) == ("NOT_FOUND", "tool_call")


def test_update_session_approval_tools(alice, agent, session):
    s = alice.update_agent_session_config(session_id=session.id, approval_tools=["notes.*"]).session
    assert list(s.approval_tools) == ["notes.*"]
    assert agent.check_tool_call(session_id=session.id, tool_name="notes.read").requires_approval
    s = alice.update_agent_session_config(session_id=session.id, approval_tools=[]).session
    assert list(s.approval_tools) == []
    assert not agent.check_tool_call(session_id=session.id, tool_name="notes.write").requires_approval
    assert list(alice.get_agent_session(session_id=session.id).session.approval_tools) == []


def test_pending_calls_page_oldest_first(alice, agent, session):
    for i in range(5):
        tool_call(agent, session, f"p{i}", "notes.write")
    seen, cursor = [], ""
    while True:
        page = alice.list_pending_tool_calls(session_id=session.id, cursor=cursor, limit=2)
        seen += [a.call_id for a in page.approvals]
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == [f"p{i}" for i in range(5)]
