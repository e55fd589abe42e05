/*
 * End-to-end test of libsmrtchat's SPEC §13 support (streamed agent replies, tool approvals, busy
 * sessions) against a real smrt-chatd (started by tests/run-tests.sh), plus the reader's
 * RESYNC_REQUIRED fallback against a stand-in REP socket.
 *
 * Environment: SMRTCHAT_RPC, SMRTCHAT_EVENTS, SMRTCHAT_KEY_ID/SECRET (chat + events),
 * SMRTCHAT_AGENT_KEY_ID/SECRET (agent), all for tenant-1.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

#include "smrtchat.h"

#define T "tenant-1"
#define N_DELTAS 300

static atomic_int checks, failures;
static ProtobufCMessage *arena[4096];
static size_t narena;
static pthread_mutex_t arena_mu = PTHREAD_MUTEX_INITIALIZER;

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
  pthread_mutex_lock(&arena_mu);
  if (m && narena < sizeof arena / sizeof arena[0])
    arena[narena++] = m;
  else if (m)
    protobuf_c_message_free_unpacked(m, NULL); /* never expected: the arena is large */
  pthread_mutex_unlock(&arena_mu);
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

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A call that must succeed; the response is kept until exit. */
static ProtobufCMessage *ok_call(smrtchat_client *c, const char *actor, const char *method,
                                 const ProtobufCMessage *req, int line) {
  smrtchat_call_opts o = {0};
  o.actor_profile_id = actor;
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

/* A call that must fail with code and reason (reason NULL = any); the status goes to *out_st when
   given (caller clears it). */
static void err_call(smrtchat_client *c, const char *actor, const char *method,
                     const ProtobufCMessage *req, int code, const char *reason,
                     smrtchat_status *out_st, int line) {
  smrtchat_call_opts o = {0};
  o.actor_profile_id = actor;
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
  } else {
    smrtchat_status_clear(&st);
  }
}

#define OK(TYPE, c, actor, method, req) ((TYPE *)ok_call(c, actor, method, &(req).base, __LINE__))
#define ERR(c, actor, method, req, code, reason) \
  err_call(c, actor, method, &(req).base, code, reason, NULL, __LINE__)
#define ERR_ST(c, actor, method, req, code, reason, st) \
  err_call(c, actor, method, &(req).base, code, reason, st, __LINE__)

static smrtchat_client *new_client(const char *key_env, const char *secret_env, const char *actor,
                                   const char *rpc) {
  smrtchat_options o = {0};
  o.rpc_endpoints = rpc ? rpc : need_env("SMRTCHAT_RPC");
  o.key_id = need_env(key_env);
  o.secret_hex = need_env(secret_env);
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
#define CHAT_CLIENT(actor) new_client("SMRTCHAT_KEY_ID", "SMRTCHAT_SECRET", actor, NULL)
#define AGENT_CLIENT(actor) new_client("SMRTCHAT_AGENT_KEY_ID", "SMRTCHAT_AGENT_SECRET", actor, NULL)

/* ---------- small string buffer ---------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sbuf_add(sbuf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) fatal("out of memory");
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

/* ---------- the room log ---------- */

typedef struct evlist {
  Smrt__Chat__V1__RoomEvent **ev;
  size_t n;
} evlist;

static evlist room_log(smrtchat_client *c, const char *room_id) {
  evlist l = {0};
  int64_t after = 0;
  for (;;) {
    Smrt__Chat__V1__ListRoomEventsRequest r = SMRT__CHAT__V1__LIST_ROOM_EVENTS_REQUEST__INIT;
    r.room_id = (char *)room_id;
    r.after_seq = after;
    r.limit = 200;
    Smrt__Chat__V1__ListRoomEventsResponse *resp =
        OK(Smrt__Chat__V1__ListRoomEventsResponse, c, NULL, "ListRoomEvents", r);
    l.ev = realloc(l.ev, (l.n + resp->n_events + 1) * sizeof *l.ev);
    for (size_t i = 0; i < resp->n_events; i++) l.ev[l.n++] = resp->events[i];
    if (resp->n_events) after = resp->events[resp->n_events - 1]->seq;
    if (!resp->has_more || !resp->n_events) break;
  }
  return l;
}

static size_t count_events(const evlist *l, int kind, const char *subject) {
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++)
    n += (int)l->ev[i]->kind == kind && (!subject || STREQ(l->ev[i]->subject_id, subject));
  return n;
}

static const Smrt__Chat__V1__RoomEvent *find_event(const evlist *l, int kind, const char *subject) {
  for (size_t i = 0; i < l->n; i++)
    if ((int)l->ev[i]->kind == kind && STREQ(l->ev[i]->subject_id, subject)) return l->ev[i];
  return NULL;
}

/* ---------- calls used often ---------- */

static Smrt__Chat__V1__Message *get_message(smrtchat_client *chat, const char *id) {
  Smrt__Chat__V1__GetMessageRequest g = SMRT__CHAT__V1__GET_MESSAGE_REQUEST__INIT;
  g.message_id = (char *)id;
  return OK(Smrt__Chat__V1__GetMessageResponse, chat, "alice", "GetMessage", g)->message;
}

static Smrt__Chat__V1__Message *begin(smrtchat_client *agent, const char *actor, const char *session,
                                      const char *crid) {
  Smrt__Chat__V1__BeginAgentReplyRequest b = SMRT__CHAT__V1__BEGIN_AGENT_REPLY_REQUEST__INIT;
  b.session_id = (char *)session;
  b.client_request_id = (char *)(crid ? crid : "");
  smrtchat_call_opts o = {0};
  o.actor_profile_id = actor;
  Smrt__Chat__V1__BeginAgentReplyResponse *r = NULL;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int code = smrtchat_begin_agent_reply(agent, &o, &b, &r, &st);
  checks++;
  if (code != SMRTCHAT_OK)
    fatal("BeginAgentReply(%s): %s %s: %s", session, smrtchat_code_name(code), st.reason, st.message);
  smrtchat_status_clear(&st);
  keep(&r->base);
  return r->message;
}

/* Appends with the typed call; returns the code (the response is kept). */
static int append(smrtchat_client *agent, const char *msg, int64_t index, const char *text,
                  Smrt__Chat__V1__AppendReplyDeltaResponse **out, smrtchat_status *st) {
  Smrt__Chat__V1__AppendReplyDeltaRequest a = SMRT__CHAT__V1__APPEND_REPLY_DELTA_REQUEST__INIT;
  a.message_id = (char *)msg;
  a.index = index;
  a.text = (char *)text;
  Smrt__Chat__V1__AppendReplyDeltaResponse *r = NULL;
  int code = smrtchat_append_reply_delta(agent, NULL, &a, &r, st);
  if (r) keep(&r->base);
  if (out) *out = r;
  return code;
}

static Smrt__Chat__V1__AppendReplyDeltaResponse *append_ok(smrtchat_client *agent, const char *msg,
                                                           int64_t index, const char *text) {
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  Smrt__Chat__V1__AppendReplyDeltaResponse *r = NULL;
  int code = append(agent, msg, index, text, &r, &st);
  checks++;
  if (code != SMRTCHAT_OK)
    fatal("AppendReplyDelta(%s, %lld): %s %s: %s", msg, (long long)index, smrtchat_code_name(code),
          st.reason, st.message);
  smrtchat_status_clear(&st);
  return r;
}

static void append_err(smrtchat_client *agent, const char *msg, int64_t index, const char *text,
                       int want, const char *reason, smrtchat_status *out_st, int line) {
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int code = append(agent, msg, index, text, NULL, &st);
  checks++;
  if (code != want || (reason && !STREQ(st.reason, reason))) {
    failures++;
    fprintf(stderr, "FAIL line %d: AppendReplyDelta(index %lld): want %s %s, got %s %s (%s)\n", line,
            (long long)index, smrtchat_code_name(want), reason ? reason : "*", smrtchat_code_name(code),
            st.reason ? st.reason : "", st.message ? st.message : "");
  }
  if (out_st) {
    smrtchat_status_clear(out_st);
    *out_st = st;
  } else {
    smrtchat_status_clear(&st);
  }
}
#define APPEND_ERR(agent, msg, index, text, want, reason) \
  append_err(agent, msg, index, text, want, reason, NULL, __LINE__)

static Smrt__Chat__V1__Message *finish(smrtchat_client *agent, const char *msg, int status, int64_t tokens) {
  Smrt__Chat__V1__FinishAgentReplyRequest f = SMRT__CHAT__V1__FINISH_AGENT_REPLY_REQUEST__INIT;
  f.message_id = (char *)msg;
  f.status = status;
  f.tokens_used = tokens;
  Smrt__Chat__V1__FinishAgentReplyResponse *r = NULL;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int code = smrtchat_finish_agent_reply(agent, NULL, &f, &r, &st);
  checks++;
  if (code != SMRTCHAT_OK)
    fatal("FinishAgentReply(%s): %s %s: %s", msg, smrtchat_code_name(code), st.reason, st.message);
  smrtchat_status_clear(&st);
  keep(&r->base);
  return r->message;
}

/* ---------- readers (one thread each) ---------- */

typedef struct reader {
  const char *name;
  smrtchat_client *c;
  smrtchat_reply_stream *rs;
  int64_t from;
  sbuf text;
  int64_t *idx;
  size_t n;
  int end_code;
  char end_reason[64];
  smrtchat_reply_stream_info info;
  pthread_t th;
} reader;

