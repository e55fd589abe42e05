/*
 * End-to-end test of libsmrtchat against a real smrt-chatd (started by tests/run-tests.sh).
 *
 * Environment:
 *   VECTORS                      path of testdata/vectors.json
 *   SMRTCHAT_RPC, SMRTCHAT_EVENTS endpoints
 *   SMRTCHAT_KEY_ID/SECRET       key with scopes chat + events, tenants tenant-1 and tenant-2
 *   SMRTCHAT_AGENT_KEY_ID/SECRET key with scope agent, tenant tenant-1
 *   SMRTCHAT_TEST_OUT            (optional) file receiving "ROOM=<id>\nROOM_HEAD=<n>\n..." for the
 *                                shell part (smrtchat-tail checks)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#include "json.h"
#include "smrtchat.h"

#define T "tenant-1"

static int checks, failures;
static ProtobufCMessage *arena[4096];
static size_t narena;

#define CHECK(cond, ...)                                               \
  do {                                                                 \
    checks++;                                                          \
    if (!(cond)) {                                                     \
      failures++;                                                      \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
      fprintf(stderr, __VA_ARGS__);                                    \
      fprintf(stderr, "\n");                                           \
    }                                                                  \
  } while (0)

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }
#define STREQ(a, b) streq((a), (b))

static void keep(ProtobufCMessage *m) {
  if (m && narena < sizeof arena / sizeof arena[0]) arena[narena++] = m;
}

static void fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FATAL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static const char *need_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) fatal("environment variable %s is not set", name);
  return v;
}

/* A call that must succeed; the response is kept until exit. */
static ProtobufCMessage *ok_call(smrtchat_client *c, const char *actor, const char *tenant,
                                 const char *method, const ProtobufCMessage *req, int line) {
  smrtchat_call_opts o = {0};
  o.actor_profile_id = actor;
  o.tenant_id = tenant;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  ProtobufCMessage *out = NULL;
  int code = smrtchat_call_ex(c, &o, method, req, NULL, &out, &st);
  checks++;
  if (code != SMRTCHAT_OK)
    fatal("line %d: %s as %s: %s %s: %s", line, method, actor ? actor : "(default)",
          smrtchat_code_name(code), st.reason, st.message);
  smrtchat_status_clear(&st);
  keep(out);
  return out;
}

/* A call that must fail with code and reason (reason NULL = any); returns the status in *out_st
   when given (caller clears it). */
static void err_call(smrtchat_client *c, const char *actor, const char *tenant, const char *method,
                     const ProtobufCMessage *req, int code, const char *reason,
                     smrtchat_status *out_st, int line) {
  smrtchat_call_opts o = {0};
  o.actor_profile_id = actor;
  o.tenant_id = tenant;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  ProtobufCMessage *out = NULL;
  int got = smrtchat_call_ex(c, &o, method, req, NULL, &out, &st);
  checks++;
  if (got != code || (reason && !STREQ(st.reason, reason))) {
    failures++;
    fprintf(stderr, "FAIL line %d: %s as %s: want %s %s, got %s %s (%s)\n", line, method,
            actor ? actor : "(default)", smrtchat_code_name(code), reason ? reason : "*",
            smrtchat_code_name(got), st.reason ? st.reason : "", st.message ? st.message : "");
  }
  if (out) protobuf_c_message_free_unpacked(out, NULL);
  if (out_st) {
    smrtchat_status_clear(out_st);
    *out_st = st;
  }
  else
    smrtchat_status_clear(&st);
}

#define OK(TYPE, c, actor, method, req) ((TYPE *)ok_call(c, actor, NULL, method, &(req).base, __LINE__))
#define OK_T(TYPE, c, actor, tenant, method, req) \
  ((TYPE *)ok_call(c, actor, tenant, method, &(req).base, __LINE__))
#define ERR(c, actor, method, req, code, reason) \
  err_call(c, actor, NULL, method, &(req).base, code, reason, NULL, __LINE__)
#define ERR_ST(c, actor, method, req, code, reason, st) \
  err_call(c, actor, NULL, method, &(req).base, code, reason, st, __LINE__)

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static const char *jstr(const jval *o, const char *k) {
  const jval *v = json_get(o, k);
  return v && v->type == J_STR ? v->str : NULL;
}

/* ---------- shared vectors ---------- */

static jval *vectors;

static void test_vectors_offline(void) {
  const char *path = need_env("VECTORS");
  char *text = read_file(path);
  if (!text) fatal("cannot read %s", path);
  vectors = json_parse(text);
  free(text);
  if (!vectors) fatal("cannot parse %s", path);

  const jval *sigs = json_get(vectors, "signatures");
  CHECK(sigs && sigs->n >= 2, "signature vectors missing");
  for (size_t i = 0; sigs && i < sigs->n; i++) {
    const jval *v = sigs->items[i];
    uint8_t secret[64], payload[1024], sig[32];
    long sl = smrtchat_hex_decode(jstr(v, "secret_hex"), secret, sizeof secret);
    long pl = smrtchat_hex_decode(jstr(v, "payload_hex"), payload, sizeof payload);
    CHECK(sl > 0 && pl >= 0, "vector %zu: bad hex", i);
    const jval *ts = json_get(v, "timestamp_unix_ms");
    char *canonical = smrtchat_canonical(jstr(v, "method"), jstr(v, "tenant_id"),
                                         jstr(v, "actor_profile_id"), jstr(v, "request_id"),
                                         ts->num, payload, (size_t)pl);
    CHECK(STREQ(canonical, jstr(v, "canonical")), "vector %zu canonical differs", i);
    const char *nl = canonical ? strrchr(canonical, '\n') : NULL;
    CHECK(nl && STREQ(nl + 1, jstr(v, "payload_sha256_hex")), "vector %zu payload sha256", i);
    free(canonical);
    CHECK(smrtchat_sign(secret, (size_t)sl, jstr(v, "method"), jstr(v, "tenant_id"),
                        jstr(v, "actor_profile_id"), jstr(v, "request_id"), ts->num, payload,
                        (size_t)pl, sig) == 0,
          "sign");
    char hex[65];
    smrtchat_hex_encode(sig, 32, hex);
    CHECK(STREQ(hex, jstr(v, "signature_hex")), "vector %zu signature %s want %s", i, hex,
          jstr(v, "signature_hex"));
  }

  const jval *dms = json_get(vectors, "dm_room_ids");
  CHECK(dms && dms->n >= 3, "dm vectors missing");
  for (size_t i = 0; dms && i < dms->n; i++) {
    const jval *v = dms->items[i];
    char id[37];
    smrtchat_dm_room_id(jstr(v, "tenant_id"), jstr(v, "profile_a"), jstr(v, "profile_b"), id);
    CHECK(STREQ(id, jstr(v, "room_id")), "dm vector %zu: %s want %s", i, id, jstr(v, "room_id"));
  }

  const jval *crs = json_get(vectors, "client_request_message_ids");
  CHECK(crs && crs->n >= 3, "client request vectors missing");
  for (size_t i = 0; crs && i < crs->n; i++) {
    const jval *v = crs->items[i];
    char id[37];
    smrtchat_client_request_message_id(jstr(v, "tenant_id"), jstr(v, "room_id"), jstr(v, "thread_id"),
                                       jstr(v, "actor_profile_id"), jstr(v, "client_request_id"), id);
    CHECK(STREQ(id, jstr(v, "message_id")), "client request vector %zu: %s want %s", i, id,
          jstr(v, "message_id"));
  }

  char rid[33];
  CHECK(smrtchat_request_id(rid) == 0 && strlen(rid) == 32, "request id");
}

/* ---------- clients ---------- */

