"""Gap-free, duplicate-free room events: the PUB/SUB live feed plus catch-up from the durable log."""
from __future__ import annotations

import collections
import time

import pynng

from smrtchat.client import Client
from smrtchat.errors import ChatError, ResyncRequired
from smrtchat.v1 import events_pb2, rpc_pb2

TOPIC_ROOT = "smrt.chat.v1"


def topic_prefix(tenant_id: str, room_id: str | None = None) -> bytes:
    """`smrt.chat.v1/<tenant>/` (a tenant) or `smrt.chat.v1/<tenant>/<room>/` (one room)."""
    t = f"{TOPIC_ROOT}/{tenant_id}/"
    if room_id:
        t += f"{room_id}/"
    return t.encode("utf-8")


def parse_event_message(data: bytes) -> tuple[bytes, events_pb2.RoomEvent]:
    """Splits one PUB message (topic + 0x00 + serialized RoomEvent)."""
    topic, sep, body = data.partition(b"\x00")
    if not sep:
        raise ValueError("event message without topic separator")
    ev = events_pb2.RoomEvent()
    ev.ParseFromString(body)
    return topic, ev


class EventSubscriber:
    """Yields the RoomEvents of one room, or of a whole tenant, in order, without gaps or duplicates.

    ``EventSubscriber(client, events_endpoints, room_id=R, after_seq=N)`` yields the room's events with
    seq > N; ``EventSubscriber(client, events_endpoints, after_event_id=E)`` (no room) yields the
    tenant's events with event_id > E (needs a key with the ``events`` scope). It subscribes to the
    PUB socket first, then catches up from the durable log (ListRoomEvents / ListTenantEvents), then
    follows the live feed, skipping what it already delivered. A seq jump in a room (a dropped
    message), a reconnect, or ``idle_catchup_ms`` without live traffic triggers a catch-up, so a
    dropped tail event is found too. Per-room order is always seq order; in tenant mode, events of
    different rooms come in log order during catch-up and in publish order live.

    Iterate it (``for ev in sub``; ends after ``close()``), or ``poll(timeout_ms)`` / ``take(n, timeout_ms)``.
    ``ResyncRequired`` is raised when the log was purged past the resume point.
    """

    def __init__(self, client: Client, events_endpoints: list[str] | str, tenant_id: str | None = None,
                 room_id: str | None = None, after_seq: int = 0, after_event_id: int = 0,
                 recv_timeout_ms: int = 100, idle_catchup_ms: int = 1000, page_limit: int = 200,
                 recv_buffer_size: int | None = None, connect_timeout_ms: int = 2000):
        if isinstance(events_endpoints, str):
            events_endpoints = [e for e in events_endpoints.split(",") if e]
        self.events_endpoints = list(events_endpoints)
        self.tenant_id = tenant_id or client.tenant_id
        self.client = client if self.tenant_id == client.tenant_id else client.with_tenant(self.tenant_id)
        self.room_id = room_id
        self.recv_timeout_ms = recv_timeout_ms
        self.idle_catchup_ms = idle_catchup_ms
        self.page_limit = page_limit
        self.recv_buffer_size = recv_buffer_size
        self.connect_timeout_ms = connect_timeout_ms
        # Room mode: the room's last delivered seq. Tenant mode: per-room last seq; a room unknown
        # after a non-zero start position takes its first seen seq as its baseline.
        self._room_seq: dict[str, int] = {}
        if room_id:
            self._room_seq[room_id] = after_seq
        self._fresh = room_id is not None or after_event_id == 0
        self._confirmed_event_id = after_event_id   # tenant log read (and delivered) up to here
        self.last_event_id = after_event_id           # highest event_id delivered
        self._pending: collections.deque = collections.deque()
        self._sock: pynng.Sub0 | None = None
        self._closed = False
        self._last_catchup = 0.0
        self.catchups = 0                             # catch-up passes and gap fills (for tests/metrics)
        self.live_received = 0
        self._connect()
        self._catch_up()

    # -- state ---------------------------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        """Room mode: the seq of the last delivered event."""
        return self._room_seq.get(self.room_id or "", 0)

    def room_positions(self) -> dict[str, int]:
        """Last delivered seq per room."""
        return dict(self._room_seq)

    # -- socket --------------------------------------------------------------------------------------
    def _connect(self):
        kw = {"recv_timeout": self.recv_timeout_ms}
        if self.recv_buffer_size is not None:
            kw["recv_buffer_size"] = self.recv_buffer_size
        sock = pynng.Sub0(**kw)
        sock.subscribe(topic_prefix(self.tenant_id, self.room_id))
        for ep in self.events_endpoints:
            sock.dial(ep, block=False)
        deadline = time.monotonic() + self.connect_timeout_ms / 1000
        while len(sock.pipes) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        self._sock = sock

    def reconnect(self):
        """Closes and reopens the SUB socket, then catches up (nothing is lost or repeated)."""
        if self._sock is not None:
            self._sock.close()
        self._connect()
        self._catch_up()

    def close(self):
        self._closed = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- catch-up ------------------------------------------------------------------------------------
    def _list(self, op, **fields):
        try:
            return self.client.call(op, **fields)
        except ChatError as e:
            if e.code == rpc_pb2.CODE_OUT_OF_RANGE:
                raise ResyncRequired(e.code, e.reason, e.message, e.metadata, e.method, e.request_id) from None
            raise

    def _catch_up(self):
        self.catchups += 1
        self._last_catchup = time.monotonic()
        if self.room_id:
            self._fill_room(self.room_id)
            return
        while True:
            page = self._list("list_tenant_events", after_event_id=self._confirmed_event_id, limit=self.page_limit)
            for ev in page.events:
                self._handle(ev, live=False)
                self._confirmed_event_id = max(self._confirmed_event_id, ev.event_id)
            if not page.has_more or not page.events:
                break

    def _fill_room(self, room_id: str, upto_seq: int | None = None):
        """Reads a room's log after its last delivered seq (until upto_seq, or the head)."""
        while True:
            after = self._room_seq.get(room_id, 0)
            if upto_seq is not None and after >= upto_seq:
                return
            page = self._list("list_room_events", room_id=room_id, after_seq=after, limit=self.page_limit)
            for ev in page.events:
                self._handle(ev, live=False)
            if not page.has_more or not page.events:
                return

    # -- ordering ------------------------------------------------------------------------------------
    def _deliver(self, ev):
        self._room_seq[ev.room_id] = ev.seq
        self.last_event_id = max(self.last_event_id, ev.event_id)
        self._pending.append(ev)

    def _handle(self, ev, live: bool):
        if self.room_id and ev.room_id != self.room_id:
            return
        if ev.tenant_id and ev.tenant_id != self.tenant_id:
            return
        last = self._room_seq.get(ev.room_id)
        if last is None and self._fresh:
            last = 0
        if last is None:
            # A room first seen after a non-zero start position.
            if live:
                self._catch_up()                 # its earlier events since the start are in the tenant log
                if ev.room_id in self._room_seq:
                    self._handle(ev, live=False)
                    return
            self._deliver(ev)
            return
        if ev.seq <= last:
            return                               # already delivered
        if ev.seq == last + 1:
            self._deliver(ev)
            return
        # A gap: read the missing events from the room's log; the event itself is in the log too.
        self.catchups += 1
        self._fill_room(ev.room_id, upto_seq=ev.seq)
        if self._room_seq.get(ev.room_id, 0) == ev.seq - 1:
            self._deliver(ev)

    # -- consuming -----------------------------------------------------------------------------------
    def poll(self, timeout_ms: int | None = None):
        """The next event, or None when none arrived within timeout_ms (None: the recv timeout)."""
        if self._pending:
            return self._pending.popleft()
        if self._closed:
            return None
        end = time.monotonic() + (self.recv_timeout_ms if timeout_ms is None else timeout_ms) / 1000
        while not self._pending:
            if self._closed or self._sock is None:
                return None
            try:
                data = self._sock.recv()
            except pynng.Timeout:
                data = None
            except pynng.Closed:
                return None
            if data is not None:
                self.live_received += 1
                try:
                    _, ev = parse_event_message(data)
                except Exception:  # noqa: BLE001 - a malformed message is ignored; catch-up covers it
                    continue
                self._handle(ev, live=True)
            if not self._pending and (time.monotonic() - self._last_catchup) * 1000 >= self.idle_catchup_ms:
                self._catch_up()
            if not self._pending and time.monotonic() >= end:
                return None
        return self._pending.popleft()

    def take(self, n: int, timeout_ms: int = 5000) -> list:
        """Up to n events, waiting at most timeout_ms overall."""
        out = []
        end = time.monotonic() + timeout_ms / 1000
        while len(out) < n:
            left = int((end - time.monotonic()) * 1000)
            if left <= 0:
                break
            ev = self.poll(min(left, max(self.recv_timeout_ms, 1)))
            if ev is not None:
                out.append(ev)
        return out

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            if self._closed and not self._pending:
                raise StopIteration
            ev = self.poll()
            if ev is not None:
                return ev
