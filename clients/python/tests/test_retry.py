"""Idempotent retries: the same frame again gets the stored response, and the call runs once (SPEC §7.4)."""
import socket
import threading

import pynng
import pytest

import smrtchat
from smrtchat.v1 import events_pb2 as EV


def test_resend_same_frame_runs_once(alice):
    room = alice.create_room(name="retry", room_type="private").room
    env = alice.build_envelope("SendMessage", room_id=room.id, content="only once")
    first = alice.send_frame(env)
    second = alice.send_frame(env.SerializeToString())
    assert first.status.code == second.status.code == 0
    assert first == second
    m1 = smrtchat.chat_pb2.SendMessageResponse.FromString(first.payload).message
    assert [m.id for m in alice.list_room_messages(room_id=room.id).messages] == [m1.id]
    created = [e for e in alice.list_room_events(room_id=room.id).events if e.kind == EV.EVENT_KIND_MESSAGE_CREATED]
    assert len(created) == 1


def test_resent_refusal_is_answered_from_the_cache(alice):
    room = alice.create_room(name="refusal", room_type="private").room
    env = alice.with_actor("bob").build_envelope("SendMessage", room_id=room.id, content="not a member")
    a, b = alice.send_frame(env), alice.send_frame(env)
    assert a == b and a.status.reason in ("NOT_FOUND", "NOT_MEMBER")


class LossyProxy:
    """A REP endpoint forwarding to the server that swallows the first `drop` replies (the call still ran)."""

    def __init__(self, upstream, drop):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.url = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        self.rep = pynng.Rep0(listen=self.url, recv_timeout=100)
        self.req = pynng.Req0(recv_timeout=5000)
        for u in upstream:
            self.req.dial(u, block=False)
        self.drop = drop
        self.frames = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                frame = self.rep.recv()
            except pynng.Timeout:
                continue
            except pynng.Closed:
                return
            self.frames.append(frame)
            self.req.send(frame)
            answer = self.req.recv()
            if self.drop > 0:
                self.drop -= 1
                continue
            self.rep.send(answer)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.rep.close()
        self.req.close()


@pytest.mark.parametrize("mode", ["client-retry", "nng-resend"])
def test_lost_reply_is_retried_with_the_same_frame(server, chat_key, alice, mode):
    room = alice.create_room(name="lossy", room_type="private").room
    proxy = LossyProxy([server.rpc_tcp], drop=2)
    kw = dict(timeout_ms=300, resend_ms=None, max_attempts=4) if mode == "client-retry" else \
        dict(timeout_ms=3000, resend_ms=150, max_attempts=1)
    c = smrtchat.Client([proxy.url], chat_key[0], chat_key[1], alice.tenant_id, "alice", **kw)
    try:
        sent = c.send_message(room_id=room.id, content="through a lossy link")
    finally:
        c.close()
        proxy.close()
    assert len(proxy.frames) == 3 and len(set(proxy.frames)) == 1     # byte-identical resends
    msgs = alice.list_room_messages(room_id=room.id).messages
    assert [m.id for m in msgs] == [sent.message.id]
