/*
 * cJSON with our allocator, a strict parse and an exact writer. See json.h.
 *
 * cJSON accepts more than JSON (raw control characters and invalid UTF-8
 * in strings, "01", "-.5", "1.", a byte-order mark anywhere a value starts,
 * any byte up to 0x20 as whitespace) and reads "\uZZZZ" as a NUL that cuts
 * the string short. A record that one program accepts must mean the same to
 * the next one (jq, Python), so a lexical pass over the text rejects all of
 * that before cJSON builds the tree; it also counts the nesting, which
 * cJSON would otherwise allow up to 1000 levels.
 */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/core.h"
#include "json.h"

static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

/* Set when a cJSON allocation failed on this thread, to tell OOM from bad input. */
static _Thread_local int json_oom;

/* cJSON's allocator: fundus_malloc, noting a failure for fundus__json_parse. */
static void *json_malloc(size_t n)
{
	void *p = fundus_malloc(n);

	if (p == NULL)
		json_oom = 1;
	return p;
}

/* Installs the hooks and makes the C numeric locale; runs once per process. */
static void json_init_once(void)
{
	cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = fundus_free};

	cJSON_InitHooks(&hooks);
	/* The C locale is built in; newlocale only fails when out of memory. */
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

void fundus__json_init(void)
{
	pthread_once(&json_once, json_init_once);
}

/* Switches this thread to the C numeric locale; returns the one to restore. */
static locale_t c_numeric_begin(void)
{
	return c_locale ? uselocale(c_locale) : (locale_t)0;
}

/* Gives the thread back the locale that c_numeric_begin() replaced. */
static void c_numeric_end(locale_t old)
{
	if (old)
		uselocale(old);
}

/* Paths and messages. */

/* Appends text to the path, cutting it at the buffer's end. */
static void jpath_append(struct fundus__jpath *p, const char *text, size_t n)
{
	size_t room = sizeof p->s - 1 - p->len;

	if (n > room)
		n = room;
	memcpy(p->s + p->len, text, n);
	p->len += n;
	p->s[p->len] = '\0';
}

size_t fundus__jpath_key(struct fundus__jpath *p, const char *key)
{
	size_t saved = p->len, n = 0;
	char k[64];

	if (p->len > 0)
		jpath_append(p, ".", 1);
	/* Keys are arbitrary strings; keep messages printable and short. */
	for (; key[n] && n < sizeof k - 1; n++)
		k[n] = (unsigned char)key[n] < 0x20 || key[n] == 0x7f ? '?' : key[n];
	jpath_append(p, k, n);
	if (key[n])
		jpath_append(p, "...", 3);
	return saved;
}

size_t fundus__jpath_index(struct fundus__jpath *p, size_t i)
{
	size_t saved = p->len;
	char k[32];
	int n = snprintf(k, sizeof k, "[%zu]", i);

	jpath_append(p, k, (size_t)n);
	return saved;
}

void fundus__jpath_pop(struct fundus__jpath *p, size_t len)
{
	p->len = len;
	p->s[len] = '\0';
}

int fundus__json_error(const struct fundus__jpath *p, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p && p->len > 0)
		return fundus_error_set(code, "%s: %s", p->s, msg);
	return fundus_error_set(code, "%s", msg);
}

const char *fundus__json_type_name(const cJSON *v)
{
	switch (v ? v->type & 0xff : cJSON_Invalid) {
	case cJSON_False: return "false";
	case cJSON_True: return "true";
	case cJSON_NULL: return "null";
	case cJSON_Number: return "a number";
	case cJSON_String: return "a string";
	case cJSON_Array: return "an array";
	case cJSON_Object: return "an object";
	}
	return "nothing";
}

/* The lexical pass. */

/* Returns the length (1 to 4) of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (n < 2 || (s[1] & 0xc0) != 0x80)
		return 0;
	if (c < 0xe0)
		return 2;
	if (n < 3 || (s[2] & 0xc0) != 0x80)
		return 0;
	if (c < 0xf0) {
		/* Overlong forms and UTF-16 surrogates are not UTF-8. */
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (n < 4 || (s[3] & 0xc0) != 0x80)
		return 0;
	if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return 4;
}

