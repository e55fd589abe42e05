"""A whole conversation against the real server: rooms, members, messages, threads, reactions, a DM and
an agent session whose tool gate allows one call and refuses another."""
import json

import pytest

import smrtchat
from smrtchat import ChatError
from smrtchat.v1 import entities_pb2 as E
from smrtchat.v1 import events_pb2 as EV


def test_conversation(make_client, chat_key, server, tenant):
    alice = make_client(chat_key, tenant, "alice")
    bob = alice.with_actor("bob")
    carol = alice.with_actor("carol")

    room = alice.create_room(name="general", room_type="private", topic="all things",
                             metadata=json.dumps({"team": "core"})).room
    assert room.room_type == E.ROOM_TYPE_PRIVATE and room.created_by_profile_id == "alice"
    assert json.loads(room.metadata) == {"team": "core"}

    p = alice.add_participant(room_id=room.id, profile_id="bob").participant
    assert p.role == E.PARTICIPANT_ROLE_MEMBER and p.status == E.PARTICIPANT_STATUS_ACTIVE
    alice.add_participant(room_id=room.id, profile_id="carol", role="viewer")
    parts = {x.profile_id: x.role for x in alice.list_participants(room_id=room.id).participants}
    assert parts == {"alice": E.PARTICIPANT_ROLE_OWNER, "bob": E.PARTICIPANT_ROLE_MEMBER,
                     "carol": E.PARTICIPANT_ROLE_VIEWER}

    m1 = bob.send_message(room_id=room.id, content="hello alice").message
    assert m1.sender_profile_id == "bob" and m1.role == E.MESSAGE_ROLE_USER
    m2 = alice.send_message(room_id=room.id, content="hi bob", reply_to_message_id=m1.id).message
    assert m2.reply_to_message_id == m1.id

    with pytest.raises(ChatError) as ei:
        carol.send_message(room_id=room.id, content="can I?")
    assert (ei.value.code_name, ei.value.reason) == ("PERMISSION_DENIED", "VIEWER_READ_ONLY")

    # Thread on bob's message.
    th = alice.start_thread(room_id=room.id, root_message_id=m1.id, title="details").thread
    t1 = bob.send_message(room_id=room.id, thread_id=th.id, content="in thread").message
    t2 = alice.send_message(room_id=room.id, thread_id=th.id, content="reply", reply_to_message_id=t1.id).message
    th2 = bob.get_thread(thread_id=th.id).thread
    assert th2.message_count == 2 and th2.participant_count == 2
    assert [m.id for m in bob.list_thread_messages(thread_id=th.id).messages] == [t1.id, t2.id]
    assert [m.id for m in bob.list_replies(thread_id=th.id, message_id=t1.id).messages] == [t2.id]
    assert alice.resolve_thread(thread_id=th.id).thread.is_resolved
    with pytest.raises(ChatError) as ei:
        bob.reopen_thread(thread_id=th.id)      # neither the starter nor an admin
    assert ei.value.reason == "NOT_ROOM_ADMIN"
    assert not alice.reopen_thread(thread_id=th.id).thread.is_resolved

    # Root messages only by default, newest first.
    assert [m.id for m in carol.list_room_messages(room_id=room.id).messages] == [m2.id, m1.id]

    # Reactions.
    r = alice.add_reaction(message_id=m1.id, emoji="👍")
    assert r.added and r.reaction.profile_id == "alice"
    assert not alice.add_reaction(message_id=m1.id, emoji="👍").added      # idempotent
    bob.add_reaction(message_id=m1.id, emoji="👍")
    groups = alice.list_reactions(message_id=m1.id).reactions
    assert len(groups) == 1 and groups[0].count == 2 and groups[0].reacted_by_actor
    assert bob.remove_reaction(message_id=m1.id, emoji="👍").removed
    assert not bob.remove_reaction(message_id=m1.id, emoji="👍").removed

    # Edit with history, then delete.
    edited = bob.edit_message(message_id=m1.id, content="hello alice!").message
    assert edited.version == 2 and edited.HasField("edited_at")
    hist = alice.get_message_history(message_id=m1.id).versions
    assert [v.content for v in hist] == ["hello alice", "hello alice!"]
    with pytest.raises(ChatError) as ei:
        alice.edit_message(message_id=m1.id, content="not mine")
    assert ei.value.reason == "NOT_MESSAGE_SENDER"
    deleted = alice.delete_message(message_id=m2.id).message   # an owner may delete others' messages
    assert deleted.HasField("deleted_at") and deleted.content == ""

    # Read state.
    unread = carol.get_unread_counts()
    assert unread.total >= 1
    assert carol.mark_read(room_id=room.id, message_id=m1.id).unread_count == 0

    # DM.
    dm = alice.get_or_create_dm(profile_a="alice", profile_b="bob").room
    assert dm.id == smrtchat.dm_room_id(tenant, "alice", "bob") and dm.room_type == E.ROOM_TYPE_DM
    assert bob.get_or_create_dm(profile_a="bob", profile_b="alice").room.id == dm.id
    bob.send_message(room_id=dm.id, content="psst")
    with pytest.raises(ChatError) as ei:
        carol.get_or_create_dm(profile_a="alice", profile_b="bob")
    assert (ei.value.code_name, ei.value.reason) == ("PERMISSION_DENIED", "NOT_DM_PARTICIPANT")
    my_rooms = {s.room.id for s in bob.list_my_rooms().rooms}
    assert {room.id, dm.id} <= my_rooms


