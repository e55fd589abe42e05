"""Streamed agent replies (SPEC §13.1): a resumable, gap-free, duplicate-free reader of a reply's deltas,
and a wait for a tool call's approval decision (SPEC §13.2)."""
from __future__ import annotations

import collections
import time

import pynng

from smrtchat.errors import ChatError, ResyncRequired
from smrtchat.events import EventSubscriber, parse_event_message, topic_prefix
from smrtchat.v1 import entities_pb2, events_pb2, rpc_pb2

STREAM_TOPIC_ROOT = "smrt.chat.v1.stream"
STREAMING = entities_pb2.STREAM_STATE_STREAMING


def stream_topic(tenant_id: str, room_id: str, message_id: str) -> bytes:
    """`smrt.chat.v1.stream/<tenant>/<room>/<message>/`: the topic a reply's deltas are published on."""
    return f"{STREAM_TOPIC_ROOT}/{tenant_id}/{room_id}/{message_id}/".encode("utf-8")


def parse_delta_message(data: bytes) -> tuple[bytes, entities_pb2.ReplyDelta]:
    """Splits one PUB message of a stream topic (topic + 0x00 + serialized ReplyDelta)."""
    topic, sep, body = data.partition(b"\x00")
    if not sep:
        raise ValueError("delta message without topic separator")
    return topic, entities_pb2.ReplyDelta.FromString(body)