static smrtchat_client *new_client(const char *key_env, const char *secret_env, const char *actor,
                                   const char *secret_override, const char *key_override) {
  smrtchat_options o = {0};
  o.rpc_endpoints = need_env("SMRTCHAT_RPC");
  o.key_id = key_override ? key_override : key_env ? need_env(key_env) : NULL;
  o.secret_hex = secret_override ? secret_override : secret_env ? need_env(secret_env) : NULL;
  o.tenant_id = T;
  o.actor_profile_id = actor;
  o.recv_timeout_ms = 10000;
  o.resend_ivl_ms = 3000;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_client *c = smrtchat_client_new(&o, &st);
  if (!c) fatal("client: %s", st.message);
  smrtchat_status_clear(&st);
  return c;
}

/* ---------- envelope, auth, errors ---------- */

static void test_envelope(smrtchat_client *chat, smrtchat_client *agent) {
  /* Health and ServerInfo work without credentials. */
  smrtchat_client *anon = new_client(NULL, NULL, "alice", NULL, NULL);
  Smrt__Chat__V1__HealthRequest h = SMRT__CHAT__V1__HEALTH_REQUEST__INIT;
  Smrt__Chat__V1__HealthResponse *hr = OK(Smrt__Chat__V1__HealthResponse, anon, NULL, "Health", h);
  CHECK(hr->server_time_unix_ms > 0, "health time");
  Smrt__Chat__V1__ServerInfoRequest si = SMRT__CHAT__V1__SERVER_INFO_REQUEST__INIT;
  Smrt__Chat__V1__ServerInfoResponse *sir =
      OK(Smrt__Chat__V1__ServerInfoResponse, anon, NULL, "ServerInfo", si);
  printf("server: version=%s api=%s payload_mode=%s max_page=%d\n", sir->version, sir->api,
         sir->event_payload_mode, sir->max_page_size);

  Smrt__Chat__V1__ListMyRoomsRequest lr = SMRT__CHAT__V1__LIST_MY_ROOMS_REQUEST__INIT;
  ERR(anon, NULL, "ListMyRooms", lr, SMRTCHAT_UNAUTHENTICATED, "MISSING_CREDENTIALS");
  smrtchat_client_free(anon);

  /* A wrong secret. */
  smrtchat_client *bad = new_client("SMRTCHAT_KEY_ID", NULL, "alice",
                                    "00000000000000000000000000000000000000000000000000000000000000aa", NULL);
  ERR(bad, NULL, "ListMyRooms", lr, SMRTCHAT_UNAUTHENTICATED, "BAD_SIGNATURE");
  smrtchat_client_free(bad);
  /* An unknown key. */
  smrtchat_client *unk = new_client(NULL, "SMRTCHAT_SECRET", "alice", NULL, "sk_doesnotexist");
  ERR(unk, NULL, "ListMyRooms", lr, SMRTCHAT_UNAUTHENTICATED, "INVALID_KEY");
  smrtchat_client_free(unk);

  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_call_opts o = {0};
  ProtobufCMessage *out = NULL;
  int code;
  /* A stale timestamp (10 minutes ago). */
  o.timestamp_unix_ms = smrtchat_now_ms() - 600000;
  code = smrtchat_call_ex(chat, &o, "ListMyRooms", &lr.base, NULL, &out, &st);
  CHECK(code == SMRTCHAT_UNAUTHENTICATED && STREQ(st.reason, "STALE_TIMESTAMP"), "stale: %s %s",
        smrtchat_code_name(code), st.reason);
  /* A request id over 64 bytes. */
  memset(&o, 0, sizeof o);
  o.request_id = "0123456789012345678901234567890123456789012345678901234567890123456789";
  code = smrtchat_call_ex(chat, &o, "ListMyRooms", &lr.base, NULL, &out, &st);
  CHECK(code == SMRTCHAT_INVALID_ARGUMENT && STREQ(st.reason, "VALIDATION"), "long request id: %s %s",
        smrtchat_code_name(code), st.reason);
  /* Tenant not granted. */
  memset(&o, 0, sizeof o);
  o.tenant_id = "tenant-3";
  code = smrtchat_call_ex(chat, &o, "ListMyRooms", &lr.base, NULL, &out, &st);
  CHECK(code == SMRTCHAT_PERMISSION_DENIED && STREQ(st.reason, "TENANT_NOT_GRANTED"), "tenant: %s %s",
        smrtchat_code_name(code), st.reason);
  /* Scope missing: the agent key reading the tenant log. */
  Smrt__Chat__V1__ListTenantEventsRequest lte = SMRT__CHAT__V1__LIST_TENANT_EVENTS_REQUEST__INIT;
  ERR_ST(agent, NULL, "ListTenantEvents", lte, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING", &st);
  CHECK(STREQ(smrtchat_status_meta(&st, "scope"), "events"), "scope metadata: %s",
        smrtchat_status_meta(&st, "scope"));
  smrtchat_status_clear(&st);
  /* Unknown method and an undecodable payload. */
  code = smrtchat_call_raw(chat, NULL, "/smrt.chat.v1.ChatService/NoSuchMethod", NULL, 0, NULL, NULL, &st);
  CHECK(code == SMRTCHAT_UNIMPLEMENTED, "unknown method: %s %s", smrtchat_code_name(code), st.reason);
  static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
  code = smrtchat_call_raw(chat, NULL, "GetRoom", junk, sizeof junk, NULL, NULL, &st);
  CHECK(code == SMRTCHAT_INVALID_ARGUMENT, "junk payload: %s %s", smrtchat_code_name(code), st.reason);
  /* Client-side usage errors. */
  Smrt__Chat__V1__GetRoomRequest gr = SMRT__CHAT__V1__GET_ROOM_REQUEST__INIT;
  code = smrtchat_call(chat, "SendMessage", &gr.base, NULL, &out, &st);
  CHECK(code == SMRTCHAT_INVALID_ARGUMENT && STREQ(st.reason, "CLIENT_USAGE"), "wrong request type");
  code = smrtchat_call(chat, "Nope", &gr.base, NULL, &out, &st);
  CHECK(code == SMRTCHAT_INVALID_ARGUMENT && STREQ(st.reason, "CLIENT_USAGE"), "unknown method name");
  CHECK(smrtchat_method("/smrt.chat.v1.ChatService/SendMessage") == smrtchat_method("SendMessage"),
        "method lookup");
  smrtchat_status_clear(&st);
}

/* ---------- events helpers ---------- */

typedef struct evlist {
  Smrt__Chat__V1__RoomEvent **ev;
  size_t n;
} evlist;

/* Reads the durable log of a room (as the default actor of c). */
static evlist room_log(smrtchat_client *c, const char *room_id, int64_t *head) {
  evlist l = {0};
  int64_t after = 0;
  for (;;) {
    Smrt__Chat__V1__ListRoomEventsRequest r = SMRT__CHAT__V1__LIST_ROOM_EVENTS_REQUEST__INIT;
    r.room_id = (char *)room_id;
    r.after_seq = after;
    r.limit = 50;
    Smrt__Chat__V1__ListRoomEventsResponse *resp =
        OK(Smrt__Chat__V1__ListRoomEventsResponse, c, NULL, "ListRoomEvents", r);
    l.ev = realloc(l.ev, (l.n + resp->n_events) * sizeof *l.ev);
    for (size_t i = 0; i < resp->n_events; i++) l.ev[l.n++] = resp->events[i];
    *head = resp->head_seq;
    if (resp->n_events) after = resp->events[resp->n_events - 1]->seq;
    if (!resp->has_more || !resp->n_events) break;
  }
  return l;
}

static size_t count_kind(const evlist *l, int kind) {
  /* kind: an EVENT_KIND_ value */
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++) n += (int)l->ev[i]->kind == kind;
  return n;
}