/* Reads until FINISHED (or an error, or 20 s without anything). */
static void reader_run(reader *r) {
  for (;;) {
    Smrt__Chat__V1__ReplyDelta *d = NULL;
    smrtchat_status st = SMRTCHAT_STATUS_INIT;
    int code = smrtchat_reply_stream_next(r->rs, 20000, &d, &st);
    if (code == SMRTCHAT_OK) {
      r->idx = realloc(r->idx, (r->n + 1) * sizeof *r->idx);
      r->idx[r->n++] = d->index;
      sbuf_add(&r->text, d->text);
      smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
      smrtchat_status_clear(&st);
      continue;
    }
    r->end_code = code;
    snprintf(r->end_reason, sizeof r->end_reason, "%s", st.reason ? st.reason : "");
    if (code != SMRTCHAT_FINISHED)
      fprintf(stderr, "%s: next: %s %s: %s\n", r->name, smrtchat_code_name(code), st.reason, st.message);
    smrtchat_status_clear(&st);
    break;
  }
  smrtchat_reply_stream_info_get(r->rs, &r->info);
  if (!r->text.p) sbuf_add(&r->text, "");
}

static void *reader_main(void *arg) {
  reader_run(arg);
  return NULL;
}

static void reader_open(reader *r, const char *name, const char *events_ep, const char *room,
                        const char *msg, int64_t from) {
  memset(r, 0, sizeof *r);
  r->name = name;
  r->from = from;
  r->c = CHAT_CLIENT("alice");
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  r->rs = smrtchat_reply_stream_open(r->c, events_ep, NULL, room, msg, from, &st);
  if (!r->rs) fatal("%s: open: %s %s: %s", name, smrtchat_code_name(st.code), st.reason, st.message);
  smrtchat_status_clear(&st);
}

static void reader_free(reader *r) {
  smrtchat_reply_stream_close(r->rs);
  smrtchat_client_free(r->c);
  free(r->text.p);
  free(r->idx);
}

/* Checks a finished reader: indexes from..from+n-1 once each, text == want. */
static void reader_check(reader *r, int64_t total, const char *want, int want_state) {
  CHECK(r->end_code == SMRTCHAT_FINISHED && STREQ(r->end_reason, "STREAM_FINISHED"),
        "%s ended with %s %s", r->name, smrtchat_code_name(r->end_code), r->end_reason);
  CHECK((int64_t)r->n == total - r->from, "%s: %zu deltas, want %lld", r->name, r->n,
        (long long)(total - r->from));
  int in_order = 1;
  for (size_t i = 0; i < r->n; i++)
    if (r->idx[i] != r->from + (int64_t)i) in_order = 0;
  CHECK(in_order, "%s: indexes not %lld..%lld in order without duplicates", r->name, (long long)r->from,
        (long long)(total - 1));
  CHECK(STREQ(r->text.p, want), "%s: text differs (%zu bytes, want %zu)", r->name, r->text.len, strlen(want));
  CHECK(r->info.finished && r->info.stream_state == want_state && r->info.delta_count == total &&
            r->info.next_index == total && r->info.length_mismatches == 0,
        "%s: info finished=%d state=%s count=%lld next=%lld mismatches=%llu", r->name, r->info.finished,
        smrtchat_stream_state_name(r->info.stream_state), (long long)r->info.delta_count,
        (long long)r->info.next_index, (unsigned long long)r->info.length_mismatches);
  printf("%s (from %lld): %zu deltas, %zu bytes (live %llu, listed %llu, duplicates %llu, gaps %llu, "
         "list calls %llu, finished event %d)\n",
         r->name, (long long)r->from, r->n, r->text.len, (unsigned long long)r->info.live,
         (unsigned long long)r->info.listed, (unsigned long long)r->info.duplicates,
         (unsigned long long)r->info.gaps, (unsigned long long)r->info.list_calls, r->info.finished_event);
}

/* ---------- 1. a reply streamed in many deltas, readers from the start, mid-stream, after ---------- */

static char *delta_text[N_DELTAS];

static void make_texts(void) {
  for (int i = 0; i < N_DELTAS; i++) {
    char buf[4200];
    if (i == 50) { /* one large delta */
      memset(buf, 'x', 4000);
      buf[4000] = '\0';
    } else {
      snprintf(buf, sizeof buf, "%s%d%s%s", i % 3 ? " w" : " ", i, i % 5 == 0 ? " \xc3\xbc" : "",
               i % 7 == 0 ? " \xf0\x9f\x98\x80\n" : "");
    }
    delta_text[i] = strdup(buf);
  }
}

typedef struct writer {
  smrtchat_client *agent;
  const char *msg;
  atomic_int progress;
  int64_t content_len;
} writer;

static void *writer_main(void *arg) {
  writer *w = arg;
  int64_t len = 0;
  for (int i = 0; i < N_DELTAS; i++) {
    Smrt__Chat__V1__AppendReplyDeltaResponse *r = append_ok(w->agent, w->msg, i, delta_text[i]);
    len += (int64_t)strlen(delta_text[i]);
    CHECK(r->delta_count == i + 1 && r->delta && r->delta->index == i && STREQ(r->delta->text, "") /* the kept reply holds no text */ &&
              r->delta->content_length == len && STREQ(r->delta->message_id, w->msg),
          "append %d: delta_count %lld content_length %lld want %lld", i, (long long)r->delta_count,
          r->delta ? (long long)r->delta->content_length : -1LL, (long long)len);
    if (i == 10) { /* a retry of a stored delta: OK again, nothing appended */
      Smrt__Chat__V1__AppendReplyDeltaResponse *again = append_ok(w->agent, w->msg, i, delta_text[i]);
      CHECK(again->delta_count == i + 1 && again->delta && again->delta->index == i &&
                again->delta->content_length == len,
            "retry of index %d: delta_count %lld", i, (long long)again->delta_count);
    }
    atomic_store(&w->progress, i + 1);
    sleep_ms(i % 4 == 0 ? 2 : 1);
  }
  w->content_len = len;
  return NULL;
}