class ReplyStream:
    """Yields the deltas (``ReplyDelta``: ``index``, ``text``, ``content_length``) of one streamed reply in
    index order from ``from_index``, without loss or duplicates, and ends when the reply has finished and
    every delta was yielded: the yielded texts concatenated are the message's final content (from
    ``from_index`` on).

    ``ReplyStream(client, events_endpoints, message_id, from_index=0)`` (or ``client.stream_reply(...)``):

    1. subscribes to the reply's stream topic and to its room's event topic (for MESSAGE_STREAM_FINISHED);
    2. pages ListReplyDeltas from ``from_index``;
    3. follows live deltas, skipping indexes already yielded; a live delta ahead of the next expected index
       is held while the gap is read with ListReplyDeltas;
    4. ends once a ListReplyDeltas page reports a state other than STREAMING (read after the finish event
       arrives, or every ``idle_poll_ms`` without live deltas) and every index below its delta_count was
       yielded;
    5. when the stored deltas were dropped (OUT_OF_RANGE RESYNC_REQUIRED: the reply finished long ago), reads
       the final content with GetMessage and yields what follows the yielded part as one last piece (index
       = the next expected index; ``resynced`` is then True). A message that never streamed
       (FAILED_PRECONDITION NOT_STREAMED) is read the same way: its content is one piece. Its byte offset is known once a delta was
       seen; when starting at ``from_index > 0``, give ``from_offset`` (the content_length of delta
       ``from_index - 1``), else ``ResyncRequired`` is raised.

    ``room_id`` saves a GetMessage at the start (which needs the chat scope as a member of the room);
    ListReplyDeltas needs chat (member), events or agent scope. ``timeout_ms`` bounds the whole read
    (``TimeoutError``; None: no bound). Iterate it, or ``poll(timeout_ms)``; ``text()`` reads it all;
    ``close()`` ends it. Afterwards ``stream_state`` and ``delta_count`` are the reply's final ones.
    """

    def __init__(self, client, events_endpoints: list[str] | str, message_id: str, *, room_id: str | None = None,
                 from_index: int = 0, from_offset: int | None = None, recv_timeout_ms: int = 100,
                 idle_poll_ms: int = 1000, page_limit: int = 200, timeout_ms: int | None = None,
                 recv_buffer_size: int | None = None, connect_timeout_ms: int = 2000):
        if isinstance(events_endpoints, str):
            events_endpoints = [e for e in events_endpoints.split(",") if e]
        if from_index < 0:
            raise ValueError("from_index must be >= 0")
        self.client = client
        self.events_endpoints = list(events_endpoints)
        self.message_id = message_id
        self.tenant_id = client.tenant_id
        if room_id is None:
            room_id = client.get_message(message_id=message_id).message.room_id
        self.room_id = room_id
        self.from_index = from_index
        self.recv_timeout_ms = recv_timeout_ms
        self.idle_poll_ms = idle_poll_ms
        self.page_limit = page_limit
        self.recv_buffer_size = recv_buffer_size
        self.connect_timeout_ms = connect_timeout_ms
        self._deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000

        self.next_index = from_index                  # the next index to yield
        # UTF-8 byte length of the content through the last yielded delta (None: unknown yet).
        self.content_length = from_offset if from_offset is not None else (0 if from_index == 0 else None)
        self.stream_state = entities_pb2.STREAM_STATE_UNSPECIFIED   # as last read
        self.delta_count = 0                          # as last read
        self.finished = False                         # a read reported a state other than STREAMING
        self.resynced = False                         # the end came from GetMessage (RESYNC_REQUIRED)
        self.finish_event: events_pb2.RoomEvent | None = None
        self.stop_requested = False                   # a REPLY_STOP_REQUESTED event was seen
        # Counters for tests and metrics.
        self.fills = 0                                # ListReplyDeltas calls
        self.live_received = 0                        # live deltas received (duplicates included)
        self.live_yielded = 0                         # of those, yielded as received
        self.duplicates = 0                           # deltas dropped as already yielded

        self._pending: collections.deque = collections.deque()
        self._ahead: dict[int, entities_pb2.ReplyDelta] = {}
        self._delta_topic = stream_topic(self.tenant_id, room_id, message_id)
        self._event_topic = topic_prefix(self.tenant_id, room_id)
        self._sock: pynng.Sub0 | None = None
        self._closed = False
        self._last_activity = time.monotonic()
        self._connect()
        try:
            self._fill()
        except BaseException:
            self.close()
            raise

    # -- socket --------------------------------------------------------------------------------------
    def _connect(self):
        kw = {"recv_timeout": self.recv_timeout_ms}
        if self.recv_buffer_size is not None:
            kw["recv_buffer_size"] = self.recv_buffer_size
        sock = pynng.Sub0(**kw)
        sock.subscribe(self._delta_topic)
        sock.subscribe(self._event_topic)
        for ep in self.events_endpoints:
            sock.dial(ep, block=False)
        deadline = time.monotonic() + self.connect_timeout_ms / 1000
        while len(sock.pipes) < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        self._sock = sock

    def reconnect(self):
        """Closes and reopens the SUB socket, then reads what it may have missed."""
        if self._sock is not None:
            self._sock.close()
        self._connect()
        self._fill()

    def close(self):
        self._closed = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- state ---------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """The reply finished and every delta was yielded."""
        return self.finished and self.next_index >= self.delta_count and not self._pending

    def _accept(self, d: entities_pb2.ReplyDelta):
        if d.index < self.next_index:
            self.duplicates += 1
            return False
        if d.index > self.next_index:
            self._ahead.setdefault(d.index, d)
            return False
        self._take(d)
        while self._ahead:
            for i in [i for i in self._ahead if i < self.next_index]:
                del self._ahead[i]
                self.duplicates += 1
            nxt = self._ahead.pop(self.next_index, None)
            if nxt is None:
                break
            self._take(nxt)
        return True

    def _take(self, d):
        self._pending.append(d)
        self.next_index = d.index + 1
        self.content_length = d.content_length

    # -- reading the stored deltas -------------------------------------------------------------------
    def _fill(self):
        """Pages ListReplyDeltas from the next expected index until the stored deltas are exhausted."""
        self._last_activity = time.monotonic()
        while True:
            before = self.next_index
            try:
                page = self.client.list_reply_deltas(message_id=self.message_id, from_index=self.next_index,
                                                     limit=self.page_limit)
            except ChatError as e:
                # OUT_OF_RANGE RESYNC_REQUIRED: the deltas were dropped; NOT_STREAMED: the message never
                # streamed. Either way GetMessage has the final content.
                if e.code == rpc_pb2.CODE_OUT_OF_RANGE or e.reason == "NOT_STREAMED":
                    self._resync(e)
                    return
                raise
            self.fills += 1
            self.stream_state = page.stream_state
            self.delta_count = max(self.delta_count, page.delta_count)
            for d in page.deltas:
                if d.message_id and d.message_id != self.message_id:
                    continue
                self._accept(d)
            if page.stream_state != STREAMING:
                self.finished = True
            if not page.has_more or self.next_index == before:
                break
        if self.finished and self.next_index < self.delta_count:
            # Finished, yet the stored deltas stop short of its delta_count: read the final content.
            self._resync(None)

    def _resync(self, err: ChatError | None):
        offset = self.content_length
        if offset is None:
            if err is not None:
                raise ResyncRequired(err.code, err.reason, err.message, err.metadata, err.method,
                                     err.request_id) from None
            raise ResyncRequired(rpc_pb2.CODE_OUT_OF_RANGE, "RESYNC_REQUIRED",
                                 "deltas missing and the byte offset of from_index is unknown (give from_offset)")
        msg = self.client.get_message(message_id=self.message_id).message
        data = msg.content.encode("utf-8")
        rest = data[offset:]
        self._ahead.clear()
        if rest:
            self._pending.append(entities_pb2.ReplyDelta(message_id=self.message_id, index=self.next_index,
                                                         text=rest.decode("utf-8", errors="replace"),
                                                         content_length=len(data)))
        self.content_length = len(data)
        self.stream_state = msg.stream_state
        self.delta_count = msg.delta_count
        self.next_index = max(self.next_index + (1 if rest else 0), msg.delta_count)
        self.finished = msg.stream_state != STREAMING
        self.resynced = True

    # -- live feed -----------------------------------------------------------------------------------
    def _handle(self, data: bytes):
        if data.startswith(self._delta_topic + b"\x00"):
            try:
                _, d = parse_delta_message(data)
            except Exception:  # noqa: BLE001 - a malformed message is ignored; the fills cover it
                return
            if d.message_id and d.message_id != self.message_id:
                return
            self.live_received += 1
            self._last_activity = time.monotonic()
            if d.index > self.next_index:
                self._ahead.setdefault(d.index, d)
                self._fill()                          # the gap is stored: the delta was published after commit
            elif self._accept(d):
                self.live_yielded += 1
            return
        if data.startswith(self._event_topic):
            try:
                _, ev = parse_event_message(data)
            except Exception:  # noqa: BLE001
                return
            mid = ev.message.id if ev.WhichOneof("entity") == "message" else ""
            if self.message_id not in (ev.subject_id, mid):
                return
            if ev.kind == events_pb2.EVENT_KIND_REPLY_STOP_REQUESTED:
                self.stop_requested = True
            elif ev.kind == events_pb2.EVENT_KIND_MESSAGE_STREAM_FINISHED:
                self.finish_event = ev
                self._fill()                          # the tail and the final state

    def _step(self, wait_ms: int):
        if self._sock is None:
            return
        self._sock.recv_timeout = max(1, int(wait_ms))
        try:
            data = self._sock.recv()
        except pynng.Timeout:
            data = None
        except pynng.Closed:
            return
        if data is not None:
            self._handle(data)
        if not self._pending and not self.done and \
                (time.monotonic() - self._last_activity) * 1000 >= self.idle_poll_ms:
            self._fill()

    # -- consuming -----------------------------------------------------------------------------------
    def poll(self, timeout_ms: int | None = None) -> entities_pb2.ReplyDelta | None:
        """The next delta, or None when none came within timeout_ms (None: the recv timeout) or the
        stream is done (see ``done``)."""
        end = time.monotonic() + (self.recv_timeout_ms if timeout_ms is None else timeout_ms) / 1000
        while not self._pending:
            if self.done or self._closed:
                return None
            self._check_deadline()
            left = (end - time.monotonic()) * 1000
            if left <= 0:
                return None
            self._step(min(left, self.recv_timeout_ms))
        return self._pending.popleft()

    def _check_deadline(self):
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise TimeoutError(f"reply {self.message_id} not finished in time "
                               f"(next index {self.next_index}, state {entities_pb2.StreamState.Name(self.stream_state)})")

    def __iter__(self):
        return self

    def __next__(self) -> entities_pb2.ReplyDelta:
        while True:
            if self._pending:
                return self._pending.popleft()
            if self.done or self._closed:
                raise StopIteration
            d = self.poll(self.recv_timeout_ms)
            if d is not None:
                return d

    def text(self) -> str:
        """Reads the rest of the stream and returns its text."""
        return "".join(d.text for d in self)


