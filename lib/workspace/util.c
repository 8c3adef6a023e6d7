/* Small helpers of the workspace code: a string map, incremental line reading, medians. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* FNV-1a: short keys, few of them; good enough and dependency-free. */
static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (size_t)h;
}

int fundus__map_get(const struct fundus__map *m, const char *key, size_t *val)
{
	if (m->cap == 0)
		return 0;
	for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == NULL)
			return 0;
		if (strcmp(m->keys[i], key) == 0) {
			*val = m->vals[i];
			return 1;
		}
	}
}

/* Inserts without growing; the table has a free slot. */
static void put_slot(struct fundus__map *m, const char *key, size_t val)
{
	size_t i = hash(key) & (m->cap - 1);

	while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	if (m->keys[i] == NULL)
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
}

int fundus__map_put(struct fundus__map *m, const char *key, size_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct fundus__map big = {0};

		big.cap = m->cap ? m->cap * 2 : 64;
		big.keys = fundus_calloc(big.cap, sizeof *big.keys);
		big.vals = fundus_calloc(big.cap, sizeof *big.vals);
		if (big.keys == NULL || big.vals == NULL) {
			fundus__map_free(&big);
			return FUNDUS_ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i])
				put_slot(&big, m->keys[i], m->vals[i]);
		fundus__map_free(m);
		*m = big;
	}
	put_slot(m, key, val);
	return 0;
}

void fundus__map_free(struct fundus__map *m)
{
	fundus_free(m->keys);
	fundus_free(m->vals);
	memset(m, 0, sizeof *m);
}

#define MAX_LINE ((size_t)16 << 20)

int fundus__read_lines(const char *path, off_t *offset, int64_t *lineno, fundus__line_fn fn,
		       void *ud)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, start;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot open");
	}
	if (lseek(fd, *offset, SEEK_SET) < 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot seek");
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (cap - len < 65536) {
			char *nb;

			if (cap > MAX_LINE + 65536) {
				rc = fundus_error_set(FUNDUS_ELIMIT,
						      "line %lld: longer than %zu bytes",
						      (long long)*lineno + 1, MAX_LINE);
				goto out;
			}
			nb = fundus_realloc(buf, cap + 65536 + cap / 2);
			if (nb == NULL) {
				rc = FUNDUS_ENOMEM;
				goto out;
			}
			buf = nb;
			cap += 65536 + cap / 2;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = fundus_error_errno(FUNDUS_EIO, errno, "read failed");
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		/* Hand over every complete line, keep the rest for the next read. */
		start = 0;
		for (;;) {
			char *nl = memchr(buf + start, '\n', len - start);
			size_t n;

			if (nl == NULL)
				break;
			n = (size_t)(nl - (buf + start));
			++*lineno;
			if ((rc = fn(ud, buf + start, n, *lineno)) < 0)
				goto out;
			start += n + 1;
			*offset += (off_t)(n + 1);
		}
		memmove(buf, buf + start, len - start);
		len -= start;
	}
out:
	fundus_free(buf);
	close(fd);
	return rc;
}

char *fundus__ws_path(const struct fundus_workspace *ws, const char *name)
{
	size_t a = strlen(ws->dir), b = strlen(name);
	char *p = fundus_malloc(a + b + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, ws->dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

int fundus__ws_error_prefix(int rc, const char *prefix)
{
	char msg[512];

	snprintf(msg, sizeof msg, "%s", fundus_errmsg());
	return fundus_error_set(rc, "%s%s", prefix, msg);
}

/* For qsort. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double fundus__median(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
