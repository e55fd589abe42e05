/* libsmrtchat: streamed agent replies and tool approvals (SPEC §13): typed calls and the
   resumable reply reader. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

#include "smrtchat.h"
#include "internal.h"

/* ---- typed calls ---- */

#define SC_TYPED_CALL(fn, method, Req, Resp)                                                    \
  int fn(smrtchat_client *c, const smrtchat_call_opts *opts, const Req *req, Resp **out,       \
         smrtchat_status *st) {                                                               \
    if (out) *out = NULL;                                                                      \
    if (!req) return sc_fail(st, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", method ": no request"); \
    return smrtchat_call_ex(c, opts, method, &req->base, NULL, (ProtobufCMessage **)out, st);  \
  }

SC_TYPED_CALL(smrtchat_begin_agent_reply, "BeginAgentReply", Smrt__Chat__V1__BeginAgentReplyRequest,
              Smrt__Chat__V1__BeginAgentReplyResponse)
SC_TYPED_CALL(smrtchat_append_reply_delta, "AppendReplyDelta", Smrt__Chat__V1__AppendReplyDeltaRequest,
              Smrt__Chat__V1__AppendReplyDeltaResponse)
SC_TYPED_CALL(smrtchat_finish_agent_reply, "FinishAgentReply", Smrt__Chat__V1__FinishAgentReplyRequest,
              Smrt__Chat__V1__FinishAgentReplyResponse)
SC_TYPED_CALL(smrtchat_stop_reply, "StopReply", Smrt__Chat__V1__StopReplyRequest,
              Smrt__Chat__V1__StopReplyResponse)
SC_TYPED_CALL(smrtchat_list_reply_deltas, "ListReplyDeltas", Smrt__Chat__V1__ListReplyDeltasRequest,
              Smrt__Chat__V1__ListReplyDeltasResponse)
SC_TYPED_CALL(smrtchat_decide_tool_call, "DecideToolCall", Smrt__Chat__V1__DecideToolCallRequest,
              Smrt__Chat__V1__DecideToolCallResponse)
SC_TYPED_CALL(smrtchat_claim_tool_call, "ClaimToolCall", Smrt__Chat__V1__ClaimToolCallRequest,
              Smrt__Chat__V1__ClaimToolCallResponse)
SC_TYPED_CALL(smrtchat_list_pending_tool_calls, "ListPendingToolCalls",
              Smrt__Chat__V1__ListPendingToolCallsRequest, Smrt__Chat__V1__ListPendingToolCallsResponse)

const char *smrtchat_stream_state_name(int state) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&smrt__chat__v1__stream_state__descriptor, state);
  if (!v) return "UNKNOWN";
  const char *name = v->name;
  return strncmp(name, "STREAM_STATE_", 13) == 0 ? name + 13 : name;
}

/* ---- the reader ---- */

#define PAGE 200

