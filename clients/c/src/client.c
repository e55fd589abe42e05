/* libsmrtchat: connection, envelope, signed calls. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "smrtchat.h"
#include "internal.h"

struct smrtchat_client {
  int sock;
  char *key_id;
  uint8_t *secret;
  size_t secret_len;
  char *tenant_id;
  char *actor_profile_id;
  int recv_timeout_ms;
  int64_t deadline_ms;
};

/* ---- small helpers ---- */

char *sc_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void sc_buf_put(sc_buf *b, const void *p, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->failed = 1;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void sc_buf_putc(sc_buf *b, char ch) { sc_buf_put(b, &ch, 1); }
void sc_buf_puts(sc_buf *b, const char *s) { sc_buf_put(b, s, strlen(s)); }

void smrtchat_status_clear(smrtchat_status *st) {
  if (!st) return;
  free(st->message);
  free(st->reason);
  for (size_t i = 0; i < st->n_metadata; i++) {
    free(st->metadata_keys[i]);
    free(st->metadata_values[i]);
  }
  free(st->metadata_keys);
  free(st->metadata_values);
  memset(st, 0, sizeof *st);
}

const char *smrtchat_status_meta(const smrtchat_status *st, const char *key) {
  if (!st) return NULL;
  for (size_t i = 0; i < st->n_metadata; i++)
    if (strcmp(st->metadata_keys[i], key) == 0) return st->metadata_values[i];
  return NULL;
}

int sc_fail(smrtchat_status *st, int code, const char *reason, const char *fmt, ...) {
  if (!st) return code;
  smrtchat_status_clear(st);
  st->code = code;
  st->reason = sc_strdup(reason);
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  st->message = sc_strdup(msg);
  return code;
}

static int set_ok(smrtchat_status *st) {
  if (st) {
    smrtchat_status_clear(st);
    st->message = sc_strdup("");
    st->reason = sc_strdup("");
  }
  return SMRTCHAT_OK;
}

static int copy_status(smrtchat_status *st, const Smrt__Chat__V1__Status *s) {
  int code = s ? (int)s->code : SMRTCHAT_OK;
  if (!st) return code;
  smrtchat_status_clear(st);
  st->code = code;
  st->message = sc_strdup(s && s->message ? s->message : "");
  st->reason = sc_strdup(s && s->reason ? s->reason : "");
  if (s && s->n_metadata) {
    st->metadata_keys = calloc(s->n_metadata, sizeof(char *));
    st->metadata_values = calloc(s->n_metadata, sizeof(char *));
    if (st->metadata_keys && st->metadata_values) {
      for (size_t i = 0; i < s->n_metadata; i++) {
        st->metadata_keys[i] = sc_strdup(s->metadata[i]->key ? s->metadata[i]->key : "");
        st->metadata_values[i] = sc_strdup(s->metadata[i]->value ? s->metadata[i]->value : "");
      }
      st->n_metadata = s->n_metadata;
    }
  }
  return code;
}

const char *smrtchat_code_name(int code) {
  static const char *names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code <= 16) return names[code];
  if (code == SMRTCHAT_FINISHED) return "FINISHED";
  return "CODE_?";
}

/* ---- client ---- */

