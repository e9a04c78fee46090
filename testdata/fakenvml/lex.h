// SPDX-License-Identifier: Apache-2.0
//
// lex.h — the tokenizer of the fake's script (grammar: script.c).
#ifndef FAKENVML_LEX_H
#define FAKENVML_LEX_H

#include <stddef.h>
#include <stdint.h>

// lex walks one line's tokens, NUL-terminating them in place, and remembers
// the first error. Every get_* returns 0, or -1 after recording an error
// that names what (the field being read).
struct lex {
	char *p;
	char err[256];
};

int fail_at(struct lex *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *next_token(struct lex *l); // NULL at the end of the line
int more(const struct lex *l);   // whether a token follows
int want(struct lex *l, const char *what, char **out);
int get_u64(struct lex *l, const char *what, uint64_t *v);
int get_u32(struct lex *l, const char *what, uint32_t *v);
int get_i64(struct lex *l, const char *what, int64_t *v);
int get_i32(struct lex *l, const char *what, int32_t *v);
int get_f64(struct lex *l, const char *what, double *v); // also nan, inf
// get_str decodes a string token ("-" empty, %XX a byte) into buf, cap
// bytes including the NUL.
int get_str(struct lex *l, const char *what, char *buf, size_t cap);
int end_of_line(struct lex *l);

#endif
