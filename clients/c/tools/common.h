/* Flags shared by the smrtchat tools: --rpc --events --key-id --secret --tenant --actor
   (defaults from SMRTCHAT_RPC, SMRTCHAT_EVENTS, SMRTCHAT_KEY_ID, SMRTCHAT_SECRET,
   SMRTCHAT_TENANT, SMRTCHAT_ACTOR). */
#ifndef SMRTCHAT_TOOLS_COMMON_H
#define SMRTCHAT_TOOLS_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tool_cfg {
  const char *rpc, *events, *key_id, *secret, *tenant, *actor;
} tool_cfg;

static inline const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return (v && *v) ? v : dflt;
}

static inline void tool_cfg_init(tool_cfg *c) {
  c->rpc = env_or("SMRTCHAT_RPC", "tcp://127.0.0.1:7450");
  c->events = env_or("SMRTCHAT_EVENTS", "tcp://127.0.0.1:7451");
  c->key_id = env_or("SMRTCHAT_KEY_ID", NULL);
  c->secret = env_or("SMRTCHAT_SECRET", NULL);
  c->tenant = env_or("SMRTCHAT_TENANT", NULL);
  c->actor = env_or("SMRTCHAT_ACTOR", NULL);
}

/* Consumes a common flag at argv[*i] ("--flag value" or "--flag=value"); returns 1 if it did. */
static inline int tool_flag(int argc, char **argv, int *i, const char *name, const char **out) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') {
    *out = a + n + 1;
    return 1;
  }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s needs a value\n", name);
    exit(2);
  }
  *out = argv[++*i];
  return 1;
}

static inline int tool_common_flag(int argc, char **argv, int *i, tool_cfg *c) {
  return tool_flag(argc, argv, i, "--rpc", &c->rpc) ||
         tool_flag(argc, argv, i, "--events", &c->events) ||
         tool_flag(argc, argv, i, "--key-id", &c->key_id) ||
         tool_flag(argc, argv, i, "--secret", &c->secret) ||
         tool_flag(argc, argv, i, "--tenant", &c->tenant) ||
         tool_flag(argc, argv, i, "--actor", &c->actor);
}

static inline int tool_require(const tool_cfg *c, int need_events) {
  const char *missing = !c->key_id ? "--key-id" : !c->secret ? "--secret"
                        : !c->tenant ? "--tenant" : !c->actor ? "--actor"
                        : (need_events && !c->events) ? "--events" : NULL;
  if (missing) {
    fprintf(stderr, "missing %s (or its SMRTCHAT_* environment variable)\n", missing);
    return -1;
  }
  return 0;
}

#define TOOL_COMMON_USAGE                                                                   \
  "  --rpc URL[,URL...]   RPC endpoint(s)            (SMRTCHAT_RPC, default tcp://127.0.0.1:7450)\n" \
  "  --events URL         events endpoint            (SMRTCHAT_EVENTS, default tcp://127.0.0.1:7451)\n" \
  "  --key-id ID          service key id             (SMRTCHAT_KEY_ID)\n"                    \
  "  --secret HEX         service key secret         (SMRTCHAT_SECRET)\n"                    \
  "  --tenant T           tenant                     (SMRTCHAT_TENANT)\n"                    \
  "  --actor P            acting profile             (SMRTCHAT_ACTOR)\n"
#endif