def wait_tool_decision(client, events_endpoints: list[str] | str, room_id: str, call_id: str,
                       after_seq: int = 0, timeout_ms: int = 60_000) -> events_pb2.RoomEvent:
    """Waits for the decision on a tool call that needs approval: returns the room's TOOL_CALL_APPROVED,
    TOOL_CALL_REJECTED or TOOL_CALL_EXPIRED event for ``call_id`` (its ``tool_call_approval`` is the
    record). Reads the room's events after ``after_seq`` (a catch-up, then live) with an EventSubscriber,
    so the client needs the events scope (or chat as a member). ``TimeoutError`` after timeout_ms."""
    decided = (events_pb2.EVENT_KIND_TOOL_CALL_APPROVED, events_pb2.EVENT_KIND_TOOL_CALL_REJECTED,
               events_pb2.EVENT_KIND_TOOL_CALL_EXPIRED)
    end = time.monotonic() + timeout_ms / 1000
    with EventSubscriber(client, events_endpoints, room_id=room_id, after_seq=after_seq) as sub:
        while True:
            left = int((end - time.monotonic()) * 1000)
            if left <= 0:
                raise TimeoutError(f"no decision on tool call {call_id} in time")
            ev = sub.poll(min(left, 200))
            if ev is not None and ev.kind in decided and \
                    (ev.subject_id == call_id or ev.tool_call_approval.call_id == call_id):
                return ev
