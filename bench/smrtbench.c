/* smrtbench: raw baselines (bare nanomsg REQ/REP echo with a raw AF_SP_RAW REP, bare PUB/SUB fan-out,
 * bare SQLite inserts into the service's schema) and the service-side measurements that
 * smrtchat-bench does not cover (event fan-out, ListRoomMessages, sends with concurrent readers,
 * history seeding). Every mode prints one JSON line. Built by bench/run.py with gcc against Debian's
 * libnanomsg, libsqlite3 and clients/c's libsmrtchat.
 *
 *   echo-server  --url U [--threads T]                        raw REP, T workers (runs until killed)
 *   echo-client  --url U --clients N --calls M --size S [--reply-size R]
 *   fanout-bare  --url U --subs K --rate R --count C [--size S]   publisher in a forked child
 *   fanout-svc   --events U --subs K --rate R --count C --room ID  (+ service flags) sender thread
 *   sqlite       --db PATH --sync normal|full --mode single|batch100 --rows N --room ID --tenant T [--coalesce 1]
 *   sqlite-send  --db PATH --count N --clients B [--sync normal|full] [--room ID] --tenant T [--coalesce 1]   the writer floor:
 *                the rows of N SendMessage calls (room counters, messages, room_events, replay_cache), B sends
 *                per IMMEDIATE transaction, the FTS queue indexed every 16 transactions; sends_per_s, us_per_send
 *   sqlite-read  --db PATH --room ID --key-id K [--actor A] --tenant T --count N   the ping-class read floor: the
 *                snapshot an authenticated GetRoom reads (key activity + request id record, room + participant,
 *                unread count) on a read-only connection to the server's database, one thread; p50_us, p99_us
 *   seed         --db PATH --tenant T --room ID --sender A --rows N     bare inserts, bumps last_event_seq
 *   list         --room ID --calls M [--limit 50]                   (+ service flags) newest page, 1 client
 *   mixed        --send-room ID --read-room ID --senders S --readers K --seconds D [--warmup 0.3] [--limit 50]
 *                (+ service flags) S SendMessage threads and K threads paging --read-room backward with the
 *                cursor (newest again after the last page), one client each; rates over D after the warm-up
 *   history      --room ID --readers K [--page 50] --seconds D [--warmup 0.3] (+ service flags) mixed with
 *                readers only: pages, pages_per_s, rows_per_s, cycles (last page reached), bad_pages, errors
 *   sizes        --room ID (+ service flags)    frame sizes of a GetRoom / SendMessage call
 *   rooms        --count N --clients T (+ service flags)   CreateRoom N times; prints the first id
 *   idle-subs    --events U --subs K --seconds D            K idle SUB sockets (RSS per subscriber)
 * Streamed agent replies (SPEC §13.1; the key needs the chat and agent scopes; the agent sessions are
 * CreateAgentSession'd by --actor for agent "bench" with a session_key per stream, so reruns reuse them):
 *   delta-tput   --clients N --calls M [--size 20]        (+ service flags) N threads, each its own session
 *                and streaming reply, M sequential AppendReplyDelta calls of --size bytes each
 *   delta-fanout --events U --subs K --rate R --count C   (+ service flags) K streams, each with its own SUB
 *                socket on its stream topic; C deltas per stream, R deltas/s in all (staggered), each
 *                delta's text carrying the sender's clock just before AppendReplyDelta
 *   delta-seed   --deltas N [--size 6]                    (+ service flags) one finished reply of N deltas
 *   delta-resume --events U --room ID --message ID --deltas N --calls K [--limit 2000] (+ service flags)
 *                K times: the C reply reader opened at index 0 and read to its end; K times: ListReplyDeltas
 *                paged (--limit per page) from 0 to the end
 * Data lifecycle (SPEC §14; the key needs the admin scope, and chat for erase's sends):
 *   export       --room ID                              (+ service flags) ExportRoom, then ExportPage to the
 *                end, timed together; counts lines, message lines and bytes; messages_per_s
 *   erase        --sender P --rows N --count M --clients T   (+ service flags) a new private room of --actor
 *                with P and "bench-other"; T threads send N messages as P interleaved with M as --actor /
 *                bench-other (untimed), then one EraseProfile(P), timed (erase_ms)
 * Service flags: --rpc U --key-id K --secret S --tenant T --actor A */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <sqlite3.h>

#include "smrtchat.h"
#include "wal_coalesce.h"

/* ---------- helpers ---------- */

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static void sleep_until_mono(int64_t t) {
  struct timespec ts = {t / 1000000000, t % 1000000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}
static void die(const char *what) {
  fprintf(stderr, "smrtbench: %s\n", what);
  exit(1);
}
static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}
static double pct_us(const int64_t *v, size_t n, double p) {
  if (!n) return 0;
  size_t idx = (size_t)(p * (double)n + 0.999999);
  if (idx < 1) idx = 1;
  if (idx > n) idx = n;
  return (double)v[idx - 1] / 1000.0;
}

typedef struct {
  const char *url, *events, *rpc, *key_id, *secret, *tenant, *actor, *db, *sync, *mode, *room, *sender,
      *send_room, *read_room, *message;
  int threads, clients, calls, size, reply_size, subs, count, rows, limit, senders, readers, deltas;
  double rate, seconds, warmup;
  int size_given;
  int coalesce;
} args_t;

static void parse(int argc, char **argv, args_t *a) {
  memset(a, 0, sizeof *a);
  a->threads = 4; a->clients = 1; a->calls = 1000; a->size = 256; a->reply_size = -1; a->subs = 1;
  a->count = 200; a->rate = 200; a->rows = 1000; a->limit = 50; a->senders = 8; a->readers = 4;
  a->seconds = 3; a->warmup = 0.3; a->deltas = 10000; a->sync = "normal"; a->mode = "single"; a->tenant = "bench"; a->sender = "alice";
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i];
    if (i + 1 >= argc) die("flag without value");
    const char *v = argv[++i];
#define S(name, field) if (!strcmp(k, name)) { a->field = v; continue; }
#define I(name, field) if (!strcmp(k, name)) { a->field = atoi(v); continue; }
#define D(name, field) if (!strcmp(k, name)) { a->field = atof(v); continue; }
    S("--url", url) S("--events", events) S("--rpc", rpc) S("--key-id", key_id) S("--secret", secret)
    S("--tenant", tenant) S("--actor", actor) S("--db", db) S("--sync", sync) S("--mode", mode)
    S("--room", room) S("--sender", sender) S("--send-room", send_room) S("--read-room", read_room)
    S("--message", message) I("--deltas", deltas)
    I("--threads", threads) I("--clients", clients) I("--calls", calls) I("--size", size)
    I("--reply-size", reply_size) I("--subs", subs) I("--count", count) I("--rows", rows)
    I("--limit", limit) I("--page", limit) I("--senders", senders) I("--readers", readers)
    D("--rate", rate) D("--seconds", seconds) D("--warmup", warmup) I("--coalesce", coalesce)
    fprintf(stderr, "smrtbench: unknown flag %s\n", k);
    exit(2);
  }
  if (a->reply_size < 0) a->reply_size = a->size;
  a->size_given = 0;
  for (int i = 2; i + 1 < argc; i += 2)
    if (!strcmp(argv[i], "--size")) a->size_given = 1;
}

/* A client of the service flags; `resend_ms` 0 keeps the library's resend interval. */
static smrtchat_client *svc_client_with(const args_t *a, int recv_timeout_ms, int resend_ms) {
  smrtchat_options o = {0};
  o.rpc_endpoints = a->rpc;
  o.key_id = a->key_id;
  o.secret_hex = a->secret;
  o.tenant_id = a->tenant;
  o.actor_profile_id = a->actor;
  o.recv_timeout_ms = recv_timeout_ms;
  o.resend_ivl_ms = resend_ms;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_client *c = smrtchat_client_new(&o, &st);
  if (!c) die(st.message ? st.message : "connect");
  return c;
}
static smrtchat_client *svc_client(const args_t *a) { return svc_client_with(a, 30000, 0); }

/* ---------- (a) bare echo: raw REP server with worker threads ---------- */

static int echo_sock;
static void *echo_worker(void *arg) {
  (void)arg;
  for (;;) {
    void *body = NULL, *control = NULL;
    struct nn_iovec iov = {&body, NN_MSG};
    struct nn_msghdr hdr;
    memset(&hdr, 0, sizeof hdr);
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = &control;
    hdr.msg_controllen = NN_MSG;
    int n = nn_recvmsg(echo_sock, &hdr, 0);
    if (n < 0) {
      if (nn_errno() == EINTR) continue;
      return NULL;
    }
    /* The first 4 bytes of a request are the reply size the client wants (the "same bytes" as the
     * service's response); the body is echoed and padded or cut to that size. */
    uint32_t want = (uint32_t)n;
    if (n >= 4) memcpy(&want, body, 4);
    void *reply = nn_allocmsg(want ? want : 1, 0);
    size_t keep = (size_t)n < want ? (size_t)n : want;
    memcpy(reply, body, keep);
    if (want > keep) memset((char *)reply + keep, 'x', want - keep);
    nn_freemsg(body);
    /* Send the reply back with the received control header (the raw REP backtrace). */
    struct nn_iovec oiov = {&reply, NN_MSG};
    struct nn_msghdr ohdr;
    memset(&ohdr, 0, sizeof ohdr);
    ohdr.msg_iov = &oiov;
    ohdr.msg_iovlen = 1;
    ohdr.msg_control = &control;
    ohdr.msg_controllen = NN_MSG;
    (void)want;
    if (nn_sendmsg(echo_sock, &ohdr, 0) < 0) {
      nn_freemsg(reply);
      nn_freemsg(control);
    }
  }
}
static int mode_echo_server(const args_t *a) {
  echo_sock = nn_socket(AF_SP_RAW, NN_REP);
  if (echo_sock < 0 || nn_bind(echo_sock, a->url) < 0) die(nn_strerror(nn_errno()));
  printf("echo serving %s\n", a->url);
  fflush(stdout);
  pthread_t th[256];
  int n = a->threads > 256 ? 256 : a->threads;
  for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, echo_worker, NULL);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  return 0;
}

