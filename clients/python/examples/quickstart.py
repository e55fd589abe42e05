"""Quick start: a room, a message, its events.
   python examples/quickstart.py RPC_URL EVENTS_URL KEY_ID SECRET_HEX"""
import sys

import smrtchat

rpc, events, key_id, secret = sys.argv[1:5]
alice = smrtchat.Client(rpc, key_id, secret, tenant_id="acme", actor_profile_id="alice")
bob = alice.with_actor("bob")                        # same key, acting as another profile

room = alice.create_room(name="general", room_type="public").room
bob.join_room(room_id=room.id)
sent = bob.send_message(room_id=room.id, content="hello", client_request_id="msg-1")
print("sent", sent.message.id)

try:
    alice.with_actor("carol").send_message(room_id=room.id, content="hi")
except smrtchat.ChatError as e:
    print("refused:", e.code_name, e.reason)         # PERMISSION_DENIED NOT_MEMBER

with smrtchat.EventSubscriber(alice, events, room_id=room.id) as sub:
    for ev in sub.take(4, timeout_ms=3000):          # or: for ev in sub: ...
        print(ev.seq, smrtchat.events_pb2.EventKind.Name(ev.kind), ev.subject_id)
alice.close()