static void test_stream(smrtchat_client *chat, smrtchat_client *agent, const char *events_ep,
                        const char *S, const char *AR) {
  make_texts();
  sbuf want = {0};
  for (int i = 0; i < N_DELTAS; i++) sbuf_add(&want, delta_text[i]);

  Smrt__Chat__V1__Message *m = begin(agent, "agent:streamer", S, "stream-1");
  const char *M = m->id;
  CHECK(m->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING && STREQ(m->content, "") &&
            m->delta_count == 0 && STREQ(m->sender_profile_id, "agent:streamer") && STREQ(m->room_id, AR) &&
            m->role == SMRT__CHAT__V1__MESSAGE_ROLE__MESSAGE_ROLE_ASSISTANT,
        "begin: state %s content '%s' count %lld sender %s role %d", smrtchat_stream_state_name(m->stream_state),
        m->content, (long long)m->delta_count, m->sender_profile_id, (int)m->role);
  /* The same client_request_id again: the same message, replayed. */
  Smrt__Chat__V1__BeginAgentReplyRequest b = SMRT__CHAT__V1__BEGIN_AGENT_REPLY_REQUEST__INIT;
  b.session_id = (char *)S;
  b.client_request_id = "stream-1";
  Smrt__Chat__V1__BeginAgentReplyResponse *br =
      OK(Smrt__Chat__V1__BeginAgentReplyResponse, agent, "agent:streamer", "BeginAgentReply", b);
  CHECK(br->replayed && br->message && STREQ(br->message->id, M), "begin replay: replayed=%d", br->replayed);
  /* A chat key may not stream. */
  ERR(chat, "alice", "BeginAgentReply", b, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING");

  /* Reader A from before the first delta. */
  reader ra, rb, rc, rd, re;
  reader_open(&ra, "reader A (opened before the first delta)", events_ep, AR, M, 0);
  pthread_create(&ra.th, NULL, reader_main, &ra);

  writer w = {.agent = AGENT_CLIENT("agent:streamer"), .msg = M};
  atomic_init(&w.progress, 0);
  pthread_t wt;
  pthread_create(&wt, NULL, writer_main, &w);

  while (atomic_load(&w.progress) < 100) sleep_ms(2);
  /* Reader B from 0 while ~100 deltas are stored: it fills from ListReplyDeltas, then goes live. */
  reader_open(&rb, "reader B (opened mid-stream from 0)", events_ep, AR, M, 0);
  pthread_create(&rb.th, NULL, reader_main, &rb);

  /* Mid-stream: GetMessage shows the content so far; ListReplyDeltas pages. */
  while (atomic_load(&w.progress) < 150) sleep_ms(2);
  Smrt__Chat__V1__Message *mid = get_message(chat, M);
  int64_t mid_len = 0;
  for (int64_t i = 0; i < mid->delta_count && i < N_DELTAS; i++) mid_len += (int64_t)strlen(delta_text[i]);
  CHECK(mid->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING && mid->delta_count >= 150 &&
            mid->delta_count <= N_DELTAS && (int64_t)strlen(mid->content) == mid_len &&
            strncmp(mid->content, want.p, (size_t)mid_len) == 0,
        "mid-stream GetMessage: state %s count %lld, %zu bytes (want %lld, the first deltas' concatenation)",
        smrtchat_stream_state_name(mid->stream_state), (long long)mid->delta_count, strlen(mid->content),
        (long long)mid_len);
  Smrt__Chat__V1__ListReplyDeltasRequest lr = SMRT__CHAT__V1__LIST_REPLY_DELTAS_REQUEST__INIT;
  lr.message_id = (char *)M;
  lr.from_index = 5;
  lr.limit = 3;
  Smrt__Chat__V1__ListReplyDeltasResponse *page =
      OK(Smrt__Chat__V1__ListReplyDeltasResponse, chat, "alice", "ListReplyDeltas", lr);
  CHECK(page->n_deltas == 3 && page->deltas[0]->index == 5 && page->deltas[2]->index == 7 &&
            STREQ(page->deltas[1]->text, delta_text[6]) && page->has_more &&
            page->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING && page->delta_count >= 150,
        "ListReplyDeltas page 5..7: n=%zu has_more=%d state=%s", page->n_deltas, page->has_more,
        smrtchat_stream_state_name(page->stream_state));
  /* The agent key may list too. */
  OK(Smrt__Chat__V1__ListReplyDeltasResponse, agent, "agent:streamer", "ListReplyDeltas", lr);
  /* Reader C from index 120 (a consumer resuming after it had 0..119). */
  reader_open(&rc, "reader C (opened mid-stream from 120)", events_ep, AR, M, 120);
  pthread_create(&rc.th, NULL, reader_main, &rc);

  pthread_join(wt, NULL);
  smrtchat_client_free(w.agent);

  /* Refusals while streaming. */
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  APPEND_ERR(agent, M, 3, "something else", SMRTCHAT_ABORTED, "DELTA_CONFLICT");
  append_err(agent, M, N_DELTAS + 5, "ahead", SMRTCHAT_FAILED_PRECONDITION, "DELTA_OUT_OF_ORDER", &st, __LINE__);
  char want_idx[32];
  snprintf(want_idx, sizeof want_idx, "%d", N_DELTAS);
  CHECK(STREQ(smrtchat_status_meta(&st, "expected_index"), want_idx), "expected_index metadata: %s want %s",
        smrtchat_status_meta(&st, "expected_index"), want_idx);
  APPEND_ERR(agent, M, N_DELTAS + 1, "ahead", SMRTCHAT_FAILED_PRECONDITION, "DELTA_OUT_OF_ORDER");
  APPEND_ERR(agent, M, N_DELTAS, "", SMRTCHAT_INVALID_ARGUMENT, NULL);
  char *big = malloc(16 * 1024 + 2);
  memset(big, 'y', 16 * 1024 + 1);
  big[16 * 1024 + 1] = '\0';
  APPEND_ERR(agent, M, N_DELTAS, big, SMRTCHAT_INVALID_ARGUMENT, NULL);
  free(big);
  Smrt__Chat__V1__AppendReplyDeltaRequest ar = SMRT__CHAT__V1__APPEND_REPLY_DELTA_REQUEST__INIT;
  ar.message_id = (char *)M;
  ar.index = N_DELTAS;
  ar.text = "nope";
  ERR(chat, "alice", "AppendReplyDelta", ar, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING");
  Smrt__Chat__V1__AppendReplyDeltaResponse *retry = append_ok(agent, M, N_DELTAS - 1, delta_text[N_DELTAS - 1]);
  CHECK(retry->delta_count == N_DELTAS, "retry of the last delta: delta_count %lld", (long long)retry->delta_count);

  /* Finish. */
  Smrt__Chat__V1__Message *fm = finish(agent, M, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 42);
  CHECK(fm->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED && fm->delta_count == N_DELTAS &&
            STREQ(fm->content, want.p),
        "finished message: state %s count %lld, %zu bytes want %zu", smrtchat_stream_state_name(fm->stream_state),
        (long long)fm->delta_count, strlen(fm->content), want.len);
  Smrt__Chat__V1__Message *again = finish(agent, M, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 42);
  CHECK(again->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, "finish again: no-op");
  Smrt__Chat__V1__FinishAgentReplyRequest fr = SMRT__CHAT__V1__FINISH_AGENT_REPLY_REQUEST__INIT;
  fr.message_id = (char *)M;
  fr.status = SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_FAILED;
  ERR(agent, "agent:streamer", "FinishAgentReply", fr, SMRTCHAT_FAILED_PRECONDITION, "REPLY_FINISHED");
  APPEND_ERR(agent, M, N_DELTAS, "late", SMRTCHAT_FAILED_PRECONDITION, "REPLY_FINISHED");
  /* State checks come before index checks: even a retry of a stored delta is refused now. */
  APPEND_ERR(agent, M, 0, delta_text[0], SMRTCHAT_FAILED_PRECONDITION, "REPLY_FINISHED");

  pthread_join(ra.th, NULL);
  pthread_join(rb.th, NULL);
  pthread_join(rc.th, NULL);

  Smrt__Chat__V1__Message *gm = get_message(chat, M);
  CHECK(STREQ(gm->content, want.p) && gm->delta_count == N_DELTAS &&
            gm->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED,
        "GetMessage after finish: %zu bytes, count %lld, state %s", strlen(gm->content), (long long)gm->delta_count,
        smrtchat_stream_state_name(gm->stream_state));
  int completed = SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED;
  reader_check(&ra, N_DELTAS, gm->content, completed);
  reader_check(&rb, N_DELTAS, gm->content, completed);
  /* Reader C's text is the content from delta 120's offset. */
  size_t off120 = 0;
  for (int i = 0; i < 120; i++) off120 += strlen(delta_text[i]);
  reader_check(&rc, N_DELTAS, gm->content + off120, completed);
  CHECK(ra.info.live > 0 && rb.info.listed > 0 && rb.info.live > 0,
        "live/listed: A live %llu, B listed %llu live %llu", (unsigned long long)ra.info.live,
        (unsigned long long)rb.info.listed, (unsigned long long)rb.info.live);

  /* After the finish: a reader from 0 reads everything from the store; one from the end reads nothing. */
  reader_open(&rd, "reader D (opened after finish from 0)", events_ep, AR, M, 0);
  reader_run(&rd);
  reader_check(&rd, N_DELTAS, gm->content, completed);
  CHECK(rd.info.live == 0 && rd.info.listed == N_DELTAS, "reader D listed %llu", (unsigned long long)rd.info.listed);
  reader_open(&re, "reader E (opened after finish at the end)", events_ep, AR, M, N_DELTAS);
  reader_run(&re);
  reader_check(&re, N_DELTAS, "", completed);

  /* ListReplyDeltas after the finish: the final state and count. */
  lr.from_index = N_DELTAS - 2;
  lr.limit = 10;
  page = OK(Smrt__Chat__V1__ListReplyDeltasResponse, chat, "alice", "ListReplyDeltas", lr);
  CHECK(page->n_deltas == 2 && !page->has_more && page->delta_count == N_DELTAS &&
            page->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED,
        "ListReplyDeltas of the tail after finish: n=%zu has_more=%d count=%lld state=%s", page->n_deltas,
        page->has_more, (long long)page->delta_count, smrtchat_stream_state_name(page->stream_state));

  /* The room log: MESSAGE_CREATED, then MESSAGE_STREAM_FINISHED with the final content; no delta events. */
  evlist log = room_log(chat, AR);
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_CREATED, M) == 1, "MESSAGE_CREATED x1");
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_STREAM_FINISHED, M) == 1,
        "MESSAGE_STREAM_FINISHED x1, got %zu",
        count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_STREAM_FINISHED, M));
  const Smrt__Chat__V1__RoomEvent *fe = find_event(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_STREAM_FINISHED, M);
  CHECK(fe && fe->entity_case == SMRT__CHAT__V1__ROOM_EVENT__ENTITY_MESSAGE && STREQ(fe->message->content, want.p) &&
            fe->message->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED &&
            fe->message->delta_count == N_DELTAS,
        "MESSAGE_STREAM_FINISHED entity");
  size_t others = 0;
  for (size_t i = 0; i < log.n; i++) others += STREQ(log.ev[i]->subject_id, M);
  CHECK(others == 2, "events about the streamed message: %zu, want 2 (deltas are not room events)", others);
  free(log.ev);

  smrtchat_status_clear(&st);
  reader_free(&ra);
  reader_free(&rb);
  reader_free(&rc);
  reader_free(&rd);
  reader_free(&re);
  free(want.p);
  for (int i = 0; i < N_DELTAS; i++) free(delta_text[i]);
}

/* ---------- 2. gaps, duplicates and the finish event, made deterministic with a stand-in PUB ---------- */

static void publish_raw(int pub, const char *topic, const ProtobufCMessage *m) {
  size_t tl = strlen(topic), n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(tl + 1 + n);
  memcpy(buf, topic, tl + 1);
  protobuf_c_message_pack(m, buf + tl + 1);
  CHECK(nn_send(pub, buf, tl + 1 + n, 0) >= 0, "fake publish");
  free(buf);
}