/* Drains a room subscription up to seq `head`; checks 1..head in order against the log. */
static evlist drain_room(smrtchat_sub *s, const char *what, const evlist *log, int64_t head) {
  evlist got = {0};
  int64_t want = 1;
  while (want <= head) {
    Smrt__Chat__V1__RoomEvent *ev = NULL;
    smrtchat_status st = SMRTCHAT_STATUS_INIT;
    int code = smrtchat_next_event(s, 5000, &ev, &st);
    if (code != SMRTCHAT_OK) {
      CHECK(code == SMRTCHAT_OK, "%s: next_event at seq %lld: %s %s", what, (long long)want,
            smrtchat_code_name(code), st.reason);
      smrtchat_status_clear(&st);
      break;
    }
    CHECK(ev->seq == want, "%s: got seq %lld, want %lld", what, (long long)ev->seq, (long long)want);
    if ((size_t)(want - 1) < log->n) {
      const Smrt__Chat__V1__RoomEvent *l = log->ev[want - 1];
      CHECK(l->event_id == ev->event_id && l->kind == ev->kind && STREQ(l->subject_id, ev->subject_id),
            "%s: seq %lld differs from the log", what, (long long)want);
    }
    got.ev = realloc(got.ev, (got.n + 1) * sizeof *got.ev);
    got.ev[got.n++] = ev;
    keep(&ev->base);
    want = ev->seq + 1;
  }
  /* Nothing more (and no duplicate) should follow. */
  Smrt__Chat__V1__RoomEvent *extra = NULL;
  int code = smrtchat_next_event(s, 300, &extra, NULL);
  CHECK(code == SMRTCHAT_DEADLINE_EXCEEDED, "%s: unexpected event after head: seq %lld", what,
        extra ? (long long)extra->seq : -1LL);
  if (extra) smrt__chat__v1__room_event__free_unpacked(extra, NULL);
  smrtchat_sub_stats ss;
  smrtchat_sub_stats_get(s, &ss);
  printf("%s: %zu events (live %llu, caught up %llu, duplicates dropped %llu, gaps %llu, catch-up calls %llu)\n",
         what, got.n, (unsigned long long)ss.live, (unsigned long long)ss.caught_up,
         (unsigned long long)ss.duplicates, (unsigned long long)ss.gaps,
         (unsigned long long)ss.catchup_calls);
  return got;
}

/* ---------- gap handling, made deterministic with a stand-in PUB socket ----------
 * The subscription listens to a PUB socket of this test instead of the server's, while its
 * catch-up calls go to the real server. The test republishes real events from the log, leaving
 * one out: the subscription must notice the seq jump, fill it from ListRoomEvents /
 * ListTenantEvents, deliver in order, and drop the duplicates that follow. */
static void publish(int pub, const Smrt__Chat__V1__RoomEvent *ev) {
  char topic[256];
  int tl = snprintf(topic, sizeof topic, "smrt.chat.v1/%s/%s/", ev->tenant_id, ev->room_id);
  size_t n = smrt__chat__v1__room_event__get_packed_size(ev);
  uint8_t *buf = malloc((size_t)tl + 1 + n);
  memcpy(buf, topic, (size_t)tl + 1); /* includes the NUL separator */
  smrt__chat__v1__room_event__pack(ev, buf + tl + 1);
  CHECK(nn_send(pub, buf, (size_t)tl + 1 + n, 0) >= 0, "fake publish");
  free(buf);
}

static Smrt__Chat__V1__Message *say(smrtchat_client *c, const char *room, const char *text) {
  Smrt__Chat__V1__SendMessageRequest sm = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
  sm.room_id = (char *)room;
  sm.content = (char *)text;
  return OK(Smrt__Chat__V1__SendMessageResponse, c, "alice", "SendMessage", sm)->message;
}

static void test_gaps(smrtchat_client *chat, const char *room) {
  char ep[128];
  snprintf(ep, sizeof ep, "ipc:///tmp/smrtchat-c-fakepub-%ld.sock", (long)getpid());
  int pub = nn_socket(AF_SP, NN_PUB);
  if (pub < 0 || nn_bind(pub, ep) < 0) fatal("fake pub: %s", nn_strerror(nn_errno()));
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_sub *rs = smrtchat_subscribe_room(chat, ep, room, SMRTCHAT_FROM_NOW, &st);
  smrtchat_sub *ts = smrtchat_subscribe_tenant(chat, ep, SMRTCHAT_FROM_NOW, &st);
  if (!rs || !ts) fatal("gap subscriptions: %s", st.message);
  smrtchat_sub_set_poll_interval(rs, 0); /* only a gap may trigger catch-up here */
  smrtchat_sub_set_poll_interval(ts, 0);
  struct timespec pause = {0, 300 * 1000000L};
  nanosleep(&pause, NULL); /* let both SUB sockets connect */

  Smrt__Chat__V1__Message *a = say(chat, room, "gap test 1");
  Smrt__Chat__V1__Message *b = say(chat, room, "gap test 2");
  int64_t head = 0;
  evlist log = room_log(chat, room, &head);
  CHECK(head >= 2 && log.ev[head - 2]->seq == a->room_seq && log.ev[head - 1]->seq == b->room_seq,
        "gap test log");
  const Smrt__Chat__V1__RoomEvent *e1 = log.ev[head - 2], *e2 = log.ev[head - 1];

  publish(pub, e2); /* e1 "dropped" */
  Smrt__Chat__V1__RoomEvent *ev = NULL;
  int code;
  for (int k = 0; k < 2; k++) {
    const Smrt__Chat__V1__RoomEvent *want = k == 0 ? e1 : e2;
    code = smrtchat_next_event(rs, 3000, &ev, &st);
    CHECK(code == SMRTCHAT_OK && ev && ev->seq == want->seq && ev->event_id == want->event_id,
          "room gap: want seq %lld got %lld", (long long)want->seq, ev ? (long long)ev->seq : -1LL);
    if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
    code = smrtchat_next_event(ts, 3000, &ev, &st);
    CHECK(code == SMRTCHAT_OK && ev && ev->seq == want->seq && ev->event_id == want->event_id,
          "tenant gap: want seq %lld got %lld", (long long)want->seq, ev ? (long long)ev->seq : -1LL);
    if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  }
  /* Late copies of both are duplicates now. */
  publish(pub, e1);
  publish(pub, e2);
  code = smrtchat_next_event(rs, 400, &ev, NULL);
  CHECK(code == SMRTCHAT_DEADLINE_EXCEEDED && !ev, "room duplicate delivered");
  if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  code = smrtchat_next_event(ts, 400, &ev, NULL);
  CHECK(code == SMRTCHAT_DEADLINE_EXCEEDED && !ev, "tenant duplicate delivered");
  if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  smrtchat_sub_stats rst, tst;
  smrtchat_sub_stats_get(rs, &rst);
  smrtchat_sub_stats_get(ts, &tst);
  CHECK(rst.gaps == 1 && rst.duplicates == 2 && rst.caught_up == 2, "room gap stats gaps=%llu dup=%llu caught=%llu",
        (unsigned long long)rst.gaps, (unsigned long long)rst.duplicates, (unsigned long long)rst.caught_up);
  CHECK(tst.gaps == 1 && tst.duplicates == 2, "tenant gap stats gaps=%llu dup=%llu",
        (unsigned long long)tst.gaps, (unsigned long long)tst.duplicates);
  printf("gap handling: room gaps=%llu duplicates=%llu; tenant gaps=%llu duplicates=%llu\n",
         (unsigned long long)rst.gaps, (unsigned long long)rst.duplicates,
         (unsigned long long)tst.gaps, (unsigned long long)tst.duplicates);

  /* The idle poll: with polling on, an event nobody publishes still arrives. */
  smrtchat_sub_set_poll_interval(rs, 200);
  Smrt__Chat__V1__Message *c = say(chat, room, "never published");
  code = smrtchat_next_event(rs, 3000, &ev, &st);
  CHECK(code == SMRTCHAT_OK && ev && ev->seq == c->room_seq, "idle poll delivers seq %lld",
        (long long)c->room_seq);
  if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  free(log.ev);
  smrtchat_status_clear(&st);
  smrtchat_sub_close(rs);
  smrtchat_sub_close(ts);
  nn_close(pub);
}

