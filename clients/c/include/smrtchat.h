/*
 * libsmrtchat — C client of the SmrtChat service (smrt-chatd).
 *
 * Calls are protobuf messages inside an RpcRequest envelope over a nanomsg REQ socket, signed with
 * HMAC-SHA256 (SPEC §7). Events arrive on a nanomsg SUB socket as `topic '\0' RoomEvent`; the
 * subscription API re-orders nothing but fills every gap from the durable log (ListRoomEvents /
 * ListTenantEvents), so the caller sees each room's events exactly once, seq 1, 2, 3, ...
 *
 * Threading: a client (one REQ socket) and a subscription are used by one thread at a time.
 * Use one client per thread for concurrent calls (they are cheap).
 *
 * Message types are the protoc-c generated ones (gen/smrt/chat/v1/ *.pb-c.h, included below).
 * proto3 `optional` fields are generated as one-member oneofs named `_<field>`
 * (see scripts/gen-proto.sh): set `req._topic_case = SMRT__CHAT__V1__UPDATE_ROOM_REQUEST___TOPIC_TOPIC`
 * together with `req.topic`.
 */
#ifndef SMRTCHAT_H
#define SMRTCHAT_H

#include <stddef.h>
#include <stdint.h>

#include "smrt/chat/v1/rpc.pb-c.h"
#include "smrt/chat/v1/entities.pb-c.h"
#include "smrt/chat/v1/events.pb-c.h"
#include "smrt/chat/v1/chat.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SMRTCHAT_VERSION "0.1.0"
#define SMRTCHAT_METHOD_PREFIX "/smrt.chat.v1.ChatService/"
#define SMRTCHAT_HMAC_LEN 32

/* gRPC canonical codes (same numbers as Smrt__Chat__V1__Code). */
enum {
  SMRTCHAT_OK = 0,
  SMRTCHAT_CANCELLED = 1,
  SMRTCHAT_UNKNOWN = 2,
  SMRTCHAT_INVALID_ARGUMENT = 3,
  SMRTCHAT_DEADLINE_EXCEEDED = 4,
  SMRTCHAT_NOT_FOUND = 5,
  SMRTCHAT_ALREADY_EXISTS = 6,
  SMRTCHAT_PERMISSION_DENIED = 7,
  SMRTCHAT_RESOURCE_EXHAUSTED = 8,
  SMRTCHAT_FAILED_PRECONDITION = 9,
  SMRTCHAT_ABORTED = 10,
  SMRTCHAT_OUT_OF_RANGE = 11,
  SMRTCHAT_UNIMPLEMENTED = 12,
  SMRTCHAT_INTERNAL = 13,
  SMRTCHAT_UNAVAILABLE = 14,
  SMRTCHAT_DATA_LOSS = 15,
  SMRTCHAT_UNAUTHENTICATED = 16
};

/*
 * Outcome of a call. Server failures carry the server's code, message, reason and metadata.
 * Client-side failures use the same codes with these reasons:
 *   CLIENT_TIMEOUT (DEADLINE_EXCEEDED: no reply within recv_timeout_ms),
 *   CLIENT_TRANSPORT (UNAVAILABLE: a nanomsg error; message holds nn_strerror),
 *   CLIENT_ENCODING (INTERNAL: a reply that does not decode),
 *   CLIENT_USAGE (INVALID_ARGUMENT: unknown method name, request of the wrong type, ...).
 * All strings are owned by the status; release them with smrtchat_status_clear().
 */
typedef struct smrtchat_status {
  int code;
  char *message;
  char *reason;
  size_t n_metadata;
  char **metadata_keys;
  char **metadata_values;
} smrtchat_status;

#define SMRTCHAT_STATUS_INIT {0, NULL, NULL, 0, NULL, NULL}

void smrtchat_status_clear(smrtchat_status *st);
/* Value of a metadata key, or NULL. */
const char *smrtchat_status_meta(const smrtchat_status *st, const char *key);
/* Name of a code ("OK", "NOT_FOUND", ...). */
const char *smrtchat_code_name(int code);