/* An ASCII digit, whatever the locale. */
static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* The value of a hexadecimal digit, or -1. */
static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Columns in messages are 1-based byte offsets. */
static int lex_error(int code, size_t at, const char *what)
{
	return fundus_error_set(code, "column %zu: %s", at + 1, what);
}

/* Checks the string starting at s[*i] == '"' and moves *i past it. */
static int lex_string(const unsigned char *s, size_t len, size_t *i)
{
	size_t start = *i, k = start + 1;

	for (;;) {
		unsigned c;

		if (k >= len)
			return lex_error(FUNDUS_EFORMAT, start, "unterminated string");
		c = s[k];
		if (c == '"')
			break;
		if (c == '\\') {
			if (k + 1 >= len)
				return lex_error(FUNDUS_EFORMAT, start, "unterminated string");
			c = s[k + 1];
			if (c == 'u') {
				int v = 0;

				for (size_t j = 2; j < 6; j++) {
					int h = k + j < len ? hex_value(s[k + j]) : -1;

					if (h < 0)
						return lex_error(FUNDUS_EFORMAT, k,
								 "invalid \\u escape");
					v = v * 16 + h;
				}
				/* cJSON's strings end at the first NUL. */
				if (v == 0)
					return lex_error(FUNDUS_EUNSUPPORTED, k,
							 "\\u0000 in a string is not supported");
				k += 6;
			} else if (c != 0 && strchr("\"\\/bfnrt", (int)c)) {
				k += 2;
			} else {
				return lex_error(FUNDUS_EFORMAT, k, "invalid escape in a string");
			}
			continue;
		}
		if (c < 0x20)
			return lex_error(FUNDUS_EFORMAT, k,
					 "control character in a string (write it escaped)");
		if (c < 0x80) {
			k++;
			continue;
		}
		c = (unsigned)utf8_seq(s + k, len - k);
		if (c == 0)
			return lex_error(FUNDUS_EFORMAT, k, "invalid UTF-8 in a string");
		k += c;
	}
	*i = k + 1;
	return 0;
}

/* Checks the number starting at s[*i] against the JSON grammar; moves *i past it. */
static int lex_number(const unsigned char *s, size_t len, size_t *i)
{
	size_t start = *i, k = start;

	if (s[k] == '-')
		k++;
	if (k < len && s[k] == '0') {
		k++;
	} else if (k < len && is_digit(s[k])) {
		while (k < len && is_digit(s[k]))
			k++;
	} else {
		return lex_error(FUNDUS_EFORMAT, start, "invalid number");
	}
	if (k < len && s[k] == '.') {
		if (++k >= len || !is_digit(s[k]))
			return lex_error(FUNDUS_EFORMAT, start, "invalid number");
		while (k < len && is_digit(s[k]))
			k++;
	}
	if (k < len && (s[k] == 'e' || s[k] == 'E')) {
		k++;
		if (k < len && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k >= len || !is_digit(s[k]))
			return lex_error(FUNDUS_EFORMAT, start, "invalid number");
		while (k < len && is_digit(s[k]))
			k++;
	}
	if (k < len && (is_digit(s[k]) || s[k] == '.' || s[k] == '+' || s[k] == '-' ||
			s[k] == 'e' || s[k] == 'E'))
		return lex_error(FUNDUS_EFORMAT, start, "invalid number");
	/* cJSON copies a number into a 64-byte buffer before strtod. */
	if (k - start > 63)
		return lex_error(FUNDUS_EUNSUPPORTED, start,
				 "number longer than 63 characters is not supported");
	*i = k;
	return 0;
}

/*
 * The lexical pass: strict tokens, nesting at most max_depth. *depth_end is
 * the nesting left open at the end, to tell a cut line from other damage.
 */
