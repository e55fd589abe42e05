"""Rate-limit floods with small limits: per key 50 requests/s with a burst of 50 (SMRTCHAT_KEY_RATE,
SMRTCHAT_KEY_BURST; `smrt-chatd serve` has no flags for them), per tenant 1000/s, burst 2000.

Eight sender threads (each with its own REQ socket, every call a fresh request id) flood SendMessage
for a few seconds:
- signed by a valid key: some replies must be RESOURCE_EXHAUSTED (reason RATE_LIMITED, metadata
  retry_after_ms), and the accepted sends must be about burst + rate × duration;
- under a key id that does not exist, and with a bad signature from a key that does: after a burst,
  these must be refused with RESOURCE_EXHAUSTED too (failed authentication is rate-limited), and still
  be so in the flood's last second.
Throughout each flood a second, well-behaved key of the same tenant sends a message every 100 ms
(a fifth of its rate), and halfway through a key that existed when the server started but was never
used makes its first call: every one of their calls must succeed. (A key created *while* a flood of
made-up key ids runs may be refused RATE_LIMITED until the flood ends: see the README's limits.) The unknown-key flood names a new key id in
every call, as an attacker rotating ids would.
"""
from __future__ import annotations

import collections
import dataclasses
import secrets
import threading
import time

import pytest

import harness
import smrtchat
from smrtchat.v1 import chat_pb2, rpc_pb2

KEY_RATE, KEY_BURST = 50, 50
TENANT_RATE, TENANT_BURST = 1000, 2000
SENDERS = 8
FLOOD_SECONDS = 4.0
CALL_TIMEOUT_MS = 5000
CALM_INTERVAL_S = 0.1
TENANT = "t-rate"
RESOURCE_EXHAUSTED = rpc_pb2.CODE_RESOURCE_EXHAUSTED


@dataclasses.dataclass
class Reply:
    at: float
    code: int | None
    reason: str
    retry_after_ms: str | None


@dataclasses.dataclass
class FloodStats:
    name: str
    replies: list[Reply]
    seconds: float
    calm_calls: int
    calm_failures: list[str]
    #: Why the first call of a never-used key failed (None: it succeeded).
    newcomer_failure: str | None

    def count(self, code: int | None) -> int:
        return sum(1 for r in self.replies if r.code == code)

    def codes(self) -> collections.Counter:
        return collections.Counter(
            "NO_REPLY" if r.code is None else f"{harness.code_name(r.code)} {r.reason}" for r in self.replies)

    def limited_share_in_last_second(self) -> float:
        last = [r for r in self.replies if r.at >= self.seconds - 1.0]
        return sum(1 for r in last if r.code == RESOURCE_EXHAUSTED) / max(1, len(last))

    def bad_retry_after(self) -> list[str]:
        """RESOURCE_EXHAUSTED replies without reason RATE_LIMITED and a non-negative retry_after_ms."""
        bad = []
        for r in self.replies:
            if r.code == RESOURCE_EXHAUSTED and (r.reason != "RATE_LIMITED" or not (r.retry_after_ms or "").isdigit()):
                bad.append(f"reason {r.reason!r}, retry_after_ms {r.retry_after_ms!r}")
        return bad

    def describe(self) -> str:
        return (f"{self.name}: {len(self.replies)} calls in {self.seconds:.1f} s "
                f"({', '.join(f'{c} {n}' for c, n in self.codes().most_common())}); "
                f"well-behaved key: {self.calm_calls} calls, {len(self.calm_failures)} failed; "
                f"new key's first call: {self.newcomer_failure or 'OK'}")


