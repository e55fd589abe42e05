/* libsmrtchat: event subscription with gap detection and catch-up (SPEC §6). */
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

#define PAGE 200
#define NBUCKETS 1024

typedef struct room_pos {
  char *room_id;
  int64_t last_seq;
  struct room_pos *next;
} room_pos;

struct smrtchat_sub {
  smrtchat_client *c;
  int sock;
  int room_mode;
  char *room_id;
  /* ordered events ready for the caller */
  Smrt__Chat__V1__RoomEvent **q;
  size_t qhead, qlen, qcap;
  /* room mode: last delivered seq */
  int64_t last_seq;
  /* tenant mode: every event with event_id <= cursor has been seen (catch-up position),
     plus the last delivered seq per room */
  int64_t cursor;
  room_pos *buckets[NBUCKETS];
  int poll_ms;
  int64_t next_poll_at;
  smrtchat_sub_stats stats;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static room_pos *room_find(smrtchat_sub *s, const char *room_id, int create) {
  unsigned long h = 5381;
  for (const unsigned char *p = (const unsigned char *)room_id; *p; p++) h = h * 33 + *p;
  room_pos **b = &s->buckets[h % NBUCKETS];
  for (room_pos *r = *b; r; r = r->next)
    if (strcmp(r->room_id, room_id) == 0) return r;
  if (!create) return NULL;
  room_pos *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->room_id = sc_strdup(room_id);
  r->next = *b;
  *b = r;
  return r;
}

static void enqueue(smrtchat_sub *s, Smrt__Chat__V1__RoomEvent *ev) {
  if (s->qhead == s->qlen) s->qhead = s->qlen = 0;
  if (s->qlen == s->qcap) {
    if (s->qhead > 0) {
      memmove(s->q, s->q + s->qhead, (s->qlen - s->qhead) * sizeof *s->q);
      s->qlen -= s->qhead;
      s->qhead = 0;
    }
    if (s->qlen == s->qcap) {
      size_t cap = s->qcap ? s->qcap * 2 : 64;
      Smrt__Chat__V1__RoomEvent **q = realloc(s->q, cap * sizeof *q);
      if (!q) { /* out of memory: drop; the poll will not bring it back, but nothing crashes */
        smrt__chat__v1__room_event__free_unpacked(ev, NULL);
        return;
      }
      s->q = q;
      s->qcap = cap;
    }
  }
  s->q[s->qlen++] = ev;
}

/*
 * Offer one event (live or from the log) to the ordering rules. Takes ownership.
 * Returns 1 when delivered, 0 when dropped as a duplicate, -1 when it reveals a gap (live only;
 * the event is dropped: the catch-up that follows brings it from the log).
 */
static int offer(smrtchat_sub *s, Smrt__Chat__V1__RoomEvent *ev, int from_log) {
  int64_t *last;
  room_pos *r = NULL;
  if (s->room_mode) {
    if (strcmp(ev->room_id, s->room_id) != 0) {
      smrt__chat__v1__room_event__free_unpacked(ev, NULL);
      return 0;
    }
    last = &s->last_seq;
  } else {
    r = room_find(s, ev->room_id, 0);
    if (!r) {
      /* First event of a room we have never seen. From the log it is complete (all events after
         our start position are in the log). Live it is complete only when it is seq 1. */
      if (!from_log && ev->seq != 1) {
        smrt__chat__v1__room_event__free_unpacked(ev, NULL);
        return -1;
      }
      r = room_find(s, ev->room_id, 1);
      if (!r) {
        smrt__chat__v1__room_event__free_unpacked(ev, NULL);
        return 0;
      }
      r->last_seq = ev->seq - 1;
    }
    last = &r->last_seq;
  }
  if (ev->seq <= *last) {
    s->stats.duplicates += from_log ? 0 : 1;
    smrt__chat__v1__room_event__free_unpacked(ev, NULL);
    return 0;
  }
  if (ev->seq != *last + 1 && !from_log) {
    smrt__chat__v1__room_event__free_unpacked(ev, NULL);
    return -1;
  }
  /* From the log a jump can only mean events purged by retention: the log is the truth. */
  *last = ev->seq;
  if (from_log)
    s->stats.caught_up++;
  else
    s->stats.live++;
  enqueue(s, ev);
  return 1;
}

/* Reads the durable log from the current position to its head. */
static int catch_up(smrtchat_sub *s, smrtchat_status *st) {
  for (;;) {
    ProtobufCMessage *out = NULL;
    int code;
    int has_more;
    Smrt__Chat__V1__RoomEvent **events;
    size_t n;
    s->stats.catchup_calls++;
    if (s->room_mode) {
      Smrt__Chat__V1__ListRoomEventsRequest req = SMRT__CHAT__V1__LIST_ROOM_EVENTS_REQUEST__INIT;
      req.room_id = s->room_id;
      req.after_seq = s->last_seq;
      req.limit = PAGE;
      code = smrtchat_call(s->c, "ListRoomEvents", &req.base, NULL, &out, st);
      if (code != SMRTCHAT_OK) return code;
      Smrt__Chat__V1__ListRoomEventsResponse *resp = (Smrt__Chat__V1__ListRoomEventsResponse *)out;
      events = resp->events;
      n = resp->n_events;
      has_more = resp->has_more;
      resp->n_events = 0; /* we own the events now; free_unpacked frees only the array */
    } else {
      Smrt__Chat__V1__ListTenantEventsRequest req = SMRT__CHAT__V1__LIST_TENANT_EVENTS_REQUEST__INIT;
      req.after_event_id = s->cursor;
      req.limit = PAGE;
      code = smrtchat_call(s->c, "ListTenantEvents", &req.base, NULL, &out, st);
      if (code != SMRTCHAT_OK) return code;
      Smrt__Chat__V1__ListTenantEventsResponse *resp = (Smrt__Chat__V1__ListTenantEventsResponse *)out;
      events = resp->events;
      n = resp->n_events;
      has_more = resp->has_more;
      resp->n_events = 0;
    }
    for (size_t i = 0; i < n; i++) {
      if (!s->room_mode && events[i]->event_id > s->cursor) s->cursor = events[i]->event_id;
      offer(s, events[i], 1);
    }
    protobuf_c_message_free_unpacked(out, NULL);
    if (!has_more || n == 0) return SMRTCHAT_OK;
  }
}

static smrtchat_sub *sub_open(smrtchat_client *c, const char *endpoint, const char *room_id,
                              smrtchat_status *err) {
  if (!c || !endpoint || !*endpoint) {
    sc_fail(err, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "client and events endpoint required");
    return NULL;
  }
  smrtchat_sub *s = calloc(1, sizeof *s);
  if (!s) {
    sc_fail(err, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
    return NULL;
  }
  s->c = c;
  s->poll_ms = 1000;
  s->room_mode = room_id != NULL;
  s->room_id = room_id ? sc_strdup(room_id) : NULL;
  s->sock = nn_socket(AF_SP, NN_SUB);
  if (s->sock < 0) {
    sc_fail(err, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_socket: %s", nn_strerror(nn_errno()));
    smrtchat_sub_close(s);
    return NULL;
  }
  int rcvbuf = 4 * 1024 * 1024, maxsize = -1;
  nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVBUF, &rcvbuf, sizeof rcvbuf);
  nn_setsockopt(s->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof maxsize);
  char topic[512];
  if (room_id)
    snprintf(topic, sizeof topic, "smrt.chat.v1/%s/%s/", smrtchat_client_tenant(c), room_id);
  else
    snprintf(topic, sizeof topic, "smrt.chat.v1/%s/", smrtchat_client_tenant(c));
  if (nn_setsockopt(s->sock, NN_SUB, NN_SUB_SUBSCRIBE, topic, strlen(topic)) < 0 ||
      nn_connect(s->sock, endpoint) < 0) {
    sc_fail(err, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "subscribe %s: %s", endpoint,
            nn_strerror(nn_errno()));
    smrtchat_sub_close(s);
    return NULL;
  }
  return s;
}

smrtchat_sub *smrtchat_subscribe_room(smrtchat_client *c, const char *events_endpoint,
                                      const char *room_id, int64_t after_seq, smrtchat_status *err) {
  if (!room_id || !*room_id) {
    sc_fail(err, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "room_id required");
    return NULL;
  }
  smrtchat_sub *s = sub_open(c, events_endpoint, room_id, err);
  if (!s) return NULL;
  if (after_seq < 0) {
    /* From now: position at the log's head. */
    Smrt__Chat__V1__ListRoomEventsRequest req = SMRT__CHAT__V1__LIST_ROOM_EVENTS_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    req.room_id = s->room_id;
    req.after_seq = 0;
    req.limit = 1;
    if (smrtchat_call(c, "ListRoomEvents", &req.base, NULL, &out, err) != SMRTCHAT_OK) {
      smrtchat_sub_close(s);
      return NULL;
    }
    s->last_seq = ((Smrt__Chat__V1__ListRoomEventsResponse *)out)->head_seq;
    protobuf_c_message_free_unpacked(out, NULL);
  } else {
    s->last_seq = after_seq;
  }
  if (catch_up(s, err) != SMRTCHAT_OK) {
    smrtchat_sub_close(s);
    return NULL;
  }
  s->next_poll_at = mono_ms() + s->poll_ms;
  return s;
}

smrtchat_sub *smrtchat_subscribe_tenant(smrtchat_client *c, const char *events_endpoint,
                                        int64_t after_event_id, smrtchat_status *err) {
  smrtchat_sub *s = sub_open(c, events_endpoint, NULL, err);
  if (!s) return NULL;
  if (after_event_id < 0) {
    Smrt__Chat__V1__ListTenantEventsRequest req = SMRT__CHAT__V1__LIST_TENANT_EVENTS_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    req.after_event_id = 0;
    req.limit = 1;
    if (smrtchat_call(c, "ListTenantEvents", &req.base, NULL, &out, err) != SMRTCHAT_OK) {
      smrtchat_sub_close(s);
      return NULL;
    }
    s->cursor = ((Smrt__Chat__V1__ListTenantEventsResponse *)out)->head_event_id;
    protobuf_c_message_free_unpacked(out, NULL);
  } else {
    s->cursor = after_event_id;
  }
  if (catch_up(s, err) != SMRTCHAT_OK) {
    smrtchat_sub_close(s);
    return NULL;
  }
  s->next_poll_at = mono_ms() + s->poll_ms;
  return s;
}

void smrtchat_sub_set_poll_interval(smrtchat_sub *s, int ms) {
  s->poll_ms = ms < 0 ? 0 : ms;
  s->next_poll_at = mono_ms() + s->poll_ms;
}

void smrtchat_sub_stats_get(const smrtchat_sub *s, smrtchat_sub_stats *out) { *out = s->stats; }

int smrtchat_next_event(smrtchat_sub *s, int timeout_ms, Smrt__Chat__V1__RoomEvent **out,
                        smrtchat_status *st) {
  *out = NULL;
  int64_t end = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
  for (;;) {
    if (s->qhead < s->qlen) {
      *out = s->q[s->qhead++];
      if (st) {
        smrtchat_status_clear(st);
      }
      return SMRTCHAT_OK;
    }
    int64_t now = mono_ms();
    if (s->poll_ms > 0 && now >= s->next_poll_at) {
      int code = catch_up(s, st);
      s->next_poll_at = mono_ms() + s->poll_ms;
      if (code != SMRTCHAT_OK) return code;
      if (s->qhead < s->qlen) continue;
    }
    if (now >= end)
      return sc_fail(st, SMRTCHAT_DEADLINE_EXCEEDED, "CLIENT_TIMEOUT", "no event within %d ms",
                     timeout_ms);
    int64_t wait = end - now;
    if (s->poll_ms > 0 && s->next_poll_at - now < wait) wait = s->next_poll_at - now;
    if (wait < 0) wait = 0;
    if (wait > 1000000) wait = 1000000;
    struct nn_pollfd pfd = {s->sock, NN_POLLIN, 0};
    int pr = nn_poll(&pfd, 1, (int)wait);
    if (pr < 0) {
      if (nn_errno() == EINTR) continue;
      return sc_fail(st, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_poll: %s",
                     nn_strerror(nn_errno()));
    }
    if (pr == 0) continue;
    /* Drain what is there. */
    for (;;) {
      void *buf = NULL;
      int n = nn_recv(s->sock, &buf, NN_MSG, NN_DONTWAIT);
      if (n < 0) break;
      const char *nul = memchr(buf, '\0', (size_t)n);
      Smrt__Chat__V1__RoomEvent *ev = NULL;
      if (nul) {
        size_t off = (size_t)(nul - (const char *)buf) + 1;
        ev = smrt__chat__v1__room_event__unpack(NULL, (size_t)n - off, (const uint8_t *)buf + off);
      }
      nn_freemsg(buf);
      if (!ev) continue; /* not ours / malformed: the log stays the truth */
      s->next_poll_at = mono_ms() + s->poll_ms;
      if (offer(s, ev, 0) < 0) {
        s->stats.gaps++;
        int code = catch_up(s, st);
        if (code != SMRTCHAT_OK) return code;
      }
    }
  }
}

void smrtchat_sub_close(smrtchat_sub *s) {
  if (!s) return;
  if (s->sock >= 0) nn_close(s->sock);
  for (size_t i = s->qhead; i < s->qlen; i++) smrt__chat__v1__room_event__free_unpacked(s->q[i], NULL);
  free(s->q);
  for (size_t b = 0; b < NBUCKETS; b++) {
    room_pos *r = s->buckets[b];
    while (r) {
      room_pos *next = r->next;
      free(r->room_id);
      free(r);
      r = next;
    }
  }
  free(s->room_id);
  free(s);
}
