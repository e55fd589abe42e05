"""An agent runtime against a running smrt-chatd (SPEC §13): streamed replies and a tool call that waits
for a person's approval, then runs exactly once.

  1. as the user (a `chat` key) it opens an agent session whose `weather.lookup` tool needs approval,
     and asks a question;
  2. as the agent (an `agent` key) it streams a reply delta by delta (watch it grow with
     `smrt-chat tail --room ROOM`), then makes a `weather.lookup` tool call, which waits for approval;
  3. waits for the decision: the TOOL_CALL_APPROVED / _REJECTED event of the session room (the agent key
     needs the `events` scope for that; without it the agent keeps trying to claim the call);
  4. claims the call once, runs the "tool", posts its tool_result, and streams the final answer.

Who approves: by default someone else (the script prints the command to run: `smrt-chat approve CALL
--session S`, or `--decide approve --session-id S --call-id C` of this script); `--ask` asks on this
terminal; `--auto-approve` (or `--auto-reject`) decides from a thread with the approver key (default: the
user key), as an approval UI would, for tests and demos.

To watch the replies grow from another terminal: `smrt-chat tail --room ROOM_ID`, or `--watch ROOM_ID`
of this script, which follows the room's events and prints each streamed reply delta by delta with
`client.stream_reply`.

  python examples/agent_stream.py --rpc tcp://127.0.0.1:7450 --events tcp://127.0.0.1:7451 \\
      --key-id USER_KEY --secret USER_SECRET --agent-key-id AGENT_KEY --agent-secret AGENT_SECRET \\
      --tenant acme --auto-approve

Every option falls back to an environment variable: SMRTCHAT_RPC, SMRTCHAT_EVENTS, SMRTCHAT_KEY_ID,
SMRTCHAT_SECRET, SMRTCHAT_TENANT, SMRTCHAT_ACTOR (the user, default alice), SMRTCHAT_AGENT_KEY_ID,
SMRTCHAT_AGENT_SECRET (default: the user key, which then needs the agent scope too),
SMRTCHAT_APPROVER_KEY_ID, SMRTCHAT_APPROVER_SECRET. With --json the last line of the output is a JSON
summary (session, messages, the call and its decision). Exit status 0 when the conversation completed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid

import smrtchat
from smrtchat import ChatError
from smrtchat.v1 import entities_pb2 as E
from smrtchat.v1 import events_pb2 as EV

TOOL = "weather.lookup"


def env(name, default=None):
    return os.environ.get(name) or default


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rpc", default=env("SMRTCHAT_RPC", "tcp://127.0.0.1:7450"), help="RPC endpoint(s)")
    p.add_argument("--events", default=env("SMRTCHAT_EVENTS", "tcp://127.0.0.1:7451"), help="PUB endpoint(s)")
    p.add_argument("--key-id", default=env("SMRTCHAT_KEY_ID"), help="the user's key (chat scope)")
    p.add_argument("--secret", default=env("SMRTCHAT_SECRET"))
    p.add_argument("--agent-key-id", default=env("SMRTCHAT_AGENT_KEY_ID"),
                   help="the agent runtime's key (agent scope, plus events to watch decisions live)")
    p.add_argument("--agent-secret", default=env("SMRTCHAT_AGENT_SECRET"))
    p.add_argument("--approver-key-id", default=env("SMRTCHAT_APPROVER_KEY_ID"),
                   help="with --auto-approve: the key that approves (chat scope; default: the user key)")
    p.add_argument("--approver-secret", default=env("SMRTCHAT_APPROVER_SECRET"))
    p.add_argument("--tenant", default=env("SMRTCHAT_TENANT", "acme"))
    p.add_argument("--actor", default=env("SMRTCHAT_ACTOR", "alice"), help="the user's profile")
    p.add_argument("--agent-id", default="weather-bot")
    p.add_argument("--city", default="Lisbon")
    p.add_argument("--delay", type=float, default=0.08, help="seconds between deltas (0 in tests)")
    p.add_argument("--start-delay", type=float, default=0.0,
                   help="seconds to wait after printing the room id (time to start smrt-chat tail)")
    p.add_argument("--approval-timeout", type=float, default=300.0, help="seconds to wait for a decision")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--auto-approve", action="store_true", help="approve from a thread (non-interactive)")
    mode.add_argument("--auto-reject", action="store_true", help="reject from a thread (non-interactive)")
    mode.add_argument("--ask", action="store_true", help="ask on this terminal, decide with the user key")
    mode.add_argument("--watch", metavar="ROOM_ID", help="only follow a room: print its events and its streamed "
                                                         "replies as they grow (the user key)")
    mode.add_argument("--decide", choices=("approve", "reject"),
                      help="only decide a pending call (--session-id, --call-id) with the user key")
    p.add_argument("--after-seq", type=int, default=0, help="with --watch: start after this seq (0: replay all)")
    p.add_argument("--idle-exit", type=float, default=0,
                   help="with --watch: end when no event came for this many seconds (0: never)")
    p.add_argument("--session-id", help="with --decide")
    p.add_argument("--call-id", help="with --decide")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    a = p.parse_args(argv)
    if not a.key_id or not a.secret:
        p.error("give the user's key: --key-id/--secret or SMRTCHAT_KEY_ID/SMRTCHAT_SECRET")
    if a.decide and not (a.session_id and a.call_id):
        p.error("--decide needs --session-id and --call-id")
    a.agent_key_id = a.agent_key_id or a.key_id
    a.agent_secret = a.agent_secret or a.secret
    a.approver_key_id = a.approver_key_id or a.key_id
    a.approver_secret = a.approver_secret or a.secret
    return a


def say(*parts):
    print(*parts, flush=True)


class Agent:
    """The agent runtime of one session: streams replies, makes a tool call, waits, claims, answers."""

    def __init__(self, client: smrtchat.Client, events: str, session, delay: float):
        self.c = client
        self.events = events
        self.session = session
        self.delay = delay
        self.messages = []

    def stream(self, text: str, reply_to: str = "", tokens: int = 0):
        """Streams `text` word by word as one reply; stops early when the user stops it."""
        msg = self.c.begin_agent_reply(session_id=self.session.id, reply_to_message_id=reply_to,
                                       client_request_id=f"reply-{uuid.uuid4()}").message
        words = text.split(" ")
        sys.stdout.write(f"agent  [{msg.id[:8]}] ")
        for i, w in enumerate(words):
            piece = w if i == 0 else " " + w
            try:
                self.c.append_reply_delta(message_id=msg.id, index=i, text=piece)
            except ChatError as e:
                if e.reason in ("REPLY_STOPPED", "REPLY_FINISHED"):
                    sys.stdout.write(f"  <{e.reason}>")
                    break
                raise
            sys.stdout.write(piece)
            sys.stdout.flush()
            if self.delay:
                time.sleep(self.delay)
        final = self.c.finish_agent_reply(message_id=msg.id, status="completed", tokens_used=tokens).message
        say(f"   ({E.StreamState.Name(final.stream_state)}, {final.delta_count} deltas)")
        self.messages.append(final)
        return final

    def call_tool(self, call_id: str, arguments: dict):
        msg = self.c.send_agent_reply(session_id=self.session.id, kind="tool", message_type="tool_call",
                                      tool_call={"call_id": call_id, "name": TOOL,
                                                 "arguments": json.dumps(arguments)}).message
        self.messages.append(msg)
        return msg

    def wait_decision(self, call_msg, call_id: str, timeout: float):
        """'approved' (and then claimed: returns the claim), 'rejected' or 'expired'."""
        try:
            ev = smrtchat.wait_tool_decision(self.c, self.events, self.session.room_id, call_id,
                                             after_seq=max(0, call_msg.room_seq - 1),
                                             timeout_ms=int(timeout * 1000))
        except ChatError as e:
            if e.code_name != "PERMISSION_DENIED":
                raise
            say(f"agent: cannot read the room's events ({e.reason}); polling the claim instead")
            return self._poll_claim(call_id, timeout)
        if ev.kind != EV.EVENT_KIND_TOOL_CALL_APPROVED:
            return EV.EventKind.Name(ev.kind).removeprefix("EVENT_KIND_TOOL_CALL_").lower(), None
        return "approved", self._claim(call_id)

    def _claim(self, call_id):
        """Claims the call; only one runtime ever gets it (another: TOOL_CALL_ALREADY_CLAIMED)."""
        return self.c.claim_tool_call(session_id=self.session.id, call_id=call_id)

    def _poll_claim(self, call_id, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                return "approved", self._claim(call_id)
            except ChatError as e:
                if e.reason != "TOOL_CALL_NOT_APPROVED":
                    raise
            time.sleep(0.3)
        return "timeout", None

    def tool_result(self, call_id: str, result: dict):
        msg = self.c.send_agent_reply(session_id=self.session.id, kind="tool", message_type="tool_result",
                                      tool_call={"call_id": call_id, "name": TOOL, "result": json.dumps(result)}
                                      ).message
        self.messages.append(msg)
        return msg


def approver_thread(client: smrtchat.Client, session_id: str, call_id: str, decision: str, stop: threading.Event):
    """What an approval UI does: list the calls pending in my sessions, decide the one asked for."""
    def run():
        while not stop.is_set():
            pending = client.list_pending_tool_calls(session_id=session_id).approvals
            for a in pending:
                if a.call_id == call_id:
                    r = client.decide_tool_call(session_id=session_id, call_id=call_id, decision=decision,
                                                reason=f"auto-{decision}").approval
                    say(f"user   {decision} {a.tool_name} ({call_id}): "
                        f"{E.ApprovalState.Name(r.approval_state)}")
                    return
            stop.wait(0.1)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def watch(a) -> int:
    """Follows a room: one line per event, and each streamed reply printed as its deltas arrive."""
    user = smrtchat.Client(a.rpc, a.key_id, a.secret, a.tenant, a.actor)
    say(f"following room {a.watch} (Ctrl-C ends)")
    try:
        with smrtchat.EventSubscriber(user, a.events, room_id=a.watch, after_seq=a.after_seq) as sub:
            while True:
                ev = sub.poll(int(a.idle_exit * 1000) if a.idle_exit else 1000)
                if ev is None:
                    if a.idle_exit:
                        break
                    continue
                kind = EV.EventKind.Name(ev.kind).removeprefix("EVENT_KIND_")
                m = ev.message if ev.WhichOneof("entity") == "message" else None
                if ev.kind == EV.EVENT_KIND_MESSAGE_CREATED and m is not None and \
                        m.stream_state == E.STREAM_STATE_STREAMING:
                    sys.stdout.write(f"#{ev.seq} {m.sender_profile_id}: ")
                    with user.stream_reply(m.id, a.events, room_id=a.watch) as rs:
                        for d in rs:
                            sys.stdout.write(d.text)
                            sys.stdout.flush()
                    say(f"   [{E.StreamState.Name(rs.stream_state)}]")
                elif m is not None:
                    say(f"#{ev.seq} {kind} {m.sender_profile_id}: {m.content or m.tool_call.name}")
                else:
                    say(f"#{ev.seq} {kind} {ev.subject_id}")
    except KeyboardInterrupt:
        pass
    finally:
        user.close()
    return 0


def decide(a) -> int:
    user = smrtchat.Client(a.rpc, a.key_id, a.secret, a.tenant, a.actor)
    try:
        r = user.decide_tool_call(session_id=a.session_id, call_id=a.call_id, decision=a.decide).approval
        say(f"{r.call_id} {r.tool_name}: {E.ApprovalState.Name(r.approval_state)}")
        return 0
    except ChatError as e:
        say(f"refused: {e.code_name} {e.reason} {e.message}")
        return 1
    finally:
        user.close()


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.watch:
        return watch(a)
    if a.decide:
        return decide(a)
    user = smrtchat.Client(a.rpc, a.key_id, a.secret, a.tenant, a.actor)
    created = user.create_agent_session(agent_id=a.agent_id, allowed_tools=["weather.*"], approval_tools=[TOOL],
                                        busy_policy="interrupt", session_key=f"demo-{uuid.uuid4().hex[:8]}",
                                        system_prompt="You answer weather questions.")
    s = created.session
    say(f"session {s.id}  room {s.room_id}  agent {s.agent_profile_id}")
    say(f"watch it: smrt-chat tail --room {s.room_id} --tenant {a.tenant}\n"
        f"      or: python {sys.argv[0]} --watch {s.room_id} --tenant {a.tenant}")
    if a.start_delay:
        time.sleep(a.start_delay)

    question = user.send_agent_user_message(session_id=s.id,
                                            content=f"What's the weather in {a.city} right now?").message
    say(f"{a.actor:6} {question.content}")

    agent_client = smrtchat.Client(a.rpc, a.agent_key_id, a.agent_secret, a.tenant, s.agent_profile_id)
    agent = Agent(agent_client, a.events, s, a.delay)
    agent.stream(f"Let me look up the current weather in {a.city} for you. "
                 "I need your approval to use the weather tool.", reply_to=question.id, tokens=20)

    call_id = f"call-{uuid.uuid4().hex[:12]}"
    call = agent.call_tool(call_id, {"city": a.city, "units": "metric"})
    say(f"agent  asks to run {TOOL} ({call_id}); waiting for approval")

    stop = threading.Event()
    approver = None
    if a.auto_approve or a.auto_reject:
        appr = smrtchat.Client(a.rpc, a.approver_key_id, a.approver_secret, a.tenant, a.actor)
        approver = approver_thread(appr, s.id, call_id, "approve" if a.auto_approve else "reject", stop)
    elif a.ask:
        answer = input(f"approve {TOOL} {call.tool_call.arguments}? [y/N] ").strip().lower()
        decision = "approve" if answer in ("y", "yes") else "reject"
        user.decide_tool_call(session_id=s.id, call_id=call_id, decision=decision, reason="asked on the terminal")
    else:
        say("approve it (the user's key, same SMRTCHAT_* environment) with:\n"
            f"  smrt-chat approve {call_id} --session {s.id} --tenant {a.tenant} --actor {a.actor}\n"
            "or:\n"
            f"  python {sys.argv[0]} --decide approve --session-id {s.id} --call-id {call_id}"
            f" --tenant {a.tenant} --actor {a.actor}")

    try:
        decision, claim = agent.wait_decision(call, call_id, a.approval_timeout)
    finally:
        stop.set()
        if approver is not None:
            approver.join(5)
    say(f"agent  decision: {decision}")

    result = None
    if decision == "approved":
        say(f"agent  claimed {call_id} at {claim.approval.claimed_at}; running the tool once")
        result = {"city": a.city, "temp_c": 21, "sky": "sunny", "wind_kmh": 12}
        agent.tool_result(call_id, result)
        agent.stream(f"It is {result['temp_c']} °C and {result['sky']} in {a.city}, "
                     f"with a light wind of {result['wind_kmh']} km/h.", reply_to=question.id, tokens=30)
    else:
        agent.stream(f"Understood, I will not look up the weather in {a.city}.", reply_to=question.id, tokens=10)

    ok = decision in ("approved", "rejected")
    if a.json:
        print(json.dumps({
            "session_id": s.id, "room_id": s.room_id, "agent_profile_id": s.agent_profile_id,
            "question_id": question.id, "call_id": call_id, "call_message_id": call.id, "decision": decision,
            "claimed": claim is not None, "tool_result": result,
            "messages": [{"id": m.id, "type": E.MessageType.Name(m.message_type),
                          "stream_state": E.StreamState.Name(m.stream_state), "content": m.content,
                          "delta_count": m.delta_count} for m in agent.messages],
        }), flush=True)
    user.close()
    agent_client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
