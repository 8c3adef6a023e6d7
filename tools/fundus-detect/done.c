/*
 * The ids of the images done already: SHA-256 digests in an open-addressing
 * hash table. The digest's first bytes are the hash: they are uniform.
 */
#include <string.h>

#include "fdetect.h"

static const uint8_t zero[FUNDUS_SHA256_BYTES];

/* The value of a lowercase hexadecimal digit, or -1. */
static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int id_parse(const char *id, uint8_t digest[FUNDUS_SHA256_BYTES])
{
	if (id == NULL || strncmp(id, "sha256:", 7) != 0 || strlen(id) != 7 + 64)
		return -1;
	for (int i = 0; i < FUNDUS_SHA256_BYTES; i++) {
		int hi = hexval(id[7 + 2 * i]), lo = hexval(id[8 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -1;
		digest[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void id_format(const uint8_t digest[FUNDUS_SHA256_BYTES], char *buf)
{
	memcpy(buf, "sha256:", 7);
	fundus_sha256_hex(digest, buf + 7);
}

/* The slot of a digest: where it is, or the empty slot where it would go. */
static size_t slot(const struct done_set *s, const uint8_t d[FUNDUS_SHA256_BYTES])
{
	size_t h;

	memcpy(&h, d, sizeof h);
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1))
		if (memcmp(s->v[i], d, FUNDUS_SHA256_BYTES) == 0 ||
		    memcmp(s->v[i], zero, FUNDUS_SHA256_BYTES) == 0)
			return i;
}

int done_has(const struct done_set *s, const uint8_t d[FUNDUS_SHA256_BYTES])
{
	if (memcmp(d, zero, FUNDUS_SHA256_BYTES) == 0)
		return s->has_zero;
	if (s->n == 0)
		return 0;
	return memcmp(s->v[slot(s, d)], d, FUNDUS_SHA256_BYTES) == 0;
}

int done_add(struct done_set *s, const uint8_t d[FUNDUS_SHA256_BYTES])
{
	size_t i;

	if (memcmp(d, zero, FUNDUS_SHA256_BYTES) == 0) {
		int was = s->has_zero;

		s->has_zero = 1;
		return !was;
	}
	/* Kept at most half full, so that probes stay short. */
	if (2 * (s->n + 1) > s->cap) {
		struct done_set bigger = {0};

		bigger.cap = s->cap ? 2 * s->cap : 1024;
		bigger.v = fundus_calloc(bigger.cap, sizeof *bigger.v);
		if (bigger.v == NULL)
			return -1;
		for (size_t k = 0; k < s->cap; k++)
			if (memcmp(s->v[k], zero, FUNDUS_SHA256_BYTES) != 0)
				memcpy(bigger.v[slot(&bigger, s->v[k])], s->v[k],
				       FUNDUS_SHA256_BYTES);
		bigger.n = s->n;
		bigger.has_zero = s->has_zero;
		fundus_free(s->v);
		*s = bigger;
	}
	i = slot(s, d);
	if (memcmp(s->v[i], d, FUNDUS_SHA256_BYTES) == 0)
		return 0;
	memcpy(s->v[i], d, FUNDUS_SHA256_BYTES);
	s->n++;
	return 1;
}

void done_free(struct done_set *s)
{
	fundus_free(s->v);
	memset(s, 0, sizeof *s);
}