static void test_gaps(smrtchat_client *chat, smrtchat_client *agent, const char *S, const char *AR) {
  char ep[128];
  snprintf(ep, sizeof ep, "ipc:///tmp/smrtchat-c-stream-fakepub-%ld.sock", (long)getpid());
  int pub = nn_socket(AF_SP, NN_PUB);
  if (pub < 0 || nn_bind(pub, ep) < 0) fatal("fake pub: %s", nn_strerror(nn_errno()));
  Smrt__Chat__V1__Message *m = begin(agent, "agent:streamer", S, NULL);
  const char *M = m->id;
  char stream_topic[256], room_topic[256];
  snprintf(stream_topic, sizeof stream_topic, "smrt.chat.v1.stream/%s/%s/%s/", T, AR, M);
  snprintf(room_topic, sizeof room_topic, "smrt.chat.v1/%s/%s/", T, AR);
  const char *texts[] = {"zero ", "one ", "two ", "three ", "four ", "five"};
  Smrt__Chat__V1__AppendReplyDeltaResponse *d[6];
  for (int i = 0; i < 3; i++) d[i] = append_ok(agent, M, i, texts[i]);

  smrtchat_client *rcl = CHAT_CLIENT("alice");
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_reply_stream *rs = smrtchat_reply_stream_open(rcl, ep, NULL, AR, M, 0, &st);
  if (!rs) fatal("gap reader: %s %s", st.reason, st.message);
  smrtchat_reply_stream_set_poll_interval(rs, 0); /* only gaps and the event may trigger a fill */
  sleep_ms(300);                                   /* let the SUB socket connect */
  Smrt__Chat__V1__ReplyDelta *got = NULL;
  sbuf text = {0};
  int code;
  for (int i = 0; i < 3; i++) {
    code = smrtchat_reply_stream_next(rs, 2000, &got, &st);
    CHECK(code == SMRTCHAT_OK && got && got->index == i, "stored delta %d: %s", i, smrtchat_code_name(code));
    if (got) sbuf_add(&text, got->text), smrt__chat__v1__reply_delta__free_unpacked(got, NULL);
  }
  code = smrtchat_reply_stream_next(rs, 200, &got, &st);
  CHECK(code == SMRTCHAT_DEADLINE_EXCEEDED && !got && STREQ(st.reason, "CLIENT_TIMEOUT"), "nothing yet: %s",
        smrtchat_code_name(code));
  for (int i = 3; i < 6; i++) d[i] = append_ok(agent, M, i, texts[i]);
  publish_raw(pub, stream_topic, &d[5]->delta->base); /* 3 and 4 "dropped" */
  for (int i = 3; i < 6; i++) {
    code = smrtchat_reply_stream_next(rs, 2000, &got, &st);
    CHECK(code == SMRTCHAT_OK && got && got->index == i && STREQ(got->text, texts[i]), "gap filled: want %d got %lld",
          i, got ? (long long)got->index : -1LL);
    if (got) sbuf_add(&text, got->text), smrt__chat__v1__reply_delta__free_unpacked(got, NULL);
  }
  /* Late copies are duplicates; a delta of another message on a foreign topic is ignored. */
  publish_raw(pub, stream_topic, &d[3]->delta->base);
  publish_raw(pub, stream_topic, &d[4]->delta->base);
  code = smrtchat_reply_stream_next(rs, 300, &got, &st);
  CHECK(code == SMRTCHAT_DEADLINE_EXCEEDED && !got, "duplicates dropped: %s", smrtchat_code_name(code));
  if (got) smrt__chat__v1__reply_delta__free_unpacked(got, NULL), got = NULL;
  smrtchat_reply_stream_info info;
  smrtchat_reply_stream_info_get(rs, &info);
  CHECK(info.gaps == 1 && info.duplicates == 2 && info.listed == 6 && info.live == 0 && !info.finished &&
            info.next_index == 6,
        "gap stats: gaps %llu duplicates %llu listed %llu live %llu", (unsigned long long)info.gaps,
        (unsigned long long)info.duplicates, (unsigned long long)info.listed, (unsigned long long)info.live);

  /* A live delta in order is yielded as it arrives: append 6, publish it. */
  Smrt__Chat__V1__AppendReplyDeltaResponse *d6 = append_ok(agent, M, 6, " six");
  /* The reply holds no text (the caller sent it): publish the delta as the server does, text included. */
  Smrt__Chat__V1__ReplyDelta live6 = SMRT__CHAT__V1__REPLY_DELTA__INIT;
  live6.message_id = d6->delta->message_id;
  live6.index = 6;
  live6.text = (char *)" six";
  live6.content_length = d6->delta->content_length;
  publish_raw(pub, stream_topic, &live6.base);
  code = smrtchat_reply_stream_next(rs, 2000, &got, &st);
  CHECK(code == SMRTCHAT_OK && got && got->index == 6, "live delta 6");
  if (got) sbuf_add(&text, got->text), smrt__chat__v1__reply_delta__free_unpacked(got, NULL), got = NULL;
  smrtchat_reply_stream_info_get(rs, &info);
  CHECK(info.live == 1, "live count %llu", (unsigned long long)info.live);

  /* Finish with one more delta nobody publishes: the finish event alone must end the reader, after
     ListReplyDeltas brought the tail. */
  append_ok(agent, M, 7, " seven");
  Smrt__Chat__V1__Message *fm = finish(agent, M, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_FAILED, 3);
  CHECK(fm->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_FAILED && fm->delta_count == 8,
        "finished as failed");
  code = smrtchat_reply_stream_next(rs, 300, &got, &st);
  CHECK(code == SMRTCHAT_DEADLINE_EXCEEDED, "without polling the reader waits for the event: %s",
        smrtchat_code_name(code));
  if (got) smrt__chat__v1__reply_delta__free_unpacked(got, NULL), got = NULL;
  evlist log = room_log(chat, AR);
  const Smrt__Chat__V1__RoomEvent *fe = find_event(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_STREAM_FINISHED, M);
  CHECK(fe != NULL, "MESSAGE_STREAM_FINISHED in the log");
  /* An unrelated event of the room first (ignored), then the finish event. */
  if (log.n) publish_raw(pub, room_topic, &log.ev[0]->base);
  if (fe) publish_raw(pub, room_topic, &fe->base);
  code = smrtchat_reply_stream_next(rs, 2000, &got, &st);
  CHECK(code == SMRTCHAT_OK && got && got->index == 7 && STREQ(got->text, " seven"), "tail after the event: %s",
        smrtchat_code_name(code));
  if (got) sbuf_add(&text, got->text), smrt__chat__v1__reply_delta__free_unpacked(got, NULL), got = NULL;
  code = smrtchat_reply_stream_next(rs, 2000, &got, &st);
  CHECK(code == SMRTCHAT_FINISHED && !got && STREQ(st.reason, "STREAM_FINISHED"), "finished: %s %s",
        smrtchat_code_name(code), st.reason);
  code = smrtchat_reply_stream_next(rs, 0, &got, NULL);
  CHECK(code == SMRTCHAT_FINISHED, "finished again");
  smrtchat_reply_stream_info_get(rs, &info);
  CHECK(info.finished_event && info.finished && info.stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_FAILED &&
            info.delta_count == 8 && info.content_length == (int64_t)strlen(fm->content),
        "final info: event %d state %s count %lld length %lld", info.finished_event,
        smrtchat_stream_state_name(info.stream_state), (long long)info.delta_count, (long long)info.content_length);
  CHECK(STREQ(text.p, fm->content), "gap reader text '%s' want '%s'", text.p, fm->content);
  printf("gap handling: gaps %llu, duplicates %llu, listed %llu, live %llu, list calls %llu; finished by the event\n",
         (unsigned long long)info.gaps, (unsigned long long)info.duplicates, (unsigned long long)info.listed,
         (unsigned long long)info.live, (unsigned long long)info.list_calls);
  free(log.ev);
  free(text.p);
  smrtchat_status_clear(&st);
  smrtchat_reply_stream_close(rs);
  smrtchat_client_free(rcl);
  nn_close(pub);
}

/* ---------- 3. stop ---------- */

static void test_stop(smrtchat_client *chat, smrtchat_client *agent, const char *events_ep, const char *S,
                      const char *AR) {
  Smrt__Chat__V1__Message *m = begin(agent, "agent:streamer", S, NULL);
  const char *M = m->id;
  append_ok(agent, M, 0, "Thinking");
  append_ok(agent, M, 1, " about it");
  reader r;
  reader_open(&r, "reader of a stopped reply", events_ep, AR, M, 0);
  Smrt__Chat__V1__StopReplyRequest sr = SMRT__CHAT__V1__STOP_REPLY_REQUEST__INIT;
  sr.message_id = (char *)M;
  ERR(agent, "agent:streamer", "StopReply", sr, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING");
  Smrt__Chat__V1__StopReplyResponse *stop = NULL;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_call_opts as_alice = {.actor_profile_id = "alice"};
  int code = smrtchat_stop_reply(chat, &as_alice, &sr, &stop, &st);
  CHECK(code == SMRTCHAT_OK && stop && stop->message && STREQ(stop->message->id, M), "StopReply: %s %s",
        smrtchat_code_name(code), st.reason);
  if (stop) keep(&stop->base);
  OK(Smrt__Chat__V1__StopReplyResponse, chat, "alice", "StopReply", sr); /* twice: no-op */
  APPEND_ERR(agent, M, 2, " more", SMRTCHAT_FAILED_PRECONDITION, "REPLY_STOPPED");
  Smrt__Chat__V1__Message *fm = finish(agent, M, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 0);
  CHECK(fm->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STOPPED && STREQ(fm->content, "Thinking about it") &&
            fm->delta_count == 2,
        "a stopped reply finishes as STOPPED: %s '%s'", smrtchat_stream_state_name(fm->stream_state), fm->content);
  OK(Smrt__Chat__V1__StopReplyResponse, chat, "alice", "StopReply", sr); /* on a finished reply: no-op */
  reader_run(&r);
  reader_check(&r, 2, "Thinking about it", SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STOPPED);
  reader_free(&r);
  evlist log = room_log(chat, AR);
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_REPLY_STOP_REQUESTED, M) == 1,
        "REPLY_STOP_REQUESTED x1, got %zu", count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_REPLY_STOP_REQUESTED, M));
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_STREAM_FINISHED, M) == 1,
        "MESSAGE_STREAM_FINISHED x1 for the stopped reply");
  free(log.ev);
  smrtchat_status_clear(&st);
}

/* ---------- 4. RESYNC_REQUIRED, against a stand-in REP socket ---------- */

typedef struct fake_rep {
  int sock;
  atomic_int stop;
  /* ListReplyDeltas answers: the first `list_ok` calls return delta 0 "hello" (STREAMING), later
     ones OUT_OF_RANGE RESYNC_REQUIRED. GetMessage: "hello world", COMPLETED, 3 deltas. */
  atomic_int list_ok;
  atomic_int list_calls, get_calls;
} fake_rep;