/* Connection options. Strings are copied by smrtchat_client_new. */
typedef struct smrtchat_options {
  const char *rpc_endpoints;    /* one or several endpoints, comma-separated (REQ load-balances) */
  const char *key_id;           /* service credential; NULL = unauthenticated (Health/ServerInfo) */
  const char *secret_hex;       /* the key's secret as printed by `smrt-chatd keys create` (hex) */
  const char *tenant_id;        /* default CallContext.tenant_id */
  const char *actor_profile_id; /* default CallContext.actor_profile_id */
  int send_timeout_ms;          /* NN_SNDTIMEO; 0 = 5000 */
  int recv_timeout_ms;          /* how long a call waits for its reply; 0 = 10000 */
  int resend_ivl_ms;            /* NN_REQ_RESEND_IVL (identical frame resent); 0 = 2000 */
  int64_t deadline_ms;          /* CallContext.deadline_unix_ms = now + this; 0 = no deadline */
} smrtchat_options;

/* Per-call overrides (any field NULL/0 = the client's default). */
typedef struct smrtchat_call_opts {
  const char *tenant_id;
  const char *actor_profile_id;
  const char *request_id;  /* default: 32 random hex characters */
  int64_t deadline_ms;     /* relative; overrides options.deadline_ms when > 0 */
  int64_t timestamp_unix_ms; /* signing time; 0 = now (tests use it for stale timestamps) */
  int unsigned_call;       /* 1 = send without Auth even when the client has a key */
} smrtchat_call_opts;

typedef struct smrtchat_client smrtchat_client;

/* Connects a REQ socket to every endpoint. Returns NULL and fills *err (if given) on failure. */
smrtchat_client *smrtchat_client_new(const smrtchat_options *opts, smrtchat_status *err);
void smrtchat_client_free(smrtchat_client *c);
/* Change the default actor (copied). */
int smrtchat_client_set_actor(smrtchat_client *c, const char *actor_profile_id);
const char *smrtchat_client_tenant(const smrtchat_client *c);
const char *smrtchat_client_actor(const smrtchat_client *c);

/*
 * Call a method. `method` is the short name ("SendMessage") or the full one
 * ("/smrt.chat.v1.ChatService/SendMessage"). `req` must be the method's request message.
 * `resp_desc` may be NULL: the response type is then taken from the ChatService descriptor.
 * On OK, *out_resp (if out_resp is given) receives the decoded response, to be released with
 * protobuf_c_message_free_unpacked(*out_resp, NULL). `out_status` may be NULL.
 * Returns the status code (SMRTCHAT_OK = 0).
 */
int smrtchat_call(smrtchat_client *c, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **out_resp,
                  smrtchat_status *out_status);
int smrtchat_call_ex(smrtchat_client *c, const smrtchat_call_opts *opts, const char *method,
                     const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                     ProtobufCMessage **out_resp, smrtchat_status *out_status);
/* Lower level: send an already serialized payload; *out_payload is malloc'ed (free()). */
int smrtchat_call_raw(smrtchat_client *c, const smrtchat_call_opts *opts, const char *method,
                      const uint8_t *payload, size_t payload_len, uint8_t **out_payload,
                      size_t *out_payload_len, smrtchat_status *out_status);

/* The method descriptor of ChatService for a short or full method name, or NULL. */
const ProtobufCMethodDescriptor *smrtchat_method(const char *method);

/* --- Signing and ids (SPEC §7.3, §9) --- */

/* The canonical string (malloc'ed, NUL-terminated). */
char *smrtchat_canonical(const char *method, const char *tenant_id, const char *actor_profile_id,
                         const char *request_id, int64_t timestamp_unix_ms, const uint8_t *payload,
                         size_t payload_len);
/* HMAC-SHA256(secret, canonical) into out[32]. Returns 0 on success. */
int smrtchat_sign(const uint8_t *secret, size_t secret_len, const char *method,
                  const char *tenant_id, const char *actor_profile_id, const char *request_id,
                  int64_t timestamp_unix_ms, const uint8_t *payload, size_t payload_len,
                  uint8_t out[SMRTCHAT_HMAC_LEN]);
