"""EventSubscriber: live feed plus catch-up, ending with exactly the durable log, in order."""
import time

import pytest

import smrtchat
from smrtchat import EventSubscriber
from smrtchat.v1 import events_pb2 as EV


def room_log(client, room_id):
    out, after = [], 0
    while True:
        page = client.list_room_events(room_id=room_id, after_seq=after, limit=50)
        out += list(page.events)
        if not page.has_more:
            return out
        after = out[-1].seq


def tenant_log(client, after=0):
    out = []
    while True:
        page = client.list_tenant_events(after_event_id=after, limit=50)
        out += list(page.events)
        if not page.has_more:
            return out
        after = out[-1].event_id


def key(evs):
    return [(e.room_id, e.seq, e.event_id, e.kind) for e in evs]


def drain(sub, want, timeout=10.0):
    """Reads until `want` events arrived (then a little longer, to catch duplicates)."""
    got = sub.take(want, int(timeout * 1000))
    got += sub.take(1_000_000, 300)
    return got


@pytest.fixture
def events_client(server, make_client, tenant):
    return make_client(server.create_key([tenant], ("chat", "events")), tenant, "alice")


def test_room_catch_up_at_start_then_live(server, alice):
    room = alice.create_room(name="ev", room_type="private").room
    for i in range(5):
        alice.send_message(room_id=room.id, content=f"before {i}")
    with EventSubscriber(alice, server.events, room_id=room.id) as sub:
        first = sub.take(7, 5000)                  # ROOM_CREATED, PARTICIPANT_JOINED, 5 messages
        assert [e.seq for e in first] == list(range(1, 8))
        for i in range(5):
            alice.send_message(room_id=room.id, content=f"after {i}")
        rest = drain(sub, 5)
        log = room_log(alice, room.id)
        assert key(first + rest) == key(log)
        assert rest[-1].kind == EV.EVENT_KIND_MESSAGE_CREATED and rest[-1].message.content == "after 4"
        assert sub.live_received >= 1


def test_room_resume_after_seq_skips_delivered(server, alice):
    room = alice.create_room(name="resume", room_type="private").room
    for i in range(4):
        alice.send_message(room_id=room.id, content=str(i))
    with EventSubscriber(alice, server.events, room_id=room.id, after_seq=3) as sub:
        got = drain(sub, 3)
    assert [e.seq for e in got] == [4, 5, 6]


def test_room_gap_from_dropped_live_events(server, alice):
    """A tiny receive buffer and a reader that stops reading: most live events are dropped; the
    subscriber notices the seq jumps and fills them from the log."""
    room = alice.create_room(name="gap", room_type="private").room
    with EventSubscriber(alice, server.events, room_id=room.id, recv_buffer_size=1,
                         idle_catchup_ms=60_000) as sub:
        start = sub.take(2, 3000)
        assert [e.seq for e in start] == [1, 2]
        catchups = sub.catchups
        for i in range(40):                        # not reading meanwhile
            alice.send_message(room_id=room.id, content=f"burst {i}")
        time.sleep(0.3)
        alice.send_message(room_id=room.id, content="last")
        got = drain(sub, 41)
        assert key(start + got) == key(room_log(alice, room.id))
        assert sub.catchups > catchups             # the gap was filled from the log
        assert sub.live_received < 41              # and some live events were indeed lost


def test_room_reconnect_fills_what_was_missed(server, alice):
    room = alice.create_room(name="reconnect", room_type="private").room
    with EventSubscriber(alice, server.events, room_id=room.id) as sub:
        assert len(sub.take(2, 3000)) == 2
        sub._sock.close()                          # the link goes away ...
        for i in range(6):
            alice.send_message(room_id=room.id, content=f"missed {i}")
        sub.reconnect()                            # ... and comes back
        alice.send_message(room_id=room.id, content="live again")
        got = drain(sub, 7)
        assert [e.seq for e in got] == list(range(3, 10))
        assert key(got) == key(room_log(alice, room.id)[2:])


def test_trailing_drop_found_when_idle(server, alice):
    """A dropped last event has no successor to reveal the gap; the idle catch-up finds it."""
    room = alice.create_room(name="tail", room_type="private").room
    with EventSubscriber(alice, server.events, room_id=room.id, idle_catchup_ms=200) as sub:
        assert len(sub.take(2, 3000)) == 2
        sub._sock.close()
        sub._connect()                             # a reconnect the subscriber was not told about
        alice.send_message(room_id=room.id, content="maybe lost")
        got = drain(sub, 1)
    assert [e.seq for e in got] == [3]


def test_tenant_subscriber_multiple_rooms(server, events_client):
    alice = events_client
    bob = alice.with_actor("bob")
    r1 = alice.create_room(name="one", room_type="private").room
    alice.send_message(room_id=r1.id, content="early")
    with EventSubscriber(alice, server.events, recv_buffer_size=2) as sub:   # tenant mode, from the start
        r2 = bob.create_room(name="two", room_type="public").room
        for i in range(15):
            alice.send_message(room_id=r1.id, content=f"a{i}")
            bob.send_message(room_id=r2.id, content=f"b{i}")
        log = tenant_log(alice)
        got = drain(sub, len(log))
        # Exactly the log; each room in seq order without gaps or duplicates.
        assert sorted(key(got), key=lambda k: k[2]) == key(log)
        assert len(got) == len(log)
        for rid in (r1.id, r2.id):
            seqs = [e.seq for e in got if e.room_id == rid]
            assert seqs == list(range(1, len(seqs) + 1))
        resume_at = log[len(log) // 2].event_id
    # Resuming from an event id yields exactly what follows it.
    alice.send_message(room_id=r1.id, content="later")
    with EventSubscriber(alice, server.events, after_event_id=resume_at) as sub2:
        log = tenant_log(alice, resume_at)
        got = drain(sub2, len(log))
    assert key(got) == key(log)


def test_tenant_events_need_the_events_scope(server, alice):
    with pytest.raises(smrtchat.ChatError) as ei:
        EventSubscriber(alice, server.events)
    assert ei.value.reason == "SCOPE_MISSING"