struct smrtchat_reply_stream {
  smrtchat_client *c;
  smrtchat_call_opts opts; /* the reader's tenant */
  char *tenant_id, *room_id, *message_id;
  char *stream_topic, *room_topic;
  int sock;
  /* deltas ready for the caller, in index order */
  Smrt__Chat__V1__ReplyDelta **q;
  size_t qhead, qlen, qcap;
  /* Everything below enq_index is queued or yielded; enq_len is the content's byte length up to
     enq_index (-1 = not known yet: from_index > 0 and no delta seen). */
  int64_t enq_index, enq_len;
  int64_t yield_index, yield_len;
  int finished; /* a ListReplyDeltas page or GetMessage reported a state other than STREAMING */
  int done;     /* finished and every index < delta_count queued */
  int state;
  int64_t delta_count;
  int poll_ms;
  int64_t next_poll_at;
  smrtchat_reply_stream_info info; /* counters */
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int enqueue(smrtchat_reply_stream *s, Smrt__Chat__V1__ReplyDelta *d) {
  if (s->qhead == s->qlen) s->qhead = s->qlen = 0;
  if (s->qlen == s->qcap) {
    if (s->qhead > 0) {
      memmove(s->q, s->q + s->qhead, (s->qlen - s->qhead) * sizeof *s->q);
      s->qlen -= s->qhead;
      s->qhead = 0;
    }
    if (s->qlen == s->qcap) {
      size_t cap = s->qcap ? s->qcap * 2 : 64;
      Smrt__Chat__V1__ReplyDelta **q = realloc(s->q, cap * sizeof *q);
      if (!q) return -1;
      s->q = q;
      s->qcap = cap;
    }
  }
  s->q[s->qlen++] = d;
  return 0;
}

enum { ACCEPT_QUEUED = 1, ACCEPT_DROPPED = 0, ACCEPT_GAP = -1, ACCEPT_NOMEM = -2 };

/* Offers one delta (live or listed) to the ordering rules; takes ownership. */
static int accept_delta(smrtchat_reply_stream *s, Smrt__Chat__V1__ReplyDelta *d, int live) {
  if (!d->message_id || strcmp(d->message_id, s->message_id) != 0 || d->index < s->enq_index) {
    if (live) s->info.duplicates++;
    smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
    return ACCEPT_DROPPED;
  }
  if (d->index > s->enq_index) {
    smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
    return ACCEPT_GAP;
  }
  int64_t n = (int64_t)strlen(d->text ? d->text : "");
  if (s->enq_len < 0) s->enq_len = d->content_length - n; /* where from_index started */
  s->enq_len += n;
  if (d->content_length != s->enq_len) s->info.length_mismatches++;
  if (enqueue(s, d) != 0) {
    smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
    return ACCEPT_NOMEM;
  }
  s->enq_index++;
  if (live)
    s->info.live++;
  else
    s->info.listed++;
  return ACCEPT_QUEUED;
}

static void update_done(smrtchat_reply_stream *s) {
  if (s->finished && s->enq_index >= s->delta_count) s->done = 1;
}

/* RESYNC_REQUIRED: the stored deltas are gone; the rest comes from GetMessage as one piece. */
static int resync(smrtchat_reply_stream *s, smrtchat_status *st) {
  Smrt__Chat__V1__GetMessageRequest req = SMRT__CHAT__V1__GET_MESSAGE_REQUEST__INIT;
  req.message_id = s->message_id;
  ProtobufCMessage *out = NULL;
  int code = smrtchat_call_ex(s->c, &s->opts, "GetMessage", &req.base, NULL, &out, st);
  if (code != SMRTCHAT_OK) return code;
  Smrt__Chat__V1__Message *m = ((Smrt__Chat__V1__GetMessageResponse *)out)->message;
  if (!m || m->stream_state == SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING) {
    protobuf_c_message_free_unpacked(out, NULL);
    return sc_fail(st, SMRTCHAT_OUT_OF_RANGE, "RESYNC_REQUIRED",
                   "ListReplyDeltas answered RESYNC_REQUIRED for %s, but GetMessage shows it %s",
                   s->message_id, m ? "still streaming" : "missing");
  }
  s->state = (int)m->stream_state;
  s->delta_count = m->delta_count;
  s->finished = 1;
  if (s->enq_index >= m->delta_count) { /* nothing left to yield */
    protobuf_c_message_free_unpacked(out, NULL);
    update_done(s);
    return SMRTCHAT_OK;
  }
  const char *content = m->content ? m->content : "";
  int64_t clen = (int64_t)strlen(content);
  if (s->enq_len < 0 || s->enq_len > clen) {
    int64_t had = s->enq_len;
    protobuf_c_message_free_unpacked(out, NULL);
    if (had < 0)
      return sc_fail(st, SMRTCHAT_OUT_OF_RANGE, "RESYNC_REQUIRED",
                     "the deltas of %s were dropped before the reader knew where delta %lld starts; "
                     "read the message with GetMessage",
                     s->message_id, (long long)s->enq_index);
    return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_ENCODING",
                   "GetMessage content of %s is %lld bytes, shorter than the %lld already yielded",
                   s->message_id, (long long)clen, (long long)had);
  }
  Smrt__Chat__V1__ReplyDelta *d = malloc(sizeof *d);
  if (d) {
    smrt__chat__v1__reply_delta__init(d);
    d->message_id = sc_strdup(s->message_id);
    d->text = sc_strdup(content + s->enq_len);
    d->index = s->enq_index;
    d->content_length = clen;
  }
  protobuf_c_message_free_unpacked(out, NULL);
  if (!d || !d->message_id || !d->text || enqueue(s, d) != 0) {
    if (d) smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
    return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
  }
  s->info.resynced = 1;
  s->enq_index = s->delta_count;
  s->enq_len = clen;
  update_done(s);
  return SMRTCHAT_OK;
}