/* ---------- the conversation ---------- */

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_vectors_offline();
  printf("vectors (offline): %d checks, %d failures\n", checks, failures);

  const char *events_ep = need_env("SMRTCHAT_EVENTS");
  smrtchat_client *chat = new_client("SMRTCHAT_KEY_ID", "SMRTCHAT_SECRET", "alice", NULL, NULL);
  smrtchat_client *agent = new_client("SMRTCHAT_AGENT_KEY_ID", "SMRTCHAT_AGENT_SECRET", "agent:helper", NULL, NULL);
  test_envelope(chat, agent);
  printf("envelope/auth: %d checks, %d failures\n", checks, failures);

  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  /* Tenant subscription from now, before anything of the conversation happens. */
  smrtchat_sub *tsub = smrtchat_subscribe_tenant(chat, events_ep, SMRTCHAT_FROM_NOW, &st);
  if (!tsub) fatal("subscribe tenant: %s %s: %s", smrtchat_code_name(st.code), st.reason, st.message);

  /* Room. */
  Smrt__Chat__V1__CreateRoomRequest cr = SMRT__CHAT__V1__CREATE_ROOM_REQUEST__INIT;
  cr.name = "Design review";
  cr.room_type = SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_PRIVATE;
  cr._description_case = SMRT__CHAT__V1__CREATE_ROOM_REQUEST___DESCRIPTION_DESCRIPTION;
  cr.description = "weekly";
  cr._metadata_case = SMRT__CHAT__V1__CREATE_ROOM_REQUEST___METADATA_METADATA;
  cr.metadata = "{\"team\":\"core\"}";
  Smrt__Chat__V1__Room *room = OK(Smrt__Chat__V1__CreateRoomResponse, chat, "alice", "CreateRoom", cr)->room;
  CHECK(room && room->room_type == SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_PRIVATE, "room type");
  CHECK(STREQ(room->created_by_profile_id, "alice") && STREQ(room->tenant_id, T) &&
            STREQ(room->description, "weekly"),
        "room fields");
  const char *R = room->id;
  Smrt__Chat__V1__CreateRoomRequest bad_cr = SMRT__CHAT__V1__CREATE_ROOM_REQUEST__INIT;
  bad_cr.name = "x";
  bad_cr.room_type = SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_DM;
  ERR(chat, "alice", "CreateRoom", bad_cr, SMRTCHAT_INVALID_ARGUMENT, NULL);

  /* Room subscription from the beginning (catch-up then live). */
  smrtchat_sub *rsub = smrtchat_subscribe_room(chat, events_ep, R, 0, &st);
  if (!rsub) fatal("subscribe room: %s %s: %s", smrtchat_code_name(st.code), st.reason, st.message);

  /* Members. */
  Smrt__Chat__V1__AddParticipantRequest ap = SMRT__CHAT__V1__ADD_PARTICIPANT_REQUEST__INIT;
  ap.room_id = (char *)R;
  ap.profile_id = "bob";
  Smrt__Chat__V1__Participant *pb = OK(Smrt__Chat__V1__AddParticipantResponse, chat, "alice", "AddParticipant", ap)->participant;
  CHECK(pb->role == SMRT__CHAT__V1__PARTICIPANT_ROLE__PARTICIPANT_ROLE_MEMBER &&
            pb->status == SMRT__CHAT__V1__PARTICIPANT_STATUS__PARTICIPANT_STATUS_ACTIVE,
        "bob member");
  Smrt__Chat__V1__Participant *pb2 = OK(Smrt__Chat__V1__AddParticipantResponse, chat, "alice", "AddParticipant", ap)->participant;
  CHECK(pb2->joined_at == pb->joined_at, "AddParticipant idempotent");
  ap.profile_id = "carol";
  ap._role_case = SMRT__CHAT__V1__ADD_PARTICIPANT_REQUEST___ROLE_ROLE;
  ap.role = SMRT__CHAT__V1__PARTICIPANT_ROLE__PARTICIPANT_ROLE_VIEWER;
  Smrt__Chat__V1__Participant *pc = OK(Smrt__Chat__V1__AddParticipantResponse, chat, "alice", "AddParticipant", ap)->participant;
  CHECK(pc->role == SMRT__CHAT__V1__PARTICIPANT_ROLE__PARTICIPANT_ROLE_VIEWER, "carol viewer");
  ap.profile_id = "erin";
  ap.role = SMRT__CHAT__V1__PARTICIPANT_ROLE__PARTICIPANT_ROLE_MEMBER;
  ERR(chat, "bob", "AddParticipant", ap, SMRTCHAT_PERMISSION_DENIED, "NOT_ROOM_ADMIN");

  Smrt__Chat__V1__ListParticipantsRequest lp = SMRT__CHAT__V1__LIST_PARTICIPANTS_REQUEST__INIT;
  lp.room_id = (char *)R;
  Smrt__Chat__V1__ListParticipantsResponse *lpr = OK(Smrt__Chat__V1__ListParticipantsResponse, chat, "bob", "ListParticipants", lp);
  CHECK(lpr->n_participants == 3, "3 participants, got %zu", lpr->n_participants);

  Smrt__Chat__V1__GetRoomRequest gr = SMRT__CHAT__V1__GET_ROOM_REQUEST__INIT;
  gr.room_id = (char *)R;
  ERR_ST(chat, "dave", "GetRoom", gr, SMRTCHAT_NOT_FOUND, "NOT_FOUND", &st);
  CHECK(STREQ(smrtchat_status_meta(&st, "resource"), "room"), "resource metadata");
  smrtchat_status_clear(&st);
  Smrt__Chat__V1__GetRoomResponse *grr = OK(Smrt__Chat__V1__GetRoomResponse, chat, "bob", "GetRoom", gr);
  CHECK(grr->_participant_case == SMRT__CHAT__V1__GET_ROOM_RESPONSE___PARTICIPANT_PARTICIPANT &&
            STREQ(grr->participant->profile_id, "bob"),
        "GetRoom participant");

  /* Messages, with client request ids checked against §9.2. */
  char want_id[37];
  Smrt__Chat__V1__SendMessageRequest sm = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
  sm.room_id = (char *)R;
  sm.content = "hello team";
  sm.client_request_id = "req-1";
  Smrt__Chat__V1__SendMessageResponse *smr = OK(Smrt__Chat__V1__SendMessageResponse, chat, "alice", "SendMessage", sm);
  Smrt__Chat__V1__Message *m1 = smr->message;
  smrtchat_client_request_message_id(T, R, NULL, "alice", "req-1", want_id);
  CHECK(STREQ(m1->id, want_id), "client request message id %s want %s", m1->id, want_id);
  CHECK(!smr->replayed && m1->role == SMRT__CHAT__V1__MESSAGE_ROLE__MESSAGE_ROLE_USER &&
            STREQ(m1->sender_profile_id, "alice") && m1->version == 1 && m1->room_seq > 0,
        "m1 fields");
  Smrt__Chat__V1__SendMessageResponse *again = OK(Smrt__Chat__V1__SendMessageResponse, chat, "alice", "SendMessage", sm);
  CHECK(again->replayed && STREQ(again->message->id, m1->id), "replayed send");
  sm.content = "something else";
  ERR_ST(chat, "alice", "SendMessage", sm, SMRTCHAT_ALREADY_EXISTS, "CLIENT_REQUEST_CONFLICT", &st);
  CHECK(STREQ(smrtchat_status_meta(&st, "existing_message_id"), m1->id), "existing_message_id");
  smrtchat_status_clear(&st);
  sm.content = "unicode key";
  sm.client_request_id = "ключ-✓";
  Smrt__Chat__V1__Message *mu = OK(Smrt__Chat__V1__SendMessageResponse, chat, "alice", "SendMessage", sm)->message;
  smrtchat_client_request_message_id(T, R, NULL, "alice", "ключ-✓", want_id);
  CHECK(STREQ(mu->id, want_id), "unicode client request id %s want %s", mu->id, want_id);

  /* §9.2 JSON text with characters that need (or must not get) escaping: '/', '"', '\\', controls, non-ASCII. */
  static const char *odd_keys[] = {"a/b", "q\"uote", "back\\slash", "tab\there", "ctl\x01x", "emoji\xf0\x9f\x98\x80"};
  for (size_t i = 0; i < sizeof odd_keys / sizeof odd_keys[0]; i++) {
    sm.content = "odd key";
    sm.client_request_id = (char *)odd_keys[i];
    Smrt__Chat__V1__Message *mo = OK(Smrt__Chat__V1__SendMessageResponse, chat, "bob", "SendMessage", sm)->message;
    smrtchat_client_request_message_id(T, R, NULL, "bob", odd_keys[i], want_id);
    CHECK(STREQ(mo->id, want_id), "client request id for key %zu: server %s local %s", i, mo->id, want_id);
  }
  sm.content = "hi alice";
  sm.client_request_id = "";
  sm.reply_to_message_id = m1->id;
  Smrt__Chat__V1__Message *m2 = OK(Smrt__Chat__V1__SendMessageResponse, chat, "bob", "SendMessage", sm)->message;
  CHECK(STREQ(m2->reply_to_message_id, m1->id) && STREQ(m2->sender_profile_id, "bob"), "reply");
  sm.reply_to_message_id = "";
  sm.content = "may I?";
  ERR(chat, "carol", "SendMessage", sm, SMRTCHAT_PERMISSION_DENIED, "VIEWER_READ_ONLY");
  ERR(chat, "dave", "SendMessage", sm, SMRTCHAT_NOT_FOUND, "NOT_FOUND");
  sm.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_SYSTEM;
  ERR(chat, "alice", "SendMessage", sm, SMRTCHAT_INVALID_ARGUMENT, NULL);
  sm.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED;

  /* Thread. */
  Smrt__Chat__V1__StartThreadRequest stq = SMRT__CHAT__V1__START_THREAD_REQUEST__INIT;
  stq.room_id = (char *)R;
  stq.root_message_id = m1->id;
  stq._title_case = SMRT__CHAT__V1__START_THREAD_REQUEST___TITLE_TITLE;
  stq.title = "details";
  Smrt__Chat__V1__Thread *th = OK(Smrt__Chat__V1__StartThreadResponse, chat, "bob", "StartThread", stq)->thread;
  CHECK(STREQ(th->started_by_profile_id, "bob") && STREQ(th->root_message_id, m1->id) &&
            STREQ(th->title, "details"),
        "thread fields");
  sm.thread_id = th->id;
  sm.content = "in the thread";
  sm.client_request_id = "req-1";
  Smrt__Chat__V1__Message *mt = OK(Smrt__Chat__V1__SendMessageResponse, chat, "alice", "SendMessage", sm)->message;
  smrtchat_client_request_message_id(T, R, th->id, "alice", "req-1", want_id);
  CHECK(STREQ(mt->id, want_id) && STREQ(mt->thread_id, th->id), "thread client request id %s want %s",
        mt->id, want_id);
  sm.thread_id = "";
  sm.client_request_id = "";
  Smrt__Chat__V1__GetThreadRequest gt = SMRT__CHAT__V1__GET_THREAD_REQUEST__INIT;
  gt.thread_id = th->id;
  Smrt__Chat__V1__Thread *th2 = OK(Smrt__Chat__V1__GetThreadResponse, chat, "bob", "GetThread", gt)->thread;
  CHECK(th2->message_count == 1 && th2->participant_count == 1, "thread counts %lld %lld",
        (long long)th2->message_count, (long long)th2->participant_count);
  Smrt__Chat__V1__ListThreadMessagesRequest ltm = SMRT__CHAT__V1__LIST_THREAD_MESSAGES_REQUEST__INIT;
  ltm.thread_id = th->id;
  Smrt__Chat__V1__ListThreadMessagesResponse *ltmr = OK(Smrt__Chat__V1__ListThreadMessagesResponse, chat, "bob", "ListThreadMessages", ltm);
  CHECK(ltmr->n_messages == 1 && STREQ(ltmr->messages[0]->id, mt->id), "thread messages");
  Smrt__Chat__V1__ResolveThreadRequest rt = SMRT__CHAT__V1__RESOLVE_THREAD_REQUEST__INIT;
  rt.thread_id = th->id;
  /* A plain member who did not start the thread: NOT_ROOM_ADMIN (§12.8). (A viewer gets
     VIEWER_READ_ONLY from this server; §12.8 does not say which of the two wins.) */
  ap.profile_id = "frank";
  ap._role_case = SMRT__CHAT__V1__ADD_PARTICIPANT_REQUEST___ROLE__NOT_SET;
  OK(Smrt__Chat__V1__AddParticipantResponse, chat, "alice", "AddParticipant", ap);
  ERR(chat, "frank", "ResolveThread", rt, SMRTCHAT_PERMISSION_DENIED, "NOT_ROOM_ADMIN");
  ERR(chat, "carol", "ResolveThread", rt, SMRTCHAT_PERMISSION_DENIED, NULL);
  CHECK(OK(Smrt__Chat__V1__ResolveThreadResponse, chat, "bob", "ResolveThread", rt)->thread->is_resolved,
        "resolved");

  /* Reactions. */
  Smrt__Chat__V1__AddReactionRequest ar = SMRT__CHAT__V1__ADD_REACTION_REQUEST__INIT;
  ar.message_id = m1->id;
  ar.emoji = "👍";
  Smrt__Chat__V1__AddReactionResponse *arr = OK(Smrt__Chat__V1__AddReactionResponse, chat, "bob", "AddReaction", ar);
  CHECK(arr->added && STREQ(arr->reaction->emoji, "👍") && STREQ(arr->reaction->profile_id, "bob"), "reaction");
  CHECK(!OK(Smrt__Chat__V1__AddReactionResponse, chat, "bob", "AddReaction", ar)->added, "reaction idempotent");
  ar.emoji = "a b";
  ERR(chat, "bob", "AddReaction", ar, SMRTCHAT_INVALID_ARGUMENT, "VALIDATION");
  Smrt__Chat__V1__ListReactionsRequest lrq = SMRT__CHAT__V1__LIST_REACTIONS_REQUEST__INIT;
  lrq.message_id = m1->id;
  Smrt__Chat__V1__ListReactionsResponse *lrr = OK(Smrt__Chat__V1__ListReactionsResponse, chat, "alice", "ListReactions", lrq);
  CHECK(lrr->n_reactions == 1 && lrr->reactions[0]->count == 1 && !lrr->reactions[0]->reacted_by_actor,
        "reaction groups");

  /* Edit and history. */
  Smrt__Chat__V1__EditMessageRequest em = SMRT__CHAT__V1__EDIT_MESSAGE_REQUEST__INIT;
  em.message_id = m1->id;
  em.content = "hello team (edited)";
  ERR(chat, "bob", "EditMessage", em, SMRTCHAT_PERMISSION_DENIED, "NOT_MESSAGE_SENDER");
  Smrt__Chat__V1__Message *m1e = OK(Smrt__Chat__V1__EditMessageResponse, chat, "alice", "EditMessage", em)->message;
  CHECK(m1e->version == 2 && STREQ(m1e->content, em.content) &&
            m1e->_edited_at_case == SMRT__CHAT__V1__MESSAGE___EDITED_AT_EDITED_AT,
        "edited");
  Smrt__Chat__V1__GetMessageHistoryRequest gh = SMRT__CHAT__V1__GET_MESSAGE_HISTORY_REQUEST__INIT;
  gh.message_id = m1->id;
  Smrt__Chat__V1__GetMessageHistoryResponse *ghr = OK(Smrt__Chat__V1__GetMessageHistoryResponse, chat, "bob", "GetMessageHistory", gh);
  CHECK(ghr->n_versions >= 1 && STREQ(ghr->versions[0]->content, "hello team"), "history");

  /* Identical resend of a signed frame: answered from the stored response, executed once. */
  Smrt__Chat__V1__SendMessageRequest rs = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
  rs.room_id = (char *)R;
  rs.content = "sent twice on the wire";
  smrtchat_call_opts fixed = {0};
  char fixed_rid[33];
  smrtchat_request_id(fixed_rid);
  fixed.request_id = fixed_rid;
  fixed.actor_profile_id = "alice";
  fixed.timestamp_unix_ms = smrtchat_now_ms();
  ProtobufCMessage *o1 = NULL, *o2 = NULL;
  int c1 = smrtchat_call_ex(chat, &fixed, "SendMessage", &rs.base, NULL, &o1, &st);
  int c2 = smrtchat_call_ex(chat, &fixed, "SendMessage", &rs.base, NULL, &o2, &st);
  CHECK(c1 == SMRTCHAT_OK && c2 == SMRTCHAT_OK, "resend: %s / %s", smrtchat_code_name(c1),
        smrtchat_code_name(c2));
  keep(o1);
  keep(o2);
  if (o1 && o2)
    CHECK(STREQ(((Smrt__Chat__V1__SendMessageResponse *)o1)->message->id,
                ((Smrt__Chat__V1__SendMessageResponse *)o2)->message->id),
          "resend answered with the stored message");
  rs.content = "changed but same request id";
  int c3 = smrtchat_call_ex(chat, &fixed, "SendMessage", &rs.base, NULL, NULL, &st);
  CHECK(c3 == SMRTCHAT_UNAUTHENTICATED && STREQ(st.reason, "REQUEST_ID_REUSED"), "reuse: %s %s",
        smrtchat_code_name(c3), st.reason);
  smrtchat_status_clear(&st);

  Smrt__Chat__V1__ListRoomMessagesRequest lm = SMRT__CHAT__V1__LIST_ROOM_MESSAGES_REQUEST__INIT;
  lm.room_id = (char *)R;
  Smrt__Chat__V1__ListRoomMessagesResponse *lmr = OK(Smrt__Chat__V1__ListRoomMessagesResponse, chat, "carol", "ListRoomMessages", lm);
  CHECK(lmr->n_messages == 10 && !lmr->has_more, "10 root messages, got %zu", lmr->n_messages);
  lm.cursor = "not-a-cursor";
  ERR(chat, "carol", "ListRoomMessages", lm, SMRTCHAT_INVALID_ARGUMENT, NULL);

  Smrt__Chat__V1__MarkReadRequest mr = SMRT__CHAT__V1__MARK_READ_REQUEST__INIT;
  mr.room_id = (char *)R;
  mr.message_id = m2->id;
  OK(Smrt__Chat__V1__MarkReadResponse, chat, "carol", "MarkRead", mr);

  /* Direct messages: the §9.1 vectors through the server. */
  const jval *dms = json_get(vectors, "dm_room_ids");
  for (size_t i = 0; dms && i < dms->n; i++) {
    const jval *v = dms->items[i];
    Smrt__Chat__V1__GetOrCreateDMRequest dm = SMRT__CHAT__V1__GET_OR_CREATE_DMREQUEST__INIT;
    dm.profile_a = (char *)jstr(v, "profile_a");
    dm.profile_b = (char *)jstr(v, "profile_b");
    Smrt__Chat__V1__Room *dr = OK_T(Smrt__Chat__V1__GetOrCreateDMResponse, chat, dm.profile_a,
                                    jstr(v, "tenant_id"), "GetOrCreateDM", dm)->room;
    CHECK(STREQ(dr->id, jstr(v, "room_id")) && dr->room_type == SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_DM,
          "server DM id %s want %s", dr->id, jstr(v, "room_id"));
  }
  char dm_id[37];
  smrtchat_dm_room_id(T, "alice", "bob", dm_id);
  Smrt__Chat__V1__GetOrCreateDMRequest dm = SMRT__CHAT__V1__GET_OR_CREATE_DMREQUEST__INIT;
  dm.profile_a = "alice";
  dm.profile_b = "bob";
  ERR(chat, "dave", "GetOrCreateDM", dm, SMRTCHAT_PERMISSION_DENIED, "NOT_DM_PARTICIPANT");
  sm.room_id = dm_id;
  sm.content = "psst";
  Smrt__Chat__V1__Message *dmm = OK(Smrt__Chat__V1__SendMessageResponse, chat, "bob", "SendMessage", sm)->message;
  CHECK(STREQ(dmm->room_id, dm_id), "dm message");
  Smrt__Chat__V1__AddParticipantRequest ap3 = SMRT__CHAT__V1__ADD_PARTICIPANT_REQUEST__INIT;
  ap3.room_id = dm_id;
  ap3.profile_id = "carol";
  ERR(chat, "alice", "AddParticipant", ap3, SMRTCHAT_PERMISSION_DENIED, "NOT_ROOM_ADMIN");

  /* Agent session. */
  Smrt__Chat__V1__CreateAgentSessionRequest cs = SMRT__CHAT__V1__CREATE_AGENT_SESSION_REQUEST__INIT;
  char *tools[] = {"notes.*", "search"};
  cs.agent_id = "helper";
  cs.n_allowed_tools = 2;
  cs.allowed_tools = tools;
  cs._system_prompt_case = SMRT__CHAT__V1__CREATE_AGENT_SESSION_REQUEST___SYSTEM_PROMPT_SYSTEM_PROMPT;
  cs.system_prompt = "be brief";
  Smrt__Chat__V1__CreateAgentSessionResponse *csr = OK(Smrt__Chat__V1__CreateAgentSessionResponse, chat, "alice", "CreateAgentSession", cs);
  Smrt__Chat__V1__AgentSession *sess = csr->session;
  CHECK(!csr->reused && sess->is_active && STREQ(sess->agent_profile_id, "agent:helper") &&
            STREQ(sess->participant_profile_id, "alice") &&
            csr->room->room_type == SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_AGENT &&
            STREQ(csr->room->id, sess->room_id) && sess->context_version == 1,
        "session fields");
  const char *S = sess->id, *AR = sess->room_id;
  Smrt__Chat__V1__CreateAgentSessionResponse *csr2 = OK(Smrt__Chat__V1__CreateAgentSessionResponse, chat, "alice", "CreateAgentSession", cs);
  CHECK(csr2->reused && STREQ(csr2->session->id, S), "session reused");

  Smrt__Chat__V1__SendAgentUserMessageRequest su = SMRT__CHAT__V1__SEND_AGENT_USER_MESSAGE_REQUEST__INIT;
  su.session_id = (char *)S;
  su.content = "find my notes about pricing";
  Smrt__Chat__V1__Message *um = OK(Smrt__Chat__V1__SendAgentUserMessageResponse, chat, "alice", "SendAgentUserMessage", su)->message;
  CHECK(um->role == SMRT__CHAT__V1__MESSAGE_ROLE__MESSAGE_ROLE_USER && STREQ(um->agent_session_id, S) &&
            STREQ(um->room_id, AR),
        "agent user message");
  ERR(chat, "bob", "SendAgentUserMessage", su, SMRTCHAT_NOT_FOUND, "NOT_FOUND");

  Smrt__Chat__V1__SendAgentReplyRequest rep = SMRT__CHAT__V1__SEND_AGENT_REPLY_REQUEST__INIT;
  rep.session_id = (char *)S;
  rep.content = "Let me look.";
  rep.kind = SMRT__CHAT__V1__AGENT_REPLY_KIND__AGENT_REPLY_KIND_ASSISTANT;
  rep.tokens_used = 10;
  ERR_ST(chat, "alice", "SendAgentReply", rep, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING", &st);
  CHECK(STREQ(smrtchat_status_meta(&st, "scope"), "agent"), "agent scope metadata");
  smrtchat_status_clear(&st);
  Smrt__Chat__V1__Message *am = OK(Smrt__Chat__V1__SendAgentReplyResponse, agent, NULL, "SendAgentReply", rep)->message;
  CHECK(am->role == SMRT__CHAT__V1__MESSAGE_ROLE__MESSAGE_ROLE_ASSISTANT &&
            STREQ(am->sender_profile_id, "agent:helper"),
        "assistant reply");

  Smrt__Chat__V1__CheckToolCallRequest ct = SMRT__CHAT__V1__CHECK_TOOL_CALL_REQUEST__INIT;
  ct.session_id = (char *)S;
  ct.tool_name = "notes.read";
  Smrt__Chat__V1__CheckToolCallResponse *ctr = OK(Smrt__Chat__V1__CheckToolCallResponse, agent, NULL, "CheckToolCall", ct);
  CHECK(ctr->allowed && STREQ(ctr->matched_entry, "notes.*"), "check allowed");
  ct.tool_name = "shell.exec";
  ctr = OK(Smrt__Chat__V1__CheckToolCallResponse, chat, "alice", "CheckToolCall", ct);
  CHECK(!ctr->allowed && STREQ(ctr->reason, "TOOL_NOT_ALLOWED"), "check denied");
  ct.tool_name = "notes";
  ctr = OK(Smrt__Chat__V1__CheckToolCallResponse, agent, NULL, "CheckToolCall", ct);
  CHECK(!ctr->allowed, "'notes' does not match notes.*");

  Smrt__Chat__V1__ToolCall tc = SMRT__CHAT__V1__TOOL_CALL__INIT;
  tc.call_id = "call-1";
  tc.name = "notes.read";
  tc._arguments_case = SMRT__CHAT__V1__TOOL_CALL___ARGUMENTS_ARGUMENTS;
  tc.arguments = "{\"query\":\"pricing\"}";
  rep.kind = SMRT__CHAT__V1__AGENT_REPLY_KIND__AGENT_REPLY_KIND_TOOL;
  rep._message_type_case = SMRT__CHAT__V1__SEND_AGENT_REPLY_REQUEST___MESSAGE_TYPE_MESSAGE_TYPE;
  rep.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_CALL;
  rep.tool_call = &tc;
  rep.content = "";
  rep.tokens_used = 5;
  Smrt__Chat__V1__Message *tcm = OK(Smrt__Chat__V1__SendAgentReplyResponse, agent, NULL, "SendAgentReply", rep)->message;
  CHECK(tcm->role == SMRT__CHAT__V1__MESSAGE_ROLE__MESSAGE_ROLE_TOOL &&
            tcm->message_type == SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_CALL && tcm->tool_call &&
            STREQ(tcm->tool_call->call_id, "call-1") && STREQ(tcm->tool_call->name, "notes.read"),
        "allowed tool call");
  ERR(agent, NULL, "SendAgentReply", rep, SMRTCHAT_ALREADY_EXISTS, "DUPLICATE_CALL_ID");
  Smrt__Chat__V1__ToolCall tr = SMRT__CHAT__V1__TOOL_CALL__INIT;
  tr.call_id = "call-1";
  tr.name = "notes.read";
  tr._result_case = SMRT__CHAT__V1__TOOL_CALL___RESULT_RESULT;
  tr.result = "{\"hits\":2}";
  rep.tool_call = &tr;
  rep.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_RESULT;
  rep.tokens_used = 0;
  Smrt__Chat__V1__Message *trm = OK(Smrt__Chat__V1__SendAgentReplyResponse, agent, NULL, "SendAgentReply", rep)->message;
  CHECK(trm->message_type == SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_RESULT, "tool result");
  ERR(agent, NULL, "SendAgentReply", rep, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_ALREADY_ANSWERED");
  Smrt__Chat__V1__ToolCall td = SMRT__CHAT__V1__TOOL_CALL__INIT;
  td.call_id = "call-2";
  td.name = "shell.exec";
  td._arguments_case = SMRT__CHAT__V1__TOOL_CALL___ARGUMENTS_ARGUMENTS;
  td.arguments = "{\"cmd\":\"rm -rf /\"}";
  rep.tool_call = &td;
  rep.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_CALL;
  ERR(agent, NULL, "SendAgentReply", rep, SMRTCHAT_PERMISSION_DENIED, "TOOL_NOT_ALLOWED");
  td.name = "";
  ERR(agent, NULL, "SendAgentReply", rep, SMRTCHAT_INVALID_ARGUMENT, "TOOL_NAME_MISSING");

  Smrt__Chat__V1__GetAgentSessionRequest gs = SMRT__CHAT__V1__GET_AGENT_SESSION_REQUEST__INIT;
  gs.session_id = (char *)S;
  Smrt__Chat__V1__AgentSession *s2 = OK(Smrt__Chat__V1__GetAgentSessionResponse, chat, "alice", "GetAgentSession", gs)->session;
  CHECK(s2->message_count == 4 && s2->total_tokens_used == 15, "session counters %lld %lld",
        (long long)s2->message_count, (long long)s2->total_tokens_used);
  ERR(chat, "bob", "GetAgentSession", gs, SMRTCHAT_NOT_FOUND, "NOT_FOUND");

  Smrt__Chat__V1__UpdateSessionContextRequest uc = SMRT__CHAT__V1__UPDATE_SESSION_CONTEXT_REQUEST__INIT;
  uc.session_id = (char *)S;
  uc._merge_patch_case = SMRT__CHAT__V1__UPDATE_SESSION_CONTEXT_REQUEST___MERGE_PATCH_MERGE_PATCH;
  uc.merge_patch = "{\"topic\":\"pricing\"}";
  uc._expected_version_case = SMRT__CHAT__V1__UPDATE_SESSION_CONTEXT_REQUEST___EXPECTED_VERSION_EXPECTED_VERSION;
  uc.expected_version = 1;
  Smrt__Chat__V1__UpdateSessionContextResponse *ucr = OK(Smrt__Chat__V1__UpdateSessionContextResponse, agent, NULL, "UpdateSessionContext", uc);
  CHECK(ucr->context_version == 2 && strstr(ucr->session_context, "pricing"), "context update");
  ERR(agent, NULL, "UpdateSessionContext", uc, SMRTCHAT_ABORTED, "VERSION_MISMATCH");

  Smrt__Chat__V1__CloseAgentSessionRequest cl = SMRT__CHAT__V1__CLOSE_AGENT_SESSION_REQUEST__INIT;
  cl.session_id = (char *)S;
  Smrt__Chat__V1__AgentSession *closed = OK(Smrt__Chat__V1__CloseAgentSessionResponse, chat, "alice", "CloseAgentSession", cl)->session;
  CHECK(closed->status == SMRT__CHAT__V1__SESSION_STATUS__SESSION_STATUS_CLOSED && !closed->is_active &&
            closed->inactive_reason == SMRT__CHAT__V1__INACTIVE_REASON__INACTIVE_REASON_CLOSED,
        "closed session");
  ERR_ST(chat, "alice", "SendAgentUserMessage", su, SMRTCHAT_FAILED_PRECONDITION, "SESSION_INACTIVE", &st);
  CHECK(STREQ(smrtchat_status_meta(&st, "inactive_reason"), "closed"), "inactive_reason metadata: %s",
        smrtchat_status_meta(&st, "inactive_reason"));
  smrtchat_status_clear(&st);
  printf("conversation: %d checks, %d failures\n", checks, failures);

  /* ---- events: the room subscription sees seq 1..n exactly once, equal to the log ---- */
  int64_t head = 0;
  evlist log = room_log(chat, R, &head);
  CHECK((int64_t)log.n == head && head > 0, "room log %zu events, head %lld", log.n, (long long)head);
  for (size_t i = 0; i < log.n; i++)
    CHECK(log.ev[i]->seq == (int64_t)i + 1, "log seq %zu", i);
  evlist got = drain_room(rsub, "room subscription", &log, head);
  CHECK(got.n == (size_t)head, "room subscription got %zu of %lld", got.n, (long long)head);
  CHECK(log.n && log.ev[0]->kind == SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_ROOM_CREATED, "first is ROOM_CREATED");
  /* m1, unicode, 6 odd keys, m2, thread message, the resent one: 11 messages, one event each */
  CHECK(count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_CREATED) == 11, "MESSAGE_CREATED x11, got %zu",
        count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_CREATED));
  CHECK(count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_REACTION_ADDED) == 1, "REACTION_ADDED x1");
  CHECK(count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_THREAD_STARTED) == 1, "THREAD_STARTED x1");
  CHECK(count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_THREAD_RESOLVED) == 1, "THREAD_RESOLVED x1");
  CHECK(count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_EDITED) == 1, "MESSAGE_EDITED x1");
  CHECK(count_kind(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_PARTICIPANT_JOINED) >= 2, "PARTICIPANT_JOINED");
  for (size_t i = 1; i < log.n; i++)
    CHECK(log.ev[i]->event_id > log.ev[i - 1]->event_id, "event ids increase");
  for (size_t i = 0; i < log.n; i++) {
    const Smrt__Chat__V1__RoomEvent *e = log.ev[i];
    if (e->kind == SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_CREATED &&
        e->entity_case == SMRT__CHAT__V1__ROOM_EVENT__ENTITY_MESSAGE)
      CHECK(STREQ(e->subject_id, e->message->id) && e->message->room_seq == e->seq, "message event subject/seq");
  }

  /* Agent room: TOOL_CALL_DENIED audit event, exactly one. */
  int64_t ahead = 0;
  evlist alog = room_log(chat, AR, &ahead);
  smrtchat_sub *asub = smrtchat_subscribe_room(chat, events_ep, AR, 0, &st);
  if (!asub) fatal("subscribe agent room: %s", st.message);
  evlist agot = drain_room(asub, "agent room subscription", &alog, ahead);
  CHECK(agot.n == (size_t)ahead, "agent room events");
  CHECK(count_kind(&alog, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_DENIED) == 1, "TOOL_CALL_DENIED x1, got %zu",
        count_kind(&alog, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_DENIED));
  CHECK(count_kind(&alog, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_CREATED) == 4, "agent MESSAGE_CREATED x4");
  CHECK(count_kind(&alog, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_SESSION_CREATED) == 1, "SESSION_CREATED x1");
  CHECK(count_kind(&alog, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_SESSION_CLOSED) == 1, "SESSION_CLOSED x1");
  for (size_t i = 0; i < alog.n; i++) {
    const Smrt__Chat__V1__RoomEvent *e = alog.ev[i];
    if (e->kind != SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_DENIED) continue;
    CHECK(STREQ(e->subject_id, S) && STREQ(e->actor_profile_id, "agent:helper"), "denied subject/actor");
    if (e->entity_case == SMRT__CHAT__V1__ROOM_EVENT__ENTITY_TOOL_CALL_DENIED)
      CHECK(STREQ(e->tool_call_denied->tool_name, "shell.exec") && STREQ(e->tool_call_denied->call_id, "call-2"),
            "denied entity");
  }

  /* Tenant subscription: every room gap-free, same events as each room's log. */
  Smrt__Chat__V1__ListTenantEventsRequest lte = SMRT__CHAT__V1__LIST_TENANT_EVENTS_REQUEST__INIT;
  lte.limit = 1;
  int64_t thead = OK(Smrt__Chat__V1__ListTenantEventsResponse, chat, NULL, "ListTenantEvents", lte)->head_event_id;
  size_t n_main = 0, n_agent = 0, n_dm = 0, n_total = 0;
  int64_t last_main = 0, last_agent = 0, last_dm = 0, last_event_id = 0;
  while (last_event_id < thead) {
    Smrt__Chat__V1__RoomEvent *ev = NULL;
    int code = smrtchat_next_event(tsub, 5000, &ev, &st);
    if (code != SMRTCHAT_OK) {
      CHECK(code == SMRTCHAT_OK, "tenant next_event: %s %s", smrtchat_code_name(code), st.reason);
      break;
    }
    n_total++;
    CHECK(STREQ(ev->tenant_id, T), "tenant event of %s", ev->tenant_id);
    if (ev->event_id > last_event_id) last_event_id = ev->event_id;
    int64_t *last = STREQ(ev->room_id, R) ? &last_main : STREQ(ev->room_id, AR) ? &last_agent
                    : STREQ(ev->room_id, dm_id) ? &last_dm : NULL;
    if (last) {
      CHECK(ev->seq == *last + 1, "tenant stream %s: seq %lld after %lld", ev->room_id, (long long)ev->seq,
            (long long)*last);
      *last = ev->seq;
      n_main += last == &last_main;
      n_agent += last == &last_agent;
      n_dm += last == &last_dm;
    }
    smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  }
  int64_t dhead = 0;
  evlist dlog = room_log(chat, dm_id, &dhead);
  CHECK(n_main == (size_t)head && n_agent == (size_t)ahead && n_dm == (size_t)dhead,
        "tenant stream counts main %zu/%lld agent %zu/%lld dm %zu/%lld", n_main, (long long)head, n_agent,
        (long long)ahead, n_dm, (long long)dhead);
  smrtchat_sub_stats ts;
  smrtchat_sub_stats_get(tsub, &ts);
  printf("tenant subscription: %zu events up to event_id %lld (live %llu, caught up %llu, duplicates %llu, gaps %llu)\n",
         n_total, (long long)thead, (unsigned long long)ts.live, (unsigned long long)ts.caught_up,
         (unsigned long long)ts.duplicates, (unsigned long long)ts.gaps);

  /* A late room subscriber starting in the middle catches up from there. */
  smrtchat_sub *late = smrtchat_subscribe_room(chat, events_ep, R, head - 3, &st);
  if (!late) fatal("late subscribe: %s", st.message);
  for (int64_t want = head - 2; want <= head; want++) {
    Smrt__Chat__V1__RoomEvent *ev = NULL;
    int code = smrtchat_next_event(late, 2000, &ev, NULL);
    CHECK(code == SMRTCHAT_OK && ev && ev->seq == want, "late subscriber seq %lld", (long long)want);
    if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
  }
  smrtchat_sub_close(late);

  test_gaps(chat, R);
  free(log.ev);
  log = room_log(chat, R, &head); /* the gap test added messages */

  const char *outp = getenv("SMRTCHAT_TEST_OUT");
  if (outp) {
    FILE *f = fopen(outp, "w");
    if (f) {
      fprintf(f, "ROOM=%s\nROOM_HEAD=%lld\nAGENT_ROOM=%s\nAGENT_HEAD=%lld\nTENANT_HEAD=%lld\n", R,
              (long long)head, AR, (long long)ahead, (long long)thead);
      fclose(f);
    }
  }

  free(log.ev);
  free(got.ev);
  free(alog.ev);
  free(agot.ev);
  free(dlog.ev);
  smrtchat_sub_close(rsub);
  smrtchat_sub_close(asub);
  smrtchat_sub_close(tsub);
  smrtchat_client_free(chat);
  smrtchat_client_free(agent);
  for (size_t i = 0; i < narena; i++) protobuf_c_message_free_unpacked(arena[i], NULL);
  json_free(vectors);
  smrtchat_status_clear(&st);
  printf("test_smrtchat: %d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