smrtchat_client *smrtchat_client_new(const smrtchat_options *o, smrtchat_status *err) {
  if (!o || !o->rpc_endpoints || !*o->rpc_endpoints) {
    sc_fail(err, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "rpc_endpoints is required");
    return NULL;
  }
  smrtchat_client *c = calloc(1, sizeof *c);
  if (!c) {
    sc_fail(err, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
    return NULL;
  }
  c->sock = -1;
  c->tenant_id = sc_strdup(o->tenant_id ? o->tenant_id : "");
  c->actor_profile_id = sc_strdup(o->actor_profile_id ? o->actor_profile_id : "");
  c->recv_timeout_ms = o->recv_timeout_ms > 0 ? o->recv_timeout_ms : 10000;
  c->deadline_ms = o->deadline_ms;
  if (o->key_id && *o->key_id) {
    const char *hex = o->secret_hex ? o->secret_hex : "";
    size_t cap = strlen(hex) / 2 + 1;
    c->key_id = sc_strdup(o->key_id);
    c->secret = malloc(cap);
    long n = c->secret ? smrtchat_hex_decode(hex, c->secret, cap) : -1;
    if (n < 0) {
      sc_fail(err, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "secret is not hex");
      smrtchat_client_free(c);
      return NULL;
    }
    c->secret_len = (size_t)n;
  }
  c->sock = nn_socket(AF_SP, NN_REQ);
  if (c->sock < 0) {
    sc_fail(err, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_socket: %s", nn_strerror(nn_errno()));
    smrtchat_client_free(c);
    return NULL;
  }
  int sndtimeo = o->send_timeout_ms > 0 ? o->send_timeout_ms : 5000;
  int resend = o->resend_ivl_ms > 0 ? o->resend_ivl_ms : 2000;
  int maxsize = -1;
  nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
  nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &c->recv_timeout_ms, sizeof c->recv_timeout_ms);
  nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &maxsize, sizeof maxsize);
  nn_setsockopt(c->sock, NN_REQ, NN_REQ_RESEND_IVL, &resend, sizeof resend);
  char *eps = sc_strdup(o->rpc_endpoints);
  char *save = NULL;
  int connected = 0;
  for (char *ep = strtok_r(eps, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
    while (*ep == ' ') ep++;
    if (!*ep) continue;
    if (nn_connect(c->sock, ep) < 0) {
      sc_fail(err, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_connect(%s): %s", ep,
              nn_strerror(nn_errno()));
      free(eps);
      smrtchat_client_free(c);
      return NULL;
    }
    connected++;
  }
  free(eps);
  if (!connected) {
    sc_fail(err, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "no endpoint in rpc_endpoints");
    smrtchat_client_free(c);
    return NULL;
  }
  set_ok(err);
  return c;
}

void smrtchat_client_free(smrtchat_client *c) {
  if (!c) return;
  if (c->sock >= 0) nn_close(c->sock);
  free(c->key_id);
  if (c->secret) {
    memset(c->secret, 0, c->secret_len);
    free(c->secret);
  }
  free(c->tenant_id);
  free(c->actor_profile_id);
  free(c);
}

int smrtchat_client_set_actor(smrtchat_client *c, const char *actor) {
  char *d = sc_strdup(actor ? actor : "");
  if (!d) return -1;
  free(c->actor_profile_id);
  c->actor_profile_id = d;
  return 0;
}

const char *smrtchat_client_tenant(const smrtchat_client *c) { return c->tenant_id; }
const char *smrtchat_client_actor(const smrtchat_client *c) { return c->actor_profile_id; }

const ProtobufCMethodDescriptor *smrtchat_method(const char *method) {
  if (!method) return NULL;
  size_t plen = strlen(SMRTCHAT_METHOD_PREFIX);
  if (method[0] == '/') {
    if (strncmp(method, SMRTCHAT_METHOD_PREFIX, plen) != 0) return NULL;
    method += plen;
  }
  return protobuf_c_service_descriptor_get_method_by_name(
      &smrt__chat__v1__chat_service__descriptor, method);
}

int smrtchat_call_raw(smrtchat_client *c, const smrtchat_call_opts *opts, const char *method,
                      const uint8_t *payload, size_t payload_len, uint8_t **out_payload,
                      size_t *out_payload_len, smrtchat_status *st) {
  static const smrtchat_call_opts none = {0};
  if (!opts) opts = &none;
  if (out_payload) *out_payload = NULL;
  if (out_payload_len) *out_payload_len = 0;
  if (!c || !method) return sc_fail(st, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "no client or method");

  /* Full method name: short names get the ChatService prefix; full names are sent as given. */
  char full[256];
  if (method[0] == '/')
    snprintf(full, sizeof full, "%s", method);
  else
    snprintf(full, sizeof full, "%s%s", SMRTCHAT_METHOD_PREFIX, method);

  char fresh[33];
  const char *rid = opts->request_id;
  if (!rid) {
    if (smrtchat_request_id(fresh) != 0)
      return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "RAND_bytes failed");
    rid = fresh;
  }

  Smrt__Chat__V1__CallContext ctx = SMRT__CHAT__V1__CALL_CONTEXT__INIT;
  ctx.tenant_id = (char *)(opts->tenant_id ? opts->tenant_id : c->tenant_id);
  ctx.actor_profile_id = (char *)(opts->actor_profile_id ? opts->actor_profile_id : c->actor_profile_id);
  ctx.request_id = (char *)rid;
  int64_t deadline = opts->deadline_ms > 0 ? opts->deadline_ms : c->deadline_ms;
  ctx.deadline_unix_ms = deadline > 0 ? smrtchat_now_ms() + deadline : 0;

  Smrt__Chat__V1__RpcRequest req = SMRT__CHAT__V1__RPC_REQUEST__INIT;
  req.method = full;
  req.payload.data = (uint8_t *)payload;
  req.payload.len = payload_len;
  req.context = &ctx;

  Smrt__Chat__V1__Auth auth = SMRT__CHAT__V1__AUTH__INIT;
  uint8_t sig[SMRTCHAT_HMAC_LEN];
  if (c->key_id && !opts->unsigned_call) {
    auth.key_id = c->key_id;
    auth.timestamp_unix_ms = opts->timestamp_unix_ms ? opts->timestamp_unix_ms : smrtchat_now_ms();
    if (smrtchat_sign(c->secret, c->secret_len, full, ctx.tenant_id, ctx.actor_profile_id, rid,
                      auth.timestamp_unix_ms, payload, payload_len, sig) != 0)
      return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "signing failed");
    auth.signature.data = sig;
    auth.signature.len = sizeof sig;
    req.auth = &auth;
  }

  size_t frame_len = smrt__chat__v1__rpc_request__get_packed_size(&req);
  uint8_t *frame = malloc(frame_len ? frame_len : 1);
  if (!frame) return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
  smrt__chat__v1__rpc_request__pack(&req, frame);
  int rc = nn_send(c->sock, frame, frame_len, 0);
  free(frame);
  if (rc < 0) {
    int e = nn_errno();
    if (e == ETIMEDOUT || e == EAGAIN)
      return sc_fail(st, SMRTCHAT_DEADLINE_EXCEEDED, "CLIENT_TIMEOUT", "send timed out");
    return sc_fail(st, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_send: %s", nn_strerror(e));
  }
  void *buf = NULL;
  int n = nn_recv(c->sock, &buf, NN_MSG, 0);
  if (n < 0) {
    int e = nn_errno();
    if (e == ETIMEDOUT || e == EAGAIN)
      return sc_fail(st, SMRTCHAT_DEADLINE_EXCEEDED, "CLIENT_TIMEOUT",
                     "no reply to %s within %d ms", full, c->recv_timeout_ms);
    return sc_fail(st, SMRTCHAT_UNAVAILABLE, "CLIENT_TRANSPORT", "nn_recv: %s", nn_strerror(e));
  }
  Smrt__Chat__V1__RpcResponse *resp = smrt__chat__v1__rpc_response__unpack(NULL, (size_t)n, buf);
  nn_freemsg(buf);
  if (!resp) return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_ENCODING", "reply is not an RpcResponse");
  /* nanomsg's REQ socket already matches replies to requests; this is a second check. The server
     echoes an over-long (invalid) request id cut to 64 bytes, so compare at most that much then. */
  if (resp->request_id && *resp->request_id &&
      (strlen(rid) > 64 ? strncmp(resp->request_id, rid, 64) != 0 : strcmp(resp->request_id, rid) != 0)) {
    smrt__chat__v1__rpc_response__free_unpacked(resp, NULL);
    return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_ENCODING", "reply answers another request id");
  }
  int code = copy_status(st, resp->status);
  if (code == SMRTCHAT_OK && out_payload) {
    size_t len = resp->payload.len;
    *out_payload = malloc(len ? len : 1);
    if (!*out_payload) {
      smrt__chat__v1__rpc_response__free_unpacked(resp, NULL);
      return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
    }
    if (len) memcpy(*out_payload, resp->payload.data, len);
    if (out_payload_len) *out_payload_len = len;
  }
  smrt__chat__v1__rpc_response__free_unpacked(resp, NULL);
  return code;
}

