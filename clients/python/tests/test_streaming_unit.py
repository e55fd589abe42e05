"""ReplyStream against a fake server: a real PUB socket the test controls and a fake ListReplyDeltas /
GetMessage, so lost, repeated and late live deltas, a lost finish event and dropped deltas are exact."""
import socket
import threading
import time

import pynng
import pytest

import smrtchat
from smrtchat import ChatError, ReplyStream, ResyncRequired
from smrtchat.v1 import chat_pb2, entities_pb2 as E, events_pb2 as EV, rpc_pb2

TENANT, ROOM, MID = "t1", "room-1", "msg-1"


def free_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class FakeServer:
    """Stores a reply's deltas, publishes them (or not), answers the reader's two calls."""
    tenant_id = TENANT

    def __init__(self):
        self.url = free_url()
        self.pub = pynng.Pub0(listen=self.url)
        self.deltas: list[E.ReplyDelta] = []
        self.state = E.STREAM_STATE_STREAMING
        self.dropped = False
        self.calls = []
        self.lock = threading.Lock()

    @property
    def content(self):
        return "".join(d.text for d in self.deltas)

    def publish_delta(self, d):
        self.pub.send(smrtchat.stream_topic(TENANT, ROOM, MID) + b"\x00" + d.SerializeToString())

    def append(self, text, publish=True):
        with self.lock:
            d = E.ReplyDelta(message_id=MID, index=len(self.deltas), text=text,
                             content_length=len((self.content + text).encode()))
            self.deltas.append(d)
        if publish:
            self.publish_delta(d)
        return d

    def finish(self, state=E.STREAM_STATE_COMPLETED, publish=True):
        with self.lock:
            self.state = state
        if publish:
            ev = EV.RoomEvent(tenant_id=TENANT, room_id=ROOM, seq=9, kind=EV.EVENT_KIND_MESSAGE_STREAM_FINISHED,
                              subject_id=MID, message=self.message())
            self.pub.send(smrtchat.topic_prefix(TENANT, ROOM) + b"\x00" + ev.SerializeToString())

    def message(self):
        return E.Message(id=MID, room_id=ROOM, tenant_id=TENANT, content=self.content, stream_state=self.state,
                         delta_count=len(self.deltas))

    # -- the client calls the reader makes ----------------------------------------------------------
    def list_reply_deltas(self, message_id, from_index, limit):
        with self.lock:
            self.calls.append(("list", from_index))
            if self.dropped:
                raise ChatError(rpc_pb2.CODE_OUT_OF_RANGE, "RESYNC_REQUIRED", "deltas dropped")
            page = self.deltas[from_index:from_index + limit]
            return chat_pb2.ListReplyDeltasResponse(
                deltas=page, has_more=from_index + limit < len(self.deltas), stream_state=self.state,
                delta_count=len(self.deltas))

    def get_message(self, message_id):
        with self.lock:
            self.calls.append(("get", message_id))
            return chat_pb2.GetMessageResponse(message=self.message())

    def close(self):
        self.pub.close()


@pytest.fixture
def fake():
    f = FakeServer()
    yield f
    f.close()


def reader(fake, **kw):
    kw.setdefault("room_id", ROOM)
    kw.setdefault("timeout_ms", 10_000)
    return ReplyStream(fake, fake.url, MID, **kw)


def check(got, fake, start=0):
    assert [d.index for d in got] == list(range(start, len(fake.deltas)))
    assert "".join(d.text for d in got) == "".join(d.text for d in fake.deltas[start:])


def test_join_mid_stream_with_lost_and_repeated_live_deltas(fake):
    for i in range(5):
        fake.append(f"a{i} ")                     # before the reader exists: only in the store
    with reader(fake, page_limit=2, idle_poll_ms=60_000) as rs:   # no idle polls: only the gap reads
        got = [rs.poll(2000) for _ in range(5)]  # the fill, paged by 2
        assert rs.fills == 3
        fake.append("b5 ")
        got.append(rs.poll(2000))                 # live
        assert rs.live_yielded == 1 and rs.fills == 3
        d6 = fake.append("b6 ", publish=False)   # a lost live delta ...
        fake.append("b7 ")                       # ... is read when the next one arrives ahead of it
        got += [rs.poll(2000), rs.poll(2000)]
        assert [d.index for d in got[-2:]] == [6, 7] and rs.fills == 4
        fake.publish_delta(d6)                   # late, a duplicate by now
        fake.publish_delta(fake.deltas[2])       # an old one again
        fake.append("é€😀")                       # multi-byte text
        got.append(rs.poll(2000))
        fake.finish()
        got += list(rs)
    check(got, fake)
    assert rs.done and rs.stream_state == E.STREAM_STATE_COMPLETED and rs.delta_count == 9
    # Duplicates: the stored copy of 7 (the live one was held), the late 6, the old 2.
    assert rs.duplicates == 3 and rs.live_received == 5 and rs.live_yielded == 2 and not rs.resynced
    assert rs.content_length == len(fake.content.encode())


