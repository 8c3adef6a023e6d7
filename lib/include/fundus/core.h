/*
 * fundus/core.h: errors, allocation, size arithmetic, logging and progress.
 *
 * Every other header of libfundus builds on this one.
 *
 * Rules that hold for the whole library, stated once here:
 *
 * - Errors. A fallible function returns int: 0 on success or a negative
 *   FUNDUS_E... code. Results come back through out-parameters, which are
 *   left untouched (or set to NULL) on failure. The reason is kept in a
 *   thread-local message, fundus_errmsg(), set once where the error is found.
 *   The library never prints, never exits and never aborts on bad input.
 *
 * - Ownership. A pointer returned through an out-parameter of a _new, _open,
 *   _load, _read or _dup function belongs to the caller, who releases it with
 *   the matching _free or _close function. Every _free and _close accepts
 *   NULL. A const pointer returned by any other function is borrowed from
 *   its argument and stays valid until that argument is freed or changed.
 *
 * - Threads. Functions on distinct objects may run concurrently; one object
 *   is used by one thread at a time unless its header says otherwise.
 *
 * Example:
 *
 *     struct fundus_image *img;
 *     int rc = fundus_image_load("eye.jpg", NULL, &img);
 *     if (rc < 0) {
 *         fprintf(stderr, "eye.jpg: %s\n", fundus_errmsg());
 *         return 1;
 *     }
 *     ...
 *     fundus_image_free(img);
 */
#ifndef FUNDUS_CORE_H
#define FUNDUS_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FUNDUS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FUNDUS_PRINTF(a, b)
#endif

/*
 * Error codes. This list only grows: a value, once given, keeps its meaning.
 */
enum fundus_error {
	FUNDUS_OK = 0,
	FUNDUS_ENOMEM = -1,       /* out of memory */
	FUNDUS_EINVAL = -2,       /* invalid argument or option value */
	FUNDUS_EIO = -3,          /* a system call failed (errno in message) */
	FUNDUS_ENOENT = -4,       /* no such file */
	FUNDUS_EFORMAT = -5,      /* malformed, corrupt or truncated data */
	FUNDUS_EUNSUPPORTED = -6, /* well-formed but not supported */
	FUNDUS_ELIMIT = -7,       /* a configured limit was exceeded */
	FUNDUS_EOVERFLOW = -8,    /* a size computation overflowed */
	FUNDUS_EBUSY = -9,        /* a lock is held by another process */
	FUNDUS_ECANCELED = -10,   /* stopped by the caller (progress callback) */
	FUNDUS_EEXIST = -11,      /* the target exists already */
};

/*
 * Returns a short constant description of an error code, such as
 * "corrupt or malformed data". Never NULL; unknown codes give "unknown error".
 */
const char *fundus_strerror(int code);

/*
 * Returns the message of the last error set on this thread: the reason, with
 * the position in the data where one is known ("line 12: ..."). It names no
 * file: the caller, who knows the file, adds it. Borrowed; valid until the
 * next libfundus call on this thread. Never NULL.
 */
const char *fundus_errmsg(void);

/* Forgets the last error of this thread. */
void fundus_error_clear(void);

/*
 * Sets this thread's error message and returns code, so that a library
 * function can write "return fundus_error_set(FUNDUS_EFORMAT, ...)". Public
 * so that code built on libfundus can report errors the same way. The
 * arguments may include fundus_errmsg(), to put a position before the
 * reason a callee gave: fundus_error_set(rc, "line %d: %s", n, fundus_errmsg()).
 * Messages longer than 511 bytes are cut.
 */
int fundus_error_set(int code, const char *fmt, ...) FUNDUS_PRINTF(2, 3);

/* Like fundus_error_set(), with the reason from errno appended. */
int fundus_error_errno(int code, int errnum, const char *fmt, ...) FUNDUS_PRINTF(3, 4);

/* Returns the library version as "MAJOR.MINOR.PATCH". */
const char *fundus_version(void);

/* Seconds on the monotonic clock, from an arbitrary start: for timing. */
double fundus_now(void);

/*
 * Allocation. All memory that libfundus allocates goes through these
 * functions, so that an application can supply its own allocator and tests
 * can make an allocation fail on purpose. They return NULL when out of
 * memory (and set FUNDUS_ENOMEM as the thread's error), never abort.
 * fundus_free() accepts NULL. Thread-safe.
 */
void *fundus_malloc(size_t size);
void *fundus_calloc(size_t count, size_t size);
void *fundus_realloc(void *ptr, size_t size);
void fundus_free(void *ptr);
char *fundus_strdup(const char *s);
char *fundus_strndup(const char *s, size_t n);

/*
 * A replacement allocator. Set it before any other libfundus call; NULL
 * restores the C library's. The functions must be thread-safe.
 */
struct fundus_allocator {
	void *(*malloc)(void *ud, size_t size);
	void *(*realloc)(void *ud, void *ptr, size_t size);
	void (*free)(void *ud, void *ptr);
	void *ud;
};
void fundus_allocator_set(const struct fundus_allocator *a);

/*
 * Test hook: after n more successful allocations, every allocation fails
 * until the hook is reset with n < 0. fundus_alloc_count() returns the
 * number of allocations made since the process started (or the last reset),
 * so a test can sweep "fail the Nth allocation" for N = 0, 1, 2, ...
 * Thread-safe.
 */
void fundus_alloc_fail_after(long n);
long fundus_alloc_count(void);

/*
 * Overflow-checked size arithmetic: each stores the result in *out and
 * returns 0, or returns FUNDUS_EOVERFLOW (with a message) and leaves *out
 * unchanged. Use them for every product of dimensions.
 */
int fundus_size_mul(size_t *out, size_t a, size_t b);
int fundus_size_mul3(size_t *out, size_t a, size_t b, size_t c);
int fundus_size_add(size_t *out, size_t a, size_t b);

/*
 * Logging. The library reports warnings and progress notes through one
 * process-wide callback; by default nothing is logged. Messages are whole
 * lines without a trailing newline. The callback may be called from any
 * thread and must be thread-safe. fundus_log_set() is thread-safe; a call
 * already under way on another thread may still reach the old callback.
 */
enum fundus_log_level {
	FUNDUS_LOG_ERROR = 0,
	FUNDUS_LOG_WARN = 1,
	FUNDUS_LOG_INFO = 2,
	FUNDUS_LOG_DEBUG = 3,
};
typedef void (*fundus_log_fn)(void *ud, enum fundus_log_level level, const char *msg);
void fundus_log_set(fundus_log_fn fn, void *ud, enum fundus_log_level max_level);
void fundus_log(enum fundus_log_level level, const char *fmt, ...) FUNDUS_PRINTF(2, 3);

/*
 * Progress. Long operations take an optional progress callback in their
 * options: what is a short constant label ("decoding"), done and total count
 * units of work (total 0 when unknown). A non-zero return asks the operation
 * to stop; it then returns FUNDUS_ECANCELED. Called from the thread that
 * runs the operation.
 */
typedef int (*fundus_progress_fn)(void *ud, const char *what, int64_t done, int64_t total);
struct fundus_progress {
	fundus_progress_fn fn;
	void *ud;
};

/* Calls p->fn if p and p->fn are set; returns its verdict (0 to go on). */
int fundus_progress_report(const struct fundus_progress *p, const char *what, int64_t done,
			   int64_t total);

#ifdef __cplusplus
}
#endif
#endif