int smrtchat_call_ex(smrtchat_client *c, const smrtchat_call_opts *opts, const char *method,
                     const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                     ProtobufCMessage **out_resp, smrtchat_status *st) {
  if (out_resp) *out_resp = NULL;
  const ProtobufCMethodDescriptor *md = smrtchat_method(method);
  if (!md) return sc_fail(st, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "unknown method %s", method ? method : "(null)");
  if (!req || req->descriptor != md->input)
    return sc_fail(st, SMRTCHAT_INVALID_ARGUMENT, "CLIENT_USAGE", "%s takes a %s", md->name,
                   md->input->name);
  if (!resp_desc) resp_desc = md->output;
  size_t len = protobuf_c_message_get_packed_size(req);
  uint8_t *payload = malloc(len ? len : 1);
  if (!payload) return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_USAGE", "out of memory");
  protobuf_c_message_pack(req, payload);
  uint8_t *out = NULL;
  size_t out_len = 0;
  int code = smrtchat_call_raw(c, opts, md->name, payload, len, &out, &out_len, st);
  free(payload);
  if (code != SMRTCHAT_OK) return code;
  if (out_resp) {
    *out_resp = protobuf_c_message_unpack(resp_desc, NULL, out_len, out);
    if (!*out_resp) {
      free(out);
      return sc_fail(st, SMRTCHAT_INTERNAL, "CLIENT_ENCODING", "reply payload is not a %s",
                     resp_desc->name);
    }
  }
  free(out);
  return SMRTCHAT_OK;
}

int smrtchat_call(smrtchat_client *c, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **out_resp,
                  smrtchat_status *st) {
  return smrtchat_call_ex(c, NULL, method, req, resp_desc, out_resp, st);
}

const char *smrtchat_event_kind_name(int kind) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&smrt__chat__v1__event_kind__descriptor, kind);
  if (!v) return "UNKNOWN";
  const char *name = v->name;
  return strncmp(name, "EVENT_KIND_", 11) == 0 ? name + 11 : name;
}