static void *fake_rep_main(void *arg) {
  fake_rep *f = arg;
  while (!atomic_load(&f->stop)) {
    void *buf = NULL;
    int n = nn_recv(f->sock, &buf, NN_MSG, 0);
    if (n < 0) continue; /* timeout: look at stop */
    Smrt__Chat__V1__RpcRequest *req = smrt__chat__v1__rpc_request__unpack(NULL, (size_t)n, buf);
    nn_freemsg(buf);
    if (!req) continue;
    Smrt__Chat__V1__RpcResponse resp = SMRT__CHAT__V1__RPC_RESPONSE__INIT;
    Smrt__Chat__V1__Status status = SMRT__CHAT__V1__STATUS__INIT;
    resp.request_id = req->context ? req->context->request_id : "";
    resp.status = &status;
    uint8_t payload[512];
    size_t plen = 0;
    const char *method = req->method ? req->method : "";
    if (strstr(method, "/ListReplyDeltas")) {
      if (atomic_fetch_add(&f->list_calls, 1) < atomic_load(&f->list_ok)) {
        Smrt__Chat__V1__ReplyDelta d = SMRT__CHAT__V1__REPLY_DELTA__INIT;
        Smrt__Chat__V1__ReplyDelta *dp = &d;
        d.message_id = "m-1";
        d.index = 0;
        d.text = "hello";
        d.content_length = 5;
        Smrt__Chat__V1__ListReplyDeltasRequest *lr =
            smrt__chat__v1__list_reply_deltas_request__unpack(NULL, req->payload.len, req->payload.data);
        Smrt__Chat__V1__ListReplyDeltasResponse r = SMRT__CHAT__V1__LIST_REPLY_DELTAS_RESPONSE__INIT;
        if (lr && lr->from_index == 0) {
          r.n_deltas = 1;
          r.deltas = &dp;
        }
        if (lr) smrt__chat__v1__list_reply_deltas_request__free_unpacked(lr, NULL);
        r.stream_state = SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING;
        r.delta_count = 1;
        plen = smrt__chat__v1__list_reply_deltas_response__pack(&r, payload);
      } else {
        status.code = SMRT__CHAT__V1__CODE__CODE_OUT_OF_RANGE;
        status.reason = "RESYNC_REQUIRED";
        status.message = "the deltas were dropped";
      }
    } else if (strstr(method, "/GetMessage")) {
      atomic_fetch_add(&f->get_calls, 1);
      Smrt__Chat__V1__Message m = SMRT__CHAT__V1__MESSAGE__INIT;
      m.id = "m-1";
      m.content = "hello world";
      m.stream_state = SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED;
      m.delta_count = 3;
      Smrt__Chat__V1__GetMessageResponse r = SMRT__CHAT__V1__GET_MESSAGE_RESPONSE__INIT;
      r.message = &m;
      plen = smrt__chat__v1__get_message_response__pack(&r, payload);
    } else {
      status.code = SMRT__CHAT__V1__CODE__CODE_UNIMPLEMENTED;
      status.reason = "UNIMPLEMENTED";
    }
    resp.payload.data = payload;
    resp.payload.len = plen;
    size_t rl = smrt__chat__v1__rpc_response__get_packed_size(&resp);
    uint8_t *out = malloc(rl);
    smrt__chat__v1__rpc_response__pack(&resp, out);
    nn_send(f->sock, out, rl, 0);
    free(out);
    smrt__chat__v1__rpc_request__free_unpacked(req, NULL);
  }
  return NULL;
}

