/*
 * The network description parser: text to sections of key = value lines,
 * then a section's values into a layer's spec through the layer type's
 * table of keys. Everything a description can get wrong is reported with
 * its line number.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/internal.h"

#define MAX_LINE    4096
#define MAX_OPTIONS 64

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

/* Makes the C numeric locale, so that "0.5" reads the same under any locale. */
static void make_c_locale(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

void fundus__free_sections(struct fundus__section *s, int n)
{
	if (s == NULL)
		return;
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < s[i].nopts; j++) {
			fundus_free(s[i].opts[j].key);
			fundus_free(s[i].opts[j].value);
		}
		fundus_free(s[i].opts);
		fundus_free(s[i].name);
	}
	fundus_free(s);
}

/* Trims spaces and tabs from both ends of [*b, *e). */
static void trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t' || **b == '\r'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
		(*e)--;
}

/* A section or key name: lower-case letters, digits and underscores. */
static int good_name(const char *b, const char *e)
{
	if (b == e)
		return 0;
	for (; b < e; b++)
		if (!(islower((unsigned char)*b) || isdigit((unsigned char)*b) || *b == '_'))
			return 0;
	return 1;
}

/* Adds an option to the last section. */
static int add_option(struct fundus__section *sec, const char *kb, const char *ke, const char *vb,
		      const char *ve, int line)
{
	struct fundus__option *o;

	for (int i = 0; i < sec->nopts; i++)
		if (strlen(sec->opts[i].key) == (size_t)(ke - kb) &&
		    memcmp(sec->opts[i].key, kb, (size_t)(ke - kb)) == 0)
			return fundus_error_set(
			    FUNDUS_EFORMAT,
			    "line %d: [%s]: key '%s' given twice (first on line %d)", line,
			    sec->name, sec->opts[i].key, sec->opts[i].line);
	if (sec->nopts >= MAX_OPTIONS)
		return fundus_error_set(FUNDUS_ELIMIT, "line %d: [%s]: more than %d keys", line,
					sec->name, MAX_OPTIONS);
	o = fundus_realloc(sec->opts, (size_t)(sec->nopts + 1) * sizeof *o);
	if (o == NULL)
		return FUNDUS_ENOMEM;
	sec->opts = o;
	o = &sec->opts[sec->nopts];
	o->key = fundus_strndup(kb, (size_t)(ke - kb));
	o->value = fundus_strndup(vb, (size_t)(ve - vb));
	o->line = line;
	if (o->key == NULL || o->value == NULL) {
		fundus_free(o->key);
		fundus_free(o->value);
		return FUNDUS_ENOMEM;
	}
	sec->nopts++;
	return 0;
}

