#define _POSIX_C_SOURCE 200809L
#include "json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p;
  int err;
} jp;

static void ws(jp *s) {
  while (isspace((unsigned char)*s->p)) s->p++;
}

static jval *mk(jtype t) {
  jval *v = calloc(1, sizeof *v);
  if (v) v->type = t;
  return v;
}

static void put_utf8(char **o, unsigned cp) {
  char *d = *o;
  if (cp < 0x80) *d++ = (char)cp;
  else if (cp < 0x800) { *d++ = (char)(0xc0 | cp >> 6); *d++ = (char)(0x80 | (cp & 0x3f)); }
  else if (cp < 0x10000) { *d++ = (char)(0xe0 | cp >> 12); *d++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *d++ = (char)(0x80 | (cp & 0x3f)); }
  else { *d++ = (char)(0xf0 | cp >> 18); *d++ = (char)(0x80 | ((cp >> 12) & 0x3f)); *d++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *d++ = (char)(0x80 | (cp & 0x3f)); }
  *o = d;
}

static char *parse_str(jp *s) {
  if (*s->p != '"') { s->err = 1; return NULL; }
  s->p++;
  char *out = malloc(strlen(s->p) * 2 + 1), *o = out;
  while (*s->p && *s->p != '"') {
    if (*s->p == '\\') {
      s->p++;
      char c = *s->p++;
      switch (c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
          unsigned cp = (unsigned)strtoul((char[5]){s->p[0], s->p[1], s->p[2], s->p[3], 0}, NULL, 16);
          s->p += 4;
          if (cp >= 0xd800 && cp < 0xdc00 && s->p[0] == '\\' && s->p[1] == 'u') {
            unsigned lo = (unsigned)strtoul((char[5]){s->p[2], s->p[3], s->p[4], s->p[5], 0}, NULL, 16);
            s->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          put_utf8(&o, cp);
          break;
        }
        default: *o++ = c;
      }
    } else {
      *o++ = *s->p++;
    }
  }
  if (*s->p != '"') s->err = 1; else s->p++;
  *o = '\0';
  return out;
}

static jval *parse_val(jp *s) {
  ws(s);
  jval *v = NULL;
  if (*s->p == '{' || *s->p == '[') {
    int obj = *s->p == '{';
    v = mk(obj ? J_OBJ : J_ARR);
    s->p++;
    ws(s);
    if (*s->p == (obj ? '}' : ']')) { s->p++; return v; }
    for (;;) {
      char *key = NULL;
      ws(s);
      if (obj) {
        key = parse_str(s);
        ws(s);
        if (*s->p != ':') { s->err = 1; free(key); return v; }
        s->p++;
      }
      jval *item = parse_val(s);
      v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
      v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
      v->items[v->n] = item;
      v->keys[v->n] = key;
      v->n++;
      if (s->err) return v;
      ws(s);
      if (*s->p == ',') { s->p++; continue; }
      if (*s->p == (obj ? '}' : ']')) { s->p++; return v; }
      s->err = 1;
      return v;
    }
  }
  if (*s->p == '"') { v = mk(J_STR); v->str = parse_str(s); return v; }
  if (strncmp(s->p, "null", 4) == 0) { s->p += 4; return mk(J_NULL); }
  if (strncmp(s->p, "true", 4) == 0) { s->p += 4; v = mk(J_BOOL); v->num = 1; return v; }
  if (strncmp(s->p, "false", 5) == 0) { s->p += 5; return mk(J_BOOL); }
  if (*s->p == '-' || isdigit((unsigned char)*s->p)) {
    char *end;
    v = mk(J_NUM);
    v->num = strtoll(s->p, &end, 10);
    s->p = end;
    return v;
  }
  s->err = 1;
  return mk(J_NULL);
}

jval *json_parse(const char *text) {
  jp s = {text, 0};
  jval *v = parse_val(&s);
  if (s.err) { json_free(v); return NULL; }
  return v;
}

void json_free(jval *v) {
  if (!v) return;
  for (size_t i = 0; i < v->n; i++) {
    json_free(v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  free(v);
}

const jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (obj->keys[i] && strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}