typedef struct {
  const args_t *a;
  pthread_barrier_t *barrier;
  int64_t *lat;
  long ok;
} echo_w;
static void *echo_client_run(void *arg) {
  echo_w *w = arg;
  const args_t *a = w->a;
  int s = nn_socket(AF_SP, NN_REQ);
  int to = 10000;
  nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
  if (s < 0 || nn_connect(s, a->url) < 0) die("echo connect");
  char *buf = malloc((size_t)a->size + 4);
  memset(buf, 'r', (size_t)a->size + 4);
  uint32_t want = (uint32_t)a->reply_size;
  memcpy(buf, &want, 4);
  usleep(100000); /* let the connection come up before the clock starts */
  pthread_barrier_wait(w->barrier);
  for (int i = 0; i < a->calls; i++) {
    int64_t t0 = mono_ns();
    if (nn_send(s, buf, (size_t)a->size, 0) < 0) die("echo send");
    void *rep = NULL;
    int n = nn_recv(s, &rep, NN_MSG, 0);
    if (n < 0) die("echo recv");
    nn_freemsg(rep);
    w->lat[i] = mono_ns() - t0;
    w->ok++;
  }
  free(buf);
  nn_close(s);
  return NULL;
}
static int mode_echo_client(const args_t *a) {
  int n = a->clients;
  echo_w *ws = calloc((size_t)n, sizeof *ws);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  int64_t *lat = calloc((size_t)n * (size_t)a->calls, sizeof *lat);
  pthread_barrier_t b;
  pthread_barrier_init(&b, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    ws[i].a = a;
    ws[i].barrier = &b;
    ws[i].lat = lat + (size_t)i * (size_t)a->calls;
    pthread_create(&th[i], NULL, echo_client_run, &ws[i]);
  }
  pthread_barrier_wait(&b);
  int64_t t0 = mono_ns();
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  double el = (double)(mono_ns() - t0) / 1e9;
  size_t total = (size_t)n * (size_t)a->calls;
  qsort(lat, total, sizeof *lat, cmp64);
  printf("{\"op\":\"echo\",\"clients\":%d,\"calls\":%zu,\"size\":%d,\"reply_size\":%d,\"throughput_per_s\":%.1f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
         n, total, a->size, a->reply_size, (double)total / el, pct_us(lat, total, .5), pct_us(lat, total, .99),
         (double)lat[total - 1] / 1000.0);
  return 0;
}

/* ---------- (b) fan-out: K SUB sockets, latency from a T@<realtime ns> marker in the payload ---------- */

typedef struct {
  int *socks;
  int k;
  const char *prefix;
} subs_t;

static int sub_socket(const char *url, const char *prefix) {
  int fd = nn_socket(AF_SP, NN_SUB);
  int buf = 4 << 20;
  nn_setsockopt(fd, NN_SOL_SOCKET, NN_RCVBUF, &buf, sizeof buf);
  nn_setsockopt(fd, NN_SUB, NN_SUB_SUBSCRIBE, prefix, strlen(prefix));
  if (fd < 0 || nn_connect(fd, url) < 0) die("sub connect");
  return fd;
}

static void subs_open(subs_t *s, const char *url, int k, const char *prefix) {
  s->k = k;
  s->prefix = prefix;
  s->socks = calloc((size_t)k, sizeof(int));
  for (int i = 0; i < k; i++) s->socks[i] = sub_socket(url, prefix);
}

/* Receives until `expected` markers per subscriber arrived or deadline (monotonic ns) passes, or
 * `*stop_at` (set by the sender when done; 0 = still sending) + grace has passed. */
static void subs_collect(subs_t *s, long expected, volatile int64_t *done_at, int64_t grace_ns, int64_t *lat,
                         long *got) {
  struct nn_pollfd *pfd = calloc((size_t)s->k, sizeof *pfd);
  for (int i = 0; i < s->k; i++) {
    pfd[i].fd = s->socks[i];
    pfd[i].events = NN_POLLIN;
  }
  long want = expected * s->k;
  *got = 0;
  for (;;) {
    if (*got >= want) break;
    int64_t d = *done_at;
    if (d && mono_ns() > d + grace_ns) break;
    int r = nn_poll(pfd, s->k, 50);
    if (r <= 0) continue;
    for (int i = 0; i < s->k; i++) {
      if (!(pfd[i].revents & NN_POLLIN)) continue;
      for (;;) {
        void *m = NULL;
        int n = nn_recv(s->socks[i], &m, NN_MSG, NN_DONTWAIT);
        if (n < 0) break;
        int64_t now = real_ns();
        char *p = memmem(m, (size_t)n, "T@", 2);
        if (p && (p + 21) <= (char *)m + n) {
          char digits[20];
          memcpy(digits, p + 2, 19);
          digits[19] = 0;
          int64_t t = atoll(digits);
          if (*got < want) lat[(*got)++] = now - t;
        }
        nn_freemsg(m);
      }
    }
  }
  free(pfd);
}

static void fanout_report(const char *op, const args_t *a, int64_t *lat, long got, double send_p50, double send_p99) {
  long expected = (long)a->count * a->subs;
  qsort(lat, (size_t)got, sizeof *lat, cmp64);
  printf("{\"op\":\"%s\",\"subs\":%d,\"rate\":%.0f,\"count\":%d,\"delivered\":%ld,\"lost\":%ld,\"p50_us\":%.1f,"
         "\"p99_us\":%.1f,\"max_us\":%.1f,\"send_p50_us\":%.1f,\"send_p99_us\":%.1f}\n",
         op, a->subs, a->rate, a->count, got, expected - got, pct_us(lat, (size_t)got, .5),
         pct_us(lat, (size_t)got, .99), got ? (double)lat[got - 1] / 1000.0 : 0.0, send_p50, send_p99);
}

static int mode_fanout_bare(const args_t *a) {
  const char *topic = "smrt.chat.v1/bench/room-0000/";
  pid_t pid = fork();
  if (pid == 0) {
    int p = nn_socket(AF_SP, NN_PUB);
    int buf = 4 << 20;
    nn_setsockopt(p, NN_SOL_SOCKET, NN_SNDBUF, &buf, sizeof buf);
    if (p < 0 || nn_bind(p, a->url) < 0) _exit(3);
    usleep(700000); /* subscribers connect */
    size_t tl = strlen(topic);
    size_t len = (size_t)a->size > tl + 24 ? (size_t)a->size : tl + 24;
    char *msg = malloc(len);
    memset(msg, 'x', len);
    memcpy(msg, topic, tl);
    msg[tl] = 0;
    int64_t t0 = mono_ns();
    for (int i = 0; i < a->count; i++) {
      sleep_until_mono(t0 + (int64_t)((double)i * 1e9 / a->rate));
      char mark[24];
      snprintf(mark, sizeof mark, "T@%019lld", (long long)real_ns());
      memcpy(msg + tl + 1, mark, 21);
      nn_send(p, msg, len, 0);
    }
    usleep(300000);
    nn_close(p);
    _exit(0);
  }
  subs_t s;
  subs_open(&s, a->url, a->subs, "smrt.chat.v1/bench/");
  int64_t *lat = calloc((size_t)a->count * (size_t)a->subs + 1, sizeof *lat);
  long got = 0;
  /* the publisher ends by ~0.7 s + count/rate; allow 2 s more */
  volatile int64_t done_at = mono_ns() + 700000000LL + (int64_t)((double)a->count * 1e9 / a->rate);
  subs_collect(&s, a->count, &done_at, 2000000000LL, lat, &got);
  waitpid(pid, NULL, 0);
  fanout_report("fanout-bare", a, lat, got, 0, 0);
  return 0;
}

typedef struct {
  const args_t *a;
  volatile int64_t done_at;
  int64_t *send_lat;
  int sent;
} fan_sender;
static void *fanout_sender(void *arg) {
  fan_sender *f = arg;
  const args_t *a = f->a;
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int64_t t0 = mono_ns();
  char content[64];
  for (int i = 0; i < a->count; i++) {
    sleep_until_mono(t0 + (int64_t)((double)i * 1e9 / a->rate));
    snprintf(content, sizeof content, "T@%019lld fanout %d", (long long)real_ns(), i);
    Smrt__Chat__V1__SendMessageRequest req = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
    req.room_id = (char *)a->room;
    req.content = content;
    ProtobufCMessage *out = NULL;
    int64_t s0 = mono_ns();
    int code = smrtchat_call(c, "SendMessage", &req.base, NULL, &out, &st);
    f->send_lat[i] = mono_ns() - s0;
    if (code != SMRTCHAT_OK) fprintf(stderr, "fanout send: %s\n", st.message ? st.message : "?");
    else f->sent++;
    if (out) protobuf_c_message_free_unpacked(out, NULL);
  }
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  f->done_at = mono_ns();
  return NULL;
}
static int mode_fanout_svc(const args_t *a) {
  char prefix[256];
  snprintf(prefix, sizeof prefix, "smrt.chat.v1/%s/", a->tenant);
  subs_t s;
  subs_open(&s, a->events, a->subs, prefix);
  usleep(700000);
  fan_sender f = {a, 0, calloc((size_t)a->count, sizeof(int64_t)), 0};
  pthread_t th;
  pthread_create(&th, NULL, fanout_sender, &f);
  int64_t *lat = calloc((size_t)a->count * (size_t)a->subs + 1, sizeof *lat);
  long got = 0;
  subs_collect(&s, a->count, &f.done_at, 2000000000LL, lat, &got);
  pthread_join(th, NULL);
  qsort(f.send_lat, (size_t)a->count, sizeof(int64_t), cmp64);
  fanout_report("fanout-svc", a, lat, got, pct_us(f.send_lat, (size_t)a->count, .5),
                pct_us(f.send_lat, (size_t)a->count, .99));
  return 0;
}

/* ---------- (c) bare SQLite into the service's schema ---------- */

/* A time-ordered (version 7) UUID, as the service makes its ids: the same rows, the same index pattern. */
static void uuid7(char out[37]) {
  static __thread uint64_t x = 0;
  if (!x) x = (uint64_t)real_ns() ^ ((uint64_t)pthread_self() << 17) ^ 0x9E3779B97F4A7C15ULL;
  unsigned char b[16];
  for (int i = 0; i < 16; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    b[i] = (unsigned char)x;
  }
  uint64_t ms = (uint64_t)(real_ns() / 1000000);
  for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void exec_or_die(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "smrtbench: %s: %s\n", sql, err);
    exit(1);
  }
}

