/* Unit tests of the core: errors, allocation, sizes, RNG, pool, files. */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fundus/core.h"
#include "fundus/file.h"
#include "fundus/pool.h"
#include "fundus/rng.h"
#include "harness.h"
#include "testutil.h"

TEST(error_message_kept_per_thread)
{
	CHECK_INT_EQ(fundus_error_set(FUNDUS_EFORMAT, "line %d: bad", 7), FUNDUS_EFORMAT);
	CHECK_STR_EQ(fundus_errmsg(), "line 7: bad");
	CHECK_INT_EQ(fundus_error_errno(FUNDUS_EIO, ENOENT, "cannot open"), FUNDUS_EIO);
	CHECK_STR_EQ(fundus_errmsg(), "cannot open: No such file or directory");
	fundus_error_clear();
	CHECK_STR_EQ(fundus_errmsg(), "");
	CHECK_STR_EQ(fundus_strerror(FUNDUS_ELIMIT), "limit exceeded");
	CHECK_STR_EQ(fundus_strerror(-999), "unknown error");
	/* A caller may wrap the reason a callee set, passing fundus_errmsg() itself. */
	fundus_error_set(FUNDUS_EFORMAT, "expected a number");
	fundus_error_set(FUNDUS_EFORMAT, "line %d: %s", 12, fundus_errmsg());
	CHECK_STR_EQ(fundus_errmsg(), "line 12: expected a number");
	fundus_error_set(FUNDUS_EIO, "cannot write");
	fundus_error_errno(FUNDUS_EIO, ENOSPC, "record 3: %s", fundus_errmsg());
	CHECK_STR_EQ(fundus_errmsg(), "record 3: cannot write: No space left on device");
}

TEST(size_arithmetic_overflows)
{
	size_t r = 5;

	CHECK_OK(fundus_size_mul(&r, 1000, 1000));
	CHECK_INT_EQ(r, 1000000);
	CHECK_INT_EQ(fundus_size_mul(&r, SIZE_MAX / 2 + 1, 2), FUNDUS_EOVERFLOW);
	CHECK_INT_EQ(r, 1000000);
	CHECK_INT_EQ(fundus_size_mul3(&r, 1u << 30, 1u << 30, 1u << 30), FUNDUS_EOVERFLOW);
	CHECK_INT_EQ(fundus_size_add(&r, SIZE_MAX, 1), FUNDUS_EOVERFLOW);
	CHECK_OK(fundus_size_add(&r, 2, 3));
	CHECK_INT_EQ(r, 5);
}

TEST(alloc_fail_after)
{
	void *a, *b;

	fundus_alloc_fail_after(1);
	a = fundus_malloc(10);
	b = fundus_malloc(10);
	fundus_alloc_fail_after(-1);
	CHECK(a != NULL);
	CHECK(b == NULL);
	CHECK_STR_EQ(fundus_errmsg(), "out of memory");
	fundus_free(a);
	fundus_free(NULL);
	CHECK(fundus_calloc(SIZE_MAX / 2, 4) == NULL);
}

TEST(rng_shuffle)
{
	struct fundus_rng a, b;
	size_t v[50], w[50], seen[50] = {0};
	int moved = 0;

	for (size_t i = 0; i < 50; i++)
		v[i] = w[i] = i;
	fundus_rng_seed(&a, 9);
	fundus_rng_seed(&b, 9);
	fundus_rng_shuffle(&a, v, 50);
	/* the documented order of draws */
	for (size_t i = 50; i > 1; i--) {
		size_t j = (size_t)fundus_rng_below(&b, i), t = w[i - 1];

		w[i - 1] = w[j];
		w[j] = t;
	}
	for (size_t i = 0; i < 50; i++) {
		CHECK_INT_EQ((long)v[i], (long)w[i]);
		seen[v[i]]++;
		moved += v[i] != i;
	}
	for (size_t i = 0; i < 50; i++)
		CHECK_INT_EQ((long)seen[i], 1);
	CHECK_INT_GT(moved, 25);
	fundus_rng_shuffle(&a, v, 0);
	fundus_rng_shuffle(&a, v, 1);
}