static void test_resync(void) {
  char rpc[128], ev[128];
  snprintf(rpc, sizeof rpc, "ipc:///tmp/smrtchat-c-stream-fakerep-%ld.sock", (long)getpid());
  snprintf(ev, sizeof ev, "ipc:///tmp/smrtchat-c-stream-fakepub2-%ld.sock", (long)getpid());
  fake_rep f = {0};
  f.sock = nn_socket(AF_SP, NN_REP);
  int pub = nn_socket(AF_SP, NN_PUB); /* bound, never publishes */
  int to = 100;
  nn_setsockopt(f.sock, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
  if (f.sock < 0 || nn_bind(f.sock, rpc) < 0 || pub < 0 || nn_bind(pub, ev) < 0)
    fatal("fake rep: %s", nn_strerror(nn_errno()));
  pthread_t th;
  pthread_create(&th, NULL, fake_rep_main, &f);
  smrtchat_client *c = new_client("SMRTCHAT_KEY_ID", "SMRTCHAT_SECRET", "alice", rpc);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  Smrt__Chat__V1__ReplyDelta *d = NULL;
  int code;

  /* a. From 0, everything dropped: the whole content as one piece. */
  smrtchat_reply_stream *rs = smrtchat_reply_stream_open(c, ev, NULL, "room-1", "m-1", 0, &st);
  CHECK(rs != NULL, "resync open from 0: %s %s", smrtchat_code_name(st.code), st.reason);
  if (rs) {
    code = smrtchat_reply_stream_next(rs, 1000, &d, &st);
    CHECK(code == SMRTCHAT_OK && d && STREQ(d->text, "hello world") && d->index == 0 && d->content_length == 11 &&
              STREQ(d->message_id, "m-1"),
          "resync piece from 0: %s '%s'", smrtchat_code_name(code), d ? d->text : "");
    if (d) smrt__chat__v1__reply_delta__free_unpacked(d, NULL), d = NULL;
    code = smrtchat_reply_stream_next(rs, 1000, &d, &st);
    smrtchat_reply_stream_info info;
    smrtchat_reply_stream_info_get(rs, &info);
    CHECK(code == SMRTCHAT_FINISHED && info.resynced && info.delta_count == 3 && info.next_index == 3 &&
              info.stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED,
          "resync end: %s resynced %d", smrtchat_code_name(code), info.resynced);
    smrtchat_reply_stream_close(rs);
  }

  /* b. From the end: nothing to yield. */
  rs = smrtchat_reply_stream_open(c, ev, NULL, "room-1", "m-1", 3, &st);
  CHECK(rs != NULL, "resync open from the end");
  if (rs) {
    code = smrtchat_reply_stream_next(rs, 1000, &d, &st);
    CHECK(code == SMRTCHAT_FINISHED && !d, "resync from the end: %s", smrtchat_code_name(code));
    smrtchat_reply_stream_close(rs);
  }

  /* c. From 1 with nothing known about where delta 1 starts: the caller must reload. */
  rs = smrtchat_reply_stream_open(c, ev, NULL, "room-1", "m-1", 1, &st);
  CHECK(!rs && st.code == SMRTCHAT_OUT_OF_RANGE && STREQ(st.reason, "RESYNC_REQUIRED"),
        "resync from 1 without a base: %s %s", smrtchat_code_name(st.code), st.reason);
  smrtchat_reply_stream_close(rs);

  /* d. Delta 0 read while streaming, then the deltas are dropped: the rest after "hello". */
  atomic_store(&f.list_ok, atomic_load(&f.list_calls) + 1);
  rs = smrtchat_reply_stream_open(c, ev, NULL, "room-1", "m-1", 0, &st);
  CHECK(rs != NULL, "resync open (d)");
  if (rs) {
    smrtchat_reply_stream_set_poll_interval(rs, 50);
    sbuf text = {0};
    int64_t idx[4];
    int n = 0;
    while ((code = smrtchat_reply_stream_next(rs, 2000, &d, &st)) == SMRTCHAT_OK && n < 4) {
      idx[n++] = d->index;
      sbuf_add(&text, d->text);
      smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
      d = NULL;
    }
    CHECK(code == SMRTCHAT_FINISHED && n == 2 && idx[0] == 0 && idx[1] == 1 && STREQ(text.p, "hello world"),
          "resync after delta 0: %s, %d pieces, '%s'", smrtchat_code_name(code), n, text.p ? text.p : "");
    free(text.p);
    smrtchat_reply_stream_close(rs);
  }
  printf("resync fallback (stand-in server): %d ListReplyDeltas, %d GetMessage calls\n",
         atomic_load(&f.list_calls), atomic_load(&f.get_calls));
  CHECK(atomic_load(&f.get_calls) >= 3, "GetMessage used for the resync");
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  atomic_store(&f.stop, 1);
  pthread_join(th, NULL);
  nn_close(f.sock);
  nn_close(pub);
}

/* ---------- 5. tool approvals ---------- */

typedef struct claimer {
  smrtchat_client *agent;
  const char *session, *call_id;
  pthread_barrier_t *go;
  int code;
  char reason[64];
  Smrt__Chat__V1__ClaimToolCallResponse *resp;
  pthread_t th;
} claimer;

static void *claimer_main(void *arg) {
  claimer *c = arg;
  Smrt__Chat__V1__ClaimToolCallRequest req = SMRT__CHAT__V1__CLAIM_TOOL_CALL_REQUEST__INIT;
  req.session_id = (char *)c->session;
  req.call_id = (char *)c->call_id;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  pthread_barrier_wait(c->go);
  c->code = smrtchat_claim_tool_call(c->agent, NULL, &req, &c->resp, &st);
  snprintf(c->reason, sizeof c->reason, "%s", st.reason ? st.reason : "");
  smrtchat_status_clear(&st);
  return NULL;
}

static Smrt__Chat__V1__Message *tool_call(smrtchat_client *agent, const char *S, const char *call_id,
                                          const char *tool, const char *args) {
  Smrt__Chat__V1__ToolCall tc = SMRT__CHAT__V1__TOOL_CALL__INIT;
  tc.call_id = (char *)call_id;
  tc.name = (char *)tool;
  tc._arguments_case = SMRT__CHAT__V1__TOOL_CALL___ARGUMENTS_ARGUMENTS;
  tc.arguments = (char *)args;
  Smrt__Chat__V1__SendAgentReplyRequest rep = SMRT__CHAT__V1__SEND_AGENT_REPLY_REQUEST__INIT;
  rep.session_id = (char *)S;
  rep.kind = SMRT__CHAT__V1__AGENT_REPLY_KIND__AGENT_REPLY_KIND_TOOL;
  rep._message_type_case = SMRT__CHAT__V1__SEND_AGENT_REPLY_REQUEST___MESSAGE_TYPE_MESSAGE_TYPE;
  rep.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_CALL;
  rep.tool_call = &tc;
  rep.content = "";
  return OK(Smrt__Chat__V1__SendAgentReplyResponse, agent, "agent:streamer", "SendAgentReply", rep)->message;
}

/* The tool_result request for a call (sent with OK or ERR). */
typedef struct result_req {
  Smrt__Chat__V1__ToolCall tc;
  Smrt__Chat__V1__SendAgentReplyRequest rep;
} result_req;

static void make_result(result_req *r, const char *S, const char *call_id, const char *tool) {
  Smrt__Chat__V1__ToolCall tc = SMRT__CHAT__V1__TOOL_CALL__INIT;
  Smrt__Chat__V1__SendAgentReplyRequest rep = SMRT__CHAT__V1__SEND_AGENT_REPLY_REQUEST__INIT;
  r->tc = tc;
  r->rep = rep;
  r->tc.call_id = (char *)call_id;
  r->tc.name = (char *)tool;
  r->tc._result_case = SMRT__CHAT__V1__TOOL_CALL___RESULT_RESULT;
  r->tc.result = "{\"ok\":true}";
  r->rep.session_id = (char *)S;
  r->rep.kind = SMRT__CHAT__V1__AGENT_REPLY_KIND__AGENT_REPLY_KIND_TOOL;
  r->rep._message_type_case = SMRT__CHAT__V1__SEND_AGENT_REPLY_REQUEST___MESSAGE_TYPE_MESSAGE_TYPE;
  r->rep.message_type = SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_RESULT;
  r->rep.tool_call = &r->tc;
  r->rep.content = "";
}

static Smrt__Chat__V1__ListPendingToolCallsResponse *pending(smrtchat_client *chat, const char *actor,
                                                             const char *S) {
  Smrt__Chat__V1__ListPendingToolCallsRequest lp = SMRT__CHAT__V1__LIST_PENDING_TOOL_CALLS_REQUEST__INIT;
  lp.session_id = (char *)(S ? S : "");
  lp.limit = 50;
  smrtchat_call_opts o = {.actor_profile_id = actor};
  Smrt__Chat__V1__ListPendingToolCallsResponse *r = NULL;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int code = smrtchat_list_pending_tool_calls(chat, &o, &lp, &r, &st);
  checks++;
  if (code != SMRTCHAT_OK)
    fatal("ListPendingToolCalls as %s: %s %s: %s", actor, smrtchat_code_name(code), st.reason, st.message);
  smrtchat_status_clear(&st);
  keep(&r->base);
  return r;
}

static void test_approvals(smrtchat_client *chat, smrtchat_client *agent, const char *S, const char *AR) {
  Smrt__Chat__V1__CheckToolCallRequest ct = SMRT__CHAT__V1__CHECK_TOOL_CALL_REQUEST__INIT;
  ct.session_id = (char *)S;
  ct.tool_name = "deploy.prod";
  Smrt__Chat__V1__CheckToolCallResponse *ctr =
      OK(Smrt__Chat__V1__CheckToolCallResponse, agent, "agent:streamer", "CheckToolCall", ct);
  CHECK(ctr->allowed && ctr->requires_approval, "deploy.prod: allowed %d requires_approval %d", ctr->allowed,
        ctr->requires_approval);
  ct.tool_name = "notes.read";
  ctr = OK(Smrt__Chat__V1__CheckToolCallResponse, agent, "agent:streamer", "CheckToolCall", ct);
  CHECK(ctr->allowed && !ctr->requires_approval, "notes.read: allowed %d requires_approval %d", ctr->allowed,
        ctr->requires_approval);

  const char *args = "{\"service\":\"api\",\"version\":\"1.2.3\"}";
  Smrt__Chat__V1__Message *tca = tool_call(agent, S, "call-a", "deploy.prod", args);
  CHECK(tca->tool_call && STREQ(tca->tool_call->call_id, "call-a"), "tool call message");

  /* The approval UI: pending in alice's session, oldest first; nothing for bob. */
  Smrt__Chat__V1__ListPendingToolCallsResponse *lp = pending(chat, "alice", S);
  CHECK(lp->n_approvals == 1 && STREQ(lp->approvals[0]->call_id, "call-a") &&
            STREQ(lp->approvals[0]->tool_name, "deploy.prod") && STREQ(lp->approvals[0]->session_id, S) &&
            STREQ(lp->approvals[0]->message_id, tca->id) &&
            lp->approvals[0]->approval_state == SMRT__CHAT__V1__APPROVAL_STATE__APPROVAL_STATE_PENDING &&
            lp->approvals[0]->requested_at > 0 && !lp->has_more,
        "pending list: %zu approvals", lp->n_approvals);
  lp = pending(chat, "alice", NULL);
  size_t found = 0;
  for (size_t i = 0; i < lp->n_approvals; i++) found += STREQ(lp->approvals[i]->call_id, "call-a");
  CHECK(found == 1, "pending list without a session filter has call-a");
  lp = pending(chat, "bob", NULL);
  CHECK(lp->n_approvals == 0, "bob has %zu pending approvals", lp->n_approvals);
  Smrt__Chat__V1__ListPendingToolCallsRequest lpr = SMRT__CHAT__V1__LIST_PENDING_TOOL_CALLS_REQUEST__INIT;
  ERR(agent, "agent:streamer", "ListPendingToolCalls", lpr, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING");

  /* Not approved yet: no claim, no result. */
  Smrt__Chat__V1__ClaimToolCallRequest cl = SMRT__CHAT__V1__CLAIM_TOOL_CALL_REQUEST__INIT;
  cl.session_id = (char *)S;
  cl.call_id = "call-a";
  ERR(agent, "agent:streamer", "ClaimToolCall", cl, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_NOT_APPROVED");
  result_req res;
  make_result(&res, S, "call-a", "deploy.prod");
  ERR(agent, "agent:streamer", "SendAgentReply", res.rep, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_NOT_APPROVED");

  /* Deciding: only the participant, with a chat key. */
  Smrt__Chat__V1__DecideToolCallRequest dc = SMRT__CHAT__V1__DECIDE_TOOL_CALL_REQUEST__INIT;
  dc.session_id = (char *)S;
  dc.call_id = "call-a";
  dc.decision = SMRT__CHAT__V1__TOOL_DECISION__TOOL_DECISION_APPROVE;
  ERR(agent, "agent:streamer", "DecideToolCall", dc, SMRTCHAT_PERMISSION_DENIED, "SCOPE_MISSING");
  /* SPEC §13.2: "anyone else PERMISSION_DENIED NOT_SESSION_PARTICIPANT" -- for a stranger and for the
     session's own agent profile acting through a chat key ("an agent never approves its own calls"). */
  ERR(chat, "bob", "DecideToolCall", dc, SMRTCHAT_PERMISSION_DENIED, "NOT_SESSION_PARTICIPANT");
  ERR(chat, "agent:streamer", "DecideToolCall", dc, SMRTCHAT_PERMISSION_DENIED, "NOT_SESSION_PARTICIPANT");
  dc.call_id = "call-unknown";
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  ERR_ST(chat, "alice", "DecideToolCall", dc, SMRTCHAT_NOT_FOUND, NULL, &st);
  CHECK(STREQ(smrtchat_status_meta(&st, "resource"), "tool_call"), "unknown call: resource %s",
        smrtchat_status_meta(&st, "resource"));
  dc.call_id = "call-a";
  dc.decision = SMRT__CHAT__V1__TOOL_DECISION__TOOL_DECISION_UNSPECIFIED;
  ERR(chat, "alice", "DecideToolCall", dc, SMRTCHAT_INVALID_ARGUMENT, NULL);
  dc.decision = SMRT__CHAT__V1__TOOL_DECISION__TOOL_DECISION_APPROVE;
  dc._reason_case = SMRT__CHAT__V1__DECIDE_TOOL_CALL_REQUEST___REASON_REASON;
  dc.reason = "looks right";
  Smrt__Chat__V1__DecideToolCallResponse *dr = NULL;
  smrtchat_call_opts as_alice = {.actor_profile_id = "alice"};
  int code = smrtchat_decide_tool_call(chat, &as_alice, &dc, &dr, &st);
  CHECK(code == SMRTCHAT_OK, "DecideToolCall approve: %s %s", smrtchat_code_name(code), st.reason);
  if (dr) {
    keep(&dr->base);
    const Smrt__Chat__V1__ToolCallApproval *a = dr->approval;
    CHECK(a && a->approval_state == SMRT__CHAT__V1__APPROVAL_STATE__APPROVAL_STATE_APPROVED &&
              STREQ(a->call_id, "call-a") && STREQ(a->decided_by_profile_id, "alice") && STREQ(a->reason, "looks right") &&
              a->_decided_at_case == SMRT__CHAT__V1__TOOL_CALL_APPROVAL___DECIDED_AT_DECIDED_AT &&
              a->_claimed_at_case != SMRT__CHAT__V1__TOOL_CALL_APPROVAL___CLAIMED_AT_CLAIMED_AT,
          "approved record");
  }
  OK(Smrt__Chat__V1__DecideToolCallResponse, chat, "alice", "DecideToolCall", dc); /* same decision: no-op */
  dc.decision = SMRT__CHAT__V1__TOOL_DECISION__TOOL_DECISION_REJECT;
  ERR(chat, "alice", "DecideToolCall", dc, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_ALREADY_DECIDED");
  lp = pending(chat, "alice", S);
  CHECK(lp->n_approvals == 0, "nothing pending after the decision: %zu", lp->n_approvals);
  ERR(agent, "agent:streamer", "SendAgentReply", res.rep, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_NOT_CLAIMED");

  /* Two agent runtimes claim at once: exactly one wins. */
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 2);
  claimer c1 = {.agent = AGENT_CLIENT("agent:streamer"), .session = S, .call_id = "call-a", .go = &go};
  claimer c2 = {.agent = AGENT_CLIENT("agent:streamer"), .session = S, .call_id = "call-a", .go = &go};
  pthread_create(&c1.th, NULL, claimer_main, &c1);
  pthread_create(&c2.th, NULL, claimer_main, &c2);
  pthread_join(c1.th, NULL);
  pthread_join(c2.th, NULL);
  pthread_barrier_destroy(&go);
  claimer *win = c1.code == SMRTCHAT_OK ? &c1 : &c2, *lose = win == &c1 ? &c2 : &c1;
  CHECK((c1.code == SMRTCHAT_OK) + (c2.code == SMRTCHAT_OK) == 1, "claims: %s %s / %s %s",
        smrtchat_code_name(c1.code), c1.reason, smrtchat_code_name(c2.code), c2.reason);
  CHECK(lose->code == SMRTCHAT_FAILED_PRECONDITION && STREQ(lose->reason, "TOOL_CALL_ALREADY_CLAIMED"),
        "the losing claim: %s %s", smrtchat_code_name(lose->code), lose->reason);
  if (win->resp) {
    keep(&win->resp->base);
    const Smrt__Chat__V1__ClaimToolCallResponse *r = win->resp;
    CHECK(r->approval && r->approval->_claimed_at_case == SMRT__CHAT__V1__TOOL_CALL_APPROVAL___CLAIMED_AT_CLAIMED_AT &&
              r->approval->claimed_at > 0 &&
              r->approval->approval_state == SMRT__CHAT__V1__APPROVAL_STATE__APPROVAL_STATE_APPROVED &&
              r->message && STREQ(r->message->id, tca->id) && r->message->tool_call &&
              STREQ(r->message->tool_call->arguments, args),
          "the winning claim carries claimed_at and the call's arguments");
  }
  printf("concurrent claims of call-a: %s %s / %s %s\n", smrtchat_code_name(c1.code), c1.reason,
         smrtchat_code_name(c2.code), c2.reason);
  if (lose->resp) protobuf_c_message_free_unpacked(&lose->resp->base, NULL);
  smrtchat_client_free(c1.agent);
  smrtchat_client_free(c2.agent);
  ERR(agent, "agent:streamer", "ClaimToolCall", cl, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_ALREADY_CLAIMED");
  Smrt__Chat__V1__Message *rm = OK(Smrt__Chat__V1__SendAgentReplyResponse, agent, "agent:streamer", "SendAgentReply", res.rep)->message;
  CHECK(rm->message_type == SMRT__CHAT__V1__MESSAGE_TYPE__MESSAGE_TYPE_TOOL_RESULT, "tool result after the claim");

  /* Rejected: never claimed, never answered. */
  tool_call(agent, S, "call-b", "deploy.staging", "{}");
  dc.call_id = "call-b";
  dc.decision = SMRT__CHAT__V1__TOOL_DECISION__TOOL_DECISION_REJECT;
  dc.reason = "not today";
  Smrt__Chat__V1__DecideToolCallResponse *rj = OK(Smrt__Chat__V1__DecideToolCallResponse, chat, "alice", "DecideToolCall", dc);
  CHECK(rj->approval && rj->approval->approval_state == SMRT__CHAT__V1__APPROVAL_STATE__APPROVAL_STATE_REJECTED &&
            STREQ(rj->approval->reason, "not today"),
        "rejected record");
  cl.call_id = "call-b";
  ERR(agent, "agent:streamer", "ClaimToolCall", cl, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_NOT_APPROVED");
  result_req resb;
  make_result(&resb, S, "call-b", "deploy.staging");
  ERR(agent, "agent:streamer", "SendAgentReply", resb.rep, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_NOT_APPROVED");
  dc.decision = SMRT__CHAT__V1__TOOL_DECISION__TOOL_DECISION_APPROVE;
  ERR(chat, "alice", "DecideToolCall", dc, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_ALREADY_DECIDED");

  /* A call that needs no approval: no decision, but a claim works once. */
  tool_call(agent, S, "call-c", "notes.read", "{\"q\":\"x\"}");
  dc.call_id = "call-c";
  ERR(chat, "alice", "DecideToolCall", dc, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_NO_APPROVAL_NEEDED");
  cl.call_id = "call-c";
  OK(Smrt__Chat__V1__ClaimToolCallResponse, agent, "agent:streamer", "ClaimToolCall", cl);
  ERR(agent, "agent:streamer", "ClaimToolCall", cl, SMRTCHAT_FAILED_PRECONDITION, "TOOL_CALL_ALREADY_CLAIMED");
  cl.call_id = "call-unknown";
  ERR(agent, "agent:streamer", "ClaimToolCall", cl, SMRTCHAT_NOT_FOUND, NULL);

  /* The room log. */
  evlist log = room_log(chat, AR);
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_APPROVAL_REQUESTED, NULL) == 2,
        "TOOL_APPROVAL_REQUESTED x2, got %zu",
        count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_APPROVAL_REQUESTED, NULL));
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_APPROVED, "call-a") == 1, "TOOL_CALL_APPROVED x1");
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_REJECTED, "call-b") == 1, "TOOL_CALL_REJECTED x1");
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_CLAIMED, "call-a") == 1 &&
            count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_CLAIMED, "call-c") == 1 &&
            count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_CLAIMED, NULL) == 2,
        "TOOL_CALL_CLAIMED once for call-a and call-c, got %zu",
        count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_CLAIMED, NULL));
  /* MESSAGE_CREATED of call-a's message comes right before its TOOL_APPROVAL_REQUESTED. */
  for (size_t i = 0; i < log.n; i++) {
    const Smrt__Chat__V1__RoomEvent *e = log.ev[i];
    if (e->kind != SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_APPROVAL_REQUESTED || !STREQ(e->subject_id, "call-a"))
      continue;
    CHECK(i > 0 && log.ev[i - 1]->kind == SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_CREATED &&
              STREQ(log.ev[i - 1]->subject_id, tca->id),
          "MESSAGE_CREATED then TOOL_APPROVAL_REQUESTED");
    CHECK(e->entity_case == SMRT__CHAT__V1__ROOM_EVENT__ENTITY_TOOL_CALL_APPROVAL &&
              STREQ(e->tool_call_approval->call_id, "call-a") && STREQ(e->tool_call_approval->message_id, tca->id) &&
              e->tool_call_approval->approval_state == SMRT__CHAT__V1__APPROVAL_STATE__APPROVAL_STATE_PENDING,
          "TOOL_APPROVAL_REQUESTED entity");
  }
  const Smrt__Chat__V1__RoomEvent *ce = find_event(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_CLAIMED, "call-a");
  CHECK(ce && STREQ(ce->actor_profile_id, "agent:streamer") &&
            ce->entity_case == SMRT__CHAT__V1__ROOM_EVENT__ENTITY_TOOL_CALL_APPROVAL &&
            ce->tool_call_approval->_claimed_at_case == SMRT__CHAT__V1__TOOL_CALL_APPROVAL___CLAIMED_AT_CLAIMED_AT,
        "TOOL_CALL_CLAIMED actor/entity");
  const Smrt__Chat__V1__RoomEvent *ae = find_event(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_TOOL_CALL_APPROVED, "call-a");
  CHECK(ae && STREQ(ae->actor_profile_id, "alice") && ae->entity_case == SMRT__CHAT__V1__ROOM_EVENT__ENTITY_TOOL_CALL_APPROVAL &&
            STREQ(ae->tool_call_approval->decided_by_profile_id, "alice"),
        "TOOL_CALL_APPROVED actor/entity");
  free(log.ev);
  smrtchat_status_clear(&st);
}

