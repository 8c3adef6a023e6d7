/*
 * Allocation wrappers: one place where libfundus gets memory, so that an
 * application can substitute its allocator and tests can fail the Nth
 * allocation and check that nothing leaks or crashes.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/core.h"

static struct fundus_allocator allocator;
static int have_allocator;
static atomic_long alloc_count;
static atomic_long fail_at = -1;

void fundus_allocator_set(const struct fundus_allocator *a)
{
	if (a) {
		allocator = *a;
		have_allocator = 1;
	} else {
		have_allocator = 0;
	}
}

void fundus_alloc_fail_after(long n)
{
	if (n < 0) {
		atomic_store(&fail_at, -1);
	} else {
		atomic_store(&alloc_count, 0);
		atomic_store(&fail_at, n);
	}
}

long fundus_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

/* Counts an allocation; returns non-zero when the test hook says it fails. */
static int should_fail(void)
{
	long n = atomic_fetch_add(&alloc_count, 1);
	long f = atomic_load(&fail_at);
	return f >= 0 && n >= f;
}

static void *fail(void)
{
	fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	return NULL;
}

void *fundus_malloc(size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	if (should_fail())
		return fail();
	p = have_allocator ? allocator.malloc(allocator.ud, size) : malloc(size);
	return p ? p : fail();
}

void *fundus_calloc(size_t count, size_t size)
{
	size_t n;
	void *p;

	if (fundus_size_mul(&n, count, size) < 0)
		return NULL;
	p = fundus_malloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *fundus_realloc(void *ptr, size_t size)
{
	void *p;

	if (ptr == NULL)
		return fundus_malloc(size);
	if (size == 0)
		size = 1;
	if (should_fail())
		return fail();
	p = have_allocator ? allocator.realloc(allocator.ud, ptr, size) : realloc(ptr, size);
	return p ? p : fail();
}

void fundus_free(void *ptr)
{
	if (ptr == NULL)
		return;
	if (have_allocator)
		allocator.free(allocator.ud, ptr);
	else
		free(ptr);
}

char *fundus_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = fundus_malloc(len + 1);

	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

char *fundus_strdup(const char *s)
{
	return fundus_strndup(s, strlen(s));
}
