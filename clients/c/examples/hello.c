/* hello: create a room, post a message, print the room's events. Configuration from the
 * environment: SMRTCHAT_RPC, SMRTCHAT_EVENTS, SMRTCHAT_KEY_ID, SMRTCHAT_SECRET, SMRTCHAT_TENANT,
 * SMRTCHAT_ACTOR. */
#include <stdio.h>
#include <stdlib.h>
#include <smrtchat.h>

int main(void) {
  smrtchat_options o = {0};
  o.rpc_endpoints = getenv("SMRTCHAT_RPC");
  o.key_id = getenv("SMRTCHAT_KEY_ID");
  o.secret_hex = getenv("SMRTCHAT_SECRET");
  o.tenant_id = getenv("SMRTCHAT_TENANT");
  o.actor_profile_id = getenv("SMRTCHAT_ACTOR");
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_client *c = smrtchat_client_new(&o, &st);
  if (!c) { fprintf(stderr, "connect: %s\n", st.message); return 1; }

  Smrt__Chat__V1__CreateRoomRequest cr = SMRT__CHAT__V1__CREATE_ROOM_REQUEST__INIT;
  cr.name = "hello";
  cr.room_type = SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_PRIVATE;
  cr._topic_case = SMRT__CHAT__V1__CREATE_ROOM_REQUEST___TOPIC_TOPIC; /* a proto3 optional field */
  cr.topic = "greetings";
  Smrt__Chat__V1__CreateRoomResponse *room = NULL;
  if (smrtchat_call(c, "CreateRoom", &cr.base, NULL, (ProtobufCMessage **)&room, &st) != SMRTCHAT_OK) {
    fprintf(stderr, "CreateRoom: %s %s: %s\n", smrtchat_code_name(st.code), st.reason, st.message);
    return 1;
  }

  Smrt__Chat__V1__SendMessageRequest sm = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
  sm.room_id = room->room->id;
  sm.content = "hello, world";
  sm.client_request_id = "hello-1"; /* retry-safe: the same key returns the same message */
  Smrt__Chat__V1__SendMessageResponse *msg = NULL;
  if (smrtchat_call(c, "SendMessage", &sm.base, NULL, (ProtobufCMessage **)&msg, &st) != SMRTCHAT_OK) {
    fprintf(stderr, "SendMessage: %s %s: %s\n", smrtchat_code_name(st.code), st.reason, st.message);
    return 1;
  }
  printf("room %s message %s (room_seq %lld)\n", room->room->id, msg->message->id,
         (long long)msg->message->room_seq);

  /* Every event of the room from seq 1: catch-up from the log, then live, in order. */
  smrtchat_sub *s = smrtchat_subscribe_room(c, getenv("SMRTCHAT_EVENTS"), room->room->id, 0, &st);
  Smrt__Chat__V1__RoomEvent *ev = NULL;
  while (s && smrtchat_next_event(s, 500, &ev, &st) == SMRTCHAT_OK) {
    printf("  seq %lld %s %s\n", (long long)ev->seq, smrtchat_event_kind_name(ev->kind), ev->subject_id);
    smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  }
  smrtchat_sub_close(s);
  protobuf_c_message_free_unpacked(&msg->base, NULL);
  protobuf_c_message_free_unpacked(&room->base, NULL);
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return 0;
}
