/*
 * json.h: cJSON as libfundus uses it (internal to the library).
 *
 * cJSON is the only JSON parser in libfundus; this file adds what it lacks:
 *
 * - its allocations go through fundus_malloc()/fundus_free() once
 *   fundus__json_init() has run (call it before the first cJSON call of any
 *   code path; it is cheap after the first time);
 * - a strict parse with a nesting limit, error columns computed without
 *   cJSON's global (thread-unsafe) error pointer, out-of-memory told apart
 *   from bad input, duplicate keys and out-of-range numbers rejected;
 * - a writer that prints numbers with the fewest digits that read back
 *   exactly (cJSON's own printer does not: 0.1 + 0.2 comes out as 0.3),
 *   independently of the locale, and refuses to write what the strict parse
 *   would reject (invalid UTF-8, non-finite numbers, duplicate keys).
 *
 * Use cJSON_GetObjectItemCaseSensitive(), never cJSON_GetObjectItem(): the
 * latter ignores case, and "Image" is not "image".
 */
#ifndef FUNDUS_RECORD_JSON_H
#define FUNDUS_RECORD_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "fundus/core.h"

/*
 * Installs the cJSON allocation hooks (fundus_malloc/fundus_free) and the
 * C numeric locale used by the parser and the writer, once per process.
 * Thread-safe.
 */
void fundus__json_init(void);

/*
 * A position inside a JSON value for error messages, such as
 * "objects[2].bbox" or "meta.site". Empty at the top level.
 */
struct fundus__jpath {
	char s[240];
	size_t len;
};

/* Appends ".key" (or "key" at the top level); returns the length to restore. */
size_t fundus__jpath_key(struct fundus__jpath *p, const char *key);

/* Appends "[i]"; returns the length to restore. */
size_t fundus__jpath_index(struct fundus__jpath *p, size_t i);

/* Cuts the path back to a length returned by a push. */
void fundus__jpath_pop(struct fundus__jpath *p, size_t len);

/*
 * Sets the thread's error to "<path>: <message>" (just the message when the
 * path is empty or NULL) and returns code.
 */
int fundus__json_error(const struct fundus__jpath *p, int code, const char *fmt, ...)
    FUNDUS_PRINTF(3, 4);

/* "a string", "a number", "an array", ... for messages. */
const char *fundus__json_type_name(const cJSON *v);

/*
 * Parses len bytes of text (no NUL needed) that must hold exactly one JSON
 * value, possibly surrounded by whitespace, nested at most max_depth deep
 * (a lone object or array is depth 1). Strict RFC 8259 JSON: valid UTF-8,
 * no control characters in strings, the number grammar, plus: no "\u0000"
 * in strings, numbers of at most 63 characters that fit in a double, no
 * duplicate keys in any object. On success *out is a new value (free with
 * cJSON_Delete()). Errors: FUNDUS_EFORMAT ("column 17: invalid JSON",
 * "meta: duplicate key \"site\""), FUNDUS_ELIMIT (nesting),
 * FUNDUS_EUNSUPPORTED (a number too long for cJSON, "\u0000"),
 * FUNDUS_ENOMEM.
 */
int fundus__json_parse(const char *text, size_t len, int max_depth, cJSON **out);

/*
 * A growing output buffer, NUL-terminated whenever len > 0. Owns data
 * (fundus_free()).
 */
struct fundus__jbuf {
	char *data;
	size_t len, cap;
};

/* Appends n bytes; returns 0 or FUNDUS_ENOMEM. */
int fundus__jbuf_put(struct fundus__jbuf *b, const char *s, size_t n);

/*
 * Writes d with the fewest significant digits that read back as exactly d
 * (integral values below 2^53 as integers, "-0" for negative zero), in the
 * C locale, into buf. Returns the length. d must be finite.
 */
size_t fundus__json_format_number(double d, char buf[32]);

/* Appends a number as above; FUNDUS_EINVAL (at path p) for NaN or infinity. */
int fundus__json_write_number(struct fundus__jbuf *b, double d, const struct fundus__jpath *p);

/* Appends s as a JSON string; FUNDUS_EINVAL (at path p) when it is not valid UTF-8. */
int fundus__json_write_string(struct fundus__jbuf *b, const char *s, const struct fundus__jpath *p);

/*
 * Appends v as compact JSON (no spaces). p locates v for messages and is
 * extended while descending. Errors: FUNDUS_EINVAL for what the strict
 * parse would refuse (non-finite number, invalid UTF-8, duplicate key,
 * cJSON_Raw or invalid items, nesting past CJSON_NESTING_LIMIT),
 * FUNDUS_ENOMEM.
 */
int fundus__json_write_value(struct fundus__jbuf *b, const cJSON *v, struct fundus__jpath *p);

/*
 * Checks that no two members of the object obj have the same key; else
 * returns code with "<path>: duplicate key \"k\"". FUNDUS_ENOMEM possible
 * for large objects.
 */
int fundus__json_check_keys(const cJSON *obj, const struct fundus__jpath *p, int code);

/*
 * Prints v as one line of compact JSON (without newline) into a new
 * NUL-terminated buffer (fundus_free()). Same errors as
 * fundus__json_write_value().
 */
int fundus__json_print(const cJSON *v, char **out, size_t *len);

#endif