/* Hex helpers. hex_decode returns the byte count or -1; hex_encode writes 2n+1 chars. */
long smrtchat_hex_decode(const char *hex, uint8_t *out, size_t out_cap);
void smrtchat_hex_encode(const uint8_t *in, size_t n, char *out);
/* A fresh request id: 32 lowercase hex characters, 12 of Unix milliseconds then 20 random, so ids sort
 * by time (out must hold 33 bytes). */
int smrtchat_request_id(char out[33]);
/* DM room id of §9.1 (out must hold 37 bytes). */
int smrtchat_dm_room_id(const char *tenant_id, const char *profile_a, const char *profile_b,
                        char out[37]);
/* Message id for a client_request_id, §9.2 (thread_id NULL or "" = null). */
int smrtchat_client_request_message_id(const char *tenant_id, const char *room_id,
                                       const char *thread_id, const char *actor_profile_id,
                                       const char *client_request_id, char out[37]);
/* Wall clock in Unix milliseconds. */
int64_t smrtchat_now_ms(void);

/* --- Events (SPEC §6) --- */

typedef struct smrtchat_sub smrtchat_sub;

/* Start positions: SMRTCHAT_FROM_NOW = only events committed after the subscription started. */
#define SMRTCHAT_FROM_NOW (-1)

/*
 * Subscribe to all rooms of the client's tenant (topic prefix "smrt.chat.v1/<tenant>/").
 * Catch-up uses ListTenantEvents, so the key needs the `events` scope. Events with
 * event_id > after_event_id are delivered (after_event_id 0 = the whole retained log).
 * The subscription uses `c` for its catch-up calls; keep c alive while the subscription lives.
 */
smrtchat_sub *smrtchat_subscribe_tenant(smrtchat_client *c, const char *events_endpoint,
                                        int64_t after_event_id, smrtchat_status *err);
/*
 * Subscribe to one room (topic "smrt.chat.v1/<tenant>/<room>/"). Catch-up uses ListRoomEvents
 * (a member with `chat`, or an `events` key). Events with seq > after_seq are delivered.
 */
smrtchat_sub *smrtchat_subscribe_room(smrtchat_client *c, const char *events_endpoint,
                                      const char *room_id, int64_t after_seq, smrtchat_status *err);
/*
 * Next event in order, waiting up to timeout_ms (-1 = forever). Returns SMRTCHAT_OK with *out set
 * (free with smrt__chat__v1__room_event__free_unpacked(*out, NULL)), SMRTCHAT_DEADLINE_EXCEEDED
 * with *out NULL when nothing arrived in time, or another code when catch-up failed (for example
 * OUT_OF_RANGE RESYNC_REQUIRED: the consumer must reload its state).
 * While idle the subscription polls the log every poll interval, so a dropped last event is
 * still delivered.
 */
int smrtchat_next_event(smrtchat_sub *s, int timeout_ms, Smrt__Chat__V1__RoomEvent **out,
                        smrtchat_status *st);
/* Idle poll interval in ms (default 1000; 0 = never poll, rely on live events and gaps). */
void smrtchat_sub_set_poll_interval(smrtchat_sub *s, int ms);
/* Counters: events received live, taken from catch-up, live duplicates dropped, gaps detected. */
typedef struct smrtchat_sub_stats {
  uint64_t live, caught_up, duplicates, gaps, catchup_calls;
} smrtchat_sub_stats;
void smrtchat_sub_stats_get(const smrtchat_sub *s, smrtchat_sub_stats *out);
void smrtchat_sub_close(smrtchat_sub *s);

/* "MESSAGE_CREATED" for EVENT_KIND_MESSAGE_CREATED etc. */
const char *smrtchat_event_kind_name(int kind);