int fundus__parse_sections(const char *text, size_t len, struct fundus__section **out, int *n)
{
	struct fundus__section *secs = NULL;
	int nsecs = 0, line = 0, rc = 0;
	const char *p = text, *end = text + len;

	*out = NULL;
	*n = 0;
	if (memchr(text, '\0', len) != NULL)
		return fundus_error_set(FUNDUS_EFORMAT, "the description contains a NUL byte");
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *b = p, *e = nl ? nl : end, *eq;

		line++;
		p = nl ? nl + 1 : end;
		if (e - b > MAX_LINE) {
			rc = fundus_error_set(FUNDUS_ELIMIT, "line %d: longer than %d bytes", line,
					      MAX_LINE);
			break;
		}
		trim(&b, &e);
		if (b == e || *b == '#' || *b == ';')
			continue;
		if (*b == '[') {
			struct fundus__section *s;
			const char *nb = b + 1, *ne = e - 1;

			if (e[-1] != ']' || e - b < 2) {
				rc =
				    fundus_error_set(FUNDUS_EFORMAT, "line %d: ']' expected", line);
				break;
			}
			trim(&nb, &ne);
			if (!good_name(nb, ne)) {
				rc = fundus_error_set(FUNDUS_EFORMAT,
						      "line %d: bad section name '%.*s'", line,
						      (int)(ne - nb), nb);
				break;
			}
			if (nsecs > FUNDUS_NET_MAX_LAYERS) {
				rc = fundus_error_set(FUNDUS_ELIMIT, "line %d: more than %d layers",
						      line, FUNDUS_NET_MAX_LAYERS);
				break;
			}
			s = fundus_realloc(secs, (size_t)(nsecs + 1) * sizeof *s);
			if (s == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
			secs = s;
			memset(&secs[nsecs], 0, sizeof secs[nsecs]);
			secs[nsecs].line = line;
			secs[nsecs].name = fundus_strndup(nb, (size_t)(ne - nb));
			nsecs++;
			if (secs[nsecs - 1].name == NULL)
				rc = FUNDUS_ENOMEM;
			continue;
		}
		eq = memchr(b, '=', (size_t)(e - b));
		if (eq == NULL) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "line %d: expected [section] or key=value", line);
			break;
		}
		if (nsecs == 0) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "line %d: key before the first section", line);
			break;
		}
		{
			const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;

			trim(&kb, &ke);
			trim(&vb, &ve);
			if (!good_name(kb, ke)) {
				rc = fundus_error_set(FUNDUS_EFORMAT, "line %d: bad key '%.*s'",
						      line, (int)(ke - kb), kb);
				break;
			}
			if (vb == ve) {
				rc = fundus_error_set(FUNDUS_EFORMAT, "line %d: %.*s: no value",
						      line, (int)(ke - kb), kb);
				break;
			}
			rc = add_option(&secs[nsecs - 1], kb, ke, vb, ve, line);
		}
	}
	if (rc < 0) {
		fundus__free_sections(secs, nsecs);
		return rc;
	}
	*out = secs;
	*n = nsecs;
	return 0;
}

/* Reads one integer from [s, end-of-token); returns 0 or -1. */
static int read_int(const char *s, const char **next, long *v)
{
	char *e;

	if (!(isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
		return -1;
	errno = 0;
	*v = strtol(s, &e, 10);
	if (e == s || errno == ERANGE)
		return -1;
	*next = e;
	return 0;
}

/* Reads one number in the C locale; returns 0 or -1. */
static int read_float(const char *s, const char **next, double *v)
{
	locale_t old = (locale_t)0;
	char *e;

	if (!(isdigit((unsigned char)*s) || *s == '-' || *s == '+' || *s == '.'))
		return -1;
	pthread_once(&c_locale_once, make_c_locale);
	if (c_locale)
		old = uselocale(c_locale);
	errno = 0;
	*v = strtod(s, &e);
	if (c_locale)
		uselocale(old);
	if (e == s || errno == ERANGE || !isfinite(*v))
		return -1;
	*next = e;
	return 0;
}

/* Skips spaces, one comma, spaces; returns the position of the next value or NULL at the end. */
static const char *list_next(const char *s, int *bad)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	if (*s != ',') {
		*bad = 1;
		return NULL;
	}
	s++;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		*bad = 1;
	return *s ? s : NULL;
}

/*
 * Parses one number or a comma-separated list of them, integers or floats
 * as k says, into spec; a list also stores its count.
 */
static int parse_numbers(const struct fundus__section *sec, const struct fundus__option *o,
			 const struct fundus__key *k, char *base)
{
	int ints = k->kind == FUNDUS__KEY_INT || k->kind == FUNDUS__KEY_INTS;
	int single = k->kind == FUNDUS__KEY_INT || k->kind == FUNDUS__KEY_FLOAT;
	const char *what = ints ? (single ? "an integer" : "a list of integers")
				: (single ? "a number" : "a list of numbers");
	const char *s = o->value, *next;
	int count = 0, bad = 0;

	for (;;) {
		long iv = 0;
		double v = 0;

		if ((ints ? read_int(s, &next, &iv) : read_float(s, &next, &v)) < 0)
			return fundus_error_set(FUNDUS_EFORMAT, "line %d: [%s]: %s: '%s' is not %s",
						o->line, sec->name, k->name, o->value, what);
		if (ints)
			v = (double)iv;
		if (v < k->min || v > k->max)
			return ints ? fundus_error_set(FUNDUS_EFORMAT,
						       "line %d: [%s]: %s: %ld is out of range "
						       "(%.0f to %.0f)",
						       o->line, sec->name, k->name, iv, k->min, k->max)
				    : fundus_error_set(FUNDUS_EFORMAT,
						       "line %d: [%s]: %s: %g is out of range "
						       "(%g to %g)",
						       o->line, sec->name, k->name, v, k->min, k->max);
		if (single) {
			while (*next == ' ' || *next == '\t')
				next++;
			if (*next != '\0')
				return fundus_error_set(FUNDUS_EFORMAT,
							"line %d: [%s]: %s: '%s' is not %s", o->line,
							sec->name, k->name, o->value, what);
		} else if (count >= FUNDUS__MAX_LIST) {
			return fundus_error_set(FUNDUS_ELIMIT, "line %d: [%s]: %s: more than %d values",
						o->line, sec->name, k->name, FUNDUS__MAX_LIST);
		}
		if (ints)
			((int *)(base + k->offset))[count++] = (int)iv;
		else
			((float *)(base + k->offset))[count++] = (float)v;
		if (single)
			return 0;
		s = list_next(next, &bad);
		if (bad)
			return fundus_error_set(FUNDUS_EFORMAT, "line %d: [%s]: %s: '%s' is not %s",
						o->line, sec->name, k->name, o->value, what);
		if (s == NULL)
			break;
	}
	*(int *)(base + k->count_offset) = count;
	return 0;
}

/* Parses one option's value into spec as key k says. */
static int parse_value(const struct fundus__section *sec, const struct fundus__option *o,
		       const struct fundus__key *k, void *spec)
{
	char *base = spec;
	const char *s = o->value;

	switch (k->kind) {
	case FUNDUS__KEY_ENUM:
		for (int i = 0; k->names[i]; i++)
			if (strcmp(k->names[i], s) == 0) {
				*(int *)(base + k->offset) = k->values ? k->values[i] : i;
				return 0;
			}
		{
			char list[256];
			size_t used = 0;

			list[0] = '\0';
			for (int i = 0; k->names[i] && used < sizeof list; i++)
				used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
							 i ? ", " : "", k->names[i]);
			return fundus_error_set(FUNDUS_EFORMAT,
						"line %d: [%s]: %s: '%s' is not one of %s", o->line,
						sec->name, k->name, s, list);
		}
	case FUNDUS__KEY_INT:
	case FUNDUS__KEY_INTS:
	case FUNDUS__KEY_FLOAT:
	case FUNDUS__KEY_FLOATS:
		return parse_numbers(sec, o, k, base);
	}
	return fundus_error_set(FUNDUS_EINVAL, "bad key table");
}