def test_lost_finish_event_found_by_the_idle_poll(fake):
    fake.append("x")
    with reader(fake, idle_poll_ms=100) as rs:
        fake.append("y", publish=False)
        fake.finish(publish=False)
        t0 = time.monotonic()
        got = list(rs)
    check(got, fake)
    assert time.monotonic() - t0 < 3


def test_finished_before_reading_needs_no_live_feed(fake):
    for t in "abc":
        fake.append(t, publish=False)
    fake.finish(E.STREAM_STATE_STOPPED, publish=False)
    rs = reader(fake)
    assert rs.text() == "abc" and rs.stream_state == E.STREAM_STATE_STOPPED
    rs.close()


def test_from_index(fake):
    for t in "abcdef":
        fake.append(t)
    fake.finish()
    with reader(fake, from_index=4) as rs:
        got = list(rs)
    check(got, fake, start=4)
    assert fake.calls[0] == ("list", 4)


def test_resync_after_deltas_were_dropped(fake):
    for t in ("one ", "two ", "three"):
        fake.append(t)
    with reader(fake, idle_poll_ms=100) as rs:
        first = rs.poll(2000)
        assert first.text == "one "
        fake.finish(publish=False)
        fake.dropped = True
        # The reader already holds the first page; drop it to model a reader that had read only delta 0.
        rs._pending.clear()
        rs.next_index, rs.content_length = 1, first.content_length
        rest = list(rs)
    assert rs.resynced and [d.text for d in rest] == ["two three"] and rest[0].index == 1
    assert first.text + rest[0].text == fake.content


def test_resync_at_start(fake):
    fake.append("whole ")
    fake.append("reply")
    fake.finish(publish=False)
    fake.dropped = True
    with reader(fake) as rs:
        assert [d.text for d in rs] == ["whole reply"] and rs.resynced
    with pytest.raises(ResyncRequired):
        reader(fake, from_index=1)
    with reader(fake, from_index=1, from_offset=len("whole ")) as rs:
        assert rs.text() == "reply"


def test_timeout_when_the_reply_never_finishes(fake):
    fake.append("x")
    with reader(fake, timeout_ms=300, idle_poll_ms=100) as rs:
        assert rs.poll(1000).text == "x"
        with pytest.raises(TimeoutError):
            list(rs)


def test_streaming_ops_and_session_options_build():
    new = smrtchat.Client.new_request
    assert new("finish_agent_reply", message_id="m", status="completed").status == E.STREAM_STATE_COMPLETED
    assert new("decide_tool_call", session_id="s", call_id="c", decision="reject").decision == \
        chat_pb2.TOOL_DECISION_REJECT
    req = new("create_agent_session", agent_id="a", allowed_tools=["x.*"], approval_tools=["x.write"],
              busy_policy="interrupt")
    assert list(req.approval_tools) == ["x.write"] and req.busy_policy == E.BUSY_POLICY_INTERRUPT
    req = new("update_agent_session_config", session_id="s", approval_tools=[], busy_policy="reject")
    assert req.HasField("approval_tools") and list(req.approval_tools.tools) == []
    assert req.busy_policy == E.BUSY_POLICY_REJECT
    for op in ("begin_agent_reply", "append_reply_delta", "finish_agent_reply", "stop_reply", "list_reply_deltas",
               "decide_tool_call", "claim_tool_call", "list_pending_tool_calls"):
        assert callable(getattr(smrtchat.Client, op))
    assert smrtchat.stream_topic("t", "r", "m") == b"smrt.chat.v1.stream/t/r/m/"
    assert not smrtchat.stream_topic("t", "r", "m").startswith(smrtchat.topic_prefix("t"))
