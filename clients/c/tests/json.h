/* A minimal JSON reader for the test vectors (objects, arrays, strings, integers, literals). */
#ifndef SMRTCHAT_TEST_JSON_H
#define SMRTCHAT_TEST_JSON_H
#include <stddef.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
  jtype type;
  long long num;   /* J_NUM (integers only), J_BOOL */
  char *str;       /* J_STR (UTF-8) */
  size_t n;        /* J_ARR / J_OBJ element count */
  struct jval **items;
  char **keys;     /* J_OBJ */
} jval;

jval *json_parse(const char *text);
void json_free(jval *v);
const jval *json_get(const jval *obj, const char *key);
#endif
