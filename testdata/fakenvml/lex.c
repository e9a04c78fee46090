// SPDX-License-Identifier: Apache-2.0
//
// lex.c — the tokenizer of the fake's script (grammar: script.c).
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lex.h"

int fail_at(struct lex *l, const char *fmt, ...) {
	va_list ap;
	if (l->err[0] == 0) {
		va_start(ap, fmt);
		vsnprintf(l->err, sizeof l->err, fmt, ap);
		va_end(ap);
	}
	return -1;
}

// next_token returns the next token (NUL-terminated in place) or NULL at the end.
char *next_token(struct lex *l) {
	while (*l->p == ' ' || *l->p == '\t')
		l->p++;
	if (*l->p == 0)
		return NULL;
	char *t = l->p;
	while (*l->p && *l->p != ' ' && *l->p != '\t')
		l->p++;
	if (*l->p)
		*l->p++ = 0;
	return t;
}

// more reports whether another token follows, without consuming it.
int more(const struct lex *l) {
	const char *p = l->p;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p != 0;
}

int want(struct lex *l, const char *what, char **out) {
	*out = next_token(l);
	if (*out == NULL)
		return fail_at(l, "missing %s", what);
	return 0;
}

int get_u64(struct lex *l, const char *what, uint64_t *v) {
	char *t, *end;
	if (want(l, what, &t))
		return -1;
	errno = 0;
	unsigned long long x = strtoull(t, &end, 10);
	if (errno || *end || t[0] == '-' || !isdigit((unsigned char)t[0]))
		return fail_at(l, "%s: %s is not an unsigned integer", what, t);
	*v = x;
	return 0;
}

int get_u32(struct lex *l, const char *what, uint32_t *v) {
	uint64_t x;
	if (get_u64(l, what, &x))
		return -1;
	if (x > UINT32_MAX)
		return fail_at(l, "%s: %llu does not fit 32 bits", what, (unsigned long long)x);
	*v = (uint32_t)x;
	return 0;
}

int get_i64(struct lex *l, const char *what, int64_t *v) {
	char *t, *end;
	if (want(l, what, &t))
		return -1;
	errno = 0;
	long long x = strtoll(t, &end, 10);
	if (errno || *end || end == t)
		return fail_at(l, "%s: %s is not an integer", what, t);
	*v = x;
	return 0;
}

int get_i32(struct lex *l, const char *what, int32_t *v) {
	int64_t x;
	if (get_i64(l, what, &x))
		return -1;
	if (x < INT32_MIN || x > INT32_MAX)
		return fail_at(l, "%s: %lld does not fit 32 bits", what, (long long)x);
	*v = (int32_t)x;
	return 0;
}

int get_f64(struct lex *l, const char *what, double *v) {
	char *t, *end;
	if (want(l, what, &t))
		return -1;
	*v = strtod(t, &end);
	if (*end || end == t)
		return fail_at(l, "%s: %s is not a number", what, t);
	return 0;
}

int hexval(char c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

// get_str decodes a string token into buf (cap bytes including the NUL).
int get_str(struct lex *l, const char *what, char *buf, size_t cap) {
	char *t;
	size_t n = 0;
	if (want(l, what, &t))
		return -1;
	if (strcmp(t, "-") == 0) {
		buf[0] = 0;
		return 0;
	}
	for (const char *p = t; *p; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
			if (lo < 0)
				return fail_at(l, "%s: bad %%-escape in %s", what, t);
			c = hi << 4 | lo;
			p += 2;
		}
		if (c == 0)
			return fail_at(l, "%s: %%00 in %s", what, t);
		if (n + 1 >= cap)
			return fail_at(l, "%s: %s is longer than %zu bytes", what, t, cap - 1);
		buf[n++] = (char)c;
	}
	buf[n] = 0;
	return 0;
}

int end_of_line(struct lex *l) {
	char *t = next_token(l);
	if (t)
		return fail_at(l, "unexpected %s at the end of the line", t);
	return 0;
}
