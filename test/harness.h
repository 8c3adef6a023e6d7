/*
 * harness.h: a one-header unit-test harness (after libuv's test/task.h).
 *
 * A test file defines test functions with TEST(name) and lists them in
 * main with RUN(name). A failed CHECK prints the expression, both operands
 * and the place, marks the test failed and returns from it. A test can be
 * selected by name: ./test_core rng_repeatable.
 *
 *     TEST(size_mul_overflows) {
 *         size_t r;
 *         CHECK_INT_EQ(fundus_size_mul(&r, SIZE_MAX, 2), FUNDUS_EOVERFLOW);
 *     }
 *     int main(int argc, char **argv) {
 *         RUN(size_mul_overflows);
 *         return harness_done();
 *     }
 */
#ifndef FUNDUS_TEST_HARNESS_H
#define FUNDUS_TEST_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed_tests, harness_run_tests, harness_current_failed;
static int harness_argc;
static char **harness_argv;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                      \
	do {                                                                           \
		harness_argc = argc;                                                   \
		harness_argv = argv;                                                   \
		if (harness_selected(#name)) {                                         \
			harness_current_failed = 0;                                    \
			test_##name();                                                 \
			harness_run_tests++;                                           \
			if (harness_current_failed)                                    \
				harness_failed_tests++;                                \
			printf("%s %s\n", harness_current_failed ? "FAIL" : "ok  ", #name); \
			fflush(stdout);                                                \
		}                                                                      \
	} while (0)

static inline int harness_selected(const char *name)
{
	if (harness_argc < 2)
		return 1;
	for (int i = 1; i < harness_argc; i++)
		if (strcmp(harness_argv[i], name) == 0)
			return 1;
	return 0;
}

static inline int harness_done(void)
{
	printf("%d passed, %d failed\n", harness_run_tests - harness_failed_tests,
	       harness_failed_tests);
	/* Names given but none of them a test (a typo) must not pass as "0 failed". */
	if (harness_argc >= 2 && harness_run_tests == 0) {
		fprintf(stderr, "no test of that name\n");
		return 1;
	}
	return harness_failed_tests ? 1 : 0;
}

#define HARNESS_FAIL(...)                                                              \
	do {                                                                           \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
		fprintf(stderr, __VA_ARGS__);                                          \
		fputc('\n', stderr);                                                   \
		harness_current_failed = 1;                                            \
		return;                                                                \
	} while (0)

#define CHECK(expr)                                                                    \
	do {                                                                           \
		if (!(expr))                                                           \
			HARNESS_FAIL("check failed: %s", #expr);                       \
	} while (0)

#define CHECK_INT_OP(a, op, b)                                                         \
	do {                                                                           \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                       \
		if (!(a_ op b_))                                                       \
			HARNESS_FAIL("check failed: %s %s %s (%jd %s %jd)", #a, #op, #b, a_, \
				     #op, b_);                                         \
	} while (0)
#define CHECK_INT_EQ(a, b) CHECK_INT_OP(a, ==, b)
#define CHECK_INT_NE(a, b) CHECK_INT_OP(a, !=, b)
#define CHECK_INT_LT(a, b) CHECK_INT_OP(a, <, b)
#define CHECK_INT_LE(a, b) CHECK_INT_OP(a, <=, b)
#define CHECK_INT_GT(a, b) CHECK_INT_OP(a, >, b)
#define CHECK_INT_GE(a, b) CHECK_INT_OP(a, >=, b)

/* A library call that must succeed; prints fundus_errmsg() when it does not. */
#define CHECK_OK(expr)                                                                 \
	do {                                                                           \
		int rc_ = (expr);                                                      \
		if (rc_ != 0)                                                          \
			HARNESS_FAIL("%s returned %d: %s", #expr, rc_, fundus_errmsg()); \
	} while (0)

#define CHECK_NEAR(a, b, tol)                                                          \
	do {                                                                           \
		double a_ = (double)(a), b_ = (double)(b);                             \
		if (!(fabs(a_ - b_) <= (tol)))                                         \
			HARNESS_FAIL("check failed: %s ~ %s (%.9g vs %.9g, tolerance %g)", #a, \
				     #b, a_, b_, (double)(tol));                       \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                             \
	do {                                                                           \
		const char *a_ = (a), *b_ = (b);                                       \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                   \
			HARNESS_FAIL("check failed: %s == %s (\"%s\" vs \"%s\")", #a, #b, \
				     a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                \
	do {                                                                           \
		const char *h_ = (hay), *n_ = (needle);                                \
		if (h_ == NULL || strstr(h_, n_) == NULL)                              \
			HARNESS_FAIL("check failed: \"%s\" contains \"%s\"",           \
				     h_ ? h_ : "(null)", n_);                          \
	} while (0)

#endif
