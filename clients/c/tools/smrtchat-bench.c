/* smrtchat-bench: N concurrent clients (one thread and one REQ socket each) make M calls each and
 * one JSON line reports throughput and latency percentiles.
 *   --op ping    authenticated GetRoom of a room the bench creates (a cheap read)
 *   --op health  Health (no credentials)
 *   --op send    SendMessage into a room the bench creates */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smrtchat.h"
#include "common.h"

enum { OP_PING, OP_HEALTH, OP_SEND };

typedef struct worker {
  int index;
  int op;
  int calls;
  const tool_cfg *cfg;
  const char *room_id;
  int timeout_ms;
  pthread_barrier_t *barrier;
  int64_t *lat_ns;
  int ok, errors;
  char first_error[256];
} worker;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static smrtchat_client *connect_cfg(const tool_cfg *cfg, int timeout_ms, smrtchat_status *st) {
  smrtchat_options o = {0};
  o.rpc_endpoints = cfg->rpc;
  o.key_id = cfg->key_id;
  o.secret_hex = cfg->secret;
  o.tenant_id = cfg->tenant;
  o.actor_profile_id = cfg->actor;
  o.recv_timeout_ms = timeout_ms;
  return smrtchat_client_new(&o, st);
}

/* Creates a private room owned by the actor; 0 and its id in `room_id` on success. */
static int create_room(const tool_cfg *cfg, int timeout_ms, char *room_id, size_t size) {
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_client *c = connect_cfg(cfg, timeout_ms, &st);
  if (!c) {
    fprintf(stderr, "smrtchat-bench: %s\n", st.message);
    smrtchat_status_clear(&st);
    return 1;
  }
  Smrt__Chat__V1__CreateRoomRequest req = SMRT__CHAT__V1__CREATE_ROOM_REQUEST__INIT;
  char name[64], rid[33];
  smrtchat_request_id(rid);
  snprintf(name, sizeof name, "bench-%.8s", rid);
  req.name = name;
  req.room_type = SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_PRIVATE;
  ProtobufCMessage *out = NULL;
  int code = smrtchat_call(c, "CreateRoom", &req.base, NULL, &out, &st);
  if (code == SMRTCHAT_OK) {
    snprintf(room_id, size, "%s", ((Smrt__Chat__V1__CreateRoomResponse *)out)->room->id);
    protobuf_c_message_free_unpacked(out, NULL);
  } else {
    fprintf(stderr, "smrtchat-bench: CreateRoom: %s %s: %s\n", smrtchat_code_name(code), st.reason, st.message);
  }
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return code != SMRTCHAT_OK;
}