/* Reads the stored deltas from enq_index to the end of what is stored (st is not NULL). */
static int fill_st(smrtchat_reply_stream *s, smrtchat_status *st) {
  for (;;) {
    Smrt__Chat__V1__ListReplyDeltasRequest req = SMRT__CHAT__V1__LIST_REPLY_DELTAS_REQUEST__INIT;
    req.message_id = s->message_id;
    req.from_index = s->enq_index;
    req.limit = PAGE;
    Smrt__Chat__V1__ListReplyDeltasResponse *resp = NULL;
    s->info.list_calls++;
    int code = smrtchat_list_reply_deltas(s->c, &s->opts, &req, &resp, st);
    if (code == SMRTCHAT_OUT_OF_RANGE && st->reason && strcmp(st->reason, "RESYNC_REQUIRED") == 0)
      return resync(s, st);
    if (code != SMRTCHAT_OK) return code;
    size_t n = resp->n_deltas;
    Smrt__Chat__V1__ReplyDelta **deltas = resp->deltas;
    resp->n_deltas = 0; /* the deltas are ours now; free_unpacked frees the array only */
    int gap = 0, nomem = 0;
    int64_t gap_index = 0;
    for (size_t i = 0; i < n; i++) {
      if (gap || nomem) {
        smrt__chat__v1__reply_delta__free_unpacked(deltas[i], NULL);
        continue;
      }
      int64_t idx = deltas[i]->index;
      int r = accept_delta(s, deltas[i], 0);
      if (r == ACCEPT_GAP) {
        gap = 1;
        gap_index = idx;
      }
      if (r == ACCEPT_NOMEM) nomem = 1;
    }
    int has_more = resp->has_more;
    s->state = (int)resp->stream_state;
    s->delta_count = resp->delta_count;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (gap)
      return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_ENCODING",
                     "ListReplyDeltas of %s from index %lld returned index %lld (not contiguous)",
                     s->message_id, (long long)req.from_index, (long long)gap_index);
    if (nomem) return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
    if (s->state != SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING) s->finished = 1;
    if (s->enq_index == req.from_index) break; /* no progress */
    /* A finished reply whose page ended short of delta_count gets one more page. */
    if (!has_more && !(s->finished && s->enq_index < s->delta_count)) break;
  }
  if (s->finished && s->enq_index < s->delta_count)
    return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_ENCODING",
                   "ListReplyDeltas of finished %s reports delta_count %lld but has no delta %lld",
                   s->message_id, (long long)s->delta_count, (long long)s->enq_index);
  update_done(s);
  return SMRTCHAT_OK;
}

static int fill(smrtchat_reply_stream *s, smrtchat_status *st) {
  if (st) return fill_st(s, st);
  smrtchat_status tmp = SMRTCHAT_STATUS_INIT;
  int code = fill_st(s, &tmp);
  smrtchat_status_clear(&tmp);
  return code;
}

static char *fmt_topic(const char *fmt, const char *a, const char *b, const char *c) {
  int n = snprintf(NULL, 0, fmt, a, b, c);
  char *t = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (t) snprintf(t, (size_t)n + 1, fmt, a, b, c);
  return t;
}

