/* smrtchat-tail: print a tenant's or a room's events in order, one line each:
 *   <event_id> <room_id> <seq> <KIND> <subject_id>
 * catching up first from --after-seq / --after-event-id (default: from now). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smrtchat.h"
#include "common.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: smrtchat-tail [--room ID [--after-seq N] | --after-event-id N] [options]\n"
          "Prints events as: event_id room seq kind subject\n"
          "  --room ID            one room (ListRoomEvents catch-up); default: the whole tenant\n"
          "                       (ListTenantEvents catch-up, needs the events scope)\n"
          "  --after-seq N        room mode: start after this seq (0 = from the first event)\n"
          "  --after-event-id N   tenant mode: start after this event id (0 = whole log)\n"
          "  --count N            exit 0 after N events\n"
          "  --idle-exit-ms MS    exit 0 after MS without an event\n"
          "  --poll-ms MS         poll the log when idle this often (default 1000, 0 = never)\n" TOOL_COMMON_USAGE);
}

int main(int argc, char **argv) {
  tool_cfg cfg;
  tool_cfg_init(&cfg);
  const char *room = NULL, *after_seq = NULL, *after_ev = NULL, *count_s = NULL, *idle_s = NULL,
             *poll_s = NULL;
  for (int i = 1; i < argc; i++) {
    if (tool_common_flag(argc, argv, &i, &cfg) || tool_flag(argc, argv, &i, "--room", &room) ||
        tool_flag(argc, argv, &i, "--after-seq", &after_seq) ||
        tool_flag(argc, argv, &i, "--after-event-id", &after_ev) ||
        tool_flag(argc, argv, &i, "--count", &count_s) ||
        tool_flag(argc, argv, &i, "--idle-exit-ms", &idle_s) ||
        tool_flag(argc, argv, &i, "--poll-ms", &poll_s))
      continue;
    usage();
    return strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ? 0 : 2;
  }
  if (tool_require(&cfg, 1) != 0) return 2;
  if (room && after_ev) {
    fprintf(stderr, "--after-event-id is for tenant mode; use --after-seq with --room\n");
    return 2;
  }
  if (!room && after_seq) {
    fprintf(stderr, "--after-seq needs --room\n");
    return 2;
  }
  long long count = count_s ? atoll(count_s) : 0;
  int idle = idle_s ? atoi(idle_s) : -1;

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  smrtchat_options o = {0};
  o.rpc_endpoints = cfg.rpc;
  o.key_id = cfg.key_id;
  o.secret_hex = cfg.secret;
  o.tenant_id = cfg.tenant;
  o.actor_profile_id = cfg.actor;
  smrtchat_status st = SMRTCHAT_STATUS_INIT;
  smrtchat_client *c = smrtchat_client_new(&o, &st);
  if (!c) {
    fprintf(stderr, "smrtchat-tail: %s %s: %s\n", smrtchat_code_name(st.code), st.reason, st.message);
    return 1;
  }
  smrtchat_sub *s =
      room ? smrtchat_subscribe_room(c, cfg.events, room, after_seq ? atoll(after_seq) : SMRTCHAT_FROM_NOW, &st)
           : smrtchat_subscribe_tenant(c, cfg.events, after_ev ? atoll(after_ev) : SMRTCHAT_FROM_NOW, &st);
  if (!s) {
    fprintf(stderr, "smrtchat-tail: subscribe: %s %s: %s\n", smrtchat_code_name(st.code), st.reason,
            st.message);
    smrtchat_status_clear(&st);
    smrtchat_client_free(c);
    return 1;
  }
  if (poll_s) smrtchat_sub_set_poll_interval(s, atoi(poll_s));
  int rc = 0;
  long long seen = 0;
  while (!stop && (count <= 0 || seen < count)) {
    Smrt__Chat__V1__RoomEvent *ev = NULL;
    int code = smrtchat_next_event(s, idle >= 0 ? idle : 500, &ev, &st);
    if (code == SMRTCHAT_DEADLINE_EXCEEDED) {
      if (idle >= 0) break;
      continue;
    }
    if (code != SMRTCHAT_OK) {
      fprintf(stderr, "smrtchat-tail: %s %s: %s\n", smrtchat_code_name(code), st.reason, st.message);
      rc = 1;
      break;
    }
    printf("%lld %s %lld %s %s\n", (long long)ev->event_id, ev->room_id, (long long)ev->seq,
           smrtchat_event_kind_name(ev->kind), ev->subject_id);
    fflush(stdout);
    smrt__chat__v1__room_event__free_unpacked(ev, NULL);
    seen++;
  }
  smrtchat_status_clear(&st);
  smrtchat_sub_close(s);
  smrtchat_client_free(c);
  return rc;
}