@pytest.fixture(scope="module")
def setup():
    server = harness.Server(env={"SMRTCHAT_KEY_RATE": str(KEY_RATE), "SMRTCHAT_KEY_BURST": str(KEY_BURST),
                                 "SMRTCHAT_TENANT_RATE": str(TENANT_RATE),
                                 "SMRTCHAT_TENANT_BURST": str(TENANT_BURST)})
    server.start()
    try:
        names = ("flood", "calm", "bad_signature", "newcomer-1", "newcomer-2", "newcomer-3")
        keys = {name: server.create_key([TENANT], ("chat",)) for name in names}
        owner = smrtchat.Client(server.rpc, *keys["calm"], TENANT, "owner", timeout_ms=CALL_TIMEOUT_MS)
        room = owner.create_room(name="rate flood", room_type="public").room.id
        for profile in ("flooder", "calm"):
            owner.add_participant(room_id=room, profile_id=profile)
        owner.close()
        server.restart()  # the keys now exist at start, as after any restart
        time.sleep(KEY_BURST / KEY_RATE)  # the calm key's bucket refills after the set-up calls
        yield server, keys, room
    finally:
        server.cleanup()


def send_message_payload(room: str) -> bytes:
    return chat_pb2.SendMessageRequest(room_id=room, content=f"flood {secrets.token_hex(4)}").SerializeToString()


def flood(name: str, server: harness.Server, calm_key: tuple[str, str], newcomer_key: tuple[str, str], room: str,
          make_frame) -> FloodStats:
    """SENDERS threads send make_frame() for FLOOD_SECONDS while the calm key sends every CALM_INTERVAL_S
    and, halfway, the newcomer key makes its first call."""
    replies: list[Reply] = []
    calm_failures: list[str] = []
    calm_calls = 0
    newcomer_failure: str | None = "never called"
    start = time.monotonic()
    end = start + FLOOD_SECONDS

    def sender() -> None:
        caller = harness.Caller(server.rpc)
        try:
            while time.monotonic() < end:
                resp = caller.roundtrip(make_frame(), CALL_TIMEOUT_MS)
                at = time.monotonic() - start
                if resp is None:
                    replies.append(Reply(at, None, "", None))
                else:
                    replies.append(Reply(at, resp.status.code, resp.status.reason,
                                         resp.status.metadata.get("retry_after_ms")))
        finally:
            caller.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    calm = smrtchat.Client(server.rpc, *calm_key, TENANT, "calm", timeout_ms=CALL_TIMEOUT_MS, max_attempts=1)
    newcomer = smrtchat.Client(server.rpc, *newcomer_key, TENANT, "newcomer", timeout_ms=CALL_TIMEOUT_MS,
                               max_attempts=1)
    try:
        while time.monotonic() < end:
            calm_calls += 1
            try:
                calm.send_message(room_id=room, content="still here")
            except smrtchat.ChatError as exc:
                calm_failures.append(str(exc))
            if newcomer_failure == "never called" and time.monotonic() >= start + FLOOD_SECONDS / 2:
                try:
                    newcomer.get_room(room_id=room)
                    newcomer_failure = None
                except smrtchat.ChatError as exc:
                    newcomer_failure = str(exc)
            time.sleep(CALM_INTERVAL_S)
    finally:
        calm.close()
        newcomer.close()
    for t in threads:
        t.join(CALL_TIMEOUT_MS / 1000 + 5)
    stats = FloodStats(name, replies, time.monotonic() - start, calm_calls, calm_failures, newcomer_failure)
    harness.report("rate " + stats.describe())
    return stats


@pytest.fixture(scope="module")
def signed_flood(setup) -> FloodStats:
    server, keys, room = setup
    signer = harness.Signer(keys["flood"], TENANT, "flooder")
    return flood("signed SendMessage flood", server, keys["calm"], keys["newcomer-1"], room,
                 lambda: signer.frame("SendMessage", send_message_payload(room)))


@pytest.fixture(scope="module")
def unknown_key_flood(setup) -> FloodStats:
    server, keys, room = setup
    signer = harness.Signer(("", secrets.token_hex(32)), TENANT, "flooder")
    return flood("unknown-key flood", server, keys["calm"], keys["newcomer-2"], room,
                 lambda: signer.frame("SendMessage", send_message_payload(room),
                                      key_id=f"sk_unknown{secrets.token_hex(8)}"))