smrtchat_reply_stream *smrtchat_reply_stream_open(smrtchat_client *c, const char *events_endpoint,
                                                  const char *tenant_id, const char *room_id,
                                                  const char *message_id, int64_t from_index,
                                                  smrtchat_status *err) {
  if (!c || !events_endpoint || !*events_endpoint || !room_id || !*room_id || !message_id ||
      !*message_id || from_index < 0) {
    sc_fail(err, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE",
            "client, events endpoint, room_id, message_id and from_index >= 0 required");
    return NULL;
  }
  smrtchat_reply_stream *s = calloc(1, sizeof *s);
  if (!s) {
    sc_fail(err, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
    return NULL;
  }
  s->c = c;
  s->sock = -1;
  s->poll_ms = 1000;
  s->tenant_id = sc_strdup(tenant_id && *tenant_id ? tenant_id : smrtchat_client_tenant(c));
  s->room_id = sc_strdup(room_id);
  s->message_id = sc_strdup(message_id);
  s->opts.tenant_id = s->tenant_id;
  s->enq_index = s->yield_index = from_index;
  s->enq_len = s->yield_len = from_index == 0 ? 0 : -1;
  s->state = SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_STREAMING;
  if (s->tenant_id && s->room_id && s->message_id) {
    s->stream_topic = fmt_topic("smrt.chat.v1.stream/%s/%s/%s/", s->tenant_id, s->room_id, s->message_id);
    s->room_topic = fmt_topic("smrt.chat.v1/%s/%s/%s", s->tenant_id, s->room_id, "");
  }
  if (!s->stream_topic || !s->room_topic) {
    sc_fail(err, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
    smrtchat_reply_stream_close(s);
    return NULL;
  }
  /* 1. Subscribe first, so nothing published from here on is missed ... */
  s->sock = nn_socket(AF_SP, NN_SUB);
  if (s->sock < 0) {
    sc_fail(err, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_socket: %s", nn_strerror(nn_errno()));
    smrtchat_reply_stream_close(s);
    return NULL;
  }
  int rcvbuf = 4 * 1024 * 1024, maxsize = -1;
  nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVBUF, &rcvbuf, sizeof rcvbuf);
  nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof maxsize);
  if (nn_setsockopt(s->sock, NN_SUB, NN_SUB_SUBSCRIBE, s->stream_topic, strlen(s->stream_topic)) < 0 ||
      nn_setsockopt(s->sock, NN_SUB, NN_SUB_SUBSCRIBE, s->room_topic, strlen(s->room_topic)) < 0 ||
      nn_connect(s->sock, events_endpoint) < 0) {
    sc_fail(err, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "subscribe %s: %s", events_endpoint,
            nn_strerror(nn_errno()));
    smrtchat_reply_stream_close(s);
    return NULL;
  }
  /* 2. ... then read what is stored. */
  if (fill(s, err) != SMRTCHAT_OK) {
    smrtchat_reply_stream_close(s);
    return NULL;
  }
  s->next_poll_at = mono_ms() + s->poll_ms;
  return s;
}

void smrtchat_reply_stream_set_poll_interval(smrtchat_reply_stream *s, int ms) {
  s->poll_ms = ms < 0 ? 0 : ms;
  s->next_poll_at = mono_ms() + s->poll_ms;
}

void smrtchat_reply_stream_info_get(const smrtchat_reply_stream *s, smrtchat_reply_stream_info *out) {
  *out = s->info;
  out->finished = s->finished;
  out->stream_state = s->state;
  out->delta_count = s->delta_count;
  out->next_index = s->yield_index;
  out->content_length = s->yield_len;
}

/* Reads what the SUB socket holds. Returns 1 when a ListReplyDeltas fill is due (a gap, or this
   message's MESSAGE_STREAM_FINISHED event). */
static int drain(smrtchat_reply_stream *s) {
  int need_fill = 0;
  size_t stl = strlen(s->stream_topic), rtl = strlen(s->room_topic);
  for (;;) {
    void *buf = NULL;
    int n = nn_recv(s->sock, &buf, NN_MSG, NN_DONTWAIT);
    if (n < 0) break;
    const char *nul = memchr(buf, '\0', (size_t)n);
    if (nul) {
      size_t tl = (size_t)(nul - (const char *)buf);
      const uint8_t *body = (const uint8_t *)nul + 1;
      size_t bl = (size_t)n - tl - 1;
      if (tl == stl && memcmp(buf, s->stream_topic, tl) == 0) {
        Smrt__Chat__V1__ReplyDelta *d = smrt__chat__v1__reply_delta__unpack(NULL, bl, body);
        if (d) {
          int r = accept_delta(s, d, 1);
          if (r == ACCEPT_QUEUED) s->next_poll_at = mono_ms() + s->poll_ms;
          if (r == ACCEPT_GAP || r == ACCEPT_NOMEM) {
            s->info.gaps += r == ACCEPT_GAP;
            need_fill = 1;
          }
        }
      } else if (tl == rtl && memcmp(buf, s->room_topic, tl) == 0) {
        Smrt__Chat__V1__RoomEvent *ev = smrt__chat__v1__room_event__unpack(NULL, bl, body);
        if (ev && ev->kind == SMRT__CHAT__V1__EVENT_KIND__EVENT_KIND_MESSAGE_STREAM_FINISHED &&
            ev->subject_id && strcmp(ev->subject_id, s->message_id) == 0) {
          s->info.finished_event = 1;
          need_fill = 1; /* the log of deltas is the truth: read the tail and the final state */
        }
        if (ev) smrt__chat__v1__room_event__free_unpacked(ev, NULL);
      }
    }
    nn_freemsg(buf);
  }
  return need_fill;
}

int smrtchat_reply_stream_next(smrtchat_reply_stream *s, int timeout_ms,
                               Smrt__Chat__V1__ReplyDelta **out, smrtchat_status *st) {
  *out = NULL;
  if (!s) return sc_fail(st, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "no reply stream");
  int64_t end = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
  for (;;) {
    if (s->qhead < s->qlen) {
      Smrt__Chat__V1__ReplyDelta *d = s->q[s->qhead++];
      if (s->qhead == s->qlen) {
        s->yield_index = s->enq_index;
        s->yield_len = s->enq_len;
      } else {
        s->yield_index = d->index + 1;
        s->yield_len = d->content_length;
      }
      *out = d;
      if (st) smrtchat_status_clear(st);
      return SMRTCHAT_OK;
    }
    if (s->done)
      return sc_fail(st, SMRTCHAT_FINISHED, "STREAM_FINISHED", "reply %s finished as %s after %lld deltas",
                     s->message_id, smrtchat_stream_state_name(s->state), (long long)s->delta_count);
    int64_t now = mono_ms();
    if (s->poll_ms > 0 && now >= s->next_poll_at) {
      int code = fill(s, st);
      s->next_poll_at = mono_ms() + s->poll_ms;
      if (code != SMRTCHAT_OK) return code;
      if (s->qhead < s->qlen || s->done) continue;
    }
    if (now >= end)
      return sc_fail(st, SMRTCHAT_DEADLINE_EXCEEDED, "CLIENT_TIMEOUT", "no delta within %d ms", timeout_ms);
    int64_t wait = end - now;
    if (s->poll_ms > 0 && s->next_poll_at - now < wait) wait = s->next_poll_at - now;
    if (wait < 0) wait = 0;
    if (wait > 1000000) wait = 1000000;
    struct nn_pollfd pfd = {s->sock, NN_POLLIN, 0};
    int pr = nn_poll(&pfd, 1, (int)wait);
    if (pr < 0) {
      if (nn_errno() == EINTR) continue;
      return sc_fail(st, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_poll: %s", nn_strerror(nn_errno()));
    }
    if (pr == 0) continue;
    if (drain(s) && !s->done) {
      int code = fill(s, st);
      s->next_poll_at = mono_ms() + s->poll_ms;
      if (code != SMRTCHAT_OK) return code;
    }
  }
}

void smrtchat_reply_stream_close(smrtchat_reply_stream *s) {
  if (!s) return;
  if (s->sock >= 0) nn_close(s->sock);
  for (size_t i = s->qhead; i < s->qlen; i++) smrt__chat__v1__reply_delta__free_unpacked(s->q[i], NULL);
  free(s->q);
  free(s->tenant_id);
  free(s->room_id);
  free(s->message_id);
  free(s->stream_topic);
  free(s->room_topic);
  free(s);
}