/* ---------- 6. busy sessions ---------- */

static Smrt__Chat__V1__AgentSession *new_session(smrtchat_client *chat, const char *agent_id, int busy) {
  Smrt__Chat__V1__CreateAgentSessionRequest cs = SMRT__CHAT__V1__CREATE_AGENT_SESSION_REQUEST__INIT;
  char *tools[] = {"deploy.*", "notes.*"};
  char *approval[] = {"deploy.*"};
  cs.agent_id = (char *)agent_id;
  cs.n_allowed_tools = 2;
  cs.allowed_tools = tools;
  cs.n_approval_tools = 1;
  cs.approval_tools = approval;
  cs.busy_policy = busy;
  return OK(Smrt__Chat__V1__CreateAgentSessionResponse, chat, "alice", "CreateAgentSession", cs)->session;
}

static void test_busy(smrtchat_client *chat, smrtchat_client *agent) {
  Smrt__Chat__V1__AgentSession *rej = new_session(chat, "busyreject", SMRT__CHAT__V1__BUSY_POLICY__BUSY_POLICY_REJECT);
  CHECK(rej->busy_policy == SMRT__CHAT__V1__BUSY_POLICY__BUSY_POLICY_REJECT, "busy_policy returned");
  Smrt__Chat__V1__Message *m = begin(agent, "agent:busyreject", rej->id, NULL);
  Smrt__Chat__V1__SendAgentUserMessageRequest su = SMRT__CHAT__V1__SEND_AGENT_USER_MESSAGE_REQUEST__INIT;
  su.session_id = rej->id;
  su.content = "are you there?";
  ERR(chat, "alice", "SendAgentUserMessage", su, SMRTCHAT_FAILED_PRECONDITION, "SESSION_BUSY");
  append_ok(agent, m->id, 0, "yes");
  finish(agent, m->id, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 1);
  OK(Smrt__Chat__V1__SendAgentUserMessageResponse, chat, "alice", "SendAgentUserMessage", su);

  Smrt__Chat__V1__AgentSession *intr = new_session(chat, "busyinterrupt", SMRT__CHAT__V1__BUSY_POLICY__BUSY_POLICY_INTERRUPT);
  m = begin(agent, "agent:busyinterrupt", intr->id, NULL);
  append_ok(agent, m->id, 0, "a long answer");
  su.session_id = intr->id;
  su.content = "stop, new question";
  OK(Smrt__Chat__V1__SendAgentUserMessageResponse, chat, "alice", "SendAgentUserMessage", su);
  APPEND_ERR(agent, m->id, 1, " continues", SMRTCHAT_FAILED_PRECONDITION, "REPLY_STOPPED");
  Smrt__Chat__V1__Message *fm = finish(agent, m->id, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 1);
  CHECK(fm->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STOPPED && STREQ(fm->content, "a long answer"),
        "interrupted reply finishes as STOPPED: %s", smrtchat_stream_state_name(fm->stream_state));
  evlist log = room_log(chat, intr->room_id);
  CHECK(count_events(&log, SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_REPLY_STOP_REQUESTED, m->id) == 1,
        "the interrupt appended REPLY_STOP_REQUESTED");
  free(log.ev);

  Smrt__Chat__V1__AgentSession *enq = new_session(chat, "busyenqueue", SMRT__CHAT__V1__BUSY_POLICY__BUSY_POLICY_UNSPECIFIED);
  m = begin(agent, "agent:busyenqueue", enq->id, NULL);
  su.session_id = enq->id;
  su.content = "one more thing";
  OK(Smrt__Chat__V1__SendAgentUserMessageResponse, chat, "alice", "SendAgentUserMessage", su);
  append_ok(agent, m->id, 0, "still going");
  finish(agent, m->id, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 1);
}