static const char *INSERT_SQL =
    "INSERT INTO messages (id, tenant_id, room_id, thread_id, reply_to_message_id, agent_session_id,"
    " sender_profile_id, role, message_type, content, attachments, metadata, tool_call, client_request_id,"
    " created_at, edited_at, deleted_at, version, room_seq)"
    " VALUES (?, ?, ?, NULL, NULL, NULL, ?, 'user', 'text', ?, '[]', '{}', NULL, NULL, ?, NULL, NULL, 1, ?)";

/* The service indexes a commit's new messages for full-text search once, right before the commit
 * (schema migration v3-deferred-fts); the baseline does the same work. */
static void index_pending(sqlite3 *db) {
  exec_or_die(db, "INSERT INTO messages_fts(rowid, content) SELECT m.pk, m.content FROM messages_fts_pending p"
                  " JOIN messages m ON m.pk = p.pk");
  exec_or_die(db, "DELETE FROM messages_fts_pending");
}

static void insert_row(sqlite3_stmt *st, const char *tenant, const char *room, const char *sender,
                       const char *content, int64_t created, int64_t seq) {
  char id[37];
  uuid7(id);
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, room, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, sender, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, content, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 6, created);
  sqlite3_bind_int64(st, 7, seq);
  if (sqlite3_step(st) != SQLITE_DONE) die(sqlite3_errmsg(sqlite3_db_handle(st)));
  sqlite3_reset(st);
}

/* --coalesce 1: the WAL written through the service's wrapper (Sources/CSQLiteWAL), a transaction's frames together. */
static int coalesce_wal;

/* The floors' SQLite configured as the service configures its own (wal_coalesce.c): no memory statistics, whose
 * process-wide mutex every allocation and free took. Before SQLite initializes. */
static void floor_config(void) {
  if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) die("sqlite3_config after initialization");
}

/* The database is a copy of one made by `smrt-chatd migrate` (the very schema, indexes, FTS triggers
 * and WAL mode of the service); the connection gets the service's pragmas. */
static sqlite3 *open_service_db(const char *path, const char *sync) {
  sqlite3 *db;
  if (coalesce_wal && smrt_wal_coalesce_register() != SQLITE_OK) die("WAL coalescing unavailable");
  if (sqlite3_open(path, &db) != SQLITE_OK) die("sqlite open");
  exec_or_die(db, "PRAGMA journal_mode = WAL");
  exec_or_die(db, "PRAGMA foreign_keys = ON");
  exec_or_die(db, "PRAGMA temp_store = MEMORY");
  char p[64];
  snprintf(p, sizeof p, "PRAGMA synchronous = %s", !strcmp(sync, "full") ? "FULL" : "NORMAL");
  exec_or_die(db, p);
  sqlite3_busy_timeout(db, 5000);
  return db;
}

/* The bench room of the bare-SQLite modes (the messages rows need it: foreign key). */
static void ensure_room(sqlite3 *db, const char *room, const char *tenant) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "INSERT OR IGNORE INTO rooms (id, tenant_id, name, room_type, status, created_by_profile_id, created_at,"
           " updated_at) VALUES ('%s', '%s', 'bench', 'private', 'active', 'alice', 0, 0)",
           room, tenant);
  exec_or_die(db, sql);
}

static int mode_sqlite(const args_t *a) {
  sqlite3 *db = open_service_db(a->db, a->sync);
  const char *room = a->room ? a->room : "room-bench";
  ensure_room(db, room, a->tenant);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, INSERT_SQL, -1, &st, NULL) != SQLITE_OK) die(sqlite3_errmsg(db));
  int batch = !strcmp(a->mode, "batch100") ? 100 : 1;
  char content[64];
  int64_t base = real_ns() / 1000000;
  int64_t t0 = mono_ns();
  for (int i = 0; i < a->rows; i += batch) {
    exec_or_die(db, "BEGIN IMMEDIATE");
    for (int j = i; j < i + batch && j < a->rows; j++) {
      snprintf(content, sizeof content, "bench %d/%d", j % 64, j);
      insert_row(st, a->tenant, room, "alice", content, base + j, j + 1);
    }
    index_pending(db);
    exec_or_die(db, "COMMIT");
  }
  double el = (double)(mono_ns() - t0) / 1e9;
  sqlite3_finalize(st);
  sqlite3_close(db);
  printf("{\"op\":\"sqlite\",\"sync\":\"%s\",\"mode\":\"%s\",\"rows\":%d,\"rows_per_s\":%.1f,"
         "\"commit_us\":%.1f}\n", a->sync, a->mode, a->rows, (double)a->rows / el, el * 1e6 / ((double)a->rows / batch));
  return 0;
}

/* The writer floor: what bare SQLite needs for the rows one SendMessage writes (SendMessage at 64 clients is
 * bound by the service's single writer thread). Per send, as the service's write path does: the room's
 * counters bumped and read back, the messages row, a MESSAGE_CREATED room_events row whose payload is the
 * service's JSON snapshot of the message (the shape of a real row), and the call's replay_cache record (32-byte
 * frame hash, a reply-sized response blob). --clients sends per IMMEDIATE transaction (the group commit at 64
 * clients), the full-text queue indexed before the commit of every 16th transaction and of the last (the
 * service indexes every 100 ms). The reads the service also makes per batch (key activity, replay lookup,
 * room and membership) are not included. */