TEST(rng_repeatable_and_uniform)
{
	struct fundus_rng a, b, c;
	double sum = 0;
	int counts[10] = {0};

	fundus_rng_seed(&a, 42);
	fundus_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		CHECK(fundus_rng_u64(&a) == fundus_rng_u64(&b));
	/* A fixed value pins the sequence across machines and compilers. */
	fundus_rng_seed(&c, 1);
	CHECK(fundus_rng_u64(&c) == UINT64_C(0xb3f2af6d0fc710c5));
	for (int i = 0; i < 100000; i++) {
		double u = fundus_rng_uniform(&a);

		CHECK(u >= 0 && u < 1);
		sum += u;
		counts[fundus_rng_below(&a, 10)]++;
	}
	CHECK_NEAR(sum / 100000, 0.5, 0.01);
	for (int i = 0; i < 10; i++)
		CHECK_NEAR(counts[i], 10000, 500);
	b = fundus_rng_split(&a, 1);
	c = fundus_rng_split(&a, 2);
	CHECK(fundus_rng_u64(&b) != fundus_rng_u64(&c));
}

static void add_range(void *ctx, size_t b, size_t e, int worker)
{
	int *v = ctx;

	(void)worker;
	for (size_t i = b; i < e; i++)
		v[i] += (int)i;
}

TEST(pool_covers_every_index_once)
{
	struct fundus_pool *pool;
	static int v[10007];

	CHECK_OK(fundus_pool_new(&pool, 3));
	CHECK_INT_EQ(fundus_pool_threads(pool), 3);
	for (int round = 0; round < 50; round++)
		fundus_pool_for(pool, 10007, add_range, v);
	fundus_pool_for(pool, 0, add_range, v);
	fundus_pool_free(pool);
	for (int i = 0; i < 10007; i++)
		CHECK_INT_EQ(v[i], 50 * i);
	CHECK_INT_EQ(fundus_pool_new(&pool, -1), FUNDUS_EINVAL);
	fundus_pool_free(NULL);
}