/* ---------- 7. RESYNC_REQUIRED from the real server (run-tests.sh starts a second server with
   delta_retention_seconds = 1 and the stream job every second) ---------- */

static int list_code(smrtchat_client *chat, const char *msg, smrtchat_status *st) {
  Smrt__Chat__V1__ListReplyDeltasRequest lr = SMRT__CHAT__V1__LIST_REPLY_DELTAS_REQUEST__INIT;
  lr.message_id = (char *)msg;
  Smrt__Chat__V1__ListReplyDeltasResponse *r = NULL;
  smrtchat_call_opts o = {.actor_profile_id = "alice"};
  int code = smrtchat_list_reply_deltas(chat, &o, &lr, &r, st);
  if (r) protobuf_c_message_free_unpacked(&r->base, NULL);
  return code;
}

static void test_real_resync(smrtchat_client *chat, smrtchat_client *agent, const char *events_ep) {
  Smrt__Chat__V1__AgentSession *sess = new_session(chat, "resync", SMRT__CHAT__V1__BUSY_POLICY__BUSY_POLICY_UNSPECIFIED);
  Smrt__Chat__V1__Message *m = begin(agent, "agent:resync", sess->id, NULL);
  const char *M = m->id, *AR = sess->room_id;
  append_ok(agent, M, 0, "alpha ");
  append_ok(agent, M, 1, "beta ");
  /* Reader X hears nothing live (an endpoint nobody binds) and does not poll: it holds 0 and 1. */
  char quiet[128];
  snprintf(quiet, sizeof quiet, "ipc:///tmp/smrtchat-c-stream-quiet-%ld.sock", (long)getpid());
  smrtchat_client *xc = CHAT_CLIENT("alice");
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_reply_stream *x = smrtchat_reply_stream_open(xc, quiet, NULL, AR, M, 0, &st);
  if (!x) fatal("reader X: %s %s", st.reason, st.message);
  smrtchat_reply_stream_set_poll_interval(x, 0);
  sbuf xt = {0};
  Smrt__Chat__V1__ReplyDelta *d = NULL;
  for (int i = 0; i < 2; i++) {
    int code = smrtchat_reply_stream_next(x, 1000, &d, &st);
    CHECK(code == SMRTCHAT_OK && d && d->index == i, "reader X delta %d", i);
    if (d) sbuf_add(&xt, d->text), smrt__chat__v1__reply_delta__free_unpacked(d, NULL), d = NULL;
  }
  append_ok(agent, M, 2, "gamma ");
  append_ok(agent, M, 3, "delta");
  Smrt__Chat__V1__Message *fm = finish(agent, M, SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED, 1);
  CHECK(STREQ(fm->content, "alpha beta gamma delta"), "final content '%s'", fm->content);

  /* The stored deltas are dropped delta_retention_seconds after the finish (by the periodic job). */
  int code = SMRTCHAT_OK;
  for (int i = 0; i < 100 && (code = list_code(chat, M, &st)) == SMRTCHAT_OK; i++) sleep_ms(200);
  CHECK(code == SMRTCHAT_OUT_OF_RANGE && STREQ(st.reason, "RESYNC_REQUIRED"),
        "ListReplyDeltas after retention: %s %s (want OUT_OF_RANGE RESYNC_REQUIRED within 20 s)",
        smrtchat_code_name(code), st.reason);
  Smrt__Chat__V1__Message *gm = get_message(chat, M);
  CHECK(STREQ(gm->content, fm->content) && gm->delta_count == 4 &&
            gm->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED,
        "GetMessage after the drop: '%s' count %lld", gm->content, (long long)gm->delta_count);
  APPEND_ERR(agent, M, 4, "late", SMRTCHAT_FAILED_PRECONDITION, "REPLY_FINISHED");

  /* X resumes: the rest after "alpha beta " as one piece. */
  smrtchat_reply_stream_set_poll_interval(x, 50);
  code = smrtchat_reply_stream_next(x, 2000, &d, &st);
  CHECK(code == SMRTCHAT_OK && d && d->index == 2 && STREQ(d->text, "gamma delta") &&
            d->content_length == (int64_t)strlen(fm->content),
        "reader X after the drop: %s '%s'", smrtchat_code_name(code), d ? d->text : "");
  if (d) sbuf_add(&xt, d->text), smrt__chat__v1__reply_delta__free_unpacked(d, NULL), d = NULL;
  code = smrtchat_reply_stream_next(x, 2000, &d, &st);
  smrtchat_reply_stream_info info;
  smrtchat_reply_stream_info_get(x, &info);
  CHECK(code == SMRTCHAT_FINISHED && info.resynced && info.next_index == 4 && STREQ(xt.p, fm->content),
        "reader X end: %s resynced %d text '%s'", smrtchat_code_name(code), info.resynced, xt.p);
  free(xt.p);
  smrtchat_reply_stream_close(x);
  smrtchat_client_free(xc);

  /* New readers after the drop. */
  reader y;
  reader_open(&y, "reader Y (after the drop, from 0)", events_ep, AR, M, 0);
  reader_run(&y);
  CHECK(y.end_code == SMRTCHAT_FINISHED && y.n == 1 && STREQ(y.text.p, fm->content) && y.info.resynced,
        "reader Y: %zu pieces '%s'", y.n, y.text.p);
  reader_free(&y);
  reader_open(&y, "reader Y2 (after the drop, from the end)", events_ep, AR, M, 4);
  reader_run(&y);
  CHECK(y.end_code == SMRTCHAT_FINISHED && y.n == 0, "reader from the end after the drop");
  reader_free(&y);
  smrtchat_client *zc = CHAT_CLIENT("alice");
  smrtchat_reply_stream *z = smrtchat_reply_stream_open(zc, events_ep, NULL, AR, M, 2, &st);
  CHECK(!z && st.code == SMRTCHAT_OUT_OF_RANGE && STREQ(st.reason, "RESYNC_REQUIRED"),
        "reader from 2 after the drop: %s %s", smrtchat_code_name(st.code), st.reason);
  smrtchat_reply_stream_close(z);
  smrtchat_client_free(zc);
  smrtchat_status_clear(&st);
}

/* ---------- main ---------- */

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *events_ep = need_env("SMRTCHAT_EVENTS");
  smrtchat_client *chat = CHAT_CLIENT("alice");
  smrtchat_client *agent = AGENT_CLIENT("agent:streamer");

  const char *mode = getenv("SMRTCHAT_STREAM_TEST_MODE");
  if (mode && strcmp(mode, "resync") == 0) { /* against a server that drops deltas after 1 s */
    test_real_resync(chat, agent, events_ep);
    printf("resync (real server): %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));
    smrtchat_client_free(chat);
    smrtchat_client_free(agent);
    for (size_t i = 0; i < narena; i++) protobuf_c_message_free_unpacked(arena[i], NULL);
    return failures ? 1 : 0;
  }

  /* The stand-in server needs no §13 server. */
  test_resync();
  printf("resync: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));

  Smrt__Chat__V1__AgentSession *sess = new_session(chat, "streamer", SMRT__CHAT__V1__BUSY_POLICY__BUSY_POLICY_UNSPECIFIED);
  CHECK(sess->n_approval_tools == 1 && STREQ(sess->approval_tools[0], "deploy.*"), "approval_tools returned");
  const char *S = sess->id, *AR = sess->room_id;
  test_stream(chat, agent, events_ep, S, AR);
  printf("streamed reply: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));
  test_gaps(chat, agent, S, AR);
  printf("gaps: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));
  test_stop(chat, agent, events_ep, S, AR);
  printf("stop: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));
  test_approvals(chat, agent, S, AR);
  printf("approvals: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));
  test_busy(chat, agent);
  printf("busy sessions: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));

  smrtchat_client_free(chat);
  smrtchat_client_free(agent);
  for (size_t i = 0; i < narena; i++) protobuf_c_message_free_unpacked(arena[i], NULL);
  printf("test_stream: %d checks, %d failures\n", atomic_load(&checks), atomic_load(&failures));
  return failures ? 1 : 0;
}