/* --- Streamed agent replies and tool approvals (SPEC §13) ---
 *
 * Typed forms of smrtchat_call_ex for the §13 methods: `opts` may be NULL (the client's tenant and
 * actor); the return value and `st` are those of smrtchat_call_ex (SMRTCHAT_OK = 0, otherwise the
 * server's code and reason, e.g. ABORTED DELTA_CONFLICT, FAILED_PRECONDITION DELTA_OUT_OF_ORDER with
 * metadata expected_index, FAILED_PRECONDITION TOOL_CALL_ALREADY_CLAIMED). On OK, *out (if out is
 * given) receives the response: release it with protobuf_c_message_free_unpacked(&(*out)->base, NULL).
 * Scopes: Begin/Append/Finish and ClaimToolCall need an `agent` key; StopReply, DecideToolCall and
 * ListPendingToolCalls act as the session's participant (`chat`); ListReplyDeltas accepts `chat`
 * (room member), `events` or `agent`.
 */
int smrtchat_begin_agent_reply(smrtchat_client *c, const smrtchat_call_opts *opts,
                               const Smrt__Chat__V1__BeginAgentReplyRequest *req,
                               Smrt__Chat__V1__BeginAgentReplyResponse **out, smrtchat_status *st);
int smrtchat_append_reply_delta(smrtchat_client *c, const smrtchat_call_opts *opts,
                                const Smrt__Chat__V1__AppendReplyDeltaRequest *req,
                                Smrt__Chat__V1__AppendReplyDeltaResponse **out, smrtchat_status *st);
int smrtchat_finish_agent_reply(smrtchat_client *c, const smrtchat_call_opts *opts,
                                const Smrt__Chat__V1__FinishAgentReplyRequest *req,
                                Smrt__Chat__V1__FinishAgentReplyResponse **out, smrtchat_status *st);
int smrtchat_stop_reply(smrtchat_client *c, const smrtchat_call_opts *opts,
                        const Smrt__Chat__V1__StopReplyRequest *req,
                        Smrt__Chat__V1__StopReplyResponse **out, smrtchat_status *st);
int smrtchat_list_reply_deltas(smrtchat_client *c, const smrtchat_call_opts *opts,
                               const Smrt__Chat__V1__ListReplyDeltasRequest *req,
                               Smrt__Chat__V1__ListReplyDeltasResponse **out, smrtchat_status *st);
int smrtchat_decide_tool_call(smrtchat_client *c, const smrtchat_call_opts *opts,
                              const Smrt__Chat__V1__DecideToolCallRequest *req,
                              Smrt__Chat__V1__DecideToolCallResponse **out, smrtchat_status *st);
int smrtchat_claim_tool_call(smrtchat_client *c, const smrtchat_call_opts *opts,
                             const Smrt__Chat__V1__ClaimToolCallRequest *req,
                             Smrt__Chat__V1__ClaimToolCallResponse **out, smrtchat_status *st);
int smrtchat_list_pending_tool_calls(smrtchat_client *c, const smrtchat_call_opts *opts,
                                     const Smrt__Chat__V1__ListPendingToolCallsRequest *req,
                                     Smrt__Chat__V1__ListPendingToolCallsResponse **out,
                                     smrtchat_status *st);

/* "COMPLETED" for STREAM_STATE_COMPLETED etc. */
const char *smrtchat_stream_state_name(int state);

