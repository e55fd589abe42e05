"""examples/agent_stream.py runs to completion against the real server, non-interactively."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from smrtchat.v1 import entities_pb2 as E
from smrtchat.v1 import events_pb2 as EV

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "agent_stream.py"


def run_example(server, tenant, user_key, agent_key, approver_key, *flags):
    env = dict(os.environ)
    env.update(SMRTCHAT_RPC=",".join(server.rpc), SMRTCHAT_EVENTS=server.events, SMRTCHAT_TENANT=tenant,
               SMRTCHAT_KEY_ID=user_key[0], SMRTCHAT_SECRET=user_key[1],
               SMRTCHAT_AGENT_KEY_ID=agent_key[0], SMRTCHAT_AGENT_SECRET=agent_key[1],
               SMRTCHAT_APPROVER_KEY_ID=approver_key[0], SMRTCHAT_APPROVER_SECRET=approver_key[1])
    p = subprocess.run([sys.executable, str(EXAMPLE), "--delay", "0", "--json", "--approval-timeout", "20",
                        *flags], env=env, capture_output=True, text=True, timeout=60)
    return p, (json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode in (0, 1) and p.stdout else None)


def log_for_call(client, room_id, call_id):
    return [e.kind for e in client.list_room_events(room_id=room_id, limit=200).events if e.subject_id == call_id]


@pytest.mark.parametrize("agent_scopes", [("agent", "events"), ("agent",)], ids=["watch-events", "poll-claim"])
def test_example_auto_approve(server, make_client, tenant, agent_scopes):
    user_key = server.create_key([tenant], ("chat",))
    approver_key = server.create_key([tenant], ("chat",))       # a second chat key, as an approval UI
    agent_key = server.create_key([tenant], agent_scopes)
    p, out = run_example(server, tenant, user_key, agent_key, approver_key, "--auto-approve")
    assert p.returncode == 0, p.stdout + p.stderr
    assert out["decision"] == "approved" and out["claimed"]
    assert [(m["type"], m["stream_state"]) for m in out["messages"]] == [
        ("MESSAGE_TYPE_TEXT", "STREAM_STATE_COMPLETED"), ("MESSAGE_TYPE_TOOL_CALL", "STREAM_STATE_UNSPECIFIED"),
        ("MESSAGE_TYPE_TOOL_RESULT", "STREAM_STATE_UNSPECIFIED"), ("MESSAGE_TYPE_TEXT", "STREAM_STATE_COMPLETED")]
    assert out["messages"][-1]["content"] == "It is 21 °C and sunny in Lisbon, with a light wind of 12 km/h."
    assert out["messages"][-1]["delta_count"] == len(out["messages"][-1]["content"].split(" "))

    # What the server stored agrees.
    user = make_client(user_key, tenant, "alice")
    msgs = list(reversed(user.list_room_messages(room_id=out["room_id"]).messages))
    assert [m.id for m in msgs] == [out["question_id"]] + [m["id"] for m in out["messages"]]
    assert [m.content for m in msgs[1::3]] == [out["messages"][0]["content"], out["messages"][3]["content"]]
    assert msgs[3].tool_call.call_id == out["call_id"]
    assert log_for_call(user, out["room_id"], out["call_id"]) == [
        EV.EVENT_KIND_TOOL_APPROVAL_REQUESTED, EV.EVENT_KIND_TOOL_CALL_APPROVED, EV.EVENT_KIND_TOOL_CALL_CLAIMED]
    assert user.list_pending_tool_calls(session_id=out["session_id"]).approvals == []


def test_example_auto_reject(server, make_client, tenant):
    user_key = server.create_key([tenant], ("chat",))
    agent_key = server.create_key([tenant], ("agent", "events"))
    p, out = run_example(server, tenant, user_key, agent_key, user_key, "--auto-reject")
    assert p.returncode == 0, p.stdout + p.stderr
    assert out["decision"] == "rejected" and not out["claimed"] and out["tool_result"] is None
    assert [m["type"] for m in out["messages"]] == ["MESSAGE_TYPE_TEXT", "MESSAGE_TYPE_TOOL_CALL",
                                                    "MESSAGE_TYPE_TEXT"]
    user = make_client(user_key, tenant, "alice")
    assert log_for_call(user, out["room_id"], out["call_id"]) == [
        EV.EVENT_KIND_TOOL_APPROVAL_REQUESTED, EV.EVENT_KIND_TOOL_CALL_REJECTED]
    assert user.get_message(message_id=out["messages"][-1]["id"]).message.stream_state == E.STREAM_STATE_COMPLETED


def test_example_waits_for_a_decision_made_elsewhere(server, tenant):
    """Default mode: the example prints the command that approves; running it (another process, the
    user's key) lets the example finish; `--watch` replays the room with each reply as it streamed."""
    user_key = server.create_key([tenant], ("chat",))
    agent_key = server.create_key([tenant], ("agent", "events"))
    env = dict(os.environ)
    env.update(SMRTCHAT_RPC=",".join(server.rpc), SMRTCHAT_EVENTS=server.events, SMRTCHAT_TENANT=tenant,
               SMRTCHAT_KEY_ID=user_key[0], SMRTCHAT_SECRET=user_key[1],
               SMRTCHAT_AGENT_KEY_ID=agent_key[0], SMRTCHAT_AGENT_SECRET=agent_key[1])
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--delay", "0", "--json", "--approval-timeout", "20"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "--decide approve" in line:
                break
        assert any(ln.strip().startswith("smrt-chat approve ") for ln in lines)
        cmd = line.split()
        assert cmd[0] == "python" and cmd[1] == str(EXAMPLE)
        d = subprocess.run([sys.executable, *cmd[1:]], env=env, capture_output=True, text=True, timeout=30)
        assert d.returncode == 0 and "APPROVAL_STATE_APPROVED" in d.stdout, d.stdout + d.stderr
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(lines) + rest + err
    out = json.loads(rest.strip().splitlines()[-1])
    assert out["decision"] == "approved" and out["claimed"]

    w = subprocess.run([sys.executable, str(EXAMPLE), "--watch", out["room_id"], "--idle-exit", "1.5"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert w.returncode == 0, w.stdout + w.stderr
    streamed = [m["content"] for m in out["messages"] if m["stream_state"] == "STREAM_STATE_COMPLETED"]
    shown = [ln for ln in w.stdout.splitlines() if ln.endswith("[STREAM_STATE_COMPLETED]")]
    assert len(shown) == 2 and all(c in ln for c, ln in zip(streamed, shown))
    assert "TOOL_CALL_CLAIMED" in w.stdout
