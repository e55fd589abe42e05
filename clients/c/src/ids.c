/* Signing (SPEC §7.3), request ids, and the deterministic ids of SPEC §9. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "smrtchat.h"
#include "internal.h"

int64_t smrtchat_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void smrtchat_hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

long smrtchat_hex_decode(const char *hex, uint8_t *out, size_t out_cap) {
  size_t n = strlen(hex);
  if (n % 2 != 0 || n / 2 > out_cap) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return (long)(n / 2);
}

char *smrtchat_canonical(const char *method, const char *tenant_id, const char *actor_profile_id,
                         const char *request_id, int64_t timestamp_unix_ms, const uint8_t *payload,
                         size_t payload_len) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  char digest_hex[2 * SHA256_DIGEST_LENGTH + 1];
  static const uint8_t empty = 0;
  SHA256(payload ? payload : &empty, payload_len, digest);
  smrtchat_hex_encode(digest, sizeof digest, digest_hex);
  if (!method) method = "";
  if (!tenant_id) tenant_id = "";
  if (!actor_profile_id) actor_profile_id = "";
  if (!request_id) request_id = "";
  size_t cap = strlen("SMRTCHAT-HMAC-V1\n") + strlen(method) + strlen(tenant_id) +
               strlen(actor_profile_id) + strlen(request_id) + 32 + sizeof digest_hex + 8;
  char *s = malloc(cap);
  if (!s) return NULL;
  snprintf(s, cap, "SMRTCHAT-HMAC-V1\n%s\n%s\n%s\n%s\n%lld\n%s", method, tenant_id,
           actor_profile_id, request_id, (long long)timestamp_unix_ms, digest_hex);
  return s;
}

int smrtchat_sign(const uint8_t *secret, size_t secret_len, const char *method,
                  const char *tenant_id, const char *actor_profile_id, const char *request_id,
                  int64_t timestamp_unix_ms, const uint8_t *payload, size_t payload_len,
                  uint8_t out[SMRTCHAT_HMAC_LEN]) {
  char *canonical = smrtchat_canonical(method, tenant_id, actor_profile_id, request_id,
                                       timestamp_unix_ms, payload, payload_len);
  if (!canonical) return -1;
  unsigned int len = 0;
  static const uint8_t empty_key = 0;
  const unsigned char *r = HMAC(EVP_sha256(), secret_len ? secret : &empty_key, (int)secret_len,
                                (const unsigned char *)canonical, strlen(canonical), out, &len);
  free(canonical);
  return (r && len == SMRTCHAT_HMAC_LEN) ? 0 : -1;
}

int smrtchat_request_id(char out[33]) {
  /* 48 bits of Unix milliseconds, then 80 random bits: later ids sort later, so the server's replay
   * cache (keyed by key id and request id) appends instead of touching a random index page. */
  uint8_t raw[16];
  if (RAND_bytes(raw + 6, 10) != 1) return -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  for (int i = 0; i < 6; i++) raw[i] = (uint8_t)(ms >> (40 - 8 * i));
  smrtchat_hex_encode(raw, sizeof raw, out);
  return 0;
}

static void format_uuid(const uint8_t b[16], char out[37]) {
  char hex[33];
  smrtchat_hex_encode(b, 16, hex);
  snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

int smrtchat_dm_room_id(const char *tenant_id, const char *profile_a, const char *profile_b,
                        char out[37]) {
  const char *a = profile_a, *b = profile_b;
  if (strcmp(a, b) > 0) { /* plain byte order (strcmp compares as unsigned char) */
    const char *t = a;
    a = b;
    b = t;
  }
  size_t cap = strlen(tenant_id) + strlen(a) + strlen(b) + 8;
  char *name = malloc(cap);
  if (!name) return -1;
  snprintf(name, cap, "dm %s %s %s", tenant_id, a, b);
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)name, strlen(name), digest);
  free(name);
  /* h[0:8]-h[8:12]-5h[13:16]-XXh[18:20]-h[20:32], XX = (h[16:18] & 0x3f) | 0x80 */
  char h[41];
  smrtchat_hex_encode(digest, sizeof digest, h);
  char xx[3];
  snprintf(xx, sizeof xx, "%02x", (digest[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%.8s-%.4s-5%.3s-%.2s%.2s-%.12s", h, h + 8, h + 13, xx, h + 18, h + 20);
  return 0;
}

/* Appends a JSON string literal (JSON.stringify style: non-ASCII as itself). */
static void json_string(sc_buf *b, const char *s) {
  sc_buf_putc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': sc_buf_puts(b, "\\\""); break;
      case '\\': sc_buf_puts(b, "\\\\"); break;
      case '\b': sc_buf_puts(b, "\\b"); break;
      case '\f': sc_buf_puts(b, "\\f"); break;
      case '\n': sc_buf_puts(b, "\\n"); break;
      case '\r': sc_buf_puts(b, "\\r"); break;
      case '\t': sc_buf_puts(b, "\\t"); break;
      default:
        if (*p < 0x20) {
          char esc[8];
          snprintf(esc, sizeof esc, "\\u%04x", *p);
          sc_buf_puts(b, esc);
        } else {
          sc_buf_putc(b, (char)*p);
        }
    }
  }
  sc_buf_putc(b, '"');
}

int smrtchat_client_request_message_id(const char *tenant_id, const char *room_id,
                                       const char *thread_id, const char *actor_profile_id,
                                       const char *client_request_id, char out[37]) {
  static const uint8_t ns[16] = {0xb7, 0xe2, 0xf1, 0xc4, 0x5a, 0x3d, 0x4e, 0x8f,
                                 0x9b, 0x6a, 0x2c, 0x1d, 0x0e, 0x9f, 0x8a, 0x7b};
  sc_buf b = {0};
  sc_buf_puts(&b, "[");
  json_string(&b, "smrt-chat:client-request");
  sc_buf_putc(&b, ',');
  json_string(&b, tenant_id);
  sc_buf_putc(&b, ',');
  json_string(&b, room_id);
  sc_buf_putc(&b, ',');
  if (thread_id && *thread_id)
    json_string(&b, thread_id);
  else
    sc_buf_puts(&b, "null");
  sc_buf_putc(&b, ',');
  json_string(&b, actor_profile_id);
  sc_buf_putc(&b, ',');
  json_string(&b, client_request_id);
  sc_buf_putc(&b, ']');
  if (b.failed) {
    free(b.data);
    return -1;
  }
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, ns, sizeof ns) == 1 &&
           EVP_DigestUpdate(ctx, b.data, b.len) == 1 &&
           EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == 20;
  EVP_MD_CTX_free(ctx);
  free(b.data);
  if (!ok) return -1;
  digest[6] = (uint8_t)((digest[6] & 0x0f) | 0x50);
  digest[8] = (uint8_t)((digest[8] & 0x3f) | 0x80);
  format_uuid(digest, out);
  return 0;
}