/*
 * Resumable reader of one streamed reply: yields its deltas in index order from `from_index`,
 * each exactly once, until the reply is finished and every delta has been yielded.
 *   1. The SUB socket is subscribed to the reply's stream topic
 *      "smrt.chat.v1.stream/<tenant>/<room>/<message>/" and to the room's event topic (for
 *      MESSAGE_STREAM_FINISHED of this message) before anything is read;
 *   2. then the stored deltas are read with ListReplyDeltas from from_index;
 *   3. live deltas follow; an index already yielded is dropped, an index beyond the next one is a
 *      gap filled from ListReplyDeltas (a live delta is stored before it is published);
 *   4. the reply ends when it is finished (the event, or a ListReplyDeltas page whose stream_state is
 *      not STREAMING) and every index below the final delta_count has been yielded; when no live
 *      delta arrives for the poll interval (default 1000 ms) ListReplyDeltas is polled;
 *   5. when the stored deltas were dropped (OUT_OF_RANGE RESYNC_REQUIRED) the final content is read
 *      with GetMessage and its part after what was already yielded is yielded as one last piece
 *      (index = the first index it covers, content_length = the final length). With from_index > 0
 *      the reader needs delta from_index-1 to know where the content stood; if that delta is gone
 *      too, open/next return OUT_OF_RANGE RESYNC_REQUIRED and the caller reloads with GetMessage.
 * The concatenated texts equal the final GetMessage content (from from_index's offset on).
 *
 * `tenant_id` NULL = the client's tenant; `room_id` is the message's room (the session room).
 * The reader uses `c` for its calls (as c's default actor, or an events / agent key); keep c alive
 * while the reader lives. One thread at a time. Returns NULL and fills *err on failure (a failing
 * first ListReplyDeltas, e.g. NOT_FOUND, is such a failure).
 */
typedef struct smrtchat_reply_stream smrtchat_reply_stream;

/* Not a gRPC code: smrtchat_reply_stream_next's "the reply is finished and fully yielded". */
#define SMRTCHAT_FINISHED 100

smrtchat_reply_stream *smrtchat_reply_stream_open(smrtchat_client *c, const char *events_endpoint,
                                                  const char *tenant_id, const char *room_id,
                                                  const char *message_id, int64_t from_index,
                                                  smrtchat_status *err);
/*
 * Next delta, waiting up to timeout_ms (-1 = forever). Returns
 *   SMRTCHAT_OK with *out set (free with smrt__chat__v1__reply_delta__free_unpacked(*out, NULL)),
 *   SMRTCHAT_FINISHED with *out NULL once the finished reply has been fully yielded (again on every
 *     later call; st->reason "STREAM_FINISHED"; smrtchat_reply_stream_info_get tells the final state),
 *   SMRTCHAT_DEADLINE_EXCEEDED (CLIENT_TIMEOUT) with *out NULL when nothing came in time,
 *   or another code when a ListReplyDeltas / GetMessage call failed (the reader stays usable).
 */
int smrtchat_reply_stream_next(smrtchat_reply_stream *s, int timeout_ms,
                               Smrt__Chat__V1__ReplyDelta **out, smrtchat_status *st);
/* Idle poll interval in ms (default 1000; 0 = never poll: rely on live deltas, gaps and the event). */
void smrtchat_reply_stream_set_poll_interval(smrtchat_reply_stream *s, int ms);
typedef struct smrtchat_reply_stream_info {
  int finished;             /* the reply is finished (its final delta_count is known) */
  int stream_state;         /* last known Smrt__Chat__V1__StreamState */
  int64_t delta_count;      /* last known delta count (final once finished) */
  int64_t next_index;       /* the next index to yield */
  int64_t content_length;   /* UTF-8 byte length of the content up to next_index (-1 = unknown) */
  uint64_t live;            /* deltas yielded as they arrived on the stream topic */
  uint64_t listed;          /* deltas yielded from ListReplyDeltas */
  uint64_t duplicates;      /* live deltas dropped: already yielded */
  uint64_t gaps;            /* live deltas ahead of the next index (a ListReplyDeltas fill followed) */
  uint64_t list_calls;      /* ListReplyDeltas calls */
  uint64_t length_mismatches; /* deltas whose content_length disagreed with the bytes yielded */
  int resynced;             /* the end came from GetMessage after RESYNC_REQUIRED */
  int finished_event;       /* MESSAGE_STREAM_FINISHED of this message arrived live */
} smrtchat_reply_stream_info;
void smrtchat_reply_stream_info_get(const smrtchat_reply_stream *s, smrtchat_reply_stream_info *out);
void smrtchat_reply_stream_close(smrtchat_reply_stream *s);

#ifdef __cplusplus
}
#endif
#endif