static void *run(void *arg) {
  worker *w = arg;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_client *c = connect_cfg(w->cfg, w->timeout_ms, &st);
  if (c) {
    /* One untimed Health call first: nanomsg connects in the background (retrying every 100 ms when 64 clients
     * connect at once), and that is not a call's cost. The bare echo client waits for its connection too. */
    Smrt__Chat__V1__HealthRequest req = SMRT__CHAT__V1__HEALTH_REQUEST__INIT;
    smrtchat_call_opts co = {0};
    co.unsigned_call = 1;
    ProtobufCMessage *out = NULL;
    if (smrtchat_call_ex(c, &co, "Health", &req.base, NULL, &out, &st) == SMRTCHAT_OK && out)
      protobuf_c_message_free_unpacked(out, NULL);
    smrtchat_status_clear(&st);
  }
  pthread_barrier_wait(w->barrier);
  if (!c) {
    w->errors = w->calls;
    snprintf(w->first_error, sizeof w->first_error, "%s", st.message ? st.message : "connect");
    smrtchat_status_clear(&st);
    return NULL;
  }
  char content[64];
  for (int i = 0; i < w->calls; i++) {
    ProtobufCMessage *out = NULL;
    int code;
    int64_t t0 = mono_ns();
    if (w->op == OP_HEALTH) {
      Smrt__Chat__V1__HealthRequest req = SMRT__CHAT__V1__HEALTH_REQUEST__INIT;
      smrtchat_call_opts co = {0};
      co.unsigned_call = 1;
      code = smrtchat_call_ex(c, &co, "Health", &req.base, NULL, &out, &st);
    } else if (w->op == OP_PING) {
      Smrt__Chat__V1__GetRoomRequest req = SMRT__CHAT__V1__GET_ROOM_REQUEST__INIT;
      req.room_id = (char *)w->room_id;
      code = smrtchat_call(c, "GetRoom", &req.base, NULL, &out, &st);
    } else {
      Smrt__Chat__V1__SendMessageRequest req = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
      snprintf(content, sizeof content, "bench %d/%d", w->index, i);
      req.room_id = (char *)w->room_id;
      req.content = content;
      code = smrtchat_call(c, "SendMessage", &req.base, NULL, &out, &st);
    }
    w->lat_ns[i] = mono_ns() - t0;
    if (code == SMRTCHAT_OK) {
      w->ok++;
    } else {
      if (!w->errors)
        snprintf(w->first_error, sizeof w->first_error, "%s %s: %s", smrtchat_code_name(code),
                 st.reason ? st.reason : "", st.message ? st.message : "");
      w->errors++;
    }
    if (out) protobuf_c_message_free_unpacked(out, NULL);
  }
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return NULL;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p) {
  if (!n) return 0;
  size_t idx = (size_t)(p * (double)n + 0.999999);
  if (idx < 1) idx = 1;
  if (idx > n) idx = n;
  return (double)v[idx - 1] / 1000.0;
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

static void usage(void) {
  fprintf(stderr,
          "usage: smrtchat-bench --clients N --calls M --op ping|health|send [options]\n"
          "  --clients N      concurrent connections, one thread each (default 4)\n"
          "  --calls M        calls per client (default 200)\n"
          "  --op OP          ping = authenticated GetRoom; health = Health; send = SendMessage\n"
          "  --room ID        use this room instead of creating one (ping/send)\n"
          "  --rooms K        create K rooms; client i uses room i %% K (default 1)\n"
          "  --timeout-ms MS  per-call reply timeout (default 10000)\n" TOOL_COMMON_USAGE);
}

int main(int argc, char **argv) {
  tool_cfg cfg;
  tool_cfg_init(&cfg);
  const char *clients_s = "4", *calls_s = "200", *op_s = "ping", *room = NULL, *timeout_s = "10000", *rooms_s = "1";
  for (int i = 1; i < argc; i++) {
    if (tool_common_flag(argc, argv, &i, &cfg) || tool_flag(argc, argv, &i, "--clients", &clients_s) ||
        tool_flag(argc, argv, &i, "--calls", &calls_s) || tool_flag(argc, argv, &i, "--op", &op_s) ||
        tool_flag(argc, argv, &i, "--room", &room) || tool_flag(argc, argv, &i, "--rooms", &rooms_s) ||
        tool_flag(argc, argv, &i, "--timeout-ms", &timeout_s))
      continue;
    usage();
    return strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ? 0 : 2;
  }
  int nclients = atoi(clients_s), ncalls = atoi(calls_s), timeout_ms = atoi(timeout_s), nrooms = atoi(rooms_s);
  int op = strcmp(op_s, "ping") == 0 ? OP_PING : strcmp(op_s, "health") == 0 ? OP_HEALTH
           : strcmp(op_s, "send") == 0 ? OP_SEND : -1;
  if (op < 0 || nclients < 1 || ncalls < 1 || nrooms < 1) {
    usage();
    return 2;
  }
  if (op != OP_HEALTH && tool_require(&cfg, 0) != 0) return 2;

  /* Setup: the rooms to read or write (client i uses room i % rooms). */
  char(*room_ids)[128] = calloc((size_t)nrooms, sizeof *room_ids);
  if (!room_ids) return 1;
  if (op != OP_HEALTH) {
    for (int r = 0; r < nrooms; r++) {
      if (room) snprintf(room_ids[r], sizeof room_ids[r], "%s", room);
      else if (create_room(&cfg, timeout_ms, room_ids[r], sizeof room_ids[r]) != 0) return 1;
    }
  }

  worker *ws = calloc((size_t)nclients, sizeof *ws);
  pthread_t *th = calloc((size_t)nclients, sizeof *th);
  int64_t *lat = calloc((size_t)nclients * (size_t)ncalls, sizeof *lat);
  if (!ws || !th || !lat) return 1;
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, (unsigned)nclients + 1);
  for (int i = 0; i < nclients; i++) {
    ws[i].index = i;
    ws[i].op = op;
    ws[i].calls = ncalls;
    ws[i].cfg = &cfg;
    ws[i].room_id = room_ids[i % nrooms];
    ws[i].timeout_ms = timeout_ms;
    ws[i].barrier = &barrier;
    ws[i].lat_ns = lat + (size_t)i * (size_t)ncalls;
    pthread_create(&th[i], NULL, run, &ws[i]);
  }
  pthread_barrier_wait(&barrier);
  int64_t t0 = mono_ns();
  for (int i = 0; i < nclients; i++) pthread_join(th[i], NULL);
  double elapsed = (double)(mono_ns() - t0) / 1e9;
  pthread_barrier_destroy(&barrier);

  size_t total = (size_t)nclients * (size_t)ncalls;
  long ok = 0, errors = 0;
  const char *first_error = "";
  for (int i = 0; i < nclients; i++) {
    ok += ws[i].ok;
    errors += ws[i].errors;
    if (!*first_error && ws[i].errors) first_error = ws[i].first_error;
  }
  qsort(lat, total, sizeof *lat, cmp64);
  printf("{\"tool\":\"smrtchat-bench\",\"op\":\"%s\",\"clients\":%d,\"calls_per_client\":%d,"
         "\"total_calls\":%zu,\"ok\":%ld,\"errors\":%ld,\"elapsed_s\":%.3f,\"throughput_per_s\":%.1f,"
         "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"rpc\":",
         op_s, nclients, ncalls, total, ok, errors, elapsed, elapsed > 0 ? (double)ok / elapsed : 0.0,
         pct(lat, total, 0.50), pct(lat, total, 0.90), pct(lat, total, 0.99),
         total ? (double)lat[total - 1] / 1000.0 : 0.0);
  json_str(cfg.rpc);
  printf(",\"first_error\":");
  json_str(first_error);
  printf("}\n");
  free(ws);
  free(th);
  free(room_ids);
  free(lat);
  return errors ? 1 : 0;
}