@pytest.fixture(scope="module")
def bad_signature_flood(setup) -> FloodStats:
    server, keys, room = setup
    signer = harness.Signer(keys["bad_signature"], TENANT, "flooder")
    wrong = secrets.token_bytes(32)
    return flood("bad-signature flood", server, keys["calm"], keys["newcomer-3"], room,
                 lambda: signer.frame("SendMessage", send_message_payload(room), secret=wrong))


def assert_rate_limited_replies_well_formed(stats: FloodStats) -> None:
    bad = stats.bad_retry_after()
    assert not bad, f"{stats.name}: {len(bad)} RESOURCE_EXHAUSTED replies lack RATE_LIMITED/retry_after_ms: {bad[0]}"


def assert_failed_auth_limited(stats: FloodStats) -> None:
    unexpected = {c: n for c, n in stats.codes().items() if not c.startswith(("UNAUTHENTICATED", "RESOURCE_EXHAUSTED"))}
    assert not unexpected, f"{stats.name}: unexpected replies {unexpected}"
    assert stats.count(RESOURCE_EXHAUSTED) > 0, (
        f"{stats.name}: failed authentication is not rate-limited: all {len(stats.replies)} calls in "
        f"{stats.seconds:.1f} s were answered {dict(stats.codes())}, none RESOURCE_EXHAUSTED")
    share = stats.limited_share_in_last_second()
    assert share >= 0.5, (
        f"{stats.name}: only {share:.0%} of the last second's calls were RESOURCE_EXHAUSTED (the limiter let go)")
    assert_rate_limited_replies_well_formed(stats)


def test_signed_send_flood_is_limited_to_burst_plus_rate(signed_flood):
    stats = signed_flood
    accepted, limited = stats.count(rpc_pb2.CODE_OK), stats.count(RESOURCE_EXHAUSTED)
    expected = KEY_BURST + KEY_RATE * stats.seconds
    harness.report(f"rate signed flood: {accepted} accepted (expected ≈ {expected:.0f} = {KEY_BURST} + "
                   f"{KEY_RATE}/s × {stats.seconds:.1f} s), {limited} RESOURCE_EXHAUSTED")
    unexpected = {c: n for c, n in stats.codes().items() if not c.startswith(("OK", "RESOURCE_EXHAUSTED"))}
    assert not unexpected, f"signed flood: unexpected replies {unexpected}"
    assert limited > 0, f"signed flood: the limiter never engaged ({accepted} sends accepted, none refused)"
    assert_rate_limited_replies_well_formed(stats)
    assert 0.5 * expected <= accepted <= 1.5 * expected + 5, (
        f"signed flood: {accepted} sends accepted in {stats.seconds:.1f} s, expected about {expected:.0f} "
        f"(burst {KEY_BURST} + {KEY_RATE}/s)")


def test_unknown_key_flood_is_rate_limited(unknown_key_flood):
    assert_failed_auth_limited(unknown_key_flood)


def test_bad_signature_flood_is_rate_limited(bad_signature_flood):
    assert_failed_auth_limited(bad_signature_flood)


@pytest.mark.parametrize("flood_name", ["signed_flood", "unknown_key_flood", "bad_signature_flood"])
def test_legitimate_keys_are_served_during_the_flood(request, flood_name):
    stats: FloodStats = request.getfixturevalue(flood_name)
    assert not stats.calm_failures, (
        f"{stats.name}: the well-behaved key failed {len(stats.calm_failures)} of {stats.calm_calls} calls, "
        f"first: {stats.calm_failures[0]}")
    assert stats.newcomer_failure is None, (
        f"{stats.name}: the first call of a key this server had not seen yet was refused: {stats.newcomer_failure}")