def test_agent_session_tool_gate(make_client, chat_key, server, tenant):
    alice = make_client(chat_key, tenant, "alice")
    agent_key = server.create_key([tenant], ("agent",))
    created = alice.create_agent_session(agent_id="helper", allowed_tools=["notes.*", "search"],
                                         system_prompt="be brief", max_messages=10)
    s = created.session
    assert not created.reused and s.is_active and s.agent_profile_id == "agent:helper"
    assert s.participant_profile_id == "alice" and created.room.room_type == E.ROOM_TYPE_AGENT
    again = alice.create_agent_session(agent_id="helper")
    assert again.reused and again.session.id == s.id

    user_msg = alice.send_agent_user_message(session_id=s.id, content="what is in my notes?").message
    assert user_msg.agent_session_id == s.id

    agent = make_client(agent_key, tenant, s.agent_profile_id)
    chk = agent.check_tool_call(session_id=s.id, tool_name="notes.read")
    assert chk.allowed and chk.matched_entry == "notes.*"
    assert not alice.check_tool_call(session_id=s.id, tool_name="notesX").allowed

    call = agent.send_agent_reply(session_id=s.id, kind="tool", message_type="tool_call",
                                  tool_call={"call_id": "c1", "name": "notes.read", "arguments": "{}"}).message
    assert call.message_type == E.MESSAGE_TYPE_TOOL_CALL and call.sender_profile_id == "agent:helper"
    res = agent.send_agent_reply(session_id=s.id, kind="tool", message_type="tool_result",
                                 tool_call={"call_id": "c1", "name": "notes.read", "result": '{"n": 1}'}).message
    assert res.tool_call.result == '{"n":1}'  # stored as the server's JSON validator wrote it
    reply = agent.send_agent_reply(session_id=s.id, content="You have one note.", tokens_used=12).message
    assert reply.role == E.MESSAGE_ROLE_ASSISTANT

    with pytest.raises(ChatError) as ei:
        agent.send_agent_reply(session_id=s.id, kind="tool", message_type="tool_call",
                               tool_call={"call_id": "c2", "name": "shell.exec", "arguments": "{}"})
    assert (ei.value.code_name, ei.value.reason) == ("PERMISSION_DENIED", "TOOL_NOT_ALLOWED")

    # The refusal wrote no message, only one TOOL_CALL_DENIED event.
    msgs = alice.list_room_messages(room_id=s.room_id).messages
    assert [m.id for m in msgs] == [reply.id, res.id, call.id, user_msg.id]
    evs = alice.list_room_events(room_id=s.room_id).events
    denied = [e for e in evs if e.kind == EV.EVENT_KIND_TOOL_CALL_DENIED]
    assert len(denied) == 1
    assert denied[0].subject_id == s.id and denied[0].tool_call_denied.tool_name == "shell.exec"
    assert denied[0].actor_profile_id == "agent:helper"

    # A chat-only key cannot author agent replies.
    with pytest.raises(ChatError) as ei:
        alice.with_actor("agent:helper").send_agent_reply(session_id=s.id, content="forged")
    assert (ei.value.code_name, ei.value.reason) == ("PERMISSION_DENIED", "SCOPE_MISSING")
    assert ei.value.metadata.get("scope") == "agent"

    sess = alice.get_agent_session(session_id=s.id).session
    assert sess.message_count == 4 and sess.total_tokens_used == 12
    ctx = alice.update_session_context(session_id=s.id, merge_patch='{"topic": "notes"}')
    assert ctx.context_version == 2
    closed = alice.close_agent_session(session_id=s.id).session
    assert closed.status == E.SESSION_STATUS_CLOSED and not closed.is_active
    with pytest.raises(ChatError) as ei:
        alice.send_agent_user_message(session_id=s.id, content="still there?")
    assert ei.value.reason == "SESSION_INACTIVE"