static int mode_sqlite_send(const args_t *a) {
  floor_config();
  sqlite3 *db = open_service_db(a->db, a->sync);
  char room[37];
  if (a->room) snprintf(room, sizeof room, "%s", a->room);
  else uuid7(room);
  ensure_room(db, room, a->tenant);
  /* No RETURNING, as the service (SQLite opens a temporary b-tree per call for it): the counter read back, the
     event's id from the insert's rowid. */
  sqlite3_stmt *seq_st, *seq_read_st, *msg_st, *ev_st, *rep_st;
  if (sqlite3_prepare_v2(db,
                         "UPDATE rooms SET last_event_seq = last_event_seq + 1, last_message_at = ?3"
                         " WHERE tenant_id = ?1 AND id = ?2",
                         -1, &seq_st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT last_event_seq FROM rooms WHERE tenant_id = ?1 AND id = ?2", -1, &seq_read_st,
                         NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, INSERT_SQL, -1, &msg_st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO room_events (tenant_id, room_id, seq, kind, actor_profile_id, subject_id,"
                         " created_at, payload) VALUES (?, ?, ?, 'MESSAGE_CREATED', ?, ?, ?, ?)",
                         -1, &ev_st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO replay_cache (key_id, request_id, frame_hash, response, created_at, tenant_id,"
                         " actor_profile_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, request_id) DO NOTHING",
                         -1, &rep_st, NULL) != SQLITE_OK)
    die(sqlite3_errmsg(db));
  int batch = a->clients > 0 ? a->clients : 64;
  int sends = a->count;
  const char *actor = "alice", *key_id = "sk_bench";
  char content[64], id[37], req[37], payload[1024];
  unsigned char hash[32], response[162];
  uint64_t x = 0x2545F4914F6CDD1DULL ^ (uint64_t)real_ns();
  long payload_bytes = 0, batches = 0;
  int64_t last_event_id = 0;
  int64_t t0 = mono_ns();
  for (int i = 0; i < sends; i += batch) {
    exec_or_die(db, "BEGIN IMMEDIATE");
    for (int j = i; j < i + batch && j < sends; j++) {
      int64_t created = real_ns() / 1000000;
      /* 1. the room's counters */
      sqlite3_bind_text(seq_st, 1, a->tenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(seq_st, 2, room, -1, SQLITE_STATIC);
      sqlite3_bind_int64(seq_st, 3, created);
      if (sqlite3_step(seq_st) != SQLITE_DONE || sqlite3_changes(db) != 1) die(sqlite3_errmsg(db));
      sqlite3_reset(seq_st);
      sqlite3_bind_text(seq_read_st, 1, a->tenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(seq_read_st, 2, room, -1, SQLITE_STATIC);
      if (sqlite3_step(seq_read_st) != SQLITE_ROW) die(sqlite3_errmsg(db));
      int64_t seq = sqlite3_column_int64(seq_read_st, 0);
      sqlite3_reset(seq_read_st);
      /* 2. the message (insert_row, with its id kept for the event) */
      uuid7(id);
      snprintf(content, sizeof content, "bench %d/%d", j % 64, j / 64);
      sqlite3_bind_text(msg_st, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(msg_st, 2, a->tenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(msg_st, 3, room, -1, SQLITE_STATIC);
      sqlite3_bind_text(msg_st, 4, actor, -1, SQLITE_STATIC);
      sqlite3_bind_text(msg_st, 5, content, -1, SQLITE_STATIC);
      sqlite3_bind_int64(msg_st, 6, created);
      sqlite3_bind_int64(msg_st, 7, seq);
      if (sqlite3_step(msg_st) != SQLITE_DONE) die(sqlite3_errmsg(db));
      sqlite3_reset(msg_st);
      /* 3. the MESSAGE_CREATED event: the service's snapshot of the message (keys as in a real row) */
      int pl = snprintf(payload, sizeof payload,
                        "{\"message\":{\"_0\":{\"attachments\":[],\"content\":\"%s\",\"createdAt\":%lld,\"id\":\"%s\","
                        "\"messageType\":\"text\",\"metadata\":\"{}\",\"role\":\"user\",\"roomId\":\"%s\","
                        "\"roomSeq\":%lld,\"senderProfileId\":\"%s\",\"tenantId\":\"%s\",\"version\":1}}}",
                        content, (long long)created, id, room, (long long)seq, actor, a->tenant);
      payload_bytes += pl;
      sqlite3_bind_text(ev_st, 1, a->tenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev_st, 2, room, -1, SQLITE_STATIC);
      sqlite3_bind_int64(ev_st, 3, seq);
      sqlite3_bind_text(ev_st, 4, actor, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev_st, 5, id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(ev_st, 6, created);
      sqlite3_bind_text(ev_st, 7, payload, pl, SQLITE_STATIC);
      if (sqlite3_step(ev_st) != SQLITE_DONE) die(sqlite3_errmsg(db));
      last_event_id = sqlite3_last_insert_rowid(db);
      sqlite3_reset(ev_st);
      /* 4. the call's replay record: a time-ordered request id as the clients make, 32-byte frame hash */
      uuid7(req);
      char rid[33];
      int r = 0;
      for (const char *p = req; *p; p++)
        if (*p != '-') rid[r++] = *p;
      rid[r] = 0;
      for (size_t k = 0; k < sizeof hash; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        hash[k] = (unsigned char)x;
      }
      for (size_t k = 0; k < sizeof response; k++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        response[k] = (unsigned char)x;
      }
      memcpy(response + 8, id, 36); /* the reply carries the message id */
      sqlite3_bind_text(rep_st, 1, key_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(rep_st, 2, rid, -1, SQLITE_STATIC);
      sqlite3_bind_blob(rep_st, 3, hash, sizeof hash, SQLITE_STATIC);
      sqlite3_bind_blob(rep_st, 4, response, sizeof response, SQLITE_STATIC);
      sqlite3_bind_int64(rep_st, 5, created);
      sqlite3_bind_text(rep_st, 6, a->tenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(rep_st, 7, actor, -1, SQLITE_STATIC);
      if (sqlite3_step(rep_st) != SQLITE_DONE) die(sqlite3_errmsg(db));
      sqlite3_reset(rep_st);
    }
    batches++;
    if (batches % 16 == 0 || i + batch >= sends) index_pending(db);
    exec_or_die(db, "COMMIT");
  }
  double el = (double)(mono_ns() - t0) / 1e9;
  sqlite3_finalize(seq_st);
  sqlite3_finalize(seq_read_st);
  sqlite3_finalize(msg_st);
  sqlite3_finalize(ev_st);
  sqlite3_finalize(rep_st);
  sqlite3_close(db);
  (void)last_event_id;
  printf("{\"op\":\"sqlite-send\",\"sync\":\"%s\",\"batch\":%d,\"sends\":%d,\"transactions\":%ld,"
         "\"payload_bytes\":%.1f,\"sends_per_s\":%.1f,\"us_per_send\":%.2f}\n",
         a->sync, batch, sends, batches, sends ? (double)payload_bytes / sends : 0.0, (double)sends / el,
         el * 1e6 / (sends ? sends : 1));
  return 0;
}

/* The read floor of the ping-class call: what bare SQLite needs for the snapshot an authenticated GetRoom reads
 * (SPEC §7.4, §12.3: the key's revocation and the request id's record are in the database so that every instance
 * sees them), on a read-only connection to the live server's database with the service reader's pragmas and
 * prepared statements: BEGIN; the key's activity with the request id's record (a fresh time-ordered id, so a miss,
 * as for a new call); the room with the caller's participant row; the caller's unread count; COMMIT. Per call
 * latency (p50, p99) over --count calls on one thread. */
static int mode_sqlite_read(const args_t *a) {
  if (!a->db || !a->room || !a->key_id) die("sqlite-read needs --db, --room and --key-id");
  floor_config();
  sqlite3 *db;
  if (sqlite3_open_v2(a->db, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) die("sqlite open");
  sqlite3_busy_timeout(db, 5000);
  exec_or_die(db, "PRAGMA cache_size = -8192");
  exec_or_die(db, "PRAGMA temp_store = MEMORY");
  const char *sql[5] = {
      "BEGIN",
      "SELECT k.revoked_at IS NULL AS active, c.key_id, c.request_id, c.frame_hash, c.response, c.created_at"
      " FROM api_keys k LEFT JOIN replay_cache c ON c.key_id = k.key_id AND c.request_id = ?2 WHERE k.key_id = ?1",
      "SELECT r.id, r.tenant_id, r.name, r.description, r.topic, r.avatar_url, r.room_type, r.status,"
      " r.max_participants, r.metadata, r.created_by_profile_id, r.created_at, r.updated_at, r.last_message_at,"
      " r.last_event_seq, p.tenant_id, p.room_id, p.profile_id, p.role, p.status, p.online_status, p.last_read_seq,"
      " p.last_read_message_id, p.last_seen_at, p.joined_at, p.nickname, p.is_muted, p.is_pinned"
      " FROM rooms r LEFT JOIN participants p ON p.tenant_id = r.tenant_id AND p.room_id = r.id AND p.profile_id = ?3"
      " WHERE r.tenant_id = ?1 AND r.id = ?2",
      "SELECT count(*) FROM (SELECT 1 FROM messages WHERE tenant_id = ?1 AND room_id = ?2 AND thread_id IS NULL"
      " AND (?3 IS NULL) AND room_seq > ?4 AND deleted_at IS NULL AND sender_profile_id <> ?5"
      " AND room_seq <= coalesce((SELECT room_seq FROM messages WHERE tenant_id = ?1 AND room_id = ?2"
      " AND thread_id IS NULL AND room_seq > ?4 AND deleted_at IS NULL ORDER BY room_seq LIMIT 1 OFFSET ?6),"
      " 9223372036854775807) LIMIT ?7) AS unread",
      "COMMIT"};
  sqlite3_stmt *st[5];
  for (int i = 0; i < 5; i++)
    if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL) != SQLITE_OK)
      die(sqlite3_errmsg(db));
  const char *actor = a->actor ? a->actor : "alice";
  int n = a->count > 0 ? a->count : 1;
  int64_t *lat = malloc(sizeof *lat * (size_t)n);
  long columns = 0;
  for (int i = 0; i < n; i++) {
    char req[37];
    uuid7(req);
    int64_t t0 = mono_ns();
    if (sqlite3_step(st[0]) != SQLITE_DONE) die(sqlite3_errmsg(db));
    sqlite3_reset(st[0]);
    sqlite3_bind_text(st[1], 1, a->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[1], 2, req, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[2], 1, a->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[2], 2, a->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[2], 3, actor, -1, SQLITE_STATIC);
    int64_t last_read = 0;
    for (int k = 1; k <= 2; k++) {
      if (sqlite3_step(st[k]) != SQLITE_ROW) die(k == 1 ? "sqlite-read: unknown key" : "sqlite-read: unknown room");
      int cols = sqlite3_column_count(st[k]);
      for (int c = 0; c < cols; c++) { /* the service reads every column into its values */
        if (sqlite3_column_type(st[k], c) == SQLITE_TEXT) columns += sqlite3_column_bytes(st[k], c);
        else columns += sqlite3_column_int64(st[k], c) != 0;
      }
      if (k == 2) last_read = sqlite3_column_int64(st[k], 21);
      sqlite3_reset(st[k]);
    }
    sqlite3_bind_text(st[3], 1, a->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st[3], 2, a->room, -1, SQLITE_STATIC);
    sqlite3_bind_null(st[3], 3);
    sqlite3_bind_int64(st[3], 4, last_read);
    sqlite3_bind_text(st[3], 5, actor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st[3], 6, 1999); /* the window's last message: twice ChatLimits.unreadCountCap, 0-based */
    sqlite3_bind_int64(st[3], 7, 1000); /* ChatLimits.unreadCountCap */
    if (sqlite3_step(st[3]) != SQLITE_ROW) die(sqlite3_errmsg(db));
    columns += sqlite3_column_int64(st[3], 0);
    sqlite3_reset(st[3]);
    if (sqlite3_step(st[4]) != SQLITE_DONE) die(sqlite3_errmsg(db));
    sqlite3_reset(st[4]);
    lat[i] = mono_ns() - t0;
  }
  double total = 0;
  for (int i = 0; i < n; i++) total += (double)lat[i];
  qsort(lat, (size_t)n, sizeof *lat, cmp64);
  for (int i = 0; i < 5; i++) sqlite3_finalize(st[i]);
  sqlite3_close(db);
  printf("{\"op\":\"sqlite-read\",\"calls\":%d,\"mean_us\":%.2f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"checksum\":%ld}\n", n,
         total / n / 1000.0, pct_us(lat, (size_t)n, .5), pct_us(lat, (size_t)n, .99), columns);
  return 0;
}

static int mode_seed(const args_t *a) {
  sqlite3 *db = open_service_db(a->db, "normal");
  exec_or_die(db, "PRAGMA synchronous = OFF"); /* seeding only; the benchmark runs later on the server */
  exec_or_die(db, "PRAGMA foreign_keys = OFF");
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(db, "SELECT last_event_seq, created_at FROM rooms WHERE tenant_id = ? AND id = ?", -1, &q,
                         NULL) != SQLITE_OK) die(sqlite3_errmsg(db));
  sqlite3_bind_text(q, 1, a->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, a->room, -1, SQLITE_STATIC);
  if (sqlite3_step(q) != SQLITE_ROW) die("seed: no such room");
  int64_t seq0 = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, INSERT_SQL, -1, &st, NULL) != SQLITE_OK) die(sqlite3_errmsg(db));
  static const char *words[] = {"deploy", "the", "build", "is", "green", "again", "lunch", "review", "ticket",
                                "merge", "on", "friday", "please", "check", "logs", "agent", "answer", "coffee"};
  int64_t base = real_ns() / 1000000 - (int64_t)a->rows * 1000;
  int64_t t0 = mono_ns();
  char content[256];
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < a->rows; i += 10000) {
    exec_or_die(db, "BEGIN IMMEDIATE");
    for (int j = i; j < i + 10000 && j < a->rows; j++) {
      int len = snprintf(content, sizeof content, "message %d:", j);
      int nw = 4 + (int)(x % 12);
      for (int w = 0; w < nw; w++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        len += snprintf(content + len, sizeof content - (size_t)len, " %s", words[x % 18]);
      }
      insert_row(st, a->tenant, a->room, a->sender, content, base + (int64_t)j, seq0 + j + 1);
    }
    index_pending(db);
    exec_or_die(db, "COMMIT");
  }
  sqlite3_finalize(st);
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE rooms SET last_event_seq = %lld, last_message_at = %lld WHERE tenant_id = '%s' AND id = '%s'",
           (long long)(seq0 + a->rows), (long long)(base + a->rows), a->tenant, a->room);
  exec_or_die(db, sql);
  exec_or_die(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
  printf("{\"op\":\"seed\",\"rows\":%d,\"seconds\":%.2f}\n", a->rows, (double)(mono_ns() - t0) / 1e9);
  return 0;
}

/* ---------- service: ListRoomMessages, sends with readers, frame sizes ---------- */

static int mode_list(const args_t *a) {
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int64_t *lat = calloc((size_t)a->calls, sizeof *lat);
  int n = 0;
  for (int i = 0; i < a->calls + 20; i++) {
    Smrt__Chat__V1__ListRoomMessagesRequest req = SMRT__CHAT__V1__LIST_ROOM_MESSAGES_REQUEST__INIT;
    req.room_id = (char *)a->room;
    req.limit = a->limit;
    ProtobufCMessage *out = NULL;
    int64_t t0 = mono_ns();
    int code = smrtchat_call(c, "ListRoomMessages", &req.base, NULL, &out, &st);
    int64_t d = mono_ns() - t0;
    if (code != SMRTCHAT_OK) die(st.message ? st.message : "list");
    if (((Smrt__Chat__V1__ListRoomMessagesResponse *)out)->n_messages != (size_t)a->limit) die("short page");
    protobuf_c_message_free_unpacked(out, NULL);
    if (i >= 20) lat[n++] = d; /* 20 warm-up calls */
  }
  qsort(lat, (size_t)n, sizeof *lat, cmp64);
  printf("{\"op\":\"list\",\"calls\":%d,\"limit\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f}\n", n, a->limit,
         pct_us(lat, (size_t)n, .5), pct_us(lat, (size_t)n, .99));
  smrtchat_client_free(c);
  return 0;
}

/* Senders (SendMessage into --send-room) and readers (ListRoomMessages of --read-room, pages of --limit,
 * newest first: each reader follows next_cursor backward and starts again at the newest page after the last
 * one), each thread with its own client (one connection). Counters are read by the main thread while the
 * workers run, hence the atomics. */
typedef struct {
  const args_t *a;
  int reader;
  volatile int *stop;
  pthread_barrier_t *barrier;
  long ops, errors, rows, cycles, bad_pages;
} mixed_w;
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ADD(x, n) __atomic_fetch_add(&(x), (n), __ATOMIC_RELAXED)
static void *mixed_run(void *arg) {
  mixed_w *w = arg;
  const args_t *a = w->a;
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  char cursor[512] = "";
  char content[64];
  pthread_barrier_wait(w->barrier);
  while (!*w->stop) {
    ProtobufCMessage *out = NULL;
    int code;
    if (w->reader) {
      Smrt__Chat__V1__ListRoomMessagesRequest req = SMRT__CHAT__V1__LIST_ROOM_MESSAGES_REQUEST__INIT;
      req.room_id = (char *)a->read_room;
      req.limit = a->limit;
      req.cursor = cursor;
      code = smrtchat_call(c, "ListRoomMessages", &req.base, NULL, &out, &st);
      if (code == SMRTCHAT_OK) {
        Smrt__Chat__V1__ListRoomMessagesResponse *r = (void *)out;
        int more = r->has_more && r->next_cursor && r->next_cursor[0];
        /* Every page but a room's last is full; the last is not empty. */
        if (r->n_messages == 0 || (more && r->n_messages != (size_t)a->limit)) ADD(w->bad_pages, 1);
        ADD(w->rows, (long)r->n_messages);
        if (!more) ADD(w->cycles, 1);
        snprintf(cursor, sizeof cursor, "%s", more ? r->next_cursor : "");
      }
    } else {
      Smrt__Chat__V1__SendMessageRequest req = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
      snprintf(content, sizeof content, "mixed %ld", LOAD(w->ops));
      req.room_id = (char *)a->send_room;
      req.content = content;
      code = smrtchat_call(c, "SendMessage", &req.base, NULL, &out, &st);
    }
    if (code == SMRTCHAT_OK) ADD(w->ops, 1);
    else ADD(w->errors, 1);
    if (out) protobuf_c_message_free_unpacked(out, NULL);
  }
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return NULL;
}

typedef struct {
  double seconds;
  long sends, pages, rows, cycles, bad_pages, errors;
} mixed_result;
static void mixed_sum(mixed_w *ws, int n, mixed_result *r) {
  memset(r, 0, sizeof *r);
  for (int i = 0; i < n; i++) {
    *(ws[i].reader ? &r->pages : &r->sends) += LOAD(ws[i].ops);
    r->rows += LOAD(ws[i].rows);
    r->cycles += LOAD(ws[i].cycles);
    r->bad_pages += LOAD(ws[i].bad_pages);
    r->errors += LOAD(ws[i].errors);
  }
}
/* Starts --senders + --readers threads, lets them run --warmup seconds, then counts over --seconds. Errors
 * and bad pages are counted over the whole run, warm-up included. */
static void mixed_measure(const args_t *a, mixed_result *res) {
  int n = a->senders + a->readers;
  if (n < 1) die("mixed: no senders and no readers");
  mixed_w *ws = calloc((size_t)n, sizeof *ws);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  volatile int stop = 0;
  pthread_barrier_t b;
  pthread_barrier_init(&b, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    ws[i] = (mixed_w){a, i >= a->senders, &stop, &b, 0, 0, 0, 0, 0};
    pthread_create(&th[i], NULL, mixed_run, &ws[i]);
  }
  pthread_barrier_wait(&b);
  usleep((useconds_t)(a->warmup * 1e6));
  mixed_result r0, r1;
  mixed_sum(ws, n, &r0);
  int64_t t0 = mono_ns();
  usleep((useconds_t)(a->seconds * 1e6));
  mixed_sum(ws, n, &r1);
  double el = (double)(mono_ns() - t0) / 1e9;
  stop = 1;
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  mixed_result all;
  mixed_sum(ws, n, &all);
  *res = (mixed_result){el, r1.sends - r0.sends, r1.pages - r0.pages, r1.rows - r0.rows, r1.cycles - r0.cycles,
                        all.bad_pages, all.errors};
  pthread_barrier_destroy(&b);
  free(ws);
  free(th);
}
static int mode_mixed(const args_t *a) {
  mixed_result r;
  mixed_measure(a, &r);
  printf("{\"op\":\"mixed\",\"senders\":%d,\"readers\":%d,\"seconds\":%.2f,\"sends\":%ld,\"send_per_s\":%.1f,"
         "\"pages\":%ld,\"list_per_s\":%.1f,\"rows_per_s\":%.1f,\"cycles\":%ld,\"bad_pages\":%ld,\"errors\":%ld}\n",
         a->senders, a->readers, r.seconds, r.sends, (double)r.sends / r.seconds, r.pages, (double)r.pages / r.seconds,
         (double)r.rows / r.seconds, r.cycles, r.bad_pages, r.errors);
  return 0;
}
/* history: --readers clients paging --room (pages of --limit / --page) and nothing else: mixed without
 * senders. cycles = times a reader passed the room's last page and started again at the newest. */
static int mode_history(const args_t *a) {
  args_t h = *a;
  h.senders = 0;
  if (!h.read_room) h.read_room = h.room;
  if (!h.read_room) die("history: --room is required");
  mixed_result r;
  mixed_measure(&h, &r);
  printf("{\"op\":\"history\",\"readers\":%d,\"page\":%d,\"warmup\":%.2f,\"seconds\":%.2f,\"pages\":%ld,"
         "\"pages_per_s\":%.1f,\"rows\":%ld,\"rows_per_s\":%.1f,\"cycles\":%ld,\"bad_pages\":%ld,\"errors\":%ld}\n",
         h.readers, h.limit, h.warmup, r.seconds, r.pages, (double)r.pages / r.seconds, r.rows,
         (double)r.rows / r.seconds, r.cycles, r.bad_pages, r.errors);
  return 0;
}

/* Frame sizes of the calls the echo baseline mirrors: the envelope is RpcRequest{method, payload,
 * CallContext{tenant, actor, 32-hex request id}, Auth{key id, ms timestamp, 32-byte signature}} and
 * RpcResponse{32-hex request id, Status{}, payload}. */
static int mode_sizes(const args_t *a) {
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  Smrt__Chat__V1__GetRoomRequest g = SMRT__CHAT__V1__GET_ROOM_REQUEST__INIT;
  g.room_id = (char *)a->room;
  Smrt__Chat__V1__SendMessageRequest sm = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
  sm.room_id = (char *)a->room;
  sm.content = "bench 0/100";
  const ProtobufCMessage *reqs[2] = {&g.base, &sm.base};
  const char *names[2] = {"GetRoom", "SendMessage"};
  size_t rq[2], rp[2];
  for (int k = 0; k < 2; k++) {
    size_t plen = protobuf_c_message_get_packed_size(reqs[k]);
    uint8_t *pb = malloc(plen + 1);
    protobuf_c_message_pack(reqs[k], pb);
    uint8_t *out = NULL;
    size_t outlen = 0;
    if (smrtchat_call_raw(c, NULL, names[k], pb, plen, &out, &outlen, &st) != SMRTCHAT_OK) die("sizes call");
    size_t method = strlen("/smrt.chat.v1.ChatService/") + strlen(names[k]);
    size_t ctx = 2 + strlen(a->tenant) + 2 + strlen(a->actor) + 2 + 32 + 2 + 6;
    size_t auth = 2 + strlen(a->key_id) + 1 + 6 + 2 + 32;
    rq[k] = 2 + method + 2 + plen + 2 + ctx + 2 + auth + (plen > 127 ? 1 : 0);
    rp[k] = 2 + 32 + 2 + 2 + outlen + (outlen > 127 ? 1 : 0);
    free(pb);
    free(out);
  }
  printf("{\"op\":\"sizes\",\"ping_request\":%zu,\"ping_reply\":%zu,\"send_request\":%zu,\"send_reply\":%zu}\n", rq[0],
         rp[0], rq[1], rp[1]);
  smrtchat_client_free(c);
  return 0;
}

/* Creates --count private rooms with --clients threads; prints the first id and the rate. */
typedef struct { const args_t *a; int n; char first[128]; } rooms_w;
static void *rooms_run(void *arg) {
  rooms_w *w = arg;
  smrtchat_client *c = svc_client(w->a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  for (int i = 0; i < w->n; i++) {
    Smrt__Chat__V1__CreateRoomRequest req = SMRT__CHAT__V1__CREATE_ROOM_REQUEST__INIT;
    char name[64], rid[33];
    smrtchat_request_id(rid);
    snprintf(name, sizeof name, "idle-%.12s", rid);
    req.name = name;
    req.room_type = SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_PRIVATE;
    ProtobufCMessage *out = NULL;
    if (smrtchat_call(c, "CreateRoom", &req.base, NULL, &out, &st) != SMRTCHAT_OK) die(st.message ? st.message : "CreateRoom");
    if (i == 0) snprintf(w->first, sizeof w->first, "%s", ((Smrt__Chat__V1__CreateRoomResponse *)out)->room->id);
    protobuf_c_message_free_unpacked(out, NULL);
  }
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return NULL;
}
static int mode_rooms(const args_t *a) {
  int n = a->clients;
  rooms_w *ws = calloc((size_t)n, sizeof *ws);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  int64_t t0 = mono_ns();
  for (int i = 0; i < n; i++) {
    ws[i].a = a;
    ws[i].n = a->count / n + (i < a->count % n);
    pthread_create(&th[i], NULL, rooms_run, &ws[i]);
  }
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  printf("{\"op\":\"rooms\",\"created\":%d,\"per_s\":%.1f,\"first\":\"%s\"}\n", a->count,
         a->count / ((double)(mono_ns() - t0) / 1e9), ws[0].first);
  return 0;
}

/* ---------- streamed agent replies (SPEC §13.1) ---------- */

typedef struct {
  char session[128], room[128], agent[128], message[128];
} reply_t;

/* The agent session `key` of --actor (agent "bench"; created once, then reused through its
 * session_key) and a new streaming reply in it, begun as the session's agent profile. */
static void begin_reply(smrtchat_client *c, const char *key, reply_t *r) {
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  Smrt__Chat__V1__CreateAgentSessionRequest cs = SMRT__CHAT__V1__CREATE_AGENT_SESSION_REQUEST__INIT;
  cs.agent_id = "bench";
  cs.session_key = (char *)key;
  ProtobufCMessage *out = NULL;
  if (smrtchat_call(c, "CreateAgentSession", &cs.base, NULL, &out, &st) != SMRTCHAT_OK) {
    fprintf(stderr, "smrtbench: CreateAgentSession: %s %s\n", st.reason ? st.reason : "", st.message ? st.message : "");
    exit(1);
  }
  Smrt__Chat__V1__AgentSession *ses = ((Smrt__Chat__V1__CreateAgentSessionResponse *)out)->session;
  snprintf(r->session, sizeof r->session, "%s", ses->id);
  snprintf(r->room, sizeof r->room, "%s", ses->room_id);
  snprintf(r->agent, sizeof r->agent, "%s", ses->agent_profile_id);
  protobuf_c_message_free_unpacked(out, NULL);
  Smrt__Chat__V1__BeginAgentReplyRequest b = SMRT__CHAT__V1__BEGIN_AGENT_REPLY_REQUEST__INIT;
  b.session_id = r->session;
  smrtchat_call_opts o = {0};
  o.actor_profile_id = r->agent;
  Smrt__Chat__V1__BeginAgentReplyResponse *br = NULL;
  if (smrtchat_begin_agent_reply(c, &o, &b, &br, &st) != SMRTCHAT_OK) {
    fprintf(stderr, "smrtbench: BeginAgentReply: %s %s\n", st.reason ? st.reason : "", st.message ? st.message : "");
    exit(1);
  }
  snprintf(r->message, sizeof r->message, "%s", br->message->id);
  protobuf_c_message_free_unpacked(&br->base, NULL);
  smrtchat_status_clear(&st);
}

static int append_delta(smrtchat_client *c, const reply_t *r, int64_t index, const char *text, smrtchat_status *st) {
  Smrt__Chat__V1__AppendReplyDeltaRequest req = SMRT__CHAT__V1__APPEND_REPLY_DELTA_REQUEST__INIT;
  req.message_id = (char *)r->message;
  req.index = index;
  req.text = (char *)text;
  smrtchat_call_opts o = {0};
  o.actor_profile_id = r->agent;
  Smrt__Chat__V1__AppendReplyDeltaResponse *out = NULL;
  int code = smrtchat_append_reply_delta(c, &o, &req, &out, st);
  if (out) protobuf_c_message_free_unpacked(&out->base, NULL);
  return code;
}

static void finish_reply(smrtchat_client *c, const reply_t *r) {
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  Smrt__Chat__V1__FinishAgentReplyRequest f = SMRT__CHAT__V1__FINISH_AGENT_REPLY_REQUEST__INIT;
  f.message_id = (char *)r->message;
  f.status = SMRT__CHAT__V1__STREAM_STATE__STREAM_STATE_COMPLETED;
  smrtchat_call_opts o = {0};
  o.actor_profile_id = r->agent;
  if (smrtchat_finish_agent_reply(c, &o, &f, NULL, &st) != SMRTCHAT_OK) {
    fprintf(stderr, "smrtbench: FinishAgentReply: %s %s\n", st.reason ? st.reason : "", st.message ? st.message : "");
    exit(1);
  }
  smrtchat_status_clear(&st);
}

/* delta-tput: N threads, each with its own client, session and streaming reply, append M sequential
 * deltas of --size bytes; throughput = all appends / (last append done - the common start). The
 * sessions and replies are set up before the clock starts; the replies are finished after it stops. */
typedef struct {
  const args_t *a;
  int index, size;
  pthread_barrier_t *start, *stop;
  int64_t *lat;
  long ok, errors;
  char first_error[256];
} dtput_w;
static void *delta_tput_run(void *arg) {
  dtput_w *w = arg;
  const args_t *a = w->a;
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  reply_t r;
  char key[64];
  snprintf(key, sizeof key, "bench-tput-%d", w->index);
  begin_reply(c, key, &r);
  char *text = malloc((size_t)w->size + 16);
  pthread_barrier_wait(w->start);
  for (int i = 0; i < a->calls; i++) {
    int n = snprintf(text, (size_t)w->size + 16, "%03d:%06d", w->index, i);
    if (n > w->size) n = w->size;
    memset(text + n, '.', (size_t)(w->size - n));
    text[w->size] = 0;
    int64_t t0 = mono_ns();
    int code = append_delta(c, &r, i, text, &st);
    w->lat[i] = mono_ns() - t0;
    if (code == SMRTCHAT_OK) {
      w->ok++;
    } else {
      if (!w->errors)
        snprintf(w->first_error, sizeof w->first_error, "%s %s: %s", smrtchat_code_name(code),
                 st.reason ? st.reason : "", st.message ? st.message : "");
      w->errors++;
    }
  }
  pthread_barrier_wait(w->stop);
  finish_reply(c, &r);
  free(text);
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return NULL;
}
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    putchar((unsigned char)*s < 0x20 ? ' ' : *s);
  }
  putchar('"');
}
static int mode_delta_tput(const args_t *a) {
  int n = a->clients;
  int size = a->size_given ? a->size : 20;
  if (size < 1) die("--size must be at least 1");
  dtput_w *ws = calloc((size_t)n, sizeof *ws);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  int64_t *lat = calloc((size_t)n * (size_t)a->calls, sizeof *lat);
  pthread_barrier_t b0, b1;
  pthread_barrier_init(&b0, NULL, (unsigned)n + 1);
  pthread_barrier_init(&b1, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++) {
    ws[i] = (dtput_w){a, i, size, &b0, &b1, lat + (size_t)i * (size_t)a->calls, 0, 0, ""};
    pthread_create(&th[i], NULL, delta_tput_run, &ws[i]);
  }
  pthread_barrier_wait(&b0);
  int64_t t0 = mono_ns();
  pthread_barrier_wait(&b1);
  double el = (double)(mono_ns() - t0) / 1e9;
  long ok = 0, errors = 0;
  const char *first = "";
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    ok += ws[i].ok;
    if (ws[i].errors && !errors) first = ws[i].first_error;
    errors += ws[i].errors;
  }
  size_t total = (size_t)n * (size_t)a->calls;
  qsort(lat, total, sizeof *lat, cmp64);
  printf("{\"op\":\"delta-tput\",\"clients\":%d,\"calls\":%zu,\"size\":%d,\"ok\":%ld,\"errors\":%ld,"
         "\"elapsed_s\":%.3f,\"throughput_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"first_error\":",
         n, total, size, ok, errors, el, (double)ok / el, pct_us(lat, total, .5), pct_us(lat, total, .99),
         (double)lat[total - 1] / 1000.0);
  json_str(first);
  printf("}\n");
  return 0;
}

/* delta-fanout: K streams appending at R deltas/s in all (stream k's delta i is due at
 * t0 + (i*K + k)/R, so the appends are evenly spaced as fanout-svc's sends are), C deltas per stream;
 * each stream has its own SUB socket subscribed to its stream topic. Latency = receive time - the
 * wall-clock stamp "T@<ns>" the sender put in the delta's text just before calling AppendReplyDelta. */
typedef struct {
  const args_t *a;
  int k;
  reply_t r;
  smrtchat_client *c;
  pthread_barrier_t *ready;
  int64_t *t0;
  int64_t *send_lat;
  int sent, errors;
  volatile int *left;
  volatile int64_t *done_at;
  pthread_mutex_t *mu;
} dfan_w;
static void *delta_fanout_run(void *arg) {
  dfan_w *w = arg;
  const args_t *a = w->a;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  pthread_barrier_wait(w->ready); /* main has subscribed and set *t0 */
  char text[64];
  for (int i = 0; i < a->count; i++) {
    sleep_until_mono(*w->t0 + (int64_t)((double)((int64_t)i * a->subs + w->k) * 1e9 / a->rate));
    snprintf(text, sizeof text, "T@%019lld %d/%d", (long long)real_ns(), w->k, i);
    int64_t s0 = mono_ns();
    int code = append_delta(w->c, &w->r, i, text, &st);
    w->send_lat[i] = mono_ns() - s0;
    if (code == SMRTCHAT_OK) {
      w->sent++;
    } else {
      if (!w->errors) fprintf(stderr, "delta-fanout append: %s %s\n", st.reason ? st.reason : "", st.message ? st.message : "?");
      w->errors++;
    }
  }
  smrtchat_status_clear(&st);
  pthread_mutex_lock(w->mu);
  if (--*w->left == 0) *w->done_at = mono_ns();
  pthread_mutex_unlock(w->mu);
  return NULL;
}
static int mode_delta_fanout(const args_t *a) {
  int k = a->subs;
  dfan_w *ws = calloc((size_t)k, sizeof *ws);
  pthread_t *th = calloc((size_t)k, sizeof *th);
  int64_t *send_lat = calloc((size_t)k * (size_t)a->count + 1, sizeof *send_lat);
  pthread_barrier_t ready;
  pthread_barrier_init(&ready, NULL, (unsigned)k + 1);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  volatile int left = k;
  volatile int64_t done_at = 0;
  int64_t t0 = 0;
  subs_t s = {calloc((size_t)k, sizeof(int)), k, "smrt.chat.v1.stream/"};
  for (int i = 0; i < k; i++) {
    dfan_w *w = &ws[i];
    memset(w, 0, sizeof *w);
    w->a = a;
    w->k = i;
    w->c = svc_client(a);
    w->ready = &ready;
    w->t0 = &t0;
    w->send_lat = send_lat + (size_t)i * (size_t)a->count;
    w->left = &left;
    w->done_at = &done_at;
    w->mu = &mu;
    char key[64];
    snprintf(key, sizeof key, "bench-deliv-%d", i);
    begin_reply(w->c, key, &w->r);
    char topic[512];
    snprintf(topic, sizeof topic, "smrt.chat.v1.stream/%s/%s/%s/", a->tenant, w->r.room, w->r.message);
    s.socks[i] = sub_socket(a->events, topic);
    pthread_create(&th[i], NULL, delta_fanout_run, w);
  }
  usleep(700000); /* subscriptions reach the server's PUB socket */
  t0 = mono_ns() + 1000000;
  pthread_barrier_wait(&ready);
  int64_t *lat = calloc((size_t)a->count * (size_t)k + 1, sizeof *lat);
  long got = 0;
  subs_collect(&s, a->count, &done_at, 2000000000LL, lat, &got);
  int errors = 0;
  for (int i = 0; i < k; i++) {
    pthread_join(th[i], NULL);
    errors += ws[i].errors;
    finish_reply(ws[i].c, &ws[i].r);
    smrtchat_client_free(ws[i].c);
    nn_close(s.socks[i]);
  }
  size_t ns = (size_t)k * (size_t)a->count;
  qsort(send_lat, ns, sizeof *send_lat, cmp64);
  long expected = (long)a->count * k;
  qsort(lat, (size_t)got, sizeof *lat, cmp64);
  printf("{\"op\":\"delta-fanout\",\"streams\":%d,\"rate\":%.0f,\"count\":%d,\"delivered\":%ld,\"lost\":%ld,"
         "\"errors\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"append_p50_us\":%.1f,\"append_p99_us\":%.1f}\n",
         k, a->rate, a->count, got, expected - got, errors, pct_us(lat, (size_t)got, .5), pct_us(lat, (size_t)got, .99),
         got ? (double)lat[got - 1] / 1000.0 : 0.0, pct_us(send_lat, ns, .5), pct_us(send_lat, ns, .99));
  return 0;
}

/* delta-seed: one reply of --deltas sequential deltas of --size bytes, finished; prints its ids. */
static int mode_delta_seed(const args_t *a) {
  int size = a->size_given ? a->size : 6;
  if (size < 1 || size > 60) die("--size must be 1..60");
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  reply_t r;
  begin_reply(c, "bench-resume", &r);
  int64_t t0 = mono_ns();
  char text[64];
  for (int i = 0; i < a->deltas; i++) {
    int n = snprintf(text, sizeof text, "%d", i);
    if (n > size) n = size;
    memset(text + n, ' ', (size_t)(size - n));
    text[size] = 0;
    if (append_delta(c, &r, i, text, &st) != SMRTCHAT_OK) {
      fprintf(stderr, "smrtbench: delta-seed append %d: %s %s\n", i, st.reason ? st.reason : "", st.message ? st.message : "");
      return 1;
    }
  }
  finish_reply(c, &r);
  printf("{\"op\":\"delta-seed\",\"deltas\":%d,\"bytes\":%lld,\"seconds\":%.2f,\"room\":\"%s\",\"message\":\"%s\"}\n",
         a->deltas, (long long)a->deltas * size, (double)(mono_ns() - t0) / 1e9, r.room, r.message);
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return 0;
}

/* delta-resume: the time to read a finished reply from index 0 to its end, (a) with the C reply reader
 * (smrtchat_reply_stream_open at 0: SUB socket subscribed, ListReplyDeltas pages of 200, then _next
 * until SMRTCHAT_FINISHED; close included), (b) by paging ListReplyDeltas with --limit. Each --calls
 * times, after one untimed read of each; both check that every delta arrived. */
static int mode_delta_resume(const args_t *a) {
  if (!a->message || !a->room || !a->events) die("delta-resume needs --message, --room and --events");
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int calls = a->calls;
  int64_t *rd = calloc((size_t)calls + 1, sizeof *rd), *ls = calloc((size_t)calls + 1, sizeof *ls);
  long bytes = 0, pages = 0;
  for (int i = -1; i < calls; i++) {
    int64_t t0 = mono_ns();
    smrtchat_reply_stream *rs = smrtchat_reply_stream_open(c, a->events, NULL, a->room, a->message, 0, &st);
    if (!rs) die(st.message ? st.message : "reply_stream_open");
    Smrt__Chat__V1__ReplyDelta *d = NULL;
    int code;
    long n = 0, b = 0;
    while ((code = smrtchat_reply_stream_next(rs, 10000, &d, &st)) == SMRTCHAT_OK) {
      if (d->index != n) die("reader: out of order");
      b += (long)strlen(d->text);
      n++;
      smrt__chat__v1__reply_delta__free_unpacked(d, NULL);
    }
    smrtchat_reply_stream_close(rs);
    int64_t el = mono_ns() - t0;
    if (code != SMRTCHAT_FINISHED) die(st.message ? st.message : "reader did not finish");
    if (n != a->deltas) {
      fprintf(stderr, "smrtbench: reader yielded %ld deltas, expected %d\n", n, a->deltas);
      return 1;
    }
    bytes = b;
    if (i >= 0) rd[i] = el;
  }
  for (int i = -1; i < calls; i++) {
    int64_t t0 = mono_ns();
    int64_t from = 0;
    long p = 0;
    for (;;) {
      Smrt__Chat__V1__ListReplyDeltasRequest req = SMRT__CHAT__V1__LIST_REPLY_DELTAS_REQUEST__INIT;
      req.message_id = (char *)a->message;
      req.from_index = from;
      req.limit = a->limit;
      Smrt__Chat__V1__ListReplyDeltasResponse *resp = NULL;
      if (smrtchat_list_reply_deltas(c, NULL, &req, &resp, &st) != SMRTCHAT_OK) die(st.message ? st.message : "list");
      p++;
      for (size_t j = 0; j < resp->n_deltas; j++)
        if (resp->deltas[j]->index != from + (int64_t)j) die("list: not contiguous");
      from += (int64_t)resp->n_deltas;
      int more = resp->has_more && resp->n_deltas > 0;
      protobuf_c_message_free_unpacked(&resp->base, NULL);
      if (!more) break;
    }
    int64_t el = mono_ns() - t0;
    if (from != a->deltas) {
      fprintf(stderr, "smrtbench: ListReplyDeltas paged %lld deltas, expected %d\n", (long long)from, a->deltas);
      return 1;
    }
    pages = p;
    if (i >= 0) ls[i] = el;
  }
  qsort(rd, (size_t)calls, sizeof *rd, cmp64);
  qsort(ls, (size_t)calls, sizeof *ls, cmp64);
  printf("{\"op\":\"delta-resume\",\"deltas\":%d,\"bytes\":%ld,\"calls\":%d,\"reader_p50_ms\":%.2f,\"reader_max_ms\":%.2f,"
         "\"list_limit\":%d,\"list_pages\":%ld,\"list_p50_ms\":%.2f,\"list_max_ms\":%.2f}\n",
         a->deltas, bytes, calls, pct_us(rd, (size_t)calls, .5) / 1000.0, (double)rd[calls - 1] / 1e6, a->limit, pages,
         pct_us(ls, (size_t)calls, .5) / 1000.0, (double)ls[calls - 1] / 1e6);
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return 0;
}

/* ---------- data lifecycle (SPEC §14; the key needs the admin scope, and chat for the sends) ---------- */

/* A client for calls that may run long (ExportRoom over a million messages, EraseProfile): the reply is
 * awaited up to 15 minutes and the REQ socket never resends the request meanwhile (a resend would queue a
 * second export or erasure behind the first). */
static smrtchat_client *svc_client_long(const args_t *a) { return svc_client_with(a, 900000, 900000); }
static void call_or_die(smrtchat_client *c, const smrtchat_call_opts *o, const char *method, const ProtobufCMessage *req,
                        ProtobufCMessage **out) {
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  int code = smrtchat_call_ex(c, o, method, req, NULL, out, &st);
  if (code != SMRTCHAT_OK) {
    fprintf(stderr, "smrtbench: %s: %s %s %s\n", method, smrtchat_code_name(code), st.reason ? st.reason : "",
            st.message ? st.message : "");
    exit(1);
  }
  smrtchat_status_clear(&st);
}

/* export: ExportRoom(--room), then ExportPage from the first cursor until has_more is false; the clock
 * covers both. Counts the NDJSON lines, the message lines ({"type":"message",…}) and the bytes. */
static int mode_export(const args_t *a) {
  if (!a->room) die("export needs --room");
  smrtchat_client *c = svc_client_long(a);
  int64_t t0 = mono_ns();
  Smrt__Chat__V1__ExportRoomRequest er = SMRT__CHAT__V1__EXPORT_ROOM_REQUEST__INIT;
  er.room_id = (char *)a->room;
  ProtobufCMessage *out = NULL;
  call_or_die(c, NULL, "ExportRoom", &er.base, &out);
  int64_t t1 = mono_ns();
  char *export_id = strdup(((Smrt__Chat__V1__ExportRoomResponse *)out)->export_id);
  protobuf_c_message_free_unpacked(out, NULL);
  char *cursor = strdup("");
  long pages = 0, lines = 0, messages = 0, max_page = 0;
  long long bytes = 0;
  static const char MSG[] = "{\"type\":\"message\"";
  for (;;) {
    Smrt__Chat__V1__ExportPageRequest pr = SMRT__CHAT__V1__EXPORT_PAGE_REQUEST__INIT;
    pr.export_id = export_id;
    pr.cursor = cursor;
    out = NULL;
    call_or_die(c, NULL, "ExportPage", &pr.base, &out);
    Smrt__Chat__V1__ExportPageResponse *p = (Smrt__Chat__V1__ExportPageResponse *)out;
    size_t len = strlen(p->data);
    pages++;
    bytes += (long long)len;
    if ((long)len > max_page) max_page = (long)len;
    for (const char *s = p->data, *end = p->data + len; s < end;) {
      const char *nl = memchr(s, '\n', (size_t)(end - s));
      if (!nl) die("export: a page ends inside a line");
      lines++;
      if ((size_t)(nl - s) >= sizeof MSG - 1 && !memcmp(s, MSG, sizeof MSG - 1)) messages++;
      s = nl + 1;
    }
    int more = p->has_more;
    free(cursor);
    cursor = strdup(p->next_cursor);
    protobuf_c_message_free_unpacked(out, NULL);
    if (!more) break;
  }
  int64_t t2 = mono_ns();
  double secs = (double)(t2 - t0) / 1e9;
  printf("{\"op\":\"export\",\"messages\":%ld,\"lines\":%ld,\"bytes\":%lld,\"pages\":%ld,\"max_page_bytes\":%ld,"
         "\"export_call_ms\":%.1f,\"pages_ms\":%.1f,\"seconds\":%.3f,\"messages_per_s\":%.1f}\n",
         messages, lines, bytes, pages, max_page, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, secs,
         (double)messages / secs);
  free(cursor);
  free(export_id);
  smrtchat_client_free(c);
  return 0;
}

/* erase: a new private room of --actor with --sender (the profile to erase) and "bench-other" added;
 * --clients threads send --rows messages as --sender and --count as --actor / bench-other, interleaved
 * (untimed); then one EraseProfile(--sender), timed. Checks messages_erased = --rows and rooms = 1. */
typedef struct {
  const args_t *a;
  const char *room;
  int index, mine, others;
  long errors;
} erase_w;
static void *erase_send_run(void *arg) {
  erase_w *w = arg;
  const args_t *a = w->a;
  smrtchat_client *c = svc_client(a);
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  static const char *words[] = {"deploy", "the", "build", "is", "green", "again", "lunch", "review", "ticket",
                                "merge", "on", "friday", "please", "check", "logs", "agent", "answer", "coffee"};
  uint64_t x = 88172645463325252ULL ^ ((uint64_t)w->index << 32);
  char content[256];
  for (int i = 0, m = 0, o = 0; m < w->mine || o < w->others; i++) {
    int as_me = (m < w->mine) && (o >= w->others || (i & 1) == 0);
    smrtchat_call_opts opts = {0};
    opts.actor_profile_id = as_me ? a->sender : ((o & 1) ? "bench-other" : a->actor);
    int len = snprintf(content, sizeof content, "%s %d/%d:", as_me ? "personal" : "other", w->index, as_me ? m : o);
    int nw = 4 + (int)(x % 12);
    for (int k = 0; k < nw; k++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      len += snprintf(content + len, sizeof content - (size_t)len, " %s", words[x % 18]);
    }
    Smrt__Chat__V1__SendMessageRequest req = SMRT__CHAT__V1__SEND_MESSAGE_REQUEST__INIT;
    req.room_id = (char *)w->room;
    req.content = content;
    if (smrtchat_call_ex(c, &opts, "SendMessage", &req.base, NULL, NULL, &st) != SMRTCHAT_OK) {
      if (!w->errors) fprintf(stderr, "smrtbench: erase: SendMessage: %s %s\n", st.reason ? st.reason : "", st.message ? st.message : "");
      w->errors++;
    }
    if (as_me) m++; else o++;
  }
  smrtchat_status_clear(&st);
  smrtchat_client_free(c);
  return NULL;
}
static int mode_erase(const args_t *a) {
  if (!a->sender || !strcmp(a->sender, a->actor)) die("erase needs --sender, a profile other than --actor");
  smrtchat_client *c = svc_client_long(a);
  char room[128];
  Smrt__Chat__V1__CreateRoomRequest cr = SMRT__CHAT__V1__CREATE_ROOM_REQUEST__INIT;
  cr.name = "erase";
  cr.room_type = SMRT__CHAT__V1__ROOM_TYPE__ROOM_TYPE_PRIVATE;
  ProtobufCMessage *out = NULL;
  call_or_die(c, NULL, "CreateRoom", &cr.base, &out);
  snprintf(room, sizeof room, "%s", ((Smrt__Chat__V1__CreateRoomResponse *)out)->room->id);
  protobuf_c_message_free_unpacked(out, NULL);
  const char *members[] = {a->sender, "bench-other"};
  for (int i = 0; i < 2; i++) {
    Smrt__Chat__V1__AddParticipantRequest ap = SMRT__CHAT__V1__ADD_PARTICIPANT_REQUEST__INIT;
    ap.room_id = room;
    ap.profile_id = (char *)members[i];
    out = NULL;
    call_or_die(c, NULL, "AddParticipant", &ap.base, &out);
    protobuf_c_message_free_unpacked(out, NULL);
  }
  int n = a->clients > 0 ? a->clients : 1;
  erase_w *ws = calloc((size_t)n, sizeof *ws);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  int64_t t0 = mono_ns();
  for (int i = 0; i < n; i++) {
    ws[i] = (erase_w){a, room, i, a->rows / n + (i < a->rows % n), a->count / n + (i < a->count % n), 0};
    pthread_create(&th[i], NULL, erase_send_run, &ws[i]);
  }
  long errors = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    errors += ws[i].errors;
  }
  double seed_s = (double)(mono_ns() - t0) / 1e9;
  if (errors) {
    fprintf(stderr, "smrtbench: erase: %ld sends failed\n", errors);
    return 1;
  }
  Smrt__Chat__V1__EraseProfileRequest ep = SMRT__CHAT__V1__ERASE_PROFILE_REQUEST__INIT;
  ep.profile_id = (char *)a->sender;
  out = NULL;
  int64_t e0 = mono_ns();
  call_or_die(c, NULL, "EraseProfile", &ep.base, &out);
  int64_t el = mono_ns() - e0;
  Smrt__Chat__V1__EraseProfileResponse *r = (Smrt__Chat__V1__EraseProfileResponse *)out;
  if (r->messages_erased != a->rows || r->rooms != 1) {
    fprintf(stderr, "smrtbench: erase: messages_erased %lld, rooms %d; expected %d and 1\n",
            (long long)r->messages_erased, r->rooms, a->rows);
    return 1;
  }
  printf("{\"op\":\"erase\",\"room\":\"%s\",\"profile\":\"%s\",\"messages_erased\":%lld,\"rooms\":%d,\"others\":%d,"
         "\"send_seconds\":%.2f,\"erase_ms\":%.1f}\n", room, a->sender, (long long)r->messages_erased, r->rooms,
         a->count, seed_s, (double)el / 1e6);
  protobuf_c_message_free_unpacked(out, NULL);
  smrtchat_client_free(c);
  return 0;
}

/* Opens --subs idle SUB sockets on --events, prints "ready", and sleeps --seconds. */
static int mode_idle_subs(const args_t *a) {
  char prefix[256];
  snprintf(prefix, sizeof prefix, "smrt.chat.v1/%s/", a->tenant);
  subs_t s;
  subs_open(&s, a->events, a->subs, prefix);
  printf("ready\n");
  fflush(stdout);
  usleep((useconds_t)(a->seconds * 1e6));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: smrtbench MODE [flags] (see the top of smrtbench.c)");
  signal(SIGPIPE, SIG_IGN);
  args_t a;
  parse(argc, argv, &a);
  coalesce_wal = a.coalesce;
  const char *m = argv[1];
  if (!strcmp(m, "echo-server")) return mode_echo_server(&a);
  if (!strcmp(m, "echo-client")) return mode_echo_client(&a);
  if (!strcmp(m, "fanout-bare")) return mode_fanout_bare(&a);
  if (!strcmp(m, "fanout-svc")) return mode_fanout_svc(&a);
  if (!strcmp(m, "sqlite")) return mode_sqlite(&a);
  if (!strcmp(m, "sqlite-send")) return mode_sqlite_send(&a);
  if (!strcmp(m, "sqlite-read")) return mode_sqlite_read(&a);
  if (!strcmp(m, "seed")) return mode_seed(&a);
  if (!strcmp(m, "list")) return mode_list(&a);
  if (!strcmp(m, "mixed")) return mode_mixed(&a);
  if (!strcmp(m, "history")) return mode_history(&a);
  if (!strcmp(m, "sizes")) return mode_sizes(&a);
  if (!strcmp(m, "rooms")) return mode_rooms(&a);
  if (!strcmp(m, "idle-subs")) return mode_idle_subs(&a);
  if (!strcmp(m, "delta-tput")) return mode_delta_tput(&a);
  if (!strcmp(m, "delta-fanout")) return mode_delta_fanout(&a);
  if (!strcmp(m, "delta-seed")) return mode_delta_seed(&a);
  if (!strcmp(m, "delta-resume")) return mode_delta_resume(&a);
  if (!strcmp(m, "export")) return mode_export(&a);
  if (!strcmp(m, "erase")) return mode_erase(&a);
  die("unknown mode");
  return 2;
}