/* "Every core" means the cores the process may use, as nproc counts them. */
TEST(cpu_count_follows_affinity)
{
	cpu_set_t one;
	int status;
	pid_t pid;

	CHECK_INT_GE(fundus_cpu_count(), 1);
	pid = fork();
	if (pid == 0) {
		CPU_ZERO(&one);
		CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
		if (sched_setaffinity(0, sizeof one, &one) != 0)
			_exit(2);
		_exit(fundus_cpu_count() == 1 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_INT_EQ(WEXITSTATUS(status), 0);
}

/* The ranges of one loop, collected under a lock. */
struct ranges {
	pthread_mutex_t mu;
	size_t n, b[64], e[64];
};

static void note_range(void *ctx, size_t b, size_t e, int worker)
{
	struct ranges *r = ctx;

	(void)worker;
	pthread_mutex_lock(&r->mu);
	if (r->n < 64) {
		r->b[r->n] = b;
		r->e[r->n] = e;
	}
	r->n++;
	pthread_mutex_unlock(&r->mu);
}

/* A loop over nearly all of size_t still splits exactly (n r / k overflows). */
TEST(pool_splits_huge_loops)
{
	static struct ranges r = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {0}};
	struct fundus_pool *pool;
	size_t at = 0;

	CHECK_OK(fundus_pool_new(&pool, 2));
	fundus_pool_for(pool, SIZE_MAX, note_range, &r);
	fundus_pool_free(pool);
	CHECK_INT_EQ(r.n, 8);
	/* Sorted by start, the ranges must tile [0, SIZE_MAX) with nothing left out. */
	for (size_t k = 1; k < r.n && k < 64; k++)
		for (size_t j = k; j > 0 && r.b[j - 1] > r.b[j]; j--) {
			size_t tb = r.b[j], te = r.e[j];

			r.b[j] = r.b[j - 1];
			r.e[j] = r.e[j - 1];
			r.b[j - 1] = tb;
			r.e[j - 1] = te;
		}
	for (size_t k = 0; k < r.n && k < 64; k++) {
		CHECK(r.b[k] == at);
		CHECK(r.e[k] > r.b[k]);
		at = r.e[k];
	}
	CHECK(at == SIZE_MAX);
}

TEST(atomic_write_replaces_or_keeps)
{
	const char *p = tu_path("atomic.txt");
	uint8_t *data;
	size_t len;
	struct fundus_atomic_file *af;
	mode_t um = umask(022);
	struct stat st;

	CHECK_OK(fundus_file_write_atomic(p, "old", 3));
	/* The mode a plain create gives, not the 0600 of a temporary file. */
	umask(um);
	CHECK_INT_EQ(stat(p, &st), 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0644);
	CHECK_OK(fundus_atomic_open(&af, p));
	fputs("half-written", fundus_atomic_stream(af));
	fundus_atomic_abort(af);
	CHECK_OK(fundus_file_read(p, 100, &data, &len));
	CHECK_INT_EQ(len, 3);
	CHECK_STR_EQ((char *)data, "old");
	fundus_free(data);
	CHECK_OK(fundus_file_write_atomic(p, "new!", 4));
	CHECK_OK(fundus_file_read(p, 100, &data, &len));
	CHECK_STR_EQ((char *)data, "new!");
	fundus_free(data);
	CHECK_INT_EQ(fundus_file_read(p, 2, &data, &len), FUNDUS_ELIMIT);
	CHECK_INT_EQ(fundus_file_read(tu_path("missing"), 2, &data, &len), FUNDUS_ENOENT);
	CHECK_INT_EQ(fundus_file_write_atomic(tu_path("no/such/dir/x"), "a", 1), FUNDUS_ENOENT);
}

TEST(append_and_lock)
{
	const char *p = tu_path("journal.jsonl");
	int fd, fd2, status;
	uint8_t *data;
	size_t len;
	pid_t pid;

	CHECK_OK(fundus_file_open_append(p, &fd));
	CHECK_OK(fundus_file_append_sync(fd, "a\n", 2));
	CHECK_OK(fundus_file_append_sync(fd, "b\n", 2));
	CHECK_OK(fundus_file_lock(fd, 0));
	/* flock locks belong to the open file, so a second open in a child contends. */
	pid = fork();
	if (pid == 0) {
		int r = fundus_file_open_append(p, &fd2) == 0 ? fundus_file_lock(fd2, 0) : 0;
		_exit(r == FUNDUS_EBUSY ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	CHECK_OK(fundus_file_read(p, 100, &data, &len));
	CHECK_STR_EQ((char *)data, "a\nb\n");
	fundus_free(data);
}

/* A short write (here at the file-size limit) is taken back: only whole records stay. */
TEST(append_short_write_undone)
{
	const char *p = tu_path("short.jsonl");
	int fd, status;
	uint8_t *data;
	size_t len;
	pid_t pid;

	CHECK_OK(fundus_file_open_append(p, &fd));
	CHECK_OK(fundus_file_append_sync(fd, "first\n", 6));
	pid = fork();
	if (pid == 0) {
		/* The child shares the open file; only 4 of the 7 bytes fit under 10. */
		struct rlimit rl = {10, 10};
		int rc;

		signal(SIGXFSZ, SIG_IGN);
		rc = setrlimit(RLIMIT_FSIZE, &rl) == 0 ? fundus_file_append_sync(fd, "second\n", 7)
						       : 0;
		_exit(rc == FUNDUS_EIO && strstr(fundus_errmsg(), "only 4 of 7 bytes") ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_INT_EQ(WEXITSTATUS(status), 0);
	CHECK_OK(fundus_file_append_sync(fd, "third\n", 6));
	close(fd);
	CHECK_OK(fundus_file_read(p, 100, &data, &len));
	CHECK_STR_EQ((char *)data, "first\nthird\n");
	fundus_free(data);
}

TEST(mkdir_p_and_map)
{
	struct fundus_file_map *m;
	char dir[4096];

	snprintf(dir, sizeof dir, "%s/a/b/c", tu_tmpdir());
	CHECK_OK(fundus_mkdir_p(dir));
	CHECK_OK(fundus_mkdir_p(dir));
	CHECK_OK(fundus_file_write_atomic(tu_path("a/b/c/f"), "xyz", 3));
	CHECK_OK(fundus_file_map(tu_path("a/b/c/f"), &m));
	CHECK_INT_EQ(m->size, 3);
	CHECK(memcmp(m->data, "xyz", 3) == 0);
	fundus_file_unmap(m);
	CHECK_INT_EQ(fundus_file_map(dir, &m), FUNDUS_EINVAL);
	fundus_file_unmap(NULL);
	/* A file where the folder should be is no folder; the caller names the path. */
	CHECK_INT_EQ(fundus_mkdir_p(tu_path("a/b/c/f")), FUNDUS_EEXIST);
	CHECK_STR_EQ(fundus_errmsg(), "exists and is not a folder");
	CHECK_INT_EQ(fundus_mkdir_p(tu_path("a/b/c/f/g")), FUNDUS_ENOENT);
	CHECK_STR_EQ(fundus_errmsg(), "Not a directory");
}

int main(int argc, char **argv)
{
	RUN(error_message_kept_per_thread);
	RUN(size_arithmetic_overflows);
	RUN(alloc_fail_after);
	RUN(rng_repeatable_and_uniform);
	RUN(rng_shuffle);
	RUN(pool_covers_every_index_once);
	RUN(pool_splits_huge_loops);
	RUN(cpu_count_follows_affinity);
	RUN(atomic_write_replaces_or_keeps);
	RUN(append_and_lock);
	RUN(append_short_write_undone);
	RUN(mkdir_p_and_map);
	return harness_done();
}
