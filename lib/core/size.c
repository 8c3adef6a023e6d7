/* Overflow-checked size arithmetic. */
#include "fundus/core.h"

int fundus_size_mul(size_t *out, size_t a, size_t b)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return fundus_error_set(FUNDUS_EOVERFLOW, "size overflow: %zu x %zu", a, b);
	*out = r;
	return 0;
}

int fundus_size_mul3(size_t *out, size_t a, size_t b, size_t c)
{
	size_t ab;
	int rc = fundus_size_mul(&ab, a, b);

	return rc < 0 ? rc : fundus_size_mul(out, ab, c);
}

int fundus_size_add(size_t *out, size_t a, size_t b)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return fundus_error_set(FUNDUS_EOVERFLOW, "size overflow: %zu + %zu", a, b);
	*out = r;
	return 0;
}
