/* Internal helpers of libsmrtchat (not installed). */
#ifndef SMRTCHAT_INTERNAL_H
#define SMRTCHAT_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "smrtchat.h"

typedef struct sc_buf {
  char *data;
  size_t len, cap;
  int failed;
} sc_buf;

void sc_buf_put(sc_buf *b, const void *p, size_t n);
void sc_buf_putc(sc_buf *b, char ch);
void sc_buf_puts(sc_buf *b, const char *s);

char *sc_strdup(const char *s);
/* Sets st (if given) to a client-side failure; returns code. */
int sc_fail(smrtchat_status *st, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