static int lex(const unsigned char *s, size_t len, int max_depth, int *depth_end)
{
	int depth = 0, rc;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];

		switch (c) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
		case ',':
		case ':': i++; break;
		case '{':
		case '[':
			if (++depth > max_depth)
				return fundus_error_set(FUNDUS_ELIMIT,
							"column %zu: nested deeper than %d levels",
							i + 1, max_depth);
			i++;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			i++;
			break;
		case '"':
			if ((rc = lex_string(s, len, &i)) < 0)
				return rc;
			break;
		default:
			if (c == '-' || is_digit((int)c)) {
				if ((rc = lex_number(s, len, &i)) < 0)
					return rc;
			} else if (c >= 'a' && c <= 'z') {
				/* true, false, null: cJSON checks the spelling. */
				i++;
			} else if (c >= 0x20 && c < 0x7f) {
				return fundus_error_set(FUNDUS_EFORMAT,
							"column %zu: unexpected character '%c'",
							i + 1, (int)c);
			} else {
				return fundus_error_set(
				    FUNDUS_EFORMAT, "column %zu: unexpected byte 0x%02x", i + 1, c);
			}
		}
	}
	*depth_end = depth;
	return 0;
}

/* Checks a parsed tree: finite numbers and unique keys; depth is bounded by the lexer. */
static int check_tree(const cJSON *v, struct fundus__jpath *p)
{
	const cJSON *c;
	size_t i = 0, saved;
	int rc;

	switch (v->type & 0xff) {
	case cJSON_Number:
		/* strtod turns 1e999 into infinity; JSON has no way to write it back. */
		if (!isfinite(v->valuedouble))
			return fundus__json_error(p, FUNDUS_EFORMAT, "number out of range");
		return 0;
	case cJSON_Object:
		if ((rc = fundus__json_check_keys(v, p, FUNDUS_EFORMAT)) < 0)
			return rc;
		for (c = v->child; c; c = c->next) {
			saved = fundus__jpath_key(p, c->string);
			rc = check_tree(c, p);
			fundus__jpath_pop(p, saved);
			if (rc < 0)
				return rc;
		}
		return 0;
	case cJSON_Array:
		for (c = v->child; c; c = c->next, i++) {
			saved = fundus__jpath_index(p, i);
			rc = check_tree(c, p);
			fundus__jpath_pop(p, saved);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	return 0;
}

int fundus__json_parse(const char *text, size_t len, int max_depth, cJSON **out)
{
	const unsigned char *s = (const unsigned char *)text;
	const char *end = NULL;
	struct fundus__jpath path = {{0}, 0};
	int depth_end = 0, rc;
	size_t at, first = 0;
	locale_t old;
	cJSON *v;

	*out = NULL;
	fundus__json_init();
	if ((rc = lex(s, len, max_depth, &depth_end)) < 0)
		return rc;
	while (first < len &&
	       (s[first] == ' ' || s[first] == '\t' || s[first] == '\r' || s[first] == '\n'))
		first++;
	if (first == len)
		return fundus_error_set(FUNDUS_EFORMAT, "column %zu: no JSON value", len + 1);
	json_oom = 0;
	old = c_numeric_begin();
	v = cJSON_ParseWithLengthOpts(text + first, len - first, &end, 0);
	c_numeric_end(old);
	if (v == NULL) {
		if (json_oom)
			return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
		at = end ? (size_t)(end - text) : first;
		if (depth_end > 0 && at + 1 >= len)
			return fundus_error_set(
			    FUNDUS_EFORMAT, "column %zu: unexpected end of line (JSON cut short)",
			    len + 1);
		return fundus_error_set(FUNDUS_EFORMAT, "column %zu: invalid JSON", at + 1);
	}
	/* cJSON's require_null_terminated wants a NUL inside len: check the tail here. */
	at = (size_t)(end - text);
	while (at < len && (s[at] == ' ' || s[at] == '\t' || s[at] == '\r' || s[at] == '\n'))
		at++;
	if (at < len) {
		cJSON_Delete(v);
		return fundus_error_set(FUNDUS_EFORMAT,
					"column %zu: unexpected text after the JSON value", at + 1);
	}
	if ((rc = check_tree(v, &path)) < 0) {
		cJSON_Delete(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* Writing. */

int fundus__jbuf_put(struct fundus__jbuf *b, const char *s, size_t n)
{
	if (n + 1 > b->cap - b->len || b->data == NULL) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap - b->len < n + 1) {
			if (cap > SIZE_MAX / 2)
				return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
			cap *= 2;
		}
		d = fundus_realloc(b->data, cap);
		if (d == NULL)
			return FUNDUS_ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Rewrites the exponent of a %g number: "1e+300" -> "1e300", "1e-07" -> "1e-7". */
static size_t tidy_exponent(char *buf, size_t n)
{
	char *e = memchr(buf, 'e', n), *d, *w;

	if (e == NULL)
		return n;
	w = e + 1;
	d = e + 1;
	if (*d == '+')
		d++;
	else if (*d == '-')
		*w++ = *d++;
	while (*d == '0' && d[1] != '\0')
		d++;
	while (*d)
		*w++ = *d++;
	*w = '\0';
	return (size_t)(w - buf);
}

size_t fundus__json_format_number(double d, char buf[32])
{
	locale_t old;
	int n = 0;

	fundus__json_init();
	old = c_numeric_begin();
	if (d == trunc(d) && fabs(d) < 9007199254740992.0) {
		/* Exact: every integer below 2^53 is a double. */
		n = snprintf(buf, 32, "%.0f", d);
	} else {
		/*
		 * For a normal double, %.15g is already the shortest if any of up
		 * to 15 digits reads back; subnormals can need fewer digits.
		 */
		for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
			n = snprintf(buf, 32, "%.*g", prec, d);
			if (strtod(buf, NULL) == d)
				break;
		}
	}
	c_numeric_end(old);
	return tidy_exponent(buf, (size_t)n);
}

int fundus__json_write_number(struct fundus__jbuf *b, double d, const struct fundus__jpath *p)
{
	char buf[32];
	size_t n;

	if (!isfinite(d))
		return fundus__json_error(p, FUNDUS_EINVAL, "not a finite number");
	n = fundus__json_format_number(d, buf);
	return fundus__jbuf_put(b, buf, n);
}

int fundus__json_write_string(struct fundus__jbuf *b, const char *str,
			      const struct fundus__jpath *p)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, run = 0;
	int rc;

	if ((rc = fundus__jbuf_put(b, "\"", 1)) < 0)
		return rc;
	/* Copy runs of plain bytes at once; escape the rest. */
	while (i < n) {
		unsigned c = s[i];
		char esc[8];
		size_t k = 0;

		if (c >= 0x80) {
			k = utf8_seq(s + i, n - i);
			if (k == 0)
				return fundus__json_error(p, FUNDUS_EINVAL, "not valid UTF-8");
			i += k;
			run += k;
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		if ((rc = fundus__jbuf_put(b, (const char *)s + i - run, run)) < 0)
			return rc;
		run = 0;
		switch (c) {
		case '"': k = (size_t)snprintf(esc, sizeof esc, "\\\""); break;
		case '\\': k = (size_t)snprintf(esc, sizeof esc, "\\\\"); break;
		case '\b': k = (size_t)snprintf(esc, sizeof esc, "\\b"); break;
		case '\f': k = (size_t)snprintf(esc, sizeof esc, "\\f"); break;
		case '\n': k = (size_t)snprintf(esc, sizeof esc, "\\n"); break;
		case '\r': k = (size_t)snprintf(esc, sizeof esc, "\\r"); break;
		case '\t': k = (size_t)snprintf(esc, sizeof esc, "\\t"); break;
		default: k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c); break;
		}
		if ((rc = fundus__jbuf_put(b, esc, k)) < 0)
			return rc;
		i++;
	}
	if ((rc = fundus__jbuf_put(b, (const char *)s + i - run, run)) < 0)
		return rc;
	return fundus__jbuf_put(b, "\"", 1);
}

/* Orders keys for qsort. */
static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reports a duplicate key, with the key in the message. */
static int dup_error(const struct fundus__jpath *p, int code, const char *key)
{
	struct fundus__jpath q = *p;

	/* The key goes through the path sanitiser to keep the message printable. */
	q.len = 0;
	q.s[0] = '\0';
	fundus__jpath_key(&q, key);
	return fundus__json_error(p, code, "duplicate key \"%s\"", q.s);
}

int fundus__json_check_keys(const cJSON *obj, const struct fundus__jpath *p, int code)
{
	const cJSON *a, *c;
	const char **keys;
	size_t n = 0, i;

	for (c = obj->child; c; c = c->next)
		n++;
	if (n <= 16) {
		/* Most objects are small: compare pairs without allocating. */
		for (a = obj->child; a; a = a->next)
			for (c = a->next; c; c = c->next)
				if (a->string && c->string && strcmp(a->string, c->string) == 0)
					return dup_error(p, code, a->string);
		return 0;
	}
	keys = fundus_calloc(n, sizeof *keys);
	if (keys == NULL)
		return FUNDUS_ENOMEM;
	for (i = 0, c = obj->child; c; c = c->next)
		if (c->string)
			keys[i++] = c->string;
	n = i;
	qsort(keys, n, sizeof *keys, cmp_keys);
	for (i = 1; i < n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			int rc = dup_error(p, code, keys[i]);

			fundus_free(keys);
			return rc;
		}
	fundus_free(keys);
	return 0;
}

/* Appends v as compact JSON; depth counts the enclosing arrays and objects. */
static int write_value(struct fundus__jbuf *b, const cJSON *v, struct fundus__jpath *p, int depth)
{
	const cJSON *c;
	size_t saved, i = 0;
	int rc = 0;

	switch (v->type & 0xff) {
	case cJSON_False: return fundus__jbuf_put(b, "false", 5);
	case cJSON_True: return fundus__jbuf_put(b, "true", 4);
	case cJSON_NULL: return fundus__jbuf_put(b, "null", 4);
	case cJSON_Number: return fundus__json_write_number(b, v->valuedouble, p);
	case cJSON_String:
		if (v->valuestring == NULL)
			return fundus__json_error(p, FUNDUS_EINVAL, "string without a value");
		return fundus__json_write_string(b, v->valuestring, p);
	case cJSON_Array:
	case cJSON_Object: break;
	default: return fundus__json_error(p, FUNDUS_EINVAL, "raw or invalid cJSON item");
	}
	/* Values built by code have no lexer in front; keep the stack bounded. */
	if (depth >= CJSON_NESTING_LIMIT)
		return fundus__json_error(p, FUNDUS_EINVAL, "nested deeper than %d levels",
					  CJSON_NESTING_LIMIT);
	if ((v->type & 0xff) == cJSON_Array) {
		if ((rc = fundus__jbuf_put(b, "[", 1)) < 0)
			return rc;
		for (c = v->child; c; c = c->next, i++) {
			if (c != v->child && (rc = fundus__jbuf_put(b, ",", 1)) < 0)
				return rc;
			saved = fundus__jpath_index(p, i);
			rc = write_value(b, c, p, depth + 1);
			fundus__jpath_pop(p, saved);
			if (rc < 0)
				return rc;
		}
		return fundus__jbuf_put(b, "]", 1);
	}
	if ((rc = fundus__json_check_keys(v, p, FUNDUS_EINVAL)) < 0)
		return rc;
	if ((rc = fundus__jbuf_put(b, "{", 1)) < 0)
		return rc;
	for (c = v->child; c; c = c->next) {
		if (c->string == NULL)
			return fundus__json_error(p, FUNDUS_EINVAL, "object member without a key");
		if (c != v->child && (rc = fundus__jbuf_put(b, ",", 1)) < 0)
			return rc;
		if ((rc = fundus__json_write_string(b, c->string, p)) < 0 ||
		    (rc = fundus__jbuf_put(b, ":", 1)) < 0)
			return rc;
		saved = fundus__jpath_key(p, c->string);
		rc = write_value(b, c, p, depth + 1);
		fundus__jpath_pop(p, saved);
		if (rc < 0)
			return rc;
	}
	return fundus__jbuf_put(b, "}", 1);
}

int fundus__json_write_value(struct fundus__jbuf *b, const cJSON *v, struct fundus__jpath *p)
{
	return write_value(b, v, p, 0);
}

int fundus__json_print(const cJSON *v, char **out, size_t *len)
{
	struct fundus__jbuf b = {0};
	struct fundus__jpath p = {{0}, 0};
	int rc;

	*out = NULL;
	if ((rc = write_value(&b, v, &p, 0)) < 0 || (rc = fundus__jbuf_put(&b, "", 0)) < 0) {
		fundus_free(b.data);
		return rc;
	}
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}