int fundus__parse_keys(const struct fundus__section *sec, const char *what,
		       const struct fundus__key *keys, void *spec)
{
	char *base = spec;

	/* Defaults first, so that every field has a value. */
	for (const struct fundus__key *k = keys; k->name; k++) {
		switch (k->kind) {
		case FUNDUS__KEY_INT:
		case FUNDUS__KEY_ENUM: *(int *)(base + k->offset) = (int)k->def; break;
		case FUNDUS__KEY_FLOAT: *(float *)(base + k->offset) = (float)k->def; break;
		case FUNDUS__KEY_INTS:
		case FUNDUS__KEY_FLOATS: *(int *)(base + k->count_offset) = 0; break;
		}
	}
	for (int i = 0; i < sec->nopts; i++) {
		const struct fundus__option *o = &sec->opts[i];
		const struct fundus__key *k;
		int rc;

		for (k = keys; k->name; k++)
			if (strcmp(k->name, o->key) == 0)
				break;
		if (k->name == NULL)
			return fundus_error_set(FUNDUS_EFORMAT, "line %d: [%s]: unknown key '%s'",
						o->line, sec->name, o->key);
		rc = parse_value(sec, o, k, spec);
		if (rc < 0)
			return rc;
	}
	for (const struct fundus__key *k = keys; k->name; k++) {
		int found = 0;

		if (!k->required)
			continue;
		for (int i = 0; i < sec->nopts && !found; i++)
			found = strcmp(sec->opts[i].key, k->name) == 0;
		if (!found)
			return fundus_error_set(FUNDUS_EFORMAT, "line %d: [%s]%s%s needs '%s'",
						sec->line, sec->name, what ? " " : "",
						what ? what : "", k->name);
	}
	return 0;
}
